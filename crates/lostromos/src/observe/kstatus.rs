//! Whether an object is ready, by the rules of kstatus (kubernetes-sigs/cli-utils
//! `pkg/kstatus/status`): the rules kpt, Flux and `kubectl`-adjacent tools use,
//! so that "ready" means here what it means to them.
//!
//! The order is kstatus's: deletion, then an unobserved generation, then the
//! standard `Reconciling`/`Stalled` conditions (for every kind), then the
//! rules of the built-in kinds, then a `Ready` condition, else Current.
//!
//! Where this differs from kstatus, on purpose (each said again where it is):
//! a Pod that failed is Failed, not Current (a workload's pod that failed is
//! no success); a crash-looping or unschedulable Pod is InProgress, not Failed
//! (both can heal by waiting, and the unschedulable rule would need a clock);
//! a LoadBalancer Service waits for its address, not only for a cluster IP.
//! And fields of the wrong type count as absent where kstatus would error.

use serde_json::Value;

/// Longest message, in characters: one line in a status condition or a log.
const MAX_MESSAGE: usize = 120;

/// An object's state as kstatus defines it, reduced to what Lostrómos needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Fully reconciled by its controller.
    Current,
    /// Still converging; the text says why, short, for a person, e.g. "1/3 replicas available".
    InProgress(String),
    /// Failed in a way that waiting will not fix, e.g. "job failed: BackoffLimitExceeded".
    Failed(String),
}

/// Whether the kind's readiness depends on more than the object's metadata
/// (so its watch must carry whole objects). False only for kinds known to have
/// no status that matters (ConfigMap, Secret, ServiceAccount, RBAC kinds, NetworkPolicy,
/// Ingress, IngressClass, CronJob, Endpoints, LimitRange, ResourceQuota, PriorityClass,
/// StorageClass, Mutating/ValidatingWebhookConfiguration, ...). Unknown kinds: true
/// (they may carry a Ready condition). Service: true (type LoadBalancer).
///
/// For every kind listed false, [`readiness`] of the metadata alone equals
/// that of the whole object: none has `status.observedGeneration` or
/// conditions that kstatus reads.
pub fn needs_body(group: &str, kind: &str) -> bool {
    !matches!(
        (group, kind),
        (
            "",
            "ConfigMap"
                | "Secret"
                | "ServiceAccount"
                | "Endpoints"
                | "LimitRange"
                | "ResourceQuota"
                | "PodTemplate"
                | "Namespace"
        ) | (
            "rbac.authorization.k8s.io",
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
        ) | (
            "networking.k8s.io",
            "NetworkPolicy" | "Ingress" | "IngressClass"
        ) | ("extensions", "NetworkPolicy" | "Ingress")
            | ("batch", "CronJob")
            | ("discovery.k8s.io", "EndpointSlice")
            | ("coordination.k8s.io", "Lease")
            | ("node.k8s.io", "RuntimeClass")
            | ("scheduling.k8s.io", "PriorityClass")
            | ("storage.k8s.io", "StorageClass" | "CSIDriver")
            | (
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration"
                    | "ValidatingWebhookConfiguration"
                    | "ValidatingAdmissionPolicyBinding"
            )
    )
}

/// The readiness of one object, given its API group ("" for core), its kind and
/// the object as served (JSON). Never panics on any input.
pub fn readiness(group: &str, kind: &str, obj: &Value) -> Readiness {
    if !text(obj, &["metadata", "deletionTimestamp"]).is_empty() {
        return in_progress("being deleted");
    }
    if let Some(r) = generation_lag(obj) {
        return r;
    }
    if let Some(r) = standard_conditions(obj) {
        return r;
    }
    if let Some(r) = by_kind(group, kind, obj) {
        return r;
    }
    // Ready breaks the "abnormal-true" convention but is the most common
    // condition on custom resources, so kstatus reads it last.
    ready_condition(obj).unwrap_or(Readiness::Current)
}

