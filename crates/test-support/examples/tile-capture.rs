//! `tile-capture CAPTURE COPIES OUT`: writes COPIES copies of a classic Ethernet pcap
//! file to OUT as one capture, each copy's sessions on addresses of their own and later
//! in time (see `netanalysis_test_support::tile`). The profile-guided build trains on
//! the shipped sample capture tiled this way.

use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;

use netanalysis_test_support::tile::tile;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [capture, copies, out] = args.as_slice() else {
        eprintln!("usage: tile-capture CAPTURE COPIES OUT");
        return ExitCode::from(2);
    };
    let Ok(copies) = copies.parse::<u32>() else {
        eprintln!("tile-capture: COPIES must be a number, not {copies:?}");
        return ExitCode::from(2);
    };
    let input = match std::fs::read(capture) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("tile-capture: {capture}: {err}");
            return ExitCode::from(2);
        }
    };
    let written = File::create(out).and_then(|file| tile(&input, copies, BufWriter::new(file)));
    match written {
        Ok(tiled) => {
            eprintln!("tile-capture: {out}: {} packets, {} bytes", tiled.packets, tiled.bytes);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("tile-capture: {capture} -> {out}: {err}");
            ExitCode::from(2)
        }
    }
}
