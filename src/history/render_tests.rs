//! The Markdown and HTML renderings: what a cluster object's name or a message can put into
//! them stays text.

use super::chain::append;
use super::chain_tests::{at, key, observation};
use super::entry::*;
use super::html::render_html;
use super::markdown::render_markdown;
use super::report::report;
use crate::api::{ControlState, Finding};
use crate::catalog::ControlId;
use jiff::SignedDuration;

fn hostile_report() -> super::report::PeriodReport {
    let mut failing = observation("prod", ControlId::RestrictedPorts, ControlState::Fail);
    failing.findings = vec![Finding {
        kind: "Service".into(),
        namespace: Some("shop".into()),
        name: "a|b".into(),
        message: "<script>alert(1)</script> & <img src=x onerror=alert(2)>".into(),
    }];
    let entries = append(
        None,
        vec![
            Record {
                at: at("2026-03-01T00:00:00Z"),
                event: Event::Transition {
                    from: None,
                    observation: failing,
                },
            },
            Record {
                at: at("2026-03-01T12:00:00Z"),
                event: Event::Transition {
                    from: Some(ControlState::Fail),
                    observation: observation(
                        "prod",
                        ControlId::RestrictedPorts,
                        ControlState::Pass,
                    ),
                },
            },
        ],
        &key(1),
    );
    report(
        &entries,
        at("2026-03-01T00:00:00Z"),
        at("2026-03-02T00:00:00Z"),
        SignedDuration::from_hours(24),
    )
}

#[test]
fn html_escapes_what_the_cluster_wrote() {
    let html = render_html(&hostile_report());
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img"),
        "{html}"
    );
    // No script, no fetch: the page forbids both.
    assert!(html.contains("default-src 'none'"));
    assert_eq!(html.matches("<section class=\"control\"").count(), 1);
    assert_eq!(html.matches("class=\"span span-fail\"").count(), 1);
    assert!(html.contains("id=\"control-securitybaseline-prod-restricted-ports\""));
    assert!(html.contains("<span class=\"unverified\">Not verified</span>"));
}

#[test]
fn markdown_keeps_table_cells_whole() {
    let md = render_markdown(&hostile_report());
    assert!(md.contains("Service shop/a\\|b"), "{md}");
    assert!(md.contains("ended by Pass"), "{md}");
    assert!(
        md.contains("| 2026-03-01T00:00:00Z | 2026-03-01T12:00:00Z | **Fail** | 12h |"),
        "{md}"
    );
    assert!(md.contains("Evidence log: **not verified**"), "{md}");
}
