//! The extension's shipped dependency set, as `layer/package` builds it (the extension alone, so
//! no other package's features are unified into it). Most of the extension's resident memory is
//! its code (`layer/README.md`, "Speed"), so what it links is what it costs in every execution
//! environment: TLS on ring, not aws-lc; no legacy hyper 0.14 client; no SSO credential
//! providers; no regex engines behind the log filter.

use std::path::Path;
use std::process::Command;

/// `cargo tree` of the extension's normal dependencies, one `name vX.Y.Z` per line.
fn shipped_dependencies() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&root)
        .args([
            "tree",
            "--locked",
            "-p",
            "faultline-extension",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .output()
        .expect("running cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(" (").next().unwrap_or(l).trim().to_owned())
        .collect()
}

#[test]
fn the_shipped_extension_links_rustls_on_ring_and_none_of_the_heavy_stacks() {
    let deps = shipped_dependencies();
    let has = |name: &str| deps.iter().any(|d| d.split(' ').next() == Some(name));
    assert!(has("faultline-extension") && has("aws-sdk-ssm"), "{deps:?}");
    assert!(
        has("ring") && has("rustls"),
        "TLS must come from rustls on ring: {deps:?}"
    );
    for heavy in [
        "aws-lc-rs",
        "aws-lc-sys",
        "aws-sdk-sso",
        "aws-sdk-ssooidc",
        "regex-automata",
        "matchers",
    ] {
        assert!(!has(heavy), "{heavy} is back in the extension's tree");
    }
    assert!(
        !deps.iter().any(|d| d.starts_with("hyper v0.")),
        "the legacy hyper 0.14 client is back in the extension's tree"
    );
}
