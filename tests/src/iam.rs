//! The IAM consistency check's two halves: the AWS operations each function's code calls,
//! collected from the source, and the actions each function's policy document in
//! `terraform/iam.tf` allows.
//!
//! # Collecting operations from the source
//!
//! Every SDK call lives in an adapter under `functions/core/src/aws/`, on a parameter named
//! `client` whose type (`&aws_sdk_ec2::Client`, `&aws_sdk_dynamodb::Client`) names the service:
//! the crate's suffix is the IAM service prefix (`ec2`, `autoscaling`, `ssm`, `sns`,
//! `cloudwatch`, `dynamodb`, `lambda`, `s3`, `scheduler`; `aws_sdk_resourcegroupstagging` is `tag`). Starting from every function
//! in a Lambda crate's `src/` (tests removed), calls are followed through `faultline-core`:
//! `module::name(` to that module's function, a bare `name(` to a function imported with `use
//! faultline_core::...`, and inside core a bare or method call to a function of the same module.
//! `client.describe_instances()` in a reached adapter is `ec2:DescribeInstances`
//! (`client.put_item()` with an `aws_sdk_dynamodb::Client` is `dynamodb:PutItem`); a direct
//! `.ssm.get_parameter()` or `.dynamodb.query()` on a client field anywhere reached counts too. Resolution is by name and so slightly
//! loose, but every mistake shows as a difference and fails the test: it can over-report (a
//! permission the policy lacks) or under-report (a permission that looks stale), never hide one.
//!
//! # Reading the policy
//!
//! `data "aws_iam_policy_document" "<function>"` blocks, their `statement` blocks' `sid` and
//! `actions`. Statements whose Sid starts with `Runtime` are what Lambda itself needs on the
//! function's behalf (logs, dead-letter queue, KMS for the encrypted topic and queue, and
//! `kms:Decrypt` that DynamoDB calls as the function to read the records table's key); they are
//! not SDK calls and are checked against [`RUNTIME_ACTIONS`] instead.
//!
//! Actions are compared, not resources: which table, index or key a statement names is checked
//! on the deployed policies after `terraform apply` (`tests/tests/terraform.rs`).
//!
//! Long by design: one check's two halves (calls in code, actions in policy) read side by side.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, Context, Result};
use regex::Regex;

/// The only actions a `Runtime…` statement may grant.
pub const RUNTIME_ACTIONS: &[&str] = &[
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "sqs:SendMessage",
    "kms:Decrypt",
    "kms:GenerateDataKey",
];

/// Permissions AWS checks as part of another call rather than as a call of their own:
/// (permission, the call that needs it). Tagging on create (`TagSpecifications`) needs
/// `ec2:CreateTags`, which the policy limits to that create with `ec2:CreateAction`.
/// Creating a schedule whose target names a role needs `iam:PassRole` on that role, which the
/// policy limits to the scheduler with `iam:PassedToService`.
pub const IMPLIED: &[(&str, &str)] = &[
    ("ec2:CreateTags", "ec2:CreateNetworkAcl"),
    ("iam:PassRole", "scheduler:CreateSchedule"),
];

/// The Lambda functions: (policy document name in iam.tf, crate directory).
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("monkey", "functions/monkey"),
    ("recovery_timer", "functions/recovery-timer"),
    ("notifier", "functions/notifier"),
];

/// Libraries besides core whose calls are followed (read when present): crate directories.
pub const LIBRARIES: &[&str] = &["functions/report", "drivers/report", "report"];

/// `<root>/functions/report/src` -> `faultline_report` (the crate's directory name, prefixed).
fn crate_name(src: &Path) -> String {
    let dir = src
        .parent()
        .and_then(|d| d.file_name())
        .map(|d| d.to_string_lossy().replace('-', "_"))
        .unwrap_or_default();
    format!("faultline_{dir}")
}

/// One Rust function found in the source.
#[derive(Debug, Clone)]
struct Func {
    /// Its text, signature and body, with comments and string contents blanked.
    text: String,
}

