//! Start-up and wiring, the binary's edge: everything here may fail with a
//! message for a person. `run` is preflight -> leadership -> watches and
//! controllers -> shutdown, each in a module of its own.

#[cfg(all(feature = "alloc-choice", not(feature = "dhat-heap")))]
mod alloc_choice;
mod commands;
#[cfg(feature = "dhat-heap")]
mod heap_profile;
mod helm;
mod leader;
pub mod logging;
mod permissions;
mod preflight;
mod shutdown;
mod watches;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use kube::api::ApiResource;
use lostromos::reconcile::events::Events;
use tokio::sync::Semaphore;

use leader::Leadership;
use lostromos::config::settings::{Settings, HELM_GRACE};
use lostromos::helm::process::deadline_for;
use lostromos::observe::api_probe::ApiProbe;
use lostromos::observe::cr::CrType;
use lostromos::plan::health::HealthSettings;
use lostromos::plan::PlanSettings;
use lostromos::reconcile::release_locks::ReleaseLocks;
use lostromos::reconcile::{Context, Setup};
use lostromos::serve::http::{self, listen_address, Probe};
use shutdown::{halt_on, Stop};

pub use commands::{crd, render, version};

/// How long to wait for helm's own writes to show up in the release index.
const INDEX_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(30);

/// What plan decisions need from the settings; `cr_kind` is the watched type
/// as `plural.group` (empty for `render`, which stamps nothing).
fn plan_settings(s: &Settings, cr_kind: String) -> PlanSettings {
    PlanSettings {
        filter_annotation: s.filter_annotation.clone(),
        release_prefix: s.release_prefix.clone(),
        release_namespace: s.release_namespace.clone(),
        values: s.values.clone(),
        // no helm process of any Lostrómos can still hold the release by then
        pending_stuck_after_secs: (deadline_for(s.timeout) + HELM_GRACE).as_secs() as i64,
        // without leader election no other replica runs (the chart's Recreate
        // strategy stops the old pod first)
        exclusive: s.lease.is_none(),
        cr_kind,
        adopt_from: s.adopt_from,
    }
}

/// One watched kind, found on the API server, with its chart.
struct Kind {
    s: Settings,
    served: preflight::Served,
    chart: lostromos::helm::chart::Chart,
}

