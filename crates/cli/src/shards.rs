//! `--threads N`: sessions sharded by socket pair across worker threads.
//!
//! The reading thread decodes each packet and copies it into a batch for the shard its
//! socket pair hashes to (`SocketPair::stable_hash`, so a session's packets always reach
//! the same shard, in capture order); batches come from a pool and go back to it, so
//! steady-state reading allocates nothing. Each worker runs a whole pipeline of its own
//! (every plugin freshly built), advances its clock to the reader's (capture time is
//! global: the highest timestamp the reader has seen, carried with every packet), and
//! tears down when the capture ends. The first shard then folds the others' listeners
//! into its own (`Listener::merge`) and finishes.
//!
//! Packets without a socket pair (not TCP or UDP) go to the first shard.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;

use anyhow::Context as _;
use netanalysis_capture::{CaptureReader, ReadError};
use netanalysis_core::{Dispatcher, IpInfo, LinkType, Packet, SocketPair, Timestamp, Transport};

use crate::report::Progress;
use crate::{Args, FaultPrinter, Pipeline};

/// Packets per batch, and bytes per batch, before it is handed to its shard.
const BATCH_PACKETS: usize = 256;
const BATCH_BYTES: usize = 1 << 19;
/// Batches in flight per shard (back-pressure on the reader).
const QUEUE_DEPTH: usize = 8;

/// A packet's decoded fields, with its bytes as ranges of the batch's buffer; or a tick
/// of the capture clock.
#[derive(Clone, Copy)]
struct Record {
    tick: bool,
    number: u64,
    ts: Timestamp,
    now: Timestamp,
    interface: u32,
    link_type: LinkType,
    caplen: u32,
    orig_len: u32,
    frame: (usize, usize),
    ip: Option<IpInfo>,
    transport: Transport,
    payload: (usize, usize),
    uncaptured: u32,
    truncated: bool,
}

#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    records: Vec<Record>,
    /// The reader's clock when the capture ended: set on each shard's last batch, so
    /// teardown sees the same capture time in every shard as in a one-thread run.
    final_clock: Option<Timestamp>,
}

impl Batch {
    fn push(&mut self, packet: &Packet<'_>, now: Timestamp) {
        let frame_start = self.bytes.len();
        self.bytes.extend_from_slice(packet.frame);
        let frame = (frame_start, self.bytes.len());
        // The payload usually lies inside the frame; a reassembled datagram's does not.
        let frame_addr = packet.frame.as_ptr() as usize;
        let payload_addr = packet.payload.as_ptr() as usize;
        let inside = payload_addr >= frame_addr
            && payload_addr.saturating_add(packet.payload.len()) <= frame_addr.saturating_add(packet.frame.len());
        let payload = if inside {
            let offset = frame_start + (payload_addr - frame_addr);
            (offset, offset + packet.payload.len())
        } else {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(packet.payload);
            (start, self.bytes.len())
        };
        self.records.push(Record {
            tick: false,
            number: packet.number,
            ts: packet.ts,
            now,
            interface: packet.interface,
            link_type: packet.link_type,
            caplen: packet.caplen,
            orig_len: packet.orig_len,
            frame,
            ip: packet.ip,
            transport: packet.transport,
            payload,
            uncaptured: packet.uncaptured,
            truncated: packet.truncated,
        });
    }

    fn push_tick(&mut self, now: Timestamp) {
        self.records.push(Record {
            tick: true,
            number: 0,
            ts: now,
            now,
            interface: 0,
            link_type: LinkType::ETHERNET,
            caplen: 0,
            orig_len: 0,
            frame: (0, 0),
            ip: None,
            transport: Transport::None,
            payload: (0, 0),
            uncaptured: 0,
            truncated: false,
        });
    }

    fn is_full(&self) -> bool {
        self.records.len() >= BATCH_PACKETS || self.bytes.len() >= BATCH_BYTES
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
        self.final_clock = None;
    }

    fn packet(&self, record: &Record) -> Packet<'_> {
        Packet {
            number: record.number,
            ts: record.ts,
            interface: record.interface,
            link_type: record.link_type,
            caplen: record.caplen,
            orig_len: record.orig_len,
            frame: self.bytes.get(record.frame.0..record.frame.1).unwrap_or(&[]),
            ip: record.ip,
            transport: record.transport,
            payload: self.bytes.get(record.payload.0..record.payload.1).unwrap_or(&[]),
            uncaptured: record.uncaptured,
            truncated: record.truncated,
        }
    }
}

/// What the sharded run leaves for the end of the run.
pub(crate) struct Outcome {
    pub dispatchers: Vec<Dispatcher>,
    pub read_error: Option<ReadError>,
    pub faults: FaultPrinter,
}