/// The sources the collection reads, loaded once; tests may edit them to prove the check
/// notices a change.
#[derive(Debug, Clone)]
pub struct Sources {
    /// Core modules by name (file stem: `round`, `ssm`, `observe`), cleaned text.
    pub core: BTreeMap<String, String>,
    /// Whether a core module sits in `aws/` (an adapter).
    adapters: BTreeSet<String>,
    /// Lambda crate dir → its files' cleaned text.
    pub crates: BTreeMap<String, Vec<String>>,
}

impl Sources {
    /// Reads `functions/core/src/**.rs` (module directories included) and each Lambda crate's
    /// `src/**.rs`.
    pub fn load(root: &Path) -> Result<Sources> {
        let mut core: BTreeMap<String, String> = BTreeMap::new();
        let mut adapters = BTreeSet::new();
        let mut files = Vec::new();
        let src = root.join("functions/core/src");
        collect_rs(&src, &mut files)?;
        let mut sources: Vec<(std::path::PathBuf, std::path::PathBuf)> =
            files.into_iter().map(|f| (src.clone(), f)).collect();
        // The other libraries the functions call into (`faultline_report::...`), read like
        // core; their modules that name an SDK client are adapters.
        for dir in LIBRARIES {
            let lib = root.join(dir).join("src");
            if lib.is_dir() {
                let mut files = Vec::new();
                collect_rs(&lib, &mut files)?;
                sources.extend(files.into_iter().map(|f| (lib.clone(), f)));
            }
        }
        let client = Regex::new(r"aws_sdk_[a-z0-9]+::Client\b").unwrap();
        for (src, path) in sources {
            let in_core = src.starts_with(root.join("functions/core"));
            let rel = path.strip_prefix(&src)?.to_path_buf();
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            // A module is named by its file (`round.rs` -> round) or its directory
            // (`spec/mod.rs` -> spec); files inside a module directory (`spec/validate.rs`)
            // keep their own stem. Two files with one name are read as one module: looser,
            // never hiding a call. Another library's `lib.rs` is its crate
            // (`faultline_report::write(`).
            let name = match (stem.as_str(), rel.parent().and_then(|d| d.file_name())) {
                ("lib", None) if in_core => continue,
                ("lib", None) => crate_name(&src),
                ("mod", Some(dir)) => dir.to_string_lossy().to_string(),
                _ => stem,
            };
            let text = clean(&std::fs::read_to_string(&path)?);
            let is_adapter = if in_core {
                rel.starts_with("aws")
            } else {
                client.is_match(&text)
            };
            if is_adapter {
                adapters.insert(name.clone());
            }
            let module = core.entry(name).or_default();
            module.push('\n');
            module.push_str(&text);
        }
        let mut crates = BTreeMap::new();
        for (_, dir) in FUNCTIONS {
            let mut files = Vec::new();
            collect_rs(&root.join(dir).join("src"), &mut files)?;
            let texts = files
                .iter()
                .map(|p| std::fs::read_to_string(p).map(|t| clean(&t)))
                .collect::<std::io::Result<Vec<_>>>()?;
            crates.insert((*dir).to_owned(), texts);
        }
        Ok(Sources {
            core,
            adapters,
            crates,
        })
    }

