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
//! # Example
//! `netanalysis --json HTTP capture.pcap | jq 'select(.event=="http_transaction")'`
//! (`--json` is short for naming `JsonLog`).
#![forbid(unsafe_code)]

use std::any::TypeId;
use std::fs::File;
use std::io::{self, BufWriter, Write};

use netanalysis_core::{
    inventory, AnyEvent, Config, ConfigError, Context, Flow, JsonObject, JsonOptions, JsonSchema, Listener,
    ListenerResult, OptionKind, OptionSpec, Plugin, Position, RunSummary, Subscriptions,
};

/// The JSON Lines writer.
pub struct JsonLog {
    out: Box<dyn Write + Send>,
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
        let schemas = schemas.into_iter().filter(|s| packets || !s.per_packet).map(|s| ((s.type_id)(), s)).collect();
        JsonLog { out, schemas, options, line: String::with_capacity(512), lines: 0 }
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    fn build(cfg: &Config) -> Result<Box<dyn Listener>, ConfigError> {
        let out: Box<dyn Write + Send> = match cfg.text("out")? {
            None | Some("-") => Box::new(io::stdout()),
            Some(path) => {
                let file = File::create(path).map_err(|e| cfg.invalid(format!("cannot create {path}: {e}")))?;
                Box::new(file)
            }
        };
        let options = JsonOptions { digest: cfg.bool("digest")? };
        Ok(Box::new(JsonLog::new(Box::new(BufWriter::with_capacity(1 << 16, out)), cfg.bool("packets")?, options)))
    }
}

impl Listener for JsonLog {
    fn subscribe(&self, subs: &mut Subscriptions) {
        for (type_id, schema) in &self.schemas {
            subs.event_by_id(*type_id, schema.name);
        }
    }

    fn on_event(&mut self, event: &dyn AnyEvent, ctx: &mut Context<'_>) -> ListenerResult {
        let type_id = event.as_any().type_id();
        let Some((_, schema)) = self.schemas.iter().find(|(t, _)| *t == type_id) else {
            return Ok(());
        };
        self.line.clear();
        let mut object = JsonObject::begin(&mut self.line, self.options);
        object.str("event", schema.name).display("ts", ctx.now());
        (schema.write)(event, &mut object);
        object.end();
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())?;
        self.lines += 1;
        if event.is::<RunSummary>() {
            self.out.flush()?;
        }
        Ok(())
    }

    fn on_teardown(&mut self, _ctx: &mut Context<'_>) -> ListenerResult<Flow> {
        self.out.flush()?;
        Ok(Flow::Done)
    }
}

impl Drop for JsonLog {
    fn drop(&mut self) {
        // Best effort: errors were reported by the last write or teardown.
        let _ = self.out.flush();
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
