//! Which report API the operator writes its findings to: `wgpolicyk8s.io/v1alpha2`
//! PolicyReports, `openreports.io/v1alpha1` Reports, or both. Pure: the choice (`--reports-api`,
//! chart value `reports.api`) and what discovery found in, the APIs to write out.
//!
//! The two APIs carry the same figures (the same results, summaries and confidentiality rules,
//! see [`super::report`]); only apiVersion, kind and the report-level `source` differ.

use crate::desired::OwnedKind;

/// A report API the operator can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportApi {
    /// `wgpolicyk8s.io/v1alpha2` PolicyReport and ClusterPolicyReport.
    WgPolicyK8s,
    /// `openreports.io/v1alpha1` Report and ClusterReport, the successor API Kyverno is
    /// moving its reports to and Policy Reporter reads.
    OpenReports,
}

impl ReportApi {
    pub const ALL: [ReportApi; 2] = [Self::WgPolicyK8s, Self::OpenReports];

    pub fn api_version(self) -> &'static str {
        match self {
            Self::WgPolicyK8s => super::report::API_VERSION,
            Self::OpenReports => super::report::OPENREPORTS_API_VERSION,
        }
    }

    /// The namespaced report kind.
    pub fn namespaced(self) -> OwnedKind {
        match self {
            Self::WgPolicyK8s => OwnedKind::PolicyReport,
            Self::OpenReports => OwnedKind::Report,
        }
    }

    /// The cluster-scoped report kind.
    pub fn cluster(self) -> OwnedKind {
        match self {
            Self::WgPolicyK8s => OwnedKind::ClusterPolicyReport,
            Self::OpenReports => OwnedKind::ClusterReport,
        }
    }
}

/// The operator's setting (`--reports-api`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportsChoice {
    /// OpenReports when the cluster serves it, else wgpolicyk8s: one set of reports, in the
    /// API the cluster's report readers are most likely to read.
    #[default]
    Auto,
    Wgpolicyk8s,
    Openreports,
    /// Both APIs, while the readers move from one to the other.
    Both,
}

/// What discovery knows about a report API so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// Not looked yet (start-up), or served and its objects not listed yet.
    Unknown,
    /// Not served (or served but not listable by the operator).
    Absent,
    /// Served, and the operator's own reports of it are in the stores.
    Served,
}

/// The APIs to write reports to, given what discovery knows. `None`: not decided yet (auto
/// waits for OpenReports' discovery, so that a start on a cluster serving both writes
/// PolicyReports neither once nor for a moment): nothing is written or pruned. Reports of a
/// served API not in the answer are pruned by the caller: two copies of the same figures would
/// be counted twice by a reader of both.
pub fn write_to(
    choice: ReportsChoice,
    wgpolicyk8s: Discovery,
    openreports: Discovery,
) -> Option<Vec<ReportApi>> {
    let served = |api: ReportApi| {
        let found = match api {
            ReportApi::WgPolicyK8s => wgpolicyk8s,
            ReportApi::OpenReports => openreports,
        };
        (found == Discovery::Served).then_some(api)
    };
    let only = |api: ReportApi| served(api).into_iter().collect::<Vec<_>>();
    match choice {
        ReportsChoice::Wgpolicyk8s => Some(only(ReportApi::WgPolicyK8s)),
        ReportsChoice::Openreports => Some(only(ReportApi::OpenReports)),
        ReportsChoice::Both => Some(ReportApi::ALL.into_iter().filter_map(served).collect()),
        // When both are served, OpenReports: Kyverno is moving there and Policy Reporter reads it,
        // and writing one set keeps a reader of both from counting each finding twice.
        ReportsChoice::Auto => match openreports {
            Discovery::Served => Some(vec![ReportApi::OpenReports]),
            Discovery::Absent => Some(only(ReportApi::WgPolicyK8s)),
            Discovery::Unknown => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Discovery::*;
    use ReportApi::*;

    #[test]
    fn auto_prefers_openreports_and_falls_back_to_wgpolicyk8s() {
        let auto = ReportsChoice::Auto;
        assert_eq!(write_to(auto, Served, Served), Some(vec![OpenReports]));
        assert_eq!(write_to(auto, Absent, Served), Some(vec![OpenReports]));
        assert_eq!(write_to(auto, Served, Absent), Some(vec![WgPolicyK8s]));
        assert_eq!(write_to(auto, Absent, Absent), Some(vec![]));
        // While OpenReports is not known, auto writes nothing (and prunes nothing).
        assert_eq!(write_to(auto, Served, Unknown), None);
    }

    #[test]
    fn explicit_choices_write_only_what_is_served() {
        use ReportsChoice as C;
        assert_eq!(
            write_to(C::Wgpolicyk8s, Served, Served),
            Some(vec![WgPolicyK8s])
        );
        assert_eq!(write_to(C::Wgpolicyk8s, Unknown, Served), Some(vec![]));
        assert_eq!(
            write_to(C::Openreports, Served, Served),
            Some(vec![OpenReports])
        );
        assert_eq!(write_to(C::Openreports, Served, Absent), Some(vec![]));
        assert_eq!(
            write_to(C::Both, Served, Served),
            Some(vec![WgPolicyK8s, OpenReports])
        );
        assert_eq!(write_to(C::Both, Served, Unknown), Some(vec![WgPolicyK8s]));
    }
}
