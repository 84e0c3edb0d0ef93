//! How helm gets the values: on its standard input, never in a file or in its
//! argv; and what it makes of integers (float64, as from any values file).

use std::path::PathBuf;
use std::time::Duration;

use integration::{chart, files_containing, wait_for, Lostromos, TestNs};
use serde_json::{json, Value};

#[test]
fn values_are_in_no_file_and_no_argv_while_helm_runs() {
    let t = TestNs::new("stdin-live");
    let marker = "s3cr3t-MARKER-live-0b7d";
    // the hook Job never completes here: helm stays running, so we can look
    let l = Lostromos::start(&t, &chart("slow"), &["--timeout", "60s"]);
    t.apply_widget("watched", json!({"block": true, "token": marker}));
    let helms = wait_for("helm to be mid-install", Duration::from_secs(60), || {
        let (_, status) = t.release("watched")?;
        let helms = l.running_helms();
        (status == "pending-install" && !helms.is_empty()).then_some(helms)
    });
    for pid in helms {
        let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(
            !String::from_utf8_lossy(&argv).contains(marker),
            "a value in helm's argv"
        );
        let stdin = std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
        assert!(
            stdin.to_string_lossy().starts_with("pipe:"),
            "helm's stdin is {stdin:?}"
        );
    }
    assert_eq!(
        files_containing(&l.tmp_dir(), marker),
        Vec::<PathBuf>::new(),
        "a values file in the temp folder while helm runs"
    );
    // the install and the start-up preflight's `helm template`: both on a pipe
    l.assert_values_on_stdin();
}

#[test]
fn integers_reach_templates_as_floats_and_the_chart_turns_them_back() {
    let t = TestNs::new("numbers");
    let _l = Lostromos::start(&t, &chart("numbers"), &[]);
    t.apply_widget(
        "sizes",
        json!({
            "size": 12345678,
            "sizeText": "18446744073709551615",
            "big": 18446744073709551615u64,
        }),
    );
    t.wait_ready("sizes");
    let out = t
        .kubectl(&["get", "configmap", "sizes-numbers", "-o", "json"])
        .unwrap();
    let cm: Value = serde_json::from_str(&out).unwrap();
    let data = &cm["data"];
    // the limit README documents: helm reads every number in values as a float64
    assert_eq!(data["asIs"], "1.2345678e+07", "{data}");
    assert_eq!(data["big"], "1.8446744073709552e+19", "{data}");
    // the chart-side remedies it documents
    assert_eq!(data["int64"], "12345678", "{data}");
    assert_eq!(data["toJson"], "12345678", "{data}");
    assert_eq!(data["text"], "18446744073709551615", "{data}");
}
