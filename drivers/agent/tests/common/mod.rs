//! Helpers for the agent's tests: the built agent binary, network namespaces joined by a veth
//! pair (unique names per test, so tests run in parallel), sockets opened inside a namespace,
//! and probes that measure what a fault does.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The agent under test.
pub const AGENT: &str = env!("CARGO_BIN_EXE_faultline-agent");

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Runs `cmd args`, panicking with its stderr when it fails.
pub fn sh(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    assert!(
        out.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `f` every 10 ms until it returns `Some` or `deadline` passes.
pub fn poll<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("faultline-agent-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// JSON events an agent printed.
pub fn events(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The first event named `name`.
pub fn find<'a>(events: &'a [Value], name: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == name)
        .unwrap_or_else(|| panic!("no {name} event in {events:#?}"))
}

/// Two network namespaces, `a` (where the agent runs) and `b`, joined by a veth pair:
/// `a_if` 10.99.0.1/24 in `a`, `b_if` 10.99.0.2/24 in `b`. Deleted on drop.
pub struct NetPair {
    pub a: String,
    pub b: String,
    pub a_if: String,
    pub b_if: String,
    pub state: TempDir,
}

pub const A_IP: &str = "10.99.0.1";
pub const B_IP: &str = "10.99.0.2";

impl NetPair {
    /// `tag`: 2 to 3 letters, unique per test.
    pub fn new(tag: &str) -> Self {
        let id = std::process::id() % 1_000_000;
        let p = NetPair {
            a: format!("fl-{tag}-a-{id}"),
            b: format!("fl-{tag}-b-{id}"),
            a_if: format!("fa{tag}{id}"),
            b_if: format!("fb{tag}{id}"),
            state: TempDir::new(tag),
        };
        for ns in [&p.a, &p.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            sh("ip", &["netns", "add", ns]);
            sh("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        sh(
            "ip",
            &[
                "-n", &p.a, "link", "add", &p.a_if, "type", "veth", "peer", "name", &p.b_if,
                "netns", &p.b,
            ],
        );
        sh(
            "ip",
            &[
                "-n",
                &p.a,
                "addr",
                "add",
                &format!("{A_IP}/24"),
                "dev",
                &p.a_if,
            ],
        );
        sh(
            "ip",
            &[
                "-n",
                &p.b,
                "addr",
                "add",
                &format!("{B_IP}/24"),
                "dev",
                &p.b_if,
            ],
        );
        sh("ip", &["-n", &p.a, "link", "set", &p.a_if, "up"]);
        sh("ip", &["-n", &p.b, "link", "set", &p.b_if, "up"]);
        sh("ip", &["-n", &p.a, "route", "add", "default", "via", B_IP]);
        p
    }

    /// `nft list ruleset` and `tc qdisc show` in `a`.
    pub fn snapshot(&self) -> (String, String) {
        (
            sh("ip", &["netns", "exec", &self.a, "nft", "list", "ruleset"]),
            sh("ip", &["netns", "exec", &self.a, "tc", "qdisc", "show"]),
        )
    }

    /// The agent in `a` with this pair's state directory.
    pub fn agent(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &self.a,
            AGENT,
            "--state-dir",
            self.state.str(),
        ])
        .args(args);
        c
    }

    /// Runs the agent to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.agent(args).output().expect("running the agent")
    }

    /// State files left in the state directory.
    pub fn state_files(&self) -> Vec<String> {
        state_files(self.state.path())
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        // Stop any guardian still running in the namespace before deleting it.
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.a,
                AGENT,
                "--state-dir",
                self.state.str(),
                "rollback",
                "--all",
            ])
            .output();
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// `*.json` state files in `dir`.
pub fn state_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `f` on a thread that has entered network namespace `ns`; sockets it opens stay there.
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns on this thread only, with a namespace fd we hold.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("namespace thread")
}

/// TCP listeners in `ns` on each port, accepting (and dropping) connections forever.
pub fn tcp_listen(ns: &str, ip: &str, ports: &[u16]) {
    for &port in ports {
        let ip = ip.to_owned();
        let l = in_ns(ns, move || {
            TcpListener::bind((ip.as_str(), port)).expect("bind")
        });
        std::thread::spawn(move || {
            for c in l.incoming() {
                drop(c);
            }
        });
    }
}

