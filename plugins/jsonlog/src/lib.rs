//! JsonLog: one flat JSON object per line for every event that has a JSON form.
//!
//! # Listens for
//! Every event type registered with `netanalysis_core::json_event!` in the binary:
//! the TCP events, the HTTP events, the example plugins' events and `run_summary`.
//! Per-packet events (`tcp_packet`) only with `packets=1`.
//!
//! # Emits
//! Nothing; it writes JSON Lines: `{"event":"tcp_monologue","ts":"1096989582.739386",...}`.
//! `event` is the wire name, `ts` the capture time of the packet that caused the event
//! (for an event without a packet, the last capture time seen), as a decimal string with
//! the capture's precision; the other fields are the event's own, documented per event.
//!
//! # Configuration
//! - `out`: where to write (`-`, the default, is standard output);
//! - `packets`: include per-packet events;
//! - `digest`: add the sha256 of bulk data (a monologue's bytes).
//!
//! The log subscribes to an event without the captured bytes it carries when its JSON
//! form writes only their lengths (`JsonEvent::reads_bytes`: every TCP and HTTP event
//! unless `digest` is on), so that TCP and HTTP need not keep them.
//!
//! # Example
//! `netanalysis --json HTTP capture.pcap | jq 'select(.event=="http_transaction")'`
//! (`--json` is short for naming `JsonLog`).
#![forbid(unsafe_code)]

use std::any::TypeId;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use netanalysis_core::{
    inventory, AnyEvent, Config, ConfigError, Context, Flow, JsonObject, JsonOptions, JsonSchema, Listener,
    ListenerResult, OptionKind, OptionSpec, Plugin, Position, RunSummary, Subscriptions,
};

/// Where a log's lines go. Lines are buffered by each log and written in whole-line
/// chunks under the destination's lock, so logs of several shards (`--threads`) can share
/// one destination without ever interleaving inside a line.
#[derive(Clone)]
enum Output {
    Stdout,
    Shared(SharedWriter),
}

type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;
type OpenFiles = Mutex<HashMap<PathBuf, Weak<Mutex<Box<dyn Write + Send>>>>>;

/// Files opened by logs, by path: the shards of one run share one handle (and the file
/// is truncated once); a later run opens it afresh.
fn shared_file(path: &str) -> io::Result<SharedWriter> {
    static OPEN: OnceLock<OpenFiles> = OnceLock::new();
    let key = PathBuf::from(path);
    let mut open = OPEN.get_or_init(Default::default).lock().map_err(|_| io::Error::other("log registry poisoned"))?;
    if let Some(existing) = open.get(&key).and_then(Weak::upgrade) {
        return Ok(existing);
    }
    let file: Box<dyn Write + Send> = Box::new(File::create(&key)?);
    let shared = Arc::new(Mutex::new(file));
    open.insert(key, Arc::downgrade(&shared));
    Ok(shared)
}

/// Bytes buffered before a log writes them out.
const FLUSH_AT: usize = 1 << 16;

/// The JSON Lines writer.
pub struct JsonLog {
    out: Output,
    buf: Vec<u8>,
    schemas: Vec<(TypeId, JsonSchema)>,
    options: JsonOptions,
    line: String,
    lines: u64,
}

impl std::fmt::Debug for JsonLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLog").field("types", &self.schemas.len()).field("lines", &self.lines).finish()
    }
}

impl JsonLog {
    /// A log writing to `out`: every registered event type, per-packet ones only when
    /// `packets` is set.
    pub fn new(out: Box<dyn Write + Send>, packets: bool, options: JsonOptions) -> JsonLog {
        JsonLog::with_schemas(out, JsonSchema::registered(), packets, options)
    }

    /// A log of exactly these schemas (tests use this to log their own event types).
    pub fn with_schemas(
        out: Box<dyn Write + Send>,
        schemas: Vec<JsonSchema>,
        packets: bool,
        options: JsonOptions,
    ) -> JsonLog {
        JsonLog::with_output(Output::Shared(Arc::new(Mutex::new(out))), schemas, packets, options)
    }

    fn with_output(out: Output, schemas: Vec<JsonSchema>, packets: bool, options: JsonOptions) -> JsonLog {
        let schemas = schemas.into_iter().filter(|s| packets || !s.per_packet).map(|s| ((s.type_id)(), s)).collect();
        JsonLog {
            out,
            buf: Vec::with_capacity(FLUSH_AT * 2),
            schemas,
            options,
            line: String::with_capacity(512),
            lines: 0,
        }
    }

    /// Writes the buffered lines out, under the destination's lock.
    fn write_out(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = match &self.out {
            Output::Stdout => {
                let mut stdout = io::stdout().lock();
                stdout.write_all(&self.buf).and_then(|()| stdout.flush())
            }
            Output::Shared(shared) => match shared.lock() {
                Ok(mut out) => out.write_all(&self.buf).and_then(|()| out.flush()),
                Err(_) => Err(io::Error::other("log output poisoned by a panic")),
            },
        };
        self.buf.clear();
        result
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    fn build(cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
        let out = match cfg.text("out")? {
            None | Some("-") => Output::Stdout,
            Some(path) => {
                Output::Shared(shared_file(path).map_err(|e| cfg.invalid(format!("cannot create {path}: {e}")))?)
            }
        };
        let options = JsonOptions { digest: cfg.bool("digest")? };
        Ok(Box::new(JsonLog::with_output(out, JsonSchema::registered(), cfg.bool("packets")?, options)))
    }
}

impl Listener for JsonLog {
    fn subscribe(&self, subs: &mut Subscriptions) {
        // The bytes events carry are read only by writers that print them (digests).
        for (type_id, schema) in &self.schemas {
            if (schema.reads_bytes)(self.options) {
                subs.event_by_id(*type_id, schema.name);
            } else {
                subs.event_by_id_without_bytes(*type_id, schema.name);
            }
        }
    }

    fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        let type_id = event.as_any().type_id();
        let Some((_, schema)) = self.schemas.iter().find(|(t, _)| *t == type_id) else {
            return Ok(());
        };
        self.line.clear();
        let mut object = JsonObject::begin(&mut self.line, self.options);
        object.str("event", schema.name).time("ts", ctx.now());
        (schema.write)(event, &mut object);
        object.end();
        self.line.push('\n');
        self.buf.extend_from_slice(self.line.as_bytes());
        self.lines += 1;
        if self.buf.len() >= FLUSH_AT || event.is::<RunSummary>() {
            self.write_out()?;
        }
        Ok(())
    }

    fn on_teardown(&mut self, _ctx: &mut Context<'_>) -> ListenerResult<Flow> {
        self.write_out()?;
        Ok(Flow::Done)
    }

    fn on_finish(&mut self, _ctx: &mut Context<'_>) -> ListenerResult {
        self.write_out()?;
        Ok(())
    }
}

impl Drop for JsonLog {
    fn drop(&mut self) {
        // Best effort: errors were reported by the last write, teardown or finish.
        let _ = self.write_out();
    }
}

inventory::submit! {
    Plugin {
        name: "JsonLog",
        summary: "writes every event as one flat JSON object per line (--json)",
        position: Some(Position::Last),
        options: &[
            OptionSpec { name: "out", kind: OptionKind::Path, default: Some("-"), help: "output file; - is standard output" },
            OptionSpec { name: "packets", kind: OptionKind::Bool, default: Some("0"), help: "also log per-packet events (tcp_packet)" },
            OptionSpec { name: "digest", kind: OptionKind::Bool, default: Some("0"), help: "add the sha256 of each monologue's data" },
        ],
        build: JsonLog::build,
        ..Plugin::DEFAULT
    }
}
