//! Lostrómos: every custom resource of one kind becomes one Helm release of one
//! chart, kept in step by running the helm CLI.
//!
//! The folders follow the data flow, one stage each:
//! `observe` (CR and release state from watches) -> `plan` (pure decision)
//! -> act (`helm` subprocess, driven from `reconcile`) -> report (`reconcile`'s
//! status and events; `serve` for metrics and probes). `config` turns flags,
//! environment and files into settings. `crd` makes a chart into the CRD
//! of its API (`lostromos crd`), once, before any of this runs.

pub mod config;
pub mod crd;
pub mod helm;
pub mod observe;
pub mod plan;
pub mod reconcile;
pub mod serve;
