//! The state directory: created 0700 whatever the umask, `events.jsonl` 0600, and refused
//! (checked with lstat) when it is a symlink, owned by another uid, or writable by others,
//! since its files name the commands a rollback runs as root.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Output};

use common::*;

fn agent(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(AGENT)
        .arg("--state-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

const CPU: [&str; 8] = [
    "inject",
    "cpu",
    "--workers",
    "1",
    "--load-percent",
    "1",
    "--duration",
    "1s",
];

#[test]
fn the_state_directory_is_created_0700_and_the_event_log_0600() {
    let scratch = TempDir::new("state-mode");
    let dir = scratch.path().join("nested").join("state");
    // SAFETY: umask only changes this process's file creation mask (the agent inherits it).
    let old = unsafe { libc::umask(0o022) };
    let out = agent(&dir, &CPU);
    unsafe { libc::umask(old) };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = std::fs::symlink_metadata(&dir).unwrap();
    assert_eq!(m.mode() & 0o777, 0o700, "state directory mode");
    assert_eq!(m.uid(), unsafe { libc::geteuid() });
    let ev = std::fs::symlink_metadata(dir.join("events.jsonl")).unwrap();
    assert_eq!(ev.mode() & 0o777, 0o600, "events.jsonl mode");

    // A directory an older agent left 0755 is tightened, and a 0644 log too.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dir.join("events.jsonl"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = agent(&dir, &CPU);
    assert!(out.status.success());
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    assert_eq!(
        std::fs::metadata(dir.join("events.jsonl")).unwrap().mode() & 0o777,
        0o600
    );
}

fn refused(dir: &std::path::Path, says: &str) {
    for args in [&CPU[..], &["status"], &["rollback", "--all"]] {
        let out = agent(dir, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(err.contains("nothing was changed"), "{args:?}: {err}");
    }
}

#[test]
fn a_symlinked_foreign_or_shared_state_directory_is_refused() {
    let scratch = TempDir::new("state-bad");
    // A symlink to a directory the agent would otherwise accept.
    let real = scratch.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
    let link = scratch.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    refused(&link, "is a symlink");
    assert!(
        std::fs::read_dir(&real).unwrap().next().is_none(),
        "wrote through the symlink"
    );

    // World-writable.
    let shared = scratch.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    refused(&shared, "writable by group or others");
    assert!(std::fs::read_dir(&shared).unwrap().next().is_none());

    // Owned by another uid (nobody).
    let foreign = scratch.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
    refused(&foreign, "is owned by uid 65534");
    assert!(std::fs::read_dir(&foreign).unwrap().next().is_none());
}
