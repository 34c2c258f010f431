//! The period report: for each control of each resource, what the history proves about
//! `[from, to)`. Pure: the entries (already verified) and the dates come in, a report comes
//! out.
//!
//! How time is attributed, per control:
//! - an observation (transition or checkpoint) at `t` with state S makes `[t, next)` S, where
//!   `next` is the control's next record, but for at most `max_silence` (the checkpoint
//!   interval plus a tenth of it, for the checkpoint's own scheduling delay): a control that
//!   went silent longer is a **Gap** from then on, never a Pass;
//! - the operator not recording at all is a Gap for every control: before the log's first
//!   entry, after its last entry plus `max_silence` (from a `Stopped` at once), and between an
//!   entry and the next `Started` when they are more than the checkpoint interval apart
//!   (the operator was down);
//! - before a control's first record, and after its resource was `Deleted`, it is
//!   **Absent**: there was nothing to evaluate (the log was running, and recorded nothing of it).

use super::entry::{Entry, Event, ExemptionInForce, MAX_FINDINGS, Observation, ResourceRef};
use crate::api::{ControlState, Finding};
use crate::catalog::ControlId;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a stretch of time was, for one control.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PeriodState {
    Pass,
    Fail,
    Exempt,
    NotApplicable,
    /// The operator evaluated, but the check could not run: never counts as passing.
    NotEvaluated,
    /// Nothing was evaluated (operator down, or the control went silent): never a Pass.
    Gap,
    /// Nothing to evaluate: before the control's first record, after its resource's deletion.
    Absent,
}

impl PeriodState {
    pub const ALL: [PeriodState; 7] = [
        PeriodState::Pass,
        PeriodState::Fail,
        PeriodState::Exempt,
        PeriodState::NotApplicable,
        PeriodState::NotEvaluated,
        PeriodState::Gap,
        PeriodState::Absent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PeriodState::Pass => "Pass",
            PeriodState::Fail => "Fail",
            PeriodState::Exempt => "Exempt",
            PeriodState::NotApplicable => "NotApplicable",
            PeriodState::NotEvaluated => "NotEvaluated",
            PeriodState::Gap => "Gap",
            PeriodState::Absent => "Absent",
        }
    }

    fn of(state: ControlState) -> Self {
        match state {
            ControlState::Pass => PeriodState::Pass,
            ControlState::Fail => PeriodState::Fail,
            ControlState::Exempt => PeriodState::Exempt,
            ControlState::NotApplicable => PeriodState::NotApplicable,
            ControlState::NotEvaluated => PeriodState::NotEvaluated,
        }
    }
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeriodReport {
    pub from: Timestamp,
    pub to: Timestamp,
    pub checkpoint_interval_seconds: i64,
    /// How long one observation counts without a newer one (see the module documentation).
    pub max_silence_seconds: i64,
    /// The chain the report was read from (set by the command that verified it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainSummary>,
    /// Stretches within the period when the operator recorded nothing at all.
    pub recording_gaps: Vec<Span>,
    /// One per (resource, control) the history mentions, ordered by resource then catalog.
    pub controls: Vec<ControlReport>,
}

/// Which chain, verified how.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainSummary {
    /// Where it was read (`s3://bucket/prefix at endpoint`, a directory).
    pub source: String,
    /// Always true in a written report: a chain that does not verify is not reported on.
    pub verified: bool,
    pub entries: u64,
    pub segments: usize,
    /// The last entry verified: the chain's head when the period reaches it, else the
    /// entry that ends what the period rests on (`evidence verify` gives the chain's head).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
    /// The public keys (ids) trusted for the verification.
    pub trusted_key_ids: Vec<String>,
}

/// `[start, end)` in one state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub start: Timestamp,
    pub end: Timestamp,
    pub state: PeriodState,
    pub seconds: i64,
}

/// A share of the period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Share {
    pub seconds: i64,
    /// 0-100.
    pub percent: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shares {
    pub pass: Share,
    pub fail: Share,
    pub exempt: Share,
    pub not_applicable: Share,
    pub not_evaluated: Share,
    pub gap: Share,
    pub absent: Share,
}

