//! What counts as a production Secret's secret material, for copied-Secret detection.
//!
//! A production Secret holds values shared by design (a username, a host, a port, a database
//! name, a flag) next to the ones that are the secret (a password, a token, a private key). A
//! non-production Secret that shares `username: payments` with production holds no production
//! data: flagging it would be a false positive an auditor dismisses, and noise that hides the
//! real copies. So only secret material is compared:
//!
//! - a value under a key that names secret material (`password`, `DB_PASS`, `api-key`,
//!   `tls.key`, `token`, ...), at least [`MIN_MATERIAL_BYTES`] long;
//! - a value under any other key that does not name a value shared by design, when it looks
//!   generated: at least [`MIN_GENERATED_BYTES`] long, no whitespace, letters and digits mixed
//!   in both cases (or hex), and at least [`MIN_GENERATED_BITS`] bits by its character
//!   frequencies, as random passwords, tokens and keys are and hostnames, URLs and words are not;
//! - never a value under a key naming a value shared by design (`username`, `host`, `port`,
//!   `database`, ...) unless the key names secret material too (`user_password`), never a
//!   number or boolean, never a PEM certificate (public by design).
//!
//! A whole Secret copied is a copy of production data only when that Secret holds secret
//! material by these rules, or a key naming secret material with a shorter value.
//!
//! The rules judge the production side: a copy may rename its key, so every value of a
//! non-production Secret is compared against the production secret material.

/// Shorter values are never compared on their own: `true`, `5432` or `admin` sit in
/// unrelated Secrets everywhere, and a match would prove nothing.
pub const MIN_MATERIAL_BYTES: usize = 8;
/// Under a key that says nothing, a value must be at least this long to look generated.
pub const MIN_GENERATED_BYTES: usize = 16;
/// ... and carry at least this much entropy, estimated from its character frequencies.
pub const MIN_GENERATED_BITS: f64 = 56.0;

/// Words (or parts of words) in a key that name secret material.
const SECRET_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "private",
    "apikey",
    "privkey",
];
/// Whole words of a key that name secret material.
const SECRET_WORDS: &[&str] = &[
    "pass", "pwd", "pw", "key", "auth", "salt", "seed", "pin", "dsn", "cookie", "session", "creds",
    "jwt", "hmac", "signing", "p12", "pfx", "keystore", "htpasswd",
];
/// Whole words of a key that name a value shared by design.
const SHARED_WORDS: &[&str] = &[
    "user",
    "username",
    "usr",
    "login",
    "email",
    "mail",
    "host",
    "hostname",
    "port",
    "server",
    "address",
    "addr",
    "endpoint",
    "url",
    "uri",
    "database",
    "db",
    "dbname",
    "schema",
    "name",
    "region",
    "zone",
    "namespace",
    "bucket",
    "mode",
    "env",
    "environment",
    "enabled",
    "version",
    "id",
    "crt",
    "ca",
];

/// The words of a key: `DB_PASSWORD` -> `db`, `password`; `apiKey` -> `api`, `key`;
/// `tls.key` -> `tls`, `key`.
fn words(key: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in key.chars() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether a key's name says it holds secret material.
pub fn names_secret(key: &str) -> bool {
    let words = words(key);
    let joined = words.concat();
    SECRET_PARTS.iter().any(|p| joined.contains(p))
        || words.iter().any(|w| SECRET_WORDS.contains(&w.as_str()))
}

/// Whether a key's name says it holds a value shared by design (and not secret material).
pub fn names_shared(key: &str) -> bool {
    !names_secret(key)
        && words(key)
            .iter()
            .any(|w| SHARED_WORDS.contains(&w.as_str()))
}

/// Whether `value` under `key` is secret material (see the module documentation).
pub fn is_secret_material(key: &str, value: &[u8]) -> bool {
    if value.len() < MIN_MATERIAL_BYTES || is_certificate(value) || is_scalar(value) {
        return false;
    }
    if names_secret(key) || is_private_key(value) {
        return true;
    }
    !names_shared(key) && looks_generated(value)
}

/// A PEM certificate (or bundle): public by design, the same CA in every environment.
/// Private keys in PEM are secret material.
pub fn is_certificate(value: &[u8]) -> bool {
    value
        .trim_ascii_start()
        .starts_with(b"-----BEGIN CERTIFICATE-----")
}

/// A private key in PEM, under whatever key.
fn is_private_key(value: &[u8]) -> bool {
    let start = value.trim_ascii_start();
    start.starts_with(b"-----BEGIN ")
        && start
            .windows(b"PRIVATE KEY-----".len())
            .any(|w| w == b"PRIVATE KEY-----")
}

/// A number or a boolean: shared by design, whatever its key.
fn is_scalar(value: &[u8]) -> bool {
    let text = value.trim_ascii();
    let lower = text.to_ascii_lowercase();
    matches!(
        lower.as_slice(),
        b"true" | b"false" | b"yes" | b"no" | b"on" | b"off"
    ) || (!text.is_empty()
        && text
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(*b, b'.' | b'-' | b'+' | b'_')))
}

