//! From options (flags > environment > config file) to validated settings.
//! Every problem is reported, each with its fix, before anything starts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::config::cli::{Options, RunOptions, SharedOptions, WatchOptions};
use crate::config::duration;
use crate::config::file as config_file;
use crate::config::watches;
use crate::helm::chart::ChartSource;
pub use crate::plan::adopt::AdoptFrom;
use crate::plan::chart_choice::ChartPolicy;
use crate::plan::health::DriftMode;
use crate::plan::naming::is_valid_release_name;
use crate::plan::values::{Layout, ValuesConfig};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_HISTORY_MAX: u32 = 3;
pub const DEFAULT_CONCURRENCY: usize = 4;
pub const DEFAULT_RECONCILE_PERIOD: Duration = Duration::from_secs(600);
/// Between SIGTERM and SIGKILL for a helm process past its deadline.
pub const HELM_GRACE: Duration = Duration::from_secs(10);

/// `--log-format`'s closed set (clap lists it in `--help`, serde in file errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Lines for a person (coloured at a terminal).
    #[default]
    Human,
    /// One JSON object per line.
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
/// Objects not ready this long after a deploy stall the CR.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(600);

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
    pub chart: ChartSource,
    pub chart_version: Option<String>,
    pub chart_policy: ChartPolicy,
    pub release_prefix: Option<String>,
    pub release_namespace: Option<String>,
    pub values: ValuesConfig,
    pub helm_binary: PathBuf,
    pub timeout: Duration,
    pub wait: bool,
    pub history_max: u32,
    /// This kind's cap on helm processes at once, inside `concurrency`.
    pub max_concurrent: Option<usize>,
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
    /// Whether the releases' objects are watched (readiness and drift).
    pub watch_objects: bool,
    pub ready_timeout: Duration,
    pub drift: DriftMode,
    /// Releases another operator made that CRs may take over (`--adopt-from`).
    pub adopt_from: Option<AdoptFrom>,
    /// Normal Events for installs, upgrades and uninstalls too.
    pub routine_events: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct SettingsError(pub Vec<String>);

/// Which command the settings are for: `run` needs the watched type; `render`
/// takes only the shared options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Run,
    Render,
}

/// `a` unless it is unset, then `b`: flags and environment over the file.
fn vec_or<T>(a: Vec<T>, b: Vec<T>) -> Vec<T> {
    if a.is_empty() {
        b
    } else {
        a
    }
}

impl Options {
    /// Fills what flags and environment left unset from the config file.
    pub fn merged_with(self, file: Options) -> Options {
        Options {
            watch: self.watch.merged_with(file.watch),
            shared: self.shared.merged_with(file.shared),
            run: self.run.merged_with(file.run),
        }
    }
}

impl WatchOptions {
    fn merged_with(self, file: WatchOptions) -> WatchOptions {
        WatchOptions {
            kubeconfig: self.kubeconfig.or(file.kubeconfig),
            group: self.group.or(file.group),
            version: self.version.or(file.version),
            kind: self.kind.or(file.kind),
            namespaces: vec_or(self.namespaces, file.namespaces),
            selector: self.selector.or(file.selector),
            filter_annotation: self.filter_annotation.or(file.filter_annotation),
            reconcile_period: self.reconcile_period.or(file.reconcile_period),
        }
    }
}

impl SharedOptions {
    fn merged_with(self, file: SharedOptions) -> SharedOptions {
        SharedOptions {
            config: self.config,
            chart: self.chart.or(file.chart),
            chart_version: self.chart_version.or(file.chart_version),
            templates: self.templates.or(file.templates),
            release_prefix: self.release_prefix.or(file.release_prefix),
            release_namespace: self.release_namespace.or(file.release_namespace),
            values_files: vec_or(self.values_files, file.values_files),
            override_values_files: vec_or(self.override_values_files, file.override_values_files),
            values_layout: self.values_layout.or(file.values_layout),
            metadata_key: self.metadata_key.or(file.metadata_key),
            helm_binary: self.helm_binary.or(file.helm_binary),
            timeout: self.timeout.or(file.timeout),
            log_format: self.log_format.or(file.log_format),
            log_level: self.log_level.or(file.log_level),
        }
    }
}

