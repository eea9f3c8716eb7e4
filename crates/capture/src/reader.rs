//! The capture reader: frames pcap and pcapng records in place, decodes each frame, feeds
//! fragments to the defragmenter and lends out one [`Packet`] at a time.
//!
//! Records are framed here rather than through pcap-parser's `PcapReaderIterator`, for
//! three reasons: its pcapng reader parses every packet block's options into a `Vec` (an
//! allocation per packet when a file has per-packet options, as Wireshark's do), it
//! cannot say at which byte offset a file is cut, and it cannot wait on a file that is
//! still growing. pcap-parser parses the interface description blocks and their options.

#![cfg_attr(not(feature = "pcap"), allow(irrefutable_let_patterns))]

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use netanalysis_core::{IpInfo, LinkType, Packet, Summary, Timestamp};
use smallvec::SmallVec;

use crate::ahead::ReadAhead;
use crate::chunks::Chunks;
use crate::decode::{decode_frame, Decoded, Fragment, Undecoded};
use crate::defrag::{DefragLimits, Defragmenter, Outcome};
use crate::error::{OpenError, ReadError};
use crate::source::{ByteSource, Fill, SharedBuffer};
use crate::stats::CaptureStats;

/// The largest pcap record accepted, unless the file header's snapshot length is larger
/// (Wireshark's limit for most link types, 256 KiB).
const MAX_RECORD: u32 = 262_144;
/// The largest snapshot length a file header can raise that limit to.
const MAX_SNAPLEN: u32 = 16 << 20;
/// The largest pcapng block accepted (Wireshark's limit is 16 MiB of packet data).
const MAX_BLOCK: u32 = (16 << 20) + 4096;

mod magic {
    pub const PCAP_USEC: u32 = 0xa1b2_c3d4;
    pub const PCAP_NSEC: u32 = 0xa1b2_3c4d;
    pub const PCAP_MODIFIED: u32 = 0xa1b2_cd34;
    pub const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
    pub const PCAPNG_BOM: u32 = 0x1a2b_3c4d;
}

mod block {
    pub const IDB: u32 = 1;
    pub const PB: u32 = 2;
    pub const SPB: u32 = 3;
    pub const EPB: u32 = 6;
}

/// A pcapng interface description, as far as decoding needs it.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: LinkType,
    snaplen: u32,
    tsresol: u8,
    tsoffset: i64,
}

#[derive(Debug)]
enum Format {
    Pcap(PcapFormat),
    PcapNg { big_endian: bool, interfaces: Vec<Interface>, base: u32 },
}

/// One framed record: where its bytes are and what its header said. Holds no borrow, so
/// the read loop can go on while it is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    /// Frame bytes, relative to the source's current offset (or to a chunk's buffer).
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) orig_len: u32,
    pub(crate) ts: Timestamp,
    pub(crate) interface: u32,
    pub(crate) link_type: LinkType,
    pub(crate) known_interface: bool,
}

#[derive(Debug)]
enum Input {
    File {
        source: ByteSource,
        format: Format,
    },
    #[cfg(feature = "pcap")]
    Live(crate::live::LiveSource),
}

/// Reads packets from a pcap or pcapng file, a stream, or (with the `pcap` feature) a live
/// interface, and decodes them.
///
/// A lending iterator: each [`Packet`] borrows the reader's buffer and must be dropped
/// before the next call to [`next_packet`](CaptureReader::next_packet).
///
/// ```no_run
/// use netanalysis_capture::CaptureReader;
/// let mut reader = CaptureReader::open("capture.pcap".as_ref())?;
/// while let Some(packet) = reader.next_packet()? {
///     println!("{} {:?} {} bytes", packet.number, packet.src(), packet.payload.len());
/// }
/// for warning in reader.take_warnings() {
///     eprintln!("{warning}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct CaptureReader {
    name: String,
    input: Input,
    /// Bytes of the previous record still to consume.
    pending: usize,
    number: u64,
    defrag: Defragmenter,
    stats: CaptureStats,
    stop: Arc<AtomicBool>,
    finished: bool,
    warned: Warned,
    #[cfg(feature = "pcap")]
    filter: Option<crate::live::Filter>,
}

/// Where a packet's frame lies in the reader's read buffer (see
/// [`CaptureReader::next_packet_shared`]).
#[derive(Debug, Clone, Copy)]
pub struct FrameAt<'a> {
    /// The buffer; keep a clone to read the frame after the reader has moved on.
    pub buffer: &'a SharedBuffer,
    /// The frame is `buffer.bytes()[start..start + frame.len()]`.
    pub start: usize,
}

/// Which warnings were already handed out.
#[derive(Debug, Default)]
struct Warned {
    reasons: u32,
    link_types: SmallVec<[LinkType; 2]>,
    truncated: bool,
    fragments: bool,
}

