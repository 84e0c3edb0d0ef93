//! What the process tells the outside: HTTP probes and Prometheus metrics.

pub mod http;
pub mod metrics;
