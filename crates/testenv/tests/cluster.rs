//! A cluster serves what Lostrómos needs: kubectl, RBAC, and both helms.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::is_running;
use testenv::{Cluster, UNPRIVILEGED_USER};

/// A chart with one ConfigMap; the kubeVersion range fails on an apiserver
/// built without its version stamped in (it would report v0.0.0-master).
fn write_chart(dir: &Path) {
    std::fs::create_dir_all(dir.join("templates")).expect("mkdir chart");
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: tiny\nversion: 0.1.0\nkubeVersion: \">=1.23.0-0\"\n",
    )
    .expect("write Chart.yaml");
    std::fs::write(
        dir.join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  \
         kube: {{ .Capabilities.KubeVersion.Version | quote }}\n",
    )
    .expect("write template");
}

fn helm(cluster: &Cluster, helm: &Path, home: &Path, args: &[&str]) -> String {
    let out = Command::new(helm)
        .arg("--kubeconfig")
        .arg(cluster.kubeconfig())
        .args(args)
        // Keep helm's cache and config out of the user's home.
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("run helm");
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        helm.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

const OBJECTS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: runner}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: runner
      containers: [{name: web, image: nginx}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-configmaps}
rules:
- {apiGroups: [""], resources: [configmaps], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: tester-reads-configmaps}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-configmaps}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: lostromos-tester}
"#;

#[test]
fn a_cluster_serves_kubectl_rbac_and_both_helms() {
    let started = Instant::now();
    // Started on a thread that then exits, as cargo test's threads do: the
    // children's parent-death signal must not fire (tied to the spawner thread).
    let cluster = std::thread::spawn(Cluster::start)
        .join()
        .expect("starting thread")
        .expect("start cluster");
    eprintln!("Cluster::start took {:?}", started.elapsed());

    let ns = cluster
        .create_namespace("objects")
        .expect("create namespace");
    let applied = cluster
        .kubectl_stdin(["apply", "-n", &ns, "-f", "-"], OBJECTS)
        .expect("apply objects");
    assert_eq!(applied.lines().count(), 7, "{applied}");
    // A pod can be created although no `default` ServiceAccount exists.
    cluster
        .kubectl(["run", "-n", &ns, "pod", "--image=nginx", "--restart=Never"])
        .expect("create a pod");

    // RBAC: the unprivileged user reads ConfigMaps where bound, nothing else.
    assert_eq!(cluster.unprivileged_user(), UNPRIVILEGED_USER);
    let listed = cluster
        .kubectl_unprivileged(["get", "configmaps", "-n", &ns, "-o", "name"])
        .expect("tester lists configmaps");
    assert!(listed.contains("configmap/settings"), "{listed}");
    let denied = cluster
        .kubectl_unprivileged(["get", "secrets", "-n", &ns])
        .expect_err("tester must not read secrets");
    assert!(format!("{denied:#}").contains("Forbidden"), "{denied:#}");

    // Both helms install a chart with the kubeconfig, and see each other's releases.
    let work = tempfile::tempdir().expect("tempdir");
    let chart = work.path().join("tiny");
    write_chart(&chart);
    let chart = chart.to_str().expect("utf-8 path");
    let binaries = cluster.binaries();
    helm(
        &cluster,
        &binaries.helm4,
        work.path(),
        &["install", "r4", chart, "-n", &ns],
    );
    helm(
        &cluster,
        &binaries.helm3,
        work.path(),
        &["install", "r3", chart, "-n", &ns],
    );
    for helm_bin in [&binaries.helm4, &binaries.helm3] {
        let listed = helm(&cluster, helm_bin, work.path(), &["list", "-A", "-q"]);
        let mut releases: Vec<&str> = listed.lines().collect();
        releases.sort();
        assert_eq!(releases, ["r3", "r4"], "{}", helm_bin.display());
    }
    let kube = cluster
        .kubectl([
            "get",
            "configmap",
            "r4",
            "-n",
            &ns,
            "-o",
            "jsonpath={.data.kube}",
        ])
        .expect("read the release's configmap");
    assert!(kube.starts_with("v1."), "helm sees Kubernetes {kube}");

    cluster.check_alive().expect("etcd and apiserver still run");

    // Dropping stops both processes and removes the directory.
    let pids = [cluster.etcd_pid(), cluster.apiserver_pid()];
    let dir = cluster.dir().to_path_buf();
    drop(cluster);
    assert!(
        !pids.iter().any(|&pid| is_running(pid)),
        "processes are gone"
    );
    assert!(!dir.exists(), "{} is removed", dir.display());
}

#[test]
fn the_shared_cluster_is_started_once() {
    let first = testenv::shared();
    let second = testenv::shared();
    assert!(std::ptr::eq(first, second));
    let a = first.create_namespace("shared").expect("namespace");
    let b = second.create_namespace("shared").expect("namespace");
    assert_ne!(a, b);
    let names = first
        .kubectl(["get", "namespaces", "-o", "name"])
        .expect("list namespaces");
    assert!(names.contains(&format!("namespace/{a}")) && names.contains(&format!("namespace/{b}")));
    assert!(first.create_namespace("Not_A_Label").is_err());
}

#[test]
fn the_apiserver_stops_restarts_pauses_and_resumes_keeping_its_data() {
    let cluster = Cluster::start().expect("start cluster");
    let ns = cluster.create_namespace("outage").expect("namespace");
    cluster
        .kubectl([
            "-n",
            &ns,
            "create",
            "configmap",
            "kept",
            "--from-literal=k=v",
        ])
        .expect("create a configmap");
    let readyz = |timeout: &str| {
        cluster.kubectl([
            "get".to_owned(),
            "--raw=/readyz".to_owned(),
            format!("--request-timeout={timeout}"),
        ])
    };

    let first = cluster.apiserver_pid();
    cluster.stop_apiserver();
    assert!(!is_running(first), "kube-apiserver is gone");
    let down = readyz("2s").expect_err("nothing answers while it is stopped");
    assert!(format!("{down:#}").contains("refused"), "{down:#}");
    let restarting = Instant::now();
    cluster.start_apiserver().expect("start it again");
    eprintln!("restart took {:?}", restarting.elapsed());
    assert_ne!(cluster.apiserver_pid(), first);
    assert!(cluster.start_apiserver().is_err(), "it is already running");
    // Same port, certificates and tokens: the kubeconfig still works; etcd kept the data.
    let kept = cluster
        .kubectl([
            "-n",
            &ns,
            "get",
            "configmap",
            "kept",
            "-o",
            "jsonpath={.data.k}",
        ])
        .expect("read the configmap back");
    assert_eq!(kept, "v");

    cluster.pause_apiserver().expect("pause");
    let hung = readyz("2s").expect_err("a paused apiserver answers nothing");
    let hung = format!("{hung:#}");
    assert!(!hung.contains("refused"), "{hung}");
    assert!(hung.to_lowercase().contains("timeout"), "{hung}");
    cluster.resume_apiserver().expect("resume");
    readyz("20s").expect("it answers again once resumed");
    cluster.check_alive().expect("both still run");
}
