//! The reconcile step against a mocked API server (tower-test): which requests
//! a decision leads to, and which it must not.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::events::Events;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::ApiResource;
use kube::client::Body;
use kube::core::{GroupVersionKind, PartialObjectMeta};
use kube::runtime::watcher::Event;
use kube::Client;
use serde_json::{json, Value};

use super::status::{self, Outcome};
use super::{reconcile, Context, Setup};
use crate::helm::chart::Chart;
use crate::helm::{HelmArgs, HelmRunner, Major};
use crate::observe::api_probe::ApiProbe;
use crate::observe::cr::{CrObject, CrView};
use crate::observe::release_watch::Releases;
use crate::observe::watch_health::Watches;
use crate::plan::chart_choice::ChartPolicy;
use crate::plan::{self, labels, PlanSettings};
use crate::serve::metrics::Metrics;

/// One request the controller made.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    body: Value,
}

type Answer = Box<dyn Fn(&Seen) -> (StatusCode, Value) + Send + Sync>;

/// A client whose requests are recorded and answered by `answer`.
fn fake_api(answer: Answer) -> (Client, Arc<Mutex<Vec<Seen>>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Some((request, respond)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let request = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            };
            let (code, reply) = answer(&request);
            log.lock().unwrap().push(request);
            let response = Response::builder()
                .status(code)
                .body(Body::from(reply.to_string().into_bytes()))
                .unwrap();
            respond.send_response(response);
        }
    });
    (Client::new(service, "default"), seen)
}

/// Answers every request with 200 and its own body (a patch "succeeds").
fn echo() -> Answer {
    Box::new(|s: &Seen| (StatusCode::OK, s.body.clone()))
}

fn widgets() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("test.lostromos.dev", "v1", "Widget"),
        "widgets",
    )
}

fn chart(path: &Path) -> Chart {
    Chart {
        path: path.to_string_lossy().into_owned(),
        digest: "chart-digest".into(),
        name: "configmap".into(),
        name_version: "configmap-0.1.0".into(),
        app_version: None,
        sources: Default::default(),
    }
}

/// A helm that records its arguments and answers `show chart` for any chart.
fn fake_helm(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("helm");
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> '{}'\nif [ \"$1\" = show ]; then printf 'name: picked\\nversion: 2.0.0\\n'; fi\nexit 0\n",
        dir.join("calls").display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

struct Fixture {
    ctx: Arc<Context>,
    seen: Arc<Mutex<Vec<Seen>>>,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(answer: Answer) -> Self {
        Self::with_policy(answer, ChartPolicy::default())
    }

    fn with_policy(answer: Answer, chart_policy: ChartPolicy) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("charts")).unwrap();
        let (client, seen) = fake_api(answer);
        let helm = fake_helm(dir.path());
        let client_for_probe = client.clone();
        let ctx = Arc::new(Context::new(Setup {
            client: client.clone(),
            resource: Arc::new(widgets()),
            has_status: true,
            plan: PlanSettings {
                pending_stuck_after_secs: 600,
                ..Default::default()
            },
            helm: HelmArgs {
                major: Major::V4,
                chart: dir.path().to_string_lossy().into_owned(),
                chart_version: None,
                timeout: Duration::from_secs(30),
                wait: false,
                history_max: 3,
                sources: Default::default(),
            },
            runner: Arc::new(HelmRunner::new(helm, vec![], 2, Duration::from_secs(1))),
            releases: {
                let releases = Releases::new(
                    vec![Arc::new(widgets())],
                    vec![None],
                    &Watches::default(),
                    Default::default(),
                );
                releases.feed(Event::Init);
                releases.feed(Event::InitDone);
                releases
            },
            events: Events::new(client, "lostromos", None),
            chart: Arc::new(chart(dir.path())),
            chart_policy,
            dry_run: false,
            reconcile_period: Duration::from_secs(600),
            work_dir: dir.path().to_path_buf(),
            index_catch_up: Duration::from_millis(50),
            metrics: Arc::new(Metrics::new()).for_kind("widgets.test"),
            api: Arc::new(ApiProbe::new(client_for_probe)),
            objects: None,
            health: Default::default(),
            release_locks: Default::default(),
            kind_cap: None,
            routine_events: true,
        }));
        Self { ctx, seen, dir }
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn helm_calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("calls")).unwrap_or_default()
    }

    /// Puts a deployed revision of `release` in the index, with these labels.
    fn deployed(&self, release: &str, version: u64, labels: BTreeMap<String, String>) {
        let mut all = labels;
        for (k, v) in [
            ("owner", "helm".to_owned()),
            ("name", release.to_owned()),
            ("status", "deployed".to_owned()),
            ("version", version.to_string()),
        ] {
            all.insert(k.to_owned(), v);
        }
        let secret = PartialObjectMeta::<Secret> {
            types: None,
            metadata: ObjectMeta {
                name: Some(format!("sh.helm.release.v1.{release}.v{version}")),
                namespace: Some("ns".into()),
                labels: Some(all),
                creation_timestamp: Some(Time(Timestamp::now())),
                ..Default::default()
            },
            _phantom: Default::default(),
        };
        self.ctx.releases.feed(Event::Apply(secret));
    }
}

