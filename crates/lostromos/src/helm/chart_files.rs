//! A chart's own files read without helm: `Chart.yaml`, `values.yaml`,
//! `values.schema.json` and `requirements.yaml` (a v1 chart's
//! dependencies) at the top of a chart directory or a packaged chart
//! (`.tgz`, read with the `tar` and `flate2` crates).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// More than any real values file; bounds what a hostile archive can make us read.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// The files `lostromos crd` reads, each `None` when the chart has none.
#[derive(Clone, Debug, Default)]
pub struct ChartFiles {
    pub chart_yaml: Option<String>,
    pub values_yaml: Option<String>,
    pub values_schema: Option<String>,
    pub requirements_yaml: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChartFilesError {
    #[error("cannot read {path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: {file} is larger than {MAX_FILE} bytes")]
    TooLarge { path: PathBuf, file: String },
    #[error("{path}: {file} is not UTF-8 text")]
    NotText { path: PathBuf, file: String },
    #[error("{path} is not a chart: it has no Chart.yaml; fix: point --chart at a chart directory or a .tgz made by `helm package`")]
    NotAChart { path: PathBuf },
}

/// Chart metadata that names the chart in the CRD's header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChartMeta {
    pub name: String,
    pub version: String,
    /// Subcharts, by the key their values sit under (alias, else name).
    pub subcharts: Vec<String>,
}

impl ChartFiles {
    /// Reads them from a chart directory, or a gzip'd tar of one.
    pub fn read(path: &Path) -> Result<ChartFiles, ChartFilesError> {
        let files = if path.is_dir() {
            read_dir(path)?
        } else {
            read_archive(path)?
        };
        if files.chart_yaml.is_none() {
            return Err(ChartFilesError::NotAChart {
                path: path.to_path_buf(),
            });
        }
        Ok(files)
    }

    /// Name, version and subcharts from Chart.yaml (empty when unreadable:
    /// helm is the judge of a chart's metadata, this only labels the CRD).
    pub fn meta(&self) -> ChartMeta {
        let v: Value = self
            .chart_yaml
            .as_deref()
            .and_then(|t| serde_saphyr::from_str(t).ok())
            .unwrap_or(Value::Null);
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        // a v1 chart (helm 2's) lists them in requirements.yaml; helm 3 and 4
        // still install such charts with their subcharts
        let requirements: Value = self
            .requirements_yaml
            .as_deref()
            .and_then(|t| serde_saphyr::from_str(t).ok())
            .unwrap_or(Value::Null);
        let subcharts = v
            .get("dependencies")
            .or_else(|| requirements.get("dependencies"))
            .and_then(Value::as_array)
            .map(|deps| {
                deps.iter()
                    .filter_map(|d| {
                        d.get("alias")
                            .or_else(|| d.get("name"))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        ChartMeta {
            name: text("name"),
            version: text("version"),
            subcharts,
        }
    }

    fn set(&mut self, name: &str, text: String) {
        match name {
            "Chart.yaml" => self.chart_yaml = Some(text),
            "values.yaml" => self.values_yaml = Some(text),
            "values.schema.json" => self.values_schema = Some(text),
            "requirements.yaml" => self.requirements_yaml = Some(text),
            _ => {}
        }
    }
}

const WANTED: &[&str] = &[
    "Chart.yaml",
    "values.yaml",
    "values.schema.json",
    "requirements.yaml",
];

fn read_dir(dir: &Path) -> Result<ChartFiles, ChartFilesError> {
    let mut files = ChartFiles::default();
    for name in WANTED {
        let path = dir.join(name);
        match std::fs::File::open(&path) {
            Ok(f) => {
                let text = read_text(f, dir, name)?;
                files.set(name, text);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(cause) => return Err(ChartFilesError::Io { path, cause }),
        }
    }
    Ok(files)
}

/// A packaged chart holds `<name>/Chart.yaml` and so on; subcharts sit
/// deeper (`<name>/charts/...`) and are not the chart's own files.
fn read_archive(path: &Path) -> Result<ChartFiles, ChartFilesError> {
    let io = |cause| ChartFilesError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut files = ChartFiles::default();
    for entry in archive.entries().map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = {
            let p = entry.path().map_err(io)?;
            let parts: Vec<String> = p
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            match parts.as_slice() {
                [_, file] if WANTED.contains(&file.as_str()) => file.clone(),
                _ => continue,
            }
        };
        let text = read_text(entry, path, &name)?;
        files.set(&name, text);
    }
    Ok(files)
}

fn read_text(r: impl Read, chart: &Path, name: &str) -> Result<String, ChartFilesError> {
    let mut bytes = Vec::new();
    r.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|cause| ChartFilesError::Io {
            path: chart.join(name),
            cause,
        })?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(ChartFilesError::TooLarge {
            path: chart.to_path_buf(),
            file: name.to_owned(),
        });
    }
    String::from_utf8(bytes).map_err(|_| ChartFilesError::NotText {
        path: chart.to_path_buf(),
        file: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart_dir(root: &Path) -> PathBuf {
        let dir = root.join("demo");
        std::fs::create_dir_all(dir.join("charts/sub")).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            "apiVersion: v2\nname: demo\nversion: 1.2.3\ndependencies:\n- name: redis\n  alias: cache\n- name: db\n",
        )
        .unwrap();
        std::fs::write(dir.join("values.yaml"), "a: 1\n").unwrap();
        std::fs::write(dir.join("charts/sub/values.yaml"), "sub: 2\n").unwrap();
        dir
    }

    #[test]
    fn reads_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let files = ChartFiles::read(&chart_dir(tmp.path())).unwrap();
        assert_eq!(files.values_yaml.as_deref(), Some("a: 1\n"));
        assert_eq!(files.values_schema, None);
        let meta = files.meta();
        assert_eq!(
            (meta.name.as_str(), meta.version.as_str()),
            ("demo", "1.2.3")
        );
        assert_eq!(meta.subcharts, ["cache", "db"]);
    }

    #[test]
    fn reads_an_archive_but_not_its_subcharts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = chart_dir(tmp.path());
        let tgz = tmp.path().join("demo-1.2.3.tgz");
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&tgz).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        tar.append_dir_all("demo", &dir).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let files = ChartFiles::read(&tgz).unwrap();
        assert_eq!(files.values_yaml.as_deref(), Some("a: 1\n"));
        assert_eq!(files.meta().name, "demo");
    }

    #[test]
    fn a_v1_chart_lists_its_subcharts_in_requirements_yaml() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("old");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Chart.yaml"),
            "apiVersion: v1\nname: old\nversion: 1.0.0\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("requirements.yaml"),
            "dependencies:\n- name: kube-state-metrics\n  alias: ksm\n- name: redis\n",
        )
        .unwrap();
        let meta = ChartFiles::read(&dir).unwrap().meta();
        assert_eq!(meta.subcharts, ["ksm", "redis"]);
    }

    #[test]
    fn a_folder_without_chart_yaml_is_not_a_chart() {
        let tmp = tempfile::tempdir().unwrap();
        let e = ChartFiles::read(tmp.path()).unwrap_err();
        assert!(e.to_string().contains("no Chart.yaml"), "{e}");
        let bad = tmp.path().join("x.tgz");
        std::fs::write(&bad, "not gzip").unwrap();
        assert!(ChartFiles::read(&bad).is_err());
    }
}