/// The rules of the built-in kinds kstatus knows; None for any other kind.
fn by_kind(group: &str, kind: &str, obj: &Value) -> Option<Readiness> {
    Some(match (group, kind) {
        ("", "Service") => service(obj),
        ("", "Pod") => pod(obj),
        ("", "PersistentVolumeClaim") => pvc(obj),
        ("", "ConfigMap" | "Secret") | ("batch", "CronJob") => Readiness::Current,
        ("apps", "StatefulSet") => stateful_set(obj),
        ("apps" | "extensions", "Deployment") => deployment(obj),
        ("apps" | "extensions", "DaemonSet") => daemon_set(obj),
        ("apps" | "extensions", "ReplicaSet") => replica_set(obj),
        // The disruption controller sets no condition when it cannot compute
        // the allowed disruptions, so a PDB whose generation it has observed
        // (checked above) is all kstatus can tell. How many pods are healthy
        // is the workload's readiness, not the budget's: kstatus does not
        // wait for currentHealthy >= desiredHealthy, and neither do we (a
        // budget asking for more pods than exist would never be ready).
        ("policy", "PodDisruptionBudget") => Readiness::Current,
        ("batch", "Job") => job(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(obj),
        _ => return None,
    })
}

/// A spec change the controller has not acted on yet makes any status stale.
/// kstatus compares with `!=`: an observed generation ahead of the object's
/// is as untrustworthy as one behind.
fn generation_lag(obj: &Value) -> Option<Readiness> {
    let generation = at(obj, &["metadata", "generation"])?.as_i64()?;
    let observed = at(obj, &["status", "observedGeneration"])?.as_i64()?;
    (observed != generation).then(|| {
        in_progress(format!(
            "waiting for its controller to observe generation {generation}"
        ))
    })
}

/// kstatus's own conditions, abnormal-true: whichever comes first decides,
/// for every kind, before any kind's own rules.
fn standard_conditions(obj: &Value) -> Option<Readiness> {
    conditions(obj)
        .filter(|c| c.status == "True")
        .find_map(|c| match c.kind {
            "Reconciling" => Some(in_progress(explain("reconciling", &c))),
            "Stalled" => Some(failed(explain("stalled", &c))),
            _ => None,
        })
}

/// A `Ready` condition: True is Current; False or Unknown is InProgress
/// (kstatus cannot tell a doomed False from a passing one). Other values
/// are skipped.
fn ready_condition(obj: &Value) -> Option<Readiness> {
    conditions(obj)
        .filter(|c| c.kind == "Ready")
        .find_map(|c| match c.status {
            "True" => Some(Readiness::Current),
            "False" | "Unknown" => Some(in_progress(explain("not ready", &c))),
            _ => None,
        })
}

fn deployment(obj: &Value) -> Readiness {
    // Without a progress deadline (the controller's "unset" is MaxInt32) the
    // controller never sets Progressing, so kstatus does not wait for it.
    let max = i64::from(i32::MAX);
    let mut progressing = int(obj, &["spec", "progressDeadlineSeconds"], max) == max;
    let mut available = false;
    for c in conditions(obj) {
        match c.kind {
            // Whatever the condition's status: the controller stops trying.
            "Progressing" if c.reason == "ProgressDeadlineExceeded" => {
                return failed(with_words("progress deadline exceeded", c.message));
            }
            "Progressing" if c.status == "True" && c.reason == "NewReplicaSetAvailable" => {
                progressing = true;
            }
            "Available" if c.status == "True" => available = true,
            _ => {}
        }
    }
    // The controller's default for an unset spec.replicas is 1.
    let spec = int(obj, &["spec", "replicas"], 1);
    let replicas = int(obj, &["status", "replicas"], 0);
    let updated = int(obj, &["status", "updatedReplicas"], 0);
    let ready = int(obj, &["status", "readyReplicas"], 0);
    let avail = int(obj, &["status", "availableReplicas"], 0);
    if spec > replicas {
        return in_progress(format!("{replicas}/{spec} replicas created"));
    }
    if spec > updated {
        return in_progress(format!("{updated}/{spec} replicas updated"));
    }
    if replicas > spec {
        return in_progress(format!(
            "{replicas} replicas, {spec} wanted (old ones terminating)"
        ));
    }
    if updated > avail {
        return in_progress(format!("{avail}/{updated} replicas available"));
    }
    if spec > ready {
        return in_progress(format!("{ready}/{spec} replicas ready"));
    }
    if !progressing {
        return in_progress("new replica set not available yet");
    }
    if !available {
        return in_progress("not available yet");
    }
    Readiness::Current
}

/// StatefulSets set no conditions, so only the counts and revisions tell.
fn stateful_set(obj: &Value) -> Readiness {
    // With OnDelete the user replaces pods; the controller never converges.
    if text(obj, &["spec", "updateStrategy", "type"]) == "OnDelete" {
        return Readiness::Current;
    }
    let spec = int(obj, &["spec", "replicas"], 1);
    let replicas = int(obj, &["status", "replicas"], 0);
    let ready = int(obj, &["status", "readyReplicas"], 0);
    let current = int(obj, &["status", "currentReplicas"], 0);
    let updated = int(obj, &["status", "updatedReplicas"], 0);
    let partition = int(
        obj,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
        -1,
    );
    if spec > replicas {
        return in_progress(format!("{replicas}/{spec} replicas created"));
    }
    if spec > ready {
        return in_progress(format!("{ready}/{spec} replicas ready"));
    }
    if replicas > spec {
        return in_progress(format!(
            "{replicas} replicas, {spec} wanted (extra ones terminating)"
        ));
    }
    // A partitioned rollout only updates the ordinals at or above the
    // partition, so the revisions never all match; kstatus counts updates.
    // (The API server defaults the partition to 0 for RollingUpdate.)
    if partition != -1 {
        let want = spec.saturating_sub(partition);
        if updated < want {
            return in_progress(format!(
                "{updated}/{want} replicas updated (partition {partition})"
            ));
        }
        return Readiness::Current;
    }
    if spec > current {
        return in_progress(format!("{current}/{spec} replicas on the current revision"));
    }
    let current_rev = text(obj, &["status", "currentRevision"]);
    let update_rev = text(obj, &["status", "updateRevision"]);
    if current_rev != update_rev {
        return in_progress(format!("rolling out revision {update_rev}"));
    }
    Readiness::Current
}

fn daemon_set(obj: &Value) -> Readiness {
    // The generic check skips objects without these fields; a DaemonSet its
    // controller has seen always has both, so kstatus waits for them.
    if at(obj, &["metadata", "generation"])
        .and_then(Value::as_i64)
        .is_none()
    {
        return in_progress("no generation yet");
    }
    if at(obj, &["status", "observedGeneration"])
        .and_then(Value::as_i64)
        .is_none()
    {
        return in_progress("waiting for its controller to observe it");
    }
    let desired = int(obj, &["status", "desiredNumberScheduled"], -1);
    if desired == -1 {
        return in_progress("desired number of pods not reported yet");
    }
    let counts = [
        ("currentNumberScheduled", "scheduled"),
        ("updatedNumberScheduled", "updated"),
        ("numberAvailable", "available"),
        ("numberReady", "ready"),
    ];
    for (field, what) in counts {
        let n = int(obj, &["status", field], 0);
        if desired > n {
            return in_progress(format!("{n}/{desired} pods {what}"));
        }
    }
    Readiness::Current
}

fn replica_set(obj: &Value) -> Readiness {
    // kstatus calls this InProgress: quota or admission may yet let pods in.
    if let Some(c) = conditions(obj).find(|c| c.kind == "ReplicaFailure" && c.status == "True") {
        return in_progress(explain("replica failure", &c));
    }
    let spec = int(obj, &["spec", "replicas"], 1);
    let replicas = int(obj, &["status", "replicas"], 0);
    let counts = [
        ("fullyLabeledReplicas", "labelled"),
        ("availableReplicas", "available"),
        ("readyReplicas", "ready"),
    ];
    for (field, what) in counts {
        let n = int(obj, &["status", field], 0);
        if spec > n {
            return in_progress(format!("{n}/{spec} replicas {what}"));
        }
    }
    if replicas > spec {
        return in_progress(format!(
            "{replicas} replicas, {spec} wanted (extra ones terminating)"
        ));
    }
    Readiness::Current
}

/// kstatus: InProgress until the Job starts, then Current while it runs and
/// once it completes; Failed once it failed. A started Job with pods still
/// active is therefore Current: kstatus does not wait for completion, and
/// we follow it exactly (waiting for a Job to finish is a hook's business).
fn job(obj: &Value) -> Readiness {
    let suspend = at(obj, &["spec", "suspend"])
        .and_then(Value::as_bool)
        .unwrap_or(false);
    for c in conditions(obj) {
        if c.status != "True" {
            continue;
        }
        match c.kind {
            "Complete" => return Readiness::Current,
            "Failed" => {
                return failed(if c.reason.is_empty() {
                    with_words("job failed", c.message)
                } else {
                    with_reason("job failed", c.reason)
                });
            }
            // Suspended on purpose: nothing to wait for.
            "Suspended" if suspend => return Readiness::Current,
            _ => {}
        }
    }
    if text(obj, &["status", "startTime"]).is_empty() {
        return in_progress("not started yet");
    }
    Readiness::Current
}

fn pvc(obj: &Value) -> Readiness {
    match text(obj, &["status", "phase"]) {
        "Bound" => Readiness::Current,
        "" => in_progress("not bound yet (phase unknown)"),
        phase => in_progress(format!("not bound yet (phase {phase})")),
    }
}

/// Differs from kstatus on purpose: a Failed pod is Failed (kstatus says
/// Current, "completed"); a crash-looping or unschedulable pod is InProgress
/// with the reason (kstatus says Failed, the latter after 15 s by the clock):
/// both can heal without a change, e.g. once a dependency or a node is up.
fn pod(obj: &Value) -> Readiness {
    match text(obj, &["status", "phase"]) {
        "Succeeded" => Readiness::Current,
        "Failed" => {
            let reason = text(obj, &["status", "reason"]);
            let why = if reason.is_empty() {
                container_problem(obj).unwrap_or_default()
            } else {
                reason.to_owned()
            };
            failed(with_reason("failed", &why))
        }
        "Running" => {
            if conditions(obj).any(|c| c.kind == "Ready" && c.status == "True") {
                return Readiness::Current;
            }
            if let Some(problem) = container_problem(obj) {
                return in_progress(problem);
            }
            let unready = statuses(obj, "containerStatuses")
                .find(|s| s.get("ready").and_then(Value::as_bool) != Some(true));
            match unready {
                Some(s) => in_progress(format!("container {} not ready", text(s, &["name"]))),
                None => in_progress("running but not ready"),
            }
        }
        "Pending" => {
            let unschedulable = conditions(obj).find(|c| {
                c.kind == "PodScheduled" && c.status == "False" && c.reason == "Unschedulable"
            });
            if let Some(c) = unschedulable {
                return in_progress(with_words("unschedulable", c.message));
            }
            match container_problem(obj) {
                Some(problem) => in_progress(problem),
                None => in_progress("pending"),
            }
        }
        "" => in_progress("no phase reported yet"),
        phase => in_progress(format!("phase {phase}")),
    }
}

/// The first container, init containers first, that waits (e.g.
/// "container app: CrashLoopBackOff") or exited with an error.
fn container_problem(obj: &Value) -> Option<String> {
    let all = statuses(obj, "initContainerStatuses")
        .map(|s| ("init container", s))
        .chain(statuses(obj, "containerStatuses").map(|s| ("container", s)));
    for (what, s) in all {
        let name = text(s, &["name"]);
        let waiting = text(s, &["state", "waiting", "reason"]);
        if !waiting.is_empty() {
            return Some(format!("{what} {name}: {waiting}"));
        }
        let code = int(s, &["state", "terminated", "exitCode"], 0);
        if code != 0 {
            let reason = text(s, &["state", "terminated", "reason"]);
            let reason = if reason.is_empty() { "exited" } else { reason };
            return Some(format!("{what} {name}: {reason}, exit code {code}"));
        }
    }
    None
}

fn statuses<'a>(obj: &'a Value, list: &str) -> impl Iterator<Item = &'a Value> {
    at(obj, &["status", list])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// Differs from kstatus on purpose: kstatus only waits for a cluster IP,
