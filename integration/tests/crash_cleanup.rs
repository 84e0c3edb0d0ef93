//! What a SIGKILLed Lostrómos leaves behind: no helm process running on alone,
//! and, once a new Lostrómos has started in the same temp folder and stopped,
//! no work folder and no values.

use std::path::PathBuf;
use std::time::Duration;

use integration::{chart, files_containing, process_gone, wait_for, Lostromos, TestNs};
use serde_json::json;

/// The Lostrómos work folders in `tmp`.
fn work_folders(tmp: &std::path::Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("lostromos-"))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

fn wait_mid_install(t: &TestNs, l: &Lostromos, name: &str) {
    wait_for("helm to be mid-install", Duration::from_secs(60), || {
        let (_, status) = t.release(name)?;
        (status == "pending-install" && !l.running_helms().is_empty()).then_some(())
    });
}

#[test]
fn helm_dies_with_a_sigkilled_lostromos() {
    let t = TestNs::new("orphan");
    // helm would wait 60 s for the hook on its own
    let mut l = Lostromos::start(&t, &chart("slow"), &["--timeout", "60s"]);
    t.apply_widget("alone", json!({"block": true}));
    wait_mid_install(&t, &l, "alone");
    // only Lostrómos: not helm, not helm's process group
    let helms = l.kill_alone();
    assert!(!helms.is_empty());
    for pid in helms {
        wait_for(
            &format!("helm {pid} to end with Lostrómos"),
            Duration::from_secs(10),
            || process_gone(pid).then_some(()),
        );
    }
    // killed outright (SIGKILL): it did not go on to fail or finish the release
    assert_eq!(
        t.release("alone").map(|r| r.1),
        Some("pending-install".into())
    );
}

#[test]
fn sigkill_mid_run_then_restart_and_stop_leaves_no_values_and_no_work_folder() {
    let t = TestNs::new("leftovers");
    let marker = "s3cr3t-MARKER-leftover-91c4";
    // a short timeout keeps the wait before recovering the pending release short
    let mut l = Lostromos::start(&t, &chart("slow"), &["--timeout", "5s"]);
    t.apply_widget("crashy", json!({"block": true, "token": marker}));
    wait_mid_install(&t, &l, "crashy");
    l.kill();
    let stale = work_folders(&l.tmp_dir());
    assert_eq!(stale.len(), 1, "the killed process's folder: {stale:?}");

    t.apply_widget("crashy", json!({"block": false, "token": marker}));
    l.restart();
    wait_for(
        "the new Lostrómos to remove the old work folder",
        Duration::from_secs(60),
        || {
            l.logs()
                .contains("removed the work folder of a Lostrómos that is gone")
                .then_some(())
        },
    );
    assert!(!stale[0].exists(), "{} is still there", stale[0].display());
    // it recovers the release and installs with the values again
    t.wait_ready("crashy");
    let status = l.terminate(Duration::from_secs(60));
    assert!(status.success(), "exit status {status:?}");

    assert_eq!(work_folders(&l.tmp_dir()), Vec::<PathBuf>::new());
    assert_eq!(
        files_containing(&l.tmp_dir(), marker),
        Vec::<PathBuf>::new()
    );
}
