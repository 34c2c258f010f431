use super::*;

#[test]
fn every_id_has_exactly_one_catalog_entry() {
    for &id in ControlId::ALL {
        assert_eq!(CATALOG.iter().filter(|c| c.id == id).count(), 1, "{id}");
        assert!(!id.control().frameworks.is_empty(), "{id} proves nothing");
        assert_eq!(serde_json::to_value(id).unwrap(), id.as_str());
    }
    assert_eq!(CATALOG.len(), 15);
}

/// ISO/IEC 27002:2022 Annex B (Table B.2, 2013 -> 2022): the 2022 controls each 2013
/// Annex A control the catalog cites became.
const ISO27002_2022_ANNEX_B: &[(&str, &[&str])] = &[
    ("A.6.1.2", &["5.3"]),
    ("A.9.2.3", &["8.2"]),
    ("A.9.4.1", &["8.3"]),
    ("A.9.4.4", &["8.18"]),
    ("A.10.1.1", &["8.24"]),
    ("A.12.1.3", &["8.6"]),
    ("A.12.1.4", &["8.31"]),
    ("A.12.3.1", &["8.13"]),
    ("A.12.5.1", &["8.19"]),
    ("A.12.6.2", &["8.19"]),
    ("A.13.1.1", &["8.20"]),
    ("A.13.1.3", &["8.22"]),
    ("A.13.2.1", &["5.14"]),
    ("A.14.1.3", &["8.26"]),
    ("A.14.2.4", &["8.32"]),
    ("A.14.3.1", &["8.33"]),
    ("A.17.1.3", &["5.29"]),
    ("A.18.1.3", &["5.33"]),
];

fn ids(id: ControlId, framework: Framework) -> Vec<&'static str> {
    id.references(framework).map(|r| r.id).collect()
}

#[test]
fn every_control_cites_iso27001_2022_and_soc2_with_well_formed_ids() {
    for control in CATALOG {
        let id = control.id;
        assert!(
            !ids(id, Iso27001v2022).is_empty(),
            "{id}: no ISO/IEC 27001:2022"
        );
        assert!(!ids(id, Soc2).is_empty(), "{id}: no SOC 2 criterion");
        for r in control.frameworks {
            assert!(
                r.framework.is_well_formed(r.id),
                "{id}: {r} is not a {} reference",
                r.framework.name()
            );
            assert!(!r.title.trim().is_empty(), "{id}: {r} has no title");
        }
    }
}

#[test]
fn well_formed_ids_are_exactly_the_frameworks_controls() {
    let ok = |f: Framework, id: &str| f.is_well_formed(id);
    for id in [
        "5.1", "5.37", "6.1", "6.8", "7.1", "7.14", "8.1", "8.9", "8.34",
    ] {
        assert!(ok(Iso27001v2022, id), "{id}");
    }
    for id in [
        "5.38", "6.9", "7.15", "8.35", "4.1", "9.1", "5.0", "8.09", "8", "8.2.1", "A.8.20",
        " 8.20", "8.20 ", "", "8.", ".8",
    ] {
        assert!(!ok(Iso27001v2022, id), "{id:?}");
    }
    for id in [
        "A.5.1.1", "A.5.1.2", "A.9.2.6", "A.12.7.1", "A.14.2.9", "A.18.2.3",
    ] {
        assert!(ok(Iso27001v2013, id), "{id}");
    }
    for id in [
        "A.5.1.3",
        "A.4.1.1",
        "A.19.1.1",
        "A.12.8.1",
        "A.13.2.5",
        "A.13.1",
        "13.1.1",
        "A.13.1.01",
        "A.13.1.1.1",
    ] {
        assert!(!ok(Iso27001v2013, id), "{id:?}");
    }
    let total_2013: u32 = ISO27001_2013_OBJECTIVES.iter().map(|(_, n)| n).sum();
    assert_eq!(
        total_2013, 114,
        "ISO/IEC 27001:2013 Annex A has 114 controls"
    );
    let total_2022: u32 = ISO27001_2022_THEMES.iter().map(|(_, n)| n).sum();
    assert_eq!(total_2022, 93, "ISO/IEC 27001:2022 Annex A has 93 controls");
    for id in [
        "CC1.1", "CC1.5", "CC6.8", "CC7.5", "CC8.1", "CC9.2", "A1.1", "A1.3", "C1.1", "C1.2",
        "PI1.1", "PI1.5", "P1.1", "P6.7", "P8.1",
    ] {
        assert!(ok(Soc2, id), "{id}");
    }
    for id in [
        "CC6.9", "CC8.2", "CC10.1", "CC0.1", "A1.4", "A2.1", "C1.3", "PI1.6", "P1.0", "P9.1",
        "CC6", "CC6.1.1", "cc6.1", "CC6.01", "8.20",
    ] {
        assert!(!ok(Soc2, id), "{id:?}");
    }
    let total_tsc: u32 = TSC_SERIES.iter().map(|(_, n)| n).sum();
    assert_eq!(
        total_tsc, 61,
        "the Trust Services Criteria have 61 criteria"
    );
    assert!(ok(SourcePolicy, "Segregation of Environments"));
    assert!(!ok(SourcePolicy, ""));
    assert!(!ok(SourcePolicy, " padded"));
}

#[test]
fn every_2013_reference_brings_its_2022_correspondent() {
    for control in CATALOG {
        let id = control.id;
        let cited_2022 = ids(id, Iso27001v2022);
        for old in ids(id, Iso27001v2013) {
            let (_, new) = ISO27002_2022_ANNEX_B
                .iter()
                .find(|(o, _)| *o == old)
                .unwrap_or_else(|| panic!("{id}: {old} is missing from the Annex B table"));
            for n in *new {
                assert!(
                    cited_2022.contains(n),
                    "{id}: cites 2013 {old}, which ISO/IEC 27002:2022 Annex B maps to {n}, but not {n}"
                );
            }
        }
    }
}