/// which the API server assigns at once; a LoadBalancer is usable once it
/// has an address.
fn service(obj: &Value) -> Readiness {
    if text(obj, &["spec", "type"]) != "LoadBalancer" {
        return Readiness::Current;
    }
    let has_address = at(obj, &["status", "loadBalancer", "ingress"])
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if has_address {
        Readiness::Current
    } else {
        in_progress("waiting for a load balancer address")
    }
}

fn crd(obj: &Value) -> Readiness {
    for c in conditions(obj) {
        if c.kind == "NamesAccepted" && c.status == "False" {
            return failed(explain("names not accepted", &c));
        }
        if c.kind == "Established" {
            if c.status == "False" && c.reason != "Installing" {
                return failed(explain("not established", &c));
            }
            if c.status == "True" {
                return Readiness::Current;
            }
        }
    }
    in_progress("not established yet")
}

/// One entry of `status.conditions`; a missing or mistyped field reads "".
struct Condition<'a> {
    kind: &'a str,
    status: &'a str,
    reason: &'a str,
    message: &'a str,
}

fn conditions(obj: &Value) -> impl Iterator<Item = Condition<'_>> {
    statuses(obj, "conditions").map(|c| Condition {
        kind: text(c, &["type"]),
        status: text(c, &["status"]),
        reason: text(c, &["reason"]),
        message: text(c, &["message"]),
    })
}

