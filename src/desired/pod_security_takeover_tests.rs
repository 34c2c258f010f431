use super::*;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (format!("pod-security.kubernetes.io/{k}"), v.to_string()))
        .collect()
}

fn wanted(level: &str, version: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for mode in MODES {
        out.insert(level_key(mode), level.to_string());
        out.insert(version_key(mode), version.to_string());
    }
    out
}

#[test]
fn an_unlabelled_namespace_gets_the_baselines_labels_and_records_their_absence() {
    let t = take_over(&wanted("baseline", "latest"), &BTreeMap::new(), None);
    assert_eq!(t.labels, wanted("baseline", "latest"));
    assert!(t.record.values().all(Option::is_none));
    assert_eq!(t.record.len(), 6);
    assert!(t.kept.is_empty());
    assert!(restored(&t.record).is_empty());
}

#[test]
fn a_stricter_prior_is_kept_per_mode_and_a_weaker_one_replaced() {
    let current = map(&[
        ("enforce", "restricted"),
        ("warn", "baseline"),
        ("warn-version", "v1.30"),
        ("audit", "privileged"),
    ]);
    let t = take_over(&wanted("baseline", "latest"), &current, None);
    assert_eq!(
        t.labels,
        map(&[
            // Kept, without a version label it never had.
            ("enforce", "restricted"),
            // v1.30 applies fewer checks than latest: replaced.
            ("warn", "baseline"),
            ("warn-version", "latest"),
            ("audit", "baseline"),
            ("audit-version", "latest"),
        ])
    );
    assert_eq!(t.kept, ["enforce=restricted:latest"]);
    // What comes back when the baseline leaves: exactly what was there.
    assert_eq!(restored(&t.record), current);
}

#[test]
fn the_same_level_at_an_older_version_with_the_same_checks_is_kept() {
    let current = map(&[("enforce", "baseline"), ("enforce-version", "v1.36")]);
    let t = take_over(&wanted("baseline", "latest"), &current, None);
    assert_eq!(t.labels[&level_key("enforce")], "baseline");
    assert_eq!(t.labels[&version_key("enforce")], "v1.36");
    assert_eq!(t.kept, ["enforce=baseline:v1.36"]);
}

#[test]
fn invalid_priors_are_not_kept_but_are_restored() {
    let current = map(&[
        ("enforce", "strict"),
        ("warn", "restricted"),
        ("warn-version", "1.30"),
    ]);
    let t = take_over(&wanted("baseline", "latest"), &current, None);
    assert_eq!(t.labels, wanted("baseline", "latest"));
    assert_eq!(restored(&t.record), current);
}

/// Once recorded, the priors decide, not the labels the operator itself wrote since: a
/// baseline made weaker does not keep its own former labels, and the record is carried on.
#[test]
fn the_record_not_the_operators_own_labels_decides() {
    let own = wanted("restricted", "latest");
    let record: Record = take_over(&own, &BTreeMap::new(), None).record;
    let t = take_over(&wanted("baseline", "latest"), &own, Some(&record));
    assert_eq!(t.labels, wanted("baseline", "latest"));
    assert_eq!(t.record, record);
    // A stricter prior recorded earlier stays kept after a restart.
    let prior = map(&[("enforce", "restricted")]);
    let first = take_over(&wanted("baseline", "latest"), &prior, None);
    let again = take_over(
        &wanted("baseline", "latest"),
        &first.labels,
        Some(&first.record),
    );
    assert_eq!(again, first);
}

#[test]
fn a_record_counts_only_on_a_marked_namespace() {
    let marker = "security.baseline.dev/pod-security-from";
    let forged: Record = [(level_key("enforce"), Some("privileged".to_string()))].into();
    let annotations = BTreeMap::from([(record_annotation(marker), render_record(&forged))]);
    assert_eq!(trusted_record(marker, &BTreeMap::new(), &annotations), None);
    let marked = BTreeMap::from([(marker.to_string(), "uid-1".to_string())]);
    assert_eq!(trusted_record(marker, &marked, &annotations), Some(forged));
    // Marked by an older release, without a record: priors unknown, treated as absent.
    let legacy = trusted_record(marker, &marked, &BTreeMap::new()).unwrap();
    assert!(legacy.values().all(Option::is_none));
    assert_eq!(legacy.len(), 6);
}

