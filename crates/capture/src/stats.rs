//! What the reader counted: packets, bytes, what could not be decoded and why, fragments.

use netanalysis_core::{LinkType, Summary, Transport};
use smallvec::SmallVec;

use crate::decode::{Decoded, Undecoded};
use crate::defrag::DefragStats;

/// Counts kept by a [`CaptureReader`](crate::CaptureReader) as it reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packet records read (every record, including those not decoded or filtered out).
    pub packets_read: u64,
    /// Bytes of the capture file (or stream) consumed.
    pub capture_bytes: u64,
    /// Captured frame bytes, summed over packets.
    pub frame_bytes: u64,
    /// Packets whose decoding stopped early: headers announce more than was captured, or
    /// a header is malformed.
    pub packets_truncated: u64,
    /// Packets captured shorter than they were on the wire (caplen < orig_len).
    pub packets_snaplen_cut: u64,
    /// TCP packets returned (reassembled datagrams count once, as the frame completing them).
    pub tcp_packets: u64,
    /// UDP packets returned.
    pub udp_packets: u64,
    /// Packets not filtered out by a capture filter.
    pub packets_filtered_out: u64,
    undecoded: [u64; Undecoded::ALL.len()],
    /// Link types without a decoder, with how many packets had each.
    pub unsupported_link_types: SmallVec<[(LinkType, u64); 2]>,
    /// IP fragment reassembly.
    pub fragments: DefragStats,
    /// Datagrams still waiting for fragments (when the stats were taken).
    pub fragments_pending: u64,
}

impl CaptureStats {
    /// Packets not decoded (no IP, or no transport) for `reason`.
    pub fn undecoded(&self, reason: Undecoded) -> u64 {
        self.undecoded.get(reason.index()).copied().unwrap_or(0)
    }

    pub(crate) fn count(&mut self, link_type: LinkType, caplen: u32, orig_len: u32, decoded: &Decoded<'_>) {
        self.packets_read += 1;
        self.frame_bytes = self.frame_bytes.saturating_add(u64::from(caplen));
        if caplen < orig_len {
            self.packets_snaplen_cut += 1;
        }
        if decoded.truncated {
            self.packets_truncated += 1;
        }
        match decoded.transport {
            Transport::Tcp(_) => self.tcp_packets += 1,
            Transport::Udp(_) => self.udp_packets += 1,
            _ => {}
        }
        if let Some(reason) = decoded.undecoded {
            if let Some(slot) = self.undecoded.get_mut(reason.index()) {
                *slot += 1;
            }
            if reason == Undecoded::UnsupportedLinkType {
                self.count_unsupported(link_type, 1);
            }
        }
    }

    /// Adds `other`'s packet counts to these (those of packets read on another thread);
    /// the fragment counts are left alone: they are the one defragmenter's.
    pub fn add(&mut self, other: &CaptureStats) {
        self.packets_read += other.packets_read;
        self.frame_bytes = self.frame_bytes.saturating_add(other.frame_bytes);
        self.packets_truncated += other.packets_truncated;
        self.packets_snaplen_cut += other.packets_snaplen_cut;
        self.tcp_packets += other.tcp_packets;
        self.udp_packets += other.udp_packets;
        self.packets_filtered_out += other.packets_filtered_out;
        for (mine, theirs) in self.undecoded.iter_mut().zip(&other.undecoded) {
            *mine += theirs;
        }
        for &(link_type, count) in &other.unsupported_link_types {
            self.count_unsupported(link_type, count);
        }
    }

    fn count_unsupported(&mut self, link_type: LinkType, count: u64) {
        match self.unsupported_link_types.iter_mut().find(|(lt, _)| *lt == link_type) {
            Some((_, n)) => *n += count,
            None => self.unsupported_link_types.push((link_type, count)),
        }
    }

    /// Adds the counts to `summary` under flat keys: `packets_read` and `capture_bytes`
    /// always, the others (`packets_truncated`, `packets_undecoded_<reason>`,
    /// `link_type_unsupported`, `ip_fragments_*`, ...) when not zero.
    pub fn report(&self, summary: &mut Summary) {
        summary.add("packets_read", self.packets_read);
        summary.add("capture_bytes", self.capture_bytes);
        let mut nonzero = |key: &str, value: u64| {
            if value != 0 {
                summary.add(key, value);
            }
        };
        nonzero("packets_truncated", self.packets_truncated);
        nonzero("packets_snaplen_cut", self.packets_snaplen_cut);
        nonzero("packets_filtered_out", self.packets_filtered_out);
        for reason in Undecoded::ALL {
            let value = self.undecoded(reason);
            if value != 0 {
                nonzero(&format!("packets_undecoded_{}", reason.key()), value);
            }
        }
        nonzero("link_type_unsupported", self.unsupported_link_types.iter().map(|(_, n)| n).sum());
        nonzero("ip_fragments", self.fragments.fragments);
        nonzero("ip_fragments_reassembled", self.fragments.reassembled);
        nonzero("ip_fragments_dropped", self.fragments.dropped);
        nonzero("ip_fragments_timed_out", self.fragments.timed_out);
        nonzero("ip_fragments_overlapping", self.fragments.overlapping);
        nonzero("ip_fragments_pending", self.fragments_pending);
    }
}