    /// The `service:Operation` set the crate at `crate_dir` can call.
    pub fn operations(&self, crate_dir: &str) -> Result<BTreeSet<String>> {
        let files = self
            .crates
            .get(crate_dir)
            .with_context(|| format!("{crate_dir} is not a known Lambda crate"))?;
        let index: BTreeMap<(String, String), Func> = self
            .core
            .iter()
            .flat_map(|(m, text)| {
                functions(text)
                    .into_iter()
                    .map(move |(name, f)| ((m.clone(), name), f))
            })
            .collect();
        let path_call =
            Regex::new(r"\b([a-z_][a-z0-9_]*)::([a-z_][a-z0-9_]*)\s*(?:::<[^>]*>)?\(").unwrap();
        let bare_call = Regex::new(r"(?:^|[^.:A-Za-z0-9_])([a-z_][a-z0-9_]*)\s*\(").unwrap();
        let method_call = Regex::new(r"\.\s*([a-z_][a-z0-9_]*)\s*(?:::<[^>]*>)?\(").unwrap();
        let self_call = Regex::new(r"\bSelf::([a-z_][a-z0-9_]*)\s*\(").unwrap();
        let client_op = Regex::new(r"\bclient\s*\.\s*([a-z_][a-z0-9_]*)\s*\(\s*\)").unwrap();
        let field_op = Regex::new(
            r"\.\s*(ec2|autoscaling|ssm|sns|cloudwatch|dynamodb|s3|scheduler)\s*\.\s*([a-z_][a-z0-9_]*)\s*\(\s*\)",
        )
        .unwrap();
        let client_type = Regex::new(r"aws_sdk_([a-z0-9]+)::Client\b").unwrap();
        let type_call =
            Regex::new(r"\b([A-Z][A-Za-z0-9_]*)::([a-z_][a-z0-9_]*)\s*(?:::<[^>]*>)?\(").unwrap();
        let core_imports: BTreeMap<&String, Vec<(String, String)>> = self
            .core
            .iter()
            .map(|(m, text)| (m, core_type_imports(text)))
            .collect();

        let mut ops = BTreeSet::new();
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        let mut work: Vec<(String, String)> = Vec::new();
        let direct = |text: &str, ops: &mut BTreeSet<String>| {
            for c in field_op.captures_iter(text) {
                ops.insert(format!("{}:{}", &c[1], pascal(&c[2])));
            }
        };

        for file in files {
            direct(file, &mut ops);
            let imports = imported_items(file);
            // A type imported from a core module (`use faultline_core::monkey::Monkey`): the
            // methods the file calls may be that module's (`monkey.handle(`).
            for module in imported_type_modules(file) {
                for c in method_call.captures_iter(file) {
                    work.push((module.clone(), c[1].to_owned()));
                }
            }
            for c in path_call.captures_iter(file) {
                work.push((c[1].to_owned(), c[2].to_owned()));
            }
            for c in bare_call.captures_iter(file) {
                if let Some(m) = imports.get(&c[1]) {
                    work.push((m.clone(), c[1].to_owned()));
                }
            }
        }
        while let Some(key) = work.pop() {
            let Some(f) = index.get(&key) else { continue };
            if !seen.insert(key.clone()) {
                continue;
            }
            let (module, _) = &key;
            direct(&f.text, &mut ops);
            if self.adapters.contains(module) {
                let mut services: BTreeSet<&str> = client_type
                    .captures_iter(&f.text)
                    .map(|c| c.get(1).unwrap().as_str())
                    .collect();
                if services.is_empty() {
                    // A method of a type that holds the client (`self.client.put_item()` in
                    // `impl Records`, whose field is `client: &aws_sdk_dynamodb::Client`): the
                    // clients the adapter's module names.
                    services = client_type
                        .captures_iter(&self.core[module])
                        .map(|c| c.get(1).unwrap().as_str())
                        .collect();
                }
                for c in client_op.captures_iter(&f.text) {
                    let [service] = services.iter().copied().collect::<Vec<_>>()[..] else {
                        bail!(
                            "{module}::{}: `client.{}()` but the function names {} SDK clients \
                             ({services:?}); keep one `client: &aws_sdk_X::Client` per adapter",
                            key.1,
                            &c[1],
                            services.len()
                        );
                    };
                    // The crate's suffix is the IAM prefix (`aws_sdk_s3` -> s3,
                    // `aws_sdk_scheduler` -> scheduler), but for the tagging API's.
                    let service = match service {
                        "resourcegroupstagging" => "tag",
                        "s3" => "s3",
                        "scheduler" => "scheduler",
                        other => other,
                    };
                    ops.insert(format!("{service}:{}", pascal(&c[1])));
                }
            }
            for c in path_call.captures_iter(&f.text) {
                work.push((c[1].to_owned(), c[2].to_owned()));
            }
            for re in [&bare_call, &method_call, &self_call] {
                for c in re.captures_iter(&f.text) {
                    work.push((module.clone(), c[1].to_owned()));
                }
            }
            // A type this module imports from another core module (`use
            // crate::aws::records::{Created, Records}`), named in this function: its
            // `Type::name(` calls, and the function's method calls, may be that module's
            // (`Records::new(..)` then `records.create(..)`).
            for (other, ty) in core_imports.get(module).into_iter().flatten() {
                if !Regex::new(&format!(r"\b{ty}\b"))?.is_match(&f.text) {
                    continue;
                }
                for c in type_call.captures_iter(&f.text) {
                    if &c[1] == ty {
                        work.push((other.clone(), c[2].to_owned()));
                    }
                }
                for c in method_call.captures_iter(&f.text) {
                    work.push((other.clone(), c[1].to_owned()));
                }
            }
        }
        Ok(ops)
    }
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = entry?.path();
        if p.is_dir() {
            collect_rs(&p, out)?;
        } else if p.extension().and_then(|e| e.to_str()) == Some("rs") {
            out.push(p);
        }
    }
    out.sort();
    Ok(())
}