impl RunOptions {
    fn merged_with(self, file: RunOptions) -> RunOptions {
        RunOptions {
            chart_annotation: self.chart_annotation.or(file.chart_annotation),
            allowed_charts: vec_or(self.allowed_charts, file.allowed_charts),
            wait: self.wait.or(file.wait),
            history_max: self.history_max.or(file.history_max),
            concurrency: self.concurrency.or(file.concurrency),
            max_concurrent_reconciles: self
                .max_concurrent_reconciles
                .or(file.max_concurrent_reconciles),
            watches: self.watches.or(file.watches),
            adopt_from: self.adopt_from.or(file.adopt_from),
            routine_events: self.routine_events.or(file.routine_events),
            dry_run: self.dry_run.or(file.dry_run),
            listen: self.listen.or(file.listen),
            leader_elect: self.leader_elect.or(file.leader_elect),
            lease_name: self.lease_name.or(file.lease_name),
            lease_namespace: self.lease_namespace.or(file.lease_namespace),
            lease_duration: self.lease_duration.or(file.lease_duration),
            shutdown_grace: self.shutdown_grace.or(file.shutdown_grace),
            stuck_after: self.stuck_after.or(file.stuck_after),
            watch_objects: self.watch_objects.or(file.watch_objects),
            ready_timeout: self.ready_timeout.or(file.ready_timeout),
            drift: self.drift.or(file.drift),
        }
    }
}

/// Reads the `--config` file, if any, and merges it under the given options.
pub fn load(options: Options, purpose: Purpose) -> Result<Settings, SettingsError> {
    validate(with_config_file(options)?, purpose)
}

/// The options with the `--config` file's merged under them.
fn with_config_file(options: Options) -> Result<Options, SettingsError> {
    Ok(match &options.shared.config {
        Some(path) => {
            let file = config_file::read(path).map_err(|problems| {
                SettingsError(
                    problems
                        .into_iter()
                        .map(|p| format!("--config {}: {p}", path.display()))
                        .collect(),
                )
            })?;
            options.merged_with(file)
        }
        None => options,
    })
}

/// Applies defaults and checks every option, section by section; collects all
/// problems.
pub fn validate(o: Options, purpose: Purpose) -> Result<Settings, SettingsError> {
    // render uses only the shared options: the file's others are not its concern
    let o = match purpose {
        Purpose::Run => o,
        Purpose::Render => Options::shared_only(o.shared),
    };
    let mut problems = Vec::new();
    let global = process_wide(&o, &mut problems);
    let kind = per_kind(&o, purpose, &mut problems);
    if !problems.is_empty() {
        return Err(SettingsError(problems));
    }
    Ok(assemble(&global, kind))
}

