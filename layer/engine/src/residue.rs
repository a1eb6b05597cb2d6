//! What the faults leave behind, and its removal: a `diskspace` file lives exactly as long as
//! the fault that wrote it is in force. It is removed as soon as that fault expires
//! (`expires_at`), is cleared (config deleted), halted (kill switch not `true`) or changed
//! (disabled, or another size, percentage or `match`): by the engine's janitor task as each
//! read lands and when the expiry passes, and again before every invocation as a backstop (a
//! frozen execution environment runs no task). The deny-list file goes when no deny-list fault
//! is in force.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::config::{FaultConfig, LayerFault, LayerFaultKind};
use crate::effects;
use crate::engine::EngineClock;
use crate::live::Updates;

/// The janitor re-reads the wall clock at least this often while waiting for an expiry.
const EXPIRY_RECHECK: Duration = Duration::from_secs(60);

/// The files the faults wrote, and which fault keeps them.
pub(crate) struct Residue {
    tmp_dir: PathBuf,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The `diskspace` fault the files were written for.
    disk_fault: Option<LayerFault>,
    disk_files: Vec<PathBuf>,
    denylist_on: Option<Vec<String>>,
}

/// The `diskspace` fault `config` keeps in force at `now`.
fn disk_in_force(config: &FaultConfig, now: DateTime<Utc>) -> Option<LayerFault> {
    if config.expired(now) {
        return None;
    }
    config
        .faults
        .iter()
        .find(|f| matches!(f.kind, LayerFaultKind::DiskSpace { .. }))
        .cloned()
}

/// Whether `config` keeps a deny-list fault in force at `now`.
fn denylist_in_force(config: &FaultConfig, now: DateTime<Utc>) -> bool {
    !config.expired(now)
        && config
            .faults
            .iter()
            .any(|f| matches!(f.kind, LayerFaultKind::Denylist { .. }))
}

/// Why the files go, for the log line.
fn why(config: &FaultConfig, now: DateTime<Utc>) -> &'static str {
    if config.expired(now) {
        "expired"
    } else if config.is_empty() {
        "no fault in force (cleared, halted, or the config is unreadable)"
    } else if disk_in_force(config, now).is_none() {
        "diskspace disabled"
    } else {
        "diskspace changed"
    }
}

impl Residue {
    /// Nothing written yet, into `tmp_dir`.
    pub(crate) fn new(tmp_dir: PathBuf) -> Residue {
        Residue {
            tmp_dir,
            state: Mutex::new(State::default()),
        }
    }

