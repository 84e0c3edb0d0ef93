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

/// Kills Lostrómos while helm is mid-upgrade of `name` (the `slow` chart's
/// hook never completes), leaving revision 2 `pending-upgrade`.
fn kill_mid_upgrade(t: &TestNs, l: &mut Lostromos, name: &str) {
    t.apply_widget(name, json!({"block": false, "v": 1}));
    t.wait_ready(name);
    t.apply_widget(name, json!({"block": true, "v": 2}));
    wait_for("helm to be mid-upgrade", Duration::from_secs(60), || {
        let (rev, status) = t.release(name)?;
        (rev == 2 && status == "pending-upgrade" && !l.running_helms().is_empty()).then_some(())
    });
    l.kill();
    t.apply_widget(name, json!({"block": false, "v": 3}));
}

#[test]
fn a_single_instance_recovers_its_own_pending_release_at_once() {
    let t = TestNs::new("recover-now");
    // the default --timeout (5m): waiting out helm's deadline would take 5m40s
    let mut l = Lostromos::start(&t, &chart("slow"), &[]);
    kill_mid_upgrade(&t, &mut l, "solo");
    l.restart();
    wait_for(
        "the release recovered and converged",
        Duration::from_secs(90),
        || {
            let (_, status) = t.release("solo")?;
            let values = t.released_values("solo")?;
            (status == "deployed" && values["v"] == 3).then_some(())
        },
    );
    assert!(
        l.helm_calls().contains(&"rollback".to_owned()),
        "{:?}",
        l.helm_calls()
    );
}

#[test]
fn with_leader_election_a_pending_release_waits_for_a_possible_other_helm() {
    let t = TestNs::new("recover-wait");
    // another replica could still run helm on the release: wait out its deadline
    // (3s + 3s + 10s of grace), then recover
    let args = [
        "--timeout",
        "3s",
        "--leader-elect",
        "--lease-namespace",
        t.ns.as_str(),
        "--lease-duration",
        "2s",
    ];
    let mut l = Lostromos::start(&t, &chart("slow"), &args);
    kill_mid_upgrade(&t, &mut l, "elected");
    l.restart();
    let waiting = wait_for(
        "the decision to wait for the pending release",
        Duration::from_secs(60),
        || {
            t.condition("elected", "Reconciling")
                .filter(|c| c["reason"] == "Waiting")
        },
    );
    let message = waiting["message"].as_str().unwrap_or_default();
    assert!(message.contains("older than 16s"), "{message}");
    assert!(
        !l.helm_calls().contains(&"rollback".to_owned()),
        "recovered before the window closed: {:?}",
        l.helm_calls()
    );
    wait_for(
        "the release recovered after the window",
        Duration::from_secs(90),
        || {
            let (_, status) = t.release("elected")?;
            let values = t.released_values("elected")?;
            (status == "deployed" && values["v"] == 3).then_some(())
        },
    );
    assert!(l.helm_calls().contains(&"rollback".to_owned()));
}
