//! Delivery cost per event with 1, 4 and 16 subscribed listeners.
//!
//! `cargo bench -p netanalysis-core --bench dispatch`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use netanalysis_core::{
    AnyEvent, Context, Dispatcher, Event, Listener, ListenerResult, Packet, Subscriptions, Timestamp,
};

const EVENTS_PER_PACKET: u64 = 100;

#[derive(Debug)]
struct Data {
    len: u64,
}
impl Event for Data {
    const NAME: &'static str = "data";
}

struct Emitter;
impl Listener for Emitter {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.packets();
    }
    fn on_packet(&mut self, packet: &Packet<'_>, ctx: &mut Context<'_>) -> ListenerResult {
        for k in 0..EVENTS_PER_PACKET {
            ctx.emit(Data { len: packet.number ^ k });
        }
        Ok(())
    }
}

struct Counter(u64);
impl Listener for Counter {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.event::<Data>();
    }
    fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
        if let Some(d) = event.downcast_ref::<Data>() {
            self.0 = self.0.wrapping_add(d.len);
        }
        Ok(())
    }
}

fn delivery(c: &mut Criterion) {
    let mut group = c.benchmark_group("deliver_event");
    group.throughput(Throughput::Elements(EVENTS_PER_PACKET));
    for listeners in [1usize, 4, 16] {
        let mut builder = Dispatcher::builder();
        builder.add("Emitter", None, Box::new(Emitter)).expect("no positions claimed");
        for k in 0..listeners {
            builder.add(format!("Counter{k}"), None, Box::new(Counter(0))).expect("no positions claimed");
        }
        let mut dispatcher = builder.build();
        let mut n = 0u64;
        group.bench_with_input(BenchmarkId::from_parameter(listeners), &listeners, |b, _| {
            b.iter(|| {
                n += 1;
                dispatcher.dispatch_packet(&Packet::empty(n, Timestamp::from_micros(n, 0)));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, delivery);
criterion_main!(benches);
