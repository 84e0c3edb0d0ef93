//! From options (flags > environment > config file) to validated settings.
//! Every problem is reported, each with its fix, before anything starts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::config::cli::Options;
use crate::config::duration;
use crate::config::original as original_config;
use crate::plan::chart_choice::ChartPolicy;
use crate::plan::naming::is_valid_release_name;
use crate::plan::values::{Layout, ValuesConfig};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_HISTORY_MAX: u32 = 3;
pub const DEFAULT_CONCURRENCY: usize = 4;
pub const DEFAULT_RECONCILE_PERIOD: Duration = Duration::from_secs(600);
/// Between SIGTERM and SIGKILL for a helm process past its deadline.
pub const HELM_GRACE: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// Leader election on a Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSettings {
    /// `None`: derived from the watched type.
    pub name: Option<String>,
    pub namespace: String,
    pub duration: Duration,
}

pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// A request to the API server unanswered for longer means the process is stuck.
pub const DEFAULT_STUCK_AFTER: Duration = Duration::from_secs(120);

/// The watched type, before discovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// Validated settings shared by `run` and `render`.
#[derive(Clone, Debug)]
pub struct Settings {
    pub kubeconfig: Option<PathBuf>,
    /// `None` for `render`, which needs no cluster.
    pub watched: Option<Watched>,
    pub namespaces: Vec<String>,
    pub selector: Option<String>,
    pub filter_annotation: Option<String>,
    pub chart: String,
    pub chart_version: Option<String>,
    pub chart_policy: ChartPolicy,
    pub release_prefix: Option<String>,
    pub release_namespace: Option<String>,
    pub values: ValuesConfig,
    pub helm_binary: PathBuf,
    pub timeout: Duration,
    pub wait: bool,
    pub history_max: u32,
    pub concurrency: usize,
    pub reconcile_period: Duration,
    pub dry_run: bool,
    pub listen: String,
    /// `Some` when leader election is on.
    pub lease: Option<LeaseSettings>,
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    pub log_level: Option<String>,
    /// `/healthz` fails once an API request has waited this long.
    pub stuck_after: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct SettingsError(pub Vec<String>);

/// Which command the settings are for: `run` needs the watched type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Run,
    Render,
}

impl Options {
    /// Fills what flags and environment left unset from the config file.
    pub fn merged_with(self, file: Options) -> Options {
        fn vec<T>(a: Vec<T>, b: Vec<T>) -> Vec<T> {
            if a.is_empty() {
                b
            } else {
                a
            }
        }
        Options {
            config: self.config,
            kubeconfig: self.kubeconfig.or(file.kubeconfig),
            group: self.group.or(file.group),
            version: self.version.or(file.version),
            kind: self.kind.or(file.kind),
            namespaces: vec(self.namespaces, file.namespaces),
            selector: self.selector.or(file.selector),
            filter_annotation: self.filter_annotation.or(file.filter_annotation),
            chart: self.chart.or(file.chart),
            chart_version: self.chart_version.or(file.chart_version),
            chart_annotation: self.chart_annotation.or(file.chart_annotation),
            allowed_charts: vec(self.allowed_charts, file.allowed_charts),
            release_prefix: self.release_prefix.or(file.release_prefix),
            release_namespace: self.release_namespace.or(file.release_namespace),
            values_files: vec(self.values_files, file.values_files),
            override_values_files: vec(self.override_values_files, file.override_values_files),
            values_layout: self.values_layout.or(file.values_layout),
            metadata_key: self.metadata_key.or(file.metadata_key),
            helm_binary: self.helm_binary.or(file.helm_binary),
            timeout: self.timeout.or(file.timeout),
            wait: self.wait.or(file.wait),
            history_max: self.history_max.or(file.history_max),
            concurrency: self.concurrency.or(file.concurrency),
            reconcile_period: self.reconcile_period.or(file.reconcile_period),
            dry_run: self.dry_run.or(file.dry_run),
            listen: self.listen.or(file.listen),
            leader_elect: self.leader_elect.or(file.leader_elect),
            lease_name: self.lease_name.or(file.lease_name),
            lease_namespace: self.lease_namespace.or(file.lease_namespace),
            lease_duration: self.lease_duration.or(file.lease_duration),
            shutdown_grace: self.shutdown_grace.or(file.shutdown_grace),
            log_format: self.log_format.or(file.log_format),
            log_level: self.log_level.or(file.log_level),
            stuck_after: self.stuck_after.or(file.stuck_after),
        }
    }
}

