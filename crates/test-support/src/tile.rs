//! A larger capture made of many copies of a small one: real traffic, repeated, for
//! workloads that need volume (the profile-guided build's training runs).
//!
//! Copy `k` (from 0) of every IPv4 packet has the low 16 bits of both addresses
//! XOR-ed with `k`, so each copy's sessions have socket pairs of their own while
//! clients and servers keep pairing up as in the original, and its timestamps are
//! moved past the end of copy `k - 1`. The IPv4 header checksum and the TCP or UDP
//! checksum are updated to match (RFC 1624), so the copies are as valid as the
//! original. Copy 0 is the original, byte for byte; frames that are not Ethernet
//! IPv4 (ARP, IPv6) are copied unchanged.

use std::io::{self, Write};

const ETHERNET: u32 = 1;
const ETHER_HEADER: usize = 14;
const IPV4: [u8; 2] = [0x08, 0x00];
const TCP: u8 = 6;
const UDP: u8 = 17;

/// What [`tile`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tiled {
    /// Records written (the original's records times the copies).
    pub packets: u64,
    /// Bytes written, file header included.
    pub bytes: u64,
}

/// Writes `copies` copies of `capture` (a classic pcap file of Ethernet frames, either
/// byte order and timestamp resolution) one after another to `out`, as one capture.
///
/// # Errors
/// `InvalidData` when `capture` is not such a file or a record is cut short (nothing
/// useful can be made of it), `InvalidInput` for more copies than 16-bit address
/// suffixes can tell apart (65,536); otherwise the errors of `out`.
pub fn tile<W: Write>(capture: &[u8], copies: u32, mut out: W) -> io::Result<Tiled> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    if copies > 1 << 16 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "at most 65536 copies"));
    }
    let header = capture.get(..24).ok_or_else(|| invalid("shorter than a pcap file header"))?;
    let magic = [header[0], header[1], header[2], header[3]];
    // Microsecond or nanosecond magic: the fraction is copied as it is either way.
    let big_endian = match magic {
        [0xd4 | 0x4d, 0xc3 | 0x3c, 0xb2, 0xa1] => false,
        [0xa1, 0xb2, 0xc3 | 0x3c, 0xd4 | 0x4d] => true,
        _ => return Err(invalid("not a classic pcap file")),
    };
    if read_u32(header, 20, big_endian) & 0x0fff_ffff != ETHERNET {
        return Err(invalid("link type is not Ethernet"));
    }
    let records = records(&capture[24..], big_endian).ok_or_else(|| invalid("a record is cut short"))?;
    let seconds = |r: &[u8]| read_u32(r, 0, big_endian);
    // Whole seconds from the first record's to just past the last one's, so copies
    // never overlap in time (a capture's records need not be in time order).
    let first = records.iter().map(|r| seconds(r)).min().unwrap_or(0);
    let last = records.iter().map(|r| seconds(r)).max().unwrap_or(0);
    let span = last - first + 1;

    out.write_all(header)?;
    let mut tiled = Tiled { packets: 0, bytes: 24 };
    let mut frame = Vec::new();
    for k in 0..copies {
        let shift = u64::from(span) * u64::from(k);
        for record in &records {
            let sec = u64::from(seconds(record)) + shift;
            let sec = u32::try_from(sec).map_err(|_| invalid("timestamps would pass the year 2106"))?;
            let mut head = [0u8; 16];
            head.copy_from_slice(&record[..16]);
            head[..4].copy_from_slice(&if big_endian { sec.to_be_bytes() } else { sec.to_le_bytes() });
            frame.clear();
            frame.extend_from_slice(&record[16..]);
            // k < 2^16, checked above.
            move_addresses(&mut frame, k as u16);
            out.write_all(&head)?;
            out.write_all(&frame)?;
            tiled.packets += 1;
            tiled.bytes += (head.len() + frame.len()) as u64;
        }
    }
    out.flush()?;
    Ok(tiled)
}

/// The records of a pcap body (after its file header), each header and data together;
/// `None` if the last one is cut short.
fn records(mut body: &[u8], big_endian: bool) -> Option<Vec<&[u8]>> {
    let mut records = Vec::new();
    while !body.is_empty() {
        let len = read_u32(body.get(..16)?, 8, big_endian) as usize;
        let record = body.get(..16 + len)?;
        records.push(record);
        body = &body[record.len()..];
    }
    Some(records)
}

/// The 32-bit word at `at` (which must be in `bytes`) in the file's byte order.
fn read_u32(bytes: &[u8], at: usize, big_endian: bool) -> u32 {
    let word = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    if big_endian {
        u32::from_be_bytes(word)
    } else {
        u32::from_le_bytes(word)
    }
}

