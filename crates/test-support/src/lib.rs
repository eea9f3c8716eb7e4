//! Test support for netanalysis: a [`Recorder`] listener that records the events it
//! receives as trace lines, and a fixture builder ([`TcpFlow`], [`PcapWriter`]) that
//! writes small captures, so tests build the captures they need instead of shipping them.
//! [`tile`] makes a large capture of many copies of a small one (`cargo run -p
//! netanalysis-test-support --example tile-capture`), for work that needs volume.
//! [`runs::timeless_stderr`] makes two runs of the command comparable.
#![forbid(unsafe_code)]

pub mod adversarial;
mod flow;
pub mod frames;
mod pcap;
mod pcapng;
mod recorder;
mod rng;
pub mod runs;
pub mod tile;

pub use flow::{Side, TcpFlow};
pub use pcap::{PcapWriter, Resolution};
pub use pcapng::PcapNgWriter;
pub use recorder::{Lines, Recorder};
pub use rng::Rng;

use bytes::Bytes;
use netanalysis_core::{Endpoint, Timestamp};
use netanalysis_tcp::{Direction, SessionId, TcpData};

/// A `tcp_data` event of a session between `client` and `server`, as the TCP listener
/// would emit it: sent by the client when `from_client`, else by the server; nothing
/// withheld before it; released by packet 1.
pub fn tcp_data(
    session: &SessionId,
    client: Endpoint,
    server: Endpoint,
    from_client: bool,
    offset: u64,
    data: Bytes,
    ts: Timestamp,
) -> TcpData {
    let (direction, from, to) = if from_client {
        (Direction::ClientToServer, client, server)
    } else {
        (Direction::ServerToClient, server, client)
    };
    TcpData { session: session.clone(), direction, from, to, offset, data, skipped: 0, packet: 1, ts }
}

/// The shared corpus folder (`../shared/corpus` next to the workspace), when present.
///
/// Tests that read it print "skipped" and return when this is `None`.
pub fn shared_corpus() -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    root.is_dir().then(|| root.canonicalize().unwrap_or(root))
}
