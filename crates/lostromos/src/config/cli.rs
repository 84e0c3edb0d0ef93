//! The command line. Every option is also an environment variable
//! (`LOSTROMOS_*`) and a key of the `--config` file; flags beat the environment,
//! the environment beats the file.
//!
//! The options come in three groups so that each command shows and takes only
//! what it uses: `run` takes all three, `render` only [`SharedOptions`]. A
//! config file may hold keys of every group (one file serves both commands).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::config::duration::deserialize_text as duration;
use crate::config::settings::{AdoptFrom, LogFormat};
use crate::crd::Scope;
use crate::plan::health::DriftMode;
use crate::plan::values::Layout;

const WATCHED: &str = "Watched resource";
const CHART: &str = "Chart";
const RELEASES: &str = "Releases";
const VALUES: &str = "Values";
const HELM: &str = "Helm";
const LOGGING: &str = "Logging";
const SERVING: &str = "Serving and leader election";
const OBJECTS: &str = "Objects of the releases (readiness and drift)";
const KINDS: &str = "Several kinds, and taking over from other operators";
const API: &str = "The API (CRD names)";

#[derive(Debug, Parser)]
#[command(
    name = "lostromos",
    version,
    about = "Every custom resource becomes a Helm release."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch the custom resources and keep one helm release per CR.
    Run(Box<Options>),
    /// Print the values and manifests for a CR read from a file (offline).
    Render(Box<RenderArgs>),
    /// Print a CustomResourceDefinition for a chart: its spec schema from the
    /// chart's values.schema.json (else inferred from values.yaml), the status
    /// Lostrómos writes, and printer columns. What the API server cannot check
    /// is listed on stderr.
    Crd(Box<CrdArgs>),
    /// Print the versions of lostromos and of helm.
    Version {
        #[arg(long, env = "LOSTROMOS_HELM_BINARY", default_value = "helm")]
        helm_binary: PathBuf,
    },
}

/// `lostromos render`: a CR file and the options that shape its release.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A YAML or JSON file holding one custom resource.
    #[arg(long, env = "LOSTROMOS_CR")]
    pub cr: PathBuf,
    #[command(flatten)]
    pub shared: SharedOptions,
}

/// `lostromos crd`: the chart, and the names of the API it becomes.
#[derive(Debug, Args)]
pub struct CrdArgs {
    /// The chart: a directory, a .tgz, or any reference helm can pull.
    #[arg(long, env = "LOSTROMOS_CHART", help_heading = CHART, value_name = "REF")]
    pub chart: String,
    /// Chart version, for charts pulled from a repository.
    #[arg(long, env = "LOSTROMOS_CHART_VERSION", help_heading = CHART)]
    pub chart_version: Option<String>,
    /// Where the CR's spec sits in the values, as `run` will be started with (default spec).
    #[arg(long, env = "LOSTROMOS_VALUES_LAYOUT", value_enum, help_heading = VALUES)]
    pub values_layout: Option<Layout>,

    /// API group, a DNS name with a dot (platform.example.com).
    #[arg(long, env = "LOSTROMOS_GROUP", help_heading = API)]
    pub group: String,
    /// Kind, in CamelCase (Tenant).
    #[arg(long, env = "LOSTROMOS_KIND", help_heading = API)]
    pub kind: String,
    /// API version.
    #[arg(long, env = "LOSTROMOS_VERSION", default_value = "v1alpha1", help_heading = API)]
    pub version: String,
    /// Plural name (default: the lowercase kind + s, es or ies).
    #[arg(long, help_heading = API)]
    pub plural: Option<String>,
    /// Whether the CRs live in namespaces.
    #[arg(long, value_enum, default_value = "Namespaced", help_heading = API)]
    pub scope: Scope,
    /// A short name for kubectl (`kubectl get tn`); repeatable.
    #[arg(long = "short-name", help_heading = API, value_name = "NAME")]
    pub short_names: Vec<String>,
    /// A category for kubectl (`kubectl get platform`); repeatable.
    #[arg(long = "category", help_heading = API, value_name = "NAME")]
    pub categories: Vec<String>,

    /// The helm binary, to pull a chart that is not local.
    #[arg(long, env = "LOSTROMOS_HELM_BINARY", default_value = "helm", help_heading = HELM, value_name = "PATH")]
    pub helm_binary: PathBuf,
}

/// Every option (`lostromos run`). All optional here: defaults and checks are
/// applied after the config file is merged in (see `settings`).
#[derive(Clone, Debug, Default, Args)]
pub struct Options {
    #[command(flatten)]
    pub watch: WatchOptions,
    #[command(flatten)]
    pub shared: SharedOptions,
    #[command(flatten)]
    pub run: RunOptions,
}

