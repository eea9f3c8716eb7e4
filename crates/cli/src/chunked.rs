//! `--threads N` on a classic pcap file: every shard reads chunks of the file itself.
//!
//! The file is cut into chunks at fixed offsets ([`Chunks`]); chunk `k` belongs to shard
//! `k % N`, which copies its bytes out of the page cache, frames its records, decodes
//! them and sorts them into one batch per shard (its own included), as the reading side
//! of `shards.rs` does for a turn. So copying and decoding, the reading that one thread
//! did for all in the turn-taking design, run on every core at once, each on bytes that
//! are in its own cache.
//!
//! Two things still go in file order. Framing a chunk needs where its first record starts
//! and the capture clock there (the highest timestamp so far, and the second of the last
//! tick), which framing the chunk before hands on (`Chain`); framing only walks the record
//! headers, and the owner of the next chunk has usually read that chunk already. And
//! every shard dispatches the batches of chunk 0, 1, 2, ... in that order, whichever
//! shard made them, so each sees its packets, ticks and clock exactly as in a one-thread
//! run. IP fragments go to the one defragmenter in file order too (`Chunks::turn`).
//!
//! A shard does whichever of these it can, in this order: frame and decode its next chunk
//! (it unblocks the others), dispatch the next chunk's batch for it, read its next chunk
//! ahead; and sleeps briefly when it can do none. Chunks are framed at most `WINDOW` ahead
//! of the shard that has dispatched the fewest, which bounds the memory held.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread::{self, Thread};
use std::time::Duration;

use netanalysis_capture::{Boundary, CaptureReader, CaptureStats, Chunk, ChunkReader, Chunks, ReadError};
use netanalysis_core::{Dispatcher, Timestamp};

use crate::report::Progress;
use crate::shards::{dispatch, lock, shard_of, Batch, Finished, Outcome, Record};
use crate::{Args, FaultPrinter, Pipeline};

/// Chunks framed ahead of the shard that has dispatched the fewest, at most.
const WINDOW: u64 = 8;
/// Batches a shard keeps for reuse.
const POOL: usize = 16;
/// Times a shard with nothing to do looks again before it sleeps.
const SPIN_ROUNDS: u32 = 2000;
/// The longest sleep: a shard looks again at least this often, so a wake-up that came
/// just before it slept costs no more than this.
const NAP: Duration = Duration::from_millis(1);

/// Framing's place in the capture, handed on from chunk to chunk.
struct Chain {
    /// Where the next chunk's records start.
    at: Boundary,
    /// The capture clock there: the highest timestamp framed so far.
    now: Timestamp,
    /// The capture second of the last tick.
    ticked: Option<u64>,
    error: Option<ReadError>,
}

/// A batch of chunk `.0` for one shard.
type Sent = (u64, Batch);

/// What the shards share.
struct Hub {
    chunks: Chunks,
    shards: usize,
    chain: Mutex<Chain>,
    /// Chunks framed so far: the number of the one to frame next.
    framed: AtomicU64,
    /// Chunks in the capture, once framing has met its end (`u64::MAX` until then).
    end: AtomicU64,
    /// Per shard: the next chunk it dispatches (it has dispatched every one before).
    dispatched: Vec<AtomicU64>,
    halt: AtomicBool,
    /// The shards' threads, to wake them (set once they all run).
    threads: OnceLock<Vec<Thread>>,
    /// Per shard: its packet counts so far.
    stats: Vec<Mutex<CaptureStats>>,
    /// Capture bytes and packets framed so far, for the progress bar.
    position: [AtomicU64; 2],
}

impl Hub {
    fn wake(&self, shard: usize) {
        if let Some(thread) = self.threads.get().and_then(|threads| threads.get(shard)) {
            thread.unpark();
        }
    }

    fn wake_others(&self, me: usize) {
        for shard in (0..self.shards).filter(|&shard| shard != me) {
            self.wake(shard);
        }
    }

    fn stop(&self) {
        self.halt.store(true, Ordering::SeqCst);
        self.chunks.halt();
        for shard in 0..self.shards {
            self.wake(shard);
        }
    }

