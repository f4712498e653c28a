//! The JSON line format: one object per event, span fields lifted to the top level.
//!
//! Implementation notes: the trading loop pays for every log call, so the cost
//! is kept on the side that runs once. A span's fields are JSON-encoded when
//! they are recorded (`on_new_span`, `on_record`) and stored in the span's
//! extensions as finished `,"name":value` fragments; an event then only
//! copies them. Walking
//! the scope from the innermost span outwards and writing a name only the first
//! time it is seen gives the precedence the contract asks for: the event's own
//! field, then the nearest span, then outer spans. The line is built in a
//! buffer recycled from the background writer, which does the I/O; names
//! already written are tracked on the stack, so a line costs no allocation.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::json_encode::{push_debug, push_error, push_f64, push_key, push_str};
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

/// A span's fields, each stored as its finished `,"name":value` fragment.
#[derive(Default)]
struct SpanFields {
    entries: Vec<(&'static str, String)>,
}

impl SpanFields {
    /// Records a field: `write` appends the JSON value after the key. A
    /// reserved name could never be written, so it is not kept.
    fn set(&mut self, name: &'static str, write: impl FnOnce(&mut String)) {
        if RESERVED.contains(&name) {
            return;
        }
        let mut fragment = String::with_capacity(name.len() + 24);
        push_key(&mut fragment, name);
        write(&mut fragment);
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = fragment,
            None => self.entries.push((name, fragment)),
        }
    }
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), |out| push_str(out, value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), |out| {
            let _ = write!(out, "{value}");
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), |out| {
            let _ = write!(out, "{value}");
        });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field.name(), |out| push_f64(out, value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), |out| {
            out.push_str(if value { "true" } else { "false" })
        });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field.name(), |out| push_error(out, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), |out| push_debug(out, value));
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

        // The buffer comes back empty from the writer; an empty vector is
        // valid UTF-8, so the check costs nothing.
        let mut line = String::from_utf8(self.writer.buffer()).unwrap_or_default();
        line.push_str("{\"timestamp\":\"");
        timestamp::push_now(&mut line);
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push_str("\",\"logger\":");
        push_str(&mut line, meta.target());

        let mut visitor = EventFields {
            line: &mut line,
            has_message: false,
            seen: SeenNames::new(),
        };
        event.record(&mut visitor);
        if !visitor.has_message {
            visitor.line.push_str(",\"message\":\"\"");
        }
        let mut seen = visitor.seen;

        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<SpanFields>() else {
                    continue;
                };
                for (name, fragment) in &fields.entries {
                    if seen.insert(name) {
                        line.push_str(fragment);
                    }
                }
            }
        }
        line.push_str("}\n");
        self.writer.write_line(line.into_bytes());
    }
}

/// Field names already written to a line, so each appears once. Lines rarely
/// carry more than a dozen fields: they live on the stack.
struct SeenNames {
    inline: [&'static str; 24],
    len: usize,
    overflow: Vec<&'static str>,
}

impl SeenNames {
    fn new() -> Self {
        Self {
            inline: [""; 24],
            len: 0,
            overflow: Vec::new(),
        }
    }

    /// True when `name` was not seen before and may be written now.
    fn insert(&mut self, name: &'static str) -> bool {
        if self.inline[..self.len].contains(&name) || self.overflow.contains(&name) {
            return false;
        }
        if self.len < self.inline.len() {
            self.inline[self.len] = name;
            self.len += 1;
        } else {
            self.overflow.push(name);
        }
        true
    }
}

/// Writes an event's message and fields straight into the line. The message
/// comes first in tracing's macros, so it lands right after the header.
struct EventFields<'a> {
    line: &'a mut String,
    has_message: bool,
    seen: SeenNames,
}

impl EventFields<'_> {
    /// Starts a field; false when the name is taken or belongs to the bridge
    /// from the `log` crate, whose metadata is already in the line.
    fn begin(&mut self, name: &'static str) -> bool {
        if name.starts_with("log.") || RESERVED.contains(&name) || !self.seen.insert(name) {
            return false;
        }
        push_key(self.line, name);
        true
    }

    fn begin_message(&mut self) -> bool {
        if self.has_message {
            return false;
        }
        self.has_message = true;
        self.line.push_str(",\"message\":");
        true
    }
}

impl Visit for EventFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            if self.begin_message() {
                push_str(self.line, value);
            }
        } else if self.begin(field.name()) {
            push_str(self.line, value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.begin(field.name()) {
            let _ = write!(self.line, "{value}");
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.begin(field.name()) {
            let _ = write!(self.line, "{value}");
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.begin(field.name()) {
            push_f64(self.line, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.begin(field.name()) {
            self.line.push_str(if value { "true" } else { "false" });
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // Display, with the cause chain: what an operator needs to act on.
        if self.begin(field.name()) {
            push_error(self.line, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            if self.begin_message() {
                push_debug(self.line, value);
            }
        } else if self.begin(field.name()) {
            push_debug(self.line, value);
        }
    }
}

#[cfg(test)]
#[path = "json_layer_tests.rs"]
mod tests;
