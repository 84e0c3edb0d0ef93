//! Start-up and wiring, the binary's edge: everything here may fail with a
//! message for a person. `run` is preflight -> leadership -> watches and
//! controllers -> shutdown, each in a module of its own.

mod commands;
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
use lostromos::reconcile::events::Events;

use leader::Leadership;
use lostromos::config::settings::{Settings, HELM_GRACE};
use lostromos::helm::process::deadline_for;
use lostromos::observe::api_probe::ApiProbe;
use lostromos::plan::health::HealthSettings;
use lostromos::plan::PlanSettings;
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
    }
}

pub async fn run(s: Settings) -> anyhow::Result<()> {
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

    // preflight: helm, the cluster, the watched type, its permissions, the chart
    let work = helm::work_dir()?;
    let runner = Arc::new(helm::runner(&s, work.path(), s.concurrency));
    let helm = helm::detect(&runner, &s.helm_binary).await?;
    let client = preflight::client(&s, &probe.calls).await?;
    let watched = s.watched.clone().context("no watched type")?;
    let served = preflight::served(&client, &s, &watched).await?;
    let resource = served.resource.clone();
    preflight::permissions(&client, &s, &served).await?;
    let chart = helm::resolve_chart(&runner, &s, work.path()).await?;
    let api = Arc::new(ApiProbe::new(client.clone()));
    let _ = probe.api.set(api.clone());
    tokio::spawn(probe.watches.clone().settle_forever(api.clone()));

    // With leader election, wait for the lease (ready meanwhile: a standby is healthy).
    let (halt, leadership) = match &s.lease {
        None => (halt_on(stop.requested()), None),
        Some(lease) => {
            probe.ready.store(true, Ordering::Relaxed);
            let Some(leadership) =
                Leadership::acquire(&client, lease, &resource, stop.receiver()).await?
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
    tracing::info!(
        kind = %resource.kind, group = %resource.group, version = %resource.version,
        helm = %helm.text, chart = %chart.name_version, status_subresource = served.has_status,
        dry_run = s.dry_run, "lostromos starting"
    );

    // watches and controllers
    let releases = watches::releases(&client, &s, &resource, &probe);
    let objects = watches::objects(&client, &s, &releases, &probe);
    let instance = std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok());
    let cr_kind = format!("{}.{}", resource.plural, resource.group);
    let ctx = Arc::new(Context::new(Setup {
        client: client.clone(),
        resource,
        has_status: served.has_status,
        plan: plan_settings(&s, cr_kind),
        helm: helm::args(&s, helm.major, &chart),
        runner: runner.clone(),
        releases,
        events: Events::new(client.clone(), "lostromos", instance),
        chart: Arc::new(chart),
        chart_policy: s.chart_policy.clone(),
        dry_run: s.dry_run,
        reconcile_period: s.reconcile_period,
        work_dir: work.path().to_path_buf(),
        index_catch_up: INDEX_CATCH_UP,
        metrics: probe.metrics.clone(),
        api,
        objects,
        health: HealthSettings {
            drift: s.drift,
            ready_timeout_secs: i64::try_from(s.ready_timeout.as_secs()).unwrap_or(i64::MAX),
            ..HealthSettings::default()
        },
    }));
    let controllers = watches::run_controllers(&client, &s, ctx, &probe.watches, halt.clone());

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
