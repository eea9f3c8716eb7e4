//! HTTP parsing cost: one request head, and a pipelined keep-alive stream through the
//! whole analyzer (tcp_data events in, transactions out).
//!
//! `cargo bench -p netanalysis-http --bench parse`

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netanalysis_core::{
    AnyEvent, Context, Dispatcher, Endpoint, Listener, ListenerResult, SocketPair, Subscriptions, Timestamp,
};
use netanalysis_http::{HttpAnalyzer, HttpTransaction, Limits, MessageParser, ParserOutput, ParserStats, Role};
use netanalysis_tcp::{EndReason, SessionId, TcpSessionEnd};
use netanalysis_test_support::tcp_data;

const HEAD: &[u8] = b"GET /feedengine/homepage/images/iplayer/b00rpw2k_640_360_206x115.jpg HTTP/1.1\r\n\
Host: newsimg.bbc.co.uk\r\n\
User-Agent: Mozilla/5.0 (X11; U; Linux i686; en-GB; rv:1.9.1.8) Gecko/20100214 Ubuntu/9.10 (karmic) Firefox/3.5.8\r\n\
Accept: image/png,image/*;q=0.8,*/*;q=0.5\r\n\
Accept-Language: en-gb,en;q=0.5\r\n\
Accept-Encoding: gzip,deflate\r\n\
Accept-Charset: ISO-8859-1,utf-8;q=0.7,*;q=0.7\r\n\
Keep-Alive: 300\r\n\
Connection: keep-alive\r\n\
Referer: http://www.bbc.co.uk/\r\n\r\n";

fn header_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("http_head");
    group.throughput(Throughput::Bytes(HEAD.len() as u64));
    let data = Bytes::from_static(HEAD);
    let mut stats = ParserStats::default();
    let mut out = Vec::new();
    group.bench_function("request_head", |b| {
        let mut parser = MessageParser::new(Role::Request, Limits::default());
        let mut offset = 0u64;
        b.iter(|| {
            out.clear();
            parser.push(offset, &data, Timestamp::ZERO, &mut stats, &mut out);
            offset += data.len() as u64;
            assert!(matches!(out.last(), Some(ParserOutput::Request(_))));
        })
    });
    group.finish();
}

struct Count(u64);
impl Listener for Count {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.event::<HttpTransaction>();
    }
    fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
        if event.is::<HttpTransaction>() {
            self.0 += 1;
        }
        Ok(())
    }
}

/// A client that pipelines `n` requests in one stretch, and a server that answers
/// them in segments of 1448 bytes: half with Content-Length, half chunked.
fn pipelined_stream(n: usize) -> (Vec<u8>, Vec<u8>) {
    let mut requests = Vec::new();
    let mut responses = Vec::new();
    let body = vec![b'x'; 4000];
    for k in 0..n {
        requests.extend_from_slice(HEAD);
        if k % 2 == 0 {
            responses.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 4000\r\n\r\n");
            responses.extend_from_slice(&body);
        } else {
            responses.extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            for part in body.chunks(1000) {
                responses.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                responses.extend_from_slice(part);
                responses.extend_from_slice(b"\r\n");
            }
            responses.extend_from_slice(b"0\r\n\r\n");
        }
    }
    (requests, responses)
}

fn pipelined(c: &mut Criterion) {
    const N: usize = 100;
    let (requests, responses) = pipelined_stream(N);
    let client = Endpoint::new([10, 0, 0, 1].into(), 40000);
    let server = Endpoint::new([10, 0, 0, 2].into(), 80);
    let pair = SocketPair::new(client, server);
    let requests = Bytes::from(requests);
    let responses = Bytes::from(responses);
    let mut group = c.benchmark_group("http_stream");
    group.throughput(Throughput::Bytes((requests.len() + responses.len()) as u64));
    let mut generation = 0u32;
    let mut builder = Dispatcher::builder();
    builder.add("HTTP", None, Box::new(HttpAnalyzer::new(Limits::default(), false))).expect("no position claimed");
    builder.add("Count", None, Box::new(Count(0))).expect("no position claimed");
    let mut dispatcher = builder.build();
    group.bench_function("pipelined_100_transactions", |b| {
        b.iter(|| {
            generation += 1;
            let session = SessionId::new(&pair, generation);
            let ts = Timestamp::from_micros(1_700_000_000, 0);
            let mut send = |from_client, offset: u64, data: Bytes| {
                dispatcher.dispatch_event(tcp_data(&session, client, server, from_client, offset, data, ts));
            };
            for (k, part) in (0..).zip(requests.chunks(1448)) {
                send(true, k * 1448, requests.slice_ref(part));
            }
            for (k, part) in (0..).zip(responses.chunks(1448)) {
                send(false, k * 1448, responses.slice_ref(part));
            }
            dispatcher.dispatch_event(TcpSessionEnd { session, pair, reason: EndReason::Fin, packet: None, ts });
        })
    });
    group.finish();
}

criterion_group!(benches, header_parse, pipelined);
criterion_main!(benches);
