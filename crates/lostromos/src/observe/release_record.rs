//! The body of a helm release, as helm stores it in its release Secret: the
//! `release` key holds base64 of gzip of the release as JSON (chart metadata,
//! values, rendered manifest). Both helm majors store it the same way. Read
//! only when a decision needs more than the Secret's labels: one GET, no helm.

use std::io::Read;

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::Client;
use serde::Deserialize;

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

/// What Lostrómos reads of a release. Everything else (the chart's files, the
/// values, hooks) is skipped while decoding, never held: a restart reads one
/// record per release, and they can be large.
#[derive(Debug, Default, Deserialize)]
pub struct Record {
    /// The rendered objects, as one YAML stream.
    #[serde(default)]
    pub manifest: String,
    /// `"ssa"` when helm 4 applied the release server-side.
    #[serde(default)]
    pub apply_method: Option<String>,
    #[serde(default)]
    chart: Option<RecordChart>,
    /// The release's revision.
    #[serde(default)]
    pub version: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct RecordChart {
    #[serde(default)]
    metadata: Option<RecordChartMeta>,
}

#[derive(Debug, Default, Deserialize)]
struct RecordChartMeta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

impl Record {
    /// `name-version` of the release's chart.
    pub fn chart(&self) -> Option<String> {
        let meta = self.chart.as_ref()?.metadata.as_ref()?;
        let name = meta.name.as_deref()?;
        Some(format!("{name}-{}", meta.version.as_deref().unwrap_or("")))
    }

    /// The name of the release's chart.
    pub fn chart_name(&self) -> Option<&str> {
        self.chart.as_ref()?.metadata.as_ref()?.name.as_deref()
    }

    /// Whether helm applied it server-side (helm 4).
    pub fn server_side(&self) -> bool {
        self.apply_method.as_deref() == Some("ssa")
    }
}

/// Decodes the `release` value of a release Secret (after Kubernetes' own
/// base64), streaming through gzip so the whole JSON text is never in memory.
pub fn decode(stored: &[u8]) -> Result<Record, RecordError> {
    let bad = |e: &dyn std::fmt::Display| RecordError::Encoding(e.to_string());
    let raw = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .map_err(|e| bad(&e))?;
    // helm gzips its releases; very old ones were plain JSON
    if raw.starts_with(&[0x1f, 0x8b]) {
        let reader =
            std::io::BufReader::new(flate2::read::GzDecoder::new(raw.as_slice()).take(MAX_RELEASE));
        serde_json::from_reader(reader).map_err(|e| bad(&e))
    } else {
        serde_json::from_slice(&raw).map_err(|e| bad(&e))
    }
}

/// The release `helm upgrade --output json` printed: the same JSON it stored.
pub fn from_helm_output(stdout: &str) -> Result<Record, RecordError> {
    serde_json::from_str(stdout).map_err(|e| RecordError::Encoding(e.to_string()))
}

/// Reads revision `version` of `release` in `namespace`.
pub async fn fetch(
    client: &Client,
    namespace: &str,
    release: &str,
    version: u64,
) -> Result<Record, RecordError> {
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
    use serde_json::Value;
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
    fn reads_the_release_helm_prints() {
        let printed = serde_json::json!({"name": "r", "info": {"status": "deployed"}, "version": 7,
            "manifest": "---\nkind: A\n", "apply_method": "ssa", "config": {"password": "x"},
            "chart": {"metadata": {"name": "nginx", "version": "1.2.3"}}});
        let back = from_helm_output(&printed.to_string()).unwrap();
        assert_eq!(back.version, Some(7));
        assert_eq!(back.manifest, "---\nkind: A\n");
        assert!(back.server_side());
        // helm's table output (an older argv, a wrapper) is an error, not a panic
        assert!(matches!(
            from_helm_output("Release \"r\" has been upgraded."),
            Err(RecordError::Encoding(_))
        ));
    }

    #[test]
    fn reads_helms_encoding() {
        let record = serde_json::json!({"name": "r", "manifest": "---\nkind: A\n", "apply_method": "ssa",
            "chart": {"metadata": {"name": "nginx", "version": "1.2.3"}, "templates": [{"name": "t", "data": "eA=="}]},
            "config": {"big": [1, 2, 3]}});
        let back = decode(&stored(&record)).unwrap();
        assert_eq!(back.manifest, "---\nkind: A\n");
        assert!(back.server_side());
        assert_eq!(back.chart().as_deref(), Some("nginx-1.2.3"));
        // helm 3 has no apply_method; a plain JSON record (very old helm) reads too
        let plain = serde_json::json!({"manifest": "m"}).to_string();
        let back = decode(
            base64::engine::general_purpose::STANDARD
                .encode(plain)
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(back.manifest, "m");
        assert!(!back.server_side());
        assert_eq!(back.chart(), None);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"!!!").is_err());
        let not_gzip = base64::engine::general_purpose::STANDARD.encode([0x1f, 0x8b, 1, 2, 3]);
        assert!(decode(not_gzip.as_bytes()).is_err());
        let not_a_record = base64::engine::general_purpose::STANDARD.encode("[1]");
        assert!(decode(not_a_record.as_bytes()).is_err());
    }
}
