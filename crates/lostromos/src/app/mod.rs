//! Start-up and wiring: everything here may fail with a message for a person.

mod leader;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use std::sync::atomic::Ordering;

use futures::{FutureExt, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersion;
use kube::discovery::{ApiCapabilities, Scope};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::{self, watcher};
use kube::runtime::{Controller, WatchStreamExt};
use kube::Client;
use nix::sys::signal::Signal;

use leader::Leadership;
use lostromos::config::settings::{LogFormat, Settings, Watched, HELM_GRACE};
use lostromos::helm::chart;
use lostromos::helm::process::deadline_for;
use lostromos::helm::render;
use lostromos::helm::{version as helm_version, HelmArgs, HelmRunner};
use lostromos::observe::cr::decision_hash;
use lostromos::observe::release_watch::{self, Releases};
use lostromos::plan::PlanSettings;
use lostromos::reconcile::{self, Context, Setup};
use lostromos::serve::http::{self, listen_address, Probe};

pub fn init_logging(s: &Settings) {
    let filter = s
        .log_level
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info,kube=warn".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // colours only for a person at a terminal, and never with NO_COLOR
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match s.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// A private working folder (0700): values files and helm's homes.
fn work_dir() -> anyhow::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("lostromos-")
        .tempdir()
        .context("creating a private temp folder")?;
    // values files live here: nobody else may list or read them
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .context("making the temp folder private")?;
    Ok(dir)
}

/// The environment every helm process gets.
fn helm_env(s: &Settings, work: &Path) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![
        ("NO_COLOR".into(), "1".into()),
        ("HELM_COLOR".into(), "never".into()),
    ];
    // helm writes caches under the working folder when it has no home
    for (var, sub) in [
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_DATA_HOME", "data"),
    ] {
        if std::env::var_os(var).is_none() {
            env.push((var.into(), work.join("helm").join(sub).into()));
        }
    }
    if let Some(k) = &s.kubeconfig {
        env.push(("KUBECONFIG".into(), k.clone().into()));
    }
    env
}

/// The configured chart, checked and digested (pulled first when remote).
async fn resolve_chart(
    runner: &HelmRunner,
    s: &Settings,
    work: &Path,
) -> Result<chart::Chart, chart::ChartError> {
    chart::resolve(
        runner,
        &s.chart,
        s.chart_version.as_deref(),
        work,
        s.timeout,
    )
    .await
}

async fn detect_helm(
    runner: &HelmRunner,
    binary: &Path,
) -> anyhow::Result<helm_version::HelmVersion> {
    let text = render::helm_version(runner).await.with_context(|| {
        format!(
            "running {} version; fix: install helm 3.13+ or 4, or set --helm-binary",
            binary.display()
        )
    })?;
    Ok(helm_version::parse(&text)?)
}

fn plan_settings(s: &Settings) -> PlanSettings {
    PlanSettings {
        filter_annotation: s.filter_annotation.clone(),
        release_prefix: s.release_prefix.clone(),
        release_namespace: s.release_namespace.clone(),
        values: s.values.clone(),
        // no helm process of any Lostrómos can still hold the release by then
        pending_stuck_after_secs: (deadline_for(s.timeout) + HELM_GRACE).as_secs() as i64,
    }
}

fn helm_args(s: &Settings, major: lostromos::helm::Major, chart: &chart::Chart) -> HelmArgs {
    let pulled = chart.path != s.chart;
    HelmArgs {
        major,
        chart: chart.path.clone(),
        // a pulled chart is already the requested version
        chart_version: if pulled {
            None
        } else {
            s.chart_version.clone()
        },
        timeout: s.timeout,
        wait: s.wait,
        history_max: s.history_max,
    }
}

async fn client(s: &Settings) -> anyhow::Result<Client> {
    let config = match &s.kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig and not in a cluster; fix: set KUBECONFIG or --kubeconfig")?,
    };
    Ok(Client::try_from(config)?)
}