/// What to watch, and where: `run` only.
#[derive(Clone, Debug, Default, Args, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct WatchOptions {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, env = "LOSTROMOS_KUBECONFIG", help_heading = WATCHED, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// API group of the watched custom resource.
    #[arg(long, env = "LOSTROMOS_GROUP", help_heading = WATCHED)]
    pub group: Option<String>,
    /// API version of the watched custom resource.
    #[arg(long, env = "LOSTROMOS_VERSION", help_heading = WATCHED)]
    pub version: Option<String>,
    /// Kind (or plural name) of the watched custom resource.
    #[arg(long, env = "LOSTROMOS_KIND", help_heading = WATCHED)]
    pub kind: Option<String>,

    /// Namespace to watch; repeat for several (default: all).
    #[arg(
        long = "namespace",
        env = "LOSTROMOS_NAMESPACE",
        value_delimiter = ',',
        help_heading = WATCHED,
        value_name = "NS"
    )]
    #[serde(alias = "namespace")]
    pub namespaces: Vec<String>,
    /// Label selector, applied by the API server.
    #[arg(long, env = "LOSTROMOS_SELECTOR", help_heading = WATCHED)]
    pub selector: Option<String>,
    /// Act only on CRs carrying this annotation (added = install, removed = uninstall).
    #[arg(long, env = "LOSTROMOS_FILTER_ANNOTATION", help_heading = WATCHED)]
    pub filter_annotation: Option<String>,
    /// Re-check every CR this often (default 10m).
    #[arg(
        long,
        env = "LOSTROMOS_RECONCILE_PERIOD",
        help_heading = WATCHED,
        value_name = "DURATION"
    )]
    #[serde(deserialize_with = "duration")]
    pub reconcile_period: Option<String>,
}

/// What shapes a release: `run` and `render`.
#[derive(Clone, Debug, Default, Args, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct SharedOptions {
    /// YAML file with any of the options as keys (the long names, without --).
    #[arg(long, env = "LOSTROMOS_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// The chart: a directory, a .tgz, or any reference helm can pull.
    #[arg(long, env = "LOSTROMOS_CHART", help_heading = CHART, value_name = "REF")]
    pub chart: Option<String>,
    /// Chart version, for charts pulled from a repository.
    #[arg(long, env = "LOSTROMOS_CHART_VERSION", help_heading = CHART)]
    pub chart_version: Option<String>,
    /// Instead of --chart: a directory of Go `*.tmpl` templates (the original's
    /// second back end), executed with each CR; the first file by name is the root.
    #[arg(long, env = "LOSTROMOS_TEMPLATES", help_heading = CHART, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// Release name prefix: `<prefix>-<cr name>` (default: the CR name).
    #[arg(long, env = "LOSTROMOS_RELEASE_PREFIX", help_heading = RELEASES)]
    pub release_prefix: Option<String>,
    /// Namespace of every release (default: the CR's; required for cluster-scoped CRs).
    #[arg(long, env = "LOSTROMOS_RELEASE_NAMESPACE", help_heading = RELEASES, value_name = "NS")]
    pub release_namespace: Option<String>,

    /// Shared values file below the CR's values; repeatable.
    #[arg(
        long = "values",
        env = "LOSTROMOS_VALUES",
        value_delimiter = ',',
        help_heading = VALUES,
        value_name = "FILE"
    )]
    #[serde(alias = "values")]
    pub values_files: Vec<PathBuf>,
    /// Forced values file that beats the CR; repeatable.
    #[arg(
        long = "override-values",
        env = "LOSTROMOS_OVERRIDE_VALUES",
        value_delimiter = ',',
        help_heading = VALUES,
        value_name = "FILE"
    )]
    #[serde(alias = "override-values")]
    pub override_values_files: Vec<PathBuf>,
    /// Where the CR's spec sits in the values (default spec).
    #[arg(long, env = "LOSTROMOS_VALUES_LAYOUT", value_enum, help_heading = VALUES)]
    pub values_layout: Option<Layout>,
    /// Expose the CR's metadata (name, namespace, uid, labels, annotations) under this key.
    #[arg(long, env = "LOSTROMOS_METADATA_KEY", help_heading = VALUES)]
    pub metadata_key: Option<String>,

    /// The helm binary (helm 3.13+ or helm 4).
    #[arg(long, env = "LOSTROMOS_HELM_BINARY", help_heading = HELM, value_name = "PATH")]
    pub helm_binary: Option<PathBuf>,
    /// helm's --timeout for each operation (default 5m): 90, 30s, 5m, 1h30m.
    #[arg(long, env = "LOSTROMOS_TIMEOUT", help_heading = HELM, value_name = "DURATION")]
    #[serde(deserialize_with = "duration")]
    pub timeout: Option<String>,

    /// Log format (default human).
    #[arg(long, env = "LOSTROMOS_LOG_FORMAT", value_enum, help_heading = LOGGING)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `lostromos=debug` (RUST_LOG also works).
    #[arg(long, env = "LOSTROMOS_LOG_LEVEL", help_heading = LOGGING)]
    pub log_level: Option<String>,
}