/// Whether a TCP connect from `ns` to `ip:port` succeeds within `timeout`.
pub fn tcp_connects(ns: &str, ip: &str, port: u16, timeout: Duration) -> bool {
    let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
    in_ns(ns, move || {
        TcpStream::connect_timeout(&addr, timeout).is_ok()
    })
}

/// A UDP echo server in `ns` on `ip:port`.
pub fn udp_echo(ns: &str, ip: &str, port: u16) {
    let ip = ip.to_owned();
    let s = in_ns(ns, move || {
        UdpSocket::bind((ip.as_str(), port)).expect("bind udp")
    });
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], from);
        }
    });
}

/// Sends `n` numbered UDP probes from `ns` to the echo server; returns how many were lost.
pub fn udp_lost(ns: &str, ip: &str, port: u16, n: u32) -> u32 {
    let dst: SocketAddr = format!("{ip}:{port}").parse().unwrap();
    in_ns(ns, move || {
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut lost = 0;
        let mut buf = [0u8; 64];
        for seq in 0..n {
            // A packet dropped in the output path fails the send with EPERM: that is a loss.
            if s.send_to(&seq.to_be_bytes(), dst).is_err() {
                lost += 1;
                continue;
            }
            let t = Instant::now();
            let got = loop {
                match s.recv_from(&mut buf) {
                    Ok((4, _)) if buf[..4] == seq.to_be_bytes() => break true,
                    Ok(_) => {}
                    Err(_) => break false,
                }
                if t.elapsed() > Duration::from_millis(100) {
                    break false;
                }
            };
            if !got {
                lost += 1;
            }
        }
        lost
    })
}

/// Throughput from `a` to `b` over TCP in bits per second: sends for `secs`, counting what
/// the receiver got after the first 0.5 s (skipping the initial burst).
pub fn tcp_throughput(a: &str, b: &str, ip: &str, port: u16, secs: f64) -> f64 {
    let ip_s = ip.to_owned();
    let l = in_ns(b, move || {
        TcpListener::bind((ip_s.as_str(), port)).expect("bind")
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let mut first: Option<Instant> = None;
        let mut counted = 0u64;
        let mut start_count: Option<Instant> = None;
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
            let now = Instant::now();
            let f = *first.get_or_insert(now);
            if now.duration_since(f) >= Duration::from_millis(500) {
                let s = *start_count.get_or_insert(now);
                let _ = s;
                counted += n as u64;
            }
        }
        let span = start_count
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(1.0);
        tx.send(counted as f64 * 8.0 / span).unwrap();
    });
    let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
    in_ns(a, move || {
        let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        let buf = vec![0x42u8; 1 << 16];
        let t = Instant::now();
        while t.elapsed().as_secs_f64() < secs {
            c.write_all(&buf).unwrap();
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("receiver result")
}

/// A running agent whose stdout events arrive on a channel.
pub struct Running {
    pub child: Child,
    lines: mpsc::Receiver<Value>,
    pub seen: Vec<Value>,
}

impl Running {
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the agent");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&l) {
                    let _ = tx.send(v);
                }
            }
        });
        Running {
            child,
            lines: rx,
            seen: vec![],
        }
    }

    /// Waits for the event `name`.
    pub fn wait_for(&mut self, name: &str, deadline: Duration) -> Value {
        let t = Instant::now();
        loop {
            if let Some(v) = self.seen.iter().find(|v| v["event"] == name) {
                return v.clone();
            }
            let left = deadline.checked_sub(t.elapsed()).unwrap_or_else(|| {
                panic!("no {name} event within {deadline:?}; got {:#?}", self.seen)
            });
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    if v["event"] == "error" {
                        panic!("the agent failed: {v}");
                    }
                    self.seen.push(v)
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("the agent exited without {name}; got {:#?}", self.seen)
                }
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pid liveness via /proc (a zombie counts as gone).
pub fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let st = s
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("");
            st != "Z" && st != "X"
        })
        .unwrap_or(false)
}

/// The three network faults the cancel and abort tests cover, as `inject` arguments.
pub fn fault(kind: &str, iface: &str, duration: &str) -> Vec<String> {
    let mut a: Vec<String> = match kind {
        "blackhole" => vec!["blackhole".into(), "--to".into(), B_IP.into()],
        "loss" => vec!["loss".into(), "--percent".into(), "50".into()],
        "bandwidth" => vec!["bandwidth".into(), "--rate".into(), "10mbit".into()],
        other => panic!("no such fault in these tests: {other}"),
    };
    a.insert(0, "inject".into());
    a.extend(["--interface".into(), iface.into()]);
    a.extend(["--duration".into(), duration.into()]);
    a
}

