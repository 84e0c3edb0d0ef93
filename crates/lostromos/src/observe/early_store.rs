//! Feeds the controller's store of CRs so that decisions start with the
//! first CR listed, not after the last one. kube's reflector holds a list's
//! objects back until the list ends, and the controller waits for that: at a
//! start with 10,000 CRs, 1.5 s of listing before the first decision, then
//! every decision after it. On the first list nothing is stale yet, so each
//! object goes into the store as it comes; every later list (after the watch
//! lost its place) replaces the store whole when it ends, as kube's does.

use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::Lookup;
use kube::runtime::watcher::Event;

/// Where the first list stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum First {
    /// Not begun.
    Waiting,
    /// Objects go straight into the store.
    Listing,
    /// Over (or begun again): kube's own semantics from here on.
    Over,
}

pub struct EarlyStore<K: Lookup + Clone + 'static>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    writer: Writer<K>,
    first: First,
}

impl<K: Lookup + Clone + 'static> EarlyStore<K>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    /// Takes `writer` and marks its store ready (empty) at once.
    pub fn new(mut writer: Writer<K>) -> Self {
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitDone);
        Self {
            writer,
            first: First::Waiting,
        }
    }

    /// Applies one watch event to the store.
    pub fn apply(&mut self, event: &Event<K>) {
        match (self.first, event) {
            (First::Waiting, Event::Init) => self.first = First::Listing,
            (First::Listing, Event::InitApply(o)) => {
                self.writer.apply_watcher_event(&Event::Apply(o.clone()))
            }
            // everything is in the store already
            (First::Listing, Event::InitDone) => self.first = First::Over,
            (First::Listing, Event::Init) => {
                // the first list began again: what it put in may be gone
                // now, so this one replaces the store when it ends
                self.first = First::Over;
                self.writer.apply_watcher_event(event);
            }
            _ => self.writer.apply_watcher_event(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;
    use kube::runtime::reflector::{store::Writer, ObjectRef};

    fn cm(name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn has(store: &kube::runtime::reflector::Store<ConfigMap>, name: &str) -> bool {
        store
            .get(&ObjectRef::<ConfigMap>::new(name).within("ns"))
            .is_some()
    }

    #[tokio::test]
    async fn the_store_is_ready_at_once_and_fills_as_the_first_list_comes() {
        let writer = Writer::<ConfigMap>::default();
        let store = writer.as_reader();
        let mut early = EarlyStore::new(writer);
        // ready before any event: the controller may start deciding
        store.wait_until_ready().await.expect("ready");
        early.apply(&Event::Init);
        early.apply(&Event::InitApply(cm("a")));
        assert!(
            has(&store, "a"),
            "listed objects are in the store before the list ends"
        );
        early.apply(&Event::InitApply(cm("b")));
        early.apply(&Event::InitDone);
        assert_eq!(store.len(), 2);
        early.apply(&Event::Apply(cm("c")));
        early.apply(&Event::Delete(cm("a")));
        assert!(has(&store, "c") && !has(&store, "a"));
    }

    #[test]
    fn a_later_list_replaces_the_store_when_it_ends() {
        let writer = Writer::<ConfigMap>::default();
        let store = writer.as_reader();
        let mut early = EarlyStore::new(writer);
        for e in [Event::Init, Event::InitApply(cm("gone")), Event::InitDone] {
            early.apply(&e);
        }
        early.apply(&Event::Init);
        early.apply(&Event::InitApply(cm("kept")));
        // until that list ends, the old view stays
        assert!(has(&store, "gone") && !has(&store, "kept"));
        early.apply(&Event::InitDone);
        assert!(!has(&store, "gone") && has(&store, "kept"));
    }

    #[test]
    fn a_first_list_begun_again_drops_what_the_broken_one_put_in() {
        let writer = Writer::<ConfigMap>::default();
        let store = writer.as_reader();
        let mut early = EarlyStore::new(writer);
        early.apply(&Event::Init);
        early.apply(&Event::InitApply(cm("deleted-meanwhile")));
        early.apply(&Event::Init);
        early.apply(&Event::InitApply(cm("kept")));
        early.apply(&Event::InitDone);
        assert!(!has(&store, "deleted-meanwhile") && has(&store, "kept"));
        assert_eq!(store.len(), 1);
    }
}
