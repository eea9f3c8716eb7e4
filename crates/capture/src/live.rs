//! Live capture and BPF filters through libpcap (the `pcap` feature).
//!
//! A live frame lives in libpcap's ring buffer only until the next read, so it is copied
//! once into a reused buffer the returned packet can borrow. Live traffic is bounded by
//! the interface, so this copy is not on the file-reading hot path. The handle does not
//! block: when nothing waits the reader sleeps a few milliseconds and looks at the stop
//! flag and the idle interval again.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netanalysis_core::{LinkType, Timestamp};

use crate::error::{OpenError, ReadError};

/// How long libpcap may hold packets back to deliver them in batches.
const READ_TIMEOUT_MS: i32 = 100;
/// How long to sleep when no packet is waiting, before looking again (and at the stop
/// flag). The handle is non-blocking: on Linux, libpcap's blocking read waits through its
/// own timeout until a packet comes, so a quiet interface would never let the reader see
/// the stop flag (Ctrl-C) or report idleness.
const QUIET_SLEEP: Duration = Duration::from_millis(5);
const SNAPLEN: i32 = 262_144;

pub(crate) struct LiveSource {
    iface: String,
    capture: pcap::Capture<pcap::Active>,
    link_type: LinkType,
    frame: Vec<u8>,
    /// When the last frame came (or idleness was last reported).
    active: Instant,
}

/// What a live read gives.
pub(crate) enum LiveStep {
    Frame {
        ts: Timestamp,
        caplen: usize,
        orig_len: u32,
    },
    /// No frame for the idle interval; the wall-clock time.
    Idle(Timestamp),
    End,
}

impl fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveSource").field("iface", &self.iface).field("link_type", &self.link_type).finish()
    }
}

impl LiveSource {
    pub(crate) fn open(iface: &str, filter: Option<&str>) -> Result<LiveSource, OpenError> {
        let live_error = |e: pcap::Error| OpenError::Live { iface: iface.to_owned(), message: e.to_string() };
        let mut capture = pcap::Capture::from_device(iface)
            .map_err(live_error)?
            .promisc(false)
            .snaplen(SNAPLEN)
            .timeout(READ_TIMEOUT_MS)
            .immediate_mode(true)
            .precision(pcap::Precision::Nano)
            .open()
            .map_err(live_error)?
            .setnonblock()
            .map_err(live_error)?;
        if let Some(expr) = filter {
            capture
                .filter(expr, true)
                .map_err(|e| OpenError::Filter { expr: expr.to_owned(), message: e.to_string() })?;
        }
        let link_type = LinkType(u32::try_from(capture.get_datalink().0).unwrap_or(u32::MAX));
        Ok(LiveSource {
            iface: iface.to_owned(),
            capture,
            link_type,
            frame: Vec::with_capacity(SNAPLEN as usize),
            active: Instant::now(),
        })
    }

    pub(crate) fn link_type(&self) -> LinkType {
        self.link_type
    }

    /// The frame the last `next_record` read.
    pub(crate) fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// Waits for the next frame: its time, captured length and length on the wire; or,
    /// with an `idle` interval, reports when none came for that long (at most once per
    /// interval), with the wall-clock time.
    pub(crate) fn next_record(&mut self, stop: &AtomicBool, idle: Option<Duration>) -> Result<LiveStep, ReadError> {
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(LiveStep::End);
            }
            match self.capture.next_packet() {
                Ok(packet) => {
                    self.frame.clear();
                    self.frame.extend_from_slice(packet.data);
                    // With nanosecond precision, libpcap puts nanoseconds in tv_usec.
                    let secs = u64::try_from(packet.header.ts.tv_sec).unwrap_or(0);
                    let nanos = u64::try_from(packet.header.ts.tv_usec).unwrap_or(0);
                    let ts = Timestamp::from_nanos(secs.saturating_mul(1_000_000_000).saturating_add(nanos), 9);
                    self.active = Instant::now();
                    return Ok(LiveStep::Frame { ts, caplen: self.frame.len(), orig_len: packet.header.len });
                }
                // Nothing waiting (the handle does not block).
                Err(pcap::Error::TimeoutExpired) => {
                    if idle.is_some_and(|every| self.active.elapsed() >= every) {
                        self.active = Instant::now();
                        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                        let nanos = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
                        return Ok(LiveStep::Idle(Timestamp::from_nanos(nanos, 9)));
                    }
                    std::thread::sleep(QUIET_SLEEP);
                }
                Err(pcap::Error::NoMorePackets) => return Ok(LiveStep::End),
                Err(e) => return Err(ReadError::Live { iface: self.iface.clone(), message: e.to_string() }),
            }
        }
    }
}

/// A BPF filter applied to file packets, compiled by libpcap once per link type met.
pub(crate) struct Filter {
    expr: String,
    programs: Vec<(LinkType, Option<pcap::BpfProgram>)>,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter").field("expr", &self.expr).finish()
    }
}

impl Filter {
    pub(crate) fn new(expr: &str) -> Filter {
        Filter { expr: expr.to_owned(), programs: Vec::new() }
    }

    fn compile(expr: &str, link_type: LinkType) -> Result<pcap::BpfProgram, OpenError> {
        let error = |e: pcap::Error| OpenError::Filter { expr: expr.to_owned(), message: e.to_string() };
        let linktype = pcap::Linktype(i32::try_from(link_type.0).unwrap_or(i32::MAX));
        let dead = pcap::Capture::dead(linktype).map_err(error)?;
        dead.compile(expr, true).map_err(error)
    }

    /// Compiles for `link_type` now, to report a bad expression before reading.
    pub(crate) fn check(&mut self, link_type: LinkType) -> Result<(), OpenError> {
        let program = Filter::compile(&self.expr, link_type)?;
        self.programs.push((link_type, Some(program)));
        Ok(())
    }

    /// Whether the frame passes. A link type libpcap cannot compile the filter for lets
    /// nothing through.
    pub(crate) fn matches(&mut self, link_type: LinkType, frame: &[u8], _orig_len: u32) -> bool {
        let index = match self.programs.iter().position(|(lt, _)| *lt == link_type) {
            Some(index) => index,
            None => {
                self.programs.push((link_type, Filter::compile(&self.expr, link_type).ok()));
                self.programs.len() - 1
            }
        };
        match self.programs.get(index) {
            Some((_, Some(program))) => program.filter(frame),
            _ => false,
        }
    }
}