impl Shares {
    pub fn get(&self, state: PeriodState) -> Share {
        match state {
            PeriodState::Pass => self.pass,
            PeriodState::Fail => self.fail,
            PeriodState::Exempt => self.exempt,
            PeriodState::NotApplicable => self.not_applicable,
            PeriodState::NotEvaluated => self.not_evaluated,
            PeriodState::Gap => self.gap,
            PeriodState::Absent => self.absent,
        }
    }

    fn get_mut(&mut self, state: PeriodState) -> &mut Share {
        match state {
            PeriodState::Pass => &mut self.pass,
            PeriodState::Fail => &mut self.fail,
            PeriodState::Exempt => &mut self.exempt,
            PeriodState::NotApplicable => &mut self.not_applicable,
            PeriodState::NotEvaluated => &mut self.not_evaluated,
            PeriodState::Gap => &mut self.gap,
            PeriodState::Absent => &mut self.absent,
        }
    }
}

/// One control of one resource over the period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlReport {
    pub resource: ResourceRef,
    pub control: ControlId,
    pub title: String,
    /// The framework references the control proves (from the catalog of this binary).
    pub frameworks: Vec<String>,
    pub shares: Shares,
    /// The period, cut into maximal spans of one state, in order, covering `[from, to)`.
    pub timeline: Vec<Span>,
    pub failures: Vec<FailureInterval>,
    pub exemptions: Vec<ExemptionInPeriod>,
}

/// A stretch of Fail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureInterval {
    pub start: Timestamp,
    pub end: Timestamp,
    pub seconds: i64,
    /// The failure began before the period (`start` is the period's start).
    pub started_before_period: bool,
    /// What ended it: a state (`Pass`, ...), `Gap` (its end is unknown: nothing was
    /// evaluated), `Absent` (resource deleted), or None: still failing at the period's end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<PeriodState>,
    /// The most objects failing at once.
    pub failed_objects: i32,
    /// The findings recorded while it failed (bounded sample).
    pub findings: Vec<Finding>,
}

/// An exemption recorded in force during the period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExemptionInPeriod {
    #[serde(flatten)]
    pub exemption: ExemptionInForce,
    /// The first and last instant of the period it was recorded in force.
    pub from: Timestamp,
    pub to: Timestamp,
}

/// One control's record: an observation, or None for its resource's deletion.
type ControlEvent = (Timestamp, Option<Observation>);

/// A piece of one control's timeline before clipping.
#[derive(Clone, Debug)]
struct Piece {
    start: Timestamp,
    end: Timestamp,
    state: PeriodState,
    /// The observation behind it (None for gaps and absence).
    observation: Option<Observation>,
    /// Whether the operator not recording turns it into a Gap (not after a deletion).
    overlayable: bool,
}

/// The period report of `entries` (a verified chain, in order) over `[from, to)`.
pub fn report(
    entries: &[Entry],
    from: Timestamp,
    to: Timestamp,
    checkpoint_interval: SignedDuration,
) -> PeriodReport {
    let max_silence = checkpoint_interval + checkpoint_interval / 10;
    let times = monotonic_times(entries);
    let not_recording = recording_gaps(entries, &times, checkpoint_interval, max_silence);
    let mut per_control: BTreeMap<(ResourceRef, ControlId), Vec<ControlEvent>> = BTreeMap::new();
    for (entry, &at) in entries.iter().zip(&times) {
        match &entry.record.event {
            Event::Transition { observation, .. } | Event::Checkpoint { observation } => {
                per_control
                    .entry((observation.resource.clone(), observation.control))
                    .or_default()
                    .push((at, Some(observation.clone())));
            }
            Event::Deleted { resource } => {
                for ((r, _), events) in per_control.iter_mut() {
                    if r == resource {
                        events.push((at, None));
                    }
                }
            }
            Event::Started { .. } | Event::Stopped { .. } => {}
        }
    }
    let mut controls: Vec<ControlReport> = per_control
        .into_iter()
        .map(|((resource, control), events)| {
            let pieces = overlay(pieces(&events, max_silence), &not_recording);
            control_report(resource, control, pieces, from, to)
        })
        .collect();
    controls.sort_by(|a, b| {
        (&a.resource, catalog_position(a.control)).cmp(&(&b.resource, catalog_position(b.control)))
    });
    PeriodReport {
        from,
        to,
        checkpoint_interval_seconds: checkpoint_interval.as_secs(),
        max_silence_seconds: max_silence.as_secs(),
        chain: None,
        recording_gaps: not_recording
            .iter()
            .filter_map(|&(start, end)| clip(start, end, from, to))
            .map(|(start, end)| span(start, end, PeriodState::Gap))
            .collect(),
        controls,
    }
}