/// How `run` acts, serves and shares the work: `run` only.
#[derive(Clone, Debug, Default, Args, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct RunOptions {
    /// Let a CR name its chart in this annotation (`<reference>[:<version>]`, the
    /// original's `chart:`); only charts under an --allowed-chart prefix are taken.
    #[arg(long, env = "LOSTROMOS_CHART_ANNOTATION", help_heading = CHART)]
    pub chart_annotation: Option<String>,
    /// A chart reference prefix CRs may name (with --chart-annotation); repeatable.
    #[arg(
        long = "allowed-chart",
        env = "LOSTROMOS_ALLOWED_CHART",
        value_delimiter = ',',
        help_heading = CHART,
        value_name = "PREFIX"
    )]
    #[serde(alias = "allowed-chart")]
    pub allowed_charts: Vec<String>,

    /// Pass --wait to helm: an action succeeds once the release's objects are ready.
    #[arg(
        long,
        env = "LOSTROMOS_WAIT",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = HELM,
    )]
    pub wait: Option<bool>,
    /// Revisions helm keeps per release (default 3).
    #[arg(long, env = "LOSTROMOS_HISTORY_MAX", help_heading = HELM)]
    pub history_max: Option<u32>,
    /// Helm processes at once, for all kinds together (default 4).
    #[arg(long, env = "LOSTROMOS_CONCURRENCY", help_heading = HELM)]
    pub concurrency: Option<usize>,
    /// Helm processes at once for this kind, inside --concurrency (default: no cap
    /// of its own); `maxConcurrentReconciles` in a --watches entry.
    #[arg(long, env = "LOSTROMOS_MAX_CONCURRENT_RECONCILES", help_heading = HELM, value_name = "N")]
    pub max_concurrent_reconciles: Option<usize>,
    /// Log each decision, change nothing.
    #[arg(
        long,
        env = "LOSTROMOS_DRY_RUN",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = HELM,
    )]
    pub dry_run: Option<bool>,

    /// Watch the releases' objects: Ready then means they are ready, and drift is seen
    /// (default true; false: Ready means helm deployed, and no object RBAC is needed).
    #[arg(
        long,
        env = "LOSTROMOS_WATCH_OBJECTS",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = OBJECTS,
    )]
    pub watch_objects: Option<bool>,
    /// Objects not ready this long after helm deployed them: the CR goes Stalled,
    /// reason NotReady, until they are (default 10m).
    #[arg(long, env = "LOSTROMOS_READY_TIMEOUT", help_heading = OBJECTS, value_name = "DURATION")]
    #[serde(deserialize_with = "duration")]
    pub ready_timeout: Option<String>,
    /// An object of a release changed or deleted by another writer: correct (re-apply
    /// the release with the same inputs), warn (condition Drifted, an Event), or off
    /// (default correct).
    #[arg(long, env = "LOSTROMOS_DRIFT", value_enum, help_heading = OBJECTS)]
    pub drift: Option<DriftMode>,

    /// Serve every kind listed in FILE from this process: a YAML list in Operator SDK
    /// helm-operator's watches.yaml format (group, version, kind, chart, overrideValues,
    /// selector, reconcilePeriod, maxConcurrentReconciles, watchDependentResources), each
    /// entry also taking this command's per-kind options by their long names.
    #[arg(long, env = "LOSTROMOS_WATCHES", help_heading = KINDS, value_name = "FILE")]
    pub watches: Option<PathBuf>,
    /// Take over releases another operator made, without reinstalling: helm-operator
    /// (CRs carrying its finalizer; the release keeps its objects and gets one upgrade).
    #[arg(long, env = "LOSTROMOS_ADOPT_FROM", value_enum, help_heading = KINDS, value_name = "OPERATOR")]
    pub adopt_from: Option<AdoptFrom>,

    /// Also publish a Normal Event for each install, upgrade and uninstall a CR's own
    /// change causes (default false: Warnings, and what Lostrómos does on its own, such
    /// as recoveries and drift corrections; the status says the rest).
    #[arg(
        long,
        env = "LOSTROMOS_ROUTINE_EVENTS",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = SERVING,
    )]
    pub routine_events: Option<bool>,
    /// Address of the HTTP server: /healthz, /readyz, /metrics, /status (default :8080).
    #[arg(long, env = "LOSTROMOS_LISTEN", help_heading = SERVING)]
    pub listen: Option<String>,
    /// Run only while holding a Lease, so that of several replicas one acts.
    #[arg(
        long,
        env = "LOSTROMOS_LEADER_ELECT",
        num_args = 0..=1,
        default_missing_value = "true",
        help_heading = SERVING,
    )]
    pub leader_elect: Option<bool>,
    /// Name of the Lease (default: lostromos-<plural>-<group>).
    #[arg(long, env = "LOSTROMOS_LEASE_NAME", help_heading = SERVING)]
    pub lease_name: Option<String>,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else default).
    #[arg(long, env = "LOSTROMOS_LEASE_NAMESPACE", help_heading = SERVING, value_name = "NS")]
    pub lease_namespace: Option<String>,
    /// How long a Lease holds without renewal: a standby takes over after it (default 15s).
    #[arg(long, env = "LOSTROMOS_LEASE_DURATION", help_heading = SERVING, value_name = "DURATION")]
    #[serde(deserialize_with = "duration")]
    pub lease_duration: Option<String>,
    /// On SIGTERM, how long running helm processes may finish before they are stopped (default 30s).
    #[arg(long, env = "LOSTROMOS_SHUTDOWN_GRACE", help_heading = SERVING, value_name = "DURATION")]
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Option<String>,
    /// /healthz fails once a request to the API server has waited this long for an answer (default 2m).
    #[arg(long, env = "LOSTROMOS_STUCK_AFTER", help_heading = SERVING, value_name = "DURATION")]
    #[serde(deserialize_with = "duration")]
    pub stuck_after: Option<String>,
}