/// Whether `ns` still holds anything a fault adds: a faultline nftables table or a root htb
/// qdisc on `iface`. Runs `nft` and `tc` from a thread inside the namespace (cheaper than
/// `ip netns exec`, so the polling is fine-grained).
pub fn rules_left_here(iface: &str) -> bool {
    let nft = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    let tc = Command::new("tc")
        .args(["qdisc", "show", "dev", iface, "root"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&nft.stdout).contains("faultline_")
        || String::from_utf8_lossy(&tc.stdout).contains("htb")
}

/// [`rules_left_here`] in namespace `ns`.
pub fn rules_left(ns: &str, iface: &str) -> bool {
    let iface = iface.to_owned();
    in_ns(ns, move || rules_left_here(&iface))
}

/// The last line of `events.jsonl` about fault `id`.
pub fn last_line_for(events: &str, id: &str) -> String {
    events
        .lines()
        .rev()
        .find(|l| l.contains(&format!("\"id\":\"{id}\"")))
        .unwrap_or_else(|| panic!("no event for {id} in {events}"))
        .to_owned()
}

/// The median of `v` (the upper one for an even count).
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A VM image built by `tests/vm/build-initramfs.sh` (kernel and initramfs in `dir`), held
/// under the VM lock until dropped: one VM at a time, since software emulation is CPU-bound and
/// two at once would measure each other's load, not the agent.
pub struct VmImage {
    /// `vmlinuz` and `initramfs.cpio.gz`.
    pub dir: TempDir,
    /// The download cache (`~/.cache/faultline/vm`), with `busybox/bin/busybox`.
    pub cache: PathBuf,
    _lock: File,
}

/// Takes the VM lock and builds the image into a fresh directory named after `tag`.
pub fn vm_image(tag: &str) -> VmImage {
    let cache = PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
        .join(".cache/faultline/vm");
    std::fs::create_dir_all(&cache).unwrap();
    let lock = File::create(cache.join(".vm.lock")).unwrap();
    // SAFETY: flock on a file held open until the image is dropped (released then).
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let dir = TempDir::new(tag);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vm/build-initramfs.sh");
    let built = Command::new(script)
        .arg(AGENT)
        .arg(&cache)
        .arg(dir.path())
        .output()
        .expect("running build-initramfs.sh");
    assert!(
        built.status.success(),
        "building the VM image failed (the test needs `apt-get download` of \
         linux-image-*-cloud-amd64 and busybox-static to work): {}",
        String::from_utf8_lossy(&built.stderr)
    );
    VmImage {
        dir,
        cache,
        _lock: lock,
    }
}

/// Boots `image` with `append` on the kernel command line (within `timeout_s`) and returns its
/// result lines (after "FLVM "), asserting it finished ("done").
pub fn boot_vm(image: &VmImage, append: &str, timeout_s: u32) -> Vec<String> {
    let qemu = Command::new("timeout")
        .arg(timeout_s.to_string())
        .arg("qemu-system-x86_64")
        .args([
            "-accel",
            "tcg",
            "-m",
            "512",
            "-smp",
            "1",
            "-nographic",
            "-no-reboot",
        ])
        .args(["-nic", "none", "-kernel"])
        .arg(image.dir.path().join("vmlinuz"))
        .arg("-initrd")
        .arg(image.dir.path().join("initramfs.cpio.gz"))
        .args(["-append", append])
        .output()
        .expect("running qemu-system-x86_64 (apt-get install qemu-system-x86; .ci/run does)");
    let console = String::from_utf8_lossy(&qemu.stdout);
    let lines: Vec<String> = console
        .lines()
        .filter_map(|l| l.find("FLVM ").map(|i| l[i + 5..].to_owned()))
        .collect();
    assert!(
        lines.iter().any(|l| l == "done"),
        "the VM did not finish ({}): {console}\n{}",
        qemu.status,
        String::from_utf8_lossy(&qemu.stderr)
    );
    lines
}

/// The first VM line starting with `prefix`.
pub fn vm_line(lines: &[String], prefix: &str) -> String {
    lines
        .iter()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} line: {lines:#?}"))
        .clone()
}

/// The agent's events the VM printed after `prefix` ("agent ", "rollback ").
pub fn vm_events(lines: &[String], prefix: &str) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str(l.strip_prefix(prefix)?).ok())
        .collect()
}
