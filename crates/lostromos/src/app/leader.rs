//! Leader election on a Lease: wait to hold it, notice losing it, give it up.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use kube::api::ApiResource;
use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use lostromos::config::settings::LeaseSettings;

/// This process holds the lease (until it loses or releases it).
pub struct Leadership {
    leading: watch::Receiver<bool>,
    task: JoinHandle<kube_lease_manager::Result<LeaseManager>>,
}

impl Leadership {
    /// Waits until this process holds the lease; `None` when `stop` comes first.
    pub async fn acquire(
        client: &Client,
        lease: &LeaseSettings,
        resources: &[ApiResource],
        mut stop: watch::Receiver<bool>,
    ) -> anyhow::Result<Option<Leadership>> {
        let name = lease_name(lease, resources);
        let identity = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .map(|h| format!("{h}-{}", std::process::id()))
            .unwrap_or_else(|_| format!("lostromos-{}", std::process::id()));
        let secs = lease.duration.as_secs().max(2);
        let manager = LeaseManagerBuilder::new(client.clone(), &name)
            .with_namespace(&lease.namespace)
            .with_identity(&identity)
            .with_duration(secs)
            .with_grace((secs / 3).max(1))
            .build()
            .await
            .with_context(|| format!("leader election on Lease {}/{name}", lease.namespace))?;
        let (mut leading, task) = manager.watch().await;
        tracing::info!(lease = %name, namespace = %lease.namespace, identity = %identity, "waiting for the lease");
        let won = tokio::select! {
            r = leading.wait_for(|l| *l) => { r.context("leader election stopped")?; true }
            _ = stop.wait_for(|s| *s) => false,
        };
        let me = Leadership { leading, task };
        if !won {
            me.release().await;
            return Ok(None);
        }
        tracing::info!(lease = %name, identity = %identity, "leading");
        Ok(Some(me))
    }

    /// Resolves when the lease is lost to another replica.
    pub fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut leading = self.leading.clone();
        async move {
            let _ = leading.wait_for(|l| !*l).await;
        }
    }

    /// Gives the lease up for the next leader; returns whether it was still held.
    pub async fn release(self) -> bool {
        let held = *self.leading.borrow();
        // the manager releases the lease once its last receiver is gone
        drop(self.leading);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        held
    }
}

/// The Lease's name: as configured, or one per set of watched types (the
/// first's name, and a hash of them all when there are several).
pub fn lease_name(lease: &LeaseSettings, resources: &[ApiResource]) -> String {
    if let Some(name) = &lease.name {
        return name.clone();
    }
    let mut raw = match resources.first() {
        Some(r) => format!("lostromos-{}-{}", r.plural, r.group),
        None => "lostromos".to_owned(),
    };
    if resources.len() > 1 {
        let mut all: Vec<String> = resources
            .iter()
            .map(|r| format!("{}.{}", r.plural, r.group))
            .collect();
        all.sort();
        let owner = lostromos::plan::labels::owner_id(&all.join(","), None, "lease");
        raw = format!("{raw}-and-{}-more-{}", resources.len() - 1, &owner[..8]);
    }
    lostromos::plan::naming::release_name(None, &raw.replace('.', "-"))
}
