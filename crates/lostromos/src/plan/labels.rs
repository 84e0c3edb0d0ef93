//! Names under the project's domain: the finalizer and the labels stamped on releases.

pub const FINALIZER: &str = "lostromos.dev/helm-release";
/// Digest of every input of the release (see `digest`).
pub const DIGEST: &str = "lostromos.dev/digest";
/// The CR a release belongs to, for people and for mapping release events to
/// CRs (shortened with a hash when too long for a label).
pub const CR_NAME: &str = "lostromos.dev/cr-name";
pub const CR_NAMESPACE: &str = "lostromos.dev/cr-namespace";
/// Who owns a release, exactly: a digest of the CR's type, namespace and full
/// name (see `owner_id`). Unlike the shortened name it cannot collide, and
/// unlike the uid it survives a backup and restore of the CRs.
pub const OWNER: &str = "lostromos.dev/owner";
/// The revision Lostrómos expected its own helm run to create. Helm copies labels
/// into later revisions, so a revision made by hand (upgrade, rollback) carries a
/// stale value here and is noticed as drift.
pub const REVISION: &str = "lostromos.dev/revision";

/// The owner identity of a CR: 32 hex characters of SHA-256 over its type
/// (`plural.group`), namespace and name, with unambiguous separators.
pub fn owner_id(kind: &str, namespace: Option<&str>, name: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [kind, namespace.unwrap_or(""), name] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    crate::plan::naming::hex(&h.finalize())[..32].to_owned()
}

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

    #[test]
    fn owner_ids_differ_by_kind_namespace_and_exact_name() {
        let id = owner_id("widgets.g", Some("ns"), "a");
        assert_eq!(id.len(), 32);
        assert_eq!(id, owner_id("widgets.g", Some("ns"), "a"));
        assert_ne!(id, owner_id("gadgets.g", Some("ns"), "a"));
        assert_ne!(id, owner_id("widgets.g", Some("other"), "a"));
        assert_ne!(id, owner_id("widgets.g", None, "a"));
        // a long name and the shortened form of it are different CRs
        let long = "x".repeat(80);
        assert_ne!(
            owner_id("w", Some("ns"), &long),
            owner_id("w", Some("ns"), &value(&long))
        );
        // no ambiguity at the separators
        assert_ne!(
            owner_id("w", Some("ab"), "c"),
            owner_id("w", Some("a"), "bc")
        );
    }
}