/// The value at `path`, through objects only.
fn at<'a>(obj: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, key| v.as_object()?.get(*key))
}

/// An integer field, or `default` when missing or not an integer (as
/// kstatus's `GetIntField`).
fn int(obj: &Value, path: &[&str], default: i64) -> i64 {
    at(obj, path).and_then(Value::as_i64).unwrap_or(default)
}

/// A string field, or "" when missing or not a string.
fn text<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    at(obj, path).and_then(Value::as_str).unwrap_or("")
}

fn in_progress(message: impl Into<String>) -> Readiness {
    Readiness::InProgress(clip(message.into()))
}

fn failed(message: impl Into<String>) -> Readiness {
    Readiness::Failed(clip(message.into()))
}

/// "prefix: why", why being the condition's message, else its reason.
fn explain(prefix: &str, c: &Condition<'_>) -> String {
    if c.message.trim().is_empty() {
        with_reason(prefix, c.reason)
    } else {
        with_words(prefix, c.message)
    }
}

/// "prefix: Reason", the reason as written: it is an identifier (CamelCase).
fn with_reason(prefix: &str, reason: &str) -> String {
    with_words_as(prefix, reason, false)
}

/// "prefix: words" with a controller's words made to fit ours; see [`with_words_as`].
fn with_words(prefix: &str, words: &str) -> String {
    with_words_as(prefix, words, true)
}

/// "prefix: words" made to fit our messages: one line, no trailing period,
/// and with `lower` a plain capitalised first word in lower case (not a name
/// such as "ReplicaSet" or "DNS"). Just the prefix when there are no words.
fn with_words_as(prefix: &str, words: &str, lower: bool) -> String {
    let line = words.split_whitespace().collect::<Vec<_>>().join(" ");
    let line = line.trim_end_matches('.');
    if line.is_empty() {
        return prefix.to_owned();
    }
    if !lower {
        return format!("{prefix}: {line}");
    }
    let first = line.split(' ').next().unwrap_or_default();
    let mut chars = first.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_uppercase() && !chars.any(char::is_uppercase));
    if plain {
        let mut lowered = line.chars();
        let head: String = lowered
            .next()
            .into_iter()
            .flat_map(char::to_lowercase)
            .collect();
        format!("{prefix}: {head}{}", lowered.as_str())
    } else {
        format!("{prefix}: {line}")
    }
}

