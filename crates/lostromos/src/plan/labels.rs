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

/// A label value for any string: itself when Kubernetes accepts it (at most 63
/// characters), else a shortened form with a hash, like release names.
pub fn value(s: &str) -> String {
    let ok = s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric());
    if ok {
        s.to_owned()
    } else {
        crate::plan::naming::release_name(None, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_pass_long_ones_are_hashed() {
        assert_eq!(value("nemo"), "nemo");
        assert_eq!(value("a.b_c"), "a.b_c");
        let long = "x".repeat(100);
        let v = value(&long);
        assert!(v.len() <= 63);
        assert_eq!(v, value(&long));
        assert_ne!(v, value(&"x".repeat(101)));
    }
}
