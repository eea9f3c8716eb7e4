//! `--threads N`: sessions sharded by socket pair across worker threads.
//!
//! A classic pcap file is read in chunks by every shard at once (`chunked.rs`); what
//! follows is how everything else is read: pcapng files, standard input, a followed file,
//! a live capture, a capture filter.
//!
//! The capture is read once, in turns: a shard whose inbox is empty, when no other shard
//! is reading, reads the next few hundred packets (one turn) and hands each shard its
//! share. So no thread does nothing but read, and the reading goes to whichever shard has
//! time for it: on two cores, two shards keep both busy, and each dispatches the packets
//! it read itself while they are still in its cache. The reading side (the reader and the
//! batches being filled) is taken by a compare-and-swap on a flag, once per turn, never
//! per packet; a shard that finds it taken waits on its inbox, and is woken when the side
//! comes free.
//!
//! A shard that finds the reading side taken reads the capture file ahead of the reader
//! before it waits ([`ReadAhead`]): the copy out of the page cache, a large part of
//! reading, moves to the shard that has time for it.
//!
//! The reader decodes each packet; its frame stays in the reader's buffer, which is
//! shared, not copied: a shard's batch keeps a clone of each buffer its frames lie in (a
//! reference count) and a record per packet, the decoded fields with the places of the
//! frame and payload in those buffers. Only bytes that lie elsewhere are copied into the
//! batch: a datagram reassembled from IP fragments, and frames of a live capture (they
//! lie in libpcap's buffer). The reader reuses a buffer once every clone of it is
//! dropped, and batches come back to a pool, so steady-state reading allocates nothing.
//!
//! A packet goes to the shard its socket pair hashes to (`SocketPair::unordered_hash`, so a
//! session's packets always reach the same shard, in capture order); packets without a
//! socket pair (not TCP or UDP, fragments still waiting for the rest of their datagram,
//! undecodable frames) go to the first shard. The reader counts every packet, good or
//! bad, once, as in a one-thread run.
//!
//! Each shard runs a whole pipeline of its own (every plugin freshly built), advances its
//! clock to the reader's (capture time is global: the highest timestamp read, carried
//! with every packet), gets the reader's ticks at the same points of the capture as a
//! one-thread run's dispatcher would tick, and tears down when the capture ends. The
//! first shard then folds the others' listeners into its own (`Listener::merge`) and
//! finishes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;

use bytes::Bytes;
use netanalysis_capture::{CaptureReader, FrameAt, ReadAhead, ReadError, SharedBuffer};
use netanalysis_core::{Dispatcher, IpInfo, LinkType, Packet, SocketPair, Timestamp, Transport};

use crate::report::Progress;
use crate::{Args, FaultPrinter, Pipeline};

/// Records, copied bytes and shared buffers per batch, before it is handed to its shard.
const BATCH_RECORDS: usize = 256;
const BATCH_BYTES: usize = 1 << 19;
const BATCH_BUFFERS: usize = 16;
/// Batches in flight per shard (back-pressure on the reading).
const QUEUE_DEPTH: usize = 4;
/// Packets read in one turn at most.
const TURN_PACKETS: usize = 512;
/// How often (in packets) a turn hands their records so far to shards that wait for it.
const FEED_EVERY: usize = 32;
/// Polls of its inbox a shard makes before it sleeps on it (a few microseconds).
const SPIN_POLLS: usize = 2000;

/// Where some bytes of a record lie: `from..to` of one of the batch's shared buffers
/// (`buffer` is its index), or of the batch's copies (`buffer` is [`Span::COPIED`]).
#[derive(Clone, Copy)]
pub(crate) struct Span {
    buffer: u32,
    from: u32,
    to: u32,
}

impl Span {
    const COPIED: u32 = u32::MAX;
    const EMPTY: Span = Span { buffer: Span::COPIED, from: 0, to: 0 };
}

