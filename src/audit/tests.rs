use super::*;

fn test_now() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn docs(text: &str) -> Result<Vec<Document>, AuditError> {
    parse_documents(Path::new("test.yaml"), text)
}

const BASELINE: &str = r#"
apiVersion: security.baseline.dev/v1alpha1
kind: SecurityBaseline
metadata: {name: prod}
spec:
  namespaceSelector: {matchLabels: {env: prod}}
  images: {disallowLatestTag: true}
  encryption: {inTransit: {requireIngressTLS: true}}
"#;

const HELM: &str = r#"---
# Source: shop/templates/namespace.yaml
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels: {env: prod}
---
# Source: shop/templates/empty.yaml
---
# Source: shop/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:latest
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
data: {password: c2VjcmV0}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - {name: api, image: "registry.example.com/api:1.2"}
"#;

#[test]
fn helm_output_becomes_a_snapshot() {
    let d = docs(HELM).unwrap();
    assert_eq!(d.len(), 5, "comment-only documents are skipped");
    let (s, skipped) = build_snapshot(&d, "default", true).unwrap();
    assert_eq!(s.deployments.len(), 2);
    assert_eq!(
        s.deployments[1].metadata.namespace.as_deref(),
        Some("default"),
        "objects without a namespace land in --namespace"
    );
    assert_eq!(
        skipped,
        Skipped {
            unknown_kinds: 1,
            kinds: BTreeMap::from([("Widget (example.com/v1)".to_string(), 1)]),
        }
    );
    assert_eq!(s.secrets.items().len(), 1, "Secrets are read as digests");
    let names: Vec<_> = s.namespace_labels().map(|(n, _)| n.to_string()).collect();
    assert_eq!(names, ["shop", "default"], "default is implied");
    let (_, labels) = s.namespace_labels().next().unwrap();
    assert_eq!(labels["env"], "prod");
    assert_eq!(labels[NAMESPACE_NAME_LABEL], "shop");
    assert!(s.velero.installed);
}

#[test]
fn audit_finds_what_the_operator_would() {
    let (baselines, skipped) = parse_baselines(&docs(BASELINE).unwrap(), test_now()).unwrap();
    assert_eq!(skipped, Skipped::default());
    let (s, skipped) = build_snapshot(&docs(HELM).unwrap(), "default", true).unwrap();
    let report = audit(&baselines, &s, Timestamp::UNIX_EPOCH, skipped);
    assert!(report.failing());
    let images = report.resources[0]
        .controls
        .iter()
        .find(|c| c.id == ControlId::TrustedImages)
        .unwrap();
    assert_eq!(images.state, ControlState::Fail);
    assert_eq!(images.failed, 1, "only the selected namespace counts");
    assert_eq!(images.findings[0].name, "web");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["secrets"], 1);
    assert_eq!(json["skipped"]["kinds"]["Widget (example.com/v1)"], 1);
    assert_eq!(
        json["resources"][0]["controls"][0]["id"],
        "restricted-ports"
    );
    let table = render_table(&report);
    assert!(table.contains("SecurityBaseline/prod"), "{table}");
    assert!(table.contains("trusted-images"), "{table}");
    let images_row = table
        .lines()
        .find(|l| l.contains("trusted-images"))
        .unwrap();
    assert!(
        images_row.contains("8.19,8.32") && images_row.contains("CC6.8,CC8.1"),
        "{table}"
    );
}

/// What only the operator can judge, `audit` refuses too, with the operator's message.
#[test]
fn a_schedule_that_never_runs_is_refused_as_the_operator_refuses_it() {
    let bp = r#"
apiVersion: security.baseline.dev/v1alpha1
kind: BackupPolicy
metadata: {name: b}
spec:
  namespaceSelector: {}
  rpo: 24h
  schedule: "0 0 30 2 *"
"#;
    let text = parse_baselines(&docs(bp).unwrap(), test_now())
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("spec.schedule")
            && text.contains("`0 0 30 2 *` never runs: no date matches it in the next five years"),
        "{text}"
    );
    let runs = bp.replace("0 0 30 2 *", "0 0 28 2 *");
    assert!(parse_baselines(&docs(&runs).unwrap(), test_now()).is_ok());
}

