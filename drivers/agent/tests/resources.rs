//! cpu, memory and disk faults measured from /proc and statvfs, undone at their deadline.
//! Sizes are small; the disk tests fill a 64 MiB ext4 image of their own (loop-mounted; a tmpfs
//! is refused), never the real disk.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn inject(state: &TempDir, args: &[&str]) -> serde_json::Value {
    let out = Command::new(AGENT)
        .arg("--state-dir")
        .arg(state.path())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    find(&events(&out.stdout), "applied").clone()
}

/// utime + stime of a process, seconds.
fn cpu_secs(pid: i64) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Sums over a process's threads (/proc/pid/task/*/schedstat): seconds on a CPU, and seconds
/// on a CPU or runnable waiting for one (what the threads asked for, whatever the contention).
fn sched_secs(pid: i64) -> (f64, f64) {
    let (mut run, mut wait) = (0u64, 0u64);
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
            let f: Vec<u64> = s
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            run += f[0];
            wait += f[1];
        }
    }
    (run as f64 / 1e9, (run + wait) as f64 / 1e9)
}

fn rss_mib(pid: i64) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap()
        / 1024
}

fn wait_ended(state: &TempDir, pid: i64, deadline_ms: u64) -> i64 {
    poll("the fault to end", Duration::from_secs(20), || {
        (!alive(pid) && state_files(state.path()).is_empty()).then(now_ms)
    }) as i64
        - deadline_ms as i64
}

#[test]
fn cpu_one_worker_at_50_percent_uses_half_a_cpu_until_the_deadline() {
    let state = TempDir::new("cpu");
    let a = inject(
        &state,
        &[
            "inject",
            "cpu",
            "--workers",
            "1",
            "--load-percent",
            "50",
            "--duration",
            "4s",
            "--detach",
        ],
    );
    let pid = a["guardian_pid"].as_i64().unwrap();
    let (c0, (r0, d0), t0) = (cpu_secs(pid), sched_secs(pid), Instant::now());
    std::thread::sleep(Duration::from_millis(2000));
    let wall = t0.elapsed().as_secs_f64();
    let used = (cpu_secs(pid) - c0) / wall;
    let (r1, d1) = sched_secs(pid);
    let (ran, demanded) = ((r1 - r0) / wall, (d1 - d0) / wall);
    println!(
        "MEASURE cpu used {used:.2} CPUs (schedstat: ran {ran:.2}, demanded {demanded:.2}) for \
         --workers 1 --load-percent 50"
    );
    // What the worker asks for is half a CPU; what it gets depends on the other tests running.
    assert!(
        (0.4..=0.75).contains(&demanded),
        "demanded {demanded:.2} CPUs"
    );
    assert!((0.15..=0.65).contains(&used), "used {used:.2} CPUs");
    let late = wait_ended(&state, pid, a["deadline_ms"].as_u64().unwrap());
    assert!(late < 1500, "ended {late} ms after the deadline");
}

#[test]
fn memory_64_mib_is_resident_until_the_deadline() {
    let state = TempDir::new("mem");
    let a = inject(
        &state,
        &[
            "inject",
            "memory",
            "--mb",
            "64",
            "--duration",
            "3s",
            "--detach",
        ],
    );
    let pid = a["guardian_pid"].as_i64().unwrap();
    let rss = rss_mib(pid);
    println!("MEASURE memory guardian RSS {rss} MiB for --mb 64");
    assert!((64..=80).contains(&rss), "RSS {rss} MiB");
    let late = wait_ended(&state, pid, a["deadline_ms"].as_u64().unwrap());
    assert!(late < 1500, "ended {late} ms after the deadline");
}

/// A 64 MiB tmpfs of the test's own, unmounted on drop.
struct SmallFs(TempDir);

impl SmallFs {
    fn new(tag: &str) -> Self {
        let d = TempDir::new(tag);
        sh(
            "mount",
            &["-t", "tmpfs", "-o", "size=64m", "tmpfs", d.str()],
        );
        SmallFs(d)
    }

    fn used_mib(&self) -> f64 {
        let c = std::ffi::CString::new(self.0.str()).unwrap();
        // SAFETY: statvfs fills the zeroed struct.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
        ((s.f_blocks - s.f_bfree) * s.f_frsize) as f64 / (1 << 20) as f64
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").args(["-l", self.0.str()]).output();
    }
}

/// A 64 MiB ext4 filesystem of the test's own (an image file, loop-mounted, no reserved
/// blocks), unmounted and deleted on drop.
struct DiskFs {
    /// Holds the image and the mount point; removed after the unmount.
    _dir: TempDir,
    mnt: std::path::PathBuf,
}

impl DiskFs {
    fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let img = dir.path().join("fs.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        sh("truncate", &["-s", "64M", img.to_str().unwrap()]);
        sh("mkfs.ext4", &["-q", "-F", "-m", "0", img.to_str().unwrap()]);
        sh(
            "mount",
            &["-o", "loop", img.to_str().unwrap(), mnt.to_str().unwrap()],
        );
        DiskFs { _dir: dir, mnt }
    }

    fn str(&self) -> &str {
        self.mnt.to_str().unwrap()
    }

    /// (used MiB, used percent as df counts it).
    fn usage(&self) -> (f64, f64) {
        let c = std::ffi::CString::new(self.str()).unwrap();
        // SAFETY: statvfs fills the zeroed struct.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
        let used = (s.f_blocks - s.f_bfree) * s.f_frsize;
        let avail = s.f_bavail * s.f_frsize;
        (
            used as f64 / (1 << 20) as f64,
            used as f64 * 100.0 / (used + avail) as f64,
        )
    }

