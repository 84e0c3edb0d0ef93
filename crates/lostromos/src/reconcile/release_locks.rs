//! One decision at a time per release. kube-runtime runs one reconcile per CR
//! at a time, but two CRs can name the same release (two namespaces, one
//! `--release-namespace`). Without this, both would plan an install before
//! either release exists, and the second `helm upgrade --install` would take
//! over the first's release. Held from the plan to the end of the act, so the
//! second CR plans on the release the first one left.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Key = (String, String);
type Table = Arc<Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>>;

/// The releases being decided on now; clones share the table, so every kind
/// of one process decides on a release one at a time.
#[derive(Clone, Default)]
pub struct ReleaseLocks(Table);

/// Holds release `namespace/name` until dropped.
pub(super) struct ReleaseHold {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    key: Key,
    table: Table,
}

impl ReleaseLocks {
    /// Waits until no other CR is deciding on release `namespace/name`.
    pub(super) async fn hold(&self, namespace: &str, name: &str) -> ReleaseHold {
        let key = (namespace.to_owned(), name.to_owned());
        let lock = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        ReleaseHold {
            guard: Some(lock.lock_owned().await),
            key,
            table: self.0.clone(),
        }
    }

    /// How many releases have an entry (held or awaited).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for ReleaseHold {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        // nobody else holds or awaits it: the entry goes, so the table stays
        // as small as the work in flight
        if table
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            table.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_second_decision_on_a_release_waits_for_the_first() {
        let locks = Arc::new(ReleaseLocks::default());
        let first = locks.hold("ns", "same").await;
        let waiting = {
            let locks = locks.clone();
            tokio::spawn(async move { locks.hold("ns", "same").await })
        };
        // another release is free meanwhile
        drop(locks.hold("ns", "other").await);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "held twice");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the second hold after the first is dropped")
            .unwrap();
        assert_eq!(locks.len(), 1);
        drop(second);
        assert_eq!(locks.len(), 0, "entries outlive their holds");
    }
}
