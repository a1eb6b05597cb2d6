//! Resource workloads, written in Rust (no stress-ng): cpu burners, held memory, a file that
//! fills a filesystem, and write-and-sync loops. The guardian runs them, so they end at the
//! deadline whatever happens to the agent that started them.

use std::fs;
use std::io::{Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use faultline_faults::{Amount, DiskFault, Fault, MemoryFault, DISK_MAX_PERCENT};

use crate::exit::refused;

/// A filesystem's sizes in bytes, as `df` counts them.
#[derive(Debug, Clone, Copy)]
pub struct FsUsage {
    /// Used bytes.
    pub used: u64,
    /// Bytes an unprivileged user may still write.
    pub avail: u64,
}

impl FsUsage {
    /// Used percentage of (used + avail), as `df` prints it.
    pub fn percent(&self, extra: u64) -> f64 {
        (self.used + extra) as f64 * 100.0 / (self.used + self.avail).max(1) as f64
    }
}

/// statvfs of `path`.
pub fn fs_usage(path: &Path) -> Result<FsUsage> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: statvfs writes into the zeroed struct we pass.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statvfs {}", path.display()));
    }
    let f = s.f_frsize as u64;
    Ok(FsUsage {
        used: (s.f_blocks as u64 - s.f_bfree as u64) * f,
        avail: s.f_bavail as u64 * f,
    })
}

/// `statfs` magic numbers of filesystems that live in RAM.
const TMPFS_MAGIC: u64 = 0x0102_1994;
const RAMFS_MAGIC: u64 = 0x8584_58f6;

/// Whether `path` is on a tmpfs or ramfs (statfs `f_type`).
pub fn in_ram(path: &Path) -> Result<bool> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: statfs writes into the zeroed struct we pass.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("statfs {}", path.display()));
    }
    let t = s.f_type as u64 & 0xffff_ffff;
    Ok(t == TMPFS_MAGIC || t == RAMFS_MAGIC)
}

/// The device of the filesystem holding `path` (to tell which disk faults share one).
pub fn fs_dev(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| m.dev())
}

/// How many bytes the disk fault writes; refused when that, plus `pending` (what other running
/// disk faults on the same filesystem still have to write), would pass 98 %, and refused on a
/// tmpfs (it would fill memory). Called under the state lock, so two faults cannot both pass.
pub fn disk_bytes(d: &DiskFault, pending: u64) -> Result<u64> {
    let path = Path::new(&d.path);
    if !path.is_dir() {
        return Err(refused(format!(
            "disk: {} is not a directory; nothing was written",
            d.path
        )));
    }
    if in_ram(path)? {
        return Err(refused(format!(
            "disk: path {} is on a tmpfs (in memory, like /run or /dev/shm): filling it would \
             fill RAM, not a disk. Give a path on a disk filesystem; nothing was written",
            d.path
        )));
    }
    let mut u = fs_usage(path)?;
    // What other running disk faults will still write counts as used already.
    let pending = pending.min(u.avail);
    u.used += pending;
    u.avail -= pending;
    let others = if pending > 0 {
        format!(
            ", counting {} MiB other running disk faults here still write",
            pending >> 20
        )
    } else {
        String::new()
    };
    let bytes = match d.amount {
        Amount::Mb(mb) => mb << 20,
        Amount::Percent(p) => {
            let target = (u.used + u.avail) as f64 * p / 100.0;
            if target <= u.used as f64 {
                return Err(refused(format!(
                    "disk: {} is already {:.1} % full{others}, at or above the {p} % asked \
                     for; nothing was written",
                    d.path,
                    u.percent(0)
                )));
            }
            (target - u.used as f64) as u64
        }
    };
    let after = u.percent(bytes);
    if after > DISK_MAX_PERCENT {
        return Err(refused(format!(
            "disk: writing {} MiB would fill {} to {after:.1} % ({} MiB used{others}, {} MiB \
             free); the agent never fills a filesystem past {DISK_MAX_PERCENT} %; nothing was \
             written",
            bytes >> 20,
            d.path,
            u.used >> 20,
            u.avail >> 20
        )));
    }
    Ok(bytes)
}