impl Options {
    /// The options of `render`: the shared ones; the others keep their defaults.
    pub fn shared_only(shared: SharedOptions) -> Options {
        Options {
            shared,
            ..Options::default()
        }
    }
}

/// The config file keys (the options' long names), for suggestions.
pub fn option_names() -> Vec<String> {
    let cmd = Options::augment_args(clap::Command::new("run"));
    cmd.get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "config")
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn help(args: &[&str]) -> String {
        let mut cmd = Cli::command();
        let sub = cmd
            .find_subcommand_mut(args[0])
            .expect("subcommand")
            .clone();
        sub.bin_name(format!("lostromos {}", args[0]))
            .render_long_help()
            .to_string()
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn closed_sets_list_their_values_in_help() {
        let text = help(&["run"]);
        for value in ["spec", "resource", "human", "json"] {
            assert!(text.contains(&format!("- {value}:")), "{value} in {text}");
        }
    }

    #[test]
    fn render_help_shows_only_what_render_uses() {
        let text = help(&["render"]);
        for used in [
            "--cr",
            "--config",
            "--chart ",
            "--chart-version",
            "--values ",
            "--override-values",
            "--values-layout",
            "--metadata-key",
            "--release-prefix",
            "--release-namespace",
            "--helm-binary",
            "--timeout",
            "--log-format",
            "--log-level",
        ] {
            assert!(text.contains(used), "{used} in {text}");
        }
        for unused in [
            "--group",
            "--kind",
            "--namespace ",
            "--selector",
            "--filter-annotation",
            "--listen",
            "--leader-elect",
            "--concurrency",
            "--wait",
            "--chart-annotation",
            "--reconcile-period",
        ] {
            assert!(!text.contains(unused), "{unused} in {text}");
        }
    }

    #[test]
    fn a_wrong_closed_value_lists_the_allowed_ones() {
        let err = Cli::try_parse_from([
            "lostromos",
            "render",
            "--cr",
            "x",
            "--values-layout",
            "flat",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("[possible values: spec, resource]"), "{err}");
        let err = Cli::try_parse_from(["lostromos", "run", "--log-format", "xml"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("[possible values: human, json]"), "{err}");
    }

    #[test]
    fn option_names_are_the_long_flags() {
        let names = option_names();
        for name in [
            "chart",
            "namespace",
            "timeout",
            "allowed-chart",
            "log-format",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        assert!(!names.iter().any(|n| n == "config"));
    }
}
