//! A listener that records what it receives, one line per event.

use std::any::TypeId;
use std::sync::{Arc, Mutex};

use netanalysis_core::{AnyEvent, Context, Event, Listener, ListenerResult, Packet, Subscriptions};
use netanalysis_tcp::{TcpMonologue, TcpSessionEnd, TcpSessionStart};

type Formatter = Box<dyn Fn(&dyn AnyEvent) -> Option<String> + Send>;

/// Records one line per delivered event, in delivery order, like the original's mock
/// listener. TCP session and monologue events are formatted like the original's traces
/// (`tcp_monologue <key> from=.. bytes=.. pkts=.. t_start=.. t_end=.. sha256=..`), so a
/// recording diffs directly against them; add other types with [`Recorder::with`].
///
/// The lines live behind a shared handle ([`Recorder::lines`]) that stays readable after
/// the recorder was moved into a dispatcher.
pub struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    /// Per event type: its formatter, and whether it reads the bytes events carry.
    formatters: Vec<(TypeId, &'static str, Formatter, bool)>,
    packets: bool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("types", &self.formatters.iter().map(|f| f.1).collect::<Vec<_>>()).finish()
    }
}

/// The shared handle to a [`Recorder`]'s lines.
#[derive(Debug, Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// A copy of the lines recorded so far.
    pub fn get(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The lines joined with newlines (and a final newline when not empty).
    pub fn text(&self) -> String {
        let lines = self.get();
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        text
    }

    /// Just the first word (the event name) of each line.
    pub fn names(&self) -> Vec<String> {
        self.get().iter().map(|l| l.split(' ').next().unwrap_or("").to_owned()).collect()
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::empty()
    }
}

impl Recorder {
    /// A recorder of nothing; add types with [`Recorder::with`].
    pub fn empty() -> Recorder {
        Recorder { lines: Arc::default(), formatters: Vec::new(), packets: false }
    }

    /// A recorder of the original's TCP events: `tcp_session_start`, `tcp_monologue`,
    /// `tcp_session_end`, formatted as in its traces.
    pub fn tcp() -> Recorder {
        Recorder::empty()
            .with(|e: &TcpSessionStart| format!("tcp_session_start {}", e.session))
            .with(|e: &TcpMonologue| {
                format!(
                    "tcp_monologue {} from={} bytes={} pkts={} t_start={} t_end={} sha256={}",
                    e.session,
                    e.from,
                    e.data.len(),
                    e.packets,
                    e.t_start,
                    e.t_end,
                    e.data.sha256_hex()
                )
            })
            .with(|e: &TcpSessionEnd| {
                format!("tcp_session_end {} {}", e.session, if e.packet.is_some() { "pkt" } else { "nopkt" })
            })
    }

    /// Also records events of type `E`, formatted by `format`.
    pub fn with<E: Event>(mut self, format: impl Fn(&E) -> String + Send + 'static) -> Recorder {
        let formatter: Formatter = Box::new(move |ev| ev.downcast_ref::<E>().map(&format));
        self.formatters.push((TypeId::of::<E>(), E::NAME, formatter, true));
        self
    }

    /// Also records events of type `E`, subscribed to without the bytes they carry
    /// (`Subscriptions::event_without_bytes`), formatted by `format`.
    pub fn with_lengths_only<E: Event>(mut self, format: impl Fn(&E) -> String + Send + 'static) -> Recorder {
        let formatter: Formatter = Box::new(move |ev| ev.downcast_ref::<E>().map(&format));
        self.formatters.push((TypeId::of::<E>(), E::NAME, formatter, false));
        self
    }

    /// Also records every packet, as `packet <number>`.
    pub fn with_packets(mut self) -> Recorder {
        self.packets = true;
        self
    }

    /// The handle to read the recorded lines.
    pub fn lines(&self) -> Lines {
        Lines(Arc::clone(&self.lines))
    }

    fn push(&self, line: String) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line);
        }
    }
}

impl Listener for Recorder {
    fn subscribe(&self, subs: &mut Subscriptions) {
        if self.packets {
            subs.packets();
        }
        for (type_id, name, _, bytes) in &self.formatters {
            if *bytes {
                subs.event_by_id(*type_id, name);
            } else {
                subs.event_by_id_without_bytes(*type_id, name);
            }
        }
    }

    fn on_packet(&mut self, packet: &Packet<'_>, _ctx: &mut Context<'_>) -> ListenerResult {
        self.push(format!("packet {}", packet.number));
        Ok(())
    }

    fn on_event(&mut self, event: &dyn AnyEvent, _ctx: &mut Context<'_>) -> ListenerResult {
        for (_, _, format, _) in &self.formatters {
            if let Some(line) = format(event) {
                self.push(line);
                break;
            }
        }
        Ok(())
    }
}
