//! The exact JSON each typed builder sends to the API server, for one fixed input per builder.
//!
//! The expected texts are what the builders produced when they still assembled `json!`
//! values, so a typed builder that drops, renames or adds a field fails here rather than in a
//! cluster. Keys are compared as JSON values (their order is not part of what the server reads).

use super::{DesiredObject, Owner};
use crate::snapshot::Snapshot;
use jiff::Timestamp;
use serde_json::{Value, json};

/// Compares `objects` as the server receives them with `expected` (a JSON array); prints the
/// actual JSON on a mismatch, so a deliberate change is one copy away.
///
/// Explicit nulls are left out on both sides: the JSON builders sent some (`"ingress": null`,
/// `"matchConditions": null`) to make an older subset comparison remove a stale field, typed
/// values cannot carry one, and the API server stores a null field and an absent one alike.
pub(super) fn pinned(objects: &[DesiredObject], expected: &str) {
    let actual = Value::Array(objects.iter().map(|o| o.json()).collect());
    let expected: Value = serde_json::from_str(expected).expect("expected JSON parses");
    assert!(
        without_nulls(actual.clone()) == without_nulls(expected),
        "actual:\n{}",
        serde_json::to_string_pretty(&actual).unwrap()
    );
}

fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn owner(kind: &str, name: &str) -> Owner {
    Owner {
        api_version: "security.baseline.dev/v1alpha1".into(),
        kind: kind.into(),
        name: name.into(),
        uid: "uid-1".into(),
    }
}

fn now() -> Timestamp {
    "2026-03-01T00:00:00Z".parse().unwrap()
}

/// `shop` in the `prod` environment of an EnvironmentIsolation (so its allow policy opens the
/// listed ports to environments only), `blog` in none.
fn network_snapshot() -> Snapshot {
    use crate::api::EnvironmentIsolation;
    let ei_spec = serde_json::from_value(json!({
        "mode": "Audit",
        "environments": [
            {"name": "prod", "production": true, "namespaceSelector": {"matchLabels": {"env": "prod"}}},
            {"name": "stage", "namespaceSelector": {"matchLabels": {"env": "stage"}}},
        ],
        "allowedFlows": [{"from": "stage", "to": "prod", "ports": [{"port": 443}]}],
    }))
    .unwrap();
    let mut snapshot = Snapshot {
        namespaces: vec![
            crate::evaluate::isolation::tests::namespace("shop", &[("env", "prod")]),
            crate::evaluate::isolation::tests::namespace("blog", &[]),
        ],
        ..Default::default()
    };
    snapshot.custom_resources.environment_isolations = vec![std::sync::Arc::new(
        EnvironmentIsolation::new("iso", ei_spec),
    )];
    snapshot
}

#[test]
fn restricted_ports_sends_the_same_network_policies() {
    let network = serde_json::from_value(json!({
        "defaultDeny": ["Ingress", "Egress"],
        "allowDNS": true,
        "allowedIngressPorts": [{"port": 443}, {"port": 5353, "protocol": "UDP"}],
        "allowedEgress": [{"cidr": "10.0.0.0/8", "ports": [{"port": 5432}]}, {"cidr": "192.168.0.0/16"}],
    }))
    .unwrap();
    let objects = super::network_policy::restricted_ports(
        &owner("SecurityBaseline", "prod"),
        &network,
        &["shop".into(), "blog".into()],
        &network_snapshot(),
    );
    pinned(&objects, RESTRICTED_PORTS);
}

const RESTRICTED_PORTS: &str = r#"[
  {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-prod-default-deny",
      "namespace": "shop",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "podSelector": {},
      "policyTypes": [
        "Ingress",
        "Egress"
      ]
    }
  },
  {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-prod-allow",
      "namespace": "shop",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "egress": [
        {
          "ports": [
            {
              "port": 53,
              "protocol": "UDP"
            },
            {
              "port": 53,
              "protocol": "TCP"
            }
          ],
          "to": [
            {
              "namespaceSelector": {
                "matchLabels": {
                  "kubernetes.io/metadata.name": "kube-system"
                }
              },
              "podSelector": {
                "matchLabels": {
                  "k8s-app": "kube-dns"
                }
              }
            }
          ]
        },
        {
          "ports": [
            {
              "port": 5432,
              "protocol": "TCP"
            }
          ],
          "to": [
            {
              "ipBlock": {
                "cidr": "10.0.0.0/8"
              }
            }
          ]
        },
        {
          "to": [
            {
              "ipBlock": {
                "cidr": "192.168.0.0/16"
              }
            }
          ]
        }
      ],
      "ingress": [
        {
          "from": [
            {
              "namespaceSelector": {
                "matchLabels": {
                  "env": "prod"
                }
              }
            },
            {
              "namespaceSelector": {
                "matchLabels": {
                  "env": "stage"
                }
              }
            }
          ],
          "ports": [
            {
              "port": 443,
              "protocol": "TCP"
            }
          ]
        },
        {
          "from": [
            {
              "namespaceSelector": {
                "matchLabels": {
                  "env": "prod"
                }
              }
            }
          ],
          "ports": [
            {
              "port": 5353,
              "protocol": "UDP"
            }
          ]
        }
      ],
      "podSelector": {},
      "policyTypes": [
        "Ingress",
        "Egress"
      ]
    }
  },
  {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-prod-default-deny",
      "namespace": "blog",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "podSelector": {},
      "policyTypes": [
        "Ingress",
        "Egress"
      ]
    }
  },
  {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-prod-allow",
      "namespace": "blog",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "egress": [
        {
          "ports": [
            {
              "port": 53,
              "protocol": "UDP"
            },
            {
              "port": 53,
              "protocol": "TCP"
            }
          ],
          "to": [
            {
              "namespaceSelector": {
                "matchLabels": {
                  "kubernetes.io/metadata.name": "kube-system"
                }
              },
              "podSelector": {
                "matchLabels": {
                  "k8s-app": "kube-dns"
                }
              }
            }
          ]
        },
        {
          "ports": [
            {
              "port": 5432,
              "protocol": "TCP"
            }
          ],
          "to": [
            {
              "ipBlock": {
                "cidr": "10.0.0.0/8"
              }
            }
          ]
        },
        {
          "to": [
            {
              "ipBlock": {
                "cidr": "192.168.0.0/16"
              }
            }
          ]
        }
      ],
      "ingress": [
        {
          "ports": [
            {
              "port": 443,
              "protocol": "TCP"
            },
            {
              "port": 5353,
              "protocol": "UDP"
            }
          ]
        }
      ],
      "podSelector": {},
      "policyTypes": [
        "Ingress",
        "Egress"
      ]
    }
  }
]"#;