#[test]
fn bad_fields_are_named() {
    let wrong_type = BASELINE.replace("disallowLatestTag: true", "disallowLatestTag: [1]");
    let err = parse_baselines(&docs(&wrong_type).unwrap(), test_now()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("spec.images.disallowLatestTag"), "{text}");
    assert!(text.contains("test.yaml: document 0"), "{text}");

    let bp = r#"
apiVersion: security.baseline.dev/v1alpha1
kind: BackupPolicy
metadata: {name: b}
spec:
  namespaceSelector: {}
  rpo: 24h
  retention: {min: 2160h, max: 720h}
"#;
    let text = parse_baselines(&docs(bp).unwrap(), test_now())
        .unwrap_err()
        .to_string();
    assert!(text.contains("spec.retention.min"), "{text}");
    let zero = bp
        .replace("rpo: 24h", "rpo: 0h")
        .replace("min: 2160h", "min: 1h");
    let text = parse_baselines(&docs(&zero).unwrap(), test_now())
        .unwrap_err()
        .to_string();
    assert!(text.contains("spec.rpo"), "{text}");

    let ei = r#"
apiVersion: security.baseline.dev/v1alpha1
kind: EnvironmentIsolation
metadata: {name: e}
spec:
  environments:
  - {name: prod, namespaceSelector: {}}
  - {name: prod, namespaceSelector: {}}
  allowedFlows: [{from: dev, to: prod}]
  exemptions:
  - {controls: [trusted-images], reason: r, approvedBy: me, expires: "2030-01-01"}
"#;
    let d = docs(ei).unwrap();
    let text = parse_baselines(&d, test_now()).unwrap_err().to_string();
    assert!(text.contains("spec.exemptions[0].controls[0]"), "{text}");
    let spec: EnvironmentIsolationSpec =
        serde_json::from_value(d[0].value["spec"].clone()).unwrap();
    let all = validate::environment_isolation::validate(&spec)
        .unwrap_err()
        .0;
    let fields: Vec<&str> = all.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.exemptions[0].controls[0]",
            "spec.environments",
            "spec.allowedFlows[0].from"
        ]
    );
}

#[test]
fn not_kubernetes_objects_name_the_document() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n- just\n- a list\n";
    let err = docs(text).unwrap_err().to_string();
    assert!(
        err.contains("test.yaml: document 1: not a Kubernetes object"),
        "{err}"
    );
    let err = docs("kind: Pod\n").unwrap_err().to_string();
    assert!(err.contains("apiVersion"), "{err}");
    let err = load(&[PathBuf::from("/nonexistent/baselines.yaml")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/baselines.yaml"), "{err}");
}

#[test]
fn lists_are_expanded() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- {apiVersion: v1, kind: ServiceAccount, metadata: {name: s, namespace: a}}\n";
    let d = docs(text).unwrap();
    assert_eq!(d.len(), 2);
    let (s, _) = build_snapshot(&d, "default", false).unwrap();
    assert_eq!(s.service_accounts.len(), 1);
    assert!(!s.velero.installed);
}

