//! What is there: the CRs (a plain view for decisions) and the state of every
//! helm release, read from helm's own release Secrets through a watch.

pub mod cr;
pub mod release_index;
pub mod release_record;
pub mod release_watch;
