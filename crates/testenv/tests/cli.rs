//! The `lostromos-testenv` binary: `up`, `down`, and what an aborted `up` leaves.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{children_of, is_running, wait_until};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const BIN: &str = env!("CARGO_BIN_EXE_lostromos-testenv");
/// Covers a first run that still has to fetch or build binaries.
const READY_TIMEOUT: Duration = Duration::from_secs(600);
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `lostromos-testenv up`, SIGKILLed on drop so a failing test does
/// not leak it (its etcd and apiserver then die of their parent-death signal).
struct Up {
    child: Child,
    ready_line: String,
}

impl Up {
    fn start(dir: &Path) -> Up {
        let stderr = std::fs::File::create(dir.join("up.stderr")).expect("create up.stderr");
        let binaries = testenv::Binaries::locate().expect("binaries");
        let mut child = Command::new(BIN)
            .envs(binaries.env_vars())
            .arg("up")
            .arg("--kubeconfig")
            .arg(dir.join("kubeconfig"))
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn lostromos-testenv up");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut up = Up {
            child,
            ready_line: String::new(),
        };
        up.ready_line = ready.recv_timeout(READY_TIMEOUT).unwrap_or_else(|e| {
            let log = std::fs::read_to_string(dir.join("up.stderr")).unwrap_or_default();
            panic!("no ready line from `up` ({e}); its stderr:\n{log}")
        });
        up
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The etcd and kube-apiserver `up` runs, checked by name.
fn control_plane_of(up: &Up) -> Vec<u32> {
    let mut children = children_of(up.pid());
    children.sort_by(|a, b| a.1.cmp(&b.1));
    let names: Vec<&str> = children.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(names, ["etcd", "kube-apiserver"], "children of `up`");
    children.into_iter().map(|(pid, _)| pid).collect()
}

#[test]
fn sigkilled_up_leaves_no_process_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut up = Up::start(dir.path());
    let pids = control_plane_of(&up);

    kill(Pid::from_raw(up.pid() as i32), Signal::SIGKILL).expect("SIGKILL up");
    up.child.wait().expect("reap up");

    wait_until(EXIT_TIMEOUT, "etcd and kube-apiserver to die", || {
        !pids.iter().any(|&pid| is_running(pid))
    });
}

#[test]
fn down_stops_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut up = Up::start(dir.path());
    let kubeconfig = dir.path().join("kubeconfig");
    assert!(
        up.ready_line.starts_with(&format!(
            "ready: kubeconfig={} server=https://127.0.0.1:",
            kubeconfig.display()
        )),
        "ready line: {}",
        up.ready_line
    );
    let pids = control_plane_of(&up);
    let pid_file = dir.path().join("testenv.pid");
    let recorded = std::fs::read_to_string(&pid_file).expect("pid file");
    assert_eq!(recorded.trim(), up.pid().to_string());

    // Both kubeconfigs work, each as its own user.
    let kubectl = &testenv::Binaries::locate().expect("binaries").kubectl;
    let whoami = |config: &Path| {
        let out = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(config)
            .args([
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ])
            .output()
            .expect("run kubectl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    assert_eq!(whoami(&kubeconfig), testenv::ADMIN_USER);
    assert_eq!(
        whoami(&dir.path().join("kubeconfig.unprivileged")),
        testenv::UNPRIVILEGED_USER
    );

    let down = Command::new(BIN)
        .arg("down")
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("run down");
    assert!(
        down.status.success(),
        "down: {}",
        String::from_utf8_lossy(&down.stderr)
    );
    // `down` returns once `up` has exited, and `up` reaps its children first.
    let status = up.child.wait().expect("reap up");
    assert!(status.success(), "up exited with {status}");
    assert!(!pid_file.exists(), "up removed its pid file");
    assert!(
        !pids.iter().any(|&pid| is_running(pid)),
        "etcd and apiserver are gone"
    );

    let again = Command::new(BIN)
        .arg("down")
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("run down");
    assert!(!again.status.success());
    let message = String::from_utf8_lossy(&again.stderr);
    assert!(
        message.contains("no lostromos-testenv runs in"),
        "{message}"
    );
}

#[test]
fn binaries_prints_the_env_lines() {
    let out = Command::new(BIN)
        .arg("binaries")
        .output()
        .expect("run binaries");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    for name in [
        "LOSTROMOS_KUBE_APISERVER",
        "LOSTROMOS_ETCD",
        "LOSTROMOS_HELM4",
        "LOSTROMOS_HELM3",
        "LOSTROMOS_KUBECTL",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {stdout}"));
        assert!(Path::new(&line[name.len() + 1..]).is_file(), "{line}");
    }
}