/// At most [`MAX_MESSAGE`] characters, cut with an ellipsis.
fn clip(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE {
        return message;
    }
    let mut cut: String = message.chars().take(MAX_MESSAGE - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn progress(s: &str) -> Readiness {
        Readiness::InProgress(s.to_owned())
    }

    fn fail(s: &str) -> Readiness {
        Readiness::Failed(s.to_owned())
    }

    fn deploy(status: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "team-a", "generation": 2},
            "spec": {"replicas": 3, "progressDeadlineSeconds": 600},
            "status": status,
        })
    }

    fn available_deploy() -> Value {
        deploy(json!({
            "observedGeneration": 2,
            "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": "ReplicaSet \"web-5d9c8b7f6\" has successfully progressed."},
            ],
        }))
    }

    fn cr(status: Value) -> Value {
        json!({
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": "team-a", "generation": 1},
            "spec": {},
            "status": status,
        })
    }

    // --- generic rules

    #[test]
    fn an_object_being_deleted_is_in_progress() {
        let mut d = available_deploy();
        d["metadata"]["deletionTimestamp"] = json!("2024-05-01T10:00:00Z");
        assert_eq!(
            readiness("apps", "Deployment", &d),
            progress("being deleted")
        );
        let cm = json!({"metadata": {"name": "c", "deletionTimestamp": "2024-05-01T10:00:00Z"}});
        assert_eq!(readiness("", "ConfigMap", &cm), progress("being deleted"));
    }

    #[test]
    fn an_unobserved_generation_is_in_progress() {
        let mut d = available_deploy();
        d["metadata"]["generation"] = json!(3);
        assert_eq!(
            readiness("apps", "Deployment", &d),
            progress("waiting for its controller to observe generation 3")
        );
        let w = cr(json!({"observedGeneration": 1,
            "conditions": [{"type": "Ready", "status": "True"}]}));
        let mut lagging = w.clone();
        lagging["metadata"]["generation"] = json!(2);
        assert_eq!(readiness("example.com", "Widget", &w), Readiness::Current);
        assert_eq!(
            readiness("example.com", "Widget", &lagging),
            progress("waiting for its controller to observe generation 2")
        );
    }

    #[test]
    fn stalled_is_failed_with_its_message() {
        let w = cr(json!({"conditions": [
            {"type": "Ready", "status": "False", "reason": "InstallFailed"},
            {"type": "Stalled", "status": "True", "reason": "RetriesExceeded",
             "message": "Install retries exhausted."},
        ]}));
        assert_eq!(
            readiness("example.com", "Widget", &w),
            fail("stalled: install retries exhausted")
        );
    }

    #[test]
    fn reconciling_is_in_progress_for_any_kind() {
        let w = cr(json!({"conditions": [
            {"type": "Reconciling", "status": "True", "reason": "Progressing",
             "message": "Running 'install' action"},
            {"type": "Ready", "status": "True"},
        ]}));
        assert_eq!(
            readiness("example.com", "Widget", &w),
            progress("reconciling: running 'install' action")
        );
        // kstatus reads the standard conditions before a kind's own rules.
        let mut d = available_deploy();
        d["status"]["conditions"] =
            json!([{"type": "Reconciling", "status": "True", "reason": "Scaling"}]);
        assert_eq!(
            readiness("apps", "Deployment", &d),
            progress("reconciling: Scaling")
        );
    }

    #[test]
    fn ready_condition_decides_for_unknown_kinds() {
        let not_ready = cr(json!({"conditions": [
            {"type": "Ready", "status": "False", "reason": "DependencyNotReady",
             "message": "Waiting for secret team-a/db"},
        ]}));
        assert_eq!(
            readiness("example.com", "Widget", &not_ready),
            progress("not ready: waiting for secret team-a/db")
        );
        let unknown = cr(json!({"conditions": [
            {"type": "Ready", "status": "Unknown", "reason": "Reconciling"},
        ]}));
        assert_eq!(
            readiness("example.com", "Widget", &unknown),
            progress("not ready: Reconciling")
        );
        let ready = cr(json!({"conditions": [{"type": "Ready", "status": "True"}]}));
        assert_eq!(
            readiness("example.com", "Widget", &ready),
            Readiness::Current
        );
    }

    #[test]
    fn an_unknown_kind_without_status_is_current() {
        let w = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "generation": 4}, "spec": {}});
        assert_eq!(readiness("example.com", "Widget", &w), Readiness::Current);
        let other = cr(json!({"conditions": [{"type": "Synced", "status": "False"}]}));
        assert_eq!(
            readiness("example.com", "Widget", &other),
            Readiness::Current
        );
    }

    #[test]
    fn long_condition_messages_are_clipped() {
        let long = format!("Waiting for {}.", "x".repeat(300));
        let w = cr(json!({"conditions": [{"type": "Ready", "status": "False", "message": long}]}));
        let Readiness::InProgress(m) = readiness("example.com", "Widget", &w) else {
            panic!("not in progress");
        };
        assert_eq!(m.chars().count(), MAX_MESSAGE);
        assert!(m.starts_with("not ready: waiting for xxx"), "{m}");
        assert!(m.ends_with('…'), "{m}");
    }

    #[test]
    fn condition_words_fit_ours() {
        assert_eq!(with_words("p", "  Two\nlines.  "), "p: two lines");
        assert_eq!(
            with_words("p", "ReplicaSet \"a\" failed."),
            "p: ReplicaSet \"a\" failed"
        );
        assert_eq!(with_words("p", "DNS lookup failed"), "p: DNS lookup failed");
        assert_eq!(with_words("p", " . "), "p");
    }

    // --- Deployment

    #[test]
    fn deployment_fully_available_is_current() {
        assert_eq!(
            readiness("apps", "Deployment", &available_deploy()),
            Readiness::Current
        );
    }

    #[test]
    fn deployment_partly_available_is_in_progress() {
        let d = deploy(json!({
            "observedGeneration": 2,
            "replicas": 3, "updatedReplicas": 3, "readyReplicas": 1, "availableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
            ],
        }));
        assert_eq!(
            readiness("apps", "Deployment", &d),
            progress("1/3 replicas available")
        );
    }

    #[test]
    fn deployment_rollout_counts() {
        let created = deploy(json!({"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1}));
        assert_eq!(
            readiness("apps", "Deployment", &created),
            progress("1/3 replicas created")
        );
        let updating = deploy(json!({"observedGeneration": 2,
            "replicas": 3, "updatedReplicas": 2, "readyReplicas": 3, "availableReplicas": 3}));
        assert_eq!(
            readiness("apps", "Deployment", &updating),
            progress("2/3 replicas updated")
        );
        let surplus = deploy(json!({"observedGeneration": 2,
            "replicas": 4, "updatedReplicas": 3, "readyReplicas": 4, "availableReplicas": 4}));
        assert_eq!(
            readiness("apps", "Deployment", &surplus),
            progress("4 replicas, 3 wanted (old ones terminating)")
        );
        let mut unready = available_deploy();
        unready["status"]["readyReplicas"] = json!(2);
        assert_eq!(
            readiness("apps", "Deployment", &unready),
            progress("2/3 replicas ready")
        );
    }

    #[test]
    fn deployment_waits_for_its_conditions() {
        let mut d = available_deploy();
        d["status"]["conditions"] = json!([
            {"type": "Available", "status": "True"},
            {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"},
        ]);
        assert_eq!(
            readiness("apps", "Deployment", &d),
            progress("new replica set not available yet")
        );
        d["status"]["conditions"] = json!([
            {"type": "Available", "status": "False"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ]);
        assert_eq!(
            readiness("apps", "Deployment", &d),
            progress("not available yet")
        );
        // No deadline: the controller never sets Progressing, kstatus does not wait for it.
        d["spec"] = json!({"replicas": 3});
        d["status"]["conditions"] = json!([{"type": "Available", "status": "True"}]);
        assert_eq!(readiness("apps", "Deployment", &d), Readiness::Current);
    }

    #[test]
    fn deployment_past_its_progress_deadline_is_failed() {
        let d = deploy(json!({
            "observedGeneration": 2,
            "replicas": 3, "updatedReplicas": 1, "readyReplicas": 2, "availableReplicas": 2,
            "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                 "message": "ReplicaSet \"web-7f9c\" has timed out progressing."},
            ],
        }));
        assert_eq!(
            readiness("apps", "Deployment", &d),
            fail("progress deadline exceeded: ReplicaSet \"web-7f9c\" has timed out progressing")
        );
    }

    #[test]
    fn deployment_default_replicas_is_one() {
        let d = json!({"metadata": {"generation": 1}, "spec": {},
            "status": {"observedGeneration": 1}});
        assert_eq!(
            readiness("apps", "Deployment", &d),
            progress("0/1 replicas created")
        );
    }

    // --- StatefulSet

    fn sts(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "generation": 1}, "spec": spec, "status": status})
    }

    #[test]
    fn statefulset_counts_and_revisions() {
        let spec = json!({"replicas": 3, "updateStrategy": {"type": "RollingUpdate"}});
        let unready = sts(
            spec.clone(),
            json!({"observedGeneration": 1,
            "replicas": 3, "readyReplicas": 2, "currentReplicas": 3, "updatedReplicas": 3}),
        );
        assert_eq!(
            readiness("apps", "StatefulSet", &unready),
            progress("2/3 replicas ready")
        );
        let rolling = sts(
            spec.clone(),
            json!({"observedGeneration": 1,
            "replicas": 3, "readyReplicas": 3, "currentReplicas": 2, "updatedReplicas": 1,
            "currentRevision": "db-1", "updateRevision": "db-2"}),
        );
        assert_eq!(
            readiness("apps", "StatefulSet", &rolling),
            progress("2/3 replicas on the current revision")
        );
        let revision = sts(
            spec.clone(),
            json!({"observedGeneration": 1,
            "replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 3,
            "currentRevision": "db-1", "updateRevision": "db-2"}),
        );
        assert_eq!(
            readiness("apps", "StatefulSet", &revision),
            progress("rolling out revision db-2")
        );
        let done = sts(
            spec,
            json!({"observedGeneration": 1,
            "replicas": 3, "readyReplicas": 3, "currentReplicas": 3, "updatedReplicas": 3,
            "currentRevision": "db-2", "updateRevision": "db-2"}),
        );
        assert_eq!(readiness("apps", "StatefulSet", &done), Readiness::Current);
    }

    #[test]
    fn statefulset_partition_counts_updates_above_it() {
        let spec = json!({"replicas": 3, "updateStrategy":
            {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}});
        let rolling = sts(
            spec.clone(),
            json!({"observedGeneration": 1,
            "replicas": 3, "readyReplicas": 3, "currentReplicas": 2, "updatedReplicas": 1,
            "currentRevision": "db-1", "updateRevision": "db-2"}),
        );
        assert_eq!(
            readiness("apps", "StatefulSet", &rolling),
            progress("1/2 replicas updated (partition 1)")
        );
        let done = sts(
            spec,
            json!({"observedGeneration": 1,
            "replicas": 3, "readyReplicas": 3, "currentReplicas": 1, "updatedReplicas": 2,
            "currentRevision": "db-1", "updateRevision": "db-2"}),
        );
        assert_eq!(readiness("apps", "StatefulSet", &done), Readiness::Current);
    }

    #[test]
    fn statefulset_on_delete_is_current() {
        let s = sts(
            json!({"replicas": 3, "updateStrategy": {"type": "OnDelete"}}),
            json!({"observedGeneration": 1, "replicas": 3, "readyReplicas": 1}),
        );
        assert_eq!(readiness("apps", "StatefulSet", &s), Readiness::Current);
    }

    // --- DaemonSet

    fn ds(status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "generation": 5}, "spec": {}, "status": status})
    }

    #[test]
    fn daemonset_counts() {
        let full = json!({"observedGeneration": 5, "desiredNumberScheduled": 4,
            "currentNumberScheduled": 4, "updatedNumberScheduled": 4,
            "numberAvailable": 4, "numberReady": 4});
        assert_eq!(
            readiness("apps", "DaemonSet", &ds(full.clone())),
            Readiness::Current
        );
        let mut partly = full.clone();
        partly["numberAvailable"] = json!(3);
        assert_eq!(
            readiness("apps", "DaemonSet", &ds(partly)),
            progress("3/4 pods available")
        );
        let mut updating = full;
        updating["updatedNumberScheduled"] = json!(1);
        assert_eq!(
            readiness("apps", "DaemonSet", &ds(updating)),
            progress("1/4 pods updated")
        );
    }

    #[test]
    fn daemonset_waits_for_its_controller() {
        assert_eq!(
            readiness("apps", "DaemonSet", &ds(json!({}))),
            progress("waiting for its controller to observe it")
        );
        assert_eq!(
            readiness("apps", "DaemonSet", &ds(json!({"observedGeneration": 5}))),
            progress("desired number of pods not reported yet")
        );
    }

    // --- ReplicaSet

    fn rs(status: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web-5d9c", "generation": 1}, "spec": {"replicas": 2},
            "status": status})
    }

    #[test]
    fn replicaset_counts() {
        let full = json!({"observedGeneration": 1, "replicas": 2, "fullyLabeledReplicas": 2,
            "readyReplicas": 2, "availableReplicas": 2});
        assert_eq!(
            readiness("apps", "ReplicaSet", &rs(full.clone())),
            Readiness::Current
        );
        let mut partly = full;
        partly["availableReplicas"] = json!(1);
        assert_eq!(
            readiness("apps", "ReplicaSet", &rs(partly)),
            progress("1/2 replicas available")
        );
    }

    #[test]
    fn replicaset_replica_failure_is_in_progress() {
        let r = rs(
            json!({"observedGeneration": 1, "replicas": 0, "conditions": [
                {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                 "message": "pods \"web-5d9c-x\" is forbidden: exceeded quota: compute"},
            ]}),
        );
        assert_eq!(
            readiness("apps", "ReplicaSet", &r),
            progress("replica failure: pods \"web-5d9c-x\" is forbidden: exceeded quota: compute")
        );
    }

    // --- Job

    fn job_with(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "migrate", "generation": 1}, "spec": spec, "status": status})
    }

    #[test]
    fn job_failed_is_failed() {
        let j = job_with(
            json!({"backoffLimit": 6}),
            json!({
                "startTime": "2024-05-01T10:00:00Z", "failed": 7,
                "conditions": [
                    {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
                    {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                     "message": "Job has reached the specified backoff limit"},
                ],
            }),
        );
        assert_eq!(
            readiness("batch", "Job", &j),
            fail("job failed: BackoffLimitExceeded")
        );
    }

    #[test]
    fn job_complete_is_current() {
        let j = job_with(
            json!({"completions": 1}),
            json!({
                "startTime": "2024-05-01T10:00:00Z", "completionTime": "2024-05-01T10:01:00Z",
                "succeeded": 1,
                "conditions": [{"type": "Complete", "status": "True"}],
            }),
        );
        assert_eq!(readiness("batch", "Job", &j), Readiness::Current);
    }

    #[test]
    fn job_running_is_current_once_started_as_kstatus_says() {
        let running = job_with(
            json!({}),
            json!({"startTime": "2024-05-01T10:00:00Z", "active": 1}),
        );
        assert_eq!(readiness("batch", "Job", &running), Readiness::Current);
        let not_started = job_with(json!({}), json!({}));
        assert_eq!(
            readiness("batch", "Job", &not_started),
            progress("not started yet")
        );
    }

    #[test]
    fn job_suspended_is_current() {
        let j = job_with(
            json!({"suspend": true}),
            json!({
                "conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended"}],
            }),
        );
        assert_eq!(readiness("batch", "Job", &j), Readiness::Current);
        // Suspended but since resumed: waits for the start again.
        let resumed = job_with(
            json!({"suspend": false}),
            json!({
                "conditions": [{"type": "Suspended", "status": "True", "reason": "JobSuspended"}],
            }),
        );
        assert_eq!(
            readiness("batch", "Job", &resumed),
            progress("not started yet")
        );
    }

    // --- PersistentVolumeClaim

    #[test]
    fn pvc_pending_is_in_progress_and_bound_is_current() {
        let pending = json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
            "spec": {"resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Pending"}});
        assert_eq!(
            readiness("", "PersistentVolumeClaim", &pending),
            progress("not bound yet (phase Pending)")
        );
        let bound = json!({"metadata": {"name": "data"}, "status": {"phase": "Bound"}});
        assert_eq!(
            readiness("", "PersistentVolumeClaim", &bound),
            Readiness::Current
        );
        let new = json!({"metadata": {"name": "data"}});
        assert_eq!(
            readiness("", "PersistentVolumeClaim", &new),
            progress("not bound yet (phase unknown)")
        );
    }

    // --- Pod

    fn pod_with(status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1"},
            "spec": {"containers": [{"name": "app", "image": "web:1"}]}, "status": status})
    }

    #[test]
    fn pod_running_and_ready_is_current() {
        let p = pod_with(json!({"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]}));
        assert_eq!(readiness("", "Pod", &p), Readiness::Current);
    }

    #[test]
    fn pod_succeeded_is_current_and_failed_is_failed() {
        let done = pod_with(json!({"phase": "Succeeded"}));
        assert_eq!(readiness("", "Pod", &done), Readiness::Current);
        let evicted = pod_with(json!({"phase": "Failed", "reason": "Evicted",
            "message": "The node was low on resource: memory."}));
        assert_eq!(readiness("", "Pod", &evicted), fail("failed: Evicted"));
        let crashed = pod_with(json!({"phase": "Failed", "containerStatuses": [
            {"name": "app", "ready": false,
             "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}]}));
        assert_eq!(
            readiness("", "Pod", &crashed),
            fail("failed: container app: Error, exit code 2")
        );
    }

    #[test]
    fn pod_crash_looping_is_in_progress_with_the_reason() {
        let p = pod_with(json!({"phase": "Running",
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
        "containerStatuses": [
            {"name": "sidecar", "ready": true, "state": {"running": {}}},
            {"name": "app", "ready": false, "restartCount": 5,
             "state": {"waiting": {"reason": "CrashLoopBackOff",
                 "message": "back-off 2m40s restarting failed container=app"}}},
        ]}));
        assert_eq!(
            readiness("", "Pod", &p),
            progress("container app: CrashLoopBackOff")
        );
    }

    #[test]
    fn pod_running_not_ready_names_the_container() {
        let p = pod_with(json!({"phase": "Running",
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [{"name": "app", "ready": false, "state": {"running": {}}}]}));
        assert_eq!(
            readiness("", "Pod", &p),
            progress("container app not ready")
        );
        let bare = pod_with(json!({"phase": "Running"}));
        assert_eq!(
            readiness("", "Pod", &bare),
            progress("running but not ready")
        );
    }

    #[test]
    fn pod_pending_says_why() {
        let unschedulable = pod_with(json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient cpu."}]}));
        assert_eq!(
            readiness("", "Pod", &unschedulable),
            progress("unschedulable: 0/3 nodes are available: 3 Insufficient cpu")
        );
        let pulling = pod_with(json!({"phase": "Pending", "containerStatuses": [
            {"name": "app", "ready": false, "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}));
        assert_eq!(
            readiness("", "Pod", &pulling),
            progress("container app: ImagePullBackOff")
        );
        let init = pod_with(json!({"phase": "Pending",
            "initContainerStatuses": [{"name": "migrate", "state":
                {"waiting": {"reason": "CrashLoopBackOff"}}}],
            "containerStatuses": [{"name": "app", "state":
                {"waiting": {"reason": "PodInitializing"}}}]}));
        assert_eq!(
            readiness("", "Pod", &init),
            progress("init container migrate: CrashLoopBackOff")
        );
        assert_eq!(
            readiness("", "Pod", &pod_with(json!({"phase": "Pending"}))),
            progress("pending")
        );
        assert_eq!(
            readiness("", "Pod", &pod_with(json!({}))),
            progress("no phase reported yet")
        );
        assert_eq!(
            readiness("", "Pod", &pod_with(json!({"phase": "Unknown"}))),
            progress("phase Unknown")
        );
    }

    // --- Service

    #[test]
    fn load_balancer_waits_for_an_address() {
        let lb = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.12",
                "ports": [{"port": 80}]},
            "status": {"loadBalancer": {}}});
        assert_eq!(
            readiness("", "Service", &lb),
            progress("waiting for a load balancer address")
        );
        let mut served = lb;
        served["status"]["loadBalancer"]["ingress"] = json!([{"ip": "203.0.113.7"}]);
        assert_eq!(readiness("", "Service", &served), Readiness::Current);
    }

    #[test]
    fn cluster_ip_service_is_current() {
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.12", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {}}});
        assert_eq!(readiness("", "Service", &svc), Readiness::Current);
        let headless = json!({"metadata": {"name": "db"}, "spec": {"clusterIP": "None"}});
        assert_eq!(readiness("", "Service", &headless), Readiness::Current);
    }

    // --- PodDisruptionBudget

    #[test]
    fn pdb_is_current_once_observed() {
        let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "web", "generation": 2},
            "spec": {"minAvailable": 2},
            "status": {"observedGeneration": 2, "currentHealthy": 1, "desiredHealthy": 2,
                "disruptionsAllowed": 0, "expectedPods": 3,
                "conditions": [{"type": "DisruptionAllowed", "status": "False",
                    "reason": "InsufficientPods"}]}});
        assert_eq!(
            readiness("policy", "PodDisruptionBudget", &pdb),
            Readiness::Current
        );
        let mut lagging = pdb;
        lagging["status"]["observedGeneration"] = json!(1);
        assert_eq!(
            readiness("policy", "PodDisruptionBudget", &lagging),
            progress("waiting for its controller to observe generation 2")
        );
    }

    // --- CustomResourceDefinition

    fn crd_with(conditions: Value) -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com", "generation": 1},
            "status": {"conditions": conditions}})
    }

    #[test]
    fn crd_established_is_current() {
        let c = crd_with(json!([
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
        ]));
        assert_eq!(
            readiness("apiextensions.k8s.io", "CustomResourceDefinition", &c),
            Readiness::Current
        );
    }

    #[test]
    fn crd_names_not_accepted_is_failed() {
        let c = crd_with(json!([
            {"type": "NamesAccepted", "status": "False", "reason": "MultipleNamesConflict",
             "message": "\"widget\" is already in use"},
            {"type": "Established", "status": "False", "reason": "NotAccepted"},
        ]));
        assert_eq!(
            readiness("apiextensions.k8s.io", "CustomResourceDefinition", &c),
            fail("names not accepted: \"widget\" is already in use")
        );
    }

    #[test]
    fn crd_installing_is_in_progress() {
        let c = crd_with(json!([
            {"type": "Established", "status": "False", "reason": "Installing"},
        ]));
        assert_eq!(
            readiness("apiextensions.k8s.io", "CustomResourceDefinition", &c),
            progress("not established yet")
        );
    }

    // --- kinds that are always ready

    #[test]
    fn config_kinds_are_current() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"k": "v"}});
        assert_eq!(readiness("", "ConfigMap", &cm), Readiness::Current);
        // kstatus's table: a Ready=False on a Secret does not count.
        let odd = json!({"metadata": {"name": "s"},
            "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert_eq!(readiness("", "Secret", &odd), Readiness::Current);
        assert_eq!(readiness("batch", "CronJob", &odd), Readiness::Current);
    }

    // --- bad input

    #[test]
    fn garbage_never_panics_nor_fails() {
        let kinds = [
            ("", "Service"),
            ("", "Pod"),
            ("", "PersistentVolumeClaim"),
            ("", "ConfigMap"),
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"),
            ("policy", "PodDisruptionBudget"),
            ("batch", "Job"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            ("example.com", "Widget"),
        ];
        let inputs = [
            json!(null),
            json!("a string"),
            json!(42),
            json!([1, 2]),
            json!({}),
            json!({"metadata": "x", "spec": [], "status": []}),
            json!({"metadata": {"generation": "2", "deletionTimestamp": 7},
                "status": {"observedGeneration": 1.5, "conditions": {"type": "Ready"}}}),
            json!({"metadata": {"generation": i64::MAX},
                "spec": {"replicas": i64::MIN, "updateStrategy": {"rollingUpdate": {"partition": i64::MIN}}},
                "status": {"observedGeneration": i64::MAX, "replicas": u64::MAX,
                    "conditions": [null, 3, "Ready", {"type": 1, "status": true},
                        {"type": "Ready", "status": ["True"]}],
                    "containerStatuses": [null, {"state": {"waiting": "x", "terminated": 1}}],
                    "loadBalancer": {"ingress": "1.2.3.4"}}}),
        ];
        for (group, kind) in kinds {
            for input in &inputs {
                let r = readiness(group, kind, input);
                assert!(!matches!(r, Readiness::Failed(_)), "{kind} {input}: {r:?}");
            }
        }
        assert_eq!(
            readiness("example.com", "Widget", &json!("a string")),
            Readiness::Current
        );
        assert_eq!(
            readiness("example.com", "Widget", &json!(null)),
            Readiness::Current
        );
        let array_status = json!({"metadata": {"generation": 1}, "status": ["Ready"]});
        assert_eq!(
            readiness("example.com", "Widget", &array_status),
            Readiness::Current
        );
        assert_eq!(
            readiness("apps", "Deployment", &array_status),
            progress("0/1 replicas created")
        );
    }

    // --- needs_body

    #[test]
    fn needs_body_only_where_status_matters() {
        assert!(!needs_body("", "ConfigMap"));
        assert!(!needs_body("", "Secret"));
        assert!(!needs_body(
            "rbac.authorization.k8s.io",
            "ClusterRoleBinding"
        ));
        assert!(!needs_body("networking.k8s.io", "Ingress"));
        assert!(!needs_body("batch", "CronJob"));
        assert!(!needs_body(
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration"
        ));
        assert!(needs_body("apps", "Deployment"));
        assert!(needs_body("", "Service"));
        assert!(needs_body("", "Pod"));
        assert!(needs_body("batch", "Job"));
        assert!(needs_body("example.com", "Widget"));
        // A kind is named within its group: a CR called ConfigMap may have a status.
        assert!(needs_body("example.com", "ConfigMap"));
    }

    /// What a metadata-only watch gives for the kinds that need no body is
    /// what the whole object would give.
    #[test]
    fn metadata_alone_suffices_where_no_body_is_needed() {
        let meta = json!({"metadata": {"name": "x", "namespace": "team-a", "generation": 3}});
        for (group, kind) in [
            ("", "ConfigMap"),
            ("", "ServiceAccount"),
            ("batch", "CronJob"),
            ("rbac.authorization.k8s.io", "Role"),
            ("networking.k8s.io", "NetworkPolicy"),
        ] {
            assert!(!needs_body(group, kind));
            assert_eq!(readiness(group, kind, &meta), Readiness::Current, "{kind}");
        }
    }
}
