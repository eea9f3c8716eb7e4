//! Test support for netanalysis: a [`Recorder`] listener that records the events it
//! receives as trace lines, and a fixture builder ([`TcpFlow`], [`PcapWriter`]) that
//! writes small captures, so tests build the captures they need instead of shipping them.
#![forbid(unsafe_code)]

pub mod adversarial;
mod flow;
pub mod frames;
mod pcap;
mod pcapng;
mod recorder;
mod rng;

pub use flow::{Side, TcpFlow};
pub use pcap::{PcapWriter, Resolution};
pub use pcapng::PcapNgWriter;
pub use recorder::{Lines, Recorder};
pub use rng::Rng;

/// The shared corpus folder (`../shared/corpus` next to the workspace), when present.
///
/// Tests that read it print "skipped" and return when this is `None`.
pub fn shared_corpus() -> Option<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    root.is_dir().then(|| root.canonicalize().unwrap_or(root))
}
