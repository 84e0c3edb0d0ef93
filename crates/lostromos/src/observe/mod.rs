//! What is there: the CRs (a plain view for decisions) and the state of every
//! helm release, read from helm's own release Secrets through a watch; and
//! whether the API server and the watches are healthy.

pub mod api_calls;
pub mod api_probe;
pub mod cr;
pub mod early_store;
pub mod kstatus;
pub mod lists;
pub mod managed_fields;
pub mod manifest;
pub mod objects;
pub mod release_index;
pub mod release_record;
pub mod release_watch;
pub mod start_pass;
pub mod watch_health;
