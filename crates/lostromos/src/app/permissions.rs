//! Which permissions `run` needs, and how to say which are missing. Pure: the
//! preflight asks the API server about each (SelfSubjectAccessReview).

use std::collections::BTreeMap;
use std::fmt::Write;

/// One resource (in one namespace, or all) and the verbs Lostrómos uses on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    pub group: String,
    pub resource: String,
    pub subresource: Option<String>,
    /// `None`: every namespace (or a cluster-scoped resource).
    pub namespace: Option<String>,
    /// Only this object (the Lease).
    pub name: Option<String>,
    pub verbs: Vec<&'static str>,
    pub why: &'static str,
}

impl Need {
    /// `widgets.test.lostromos.dev/status`, `secrets`, `leases.coordination.k8s.io "x"`.
    pub fn resource_name(&self) -> String {
        let mut s = self.resource.clone();
        if !self.group.is_empty() {
            let _ = write!(s, ".{}", self.group);
        }
        if let Some(sub) = &self.subresource {
            let _ = write!(s, "/{sub}");
        }
        if let Some(name) = &self.name {
            let _ = write!(s, " {name:?}");
        }
        s
    }

    fn place(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("in namespace {ns}"),
            None => "in all namespaces".into(),
        }
    }
}

/// Where things live, as the settings and the watched type decide.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes {
    /// Where CRs are watched; `[None]` for all namespaces or a cluster-scoped type.
    pub crs: Vec<Option<String>>,
    /// Where releases (helm's Secrets) live.
    pub releases: Vec<Option<String>>,
    /// Where Events on the CRs go (`default` for cluster-scoped CRs).
    pub events: Vec<Option<String>>,
}

/// The watched type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched<'a> {
    pub group: &'a str,
    pub plural: &'a str,
    pub has_status: bool,
}

