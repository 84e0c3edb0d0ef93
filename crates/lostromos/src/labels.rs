//! Names under the project's domain: the finalizer and the labels stamped on releases.

pub const FINALIZER: &str = "lostromos.dev/helm-release";
/// Digest of every input of the release (see `digest`).
pub const DIGEST: &str = "lostromos.dev/digest";
/// The CR a release belongs to.
pub const CR_NAME: &str = "lostromos.dev/cr-name";
pub const CR_NAMESPACE: &str = "lostromos.dev/cr-namespace";
/// The revision Lostrómos expected its own helm run to create. Helm copies labels
/// into later revisions, so a revision made by hand (upgrade, rollback) carries a
/// stale value here and is noticed as drift.
pub const REVISION: &str = "lostromos.dev/revision";
