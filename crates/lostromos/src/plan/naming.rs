//! Release names: derived from the CR, always valid for helm, never a failure.

use sha2::{Digest, Sha256};

/// Helm's limit on release names.
pub const MAX_RELEASE_NAME: usize = 53;
/// Characters kept from a name that has to be shortened, before the hash.
const KEEP: usize = 40;
/// Hex characters of SHA-256 appended to a shortened name.
const HASH_HEX: usize = 12;

/// The release for a CR: `<prefix>-<name>`, or the CR's name without a prefix.
///
/// A name that helm would reject (too long, dots, upper case) becomes the first 40
/// valid characters plus `-` and 12 hex characters of a SHA-256 of the full name,
/// so it stays deterministic and two different CRs do not collide.
pub fn release_name(prefix: Option<&str>, cr_name: &str) -> String {
    let full = match prefix {
        Some(p) if !p.is_empty() => format!("{p}-{cr_name}"),
        _ => cr_name.to_owned(),
    };
    if is_valid_release_name(&full) {
        return full;
    }
    let mut kept: String = full
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .take(KEEP)
        .collect();
    while kept.ends_with('-') {
        kept.pop();
    }
    let hash = hex(&Sha256::digest(full.as_bytes()));
    let suffix = &hash[..HASH_HEX];
    let kept = kept.trim_start_matches('-');
    if kept.is_empty() {
        suffix.to_owned()
    } else {
        format!("{kept}-{suffix}")
    }
}

/// Helm's release-name rule, without dots (Service names cannot hold them).
pub fn is_valid_release_name(name: &str) -> bool {
    let b = name.as_bytes();
    let inner_ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    let edge_ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= MAX_RELEASE_NAME
        && b.iter().all(inner_ok)
        && b.first().is_some_and(edge_ok)
        && b.last().is_some_and(edge_ok)
}

/// Lower-case hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_through() {
        assert_eq!(release_name(None, "nemo"), "nemo");
        assert_eq!(release_name(Some("lostromos"), "nemo"), "lostromos-nemo");
        assert_eq!(release_name(Some(""), "nemo"), "nemo");
    }

    #[test]
    fn long_names_are_shortened_deterministically() {
        let long = "a".repeat(60);
        let name = release_name(None, &long);
        assert_eq!(name.len(), KEEP + 1 + HASH_HEX);
        assert!(is_valid_release_name(&name));
        assert_eq!(name, release_name(None, &long));
        assert!(name.starts_with(&"a".repeat(KEEP)));
    }

    #[test]
    fn exactly_53_characters_is_kept() {
        let n = "b".repeat(MAX_RELEASE_NAME);
        assert_eq!(release_name(None, &n), n);
        let n54 = "b".repeat(MAX_RELEASE_NAME + 1);
        assert_ne!(release_name(None, &n54), n54);
    }

    #[test]
    fn names_that_differ_only_past_the_cut_do_not_collide() {
        let a = format!("{}-one", "x".repeat(50));
        let b = format!("{}-two", "x".repeat(50));
        assert_ne!(release_name(None, &a), release_name(None, &b));
    }

    #[test]
    fn dots_are_replaced_and_hashed() {
        let name = release_name(None, "my.site.example");
        assert!(is_valid_release_name(&name), "{name}");
        assert!(name.starts_with("my-site-example-"));
        // a.b and a-b must not map to the same release
        assert_ne!(release_name(None, "a.b"), release_name(None, "a-b"));
    }

    #[test]
    fn trailing_dash_at_the_cut_is_trimmed() {
        let n = format!("{}-{}", "c".repeat(39), "d".repeat(30));
        let name = release_name(None, &n);
        assert!(is_valid_release_name(&name), "{name}");
        assert!(!name.contains("--"));
    }

    #[test]
    fn validity_rule() {
        assert!(is_valid_release_name("a"));
        assert!(is_valid_release_name("a-1"));
        assert!(!is_valid_release_name(""));
        assert!(!is_valid_release_name("-a"));
        assert!(!is_valid_release_name("a-"));
        assert!(!is_valid_release_name("A"));
        assert!(!is_valid_release_name("a.b"));
        assert!(!is_valid_release_name("a_b"));
    }
}
