//! Which of two Pod Security levels and versions is stricter: what the operator compares when
//! a namespace it is to label already carries labels of someone else's.
//!
//! "At least as strict" is decided from upstream's check registry ([`CHECKS`]):
//!
//! - the level first, in Pod Security's own order (privileged < baseline < restricted): a
//!   stricter level forbids everything the other level is about, at any version;
//! - at the same level, the version that applies more checks: upstream only ever adds checks
//!   (host probes and lifecycle hooks in v1.34, the restricted `procMount` in v1.35, ...), so a
//!   pinned older version such as v1.30 applies fewer checks than `latest` and is *not*
//!   stricter, although it is older;
//! - among versions that apply the same checks, the older: a check's later variants only relax
//!   it (more namespaced sysctls, more SELinux types, Windows and user-namespace pods allowed),
//!   so v1.36 is at least as strict as `latest` when no check was added since.
//!
//! The one later variant that is not a relaxation (v1.19's seccomp, fields instead of the
//! annotations) lies before any version a cluster of this operator's age serves.

use super::{CHECKS, Level, PsaVersion, newest_check_version};

/// The 1.x minor `version` resolves to: `latest` and anything newer than the newest check
/// variant behave as the newest.
fn resolve(version: PsaVersion) -> u32 {
    let newest = newest_check_version();
    match version {
        PsaVersion::Latest => newest,
        PsaVersion::Minor(m) => m.min(newest),
    }
}

/// How many checks `level` applies at minor `version`, counting a baseline check a restricted
/// one replaces as applied (the replacement is stricter). Checks apply from their first
/// variant on, so the checks of an older version are a subset of a newer one's.
fn checks_applied(level: Level, version: u32) -> usize {
    CHECKS
        .iter()
        .filter(|c| c.level <= level)
        .filter(|c| c.active(version).is_some())
        .count()
}

/// Whether Pod Security at `a` rejects at least what it rejects at `b` (module docs).
pub fn at_least_as_strict(a: (Level, PsaVersion), b: (Level, PsaVersion)) -> bool {
    if a.0 != b.0 {
        return a.0 > b.0;
    }
    if a.0 == Level::Privileged {
        return true;
    }
    let (va, vb) = (resolve(a.1), resolve(b.1));
    let (ca, cb) = (checks_applied(a.0, va), checks_applied(a.0, vb));
    ca > cb || (ca == cb && va <= vb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::*;
    use PsaVersion::*;

    #[test]
    fn a_stricter_level_is_stricter_at_any_version() {
        assert!(at_least_as_strict(
            (Restricted, Minor(20)),
            (Baseline, Latest)
        ));
        assert!(at_least_as_strict(
            (Restricted, Latest),
            (Baseline, Minor(30))
        ));
        assert!(!at_least_as_strict(
            (Baseline, Latest),
            (Restricted, Minor(20))
        ));
        assert!(!at_least_as_strict(
            (Privileged, Latest),
            (Baseline, Minor(0))
        ));
        assert!(at_least_as_strict(
            (Baseline, Minor(0)),
            (Privileged, Latest)
        ));
    }

    #[test]
    fn a_pinned_older_version_is_not_stricter_than_latest_when_latest_checks_more() {
        // v1.30 lacks the host probe and lifecycle check added in v1.34.
        assert!(!at_least_as_strict(
            (Baseline, Minor(30)),
            (Baseline, Latest)
        ));
        assert!(at_least_as_strict(
            (Baseline, Latest),
            (Baseline, Minor(30))
        ));
        // Restricted: v1.34 lacks the restricted procMount check of v1.35.
        assert!(!at_least_as_strict(
            (Restricted, Minor(34)),
            (Restricted, Latest)
        ));
    }

    #[test]
    fn with_the_same_checks_the_older_version_is_stricter() {
        // v1.36 applies every check latest does, with the sysctls list before v1.37 widened it.
        assert!(at_least_as_strict(
            (Baseline, Minor(36)),
            (Baseline, Latest)
        ));
        assert!(!at_least_as_strict(
            (Baseline, Latest),
            (Baseline, Minor(36))
        ));
        // Versions past the newest variant are latest.
        assert!(at_least_as_strict(
            (Baseline, Minor(99)),
            (Baseline, Latest)
        ));
        assert!(at_least_as_strict(
            (Baseline, Latest),
            (Baseline, Minor(99))
        ));
    }
}