/// A packet's decoded fields, with its bytes as spans; or a tick of the capture clock.
#[derive(Clone, Copy)]
pub(crate) enum Record {
    Tick(Timestamp),
    Packet {
        number: u64,
        ts: Timestamp,
        /// The reader's clock after this packet.
        now: Timestamp,
        interface: u32,
        link_type: LinkType,
        caplen: u32,
        orig_len: u32,
        frame: Span,
        ip: Option<IpInfo>,
        transport: Transport,
        payload: Span,
        uncaptured: u32,
        truncated: bool,
    },
}

#[derive(Default)]
pub(crate) struct Batch {
    /// The reader's buffers the records' frames lie in, oldest first.
    buffers: Vec<SharedBuffer>,
    /// Bytes not found in the reader's buffer.
    bytes: Vec<u8>,
    pub(crate) records: Vec<Record>,
    /// The reader's clock when the capture ended: set on each shard's last batch, so
    /// teardown sees the same capture time in every shard as in a one-thread run.
    pub(crate) final_clock: Option<Timestamp>,
}

impl Batch {
    fn copy(&mut self, bytes: &[u8]) -> Span {
        let from = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        Span::within(Span::COPIED, from, bytes.len())
    }

    pub(crate) fn push(&mut self, packet: &Packet<'_>, at: Option<FrameAt<'_>>, now: Timestamp) {
        let frame = match at {
            Some(at) => {
                if !self.buffers.last().is_some_and(|last| last.same(at.buffer)) {
                    self.buffers.push(at.buffer.clone());
                }
                let buffer = u32::try_from(self.buffers.len() - 1).unwrap_or(Span::COPIED);
                Span::within(buffer, at.start, packet.frame.len())
            }
            None => self.copy(packet.frame),
        };
        // The payload usually lies inside the frame; a reassembled datagram's does not.
        let frame_addr = packet.frame.as_ptr() as usize;
        let payload_addr = packet.payload.as_ptr() as usize;
        let inside = payload_addr >= frame_addr
            && payload_addr.saturating_add(packet.payload.len()) <= frame_addr.saturating_add(packet.frame.len());
        let payload = if packet.payload.is_empty() {
            Span::EMPTY
        } else if inside {
            let offset = frame.from as usize + (payload_addr - frame_addr);
            Span::within(frame.buffer, offset, packet.payload.len())
        } else {
            self.copy(packet.payload)
        };
        self.records.push(Record::Packet {
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

    fn is_full(&self) -> bool {
        self.records.len() >= BATCH_RECORDS || self.bytes.len() >= BATCH_BYTES || self.buffers.len() >= BATCH_BUFFERS
    }

    pub(crate) fn clear(&mut self) {
        self.buffers.clear();
        self.bytes.clear();
        self.records.clear();
        self.final_clock = None;
    }

    /// The reader's buffer a span lies in (`None` for copied bytes).
    fn shared(&self, span: Span) -> Option<&Bytes> {
        match span.buffer {
            Span::COPIED => None,
            index => self.buffers.get(index as usize).map(SharedBuffer::as_shared),
        }
    }

    fn bytes(&self, span: Span) -> &[u8] {
        let bytes = match span.buffer {
            Span::COPIED => Some(self.bytes.as_slice()),
            index => self.buffers.get(index as usize).map(SharedBuffer::bytes),
        };
        bytes.and_then(|bytes| bytes.get(span.from as usize..span.to as usize)).unwrap_or(&[])
    }
}

impl Span {
    /// `len` bytes from `from`; offsets past 4 GiB (never met: buffers and batches are
    /// far smaller) give an empty span.
    fn within(buffer: u32, from: usize, len: usize) -> Span {
        match (u32::try_from(from), from.checked_add(len).and_then(|to| u32::try_from(to).ok())) {
            (Ok(from), Some(to)) => Span { buffer, from, to },
            _ => Span::EMPTY,
        }
    }
}

/// What the sharded run leaves for the end of the run.
pub(crate) struct Outcome {
    pub dispatchers: Vec<Dispatcher>,
    pub read_error: Option<ReadError>,
    pub faults: FaultPrinter,
}

/// What a shard's thread returned.
pub(crate) type ShardResult = thread::Result<(Dispatcher, FaultPrinter)>;

impl Outcome {
    /// The shards' pipelines and faults, in shard order; an error if one panicked
    /// outside any plugin.
    pub(crate) fn gather(results: Vec<ShardResult>, read_error: Option<ReadError>) -> anyhow::Result<Outcome> {
        let mut outcome =
            Outcome { dispatchers: Vec::with_capacity(results.len()), read_error, faults: FaultPrinter::default() };
        for result in results {
            let (dispatcher, faults) =
                result.map_err(|_| anyhow::anyhow!("a worker thread panicked outside any plugin"))?;
            outcome.dispatchers.push(dispatcher);
            outcome.faults.absorb(faults);
        }
        Ok(outcome)
    }
}

/// The shard of a packet's session: its pair's hash scaled to `0..shards` by a multiply
/// (the high word of hash times shards), which costs less than a division per packet.
pub(crate) fn shard_of(packet: &Packet<'_>, shards: usize) -> usize {
    match (packet.src(), packet.dst()) {
        (Some(src), Some(dst)) => {
            let scaled = u128::from(SocketPair::unordered_hash(src, dst)) * shards as u128;
            // The high word is below `shards`.
            (scaled >> 64) as usize
        }
        _ => 0,
    }
}

/// What a shard's inbox receives.
enum Message {
    Batch(Batch),
    /// The reading side came free: a shard with nothing to do may take a turn.
    Wake,
}

/// The reading side: the reader and the batches being filled, used by one shard at a time.
struct ReadSide<'r> {
    reader: &'r mut CaptureReader,
    filling: Vec<Batch>,
    senders: Vec<SyncSender<Message>>,
    pool: Receiver<Batch>,
    /// The reader's clock: the highest timestamp read so far.
    now: Timestamp,
    /// The capture second of the last tick.
    ticked_second: Option<u64>,
    /// Packets read so far.
    packets: u64,
    read_error: Option<ReadError>,
    ended: bool,
}

/// What the shards share.
struct Hub<'r> {
    /// Reads the capture file ahead of the reader: a shard that waits does that first.
    ahead: Option<ReadAhead>,
    side: Mutex<ReadSide<'r>>,
    /// Set while a shard holds the reading side.
    reading: AtomicBool,
    /// Per shard: it found the reading side taken and waits to be woken when it is free.
    waiting: Vec<AtomicBool>,
    wakers: Vec<SyncSender<Message>>,
    pool: SyncSender<Batch>,
    halt: AtomicBool,
    /// Bytes and packets read so far, for the progress bar.
    position: [AtomicU64; 2],
    /// Warnings taken from the reader, for the calling thread to print.
    warnings: Mutex<Vec<String>>,
}

/// How a shard's attempt at a reading turn went.
enum Turn {
    /// It read a turn.
    Read,
    /// Another shard is reading; this one will be woken when the reading side is free.
    Busy,
    /// The capture has been read to its end.
    Ended,
    /// The shard's inbox was not empty after all.
    Found(Message),
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hub<'_> {
    /// Takes a reading turn for shard `index` if no other shard is reading and the
    /// shard's inbox is empty (so the turn's one batch for the shard itself always fits).
    fn turn(&self, index: usize, inbox: &Receiver<Message>) -> Turn {
        let Some(waiting) = self.waiting.get(index) else { return Turn::Ended };
        // Sequentially consistent with the release below: either this shard sees the
        // reading side free, or the shard releasing it sees this flag and wakes it.
        waiting.store(true, Ordering::SeqCst);
        if self.reading.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return Turn::Busy;
        }
        waiting.store(false, Ordering::SeqCst);
        let _release = Release { hub: self, index };
        match inbox.try_recv() {
            Ok(message) => Turn::Found(message),
            Err(_) => {
                let mut side = lock(&self.side);
                if side.ended {
                    Turn::Ended
                } else {
                    side.read_turn(self, index);
                    Turn::Read
                }
            }
        }
    }
}

