//! A real, local Kubernetes control plane for Lostrómos's tests and demo: etcd
//! and kube-apiserver as plain processes on loopback (what controller-runtime's
//! envtest does), plus the helm (v4 and v3) and kubectl binaries to drive it.
//!
//! ```no_run
//! let cluster = testenv::shared();
//! let ns = cluster.create_namespace("demo")?;
//! cluster.kubectl(["-n", &ns, "create", "configmap", "c", "--from-literal=k=v"])?;
//! # anyhow::Ok(())
//! ```
//!
//! Binaries come from `integration/tools/fetch-binaries.sh` (see [`Binaries`]).
//! Linux only: children get a parent-death signal so an aborted test run
//! leaves no process behind.

#![warn(missing_docs)]

mod binaries;
mod cluster;
mod kubeconfig;
mod pki;
mod spawn;

use std::sync::OnceLock;

pub use binaries::Binaries;
pub use cluster::{Cluster, ADMIN_USER, UNPRIVILEGED_USER};
pub use spawn::spawn;

static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// One cluster per test process, started on first use, for tests that isolate
/// themselves by namespace ([`Cluster::create_namespace`]).
///
/// Stopped and removed when the process exits (an `atexit` handler), or, if it
/// is killed, by the children's parent-death signal.
///
/// # Panics
/// If the cluster cannot start; later calls panic with the same message
/// rather than trying again.
pub fn shared() -> &'static Cluster {
    let cluster = SHARED.get_or_init(|| {
        let cluster = Cluster::start().map_err(|e| format!("{e:#}"))?;
        // SAFETY: registers a plain function; it runs at process exit.
        unsafe { nix::libc::atexit(stop_shared) };
        Ok(cluster)
    });
    match cluster {
        Ok(cluster) => cluster,
        Err(e) => panic!("starting the shared test cluster: {e}"),
    }
}

/// A static is never dropped: stop the shared cluster when the process exits.
extern "C" fn stop_shared() {
    if let Some(Ok(cluster)) = SHARED.get() {
        cluster.stop_in_place();
    }
}
