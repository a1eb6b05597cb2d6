//! The state directory: one JSON file per active fault, written before the fault is applied
//! and removed once it is rolled back. It is what `status`, `rollback` and the boot-time unit
//! read, and what the guardian watches: a fault whose file is gone has been rolled back.
//! Deadlines are kept on both clocks: the boot clock decides, the wall clock is shown.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use faultline_faults::Fault;
use serde::{Deserialize, Serialize};

use crate::exit::refused;
use crate::net::Undo;
use crate::procs::ProcRef;
use crate::time;

/// Where a fault is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Recorded; being applied.
    Applying,
    /// In place until its deadline.
    Active,
}

/// One active fault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// `<kind>-<epoch ms>-<pid>`.
    pub id: String,
    /// The validated fault.
    pub fault: Fault,
    /// When it was recorded.
    pub created_ms: u64,
    /// When the guardian rolls it back, on the wall clock (what people read).
    pub deadline_ms: u64,
    /// The same deadline on the boot clock ([`crate::time::boot_ms`]), the one that counts: a
    /// wall clock stepped by NTP or by hand moves neither end of the fault. Absent in files
    /// written by an older agent (the wall clock is used for those).
    #[serde(default)]
    pub deadline_boot_ms: Option<u64>,
    /// Applying or active.
    pub status: Status,
    /// The interface of a network fault.
    pub interface: Option<String>,
    /// How a network fault was applied (`tc-netem`, `nftables`, `tc-htb`).
    pub mechanism: Option<String>,
    /// Undo steps of a network fault, in the order they are applied (undone in reverse).
    pub undo: Vec<Undo>,
    /// Files the fault creates (disk, io), deleted on rollback.
    pub files: Vec<PathBuf>,
    /// Bytes the disk fault writes (checked against the 98 % limit before recording).
    pub disk_bytes: Option<u64>,
    /// Bytes the memory fault holds (checked against what is available, counting the other
    /// memory faults still allocating, before recording).
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// A network fault's exempt networks (the guardian adds re-resolved SSM endpoints).
    #[serde(default)]
    pub exempt: Vec<String>,
    /// The region whose SSM endpoints a network fault keeps reachable.
    #[serde(default)]
    pub ssm_region: Option<String>,
    /// The guardian process.
    pub guardian: Option<ProcRef>,
    /// The transient systemd timer that runs `rollback <id>` a grace after the deadline
    /// (`faultline-rollback-<id>`), where systemd exists.
    #[serde(default)]
    pub backstop: Option<String>,
    /// Why the last rollback left something behind (after its retries); `rollback <id>` tries
    /// again.
    #[serde(default)]
    pub rollback_error: Option<String>,
    /// The process rolling the fault back right now, when it is not the guardian (`rollback`,
    /// or `inject` itself): `inject` waits for it instead of taking the guardian it stopped for
    /// a dead one.
    #[serde(default)]
    pub rolling_back: Option<ProcRef>,
    /// Processes the first kill round hit (kill --repeat-every).
    #[serde(default)]
    pub killed: Vec<ProcRef>,
    /// When they were killed.
    #[serde(default)]
    pub killed_at_ms: Option<u64>,
    /// The agent that injected the fault and its ancestors (an `ssm-agent-worker`, a shell):
    /// the guardian's kill rounds spare them even once it has been re-parented.
    #[serde(default)]
    pub spared: Vec<ProcRef>,
}