/// Every permission `run` uses.
pub fn needed(w: &Watched<'_>, scopes: &Scopes, lease: Option<(&str, &str)>) -> Vec<Need> {
    let need = |group: &str,
                resource: &str,
                sub: Option<&str>,
                ns: &Option<String>,
                verbs: &[&'static str],
                why| Need {
        group: group.to_owned(),
        resource: resource.to_owned(),
        subresource: sub.map(str::to_owned),
        namespace: ns.clone(),
        name: None,
        verbs: verbs.to_vec(),
        why,
    };
    let mut needs = Vec::new();
    for ns in &scopes.crs {
        needs.push(need(
            w.group,
            w.plural,
            None,
            ns,
            &["get", "list", "watch", "patch"],
            "to watch the CRs and set their finalizer",
        ));
        if w.has_status {
            needs.push(need(
                w.group,
                w.plural,
                Some("status"),
                ns,
                &["patch"],
                "to write the CRs' status",
            ));
        }
    }
    for ns in &scopes.releases {
        needs.push(need(
            "",
            "secrets",
            None,
            ns,
            &["get", "list", "watch", "create", "update", "delete"],
            "helm's release storage",
        ));
    }
    for ns in &scopes.events {
        needs.push(need(
            "events.k8s.io",
            "events",
            None,
            ns,
            &["create", "patch"],
            "Events on the CRs",
        ));
    }
    if let Some((ns, name)) = lease {
        let ns = Some(ns.to_owned());
        needs.push(need(
            "coordination.k8s.io",
            "leases",
            None,
            &ns,
            &["create"],
            "leader election",
        ));
        let mut named = need(
            "coordination.k8s.io",
            "leases",
            None,
            &ns,
            &["get", "patch"],
            "leader election",
        );
        named.name = Some(name.to_owned());
        needs.push(named);
    }
    needs
}

/// Missing verbs and why they are needed, for one resource in one place.
#[derive(Default)]
struct Missing {
    verbs: Vec<&'static str>,
    why: Vec<&'static str>,
}

/// One message listing every missing verb, by resource and namespace, and the fix.
pub fn missing_message(user: Option<&str>, denied: &[(Need, Vec<&'static str>)]) -> String {
    // the same resource and place may come from two needs (e.g. events and CRs in one namespace)
    let mut by_place: BTreeMap<(String, String), Missing> = BTreeMap::new();
    for (need, verbs) in denied {
        let entry = by_place
            .entry((need.resource_name(), need.place()))
            .or_default();
        for v in verbs {
            if !entry.verbs.contains(v) {
                entry.verbs.push(v);
            }
        }
        if !entry.why.contains(&need.why) {
            entry.why.push(need.why);
        }
    }
    let who = user.map_or_else(|| "this identity".to_owned(), |u| format!("{u:?}"));
    let mut text = format!("{who} lacks permissions lostromos needs:");
    for ((resource, place), m) in by_place {
        let (verbs, why) = (m.verbs.join(", "), m.why.join("; "));
        let _ = write!(text, "\n  - {verbs} {resource} {place} ({why})");
    }
    text.push_str(
        "\nfix: install Lostrómos with its chart (charts/lostromos), whose RBAC grants these for the watched \
         type and namespaces; add what else the identity needs with the chart's rbac.extraRules, or bind a \
         Role/ClusterRole with these rules to the identity",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widgets(has_status: bool) -> Watched<'static> {
        Watched {
            group: "test.lostromos.dev",
            plural: "widgets",
            has_status,
        }
    }

    fn ns(n: &str) -> Option<String> {
        Some(n.to_owned())
    }

    #[test]
    fn every_resource_the_controller_touches_is_needed() {
        let scopes = Scopes {
            crs: vec![ns("a"), ns("b")],
            releases: vec![ns("rel")],
            events: vec![ns("a"), ns("b")],
        };
        let needs = needed(&widgets(true), &scopes, Some(("ops", "lostromos-widgets")));
        let names: Vec<String> = needs
            .iter()
            .map(|n| format!("{} {}", n.resource_name(), n.place()))
            .collect();
        assert_eq!(
            names,
            [
                "widgets.test.lostromos.dev in namespace a",
                "widgets.test.lostromos.dev/status in namespace a",
                "widgets.test.lostromos.dev in namespace b",
                "widgets.test.lostromos.dev/status in namespace b",
                "secrets in namespace rel",
                "events.events.k8s.io in namespace a",
                "events.events.k8s.io in namespace b",
                "leases.coordination.k8s.io in namespace ops",
                "leases.coordination.k8s.io \"lostromos-widgets\" in namespace ops",
            ]
        );
        let secrets = needs.iter().find(|n| n.resource == "secrets").unwrap();
        assert_eq!(
            secrets.verbs,
            ["get", "list", "watch", "create", "update", "delete"]
        );
    }

    #[test]
    fn no_status_subresource_no_status_permission_and_no_lease_without_election() {
        let scopes = Scopes {
            crs: vec![None],
            releases: vec![None],
            events: vec![None],
        };
        let needs = needed(&widgets(false), &scopes, None);
        assert!(needs.iter().all(|n| n.subresource.is_none()));
        assert!(needs.iter().all(|n| n.resource != "leases"));
        assert!(needs.iter().all(|n| n.namespace.is_none()));
    }

    #[test]
    fn the_message_lists_every_missing_verb_by_resource_and_namespace_with_the_fix() {
        let scopes = Scopes {
            crs: vec![ns("a")],
            releases: vec![ns("a")],
            events: vec![ns("a")],
        };
        let needs = needed(&widgets(true), &scopes, None);
        let denied: Vec<(Need, Vec<&'static str>)> =
            needs.iter().map(|n| (n.clone(), n.verbs.clone())).collect();
        let text = missing_message(Some("lostromos-tester"), &denied);
        assert!(
            text.starts_with("\"lostromos-tester\" lacks permissions"),
            "{text}"
        );
        for line in [
            "  - get, list, watch, patch widgets.test.lostromos.dev in namespace a (to watch the CRs and set their finalizer)",
            "  - patch widgets.test.lostromos.dev/status in namespace a (to write the CRs' status)",
            "  - get, list, watch, create, update, delete secrets in namespace a (helm's release storage)",
            "  - create, patch events.events.k8s.io in namespace a (Events on the CRs)",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(
            text.contains("fix:") && text.contains("rbac.extraRules"),
            "{text}"
        );
    }
}
