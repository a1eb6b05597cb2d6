//! What the faults do to the world: the temp-directory fill, the deny-list file the
//! `getaddrinfo` shim reads, the deadline arithmetic, the injected responses and corruption.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

/// The deny-list file's name inside the temp directory; the shim reads
/// `$FAULTLINE_DENYLIST_FILE`, which the wrappers set to this path under `/tmp`.
pub const DENYLIST_FILE: &str = ".faultline-denylist";
/// The `errorType` of an injected exception.
pub const INJECTED_ERROR_TYPE: &str = "FaultlineInjectedException";

/// Bytes free for unprivileged writes in the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// The prefix of every `diskspace` file's name (the rest is a time stamp).
pub const DISKSPACE_PREFIX: &str = ".faultline-diskspace-";

/// Writes `mb` MiB of zeros to a new file in `dir`, never more than the file system has
/// free. Blocking: call it from `spawn_blocking`. Returns the file and the bytes written; a
/// file that could not be written whole is removed.
pub fn fill_disk(dir: &Path, mb: u64) -> std::io::Result<(PathBuf, u64)> {
    let want = mb.saturating_mul(1 << 20);
    let n = want.min(free_bytes(dir)?);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let path = dir.join(format!("{DISKSPACE_PREFIX}{nanos}"));
    let written = (|| {
        let mut f = std::fs::File::create(&path)?;
        let chunk = vec![0u8; 1 << 20];
        let mut left = n;
        while left > 0 {
            let k = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..k])?;
            left -= k as u64;
        }
        f.sync_all()
    })();
    match written {
        Ok(()) => Ok((path, n)),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Removes `path`; one that is already gone is fine.
pub fn remove_file(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The deny-list file path in `dir`.
pub fn denylist_path(dir: &Path) -> PathBuf {
    dir.join(DENYLIST_FILE)
}

/// Writes the patterns (one per line) atomically, or removes the file for `None`.
pub fn set_denylist(dir: &Path, patterns: Option<&[String]>) -> std::io::Result<()> {
    let path = denylist_path(dir);
    match patterns {
        None => remove_file(&path),
        Some(ps) => {
            let tmp = dir.join(format!("{DENYLIST_FILE}.{}", std::process::id()));
            std::fs::write(&tmp, ps.join("\n") + "\n")?;
            std::fs::rename(&tmp, &path)
        }
    }
}

/// How long a `timeout` fault sleeps: until `buffer` before `deadline`.
pub fn timeout_sleep(deadline: SystemTime, now: SystemTime, buffer: Duration) -> Duration {
    deadline
        .checked_sub(buffer)
        .and_then(|wake| wake.duration_since(now).ok())
        .unwrap_or_default()
}

/// The deadline a Runtime API `Lambda-Runtime-Deadline-Ms` header means. Real Lambda sends
/// epoch milliseconds; the cargo-lambda emulator sends the timeout itself (600000), which is
/// read as "that long after the event arrived".
pub fn deadline_from_header(ms: u64, arrived: SystemTime) -> SystemTime {
    if ms < 1_000_000_000_000 {
        arrived + Duration::from_millis(ms)
    } else {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }
}

/// The API Gateway-shaped response a `statuscode` fault returns.
pub fn status_response(code: u16) -> Value {
    json!({
        "statusCode": code,
        "headers": {"Content-Type": "application/json"},
        "body": json!({"message": format!("faultline injected status code {code}")}).to_string(),
    })
}

/// The error object an `exception` fault returns.
pub fn exception_error(message: &str) -> Value {
    json!({"errorType": INJECTED_ERROR_TYPE, "errorMessage": message})
}

/// Replaces the response with `body`, or mangles it: an API Gateway-shaped response keeps its
/// shape with a mangled `body`; anything else is cut in half and marked.
pub fn corrupt(response: &[u8], body: Option<&str>) -> Vec<u8> {
    if let Some(b) = body {
        return b.as_bytes().to_vec();
    }
    if let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(response) {
        if let Some(Value::String(s)) = m.get("body") {
            let mangled = mangle(s.as_bytes());
            m.insert(
                "body".into(),
                Value::String(String::from_utf8_lossy(&mangled).into_owned()),
            );
            return serde_json::to_vec(&Value::Object(m)).unwrap_or_else(|_| mangle(response));
        }
    }
    mangle(response)
}

fn mangle(b: &[u8]) -> Vec<u8> {
    let mut out = b[..b.len() / 2].to_vec();
    out.extend_from_slice("\u{fffd}faultline-corrupted".as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_wakes_buffer_before_deadline() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let deadline = now + Duration::from_secs(3);
        assert_eq!(
            timeout_sleep(deadline, now, Duration::from_millis(500)),
            Duration::from_millis(2_500)
        );
        assert_eq!(
            timeout_sleep(deadline, now, Duration::from_secs(5)),
            Duration::ZERO
        );
    }

    #[test]
    fn deadline_header_epoch_or_emulator_relative() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            deadline_from_header(600_000, t),
            t + Duration::from_secs(600)
        );
        assert_eq!(
            deadline_from_header(1_800_000_003_000, t),
            t + Duration::from_secs(3)
        );
    }

    #[test]
    fn corruption_replaces_or_mangles() {
        assert_eq!(corrupt(b"{\"a\":1}", Some("x")), b"x");
        let api = br#"{"statusCode":200,"body":"{\"ok\":true}"}"#;
        let c: Value = serde_json::from_slice(&corrupt(api, None)).unwrap();
        assert_eq!(c["statusCode"], 200);
        assert_ne!(c["body"], "{\"ok\":true}");
        assert_ne!(corrupt(b"", None), b"");
        assert_ne!(corrupt(b"[1,2,3]", None), b"[1,2,3]");
    }

    #[test]
    fn disk_fill_and_denylist_file() {
        let dir = std::env::temp_dir().join(format!("faultline-effects-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (file, n) = fill_disk(&dir, 2).unwrap();
        assert_eq!(n, 2 << 20);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 2 << 20);
        remove_file(&file).unwrap();
        remove_file(&file).unwrap();
        assert!(!file.exists());
        set_denylist(&dir, Some(&["^a$".into(), "b".into()])).unwrap();
        assert_eq!(
            std::fs::read_to_string(denylist_path(&dir)).unwrap(),
            "^a$\nb\n"
        );
        set_denylist(&dir, None).unwrap();
        set_denylist(&dir, None).unwrap();
        assert!(!denylist_path(&dir).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
