//! The faultline layer's `getaddrinfo` shim, `libfaultline_deny.so`, built from `deny.c` by
//! this crate's build script. Tests and the packaging script find it through [`SO_PATH`];
//! `scripts/package-layer` (under `layer/`) builds it the same way for the layer zip.

/// Where the build script put `libfaultline_deny.so`.
pub const SO_PATH: &str = env!("FAULTLINE_DENY_SO");
