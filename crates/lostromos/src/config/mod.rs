//! From flags, environment and config files to validated settings.

pub mod cli;
pub mod duration;
pub mod file;
pub mod original;
pub mod settings;
pub mod watches;
