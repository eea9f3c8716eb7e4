//! Prints the segments a `tcp_reassembly` or `http_parse` input plays, one line each, to
//! turn a crashing input into a readable regression test.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example explain -- tcp_reassembly FILE`
#![forbid(unsafe_code)]

use std::io::Write;

use netanalysis_fuzz::{dispatcher, play_script, play_session, split_parts, Bytes, Feeder};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(target), Some(path)) = (args.next(), args.next()) else {
        eprintln!("usage: explain tcp_reassembly|http_parse FILE");
        std::process::exit(2);
    };
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut input = Bytes::new(&data);
    let mut feeder = Feeder::new(dispatcher(&["TCP"], Vec::new()));
    feeder.log = Some(Vec::new());
    match target.as_str() {
        "tcp_reassembly" => {
            println!("config byte {} (see CONFIGS in fuzz_targets/tcp_reassembly.rs)", input.u8() % 4);
            play_script(&mut feeder, &mut input);
        }
        "http_parse" => {
            let control = input.u8();
            println!("control byte {control:#04x}");
            let mss = match control & 0x3f {
                0 => 1460,
                n => usize::from(n) * 7,
            };
            play_session(&mut feeder, &split_parts(input.rest()), mss, control >> 6);
        }
        other => panic!("no explanation for {other}"),
    }
    // Stop quietly when the reader goes away (`explain ... | head`).
    let mut out = std::io::stdout().lock();
    for line in feeder.log.take().unwrap_or_default() {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
}
