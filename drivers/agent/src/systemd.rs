//! systemd, where the host runs it (`/run/systemd/system` exists):
//!
//! - the boot cleanup unit, [`CLEANUP_UNIT`] (embedded from
//!   `systemd/faultline-agent-cleanup.service`, so the binary carries the unit that matches it),
//!   written and enabled by `faultline-agent install-cleanup-unit`, which the SSM document runs;
//! - a backstop per fault: a transient timer (`systemd-run --on-active`) that runs
//!   `faultline-agent rollback <id>` [`BACKSTOP_GRACE`] after the deadline, in a unit of its
//!   own, so neither the guardian nor `inject` (nor SSM's process group) has to be alive for it
//!   to fire. It is stopped when the fault is rolled back; firing late is harmless (`rollback`
//!   is idempotent).
//!
//! Without systemd both are skipped, with a debug event. Imports `out`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::out;

/// The boot cleanup unit: `rollback --all` before the network and the SSM agent come up.
pub const CLEANUP_UNIT: &str = include_str!("../systemd/faultline-agent-cleanup.service");

/// Its file name under the unit directory.
pub const CLEANUP_UNIT_NAME: &str = "faultline-agent-cleanup.service";

/// How long after a fault's deadline its backstop timer fires.
pub const BACKSTOP_GRACE: Duration = Duration::from_secs(10);

/// Whether systemd is the running init (its documented test, `sd_booted`).
pub fn present() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The transient unit (`.timer` and `.service`) of fault `id`'s backstop.
pub fn backstop_unit(id: &str) -> String {
    format!("faultline-rollback-{id}")
}

/// The `systemd-run` arguments that arm fault `id`'s backstop to fire `after` from now.
pub fn backstop_args(exe: &Path, state_dir: &Path, id: &str, after: Duration) -> Vec<String> {
    vec![
        format!("--unit={}", backstop_unit(id)),
        format!("--on-active={}ms", after.as_millis()),
        // The default accuracy is a minute.
        "--timer-property=AccuracySec=1s".into(),
        "--collect".into(),
        format!("--description=faultline-agent: backstop rollback of {id}"),
        exe.display().to_string(),
        "--state-dir".into(),
        state_dir.display().to_string(),
        "rollback".into(),
        id.to_owned(),
    ]
}

/// Arms fault `id`'s backstop; `Ok(None)` without systemd. The caller reports an error and
/// carries on: the guardian and `inject` still watch the fault.
pub fn arm(state_dir: &Path, id: &str, after: Duration) -> Result<Option<String>> {
    if !present() {
        out::debug(
            "backstop_skipped",
            json!({"id": id, "reason": "no systemd (/run/systemd/system is absent)"}),
            &format!("{id}: no systemd here, so no backstop timer; the guardian and inject watch the fault"),
        );
        return Ok(None);
    }
    let exe = std::env::current_exe().context("locating the agent's own executable")?;
    let o = Command::new("systemd-run")
        .args(backstop_args(&exe, state_dir, id, after))
        .stdin(Stdio::null())
        .output()
        .context("running systemd-run")?;
    if !o.status.success() {
        bail!(
            "systemd-run failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(Some(backstop_unit(id)))
}

/// Stops a backstop timer once its fault is rolled back (best effort: a timer that fires anyway
/// finds nothing to do).
pub fn disarm(unit: &str) {
    if !present() {
        return;
    }
    let _ = Command::new("systemctl")
        .args(["stop", &format!("{unit}.timer")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// What `install-cleanup-unit` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// No systemd here: nothing to install.
    Skipped,
    /// The unit was already there, as embedded; enabled.
    Unchanged,
    /// The unit was written (new or different); enabled.
    Written,
}

impl Installed {
    /// The name in the event.
    pub fn name(self) -> &'static str {
        match self {
            Installed::Skipped => "skipped",
            Installed::Unchanged => "unchanged",
            Installed::Written => "written",
        }
    }
}

/// Writes [`CLEANUP_UNIT`] to `unit_dir` if it differs (0644, atomically). Returns whether it
/// wrote.
pub fn write_cleanup_unit(unit_dir: &Path) -> Result<bool> {
    let path = unit_dir.join(CLEANUP_UNIT_NAME);
    if fs::read_to_string(&path).ok().as_deref() == Some(CLEANUP_UNIT) {
        return Ok(false);
    }
    let tmp = unit_dir.join(format!(".{CLEANUP_UNIT_NAME}.tmp"));
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(CLEANUP_UNIT.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

/// Installs and enables the boot cleanup unit where systemd runs.
pub fn install_cleanup_unit(unit_dir: &Path) -> Result<Installed> {
    if !present() {
        return Ok(Installed::Skipped);
    }
    let written = write_cleanup_unit(unit_dir)?;
    let systemctl = |args: &[&str]| -> Result<()> {
        let o = Command::new("systemctl")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("running systemctl")?;
        if !o.status.success() {
            bail!(
                "`systemctl {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
        Ok(())
    };
    if written {
        systemctl(&["daemon-reload"])?;
    }
    systemctl(&["enable", CLEANUP_UNIT_NAME])?;
    Ok(if written {
        Installed::Written
    } else {
        Installed::Unchanged
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backstop_runs_rollback_of_this_fault_with_a_one_second_accuracy() {
        let a = backstop_args(
            Path::new("/usr/local/bin/faultline-agent"),
            Path::new("/var/lib/faultline-agent"),
            "blackhole-1-2",
            Duration::from_secs(70),
        );
        assert_eq!(
            a,
            [
                "--unit=faultline-rollback-blackhole-1-2",
                "--on-active=70000ms",
                "--timer-property=AccuracySec=1s",
                "--collect",
                "--description=faultline-agent: backstop rollback of blackhole-1-2",
                "/usr/local/bin/faultline-agent",
                "--state-dir",
                "/var/lib/faultline-agent",
                "rollback",
                "blackhole-1-2",
            ]
        );
    }

    #[test]
    fn the_cleanup_unit_rolls_everything_back_and_is_written_once() {
        assert!(CLEANUP_UNIT.contains(
            "ExecStart=/usr/local/bin/faultline-agent --state-dir /var/lib/faultline-agent rollback --all"
        ));
        assert!(CLEANUP_UNIT.contains("WantedBy=multi-user.target"));
        let d = std::env::temp_dir().join(format!("faultline-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        assert!(write_cleanup_unit(&d).unwrap());
        assert!(
            !write_cleanup_unit(&d).unwrap(),
            "unchanged the second time"
        );
        fs::write(d.join(CLEANUP_UNIT_NAME), "stale").unwrap();
        assert!(
            write_cleanup_unit(&d).unwrap(),
            "a different unit is replaced"
        );
        assert_eq!(
            fs::read_to_string(d.join(CLEANUP_UNIT_NAME)).unwrap(),
            CLEANUP_UNIT
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
