//! The shim loaded in-process (`dlopen`): it compiles the deny-list file once and reuses the
//! compiled patterns until the file changes, and the costliest pattern the engine accepts
//! (`layer/engine/src/pattern.rs`) keeps a lookup fast.

use std::ffi::{c_char, c_int, c_void, CString};
use std::time::{Duration, Instant};

const RTLD_NOW: c_int = 2;
const EAI_NONAME: c_int = -2;
const AI_NUMERICHOST: c_int = 4;

/// `struct addrinfo` (glibc, 64-bit), for the hints.
#[repr(C)]
struct AddrInfo {
    ai_flags: c_int,
    ai_family: c_int,
    ai_socktype: c_int,
    ai_protocol: c_int,
    ai_addrlen: u32,
    ai_addr: *mut c_void,
    ai_canonname: *mut c_char,
    ai_next: *mut c_void,
}

extern "C" {
    fn dlopen(file: *const c_char, mode: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
    fn freeaddrinfo(res: *mut c_void);
}

type GetAddrInfo =
    unsafe extern "C" fn(*const c_char, *const c_char, *const c_void, *mut *mut c_void) -> c_int;
type Compiles = unsafe extern "C" fn() -> std::ffi::c_ulong;

struct Shim {
    gai: GetAddrInfo,
    compiles: Compiles,
}

impl Shim {
    fn load() -> Shim {
        let so = CString::new(faultline_deny_shim::SO_PATH).unwrap();
        // SAFETY: loading our own shim and looking up two symbols with known signatures.
        unsafe {
            let h = dlopen(so.as_ptr(), RTLD_NOW);
            assert!(!h.is_null(), "dlopen {}", faultline_deny_shim::SO_PATH);
            let gai = dlsym(h, c"getaddrinfo".as_ptr());
            let compiles = dlsym(h, c"faultline_deny_compiles".as_ptr());
            assert!(!gai.is_null(), "no getaddrinfo in the shim");
            assert!(!compiles.is_null(), "the shim exports no compile counter");
            Shim {
                gai: std::mem::transmute::<*mut c_void, GetAddrInfo>(gai),
                compiles: std::mem::transmute::<*mut c_void, Compiles>(compiles),
            }
        }
    }

    /// The return code of `getaddrinfo(host)`; numeric-only hosts (no DNS) when `numeric`.
    fn lookup(&self, host: &str, numeric: bool) -> c_int {
        let h = CString::new(host).unwrap();
        let hints = AddrInfo {
            ai_flags: if numeric { AI_NUMERICHOST } else { 0 },
            ai_family: 0,
            ai_socktype: 0,
            ai_protocol: 0,
            ai_addrlen: 0,
            ai_addr: std::ptr::null_mut(),
            ai_canonname: std::ptr::null_mut(),
            ai_next: std::ptr::null_mut(),
        };
        let mut res: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid C strings and hints, an out pointer we free when set.
        let rc = unsafe {
            (self.gai)(
                h.as_ptr(),
                std::ptr::null(),
                std::ptr::addr_of!(hints).cast(),
                &mut res,
            )
        };
        if rc == 0 && !res.is_null() {
            unsafe { freeaddrinfo(res) };
        }
        rc
    }

    /// Whether the shim refuses `host`, which the real resolver resolves (`localhost`).
    fn denied(&self, host: &str) -> bool {
        let rc = self.lookup(host, false);
        assert!(rc == 0 || rc == EAI_NONAME, "{host}: getaddrinfo {rc}");
        rc == EAI_NONAME
    }

    fn compiles(&self) -> std::ffi::c_ulong {
        // SAFETY: a plain C function without arguments.
        unsafe { (self.compiles)() }
    }
}

/// The costliest deny pattern `check_deny_pattern` accepts (its `WORST_ACCEPTED`): four
/// label-sized optional runs, 254 elements once expanded.
const WORST_ACCEPTED: &str = "[a-z0-9-]{0,63}[a-z0-9-]{0,63}[a-z0-9-]{0,63}[a-z0-9-]{0,63}x$";

#[test]
fn compiles_once_until_the_file_changes_and_the_worst_accepted_pattern_stays_fast() {
    let dir = std::env::temp_dir().join(format!("faultline-shim-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(".faultline-denylist");
    // The only test in this binary: nothing else reads the environment concurrently.
    std::env::set_var("FAULTLINE_DENYLIST_FILE", &file);
    let shim = Shim::load();

    std::fs::write(&file, format!("{WORST_ACCEPTED}\n^blocked\\.example$\n")).unwrap();
    let start = shim.compiles();
    assert!(!shim.denied("localhost"));
    // A 253-character name that the worst pattern almost matches: the slowest case. Numeric
    // only, so the real resolver answers at once and the time is the shim's.
    let long = format!("{}.y", "a".repeat(251));
    let t = Instant::now();
    for _ in 0..20 {
        shim.lookup(&long, true);
    }
    let per_lookup = t.elapsed() / 20;
    assert!(!shim.denied("localhost"));
    assert_eq!(
        shim.compiles() - start,
        1,
        "patterns recompiled on a lookup"
    );
    // Measured: ~0.1 ms to compile, ~20 ms to match on a busy 2-core machine; before the
    // cap, `[a-z0-9-]{1,32767}` took 47.6 s to compile, on every lookup.
    assert!(
        per_lookup < Duration::from_millis(500),
        "a lookup took {per_lookup:?} with the worst accepted pattern"
    );

    // A changed file is recompiled once, and its new patterns apply.
    std::fs::write(&file, "^LocalHost$\n").unwrap();
    assert!(shim.denied("localhost"));
    assert!(shim.denied("localhost"));
    assert_eq!(shim.compiles() - start, 2);

    // No file, no denial, no compile.
    std::fs::remove_file(&file).unwrap();
    assert!(!shim.denied("localhost"));
    assert_eq!(shim.compiles() - start, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
