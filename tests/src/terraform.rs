//! Terraform against the local AWS, for the tests and `make demo`.
//!
//! - [`Terraform::locate`]: `terraform` on PATH (or `FAULTLINE_TERRAFORM`) and the offline AWS
//!   provider mirror (`FAULTLINE_TF_MIRROR`, or found the way `notes/terraform-offline.md` says);
//!   writes a CLI config pointing at the mirror. Either missing is an error saying so.
//! - [`Scratch`]: a directory removed on drop.
//! - [`stage`]: copies an example (or the root module) into a scratch directory, pointing its
//!   `source = "../.."` at the real module, and with [`moto_override`] adds the test-only
//!   provider override with every endpoint at moto; the module users apply never has it.
//! - [`local_artifacts`]: `dist/<arch>/` as `make package` lays it out, from the dev binaries
//!   (`make package` builds in release, far too slow for tests).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context, Result};
use tokio::process::Command;

use crate::{built_binary, workspace_root, REGION};

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// Creates `<tmp>/faultline-<what>-<pid>-<n>`.
    pub fn new(what: &str) -> Result<Scratch> {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "faultline-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(Scratch(p))
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The terraform binary with a CLI config for the offline mirror.
#[derive(Debug)]
pub struct Terraform {
    bin: PathBuf,
    /// Holds the CLI config and the plugin cache.
    home: Scratch,
}

/// What one terraform command did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Terraform {
    /// Finds terraform and the provider mirror; an error names what is missing and how to
    /// provide it.
    pub fn locate() -> Result<Terraform> {
        let bin = match std::env::var_os("FAULTLINE_TERRAFORM") {
            Some(p) => PathBuf::from(p),
            None => which("terraform").context(
                "terraform is not on PATH: install Terraform >= 1.5 (this machine image carries \
                 1.11 at /usr/local/bin/terraform) or set FAULTLINE_TERRAFORM",
            )?,
        };
        if !bin.is_file() {
            bail!(
                "{} does not exist: point FAULTLINE_TERRAFORM at a terraform binary",
                bin.display()
            );
        }
        let mirror = mirror().context(
            "the offline AWS provider mirror (a folder holding registry.terraform.io/hashicorp/aws) \
             was not found: set FAULTLINE_TF_MIRROR to the folder that contains registry.terraform.io \
             (see ../shared/notes/terraform-offline.md)",
        )?;
        let home = Scratch::new("terraform-home")?;
        std::fs::write(
            home.path().join("cli.tfrc"),
            format!(
                "provider_installation {{\n  filesystem_mirror {{\n    path    = \"{}\"\n    include = [\"registry.terraform.io/*/*\"]\n  }}\n}}\n",
                mirror.display()
            ),
        )?;
        Ok(Terraform { bin, home })
    }

    /// A terraform command in `dir` with the offline CLI config, no prompts, no colour.
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.current_dir(dir)
            .args(args)
            .env("TF_CLI_CONFIG_FILE", self.home.path().join("cli.tfrc"))
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("NO_COLOR", "1")
            .envs(
                ["init", "validate", "plan", "apply", "destroy", "fmt"]
                    .map(|c| (format!("TF_CLI_ARGS_{c}"), "-no-color")),
            )
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// Runs terraform; returns what it printed whatever the exit code.
    pub async fn run(&self, dir: &Path, args: &[&str]) -> Result<Run> {
        let out = self
            .command(dir, args)
            .output()
            .await
            .with_context(|| format!("running {} {}", self.bin.display(), args.join(" ")))?;
        Ok(Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs terraform and fails with its output unless it exits 0.
    pub async fn ok(&self, dir: &Path, args: &[&str]) -> Result<String> {
        let r = self.run(dir, args).await?;
        if r.code != 0 {
            bail!(
                "terraform {} in {} exited {}:\n{}\n{}",
                args.join(" "),
                dir.display(),
                r.code,
                tail(&r.stdout, 60),
                tail(&r.stderr, 60)
            );
        }
        Ok(r.stdout)
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// The folder that contains `registry.terraform.io/hashicorp/aws`.
fn mirror() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FAULTLINE_TF_MIRROR") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let known = [
        PathBuf::from("/opt/tf-plugins"),
        home.join(".terraform.d/plugins"),
        PathBuf::from("/usr/local/share/terraform/plugins"),
        PathBuf::from("/usr/share/terraform/plugins"),
    ];
    let has_aws = |p: &Path| p.join("registry.terraform.io/hashicorp/aws").is_dir();
    if let Some(p) = known.iter().find(|p| has_aws(p)) {
        return Some(p.clone());
    }
    // As notes/terraform-offline.md says: look for it.
    let out = std::process::Command::new("find")
        .args([
            "/",
            "-maxdepth",
            "5",
            "-type",
            "d",
            "-path",
            "*registry.terraform.io/hashicorp",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            Path::new(l)
                .parent()
                .unwrap_or(Path::new("/"))
                .to_path_buf()
        })
        .find(|p| has_aws(p))
}

/// The test-only provider override: every endpoint at moto, static credentials, no account
/// lookups.
pub fn moto_override(endpoint: &str) -> String {
    let services = [
        "autoscaling",
        "cloudwatch",
        "dynamodb",
        "ec2",
        "events",
        "iam",
        "kms",
        "lambda",
        "logs",
        "s3",
        "scheduler",
        "sns",
        "sqs",
        "ssm",
        "sts",
    ];
    let endpoints: String = services
        .iter()
        .map(|s| format!("    {s:<14} = \"{endpoint}\"\n"))
        .collect();
    format!(
        "# Test only: the module users apply never carries this.\nprovider \"aws\" {{\n  region                      = \"{REGION}\"\n  access_key                  = \"testing\"\n  secret_key                  = \"testing\"\n  skip_credentials_validation = true\n  skip_requesting_account_id  = true\n  skip_metadata_api_check     = true\n  s3_use_path_style           = true\n  endpoints {{\n{endpoints}  }}\n}}\n"
    )
}

/// The module's own directory.
pub fn module_dir() -> PathBuf {
    workspace_root().join("terraform")
}

/// Copies `terraform/<rel>`'s `.tf` files (not subdirectories) into `dest`, pointing a
/// `source = "../.."` at the real module; with `endpoint`, adds [`moto_override`] (or, for the
/// root module, which has no provider block, the provider itself).
pub fn stage(rel: &str, dest: &Path, endpoint: Option<&str>) -> Result<()> {
    let src = module_dir().join(rel);
    let module = module_dir();
    let mut has_provider = false;
    for entry in std::fs::read_dir(&src).with_context(|| format!("reading {}", src.display()))? {
        let p = entry?.path();
        if p.extension().and_then(|e| e.to_str()) != Some("tf") {
            continue;
        }
        let text = std::fs::read_to_string(&p)?;
        has_provider |= text.contains("provider \"aws\"");
        let text = text.replace(
            "source = \"../..\"",
            &format!("source = \"{}\"", module.display()),
        );
        // A root module stays a module of its own: `file("${path.module}/documents/...")`.
        let text = text.replace("${path.module}/", &format!("{}/", src.display()));
        std::fs::write(dest.join(p.file_name().unwrap()), text)?;
    }
    if let Some(endpoint) = endpoint {
        let name = if has_provider {
            "moto_override.tf"
        } else {
            "moto_provider.tf"
        };
        std::fs::write(dest.join(name), moto_override(endpoint))?;
    }
    Ok(())
}

/// Lays out `dir/x86_64/` as `make package ARCH=x86_64` would, from the dev binaries: each
/// function's zip with its binary as `bootstrap`, the layer zip with the extension, and the agent.
pub fn local_artifacts(dir: &Path) -> Result<()> {
    let arch = dir.join("x86_64");
    std::fs::create_dir_all(&arch)?;
    for (bin, zip) in [
        ("monkey", "monkey.zip"),
        ("recovery-timer", "recovery-timer.zip"),
        ("notifier", "notifier.zip"),
    ] {
        zip_one(&built_binary(bin)?, "bootstrap", &arch.join(zip))?;
    }
    zip_one(
        &built_binary("faultline-extension")?,
        "extensions/faultline",
        &arch.join("faultline-layer.zip"),
    )?;
    std::fs::copy(
        built_binary("faultline-agent")?,
        arch.join("faultline-agent"),
    )?;
    Ok(())
}

/// Writes a zip holding `file` as `name` (mode 0755), with Python's zipfile (no zip tool needed).
fn zip_one(file: &Path, name: &str, zip: &Path) -> Result<()> {
    let script = "import sys, zipfile\n\
        src, name, out = sys.argv[1:4]\n\
        info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))\n\
        info.external_attr = 0o100755 << 16\n\
        info.compress_type = zipfile.ZIP_DEFLATED\n\
        with open(src, 'rb') as f, zipfile.ZipFile(out, 'w') as z:\n    \
            z.writestr(info, f.read(), compresslevel=1)\n";
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(file)
        .arg(name)
        .arg(zip)
        .status()
        .context("running python3 to zip an artifact")?;
    if !status.success() {
        bail!("zipping {} into {} failed", file.display(), zip.display());
    }
    Ok(())
}