/// What `run` acts on: one kind from the flags, or every kind of `--watches`.
pub fn load_run(options: Options) -> Result<Vec<Settings>, SettingsError> {
    let merged = with_config_file(options)?;
    let Some(path) = merged.run.watches.clone() else {
        return validate(merged, Purpose::Run).map(|s| vec![s]);
    };
    let mut problems = Vec::new();
    let shown = path.display().to_string();
    for (flag, set) in [
        ("group", merged.watch.group.is_some()),
        ("version", merged.watch.version.is_some()),
        ("kind", merged.watch.kind.is_some()),
    ] {
        if set {
            problems.push(format!(
                "--{flag} and --watches {shown}: the watched kinds are the entries of --watches; fix: remove --{flag}, or give its kind as an entry"
            ));
        }
    }
    let global = process_wide(&merged, &mut problems);
    let parsed = match watches::read(&path) {
        Ok(parsed) => parsed,
        Err(e) => {
            problems.extend(e.into_iter().map(|p| format!("--watches {shown}: {p}")));
            return Err(SettingsError(problems));
        }
    };
    problems.extend(
        parsed
            .problems
            .into_iter()
            .map(|p| format!("--watches {shown}: {p}")),
    );
    let entries = parsed.entries;
    let mut kinds = Vec::new();
    for entry in entries {
        let mut entry_problems = Vec::new();
        let o = entry.options.merged_with(merged.clone());
        let mut kind = per_kind(&o, Purpose::Run, &mut entry_problems);
        kind.values.overrides.extend(entry.overrides);
        problems.extend(
            entry_problems
                .into_iter()
                .map(|p| format!("--watches {shown}: {}: {p}", entry.label)),
        );
        kinds.push(assemble(&global, kind));
    }
    problems.extend(
        watches::duplicates(&kinds)
            .into_iter()
            .map(|p| format!("--watches {shown}: {p}")),
    );
    if !problems.is_empty() {
        return Err(SettingsError(problems));
    }
    Ok(kinds)
}

/// Options that hold for the whole process, whatever the kind.
struct ProcessWide {
    kubeconfig: Option<PathBuf>,
    helm_binary: PathBuf,
    concurrency: usize,
    dry_run: bool,
    routine_events: bool,
    serving: ServingSection,
    logging: LoggingSection,
}

fn process_wide(o: &Options, problems: &mut Vec<String>) -> ProcessWide {
    if let Some(k) = &o.watch.kubeconfig {
        if !k.is_file() {
            problems.push(format!("--kubeconfig {}: no such file", k.display()));
        }
    }
    let concurrency = o.run.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 {
        problems.push("--concurrency must be at least 1".into());
    }
    ProcessWide {
        kubeconfig: o.watch.kubeconfig.clone(),
        helm_binary: o
            .shared
            .helm_binary
            .clone()
            .unwrap_or_else(|| PathBuf::from("helm")),
        concurrency,
        dry_run: o.run.dry_run.unwrap_or(false),
        routine_events: o.run.routine_events.unwrap_or(false),
        serving: serving(&o.run, problems),
        logging: logging(&o.shared),
    }
}

/// Options of one watched kind (the flags' kind, or one `--watches` entry).
struct PerKind {
    watch: WatchSection,
    chart: ChartSection,
    naming: NamingSection,
    values: ValuesConfig,
    helm: HelmSection,
    objects: ObjectsSection,
    adopt_from: Option<AdoptFrom>,
}

fn per_kind(o: &Options, purpose: Purpose, problems: &mut Vec<String>) -> PerKind {
    PerKind {
        watch: watched_type(&o.watch, purpose, problems),
        chart: chart(&o.shared, &o.run, problems),
        naming: release_naming(&o.shared, problems),
        values: values(&o.shared, problems),
        helm: helm(&o.shared, &o.run, problems),
        objects: objects(&o.run, problems),
        adopt_from: o.run.adopt_from,
    }
}

fn assemble(g: &ProcessWide, k: PerKind) -> Settings {
    Settings {
        kubeconfig: g.kubeconfig.clone(),
        watched: k.watch.watched,
        namespaces: k.watch.namespaces,
        selector: k.watch.selector,
        filter_annotation: k.watch.filter_annotation,
        chart: k.chart.chart,
        chart_version: k.chart.version,
        chart_policy: k.chart.policy,
        release_prefix: k.naming.prefix,
        release_namespace: k.naming.namespace,
        values: k.values,
        helm_binary: g.helm_binary.clone(),
        timeout: k.helm.timeout,
        wait: k.helm.wait,
        history_max: k.helm.history_max,
        max_concurrent: k.helm.max_concurrent,
        concurrency: g.concurrency,
        reconcile_period: k.watch.reconcile_period,
        dry_run: g.dry_run,
        listen: g.serving.listen.clone(),
        lease: g.serving.lease.clone(),
        shutdown_grace: g.serving.shutdown_grace,
        stuck_after: g.serving.stuck_after,
        watch_objects: k.objects.watch,
        ready_timeout: k.objects.ready_timeout,
        drift: k.objects.drift,
        adopt_from: k.adopt_from,
        routine_events: g.routine_events,
        log_format: g.logging.format,
        log_level: g.logging.level.clone(),
    }
}