    fn used_mib(&self) -> f64 {
        self.usage().0
    }

    /// The agent's files left on it.
    fn agent_files(&self) -> usize {
        std::fs::read_dir(&self.mnt)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".faultline"))
            .count()
    }
}

impl Drop for DiskFs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.mnt)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).output();
        }
    }
}

#[test]
fn disk_fills_what_it_says_then_frees_it_and_refuses_to_pass_98_percent() {
    let fs = DiskFs::new("disk-fs");
    let state = TempDir::new("disk");
    let before = fs.used_mib();
    let a = inject(
        &state,
        &[
            "inject",
            "disk",
            "--path",
            fs.str(),
            "--mb",
            "16",
            "--duration",
            "3s",
            "--detach",
        ],
    );
    let grew = fs.used_mib() - before;
    println!("MEASURE disk used grew {grew:.1} MiB for --mb 16");
    assert!((16.0..=17.0).contains(&grew), "grew {grew} MiB");
    let pid = a["guardian_pid"].as_i64().unwrap();
    let late = wait_ended(&state, pid, a["deadline_ms"].as_u64().unwrap());
    assert!(late < 1500, "ended {late} ms after the deadline");
    assert!(fs.used_mib() - before < 0.5, "space not freed");
    assert_eq!(fs.agent_files(), 0);

    // 63 MiB of 64 would pass 98 %: refused, nothing written, nothing recorded.
    let out = Command::new(AGENT)
        .arg("--state-dir")
        .arg(state.path())
        .args([
            "inject",
            "disk",
            "--path",
            fs.str(),
            "--mb",
            "63",
            "--duration",
            "3s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("98 %"), "{err}");
    assert!(fs.used_mib() - before < 0.5);
    assert!(state_files(state.path()).is_empty());
    // --percent 50 fills up to half.
    let a = inject(
        &state,
        &[
            "inject",
            "disk",
            "--path",
            fs.str(),
            "--percent",
            "50",
            "--duration",
            "2s",
            "--detach",
        ],
    );
    let pct = fs.usage().1;
    assert!((48.5..=51.5).contains(&pct), "used {pct:.1} %");
    wait_ended(
        &state,
        a["guardian_pid"].as_i64().unwrap(),
        a["deadline_ms"].as_u64().unwrap(),
    );
    assert!(fs.used_mib() - before < 0.5);
}

#[test]
fn two_disk_faults_started_together_whose_sum_passes_98_percent_the_second_is_refused() {
    let fs = DiskFs::new("disk2-fs");
    let state = TempDir::new("disk2");
    // Hold the state lock while both agents start, so both plan while the other is pending
    // (checked outside the lock, both would see an empty filesystem and pass).
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state.path().join(".lock"))
        .unwrap();
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let start = || {
        Command::new(AGENT)
            .arg("--state-dir")
            .arg(state.path())
            .args([
                "inject",
                "disk",
                "--path",
                fs.str(),
                "--mb",
                "30",
                "--duration",
                "3s",
                "--detach",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (c1, c2) = (start(), start());
    std::thread::sleep(Duration::from_millis(700));
    drop(lock);
    let outs = [
        c1.wait_with_output().unwrap(),
        c2.wait_with_output().unwrap(),
    ];
    let codes: Vec<_> = outs.iter().map(|o| o.status.code()).collect();
    let ok: Vec<_> = outs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(ok.len(), 1, "exactly one fits: exit codes {codes:?}");
    let refused = outs.iter().find(|o| !o.status.success()).unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{err}");
    assert!(
        err.contains("98 %") && err.contains("other running disk faults"),
        "{err}"
    );
    let a = find(&events(&ok[0].stdout), "applied").clone();
    let pct = fs.usage().1;
    assert!(pct < 98.0, "used {pct:.1} %");
    wait_ended(
        &state,
        a["guardian_pid"].as_i64().unwrap(),
        a["deadline_ms"].as_u64().unwrap(),
    );
    assert_eq!(fs.agent_files(), 0);
}

#[test]
fn a_disk_fault_on_a_tmpfs_is_refused_naming_the_path() {
    let fs = SmallFs::new("disk-tmpfs");
    let state = TempDir::new("disk-tmpfs-state");
    let out = Command::new(AGENT)
        .arg("--state-dir")
        .arg(state.path())
        .args([
            "inject",
            "disk",
            "--path",
            fs.0.str(),
            "--mb",
            "1",
            "--duration",
            "3s",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("path") && err.contains("tmpfs"), "{err}");
    assert!(fs.used_mib() < 0.5, "nothing written");
    assert_eq!(std::fs::read_dir(fs.0.path()).unwrap().count(), 0);
    assert!(state_files(state.path()).is_empty());
}

#[test]
fn io_writes_and_syncs_until_the_deadline_then_removes_its_files() {
    let fs = SmallFs::new("io-fs");
    let state = TempDir::new("io");
    let a = inject(
        &state,
        &[
            "inject",
            "io",
            "--workers",
            "1",
            "--path",
            fs.0.str(),
            "--duration",
            "3s",
            "--detach",
        ],
    );
    let pid = a["guardian_pid"].as_i64().unwrap();
    let written = |pid: i64| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/io"))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("wchar: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let w0 = written(pid);
    poll(
        "the io worker to write 16 MiB",
        Duration::from_secs(5),
        || (written(pid) - w0 >= 16 << 20).then_some(()),
    );
    let late = wait_ended(&state, pid, a["deadline_ms"].as_u64().unwrap());
    assert!(late < 1500, "ended {late} ms after the deadline");
    assert_eq!(
        std::fs::read_dir(fs.0.path()).unwrap().count(),
        0,
        "files left"
    );
}
