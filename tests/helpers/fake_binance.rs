//! A stand-in for Binance's public REST host on 127.0.0.1: it answers
//! `GET /api/v3/klines` with a recorded reply and counts the requests.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::oneshot;

use super::TIMEOUT;

#[derive(Clone)]
struct Shared {
    body: Arc<String>,
    requests: Arc<AtomicUsize>,
    queries: Arc<Mutex<Vec<String>>>,
}

pub struct FakeBinance {
    pub base_url: String,
    shared: Shared,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl FakeBinance {
    /// Serves `klines_json` for every klines request, whatever its query.
    pub fn serve_klines(klines_json: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Shared {
            body: Arc::new(klines_json),
            requests: Arc::default(),
            queries: Arc::default(),
        };
        let app = Router::new()
            .route("/api/v3/klines", get(klines))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                // Dropping the runtime afterwards closes any open connection,
                // so stopping never waits on a client's keep-alive.
                tokio::select! {
                    served = axum::serve(listener, app) => served.unwrap(),
                    _ = stopped => {}
                }
            });
        });
        Self {
            base_url,
            shared,
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The query strings received so far.
    pub fn queries(&self) -> Vec<String> {
        self.shared.queries.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived; fails after [`TIMEOUT`].
    pub fn wait_for_requests(&self, count: usize) {
        let deadline = Instant::now() + TIMEOUT;
        while self.requests() < count {
            assert!(
                Instant::now() < deadline,
                "only {} of {count} klines requests within {TIMEOUT:?}",
                self.requests()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FakeBinance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

async fn klines(State(shared): State<Shared>, RawQuery(query): RawQuery) -> impl IntoResponse {
    shared
        .queries
        .lock()
        .unwrap()
        .push(query.unwrap_or_default());
    shared.requests.fetch_add(1, Ordering::SeqCst);
    (
        [(header::CONTENT_TYPE, "application/json")],
        shared.body.as_str().to_owned(),
    )
}

/// A local address nothing listens on: bound, then released.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr: SocketAddr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
