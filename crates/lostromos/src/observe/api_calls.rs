//! The requests Lostrómos has sent to the API server and not yet had an answer
//! to (response headers), for `/healthz`: kube's client sets no read timeout,
//! so a request to a frozen API server, or on a connection that silently went
//! dead, waits forever, and the reconcile that sent it with it. That is how a
//! reconcile gets stuck; waiting for a helm slot or running helm is not (helm
//! runs end by their own deadline). Watches wait by design and are left out.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::Request;

/// Requests waiting for an answer, and every request sent, by verb.
#[derive(Debug, Default)]
pub struct ApiCalls {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, (Instant, String)>>,
    sent: Mutex<BTreeMap<&'static str, u64>>,
}

/// The verb of a request, for counting: `watch`, `get` (one object or a
/// list), `patch`, `post`, `put`, `delete`, or `other`.
fn verb<B>(req: &Request<B>) -> &'static str {
    if is_watch(req) {
        return "watch";
    }
    match *req.method() {
        http::Method::GET => "get",
        http::Method::PATCH => "patch",
        http::Method::POST => "post",
        http::Method::PUT => "put",
        http::Method::DELETE => "delete",
        _ => "other",
    }
}

impl ApiCalls {
    /// Requests sent since start, by verb (a counting proxy inside the
    /// client: what the idle cost is measured by).
    pub fn sent(&self) -> Vec<(&'static str, u64)> {
        let sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.iter().map(|(v, n)| (*v, *n)).collect()
    }

    fn count(&self, verb: &'static str) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        *sent.entry(verb).or_default() += 1;
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Instant, String)>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The request that has waited longest, and for how long, e.g.
    /// `(12s, "PATCH /apis/example.com/v1/namespaces/a/widgets/w/status")`.
    pub fn oldest(&self) -> Option<(Duration, String)> {
        let now = Instant::now();
        self.waiting()
            .values()
            .min_by_key(|(since, _)| *since)
            .map(|(since, what)| (now.saturating_duration_since(*since), what.clone()))
    }

    fn begin(self: &Arc<Self>, what: String) -> Waiting {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.waiting().insert(id, (Instant::now(), what));
        Waiting {
            calls: self.clone(),
            id,
        }
    }
}

/// Removes its request from [`ApiCalls`] when dropped: answered, failed or
/// abandoned.
struct Waiting {
    calls: Arc<ApiCalls>,
    id: u64,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.calls.waiting().remove(&self.id);
    }
}

/// A watch request (`?watch=true`) stays open by design.
fn is_watch<B>(req: &Request<B>) -> bool {
    req.uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"))
}

/// A layer for kube's `ClientBuilder` that records every request in `ApiCalls`.
#[derive(Clone)]
pub struct TrackLayer(pub Arc<ApiCalls>);

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;
    fn layer(&self, inner: S) -> Track<S> {
        Track {
            inner,
            calls: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    calls: Arc<ApiCalls>,
}

impl<S, B> tower::Service<Request<B>> for Track<S>
where
    S: tower::Service<Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.calls.count(verb(&req));
        // `--log-level lostromos::api=trace` lists every request, to account for them
        tracing::trace!(target: "lostromos::api", method = %req.method(), uri = %req.uri());
        let waiting = (!is_watch(&req)).then(|| {
            self.calls
                .begin(format!("{} {}", req.method(), req.uri().path()))
        });
        let answer = self.inner.call(req);
        Box::pin(async move {
            let answer = answer.await;
            drop(waiting);
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, Service};

    /// A service that answers only when told to.
    #[derive(Clone)]
    struct Gate(Arc<tokio::sync::Notify>);

    impl Service<Request<()>> for Gate {
        type Response = ();
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<(), Self::Error>> + Send>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<()>) -> Self::Future {
            let gate = self.0.clone();
            Box::pin(async move {
                gate.notified().await;
                Ok(())
            })
        }
    }

    fn get(uri: &str) -> Request<()> {
        Request::get(uri).body(()).expect("request")
    }

    #[tokio::test]
    async fn requests_are_tracked_until_answered_watches_never() {
        let calls = Arc::new(ApiCalls::default());
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut svc = TrackLayer(calls.clone()).layer(Gate(gate.clone()));
        assert_eq!(calls.oldest(), None);

        let watch = svc.call(get("/api/v1/secrets?labelSelector=owner%3Dhelm&watch=true"));
        assert_eq!(calls.oldest(), None, "a watch waits by design");
        let patch = svc.call(get("/apis/g/v1/namespaces/a/widgets/w/status?x=1"));
        let (_, what) = calls.oldest().expect("waiting");
        assert_eq!(what, "GET /apis/g/v1/namespaces/a/widgets/w/status");

        let answered = tokio::spawn(patch);
        // `notify_one` stores a permit if the request is not waiting yet
        gate.notify_one();
        answered.await.expect("task").expect("answer");
        assert_eq!(calls.oldest(), None, "answered");

        let abandoned = svc.call(get("/version"));
        assert!(calls.oldest().is_some());
        drop(abandoned);
        assert_eq!(calls.oldest(), None, "a dropped request waits no more");
        drop(watch);
        assert_eq!(calls.sent(), vec![("get", 2), ("watch", 1)]);
    }

    #[test]
    fn watch_requests_are_recognised_by_their_query() {
        assert!(is_watch(&get(
            "/api/v1/secrets?watch=true&timeoutSeconds=60"
        )));
        assert!(is_watch(&get("/api/v1/secrets?a=b&watch=1")));
        assert!(!is_watch(&get("/api/v1/secrets?watch=false")));
        assert!(!is_watch(&get("/api/v1/namespaces/watch=true/secrets")));
    }
}
