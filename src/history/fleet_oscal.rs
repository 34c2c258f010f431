//! A fleet report as one OSCAL Assessment Results document (`evidence report --fleet --format
//! oscal`): one result per cluster, each cluster's resources assessed from its own verified
//! entries exactly as a single cluster's period is ([`super::oscal::assessment`]), and a
//! cluster whose chain did not verify stated with its first broken entry.

use super::entry::Entry;
use super::fleet::FleetReport;
use super::report::PeriodReport;
use crate::evidence::oscal::{
    ClusterAssessment, ClusterOutcome, FleetAssessment, ResourceAssessment, date_time,
    fleet_assessment_results, to_text,
};
use jiff::Timestamp;

/// What the OSCAL document keeps of one verified cluster while its entries are read (the
/// argument of [`super::fleet::fleet_report_with`]).
pub fn keep(period: &PeriodReport, entries: &[Entry]) -> Vec<ResourceAssessment> {
    super::oscal::assessment(period, entries).resources
}

/// The fleet as an assessment; `resources[i]` is what [`keep`] drew from cluster `i`.
pub fn assessment(
    report: &FleetReport,
    resources: Vec<Option<Vec<ResourceAssessment>>>,
) -> FleetAssessment {
    let mut heads = Vec::new();
    let clusters = report
        .clusters
        .iter()
        .zip(resources)
        .map(|(cluster, resources)| {
            let mut props = vec![("evidence-history", cluster.source.clone())];
            if let Some(snapshot) = &cluster.snapshot {
                props.push(("history-snapshot", snapshot.clone()));
            }
            let outcome = match (&cluster.broken, &cluster.error, resources) {
                (Some(broken), _, _) => ClusterOutcome::Broken {
                    first_broken: cluster
                        .broken_text
                        .clone()
                        .unwrap_or_else(|| broken.to_string()),
                    seq: broken.seq,
                },
                (None, Some(error), _) => ClusterOutcome::Unreadable(error.clone()),
                (None, None, resources) => {
                    props.push(("history-entries", cluster.entries_verified.to_string()));
                    if let (Some(seq), Some(hash)) = (cluster.through_seq, &cluster.through_hash) {
                        props.push(("history-head-seq", seq.to_string()));
                        props.push(("history-head-hash", hash.clone()));
                    }
                    for gap in &cluster.recording_gaps {
                        props.push((
                            "recording-gap",
                            format!("{}/{}", date_time(gap.start), date_time(gap.end)),
                        ));
                    }
                    ClusterOutcome::Verified(resources.unwrap_or_default())
                }
            };
            heads.push(format!(
                "{}={}",
                cluster.cluster,
                cluster.through_hash.as_deref().unwrap_or("-")
            ));
            ClusterAssessment {
                cluster: cluster.cluster.clone(),
                props,
                outcome,
            }
        })
        .collect();
    let mut props = vec![("evidence-history", report.source.clone())];
    props.extend(
        report
            .trusted_key_ids
            .iter()
            .map(|k| ("trusted-key-id", k.clone())),
    );
    props.push((
        "checkpoint-interval-seconds",
        report.checkpoint_interval_seconds.to_string(),
    ));
    props.push(("clusters", report.clusters.len().to_string()));
    props.push(("clusters-broken", report.broken().count().to_string()));
    FleetAssessment {
        title: format!(
            "baseline-operator: a fleet of {} clusters from {} to {}",
            report.clusters.len(),
            date_time(report.from),
            date_time(report.to)
        ),
        description: "What every cluster's verified evidence history proves about every control \
            of every resource over the period (the same figures as `evidence report --fleet`), \
            one result per cluster. A control is satisfied only when it passed, or was exempted, \
            all the time it existed; a gap, a check that could not run or a failure is \
            not-satisfied, and a cluster whose history does not verify proves nothing: every \
            control of it is not-satisfied, with its first broken entry."
            .into(),
        scope: format!(
            "fleet/{}/{}/{}",
            date_time(report.from),
            date_time(report.to),
            heads.join(",")
        ),
        start: report.from,
        end: report.to,
        props,
        clusters,
    }
}

/// The fleet's OSCAL Assessment Results JSON, generated at `generated`.
pub fn render(
    report: &FleetReport,
    resources: Vec<Option<Vec<ResourceAssessment>>>,
    generated: Timestamp,
) -> String {
    to_text(&fleet_assessment_results(
        &assessment(report, resources),
        generated,
    ))
}
