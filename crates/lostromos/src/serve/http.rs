//! The HTTP server: `/healthz`, `/readyz`, `/metrics`, and the original's `/status`.
//!
//! `/readyz` is 503 until the release watches have listed, while any watch
//! fails, and while the API server does not answer its own `/readyz` within
//! 2 s. `/healthz` is 503 while a request to the API server has waited longer
//! than `--stuck-after` for an answer (see `observe::api_calls`). Each body
//! says why.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::config::settings::DEFAULT_STUCK_AFTER;
use crate::observe::api_calls::ApiCalls;
use crate::observe::api_probe::ApiProbe;
use crate::observe::objects::Objects;
use crate::observe::release_watch::Releases;
use crate::observe::watch_health::Watches;
use crate::serve::metrics::Metrics;

/// What the endpoints report on.
pub struct Probe {
    pub metrics: Arc<Metrics>,
    /// Set once this process can do its job (watches synced, or standing by for
    /// the lease).
    pub ready: AtomicBool,
    /// The release index, once this process leads.
    pub releases: OnceLock<Arc<Releases>>,
    /// The object watches, once this process leads (and watches objects).
    pub objects: OnceLock<Arc<Objects>>,
    /// Every watch's health.
    pub watches: Arc<Watches>,
    /// The API server's own readiness, once there is a client.
    pub api: OnceLock<Arc<ApiProbe>>,
    /// Requests to the API server awaiting an answer.
    pub calls: Arc<ApiCalls>,
    /// A request unanswered for longer means the process is stuck.
    pub stuck_after: Duration,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            metrics: Arc::default(),
            ready: AtomicBool::default(),
            releases: OnceLock::new(),
            objects: OnceLock::new(),
            watches: Arc::default(),
            api: OnceLock::new(),
            calls: Arc::default(),
            stuck_after: DEFAULT_STUCK_AFTER,
        }
    }
}

pub fn router(probe: Arc<Probe>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/status",
            get(|| async { Json(serde_json::json!({"success": true})) }),
        )
        .with_state(probe)
}

async fn healthz(State(p): State<Arc<Probe>>) -> (StatusCode, String) {
    liveness(p.calls.oldest(), p.stuck_after)
}

/// Alive unless the oldest unanswered API request has waited past `bound`.
fn liveness(oldest: Option<(Duration, String)>, bound: Duration) -> (StatusCode, String) {
    match oldest {
        Some((waited, what)) if waited > bound => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "stuck: {what} has waited {}s for the API server (--stuck-after {}s)\n",
                waited.as_secs(),
                bound.as_secs()
            ),
        ),
        _ => (StatusCode::OK, "ok\n".into()),
    }
}

async fn readyz(State(p): State<Arc<Probe>>) -> (StatusCode, String) {
    let api = match p.api.get() {
        Some(api) => Some(api.check().await),
        None => None,
    };
    readiness(p.ready.load(Ordering::Relaxed), api, p.watches.problems())
}

/// Ready once synced, while the API server answers and no watch fails; else
/// one line per reason.
fn readiness(
    synced: bool,
    api: Option<Result<(), String>>,
    watches: Vec<String>,
) -> (StatusCode, String) {
    let mut reasons = Vec::new();
    if !synced {
        reasons.push("the release watches have not listed yet".to_owned());
    }
    if let Some(Err(e)) = api {
        reasons.push(format!("API server: {e}"));
    }
    reasons.extend(watches);
    if reasons.is_empty() {
        return (StatusCode::OK, "ready\n".into());
    }
    let mut body = "not ready:\n".to_owned();
    for r in reasons {
        body.push_str("- ");
        body.push_str(&r);
        body.push('\n');
    }
    (StatusCode::SERVICE_UNAVAILABLE, body)
}

async fn metrics(State(p): State<Arc<Probe>>) -> impl IntoResponse {
    if let Some(releases) = p.releases.get() {
        p.metrics.set_releases(&releases.managed_by_status());
    }
    p.metrics.set_api_requests(&p.calls.sent());
    if let Some(objects) = p.objects.get() {
        p.metrics.set_objects(objects.counts());
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
    fn liveness_fails_once_a_request_waited_past_the_bound() {
        let bound = Duration::from_secs(120);
        assert_eq!(liveness(None, bound).0, StatusCode::OK);
        let waiting = |s| Some((Duration::from_secs(s), "PATCH /apis/g/v1/x".to_owned()));
        assert_eq!(liveness(waiting(120), bound).0, StatusCode::OK);
        let (code, body) = liveness(waiting(121), bound);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            "stuck: PATCH /apis/g/v1/x has waited 121s for the API server (--stuck-after 120s)\n"
        );
    }

    #[test]
    fn readiness_names_every_reason() {
        assert_eq!(
            readiness(true, Some(Ok(())), vec![]),
            (StatusCode::OK, "ready\n".into())
        );
        assert_eq!(
            readiness(true, None, vec![]).0,
            StatusCode::OK,
            "standing by"
        );
        let (code, body) = readiness(
            false,
            Some(Err("GET /readyz: no answer within 2s".into())),
            vec!["watch of Secrets in namespace a failing for 3s (2 errors): refused".into()],
        );
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            "not ready:\n- the release watches have not listed yet\n\
             - API server: GET /readyz: no answer within 2s\n\
             - watch of Secrets in namespace a failing for 3s (2 errors): refused\n"
        );
    }

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