fn widget(name: &str, spec: Value, finalizer: bool) -> CrObject {
    CrObject::new(
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            uid: Some(format!("uid-{name}")),
            generation: Some(1),
            resource_version: Some("7".into()),
            finalizers: finalizer.then(|| vec![labels::FINALIZER.to_owned()]),
            ..Default::default()
        },
        Some(&spec),
    )
}

/// The labels Lostrómos stamps on `obj`'s release when it is up to date.
fn stamped(fx: &Fixture, obj: &CrObject, revision: u64) -> BTreeMap<String, String> {
    let cr = CrView::from_object(obj);
    let plan = plan::plan(&fx.ctx.plan, &cr, None, &fx.ctx.chart.digest, 0);
    let plan::Action::Install(desired) = plan.action else {
        panic!("expected an install plan: {plan:?}");
    };
    let mut l: BTreeMap<String, String> = desired
        .stamp(&cr)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    l.insert(labels::REVISION.into(), revision.to_string());
    l
}

#[tokio::test]
async fn no_status_patch_and_no_helm_when_nothing_changed() {
    let fx = Fixture::new(echo());
    let mut obj = widget("steady", json!({"a": 1}), true);
    fx.deployed("steady", 1, stamped(&fx, &obj, 1));
    let release = fx.ctx.releases.get("ns", "steady").unwrap();
    let info = super::report::release_info(
        &fx.ctx.chart,
        &plan::release_ref(&fx.ctx.plan, &CrView::from_object(&obj)).unwrap(),
        &release,
    );
    let ready = status::build(
        None,
        Some(1),
        &Outcome::Ready {
            message: super::report::ready_message(&info),
            release: info,
            objects: None,
            drifted: None,
        },
        Timestamp::now(),
    );
    obj.status = serde_json::value::to_raw_value(&ready).ok();

    reconcile(Arc::new(obj), fx.ctx.clone()).await.unwrap();
    assert!(fx.requests().is_empty(), "{:?}", fx.requests());
    assert_eq!(fx.helm_calls(), "");
}

#[tokio::test]
async fn releasing_the_finalizer_of_a_cr_that_is_gone_is_success() {
    let fx = Fixture::new(Box::new(|s: &Seen| {
        let gone = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "widgets \"gone\" not found"});
        if s.method == "PATCH" {
            (StatusCode::NOT_FOUND, gone)
        } else {
            (StatusCode::OK, s.body.clone())
        }
    }));
    let mut obj = widget("gone", json!({"a": 1}), true);
    obj.metadata.deletion_timestamp = Some(Time(Timestamp::now()));

    let result = reconcile(Arc::new(obj), fx.ctx.clone()).await;
    assert!(result.is_ok(), "{result:?}");
    let requests = fx.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].method, "PATCH");
    assert_eq!(
        requests[0].path,
        "/apis/test.lostromos.dev/v1/namespaces/ns/widgets/gone"
    );
    assert_eq!(requests[0].body["metadata"]["finalizers"], json!([]));
    assert_eq!(fx.ctx.remembered(), 0, "no failure entry is left behind");
}