#[test]
fn isolation_network_policies_send_the_same_network_policies() {
    use crate::evaluate::isolation::tests::{environment, snapshot, spec};
    let mut spec = spec();
    spec.environments.push(environment("staging", false));
    spec.allowed_flows = serde_json::from_value(json!([
        {"from": "staging", "to": "production", "ports": [{"port": 443}]},
        {"from": "dev", "to": "production"},
    ]))
    .unwrap();
    let snapshot = snapshot();
    let envs = crate::vocabulary::environments::environments_of(
        &crate::validate::environment_isolation::validate(&spec)
            .unwrap()
            .environments,
        &snapshot,
    );
    let objects = super::isolation::network_policies(
        &owner("EnvironmentIsolation", "iso"),
        &crate::validate::environment_isolation::validate(&spec).unwrap(),
        &envs,
        &snapshot,
        now(),
    );
    pinned(&objects, ISOLATION_NETWORK_POLICIES);
}

const ISOLATION_NETWORK_POLICIES: &str = r#"[
  {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "ei-iso-isolation",
      "namespace": "dev",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "EnvironmentIsolation",
          "name": "iso",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "ingress": [
        {
          "from": [
            {
              "namespaceSelector": {
                "matchLabels": {
                  "env": "dev"
                }
              }
            }
          ]
        }
      ],
      "podSelector": {},
      "policyTypes": [
        "Ingress"
      ]
    }
  },
  {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "ei-iso-isolation",
      "namespace": "prod",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "EnvironmentIsolation",
          "name": "iso",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "ingress": [
        {
          "from": [
            {
              "namespaceSelector": {
                "matchLabels": {
                  "env": "production"
                }
              }
            }
          ]
        },
        {
          "from": [
            {
              "namespaceSelector": {
                "matchLabels": {
                  "env": "dev"
                }
              }
            }
          ]
        },
        {
          "from": [
            {
              "namespaceSelector": {
                "matchLabels": {
                  "env": "staging"
                }
              }
            }
          ],
          "ports": [
            {
              "port": 443,
              "protocol": "TCP"
            }
          ]
        }
      ],
      "podSelector": {},
      "policyTypes": [
        "Ingress"
      ]
    }
  }
]"#;

#[test]
fn security_baseline_admission_sends_the_same_policies_and_bindings() {
    let spec: crate::api::SecurityBaselineSpec = serde_json::from_value(json!({
        "mode": "Enforce",
        "namespaceSelector": {"matchLabels": {"env": "prod"}},
        "encryption": {"inTransit": {"requireIngressTLS": true}, "atRest": {"encryptedStorageClasses": ["gp3-encrypted"]}},
        "images": {"allowedRegistries": ["registry.example.com"], "requireDigest": true, "disallowLatestTag": true},
        "access": {"forbiddenRoles": ["cluster-admin"], "forbidWildcardRoles": true},
        "resources": {"requireRequests": true, "requireMemoryLimit": true},
        "exemptions": [{"controls": ["trusted-images"], "namespaces": ["legacy"], "selector": {"matchLabels": {"exempt": "yes"}}, "reason": "r", "approvedBy": "a", "expires": "2030-01-01"}],
    }))
    .unwrap();
    let objects = super::admission::security_baseline(
        &owner("SecurityBaseline", "sb"),
        &crate::validate::security_baseline::validate(&spec).unwrap(),
        &Snapshot::default(),
        now(),
    );
    pinned(&objects, SECURITY_BASELINE_ADMISSION);
}