impl CaptureReader {
    /// Opens a capture file; `-` reads standard input. The format is told by the file's
    /// magic number, never by its name.
    pub fn open(path: &Path) -> Result<CaptureReader, OpenError> {
        if path == Path::new("-") {
            return CaptureReader::from_reader("-", Box::new(io::stdin()));
        }
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => OpenError::Missing { name: name.clone() },
            _ => OpenError::Unreadable { name: name.clone(), source },
        })?;
        // A regular file can be read ahead (with a handle of its own).
        let another = file.metadata().is_ok_and(|m| m.is_file()).then(|| file.try_clone().ok()).flatten();
        let mut reader = CaptureReader::from_reader(&name, Box::new(file))?;
        if let Input::File { source, .. } = &mut reader.input {
            source.set_file(another);
        }
        Ok(reader)
    }

    /// Reads a capture from any byte stream; `name` is used in messages.
    pub fn from_reader(name: &str, reader: Box<dyn Read + Send>) -> Result<CaptureReader, OpenError> {
        CaptureReader::from_source(name, reader, None)
    }

    /// Opens a capture file that may still be growing and follows it (see
    /// [`set_follow`](CaptureReader::set_follow)): unlike `open` then `set_follow`, this
    /// also waits for a file header not yet written, as when tcpdump has just created the
    /// file and still buffers its first bytes.
    pub fn open_following(path: &Path, idle: Option<Duration>) -> Result<CaptureReader, OpenError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => OpenError::Missing { name: name.clone() },
            _ => OpenError::Unreadable { name: name.clone(), source },
        })?;
        CaptureReader::from_source(&name, Box::new(file), Some(idle))
    }

    fn from_source(
        name: &str,
        reader: Box<dyn Read + Send>,
        follow: Option<Option<Duration>>,
    ) -> Result<CaptureReader, OpenError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut source = ByteSource::new(reader, Arc::clone(&stop));
        source.set_follow(follow);
        let format = read_file_header(name, &mut source)?;
        Ok(CaptureReader::with_input(name, Input::File { source, format }, stop))
    }

    fn with_input(name: &str, input: Input, stop: Arc<AtomicBool>) -> CaptureReader {
        CaptureReader {
            name: name.to_owned(),
            input,
            pending: 0,
            number: 0,
            defrag: Defragmenter::new(DefragLimits::default()),
            stats: CaptureStats::default(),
            stop,
            finished: false,
            warned: Warned::default(),
            #[cfg(feature = "pcap")]
            filter: None,
        }
    }

    /// Captures live from interface `iface` (needs the `pcap` feature and capture
    /// permission), with an optional BPF filter in tcpdump syntax.
    #[cfg(feature = "pcap")]
    pub fn live(iface: &str, filter: Option<&str>) -> Result<CaptureReader, OpenError> {
        let stop = Arc::new(AtomicBool::new(false));
        let live = crate::live::LiveSource::open(iface, filter)?;
        Ok(CaptureReader::with_input(iface, Input::Live(live), stop))
    }

    /// Live capture needs the `pcap` feature; this build does not have it.
    #[cfg(not(feature = "pcap"))]
    pub fn live(_iface: &str, _filter: Option<&str>) -> Result<CaptureReader, OpenError> {
        Err(OpenError::FeatureMissing { what: "live capture" })
    }

    /// Keeps only the packets that match `expr` (tcpdump/BPF syntax, compiled by libpcap
    /// for each link type met). Filtered-out packets still count in the numbering.
    #[cfg(feature = "pcap")]
    pub fn set_filter(&mut self, expr: &str) -> Result<(), OpenError> {
        let mut filter = crate::live::Filter::new(expr);
        // Compile once now, so a bad expression is reported before any packet is read.
        filter.check(self.first_link_type())?;
        self.filter = Some(filter);
        Ok(())
    }

    /// Capture filters need the `pcap` feature; this build does not have it.
    #[cfg(not(feature = "pcap"))]
    pub fn set_filter(&mut self, _expr: &str) -> Result<(), OpenError> {
        Err(OpenError::FeatureMissing { what: "a capture filter" })
    }

    #[cfg(feature = "pcap")]
    fn first_link_type(&self) -> LinkType {
        match &self.input {
            Input::File { format: Format::Pcap(format), .. } => format.link_type,
            Input::File { format: Format::PcapNg { interfaces, .. }, .. } => {
                interfaces.first().map_or(LinkType::ETHERNET, |i| i.link_type)
            }
            Input::Live(live) => live.link_type(),
        }
    }

    /// A handle with which other threads can read the capture file ahead of this
    /// reader, taking the copy out of the page cache off the thread that reads (see
    /// [`ReadAhead::read_next`]); the packets read are the same either way. `None`
    /// unless the reader was opened on a regular file ([`open`](CaptureReader::open))
    /// that it does not follow. Once asked for, the reader's own reads are positioned
    /// reads.
    pub fn read_ahead(&mut self) -> Option<ReadAhead> {
        match &mut self.input {
            Input::File { source, .. } => source.read_ahead(),
            #[cfg(feature = "pcap")]
            Input::Live(_) => None,
        }
    }

    /// The capture as chunks, to be read on several threads at once (see [`Chunks`]):
    /// `Some` for a classic pcap file opened with [`open`](CaptureReader::open) (a regular
    /// file, not followed, not read ahead, without a capture filter) of which no packet
    /// was read yet. Its packets are then read through the chunks, not through this
    /// reader, which gets their counts back from [`chunks_read`](CaptureReader::chunks_read).
    pub fn chunks(&mut self) -> Option<Chunks> {
        if self.number != 0 || self.finished {
            return None;
        }
        #[cfg(feature = "pcap")]
        if self.filter.is_some() {
            return None;
        }
        let Input::File { source, format: Format::Pcap(format) } = &mut self.input else {
            return None;
        };
        let format = *format;
        let file = source.take_file()?;
        let defrag = std::mem::replace(&mut self.defrag, Defragmenter::new(DefragLimits::default()));
        Some(Chunks::new(&self.name, file, source.offset(), format, Arc::clone(&self.stop), defrag))
    }

    /// Takes the counts of the packets read through `chunks` so far (every thread's
    /// `stats` added up, and `capture_bytes` of the file read): [`stats`](CaptureReader::stats),
    /// [`report`](CaptureReader::report) and [`take_warnings`](CaptureReader::take_warnings)
    /// then tell them as if this reader had read the packets. With `end`, reading is
    /// over: the defragmenter comes back, and the reader returns no more packets.
    pub fn chunks_read(&mut self, chunks: &Chunks, stats: &CaptureStats, capture_bytes: u64, end: bool) {
        let mut counts = stats.clone();
        counts.capture_bytes = capture_bytes;
        counts.fragments = chunks.with_defrag(|defrag| *defrag.stats());
        self.stats = counts;
        if end {
            self.defrag =
                chunks.with_defrag(|defrag| std::mem::replace(defrag, Defragmenter::new(DefragLimits::default())));
            self.stats.fragments_pending = self.defrag.pending() as u64;
            self.finished = true;
        }
    }

    /// Follows a growing file (as `tail -f` does): at its end, or inside a record not yet
    /// fully written, wait for more instead of ending or reporting a cut. Reading ends
    /// when `idle` passes without growth (never, with `None`), and then a record left
    /// half-written is reported as cut short; or when the stop flag is set, and then it is
    /// not (the writer was still at work).
    pub fn set_follow(&mut self, idle: Option<Duration>) {
        if let Input::File { source, .. } = &mut self.input {
            source.set_follow(Some(idle));
        }
    }

    /// A flag that, once set (from a signal handler or another thread), makes the reader
    /// end cleanly: `next_packet` returns `Ok(None)` at its next call, or within a tenth of
    /// a second while it waits on a live interface or a followed file.
    pub fn stop_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Sets the defragmenter's limits (before reading).
    pub fn set_defrag_limits(&mut self, limits: DefragLimits) {
        self.defrag = Defragmenter::new(limits);
    }

    /// The capture's name, as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The counts so far.
    pub fn stats(&self) -> &CaptureStats {
        &self.stats
    }

    /// Adds the counts to `summary` (see [`CaptureStats::report`]), as of now: datagrams
    /// still waiting for fragments count as pending even if reading stopped early.
    pub fn report(&self, summary: &mut Summary) {
        let mut stats = self.stats.clone();
        stats.fragments = *self.defrag.stats();
        stats.fragments_pending = self.defrag.pending() as u64;
        stats.report(summary);
    }

    /// Warnings not yet handed out, each distinct one once, as lines to print.
    pub fn take_warnings(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        let name = &self.name;
        for &(link_type, count) in &self.stats.unsupported_link_types {
            if !self.warned.link_types.contains(&link_type) {
                self.warned.link_types.push(link_type);
                let number = link_type.0;
                let link = match link_type.name() {
                    Some(known) => format!("{known} ({number})"),
                    None => number.to_string(),
                };
                lines.push(format!(
                    "{name}: unsupported link type {link}: its packets are skipped and counted \
                     ({count} so far, packets_undecoded_unsupported_link_type)"
                ));
            }
        }
        for reason in Undecoded::ALL {
            let bit = 1u32 << reason.index();
            let count = self.stats.undecoded(reason);
            let quiet = matches!(reason, Undecoded::NotIp | Undecoded::UnsupportedLinkType);
            if count > 0 && !quiet && self.warned.reasons & bit == 0 {
                self.warned.reasons |= bit;
                lines.push(format!(
                    "{name}: some packets are not decoded: {} ({count} so far, packets_undecoded_{})",
                    reason.describe(),
                    reason.key()
                ));
            }
        }
        if self.stats.packets_truncated > 0 && !self.warned.truncated {
            self.warned.truncated = true;
            lines.push(format!(
                "{name}: some packets end before their headers say (cut by the capture's snapshot length, \
                 or malformed): they are decoded as far as they go and what is missing is reported as missing \
                 ({} so far, packets_truncated)",
                self.stats.packets_truncated
            ));
        }
        let lost = self.stats.fragments.dropped + self.stats.fragments.timed_out;
        if lost > 0 && !self.warned.fragments {
            self.warned.fragments = true;
            lines.push(format!(
                "{name}: some fragmented IP datagrams could not be reassembled ({lost} so far, \
                 ip_fragments_dropped and ip_fragments_timed_out)"
            ));
        }
        lines
    }

    /// The next packet, or `None` at the end of the capture.
    ///
    /// Every record counts in the numbering (from 1, as tcpdump and tshark number them),
    /// and every record not filtered out is returned, decoded as far as it goes: problems
    /// inside a packet are counted in [`stats`](CaptureReader::stats), never returned as
    /// errors. An IP fragment that does not complete its datagram is returned with its IP
    /// header, `ip.fragment` set and `transport` `None`; the fragment that completes it is
    /// returned with the whole datagram's transport and payload, and `ip.reassembled` set.
    ///
    /// An error means the file itself is damaged (cut short, an impossible record) or
    /// could not be read; every packet before the damage was returned first, and calls
    /// after an error return `Ok(None)`.
    #[inline]
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, ReadError> {
        Ok(self.next_packet_shared()?.map(|(packet, _)| packet))
    }

    /// The next packet, as [`next_packet`](CaptureReader::next_packet) returns it, and
    /// where its frame lies in the reader's read buffer (`None` for a live capture, whose
    /// frames lie in libpcap's).
    ///
    /// A caller that keeps a clone of the buffer can read the frame from it after the
    /// reader has moved on, on another thread too: the reader never writes into a buffer
    /// while a clone of it exists (it reads into another one, and reuses the first once
    /// every clone is dropped). So frames reach other threads without being copied.
    #[inline]
    pub fn next_packet_shared(&mut self) -> Result<Option<(Packet<'_>, Option<FrameAt<'_>>)>, ReadError> {
        // Without an idle interval the reader never reports idleness.
        match self.next_step(None)? {
            ReadStep::Packet(packet, at) => Ok(Some((packet, at))),
            ReadStep::Idle(_) | ReadStep::End => Ok(None),
        }
    }

    /// The next packet, as [`next_packet`](CaptureReader::next_packet) returns it, or,
    /// for a live capture, [`Next::Idle`] with the wall-clock time when no packet arrived
    /// for `idle` (at most about once per `idle`; a file is never idle). A live capture's
    /// clock is the wall clock, so time-based work (idle timeouts) can go on while the
    /// network is quiet.
    #[inline]
    pub fn next_or_idle(&mut self, idle: Duration) -> Result<Next<'_>, ReadError> {
        Ok(match self.next_step(Some(idle))? {
            ReadStep::Packet(packet, _) => Next::Packet(packet),
            ReadStep::Idle(now) => Next::Idle(now),
            ReadStep::End => Next::End,
        })
    }

    /// The packet built in place for the caller (inlined: a `Packet` is large, and
    /// moving it through each layer of enums showed as a copy per packet).
    #[inline(always)]
    fn next_step(&mut self, idle: Option<Duration>) -> Result<ReadStep<'_>, ReadError> {
        if self.finished {
            return Ok(ReadStep::End);
        }
        if self.stop.load(Ordering::Relaxed) {
            self.finish();
            return Ok(ReadStep::End);
        }
        match &mut self.input {
            Input::File { source, .. } => {
                source.consume(self.pending);
                self.pending = 0;
            }
            #[cfg(feature = "pcap")]
            Input::Live(_) => {}
        }
        let record = loop {
            let record = match self.next_record(idle) {
                Ok(Fetched::Record(record)) => record,
                Ok(Fetched::Idle(now)) => return Ok(ReadStep::Idle(now)),
                Ok(Fetched::End) => {
                    self.finish();
                    return Ok(ReadStep::End);
                }
                Err(error) => {
                    self.finish();
                    return Err(error);
                }
            };
            self.number += 1;
            if self.filtered_out(&record) {
                continue;
            }
            break record;
        };
        if let Input::File { source, .. } = &self.input {
            self.stats.capture_bytes = source.offset().saturating_add(self.pending as u64);
        }
        let (frame, at) = match &self.input {
            Input::File { source, .. } => {
                let (buffer, start) = source.shared();
                (source.slice(record.from, record.to), Some(FrameAt { buffer, start: start + record.from }))
            }
            #[cfg(feature = "pcap")]
            Input::Live(live) => (live.frame(), None),
        };
        let buffer = at.map(|at| at.buffer.as_shared());
        let defrag = &mut self.defrag;
        Ok(ReadStep::Packet(assemble(self.number, &record, frame, buffer, move || defrag, &mut self.stats), at))
    }

    /// Whether a capture filter rejects the record; if so it is counted and consumed.
    #[cfg(feature = "pcap")]
    fn filtered_out(&mut self, record: &Record) -> bool {
        let Some(filter) = &mut self.filter else { return false };
        let frame = match &self.input {
            Input::File { source, .. } => source.slice(record.from, record.to),
            Input::Live(live) => live.frame(),
        };
        if filter.matches(record.link_type, frame, record.orig_len) {
            return false;
        }
        self.stats.packets_read += 1;
        self.stats.packets_filtered_out += 1;
        if let Input::File { source, .. } = &mut self.input {
            source.consume(self.pending);
        }
        self.pending = 0;
        true
    }

    #[cfg(not(feature = "pcap"))]
    fn filtered_out(&mut self, _record: &Record) -> bool {
        false
    }

    fn finish(&mut self) {
        self.finished = true;
        if let Input::File { source, .. } = &self.input {
            self.stats.capture_bytes = source.offset().saturating_add(self.pending as u64);
        }
        self.stats.fragments = *self.defrag.stats();
        self.stats.fragments_pending = self.defrag.pending() as u64;
    }

    /// Frames the next packet record, skipping other blocks; a live capture reports
    /// idleness when asked (`idle`).
    #[cfg_attr(not(feature = "pcap"), allow(unused_variables))]
    fn next_record(&mut self, idle: Option<Duration>) -> Result<Fetched, ReadError> {
        match &mut self.input {
            Input::File { source, format } => loop {
                let step = match format {
                    Format::Pcap(format) => pcap_record(&self.name, source, format)?,
                    Format::PcapNg { big_endian, interfaces, base } => {
                        pcapng_block(&self.name, source, big_endian, interfaces, base)?
                    }
                };
                match step {
                    Step::Packet(record, len) => {
                        self.pending = len;
                        return Ok(Fetched::Record(record));
                    }
                    Step::Skip(len) => source.consume(len),
                    Step::End => return Ok(Fetched::End),
                }
            },
            #[cfg(feature = "pcap")]
            Input::Live(live) => {
                let link_type = live.link_type();
                Ok(match live.next_record(&self.stop, idle)? {
                    crate::live::LiveStep::Frame { ts, caplen, orig_len } => Fetched::Record(Record {
                        from: 0,
                        to: caplen,
                        orig_len,
                        ts,
                        interface: 0,
                        link_type,
                        known_interface: true,
                    }),
                    crate::live::LiveStep::Idle(now) => Fetched::Idle(now),
                    crate::live::LiveStep::End => Fetched::End,
                })
            }
        }
    }
}