/// Serves every kind of `kinds` from this process: one HTTP server, one
/// lease, one release-Secret watch, one set of object watches and one helm
/// runner for all, and one controller (and context) per kind. The process-wide
/// options are the same in every element of `kinds`.
pub async fn run(kinds: Vec<Settings>) -> anyhow::Result<()> {
    #[cfg(feature = "dhat-heap")]
    heap_profile::start();
    let s = kinds.first().cloned().context("no watched kind")?;
    let probe = Arc::new(Probe {
        stuck_after: s.stuck_after,
        ..Probe::default()
    });
    let stop = Stop::on_signals();
    let listener = tokio::net::TcpListener::bind(listen_address(&s.listen))
        .await
        .with_context(|| format!("--listen {}: cannot listen there", s.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving /healthz /readyz /metrics /status");
    let http = tokio::spawn(http::serve(listener, probe.clone(), stop.requested()));

    // preflight: helm, the cluster, each watched type and its chart, the permissions
    let work = helm::work_dir()?;
    let runner = Arc::new(helm::runner(&s, work.path(), s.concurrency));
    let helm = helm::detect(&runner, &s.helm_binary).await?;
    let client = preflight::client(&s, &probe.calls).await?;
    let kinds = prepare(&client, &runner, kinds, work.path()).await?;
    let resources: Vec<ApiResource> = kinds.iter().map(|k| k.served.resource.clone()).collect();
    preflight::permissions(
        &client,
        &kinds.iter().map(|k| (&k.s, &k.served)).collect::<Vec<_>>(),
    )
    .await?;
    {
        let args: Vec<_> = kinds
            .iter()
            .map(|k| {
                let scopes = watches::release_scopes(std::slice::from_ref(&k.s));
                (&k.s, helm::args(&k.s, helm.major, &k.chart), scopes)
            })
            .collect();
        preflight::object_permissions(&client, &runner, &args).await;
    }
    let api = Arc::new(ApiProbe::new(client.clone()));
    let _ = probe.api.set(api.clone());
    tokio::spawn(probe.watches.clone().settle_forever(api.clone()));

    // With leader election, wait for the lease (ready meanwhile: a standby is healthy).
    let (halt, leadership) = match &s.lease {
        None => (halt_on(stop.requested()), None),
        Some(lease) => {
            probe.ready.store(true, Ordering::Relaxed);
            let Some(leadership) =
                Leadership::acquire(&client, lease, &resources, stop.receiver()).await?
            else {
                return Ok(());
            };
            let (lost, stopped) = (leadership.lost(), stop.requested());
            let halt = halt_on(async move {
                tokio::select! {
                    () = lost => tracing::error!("lost the lease; stopping"),
                    () = stopped => {}
                }
            });
            (halt, Some(leadership))
        }
    };
    probe.ready.store(false, Ordering::Relaxed);
    for k in &kinds {
        let r = &k.served.resource;
        tracing::info!(
            kind = %r.kind, group = %r.group, version = %r.version,
            helm = %helm.text, chart = %k.chart.name_version, status_subresource = k.served.has_status,
            dry_run = s.dry_run, "lostromos starting"
        );
    }

    // watches and controllers
    let all: Vec<Settings> = kinds.iter().map(|k| k.s.clone()).collect();
    // one shared copy of each kind's type for every ref to its CRs
    let types: Vec<CrType> = resources.into_iter().map(Arc::new).collect();
    let lists = match (all.first(), types.first()) {
        (Some(s), Some(t)) => watches::list_mode(&client, s, t).await,
        _ => Default::default(),
    };
    let releases = watches::releases(&client, &all, types.clone(), &probe, lists);
    let objects = watches::objects(&client, &all, &releases, &probe);
    let instance = std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok());
    let release_locks = ReleaseLocks::default();
    let controllers = kinds.into_iter().zip(types).map(|(k, resource)| {
        let Kind { s, served, chart } = k;
        let cr_kind = format!("{}.{}", resource.plural, resource.group);
        let metrics = probe.metrics.for_kind(cr_kind.clone());
        let ctx = Arc::new(Context::new(Setup {
            client: client.clone(),
            resource,
            has_status: served.has_status,
            plan: plan_settings(&s, cr_kind),
            helm: helm::args(&s, helm.major, &chart),
            runner: runner.clone(),
            releases: releases.clone(),
            events: Events::new(client.clone(), "lostromos", instance.clone()),
            chart: Arc::new(chart),
            chart_policy: s.chart_policy.clone(),
            dry_run: s.dry_run,
            reconcile_period: s.reconcile_period,
            work_dir: work.path().to_path_buf(),
            index_catch_up: INDEX_CATCH_UP,
            metrics,
            api: api.clone(),
            objects: objects.clone().filter(|_| s.watch_objects),
            health: HealthSettings {
                drift: s.drift,
                ready_timeout_secs: i64::try_from(s.ready_timeout.as_secs()).unwrap_or(i64::MAX),
                ..HealthSettings::default()
            },
            release_locks: release_locks.clone(),
            kind_cap: s.max_concurrent.map(|n| Arc::new(Semaphore::new(n))),
            routine_events: s.routine_events,
        }));
        let (client, watches, halt) = (client.clone(), probe.watches.clone(), halt.clone());
        async move { watches::run_controllers(&client, &s, ctx, &watches, halt).await }
    });
    let controllers = async move {
        futures::future::join_all(controllers).await;
    };

    // shutdown
    shutdown::run_until_halted(
        controllers,
        halt.clone(),
        &runner,
        s.shutdown_grace,
        HELM_GRACE,
    )
    .await;
    drop(halt);
    let lost_lease = match leadership {
        Some(leadership) => !leadership.release().await && !stop.is_requested(),
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

/// Finds every kind on the API server and checks every chart; all problems
/// at once, each naming its kind when there are several.
async fn prepare(
    client: &kube::Client,
    runner: &lostromos::helm::HelmRunner,
    kinds: Vec<Settings>,
    work: &std::path::Path,
) -> anyhow::Result<Vec<Kind>> {
    let several = kinds.len() > 1;
    let checks = kinds.into_iter().map(|s| async move {
        let watched = s.watched.clone().context("no watched type")?;
        let label = format!(
            "kind {} ({}/{})",
            watched.kind, watched.group, watched.version
        );
        let served = preflight::served(client, &s, &watched).await;
        let chart = helm::resolve_chart(runner, &s, work).await;
        let mut problems = Vec::new();
        if let Err(e) = &served {
            problems.push(format!("{e:#}"));
        }
        if let Err(e) = &chart {
            problems.push(e.to_string());
        }
        match (served, chart) {
            (Ok(served), Ok(chart)) => Ok(Kind { s, served, chart }),
            _ if several => Err(anyhow::anyhow!("{label}:\n    {}", problems.join("\n    "))),
            _ => Err(anyhow::anyhow!("{}", problems.join("\n"))),
        }
    });
    let results = futures::future::join_all(checks).await;
    let mut problems = Vec::new();
    let mut ready = Vec::new();
    for r in results {
        match r {
            Ok(k) => ready.push(k),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    if problems.is_empty() {
        Ok(ready)
    } else if several {
        bail!(
            "{} of the watched kinds cannot start:\n  {}",
            problems.len(),
            problems.join("\n  ")
        )
    } else {
        bail!("{}", problems.join("\n"))
    }
}