fn meminfo(key: &str) -> Option<u64> {
    fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// How many bytes the memory fault holds; refused when that, plus `pending` (what other memory
/// faults have reserved but not allocated yet), would leave less than 5 % of memory (at least
/// 128 MiB) available. Called under the state lock.
pub fn memory_bytes(m: &MemoryFault, pending: u64) -> Result<u64> {
    let total = meminfo("MemTotal").context("reading MemTotal from /proc/meminfo")?;
    let avail = meminfo("MemAvailable").unwrap_or(total);
    let bytes = match m.amount {
        Amount::Mb(mb) => mb << 20,
        Amount::Percent(p) => (total as f64 * p / 100.0) as u64,
    };
    let reserve = (total / 20).max(128 << 20);
    if bytes + pending + reserve > avail {
        let others = if pending > 0 {
            format!(
                " (and the {} MiB other memory faults are allocating)",
                pending >> 20
            )
        } else {
            String::new()
        };
        return Err(refused(format!(
            "memory: holding {} MiB{others} would leave less than {} MiB of the {} MiB \
             available; nothing was allocated",
            bytes >> 20,
            reserve >> 20,
            avail >> 20
        )));
    }
    Ok(bytes)
}

/// Files a fault will create, recorded before it runs so a rollback removes them.
pub fn files_for(f: &Fault, id: &str) -> Vec<PathBuf> {
    match f {
        Fault::Disk(d) => vec![Path::new(&d.path).join(format!(".faultline-disk-{id}"))],
        Fault::Io(io) => (0..io.workers)
            .map(|n| Path::new(&io.path).join(format!(".faultline-io-{id}-{n}")))
            .collect(),
        Fault::Network(_) | Fault::Kill(_) | Fault::Cpu(_) | Fault::Memory(_) => vec![],
    }
}

/// Creates a workload file that must not exist yet: `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600.
/// The names are predictable, so a file or symlink planted under one (say, pointing at
/// `/etc/shadow`) makes the fault fail instead of making root truncate or fill its target.
fn create_new(path: &Path) -> Result<fs::File> {
    fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| {
            format!(
                "creating {} (it must not exist yet; a file or symlink in its place is refused)",
                path.display()
            )
        })
}

/// A running workload; dropping it stops threads and frees memory.
pub struct Workload {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    _memory: Option<Vec<u8>>,
}

