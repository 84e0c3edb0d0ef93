//! Events on CRs (events.k8s.io/v1). Like kube-runtime's recorder, a repeat of
//! the same Event within a few minutes becomes a series on the first one; unlike
//! it, an Event's name always fits the API's 253 characters, however long the
//! CR's name, and its note is cut to the API's 1 kB.

use std::collections::HashMap;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::EventType;
use kube::Client;
use sha2::{Digest, Sha256};

use crate::plan::naming::hex;

/// A repeat within this time joins the earlier Event's series.
const SERIES_WINDOW: SignedDuration = SignedDuration::from_mins(6);
/// events.k8s.io's limits.
const MAX_NAME: usize = 253;
const MAX_NOTE: usize = 1024;
/// `.` and the nanosecond timestamp in hex.
const SUFFIX: usize = 1 + 16;
/// Hex characters of the name's hash when it has to be shortened.
const NAME_HASH: usize = 10;

/// One Event to publish.
pub struct Event {
    pub type_: EventType,
    pub reason: String,
    pub note: Option<String>,
    pub action: String,
}

/// An Event's identity for its series: a digest of the CR's uid, the type,
/// reason, action and note (kept for every Event of the last minutes, so not
/// the strings themselves).
type Key = [u8; 32];

fn key(uid: &str, type_: &str, reason: &str, action: &str, note: Option<&str>) -> Key {
    let mut h = Sha256::new();
    for part in [uid, type_, reason, action] {
        h.update(part.len().to_le_bytes());
        h.update(part.as_bytes());
    }
    if let Some(note) = note {
        h.update([1]);
        h.update(note.as_bytes());
    }
    h.finalize().into()
}

/// What a repeat needs of an Event published lately to join its series.
#[derive(Clone)]
struct Recent {
    name: String,
    namespace: String,
    /// Occurrences so far (1 before any repeat).
    count: i32,
    last: Timestamp,
}

/// Publishes Events for one controller instance.
pub struct Events {
    client: Client,
    controller: String,
    instance: String,
    recent: Mutex<HashMap<Key, Recent>>,
}

impl Events {
    pub fn new(client: Client, controller: &str, instance: Option<String>) -> Self {
        Self {
            client,
            controller: controller.to_owned(),
            instance: instance.unwrap_or_else(|| controller.to_owned()),
            recent: Mutex::default(),
        }
    }

    /// Creates the Event, or counts it into the series of the same recent one.
    pub async fn publish(&self, ev: Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let type_ = match ev.type_ {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        let note = ev.note.map(|n| bounded(&n, MAX_NOTE));
        let key = key(
            regarding.uid.as_deref().unwrap_or_default(),
            type_,
            &ev.reason,
            &ev.action,
            note.as_deref(),
        );
        let earlier = {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent.retain(|_, r| r.last + SERIES_WINDOW > now);
            recent.get(&key).cloned()
        };
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let event = match earlier {
            Some(mut r) => {
                r.count += 1;
                r.last = now;
                let series = EventSeries {
                    count: r.count,
                    last_observed_time: MicroTime(now),
                };
                let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &r.namespace);
                let patch = serde_json::json!({ "series": series });
                api.patch(&r.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                r
            }
            None => {
                let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
                let e = K8sEvent {
                    metadata: ObjectMeta {
                        name: Some(event_name(
                            regarding.name.as_deref().unwrap_or(&self.controller),
                            now,
                        )),
                        namespace: Some(namespace.clone()),
                        ..Default::default()
                    },
                    event_time: Some(MicroTime(now)),
                    type_: Some(type_.into()),
                    reason: Some(ev.reason),
                    action: Some(ev.action),
                    note,
                    regarding: Some(regarding.clone()),
                    reporting_controller: Some(self.controller.clone()),
                    reporting_instance: Some(self.instance.clone()),
                    ..Default::default()
                };
                api.create(&PostParams::default(), &e).await?;
                Recent {
                    name: e.metadata.name.unwrap_or_default(),
                    namespace,
                    count: 1,
                    last: now,
                }
            }
        };
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, event);
        Ok(())
    }
}

/// `<object name>.<nanoseconds in hex>`; an object name too long for that is cut
/// and given a hash of the whole name, so the Event name stays unique to it.
pub fn event_name(object: &str, now: Timestamp) -> String {
    let suffix = format!(".{:x}", now.as_nanosecond());
    if object.len() + SUFFIX <= MAX_NAME {
        return format!("{object}{suffix}");
    }
    let hash = hex(&Sha256::digest(object.as_bytes()));
    let keep = MAX_NAME - SUFFIX - 1 - NAME_HASH;
    let mut cut = bounded(object, keep);
    while cut.ends_with(['.', '-']) {
        cut.pop();
    }
    format!("{cut}-{}{suffix}", &hash[..NAME_HASH])
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[test]
    fn short_names_are_kept() {
        assert_eq!(
            event_name("nemo", t()),
            format!("nemo.{:x}", t().as_nanosecond())
        );
    }

    #[test]
    fn a_253_character_name_gives_a_valid_distinct_event_name() {
        let long = format!("{}.x", "a".repeat(251));
        let other = format!("{}.y", "a".repeat(251));
        let name = event_name(&long, t());
        assert!(name.len() <= MAX_NAME, "{} characters", name.len());
        assert!(name.starts_with("aaaa"));
        assert!(name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
        assert_eq!(name, event_name(&long, t()), "deterministic");
        assert_ne!(
            name,
            event_name(&other, t()),
            "names differing past the cut stay apart"
        );
        // the longest name that is kept as it is
        let fits = "b".repeat(MAX_NAME - SUFFIX);
        assert!(event_name(&fits, t()).starts_with(&fits));
    }

    #[test]
    fn a_series_is_one_cr_type_reason_action_and_note() {
        let k = key("uid", "Normal", "Installed", "Install", Some("note"));
        assert_eq!(
            k,
            key("uid", "Normal", "Installed", "Install", Some("note"))
        );
        for other in [
            key("uid2", "Normal", "Installed", "Install", Some("note")),
            key("uid", "Warning", "Installed", "Install", Some("note")),
            key("uid", "Normal", "Upgraded", "Install", Some("note")),
            key("uid", "Normal", "Installed", "Upgrade", Some("note")),
            key("uid", "Normal", "Installed", "Install", Some("other")),
            key("uid", "Normal", "Installed", "Install", Some("")),
            key("uid", "Normal", "Installed", "Install", None),
            // parts do not run into each other
            key("ui", "dNormal", "Installed", "Install", Some("note")),
        ] {
            assert_ne!(k, other);
        }
        assert_ne!(
            key("uid", "Normal", "Installed", "Install", Some("")),
            key("uid", "Normal", "Installed", "Install", None)
        );
    }

    #[test]
    fn notes_are_cut_at_a_character_boundary() {
        let note = "é".repeat(600);
        let cut = bounded(&note, MAX_NOTE);
        assert!(cut.len() <= MAX_NOTE);
        assert!(note.starts_with(&cut));
    }
}