/// Finds the watched type on the API server, by kind or plural name.
async fn discover(client: &Client, w: &Watched) -> anyhow::Result<(ApiResource, ApiCapabilities)> {
    let gv = GroupVersion::gv(&w.group, &w.version);
    let not_served = || {
        format!(
            "the API server does not serve {}/{} kind {}; fix: install its CRD (kubectl get crd) or correct --group/--version/--kind",
            w.group, w.version, w.kind
        )
    };
    let group = kube::discovery::oneshot::pinned_group(client, &gv)
        .await
        .with_context(not_served)?;
    let wanted = w.kind.to_ascii_lowercase();
    group
        .versioned_resources(&w.version)
        .into_iter()
        .find(|(ar, _)| ar.kind.to_ascii_lowercase() == wanted || ar.plural == wanted)
        .with_context(not_served)
}

/// Resolves on SIGTERM or SIGINT.
async fn signalled() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}

/// A future every controller can hold: resolves once when `halt` fires.
type Halt = futures::future::Shared<futures::future::BoxFuture<'static, ()>>;

fn halt_on(trigger: impl std::future::Future<Output = ()> + Send + 'static) -> Halt {
    trigger.boxed().shared()
}

pub async fn run(s: Settings) -> anyhow::Result<()> {
    let probe = Arc::new(Probe::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        signalled().await;
        tracing::info!("shutdown requested");
        let _ = stop_tx.send(true);
    });
    let stopped = {
        let rx = stop_rx.clone();
        move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        }
    };

    let listener = tokio::net::TcpListener::bind(listen_address(&s.listen))
        .await
        .with_context(|| format!("--listen {}: cannot listen there", s.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving /healthz /readyz /metrics /status");
    let http = tokio::spawn(http::serve(listener, probe.clone(), stopped()));

    let work = work_dir()?;
    let runner = Arc::new(HelmRunner::new(
        s.helm_binary.clone(),
        helm_env(&s, work.path()),
        s.concurrency,
        HELM_GRACE,
    ));
    let helm = detect_helm(&runner, &s.helm_binary).await?;
    let client = client(&s).await?;
    let watched = s.watched.clone().context("no watched type")?;
    let (resource, caps) = discover(&client, &watched).await?;
    let namespaced = caps.scope == Scope::Namespaced;
    if !namespaced && s.release_namespace.is_none() {
        bail!(
            "{} is cluster-scoped, so releases need a namespace; fix: add --release-namespace NAME",
            resource.kind
        );
    }
    if !namespaced && !s.namespaces.is_empty() {
        bail!("{} is cluster-scoped; --namespace does not apply to it (use --release-namespace for the releases)", resource.kind);
    }
    let has_status = caps
        .subresources
        .iter()
        .any(|(sub, _)| sub.plural == "status");
    let chart = resolve_chart(&runner, &s, work.path()).await?;

    // With leader election, wait for the lease (ready meanwhile: a standby is healthy).
    let (halt, leadership) = match &s.lease {
        None => (halt_on(stopped()), None),
        Some(lease) => {
            probe.ready.store(true, Ordering::Relaxed);
            let Some(leadership) =
                Leadership::acquire(&client, lease, &resource, stop_rx.clone()).await?
            else {
                return Ok(());
            };
            let (lost, stop) = (leadership.lost(), stopped());
            let halt = halt_on(async move {
                tokio::select! {
                    () = lost => tracing::error!("lost the lease; stopping"),
                    () = stop => {}
                }
            });
            (halt, Some(leadership))
        }
    };
    probe.ready.store(false, Ordering::Relaxed);
    tracing::info!(
        kind = %resource.kind, group = %resource.group, version = %resource.version,
        helm = %helm.text, chart = %chart.name_version, status_subresource = has_status,
        dry_run = s.dry_run, "lostromos starting"
    );

    // Where releases live decides which Secrets to watch.
    let scopes: Vec<Option<String>> = match (&s.release_namespace, s.namespaces.is_empty()) {
        (Some(ns), _) => vec![Some(ns.clone())],
        (None, false) => s.namespaces.iter().cloned().map(Some).collect(),
        (None, true) => vec![None],
    };
    let releases = Releases::new(resource.clone(), scopes.len());
    let _ = probe.releases.set(releases.clone());
    for scope in scopes {
        tokio::spawn(release_watch::watch_scope(
            client.clone(),
            releases.clone(),
            scope,
        ));
    }
    {
        let (releases, probe) = (releases.clone(), probe.clone());
        tokio::spawn(async move {
            releases.wait_synced().await;
            probe.ready.store(true, Ordering::Relaxed);
        });
    }

    let reporter = Reporter {
        controller: "lostromos".into(),
        instance: std::env::var("POD_NAME")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok()),
    };
    let ctx = Arc::new(Context::new(Setup {
        client: client.clone(),
        resource: resource.clone(),
        has_status,
        plan: plan_settings(&s),
        helm: helm_args(&s, helm.major, &chart),
        runner: runner.clone(),
        releases: releases.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        chart: Arc::new(chart),
        chart_policy: s.chart_policy.clone(),
        dry_run: s.dry_run,
        reconcile_period: s.reconcile_period,
        work_dir: work.path().to_path_buf(),
        metrics: probe.metrics.clone(),
    }));

    let mut wc = watcher::Config::default();
    if let Some(sel) = &s.selector {
        wc = wc.labels(sel);
    }
    let apis: Vec<Api<DynamicObject>> = if s.namespaces.is_empty() {
        vec![Api::all_with(client.clone(), &resource)]
    } else {
        s.namespaces
            .iter()
            .map(|ns| Api::namespaced_with(client.clone(), ns, &resource))
            .collect()
    };
    // One controller per watched namespace; a CR lives in exactly one, so
    // per-object exclusivity still holds.
    let controllers = apis.into_iter().map(|api| {
        let writer = Writer::new(resource.clone());
        let reader = writer.as_reader();
        // Only changes that can change a decision wake a CR: not our status writes.
        let crs = watcher(api, wc.clone())
            .default_backoff()
            .reflect(writer)
            .applied_objects()
            .predicate_filter(decision_hash, Default::default());
        Controller::for_stream_with(crs, reader, resource.clone())
            .reconcile_on(releases.triggers())
            .graceful_shutdown_on(halt.clone())
            .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
            .for_each(|res| async move {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "controller event");
                }
            })
    });
    let all_done = futures::future::join_all(controllers);
    tokio::pin!(all_done);
    tokio::select! {
        _ = &mut all_done => {}
        () = halt.clone() => {
            // No new work starts now; running helm processes get the grace period,
            // then SIGTERM (helm marks the release failed, not pending), then SIGKILL.
            if tokio::time::timeout(s.shutdown_grace, &mut all_done).await.is_err() {
                tracing::warn!(running = runner.running(), "shutdown grace over; stopping helm");
                runner.close();
                runner.signal_all(Signal::SIGTERM);
                if tokio::time::timeout(HELM_GRACE, &mut all_done).await.is_err() {
                    runner.signal_all(Signal::SIGKILL);
                }
            }
        }
    }
    drop(halt);
    let lost_lease = match leadership {
        Some(leadership) => !leadership.release().await && !*stop_rx.borrow(),
        None => false,
    };
    http.abort();
    tracing::info!("lostromos stopped");
    drop(work);
    if lost_lease {
        bail!("lost the lease to another replica");
    }
    Ok(())
}