/// A random password, token or key: long, without whitespace, mixing character classes as
/// generators do (upper and lower case letters and digits, or hex), with enough entropy.
fn looks_generated(value: &[u8]) -> bool {
    if value.len() < MIN_GENERATED_BYTES || value.iter().any(|b| b.is_ascii_whitespace()) {
        return false;
    }
    let has = |f: fn(&u8) -> bool| value.iter().any(f);
    let mixed =
        has(u8::is_ascii_uppercase) && has(u8::is_ascii_lowercase) && has(u8::is_ascii_digit);
    let hex = value.len() >= 32 && value.iter().all(u8::is_ascii_hexdigit);
    (mixed || hex) && entropy_bits(value) >= MIN_GENERATED_BITS
}

/// Shannon entropy of the value's bytes times its length: the bits an ideal coder needs.
fn entropy_bits(value: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    for b in value {
        counts[usize::from(*b)] += 1;
    }
    let len = value.len() as f64;
    let per_byte: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / len;
            -p * p.log2()
        })
        .sum();
    per_byte * len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_split_into_words() {
        assert_eq!(words("DB_PASSWORD"), ["db", "password"]);
        assert_eq!(words("apiKey"), ["api", "key"]);
        assert_eq!(words("tls.key"), ["tls", "key"]);
        assert_eq!(words("ssh-privatekey"), ["ssh", "privatekey"]);
    }

    #[test]
    fn passwords_tokens_and_keys_are_secret_material_under_any_spelling() {
        for key in [
            "password",
            "DB_PASSWORD",
            "dbPass",
            "api-key",
            "apiKey",
            "tls.key",
            "ssh-privatekey",
            "token",
            "GITHUB_TOKEN",
            "client_secret",
            "user_password",
            ".htpasswd",
        ] {
            assert!(names_secret(key), "{key}");
            assert!(is_secret_material(key, b"hunter2-hunter2"), "{key}");
        }
    }

    #[test]
    fn values_shared_by_design_are_not_secret_material() {
        let cases: [(&str, &[u8]); 10] = [
            ("username", b"payments"),
            ("DB_USER", b"payments-service"),
            ("host", b"payments-db.prod.svc.cluster.local"),
            ("port", b"5432"),
            ("database", b"payments"),
            ("endpoint", b"https://Payments01.example.com/api/v1"),
            ("enabled", b"true"),
            ("password", b"short"),
            (
                "ca.crt",
                b"-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAK...\n",
            ),
            ("timeout", b"30000000000"),
        ];
        for (key, value) in cases {
            assert!(!is_secret_material(key, value), "{key}");
        }
    }

    #[test]
    fn generated_values_under_unnamed_keys_are_secret_material_words_and_urls_are_not() {
        assert!(is_secret_material("config", b"Zx8kQ2mPv7LtR4wN9bYc"));
        assert!(is_secret_material(
            "value",
            b"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        ));
        assert!(!is_secret_material("greeting", b"hello-world-from-dev"));
        assert!(!is_secret_material(
            "FEATURE_FLAGS",
            b"dark-mode,beta-search"
        ));
        assert!(!is_secret_material(
            "callback",
            b"https://shop.example.com/cb"
        ));
        // Mixed classes but too little entropy: a repeated pattern.
        assert!(!is_secret_material("config", b"Aa1Aa1Aa1Aa1Aa1Aa1"));
    }
}
