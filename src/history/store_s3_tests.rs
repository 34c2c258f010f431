//! The store's configuration: the secret never shown, endpoints checked before any request.

use super::store_s3::*;

#[test]
fn debug_never_shows_the_secret_key() {
    let store = S3Store::new(S3Config {
        endpoint: "http://127.0.0.1:9".into(),
        bucket: "evidence".into(),
        prefix: "prod".into(),
        region: "us-east-1".into(),
        access_key: "AKIAEXAMPLE".into(),
        secret_key: Secret::new("very-secret-value"),
        retention: Retention::default(),
    })
    .unwrap();
    let debug = format!("{store:?} {:?}", store.config());
    assert!(!debug.contains("very-secret-value"), "{debug}");
    assert!(!debug.contains("AKIAEXAMPLE"), "{debug}");
    assert!(debug.contains("s3://evidence/prod"), "{debug}");
}

#[test]
fn an_endpoint_without_scheme_or_host_is_refused() {
    for endpoint in ["127.0.0.1:9000", "ftp://127.0.0.1:9000", "http://"] {
        let refused = S3Store::new(S3Config {
            endpoint: endpoint.into(),
            bucket: "evidence".into(),
            prefix: String::new(),
            region: "us-east-1".into(),
            access_key: "AKIAEXAMPLE".into(),
            secret_key: Secret::new("very-secret-value"),
            retention: Retention::default(),
        });
        assert!(refused.is_err(), "{endpoint} was accepted");
    }
}