pub async fn render(s: Settings, cr_file: &Path) -> anyhow::Result<()> {
    let work = work_dir()?;
    let runner = HelmRunner::new(
        s.helm_binary.clone(),
        helm_env(&s, work.path()),
        1,
        HELM_GRACE,
    );
    let helm = detect_helm(&runner, &s.helm_binary).await?;
    let obj = render::read_cr(cr_file)?;
    let chart = resolve_chart(&runner, &s, work.path()).await?;
    let out = render::render(
        &runner,
        &helm_args(&s, helm.major, &chart),
        &plan_settings(&s),
        &obj,
        work.path(),
    )
    .await?;
    print!("{out}");
    Ok(())
}

pub async fn version(helm_binary: PathBuf) -> anyhow::Result<()> {
    println!("lostromos {}", env!("CARGO_PKG_VERSION"));
    let work = work_dir()?;
    let runner = HelmRunner::new(
        helm_binary.clone(),
        vec![("NO_COLOR".into(), "1".into())],
        1,
        HELM_GRACE,
    );
    let _ = work;
    let v = render::helm_version(&runner).await.with_context(|| {
        format!(
            "helm ({}) is not available; fix: install helm 3.13+ or 4, or set --helm-binary",
            helm_binary.display()
        )
    })?;
    println!("helm {v}");
    Ok(())
}
