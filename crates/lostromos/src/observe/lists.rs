//! How the watches of CRs and of helm's release Secrets take their first
//! list (both are served by the API server itself, which is asked once;
//! the objects' watches stay paged, as their kinds may be served by
//! aggregated API servers). Streamed when the API server serves
//! watch-lists (`sendInitialEvents`; the test control plane's 1.35 does;
//! the feature gate `WatchList` decides, so the server is asked):
//! one watch sends every object from the watch cache, then a bookmark. Else
//! paged by 500. Paging is what older servers have, but its continued pages
//! may be read from etcd: measured on one held state of 10,000 CRs, a paged
//! list of them took 3.4-3.8 s and 4.7 CPU-s of the API server, the streamed
//! one 1.3 s and 2.0 CPU-s (see README, "Memory as CRs grow").

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, WatchEvent, WatchParams};
use kube::runtime::watcher::{self, Event};
use kube::Resource;
use serde::de::DeserializeOwned;

/// The annotation of the bookmark that ends a watch-list's initial events.
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// How long the probe waits for the bookmark: a server that ignores the
/// request's parameters sends nothing on a watch that selects nothing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// How watches take their first list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListMode {
    /// Paged by 500 (kube's default).
    #[default]
    Paged,
    /// Streamed through one watch.
    Streamed,
}

impl ListMode {
    /// A watcher configuration that takes its first list this way.
    pub fn config(self) -> watcher::Config {
        match self {
            ListMode::Paged => watcher::Config::default(),
            ListMode::Streamed => watcher::Config::default().streaming_lists(),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ListMode::Paged => "paged",
            ListMode::Streamed => "streamed",
        }
    }
}

/// Whether the API server streams lists of `api`'s resource: a watch-list
/// that selects no object must end at once with the initial-events bookmark.
/// Anything else (refused, ignored, an error) keeps the paged lists.
pub async fn probe<K>(api: &Api<K>) -> ListMode
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let params = WatchParams::streaming_lists()
        .labels("lostromos.dev/list-probe=none")
        .timeout(PROBE_TIMEOUT.as_secs() as u32);
    let first = async {
        let stream = api.watch(&params, "0").await.ok()?;
        let mut stream = stream.boxed();
        stream.try_next().await.ok().flatten()
    };
    match tokio::time::timeout(PROBE_TIMEOUT, first).await {
        Ok(Some(WatchEvent::Bookmark(b)))
            if b.metadata.annotations.contains_key(INITIAL_EVENTS_END) =>
        {
            ListMode::Streamed
        }
        _ => ListMode::Paged,
    }
}

/// Times each (re-)list of a watch, for the log: what a start spends before
/// the first decision.
#[derive(Default)]
pub struct Listing {
    began: Option<std::time::Instant>,
    items: usize,
}

impl Listing {
    pub fn see<K>(&mut self, event: &Event<K>, what: &str) {
        match event {
            Event::Init => {
                *self = Self {
                    began: Some(std::time::Instant::now()),
                    items: 0,
                }
            }
            Event::InitApply(_) => self.items += 1,
            Event::InitDone => {
                let ms = self.began.take().map_or(0, |t| t.elapsed().as_millis());
                tracing::info!(watch = %what, items = self.items, list_ms = ms as u64, "listed");
            }
            Event::Apply(_) | Event::Delete(_) => {}
        }
    }
}
