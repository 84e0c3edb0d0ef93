//! The chart Lostrómos drives: resolved once at start-up to a local path, checked,
//! and digested, so every install uses the same bytes and an unchanged chart
//! never causes an upgrade.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helm::argv;
use crate::helm::error::SourceNames;
use crate::helm::templates::{self, TemplatesError};
use crate::helm::{HelmError, HelmRunner};
use crate::plan::naming::hex;

/// Where the releases' chart comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartSource {
    /// A chart directory, a .tgz, or a reference helm can pull.
    Chart(String),
    /// A directory of Go `*.tmpl` templates (the original's second back end),
    /// made into a chart at start-up.
    Templates(PathBuf),
}

/// A chart ready to use.
#[derive(Clone, Debug)]
pub struct Chart {
    /// Local directory or archive passed to helm.
    pub path: String,
    /// Digest of the chart's content.
    pub digest: String,
    /// The chart's name (Chart.yaml `name`).
    pub name: String,
    /// `name-version`, as helm shows it.
    pub name_version: String,
    pub app_version: Option<String>,
    /// How helm's messages name its template files, for the user.
    pub sources: SourceNames,
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("--chart {chart}: {cause}; fix: point --chart at a chart directory, a .tgz, or a reference helm can pull (with --chart-version)")]
    Helm { chart: String, cause: HelmError },
    #[error("--chart {chart}: cannot read {path}: {cause}")]
    Read {
        chart: String,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("--chart {chart}: helm pull wrote no chart archive")]
    NothingPulled { chart: String },
    #[error(transparent)]
    Templates(#[from] TemplatesError),
    #[error("--templates {dir}: {cause}")]
    TemplatesHelm { dir: String, cause: HelmError },
    #[error("--templates {dir}: a template does not parse: {message}; fix: correct the file and line named")]
    TemplatesParse { dir: String, message: String },
}

/// Makes the chart from a directory of templates (in `work`), checks that helm
/// reads it, and digests it: the digest follows the templates' content.
pub async fn from_templates(
    runner: &HelmRunner,
    dir: &Path,
    work: &Path,
    timeout: std::time::Duration,
) -> Result<Chart, ChartError> {
    let set = templates::load(dir)?;
    let path = set.write_chart(&work.join("templates-chart"))?;
    let mut chart = resolve(runner, &path.to_string_lossy(), None, work, timeout)
        .await
        .map_err(|e| match e {
            ChartError::Helm { cause, .. } => ChartError::TemplatesHelm {
                dir: dir.display().to_string(),
                cause,
            },
            other => other,
        })?;
    chart.sources = set.source_names();
    // A template that does not parse fails every CR: refuse to start. A CR
    // like no other (empty spec) may fail to execute; real CRs are judged alone.
    let probe = serde_json::json!({ templates::CR_KEY: {
        "apiVersion": "lostromos.dev/v1", "kind": "Probe",
        "metadata": {"name": "lostromos-check", "namespace": "default", "labels": {}, "annotations": {}},
        "spec": {},
    }});
    let values = argv::ValuesInput::new(&probe, &["lostromos-check", "default"]);
    let check = argv::check_template(&chart.path, values, chart.sources.clone());
    if let Err(e) = runner.run(&check, timeout).await {
        if is_parse_error(&e.message) {
            return Err(ChartError::TemplatesParse {
                dir: dir.display().to_string(),
                message: e.message,
            });
        }
        tracing::debug!(error = %e, "the templates do not execute for an empty CR; each CR is judged on its own");
    }
    Ok(chart)
}

/// Whether helm's message is a template that does not parse (as opposed to
/// one that fails for the values it was given).
fn is_parse_error(message: &str) -> bool {
    message.contains("parse error")
}

