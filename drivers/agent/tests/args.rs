//! Bad arguments: a clear message naming the argument, a non-zero exit, nothing applied
//! (no state directory is even created).

mod common;

use std::process::Command;

use common::*;

#[test]
fn bad_arguments_are_refused_before_anything_is_touched() {
    let state = TempDir::new("args");
    std::fs::remove_dir(state.path()).unwrap();
    for (args, says) in [
        (
            vec!["latency", "--delay-ms", "-5", "--duration", "1m"],
            "--delay-ms: must be between 1 and 60000 ms, got -5",
        ),
        (
            vec!["loss", "--percent", "101", "--duration", "1m"],
            "--percent: a percentage must be greater than 0 and at most 100, got 101",
        ),
        (
            vec!["explode", "--duration", "1m"],
            "unknown fault \"explode\"",
        ),
        (
            vec!["blackhole", "--to", "10.0.0.0/40", "--duration", "1m"],
            "--to: \"10.0.0.0/40\" is not an IPv4 CIDR",
        ),
        (
            vec!["blackhole", "--to", "not_a host", "--duration", "1m"],
            "--to: \"not_a host\" is neither an IPv4 CIDR",
        ),
        (
            vec!["latency", "--delay-ms", "100", "--duration", "soon"],
            "--duration: \"soon\" is not a duration",
        ),
        (
            vec!["latency", "--delay-ms", "100"],
            "--duration: is required",
        ),
        (
            vec!["cpu", "--percent", "5", "--duration", "1m"],
            "--percent: does not apply to the cpu fault",
        ),
        (
            vec![
                "disk",
                "--path",
                "/tmp",
                "--percent",
                "99",
                "--duration",
                "1m",
            ],
            "--percent: must be greater than 0 and at most 98",
        ),
        (
            vec!["kill", "--name", "a", "--pattern", "b"],
            "give only one of name, pattern or pidfile",
        ),
    ] {
        let out = Command::new(AGENT)
            .arg("--state-dir")
            .arg(state.path())
            .arg("inject")
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(err.contains("nothing was changed"), "{args:?}: {err}");
        let ev = events(&out.stdout);
        assert_eq!(find(&ev, "error")["exit_code"], 2);
        assert!(
            !state.path().exists(),
            "{args:?} created the state directory"
        );
    }
    // An unknown flag is clap's to refuse (exit 2 as well).
    let out = Command::new(AGENT)
        .args(["inject", "loss", "--percnt", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn status_and_version_print_json() {
    let state = TempDir::new("status");
    let out = Command::new(AGENT)
        .arg("--state-dir")
        .arg(state.path())
        .arg("status")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        find(&events(&out.stdout), "status")["active"],
        serde_json::json!([])
    );
    let out = Command::new(AGENT).arg("version").output().unwrap();
    assert_eq!(
        find(&events(&out.stdout), "version")["version"],
        env!("CARGO_PKG_VERSION")
    );
}
