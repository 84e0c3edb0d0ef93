//! Lostrómos: every custom resource of one kind becomes one Helm release of one
//! chart, kept in step by running the helm CLI.
//!
//! Data flow: observe (CR + release state from helm's Secrets) -> `plan` (pure)
//! -> act (`helm` subprocess) -> report (status, events, logs).

pub mod backoff;
pub mod chart;
pub mod chart_choice;
pub mod cli;
pub mod controller;
pub mod cr;
pub mod digest;
pub mod duration;
pub mod helm;
pub mod http;
pub mod labels;
pub mod metrics;
pub mod naming;
pub mod original_config;
pub mod plan;
pub mod release;
pub mod releases;
pub mod render;
pub mod report;
pub mod settings;
pub mod status;
pub mod values;
