//! Output: one JSON object per line on stdout for each event (SSM captures stdout), and a line
//! of human text on stderr. The guardian has no terminal; it appends its events to the state
//! directory's `events.jsonl`, from which a waiting `inject` relays the last one.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::time::now_ms;

static LOG: OnceLock<PathBuf> = OnceLock::new();
static TERMINATED: AtomicBool = AtomicBool::new(false);

/// Also append every event to `path` (the guardian's log).
pub fn log_to(path: PathBuf) {
    let _ = LOG.set(path);
}

/// Emits one event: `{"event": name, "ts_ms": .., ...fields}` on stdout, `human` on stderr.
pub fn event(name: &str, fields: Value, human: &str) {
    let mut m = Map::new();
    m.insert("event".into(), Value::from(name));
    m.insert("ts_ms".into(), Value::from(now_ms()));
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    m.insert("message".into(), Value::from(human));
    let line = Value::Object(m).to_string();
    {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    }
    eprintln!("{human}");
    if let Some(p) = LOG.get() {
        // 0600, never through a symlink; one an older agent left 0644 is tightened.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(p)
        {
            if f.metadata()
                .map(|m| m.permissions().mode() & 0o077 != 0)
                .unwrap_or(false)
            {
                let _ = f.set_permissions(std::fs::Permissions::from_mode(0o600));
            }
            let _ = writeln!(f, "{line}");
        }
    }
}

/// A debug event: the same JSON line, on stderr only, and only when `FAULTLINE_AGENT_LOG` is
/// `debug` (what was skipped and why, e.g. no systemd for the backstop timer).
pub fn debug(name: &str, fields: Value, human: &str) {
    if std::env::var("FAULTLINE_AGENT_LOG").as_deref() != Ok("debug") {
        return;
    }
    let mut m = Map::new();
    m.insert("event".into(), Value::from(name));
    m.insert("level".into(), Value::from("debug"));
    m.insert("ts_ms".into(), Value::from(now_ms()));
    if let Value::Object(f) = fields {
        m.extend(f);
    }
    m.insert("message".into(), Value::from(human));
    eprintln!("{}", Value::Object(m));
}

/// Prints a line the guardian logged, as is.
pub fn relay(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
    if let Ok(v) = serde_json::from_str::<Value>(line) {
        eprintln!(
            "{}: {}",
            v["event"].as_str().unwrap_or("event"),
            v["message"].as_str().unwrap_or(line)
        );
    }
}

/// The last line about fault `id` in the guardian's log at `events` (the state directory's
/// `events.jsonl`).
pub fn last_event_for(events: &Path, id: &str) -> Option<String> {
    let text = std::fs::read_to_string(events).ok()?;
    text.lines()
        .rev()
        .find(|l| {
            serde_json::from_str::<Value>(l)
                .map(|v| v["id"] == id)
                .unwrap_or(false)
        })
        .map(str::to_owned)
}

extern "C" fn on_signal(_: libc::c_int) {
    TERMINATED.store(true, Ordering::SeqCst);
}

/// From now on SIGTERM and SIGINT set [`terminated`] instead of killing the process.
pub fn on_terminate() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
}

/// Whether SIGTERM or SIGINT arrived since [`on_terminate`].
pub fn terminated() -> bool {
    TERMINATED.load(Ordering::SeqCst)
}
