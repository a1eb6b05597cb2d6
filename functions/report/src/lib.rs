//! faultline-report: an experiment's report, made once its record ends (closed or aborted) and
//! read by `faultline report <id>`.
//!
//! # Layout
//!
//! - [`model`]: [`Report`], everything the record says plus the metric series
//!   ([`Report::build`]), and what the renderers derive from it (windows, events, time axis).
//! - [`text`]: the report as readable lines ([`text()`]).
//! - [`html`]: one self-contained HTML page ([`html()`]): inline CSS and SVG, no JavaScript,
//!   nothing fetched.
//! - `svg`: the timeline (hand-written SVG) and the charts (plotters' SVG backend, no fonts).
//! - [`store`]: `report.json` and `report.html` in S3, read back, presigned.
//!
//! Imports run one way: `store` → `html` → `svg` → `model`; `text` → `model`. Only
//! `faultline-core` below.

pub mod html;
pub mod model;
pub mod store;
mod svg;
pub mod text;

pub use html::html;
pub use model::{Badge, Report, Status};
pub use text::text;

/// The report as JSON (`report.json`, `faultline report --output json`).
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(report).expect("a report always serialises")
}