/// What [`CaptureReader::next_or_idle`] returns.
#[derive(Debug)]
pub enum Next<'a> {
    /// The next packet.
    Packet(Packet<'a>),
    /// A live capture saw no packet for the idle interval: the wall-clock time now.
    Idle(Timestamp),
    /// The end of the capture (or of a stopped live capture).
    End,
}

/// A packet with where its frame lies, idleness, or the end.
enum ReadStep<'a> {
    Packet(Packet<'a>, Option<FrameAt<'a>>),
    Idle(Timestamp),
    End,
}

/// A framed record, idleness, or the end.
enum Fetched {
    Record(Record),
    #[cfg_attr(not(feature = "pcap"), allow(dead_code))]
    Idle(Timestamp),
    End,
}

/// Decodes a framed record into a packet, reassembling fragments. Inlined, so the
/// packet is built where the caller's enum holds it rather than moved there.
///
/// `defrag` gives the defragmenter, and is called for fragments only (a reader in chunks
/// waits there for its turn at the one defragmenter every thread shares).
#[inline(always)]
pub(crate) fn assemble<'a>(
    number: u64,
    record: &Record,
    frame: &'a [u8],
    buffer: Option<&'a Bytes>,
    defrag: impl FnOnce() -> &'a mut Defragmenter,
    stats: &mut CaptureStats,
) -> Packet<'a> {
    let mut decoded = if record.known_interface {
        decode_frame(record.link_type, frame)
    } else {
        Decoded { undecoded: Some(Undecoded::UnknownInterface), ..Decoded::default() }
    };
    // A fragment: the datagram it completes, if it does (rare, so out of line; the
    // common path builds the packet from `decoded` without moving it).
    let mut buffer = buffer;
    if let Some(fragment) = &decoded.fragment {
        let defrag = defrag();
        if let Some(info) = push_fragment(fragment, record.ts, defrag, stats) {
            let defrag: &'a Defragmenter = defrag;
            decoded = crate::decode::ip::decode_reassembled(info, defrag.completed());
            // The datagram lies in the defragmenter's buffer, which is not shared.
            buffer = None;
        }
    }
    let caplen = u32::try_from(frame.len()).unwrap_or(u32::MAX);
    stats.count(record.link_type, caplen, record.orig_len, &decoded);
    Packet {
        number,
        ts: record.ts,
        interface: record.interface,
        link_type: record.link_type,
        caplen,
        orig_len: record.orig_len,
        frame,
        ip: decoded.ip,
        transport: decoded.transport,
        payload: decoded.payload,
        uncaptured: decoded.uncaptured,
        truncated: decoded.truncated,
        buffer,
    }
}

