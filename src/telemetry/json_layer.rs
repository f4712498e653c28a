//! The JSON line format: one object per event, span fields lifted to the top level.
//!
//! Implementation notes: the trading loop pays for every log call, so the cost
//! is kept on the side that runs once. A span's fields are JSON-encoded when
//! they are recorded (`on_new_span`, `on_record`) and stored in the span's
//! extensions; an event then only copies those ready-made fragments. Walking
//! the scope from the innermost span outwards and writing a name only the first
//! time it is seen gives the precedence the contract asks for: the event's own
//! field, then the nearest span, then outer spans. The line is built in a
//! fresh buffer and handed to the background writer, which does the I/O.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::timestamp;
use super::writer::LogWriter;

/// Names the line itself owns; a field of the same name is not written again.
const RESERVED: [&str; 4] = ["timestamp", "level", "logger", "message"];

/// A tracing layer writing every event as one JSON line to a [`LogWriter`].
pub struct JsonLayer {
    writer: LogWriter,
}

impl JsonLayer {
    pub fn new(writer: LogWriter) -> Self {
        Self { writer }
    }
}

/// A span's fields, each value already JSON-encoded.
#[derive(Default)]
struct SpanFields {
    entries: Vec<(&'static str, String)>,
}

impl SpanFields {
    fn set(&mut self, name: &'static str, json: String) {
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = json,
            None => self.entries.push((name, json)),
        }
    }
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let mut json = String::with_capacity(value.len() + 2);
        push_json_str(&mut json, value);
        self.set(field.name(), json);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), value.to_string());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), value.to_string());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let mut json = String::new();
        push_json_f64(&mut json, value);
        self.set(field.name(), json);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut json = String::new();
        push_json_debug(&mut json, value);
        self.set(field.name(), json);
    }
}

impl<S> Layer<S> for JsonLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());

        let mut line = String::with_capacity(384);
        line.push_str("{\"timestamp\":\"");
        timestamp::push_now(&mut line);
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push_str("\",\"logger\":");
        push_json_str(&mut line, meta.target());

        let mut visitor = EventFields {
            message: None,
            fields: String::with_capacity(128),
            seen: Vec::with_capacity(8),
        };
        event.record(&mut visitor);
        line.push_str(",\"message\":");
        match &visitor.message {
            Some(message) => line.push_str(message),
            None => line.push_str("\"\""),
        }
        line.push_str(&visitor.fields);

        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<SpanFields>() else {
                    continue;
                };
                for (name, json) in &fields.entries {
                    if visitor.seen.contains(name) || RESERVED.contains(name) {
                        continue;
                    }
                    visitor.seen.push(name);
                    push_key(&mut line, name);
                    line.push_str(json);
                }
            }
        }
        line.push_str("}\n");
        self.writer.write_line(line.into_bytes());
    }
}

/// Collects an event's message and its other fields as a JSON fragment.
struct EventFields {
    message: Option<String>,
    fields: String,
    seen: Vec<&'static str>,
}

impl EventFields {
    /// Starts a field; false when the name is taken or belongs to the bridge
    /// from the `log` crate, whose metadata is already in the line.
    fn begin(&mut self, name: &'static str) -> bool {
        if name.starts_with("log.") || RESERVED.contains(&name) || self.seen.contains(&name) {
            return false;
        }
        self.seen.push(name);
        push_key(&mut self.fields, name);
        true
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let mut json = String::with_capacity(value.len() + 2);
            push_json_str(&mut json, value);
            self.message = Some(json);
        } else if self.begin(field.name()) {
            push_json_str(&mut self.fields, value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.begin(field.name()) {
            let _ = write!(self.fields, "{value}");
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.begin(field.name()) {
            let _ = write!(self.fields, "{value}");
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.begin(field.name()) {
            push_json_f64(&mut self.fields, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.begin(field.name()) {
            self.fields.push_str(if value { "true" } else { "false" });
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // Display, with the cause chain: what an operator needs to act on.
        if self.begin(field.name()) {
            self.fields.push('"');
            let _ = write!(JsonEscaper(&mut self.fields), "{value}");
            let mut source = value.source();
            while let Some(cause) = source {
                let _ = write!(JsonEscaper(&mut self.fields), ": {cause}");
                source = cause.source();
            }
            self.fields.push('"');
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let mut json = String::with_capacity(64);
            push_json_debug(&mut json, value);
            self.message = Some(json);
        } else if self.begin(field.name()) {
            push_json_debug(&mut self.fields, value);
        }
    }
}

fn push_key(out: &mut String, name: &str) {
    out.push(',');
    push_json_str(out, name);
    out.push(':');
}

fn push_json_f64(out: &mut String, value: f64) {
    if value.is_finite() {
        let _ = write!(out, "{value}");
    } else {
        // JSON has no NaN or infinity; a string keeps the information.
        out.push('"');
        let _ = write!(out, "{value}");
        out.push('"');
    }
}

fn push_json_debug(out: &mut String, value: &dyn fmt::Debug) {
    out.push('"');
    let _ = write!(JsonEscaper(out), "{value:?}");
    out.push('"');
}

/// Appends `value` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, value: &str) {
    out.push('"');
    let _ = JsonEscaper(out).write_str(value);
    out.push('"');
}

/// A `fmt::Write` that JSON-escapes what passes through it, so formatted
/// values never need an intermediate string.
struct JsonEscaper<'a>(&'a mut String);

impl fmt::Write for JsonEscaper<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f | 0x7f => "",
                _ => continue,
            };
            self.0.push_str(&s[start..i]);
            if escape.is_empty() {
                let _ = write!(self.0, "\\u{b:04x}");
            } else {
                self.0.push_str(escape);
            }
            start = i + 1;
        }
        self.0.push_str(&s[start..]);
        Ok(())
    }
}

#[cfg(test)]
#[path = "json_layer_tests.rs"]
mod tests;