/// `describe_auto_scaling_groups` → `DescribeAutoScalingGroups`.
fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `use faultline_core::a::b::{c, d as e}` → items c, d (and e) from module b (`self` → b
/// itself, which path calls `b::x(` already cover). Only lowercase items (functions, modules)
/// matter to calls.
fn imported_items(file: &str) -> BTreeMap<String, String> {
    let use_re = Regex::new(
        r"use\s+(faultline_(?:core|report))::([A-Za-z0-9_:]*?)(?:::)?(\{[^;]*\}|[A-Za-z0-9_]+)\s*;",
    )
    .unwrap();
    let mut out = BTreeMap::new();
    for c in use_re.captures_iter(file) {
        let path = c[2].trim_end_matches(':');
        let module = match path.rsplit("::").next().unwrap_or("") {
            // `use faultline_report::write`: the other library's crate root.
            "" if &c[1] != "faultline_core" => c[1].to_owned(),
            m => m.to_owned(),
        };
        let items = c[3].trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let item = item.split(" as ").next().unwrap_or("").trim();
            if item.is_empty() || item == "self" || item.contains("::") || item.contains('{') {
                continue;
            }
            if item.starts_with(|ch: char| ch.is_ascii_lowercase()) && !module.is_empty() {
                out.insert(item.to_owned(), module.clone());
            }
        }
    }
    out
}

/// The core modules a file imports a type from (`use faultline_core::monkey::Monkey` ->
/// monkey).
fn imported_type_modules(file: &str) -> BTreeSet<String> {
    let use_re = Regex::new(
        r"use\s+(faultline_(?:core|report))::([A-Za-z0-9_:]*?)(?:::)?(\{[^;]*\}|[A-Za-z0-9_]+)\s*;",
    )
    .unwrap();
    let mut out = BTreeSet::new();
    for c in use_re.captures_iter(file) {
        let module = match c[2].trim_end_matches(':').rsplit("::").next().unwrap_or("") {
            "" if &c[1] != "faultline_core" => &c[1],
            m => m,
        };
        let items = c[3].trim_start_matches('{').trim_end_matches('}');
        if !module.is_empty()
            && items
                .split(',')
                .any(|i| i.trim().starts_with(|ch: char| ch.is_ascii_uppercase()))
        {
            out.insert(module.to_owned());
        }
    }
    out
}