impl Drop for Workload {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Starts the workload of a resource fault; returns when it is in place. `bytes`: what the disk
/// fault writes or the memory fault holds, as planned (and checked) under the state lock.
/// `cancel`: set by the guardian when `inject` dies meanwhile; a disk fill stops at the next
/// MiB instead of filling (and syncing) the rest first.
pub fn start(
    f: &Fault,
    files: &[PathBuf],
    bytes: Option<u64>,
    cancel: &AtomicBool,
) -> Result<Workload> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut w = Workload {
        stop: stop.clone(),
        threads: vec![],
        _memory: None,
    };
    match f {
        Fault::Cpu(c) => {
            let n = c.workers.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get() as u32)
                    .unwrap_or(1)
            });
            let busy = Duration::from_millis(c.load_percent as u64);
            for _ in 0..n {
                let stop = stop.clone();
                w.threads.push(std::thread::spawn(move || {
                    // 100 ms periods: busy for load % of each, asleep for the rest.
                    let period = Duration::from_millis(100);
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let mut x: u64 = 1;
                        while t.elapsed() < busy {
                            x = std::hint::black_box(x.wrapping_mul(6364136223846793005) + 1);
                        }
                        if let Some(rest) = period.checked_sub(t.elapsed()) {
                            std::thread::sleep(rest);
                        }
                    }
                }));
            }
        }
        Fault::Memory(m) => {
            let bytes = match bytes {
                Some(b) => b,
                None => memory_bytes(m, 0)?,
            } as usize;
            // A non-zero fill touches every page, so it is resident, not just reserved.
            let v = vec![0x5au8; bytes];
            w._memory = Some(std::hint::black_box(v));
        }
        Fault::Disk(_) => {
            let path = files.first().context("the disk fault has no file")?;
            let bytes = bytes.context("the disk fault has no size")?;
            let mut file = create_new(path)?;
            let chunk = vec![0x5au8; 1 << 20];
            let mut left = bytes;
            while left > 0 {
                if cancel.load(Ordering::Relaxed) {
                    bail!("the disk fill was stopped before it was complete (inject died)");
                }
                let n = left.min(chunk.len() as u64) as usize;
                file.write_all(&chunk[..n])
                    .with_context(|| format!("writing {}", path.display()))?;
                left -= n as u64;
            }
            file.sync_all()?;
        }
        Fault::Io(_) => {
            for path in files {
                let stop = stop.clone();
                let mut file = create_new(path)?;
                w.threads.push(std::thread::spawn(move || {
                    let block = vec![0xa5u8; 64 << 10];
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..64 {
                            if file.write_all(&block).is_err() {
                                break;
                            }
                        }
                        let _ = file.sync_all();
                        let _ = file.set_len(0);
                        let _ = file.rewind();
                    }
                }));
            }
        }
        // No workload: the kernel holds a network fault, and the guardian sends kill rounds.
        Fault::Network(_) | Fault::Kill(_) => {}
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_faults::RawArgs;

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("faultline-load-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn io_and_disk_refuse_a_planted_symlink_and_leave_its_target_alone() {
        let d = scratch("symlink");
        let target = d.join("precious");
        fs::write(&target, "keep me").unwrap();
        let io = Fault::from_raw(
            "io",
            &RawArgs {
                path: Some(d.to_str().unwrap().into()),
                ..RawArgs::default()
            },
        )
        .unwrap();
        let disk = Fault::from_raw(
            "disk",
            &RawArgs {
                path: Some(d.to_str().unwrap().into()),
                mb: Some(1),
                ..RawArgs::default()
            },
        )
        .unwrap();
        for (f, bytes) in [(io, None), (disk, Some(1 << 20))] {
            let files = files_for(&f, "planted");
            for p in &files {
                std::os::unix::fs::symlink(&target, p).unwrap();
            }
            let e = start(&f, &files, bytes, &AtomicBool::new(false))
                .err()
                .expect("a planted symlink is refused");
            assert!(format!("{e:#}").contains("must not exist yet"), "{e:#}");
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(
                fs::read_to_string(&target).unwrap(),
                "keep me",
                "{}",
                f.kind()
            );
            for p in &files {
                fs::remove_file(p).unwrap();
            }
        }
        // With nothing in the way the io workload starts, and its file is 0600.
        let f = Fault::from_raw(
            "io",
            &RawArgs {
                path: Some(d.to_str().unwrap().into()),
                ..RawArgs::default()
            },
        )
        .unwrap();
        let files = files_for(&f, "clean");
        let w = start(&f, &files, None, &AtomicBool::new(false)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777,
            0o600
        );
        drop(w);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_cancelled_disk_fill_stops_at_once_instead_of_writing_the_rest() {
        let d = scratch("cancel");
        let f = Fault::from_raw(
            "disk",
            &RawArgs {
                path: Some(d.to_str().unwrap().into()),
                mb: Some(1024),
                ..RawArgs::default()
            },
        )
        .unwrap();
        let files = files_for(&f, "cancelled");
        let e = start(&f, &files, Some(1 << 30), &AtomicBool::new(true))
            .err()
            .expect("a cancelled fill fails");
        assert!(format!("{e:#}").contains("stopped"), "{e:#}");
        assert_eq!(fs::metadata(&files[0]).unwrap().len(), 0, "nothing written");
        fs::remove_dir_all(&d).unwrap();
    }
}
