//! The router driven in-process: request ids on every status, the kill
//! switch's authentication, metrics and the access line.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::kill_switch::auth::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use crate::kill_switch::{KillSwitch, Role};
use crate::store::tests::TestStore;
use crate::telemetry::capture::capture_lines;

const SECRET: &str = "kill-switch-secret-for-tests-0123456789";

struct Harness {
    t: TestStore,
    app: Router,
    kill_switch: Arc<KillSwitch>,
}

async fn harness(secret: Option<&str>) -> Harness {
    let t = TestStore::sqlite().await;
    let (app, kill_switch) = app_on(&t, secret);
    Harness {
        t,
        app,
        kill_switch,
    }
}

/// The state a daemon serving on `t`'s database has.
fn state_on(t: &TestStore, secret: Option<&str>, request_timeout: Duration) -> AppState {
    AppState {
        info: Arc::new(ServiceInfo {
            service: "trading-bot",
            mode: "paper".into(),
            exchange: "paper".into(),
            environment: "paper".into(),
            symbols: vec!["BTCUSDT".into()],
            model: serde_json::json!({ "name": "ma_crossover", "parameters": {} }),
        }),
        board: Some(Arc::new(StatusBoard::default())),
        kill_switch: KillSwitch::new(t.store.clone(), None, Role::Trader),
        verifier: secret.and_then(Verifier::new).map(Arc::new),
        store: t.store.clone(),
        log: None,
        started: Instant::now(),
        stale_after: Duration::from_secs(180),
        request_timeout,
    }
}

/// A server on `t`'s database: another process, as far as the kill switch
/// can tell.
fn app_on(t: &TestStore, secret: Option<&str>) -> (Router, Arc<KillSwitch>) {
    let state = state_on(t, secret, Duration::from_millis(200));
    let kill_switch = state.kill_switch.clone();
    let extra = Router::new()
        .route(
            "/test/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/test/panic",
            get(|| async {
                if true {
                    panic!("handler bug");
                }
                "never"
            }),
        );
    (router_with(state, extra), kill_switch)
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Option<String>, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let id = response
        .headers()
        .get(REQUEST_ID_HEADER)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, id, body)
}