/// Frees the reading side when dropped, and wakes the shards that wait for it.
struct Release<'h, 'r> {
    hub: &'h Hub<'r>,
    index: usize,
}

impl Drop for Release<'_, '_> {
    fn drop(&mut self) {
        let hub = self.hub;
        hub.reading.store(false, Ordering::SeqCst);
        for ((other, waiting), waker) in hub.waiting.iter().enumerate().zip(&hub.wakers) {
            if other != self.index && waiting.swap(false, Ordering::SeqCst) {
                // A full inbox needs no waking.
                let _ = waker.try_send(Message::Wake);
            }
        }
    }
}

impl ReadSide<'_> {
    /// Reads packets into the shards' batches until one is full or the turn's share is
    /// read, then hands every batch that has records to its shard; at the end of the
    /// capture, hands every shard its last batch.
    fn read_turn(&mut self, hub: &Hub<'_>, index: usize) {
        let shards = self.filling.len();
        for count in 1..=TURN_PACKETS {
            if count % FEED_EVERY == 0 {
                self.feed_waiting(hub, index);
            }
            if hub.halt.load(Ordering::Relaxed) {
                self.ended = true;
                break;
            }
            match self.reader.next_packet_shared() {
                Ok(Some((packet, at))) => {
                    self.now = self.now.max(packet.ts);
                    // Ticks are the reader's: every shard gets them at the same point of
                    // the capture, where a one-thread run's dispatcher would tick by itself.
                    if self.ticked_second.is_none_or(|second| packet.ts.secs() > second) {
                        self.ticked_second = Some(packet.ts.secs());
                        for batch in &mut self.filling {
                            batch.records.push(Record::Tick(self.now));
                        }
                    }
                    let shard = shard_of(&packet, shards);
                    let full = match self.filling.get_mut(shard) {
                        Some(batch) => {
                            batch.push(&packet, at, self.now);
                            batch.is_full()
                        }
                        None => false,
                    };
                    self.packets += 1;
                    if self.packets % 4096 == 0 {
                        self.report(hub);
                    }
                    if full {
                        break;
                    }
                }
                Ok(None) => {
                    self.ended = true;
                    break;
                }
                Err(err) => {
                    self.read_error = Some(err);
                    self.ended = true;
                    break;
                }
            }
        }
        if self.ended {
            self.report(hub);
        }
        // The turn's own batch first: it always fits (the inbox was empty).
        for shard in std::iter::once(index).chain((0..shards).filter(|&shard| shard != index)) {
            let Some(batch) = self.filling.get_mut(shard) else { continue };
            if batch.records.is_empty() && !self.ended {
                continue;
            }
            if self.ended {
                batch.final_clock = Some(self.now);
            }
            let fresh = self.pool.try_recv().unwrap_or_default();
            let full = std::mem::replace(batch, fresh);
            let sent = self.senders.get(shard).is_some_and(|sender| sender.send(Message::Batch(full)).is_ok());
            if !sent {
                // The shard is gone (it panicked outside a listener): stop reading.
                hub.halt.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Hands their records so far to the shards that wait for this turn with an empty
    /// inbox, so that they need not wait for its end (which halves the time shards wait).
    fn feed_waiting(&mut self, hub: &Hub<'_>, index: usize) {
        for (shard, waiting) in hub.waiting.iter().enumerate() {
            let has_records = self.filling.get(shard).is_some_and(|batch| !batch.records.is_empty());
            // Taking the flag: a shard fed here is not woken again at the end of the turn,
            // unless it runs dry and waits anew.
            if shard == index
                || !has_records
                || !waiting.load(Ordering::Relaxed)
                || !waiting.swap(false, Ordering::SeqCst)
            {
                continue;
            }
            let (Some(batch), Some(sender)) = (self.filling.get_mut(shard), self.senders.get(shard)) else {
                continue;
            };
            let fresh = self.pool.try_recv().unwrap_or_default();
            match sender.try_send(Message::Batch(std::mem::replace(batch, fresh))) {
                Ok(()) => {}
                // Its inbox was not empty after all: the batch goes at the end of the turn.
                Err(TrySendError::Full(Message::Batch(kept))) => {
                    let fresh = std::mem::replace(batch, kept);
                    let _ = hub.pool.try_send(fresh);
                }
                Err(_) => hub.halt.store(true, Ordering::Relaxed),
            }
        }
    }

    /// Publishes the position and the reader's new warnings.
    fn report(&mut self, hub: &Hub<'_>) {
        let stats = self.reader.stats();
        hub.position[0].store(stats.capture_bytes, Ordering::Relaxed);
        hub.position[1].store(stats.packets_read, Ordering::Relaxed);
        let warnings = self.reader.take_warnings();
        if !warnings.is_empty() {
            lock(&hub.warnings).extend(warnings);
        }
    }
}

/// One shard: dispatches the batches in its inbox and, whenever the inbox is empty and no
/// other shard is reading, reads a turn itself.
fn shard(
    index: usize,
    hub: &Hub<'_>,
    inbox: &Receiver<Message>,
    mut dispatcher: Dispatcher,
    strict: bool,
) -> (Dispatcher, FaultPrinter) {
    let mut faults = FaultPrinter::default();
    dispatcher.set_auto_tick(false);
    dispatcher.setup();
    faults.handle(&mut dispatcher, strict);
    loop {
        let message = match inbox.try_recv() {
            Ok(message) => message,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => match hub.turn(index, inbox) {
                Turn::Read => continue,
                Turn::Found(message) => message,
                // Another shard reads: copy the file's next bytes for it meanwhile.
                Turn::Busy if hub.ahead.as_ref().is_some_and(ReadAhead::read_next) => continue,
                Turn::Busy => match wait_briefly(inbox) {
                    Some(message) => message,
                    None => match inbox.recv() {
                        Ok(message) => message,
                        Err(_) => break,
                    },
                },
                Turn::Ended => match inbox.recv() {
                    Ok(message) => message,
                    Err(_) => break,
                },
            },
        };
        let Message::Batch(mut batch) = message else { continue };
        if !hub.halt.load(Ordering::Relaxed) {
            dispatch(&mut dispatcher, &batch, &mut faults, strict, &hub.halt);
        }
        let last = batch.final_clock;
        if let Some(clock) = last {
            dispatcher.advance_clock(clock);
        }
        // Dropping the buffers' clones here lets the reader reuse them.
        batch.clear();
        // The pool may be full: then the batch is simply freed.
        let _ = hub.pool.try_send(batch);
        if last.is_some() {
            break;
        }
    }
    if !faults.broken_pipe {
        dispatcher.teardown();
        faults.handle(&mut dispatcher, strict);
    }
    (dispatcher, faults)
}

/// Polls the inbox for a short while before the caller blocks on it: the reading shard
/// feeds a waiting one every few dozen packets, and falling asleep and being woken for
/// each of those (a futex round trip and a context switch) costs more than this.
fn wait_briefly(inbox: &Receiver<Message>) -> Option<Message> {
    for _ in 0..SPIN_POLLS {
        match inbox.try_recv() {
            Ok(message) => return Some(message),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => std::hint::spin_loop(),
        }
    }
    None
}

/// Dispatches a batch's records.
pub(crate) fn dispatch(
    dispatcher: &mut Dispatcher,
    batch: &Batch,
    faults: &mut FaultPrinter,
    strict: bool,
    halt: &AtomicBool,
) {
    for record in &batch.records {
        let &Record::Packet {
            number,
            ts,
            now,
            interface,
            link_type,
            caplen,
            orig_len,
            frame,
            ip,
            transport,
            payload,
            uncaptured,
            truncated,
        } = record
        else {
            if let &Record::Tick(now) = record {
                dispatcher.tick(now);
            }
            continue;
        };
        dispatcher.advance_clock(now);
        // The frame's buffer is the packet's when the payload lies in it too.
        let buffer =
            if payload.from == payload.to || payload.buffer == frame.buffer { batch.shared(frame) } else { None };
        dispatcher.dispatch_packet(&Packet {
            number,
            ts,
            interface,
            link_type,
            caplen,
            orig_len,
            frame: batch.bytes(frame),
            ip,
            transport,
            payload: batch.bytes(payload),
            uncaptured,
            truncated,
            buffer,
        });
        if dispatcher.fault_count() > faults.seen {
            faults.handle(dispatcher, strict);
            if faults.broken_pipe || faults.strict_stop {
                halt.store(true, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// Tells the calling thread, by being dropped, that a shard has finished (or panicked).
pub(crate) struct Finished(pub(crate) mpsc::Sender<()>);

impl Drop for Finished {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Reads the whole capture, sharding packets across `args.threads` pipelines on worker
/// threads that take turns at reading.
pub(crate) fn run(
    pipeline: &Pipeline,
    args: &Args,
    reader: &mut CaptureReader,
    progress: &mut Progress,
) -> anyhow::Result<Outcome> {
    if let Some(chunks) = reader.chunks() {
        return crate::chunked::run(pipeline, args, reader, chunks, progress);
    }
    let shards = args.threads;
    let mut dispatchers = Vec::with_capacity(shards);
    for _ in 0..shards {
        dispatchers.push(pipeline.build()?);
    }
    let (pool_tx, pool_rx) = mpsc::sync_channel::<Batch>(shards * (QUEUE_DEPTH + 2));
    let (senders, inboxes): (Vec<_>, Vec<_>) = (0..shards).map(|_| mpsc::sync_channel(QUEUE_DEPTH)).unzip();
    let ahead = reader.read_ahead();
    let hub = Hub {
        ahead,
        side: Mutex::new(ReadSide {
            reader,
            filling: (0..shards).map(|_| Batch::default()).collect(),
            senders: senders.clone(),
            pool: pool_rx,
            now: Timestamp::ZERO,
            ticked_second: None,
            packets: 0,
            read_error: None,
            ended: false,
        }),
        reading: AtomicBool::new(false),
        waiting: (0..shards).map(|_| AtomicBool::new(false)).collect(),
        wakers: senders,
        pool: pool_tx,
        halt: AtomicBool::new(false),
        position: [AtomicU64::new(0), AtomicU64::new(0)],
        warnings: Mutex::new(Vec::new()),
    };
    let strict = args.strict;
    let (finished_tx, finished_rx) = mpsc::channel::<()>();
    let results = thread::scope(|scope| {
        let hub = &hub;
        let mut handles = Vec::with_capacity(shards);
        for (index, (dispatcher, inbox)) in dispatchers.into_iter().zip(inboxes).enumerate() {
            let finished = Finished(finished_tx.clone());
            let handle = thread::Builder::new().name(format!("shard-{index}")).spawn_scoped(scope, move || {
                let _finished = finished;
                shard(index, hub, &inbox, dispatcher, strict)
            });
            match handle {
                Ok(handle) => handles.push(handle),
                Err(err) => {
                    // The shards started read on; the run reports the failure.
                    hub.halt.store(true, Ordering::Relaxed);
                    return Err(anyhow::Error::new(err).context("cannot start a worker thread"));
                }
            }
        }
        drop(finished_tx);
        let mut running = shards;
        while running > 0 {
            match finished_rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(()) => running -= 1,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            progress.update(hub.position[0].load(Ordering::Relaxed), hub.position[1].load(Ordering::Relaxed));
            crate::print_warnings(args.quiet, std::mem::take(&mut *lock(&hub.warnings)), progress);
        }
        Ok(handles.into_iter().map(|handle| handle.join()).collect::<Vec<_>>())
    })?;
    let side = hub.side.into_inner().unwrap_or_else(PoisonError::into_inner);
    Outcome::gather(results, side.read_error)
}
