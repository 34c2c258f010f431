use super::sign::*;

#[test]
fn seed_and_public_key_round_trip_through_base64() {
    let key = SigningKey::generate().unwrap();
    let again = SigningKey::from_base64(&format!("  {}\n", key.seed_base64())).unwrap();
    assert_eq!(again.public_key(), key.public_key());
    let public = PublicKey::from_base64(&key.public_key().to_base64()).unwrap();
    assert_eq!(public, key.public_key());
    let signature = key.sign(b"hash");
    assert!(public.verifies(b"hash", &signature));
    assert!(!public.verifies(b"other", &signature));
    assert!(
        !SigningKey::generate()
            .unwrap()
            .public_key()
            .verifies(b"hash", &signature)
    );
}

#[test]
fn bad_key_text_is_refused_without_echoing_it() {
    let error = SigningKey::from_base64("c2VjcmV0LXNlZWQ=")
        .unwrap_err()
        .to_string();
    assert!(error.contains("11 bytes"), "{error}");
    assert!(!error.contains("c2VjcmV0"), "{error}");
    assert!(SigningKey::from_base64("not base64!").is_err());
    assert!(PublicKey::from_base64("AAAA").is_err());
}

#[test]
fn debug_output_never_shows_the_seed() {
    let key = SigningKey::from_seed_bytes(&[7; 32]);
    let debug = format!("{key:?}");
    assert!(!debug.contains(&key.seed_base64()), "{debug}");
    assert!(debug.contains(&key.public_key().key_id()), "{debug}");
}