/// What is watched, where, and how often it is re-checked.
struct WatchSection {
    watched: Option<Watched>,
    namespaces: Vec<String>,
    selector: Option<String>,
    filter_annotation: Option<String>,
    reconcile_period: Duration,
}

fn watched_type(o: &WatchOptions, purpose: Purpose, problems: &mut Vec<String>) -> WatchSection {
    let watched = (purpose == Purpose::Run).then(|| {
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
        Watched {
            group: need(&o.group, "group", "stable.example.com"),
            version: need(&o.version, "version", "v1"),
            kind: need(&o.kind, "kind", "Character"),
        }
    });
    for ns in &o.namespaces {
        if !is_dns_label(ns) {
            problems.push(format!("--namespace {ns:?} is not a valid namespace name"));
        }
    }
    if let Some(a) = &o.filter_annotation {
        if a.trim().is_empty() {
            problems.push("--filter-annotation must not be empty".into());
        }
    }
    WatchSection {
        watched,
        namespaces: o.namespaces.clone(),
        selector: o.selector.clone().filter(|s| !s.trim().is_empty()),
        filter_annotation: o.filter_annotation.clone(),
        reconcile_period: duration(
            &o.reconcile_period,
            "reconcile-period",
            DEFAULT_RECONCILE_PERIOD,
            problems,
        ),
    }
}

/// The chart, and which charts CRs may name.
struct ChartSection {
    chart: ChartSource,
    version: Option<String>,
    policy: ChartPolicy,
}

fn chart(shared: &SharedOptions, run: &RunOptions, problems: &mut Vec<String>) -> ChartSection {
    let templates = shared
        .templates
        .as_ref()
        .filter(|t| !t.as_os_str().is_empty());
    let chart = shared
        .chart
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let source = match (chart, templates) {
        (Some(c), Some(t)) => {
            problems.push(format!(
                "--chart {c} and --templates {} are two back ends; fix: give exactly one of them",
                t.display()
            ));
            ChartSource::Chart(c.to_owned())
        }
        (Some(c), None) => {
            if crate::helm::chart::looks_local(c) && !Path::new(c).exists() {
                problems.push(format!("--chart {c}: no such file or directory"));
            }
            ChartSource::Chart(c.to_owned())
        }
        (None, Some(t)) => {
            if !t.is_dir() {
                problems.push(format!(
                    "--templates {}: no such directory; fix: point it at the directory of the *.tmpl files",
                    t.display()
                ));
            }
            ChartSource::Templates(t.clone())
        }
        (None, None) => {
            problems.push(
                "--chart is required (a chart directory, a .tgz, or a reference helm can pull), or --templates DIR for a directory of Go templates"
                    .into(),
            );
            ChartSource::Chart(String::new())
        }
    };
    let version = shared.chart_version.clone().filter(|v| !v.is_empty());
    let annotation = run.chart_annotation.clone().filter(|a| !a.is_empty());
    if let ChartSource::Templates(t) = &source {
        let t = t.display();
        if version.is_some() {
            problems.push(format!(
                "--chart-version is for a chart pulled from a repository, not --templates {t}; fix: remove it"
            ));
        }
        if annotation.is_some() {
            problems.push(format!(
                "--chart-annotation lets CRs choose among charts; with --templates {t} there is none to choose; fix: remove it"
            ));
        }
        if shared.values_layout.is_some() {
            problems.push(format!(
                "--values-layout places the spec in a chart's values; --templates {t} get the whole CR as `.`; fix: remove it"
            ));
        }
    }
    if annotation.is_some() && run.allowed_charts.is_empty() {
        problems.push(
            "--chart-annotation lets CRs choose charts only from --allowed-chart prefixes; fix: add --allowed-chart PREFIX (e.g. myrepo/)"
                .into(),
        );
    }
    ChartSection {
        chart: source,
        version,
        policy: ChartPolicy {
            annotation,
            allowed: run.allowed_charts.clone(),
        },
    }
}

