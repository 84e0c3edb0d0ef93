//! A crash mid-upgrade leaves helm's release pending; after a restart
//! Lostrómos recovers it and converges to the CR. (The `slow` chart's values
//! include its default `sleepSeconds`, so values are checked field by field.)

use std::time::Duration;

use integration::{chart, wait_for, Lostromos, TestNs};
use serde_json::json;

#[test]
fn sigkill_mid_upgrade_recovers_the_pending_release() {
    let t = TestNs::new("crash");
    // a short helm timeout keeps the "stuck" threshold (deadline + grace) small
    let mut l = Lostromos::start(&t, &chart("slow"), &["--timeout", "5s"]);
    t.apply_widget("slowpoke", json!({"block": false, "v": 1}));
    t.wait_ready("slowpoke");

    // the hook Job never completes on this control plane: helm blocks mid-upgrade
    t.apply_widget("slowpoke", json!({"block": true, "v": 2}));
    wait_for("helm to be mid-upgrade", Duration::from_secs(60), || {
        let (rev, status) = t.release("slowpoke")?;
        (rev == 2 && status == "pending-upgrade" && !l.running_helms().is_empty()).then_some(())
    });
    l.kill();
    assert_eq!(
        t.release("slowpoke"),
        Some((2, "pending-upgrade".into())),
        "the crash left it pending"
    );

    t.apply_widget("slowpoke", json!({"block": false, "v": 3}));
    l.restart();
    wait_for(
        "the release to converge to the CR",
        Duration::from_secs(120),
        || {
            let (_, status) = t.release("slowpoke")?;
            let values = t.released_values("slowpoke")?;
            (status == "deployed" && values["block"] == false && values["v"] == 3).then_some(())
        },
    );
    let w = t.wait_ready("slowpoke");
    let rev = w["status"]["release"]["revision"].as_u64().unwrap();
    assert!(rev >= 4, "rollback then upgrade, got revision {rev}");
    let events = t.events("slowpoke");
    assert!(
        events
            .iter()
            .any(|(ty, reason, _)| ty == "Warning" && reason == "Recovering"),
        "{events:?}"
    );
    assert!(
        l.helm_calls().contains(&"rollback".to_owned()),
        "{:?}",
        l.helm_calls()
    );
}

#[test]
fn sigkill_mid_first_install_uninstalls_and_installs_again() {
    let t = TestNs::new("crash-install");
    let mut l = Lostromos::start(&t, &chart("slow"), &["--timeout", "5s"]);
    t.apply_widget("fresh", json!({"block": true}));
    wait_for("helm to be mid-install", Duration::from_secs(60), || {
        let (rev, status) = t.release("fresh")?;
        (rev == 1 && status == "pending-install" && !l.running_helms().is_empty()).then_some(())
    });
    l.kill();

    t.apply_widget("fresh", json!({"block": false}));
    l.restart();
    let w = t.wait_ready("fresh");
    assert_eq!(w["status"]["release"]["status"], "deployed");
    assert_eq!(t.released_values("fresh").unwrap()["block"], false);
    let calls = l.helm_calls();
    assert!(calls.contains(&"uninstall".to_owned()), "{calls:?}");
}

#[test]
fn helm_timeout_fails_the_release_and_a_fixed_spec_recovers() {
    let t = TestNs::new("timeout");
    let l = Lostromos::start(&t, &chart("slow"), &["--timeout", "3s"]);
    t.apply_widget("stuck", json!({"block": true}));
    // helm gives up after its timeout: Ready=False with a timeout reason, not stalled
    let cond = wait_for(
        "Ready=False after the timeout",
        Duration::from_secs(60),
        || {
            t.condition("stuck", "Ready")
                .filter(|c| c["status"] == "False" && c["reason"] != "Installing")
        },
    );
    assert_eq!(
        t.condition("stuck", "Stalled").unwrap()["status"],
        "False",
        "a timeout is retried: {cond}"
    );
    assert!(l.running_helms().len() <= 1);

    t.apply_widget("stuck", json!({"block": false}));
    t.wait_ready("stuck");
    assert_eq!(t.release("stuck").map(|r| r.1), Some("deployed".into()));
}
