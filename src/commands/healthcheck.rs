//! `tradebot healthcheck`: asks the running daemon's `/health` over loopback.
//! The container's HEALTHCHECK runs it, so the image needs no curl.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use serde_json::json;

use crate::telemetry::error_chain;

/// Where to ask: the configured bind address, with a wildcard host replaced
/// by loopback (a server bound to 0.0.0.0 answers there too).
pub fn health_url(bind: SocketAddr) -> String {
    format!("{}/health", base_url(bind))
}

/// `http://host:port` of a server bound to `bind`, reachable from here.
pub fn base_url(bind: SocketAddr) -> String {
    let host = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(host, bind.port()))
}

/// Prints one JSON line; true when the daemon answered 200.
pub async fn check(url: &str, timeout: Duration) -> bool {
    let result = async {
        // No redirects: a health check that can be sent elsewhere proves
        // nothing about this daemon.
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let reply = client.get(url).send().await?.error_for_status()?;
        Ok::<_, reqwest::Error>((reply.status(), reply.json::<serde_json::Value>().await))
    }
    .await;
    match result {
        Ok((status, body))
            if !status.is_success() || !matches!(&body, Ok(b) if b["status"] == "ok") =>
        {
            super::print_line(json!({
                "status": "unhealthy",
                "url": url,
                "error": format!("HTTP {status} without the daemon's {{\"status\":\"ok\"}} reply"),
            }));
            false
        }
        Ok(_) => {
            super::print_line(json!({ "status": "healthy", "url": url }));
            true
        }
        Err(err) => {
            let error = error_chain(&err.without_url());
            super::print_line(json!({ "status": "unhealthy", "url": url, "error": error }));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_bind_is_asked_on_loopback() {
        assert_eq!(
            health_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080/health"
        );
        assert_eq!(
            health_url("[::]:9000".parse().unwrap()),
            "http://[::1]:9000/health"
        );
        assert_eq!(
            health_url("127.0.0.1:8080".parse().unwrap()),
            "http://127.0.0.1:8080/health"
        );
    }
}
