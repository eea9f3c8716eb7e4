//! TCP session reassembly (work in progress: the events are defined, the reassembler is
//! being written).
#![forbid(unsafe_code)]

mod events;

pub use events::*;
