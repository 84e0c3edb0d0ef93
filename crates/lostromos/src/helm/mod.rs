//! Driving the helm CLI: argv per helm major, the process, and its errors.

pub mod argv;
pub mod chart;
pub mod chart_files;
pub mod error;
pub mod go_template;
pub mod process;
pub mod render;
pub mod templates;
pub mod version;

pub use argv::{HelmArgs, Major};
pub use error::{classify, HelmError, HelmErrorKind};
pub use process::{HelmRunner, RunOutput};
pub use version::HelmVersion;
