//! A tiny pcap writer for fixtures.

use netanalysis_core::{LinkType, Timestamp};

/// Timestamp resolution of a written pcap file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Magic `a1b2c3d4`.
    Micro,
    /// Magic `a1b23c4d`.
    Nano,
}

/// Builds a classic pcap file in memory.
///
/// ```
/// use netanalysis_test_support::PcapWriter;
/// use netanalysis_core::{LinkType, Timestamp};
/// let mut pcap = PcapWriter::new(LinkType::ETHERNET);
/// pcap.record(Timestamp::from_micros(1, 0), &[0u8; 60]);
/// assert_eq!(pcap.bytes().len(), 24 + 16 + 60);
/// ```
#[derive(Debug, Clone)]
pub struct PcapWriter {
    buf: Vec<u8>,
    resolution: Resolution,
    big_endian: bool,
}

impl PcapWriter {
    /// A little-endian microsecond pcap with snaplen 262144.
    pub fn new(link_type: LinkType) -> PcapWriter {
        PcapWriter::with_options(link_type, Resolution::Micro, false, 262_144)
    }

    /// A pcap with the given resolution, byte order and snaplen.
    pub fn with_options(link_type: LinkType, resolution: Resolution, big_endian: bool, snaplen: u32) -> PcapWriter {
        let mut w = PcapWriter { buf: Vec::new(), resolution, big_endian };
        let magic = match resolution {
            Resolution::Micro => 0xa1b2_c3d4u32,
            Resolution::Nano => 0xa1b2_3c4d,
        };
        w.u32(magic);
        w.u16(2);
        w.u16(4);
        w.u32(0); // thiszone
        w.u32(0); // sigfigs
        w.u32(snaplen);
        w.u32(link_type.0);
        w
    }

    fn u32(&mut self, v: u32) {
        if self.big_endian {
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn u16(&mut self, v: u16) {
        if self.big_endian {
            self.buf.extend_from_slice(&v.to_be_bytes());
        } else {
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Appends a record whose captured and original lengths are `frame.len()`.
    pub fn record(&mut self, ts: Timestamp, frame: &[u8]) -> &mut Self {
        self.record_truncated(ts, frame, frame.len() as u32)
    }

    /// Appends a record of `frame` (captured) that was `orig_len` bytes on the wire.
    pub fn record_truncated(&mut self, ts: Timestamp, frame: &[u8], orig_len: u32) -> &mut Self {
        let secs = ts.secs() as u32;
        let frac = (ts.as_nanos() % 1_000_000_000) as u32;
        self.u32(secs);
        self.u32(match self.resolution {
            Resolution::Micro => frac / 1000,
            Resolution::Nano => frac,
        });
        self.u32(frame.len() as u32);
        self.u32(orig_len);
        self.buf.extend_from_slice(frame);
        self
    }

    /// The file so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The file.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}
