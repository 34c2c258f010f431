//! Conformance of the Pod Security Standards evaluator against upstream Pod Security Admission
//! fixtures (`k8s.io/pod-security-admission/test/testdata`, v1.37).
//!
//! Layout: `$PSA_FIXTURES/{baseline,restricted}/{pass,fail}/*.yaml`, one Pod per file. When
//! `PSA_FIXTURES` is unset the fixtures are read from `../shared/conformance/pod-security`
//! relative to the crate root.
//!
//! Every older version is checked too, at its own `PsaVersion::Minor(N)`, against upstream's
//! whole `test/testdata` folder (`{baseline,restricted}/v1.N/{pass,fail}/*.yaml`): the one
//! `PSA_UPSTREAM_TESTDATA` names, or else the one in the `k8s.io/pod-security-admission` Go
//! module pinned by `tests/cluster/k8s/go.mod` (`go mod download`, from the Go module cache or
//! the Go module proxy, checked against go.sum). Missing fixtures fail these tests, never skip
//! them: a conformance claim without its evidence is not a pass.

use baseline_operator::evaluate::pod_security::{Level, PsaVersion, Violation, evaluate};
use baseline_operator::projection::Projected;

use k8s_openapi::api::core::v1::Pod;
use std::path::{Path, PathBuf};

const MIN_FIXTURES: usize = 140;

fn fixtures_root() -> PathBuf {
    match std::env::var_os("PSA_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/pod-security"),
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Privileged => "privileged",
        Level::Baseline => "baseline",
        Level::Restricted => "restricted",
    }
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn load_pod(path: &Path) -> Result<Pod, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut pod: Pod =
        serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    // Judged as the operator keeps it (`baseline_operator::projection`): upstream's verdicts
    // on the reduced pods prove the reduction keeps every field Pod Security reads.
    pod.project();
    Ok(pod)
}

fn eval(level: Level, version: PsaVersion, pod: &Pod) -> Vec<Violation> {
    let spec = pod.spec.clone().unwrap_or_default();
    evaluate(level, version, &pod.metadata, &spec)
}

/// Upstream names a fail fixture after the check it targets; at `restricted`, a targeted
/// baseline check may be replaced by the restricted check that overrides it.
fn targeted_checks(stem: &str, level: Level) -> Vec<String> {
    let target = stem
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_string();
    let mut ids = vec![target.clone()];
    if level == Level::Restricted
        && let Some((_, by)) = OVERRIDES.iter().find(|(baseline, _)| *baseline == target)
    {
        ids.push(by.to_string());
    }
    ids
}

/// (baseline check id, restricted check overriding it), lowercased.
const OVERRIDES: &[(&str, &str)] = &[
    ("capabilities_baseline", "capabilities_restricted"),
    ("hostpathvolumes", "restrictedvolumes"),
    ("seccompprofile_baseline", "seccompprofile_restricted"),
    ("procmount", "procmount_restricted"),
];

