//! Logs to stderr: human-readable (coloured only at a terminal) or JSON.

use std::io::IsTerminal;

use lostromos::config::settings::{LogFormat, Settings};

/// The default filter: kube-runtime's own watcher warnings and kube's client
/// trace of each failed request repeat every retry; Lostrómos logs watch
/// trouble itself, rate-limited, and reports failed requests where they matter.
const DEFAULT_FILTER: &str =
    "info,kube=warn,kube_runtime::watcher=error,kube_client::client::builder=off";

pub fn init(s: &Settings) {
    let filter = s
        .log_level
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| DEFAULT_FILTER.into());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // colours only for a person at a terminal, and never with NO_COLOR
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match s.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}