/// Reads the `--config` file, if any, and merges it under the given options.
pub fn load(options: Options, purpose: Purpose) -> Result<Settings, SettingsError> {
    let merged = match &options.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                SettingsError(vec![format!(
                    "--config {}: cannot read it: {e}",
                    path.display()
                )])
            })?;
            let bad = |e: String| {
                SettingsError(vec![format!(
                    "--config {}: {e}; fix: use the option names (kebab-case) as keys",
                    path.display()
                )])
            };
            let doc: serde_json::Value =
                serde_saphyr::from_str(&text).map_err(|e| bad(e.to_string()))?;
            let file: Options = if original_config::is_original(&doc) {
                original_config::translate(&doc).map_err(|problems| {
                    SettingsError(
                        problems
                            .into_iter()
                            .map(|p| format!("--config {}: {p}", path.display()))
                            .collect(),
                    )
                })?
            } else {
                serde_json::from_value(doc).map_err(|e| bad(e.to_string()))?
            };
            options.merged_with(file)
        }
        None => options,
    };
    validate(merged, purpose)
}

/// Applies defaults and checks every option; collects all problems.
pub fn validate(o: Options, purpose: Purpose) -> Result<Settings, SettingsError> {
    let mut problems = Vec::new();

    let watched = match purpose {
        Purpose::Render => None,
        Purpose::Run => {
            let mut need = |v: &Option<String>, flag: &str, example: &str| match v
                .as_deref()
                .map(str::trim)
            {
                Some(s) if !s.is_empty() => s.to_owned(),
                _ => {
                    problems.push(format!("--{flag} is required (the watched custom resource's {flag}, e.g. --{flag} {example})"));
                    String::new()
                }
            };
            let group = need(&o.group, "group", "stable.example.com");
            let version = need(&o.version, "version", "v1");
            let kind = need(&o.kind, "kind", "Character");
            Some(Watched {
                group,
                version,
                kind,
            })
        }
    };

    let chart = match o.chart.as_deref().map(str::trim) {
        Some(c) if crate::helm::chart::looks_local(c) && !Path::new(c).exists() => {
            problems.push(format!("--chart {c}: no such file or directory"));
            c.to_owned()
        }
        Some(c) if !c.is_empty() => c.to_owned(),
        _ => {
            problems.push(
                "--chart is required (a chart directory, a .tgz, or a reference helm can pull)"
                    .into(),
            );
            String::new()
        }
    };

    for ns in &o.namespaces {
        if !is_dns_label(ns) {
            problems.push(format!("--namespace {ns:?} is not a valid namespace name"));
        }
    }
    if let Some(ns) = &o.release_namespace {
        if !is_dns_label(ns) {
            problems.push(format!(
                "--release-namespace {ns:?} is not a valid namespace name"
            ));
        }
    }
    if let Some(p) = &o.release_prefix {
        if !p.is_empty() && !is_valid_release_name(p) {
            problems.push(format!(
                "--release-prefix {p:?} must be lower-case letters, digits and '-', starting and ending with a letter or digit"
            ));
        }
    }
    if let Some(a) = &o.filter_annotation {
        if a.trim().is_empty() {
            problems.push("--filter-annotation must not be empty".into());
        }
    }

    if o.chart_annotation.is_some() && o.allowed_charts.is_empty() {
        problems.push(
            "--chart-annotation lets CRs choose charts only from --allowed-chart prefixes; fix: add --allowed-chart PREFIX (e.g. myrepo/)"
                .into(),
        );
    }

    let layout = match o.values_layout.as_deref() {
        None | Some("spec") => Layout::Spec,
        Some("resource") => Layout::Resource,
        Some(other) => {
            problems.push(format!(
                "--values-layout {other:?} is not known; use spec or resource"
            ));
            Layout::Spec
        }
    };
    if let Some(k) = &o.metadata_key {
        if k.is_empty() || k.contains('.') {
            problems.push(format!(
                "--metadata-key {k:?} must be a non-empty top-level key without dots"
            ));
        }
    }
    let base = read_values_files(&o.values_files, "--values", &mut problems);
    let overrides = read_values_files(&o.override_values_files, "--override-values", &mut problems);

    let mut dur = |v: &Option<String>, flag: &str, default: Duration| match v {
        None => default,
        Some(s) => match duration::parse(s) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                problems.push(format!("--{flag} must be longer than zero"));
                default
            }
            Err(e) => {
                problems.push(format!("--{flag}: {e}"));
                default
            }
        },
    };
    let timeout = dur(&o.timeout, "timeout", DEFAULT_TIMEOUT);
    let lease_duration = dur(&o.lease_duration, "lease-duration", DEFAULT_LEASE_DURATION);
    let shutdown_grace = dur(&o.shutdown_grace, "shutdown-grace", DEFAULT_SHUTDOWN_GRACE);
    let stuck_after = dur(&o.stuck_after, "stuck-after", DEFAULT_STUCK_AFTER);
    let reconcile_period = dur(
        &o.reconcile_period,
        "reconcile-period",
        DEFAULT_RECONCILE_PERIOD,
    );

    let history_max = o.history_max.unwrap_or(DEFAULT_HISTORY_MAX);
    if history_max == 0 {
        // 0 means unlimited to helm: every call would list a growing history
        problems.push("--history-max must be at least 1 (helm treats 0 as unlimited)".into());
    }
    let concurrency = o.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 {
        problems.push("--concurrency must be at least 1".into());
    }
    let log_format = match o.log_format.as_deref() {
        None | Some("human") => LogFormat::Human,
        Some("json") => LogFormat::Json,
        Some(other) => {
            problems.push(format!(
                "--log-format {other:?} is not known; use human or json"
            ));
            LogFormat::Human
        }
    };
    if let Some(k) = &o.kubeconfig {
        if !k.is_file() {
            problems.push(format!("--kubeconfig {}: no such file", k.display()));
        }
    }

    if lease_duration < Duration::from_secs(2) {
        problems.push("--lease-duration must be at least 2s".into());
    }
    let listen = o.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
    if crate::serve::http::listen_address(&listen)
        .parse::<std::net::SocketAddr>()
        .is_err()
    {
        problems.push(format!(
            "--listen {listen:?} is not an address; write it like :8080 or 127.0.0.1:8080"
        ));
    }
    let lease = o.leader_elect.unwrap_or(false).then(|| LeaseSettings {
        name: o.lease_name.filter(|n| !n.is_empty()),
        namespace: o
            .lease_namespace
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".into()),
        duration: lease_duration,
    });

    if !problems.is_empty() {
        return Err(SettingsError(problems));
    }
    Ok(Settings {
        kubeconfig: o.kubeconfig,
        watched,
        namespaces: o.namespaces,
        selector: o.selector.filter(|s| !s.trim().is_empty()),
        filter_annotation: o.filter_annotation,
        chart,
        chart_version: o.chart_version.filter(|v| !v.is_empty()),
        chart_policy: ChartPolicy {
            annotation: o.chart_annotation.filter(|a| !a.is_empty()),
            allowed: o.allowed_charts,
        },
        release_prefix: o.release_prefix.filter(|p| !p.is_empty()),
        release_namespace: o.release_namespace,
        values: ValuesConfig {
            layout,
            metadata_key: o.metadata_key,
            base,
            overrides,
        },
        helm_binary: o.helm_binary.unwrap_or_else(|| PathBuf::from("helm")),
        timeout,
        wait: o.wait.unwrap_or(false),
        history_max,
        concurrency,
        reconcile_period,
        dry_run: o.dry_run.unwrap_or(false),
        listen,
        lease,
        shutdown_grace,
        log_format,
        log_level: o.log_level,
        stuck_after,
    })
}

