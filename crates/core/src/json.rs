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

    /// Whether [`write_json`](JsonEvent::write_json), with these options, reads the
    /// captured bytes the event carries (a monologue's data, a message's body) rather
    /// than only their lengths. The JSON log subscribes to an event that does not
    /// without its bytes ([`Subscriptions::event_without_bytes`]), so that the emitter
    /// may leave them out. True unless an event says otherwise.
    ///
    /// [`Subscriptions::event_without_bytes`]: crate::Subscriptions::event_without_bytes
    fn reads_bytes(options: JsonOptions) -> bool {
        let _ = options;
        true
    }
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
        self.buf.push('"');
        let start = self.buf.len();
        let _ = write!(self.buf, "{value}");
        // Escaped only if needed (rare: displays are usually plain ASCII).
        if self.buf.as_bytes().get(start..).and_then(first_escape).is_some() {
            let text = self.buf.split_off(start);
            self.buf.pop();
            write_json_string(self.buf, &text);
        } else {
            self.buf.push('"');
        }
        self
    }

    /// Writes a capture time as a decimal string (`"1096989582.687684"`), as
    /// [`display`](JsonObject::display) would, without the formatting machinery.
    pub fn time(&mut self, key: &str, value: crate::Timestamp) -> &mut Self {
        self.quoted(key, value.decimal_text().as_str())
    }

    /// Writes a span of capture time as a decimal string (`"0.051702"`).
    pub fn elapsed(&mut self, key: &str, value: crate::Elapsed) -> &mut Self {
        self.quoted(key, value.decimal_text().as_str())
    }

    /// Writes an endpoint as a string (`"10.0.0.1:80"`, `"[::1]:80"`).
    pub fn endpoint(&mut self, key: &str, value: crate::Endpoint) -> &mut Self {
        match value.v4_text() {
            Some(text) => self.quoted(key, text.as_str()),
            None => self.display(key, value),
        }
    }

    /// A value known to need no escape (digits, points, colons).
    fn quoted(&mut self, key: &str, plain: &str) -> &mut Self {
        self.key(key);
        self.buf.push('"');
        self.buf.push_str(plain);
        self.buf.push('"');
        self
    }

    /// An unsigned integer field.
    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key);
        self.buf.push_str(itoa::Buffer::new().format(value));
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
    // Runs of bytes that need no escape are copied whole; every byte that does is ASCII,
    // so the runs end on character boundaries.
    let bytes = s.as_bytes();
    let mut run = 0;
    while let Some(at) = bytes.get(run..).and_then(first_escape).map(|i| run + i) {
        buf.push_str(s.get(run..at).unwrap_or(""));
        run = at + 1;
        match bytes[at] {
            b'"' => buf.push_str("\\\""),
            b'\\' => buf.push_str("\\\\"),
            b'\n' => buf.push_str("\\n"),
            b'\r' => buf.push_str("\\r"),
            b'\t' => buf.push_str("\\t"),
            other => {
                let _ = write!(buf, "\\u{:04x}", other);
            }
        }
    }
    buf.push_str(s.get(run..).unwrap_or(""));
    buf.push('"');
}

/// Whether a byte of a UTF-8 string must be escaped in a JSON string: the quote, the
/// backslash and the ASCII control characters (DEL included, as the log always did).
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\' || byte == 0x7f
}

/// The position of the first byte that [`needs_escape`], looking at eight bytes at a
/// time: most strings (ids, URIs, header values) need none.
fn first_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A high bit for some byte below `n` (n <= 128), or equal to zero; exact as to
    // whether there is one.
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGHS;
    let zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let hits = below(word, 0x20)
            | zero(word ^ (ONES * u64::from(b'"')))
            | zero(word ^ (ONES * u64::from(b'\\')))
            | zero(word ^ (ONES * 0x7f));
        if hits != 0 {
            if let Some(i) = chunk.iter().position(|&b| needs_escape(b)) {
                return Some(at + i);
            }
        }
        at += 8;
    }
    chunks.remainder().iter().position(|&b| needs_escape(b)).map(|i| at + i)
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
    /// Whether writing reads the captured bytes the event carries, with these options
    /// ([`JsonEvent::reads_bytes`]).
    pub reads_bytes: fn(JsonOptions) -> bool,
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
        JsonSchema {
            name: E::NAME,
            per_packet: E::PER_PACKET,
            type_id: TypeId::of::<E>,
            write: write_erased::<E>,
            reads_bytes: E::reads_bytes,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The escaping the log has always done, one character at a time.
    fn reference(s: &str) -> String {
        let mut out = String::from('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn strings_escape_like_the_reference_wherever_the_special_character_sits() {
        let specials = ['"', '\\', '\n', '\r', '\t', '\u{0}', '\u{1f}', '\u{7f}', ' ', '~', '\u{80}', 'é', '€', '😀'];
        for special in specials {
            for len in 0..20 {
                for at in 0..=len {
                    let mut text: String = "abcdefghijklmnopqrstuvwxyz".chars().take(len).collect();
                    text.insert(at, special);
                    let mut out = String::new();
                    write_json_string(&mut out, &text);
                    assert_eq!(out, reference(&text), "{text:?}");
                }
            }
        }
        for byte in 0u8..0x80 {
            let text = format!("0123456789{}0123456789{}", byte as char, byte as char);
            let mut out = String::new();
            write_json_string(&mut out, &text);
            assert_eq!(out, reference(&text), "byte {byte:#x}");
        }
    }

    #[test]
    fn typed_fields_write_what_display_would() {
        let mut buf = String::new();
        let mut object = JsonObject::begin(&mut buf, JsonOptions::default());
        let ts = crate::Timestamp::from_micros(1_096_989_582, 687_684);
        let later = crate::Timestamp::from_micros(1_096_989_582, 739_386);
        let v4 = crate::Endpoint::new([10, 0, 0, 1].into(), 80);
        let v6 = crate::Endpoint::new("2001:db8::1".parse::<std::net::IpAddr>().unwrap(), 443);
        object.time("ts", ts).elapsed("e", later.since(ts)).endpoint("a", v4).endpoint("b", v6).u64("n", u64::MAX);
        object.end();
        assert_eq!(
            buf,
            r#"{"ts":"1096989582.687684","e":"0.051702","a":"10.0.0.1:80","b":"[2001:db8::1]:443","n":18446744073709551615}"#
        );
    }
}
