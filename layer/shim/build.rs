//! Compiles `deny.c` into `$OUT_DIR/libfaultline_deny.so` with the C compiler the `cc` crate
//! finds, and tells the library where it is.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=deny.c");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let so = out.join("libfaultline_deny.so");
    let compiler = cc::Build::new().cargo_metadata(false).get_compiler();
    let status = Command::new(compiler.path())
        .args([
            "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
        ])
        .arg(&so)
        .arg("deny.c")
        .arg("-ldl")
        .arg("-lpthread")
        .status()
        .expect("running the C compiler for deny.c");
    assert!(status.success(), "compiling deny.c failed");
    println!("cargo:rustc-env=FAULTLINE_DENY_SO={}", so.display());
}