fn get_req(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn signed(action: &str, body: &str, timestamp: i64, secret: &str) -> Request<Body> {
    Request::post(format!("/api/v1/safety/kill-switch/{action}"))
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(
            SIGNATURE_HEADER,
            sign(secret.as_bytes(), action, timestamp, body.as_bytes()),
        )
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn every_status_carries_a_request_id() {
    let h = harness(Some(SECRET)).await;
    let big = "x".repeat(MAX_BODY_BYTES + 1);
    let cases: Vec<(Request<Body>, StatusCode)> = vec![
        (get_req("/health"), StatusCode::OK),
        (get_req("/api/v1/status"), StatusCode::OK),
        (
            Request::post("/api/v1/safety/kill-switch/activate")
                .body(Body::from("{}"))
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (get_req("/no/such/route"), StatusCode::NOT_FOUND),
        (
            get_req("/api/v1/safety/kill-switch/activate"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (get_req("/test/slow"), StatusCode::REQUEST_TIMEOUT),
        (
            Request::post("/api/v1/safety/kill-switch/activate")
                .body(Body::from(big))
                .unwrap(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (get_req("/test/panic"), StatusCode::INTERNAL_SERVER_ERROR),
    ];
    for (request, expected) in cases {
        let path = request.uri().path().to_owned();
        let (status, id, _) = send(&h.app, request).await;
        assert_eq!(status, expected, "{path}");
        let id = id.unwrap_or_else(|| panic!("{path}: no X-Request-ID"));
        assert!(is_valid_request_id(&id), "{path}: {id}");
    }
    // The server survived the panic.
    assert_eq!(send(&h.app, get_req("/health")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_valid_inbound_id_is_kept_and_anything_else_replaced() {
    let h = harness(Some(SECRET)).await;
    let with_id = |id: &str| {
        Request::get("/health")
            .header(REQUEST_ID_HEADER, id)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        send(&h.app, with_id("trace-42.a_b")).await.1.as_deref(),
        Some("trace-42.a_b")
    );
    for hostile in [
        "a\tb",
        &"a".repeat(500),
        "x\"}{\"level\":\"ERROR\"",
        "ümlaut",
    ] {
        let Ok(value) = axum::http::HeaderValue::from_bytes(hostile.as_bytes()) else {
            continue;
        };
        let mut request = get_req("/health");
        request.headers_mut().insert(REQUEST_ID_HEADER, value);
        let id = send(&h.app, request).await.1.unwrap();
        assert_ne!(id, hostile);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    }
}

#[tokio::test]
async fn a_signed_activation_halts_and_every_bad_request_gets_the_same_401() {
    let h = harness(Some(SECRET)).await;
    let body = r#"{"reason":"Emergency test"}"#;
    let ts = now();
    let bad: Vec<Request<Body>> = vec![
        // No headers.
        Request::post("/api/v1/safety/kill-switch/activate")
            .body(Body::from(body))
            .unwrap(),
        // Wrong secret.
        signed(
            "activate",
            body,
            ts,
            "another-secret-that-is-long-enough-000",
        ),
        // Signed for the other action.
        {
            let mut r = signed("deactivate", body, ts, SECRET);
            *r.uri_mut() = "/api/v1/safety/kill-switch/activate".parse().unwrap();
            r
        },
        // Too old, and too far ahead.
        signed("activate", body, ts - 301, SECRET),
        signed("activate", body, ts + 301, SECRET),
        // Body changed after signing.
        {
            let r = signed("activate", body, ts, SECRET);
            let (parts, _) = r.into_parts();
            Request::from_parts(parts, Body::from(r#"{"reason":"Emergency tesT"}"#))
        },
        // Malformed headers.
        {
            let mut r = signed("activate", body, ts, SECRET);
            r.headers_mut()
                .insert(TIMESTAMP_HEADER, "soon".parse().unwrap());
            r
        },
        {
            let mut r = signed("activate", body, ts, SECRET);
            r.headers_mut()
                .insert(SIGNATURE_HEADER, "!!".parse().unwrap());
            r
        },
    ];
    let mut bodies = Vec::new();
    for request in bad {
        let (status, _, body) = send(&h.app, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        bodies.push(body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    assert!(
        !h.kill_switch.is_active(),
        "no refused request changed anything"
    );
    assert_eq!(h.t.count("kill_switch_events").await, 0);

    // The real thing, then the same bytes captured and replayed.
    let (status, _, state) = send(&h.app, signed("activate", body, ts, SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["active"], true);
    assert_eq!(state["reason"], "Emergency test");
    assert_eq!(state["durable"], true);
    assert!(h.kill_switch.is_active());
    let (status, _, replayed) = send(&h.app, signed("activate", body, ts, SECRET)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(replayed, bodies[0]);
    assert_eq!(h.t.count("kill_switch_events").await, 1);

    let (_, _, state) = send(&h.app, get_req("/api/v1/safety/kill-switch")).await;
    assert_eq!(state["active"], true);
    assert_eq!(state["source"], "http");
    assert!(state["request_id"].is_string());

    let (status, _, state) = send(
        &h.app,
        signed("deactivate", r#"{"reason":"all clear"}"#, now(), SECRET),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["active"], false);
}

#[tokio::test]
async fn without_a_valid_secret_the_switch_refuses_everything() {
    for secret in [None, Some("short")] {
        let h = harness(secret).await;
        let request = signed("activate", r#"{"reason":"x"}"#, now(), "short");
        let (status, id, body) = send(&h.app, request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(id.is_some());
        assert!(!h.kill_switch.is_active());
        let (_, _, state) = send(&h.app, get_req("/api/v1/safety/kill-switch")).await;
        assert_eq!(state["configured"], false);
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let h = harness(Some(SECRET)).await;
    let response = h.app.clone().oneshot(get_req("/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    for name in [
        "tradebot_kill_switch_active",
        "tradebot_uptime_seconds",
        "tradebot_log_lines_dropped_total",
    ] {
        assert!(
            text.contains(&format!("\n{name} ")) || text.starts_with(&format!("{name} ")),
            "{name} in:\n{text}"
        );
    }
    for line in text.lines() {
        if line.starts_with('#') {
            let kind = line.split_whitespace().nth(1).unwrap_or_default();
            assert!(matches!(kind, "HELP" | "TYPE" | "UNIT" | "EOF"), "{line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let name = series.split('{').next().unwrap();
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{line}"
        );
    }
    assert!(text.trim_end().ends_with("# EOF"));
}

#[tokio::test]
async fn bad_trade_queries_are_400_and_good_ones_list_trades() {
    let h = harness(Some(SECRET)).await;
    for path in [
        "/api/v1/trades?limit=0",
        "/api/v1/trades?limit=100000",
        "/api/v1/trades?limit=abc",
        "/api/v1/trades?symbol=btc%0Ausdt",
    ] {
        let (status, _, body) = send(&h.app, get_req(path)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["error"].is_string());
    }
    let (status, _, body) = send(&h.app, get_req("/api/v1/trades?symbol=BTCUSDT&limit=5")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["trades"], serde_json::json!([]));
}

#[test]
fn each_request_logs_one_access_line_with_its_id_and_no_query() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let h = runtime.block_on(harness(Some(SECRET)));
    let (_, lines) = capture_lines(|| {
        runtime.block_on(async {
            let request = Request::get("/api/v1/trades?symbol=BTCUSDT&limit=5")
                .header(REQUEST_ID_HEADER, "req-abc")
                .body(Body::empty())
                .unwrap();
            send(&h.app, request).await;
        })
    });
    let access: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["message"] == "HTTP request")
        .collect();
    assert_eq!(access.len(), 1, "{lines:#?}");
    let line = &access[0];
    assert_eq!(line["request_id"], "req-abc");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/api/v1/trades");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].is_number());
    assert!(
        !lines.iter().any(|l| l.contains("symbol=BTCUSDT")),
        "no query string in the logs"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let t = TestStore::sqlite().await;
    let state = state_on(&t, None, Duration::from_millis(300));
    let listener = bind("http.bind", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (trigger, shutdown) = crate::shutdown::channel();
    let server = serve(listener, state, shutdown, Duration::from_millis(500));

    // Headers started, never finished.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server kept a half-sent request open");

    // Meanwhile, and after, a normal client is served.
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    ok.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("x-request-id:"),
        "{reply}"
    );

    trigger.request();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops within its drain")
        .unwrap();
}

#[tokio::test]
async fn a_request_used_by_one_process_is_refused_by_another() {
    let h = harness(Some(SECRET)).await;
    let (other, _) = app_on(&h.t, Some(SECRET));
    let body = r#"{"reason":"resume"}"#;
    let ts = now();
    let (status, _, _) = send(&h.app, signed("deactivate", body, ts, SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    // The same bytes, captured and sent to the dashboard (or a restarted
    // daemon) sharing the database.
    let (status, _, reply) = send(&other, signed("deactivate", body, ts, SECRET)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{reply}");
}
