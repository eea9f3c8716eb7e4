//! Using netanalysis as a library: a pipeline built in code that hands HTTP
//! transactions back to the caller.
//!
//! Four pieces, no command line: a [`CaptureReader`] that lends one decoded packet at a
//! time, a [`Dispatcher`] that delivers it, the TCP listener ([`TcpReassembler`]) in
//! the first place, turning packets into reassembled data, the HTTP listener
//! ([`HttpAnalyzer`]) turning data into transactions, and a small listener of our own,
//! [`TransactionCollector`], that keeps each transaction in a vector shared with the
//! caller.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::bail;
use netanalysis_capture::CaptureReader;
use netanalysis_core::{
    AnyEvent, Context, Dispatcher, Listener, ListenerError, ListenerResult, Position, Subscriptions,
};
use netanalysis_http::{HttpAnalyzer, HttpTransaction, Limits};
use netanalysis_tcp::TcpReassembler;

/// A listener that keeps every `http_transaction` it receives.
///
/// Listeners are moved into the dispatcher, so the vector is shared: keep a clone of
/// [`TransactionCollector::handle`] to read it after the run.
#[derive(Debug, Default)]
pub struct TransactionCollector {
    transactions: Arc<Mutex<Vec<HttpTransaction>>>,
}

impl TransactionCollector {
    /// A collector with an empty vector.
    pub fn new() -> TransactionCollector {
        TransactionCollector::default()
    }

    /// The shared vector the transactions are collected into.
    pub fn handle(&self) -> Arc<Mutex<Vec<HttpTransaction>>> {
        Arc::clone(&self.transactions)
    }
}

impl Listener for TransactionCollector {
    fn subscribe(&self, subs: &mut Subscriptions) {
        subs.event::<HttpTransaction>();
    }

    fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
        if let Some(transaction) = event.downcast_ref::<HttpTransaction>() {
            // A clone is cheap: the request and response are shared, not copied.
            let mut transactions =
                self.transactions.lock().map_err(|_| ListenerError::msg("the transaction vector is poisoned"))?;
            transactions.push(transaction.clone());
        }
        Ok(())
    }
}

/// Reads the capture at `path` and returns its HTTP transactions, in the order they
/// completed (request order within each session).
pub fn collect_http_transactions(path: &Path) -> anyhow::Result<Vec<HttpTransaction>> {
    let mut reader = CaptureReader::open(path)?;

    let collector = TransactionCollector::new();
    let transactions = collector.handle();
    let mut builder = Dispatcher::builder();
    builder.add("TCP", Some(Position::First), Box::new(TcpReassembler::default()))?;
    builder.add("HTTP", None, Box::new(HttpAnalyzer::new(Limits::default(), false)))?;
    builder.add("Collector", None, Box::new(collector))?;
    let mut dispatcher = builder.build();

    dispatcher.setup();
    // Each packet borrows the reader's buffer, so it is dispatched before the next read.
    while let Some(packet) = reader.next_packet()? {
        dispatcher.dispatch_packet(&packet);
    }
    // Teardown ends the sessions still open, so their last transactions come out too.
    dispatcher.teardown();
    dispatcher.finish();
    if let Some(fault) = dispatcher.take_faults().first() {
        bail!("{fault}");
    }

    drop(dispatcher); // the collector's clone of the vector goes with it
    let collected = match Arc::try_unwrap(transactions) {
        Ok(mutex) => mutex.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()),
        Err(shared) => shared.lock().map(|v| v.clone()).unwrap_or_default(),
    };
    Ok(collected)
}
