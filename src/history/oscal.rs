//! A period report as an OSCAL [`Assessment`]: one result per resource over `[from, to)`, a
//! finding per control whose verdict and `interval` props are the period report's timeline
//! (the same spans, so the OSCAL document and the report never disagree), and an observation
//! per history entry that evaluated the control within the period, or whose evaluation was
//! still in force when it began, citing the entry's digest. Also the `evidence oscal-plan` and
//! `evidence oscal-components` commands ([`command`]).

use super::entry::{Entry, Event, ResourceRef};
use super::report::PeriodReport;
use crate::catalog::ControlId;
use crate::evidence::oscal::{
    Assessment, ControlAssessment, EntryRef, Evaluation, ExemptionRecord, ResourceAssessment,
    date_time, period_verdict,
};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// The period report `report` (drawn from `entries`, the verified chain) as an assessment.
pub fn assessment(report: &PeriodReport, entries: &[Entry]) -> Assessment {
    // An evaluation made before the period counts into it for at most max_silence.
    let earliest = report
        .from
        .checked_sub(SignedDuration::from_secs(report.max_silence_seconds))
        .unwrap_or(report.from);
    // The evaluations of each control, grouped once (a year of checkpoints is many entries).
    let mut by_control: BTreeMap<(&ResourceRef, ControlId), Vec<Evaluation>> = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| earliest <= e.record.at && e.record.at < report.to)
    {
        if let Event::Transition { observation, .. } | Event::Checkpoint { observation } =
            &e.record.event
        {
            by_control
                .entry((&observation.resource, observation.control))
                .or_default()
                .push(Evaluation {
                    collected: e.record.at,
                    state: observation.state,
                    checked: observation.checked,
                    failed: observation.failed,
                    exempted: observation.exempted,
                    findings: observation.findings.clone(),
                    entry: Some(EntryRef {
                        seq: e.seq,
                        hash: e.hash.clone(),
                        key_id: e.key_id.clone(),
                    }),
                    source: format!(
                        "the evidence history (entry {}, spec {})",
                        e.seq, observation.spec_hash
                    ),
                });
        }
    }
    let mut resources: Vec<ResourceAssessment> = Vec::new();
    for control in &report.controls {
        let evaluations = by_control
            .remove(&(&control.resource, control.control))
            .unwrap_or_default();
        let shares: Vec<String> = crate::history::PeriodState::ALL
            .into_iter()
            .filter(|s| control.shares.get(*s).seconds > 0)
            .map(|s| format!("{} {}%", s.as_str(), control.shares.get(s).percent))
            .collect();
        let assessed = ControlAssessment {
            control: control.control,
            verdict: period_verdict(control.timeline.iter().map(|s| s.state)),
            timeline: control.timeline.clone(),
            evaluations,
            exemptions: control
                .exemptions
                .iter()
                .map(|e| ExemptionRecord {
                    exemption: e.exemption.clone(),
                    in_force: Some((e.from, e.to)),
                })
                .collect(),
            remarks: format!("Share of the period: {}.", shares.join(", ")),
        };
        match resources.last_mut() {
            Some(last) if last.resource == control.resource => last.controls.push(assessed),
            _ => resources.push(ResourceAssessment {
                cluster: None,
                resource: control.resource.clone(),
                controls: vec![assessed],
            }),
        }
    }
    let mut props = Vec::new();
    let mut head = String::new();
    if let Some(chain) = &report.chain {
        props.push(("evidence-history", chain.source.clone()));
        props.push(("history-entries", chain.entries.to_string()));
        if let (Some(seq), Some(hash)) = (chain.head_seq, &chain.head_hash) {
            props.push(("history-head-seq", seq.to_string()));
            props.push(("history-head-hash", hash.clone()));
            head = hash.clone();
        }
        for key in &chain.trusted_key_ids {
            props.push(("trusted-key-id", key.clone()));
        }
    }
    props.push((
        "checkpoint-interval-seconds",
        report.checkpoint_interval_seconds.to_string(),
    ));
    for gap in &report.recording_gaps {
        props.push((
            "recording-gap",
            format!("{}/{}", date_time(gap.start), date_time(gap.end)),
        ));
    }
    Assessment {
        title: format!(
            "baseline-operator: controls from {} to {}",
            date_time(report.from),
            date_time(report.to)
        ),
        description: "What baseline-operator's verified evidence history proves about every \
            control of every resource over the period (the same figures as `evidence report`): \
            a control is satisfied only when it passed, or was exempted, all the time it existed; \
            a gap (nothing evaluated), a check that could not run or a failure is not-satisfied."
            .into(),
        scope: format!(
            "period/{}/{}/{head}",
            date_time(report.from),
            date_time(report.to)
        ),
        start: report.from,
        end: Some(report.to),
        props,
        resources,
    }
}

/// The period report as OSCAL Assessment Results JSON, generated at `generated`. Without
/// `entries` the findings and their intervals are complete but no observation is cited.
pub fn render(report: &PeriodReport, entries: &[Entry], generated: Timestamp) -> String {
    crate::evidence::oscal::to_text(&crate::evidence::oscal::assessment_results(
        &assessment(report, entries),
        generated,
    ))
}

/// `evidence oscal-plan` / `evidence oscal-components`.
#[derive(clap::Args, Debug, Clone)]
pub struct OscalArgs {
    /// The file to write (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `evidence oscal-plan` / `oscal-components`: one OSCAL document to a file or stdout.
pub fn command(args: OscalArgs, document: fn(Timestamp) -> serde_json::Value) -> ExitCode {
    let text = crate::evidence::oscal::to_text(&document(crate::evidence::oscal::generated_at()));
    match &args.out {
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => {
                println!("{}", path.display());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {}: {error}", path.display());
                ExitCode::from(2)
            }
        },
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
    }
}
