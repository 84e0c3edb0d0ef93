//! The digest of everything that shapes a release, stamped on it as a label so an
//! unchanged CR costs no helm process.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::plan::naming::hex;

/// Bumped when the meaning of the digest changes, so old stamps never match.
const SCHEME: &str = "lostromos-digest-v1";
/// Hex characters kept: a label value holds at most 63.
pub const DIGEST_HEX: usize = 32;

/// What besides the values decides the release's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestInputs<'a> {
    /// Digest of the chart's files (or of its packaged archive).
    pub chart: &'a str,
    pub release_name: &'a str,
    pub release_namespace: &'a str,
}

/// A stable digest: independent of map key order, changed by any value or input.
pub fn digest(values: &Value, inputs: &DigestInputs<'_>) -> String {
    let mut h = Sha256::new();
    for part in [
        SCHEME,
        inputs.chart,
        inputs.release_name,
        inputs.release_namespace,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let mut canonical = String::new();
    write_canonical(values, &mut canonical);
    h.update(canonical.as_bytes());
    hex(&h.finalize())[..DIGEST_HEX].to_owned()
}

/// JSON with object keys sorted, whatever order the map kept them in.
pub fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const IN: DigestInputs<'static> = DigestInputs {
        chart: "c1",
        release_name: "r",
        release_namespace: "ns",
    };

    #[test]
    fn key_order_does_not_matter() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":[{"q":1,"p":2}]}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":[{"p":2,"q":1}],"y":2},"b":1}"#).unwrap();
        assert_eq!(digest(&a, &IN), digest(&b, &IN));
    }

    #[test]
    fn every_input_changes_it() {
        let v = json!({"a": 1});
        let base = digest(&v, &IN);
        assert_eq!(base.len(), DIGEST_HEX);
        assert_ne!(base, digest(&json!({"a": 2}), &IN));
        assert_ne!(base, digest(&json!({"a": "1"}), &IN));
        assert_ne!(base, digest(&v, &DigestInputs { chart: "c2", ..IN }));
        assert_ne!(
            base,
            digest(
                &v,
                &DigestInputs {
                    release_name: "r2",
                    ..IN
                }
            )
        );
        assert_ne!(
            base,
            digest(
                &v,
                &DigestInputs {
                    release_namespace: "n2",
                    ..IN
                }
            )
        );
    }

    #[test]
    fn list_order_matters() {
        assert_ne!(digest(&json!([1, 2]), &IN), digest(&json!([2, 1]), &IN));
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let a = DigestInputs {
            chart: "ab",
            release_name: "c",
            release_namespace: "d",
        };
        let b = DigestInputs {
            chart: "a",
            release_name: "bc",
            release_namespace: "d",
        };
        assert_ne!(digest(&json!({}), &a), digest(&json!({}), &b));
    }

    #[test]
    fn canonical_form_escapes_keys() {
        let mut s = String::new();
        write_canonical(&json!({"a\"b": "x"}), &mut s);
        assert_eq!(s, r#"{"a\"b":"x"}"#);
    }
}