#[tokio::test]
async fn a_rejection_gives_one_event_and_one_status_write_per_change() {
    let fx = Fixture::new(echo());
    let obj = widget("bad", json!(42), true);
    let events = |fx: &Fixture| {
        fx.requests()
            .iter()
            .filter(|s| s.path.contains("/events"))
            .count()
    };
    let status_writes = |fx: &Fixture| {
        fx.requests()
            .iter()
            .filter(|s| s.path.ends_with("/status"))
            .count()
    };

    reconcile(Arc::new(obj.clone()), fx.ctx.clone())
        .await
        .unwrap();
    assert_eq!(
        (events(&fx), status_writes(&fx)),
        (1, 1),
        "{:?}",
        fx.requests()
    );
    let event = fx
        .requests()
        .into_iter()
        .find(|s| s.path.ends_with("/events"))
        .unwrap();
    assert_eq!(event.body["reason"], "InvalidSpec");
    assert_eq!(event.body["action"], "Reject");

    // woken again with the same inputs (its old copy, before the status write)
    reconcile(Arc::new(obj.clone()), fx.ctx.clone())
        .await
        .unwrap();
    assert_eq!(
        (events(&fx), status_writes(&fx)),
        (1, 1),
        "{:?}",
        fx.requests()
    );

    // a change that is still wrong is reported again, once
    let mut changed = obj;
    changed.metadata.generation = Some(2);
    reconcile(Arc::new(changed.clone()), fx.ctx.clone())
        .await
        .unwrap();
    reconcile(Arc::new(changed), fx.ctx.clone()).await.unwrap();
    assert_eq!(
        (events(&fx), status_writes(&fx)),
        (2, 2),
        "{:?}",
        fx.requests()
    );
}

#[tokio::test]
async fn status_names_the_chart_the_cr_chose_when_the_index_lags() {
    let fx = Fixture::with_policy(
        echo(),
        ChartPolicy {
            annotation: Some("chart".into()),
            allowed: vec!["/".into()],
        },
    );
    let chosen = fx.dir.path().join("picked");
    std::fs::create_dir_all(&chosen).unwrap();
    let mut obj = widget("choosy", json!({"a": 1}), true);
    obj.metadata.annotations =
        Some([("chart".to_owned(), chosen.to_string_lossy().into_owned())].into());

    reconcile(Arc::new(obj), fx.ctx.clone()).await.unwrap();
    assert!(
        fx.helm_calls().contains("upgrade choosy"),
        "{}",
        fx.helm_calls()
    );
    // the index never saw helm's write: status falls back to what was run
    let last = fx
        .requests()
        .into_iter()
        .rfind(|s| s.path.ends_with("/status"))
        .expect("a status write");
    assert_eq!(
        last.body["status"]["release"]["chart"], "picked-2.0.0",
        "{}",
        last.body
    );
}

#[tokio::test]
async fn a_status_is_not_written_twice_on_a_cr_the_cache_has_not_brought_back() {
    let fx = Fixture::new(echo());
    let obj = widget("lagging", json!({"a": 1}), true);
    fx.deployed("lagging", 1, stamped(&fx, &obj, 1));
    let status_writes = |fx: &Fixture| {
        fx.requests()
            .iter()
            .filter(|s| s.method == "PATCH" && s.path.ends_with("/status"))
            .count()
    };
    reconcile(Arc::new(obj.clone()), fx.ctx.clone())
        .await
        .unwrap();
    assert_eq!(status_writes(&fx), 1, "{:?}", fx.requests());
    // woken again (helm's or the objects' events) before the watch brought
    // back the status just written: the same version of the CR, no status
    reconcile(Arc::new(obj.clone()), fx.ctx.clone())
        .await
        .unwrap();
    assert_eq!(status_writes(&fx), 1, "{:?}", fx.requests());
    // a later version still without that status (cleared by someone): written
    let mut cleared = obj;
    cleared.metadata.resource_version = Some("9".into());
    reconcile(Arc::new(cleared), fx.ctx.clone()).await.unwrap();
    assert_eq!(status_writes(&fx), 2, "{:?}", fx.requests());
    assert_eq!(fx.helm_calls(), "");
}
