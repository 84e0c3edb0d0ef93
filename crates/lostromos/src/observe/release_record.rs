//! The body of a helm release, as helm stores it in its release Secret: the
//! `release` key holds base64 of gzip of the release as JSON (chart metadata,
//! values, rendered manifest). Both helm majors store it the same way. Read
//! only when a decision needs more than the Secret's labels: one GET, no helm.

use std::io::Read;

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::Client;
use serde_json::Value;

/// Largest decompressed release we read (helm's own limit is 1 MiB compressed).
const MAX_RELEASE: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("release Secret {0} has no release data")]
    Missing(String),
    #[error("release data is not helm's encoding: {0}")]
    Encoding(String),
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

/// Decodes the `release` value of a release Secret (after Kubernetes' own base64).
pub fn decode(stored: &[u8]) -> Result<Value, RecordError> {
    let bad = |e: &dyn std::fmt::Display| RecordError::Encoding(e.to_string());
    let raw = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .map_err(|e| bad(&e))?;
    // helm gzips its releases; very old ones were plain JSON
    let json = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .take(MAX_RELEASE)
            .read_to_end(&mut out)
            .map_err(|e| bad(&e))?;
        out
    } else {
        raw
    };
    serde_json::from_slice(&json).map_err(|e| bad(&e))
}

/// `name-version` of the release's chart.
pub fn chart(record: &Value) -> Option<String> {
    let meta = record.get("chart")?.get("metadata")?;
    let name = meta.get("name")?.as_str()?;
    let version = meta.get("version").and_then(Value::as_str).unwrap_or("");
    Some(format!("{name}-{version}"))
}

/// Reads revision `version` of `release` in `namespace`.
pub async fn fetch(
    client: &Client,
    namespace: &str,
    release: &str,
    version: u64,
) -> Result<Value, RecordError> {
    let name = format!("sh.helm.release.v1.{release}.v{version}");
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get(&name)
        .await?;
    let data = secret
        .data
        .and_then(|mut d| d.remove("release"))
        .ok_or(RecordError::Missing(name))?;
    decode(&data.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn stored(record: &Value) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(record.to_string().as_bytes()).unwrap();
        let zipped = gz.finish().unwrap();
        base64::engine::general_purpose::STANDARD
            .encode(zipped)
            .into_bytes()
    }

    #[test]
    fn reads_helms_encoding() {
        let record = serde_json::json!({"name": "r", "chart": {"metadata": {"name": "nginx", "version": "1.2.3"}}});
        let back = decode(&stored(&record)).unwrap();
        assert_eq!(back, record);
        assert_eq!(chart(&back).as_deref(), Some("nginx-1.2.3"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"!!!").is_err());
        let not_gzip = base64::engine::general_purpose::STANDARD.encode([0x1f, 0x8b, 1, 2, 3]);
        assert!(decode(not_gzip.as_bytes()).is_err());
        assert_eq!(chart(&serde_json::json!({})), None);
    }
}
