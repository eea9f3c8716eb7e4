//! TCP reassembly fed arbitrary packet sequences.
//!
//! The first byte picks the TCP listener's configuration; the rest is a script of
//! segments (see `netanalysis_fuzz::play_script`) across four conversations, with
//! arbitrary flags, sequence numbers near and far from the expected ones, payloads,
//! snaplen cuts and clock jumps forwards and backwards.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netanalysis_fuzz::{dispatcher, play_script, Bytes, Feeder};

const CONFIGS: [&str; 4] = [
    "TCP",
    "TCP,max_session_size=3000,v=7",
    "TCP,max_sessions=2,max_session_buffer=1000,max_buffer=3000,max_monologue=500,idle_timeout=5",
    "TCP,max_session_size=1,max_monologue=1",
];

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes::new(data);
    let spec = CONFIGS[usize::from(input.u8() % CONFIGS.len() as u8)];
    let mut feeder = Feeder::new(dispatcher(&[spec], Vec::new()));
    play_script(&mut feeder, &mut input);
    feeder.finish();
});
