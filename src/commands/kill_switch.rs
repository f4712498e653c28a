//! `tradebot kill-switch activate|deactivate|status`: the kill switch from
//! the command line, signed with the `kill_switch_secret` the secrets
//! manager finds, exactly as the API expects (see `kill_switch::auth`).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::kill_switch::auth::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::telemetry::error_chain;

const PATH: &str = "/api/v1/safety/kill-switch";

/// What the server answered: its status and JSON body.
pub struct Answer {
    pub ok: bool,
    pub body: Value,
}

fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// Signs and sends `action` (`activate` or `deactivate`) with `reason`.
pub async fn flip(base_url: &str, action: &str, reason: &str, secret: &SecretString) -> Answer {
    let body = json!({ "reason": reason }).to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let signature = sign(
        secret.expose_secret().as_bytes(),
        action,
        timestamp,
        body.as_bytes(),
    );
    let url = format!("{}{PATH}/{action}", base_url.trim_end_matches('/'));
    let sent = async {
        client()?
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
    };
    answer(&url, sent.await).await
}

pub async fn status(base_url: &str) -> Answer {
    let url = format!("{}{PATH}", base_url.trim_end_matches('/'));
    let sent = async { client()?.get(&url).send().await };
    answer(&url, sent.await).await
}

async fn answer(url: &str, sent: reqwest::Result<reqwest::Response>) -> Answer {
    match sent {
        Ok(reply) => {
            let ok = reply.status().is_success();
            let status = reply.status().as_u16();
            let mut body = reply.json::<Value>().await.unwrap_or(Value::Null);
            if !body.is_object() {
                body = json!({ "error": "the reply was not JSON" });
            }
            body["http_status"] = json!(status);
            body["url"] = json!(url);
            Answer { ok, body }
        }
        Err(err) => Answer {
            ok: false,
            body: json!({ "url": url, "error": error_chain(&err.without_url()) }),
        },
    }
}
