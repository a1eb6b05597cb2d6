//! The report as one self-contained HTML page: inline CSS and SVG, no JavaScript, no external
//! URL (no font, image, stylesheet or link to fetch), every string from the record escaped.
//!
//! Stable hooks for tests and readers: `#verdict` (the badge, classed `passed` / `failed` /
//! `aborted` / `none`), `#facts`, `#timeline`, `.chart[data-condition]` per hypothesis
//! condition, `#capacity` (a `.chart` too), `#breaches`, `#recovery`, `#targets`, `#spec`.

use std::fmt::Write;

use crate::model::{Report, Status};
use crate::svg;
use crate::text::{secs, when};

/// `s` safe in HTML text and in a double- or single-quoted attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #0f172a; --muted: #64748b; --line: #e2e8f0; }
* { box-sizing: border-box; }
body { margin: 0; background: #f8fafc; color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px; }
header.top { display: flex; align-items: center; justify-content: space-between; gap: 16px;
  background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 20px 24px; }
header.top h1 { margin: 0; font-size: 26px; }
header.top .id { margin: 4px 0 0; color: var(--muted); font-family: ui-monospace, monospace; font-size: 13px; }
.badge { font-size: 20px; font-weight: 700; text-transform: uppercase; letter-spacing: .06em;
  padding: 10px 22px; border-radius: 999px; color: #fff; white-space: nowrap; }
.badge.passed { background: #16a34a; } .badge.failed { background: #dc2626; }
.badge.aborted { background: #d97706; } .badge.none { background: #64748b; }
dl.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 12px; margin: 16px 0; }
dl.facts div { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; }
dl.facts dt { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .05em; }
dl.facts dd { margin: 2px 0 0; font-size: 18px; font-weight: 600; overflow-wrap: anywhere; }
dd.slower { color: #dc2626; } dd.within { color: #16a34a; }
section { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 16px 24px; margin: 16px 0; }
section h2 { margin: 0 0 12px; font-size: 18px; }
svg { display: block; width: 100%; height: auto; }
#timeline text { font: 13px system-ui, sans-serif; } #timeline text.time { fill: #64748b; font-size: 11px; }
#timeline text.phase { fill: #334155; font-size: 11px; }
figure.chart { margin: 0 0 20px; }
figure.chart figcaption { font-weight: 600; margin-bottom: 6px; }
figure.chart figcaption .rule { font-family: ui-monospace, monospace; font-weight: 400; color: #334155; }
figure.chart figcaption .held { color: #16a34a; } figure.chart figcaption .breached { color: #dc2626; }
.legend { display: flex; gap: 16px; flex-wrap: wrap; color: var(--muted); font-size: 13px; margin: 4px 0 12px; }
.legend span::before { content: ""; display: inline-block; width: 12px; height: 12px; border-radius: 3px;
  margin-right: 6px; vertical-align: -1px; background: var(--c); opacity: .45; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.no { color: #dc2626; font-weight: 600; } td.yes { color: #16a34a; font-weight: 600; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
pre { background: #f1f5f9; padding: 12px; border-radius: 8px; overflow: auto; }
.muted { color: var(--muted); }
footer { color: var(--muted); font-size: 12px; text-align: center; margin: 24px 0; }
"#;

/// The report as one self-contained HTML page.
pub fn html(r: &Report) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let badge = r.badge();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>faultline report: {exp} ({id})</title><style>{STYLE}</style></head><body><main>\
         <header class=\"top\"><div><h1>{exp}</h1><p class=\"id\">{id} &middot; {status} \
         &middot; report made {gen}</p></div><span id=\"verdict\" class=\"badge {bc}\">{bl}</span></header>",
        exp = escape(&r.experiment),
        id = escape(&r.id),
        status = status_name(r.status),
        gen = when(r.generated_at),
        bc = badge.class(),
        bl = badge.label(),
    );
    facts(&mut o, r);
    let _ = write!(
        o,
        "<section id=\"timeline-section\"><h2>Timeline</h2>{}",
        svg::timeline(r)
    );
    legend(&mut o, r);
    o.push_str("</section>");
    conditions(&mut o, r);
    capacity(&mut o, r);
    breaches(&mut o, r);
    recovery(&mut o, r);
    targets(&mut o, r);
    details(&mut o, r);
    let _ = writeln!(
        o,
        "<footer>faultline report v{} &middot; {}</footer></main></body></html>",
        r.v,
        escape(&r.id)
    );
    o
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Open => "open",
        Status::Closed => "closed",
        Status::Aborted => "aborted",
    }
}

/// The key facts, as tiles.
fn facts(o: &mut String, r: &Report) {
    let inj = &r.injection;
    let mut tiles: Vec<(&str, String, &str)> = vec![
        ("experiment", escape(&r.experiment), ""),
        ("action", escape(&inj.action), ""),
        ("injected", when(inj.at), ""),
        ("targets", r.targets.len().to_string(), ""),
    ];
    if !inj.zones.is_empty() {
        tiles.push(("zones", escape(&inj.zones.join(", ")), ""));
    }
    let ttr = match (r.recovery.ttr_s, r.recovery.outcome, &r.abort) {
        (Some(t), _, _) if r.recovery.observed => format!("at most {}", secs(t)),
        (Some(t), _, _) => secs(t),
        (None, Some(o), _) => o.name().replace('_', " "),
        (None, None, Some(_)) => "aborted".to_owned(),
        (None, None, None) => "not yet".to_owned(),
    };
    tiles.push(("time to recover", ttr, ""));
    if let Some(max) = r.hypothesis.as_ref().and_then(|h| h.max_ttr_s) {
        tiles.push(("max TTR", secs(max as i64), ""));
    }
    match &r.regression {
        Some(g) => tiles.push((
            "regression",
            format!(
                "{} vs median {} ({} runs)",
                if g.slower { "slower" } else { "within" },
                secs(g.median_s.round() as i64),
                g.runs
            ),
            if g.slower { "slower" } else { "within" },
        )),
        None => tiles.push(("regression", "not checked".to_owned(), "")),
    }
    if r.spared_total > 0 {
        tiles.push(("spared", r.spared_total.to_string(), ""));
    }
    o.push_str("<dl id=\"facts\" class=\"facts\">");
    for (k, v, class) in tiles {
        let _ = write!(o, "<div><dt>{k}</dt><dd class=\"{class}\">{v}</dd></div>");
    }
    o.push_str("</dl>");
}

/// What the shades and lines mean.
fn legend(o: &mut String, r: &Report) {
    o.push_str("<div class=\"legend\">");
    for w in r.windows() {
        let c = match w.phase {
            faultline_core::spec::Phase::Before => "#64748b",
            faultline_core::spec::Phase::During => "#f59e0b",
            faultline_core::spec::Phase::After => "#22c55e",
        };
        let _ = write!(
            o,
            "<span style=\"--c: {c}\">{} {} &ndash; {}</span>",
            w.phase.name(),
            w.from.format("%H:%M:%S"),
            w.to.format("%H:%M:%S")
        );
    }
    o.push_str("</div>");
}

/// One chart per hypothesis condition.
fn conditions(o: &mut String, r: &Report) {
    let charted = r.charted();
    if charted.is_empty() {
        return;
    }
    o.push_str("<section id=\"steady-state\"><h2>Steady state</h2>");
    for c in charted {
        let breached: Vec<&str> = r
            .breaches()
            .iter()
            .filter(|b| b.condition == c.name)
            .map(|b| b.detail.as_str())
            .collect();
        let verdict = match (breached.is_empty(), &r.verdict) {
            (false, _) => "<span class=\"breached\">breached</span>".to_owned(),
            (true, Some(_)) => "<span class=\"held\">held</span>".to_owned(),
            (true, None) => String::new(),
        };
        let phases = r
            .hypothesis
            .as_ref()
            .and_then(|h| h.conditions.iter().find(|s| s.name == c.name))
            .map(|s| {
                s.when
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let _ = write!(
            o,
            "<figure class=\"chart condition\" data-condition=\"{name}\"><figcaption>{name} \
             <span class=\"rule\">{rule}</span> <span class=\"muted\">{phases} &middot; {label}</span> {verdict}</figcaption>",
            label = escape(c.series.map(|s| s.label.as_str()).unwrap_or("no series read")),
            name = escape(c.name),
            rule = escape(&svg::rule(c.threshold)),
            phases = escape(&phases),
        );
        chart(o, svg::condition_chart(r, &c));
        for d in breached {
            let _ = write!(o, "<p class=\"breach\">{}</p>", escape(d));
        }
        o.push_str("</figure>");
    }
    o.push_str("</section>");
}

/// The groups' healthy capacity.
fn capacity(o: &mut String, r: &Report) {
    let series = r.capacity();
    if series.is_empty() && r.groups.is_empty() {
        return;
    }
    o.push_str(
        "<section id=\"capacity-section\"><h2>Healthy capacity</h2>\
         <figure id=\"capacity\" class=\"chart capacity\"><figcaption>healthy InService \
         instances per group, desired capacity dashed</figcaption>",
    );
    chart(o, svg::capacity_chart(r, &series));
    o.push_str("</figure></section>");
}

fn chart(o: &mut String, svg: Result<String, String>) {
    match svg {
        Ok(svg) => o.push_str(&svg),
        Err(e) => {
            let _ = write!(
                o,
                "<p class=\"chart-error\">the chart could not be drawn: {}</p>",
                escape(&e)
            );
        }
    }
}

/// A failed verdict's breaches.
fn breaches(o: &mut String, r: &Report) {
    let list = r.breaches();
    if list.is_empty() {
        return;
    }
    o.push_str(
        "<section id=\"breaches\"><h2>What did not hold</h2><table><tr><th>condition</th>\
         <th>phase</th><th>observed</th><th>threshold</th><th>by</th><th>at</th><th>detail</th></tr>",
    );
    for b in list {
        let num = |v: Option<f64>| v.map(svg::number).unwrap_or_else(|| "&ndash;".to_owned());
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&b.condition),
            b.phase.map(|p| p.name()).unwrap_or("&ndash;"),
            num(b.observed),
            b.comparison.map(|c| format!("{} ", escape(c.symbol()))).unwrap_or_default(),
            num(b.threshold),
            num(b.by),
            b.at.map(|t| t.format("%H:%M:%S").to_string()).unwrap_or_default(),
            escape(&b.detail),
        );
    }
    o.push_str("</table></section>");
}

/// Each recovery condition with its time and source; the abort.
fn recovery(o: &mut String, r: &Report) {
    o.push_str("<section id=\"recovery\"><h2>Recovery</h2>");
    let rec = &r.recovery;
    let _ = write!(
        o,
        "<p>timeout {}{}{}</p>",
        secs(rec.timeout_s as i64),
        rec.recovered_at
            .map(|t| format!(" &middot; recovered at {}", when(t)))
            .unwrap_or_default(),
        rec.closed_at
            .map(|t| format!(" &middot; closed at {}", when(t)))
            .unwrap_or_default(),
    );
    if !rec.conditions.is_empty() {
        o.push_str("<table><tr><th>condition</th><th>held</th><th>at</th><th>source</th></tr>");
        for c in &rec.conditions {
            let _ = write!(
                o,
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&c.what),
                if c.met { "yes" } else { "no" },
                if c.met { "yes" } else { "no" },
                c.at.map(when).unwrap_or_default(),
                escape(&c.source),
            );
        }
        o.push_str("</table>");
    }
    if !r.injection.restored.is_empty() {
        o.push_str("<h3>Put back</h3><ul>");
        for line in &r.injection.restored {
            let _ = write!(o, "<li>{}</li>", escape(line));
        }
        o.push_str("</ul>");
    }
    if let Some(a) = &r.abort {
        let _ = write!(
            o,
            "<h3>Aborted</h3><p>{} at {}: rolled back in {:.1} s</p><table><tr><th>target</th>\
             <th>rolled back</th><th>detail</th></tr>",
            escape(&a.trigger),
            when(a.at),
            a.time_to_safe_ms.max(0) as f64 / 1000.0
        );
        for b in &a.rolled_back {
            let _ = write!(
                o,
                "<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
                escape(&b.id),
                if b.ok { "yes" } else { "no" },
                if b.ok { "yes" } else { "no" },
                escape(&b.detail)
            );
        }
        o.push_str("</table>");
    }
    o.push_str("</section>");
}

/// Targets hit, failed and spared.
fn targets(o: &mut String, r: &Report) {
    o.push_str("<section id=\"targets\"><h2>Targets</h2><table><tr><th>instance</th><th>group</th><th>zone</th></tr>");
    for t in &r.targets {
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(&t.id),
            escape(t.group.as_deref().unwrap_or("")),
            escape(t.zone.as_deref().unwrap_or(""))
        );
    }
    o.push_str("</table>");
    if !r.failed.is_empty() {
        let _ = write!(
            o,
            "<p>the action failed on: <code>{}</code></p>",
            escape(&r.failed.join(", "))
        );
    }
    if !r.spared.is_empty() || r.spared_total > 0 {
        let _ = write!(
            o,
            "<h3>Spared ({})</h3><table><tr><th>resource</th><th>why</th></tr>",
            r.spared_total.max(r.spared.len())
        );
        for s in &r.spared {
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                escape(&s.id),
                escape(&s.reason)
            );
        }
        o.push_str("</table>");
        if r.spared_total > r.spared.len() {
            let _ = write!(
                o,
                "<p class=\"muted\">and {} more not listed</p>",
                r.spared_total - r.spared.len()
            );
        }
    }
    o.push_str("</section>");
}

/// Guards passed and the spec as given.
fn details(o: &mut String, r: &Report) {
    o.push_str("<section id=\"spec\"><h2>Experiment</h2>");
    if !r.guards.is_empty() {
        let _ = write!(
            o,
            "<p>guards passed: {}</p>",
            r.guards
                .iter()
                .map(|g| format!("<code>{}</code>", escape(g)))
                .collect::<Vec<_>>()
                .join(" &rarr; ")
        );
    }
    if let Some(spec) = &r.spec {
        let pretty = serde_json::to_string_pretty(spec).unwrap_or_else(|_| spec.to_string());
        let _ = write!(
            o,
            "<details open><summary>the experiment as given</summary><pre>{}</pre></details>",
            escape(&pretty)
        );
    }
    o.push_str("</section>");
}