    /// Where the files go.
    pub(crate) fn tmp_dir(&self) -> &Path {
        &self.tmp_dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes what `config` no longer keeps in force at `now`. Returns the `diskspace` fault in
    /// force, under which new files are recorded ([`Residue::record`]).
    pub(crate) fn settle(&self, config: &FaultConfig, now: DateTime<Utc>) -> Option<LayerFault> {
        let in_force = disk_in_force(config, now);
        let mut st = self.lock();
        if st.disk_fault != in_force {
            let files = std::mem::take(&mut st.disk_files);
            if !files.is_empty() {
                remove_disk_files(&files, why(config, now));
            }
            st.disk_fault = in_force.clone();
        }
        if st.denylist_on.is_some() && !denylist_in_force(config, now) {
            self.write_denylist(&mut st, None);
        }
        in_force
    }

    /// Records `file`, written for `fault`; removes it at once when that fault is no longer the
    /// one in force (it changed while the file was being written).
    pub(crate) fn record(&self, file: PathBuf, fault: &Option<LayerFault>) {
        let mut st = self.lock();
        if st.disk_fault == *fault && fault.is_some() {
            st.disk_files.push(file);
        } else {
            drop(st);
            remove_disk_files(&[file], "diskspace changed while writing");
        }
    }

    /// How many `diskspace` files are kept now.
    pub(crate) fn disk_files(&self) -> usize {
        self.lock().disk_files.len()
    }

    /// Writes or removes the deny-list file, only when it changes (no syscalls in steady state).
    pub(crate) fn set_denylist(&self, patterns: Option<Vec<String>>) {
        let mut st = self.lock();
        if st.denylist_on != patterns {
            self.write_denylist(&mut st, patterns);
        }
    }

    fn write_denylist(&self, st: &mut State, patterns: Option<Vec<String>>) {
        match effects::set_denylist(&self.tmp_dir, patterns.as_deref()) {
            Ok(()) => {
                if let Some(p) = &patterns {
                    info!(source = "faultline", mode = "denylist", patterns = ?p, "inject");
                }
                st.denylist_on = patterns;
            }
            Err(e) => warn!(
                source = "faultline",
                mode = "denylist",
                error = %e,
                "cannot write or remove the deny-list file; check that the temp directory is writable"
            ),
        }
    }
}

/// Removes `files`, logging one line.
fn remove_disk_files(files: &[PathBuf], reason: &str) {
    let mut bytes = 0;
    let mut failed = 0;
    for f in files {
        bytes += std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
        if let Err(e) = effects::remove_file(f) {
            failed += 1;
            warn!(
                source = "faultline",
                mode = "diskspace",
                file = %f.display(),
                error = %e,
                "cannot remove a diskspace file; delete it by hand or recycle the environment"
            );
        }
    }
    info!(
        source = "faultline",
        mode = "diskspace",
        files = files.len() - failed,
        bytes,
        reason,
        "removed"
    );
}

/// Starts the janitor when a runtime is running: it settles the residue as each read lands and
/// when the config's expiry passes, and ends when the engine is gone.
pub(crate) fn spawn_janitor(
    residue: Weak<Residue>,
    mut updates: Updates,
    clock: Arc<dyn EngineClock>,
) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        loop {
            let config = updates.current();
            let now: DateTime<Utc> = clock.now().into();
            match residue.upgrade() {
                Some(r) => r.settle(&config, now),
                None => return,
            };
            let until_expiry = config
                .expires_at
                .filter(|_| !config.is_empty())
                .and_then(|t| (t - now).to_std().ok());
            let alive = match until_expiry {
                Some(d) => tokio::select! {
                    _ = tokio::time::sleep(d.min(EXPIRY_RECHECK)) => true,
                    alive = updates.changed() => alive,
                },
                None => updates.changed().await,
            };
            if !alive {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("faultline-residue-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn write(r: &Residue, fault: &Option<LayerFault>) -> PathBuf {
        let (file, _) = effects::fill_disk(r.tmp_dir(), 1).unwrap();
        r.record(file.clone(), fault);
        file
    }

    #[test]
    fn diskspace_files_live_as_long_as_their_fault() {
        let d = dir("disk");
        let r = Residue::new(d.clone());
        let now = Utc::now();
        let disk = |mb: u32, extra: &str| {
            FaultConfig::parse(&format!(
                r#"{{"diskspace": {{"enabled": true, "disk_space": {mb}}}{extra}}}"#
            ))
            .unwrap()
        };
        let on = disk(1, "");
        let fault = r.settle(&on, now);
        assert!(fault.is_some());
        let a = write(&r, &fault);
        let b = write(&r, &fault);
        // Another fault added or the expiry moved: the same diskspace fault, the files stay.
        let more = disk(
            1,
            r#", "latency": {"enabled": true}, "expires_at": "2999-01-01T00:00:00Z""#,
        );
        assert_eq!(r.settle(&more, now), fault);
        assert!(a.exists() && b.exists());
        // A different size: gone.
        let bigger = disk(2, "");
        let fault2 = r.settle(&bigger, now);
        assert!(!a.exists() && !b.exists());
        let c = write(&r, &fault2);
        // Expired.
        let expired = disk(2, r#", "expires_at": "2020-01-01T00:00:00Z""#);
        assert_eq!(r.settle(&expired, now), None);
        assert!(!c.exists());
        // Cleared or halted (the live config is empty).
        let fault3 = r.settle(&bigger, now);
        let e = write(&r, &fault3);
        r.settle(&FaultConfig::default(), now);
        assert!(!e.exists());
        // Disabled while other faults stay.
        let fault4 = r.settle(&bigger, now);
        let f = write(&r, &fault4);
        r.settle(
            &FaultConfig::parse(
                r#"{"diskspace": {"enabled": false}, "latency": {"enabled": true}}"#,
            )
            .unwrap(),
            now,
        );
        assert!(!f.exists());
        // A file that lands after its fault went is removed at once.
        let g = write(&r, &fault4);
        assert!(!g.exists());
        assert_eq!(r.disk_files(), 0);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_deny_list_file_goes_with_its_fault() {
        let d = dir("deny");
        let r = Residue::new(d.clone());
        let now = Utc::now();
        let on =
            FaultConfig::parse(r#"{"denylist": {"enabled": true, "deny_list": ["^a$"]}}"#).unwrap();
        r.settle(&on, now);
        r.set_denylist(Some(vec!["^a$".into()]));
        assert!(effects::denylist_path(&d).exists());
        r.settle(&on, now);
        assert!(effects::denylist_path(&d).exists(), "still in force");
        r.settle(&FaultConfig::default(), now);
        assert!(!effects::denylist_path(&d).exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
