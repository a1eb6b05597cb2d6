//! The HTML report in a real browser (headless Chromium): the rendered DOM holds the timeline
//! and every chart, the page paints (many non-white pixels), and it loads with every host name
//! unresolvable and no network request leaving the file. Chromium is a system package
//! (`scripts/system-deps` installs it); the test installs nothing and fails when it is absent.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use faultline_report::html;

const CHROMIUM: &str = "/usr/bin/chromium";

/// A fresh directory for one browser run.
fn scratch(name: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("faultline-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Runs headless Chromium on `page` with `extra` arguments; returns its stdout. Fails, naming
/// `scripts/system-deps`, when Chromium is not installed.
fn chromium(dir: &Path, page: &Path, extra: &[String]) -> Result<String> {
    ensure!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} not found: the browser test needs Chromium; run scripts/system-deps \
         (it installs the `chromium` package) and run the test again"
    );
    let profile = dir.join("profile");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        // Files, not pipes: the DOM is larger than a pipe's buffer, and the loop below only waits.
        .stdout(std::fs::File::create(dir.join("stdout"))?)
        .stderr(std::fs::File::create(dir.join("stderr"))?)
        .spawn()
        .with_context(|| format!("starting {CHROMIUM}"))?;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("chromium did not finish within 90s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = child.wait()?;
    ensure!(
        status.success(),
        "chromium failed ({status}): {}",
        std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
    );
    Ok(std::fs::read_to_string(dir.join("stdout"))?)
}

fn write_page(dir: &Path) -> Result<PathBuf> {
    let page = dir.join("report.html");
    std::fs::write(&page, html(&common::report()))?;
    Ok(page)
}

#[test]
fn the_rendered_dom_holds_the_timeline_and_every_chart() -> Result<()> {
    let dir = scratch("dom")?;
    let page = write_page(&dir)?;
    let dom = chromium(&dir, &page, &["--dump-dom".to_owned()])?;
    ensure!(
        dom.contains(r#"id="timeline""#),
        "no #timeline in the DOM:\n{dom}"
    );
    for hook in [
        r#"data-condition="success rate""#,
        r#"data-condition="p99 &lt;latency&gt;""#,
        r#"id="capacity""#,
        r#"id="verdict" class="badge failed""#,
        r#"data-event="breach""#,
    ] {
        ensure!(dom.contains(hook), "{hook} not in the rendered DOM");
    }
    ensure!(
        dom.matches(r#"class="chart "#).count() == 3,
        "3 charts expected"
    );
    // The browser parsed the SVGs as SVG (plotters' polylines are there).
    ensure!(dom.matches("<polyline").count() >= 3);
    ensure!(!dom.contains("<script"), "a script element in the DOM");
    Ok(())
}

#[test]
fn the_page_paints_charts_not_a_blank_sheet() -> Result<()> {
    let dir = scratch("png")?;
    let page = write_page(&dir)?;
    let png_path = dir.join("shot.png");
    chromium(
        &dir,
        &page,
        &[
            format!("--screenshot={}", png_path.display()),
            "--window-size=1200,2400".to_owned(),
        ],
    )?;
    let decoder = png::Decoder::new(std::fs::File::open(&png_path).context("no screenshot")?);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    let channels = info.color_type.samples();
    ensure!(
        channels >= 3,
        "unexpected PNG colour type {:?}",
        info.color_type
    );
    let (w, h) = (info.width as usize, info.height as usize);
    ensure!((w, h) == (1200, 2400), "screenshot is {w}x{h}");
    let pixels = &buf[..info.buffer_size()];
    let mut non_white = 0usize;
    let mut red = 0usize;
    for px in pixels.chunks_exact(channels) {
        let (r, g, b) = (px[0], px[1], px[2]);
        if r < 235 || g < 235 || b < 235 {
            non_white += 1;
        }
        // The failed badge and the threshold lines: #dc2626.
        if r > 200 && g < 60 && b < 60 {
            red += 1;
        }
    }
    let total = w * h;
    ensure!(
        non_white * 20 > total,
        "only {non_white} of {total} pixels are not white: the page did not paint"
    );
    ensure!(
        red > 2_000,
        "only {red} red pixels: no failed badge or threshold drawn"
    );
    Ok(())
}

/// The requests a page made, from Chromium's net log: every URL request whose initiator is a
/// page (the browser's own background requests, with flags or without, say `not an origin`).
fn page_requests(log: &Path) -> Result<Vec<String>> {
    let net: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(log).context("chromium wrote no net log")?)?;
    let start_job = net["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"].clone();
    ensure!(
        start_job.is_number(),
        "the net log has no URL_REQUEST_START_JOB event type"
    );
    let events = net["events"]
        .as_array()
        .context("the net log has no events")?;
    Ok(events
        .iter()
        .filter(|e| e["type"] == start_job)
        .filter(|e| e["params"]["initiator"].as_str() != Some("not an origin"))
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_owned))
        .collect())
}

#[test]
fn the_page_loads_with_no_network_and_requests_nothing_outside_the_file() -> Result<()> {
    let dir = scratch("net")?;
    let page = write_page(&dir)?;
    let log = dir.join("netlog.json");
    let dom = chromium(
        &dir,
        &page,
        &[
            "--dump-dom".to_owned(),
            format!("--log-net-log={}", log.display()),
        ],
    )?;
    ensure!(
        dom.contains(r#"id="timeline""#),
        "the page did not load without network"
    );
    let asked = page_requests(&log)?;
    ensure!(asked.is_empty(), "the page asked for {asked:?}");

    // The check sees a page's request: a page with one external image is caught.
    let control = dir.join("control.html");
    std::fs::write(
        &control,
        r#"<!DOCTYPE html><img src="http://faultline.invalid/x.png">"#,
    )?;
    let log = dir.join("control.json");
    chromium(
        &dir,
        &control,
        &[
            "--dump-dom".to_owned(),
            format!("--log-net-log={}", log.display()),
        ],
    )?;
    let asked = page_requests(&log)?;
    ensure!(
        asked
            .iter()
            .any(|u| u.starts_with("http://faultline.invalid/")),
        "the net-log check missed the control page's request: {asked:?}"
    );

    // The page itself names nothing to fetch (its only URL is the SVG namespace): no tag has
    // a src or href (text such as the escaped spec is not a tag), no stylesheet a url().
    let html = std::fs::read_to_string(&page)?.to_lowercase();
    for tag in html
        .split('<')
        .skip(1)
        .map(|t| t.split('>').next().unwrap_or(""))
    {
        ensure!(
            !tag.contains("src=") && !tag.contains("href="),
            "a tag that fetches: <{tag}>"
        );
    }
    for hook in ["url(", "@import"] {
        ensure!(!html.contains(hook), "{hook} in the page");
    }
    Ok(())
}