/// Gives the defragmenter a fragment; the IP header of the datagram it completes.
#[cold]
#[inline(never)]
fn push_fragment(
    fragment: &Fragment<'_>,
    ts: Timestamp,
    defrag: &mut Defragmenter,
    stats: &mut CaptureStats,
) -> Option<IpInfo> {
    let outcome = defrag.push(fragment, ts);
    stats.fragments = *defrag.stats();
    match outcome {
        Outcome::Complete { protocol, ttl } => {
            Some(IpInfo { src: fragment.src, dst: fragment.dst, protocol, ttl, reassembled: true, fragment: false })
        }
        Outcome::Pending | Outcome::Dropped => None,
    }
}

enum Step {
    /// A packet record, and the bytes it spans.
    Packet(Record, usize),
    /// A block to skip, of this many bytes.
    Skip(usize),
    End,
}

fn io_error(name: &str, source: &ByteSource, error: io::Error) -> ReadError {
    ReadError::Io { name: name.to_owned(), offset: source.offset(), source: error }
}

fn u32_at(data: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let bytes: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian { u32::from_be_bytes(bytes) } else { u32::from_le_bytes(bytes) })
}

fn u16_at(data: &[u8], at: usize, big_endian: bool) -> Option<u16> {
    let bytes: [u8; 2] = data.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big_endian { u16::from_be_bytes(bytes) } else { u16::from_le_bytes(bytes) })
}

/// Reads the file header and tells the format by the magic number.
fn read_file_header(name: &str, source: &mut ByteSource) -> Result<Format, OpenError> {
    let unreadable = |source: io::Error| OpenError::Unreadable { name: name.to_owned(), source };
    source.fill(24).map_err(unreadable)?;
    let data = source.data();
    let Some(le) = u32_at(data, 0, false) else {
        let magic = if data.is_empty() { "nothing: the file is empty".to_owned() } else { describe_magic(data) };
        return Err(OpenError::NotACapture { name: name.to_owned(), magic });
    };
    let (big_endian, nanos, modified) = match le {
        magic::PCAP_USEC => (false, false, false),
        magic::PCAP_NSEC => (false, true, false),
        magic::PCAP_MODIFIED => (false, false, true),
        m if m == magic::PCAP_USEC.swap_bytes() => (true, false, false),
        m if m == magic::PCAP_NSEC.swap_bytes() => (true, true, false),
        m if m == magic::PCAP_MODIFIED.swap_bytes() => (true, false, true),
        magic::PCAPNG_SHB => {
            let big_endian = match u32_at(data, 8, false) {
                Some(magic::PCAPNG_BOM) => false,
                Some(bom) if bom == magic::PCAPNG_BOM.swap_bytes() => true,
                Some(_) => {
                    return Err(OpenError::BadHeader {
                        name: name.to_owned(),
                        what: "the pcapng section header has no valid byte-order magic".to_owned(),
                    })
                }
                None => return Err(OpenError::CutShort { name: name.to_owned(), offset: data.len() as u64 }),
            };
            // The section header block is read as a block like any other.
            return Ok(Format::PcapNg { big_endian, interfaces: Vec::new(), base: 0 });
        }
        _ => return Err(OpenError::NotACapture { name: name.to_owned(), magic: describe_magic(data) }),
    };
    if data.len() < 24 {
        return Err(OpenError::CutShort { name: name.to_owned(), offset: data.len() as u64 });
    }
    // The fields are read here rather than by pcap-parser's header parser, which knows
    // big-endian files only by the two standard magics, not the modified one.
    let (Some(major), Some(snaplen), Some(network)) =
        (u16_at(data, 4, big_endian), u32_at(data, 16, big_endian), u32_at(data, 20, big_endian))
    else {
        return Err(OpenError::CutShort { name: name.to_owned(), offset: data.len() as u64 });
    };
    if major != 2 {
        return Err(OpenError::BadHeader { name: name.to_owned(), what: format!("unknown pcap version {major}") });
    }
    source.consume(24);
    // The low 16 bits are the link type; the upper ones may describe an FCS.
    let link_type = LinkType(network & 0xffff);
    let limit = MAX_RECORD.max(snaplen.min(MAX_SNAPLEN));
    Ok(Format::Pcap(PcapFormat { big_endian, nanos, modified, link_type, limit }))
}

fn describe_magic(data: &[u8]) -> String {
    let head = data.get(..4).unwrap_or(data);
    let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
    let text: String = head.iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '.' }).collect();
    format!("{} \"{text}\"", hex.join(" "))
}

fn pcap_record(name: &str, source: &mut ByteSource, format: &PcapFormat) -> Result<Step, ReadError> {
    let cut_short = |source: &ByteSource| ReadError::CutShort { name: name.to_owned(), offset: source.offset() };
    match source.fill(format.header_len()).map_err(|e| io_error(name, source, e))? {
        Fill::Ready => {}
        Fill::End if source.available() == 0 || source.stopped() => return Ok(Step::End),
        Fill::End => return Err(cut_short(source)),
    }
    let Some(record) = format.record(name, source.offset(), source.data(), 0)? else {
        return Err(cut_short(source));
    };
    match source.fill(record.to).map_err(|e| io_error(name, source, e))? {
        Fill::Ready => {}
        Fill::End if source.stopped() => return Ok(Step::End),
        Fill::End => return Err(cut_short(source)),
    }
    Ok(Step::Packet(record, record.to))
}

/// What a classic pcap file's header says about its records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PcapFormat {
    pub(crate) big_endian: bool,
    pub(crate) nanos: bool,
    /// The modified format's 24-byte record headers.
    pub(crate) modified: bool,
    pub(crate) link_type: LinkType,
    /// The longest record accepted.
    pub(crate) limit: u32,
}

