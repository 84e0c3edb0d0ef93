//! The HTTP server: `/healthz`, `/readyz`, `/metrics`, and the original's `/status`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::observe::release_watch::Releases;
use crate::serve::metrics::Metrics;

/// What the endpoints report on.
#[derive(Default)]
pub struct Probe {
    pub metrics: Arc<Metrics>,
    /// Set once this process can do its job (watches synced, or standing by for
    /// the lease).
    pub ready: AtomicBool,
    /// The release index, once this process leads.
    pub releases: OnceLock<Arc<Releases>>,
}

pub fn router(probe: Arc<Probe>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/status",
            get(|| async { Json(serde_json::json!({"success": true})) }),
        )
        .with_state(probe)
}

async fn readyz(State(p): State<Arc<Probe>>) -> impl IntoResponse {
    if p.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: watches are syncing",
        )
    }
}

async fn metrics(State(p): State<Arc<Probe>>) -> impl IntoResponse {
    if let Some(releases) = p.releases.get() {
        p.metrics.set_releases(&releases.managed_by_status());
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        p.metrics.encode(),
    )
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    probe: Arc<Probe>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(probe))
        .with_graceful_shutdown(shutdown)
        .await
}

/// `:8080` means all interfaces, as in the original's `server.address`.
pub fn listen_address(text: &str) -> String {
    match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        assert_eq!(listen_address(":8080"), "0.0.0.0:8080");
        assert_eq!(listen_address("127.0.0.1:0"), "127.0.0.1:0");
    }

    #[tokio::test]
    async fn endpoints_answer() {
        let probe = Arc::new(Probe::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, probe.clone(), async {
            let _ = rx.await;
        }));
        let get = |path: &'static str| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(
                format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
            )
            .await
            .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(get("/readyz").await.starts_with("HTTP/1.1 503"));
        probe.ready.store(true, Ordering::Relaxed);
        assert!(get("/readyz").await.starts_with("HTTP/1.1 200"));
        assert!(get("/status").await.contains(r#"{"success":true}"#));
        assert!(get("/metrics").await.contains("releases_events_total"));
        let _ = tx.send(());
        server.await.unwrap().unwrap();
    }
}