fn read_values_files(files: &[PathBuf], flag: &str, problems: &mut Vec<String>) -> Vec<Value> {
    files
        .iter()
        .filter_map(|f| match read_values(f) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(format!("{flag} {}: {e}", f.display()));
                None
            }
        })
        .collect()
}

/// Reads a YAML (or JSON) values file; it must hold a map.
pub fn read_values(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let v: Value = serde_saphyr::from_str(&text).map_err(|e| format!("not valid YAML: {e}"))?;
    match v {
        Value::Object(_) => Ok(v),
        Value::Null => Ok(Value::Object(Default::default())),
        _ => Err("must hold a map of values at the top".into()),
    }
}

fn is_dns_label(s: &str) -> bool {
    is_valid_release_name(s) && s.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            group: Some("g.example.com".into()),
            version: Some("v1".into()),
            kind: Some("Thing".into()),
            chart: Some("example/app".into()),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_apply() {
        let s = validate(opts(), Purpose::Run).unwrap();
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.history_max, 3);
        assert_eq!(s.concurrency, 4);
        assert!(!s.wait && !s.dry_run);
        assert_eq!(s.values.layout, Layout::Spec);
        assert_eq!(s.helm_binary, PathBuf::from("helm"));
        assert_eq!(s.watched.unwrap().kind, "Thing");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let o = Options {
            values_layout: Some("flat".into()),
            timeout: Some("soon".into()),
            history_max: Some(0),
            namespaces: vec!["Bad_NS".into()],
            ..Default::default()
        };
        let err = validate(o, Purpose::Run).unwrap_err();
        let text = err.to_string();
        for needle in [
            "--group",
            "--version",
            "--kind",
            "--chart",
            "--values-layout",
            "--timeout",
            "--history-max",
            "--namespace",
        ] {
            assert!(text.contains(needle), "missing {needle} in {text}");
        }
        assert_eq!(err.0.len(), 8);
    }

    #[test]
    fn missing_local_chart_is_reported_before_start() {
        let o = Options {
            chart: Some("./no-such-chart".into()),
            ..opts()
        };
        let err = validate(o, Purpose::Run).unwrap_err();
        assert_eq!(
            err.0,
            vec!["--chart ./no-such-chart: no such file or directory".to_owned()]
        );
    }

    #[test]
    fn render_needs_no_watched_type() {
        let o = Options {
            chart: Some("c".into()),
            ..Default::default()
        };
        assert!(validate(o, Purpose::Render).unwrap().watched.is_none());
    }

    #[test]
    fn flags_beat_file() {
        let flags = Options {
            chart: Some("flag".into()),
            ..Default::default()
        };
        let file = Options {
            chart: Some("file".into()),
            kind: Some("FromFile".into()),
            namespaces: vec!["a".into()],
            ..Default::default()
        };
        let m = flags.merged_with(file);
        assert_eq!(m.chart.as_deref(), Some("flag"));
        assert_eq!(m.kind.as_deref(), Some("FromFile"));
        assert_eq!(m.namespaces, vec!["a".to_owned()]);
    }

    #[test]
    fn config_file_is_read_and_unknown_keys_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.yaml");
        std::fs::write(&cfg, "group: g.example.com\nversion: v1\nkind: Thing\nchart: example/c\ntimeout: 2m\nwait: true\nnamespace: [a, b]\n").unwrap();
        let s = load(
            Options {
                config: Some(cfg.clone()),
                ..Default::default()
            },
            Purpose::Run,
        )
        .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(120));
        assert!(s.wait);
        assert_eq!(s.namespaces, vec!["a".to_owned(), "b".to_owned()]);
        std::fs::write(&cfg, "chrat: x\n").unwrap();
        let err = load(
            Options {
                config: Some(cfg),
                ..Default::default()
            },
            Purpose::Run,
        )
        .unwrap_err();
        assert!(err.to_string().contains("chrat"), "{err}");
    }

    #[test]
    fn values_files_must_be_maps() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yaml");
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&good, "image:\n  tag: \"1\"\n").unwrap();
        std::fs::write(&bad, "- a\n- b\n").unwrap();
        let o = Options {
            values_files: vec![good],
            override_values_files: vec![bad, dir.path().join("missing")],
            ..opts()
        };
        let err = validate(o, Purpose::Run).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(err.0[0].contains("map"));
        assert!(err.0[1].contains("cannot read"));
    }
}