impl PcapFormat {
    /// Bytes of a record header.
    #[inline]
    pub(crate) fn header_len(&self) -> usize {
        if self.modified {
            24
        } else {
            16
        }
    }

    /// The record whose header starts at `data[at..]` (file offset `offset`, for an
    /// error): its frame at `from..to` of `data`, which need not hold the frame yet.
    /// `None` if `data` ends inside the header; an error if it claims more than `limit`.
    #[inline]
    pub(crate) fn record(&self, name: &str, offset: u64, data: &[u8], at: usize) -> Result<Option<Record>, ReadError> {
        let header = data.get(at..).and_then(|header| header.get(..self.header_len()));
        let words = header.and_then(|header| {
            Some([
                u32_at(header, 0, self.big_endian)?,
                u32_at(header, 4, self.big_endian)?,
                u32_at(header, 8, self.big_endian)?,
                u32_at(header, 12, self.big_endian)?,
            ])
        });
        let Some([secs, frac, caplen, orig_len]) = words else { return Ok(None) };
        if caplen > self.limit {
            return Err(ReadError::AbsurdLength {
                name: name.to_owned(),
                offset,
                len: u64::from(caplen),
                limit: u64::from(self.limit),
            });
        }
        let frac_nanos = if self.nanos { u64::from(frac) } else { u64::from(frac) * 1000 };
        let ts = Timestamp::from_nanos(
            u64::from(secs).saturating_mul(1_000_000_000).saturating_add(frac_nanos),
            if self.nanos { 9 } else { 6 },
        );
        let from = at + self.header_len();
        Ok(Some(Record {
            from,
            to: from + caplen as usize,
            orig_len,
            ts,
            interface: 0,
            link_type: self.link_type,
            known_interface: true,
        }))
    }
}

fn pcapng_block(
    name: &str,
    source: &mut ByteSource,
    big_endian: &mut bool,
    interfaces: &mut Vec<Interface>,
    base: &mut u32,
) -> Result<Step, ReadError> {
    let cut_short = |source: &ByteSource| ReadError::CutShort { name: name.to_owned(), offset: source.offset() };
    let damaged = |source: &ByteSource, what: &'static str| ReadError::Damaged {
        name: name.to_owned(),
        offset: source.offset(),
        what,
    };
    match source.fill(12).map_err(|e| io_error(name, source, e))? {
        Fill::Ready => {}
        Fill::End if source.available() == 0 || source.stopped() => return Ok(Step::End),
        Fill::End => return Err(cut_short(source)),
    }
    let data = source.data();
    let Some(kind) = u32_at(data, 0, false) else { return Err(cut_short(source)) };
    if kind == magic::PCAPNG_SHB {
        // A new section: its byte-order magic sets the byte order of everything in it.
        *big_endian = match u32_at(data, 8, false) {
            Some(magic::PCAPNG_BOM) => false,
            Some(bom) if bom == magic::PCAPNG_BOM.swap_bytes() => true,
            _ => return Err(damaged(source, "a section header has no valid byte-order magic")),
        };
    }
    let kind = if *big_endian { kind.swap_bytes() } else { kind };
    let Some(len) = u32_at(data, 4, *big_endian) else { return Err(cut_short(source)) };
    if len > MAX_BLOCK {
        return Err(ReadError::AbsurdLength {
            name: name.to_owned(),
            offset: source.offset(),
            len: u64::from(len),
            limit: u64::from(MAX_BLOCK),
        });
    }
    if len < 12 || len % 4 != 0 {
        return Err(damaged(source, "a block length is not a multiple of 4 of at least 12 bytes"));
    }
    let len = len as usize;
    match source.fill(len).map_err(|e| io_error(name, source, e))? {
        Fill::Ready => {}
        Fill::End if source.stopped() => return Ok(Step::End),
        Fill::End => return Err(cut_short(source)),
    }
    let data = source.data();
    let Some(block) = data.get(..len) else { return Err(cut_short(source)) };
    if u32_at(block, len - 4, *big_endian) != Some(len as u32) {
        return Err(damaged(source, "a block's trailing length differs from its leading length"));
    }
    let be = *big_endian;
    match kind {
        magic::PCAPNG_SHB => {
            *base = base.saturating_add(u32::try_from(interfaces.len()).unwrap_or(u32::MAX));
            interfaces.clear();
            Ok(Step::Skip(len))
        }
        block::IDB => {
            let parsed = if be {
                pcap_parser::pcapng::parse_interfacedescriptionblock_be(block)
            } else {
                pcap_parser::pcapng::parse_interfacedescriptionblock_le(block)
            };
            let Ok((_, idb)) = parsed else {
                return Err(damaged(source, "an interface description block is unreadable"));
            };
            // pcap-parser reads if_tsoffset as little-endian whatever the section's order.
            let tsoffset = if be { idb.if_tsoffset.swap_bytes() } else { idb.if_tsoffset };
            interfaces.push(Interface {
                link_type: LinkType(u32::from(idb.linktype.0 as u16)),
                snaplen: idb.snaplen,
                tsresol: idb.if_tsresol,
                tsoffset,
            });
            Ok(Step::Skip(len))
        }
        block::EPB | block::PB => {
            // EPB: interface (4), ts high, ts low, caplen, orig len; the obsolete PB has a
            // 2-byte interface and a 2-byte drop count instead of the 4-byte interface.
            let interface = if kind == block::EPB { u32_at(block, 8, be) } else { u16_at(block, 8, be).map(u32::from) };
            let (Some(interface), Some(high), Some(low), Some(caplen), Some(orig_len)) =
                (interface, u32_at(block, 12, be), u32_at(block, 16, be), u32_at(block, 20, be), u32_at(block, 24, be))
            else {
                return Err(damaged(source, "a packet block is shorter than its header"));
            };
            let to = 28usize.saturating_add(caplen as usize);
            if to > len - 4 {
                return Err(damaged(source, "a packet block's captured length exceeds the block"));
            }
            let description = interfaces.get(interface as usize).copied();
            let record = Record {
                from: 28,
                to,
                orig_len,
                ts: description.map_or(Timestamp::ZERO, |d| pcapng_time(high, low, &d)),
                interface: base.saturating_add(interface),
                link_type: description.map_or(LinkType(u32::MAX), |d| d.link_type),
                known_interface: description.is_some(),
            };
            Ok(Step::Packet(record, len))
        }
        block::SPB => {
            let Some(orig_len) = u32_at(block, 8, be) else {
                return Err(damaged(source, "a simple packet block is shorter than its header"));
            };
            let description = interfaces.first().copied();
            let snaplen = description.map_or(u32::MAX, |d| if d.snaplen == 0 { u32::MAX } else { d.snaplen });
            let caplen = (orig_len.min(snaplen) as usize).min(len.saturating_sub(16));
            let record = Record {
                from: 12,
                to: 12 + caplen,
                orig_len,
                // Simple packet blocks carry no time.
                ts: Timestamp::ZERO,
                interface: *base,
                link_type: description.map_or(LinkType(u32::MAX), |d| d.link_type),
                known_interface: description.is_some(),
            };
            Ok(Step::Packet(record, len))
        }
        _ => Ok(Step::Skip(len)),
    }
}