const SECURITY_BASELINE_ADMISSION: &str = r#"[
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-sb-encryption-in-transit",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "sb",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "failurePolicy": "Fail",
      "matchConstraints": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ],
          "matchLabels": {
            "env": "prod"
          }
        },
        "resourceRules": [
          {
            "apiGroups": [
              "networking.k8s.io"
            ],
            "apiVersions": [
              "*"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "ingresses"
            ]
          }
        ]
      },
      "validations": [
        {
          "expression": "!variables.judged || (variables.rules.all(r, has(r.host) ? variables.tls.exists(t, has(t.hosts) && t.hosts.exists(h, h == r.host || (h.startsWith('*.') && r.host.indexOf('.') >= 0 && r.host.substring(r.host.indexOf('.')) == h.substring(1)))) : size(variables.tls) > 0) && (size(variables.rules) > 0 || !has(object.spec.defaultBackend) || size(variables.tls) > 0))",
          "message": "[encryption-in-transit] every Ingress host must be served over TLS (a `*.` TLS host covers one leading label)"
        }
      ],
      "variables": [
        {
          "expression": "(has(object.spec.tls) ? object.spec.tls : [])",
          "name": "tls"
        },
        {
          "expression": "(has(object.spec.rules) ? object.spec.rules : [])",
          "name": "rules"
        },
        {
          "expression": "request.operation != 'UPDATE' || oldObject == null || ((has(object.spec.tls) ? object.spec.tls : []).map(t, has(t.hosts) ? t.hosts : []) != (has(oldObject.spec.tls) ? oldObject.spec.tls : []).map(t, has(t.hosts) ? t.hosts : []) || (has(object.spec.rules) ? object.spec.rules : []).map(r, has(r.host) ? r.host : '') != (has(oldObject.spec.rules) ? oldObject.spec.rules : []).map(r, has(r.host) ? r.host : '') || has(object.spec.defaultBackend) != has(oldObject.spec.defaultBackend))",
          "name": "judged"
        }
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-sb-encryption-in-transit",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "sb",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "matchResources": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ],
          "matchLabels": {
            "env": "prod"
          }
        }
      },
      "policyName": "sb-sb-encryption-in-transit",
      "validationActions": [
        "Deny"
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-sb-encryption-at-rest",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "sb",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "failurePolicy": "Fail",
      "matchConstraints": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ],
          "matchLabels": {
            "env": "prod"
          }
        },
        "resourceRules": [
          {
            "apiGroups": [
              ""
            ],
            "apiVersions": [
              "*"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "persistentvolumeclaims"
            ]
          }
        ]
      },
      "validations": [
        {
          "expression": "!variables.judged || (has(object.spec.storageClassName) ? object.spec.storageClassName in ['gp3-encrypted'] : false)",
          "message": "[encryption-at-rest] PersistentVolumeClaims must use an encrypted StorageClass (gp3-encrypted)"
        }
      ],
      "variables": [
        {
          "expression": "request.operation != 'UPDATE' || oldObject == null || (has(object.spec.storageClassName) != has(oldObject.spec.storageClassName) || (has(object.spec.storageClassName) && object.spec.storageClassName != oldObject.spec.storageClassName))",
          "name": "judged"
        }
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-sb-encryption-at-rest",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "sb",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "matchResources": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ],
          "matchLabels": {
            "env": "prod"
          }
        }
      },
      "policyName": "sb-sb-encryption-at-rest",
      "validationActions": [
        "Deny"
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-sb-trusted-images",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "sb",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "failurePolicy": "Fail",
      "matchConditions": [
        {
          "expression": "!(request.namespace in ['legacy'] && ((object.kind in ['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job'] ? ((('exempt' in (has(object.spec.template.metadata) && has(object.spec.template.metadata.labels) ? object.spec.template.metadata.labels : {}) && (has(object.spec.template.metadata) && has(object.spec.template.metadata.labels) ? object.spec.template.metadata.labels : {})['exempt'] == 'yes'))) : (object.kind == 'CronJob' ? ((('exempt' in (has(object.spec.jobTemplate.spec.template.metadata) && has(object.spec.jobTemplate.spec.template.metadata.labels) ? object.spec.jobTemplate.spec.template.metadata.labels : {}) && (has(object.spec.jobTemplate.spec.template.metadata) && has(object.spec.jobTemplate.spec.template.metadata.labels) ? object.spec.jobTemplate.spec.template.metadata.labels : {})['exempt'] == 'yes'))) : ((('exempt' in (has(object.metadata.labels) ? object.metadata.labels : {}) && (has(object.metadata.labels) ? object.metadata.labels : {})['exempt'] == 'yes')))))))",
          "name": "not-exempted"
        }
      ],
      "matchConstraints": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ],
          "matchLabels": {
            "env": "prod"
          }
        },
        "resourceRules": [
          {
            "apiGroups": [
              ""
            ],
            "apiVersions": [
              "v1"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "pods"
            ]
          },
          {
            "apiGroups": [
              "apps"
            ],
            "apiVersions": [
              "v1"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "deployments",
              "statefulsets",
              "daemonsets",
              "replicasets"
            ]
          },
          {
            "apiGroups": [
              "batch"
            ],
            "apiVersions": [
              "v1"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "jobs",
              "cronjobs"
            ]
          },
          {
            "apiGroups": [
              ""
            ],
            "apiVersions": [
              "v1"
            ],
            "operations": [
              "UPDATE"
            ],
            "resources": [
              "pods/ephemeralcontainers"
            ]
          }
        ]
      },
      "validations": [
        {
          "expression": "!variables.judged || (variables.containers.all(c, ['registry.example.com/'].exists(p, c.image.startsWith(p))))",
          "message": "[trusted-images] images must come from an allowed registry (registry.example.com)"
        },
        {
          "expression": "!variables.judged || (variables.containers.all(c, c.image.matches('^[^@]+@sha256:[0-9a-f]{64}$')))",
          "message": "[trusted-images] images must be pinned by a sha256 digest (@sha256: and 64 lowercase hex digits)"
        },
        {
          "expression": "!variables.judged || (variables.containers.all(c, c.image.matches('^[^@]+@sha256:[0-9a-f]{64}$') || (c.image.matches('^[^@]*:[^:/@]+(@.*)?$') && !c.image.matches('^[^@]*:latest(@.*)?$'))))",
          "message": "[trusted-images] images must carry an immutable tag, not `latest` or none"
        }
      ],
      "variables": [
        {
          "expression": "(((object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).containers + (has((object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).initContainers) ? (object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).initContainers : [])) + (has((object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).ephemeralContainers) ? (object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).ephemeralContainers : []))",
          "name": "containers"
        },
        {
          "expression": "request.operation != 'UPDATE' || oldObject == null || ((((object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).containers + (has((object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).initContainers) ? (object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).initContainers : [])) + (has((object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).ephemeralContainers) ? (object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).ephemeralContainers : [])).map(c, c.image) != (((oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template.spec : oldObject.spec.template.spec)).containers + (has((oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template.spec : oldObject.spec.template.spec)).initContainers) ? (oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template.spec : oldObject.spec.template.spec)).initContainers : [])) + (has((oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template.spec : oldObject.spec.template.spec)).ephemeralContainers) ? (oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template.spec : oldObject.spec.template.spec)).ephemeralContainers : [])).map(c, c.image))",
          "name": "judged"
        }
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-sb-trusted-images",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "sb",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "matchResources": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ],
          "matchLabels": {
            "env": "prod"
          }
        }
      },
      "policyName": "sb-sb-trusted-images",
      "validationActions": [
        "Deny"
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-sb-least-privilege",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "sb",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "failurePolicy": "Fail",
      "matchConstraints": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ],
          "matchLabels": {
            "env": "prod"
          }
        },
        "resourceRules": [
          {
            "apiGroups": [
              "rbac.authorization.k8s.io"
            ],
            "apiVersions": [
              "*"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "rolebindings",
              "roles"
            ]
          }
        ]
      },
      "validations": [
        {
          "expression": "!variables.judged || (!(request.resource.resource == 'rolebindings' && object.roleRef.kind == 'ClusterRole' && object.roleRef.name in ['cluster-admin']))",
          "message": "[least-privilege] RoleBindings may not grant the ClusterRoles cluster-admin"
        },
        {
          "expression": "!variables.judged || (!(request.resource.resource == 'rolebindings' && ((object.roleRef.kind == 'ClusterRole' && object.roleRef.name in []) || (object.roleRef.kind == 'Role' && (request.namespace + '/' + object.roleRef.name) in []))))",
          "message": "[least-privilege] RoleBindings may not grant a role whose rules grant what a forbidden role grants (`*` verbs, resources or API groups, escalate, bind, impersonate, every non-resource URL)"
        },
        {
          "expression": "!variables.judged || (!(request.resource.resource == 'rolebindings' && ((object.roleRef.kind == 'ClusterRole' && object.roleRef.name in []) || (object.roleRef.kind == 'Role' && (request.namespace + '/' + object.roleRef.name) in [])) && (has(object.subjects) ? object.subjects : []).exists(s, (s.kind == 'ServiceAccount' && has(s.namespace) && s.namespace != '' && s.namespace.lowerAscii().trim() != request.namespace) || (s.kind == 'User' && s.name.lowerAscii().trim().startsWith('system:serviceaccount:') && !s.name.lowerAscii().trim().startsWith('system:serviceaccount:' + request.namespace + ':')) || (s.kind == 'Group' && (s.name.lowerAscii().trim() in ['system:serviceaccounts', 'system:authenticated', 'system:unauthenticated'] || (s.name.lowerAscii().trim().startsWith('system:serviceaccounts:') && s.name.lowerAscii().trim() != 'system:serviceaccounts:' + request.namespace))))))",
          "message": "[least-privilege] RoleBindings may not let identities of other namespaces (their ServiceAccounts in any form, system:serviceaccounts, system:authenticated) read Secrets"
        },
        {
          "expression": "!variables.judged || (!(request.resource.resource == 'roles' && (has(object.rules) ? object.rules : []).exists(r, r.verbs.exists(v, v in ['*', 'escalate', 'bind'] || (v == 'impersonate' && !(has(r.apiGroups) && size(r.apiGroups) > 0 && r.apiGroups.all(g, g == '') && has(r.resources) && size(r.resources) > 0 && r.resources.all(x, x == 'serviceaccounts')))) || (has(r.resources) && r.resources.exists(x, x == '*')) || (has(r.apiGroups) && r.apiGroups.exists(g, g == '*')) || (has(r.nonResourceURLs) && r.nonResourceURLs.exists(u, u in ['*', '/*'])))))",
          "message": "[least-privilege] Roles may not grant what a forbidden role grants (`*` verbs, resources or API groups, escalate, bind, impersonate)"
        }
      ],
      "variables": [
        {
          "expression": "request.operation != 'UPDATE' || oldObject == null || (request.resource.resource == 'roles' ? (has(object.rules) ? object.rules : []) != (has(oldObject.rules) ? oldObject.rules : []) : (object.roleRef != oldObject.roleRef || (has(object.subjects) ? object.subjects : []).exists(s, !(s in (has(oldObject.subjects) ? oldObject.subjects : [])))))",
          "name": "judged"
        }
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-sb-least-privilege",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "sb",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "matchResources": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ],
          "matchLabels": {
            "env": "prod"
          }
        }
      },
      "policyName": "sb-sb-least-privilege",
      "validationActions": [
        "Deny"
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-sb-resource-governance",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "sb",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "failurePolicy": "Fail",
      "matchConstraints": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ],
          "matchLabels": {
            "env": "prod"
          }
        },
        "resourceRules": [
          {
            "apiGroups": [
              ""
            ],
            "apiVersions": [
              "v1"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "pods"
            ]
          },
          {
            "apiGroups": [
              "apps"
            ],
            "apiVersions": [
              "v1"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "deployments",
              "statefulsets",
              "daemonsets",
              "replicasets"
            ]
          },
          {
            "apiGroups": [
              "batch"
            ],
            "apiVersions": [
              "v1"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "jobs",
              "cronjobs"
            ]
          }
        ]
      },
      "validations": [
        {
          "expression": "!variables.judged || (variables.containers.all(c, has(c.resources) && has(c.resources.requests) && 'cpu' in c.resources.requests && 'memory' in c.resources.requests && has(c.resources) && has(c.resources.limits) && 'memory' in c.resources.limits))",
          "message": "[resource-governance] every container must declare CPU and memory requests and a memory limit"
        }
      ],
      "variables": [
        {
          "expression": "((object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).containers + (has((object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).initContainers) ? (object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).initContainers : []))",
          "name": "containers"
        },
        {
          "expression": "request.operation != 'UPDATE' || oldObject == null || (((object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).containers + (has((object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).initContainers) ? (object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).initContainers : [])).map(c, c.name) != ((oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template.spec : oldObject.spec.template.spec)).containers + (has((oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template.spec : oldObject.spec.template.spec)).initContainers) ? (oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template.spec : oldObject.spec.template.spec)).initContainers : [])).map(c, c.name) || ((object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).containers + (has((object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).initContainers) ? (object.kind == 'Pod' ? object.spec : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec)).initContainers : [])).map(c, has(c.resources) ? c.resources : {}) != ((oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template.spec : oldObject.spec.template.spec)).containers + (has((oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template.spec : oldObject.spec.template.spec)).initContainers) ? (oldObject.kind == 'Pod' ? oldObject.spec : (oldObject.kind == 'CronJob' ? oldObject.spec.jobTemplate.spec.template.spec : oldObject.spec.template.spec)).initContainers : [])).map(c, has(c.resources) ? c.resources : {}))",
          "name": "judged"
        }
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-sb-resource-governance",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "sb",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "matchResources": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ],
          "matchLabels": {
            "env": "prod"
          }
        }
      },
      "policyName": "sb-sb-resource-governance",
      "validationActions": [
        "Deny"
      ]
    }
  }
]"#;