/// The types a core module imports from another core module: `use crate::aws::records::{Created,
/// Records}` and `use super::records::Records` give (records, Created) and (records, Records);
/// `use crate::aws::{records::Records, Aws}` gives (records, Records) and (aws, Aws). Only
/// capitalised items (types) count.
fn core_type_imports(text: &str) -> Vec<(String, String)> {
    let use_re = Regex::new(
        r"use\s+(?:crate|super|self)::([A-Za-z0-9_:]*?)(?:::)?(\{[^;]*\}|[A-Za-z0-9_]+)\s*;",
    )
    .unwrap();
    let mut out = Vec::new();
    for c in use_re.captures_iter(text) {
        let path = c[1].trim_end_matches(':');
        let module = path.rsplit("::").next().unwrap_or("").to_owned();
        let mut inner_module: Option<String> = None;
        for item in c[2].split(',') {
            let item = item.split(" as ").next().unwrap_or("").trim();
            // `records::{Created` opens a nested group; `Records}` closes it.
            let opens = item.contains('{');
            let closes = item.contains('}');
            let item = item.trim_matches(|ch| ch == '{' || ch == '}').trim();
            let (m, name) = match item.rsplit_once("::") {
                Some((p, n)) => {
                    let p = p
                        .trim_end_matches(':')
                        .trim_end_matches('{')
                        .trim_end_matches(':');
                    let m = p.rsplit("::").next().unwrap_or("").to_owned();
                    if opens {
                        inner_module = Some(m.clone());
                    }
                    (
                        m,
                        n.trim_matches(|ch| ch == '{' || ch == '}')
                            .trim()
                            .to_owned(),
                    )
                }
                None => (
                    inner_module.clone().unwrap_or_else(|| module.clone()),
                    item.to_owned(),
                ),
            };
            if closes && !opens {
                inner_module = None;
            }
            if !m.is_empty() && name.starts_with(|ch: char| ch.is_ascii_uppercase()) {
                out.push((m, name));
            }
        }
    }
    out
}

/// Blanks comments and the contents of string and char literals (keeping newlines), then the
/// `#[cfg(test)]` items, so braces and words in them cannot confuse the scan.
pub fn clean(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied().unwrap_or('\0');
        if c == '/' && next == '/' {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == '*' {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == '"' || next == '#') && !prev_is_ident(&b, i) {
            // Raw string r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            out.push('"');
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                out.push(blank(b[j]));
                j += 1;
            }
            out.push('"');
            for _ in 0..(i + 1 + hashes).saturating_sub(i + 1) {
                out.push(' ');
            }
            i = j;
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == '\\' {
                out.push_str("' ");
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    out.push(' ');
                    i += 1;
                }
                out.push('\'');
                i += 1;
            } else if b.get(i + 2) == Some(&'\'') {
                out.push_str("' '");
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    strip_cfg_test(&out)
}

fn prev_is_ident(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == '_')
}

/// Blanks every item that follows `#[cfg(test)]` (a test module or function).
fn strip_cfg_test(s: &str) -> String {
    let mut out = s.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let Some(open) = out[at..].find(['{', ';']).map(|o| at + o) else {
            break;
        };
        let end = if out.as_bytes()[open] == b';' {
            open + 1
        } else {
            matching(&out, open).unwrap_or(out.len())
        };
        let blanked: String = out[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(at..end, &blanked);
    }
    out
}

/// The index just past the brace that closes the one at `open`.
fn matching(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (k, ch) in s[open..].char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + k + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Every `fn name` with a body in `text` (top level, impls, nested).
fn functions(text: &str) -> Vec<(String, Func)> {
    let re = Regex::new(r"\bfn\s+([a-z_][a-z0-9_]*)").unwrap();
    let mut out = Vec::new();
    for c in re.captures_iter(text) {
        let start = c.get(0).unwrap().start();
        // The body opens at the first `{` outside (), [] and <>; a `;` first means no body.
        let mut depth = 0i32;
        let mut body = None;
        for (k, ch) in text[start..].char_indices() {
            match ch {
                '(' | '[' => depth += 1,
                ')' | ']' => depth -= 1,
                '{' if depth == 0 => {
                    body = Some(start + k);
                    break;
                }
                ';' if depth == 0 => break,
                _ => {}
            }
        }
        let Some(open) = body else { continue };
        let end = matching(text, open).unwrap_or(text.len());
        out.push((
            c[1].to_owned(),
            Func {
                text: text[start..end].to_owned(),
            },
        ));
    }
    out
}

/// One `statement` of a policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Its `sid`.
    pub sid: String,
    /// Its `actions`.
    pub actions: Vec<String>,
}

