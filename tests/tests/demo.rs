//! `make demo` end to end: the demo binary runs twice in a row (it cleans up after itself) and
//! prints every section of the timeline, with the outcomes the demo is there to show.

use std::process::Command;

use anyhow::Result;
use faultline_e2e::built_binary;

const SECTIONS: &[&str] = &[
    "1. Local AWS",
    "2. Deploy faultline",
    "3. Demo fleet",
    "4. Steady-state traffic",
    "5. The scheduled round",
    "6. What was hit",
    "7. What was spared, and why",
    "8. Recovery",
    "9. The SNS messages, as an email reader sees them",
    "10. The Slack payload",
    "11. Time to recover",
    "12. Safety rails",
    "13. Verdict and report",
];

#[test]
fn make_demo_runs_twice_and_prints_the_timeline() -> Result<()> {
    let demo = built_binary("demo")?;
    for run in 1..=2 {
        let out = Command::new(&demo).output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "run {run} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for s in SECTIONS {
            assert!(
                stdout.contains(s),
                "run {run}: no section {s:?} in:\n{stdout}"
            );
        }
        for outcome in [
            "Apply complete!",
            "schedule web-terminate: cron(0 10 ? * MON-FRI *) (Europe/London)",
            "outcome acted: 6 eligible, 3 requested, 3 chosen",
            "batch-asg  4 of 4 still running",
            "Subject: [faultline] web-terminate PASSED: recovered in",
            "\"text\": \"[faultline] web-terminate PASSED: recovered in",
            "| Report:           s3://faultline-reports-",
            "steady state during the round: 1000 requests, success 100",
            "-> duplicate",
            "next round -> refused: the kill switch",
            "Verdict: PASSED",
            "Report:  ",
            "moto are stopped",
        ] {
            assert!(
                stdout.contains(outcome),
                "run {run}: no {outcome:?} in:\n{stdout}"
            );
        }
    }
    Ok(())
}

#[test]
fn without_terraform_the_demo_says_so_and_sets_up_with_the_sdk() -> Result<()> {
    let out = Command::new(built_binary("demo")?)
        .env("FAULTLINE_TERRAFORM", "/nonexistent/terraform")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("falling back to an SDK set-up"), "{stdout}");
    assert!(!stdout.contains("Apply complete!"), "{stdout}");
    for s in SECTIONS {
        assert!(stdout.contains(s), "no section {s:?} in:\n{stdout}");
    }
    assert!(
        stdout.contains("outcome acted: 6 eligible, 3 requested, 3 chosen"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Subject: [faultline] web-terminate PASSED: recovered in"),
        "{stdout}"
    );
    // The demo ends with the verdict and the path of the HTML report, which exists.
    let tail: Vec<&str> = stdout.lines().rev().take(4).collect();
    assert!(
        tail.iter().any(|l| l.contains("Verdict: PASSED")),
        "{stdout}"
    );
    let report = tail
        .iter()
        .find_map(|l| l.trim().strip_prefix("Report:"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no report path at the end:\n{stdout}"));
    assert!(report.ends_with(".html"), "{report}");
    let html = std::fs::read_to_string(report)?;
    assert!(html.contains("id=\"timeline\""), "{report}");
    assert!(
        html.contains("data-condition=\"checkout success\""),
        "{report}"
    );
    Ok(())
}
