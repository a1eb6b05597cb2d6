//! Where things are: the workspace root, the project venv with moto and cargo-lambda, and the
//! workspace's built binaries. Found, never built or installed here: a missing piece fails with
//! a message naming the command that provides it.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The project venv holding moto and cargo-lambda (see `scripts/local-aws`).
pub fn venv() -> PathBuf {
    std::env::var_os("FAULTLINE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/faultline/venv")
        })
}

/// A tool installed in the venv's `bin/` (`moto_server`, `cargo-lambda`).
pub(crate) fn tool(name: &str) -> Result<PathBuf> {
    let p = venv().join("bin").join(name);
    if p.exists() {
        Ok(p)
    } else {
        bail!(
            "{} not found: run `scripts/local-aws install` (or `make test`, which does) to create \
             the venv, or point FAULTLINE_VENV at one that has it",
            p.display()
        )
    }
}

/// A built binary of this workspace, in the same target profile directory as this executable.
pub fn built_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // Test executables live in target/<profile>/deps/, other binaries in target/<profile>/.
    let dir = exe
        .parent()
        .map(|d| {
            if d.ends_with("deps") {
                d.parent().unwrap_or(d)
            } else {
                d
            }
        })
        .ok_or_else(|| anyhow!("cannot locate the target directory from {}", exe.display()))?;
    let p = dir.join(name);
    if p.exists() {
        Ok(p)
    } else {
        bail!(
            "{} not found: build the binaries first (`cargo build --workspace --bins`; `make test` does)",
            p.display()
        )
    }
}