/// A pcapng timestamp in the interface's resolution (if_tsresol: a power of 10, or of 2
/// when the top bit is set) plus its if_tsoffset in seconds.
fn pcapng_time(high: u32, low: u32, interface: &Interface) -> Timestamp {
    let units = u128::from((u64::from(high) << 32) | u64::from(low));
    let exponent = u32::from(interface.tsresol & 0x7f);
    let (nanos, digits) = if interface.tsresol & 0x80 == 0 {
        let nanos = if exponent <= 9 {
            units.saturating_mul(10u128.pow(9 - exponent))
        } else {
            10u128.checked_pow(exponent - 9).map_or(0, |div| units / div)
        };
        (nanos, exponent.min(9))
    } else {
        let nanos = units.saturating_mul(1_000_000_000).checked_shr(exponent).unwrap_or(0);
        // Decimal digits needed for 2^-exponent: exponent * log10(2), rounded up.
        (nanos, ((exponent * 30_103).div_ceil(100_000)).min(9))
    };
    let offset = i128::from(interface.tsoffset).saturating_mul(1_000_000_000);
    let total = i128::try_from(nanos).unwrap_or(i128::MAX).saturating_add(offset).max(0);
    Timestamp::from_nanos(u64::try_from(total).unwrap_or(u64::MAX), digits as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netanalysis_test_support::{PcapNgWriter, Rng};

    use crate::ahead::{CHUNK, ROOM};
    use crate::chunks::Chunks;

    fn interface(tsresol: u8, tsoffset: i64) -> Interface {
        Interface { link_type: LinkType::ETHERNET, snaplen: 0, tsresol, tsoffset }
    }

    fn sample_frames() -> Vec<Vec<u8>> {
        let mut tcp = Vec::new();
        etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1000, 80, 5, 100)
            .write(&mut tcp, b"hello world")
            .unwrap();
        let mut frag = tcp.clone();
        frag[14 + 6] = 0x20;
        let mut v6 = Vec::new();
        etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv6([1; 16], [2; 16], 64)
            .udp(3544, 3544)
            .write(&mut v6, &[0x60, 0, 0, 0, 0, 0, 6, 64])
            .unwrap();
        vec![tcp, frag, v6]
    }

    fn pcap_bytes(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut file = magic::PCAP_USEC.to_le_bytes().to_vec();
        file.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0]);
        for frame in frames {
            file.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0]);
            file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            file.extend_from_slice(frame);
        }
        file
    }

    fn pcapng_bytes(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut file = PcapNgWriter::new(false);
        file.interface(LinkType::ETHERNET, Some(9));
        for frame in frames {
            // Interface 0, time 0, no options.
            let mut body = vec![0; 12];
            body.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            body.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            body.extend_from_slice(frame);
            file.block(block::EPB, &body);
        }
        file.into_bytes()
    }

    fn read_everything(bytes: Vec<u8>) -> usize {
        let Ok(mut reader) = CaptureReader::from_reader("fuzz", Box::new(io::Cursor::new(bytes))) else { return 0 };
        let mut n = 0;
        while let Ok(Some(packet)) = reader.next_packet() {
            assert!(packet.payload.len() <= 65_535);
            n += 1;
        }
        let mut summary = Summary::new();
        reader.report(&mut summary);
        let _ = reader.take_warnings();
        n
    }

    #[test]
    fn damaged_files_never_panic() {
        let frames = sample_frames();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for file in [pcap_bytes(&frames), pcapng_bytes(&frames)] {
            assert_eq!(read_everything(file.clone()), frames.len());
            for len in 0..file.len() {
                read_everything(file[..len].to_vec());
            }
            for _ in 0..1500 {
                let mut bent = file.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(bent.len() as u64) as usize;
                    bent[at] = rng.next() as u8;
                }
                read_everything(bent);
            }
        }
    }

    #[test]
    fn simple_packet_block_of_twelve_bytes_is_an_empty_packet() {
        let mut file = pcapng_bytes(&[]);
        file.extend_from_slice(&[3, 0, 0, 0, 12, 0, 0, 0, 12, 0, 0, 0]);
        let mut reader = CaptureReader::from_reader("spb", Box::new(io::Cursor::new(file))).unwrap();
        // The trailing length doubles as the original length: a packet with no bytes.
        let packet = reader.next_packet().unwrap().unwrap();
        assert!(packet.frame.is_empty());
    }

    #[test]
    fn big_endian_modified_pcap_is_read() {
        let frame = &sample_frames()[0];
        let mut file = magic::PCAP_MODIFIED.to_be_bytes().to_vec();
        file.extend_from_slice(&[0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 1]);
        file.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 7]);
        file.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        file.extend_from_slice(&(frame.len() as u32).to_be_bytes());
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(frame);
        let mut reader = CaptureReader::from_reader("be-modified", Box::new(io::Cursor::new(file))).unwrap();
        let packet = reader.next_packet().unwrap().unwrap();
        assert_eq!(packet.payload, b"hello world");
        assert_eq!(packet.ts.as_nanos(), 9_000_007_000);
        assert!(reader.next_packet().unwrap().is_none());
    }

    #[test]
    fn frames_stay_readable_in_shared_buffers_after_the_reader_moves_on() {
        let frames = sample_frames();
        let many: Vec<Vec<u8>> = (0..50_000).map(|i| frames[i % frames.len()].clone()).collect();
        for file in [pcap_bytes(&many), pcapng_bytes(&many)] {
            assert!(file.len() > 3 << 20, "the file spans several buffers");
            let mut reader = CaptureReader::from_reader("shared", Box::new(io::Cursor::new(file))).unwrap();
            let mut kept = Vec::new();
            while let Some((packet, at)) = reader.next_packet_shared().unwrap() {
                let at = at.expect("a file's frames lie in the reader's buffer");
                kept.push((at.buffer.clone(), at.start, packet.frame.to_vec()));
            }
            assert_eq!(kept.len(), many.len());
            let buffers = kept.windows(2).filter(|pair| !pair[0].0.same(&pair[1].0)).count() + 1;
            assert!(buffers > 3, "{buffers} buffers");
            for (index, (buffer, start, frame)) in kept.iter().enumerate() {
                assert_eq!(buffer.bytes().get(*start..start + frame.len()), Some(&frame[..]), "packet {index}");
                assert_eq!(frame, &many[index]);
            }
        }
    }

    #[test]
    fn packets_lend_the_buffer_they_lie_in_and_reassembled_datagrams_do_not() {
        let mut whole = Vec::new();
        etherparse::PacketBuilder::ethernet2([2; 6], [4; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1000, 80, 5, 100)
            .write(&mut whole, b"hello, fragmented world")
            .unwrap();
        // The TCP segment in two fragments: 24 bytes at offset 0, the rest at 24.
        let fragment = |units: u16, more: bool, part: &[u8]| {
            let mut frame = whole[..34].to_vec();
            frame[16..18].copy_from_slice(&(20 + part.len() as u16).to_be_bytes());
            frame[20..22].copy_from_slice(&(u16::from(more) << 13 | units).to_be_bytes());
            frame.extend_from_slice(part);
            frame
        };
        let frames = vec![whole.clone(), fragment(0, true, &whole[34..58]), fragment(3, false, &whole[58..])];
        for file in [pcap_bytes(&frames), pcapng_bytes(&frames)] {
            let mut reader = CaptureReader::from_reader("lend", Box::new(io::Cursor::new(file))).unwrap();
            let packet = reader.next_packet().unwrap().unwrap();
            let buffer = packet.buffer.expect("a file's packet lends its buffer");
            assert!(buffer.as_ptr_range().contains(&packet.frame.as_ptr()));
            let payload = packet.share(packet.payload).expect("the payload lies in the buffer");
            assert_eq!((&payload[..], payload.as_ptr()), (packet.payload, packet.payload.as_ptr()));
            assert_eq!(packet.share(b"elsewhere"), None);
            let first = reader.next_packet().unwrap().unwrap();
            assert!(first.ip.is_some_and(|ip| ip.fragment) && first.buffer.is_some());
            let datagram = reader.next_packet().unwrap().unwrap();
            assert!(datagram.ip.is_some_and(|ip| ip.reassembled));
            assert_eq!(datagram.payload, b"hello, fragmented world");
            assert!(datagram.buffer.is_none(), "the datagram lies in the defragmenter's buffer");
            assert_eq!(datagram.share(datagram.payload), None);
        }
    }

    /// Frames of many sizes, some longer than the room kept before a chunk read ahead,
    /// so that records straddle chunk boundaries every way.
    fn frames_of_many_sizes() -> Vec<Vec<u8>> {
        let samples = sample_frames();
        (0..4000)
            .map(|i| {
                let mut frame = samples[i % samples.len()].clone();
                let padding = (i * 7919) % 3000 + if i % 97 == 0 { 40_000 } else { 0 };
                frame.resize(frame.len() + padding, i as u8);
                frame
            })
            .collect()
    }

    #[test]
    fn reading_ahead_changes_no_packet() {
        let frames = frames_of_many_sizes();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ahead.pcap");
        std::fs::write(&path, pcap_bytes(&frames)).unwrap();
        // Chunks read ahead at chosen points (some dropped: read ahead of a reader that
        // has just read by itself), then on another thread as fast as it can.
        let mut reader = CaptureReader::open(&path).unwrap();
        let ahead = reader.read_ahead().expect("a regular file can be read ahead");
        let (mut index, mut in_chunks, mut read) = (0, 0, 0);
        while let Some((packet, at)) = reader.next_packet_shared().unwrap() {
            assert_eq!(packet.frame, &frames[index][..], "packet {index}");
            in_chunks += usize::from(at.is_some_and(|at| at.buffer.bytes().len() == ROOM + CHUNK));
            index += 1;
            for _ in 0..(index * 31) % 4 {
                read += usize::from(ahead.read_next());
            }
        }
        assert_eq!(index, frames.len());
        assert!(read > 4 && in_chunks > 100, "{read} chunks read ahead, {in_chunks} packets in them");
        let mut reader = CaptureReader::open(&path).unwrap();
        let ahead = reader.read_ahead().unwrap();
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    if !ahead.read_next() {
                        std::thread::yield_now();
                    }
                }
            });
            let mut index = 0;
            while let Some(packet) = reader.next_packet().unwrap() {
                assert_eq!(packet.frame, &frames[index][..], "packet {index}");
                index += 1;
            }
            done.store(true, Ordering::Relaxed);
            assert_eq!(index, frames.len());
        });
        let stats = reader.stats();
        assert_eq!(stats.capture_bytes, std::fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn only_a_regular_file_is_read_ahead() {
        let file = pcap_bytes(&sample_frames());
        let mut reader = CaptureReader::from_reader("stream", Box::new(io::Cursor::new(file.clone()))).unwrap();
        assert!(reader.read_ahead().is_none());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("followed.pcap");
        std::fs::write(&path, &file).unwrap();
        let mut reader = CaptureReader::open_following(&path, Some(Duration::from_millis(10))).unwrap();
        assert!(reader.read_ahead().is_none(), "a followed file grows: its end is not where reading ahead found it");
    }

    #[test]
    fn reader_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<CaptureReader>();
    }

    #[test]
    fn pcapng_time_follows_if_tsresol() {
        let micros = pcapng_time(0, 1_500_000, &interface(6, 0));
        assert_eq!((micros.as_nanos(), micros.digits()), (1_500_000_000, 6));
        let nanos = pcapng_time(0, 1_500_000_001, &interface(9, 0));
        assert_eq!((nanos.as_nanos(), nanos.digits()), (1_500_000_001, 9));
        let binary = pcapng_time(0, 3 << 19, &interface(0x80 | 20, 0));
        assert_eq!(binary.as_nanos(), 1_500_000_000);
        let offset = pcapng_time(0, 0, &interface(6, 100));
        assert_eq!(offset.as_nanos(), 100_000_000_000);
        let pico = pcapng_time(0, 1_000_000_000, &interface(12, 0));
        assert_eq!((pico.as_nanos(), pico.digits()), (1_000_000, 9));
        // Absurd resolutions saturate instead of panicking.
        let _ = pcapng_time(u32::MAX, u32::MAX, &interface(0x7f, 0));
        let _ = pcapng_time(u32::MAX, u32::MAX, &interface(0xff, i64::MIN));
    }

    /// A classic pcap file of `frames` in each byte order and format, timestamps in
    /// steps of 0.3 s (so packets carry several seconds).
    fn pcap_file(frames: &[Vec<u8>], big_endian: bool, modified: bool) -> Vec<u8> {
        let word = |n: u32| if big_endian { n.to_be_bytes() } else { n.to_le_bytes() };
        let half = |n: u16| if big_endian { n.to_be_bytes() } else { n.to_le_bytes() };
        let mut file = word(if modified { magic::PCAP_MODIFIED } else { magic::PCAP_USEC }).to_vec();
        file.extend_from_slice(&half(2));
        file.extend_from_slice(&half(4));
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&word(0xffff));
        file.extend_from_slice(&word(1));
        for (i, frame) in frames.iter().enumerate() {
            let micros = i as u64 * 300_000;
            file.extend_from_slice(&word(1_700_000_000 + (micros / 1_000_000) as u32));
            file.extend_from_slice(&word((micros % 1_000_000) as u32));
            file.extend_from_slice(&word(frame.len() as u32));
            file.extend_from_slice(&word(frame.len() as u32 + (i % 3) as u32));
            if modified {
                file.extend_from_slice(&[0; 8]);
            }
            file.extend_from_slice(frame);
        }
        file
    }

    /// What a packet says, its shared buffer aside.
    fn view(packet: &Packet<'_>) -> String {
        format!(
            "{} {:?} {} {} {} {} {:?} {:?} {:?} {:?} {} {}",
            packet.number,
            packet.ts,
            packet.interface,
            packet.link_type.0,
            packet.caplen,
            packet.orig_len,
            packet.frame,
            packet.ip,
            packet.transport,
            packet.payload,
            packet.uncaptured,
            packet.truncated
        )
    }

    /// Every packet of the file and the error that ended it, read by the reader.
    fn read_whole(path: &Path) -> (Vec<String>, Option<String>, CaptureStats) {
        let mut reader = CaptureReader::open(path).unwrap();
        let mut packets = Vec::new();
        let error = loop {
            match reader.next_packet() {
                Ok(Some(packet)) => packets.push(view(&packet)),
                Ok(None) => break None,
                Err(err) => break Some(err.to_string()),
            }
        };
        (packets, error, reader.stats().clone())
    }

    /// The same, read in chunks: every chunk's bytes first, in an order of their own,
    /// then framed and decoded in file order.
    fn read_in_chunks(path: &Path) -> (Vec<String>, Option<String>, CaptureStats) {
        let mut reader = CaptureReader::open(path).unwrap();
        let chunks = reader.chunks().expect("a classic pcap file is read in chunks");
        let count = std::fs::metadata(path).unwrap().len() / Chunks::SIZE as u64 + 2;
        let mut chunk_reader = chunks.reader();
        let mut read: Vec<_> = (0..count).rev().map(|k| chunk_reader.read(k)).collect();
        read.reverse();
        let (mut packets, mut error, mut stats) = (Vec::new(), None, CaptureStats::default());
        let mut at = chunks.start();
        for mut chunk in read {
            let (framing, failed) = chunk_reader.frame(&mut chunk, at);
            let mut turn = chunks.turn(chunk.index());
            for i in 0..chunk.len() {
                let (packet, frame_at) = chunk_reader.packet(&chunk, i, &mut stats, &mut turn).unwrap();
                assert_eq!(
                    frame_at.buffer.bytes().get(frame_at.start..frame_at.start + packet.frame.len()),
                    Some(packet.frame)
                );
                packets.push(view(&packet));
            }
            turn.end();
            at = framing.next;
            error = failed.map(|err| err.to_string());
            if !framing.more {
                break;
            }
        }
        reader.chunks_read(&chunks, &stats, at.offset, true);
        assert!(reader.next_packet().unwrap().is_none(), "the reader reads nothing more itself");
        (packets, error, reader.stats().clone())
    }

    #[test]
    fn reading_in_chunks_gives_the_packets_the_reader_gives() {
        let mut frames = frames_of_many_sizes();
        // A record longer than a chunk: the chunk it covers has no record of its own.
        frames.insert(1500, vec![0x5a; MAX_RECORD as usize]);
        let dir = tempfile::tempdir().unwrap();
        for (big_endian, modified) in [(false, false), (true, false), (false, true), (true, true)] {
            let file = pcap_file(&frames, big_endian, modified);
            assert!(file.len() > 20 * Chunks::SIZE);
            let path = dir.path().join("chunks.pcap");
            std::fs::write(&path, &file).unwrap();
            let whole = read_whole(&path);
            assert_eq!(whole.0.len(), frames.len());
            assert!(whole.2.fragments.fragments > 0 && whole.2.packets_snaplen_cut > 0);
            assert!(read_in_chunks(&path) == whole, "big endian {big_endian}, modified {modified}");

            // Cut inside a record well into the file, then at a record's end; and an
            // impossible length in a record's header.
            let header_len = if modified { 24 } else { 16 };
            let last = file.len() - frames.last().unwrap().len() - header_len;
            for (cut, damaged) in [(file.len() * 2 / 3 + 5, true), (last, false), (last + 3, true)] {
                std::fs::write(&path, &file[..cut]).unwrap();
                let whole = read_whole(&path);
                assert_eq!(whole.1.as_deref().is_some_and(|e| e.contains("cut short")), damaged, "cut at {cut}");
                assert!(whole.0.len() < frames.len());
                assert!(read_in_chunks(&path) == whole, "cut at {cut}");
            }
            let mut damaged = file.clone();
            let mut offset = 24;
            for frame in &frames[..2500] {
                offset += header_len + frame.len();
            }
            let huge = if big_endian { 0x7fff_ffffu32.to_be_bytes() } else { 0x7fff_ffffu32.to_le_bytes() };
            damaged[offset + 8..offset + 12].copy_from_slice(&huge);
            std::fs::write(&path, &damaged).unwrap();
            let whole = read_whole(&path);
            assert!(whole.1.as_deref().is_some_and(|e| e.contains("claims")), "{:?}", whole.1);
            assert_eq!(whole.0.len(), 2500);
            assert!(read_in_chunks(&path) == whole, "absurd length");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 32, ..Default::default() })]

        /// Reading in chunks gives the reader's packets, counts and error whatever the file
        /// holds: records of any length (some as long as a chunk), either byte order, bytes
        /// overwritten anywhere after the file header and in record headers (so that
        /// framing drifts into garbage or meets impossible lengths), and the file cut
        /// anywhere, which lands on chunk boundaries and records straddling them alike.
        #[test]
        fn reading_in_chunks_matches_the_reader_on_any_damage(
            sizes in proptest::collection::vec(0usize..3000, 200..900),
            big in proptest::collection::vec((0usize..900, 3000usize..=MAX_RECORD as usize), 0..3),
            big_endian in proptest::bool::ANY,
            modified in proptest::bool::ANY,
            damage in proptest::collection::vec((proptest::bool::ANY, 0.0f64..1.0, 0usize..24, proptest::num::u8::ANY), 0..5),
            cut in proptest::option::of(0.0f64..1.0),
        ) {
            let samples = sample_frames();
            let mut frames: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(i, &padding)| {
                    let mut frame = samples[i % samples.len()].clone();
                    frame.resize(frame.len() + padding, i as u8);
                    frame
                })
                .collect();
            for &(at, len) in &big {
                let at = at.min(frames.len() - 1);
                frames[at].resize(len, 0xa5);
            }
            let mut file = pcap_file(&frames, big_endian, modified);
            let header_len = if modified { 24 } else { 16 };
            let starts: Vec<usize> = frames
                .iter()
                .scan(24, |at, frame| {
                    let start = *at;
                    *at += header_len + frame.len();
                    Some(start)
                })
                .collect();
            // The file header stays whole: it decides whether the file is read in chunks.
            // Half the damage falls on record headers, which are a small part of the file.
            let body = file.len() - 24;
            for &(on_header, at, within, byte) in &damage {
                let offset = if on_header {
                    starts[((at * starts.len() as f64) as usize).min(starts.len() - 1)] + within % header_len
                } else {
                    24 + ((at * body as f64) as usize).min(body - 1)
                };
                file[offset] = byte;
            }
            if let Some(cut) = cut {
                file.truncate(24 + (cut * body as f64) as usize);
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("damaged.pcap");
            std::fs::write(&path, &file).unwrap();
            let whole = read_whole(&path);
            let chunked = read_in_chunks(&path);
            proptest::prop_assert_eq!(&chunked.1, &whole.1);
            proptest::prop_assert_eq!(chunked.0.len(), whole.0.len());
            proptest::prop_assert!(chunked.0 == whole.0, "the same packets");
            proptest::prop_assert!(chunked.2 == whole.2, "the same counts");
        }
    }

    #[test]
    fn a_stop_ends_reading_in_chunks_where_framing_stands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stop.pcap");
        std::fs::write(&path, pcap_file(&frames_of_many_sizes(), false, false)).unwrap();
        let mut reader = CaptureReader::open(&path).unwrap();
        let chunks = reader.chunks().unwrap();
        let mut chunk_reader = chunks.reader();
        let mut first = chunk_reader.read(0);
        let (framing, error) = chunk_reader.frame(&mut first, chunks.start());
        assert!(framing.more && error.is_none() && !first.is_empty());
        assert_eq!(framing.next.packets, first.len() as u64);
        reader.stop_handle().store(true, Ordering::Relaxed);
        let mut second = chunk_reader.read(1);
        let (stopped, error) = chunk_reader.frame(&mut second, framing.next);
        assert!(!stopped.more && error.is_none() && second.is_empty());
        assert_eq!(stopped.next, framing.next, "the capture ends after the packets framed before the stop");
    }

    #[test]
    fn only_a_classic_pcap_file_is_read_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let pcap = dir.path().join("a.pcap");
        std::fs::write(&pcap, pcap_bytes(&sample_frames())).unwrap();
        let pcapng = dir.path().join("a.pcapng");
        std::fs::write(&pcapng, pcapng_bytes(&sample_frames())).unwrap();
        assert!(CaptureReader::open(&pcap).unwrap().chunks().is_some());
        assert!(CaptureReader::open(&pcapng).unwrap().chunks().is_none());
        let stream = CaptureReader::from_reader("stream", Box::new(io::Cursor::new(pcap_bytes(&sample_frames()))));
        assert!(stream.unwrap().chunks().is_none());
        assert!(CaptureReader::open_following(&pcap, None).unwrap().chunks().is_none(), "a growing file");
        let mut started = CaptureReader::open(&pcap).unwrap();
        started.next_packet().unwrap();
        assert!(started.chunks().is_none(), "a reader that has read packets");
        let mut ahead = CaptureReader::open(&pcap).unwrap();
        let _ahead = ahead.read_ahead();
        assert!(ahead.chunks().is_none(), "a reader read ahead");
    }
}
