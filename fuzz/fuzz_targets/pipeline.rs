//! The whole pipeline on an arbitrary file: capture reader, TCP, HTTP and the JSON log
//! (every event, per-packet ones included) written to a sink, then teardown, the run
//! summary and its JSON line, as the command line runs them. Half the inputs (by length)
//! log digests, so the log reads the bytes; the others log lengths only, so TCP keeps no
//! monologue bytes and HTTP no body bytes.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use netanalysis_capture::CaptureReader;
use netanalysis_core::{JsonOptions, RunSummary, Summary};
use netanalysis_fuzz::{check_faults, dispatcher};
use netanalysis_jsonlog::JsonLog;

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::from_reader("fuzz", Box::new(Cursor::new(data.to_vec()))) else {
        return;
    };
    let digest = data.len() % 4 < 2;
    let json = JsonLog::new(Box::new(std::io::sink()), true, JsonOptions { digest });
    let specs: &[&str] = match (data.len().is_multiple_of(2), digest) {
        (true, _) => &["TCP", "HTTP"],
        (false, true) => &[
            "TCP,max_session_size=2000,max_sessions=4,max_buffer=8192",
            "HTTP,max_body=100,max_headers=8,max_header_bytes=300,decode=1",
        ],
        // Decoding would keep the bodies' bytes.
        (false, false) => &[
            "TCP,max_session_size=2000,max_sessions=4,max_buffer=8192",
            "HTTP,max_body=100,max_headers=8,max_header_bytes=300",
        ],
    };
    let mut dispatcher = dispatcher(specs, vec![("JsonLog", Box::new(json))]);
    dispatcher.setup();
    check_faults(&mut dispatcher);
    while let Ok(Some(packet)) = reader.next_packet() {
        dispatcher.dispatch_packet(&packet);
        check_faults(&mut dispatcher);
    }
    dispatcher.teardown();
    check_faults(&mut dispatcher);
    let mut summary = Summary::new();
    reader.report(&mut summary);
    dispatcher.report(&mut summary);
    dispatcher.dispatch_event(RunSummary { summary });
    check_faults(&mut dispatcher);
});
