//! The renderers on a realistic report: text, JSON and the HTML page (escaping, one chart per
//! condition, nothing to run or fetch), and what they derive (badge, windows, events).

mod common;

use chrono::Duration;
use common::{record, report, series, t, HOSTILE};
use faultline_core::record::{AbortTrigger, Aborted, RolledBack, State, Verdict};
use faultline_core::recovery::Condition;
use faultline_core::spec::Phase;
use faultline_report::model::EventKind;
use faultline_report::store::{self, Location};
use faultline_report::{html, json, text, Badge, Report};

#[test]
fn html_escapes_every_string_from_the_record_and_spec() {
    let page = html(&report());
    assert!(!page.contains(HOSTILE), "raw hostile string in the page");
    assert!(
        !page.contains("<img"),
        "an element from the spec reached the page"
    );
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&lt;img src=x&gt;"));
    assert!(page.contains(r#"data-condition="p99 &lt;latency&gt;""#));
    assert!(!page.contains("p99 <latency>"));
}

#[test]
fn every_condition_gets_a_chart_with_or_without_data() {
    let page = html(&report());
    for name in ["success rate", "p99 &lt;latency&gt;"] {
        assert_eq!(
            page.matches(&format!(
                r#"<figure class="chart condition" data-condition="{name}">"#
            ))
            .count(),
            1,
            "{name}"
        );
    }
    assert_eq!(
        page.matches(r#"<figure id="capacity" class="chart capacity">"#)
            .count(),
        1
    );
    assert_eq!(page.matches("id=\"timeline\"").count(), 1);
    assert!(!page.contains("chart-error"), "a chart failed to draw");
    // Charts are plotters' SVG: the threshold is dashed and the series is a line.
    assert!(page.contains("stroke-dasharray") || page.matches("<line").count() > 10);
    assert!(
        page.matches("<polyline").count() >= 3,
        "one line per condition and group"
    );

    // From the record alone (no series): still one chart per condition, saying there is no data.
    let bare = Report::build(&record(), vec![], t("2026-11-23T10:09:41Z"));
    let page = html(&bare);
    assert_eq!(page.matches(r#"class="chart condition""#).count(), 2);
    assert_eq!(
        page.matches("no data points were read for this condition")
            .count(),
        2
    );
    assert!(
        page.contains(r#"id="capacity""#),
        "the group is charted, empty"
    );
}

#[test]
fn the_page_runs_nothing_and_fetches_nothing() {
    let page = html(&report());
    let lower = page.to_lowercase();
    assert!(!lower.contains("<script"));
    assert!(!lower.contains("javascript:"));
    for hook in [
        "src=",
        "href=",
        "url(",
        "@import",
        "@font-face",
        "<link",
        "<iframe",
        "<object",
    ] {
        // The only src= is inside the escaped spec text (`&lt;img src=x&gt;`), which is text.
        let outside_text =
            lower.matches(hook).count() - lower.matches(&format!("&lt;img {hook}")).count();
        assert_eq!(outside_text, 0, "{hook} in the page");
    }
    let http: Vec<&str> = lower
        .match_indices("http")
        .map(|(i, _)| &lower[i..i + 26])
        .collect();
    assert!(!http.is_empty());
    assert!(
        http.iter().all(|h| *h == "http://www.w3.org/2000/svg"),
        "{http:?}"
    );
    assert!(lower.starts_with("<!doctype html>") && lower.trim_end().ends_with("</html>"));
}

#[test]
fn the_badge_follows_the_verdict() {
    let r = report();
    assert_eq!(r.badge(), Badge::Failed);
    assert!(html(&r).contains(r#"<span id="verdict" class="badge failed">failed</span>"#));

    let mut rec = record();
    if let State::Closed(c) = &mut rec.state {
        c.verdict = Some(Verdict::Passed);
    }
    let r = Report::build(&rec, vec![], t("2026-11-23T10:10:00Z"));
    assert!(html(&r).contains(r#"class="badge passed""#));

    if let State::Closed(c) = &mut rec.state {
        c.verdict = None;
    }
    let r = Report::build(&rec, vec![], t("2026-11-23T10:10:00Z"));
    assert_eq!(r.badge(), Badge::None);
    assert!(html(&r).contains(r#"class="badge none">no verdict<"#));

    rec.state = State::Aborted(Aborted {
        trigger: AbortTrigger::StopAlarm {
            alarm: "web-5xx".into(),
        },
        at: t("2026-11-23T10:01:10Z"),
        rolled_back: vec![RolledBack {
            id: "i-0aaaaaaaaaaaaaaa1".into(),
            ok: true,
            detail: "Success".into(),
        }],
        time_to_safe_ms: 3200,
        report: None,
    });
    let r = Report::build(&rec, vec![], t("2026-11-23T10:02:00Z"));
    assert_eq!(r.badge(), Badge::Aborted);
    let page = html(&r);
    assert!(page.contains(r#"class="badge aborted""#) && page.contains("web-5xx in ALARM"));
    assert!(
        text(&r).contains("aborted     web-5xx in ALARM"),
        "{}",
        text(&r)
    );
}

#[test]
fn text_says_what_happened_one_fact_a_line() {
    let out = text(&report());
    for want in [
        "web-terminate  (e-7f3a)  FAILED",
        "action      terminate on 2 target(s) at 2026-11-23 10:00:00 UTC",
        "guards      kill_switch, window, probability, stop_alarms passed",
        "i-0aaaaaaaaaaaaaaa2   web-asg, us-east-1b",
        "i-0bbbbbbbbbbbbbbb3   not chosen",
        "recovery    recovered at 2026-11-23 10:04:31 UTC (TTR 4m 31s)",
        "web-asg back to 3 healthy InService: held",
        "verdict     failed",
        "SuccessRate Average during: 91.2 < 99 (by 7.8) at 10:02:00",
        "regression  TTR 4m 31s against a median of 2m 30s over 5 run(s): SLOWER (over 1.5x)",
        "series      success rate: 16 point(s)",
        "web-asg healthy capacity (desired 3): 16 point(s)",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

#[test]
fn json_round_trips_and_bad_json_names_the_field() {
    let r = report();
    let doc = json(&r);
    assert_eq!(store::parse(doc.as_bytes()).unwrap(), r);
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v["verdict"]["verdict"], "failed");
    assert_eq!(v["spec"]["targets"]["tags"]["app"], HOSTILE);
    assert_eq!(v["guards"][0], "kill_switch");
    assert_eq!(v["spared_total"], 1);
    assert_eq!(v["injection"]["action"], "terminate");
    assert_eq!(v["recovery"]["ttr_s"], 271);
    assert_eq!(v["series"].as_array().unwrap().len(), 3);
    let bad = doc.replace("2026-11-23T10:09:41Z", "soon");
    let e = store::parse(bad.as_bytes()).unwrap_err();
    assert!(e.starts_with("generated_at: "), "{e}");
}

#[test]
fn windows_and_events_are_dated_from_the_record() {
    let r = report();
    let w = r.windows();
    assert_eq!(
        w.iter().map(|w| w.phase).collect::<Vec<_>>(),
        [Phase::Before, Phase::During, Phase::After]
    );
    assert_eq!(
        (w[0].from, w[0].to),
        (t("2026-11-23T09:55:00Z"), t("2026-11-23T10:00:00Z"))
    );
    assert_eq!(w[1].to, t("2026-11-23T10:04:31Z"));
    assert_eq!(w[2].to, t("2026-11-23T10:04:31Z") + Duration::seconds(300));
    let kinds: Vec<EventKind> = r.events().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Injection,
            EventKind::Breach,
            EventKind::Recovery,
            EventKind::Close
        ]
    );
    let (from, to) = r.span();
    assert!(from < t("2026-11-23T09:55:00Z") && to > t("2026-11-23T10:10:00Z"));
    let page = html(&r);
    for e in ["injection", "breach", "recovery", "close"] {
        assert!(page.contains(&format!(r#"data-event="{e}""#)), "{e}");
    }
}

#[test]
fn the_timers_conditions_replace_the_derived_ones() {
    let c = Condition {
        what: "web-asg back to 3 healthy InService".into(),
        met: true,
        at: Some(t("2026-11-23T10:04:31Z")),
        detail: "launch EndTime".into(),
    };
    let r = report().with_conditions(&[c]);
    assert_eq!(r.recovery.conditions.len(), 1);
    assert_eq!(r.recovery.conditions[0].source, "launch EndTime");
    assert!(text(&r).contains(
        "web-asg back to 3 healthy InService: held at 2026-11-23 10:04:31 UTC (launch EndTime)"
    ));
}

#[test]
fn an_open_record_without_context_renders() {
    let mut rec = record();
    rec.state = State::Open;
    rec.context = None;
    rec.hypothesis = None;
    let r = Report::build(&rec, series(), t("2026-11-23T10:03:00Z"));
    assert_eq!(r.badge(), Badge::None);
    let page = html(&r);
    assert!(page.contains("id=\"timeline\"") && page.contains("data-condition=\"success rate\""));
    assert!(
        text(&r).contains("recovery    waiting (timeout 30m)"),
        "{}",
        text(&r)
    );
}

#[test]
fn locations_are_s3_bucket_prefix_id() {
    let at = Location::of("reports-bucket", "/reports/", "e-1");
    assert_eq!(at.url(), "s3://reports-bucket/reports/e-1/");
    assert_eq!(at.key("report.json"), "reports/e-1/report.json");
    assert_eq!(Location::parse(&at.url()).unwrap(), at);
    assert_eq!(Location::of("b", "", "e-1").url(), "s3://b/e-1/");
    assert_eq!(
        Location::parse("s3://b/x/e-1").unwrap().key("report.html"),
        "x/e-1/report.html"
    );
    assert!(Location::parse("https://b/x").is_err());
    assert!(Location::parse("s3:///x").is_err());
}
