//! Emitting and delivering events does not allocate once the queues are warm.
//!
//! A test binary of its own without the test harness: the counting allocator counts
//! every thread's allocations, the harness's threads included.

use netanalysis_core::{
    AnyEvent, Context, Dispatcher, Event, Listener, ListenerResult, Packet, Subscriptions, Timestamp,
};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[derive(Debug)]
struct Segment {
    len: u64,
}
impl Event for Segment {
    const NAME: &'static str = "segment";
}

#[derive(Debug)]
struct Summary {
    total: u64,
}
impl Event for Summary {
    const NAME: &'static str = "summary";
}

/// Emits three segments per packet; each segment causes a summary (nested emits).
struct Source;
impl Listener for Source {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.packets().event::<Segment>();
    }
    fn on_packet(&mut self, packet: &Packet<'_>, ctx: &mut Context<'_>) -> ListenerResult {
        for k in 0..3 {
            ctx.emit(Segment { len: packet.number + k });
        }
        Ok(())
    }
    fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        if let Some(segment) = event.downcast_ref::<Segment>() {
            ctx.emit(Summary { total: segment.len * 2 });
        }
        Ok(())
    }
}

#[derive(Default)]
struct Sink {
    seen: u64,
}
impl Listener for Sink {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.event::<Segment>().event::<Summary>();
    }
    fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
        if let Some(s) = event.downcast_ref::<Summary>() {
            self.seen += s.total;
        } else if let Some(s) = event.downcast_ref::<Segment>() {
            self.seen += s.len;
        }
        Ok(())
    }
}

fn emitting_and_delivering_events_does_not_allocate_once_warm() {
    let mut builder = Dispatcher::builder();
    builder.add("Source", None, Box::new(Source)).unwrap();
    for k in 0..4 {
        builder.add(format!("Sink{k}"), None, Box::new(Sink::default())).unwrap();
    }
    let mut dispatcher = builder.build();
    dispatcher.setup();
    let packet = |n: u64| Packet::empty(n, Timestamp::from_micros(n, 0));
    for n in 1..=100 {
        dispatcher.dispatch_packet(&packet(n));
    }
    let region = Region::new(GLOBAL);
    for n in 101..=10_100 {
        dispatcher.dispatch_packet(&packet(n));
    }
    let stats = region.change();
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "10,000 packets, 60,000 events delivered to 5 listeners: no allocation expected"
    );
    assert_eq!(dispatcher.fault_count(), 0);
}

/// Without the test harness (`harness = false`): the counting allocator counts every
/// thread's allocations, the harness's own threads included.
fn main() {
    emitting_and_delivering_events_does_not_allocate_once_warm();
    eprintln!("alloc: 1 check passed");
}