fn describe(v: &[Violation]) -> String {
    v.iter()
        .map(|v| format!("{} [{}: {}]", v.check, v.reason, v.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks one fixture at one version; returns a description of every disagreement.
fn check_fixture(path: &Path, level: Level, pass: bool, version: PsaVersion) -> Vec<String> {
    let mut problems = Vec::new();
    let pod = match load_pod(path) {
        Ok(p) => p,
        Err(e) => return vec![format!("cannot load fixture: {e}")],
    };
    let name = path.display();
    let at = version.as_label();
    let got = eval(level, version, &pod);
    if pass {
        if !got.is_empty() {
            problems.push(format!(
                "{name} @{at}: expected pass, got {}",
                describe(&got)
            ));
        }
        return problems;
    }

    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let targets = targeted_checks(stem, level);
    // The targeted check must be among the failures. (Not necessarily the only one: e.g.
    // upstream's `privileged` fixtures at restricted drop allowPrivilegeEscalation=false, and
    // its `windowsHostProcess` fixtures also set hostNetwork.)
    if got.is_empty() {
        problems.push(format!("{name} @{at}: expected a violation, got none"));
    } else if !got
        .iter()
        .any(|v| targets.contains(&v.check.to_ascii_lowercase()))
    {
        problems.push(format!(
            "{name} @{at}: expected a violation of {targets:?}, got {}",
            describe(&got)
        ));
    }

    // A pod failing baseline must fail restricted too (restricted includes baseline).
    let restricted = eval(Level::Restricted, version, &pod);
    if level == Level::Baseline && restricted.is_empty() {
        problems.push(format!(
            "{name} @{at}: fails baseline but passes restricted"
        ));
    }
    // For restricted fixtures, every baseline failure must show up at restricted, either as
    // the same check or as the restricted check that overrides it.
    if level == Level::Restricted {
        let restricted_ids: Vec<String> = restricted
            .iter()
            .map(|v| v.check.to_ascii_lowercase())
            .collect();
        for b in eval(Level::Baseline, version, &pod) {
            let id = b.check.to_ascii_lowercase();
            let covered = restricted_ids.contains(&id)
                || OVERRIDES
                    .iter()
                    .any(|(base, by)| *base == id && restricted_ids.iter().any(|r| r == by));
            if !covered {
                problems.push(format!(
                    "{name} @{at}: baseline violation {} missing at restricted ({})",
                    b.check,
                    describe(&restricted)
                ));
            }
        }
    }
    problems
}

#[test]
fn upstream_fixtures_v1_37() {
    let root = fixtures_root();
    let mut total = 0usize;
    let mut agreed = 0usize;
    let mut problems = Vec::new();
    for level in [Level::Baseline, Level::Restricted] {
        for (outcome, pass) in [("pass", true), ("fail", false)] {
            let dir = root.join(level_name(level)).join(outcome);
            for path in yaml_files(&dir) {
                total += 1;
                let mut p = check_fixture(&path, level, pass, PsaVersion::Latest);
                p.extend(check_fixture(&path, level, pass, PsaVersion::Minor(37)));
                if let Ok(pod) = load_pod(&path) {
                    let latest = eval(level, PsaVersion::Latest, &pod);
                    let v137 = eval(level, PsaVersion::Minor(37), &pod);
                    if latest != v137 {
                        p.push(format!(
                            "{}: latest and v1.37 differ: {} vs {}",
                            path.display(),
                            describe(&latest),
                            describe(&v137)
                        ));
                    }
                }
                if p.is_empty() {
                    agreed += 1;
                }
                problems.extend(p);
            }
        }
    }
    assert!(
        total >= MIN_FIXTURES,
        "found {total} fixture files under {} (need at least {MIN_FIXTURES}); set PSA_FIXTURES",
        root.display()
    );
    eprintln!("agreed with upstream on {agreed} of {total} fixtures");
    assert!(
        problems.is_empty(),
        "{} disagreement(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Upstream's `test/testdata`: `PSA_UPSTREAM_TESTDATA`, or the pinned Go module's copy.
fn upstream_testdata() -> PathBuf {
    if let Some(root) = std::env::var_os("PSA_UPSTREAM_TESTDATA") {
        return PathBuf::from(root);
    }
    let pins = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/k8s");
    let out = std::process::Command::new("go")
        .args(["mod", "download", "-json", "k8s.io/pod-security-admission"])
        .current_dir(&pins)
        .output()
        .unwrap_or_else(|e| {
            panic!("PSA_UPSTREAM_TESTDATA is unset and `go` cannot run ({e}): no upstream fixtures to check against")
        });
    assert!(
        out.status.success(),
        "PSA_UPSTREAM_TESTDATA is unset and `go mod download k8s.io/pod-security-admission` failed in {}:\n{}{}",
        pins.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let module: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("go mod download -json");
    let dir = module["Dir"]
        .as_str()
        .unwrap_or_else(|| panic!("go mod download printed no Dir: {module}"));
    Path::new(dir).join("test/testdata")
}

#[test]
fn upstream_fixtures_all_versions() {
    let root = upstream_testdata();
    // The project's copy of the newest version must be upstream's, unchanged (and present).
    let shared = fixtures_root();
    for level in [Level::Baseline, Level::Restricted] {
        for outcome in ["pass", "fail"] {
            let ours = yaml_files(&shared.join(level_name(level)).join(outcome));
            let theirs = yaml_files(&root.join(level_name(level)).join("v1.37").join(outcome));
            assert!(
                !ours.is_empty(),
                "no fixtures under {}: the conformance fixtures are missing",
                shared.join(level_name(level)).join(outcome).display()
            );
            let names = |files: &[PathBuf]| -> Vec<_> {
                files
                    .iter()
                    .map(|f| f.file_name().unwrap().to_owned())
                    .collect()
            };
            assert_eq!(
                names(&ours),
                names(&theirs),
                "{} {outcome}: file sets differ from upstream v1.37",
                level_name(level)
            );
            for (a, b) in ours.iter().zip(&theirs) {
                assert_eq!(
                    std::fs::read(a).unwrap(),
                    std::fs::read(b).unwrap(),
                    "{} differs from upstream {}",
                    a.display(),
                    b.display()
                );
            }
        }
    }
    let mut total = 0usize;
    let mut agreed = 0usize;
    let mut problems = Vec::new();
    for level in [Level::Baseline, Level::Restricted] {
        let level_dir = root.join(level_name(level));
        let entries = std::fs::read_dir(&level_dir)
            .unwrap_or_else(|e| panic!("{}: {e}", level_dir.display()));
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                match PsaVersion::parse(&name)? {
                    PsaVersion::Minor(m) => Some((m, e.path())),
                    PsaVersion::Latest => None,
                }
            })
            .collect();
        versions.sort();
        for (minor, dir) in versions {
            for (outcome, pass) in [("pass", true), ("fail", false)] {
                for path in yaml_files(&dir.join(outcome)) {
                    total += 1;
                    let p = check_fixture(&path, level, pass, PsaVersion::Minor(minor));
                    if p.is_empty() {
                        agreed += 1;
                    }
                    problems.extend(p);
                }
            }
        }
    }
    // Upstream has fixtures for every minor version since v1.0.
    assert!(
        total >= MIN_FIXTURES * 10,
        "found {total} fixture files under {} (need at least {})",
        root.display(),
        MIN_FIXTURES * 10
    );
    eprintln!("agreed with upstream on {agreed} of {total} per-version fixtures");
    assert!(
        problems.is_empty(),
        "{} disagreement(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