#[test]
fn only_the_operator_may_rewrite_the_record_and_the_marker() {
    let owner = Owner {
        api_version: "security.baseline.dev/v1alpha1".into(),
        kind: "SecurityBaseline".into(),
        name: "prod".into(),
        uid: "uid-1".into(),
    };
    let marker = "security.baseline.dev/pod-security-from";
    let snapshot = Snapshot::default();
    assert!(record_guard(&owner, marker, &snapshot, None).is_empty());
    let objects = record_guard(
        &owner,
        marker,
        &snapshot,
        Some("system:serviceaccount:ops:op"),
    );
    assert_eq!(objects.len(), 2, "a policy and its binding");
    let policy = &objects[0].json();
    assert_eq!(policy["metadata"]["name"], "sb-prod-workload-hardening");
    assert_eq!(
        policy["spec"]["matchConstraints"]["resourceRules"][0]["operations"],
        serde_json::json!(["UPDATE"])
    );
    let expression = policy["spec"]["validations"][0]["expression"]
        .as_str()
        .unwrap();
    assert!(
        expression.starts_with("request.userInfo.username == 'system:serviceaccount:ops:op' || !("),
        "{expression}"
    );
    assert!(expression.contains("'security.baseline.dev/pod-security-from-prior'"));
    assert!(expression.contains("variables.oldLabels"));
}

proptest::proptest! {
    /// The priors a plan keeps per Namespace version stand for the namespace's labels and
    /// record: the takeover from them equals the takeover from the namespace itself.
    #[test]
    fn a_takeover_from_the_priors_equals_one_from_the_namespace(
        levels in proptest::collection::vec(
            proptest::option::of(proptest::sample::select(vec!["privileged", "baseline", "restricted", "bogus"])),
            6,
        ),
        marked in proptest::bool::ANY,
        recorded in proptest::option::of(proptest::collection::vec(
            proptest::option::of(proptest::sample::select(vec!["baseline", "restricted", "v1.30"])),
            6,
        )),
        other in proptest::option::of("[a-z]{1,5}"),
        want in proptest::sample::select(vec!["privileged", "baseline", "restricted"]),
    ) {
        const MARKER: &str = "security.baseline.dev/pod-security-from";
        let keys: Vec<String> = MODES.iter().flat_map(|m| [level_key(m), version_key(m)]).collect();
        let mut labels: BTreeMap<String, String> = keys
            .iter()
            .zip(&levels)
            .filter_map(|(k, v)| Some((k.clone(), (*v)?.to_string())))
            .collect();
        if let Some(other) = other {
            labels.insert("team".into(), other);
        }
        if marked {
            labels.insert(MARKER.into(), "uid-1".into());
        }
        let mut annotations = BTreeMap::new();
        if let Some(recorded) = recorded {
            let record: Record = keys
                .iter()
                .zip(recorded)
                .map(|(k, v)| (k.clone(), v.map(str::to_string)))
                .collect();
            annotations.insert(record_annotation(MARKER), render_record(&record));
        }
        let wanted = wanted(want, "latest");
        let direct = take_over(&wanted, &labels, trusted_record(MARKER, &labels, &annotations).as_ref());
        let kept = priors(MARKER, &labels, &annotations);
        let from_priors = take_over(&wanted, &BTreeMap::new(), Some(&kept));
        proptest::prop_assert_eq!(direct.labels, from_priors.labels);
        proptest::prop_assert_eq!(direct.record, from_priors.record);
        proptest::prop_assert_eq!(direct.kept, from_priors.kept);
    }
}

/// `kept_priors` is `take_over`'s kept list for every combination of priors a namespace can
/// record (absent, weaker, equal, stricter, another version, unparsable), per mode.
#[test]
fn kept_priors_is_what_take_over_keeps() {
    let values: [Option<(&str, Option<&str>)>; 7] = [
        None,
        Some(("privileged", None)),
        Some(("baseline", Some("latest"))),
        Some(("restricted", None)),
        Some(("restricted", Some("v1.30"))),
        Some(("baseline", Some("v1.36"))),
        Some(("strictest", Some("latest"))),
    ];
    for want in [wanted("baseline", "latest"), wanted("restricted", "v1.30")] {
        for (i, enforce) in values.iter().enumerate() {
            // The other modes take other combinations, so that modes differ in one record.
            let warn = &values[(i + 2) % values.len()];
            let audit = &values[(i + 5) % values.len()];
            let mut record = Record::new();
            for (mode, value) in MODES.iter().zip([enforce, warn, audit]) {
                let (level, version) = match value {
                    Some((l, v)) => (Some(l.to_string()), v.map(str::to_string)),
                    None => (None, None),
                };
                record.insert(level_key(mode), level);
                record.insert(version_key(mode), version);
            }
            let taken = take_over(&want, &BTreeMap::new(), Some(&record));
            assert_eq!(kept_priors(&want, &record), taken.kept, "{record:?}");
        }
    }
}