impl State {
    /// Whether the deadline has passed (boot clock; wall clock for an older agent's file).
    pub fn due(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Time left until the deadline (zero once it has passed).
    pub fn remaining(&self) -> Duration {
        Duration::from_millis(match self.deadline_boot_ms {
            Some(d) => d.saturating_sub(time::boot_ms()),
            None => self.deadline_ms.saturating_sub(time::now_ms()),
        })
    }

    /// How long ago the deadline passed (zero before it; boot clock where recorded).
    pub fn overdue(&self) -> Duration {
        Duration::from_millis(match self.deadline_boot_ms {
            Some(d) => time::boot_ms().saturating_sub(d),
            None => time::now_ms().saturating_sub(self.deadline_ms),
        })
    }
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// Holds the directory's lock (flock) until dropped.
pub struct Lock(#[allow(dead_code)] fs::File);

impl StateDir {
    /// A state directory at `root` (not created yet).
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Creates the directory (mode 0700, whatever the umask) if needed, then [`Self::verify`]s
    /// it and takes group and other permissions away from one an older agent created.
    pub fn ensure(&self) -> Result<()> {
        if let Err(e) = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
        {
            // A symlink to nowhere, a file: say what is wrong with it below.
            if fs::symlink_metadata(&self.root).is_err() {
                return Err(e).with_context(|| {
                    format!("creating the state directory {}", self.root.display())
                });
            }
        }
        let mode = self.verify()?.context("the state directory vanished")?;
        if mode & 0o077 != 0 {
            fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700)).with_context(
                || {
                    format!(
                        "setting the state directory {} to 0700",
                        self.root.display()
                    )
                },
            )?;
        }
        Ok(())
    }

    /// Checks the directory with lstat before trusting what is in it (state files name commands
    /// to run as root on rollback): it must be a real directory (not a symlink), owned by this
    /// uid, and writable by no one else. `None` when it does not exist; else its mode.
    pub fn verify(&self) -> Result<Option<u32>> {
        let m = match fs::symlink_metadata(&self.root) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("checking the state directory {}", self.root.display())
                })
            }
        };
        let d = self.root.display();
        let why = if m.file_type().is_symlink() {
            Some("is a symlink".to_owned())
        } else if !m.is_dir() {
            Some("is not a directory".to_owned())
        } else if m.uid() != euid() {
            Some(format!(
                "is owned by uid {}, not by this uid {}",
                m.uid(),
                euid()
            ))
        } else if m.mode() & 0o022 != 0 {
            Some(format!(
                "is writable by group or others (mode {:o})",
                m.mode() & 0o7777
            ))
        } else {
            None
        };
        match why {
            Some(why) => Err(refused(format!(
                "the state directory {d} {why}: it holds the commands a rollback runs as root, \
                 so the agent uses only a real directory it owns, mode 0700; remove or fix it \
                 (or pass another --state-dir); nothing was changed"
            ))),
            None => Ok(Some(m.mode() & 0o7777)),
        }
    }

    /// Serialises injects, so two cannot both see an interface free.
    pub fn lock(&self) -> Result<Lock> {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(self.root.join(".lock"))
            .context("opening the state lock")?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error()).context("locking the state directory");
        }
        Ok(Lock(f))
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of fault `id`.
    pub fn path_of(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.json"))
    }

    /// The guardian's event log.
    pub fn events_path(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }

    /// Writes a fault's state atomically (temporary file, fsync, rename).
    pub fn save(&self, s: &State) -> Result<()> {
        let path = self.path_of(&s.id);
        let tmp = self.root.join(format!(".{}.tmp", s.id));
        let mut f = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(&serde_json::to_vec(s)?)?;
        f.sync_all()?;
        fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// A fault's state, `None` when it is not active.
    pub fn load(&self, id: &str) -> Result<Option<State>> {
        if id.contains('/') || id.starts_with('.') {
            return Ok(None);
        }
        read(&self.path_of(id))
    }

    /// Removes a fault's state (idempotent).
    pub fn remove(&self, id: &str) -> Result<()> {
        match fs::remove_file(self.path_of(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing the state of {id}"))
            }
            _ => Ok(()),
        }
    }

    /// Every active fault, oldest first. A missing directory has none.
    pub fn list(&self) -> Result<Vec<State>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e).context("reading the state directory"),
        };
        let mut out = Vec::new();
        for e in entries {
            let p = e?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.ends_with(".json") && !name.starts_with('.') {
                if let Some(s) = read(&p)? {
                    out.push(s);
                }
            }
        }
        out.sort_by_key(|s| s.created_ms);
        Ok(out)
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn read(path: &Path) -> Result<Option<State>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a faultline-agent state file; remove it if you know it is stale",
                path.display()
            )
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