#[test]
fn isolation_admission_sends_the_same_policies_and_bindings() {
    use crate::api::environment_isolation::LabelProtectionSpec;
    use crate::evaluate::isolation::tests::{snapshot, spec};
    let mut spec = spec();
    spec.protect_environment_labels = Some(LabelProtectionSpec {
        allowed_users: vec!["alice".into()],
        allowed_groups: vec!["platform-admins".into()],
    });
    spec.exemptions = serde_json::from_value(json!([
        {"controls": ["environment-segregation"], "namespaces": ["legacy"], "reason": "r", "approvedBy": "a", "expires": "2030-01-01"},
    ]))
    .unwrap();
    let objects = super::isolation::admission(
        &owner("EnvironmentIsolation", "iso"),
        &crate::validate::environment_isolation::validate(&spec).unwrap(),
        &snapshot(),
        Some("system:serviceaccount:ops:operator"),
        &["system:serviceaccount:velero:velero-server".to_string()],
        now(),
    );
    pinned(&objects, ISOLATION_ADMISSION);
}

const ISOLATION_ADMISSION: &str = r#"[
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "ei-iso-production-data-restricted",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "EnvironmentIsolation",
          "name": "iso",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "failurePolicy": "Fail",
      "matchConditions": null,
      "matchConstraints": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ]
        },
        "resourceRules": [
          {
            "apiGroups": [
              ""
            ],
            "apiVersions": [
              "v1"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "configmaps",
              "secrets",
              "persistentvolumeclaims"
            ]
          }
        ]
      },
      "validations": [
        {
          "expression": "!variables.nonProduction || !(has(object.metadata.labels) && 'data.baseline.dev/classification' in object.metadata.labels && object.metadata.labels['data.baseline.dev/classification'] in ['production'])",
          "message": "[production-data-restricted] objects labelled data.baseline.dev/classification = production hold production data and may not be stored in a non-production namespace"
        }
      ],
      "variables": [
        {
          "expression": "namespaceObject != null && !(namespaceObject.metadata.name in ['kube-node-lease', 'kube-public', 'kube-system', 'velero'] || (namespaceObject.metadata.name.startsWith('restore-test-') && has(namespaceObject.metadata.labels) && 'security.baseline.dev/restore-test' in namespaceObject.metadata.labels && namespaceObject.metadata.labels['security.baseline.dev/restore-test'] == 'true' && has(namespaceObject.metadata.annotations) && 'security.baseline.dev/restore-test-policy-uid' in namespaceObject.metadata.annotations && namespaceObject.metadata.annotations['security.baseline.dev/restore-test-policy-uid'] in []) || (('env' in (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}) && (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {})['env'] == 'production')) || size([(('env' in (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}) && (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {})['env'] == 'production')), (('env' in (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}) && (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {})['env'] == 'dev'))].filter(m, m)) > 1)",
          "name": "nonProduction"
        }
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "ei-iso-production-data-restricted",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "EnvironmentIsolation",
          "name": "iso",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "matchResources": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ]
        }
      },
      "policyName": "ei-iso-production-data-restricted",
      "validationActions": [
        "Deny"
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "ei-iso-cross-environment-access",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "EnvironmentIsolation",
          "name": "iso",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "failurePolicy": "Fail",
      "matchConditions": null,
      "matchConstraints": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ]
        },
        "resourceRules": [
          {
            "apiGroups": [
              "rbac.authorization.k8s.io"
            ],
            "apiVersions": [
              "*"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "rolebindings",
              "clusterrolebindings"
            ]
          }
        ]
      },
      "paramKind": {
        "apiVersion": "v1",
        "kind": "Namespace"
      },
      "validations": [
        {
          "expression": "(object.roleRef.kind == 'ClusterRole' && object.roleRef.name in []) || size(variables.crossSubjects) == 0",
          "message": "[cross-environment-access] bindings may not let identities of one environment act in another (ServiceAccounts in any subject form, system:serviceaccounts[:<namespace>] groups, system:authenticated; a namespace in no environment is an environment of its own) unless spec.access.allowedBindings names the pair; ClusterRoleBindings may not name them at all, and declared non-production groups may not be bound in production namespaces nor cluster-wide"
        }
      ],
      "variables": [
        {
          "expression": "request.resource.resource == 'clusterrolebindings' || (namespaceObject != null && (!(namespaceObject.metadata.name in ['kube-node-lease', 'kube-public', 'kube-system', 'velero']) && !(namespaceObject.metadata.name.startsWith('restore-test-') && has(namespaceObject.metadata.labels) && 'security.baseline.dev/restore-test' in namespaceObject.metadata.labels && namespaceObject.metadata.labels['security.baseline.dev/restore-test'] == 'true' && has(namespaceObject.metadata.annotations) && 'security.baseline.dev/restore-test-policy-uid' in namespaceObject.metadata.annotations && namespaceObject.metadata.annotations['security.baseline.dev/restore-test-policy-uid'] in []) && ((('env' in (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}) && (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {})['env'] == 'production')) || size([(('env' in (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}) && (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {})['env'] == 'production')), (('env' in (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}) && (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {})['env'] == 'dev'))].filter(m, m)) > 1)))",
          "name": "reachesProduction"
        },
        {
          "expression": "params != null && !(params.metadata.name in ['kube-node-lease', 'kube-public', 'kube-system', 'velero']) && !(has(params.status) && has(params.status.phase) && params.status.phase == 'Terminating')",
          "name": "paramJudged"
        },
        {
          "expression": "params == null ? [] : ((('env' in (has(params.metadata.labels) ? params.metadata.labels : {}) && (has(params.metadata.labels) ? params.metadata.labels : {})['env'] == 'production')) ? ['production'] : []) + ((('env' in (has(params.metadata.labels) ? params.metadata.labels : {}) && (has(params.metadata.labels) ? params.metadata.labels : {})['env'] == 'dev')) ? ['dev'] : [])",
          "name": "paramMatched"
        },
        {
          "expression": "params == null ? [] : ((params.metadata.name.startsWith('restore-test-') && has(params.metadata.labels) && 'security.baseline.dev/restore-test' in params.metadata.labels && params.metadata.labels['security.baseline.dev/restore-test'] == 'true' && has(params.metadata.annotations) && 'security.baseline.dev/restore-test-policy-uid' in params.metadata.annotations && params.metadata.annotations['security.baseline.dev/restore-test-policy-uid'] in []) || size(variables.paramMatched) == 0 ? ['namespace:' + params.metadata.name] : variables.paramMatched)",
          "name": "paramEnvironments"
        },
        {
          "expression": "namespaceObject == null ? [] : ((('env' in (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}) && (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {})['env'] == 'production')) ? ['production'] : []) + ((('env' in (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}) && (has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {})['env'] == 'dev')) ? ['dev'] : [])",
          "name": "targetMatched"
        },
        {
          "expression": "namespaceObject == null ? [] : ((namespaceObject.metadata.name.startsWith('restore-test-') && has(namespaceObject.metadata.labels) && 'security.baseline.dev/restore-test' in namespaceObject.metadata.labels && namespaceObject.metadata.labels['security.baseline.dev/restore-test'] == 'true' && has(namespaceObject.metadata.annotations) && 'security.baseline.dev/restore-test-policy-uid' in namespaceObject.metadata.annotations && namespaceObject.metadata.annotations['security.baseline.dev/restore-test-policy-uid'] in []) || size(variables.targetMatched) == 0 ? ['namespace:' + namespaceObject.metadata.name] : variables.targetMatched)",
          "name": "targetEnvironments"
        },
        {
          "expression": "variables.paramJudged && (request.resource.resource == 'clusterrolebindings' || (namespaceObject != null && params.metadata.name != namespaceObject.metadata.name && variables.paramEnvironments.exists(p, variables.targetEnvironments.exists(t, p != t && !((p + '>' + t) in [])))))",
          "name": "paramCrosses"
        },
        {
          "expression": "has(object.subjects) ? object.subjects : []",
          "name": "subjects"
        },
        {
          "expression": "variables.subjects.filter(s, (variables.paramCrosses && ((s.kind == 'ServiceAccount' && (has(s.namespace) && s.namespace != '' ? s.namespace.lowerAscii().trim() : request.namespace) == params.metadata.name) || (s.kind == 'User' && s.name.lowerAscii().trim().startsWith('system:serviceaccount:' + params.metadata.name + ':')) || (s.kind == 'Group' && (s.name.lowerAscii().trim() == 'system:serviceaccounts:' + params.metadata.name || s.name.lowerAscii().trim() == 'system:serviceaccounts' || s.name.lowerAscii().trim() == 'system:authenticated')))) || (variables.reachesProduction && s.kind == 'Group' && s.name.lowerAscii().trim() in ['contractors', 'system:authenticated']))",
          "name": "crossSubjects"
        }
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "ei-iso-cross-environment-access",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "EnvironmentIsolation",
          "name": "iso",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "matchResources": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ]
        }
      },
      "paramRef": {
        "parameterNotFoundAction": "Deny",
        "selector": {}
      },
      "policyName": "ei-iso-cross-environment-access",
      "validationActions": [
        "Deny"
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "ei-iso-environment-segregation-routes",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "EnvironmentIsolation",
          "name": "iso",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "failurePolicy": "Fail",
      "matchConditions": [
        {
          "expression": "!(request.namespace in ['legacy'])",
          "name": "not-exempted"
        },
        {
          "expression": "request.resource.resource == 'services' ? (has(object.spec.type) && object.spec.type == 'ExternalName') : (request.resource.resource == 'endpointslices' ? (has(object.endpoints) && object.endpoints.exists(e, has(e.targetRef) && has(e.targetRef.namespace) && e.targetRef.namespace != request.namespace)) : (has(object.subsets) && object.subsets.exists(s, (has(s.addresses) && s.addresses.exists(a, has(a.targetRef) && has(a.targetRef.namespace) && a.targetRef.namespace != request.namespace)) || (has(s.notReadyAddresses) && s.notReadyAddresses.exists(a, has(a.targetRef) && has(a.targetRef.namespace) && a.targetRef.namespace != request.namespace)))))",
          "name": "names-another-namespace"
        }
      ],
      "matchConstraints": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ]
        },
        "resourceRules": [
          {
            "apiGroups": [
              ""
            ],
            "apiVersions": [
              "v1"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "services",
              "endpoints"
            ]
          },
          {
            "apiGroups": [
              "discovery.k8s.io"
            ],
            "apiVersions": [
              "*"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "endpointslices"
            ]
          }
        ]
      },
      "paramKind": {
        "apiVersion": "v1",
        "kind": "Namespace"
      },
      "validations": [
        {
          "expression": "!(variables.aliased || variables.targeted) || !variables.crosses",
          "message": "[environment-segregation] a Service, Endpoints or EndpointSlice in a namespace of one environment may not route into a namespace of another environment (an ExternalName with that namespace's cluster DNS name, or an endpoint whose targetRef is in it) unless a declared flow without port limits joins the two environments"
        }
      ],
      "variables": [
        {
          "expression": "namespaceObject != null && has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {}",
          "name": "nsLabels"
        },
        {
          "expression": "params != null && has(params.metadata.labels) ? params.metadata.labels : {}",
          "name": "paramLabels"
        },
        {
          "expression": "request.resource.resource == 'services' && has(object.spec.externalName) ? object.spec.externalName.lowerAscii() : ''",
          "name": "externalName"
        },
        {
          "expression": "(variables.externalName.endsWith('.') ? variables.externalName.substring(0, size(variables.externalName) - 1) : variables.externalName).split('.')",
          "name": "nameLabels"
        },
        {
          "expression": "params != null && variables.externalName != '' && (size(variables.nameLabels) == 2 ? variables.nameLabels[1] : (size(variables.nameLabels) >= 3 && (variables.nameLabels[2] == 'svc' || variables.nameLabels[2] == 'pod') ? variables.nameLabels[1] : (size(variables.nameLabels) >= 4 && variables.nameLabels[3] == 'svc' ? variables.nameLabels[2] : ''))) == params.metadata.name",
          "name": "aliased"
        },
        {
          "expression": "params != null && (request.resource.resource == 'endpointslices' ? (has(object.endpoints) && object.endpoints.exists(a, has(a.targetRef) && has(a.targetRef.namespace) && a.targetRef.namespace == params.metadata.name)) : (request.resource.resource == 'endpoints' && has(object.subsets) && object.subsets.exists(s, (has(s.addresses) && s.addresses.exists(a, has(a.targetRef) && has(a.targetRef.namespace) && a.targetRef.namespace == params.metadata.name)) || (has(s.notReadyAddresses) && s.notReadyAddresses.exists(a, has(a.targetRef) && has(a.targetRef.namespace) && a.targetRef.namespace == params.metadata.name)))))",
          "name": "targeted"
        },
        {
          "expression": "params.metadata.name != request.namespace && !(params.metadata.name in ['kube-node-lease', 'kube-public', 'kube-system', 'velero']) && namespaceObject != null && !(namespaceObject.metadata.name.startsWith('restore-test-') && has(namespaceObject.metadata.labels) && 'security.baseline.dev/restore-test' in namespaceObject.metadata.labels && namespaceObject.metadata.labels['security.baseline.dev/restore-test'] == 'true' && has(namespaceObject.metadata.annotations) && 'security.baseline.dev/restore-test-policy-uid' in namespaceObject.metadata.annotations && namespaceObject.metadata.annotations['security.baseline.dev/restore-test-policy-uid'] in []) && !(params.metadata.name.startsWith('restore-test-') && has(params.metadata.labels) && 'security.baseline.dev/restore-test' in params.metadata.labels && params.metadata.labels['security.baseline.dev/restore-test'] == 'true' && has(params.metadata.annotations) && 'security.baseline.dev/restore-test-policy-uid' in params.metadata.annotations && params.metadata.annotations['security.baseline.dev/restore-test-policy-uid'] in []) && ((('env' in variables.nsLabels && variables.nsLabels['env'] == 'production')) || (('env' in variables.nsLabels && variables.nsLabels['env'] == 'dev'))) && ((('env' in variables.paramLabels && variables.paramLabels['env'] == 'production')) || (('env' in variables.paramLabels && variables.paramLabels['env'] == 'dev'))) && !(((('env' in variables.nsLabels && variables.nsLabels['env'] == 'production')) && (('env' in variables.paramLabels && variables.paramLabels['env'] == 'production'))) || ((('env' in variables.nsLabels && variables.nsLabels['env'] == 'dev')) && (('env' in variables.paramLabels && variables.paramLabels['env'] == 'dev')))) && !false",
          "name": "crosses"
        }
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "ei-iso-environment-segregation-routes",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "EnvironmentIsolation",
          "name": "iso",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "matchResources": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ]
        }
      },
      "paramRef": {
        "parameterNotFoundAction": "Deny",
        "selector": {}
      },
      "policyName": "ei-iso-environment-segregation-routes",
      "validationActions": [
        "Deny"
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "ei-iso-environment-segregation",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "EnvironmentIsolation",
          "name": "iso",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "failurePolicy": "Fail",
      "matchConditions": null,
      "matchConstraints": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ]
        },
        "resourceRules": [
          {
            "apiGroups": [
              ""
            ],
            "apiVersions": [
              "v1"
            ],
            "operations": [
              "CREATE",
              "UPDATE"
            ],
            "resources": [
              "namespaces"
            ]
          }
        ]
      },
      "validations": [
        {
          "expression": "size(variables.changedKeys) == 0 || variables.allowed",
          "message": "[environment-segregation] only environment administrators may set or change the protected namespace labels env, security.baseline.dev/restore-test"
        },
        {
          "expression": "!(oldObject != null && ((!('security.baseline.dev/restore-test' in variables.oldLabels && variables.oldLabels['security.baseline.dev/restore-test'] == 'true') && ('security.baseline.dev/restore-test' in variables.labels && variables.labels['security.baseline.dev/restore-test'] == 'true')) || ('security.baseline.dev/restore-test-policy-uid' in variables.annotations && (!('security.baseline.dev/restore-test-policy-uid' in variables.oldAnnotations) || variables.oldAnnotations['security.baseline.dev/restore-test-policy-uid'] != variables.annotations['security.baseline.dev/restore-test-policy-uid']))))",
          "message": "[environment-segregation] an existing namespace cannot be made a restore-test sandbox (security.baseline.dev/restore-test label or security.baseline.dev/restore-test-policy-uid annotation); sandboxes are created as such by the operator"
        }
      ],
      "variables": [
        {
          "expression": "has(object.metadata.labels) ? object.metadata.labels : {}",
          "name": "labels"
        },
        {
          "expression": "oldObject != null && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}",
          "name": "oldLabels"
        },
        {
          "expression": "has(object.metadata.annotations) ? object.metadata.annotations : {}",
          "name": "annotations"
        },
        {
          "expression": "oldObject != null && has(oldObject.metadata.annotations) ? oldObject.metadata.annotations : {}",
          "name": "oldAnnotations"
        },
        {
          "expression": "['env', 'security.baseline.dev/restore-test'].filter(k, (k in variables.labels) != (k in variables.oldLabels) || (k in variables.labels && k in variables.oldLabels && variables.labels[k] != variables.oldLabels[k]))",
          "name": "changedKeys"
        },
        {
          "expression": "request.userInfo.username in ['alice', 'system:serviceaccount:ops:operator'] || (has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in ['platform-admins'])) || (oldObject == null && request.userInfo.username in ['system:serviceaccount:velero:velero-server'])",
          "name": "allowed"
        }
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "ei-iso-environment-segregation",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "EnvironmentIsolation",
          "name": "iso",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "matchResources": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ]
        }
      },
      "policyName": "ei-iso-environment-segregation",
      "validationActions": [
        "Deny"
      ]
    }
  }
]"#;