    /// The next chunk the slowest shard dispatches.
    fn slowest(&self) -> u64 {
        self.dispatched.iter().map(|next| next.load(Ordering::SeqCst)).min().unwrap_or(0)
    }
}

/// Moves the capture clock and the tick state over a record's timestamp; true if a tick
/// comes before the record (its second is later than the last tick's), as the reading
/// side of `shards.rs` and a one-thread dispatcher tick.
fn clock(now: &mut Timestamp, ticked: &mut Option<u64>, ts: Timestamp) -> bool {
    *now = (*now).max(ts);
    if ticked.is_none_or(|second| ts.secs() > second) {
        *ticked = Some(ts.secs());
        true
    } else {
        false
    }
}

/// Stops the other shards if this one panics outside a listener.
struct PanicGuard<'h>(&'h Hub);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.stop();
        }
    }
}

/// One shard's side of the run.
struct Shard<'h> {
    index: usize,
    hub: &'h Hub,
    reader: ChunkReader,
    /// Per producing shard: the batches it made for this one.
    inboxes: Vec<Option<Receiver<Sent>>>,
    /// Per producing shard: a batch received but not yet due.
    received: Vec<Option<Sent>>,
    /// Per target shard: where to send the batches made for it.
    outboxes: Vec<Option<Sender<Sent>>>,
    /// This shard's batches of its own chunks, not yet due.
    own: VecDeque<Sent>,
    /// The next own chunk, read ahead of its framing.
    read: Option<Chunk>,
    next_own: u64,
    next_dispatch: u64,
    /// Batches being filled from a chunk, one per shard.
    filling: Vec<Batch>,
    pool: Vec<Batch>,
    stats: CaptureStats,
    dispatcher: Dispatcher,
    faults: FaultPrinter,
    strict: bool,
}