/// How releases are named and where they go.
struct NamingSection {
    prefix: Option<String>,
    namespace: Option<String>,
}

fn release_naming(o: &SharedOptions, problems: &mut Vec<String>) -> NamingSection {
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
    NamingSection {
        prefix: o.release_prefix.clone().filter(|p| !p.is_empty()),
        namespace: o.release_namespace.clone(),
    }
}

/// The values files and where the CR goes in the values.
fn values(o: &SharedOptions, problems: &mut Vec<String>) -> ValuesConfig {
    if let Some(k) = &o.metadata_key {
        if k.is_empty() || k.contains('.') {
            problems.push(format!(
                "--metadata-key {k:?} must be a non-empty top-level key without dots"
            ));
        }
    }
    // templates get the whole CR; a chart gets its spec where the layout says
    let layout = if o.templates.is_some() && o.chart.is_none() {
        Layout::Whole
    } else {
        o.values_layout.unwrap_or_default()
    };
    ValuesConfig {
        layout,
        metadata_key: o.metadata_key.clone(),
        base: read_values_files(&o.values_files, "--values", problems),
        overrides: read_values_files(&o.override_values_files, "--override-values", problems),
    }
}

/// How helm runs for one kind.
struct HelmSection {
    timeout: Duration,
    wait: bool,
    history_max: u32,
    max_concurrent: Option<usize>,
}

fn helm(shared: &SharedOptions, run: &RunOptions, problems: &mut Vec<String>) -> HelmSection {
    let history_max = run.history_max.unwrap_or(DEFAULT_HISTORY_MAX);
    if history_max == 0 {
        // 0 means unlimited to helm: every call would list a growing history
        problems.push("--history-max must be at least 1 (helm treats 0 as unlimited)".into());
    }
    if run.max_concurrent_reconciles == Some(0) {
        problems.push("--max-concurrent-reconciles must be at least 1".into());
    }
    HelmSection {
        timeout: duration(&shared.timeout, "timeout", DEFAULT_TIMEOUT, problems),
        wait: run.wait.unwrap_or(false),
        history_max,
        max_concurrent: run.max_concurrent_reconciles.filter(|n| *n > 0),
    }
}

/// The HTTP server, leader election and shutdown.
struct ServingSection {
    listen: String,
    lease: Option<LeaseSettings>,
    shutdown_grace: Duration,
    stuck_after: Duration,
}

fn serving(o: &RunOptions, problems: &mut Vec<String>) -> ServingSection {
    let listen = o.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.into());
    if crate::serve::http::listen_address(&listen)
        .parse::<std::net::SocketAddr>()
        .is_err()
    {
        problems.push(format!(
            "--listen {listen:?} is not an address; write it like :8080 or 127.0.0.1:8080"
        ));
    }
    let lease_duration = duration(
        &o.lease_duration,
        "lease-duration",
        DEFAULT_LEASE_DURATION,
        problems,
    );
    if lease_duration < Duration::from_secs(2) {
        problems.push("--lease-duration must be at least 2s".into());
    }
    let lease = o.leader_elect.unwrap_or(false).then(|| LeaseSettings {
        name: o.lease_name.clone().filter(|n| !n.is_empty()),
        namespace: o
            .lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".into()),
        duration: lease_duration,
    });
    ServingSection {
        listen,
        lease,
        shutdown_grace: duration(
            &o.shutdown_grace,
            "shutdown-grace",
            DEFAULT_SHUTDOWN_GRACE,
            problems,
        ),
        stuck_after: duration(&o.stuck_after, "stuck-after", DEFAULT_STUCK_AFTER, problems),
    }
}