/// XORs `k` into the low 16 bits of an Ethernet IPv4 frame's two addresses, fixing the
/// checksums they are part of. Anything else is left alone.
fn move_addresses(frame: &mut [u8], k: u16) {
    if k == 0 || frame.get(12..14) != Some(&IPV4[..]) {
        return;
    }
    let ip = ETHER_HEADER;
    let Some(&first) = frame.get(ip) else { return };
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < 20 || frame.len() < ip + header_len {
        return;
    }
    let protocol = frame[ip + 9];
    let fragment_offset = u16::from_be_bytes([frame[ip + 6], frame[ip + 7]]) & 0x1fff;
    let transport = ip + header_len;
    let checksum_at = match protocol {
        TCP if fragment_offset == 0 && frame.len() >= transport + 18 => Some(transport + 16),
        UDP if fragment_offset == 0 && frame.len() >= transport + 8 => Some(transport + 6),
        _ => None,
    };
    for at in [ip + 14, ip + 18] {
        let old = u16::from_be_bytes([frame[at], frame[at + 1]]);
        let new = old ^ k;
        frame[at..at + 2].copy_from_slice(&new.to_be_bytes());
        update_checksum(frame, ip + 10, old, new);
        if let Some(sum_at) = checksum_at {
            // A UDP checksum of zero means "none" and stays so.
            let none = protocol == UDP && frame[sum_at] == 0 && frame[sum_at + 1] == 0;
            if !none {
                update_checksum(frame, sum_at, old, new);
                if protocol == UDP && frame[sum_at] == 0 && frame[sum_at + 1] == 0 {
                    // A computed zero is sent as all ones (RFC 768).
                    frame[sum_at..sum_at + 2].copy_from_slice(&[0xff, 0xff]);
                }
            }
        }
    }
}

/// Updates the Internet checksum at `at` for one 16-bit word of what it covers going
/// from `old` to `new`: HC' = ~(~HC + ~m + m') in one's complement (RFC 1624, eq. 3).
fn update_checksum(frame: &mut [u8], at: usize, old: u16, new: u16) {
    let checksum = u16::from_be_bytes([frame[at], frame[at + 1]]);
    let mut sum = u32::from(!checksum) + u32::from(!old) + u32::from(new);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    // The loop leaves at most 16 bits.
    let folded = sum as u16;
    frame[at..at + 2].copy_from_slice(&(!folded).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::internet_checksum;
    use crate::{Side, TcpFlow};

    /// Whether an Ethernet IPv4 TCP frame's two checksums verify.
    fn checksums_hold(frame: &[u8]) -> bool {
        let ip = &frame[14..];
        let header_len = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        // A checksum over what it covers, itself included, verifies when it comes out 0.
        let header_ok = internet_checksum(&ip[..header_len]) == 0;
        let segment = &ip[header_len..total];
        let mut covered = Vec::new();
        covered.extend_from_slice(&ip[12..20]);
        covered.extend_from_slice(&[0, ip[9]]);
        covered.extend_from_slice(&(segment.len() as u16).to_be_bytes());
        covered.extend_from_slice(segment);
        let tcp_ok = internet_checksum(&covered) == 0;
        header_ok && tcp_ok
    }

    fn sample() -> Vec<u8> {
        let mut flow = TcpFlow::new("10.1.2.3:40000", "10.9.8.7:80");
        flow.handshake()
            .send(Side::Client, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .send(Side::Server, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
            .close();
        flow.to_pcap()
    }

    fn frames(capture: &[u8]) -> Vec<(u32, &[u8])> {
        records(&capture[24..], false)
            .expect("whole records")
            .into_iter()
            .map(|r| (read_u32(r, 0, false), &r[16..]))
            .collect()
    }

    #[test]
    fn copies_have_their_own_addresses_later_times_and_valid_checksums() {
        let original = sample();
        let mut out = Vec::new();
        let tiled = tile(&original, 3, &mut out).unwrap();
        let one = frames(&original);
        let all = frames(&out);
        assert_eq!(tiled.packets, 3 * one.len() as u64);
        assert_eq!(tiled.bytes, out.len() as u64);
        assert_eq!(all.len(), 3 * one.len());
        assert_eq!(&out[..original.len()], &original[..], "copy 0 is the original");
        let span = one.iter().map(|f| f.0).max().unwrap() - one.iter().map(|f| f.0).min().unwrap() + 1;
        for (k, copy) in all.chunks(one.len()).enumerate() {
            for ((sec, frame), (orig_sec, orig)) in copy.iter().zip(&one) {
                assert_eq!(*sec, orig_sec + span * k as u32);
                assert!(checksums_hold(frame), "copy {k}");
                let k = k as u16;
                let moved = |at: usize| u16::from_be_bytes([orig[at], orig[at + 1]]) ^ k;
                assert_eq!(u16::from_be_bytes([frame[28], frame[29]]), moved(28));
                assert_eq!(u16::from_be_bytes([frame[32], frame[33]]), moved(32));
                // Everything but the addresses' low words and the two checksums is kept.
                let kept = |f: &[u8]| {
                    let mut f = f.to_vec();
                    for at in [24, 25, 28, 29, 32, 33, 50, 51] {
                        f[at] = 0;
                    }
                    f
                };
                assert_eq!(kept(frame), kept(orig));
            }
        }
    }

    #[test]
    fn what_is_not_a_whole_ethernet_pcap_is_refused() {
        let original = sample();
        let cut = &original[..original.len() - 1];
        assert_eq!(tile(cut, 2, Vec::new()).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(tile(b"not a capture at all....", 2, Vec::new()).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let mut raw_ip = original.clone();
        raw_ip[20] = 101; // LINKTYPE_RAW
        assert_eq!(tile(&raw_ip, 2, Vec::new()).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(tile(&original, 70_000, Vec::new()).unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
