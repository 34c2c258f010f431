use super::*;
use crate::evaluate::ObjectRef;
use proptest::prelude::*;

const CONTROLS: [ControlId; 2] = [ControlId::RestrictedPorts, ControlId::HighAvailability];

fn violation(at: usize) -> Violation {
    // Few objects, shared between namespaces' parts: the sum must count a finding two parts
    // hold once, and keep it until both are gone.
    Violation::new(
        ObjectRef {
            kind: "Deployment".into(),
            namespace: Some(format!("ns-{}", at % 3)),
            name: format!("app-{at}"),
            labels: Default::default(),
            pod_labels: None,
        },
        format!("finding {}", at % 2),
    )
}

/// A part: per control, checked, which pooled findings, and whether the check ran; the
/// workloads one exemption misses for each control.
type PartShape = (Vec<(u8, Vec<usize>, Option<u8>)>, Vec<Vec<usize>>);

fn part((controls, missed): &PartShape) -> NamespaceOutcomes {
    NamespaceOutcomes {
        outcomes: CONTROLS
            .iter()
            .zip(controls)
            .map(|(&id, (checked, found, not_run))| {
                let outcome = ControlOutcome::checked(
                    id,
                    usize::from(*checked),
                    found.iter().map(|&at| violation(at)).collect(),
                );
                match not_run {
                    Some(why) => outcome.with_check_not_run(format!("reason {why}")),
                    None => outcome,
                }
            })
            .collect(),
        missed: MissedByTemplates(vec![
            missed
                .iter()
                .map(|workloads| {
                    let mut names: Vec<String> = workloads
                        .iter()
                        .map(|w| format!("Deployment w/{w}"))
                        .collect();
                    names.sort();
                    names
                })
                .collect(),
        ]),
    }
}

fn part_shape() -> impl Strategy<Value = PartShape> {
    (
        proptest::collection::vec(
            (
                0u8..5,
                proptest::collection::vec(0usize..6, 0..4),
                proptest::option::of(0u8..2),
            ),
            CONTROLS.len(),
        ),
        proptest::collection::vec(proptest::collection::vec(0usize..4, 0..3), CONTROLS.len()),
    )
}

/// What folding the parts one by one, in namespace order, gives (see
/// `per_namespace::merge_security_baseline`), before the resource level.
fn folded(parts: &BTreeMap<String, NamespaceOutcomes>) -> (Vec<ControlOutcome>, MissedByTemplates) {
    let mut total: Vec<ControlOutcome> = CONTROLS
        .iter()
        .map(|&id| ControlOutcome::checked(id, 0, Vec::new()))
        .collect();
    let mut missed = MissedByTemplates::default();
    for part in parts.values() {
        per_namespace::add(&mut total, &part.outcomes);
        missed.merge(&part.missed);
    }
    let total = total
        .into_iter()
        .map(|o| {
            let merged =
                ControlOutcome::checked(o.id, usize::try_from(o.checked).unwrap(), o.violations);
            match o.not_run {
                Some(why) => merged.with_check_not_run(why),
                None => merged,
            }
        })
        .collect();
    (total, missed)
}

proptest! {
    /// Whatever parts come, are replaced and go, the kept sum equals the fold of the parts
    /// kept at the end.
    #[test]
    fn the_sum_equals_the_fold_of_the_parts_kept(
        steps in proptest::collection::vec(
            (0usize..4, proptest::option::of(part_shape())),
            0..24,
        )
    ) {
        let mut kept = KeptParts::default();
        let mut oracle: BTreeMap<String, NamespaceOutcomes> = BTreeMap::new();
        for (at, shape) in &steps {
            let namespace = format!("ns-{at}");
            match shape {
                Some(shape) => {
                    kept.insert(namespace.clone(), Arc::new(part(shape)));
                    oracle.insert(namespace, part(shape));
                }
                None => {
                    kept.remove(&namespace);
                    oracle.remove(&namespace);
                }
            }
        }
        let namespaces: Vec<&String> = kept.namespaces().collect();
        prop_assert_eq!(namespaces, oracle.keys().collect::<Vec<_>>());
        let (outcomes, missed) = folded(&oracle);
        let resource_level = || {
            CONTROLS
                .iter()
                .map(|&id| ControlOutcome::checked(id, 1, vec![violation(7)]))
                .collect::<Vec<_>>()
        };
        // Compared as the fold leaves them: with the resource level's outcomes added.
        let mut expected = resource_level();
        per_namespace::add(&mut expected, &outcomes);
        let expected = with_resource_level(expected, &[]);
        prop_assert_eq!(with_resource_level(resource_level(), &kept.outcomes()), expected);
        if oracle.is_empty() {
            prop_assert!(kept.outcomes().is_empty());
        }
        prop_assert_eq!(kept.missed(), missed);
    }
}

#[test]
fn a_finding_two_parts_hold_stays_until_both_are_gone() {
    let shape = |found: Vec<usize>| -> PartShape {
        (
            vec![(1, found, None), (1, Vec::new(), None)],
            vec![Vec::new(), Vec::new()],
        )
    };
    let mut kept = KeptParts::default();
    kept.insert("a".into(), Arc::new(part(&shape(vec![1]))));
    kept.insert("b".into(), Arc::new(part(&shape(vec![1, 2]))));
    assert_eq!(
        kept.outcomes()[0].violations,
        vec![violation(1), violation(2)]
    );
    kept.insert("b".into(), Arc::new(part(&shape(Vec::new()))));
    assert_eq!(kept.outcomes()[0].violations, vec![violation(1)]);
    assert_eq!(kept.outcomes()[0].checked, 2);
    kept.remove("a");
    assert!(kept.outcomes()[0].violations.is_empty());
    kept.remove("b");
    assert!(kept.outcomes().is_empty());
    assert_eq!(kept.missed(), MissedByTemplates::default());
}
