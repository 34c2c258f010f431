use super::*;

fn spec() -> ImagesSpec {
    ImagesSpec {
        allowed_registries: vec!["registry.example.com/".into()],
        disallow_latest_tag: true,
        require_digest: false,
    }
}

#[test]
fn judges_registry_tag_and_digest() {
    let s = spec();
    assert!(image_problem(&s, "registry.example.com/api:1.2").is_none());
    assert!(image_problem(&s, "registry.example.com:5000/api").is_some());
    assert!(
        image_problem(&s, "registry.example.com/api")
            .unwrap()
            .contains("no tag")
    );
    assert!(
        image_problem(&s, "registry.example.com/api:latest")
            .unwrap()
            .contains("mutable tag")
    );
    assert!(
        image_problem(&s, "docker.io/nginx:1.25")
            .unwrap()
            .contains("registry")
    );
    let digest = format!("registry.example.com/api@sha256:{}", "a".repeat(64));
    assert!(image_problem(&s, &digest).is_none());
    // A malformed digest pins nothing: the untagged name resolves to `latest`.
    assert!(
        image_problem(&s, "registry.example.com/api@sha256:abc")
            .unwrap()
            .contains("no tag")
    );
    let digest = ImagesSpec {
        require_digest: true,
        ..s
    };
    assert!(
        image_problem(&digest, "registry.example.com/api:1.2")
            .unwrap()
            .contains("digest")
    );
}

#[test]
fn port_in_registry_host_is_not_a_tag() {
    let s = ImagesSpec {
        allowed_registries: vec![],
        disallow_latest_tag: true,
        require_digest: false,
    };
    assert!(image_problem(&s, "localhost:5000/api").is_some());
    assert!(image_problem(&s, "localhost:5000/api:v1").is_none());
}

fn registries(entries: &[&str]) -> ImagesSpec {
    ImagesSpec {
        allowed_registries: entries.iter().map(|e| e.to_string()).collect(),
        disallow_latest_tag: false,
        require_digest: false,
    }
}

#[test]
fn allowed_registry_matches_on_a_host_boundary() {
    for entry in ["registry.acme.test", "registry.acme.test/"] {
        let s = registries(&[entry]);
        assert!(
            image_problem(&s, "registry.acme.test/x:1").is_none(),
            "{entry}"
        );
        assert!(
            image_problem(&s, "registry.acme.test/team/x:1").is_none(),
            "{entry}"
        );
        for outside in [
            "registry.acme.test.evil.io/x:1",
            "registry.acme.testing/x:1",
            "registry.acme.test:5000/x:1",
            "registry.acme.test",
            "evil.io/registry.acme.test/x:1",
        ] {
            assert!(
                image_problem(&s, outside).is_some(),
                "{entry} admitted {outside}"
            );
        }
    }
}

#[test]
fn allowed_path_prefix_matches_on_a_path_boundary() {
    for entry in ["registry.acme.test/team/", "registry.acme.test/team"] {
        let s = registries(&[entry]);
        assert!(
            image_problem(&s, "registry.acme.test/team/x:1").is_none(),
            "{entry}"
        );
        assert!(image_problem(&s, "registry.acme.test/team/sub/x:1").is_none());
        for outside in [
            "registry.acme.test/teammate/x:1",
            "registry.acme.test/x:1",
            "registry.acme.test/team:1",
        ] {
            assert!(
                image_problem(&s, outside).is_some(),
                "{entry} admitted {outside}"
            );
        }
    }
    assert_eq!(
        registry_prefixes(&registries(&["a.test", "b.test/team/", "c.test//"])),
        ["a.test/", "b.test/team/", "c.test/"]
    );
}

#[test]
fn a_digest_is_sha256_and_64_lowercase_hex() {
    let hex = "0123456789abcdef".repeat(4);
    assert!(pinned(&format!("r.test/x@sha256:{hex}")));
    assert!(pinned(&format!("r.test/x:1.2@sha256:{hex}")));
    for bad in [
        "r.test/x@sha256:abc".to_string(),
        format!("r.test/x@sha256:{}", hex.to_uppercase()),
        format!("r.test/x@sha256:{hex}0"),
        format!("r.test/x@sha256:{}", &hex[1..]),
        format!("r.test/x@sha512:{hex}"),
        format!("r.test/x@sha256:{}g", &hex[1..]),
        format!("@sha256:{hex}"),
        format!("r.test/x@y@sha256:{hex}"),
        format!("r.test/x:sha256:{hex}"),
    ] {
        assert!(!pinned(&bad), "{bad} counted as pinned");
    }
    let s = ImagesSpec {
        require_digest: true,
        ..registries(&[])
    };
    assert!(image_problem(&s, "r.test/x@sha256:abc").is_some());
    assert!(image_problem(&s, &format!("r.test/x@sha256:{hex}")).is_none());
}

#[test]
fn tag_is_after_the_last_colon_of_the_last_path_segment() {
    assert_eq!(tag("nginx"), None);
    assert_eq!(tag("nginx:"), None);
    assert_eq!(tag("nginx:1.25"), Some("1.25"));
    assert_eq!(tag("localhost:5000/nginx"), None);
    assert_eq!(tag("localhost:5000/nginx:latest"), Some("latest"));
    assert_eq!(tag("r.test/x:1@sha256:abc"), Some("1"));
    assert_eq!(tag("r.test/x@sha256:abc"), None);
}
