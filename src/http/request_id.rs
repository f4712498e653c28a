//! `X-Request-ID`: a valid inbound id is kept, anything else is replaced by a
//! new UUID, so a client can never inject text into the logs. The id is set
//! on every response and carried by the request's span as `request_id`.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::{Instrument, Level, info_span};
use uuid::Uuid;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The longest path an access line repeats; every real route is shorter.
const MAX_LOGGED_PATH: usize = 128;

/// 1 to 64 characters of `[A-Za-z0-9._-]`.
pub fn is_valid_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub async fn tag_request(mut request: Request, next: Next) -> Response {
    let inbound = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok());
    let request_id = match inbound {
        Some(id) if is_valid_request_id(id) => id.to_owned(),
        _ => Uuid::new_v4().to_string(),
    };
    let header = HeaderValue::from_str(&request_id).expect("validated or generated: ASCII");
    request
        .headers_mut()
        .insert(REQUEST_ID_HEADER, header.clone());

    let method = request.method().clone();
    // The path only: a query string may carry what does not belong in logs.
    // Cut short, so junk requests cannot fill the disk through the log.
    let path: String = request.uri().path().chars().take(MAX_LOGGED_PATH).collect();
    let span = info_span!("request", request_id = %request_id);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    response.headers_mut().insert(REQUEST_ID_HEADER, header);

    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        // Health probes every few seconds would drown the trading story.
        if path == "/health" {
            tracing::event!(Level::DEBUG, method = %method, path = %path, status, latency_ms, "HTTP request");
        } else {
            tracing::event!(Level::INFO, method = %method, path = %path, status, latency_ms, "HTTP request");
        }
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(is_valid_request_id("abc-123_X.y"));
        assert!(is_valid_request_id(&"a".repeat(64)));
        assert!(!is_valid_request_id(&"a".repeat(65)));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id("bad\nid"));
        assert!(!is_valid_request_id("quote\"d"));
    }
}
