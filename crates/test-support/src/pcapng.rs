//! A tiny pcapng writer for fixtures: sections, interfaces with their own link types and
//! timestamp resolutions, enhanced and simple packet blocks, and blocks readers must skip.

use netanalysis_core::LinkType;

/// Builds a pcapng file in memory.
///
/// ```
/// use netanalysis_test_support::PcapNgWriter;
/// use netanalysis_core::LinkType;
/// let mut file = PcapNgWriter::new(false);
/// file.interface(LinkType::ETHERNET, Some(9)).packet(0, 1_000_000_000, &[0u8; 60]);
/// assert_eq!(&file.bytes()[..4], &[0x0a, 0x0d, 0x0d, 0x0a]);
/// ```
#[derive(Debug, Clone)]
pub struct PcapNgWriter {
    buf: Vec<u8>,
    big_endian: bool,
}

impl PcapNgWriter {
    /// A file with one section header, in the given byte order.
    pub fn new(big_endian: bool) -> PcapNgWriter {
        let mut writer = PcapNgWriter { buf: Vec::new(), big_endian };
        writer.section(big_endian);
        writer
    }

    fn u16(&self, out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&if self.big_endian { v.to_be_bytes() } else { v.to_le_bytes() });
    }

    fn u32(&self, out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&if self.big_endian { v.to_be_bytes() } else { v.to_le_bytes() });
    }

    /// Appends a block of type `kind` with `body` (padded to 4 bytes).
    pub fn block(&mut self, kind: u32, body: &[u8]) -> &mut Self {
        let padded = body.len().div_ceil(4) * 4;
        let len = u32::try_from(12 + padded).expect("block fits");
        let mut out = Vec::with_capacity(12 + padded);
        self.u32(&mut out, kind);
        self.u32(&mut out, len);
        out.extend_from_slice(body);
        out.resize(8 + padded, 0);
        self.u32(&mut out, len);
        self.buf.extend_from_slice(&out);
        self
    }

    /// Starts a new section in the given byte order (its interfaces start again from 0).
    pub fn section(&mut self, big_endian: bool) -> &mut Self {
        self.big_endian = big_endian;
        let mut body = Vec::new();
        self.u32(&mut body, 0x1a2b_3c4d);
        self.u16(&mut body, 1);
        self.u16(&mut body, 0);
        body.extend_from_slice(&[0xff; 8]); // section length unknown
        self.block(0x0a0d_0d0a, &body)
    }

    /// Describes the next interface (numbered from 0 in its section), with an if_tsresol
    /// option when `tsresol` is given (microseconds otherwise).
    pub fn interface(&mut self, link_type: LinkType, tsresol: Option<u8>) -> &mut Self {
        let mut body = Vec::new();
        self.u16(&mut body, u16::try_from(link_type.0).expect("link type fits 16 bits"));
        self.u16(&mut body, 0);
        self.u32(&mut body, 262_144);
        if let Some(resol) = tsresol {
            self.u16(&mut body, 9); // if_tsresol
            self.u16(&mut body, 1);
            body.extend_from_slice(&[resol, 0, 0, 0]);
            self.u16(&mut body, 0); // opt_endofopt
            self.u16(&mut body, 0);
        }
        self.block(1, &body)
    }

    /// An enhanced packet block on `interface`, at `ts` units of that interface's resolution.
    pub fn packet(&mut self, interface: u32, ts: u64, frame: &[u8]) -> &mut Self {
        self.packet_truncated(interface, ts, frame, u32::try_from(frame.len()).expect("frame fits"))
    }

    /// An enhanced packet block of `frame` (captured) that was `orig_len` bytes on the wire.
    pub fn packet_truncated(&mut self, interface: u32, ts: u64, frame: &[u8], orig_len: u32) -> &mut Self {
        let mut body = Vec::new();
        self.u32(&mut body, interface);
        self.u32(&mut body, (ts >> 32) as u32);
        self.u32(&mut body, ts as u32);
        self.u32(&mut body, u32::try_from(frame.len()).expect("frame fits"));
        self.u32(&mut body, orig_len);
        body.extend_from_slice(frame);
        body.resize(body.len().div_ceil(4) * 4, 0);
        // An epb_flags option (inbound), as Wireshark writes, then the end of options.
        self.u16(&mut body, 2);
        self.u16(&mut body, 4);
        self.u32(&mut body, 1);
        self.u16(&mut body, 0);
        self.u16(&mut body, 0);
        self.block(6, &body)
    }

    /// A simple packet block (interface 0 of the section, no time).
    pub fn simple_packet(&mut self, frame: &[u8]) -> &mut Self {
        let mut body = Vec::new();
        self.u32(&mut body, u32::try_from(frame.len()).expect("frame fits"));
        body.extend_from_slice(frame);
        self.block(3, &body)
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