#[test]
fn record_guard_sends_the_same_policy_and_binding() {
    let objects = super::pod_security_takeover::record_guard(
        &owner("SecurityBaseline", "prod"),
        "security.baseline.dev/pod-security-from",
        &Snapshot::default(),
        Some("system:serviceaccount:ops:op"),
    );
    pinned(&objects, RECORD_GUARD);
}

const RECORD_GUARD: &str = r#"[
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicy",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-prod-workload-hardening",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "failurePolicy": "Fail",
      "matchConstraints": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ]
        },
        "resourceRules": [
          {
            "apiGroups": [
              ""
            ],
            "apiVersions": [
              "v1"
            ],
            "operations": [
              "UPDATE"
            ],
            "resources": [
              "namespaces"
            ]
          }
        ]
      },
      "validations": [
        {
          "expression": "request.userInfo.username == 'system:serviceaccount:ops:op' || !((('security.baseline.dev/pod-security-from' in variables.labels) != ('security.baseline.dev/pod-security-from' in variables.oldLabels) || ('security.baseline.dev/pod-security-from' in variables.labels && 'security.baseline.dev/pod-security-from' in variables.oldLabels && variables.labels['security.baseline.dev/pod-security-from'] != variables.oldLabels['security.baseline.dev/pod-security-from'])) || (('security.baseline.dev/pod-security-from-prior' in variables.annotations) != ('security.baseline.dev/pod-security-from-prior' in variables.oldAnnotations) || ('security.baseline.dev/pod-security-from-prior' in variables.annotations && 'security.baseline.dev/pod-security-from-prior' in variables.oldAnnotations && variables.annotations['security.baseline.dev/pod-security-from-prior'] != variables.oldAnnotations['security.baseline.dev/pod-security-from-prior'])))",
          "message": "[workload-hardening] only baseline-operator may set or change security.baseline.dev/pod-security-from and security.baseline.dev/pod-security-from-prior: they record the Pod Security labels a namespace carried before the operator came, which it puts back when it leaves"
        }
      ],
      "variables": [
        {
          "expression": "has(object.metadata.labels) ? object.metadata.labels : {}",
          "name": "labels"
        },
        {
          "expression": "oldObject != null && has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}",
          "name": "oldLabels"
        },
        {
          "expression": "has(object.metadata.annotations) ? object.metadata.annotations : {}",
          "name": "annotations"
        },
        {
          "expression": "oldObject != null && has(oldObject.metadata.annotations) ? oldObject.metadata.annotations : {}",
          "name": "oldAnnotations"
        }
      ]
    }
  },
  {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingAdmissionPolicyBinding",
    "metadata": {
      "labels": {
        "app.kubernetes.io/managed-by": "baseline-operator",
        "security.baseline.dev/owner-uid": "uid-1"
      },
      "name": "sb-prod-workload-hardening",
      "ownerReferences": [
        {
          "apiVersion": "security.baseline.dev/v1alpha1",
          "blockOwnerDeletion": true,
          "controller": true,
          "kind": "SecurityBaseline",
          "name": "prod",
          "uid": "uid-1"
        }
      ]
    },
    "spec": {
      "matchResources": {
        "namespaceSelector": {
          "matchExpressions": [
            {
              "key": "kubernetes.io/metadata.name",
              "operator": "NotIn",
              "values": [
                "kube-node-lease",
                "kube-public",
                "kube-system",
                "velero"
              ]
            }
          ]
        }
      },
      "policyName": "sb-prod-workload-hardening",
      "validationActions": [
        "Deny"
      ]
    }
  }
]"#;
