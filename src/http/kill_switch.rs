//! `GET /api/v1/safety/kill-switch` and the two signed `POST`s that flip it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tracing::{error, warn};

use super::{AppState, REQUEST_ID_HEADER, error_response};
use crate::kill_switch::Flip;
use crate::kill_switch::auth::{Refusal, SIGNATURE_HEADER, TIMESTAMP_HEADER, WINDOW_S};
use crate::store::KillSwitchSource;
use crate::telemetry::error_chain;

/// The one answer to every request that fails authentication, whatever the
/// reason: the log says which rule failed, the client learns nothing.
const NOT_AUTHENTICATED: &str = "kill switch request not authenticated";
const MAX_REASON_CHARS: usize = 500;

pub async fn state(State(state): State<AppState>) -> Response {
    let mut view = json!(state.kill_switch.view().await);
    view["configured"] = json!(state.verifier.is_some());
    Json(view).into_response()
}

pub async fn activate(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    flip(state, "activate", &headers, &body).await
}

pub async fn deactivate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    flip(state, "deactivate", &headers, &body).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlipRequest {
    reason: String,
}

async fn flip(state: AppState, action: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let request_id = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(verifier) = &state.verifier else {
        error!(
            action,
            "Kill-switch request refused: no valid kill_switch_secret is configured"
        );
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "the kill switch is not configured: set a kill_switch_secret of at least 32 bytes",
        );
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    let verified = match verifier.verify(
        action,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        body,
        now,
    ) {
        Ok(verified) => verified,
        Err(refusal) => {
            warn!(
                action,
                refused_because = refusal.as_str(),
                "Kill-switch request refused"
            );
            return error_response(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED);
        }
    };
    // Every process on this database shares the memory of used signatures,
    // so a captured request cannot be replayed to the dashboard, or to a
    // restarted daemon.
    let forget_before = now - WINDOW_S - 1;
    match state
        .store
        .claim_signature(&verified.signature, verified.signed_at, forget_before)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            warn!(
                action,
                refused_because = Refusal::Replayed.as_str(),
                "Kill-switch request refused"
            );
            return error_response(StatusCode::UNAUTHORIZED, NOT_AUTHENTICATED);
        }
        // Halting is the safe side: an activation goes ahead unchecked.
        Err(err) if action == "activate" => warn!(
            error = %error_chain(&err),
            "Kill-switch signature not checked against other processes: the database did not answer; activating anyway"
        ),
        Err(err) => {
            error!(action, error = %error_chain(&err), "Kill-switch change refused: cannot check the signature was not used before");
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "not deactivated: the database cannot confirm this request is not a replay",
            );
        }
    }
    // Authenticated: now the body may be looked at.
    let reason = match serde_json::from_slice::<FlipRequest>(body) {
        Ok(request) if !request.reason.trim().is_empty() => request.reason,
        _ => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "the body must be {\"reason\":\"…\"} with a non-empty reason",
            );
        }
    };
    if reason.chars().count() > MAX_REASON_CHARS {
        return error_response(
            StatusCode::BAD_REQUEST,
            "the reason is longer than 500 characters",
        );
    }
    // A NUL cannot be stored in PostgreSQL text: the event would never be
    // recorded. Other control characters have no place in a reason either.
    if reason.chars().any(char::is_control) {
        return error_response(
            StatusCode::BAD_REQUEST,
            "the reason must not contain control characters",
        );
    }
    // In a task of its own: a client that hangs up must not cancel a flip
    // half-way (halted here, but never recorded or logged).
    let kill_switch = state.kill_switch.clone();
    let activate = action == "activate";
    let flipping = tokio::spawn(async move {
        let source = KillSwitchSource::Http;
        let request_id = request_id.as_deref();
        if activate {
            kill_switch.activate(&reason, source, request_id).await
        } else {
            kill_switch.deactivate(&reason, source, request_id).await
        }
    });
    let Ok(flipped) = flipping.await else {
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the kill switch change failed",
        );
    };
    match flipped {
        Flip::Done { changed, view } => {
            let mut body = json!(view);
            body["changed"] = json!(changed);
            body["configured"] = json!(true);
            if !view.durable {
                body["warning"] = json!(
                    "trading is halted, but the event could not be recorded: a restart now would resume trading"
                );
            }
            Json(body).into_response()
        }
        Flip::NotRecorded { view, error } => {
            error!(action, error = %error, "Kill-switch change refused: it could not be recorded");
            let mut body = json!(view);
            body["error"] = json!(format!(
                "not {action}d: the event could not be recorded in the database"
            ));
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}