/// Readiness and drift of the releases' objects.
struct ObjectsSection {
    watch: bool,
    ready_timeout: Duration,
    drift: DriftMode,
}

fn objects(o: &RunOptions, problems: &mut Vec<String>) -> ObjectsSection {
    ObjectsSection {
        watch: o.watch_objects.unwrap_or(true),
        ready_timeout: duration(
            &o.ready_timeout,
            "ready-timeout",
            DEFAULT_READY_TIMEOUT,
            problems,
        ),
        drift: o.drift.unwrap_or_default(),
    }
}

struct LoggingSection {
    format: LogFormat,
    level: Option<String>,
}

fn logging(o: &SharedOptions) -> LoggingSection {
    LoggingSection {
        format: o.log_format.unwrap_or_default(),
        level: o.log_level.clone(),
    }
}

/// A duration option: its default when unset; longer than zero.
fn duration(
    value: &Option<String>,
    flag: &str,
    default: Duration,
    problems: &mut Vec<String>,
) -> Duration {
    let Some(text) = value else {
        return default;
    };
    match duration::parse(text) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            problems.push(format!("--{flag} must be longer than zero"));
            default
        }
        Err(e) => {
            problems.push(format!("--{flag}: {e}"));
            default
        }
    }
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
    let v: Value = serde_saphyr::from_str(&text)
        .map_err(|e| format!("not valid YAML: {}", config_file::yaml_error(&e)))?;
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
    use crate::plan::values::Layout;

    fn opts() -> Options {
        Options {
            watch: WatchOptions {
                group: Some("g.example.com".into()),
                version: Some("v1".into()),
                kind: Some("Thing".into()),
                ..Default::default()
            },
            shared: SharedOptions {
                chart: Some("example/app".into()),
                ..Default::default()
            },
            run: RunOptions::default(),
        }
    }

    #[test]
    fn defaults_apply() {
        let s = validate(opts(), Purpose::Run).unwrap();
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.reconcile_period, DEFAULT_RECONCILE_PERIOD);
        assert_eq!(s.shutdown_grace, DEFAULT_SHUTDOWN_GRACE);
        assert_eq!(s.history_max, 3);
        assert_eq!(s.concurrency, 4);
        assert!(!s.wait && !s.dry_run);
        assert_eq!(s.values.layout, Layout::Spec);
        assert_eq!(s.log_format, LogFormat::Human);
        assert_eq!(s.helm_binary, PathBuf::from("helm"));
        assert_eq!(s.watched.unwrap().kind, "Thing");
        assert!(s.lease.is_none());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let o = Options {
            watch: WatchOptions {
                namespaces: vec!["Bad_NS".into()],
                reconcile_period: Some("0s".into()),
                ..Default::default()
            },
            shared: SharedOptions {
                timeout: Some("soon".into()),
                release_prefix: Some("Bad_Prefix".into()),
                metadata_key: Some("a.b".into()),
                ..Default::default()
            },
            run: RunOptions {
                history_max: Some(0),
                chart_annotation: Some("example.com/chart".into()),
                listen: Some("nowhere".into()),
                ..Default::default()
            },
        };
        let err = validate(o, Purpose::Run).unwrap_err();
        let text = err.to_string();
        let expected = [
            "--group",
            "--version",
            "--kind",
            "--namespace",
            "--reconcile-period",
            "--chart is required",
            "--chart-annotation",
            "--release-prefix",
            "--metadata-key",
            "--history-max",
            "--timeout",
            "--listen",
        ];
        for needle in expected {
            assert!(text.contains(needle), "missing {needle} in {text}");
        }
        assert_eq!(err.0.len(), expected.len(), "{text}");
    }

    #[test]
    fn huge_durations_are_errors_naming_the_option() {
        for (flag, o) in [
            (
                "--timeout",
                Options {
                    shared: SharedOptions {
                        timeout: Some("99999999999999999999h".into()),
                        ..opts().shared
                    },
                    ..opts()
                },
            ),
            (
                "--reconcile-period",
                Options {
                    watch: WatchOptions {
                        reconcile_period: Some("99999999999999999999".into()),
                        ..opts().watch
                    },
                    ..opts()
                },
            ),
            (
                "--lease-duration",
                Options {
                    run: RunOptions {
                        lease_duration: Some("9999999999h".into()),
                        ..Default::default()
                    },
                    ..opts()
                },
            ),
            (
                "--shutdown-grace",
                Options {
                    run: RunOptions {
                        shutdown_grace: Some("100000h".into()),
                        ..Default::default()
                    },
                    ..opts()
                },
            ),
        ] {
            let err = validate(o, Purpose::Run).unwrap_err();
            assert_eq!(err.0.len(), 1, "{err}");
            assert!(err.0[0].starts_with(&format!("{flag}: ")), "{err}");
        }
    }

    #[test]
    fn missing_local_chart_is_reported_before_start() {
        let mut o = opts();
        o.shared.chart = Some("./no-such-chart".into());
        let err = validate(o, Purpose::Run).unwrap_err();
        assert_eq!(
            err.0,
            vec!["--chart ./no-such-chart: no such file or directory".to_owned()]
        );
    }

    #[test]
    fn templates_replace_the_chart_and_take_the_whole_cr() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts();
        o.shared.chart = None;
        o.shared.templates = Some(dir.path().to_path_buf());
        let s = validate(o, Purpose::Run).unwrap();
        assert_eq!(s.chart, ChartSource::Templates(dir.path().to_path_buf()));
        assert_eq!(s.values.layout, Layout::Whole);
    }

    #[test]
    fn templates_conflicts_are_named_with_their_fix() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().display();
        // both back ends
        let mut o = opts();
        o.shared.templates = Some(dir.path().to_path_buf());
        let err = validate(o, Purpose::Run).unwrap_err();
        assert_eq!(
            err.0,
            vec![format!("--chart example/app and --templates {t} are two back ends; fix: give exactly one of them")]
        );
        // neither
        let mut o = opts();
        o.shared.chart = None;
        let err = validate(o, Purpose::Run).unwrap_err();
        assert!(err.0[0].contains("or --templates DIR"), "{err:?}");
        // options that only mean something for a chart
        let mut o = opts();
        o.shared.chart = None;
        o.shared.templates = Some(dir.path().to_path_buf());
        o.shared.chart_version = Some("1.0.0".into());
        o.shared.values_layout = Some(Layout::Resource);
        o.run.chart_annotation = Some("a/b".into());
        o.run.allowed_charts = vec!["repo/".into()];
        let err = validate(o, Purpose::Run).unwrap_err();
        assert_eq!(err.0.len(), 3, "{err:?}");
        for (problem, flag) in
            err.0
                .iter()
                .zip(["--chart-version", "--chart-annotation", "--values-layout"])
        {
            assert!(
                problem.starts_with(flag) && problem.contains("fix: remove it"),
                "{problem}"
            );
        }
        // a directory that is not there
        let mut o = opts();
        o.shared.chart = None;
        o.shared.templates = Some(dir.path().join("nope"));
        let err = validate(o, Purpose::Run).unwrap_err();
        assert!(
            err.0[0].ends_with(
                "nope: no such directory; fix: point it at the directory of the *.tmpl files"
            ),
            "{err:?}"
        );
    }

    #[test]
    fn render_needs_no_watched_type_and_ignores_run_options() {
        let o = Options {
            shared: SharedOptions {
                chart: Some("c".into()),
                ..Default::default()
            },
            // run's options from a shared config file: not render's concern
            run: RunOptions {
                listen: Some("nowhere".into()),
                concurrency: Some(0),
                ..Default::default()
            },
            ..Default::default()
        };
        let s = validate(o, Purpose::Render).unwrap();
        assert!(s.watched.is_none());
        assert_eq!(s.concurrency, DEFAULT_CONCURRENCY);
    }

    #[test]
    fn flags_beat_file() {
        let mut flags = Options::default();
        flags.shared.chart = Some("flag".into());
        let mut file = Options::default();
        file.shared.chart = Some("file".into());
        file.watch.kind = Some("FromFile".into());
        file.watch.namespaces = vec!["a".into()];
        file.run.concurrency = Some(2);
        let m = flags.merged_with(file);
        assert_eq!(m.shared.chart.as_deref(), Some("flag"));
        assert_eq!(m.watch.kind.as_deref(), Some("FromFile"));
        assert_eq!(m.watch.namespaces, vec!["a".to_owned()]);
        assert_eq!(m.run.concurrency, Some(2));
    }

    fn load_file(text: &str, purpose: Purpose) -> Result<Settings, SettingsError> {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.yaml");
        std::fs::write(&cfg, text).unwrap();
        let mut o = Options::default();
        o.shared.config = Some(cfg);
        load(o, purpose)
    }

    #[test]
    fn config_file_is_read_and_unknown_keys_rejected() {
        let s = load_file(
            "group: g.example.com\nversion: v1\nkind: Thing\nchart: example/c\ntimeout: 2m\nwait: true\nnamespace: [a, b]\n",
            Purpose::Run,
        )
        .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(120));
        assert!(s.wait);
        assert_eq!(s.namespaces, vec!["a".to_owned(), "b".to_owned()]);
        let err = load_file("chrat: x\n", Purpose::Run).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(err.0[0].starts_with("--config "), "{err}");
        assert!(
            err.0[0].ends_with("unknown key `chrat`; fix: did you mean `chart`?"),
            "{err}"
        );
    }

    #[test]
    fn numbers_in_the_file_are_seconds() {
        let s = load_file(
            "group: g\nversion: v1\nkind: K\nchart: c\ntimeout: 90\nreconcile-period: 600\nlease-duration: 20\nshutdown-grace: 45\nleader-elect: true\n",
            Purpose::Run,
        )
        .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(90));
        assert_eq!(s.reconcile_period, Duration::from_secs(600));
        assert_eq!(s.lease.unwrap().duration, Duration::from_secs(20));
        assert_eq!(s.shutdown_grace, Duration::from_secs(45));
    }

    #[test]
    fn a_file_shared_with_run_works_for_render() {
        let text = "group: g\nversion: v1\nkind: K\nchart: c\nnamespace: [a]\nlisten: :9090\nconcurrency: 2\nleader-elect: true\nvalues-layout: resource\n";
        let s = load_file(text, Purpose::Render).unwrap();
        assert!(s.watched.is_none());
        assert_eq!(s.values.layout, Layout::Resource);
        // still no unknown keys, and still typed
        let err = load_file(&format!("{text}chrat: x\n"), Purpose::Render).unwrap_err();
        assert!(err.to_string().contains("`chrat`"), "{err}");
        let err = load_file(&format!("{text}wait: often\n"), Purpose::Render).unwrap_err();
        assert!(err.to_string().contains("key `wait`"), "{err}");
    }

    #[test]
    fn values_files_must_be_maps() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yaml");
        let bad = dir.path().join("bad.yaml");
        let broken = dir.path().join("broken.yaml");
        std::fs::write(&good, "image:\n  tag: \"1\"\n").unwrap();
        std::fs::write(&bad, "- a\n- b\n").unwrap();
        std::fs::write(&broken, "a: [1\n").unwrap();
        let mut o = opts();
        o.shared.values_files = vec![good, broken];
        o.shared.override_values_files = vec![bad, dir.path().join("missing")];
        let err = validate(o, Purpose::Run).unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        assert!(err.0[0].contains("line 1, column 4"), "{err}");
        assert!(err.0[1].contains("map"));
        assert!(err.0[2].contains("cannot read"));
    }
}
