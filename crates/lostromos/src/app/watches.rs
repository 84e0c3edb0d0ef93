//! The watches that feed the controller: helm's release Secrets (one per
//! release scope) and the CRs (one controller per watched namespace).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::Config as ControllerConfig;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::{watcher, Event};
use kube::runtime::{Controller, WatchStreamExt};
use kube::Client;

use lostromos::config::settings::Settings;
use lostromos::observe::cr::{decision_hash, CrObject, CrType};
use lostromos::observe::early_store::EarlyStore;
use lostromos::observe::lists::{self, ListMode};
use lostromos::observe::objects::Objects;
use lostromos::observe::release_watch::{self, Releases};
use lostromos::observe::watch_health::{self, Watches};
use lostromos::reconcile::{self, Context};
use lostromos::serve::http::Probe;

use super::shutdown::Halt;

/// Where the releases of every kind live: the namespaces whose Secrets (and,
/// for namespaced kinds, whose objects) are watched; `[None]` for all.
pub fn release_scopes(kinds: &[Settings]) -> Vec<Option<String>> {
    let mut scopes = std::collections::BTreeSet::new();
    for s in kinds {
        match (&s.release_namespace, s.namespaces.is_empty()) {
            (Some(ns), _) => {
                scopes.insert(ns.clone());
            }
            (None, false) => scopes.extend(s.namespaces.iter().cloned()),
            // one kind in every namespace: one watch covers them all
            (None, true) => return vec![None],
        }
    }
    scopes.into_iter().map(Some).collect()
}

/// The object watches of the releases, unless no kind watches its objects
/// (`--watch-objects=false`). helm's own writes (field manager `helm`, or its
/// binary's name) are never drift.
pub fn objects(
    client: &Client,
    kinds: &[Settings],
    releases: &Arc<Releases>,
    probe: &Arc<Probe>,
) -> Option<Arc<Objects>> {
    let s = kinds.iter().find(|s| s.watch_objects)?;
    let mut ours = vec!["helm".to_owned()];
    if let Some(name) = s.helm_binary.file_name().and_then(|n| n.to_str()) {
        if name != "helm" {
            ours.push(name.to_owned());
        }
    }
    let objects = Objects::new(
        client.clone(),
        release_scopes(kinds),
        ours,
        releases.clone(),
        probe.watches.clone(),
    );
    let _ = probe.objects.set(objects.clone());
    Some(objects)
}

/// Starts the release Secret watches; `/readyz` turns ready once all have listed
/// (or are refused, which `/readyz` then names).
pub fn releases(
    client: &Client,
    kinds: &[Settings],
    resources: Vec<CrType>,
    probe: &Arc<Probe>,
    lists: ListMode,
) -> Arc<Releases> {
    let releases = Releases::new(resources, release_scopes(kinds), &probe.watches, lists);
    let _ = probe.releases.set(releases.clone());
    release_watch::spawn_watches(client, &releases);
    {
        let (releases, probe) = (releases.clone(), probe.clone());
        tokio::spawn(async move {
            releases.wait_synced().await;
            probe.ready.store(true, Ordering::Relaxed);
        });
    }
    releases
}

/// Reconciles running at once per controller, per helm process allowed
/// (`--concurrency`). Each running reconcile is a task of about 9 KB plus its
/// copies of the CR, values and release; unbounded, a start or a bulk apply
/// runs one per CR at once (a third of the heap's 24 MiB peak at a restart
/// with 1000 CRs), a peak the allocator keeps as resident memory.
/// Beyond the helm processes, the rest only wait for one, so a few times as
/// many keep the cheap decisions (skips, status) flowing meanwhile.
pub const RECONCILES_PER_HELM: usize = 16;

fn uid_of(cr: &CrObject) -> String {
    cr.metadata.uid.clone().unwrap_or_default()
}

/// How this API server lists: asked once, on the first kind's CRs where
/// they are watched (the same server serves every watch).
pub async fn list_mode(client: &Client, s: &Settings, resource: &CrType) -> ListMode {
    let api: Api<CrObject> = match s.namespaces.first() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, resource),
        None => Api::all_with(client.clone(), resource),
    };
    let mode = lists::probe(&api).await;
    tracing::info!(lists = mode.label(), "initial lists");
    mode
}

/// One controller per watched namespace (a CR lives in exactly one, so
/// per-object exclusivity still holds), all stopping on `halt`. Each CR watch
/// retries with the capped backoff and reports to `watches`.
pub async fn run_controllers(
    client: &Client,
    s: &Settings,
    ctx: Arc<Context>,
    watches: &Watches,
    halt: Halt,
) {
    let resource = ctx.resource.clone();
    let mut wc = ctx.releases.lists().config();
    if let Some(sel) = &s.selector {
        wc = wc.labels(sel);
    }
    let apis: Vec<(Api<CrObject>, String)> = if s.namespaces.is_empty() {
        let all = format!("{} in all namespaces", resource.kind);
        vec![(Api::all_with(client.clone(), &resource), all)]
    } else {
        s.namespaces
            .iter()
            .map(|ns| {
                let api = Api::namespaced_with(client.clone(), ns, &resource);
                (api, format!("{} in namespace {ns}", resource.kind))
            })
            .collect()
    };
    let controllers = apis.into_iter().map(|(api, what)| {
        let writer = Writer::new(resource.clone());
        let reader = writer.as_reader();
        let mut store = EarlyStore::new(writer);
        let objects = ctx.objects.clone();
        if let Some(o) = &objects {
            o.start_pass.watch_begun();
        }
        let mut first_list = true;
        let health = watches.add(what.clone());
        let mut listing = lists::Listing::default();
        // Only changes that can change a decision wake a CR: not our status writes.
        // (retried with the capped backoff below: the controller backs its
        // trigger streams off itself, so a second backoff here would add up)
        let crs = watcher(api, wc.clone())
            .inspect(move |item| match item {
                Ok(event) => {
                    listing.see(event, &what);
                    if let Some(pass) = objects.as_ref().map(|o| &o.start_pass) {
                        match event {
                            Event::InitApply(cr) if first_list => pass.listed(&uid_of(cr)),
                            Event::InitDone if first_list => {
                                first_list = false;
                                pass.list_done();
                            }
                            Event::Delete(cr) => pass.decided(&uid_of(cr)),
                            _ => {}
                        }
                    }
                    health.ok()
                }
                Err(e) => health.error(e),
            })
            .inspect(move |item| {
                if let Ok(event) = item {
                    store.apply(event);
                }
            })
            .applied_objects()
            .predicate_filter(decision_hash, Default::default());
        let running = s.concurrency.saturating_mul(RECONCILES_PER_HELM);
        let config =
            ControllerConfig::default().concurrency(u16::try_from(running).unwrap_or(u16::MAX));
        Controller::for_stream_with(crs, reader, resource.clone())
            .with_config(config)
            .trigger_backoff(watch_health::backoff())
            .reconcile_on(ctx.releases.triggers(&resource))
            .graceful_shutdown_on(halt.clone())
            .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
            .for_each(|res| async move {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "controller event");
                }
            })
    });
    futures::future::join_all(controllers).await;
}