#[test]
fn one_title_per_reference_and_references_grouped_in_framework_order() {
    let mut titles: std::collections::BTreeMap<(Framework, &str), &str> = Default::default();
    for control in CATALOG {
        for r in control.frameworks {
            let title = *titles.entry((r.framework, r.id)).or_insert(r.title);
            assert_eq!(title, r.title, "{r} has two titles");
        }
        let order: Vec<usize> = control
            .frameworks
            .iter()
            .map(|r| {
                Framework::ALL
                    .iter()
                    .position(|f| *f == r.framework)
                    .unwrap()
            })
            .collect();
        assert!(order.is_sorted(), "{}: references out of order", control.id);
        for f in Framework::ALL {
            let keys: Vec<_> = control.id.references(f).map(|r| r.order_key()).collect();
            assert!(
                keys.is_sorted() || f == SourcePolicy,
                "{}: {} references not in the standard's order",
                control.id,
                f.name()
            );
        }
        let unique: std::collections::BTreeSet<_> = control
            .frameworks
            .iter()
            .map(|r| (r.framework, r.id))
            .collect();
        assert_eq!(
            unique.len(),
            control.frameworks.len(),
            "{}: duplicate",
            control.id
        );
    }
}

#[test]
fn framework_keys_parse_serialize_and_render() {
    for f in Framework::ALL {
        assert_eq!(f.key().parse::<Framework>(), Ok(f));
        assert_eq!(serde_json::to_value(f).unwrap(), f.key());
    }
    assert_eq!("SOC2".parse::<Framework>(), Ok(Soc2));
    let err = "iso27001".parse::<Framework>().unwrap_err();
    assert!(
        err.contains("iso27001:2022, soc2, iso27001:2013, source"),
        "{err}"
    );
    assert_eq!(
        RestrictedPorts.framework_refs(),
        [
            "ISO/IEC 27001:2022 8.20",
            "ISO/IEC 27001:2022 8.21",
            "SOC 2 CC6.1",
            "SOC 2 CC6.6",
            "ISO/IEC 27001:2013 A.13.1.1",
            "Source policy: Restricted Port Configurations",
            "Source policy: Network Security Policy",
        ]
    );
}

#[test]
fn order_keys_follow_the_standards() {
    let mut refs = [
        iso2022("8.20", ""),
        iso2022("8.2", ""),
        iso2022("5.30", ""),
        iso2022("8.13", ""),
    ];
    refs.sort_by_key(FrameworkRef::order_key);
    let got: Vec<_> = refs.iter().map(|r| r.id).collect();
    assert_eq!(got, ["5.30", "8.2", "8.13", "8.20"]);
    let mut refs = [
        soc2("A1.2", ""),
        soc2("C1.1", ""),
        soc2("CC8.1", ""),
        soc2("CC6.1", ""),
    ];
    refs.sort_by_key(FrameworkRef::order_key);
    let got: Vec<_> = refs.iter().map(|r| r.id).collect();
    assert_eq!(got, ["CC6.1", "CC8.1", "A1.2", "C1.1"]);
}

#[test]
fn serde_name_matches_as_str() {
    for id in ControlId::all() {
        let json = serde_json::to_value(id).unwrap();
        assert_eq!(json, serde_json::Value::String(id.as_str().into()));
    }
}

#[test]
fn condition_types_are_pascal_case() {
    assert_eq!(RestrictedPorts.condition_type(), "RestrictedPorts");
    assert_eq!(
        ProductionDataRestricted.condition_type(),
        "ProductionDataRestricted"
    );
}

#[test]
fn kinds_partition_the_catalog() {
    assert_eq!(SecurityBaseline.controls().count(), 8);
    assert_eq!(BackupPolicy.controls().count(), 4);
    assert_eq!(EnvironmentIsolation.controls().count(), 3);
}

/// Nothing checked is never a Pass: every control states what an empty scope means and which
/// field turns it on; README carries the same table as evidence.md.
#[test]
fn every_control_states_what_an_empty_scope_means() {
    use crate::api::ControlState;
    for control in CATALOG {
        let id = control.id;
        assert!(control.configured_by.starts_with("spec."), "{id}");
        let (WhenEmpty::NotApplicable(why) | WhenEmpty::Fail(why) | WhenEmpty::NeverEmpty(why)) =
            control.when_empty;
        assert!(!why.trim().is_empty(), "{id} says nothing");
        assert_ne!(
            control.when_empty.state(true),
            ControlState::Pass,
            "{id}: an empty scope never passes"
        );
        assert_eq!(
            control.when_empty.state(false),
            ControlState::NotApplicable,
            "{id}: with no namespace in scope nothing is promised"
        );
    }
    assert_eq!(
        BackupRetention.when_empty().state(true),
        ControlState::Fail,
        "a policy whose namespaces have no backup cannot prove retention"
    );
    let readme = include_str!("../README.md");
    let start =
        "<!-- empty-scope table: generated from src/catalog.rs (a unit test keeps it equal) -->\n";
    let end = "<!-- end of empty-scope table -->";
    let table = readme
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(table, _)| table)
        .expect("README has the empty-scope table markers");
    assert_eq!(
        table,
        empty_scope_table(),
        "README's empty-scope table is stale; replace it with catalog::empty_scope_table()"
    );
}