fn catalog_position(control: ControlId) -> usize {
    ControlId::ALL
        .iter()
        .position(|c| *c == control)
        .unwrap_or(usize::MAX)
}

/// Entry times made non-decreasing: two writers' clocks may disagree by a little, and the
/// chain's order is the order things were recorded.
fn monotonic_times(entries: &[Entry]) -> Vec<Timestamp> {
    let mut latest = Timestamp::MIN;
    entries
        .iter()
        .map(|e| {
            latest = latest.max(e.record.at);
            latest
        })
        .collect()
}

/// When the operator recorded nothing at all, as `[start, end)` windows.
fn recording_gaps(
    entries: &[Entry],
    times: &[Timestamp],
    checkpoint_interval: SignedDuration,
    max_silence: SignedDuration,
) -> Vec<(Timestamp, Timestamp)> {
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return vec![(Timestamp::MIN, Timestamp::MAX)];
    };
    let mut windows = vec![(Timestamp::MIN, first)];
    for i in 1..entries.len() {
        let down = times[i].duration_since(times[i - 1]) > checkpoint_interval;
        if down && matches!(entries[i].record.event, Event::Started { .. }) {
            windows.push((times[i - 1], times[i]));
        }
    }
    let silent_from = match entries.last().map(|e| &e.record.event) {
        Some(Event::Stopped { .. }) => last,
        _ => later(last, max_silence),
    };
    windows.push((silent_from, Timestamp::MAX));
    windows
}

fn later(at: Timestamp, by: SignedDuration) -> Timestamp {
    at.checked_add(by).unwrap_or(Timestamp::MAX)
}

/// One control's timeline from its events (an observation, or None for its resource's
/// deletion), before the operator's own silences are laid over it.
fn pieces(events: &[(Timestamp, Option<Observation>)], max_silence: SignedDuration) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let first = events.first().map(|(t, _)| *t).unwrap_or(Timestamp::MAX);
    pieces.push(Piece {
        start: Timestamp::MIN,
        end: first,
        state: PeriodState::Absent,
        observation: None,
        overlayable: true,
    });
    for (i, (at, observation)) in events.iter().enumerate() {
        let next = events.get(i + 1).map(|(t, _)| *t).unwrap_or(Timestamp::MAX);
        match observation {
            Some(observation) => {
                let valid_until = later(*at, max_silence).min(next);
                pieces.push(Piece {
                    start: *at,
                    end: valid_until,
                    state: PeriodState::of(observation.state),
                    observation: Some(observation.clone()),
                    overlayable: true,
                });
                pieces.push(Piece {
                    start: valid_until,
                    end: next,
                    state: PeriodState::Gap,
                    observation: None,
                    overlayable: true,
                });
            }
            None => pieces.push(Piece {
                start: *at,
                end: next,
                state: PeriodState::Absent,
                observation: None,
                overlayable: false,
            }),
        }
    }
    pieces.retain(|p| p.start < p.end);
    pieces
}