/// The `data "aws_iam_policy_document"` blocks of `hcl`, by name, with their statements.
pub fn policy_documents(hcl: &str) -> Result<BTreeMap<String, Vec<Statement>>> {
    let head = Regex::new(r#"data\s+"aws_iam_policy_document"\s+"([A-Za-z0-9_-]+)"\s*\{"#).unwrap();
    let stmt = Regex::new(r"(?m)^\s*statement\s*\{").unwrap();
    let sid = Regex::new(r#"(?m)^\s*sid\s*=\s*"([^"]*)""#).unwrap();
    let actions = Regex::new(r"(?s)\bactions\s*=\s*\[(.*?)\]").unwrap();
    let quoted = Regex::new(r#""([^"]*)""#).unwrap();
    let hcl = strip_hcl_comments(hcl);
    let mut docs = BTreeMap::new();
    for c in head.captures_iter(&hcl) {
        let open = c.get(0).unwrap().end() - 1;
        let end = matching(&hcl, open).context("unbalanced braces in iam.tf")?;
        let block = &hcl[open..end];
        let mut statements = Vec::new();
        for s in stmt.find_iter(block) {
            let sopen = s.end() - 1;
            let send = matching(block, sopen).context("unbalanced statement block")?;
            let body = &block[sopen..send];
            let Some(list) = actions.captures(body) else {
                bail!("{}: a statement without `actions`", &c[1]);
            };
            statements.push(Statement {
                sid: sid
                    .captures(body)
                    .map(|m| m[1].to_owned())
                    .unwrap_or_default(),
                actions: quoted
                    .captures_iter(&list[1])
                    .map(|q| q[1].to_owned())
                    .collect(),
            });
        }
        docs.insert(c[1].to_owned(), statements);
    }
    Ok(docs)
}

fn strip_hcl_comments(hcl: &str) -> String {
    hcl.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with('#') || t.starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a policy grants for the code (non-`Runtime` statements) and for Lambda itself.
pub fn split_policy(statements: &[Statement]) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut code = BTreeSet::new();
    let mut runtime = BTreeSet::new();
    for s in statements {
        let set = if s.sid.starts_with("Runtime") {
            &mut runtime
        } else {
            &mut code
        };
        set.extend(s.actions.iter().cloned());
    }
    (code, runtime)
}

/// The differences between what the code calls and what the policy allows, as readable lines
/// (empty when they agree).
pub fn differences(
    function: &str,
    code: &BTreeSet<String>,
    statements: &[Statement],
) -> Vec<String> {
    let (allowed, runtime) = split_policy(statements);
    let mut out = Vec::new();
    for op in code.difference(&allowed) {
        out.push(format!(
            "{function}: the code calls {op}, which its policy in terraform/iam.tf does not allow"
        ));
    }
    for op in allowed.difference(code) {
        if IMPLIED.iter().any(|(p, by)| p == op && code.contains(*by)) {
            continue;
        }
        out.push(format!(
            "{function}: its policy allows {op}, which the code never calls (stale permission)"
        ));
    }
    for op in runtime
        .iter()
        .filter(|a| !RUNTIME_ACTIONS.contains(&a.as_str()))
    {
        out.push(format!(
            "{function}: a Runtime statement grants {op}, which is not one of Lambda's own needs {RUNTIME_ACTIONS:?}"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DynamoDB adapter shaped like the records store: a type holding the client, its
    /// methods calling `self.client.<op>()`, reached through `Type::new(..)` then a method call
    /// from another core module and from a Lambda crate.
    fn sources() -> Sources {
        let core = [
            (
                "records",
                "use aws_sdk_dynamodb::types::AttributeValue;
                 pub struct Records<'a> { client: &'a aws_sdk_dynamodb::Client }
                 impl<'a> Records<'a> {
                     pub fn new(client: &'a aws_sdk_dynamodb::Client) -> Self { Self { client } }
                     pub async fn create(&self) { self.client.put_item().table_name(self.table()).send().await; }
                     pub async fn update(&self) { self.client\n.update_item()\n.send().await; }
                     pub async fn open(&self) { self.client.query().index_name(OPEN).send().await; }
                     pub async fn get(&self) { self.client.get_item().send().await; }
                     fn table(&self) -> &str { TABLE }
                 }",
            ),
            (
                "round",
                "use crate::aws::{records::{Created, Records}, Aws};
                 pub async fn execute(aws: &Aws) {
                     let records = Records::new(&aws.dynamodb);
                     records.create().await;
                     records.update().await;
                     counts(&aws.map);
                 }
                 fn counts(m: &HashMap<u8, u8>) { m.get(&1); }",
            ),
            (
                "history",
                "pub async fn list(aws: &Aws) { aws.dynamodb.scan().send().await; }",
            ),
        ]
        .into_iter()
        .map(|(m, t)| (m.to_owned(), clean(t)))
        .collect();
        let crates = [
            (
                "functions/monkey",
                "use faultline_core::round;
                 async fn main() { round::execute(&aws).await; }",
            ),
            (
                "functions/recovery-timer",
                "use faultline_core::aws::records::Records;
                 async fn handle(aws: &Aws) {
                     let r = Records::new(&aws.dynamodb);
                     r.open().await; r.get().await; r.update().await;
                 }",
            ),
            (
                "functions/notifier",
                "use faultline_core::history;
                 async fn main() { history::list(&aws).await; }",
            ),
        ]
        .into_iter()
        .map(|(d, t)| (d.to_owned(), vec![clean(t)]))
        .collect();
        Sources {
            core,
            adapters: BTreeSet::from(["records".to_owned()]),
            crates,
        }
    }

    fn ops(sources: &Sources, dir: &str) -> Vec<String> {
        sources.operations(dir).unwrap().into_iter().collect()
    }

    #[test]
    fn a_report_library_s3_adapter_and_a_scheduler_adapter_name_their_prefixes() {
        let mut s = sources();
        s.core.insert(
            "faultline_report".to_owned(),
            clean(
                "pub async fn write(client: &aws_sdk_s3::Client) {
                     client.put_object().send().await;
                     client.get_object().presigned(c).await;
                 }",
            ),
        );
        s.core.insert(
            "scheduler".to_owned(),
            clean(
                "pub async fn create(client: &aws_sdk_scheduler::Client) {
                     client.create_schedule().send().await;
                 }",
            ),
        );
        s.adapters.insert("faultline_report".to_owned());
        s.adapters.insert("scheduler".to_owned());
        s.crates.insert(
            "functions/recovery-timer".to_owned(),
            vec![clean(
                "use faultline_report::write;
                 async fn handle(aws: &Aws) { write(&aws.s3).await; scheduler::create(&c).await; }",
            )],
        );
        assert_eq!(
            ops(&s, "functions/recovery-timer"),
            ["s3:GetObject", "s3:PutObject", "scheduler:CreateSchedule"]
        );
        // PassRole comes with CreateSchedule (implied), so it is no stale permission.
        let code: BTreeSet<String> = ["scheduler:CreateSchedule".to_owned()].into();
        let statements = [Statement {
            sid: "S".to_owned(),
            actions: vec![
                "scheduler:CreateSchedule".to_owned(),
                "iam:PassRole".to_owned(),
            ],
        }];
        assert_eq!(
            differences("monkey", &code, &statements),
            Vec::<String>::new()
        );
    }

    #[test]
    fn dynamodb_client_calls_are_dynamodb_actions() {
        let s = sources();
        // Through round (Records::new, then records.create / update); HashMap::get in a
        // function that names no Records is not GetItem.
        assert_eq!(
            ops(&s, "functions/monkey"),
            ["dynamodb:PutItem", "dynamodb:UpdateItem"]
        );
        // Straight from a Lambda crate that imports the type.
        assert_eq!(
            ops(&s, "functions/recovery-timer"),
            ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"]
        );
        // A direct call on a `dynamodb` client field.
        assert_eq!(ops(&s, "functions/notifier"), ["dynamodb:Scan"]);
    }

    #[test]
    fn nested_use_groups_name_each_types_module() {
        assert_eq!(
            core_type_imports("use crate::aws::{records::{Created, Records}, Aws};"),
            [
                ("records".to_owned(), "Created".to_owned()),
                ("records".to_owned(), "Records".to_owned()),
                ("aws".to_owned(), "Aws".to_owned()),
            ]
        );
        assert_eq!(
            core_type_imports("use super::records::Records;\nuse crate::clock::{self, Clock};"),
            [
                ("records".to_owned(), "Records".to_owned()),
                ("clock".to_owned(), "Clock".to_owned()),
            ]
        );
    }
}