/// Garbage of every shape must produce errors, never panics.
#[test]
fn garbage_never_panics() {
    let mut inputs: Vec<String> = vec![
            "".into(),
            "---\n---\n".into(),
            "\u{0}\u{1}\u{2}".into(),
            "{".into(),
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".into(),
            "&a [*a]".into(),
            "a: &a\n  b: *a\nc: *a\n".into(),
            "? [complex, key]\n: value\n".into(),
            "!!binary aGVsbG8=".into(),
            "apiVersion: 1\nkind: 2\n".into(),
            "apiVersion: v1\nkind: Namespace\nmetadata: 5\n".into(),
            "apiVersion: v1\nkind: List\nitems: 7\n".into(),
            "apiVersion: v1\nkind: List\nitems: [1, 2]\n".into(),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: 3\n".into(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: [1]}\n".into(),
            "apiVersion: v1\nkind: Secret\ndata: {a: !!binary zz}\n".into(),
            "apiVersion: security.baseline.dev/v1alpha1\nkind: SecurityBaseline\nmetadata: {name: x}\n".into(),
            "apiVersion: security.baseline.dev/v1alpha1\nkind: BackupPolicy\nmetadata: {name: x}\nspec: {namespaceSelector: {}, rpo: 99999999999999999999h}\nstatus: {lastRestoreTest: 1}\n".into(),
            "apiVersion: security.baseline.dev/v1alpha1\nkind: EnvironmentIsolation\nmetadata: {name: x}\nspec: {environments: []}\n".into(),
            "'unterminated".into(),
            "key: \"\\uD800\"".into(),
            "\t- tab".into(),
        ];
    inputs.push("[".repeat(100_000));
    inputs.push("a:\n".repeat(10_000));
    // Deterministic pseudo-random bytes.
    const ALPHABET: &[u8] = b"apiVersion: kind:v1{}[]-,:'\"\n #&*!|>?%@`\t";
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..200 {
        let bytes: Vec<u8> = (0..64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ALPHABET[(x % ALPHABET.len() as u64) as usize]
            })
            .collect();
        inputs.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    for input in &inputs {
        if let Ok(d) = docs(input) {
            let _ = build_snapshot(&d, "default", true);
            if let Ok((b, _)) = parse_baselines(&d, test_now()) {
                let (s, skipped) = build_snapshot(&d, "default", true).unwrap_or_default();
                let _ = render_table(&audit(&b, &s, Timestamp::UNIX_EPOCH, skipped));
            }
        }
    }
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audit")
        .join(path)
}

fn args(baselines: &str, manifests: &str) -> AuditArgs {
    AuditArgs {
        baselines: vec![fixture(baselines)],
        manifests: vec![fixture(manifests)],
        output: OutputFormat::Json,
        now: Some("2026-01-01T00:00:00Z".into()),
        namespace: "default".into(),
        no_velero: false,
    }
}

#[test]
fn copied_production_secrets_in_manifests_are_found_by_digest_never_by_value() {
    let report = execute(&args(
        "copied-secrets/baselines",
        "copied-secrets/manifests",
    ))
    .unwrap();
    let data = report.resources[0]
        .controls
        .iter()
        .find(|c| c.id == ControlId::ProductionDataRestricted)
        .unwrap();
    assert_eq!(data.state, ControlState::Fail);
    let messages: Vec<&str> = data.findings.iter().map(|f| f.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "Secret shop-dev/db-copy holds the same data as a production Secret (copied from production Secret shop/db)"
        ],
        "stringData and base64 data of the same value match; other values do not"
    );
    assert_eq!(report.secrets, 3);
    let printed = format!(
        "{}{}",
        render_table(&report),
        serde_json::to_string(&report).unwrap()
    );
    for value in [
        "fixture-prod-password",
        "Zml4dHVyZS1wcm9kLXBhc3N3b3Jk",
        "fixture-dev-password",
    ] {
        assert!(!printed.contains(value), "a Secret value was printed");
    }
}

#[test]
fn the_summary_names_every_skipped_kind() {
    let report = execute(&args(
        "copied-secrets/baselines",
        "copied-secrets/manifests",
    ))
    .unwrap();
    let table = render_table(&report);
    assert!(
            table.contains(
                "skipped: 2 object(s) of kinds no control reads: Certificate (cert-manager.io/v1) x1, HorizontalPodAutoscaler (autoscaling/v2) x1"
            ),
            "{table}"
        );
}

