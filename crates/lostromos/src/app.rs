//! Start-up and wiring: everything here may fail with a message for a person.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersion;
use kube::discovery::{ApiCapabilities, Scope};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::{self, watcher};
use kube::runtime::{Controller, WatchStreamExt};
use kube::Client;

use lostromos::chart;
use lostromos::controller::{self, Context, Setup};
use lostromos::cr::decision_hash;
use lostromos::helm::process::deadline_for;
use lostromos::helm::{version as helm_version, HelmArgs, HelmRunner};
use lostromos::plan::PlanSettings;
use lostromos::releases::{self, Releases};
use lostromos::render;
use lostromos::settings::{LogFormat, Settings, Watched, HELM_GRACE};

pub fn init_logging(s: &Settings) {
    let filter = s
        .log_level
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info,kube=warn".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match s.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// A private working folder (0700): values files and helm's homes.
fn work_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("lostromos-")
        .tempdir()
        .context("creating a private temp folder")
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

pub async fn run(s: Settings) -> anyhow::Result<()> {
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
    let chart = chart::resolve(
        &runner,
        &s.chart,
        s.chart_version.as_deref(),
        work.path(),
        s.timeout,
    )
    .await?;
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
    for scope in scopes {
        tokio::spawn(releases::watch_scope(
            client.clone(),
            releases.clone(),
            scope,
        ));
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
        runner,
        releases: releases.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        chart,
        chart_policy: s.chart_policy.clone(),
        dry_run: s.dry_run,
        reconcile_period: s.reconcile_period,
        work_dir: work.path().to_path_buf(),
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
            .shutdown_on_signal()
            .run(controller::reconcile, controller::error_policy, ctx.clone())
            .for_each(|res| async move {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "controller event");
                }
            })
    });
    futures::future::join_all(controllers).await;
    tracing::info!("lostromos stopped");
    drop(work);
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
    let chart = chart::resolve(
        &runner,
        &s.chart,
        s.chart_version.as_deref(),
        work.path(),
        s.timeout,
    )
    .await?;
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
