//! Who may flip the kill switch: a request signed with the shared
//! `kill_switch_secret`.
//!
//! `X-Kill-Switch-Signature` = base64(HMAC-SHA256(secret,
//! `<action>\n<timestamp>\n<body>`)), with `X-Kill-Switch-Timestamp` in Unix
//! seconds and the body's exact bytes. A request is refused when a header is
//! missing or malformed, the timestamp is more than [`WINDOW_S`] from now,
//! the signature does not match (compared in constant time), or the same
//! signature was already used inside the window. The caller answers every
//! refusal the same way; only the log says which rule failed.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "x-kill-switch-timestamp";
pub const SIGNATURE_HEADER: &str = "x-kill-switch-signature";
/// How far a request's timestamp may be from now, either way.
pub const WINDOW_S: i64 = 300;
/// The shortest secret accepted: a shorter one is refused outright.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why a request was refused, for the log only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    MissingHeader,
    MalformedTimestamp,
    MalformedSignature,
    StaleTimestamp,
    BadSignature,
    Replayed,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::MissingHeader => "a signature header is missing",
            Refusal::MalformedTimestamp => "the timestamp is not Unix seconds",
            Refusal::MalformedSignature => "the signature is not base64 of 32 bytes",
            Refusal::StaleTimestamp => "the timestamp is outside the 300 s window",
            Refusal::BadSignature => "the signature does not match",
            Refusal::Replayed => "the signature was already used",
        }
    }
}

/// Checks signatures; remembers the ones used inside the window.
pub struct Verifier {
    secret: SecretBox<Vec<u8>>,
    used: Mutex<HashMap<[u8; 32], i64>>,
}

impl Verifier {
    /// `None` when the secret is too short to be trusted.
    pub fn new(secret: &str) -> Option<Self> {
        (secret.len() >= MIN_SECRET_BYTES).then(|| Verifier {
            secret: SecretBox::new(Box::new(secret.as_bytes().to_vec())),
            used: Mutex::new(HashMap::new()),
        })
    }

    /// Verifies one request. `now` is Unix seconds. A request that passes
    /// must still be claimed in the store ([`Verified`]), which remembers
    /// signatures across processes and restarts; this process's own memory
    /// only answers the common case without a round trip.
    pub fn verify(
        &self,
        action: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, Refusal> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(Refusal::MissingHeader);
        };
        if timestamp.is_empty()
            || timestamp.len() > 12
            || !timestamp.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Refusal::MalformedTimestamp);
        }
        let signed_at: i64 = timestamp.parse().map_err(|_| Refusal::MalformedTimestamp)?;
        let signature: [u8; 32] = BASE64
            .decode(signature.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(Refusal::MalformedSignature)?;
        if (now - signed_at).abs() > WINDOW_S {
            return Err(Refusal::StaleTimestamp);
        }
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.secret.expose_secret())
            .expect("HMAC takes a key of any length");
        mac.update(action.as_bytes());
        mac.update(b"\n");
        mac.update(timestamp.as_bytes());
        mac.update(b"\n");
        mac.update(body);
        mac.verify_slice(&signature)
            .map_err(|_| Refusal::BadSignature)?;
        // Only a valid signature is remembered, so junk cannot fill this.
        let mut used = self
            .used
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        used.retain(|_, at| (now - *at).abs() <= WINDOW_S);
        if used.insert(signature, signed_at).is_some() {
            return Err(Refusal::Replayed);
        }
        Ok(Verified {
            signature: hex::encode(signature),
            signed_at,
        })
    }
}

/// A request whose signature checked out, to claim in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signature, hex: the key under which its use is remembered.
    pub signature: String,
    pub signed_at: i64,
}

/// Signs a request as a client must: for the CLI, and the tests.
pub fn sign(secret: &[u8], action: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(format!("{action}\n{timestamp}\n").as_bytes());
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const BODY: &[u8] = br#"{"reason":"Emergency test"}"#;
    const NOW: i64 = 1_764_770_000;

    fn verifier() -> Verifier {
        Verifier::new(SECRET).unwrap()
    }

    fn check(v: &Verifier, action: &str, ts: &str, sig: &str, body: &[u8]) -> Result<(), Refusal> {
        v.verify(action, Some(ts), Some(sig), body, NOW).map(drop)
    }

    #[test]
    fn a_signed_request_passes_once() {
        let v = verifier();
        let sig = sign(SECRET.as_bytes(), "activate", NOW, BODY);
        assert!(check(&v, "activate", &NOW.to_string(), &sig, BODY).is_ok());
        assert_eq!(
            check(&v, "activate", &NOW.to_string(), &sig, BODY),
            Err(Refusal::Replayed)
        );
    }

    #[test]
    fn the_signature_binds_action_timestamp_and_body() {
        let v = verifier();
        let ts = NOW.to_string();
        let sig = sign(SECRET.as_bytes(), "activate", NOW, BODY);
        assert_eq!(
            check(&v, "deactivate", &ts, &sig, BODY),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            check(&v, "activate", &(NOW + 1).to_string(), &sig, BODY),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            check(&v, "activate", &ts, &sig, br#"{"reason":"Emergency tesT"}"#),
            Err(Refusal::BadSignature)
        );
        let other = sign(
            b"another secret, also 32 bytes long!",
            "activate",
            NOW,
            BODY,
        );
        assert_eq!(
            check(&v, "activate", &ts, &other, BODY),
            Err(Refusal::BadSignature)
        );
    }

    #[test]
    fn malformed_missing_and_stale_headers_are_refused() {
        let v = verifier();
        let sig = sign(SECRET.as_bytes(), "activate", NOW, BODY);
        assert_eq!(
            v.verify("activate", None, Some(&sig), BODY, NOW),
            Err(Refusal::MissingHeader)
        );
        assert_eq!(
            v.verify("activate", Some(&NOW.to_string()), None, BODY, NOW),
            Err(Refusal::MissingHeader)
        );
        for ts in ["", "-5", "1e9", "12345678901234", " 1764770000"] {
            assert_eq!(
                check(&v, "activate", ts, &sig, BODY),
                Err(Refusal::MalformedTimestamp),
                "{ts:?}"
            );
        }
        for bad in ["", "not base64!", "AAAA"] {
            assert_eq!(
                check(&v, "activate", &NOW.to_string(), bad, BODY),
                Err(Refusal::MalformedSignature),
                "{bad:?}"
            );
        }
        let old = NOW - WINDOW_S - 1;
        let sig_old = sign(SECRET.as_bytes(), "activate", old, BODY);
        assert_eq!(
            check(&v, "activate", &old.to_string(), &sig_old, BODY),
            Err(Refusal::StaleTimestamp)
        );
        let future = NOW + WINDOW_S + 1;
        let sig_future = sign(SECRET.as_bytes(), "activate", future, BODY);
        assert_eq!(
            check(&v, "activate", &future.to_string(), &sig_future, BODY),
            Err(Refusal::StaleTimestamp)
        );
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert!(Verifier::new(&SECRET[..31]).is_none());
        assert!(Verifier::new("").is_none());
    }
}
