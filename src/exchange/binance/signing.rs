//! Request signing: the percent-encoded parameter string and its HMAC-SHA256.
//!
//! Owns: turning parameters into the exact bytes that go on the wire, and the
//! signature over those bytes. Binance verifies the signature against what it
//! received, so the string signed and the string sent must be one and the
//! same `String`: callers put [`SignedQuery::as_str`] into the request
//! unchanged and never let the HTTP client encode the parameters again.
//!
//! Must never: log, format or return the secret, or keep a plain copy of it
//! outside the `SecretString`.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Percent-encodes `params` as `application/x-www-form-urlencoded`: letters,
/// digits and `*-._` stay, every other byte of the UTF-8 becomes `%XX`. This
/// is what Binance's own examples sign (`１２３４５６` becomes
/// `%EF%BC%91…`), and it needs no further encoding in a URL or a form body.
pub fn encode_params(params: &[(&str, &str)]) -> String {
    // Serializing a slice of string pairs cannot fail.
    serde_urlencoded::to_string(params).unwrap_or_default()
}

/// The lower-case hex HMAC-SHA256 of `payload` under `secret`.
pub fn signature(secret: &SecretString, payload: &str) -> String {
    // HMAC accepts a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("hmac takes keys of any length");
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Encoded parameters with `signature` appended last, as Binance requires.
pub struct SignedQuery(String);

impl SignedQuery {
    pub fn new(secret: &SecretString, params: &[(&str, &str)]) -> Self {
        let mut text = encode_params(params);
        let signature = signature(secret, &text);
        text.push_str("&signature=");
        text.push_str(&signature);
        Self(text)
    }

    /// The bytes to send, exactly as signed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binance's documented example key (SIGNED endpoint security docs).
    const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn doc_order(symbol: &'static str) -> Vec<(&'static str, &'static str)> {
        vec![
            ("symbol", symbol),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "0.1"),
            ("recvWindow", "5000"),
            ("timestamp", "1499827319559"),
        ]
    }

    #[test]
    fn the_documented_ascii_vector_signs_as_binance_says() {
        let secret = SecretString::from(DOC_SECRET);
        let payload = encode_params(&doc_order("LTCBTC"));
        assert_eq!(
            payload,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
        );
        assert_eq!(
            signature(&secret, &payload),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    #[test]
    fn the_documented_non_ascii_vector_is_signed_over_its_percent_encoded_bytes() {
        let secret = SecretString::from(DOC_SECRET);
        let payload = encode_params(&doc_order("１２３４５６"));
        assert!(
            payload.starts_with("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&"),
            "{payload}"
        );
        assert_eq!(
            signature(&secret, &payload),
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
        );
    }

    #[test]
    fn the_signature_comes_last_over_exactly_the_bytes_before_it() {
        let secret = SecretString::from(DOC_SECRET);
        let signed = SignedQuery::new(&secret, &doc_order("LTCBTC"));
        let (payload, sig) = signed.as_str().rsplit_once("&signature=").unwrap();
        assert_eq!(sig, signature(&secret, payload));
        assert!(!signed.as_str().contains(DOC_SECRET));
    }
}
