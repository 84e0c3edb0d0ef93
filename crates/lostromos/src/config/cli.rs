//! The command line. Every option is also an environment variable
//! (`LOSTROMOS_*`) and a key of the `--config` file; flags beat the environment,
//! the environment beats the file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

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
    Render {
        /// A YAML or JSON file holding one custom resource.
        #[arg(long, env = "LOSTROMOS_CR")]
        cr: PathBuf,
        #[command(flatten)]
        options: Box<Options>,
    },
    /// Print the versions of lostromos and of helm.
    Version {
        #[arg(long, env = "LOSTROMOS_HELM_BINARY", default_value = "helm")]
        helm_binary: PathBuf,
    },
}

/// Options shared by `run` and `render`. All optional here: defaults and checks
/// are applied after the config file is merged in (see `settings`).
#[derive(Debug, Default, Args, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Options {
    /// YAML file with any of these options as keys (kebab-case).
    #[arg(long, env = "LOSTROMOS_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, env = "LOSTROMOS_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// API group of the watched custom resource.
    #[arg(long, env = "LOSTROMOS_GROUP")]
    pub group: Option<String>,
    /// API version of the watched custom resource.
    #[arg(long, env = "LOSTROMOS_VERSION")]
    pub version: Option<String>,
    /// Kind (or plural name) of the watched custom resource.
    #[arg(long, env = "LOSTROMOS_KIND")]
    pub kind: Option<String>,

    /// Namespace to watch; repeat for several (default: all).
    #[arg(long = "namespace", env = "LOSTROMOS_NAMESPACE", value_delimiter = ',')]
    #[serde(alias = "namespace")]
    pub namespaces: Vec<String>,
    /// Label selector, applied by the API server.
    #[arg(long, env = "LOSTROMOS_SELECTOR")]
    pub selector: Option<String>,
    /// Act only on CRs carrying this annotation (added = install, removed = uninstall).
    #[arg(long, env = "LOSTROMOS_FILTER_ANNOTATION")]
    pub filter_annotation: Option<String>,

    /// The chart: a directory, a .tgz, or any reference helm can pull.
    #[arg(long, env = "LOSTROMOS_CHART")]
    pub chart: Option<String>,
    /// Chart version, for charts pulled from a repository.
    #[arg(long, env = "LOSTROMOS_CHART_VERSION")]
    pub chart_version: Option<String>,

    /// Let a CR name its chart in this annotation (`<reference>[:<version>]`, the
    /// original's `chart:`); only charts under an --allowed-chart prefix are taken.
    #[arg(long, env = "LOSTROMOS_CHART_ANNOTATION")]
    pub chart_annotation: Option<String>,
    /// A chart reference prefix CRs may name (with --chart-annotation); repeatable.
    #[arg(
        long = "allowed-chart",
        env = "LOSTROMOS_ALLOWED_CHART",
        value_delimiter = ','
    )]
    #[serde(alias = "allowed-chart")]
    pub allowed_charts: Vec<String>,

    /// Release name prefix: `<prefix>-<cr name>` (default: the CR name).
    #[arg(long, env = "LOSTROMOS_RELEASE_PREFIX")]
    pub release_prefix: Option<String>,
    /// Namespace of every release (default: the CR's; required for cluster-scoped CRs).
    #[arg(long, env = "LOSTROMOS_RELEASE_NAMESPACE")]
    pub release_namespace: Option<String>,

    /// Shared values file below the CR's values; repeatable.
    #[arg(long = "values", env = "LOSTROMOS_VALUES", value_delimiter = ',')]
    #[serde(alias = "values")]
    pub values_files: Vec<PathBuf>,
    /// Forced values file that beats the CR; repeatable.
    #[arg(
        long = "override-values",
        env = "LOSTROMOS_OVERRIDE_VALUES",
        value_delimiter = ','
    )]
    #[serde(alias = "override-values")]
    pub override_values_files: Vec<PathBuf>,
    /// `spec`: the CR's spec is the values; `resource`: `resource.{name,namespace,spec}`.
    #[arg(long, env = "LOSTROMOS_VALUES_LAYOUT")]
    pub values_layout: Option<String>,
    /// Expose the CR's metadata (name, namespace, uid, labels, annotations) under this key.
    #[arg(long, env = "LOSTROMOS_METADATA_KEY")]
    pub metadata_key: Option<String>,

    /// The helm binary (helm 3.13+ or helm 4).
    #[arg(long, env = "LOSTROMOS_HELM_BINARY")]
    pub helm_binary: Option<PathBuf>,
    /// helm's --timeout for each operation (default 5m).
    #[arg(long, env = "LOSTROMOS_TIMEOUT")]
    pub timeout: Option<String>,
    /// Pass --wait to helm: an action succeeds once the release's objects are ready.
    #[arg(long, env = "LOSTROMOS_WAIT", num_args = 0..=1, default_missing_value = "true")]
    pub wait: Option<bool>,
    /// Revisions helm keeps per release (default 3).
    #[arg(long, env = "LOSTROMOS_HISTORY_MAX")]
    pub history_max: Option<u32>,
    /// Helm processes at once (default 4).
    #[arg(long, env = "LOSTROMOS_CONCURRENCY")]
    pub concurrency: Option<usize>,

    /// Re-check every CR this often (default 10m).
    #[arg(long, env = "LOSTROMOS_RECONCILE_PERIOD")]
    pub reconcile_period: Option<String>,
    /// Log each decision, change nothing.
    #[arg(long, env = "LOSTROMOS_DRY_RUN", num_args = 0..=1, default_missing_value = "true")]
    pub dry_run: Option<bool>,

    /// Address of the HTTP server: /healthz, /readyz, /metrics, /status (default :8080).
    #[arg(long, env = "LOSTROMOS_LISTEN")]
    pub listen: Option<String>,
    /// Run only while holding a Lease, so that of several replicas one acts.
    #[arg(long, env = "LOSTROMOS_LEADER_ELECT", num_args = 0..=1, default_missing_value = "true")]
    pub leader_elect: Option<bool>,
    /// Name of the Lease (default: lostromos-<plural>-<group>).
    #[arg(long, env = "LOSTROMOS_LEASE_NAME")]
    pub lease_name: Option<String>,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else default).
    #[arg(long, env = "LOSTROMOS_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// How long a Lease holds without renewal: a standby takes over after it (default 15s).
    #[arg(long, env = "LOSTROMOS_LEASE_DURATION")]
    pub lease_duration: Option<String>,
    /// On SIGTERM, how long running helm processes may finish before they are stopped (default 30s).
    #[arg(long, env = "LOSTROMOS_SHUTDOWN_GRACE")]
    pub shutdown_grace: Option<String>,

    /// `human` or `json`.
    #[arg(long, env = "LOSTROMOS_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Log filter, e.g. `info` or `lostromos=debug` (RUST_LOG also works).
    #[arg(long, env = "LOSTROMOS_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// /healthz fails once a request to the API server has waited this long for an answer (default 2m).
    #[arg(long, env = "LOSTROMOS_STUCK_AFTER")]
    pub stuck_after: Option<String>,
}