fn shard_of(packet: &Packet<'_>, shards: usize) -> usize {
    match (packet.src(), packet.dst()) {
        (Some(src), Some(dst)) => (SocketPair::new(src, dst).stable_hash() % shards as u64) as usize,
        _ => 0,
    }
}

fn worker(
    mut dispatcher: Dispatcher,
    batches: Receiver<Batch>,
    pool: SyncSender<Batch>,
    strict: bool,
    halt: Arc<AtomicBool>,
) -> (Dispatcher, FaultPrinter) {
    let mut faults = FaultPrinter::default();
    dispatcher.set_auto_tick(false);
    dispatcher.setup();
    faults.handle(&mut dispatcher, strict);
    for mut batch in batches {
        if !halt.load(Ordering::Relaxed) {
            for record in &batch.records {
                if record.tick {
                    dispatcher.tick(record.now);
                    continue;
                }
                dispatcher.advance_clock(record.now);
                dispatcher.dispatch_packet(&batch.packet(record));
                if dispatcher.fault_count() > faults.seen {
                    faults.handle(&mut dispatcher, strict);
                    if faults.broken_pipe || faults.strict_stop {
                        halt.store(true, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
        if let Some(clock) = batch.final_clock {
            dispatcher.advance_clock(clock);
        }
        batch.clear();
        // The pool may be full or gone: then the batch is simply freed.
        let _ = pool.try_send(batch);
    }
    if !faults.broken_pipe {
        dispatcher.teardown();
        faults.handle(&mut dispatcher, strict);
    }
    (dispatcher, faults)
}

/// Reads the whole capture, sharding packets across `args.threads` pipelines.
pub(crate) fn run(
    pipeline: &Pipeline,
    args: &Args,
    reader: &mut CaptureReader,
    progress: &mut Progress,
    warn: &mut dyn FnMut(&mut CaptureReader, &Progress),
) -> anyhow::Result<Outcome> {
    let shards = args.threads;
    let halt = Arc::new(AtomicBool::new(false));
    let (pool_tx, pool_rx) = mpsc::sync_channel::<Batch>(shards * (QUEUE_DEPTH + 2));
    let mut senders = Vec::with_capacity(shards);
    let mut handles = Vec::with_capacity(shards);
    for index in 0..shards {
        let dispatcher = pipeline.build()?;
        let (tx, rx) = mpsc::sync_channel::<Batch>(QUEUE_DEPTH);
        let pool = pool_tx.clone();
        let halt = Arc::clone(&halt);
        let strict = args.strict;
        let handle = thread::Builder::new()
            .name(format!("shard-{index}"))
            .spawn(move || worker(dispatcher, rx, pool, strict, halt))
            .context("cannot start a worker thread")?;
        senders.push(tx);
        handles.push(handle);
    }
    drop(pool_tx);

    let mut filling: Vec<Batch> = (0..shards).map(|_| Batch::default()).collect();
    let mut now = Timestamp::ZERO;
    // Ticks are the reader's: every shard gets them at the same point of the capture,
    // where a one-thread run's dispatcher would tick by itself.
    let mut ticked_second: Option<u64> = None;
    let mut read_error = None;
    let mut n: u64 = 0;
    'read: loop {
        if halt.load(Ordering::Relaxed) {
            break;
        }
        match reader.next_packet() {
            Ok(Some(packet)) => {
                now = now.max(packet.ts);
                if ticked_second.is_none_or(|second| packet.ts.secs() > second) {
                    ticked_second = Some(packet.ts.secs());
                    // Every shard sees the tick at the same point of the capture.
                    for batch in &mut filling {
                        batch.push_tick(now);
                    }
                }
                let shard = shard_of(&packet, shards);
                let Some(batch) = filling.get_mut(shard) else { continue };
                batch.push(&packet, now);
                if batch.is_full() {
                    let fresh = pool_rx.try_recv().unwrap_or_default();
                    let full = std::mem::replace(batch, fresh);
                    if senders[shard].send(full).is_err() {
                        break 'read; // the worker is gone (it panicked outside a listener)
                    }
                }
            }
            Ok(None) => break,
            Err(err) => {
                read_error = Some(err);
                break;
            }
        }
        n += 1;
        if n % 4096 == 0 {
            warn(reader, progress);
            progress.update(reader.stats().capture_bytes, reader.stats().packets_read);
        }
    }
    for (shard, mut batch) in filling.into_iter().enumerate() {
        batch.final_clock = Some(now);
        let _ = senders[shard].send(batch);
    }
    drop(senders);

    let mut dispatchers = Vec::with_capacity(shards);
    let mut faults = FaultPrinter::default();
    for handle in handles {
        let (dispatcher, shard_faults) =
            handle.join().map_err(|_| anyhow::anyhow!("a worker thread panicked outside any plugin"))?;
        dispatchers.push(dispatcher);
        faults.absorb(shard_faults);
    }
    Ok(Outcome { dispatchers, read_error, faults })
}

/// One shard of a run over a regular file: reads and decodes the whole file itself and
/// dispatches only its own packets (and every tick), so nothing is copied between threads.
#[allow(clippy::too_many_arguments)]
fn file_shard(
    index: usize,
    shards: usize,
    mut dispatcher: Dispatcher,
    reader: &mut CaptureReader,
    strict: bool,
    halt: &AtomicBool,
    position: Option<&[std::sync::atomic::AtomicU64; 2]>,
) -> (Dispatcher, FaultPrinter, Option<ReadError>) {
    let mut faults = FaultPrinter::default();
    dispatcher.set_auto_tick(false);
    dispatcher.setup();
    faults.handle(&mut dispatcher, strict);
    let mut now = Timestamp::ZERO;
    let mut ticked_second: Option<u64> = None;
    let mut read_error = None;
    let mut n: u64 = 0;
    loop {
        if halt.load(Ordering::Relaxed) {
            break;
        }
        match reader.next_packet() {
            Ok(Some(packet)) => {
                now = now.max(packet.ts);
                // Every shard sees every packet, so every shard ticks at the same points.
                if ticked_second.is_none_or(|second| packet.ts.secs() > second) {
                    ticked_second = Some(packet.ts.secs());
                    dispatcher.tick(now);
                }
                if shard_of(&packet, shards) == index {
                    dispatcher.advance_clock(now);
                    dispatcher.dispatch_packet(&packet);
                    if dispatcher.fault_count() > faults.seen {
                        faults.handle(&mut dispatcher, strict);
                        if faults.broken_pipe || faults.strict_stop {
                            halt.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            }
            Ok(None) => break,
            Err(err) => {
                read_error = Some(err);
                break;
            }
        }
        n += 1;
        if n % 4096 == 0 {
            if let Some([bytes, packets]) = position {
                bytes.store(reader.stats().capture_bytes, Ordering::Relaxed);
                packets.store(reader.stats().packets_read, Ordering::Relaxed);
            }
        }
    }
    dispatcher.advance_clock(now);
    if !faults.broken_pipe {
        dispatcher.teardown();
        faults.handle(&mut dispatcher, strict);
    }
    (dispatcher, faults, read_error)
}

/// Reads a regular file with one reader per shard (see [`file_shard`]); the first
/// shard's reader is `reader`, whose counts and warnings stand for the run's.
pub(crate) fn run_file(
    pipeline: &Pipeline,
    args: &Args,
    path: &std::path::Path,
    reader: &mut CaptureReader,
    progress: &mut Progress,
) -> anyhow::Result<Outcome> {
    let shards = args.threads;
    let halt = AtomicBool::new(false);
    // Bytes and packets the first shard has read, for the progress bar.
    let position = [std::sync::atomic::AtomicU64::new(0), std::sync::atomic::AtomicU64::new(0)];
    let mut others = Vec::with_capacity(shards.saturating_sub(1));
    for _ in 1..shards {
        let mut other = CaptureReader::open(path)?;
        if let Some(filter) = &args.filter {
            other.set_filter(filter)?;
        }
        others.push(other);
    }
    let mut dispatchers = Vec::with_capacity(shards);
    for _ in 0..shards {
        dispatchers.push(pipeline.build()?);
    }
    let strict = args.strict;
    let results = thread::scope(|scope| {
        let mut handles = Vec::with_capacity(shards);
        let mut dispatchers = dispatchers.into_iter();
        let first = dispatchers.next();
        let (halt, position) = (&halt, &position);
        if let Some(dispatcher) = first {
            handles.push(scope.spawn(move || file_shard(0, shards, dispatcher, reader, strict, halt, Some(position))));
        }
        for ((index, dispatcher), other) in (1..).zip(dispatchers).zip(others.iter_mut()) {
            handles.push(scope.spawn(move || file_shard(index, shards, dispatcher, other, strict, halt, None)));
        }
        while handles.iter().any(|h| !h.is_finished()) {
            progress.update(position[0].load(Ordering::Relaxed), position[1].load(Ordering::Relaxed));
            thread::sleep(std::time::Duration::from_millis(50));
        }
        handles.into_iter().map(|h| h.join()).collect::<Vec<_>>()
    });
    let mut outcome =
        Outcome { dispatchers: Vec::with_capacity(shards), read_error: None, faults: FaultPrinter::default() };
    for (index, result) in results.into_iter().enumerate() {
        let (dispatcher, faults, read_error) =
            result.map_err(|_| anyhow::anyhow!("a worker thread panicked outside any plugin"))?;
        outcome.dispatchers.push(dispatcher);
        outcome.faults.absorb(faults);
        if index == 0 {
            outcome.read_error = read_error;
        }
    }
    Ok(outcome)
}
