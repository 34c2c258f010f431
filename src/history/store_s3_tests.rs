//! SigV4 against the worked example of the AWS documentation ("Example: GET Object",
//! Signature Version 4 for Amazon S3), and the secret never shown.

use super::store_s3::*;

#[test]
fn signs_the_documented_get_object_example() {
    let headers = sign_v4(&SigningInput {
        method: "GET",
        path: "/test.txt",
        query: "",
        host: "examplebucket.s3.amazonaws.com",
        headers: &[("range".into(), "bytes=0-9".into())],
        payload_hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        region: "us-east-1",
        access_key: "AKIAIOSFODNN7EXAMPLE",
        secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        now: "2013-05-24T00:00:00Z".parse().unwrap(),
    });
    let authorization = &headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .unwrap()
        .1;
    assert_eq!(
        authorization,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
         SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
         Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
}

#[test]
fn uri_encoding_keeps_only_unreserved_characters() {
    assert_eq!(uri_encode("a b/c~d", true), "a%20b/c~d");
    assert_eq!(uri_encode("a b/c", false), "a%20b%2Fc");
}

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