impl Shard<'_> {
    fn run(mut self) -> (Dispatcher, FaultPrinter) {
        let _guard = PanicGuard(self.hub);
        self.dispatcher.set_auto_tick(false);
        self.dispatcher.setup();
        self.faults.handle(&mut self.dispatcher, self.strict);
        let mut idle = 0;
        loop {
            if self.hub.halt.load(Ordering::SeqCst) {
                break;
            }
            if self.next_dispatch >= self.hub.end.load(Ordering::SeqCst) {
                let clock = lock(&self.hub.chain).now;
                self.dispatcher.advance_clock(clock);
                break;
            }
            if self.produce() || self.dispatch_next() || self.read_ahead() {
                idle = 0;
            } else if idle < SPIN_ROUNDS {
                idle += 1;
                std::hint::spin_loop();
            } else {
                thread::park_timeout(NAP);
            }
        }
        // Senders dropped here tell nobody anything: every shard knows the end.
        if !self.faults.broken_pipe {
            self.dispatcher.teardown();
            self.faults.handle(&mut self.dispatcher, self.strict);
        }
        (self.dispatcher, self.faults)
    }

    /// Frames and decodes the next own chunk, if its turn has come.
    fn produce(&mut self) -> bool {
        let hub = self.hub;
        let k = self.next_own;
        // `framed` before `end`: framing that meets the capture's end stores `end` before
        // `framed`, so a shard that finds its chunk's turn come also finds the end if it
        // lies before that chunk. Read the other way round, a shard could read `end`
        // still unknown, then `framed` just set, and frame a chunk past the end; its
        // batch for a shard that had finished would find no one to receive it, and stop
        // the run before this shard dispatched its last packets.
        if hub.framed.load(Ordering::SeqCst) != k
            || k >= hub.end.load(Ordering::SeqCst)
            || k >= hub.slowest().saturating_add(WINDOW)
        {
            return false;
        }
        let mut chunk = match self.read.take() {
            Some(chunk) if chunk.index() == k => chunk,
            _ => self.reader.read(k),
        };
        // Only this shard frames chunk `k`, and nobody else touches the chain until it
        // says so (`framed`).
        let (at, start_now, start_ticked) = {
            let chain = lock(&hub.chain);
            (chain.at, chain.now, chain.ticked)
        };
        let (framing, error) = self.reader.frame(&mut chunk, at);
        // The clock at the chunk's end goes on to the next chunk's framing now, before
        // decoding; decoding walks the timestamps again for each packet's clock and ticks
        // (a walk over the records just framed, still in the cache).
        let (mut now, mut ticked) = (start_now, start_ticked);
        for i in 0..chunk.len() {
            if let Some(ts) = chunk.ts(i) {
                clock(&mut now, &mut ticked, ts);
            }
        }
        {
            let mut chain = lock(&hub.chain);
            chain.at = framing.next;
            chain.now = now;
            chain.ticked = ticked;
            if error.is_some() {
                chain.error = error;
            }
        }
        hub.position[0].store(framing.next.offset, Ordering::Relaxed);
        hub.position[1].store(framing.next.packets, Ordering::Relaxed);
        // The end before `framed` (see the first check above).
        if !framing.more {
            hub.end.store(k + 1, Ordering::SeqCst);
        }
        hub.framed.store(k + 1, Ordering::SeqCst);
        if framing.more {
            hub.wake(((k + 1) % hub.shards as u64) as usize);
        } else {
            hub.wake_others(self.index);
        }

        // Decode the chunk into one batch per shard, ticks in every batch.
        let shards = hub.shards;
        while self.filling.len() < shards {
            self.filling.push(self.pool.pop().unwrap_or_default());
        }
        let (mut now, mut ticked) = (start_now, start_ticked);
        let mut turn = hub.chunks.turn(k);
        for i in 0..chunk.len() {
            let Some((packet, frame_at)) = self.reader.packet(&chunk, i, &mut self.stats, &mut turn) else {
                continue;
            };
            if clock(&mut now, &mut ticked, packet.ts) {
                for batch in &mut self.filling {
                    batch.records.push(Record::Tick(now));
                }
            }
            if let Some(batch) = self.filling.get_mut(shard_of(&packet, shards)) {
                batch.push(&packet, Some(frame_at), now);
            }
        }
        turn.end();
        *lock(&hub.stats[self.index]) = self.stats.clone();
        for (shard, batch) in self.filling.drain(..).enumerate() {
            if shard == self.index {
                self.own.push_back((k, batch));
                continue;
            }
            let sent = self.outboxes.get(shard).and_then(Option::as_ref).is_some_and(|tx| tx.send((k, batch)).is_ok());
            if !sent {
                // The shard is gone (it panicked outside a listener): stop.
                hub.stop();
            }
            hub.wake(shard);
        }
        self.reader.recycle(chunk);
        self.next_own = k + shards as u64;
        true
    }

    /// Dispatches the batch of the next chunk due, if it is here.
    fn dispatch_next(&mut self) -> bool {
        let hub = self.hub;
        let k = self.next_dispatch;
        let owner = (k % hub.shards as u64) as usize;
        let batch = if owner == self.index {
            match self.own.front() {
                Some((chunk, _)) if *chunk == k => self.own.pop_front(),
                _ => None,
            }
        } else {
            let Some(slot) = self.received.get_mut(owner) else { return false };
            if slot.is_none() {
                *slot = self.inboxes.get(owner).and_then(Option::as_ref).and_then(|rx| rx.try_recv().ok());
            }
            match slot {
                Some((chunk, _)) if *chunk == k => slot.take(),
                _ => None,
            }
        };
        let Some((_, mut batch)) = batch else { return false };
        dispatch(&mut self.dispatcher, &batch, &mut self.faults, self.strict, &hub.halt);
        if hub.halt.load(Ordering::SeqCst) {
            hub.stop();
        }
        // Dropping the batch's buffer clones lets their readers reuse them.
        batch.clear();
        if self.pool.len() < POOL {
            self.pool.push(batch);
        }
        self.next_dispatch = k + 1;
        if let Some(next) = hub.dispatched.get(self.index) {
            next.store(k + 1, Ordering::SeqCst);
        }
        hub.wake_others(self.index);
        true
    }

    /// Reads the next own chunk's bytes before its turn to be framed comes.
    fn read_ahead(&mut self) -> bool {
        let hub = self.hub;
        let k = self.next_own;
        if self.read.is_some() || k >= hub.end.load(Ordering::SeqCst) || k >= hub.slowest().saturating_add(WINDOW) {
            return false;
        }
        self.read = Some(self.reader.read(k));
        true
    }
}