/// `pieces` with every window in `gaps` turned into Gap (where overlayable).
fn overlay(pieces: Vec<Piece>, gaps: &[(Timestamp, Timestamp)]) -> Vec<Piece> {
    let mut out = Vec::new();
    for piece in pieces {
        if !piece.overlayable {
            out.push(piece);
            continue;
        }
        // Cut the piece at every gap window's edges, then mark the parts inside a window.
        let mut cuts = vec![piece.start, piece.end];
        for &(start, end) in gaps {
            for t in [start, end] {
                if piece.start < t && t < piece.end {
                    cuts.push(t);
                }
            }
        }
        cuts.sort();
        cuts.dedup();
        for pair in cuts.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            let inside = gaps.iter().any(|&(g0, g1)| g0 <= start && end <= g1);
            out.push(if inside {
                Piece {
                    start,
                    end,
                    state: PeriodState::Gap,
                    observation: None,
                    overlayable: true,
                }
            } else {
                Piece {
                    start,
                    end,
                    ..piece.clone()
                }
            });
        }
    }
    out
}

fn clip(
    start: Timestamp,
    end: Timestamp,
    from: Timestamp,
    to: Timestamp,
) -> Option<(Timestamp, Timestamp)> {
    let (start, end) = (start.max(from), end.min(to));
    (start < end).then_some((start, end))
}

fn span(start: Timestamp, end: Timestamp, state: PeriodState) -> Span {
    Span {
        start,
        end,
        state,
        seconds: end.duration_since(start).as_secs(),
    }
}

fn control_report(
    resource: ResourceRef,
    control: ControlId,
    pieces: Vec<Piece>,
    from: Timestamp,
    to: Timestamp,
) -> ControlReport {
    let total = to.duration_since(from).as_secs().max(1);
    let mut timeline: Vec<Span> = Vec::new();
    let mut exemptions: Vec<ExemptionInPeriod> = Vec::new();
    for piece in &pieces {
        let Some((start, end)) = clip(piece.start, piece.end, from, to) else {
            continue;
        };
        match timeline.last_mut() {
            Some(last) if last.state == piece.state && last.end == start => {
                *last = span(last.start, end, piece.state);
            }
            _ => timeline.push(span(start, end, piece.state)),
        }
        let Some(observation) = &piece.observation else {
            continue;
        };
        for exemption in &observation.exemptions {
            match exemptions.iter_mut().find(|e| &e.exemption == exemption) {
                Some(known) => known.to = known.to.max(end),
                None => exemptions.push(ExemptionInPeriod {
                    exemption: exemption.clone(),
                    from: start,
                    to: end,
                }),
            }
        }
    }
    let failures = failures_in(&timeline, &pieces, from);
    let mut shares = Shares::default();
    for span in &timeline {
        shares.get_mut(span.state).seconds += span.seconds;
    }
    for state in PeriodState::ALL {
        let share = shares.get_mut(state);
        share.percent = (share.seconds as f64 * 1000.0 / total as f64).round() / 10.0;
    }
    ControlReport {
        title: control.title().to_string(),
        frameworks: control.framework_refs(),
        resource,
        control,
        shares,
        timeline,
        failures,
        exemptions,
    }
}

/// Every Fail span of the timeline, with what ended it and the findings recorded during it.
fn failures_in(timeline: &[Span], pieces: &[Piece], from: Timestamp) -> Vec<FailureInterval> {
    let mut failures = Vec::new();
    for (index, span) in timeline.iter().enumerate() {
        if span.state != PeriodState::Fail {
            continue;
        }
        let behind: Vec<&Piece> = pieces
            .iter()
            .filter(|p| p.state == PeriodState::Fail && p.start < span.end && span.start < p.end)
            .collect();
        let mut findings: Vec<Finding> = Vec::new();
        let mut failed_objects = 0;
        for observation in behind.iter().filter_map(|p| p.observation.as_ref()) {
            failed_objects = failed_objects.max(observation.failed);
            for finding in &observation.findings {
                if findings.len() < MAX_FINDINGS && !findings.contains(finding) {
                    findings.push(finding.clone());
                }
            }
        }
        failures.push(FailureInterval {
            start: span.start,
            end: span.end,
            seconds: span.seconds,
            started_before_period: span.start == from && behind.iter().any(|p| p.start < from),
            ended_by: timeline.get(index + 1).map(|next| next.state),
            failed_objects,
            findings,
        });
    }
    failures
}