/// Resolves `chart` (pulling it into `work` when it is not local), checks that
/// helm reads it, and computes its digest.
pub async fn resolve(
    runner: &HelmRunner,
    chart: &str,
    version: Option<&str>,
    work: &Path,
    timeout: std::time::Duration,
) -> Result<Chart, ChartError> {
    let helm_err = |cause| ChartError::Helm {
        chart: chart.to_owned(),
        cause,
    };
    let local = Path::new(chart);
    if !local.exists() && looks_local(chart) {
        return Err(ChartError::Read {
            chart: chart.into(),
            path: local.to_path_buf(),
            cause: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let path = if local.exists() {
        local.to_path_buf()
    } else {
        let dest = work.join("chart");
        std::fs::create_dir_all(&dest).map_err(|cause| ChartError::Read {
            chart: chart.into(),
            path: dest.clone(),
            cause,
        })?;
        runner
            .run(&argv::pull(chart, version, &dest), timeout)
            .await
            .map_err(helm_err)?;
        first_archive(&dest).ok_or_else(|| ChartError::NothingPulled {
            chart: chart.into(),
        })?
    };
    let shown = runner
        .run(&argv::show_chart(&path.to_string_lossy(), None), timeout)
        .await
        .map_err(helm_err)?;
    let meta: Value = serde_saphyr::from_str(&shown.stdout).unwrap_or(Value::Null);
    let field = |k: &str| meta.get(k).and_then(Value::as_str).map(str::to_owned);
    let digest = digest_path(&path).map_err(|cause| ChartError::Read {
        chart: chart.into(),
        path: path.clone(),
        cause,
    })?;
    Ok(Chart {
        path: path.to_string_lossy().into_owned(),
        digest,
        name: field("name").unwrap_or_default(),
        name_version: format!(
            "{}-{}",
            field("name").unwrap_or_default(),
            field("version").unwrap_or_default()
        ),
        app_version: field("appVersion"),
        sources: SourceNames::default(),
    })
}

/// A reference that can only mean a local file: helm would otherwise try to pull
/// it and say "repo not found".
pub fn looks_local(chart: &str) -> bool {
    if chart.contains("://") {
        return false;
    }
    chart.starts_with('/')
        || chart.starts_with("./")
        || chart.starts_with("../")
        || chart.starts_with('~')
        || chart.ends_with(".tgz")
        || chart == "."
}

fn first_archive(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "tgz"))
}

/// Digest of a chart archive's bytes, or of a chart directory's files (relative
/// paths and contents, in sorted order; VCS folders left out).
pub fn digest_path(path: &Path) -> std::io::Result<String> {
    let mut h = Sha256::new();
    if path.is_dir() {
        let mut files = Vec::new();
        collect_files(path, path, &mut files)?;
        files.sort();
        for rel in files {
            let bytes = std::fs::read(path.join(&rel))?;
            h.update(rel.to_string_lossy().as_bytes());
            h.update([0]);
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(&bytes);
        }
    } else {
        h.update(std::fs::read(path)?);
    }
    Ok(hex(&h.finalize()))
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name == ".git" || name == ".hg" || name == ".svn" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect_files(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_references() {
        assert!(looks_local("/charts/app"));
        assert!(looks_local("./app"));
        assert!(looks_local("../app"));
        assert!(looks_local("app-1.0.0.tgz"));
        assert!(!looks_local("bitnami/nginx"));
        assert!(!looks_local("oci://registry/app"));
        assert!(!looks_local("https://charts.example.com/app-1.0.0.tgz"));
    }

    #[test]
    fn directory_digest_follows_content_not_order_or_time() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for (dir, order) in [(&a, ["x", "y"]), (&b, ["y", "x"])] {
            std::fs::create_dir_all(dir.path().join("templates")).unwrap();
            for f in order {
                std::fs::write(dir.path().join("templates").join(f), f).unwrap();
            }
            std::fs::create_dir_all(dir.path().join(".git")).unwrap();
            std::fs::write(
                dir.path().join(".git/HEAD"),
                dir.path().to_string_lossy().as_bytes(),
            )
            .unwrap();
        }
        let da = digest_path(a.path()).unwrap();
        assert_eq!(da, digest_path(b.path()).unwrap());
        std::fs::write(a.path().join("templates/x"), "changed").unwrap();
        assert_ne!(da, digest_path(a.path()).unwrap());
    }

    #[test]
    fn moving_content_between_files_changes_the_digest() {
        let a = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("a"), "xy").unwrap();
        std::fs::write(a.path().join("b"), "").unwrap();
        let before = digest_path(a.path()).unwrap();
        std::fs::write(a.path().join("a"), "x").unwrap();
        std::fs::write(a.path().join("b"), "y").unwrap();
        assert_ne!(before, digest_path(a.path()).unwrap());
    }
}
