//! The JSON log's mechanism: how an event opts in and writes its flat object.
//!
//! An event joins the JSON log explicitly: implement [`JsonEvent`] (which writes the
//! event's own fields, the contract documented per event) and register the type with
//! [`json_event!`](crate::json_event). The log writes `"event"` and `"ts"` itself.

use std::any::TypeId;
use std::fmt::{self, Write as _};

use crate::event::{AnyEvent, Event};

/// An event that has a flat JSON form.
pub trait JsonEvent: Event {
    /// Per-packet events stay out of the log unless it is asked for packets.
    const PER_PACKET: bool = false;

    /// Writes the event's own fields (not `event` or `ts`).
    fn write_json(&self, out: &mut JsonObject<'_>);
}

/// Options the JSON log passes to every writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOptions {
    /// Add digests of bulk data (a monologue's sha256) where an event offers them.
    pub digest: bool,
}

/// A flat JSON object being written: one `"key":value` per call, in call order.
#[derive(Debug)]
pub struct JsonObject<'a> {
    buf: &'a mut String,
    first: bool,
    options: JsonOptions,
}

impl<'a> JsonObject<'a> {
    /// Starts an object in `buf` (writes the opening brace).
    pub fn begin(buf: &'a mut String, options: JsonOptions) -> JsonObject<'a> {
        buf.push('{');
        JsonObject { buf, first: true, options }
    }

    /// Closes the object.
    pub fn end(self) {
        self.buf.push('}');
    }

    /// The log's options.
    pub fn options(&self) -> JsonOptions {
        self.options
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.buf.push(',');
        }
        self.first = false;
        write_json_string(self.buf, key);
        self.buf.push(':');
    }

    /// A string field.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        write_json_string(self.buf, value);
        self
    }

    /// A string field from anything that displays (endpoints, timestamps).
    pub fn display(&mut self, key: &str, value: impl fmt::Display) -> &mut Self {
        self.key(key);
        let start = self.buf.len();
        let _ = write!(self.buf, "{value}");
        // Escape in place only if needed (rare: displays are usually plain ASCII).
        let needs_escape = self.buf[start..].chars().any(|c| c == '"' || c == '\\' || c.is_control());
        if needs_escape {
            let text = self.buf.split_off(start);
            write_json_string(self.buf, &text);
        } else {
            self.buf.insert(start, '"');
            self.buf.push('"');
        }
        self
    }

    /// An unsigned integer field.
    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        let _ = write!(self.buf, "{value}");
        self
    }

    /// A float field (`null` when not finite).
    pub fn f64(&mut self, key: &str, value: f64) -> &mut Self {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.buf, "{value}");
        } else {
            self.buf.push_str("null");
        }
        self
    }

    /// A boolean field.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    /// A null field.
    pub fn null(&mut self, key: &str) -> &mut Self {
        self.key(key);
        self.buf.push_str("null");
        self
    }

    /// An optional unsigned field (`null` when absent).
    pub fn opt_u64(&mut self, key: &str, value: Option<u64>) -> &mut Self {
        match value {
            Some(v) => self.u64(key, v),
            None => self.null(key),
        }
    }

    /// An optional string field (`null` when absent).
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_json_string(buf: &mut String, s: &str) {
    buf.push('"');
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(buf, "\\u{:04x}", c as u32);
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

/// A registered JSON form: what the JSON log needs to subscribe to and write one type.
#[derive(Clone, Copy)]
pub struct JsonSchema {
    /// The event's wire name.
    pub name: &'static str,
    /// Whether it is a per-packet event (logged only when asked).
    pub per_packet: bool,
    /// The event type's id.
    pub type_id: fn() -> TypeId,
    /// Writes the event's fields; false if the event is not of this type.
    pub write: fn(&dyn AnyEvent, &mut JsonObject<'_>) -> bool,
}

impl fmt::Debug for JsonSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonSchema").field("name", &self.name).field("per_packet", &self.per_packet).finish()
    }
}

fn write_erased<E: JsonEvent>(event: &dyn AnyEvent, out: &mut JsonObject<'_>) -> bool {
    match event.downcast_ref::<E>() {
        Some(event) => {
            event.write_json(out);
            true
        }
        None => false,
    }
}

impl JsonSchema {
    /// The schema of `E`.
    pub const fn of<E: JsonEvent>() -> JsonSchema {
        JsonSchema { name: E::NAME, per_packet: E::PER_PACKET, type_id: TypeId::of::<E>, write: write_erased::<E> }
    }

    /// Every schema registered with [`json_event!`](crate::json_event) in this binary.
    pub fn registered() -> Vec<JsonSchema> {
        let mut all: Vec<JsonSchema> = inventory::iter::<JsonSchema>.into_iter().copied().collect();
        all.sort_by_key(|s| s.name);
        all.dedup_by_key(|s| (s.type_id)());
        all
    }
}

inventory::collect!(JsonSchema);

/// Registers an event type's JSON form with the JSON log:
/// `netanalysis_core::json_event!(TcpMonologue);`
#[macro_export]
macro_rules! json_event {
    ($ty:ty) => {
        $crate::inventory::submit! { $crate::JsonSchema::of::<$ty>() }
    };
}

impl JsonEvent for crate::event::RunSummary {
    fn write_json(&self, out: &mut JsonObject<'_>) {
        for (key, value) in self.summary.iter() {
            match value {
                crate::summary::SummaryValue::Count(c) => out.u64(key, c),
                crate::summary::SummaryValue::Float(f) => out.f64(key, f),
            };
        }
    }
}

crate::json_event!(crate::event::RunSummary);