#[test]
fn a_judged_kind_at_an_unknown_api_version_is_an_error_not_a_skip() {
    let err = execute(&args("baselines", "unknown-api-version")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("deployment.yaml: document 1"), "{text}");
    assert!(
            text.contains("Deployment with apiVersion `v1` cannot be audited: the controls read Deployment as `apps/v1`"),
            "{text}"
        );
    for (api_version, kind) in [
        ("extensions/v1beta1", "Ingress"),
        ("policy/v1beta1", "PodDisruptionBudget"),
        ("batch/v1beta1", "CronJob"),
        ("velero.io/v2", "Schedule"),
    ] {
        let text = format!("apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\n");
        let err = build_snapshot(&docs(&text).unwrap(), "default", true).unwrap_err();
        assert!(
            matches!(err, AuditError::UnknownApiVersion { .. }),
            "{api_version} {kind}: {err}"
        );
    }
    // Another group's kind of the same name is another kind: skipped, and named.
    let cnpg = "apiVersion: postgresql.cnpg.io/v1\nkind: Backup\nmetadata: {name: x}\n";
    let (_, skipped) = build_snapshot(&docs(cnpg).unwrap(), "default", true).unwrap();
    assert_eq!(skipped.kinds["Backup (postgresql.cnpg.io/v1)"], 1);
    // Our own kinds at another version of our group, too.
    let sb = "apiVersion: security.baseline.dev/v1\nkind: SecurityBaseline\nmetadata: {name: x}\nspec: {namespaceSelector: {}}\n";
    let err = parse_baselines(&docs(sb).unwrap(), test_now()).unwrap_err();
    assert!(matches!(err, AuditError::UnknownApiVersion { .. }), "{err}");
}

#[test]
fn a_malformed_secret_is_named_without_its_value() {
    let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: a}\ndata: {password: \"not*base64*hunter2\"}\n";
    let err = build_snapshot(&docs(text).unwrap(), "default", true).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("Secret s: invalid field data"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// kubectl (go-yaml v2) reads `yes` and `on` as true; serde_norway reads them as strings. The
/// audit cannot judge such a field as kubectl would send it, so it refuses the file naming the
/// field, never skipping what kubectl would send as `hostNetwork: true`.
#[test]
fn yaml_1_1_booleans_are_refused_naming_the_field_never_skipped() {
    let d = docs(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  hostNetwork: yes\n  containers: [{name: a, image: i}]\n",
    )
    .unwrap();
    let error = build_snapshot(&d, "default", true).unwrap_err().to_string();
    assert!(error.contains("spec.hostNetwork"), "{error}");
}

/// A merge key resolved in the audit's reader: a hostNetwork merged from an anchor is seen.
#[test]
fn a_host_network_set_through_a_merge_key_is_read() {
    let d = docs(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  <<: {hostNetwork: true}\n  containers: [{name: a, image: i}]\n",
    )
    .unwrap();
    let (s, _) = build_snapshot(&d, "default", true).unwrap();
    let spec = s.pods[0].spec.as_ref().unwrap();
    assert_eq!(spec.host_network, Some(true));
    let error = docs("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {<<: 5}\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("document 0: not valid YAML: `.spec.<<`: a merge key"),
        "{error}"
    );
}

/// Offline there is no status: `high-availability` judges the declared replicas, never "0
/// Ready", and its note says readiness is judged live only.
#[test]
fn offline_availability_judges_declared_replicas() {
    let baseline = r#"
apiVersion: security.baseline.dev/v1alpha1
kind: SecurityBaseline
metadata: {name: ha}
spec:
  namespaceSelector: {matchLabels: {env: prod}}
  availability: {minReplicas: 2}
"#;
    let manifests = |replicas: i32| {
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop, labels: {{env: prod}}}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, image: r.example/web:1}}]}}\n"
        )
    };
    let (baselines, _) = parse_baselines(&docs(baseline).unwrap(), test_now()).unwrap();
    let availability = |replicas: i32| {
        let (s, skipped) =
            build_snapshot(&docs(&manifests(replicas)).unwrap(), "default", true).unwrap();
        let report = audit(&baselines, &s, test_now(), skipped);
        let control = report.resources[0]
            .controls
            .iter()
            .find(|c| c.id == ControlId::HighAvailability)
            .unwrap()
            .clone();
        (control, render_table(&report))
    };
    let (enough, table) = availability(2);
    assert_eq!(enough.state, ControlState::Pass, "{table}");
    assert!(
        enough.note.contains("readiness is judged live only"),
        "{table}"
    );
    assert!(
        table.contains("SecurityBaseline/ha high-availability: readiness is judged live only"),
        "{table}"
    );
    let (short, table) = availability(1);
    assert_eq!(short.state, ControlState::Fail, "{table}");
    assert_eq!(
        short.findings[0].message,
        "runs 1 replica(s), fewer than the required 2"
    );
    assert_eq!(short.findings.len(), 1, "{table}");
}
