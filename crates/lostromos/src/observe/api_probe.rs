//! Whether the API server answers now: its own `GET /readyz`, with a short
//! timeout, asked at most once per [`FRESH`] however many wait for the answer.
//! A frozen server keeps connections open and answers nothing, which no watch
//! error shows; this does.

use std::time::{Duration, Instant};

use kube::Client;

use crate::observe::watch_health::describe;

/// How long an answer is reused.
pub const FRESH: Duration = Duration::from_secs(1);
/// How long the API server has to answer (under kubelet probes' timeouts).
pub const TIMEOUT: Duration = Duration::from_secs(2);

pub struct ApiProbe {
    client: Client,
    /// The last answer and when it came; the lock also makes one probe serve
    /// every caller that arrives while it runs.
    last: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl ApiProbe {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// `Ok` when the API server answered its `/readyz` with 200 within
    /// [`TIMEOUT`]; else what went wrong.
    pub async fn check(&self) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = &*last {
            if at.elapsed() < FRESH {
                return answer.clone();
            }
        }
        let request = http::Request::get("/readyz").body(Vec::new());
        let answer = match request {
            Err(e) => Err(format!("GET /readyz: {e}")),
            Ok(request) => {
                match tokio::time::timeout(TIMEOUT, self.client.request_text(request)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(format!("GET /readyz: {}", describe(&e))),
                    Err(_) => Err(format!(
                        "GET /readyz: no answer within {}s",
                        TIMEOUT.as_secs()
                    )),
                }
            }
        };
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll};

    use http::{Request, Response, StatusCode};
    use kube::client::Body;

    use super::*;

    /// An API server that answers `/readyz` with `status`, or never.
    #[derive(Clone)]
    struct Server {
        status: Option<StatusCode>,
        asked: Arc<AtomicUsize>,
    }

    impl tower::Service<Request<Body>> for Server {
        type Response = Response<Body>;
        type Error = std::convert::Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Self::Error>> + Send>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: Request<Body>) -> Self::Future {
            assert_eq!(req.uri().path(), "/readyz");
            self.asked.fetch_add(1, Ordering::Relaxed);
            let status = self.status;
            Box::pin(async move {
                let Some(status) = status else {
                    return std::future::pending().await;
                };
                let body = if status.is_success() {
                    "ok"
                } else {
                    "[-]etcd failed"
                };
                let mut res = Response::new(Body::from(body.as_bytes().to_vec()));
                *res.status_mut() = status;
                Ok(res)
            })
        }
    }

    fn probe(status: Option<StatusCode>) -> (ApiProbe, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let server = Server {
            status,
            asked: asked.clone(),
        };
        (ApiProbe::new(Client::new(server, "default")), asked)
    }

    #[tokio::test]
    async fn a_ready_api_server_is_asked_once_for_callers_close_together() {
        let (p, asked) = probe(Some(StatusCode::OK));
        assert_eq!(p.check().await, Ok(()));
        assert_eq!(p.check().await, Ok(()));
        assert_eq!(asked.load(Ordering::Relaxed), 1, "the answer is reused");
    }

    #[tokio::test]
    async fn a_failing_api_server_is_named() {
        let (p, _) = probe(Some(StatusCode::INTERNAL_SERVER_ERROR));
        let e = p.check().await.expect_err("not ready");
        assert!(e.starts_with("GET /readyz: 500"), "{e}");
    }

    #[tokio::test]
    async fn a_silent_api_server_is_given_up_on_after_the_timeout() {
        let (p, _) = probe(None);
        let asked = Instant::now();
        let e = p.check().await.expect_err("no answer");
        eprintln!("gave up after {:?}", asked.elapsed());
        assert_eq!(e, "GET /readyz: no answer within 2s");
    }
}
