//! `Reach` compiles a backup's namespace lists once; these check it answers as Velero reads
//! the lists, walked one entry at a time.

use super::*;
use proptest::prelude::*;

/// Velero's reading of the namespace lists, entry by entry: the include list (empty or `*`:
/// every namespace), then the exclude list (`*`: none).
fn walked(spec: &BackupSpec, namespace: &str) -> (bool, bool) {
    let listed = |list: &[String]| list.iter().any(|n| n == "*" || n == namespace);
    let included = spec.included_namespaces.is_empty() || listed(&spec.included_namespaces);
    (included, included && !listed(&spec.excluded_namespaces))
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("shop".to_string()),
        Just("orders".to_string()),
        Just("*".to_string()),
        Just(String::new()),
        "[a-c]{1,2}",
    ]
}

proptest! {
    #[test]
    fn a_compiled_reach_answers_as_the_lists_walked_entry_by_entry(
        included in proptest::collection::vec(name(), 0..4),
        excluded in proptest::collection::vec(name(), 0..3),
        narrowed in any::<bool>(),
        asked in name(),
        others in proptest::collection::hash_set(name(), 0..4),
    ) {
        let spec = BackupSpec {
            included_namespaces: included,
            excluded_namespaces: excluded,
            included_resources: if narrowed { vec!["pods".into()] } else { vec![] },
            ..BackupSpec::default()
        };
        let reach = Reach::of(&spec);
        let (included, held) = walked(&spec, &asked);
        prop_assert_eq!(reach.includes(&asked), included);
        prop_assert_eq!(includes(&spec.included_namespaces, &asked), included);
        let expected = match (held, narrowed) {
            (false, _) => Coverage::Outside,
            (true, false) => Coverage::Whole,
            (true, true) => Coverage::Partial("only resources pods".into()),
        };
        prop_assert_eq!(reach.coverage(&asked), expected.clone());
        prop_assert_eq!(coverage(&spec, &asked), expected);
        let others: HashSet<&str> = others.iter().map(String::as_str).collect();
        let any_walked = others.iter().any(|ns| walked(&spec, ns).0);
        prop_assert_eq!(reach.includes_any(&others), any_walked);
    }
}