/// Every shard's packet counts added up.
fn counted(hub: &Hub) -> CaptureStats {
    let mut total = CaptureStats::default();
    for stats in &hub.stats {
        total.add(&lock(stats));
    }
    total
}

/// Reads the capture in chunks on `args.threads` shards (see the module docs).
pub(crate) fn run(
    pipeline: &Pipeline,
    args: &Args,
    reader: &mut CaptureReader,
    chunks: Chunks,
    progress: &mut Progress,
) -> anyhow::Result<Outcome> {
    let shards = args.threads;
    let mut dispatchers = Vec::with_capacity(shards);
    for _ in 0..shards {
        dispatchers.push(pipeline.build()?);
    }
    // One channel per producing shard and target shard.
    let mut outboxes: Vec<Vec<Option<Sender<Sent>>>> =
        (0..shards).map(|_| (0..shards).map(|_| None).collect()).collect();
    let mut inboxes: Vec<Vec<Option<Receiver<Sent>>>> =
        (0..shards).map(|_| (0..shards).map(|_| None).collect()).collect();
    for from in 0..shards {
        for to in (0..shards).filter(|&to| to != from) {
            let (tx, rx) = mpsc::channel();
            outboxes[from][to] = Some(tx);
            inboxes[to][from] = Some(rx);
        }
    }
    let hub = Hub {
        chain: Mutex::new(Chain { at: chunks.start(), now: Timestamp::ZERO, ticked: None, error: None }),
        chunks,
        shards,
        framed: AtomicU64::new(0),
        end: AtomicU64::new(u64::MAX),
        dispatched: (0..shards).map(|_| AtomicU64::new(0)).collect(),
        halt: AtomicBool::new(false),
        threads: OnceLock::new(),
        stats: (0..shards).map(|_| Mutex::new(CaptureStats::default())).collect(),
        position: [AtomicU64::new(0), AtomicU64::new(0)],
    };
    let strict = args.strict;
    let (finished_tx, finished_rx) = mpsc::channel::<()>();
    let results = thread::scope(|scope| {
        let hub = &hub;
        let mut handles = Vec::with_capacity(shards);
        let sides = dispatchers.into_iter().zip(inboxes).zip(outboxes).enumerate();
        for (index, ((dispatcher, inboxes), outboxes)) in sides {
            let finished = Finished(finished_tx.clone());
            let shard = Shard {
                index,
                hub,
                reader: hub.chunks.reader(),
                received: (0..shards).map(|_| None).collect(),
                inboxes,
                outboxes,
                own: VecDeque::new(),
                read: None,
                next_own: index as u64,
                next_dispatch: 0,
                filling: Vec::with_capacity(shards),
                pool: Vec::new(),
                stats: CaptureStats::default(),
                dispatcher,
                faults: FaultPrinter::default(),
                strict,
            };
            let handle = thread::Builder::new().name(format!("shard-{index}")).spawn_scoped(scope, move || {
                let _finished = finished;
                shard.run()
            });
            match handle {
                Ok(handle) => handles.push(handle),
                Err(err) => {
                    hub.stop();
                    return Err(anyhow::Error::new(err).context("cannot start a worker thread"));
                }
            }
        }
        let _ = hub.threads.set(handles.iter().map(|handle| handle.thread().clone()).collect());
        for shard in 0..shards {
            hub.wake(shard);
        }
        drop(finished_tx);
        let mut running = shards;
        while running > 0 {
            match finished_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(()) => running -= 1,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let bytes = hub.position[0].load(Ordering::Relaxed);
            progress.update(bytes, hub.position[1].load(Ordering::Relaxed));
            reader.chunks_read(&hub.chunks, &counted(hub), bytes, false);
            crate::print_warnings(args.quiet, reader.take_warnings(), progress);
        }
        Ok(handles.into_iter().map(|handle| handle.join()).collect::<Vec<_>>())
    })?;
    let counts = counted(&hub);
    let Hub { chunks, chain, .. } = hub;
    let chain = chain.into_inner().unwrap_or_else(PoisonError::into_inner);
    reader.chunks_read(&chunks, &counts, chain.at.offset, true);
    Outcome::gather(results, chain.error)
}
