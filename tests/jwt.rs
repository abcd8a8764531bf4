//! Video SDK JWTs: byte-exact vectors from independent implementations,
//! round trips (and sign-then-decode of arbitrary claims), every way `decode`
//! refuses a token, empty secrets on both sides, and the opt-in checks of
//! `decode_with` (leeway, nbf, iat, maximum lifetime).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zoom_ws::jwt::{self, ApiToken, Role, SessionToken, Validation, DEFAULT_LIFETIME};
use zoom_ws::{Error, JwtError, Secret};

mod common;
use common::Rng;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// 2024-07-11T13:44:15Z; tokens made at this time have iat = NOW - 30.
const NOW: u64 = 1_720_705_455;

fn jwt_err(r: zoom_ws::Result<jwt::Claims>) -> JwtError {
    match r {
        Err(Error::Jwt(e)) => e,
        other => panic!("expected a JWT error, got {other:?}"),
    }
}

// Made with openssl, independently of the crate:
//   b64u() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
//   h=$(printf '%s' '{"alg":"HS256","typ":"JWT"}' | b64u)
//   p=$(printf '%s' '{"iss":"zoom-api-key-123","iat":1720705425,"exp":1720709025}' | b64u)
//   s=$(printf '%s' "$h.$p" | openssl dgst -sha256 -hmac 'zoom-api-secret-456' -binary | b64u)
//   echo "$h.$p.$s"
// and identically with python3's hmac/hashlib/base64 (hs256() below).
const API_VECTOR: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ6b29tLWFwaS1rZXktMTIzIiwiaWF0IjoxNzIwNzA1NDI1LCJleHAiOjE3MjA3MDkwMjV9.LpW2gUKH_ppTtQ_UXgmBLT0F3rT7n0T45p57RdXF-gE";

#[test]
fn api_token_matches_openssl() {
    let token = ApiToken::new("zoom-api-key-123", "zoom-api-secret-456")
        .sign_at(at(NOW))
        .unwrap();
    assert_eq!(token.expose(), API_VECTOR);
}

// Made with python3 (stdlib only):
//   import hmac, hashlib, base64, json
//   b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
//   def hs256(secret, payload):
//       h = b64(b'{"alg":"HS256","typ":"JWT"}')
//       p = b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
//       s = b64(hmac.new(secret.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest())
//       return f"{h}.{p}.{s}"
//   print(hs256("video-sdk-secret", {"app_key": "video-sdk-key", "tpc": "Zoë 会议",
//       "role_type": 1, "session_key": "sk-1", "user_identity": "user-42", "version": 1,
//       "iat": 1720705425, "exp": 1720712625}))
const SESSION_VECTOR_FULL: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHBfa2V5IjoidmlkZW8tc2RrLWtleSIsInRwYyI6Ilpvw6sg5Lya6K6uIiwicm9sZV90eXBlIjoxLCJzZXNzaW9uX2tleSI6InNrLTEiLCJ1c2VyX2lkZW50aXR5IjoidXNlci00MiIsInZlcnNpb24iOjEsImlhdCI6MTcyMDcwNTQyNSwiZXhwIjoxNzIwNzEyNjI1fQ.vV1nXYERfpC2hvg2bGupjyoLQ_QlDyDMqJHp_dDkzR0";

//   print(hs256("video-sdk-secret", {"app_key": "video-sdk-key", "tpc": "standup",
//       "role_type": 0, "version": 1, "iat": 1720705425, "exp": 1720709025}))
const SESSION_VECTOR_DEFAULTS: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHBfa2V5IjoidmlkZW8tc2RrLWtleSIsInRwYyI6InN0YW5kdXAiLCJyb2xlX3R5cGUiOjAsInZlcnNpb24iOjEsImlhdCI6MTcyMDcwNTQyNSwiZXhwIjoxNzIwNzA5MDI1fQ.GuBUbPmF--p-x-S_Ka71ixnPy45a_RX4YtavREZ5sRs";

#[test]
fn session_token_matches_python() {
    let full = SessionToken::new("video-sdk-key", "video-sdk-secret", "Zoë 会议")
        .role(Role::Host)
        .session_key("sk-1")
        .user_identity("user-42")
        .lifetime(Duration::from_secs(2 * 3600))
        .sign_at(at(NOW))
        .unwrap();
    assert_eq!(full.expose(), SESSION_VECTOR_FULL);

    let defaults = SessionToken::new("video-sdk-key", "video-sdk-secret", "standup")
        .sign_at(at(NOW))
        .unwrap();
    assert_eq!(defaults.expose(), SESSION_VECTOR_DEFAULTS);
}

#[test]
fn independent_vectors_decode() {
    let claims = jwt::decode(
        API_VECTOR,
        &Secret::new("zoom-api-secret-456"),
        at(NOW),
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(claims["iss"], "zoom-api-key-123");
    assert_eq!(claims["iat"], 1_720_705_425);
    assert_eq!(claims["exp"], 1_720_709_025);

    let claims = jwt::decode(
        SESSION_VECTOR_FULL,
        &Secret::new("video-sdk-secret"),
        at(NOW),
        Duration::ZERO,
    )
    .unwrap();
    assert_eq!(claims["tpc"], "Zoë 会议");
    assert_eq!(claims["role_type"], 1);
}

// jwt.io's long-standing HS256 example (secret "your-256-bit-secret"). Its
// payload has no exp, which `decode` refuses, but only after the signature
// was accepted: Malformed("payload has no exp") with the right secret,
// Signature with a wrong one. Signature re-checked with python3:
//   hmac.new(b"your-256-bit-secret", b"<header>.<payload>", hashlib.sha256) -> base64url
#[test]
fn jwt_io_example() {
    let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    let right = Secret::new("your-256-bit-secret");
    assert_eq!(
        jwt_err(jwt::decode(token, &right, at(NOW), Duration::ZERO)),
        JwtError::Malformed("payload has no exp".into())
    );
    let wrong = Secret::new("your-256-bit-secreT");
    assert_eq!(
        jwt_err(jwt::decode(token, &wrong, at(NOW), Duration::ZERO)),
        JwtError::Signature
    );
}

#[test]
fn api_token_round_trip_and_times() {
    let secret = Secret::new("s3cret");
    let token = ApiToken::new("key", secret.clone())
        .sign_at(at(NOW))
        .unwrap();
    let claims = jwt::decode(token.expose(), &secret, at(NOW), Duration::ZERO).unwrap();
    assert_eq!(claims.len(), 3);
    assert_eq!(claims["iss"], "key");
    // iat is backdated by 30 s for clock skew; exp - iat is the lifetime.
    assert_eq!(claims["iat"], NOW - 30);
    assert_eq!(claims["exp"], NOW - 30 + DEFAULT_LIFETIME.as_secs());

    let short = ApiToken::new("key", secret.clone())
        .lifetime(Duration::from_secs(120))
        .sign_at(at(NOW))
        .unwrap();
    let claims = jwt::decode(short.expose(), &secret, at(NOW), Duration::ZERO).unwrap();
    assert_eq!(claims["exp"], NOW - 30 + 120);

    // The header is exactly {"alg":"HS256","typ":"JWT"}.
    let header = token.expose().split('.').next().unwrap();
    assert_eq!(
        URL_SAFE_NO_PAD.decode(header).unwrap(),
        br#"{"alg":"HS256","typ":"JWT"}"#
    );
    // No padding, URL-safe alphabet only.
    assert!(token
        .expose()
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
}

#[test]
fn system_clock_token_is_valid_now() {
    let secret = Secret::new("s3cret");
    let token = ApiToken::new("key", secret.clone()).sign().unwrap();
    jwt::decode(token.expose(), &secret, SystemTime::now(), Duration::ZERO).unwrap();
    let token = SessionToken::new("key", secret.clone(), "s")
        .sign()
        .unwrap();
    jwt::decode(token.expose(), &secret, SystemTime::now(), Duration::ZERO).unwrap();
}

#[test]
fn session_token_options() {
    let secret = Secret::new("s3cret");
    let token = SessionToken::new("app", secret.clone(), "room")
        .version(None)
        .claim("geo_regions", "US,EU")
        .claim("cloud_recording_option", 1)
        .claim("cloud_recording_option", 0) // last value wins
        .claim("tpc", "ignored: set by the builder")
        .sign_at(at(NOW))
        .unwrap();
    let payload = token.expose().split('.').nth(1).unwrap();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(
        payload,
        format!(
            r#"{{"app_key":"app","tpc":"room","role_type":0,"geo_regions":"US,EU","cloud_recording_option":0,"iat":{},"exp":{}}}"#,
            NOW - 30,
            NOW - 30 + 3600
        )
    );
    assert_eq!(Role::Host.role_type(), 1);
    assert_eq!(Role::Participant.role_type(), 0);
    assert_eq!(Role::default(), Role::Participant);
}

#[test]
fn wrong_secret_is_signature_error() {
    let token = ApiToken::new("key", "right").sign_at(at(NOW)).unwrap();
    assert_eq!(
        jwt_err(jwt::decode(
            token.expose(),
            &Secret::new("wrong"),
            at(NOW),
            Duration::ZERO
        )),
        JwtError::Signature
    );
}

#[test]
fn tampered_payload_is_signature_error() {
    let secret = Secret::new("s3cret");
    let token = ApiToken::new("key", secret.clone())
        .sign_at(at(NOW))
        .unwrap();
    let parts: Vec<&str> = token.expose().split('.').collect();
    let forged_payload = URL_SAFE_NO_PAD.encode(format!(
        r#"{{"iss":"admin","iat":{},"exp":{}}}"#,
        NOW - 30,
        NOW + 99_999
    ));
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_eq!(
        jwt_err(jwt::decode(&forged, &secret, at(NOW), Duration::ZERO)),
        JwtError::Signature
    );

    // One flipped character in the signature.
    let mut sig = parts[2].to_owned();
    let first = if sig.starts_with('A') { "B" } else { "A" };
    sig.replace_range(0..1, first);
    let flipped = format!("{}.{}.{}", parts[0], parts[1], sig);
    assert_eq!(
        jwt_err(jwt::decode(&flipped, &secret, at(NOW), Duration::ZERO)),
        JwtError::Signature
    );
}

#[test]
fn other_algorithms_are_refused() {
    let secret = Secret::new("s3cret");
    let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"iss":"k","exp":{}}}"#, NOW + 60));
    for (header, alg) in [
        (r#"{"alg":"none","typ":"JWT"}"#, "none"),
        (r#"{"alg":"None"}"#, "None"),
        (r#"{"alg":"HS512","typ":"JWT"}"#, "HS512"),
        (r#"{"alg":"RS256","typ":"JWT"}"#, "RS256"),
        (r#"{"alg":"hs256"}"#, "hs256"),
    ] {
        let header = URL_SAFE_NO_PAD.encode(header);
        for sig in ["", "c2ln"] {
            let token = format!("{header}.{payload}.{sig}");
            assert_eq!(
                jwt_err(jwt::decode(&token, &secret, at(NOW), Duration::ZERO)),
                JwtError::Algorithm(alg.into()),
                "{token}"
            );
        }
    }
    // alg of the wrong type, or absent.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":256}"#);
    let token = format!("{header}.{payload}.");
    assert!(matches!(
        jwt_err(jwt::decode(&token, &secret, at(NOW), Duration::ZERO)),
        JwtError::Algorithm(_)
    ));
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT"}"#);
    let token = format!("{header}.{payload}.");
    assert!(matches!(
        jwt_err(jwt::decode(&token, &secret, at(NOW), Duration::ZERO)),
        JwtError::Malformed(_)
    ));
    // The token's own alg is quoted, cut to 32 characters and escaped (the
    // fuzz target allows it: fuzz/corpus/jwt/crash-*).
    let long = format!("H{}\n\u{1b}[2J", "é".repeat(1000));
    let header = URL_SAFE_NO_PAD.encode(serde_json::json!({ "alg": long }).to_string());
    let token = format!("{header}.{payload}.");
    let e = jwt_err(jwt::decode(&token, &secret, at(NOW), Duration::ZERO));
    let JwtError::Algorithm(alg) = &e else {
        panic!("{e:?}")
    };
    assert_eq!(alg.chars().count(), 32);
    let shown = e.to_string();
    assert!(shown.len() < 200 && !shown.contains('\n'), "{shown}");
}

#[test]
fn expiry_and_leeway() {
    let secret = Secret::new("s3cret");
    let token = ApiToken::new("key", secret.clone())
        .lifetime(Duration::from_secs(100))
        .sign_at(at(NOW))
        .unwrap();
    let exp = NOW - 30 + 100;
    let decode = |now: u64, leeway: u64| {
        jwt::decode(
            token.expose(),
            &secret,
            at(now),
            Duration::from_secs(leeway),
        )
    };
    decode(exp - 1, 0).unwrap();
    assert_eq!(
        jwt_err(decode(exp, 0)),
        JwtError::Expired {
            exp: exp as i64,
            now: exp as i64
        }
    );
    assert!(matches!(
        jwt_err(decode(exp + 3600, 0)),
        JwtError::Expired { .. }
    ));
    decode(exp + 59, 60).unwrap();
    assert!(matches!(
        jwt_err(decode(exp + 60, 60)),
        JwtError::Expired { .. }
    ));
}

#[test]
fn malformed_tokens() {
    let secret = Secret::new("s3cret");
    let good = ApiToken::new("key", secret.clone())
        .sign_at(at(NOW))
        .unwrap();
    let good = good.expose();
    let parts: Vec<&str> = good.split('.').collect();
    let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
    let cases = [
        String::new(),
        "abc".into(),
        "a.b".into(),
        format!("{good}."),
        format!("{good}.x"),
        format!("{}.{}", parts[0], parts[1]),
        // padding is not base64url-without-padding
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}=", parts[0], parts[1], parts[2]),
        // characters outside the base64url alphabet
        format!("{}.{}.{}+", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], parts[1].replace('e', "/"), parts[2]),
        // header not JSON / not an object
        format!("{}.{}.{}", enc("not json"), parts[1], parts[2]),
        format!("{}.{}.{}", enc("[1,2]"), parts[1], parts[2]),
        format!(
            "{}.{}.{}",
            enc(r#"{"alg":"HS256","crit":["b64"]}"#),
            parts[1],
            parts[2]
        ),
    ];
    for token in &cases {
        let err = jwt_err(jwt::decode(token, &secret, at(NOW), Duration::ZERO));
        assert!(matches!(err, JwtError::Malformed(_)), "{token}: {err:?}");
    }
}

/// Signs arbitrary header and payload text with HS256 (ring directly), for
/// tokens the builders cannot make.
fn sign_raw(header: &str, payload: &str, secret: &str) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// A correctly signed payload that is not a usable claims object is Malformed.
#[test]
fn signed_but_malformed_payloads() {
    let secret = Secret::new("s3cret");
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    for payload in [
        "",
        "null",
        "[]",
        "{",
        r#"{"iss":"x"}"#,
        r#"{"exp":"1720705455"}"#,
        r#"{"exp":null}"#,
    ] {
        let token = sign_raw(header, payload, "s3cret");
        assert!(
            matches!(
                jwt_err(jwt::decode(&token, &secret, at(NOW), Duration::ZERO)),
                JwtError::Malformed(_)
            ),
            "{payload}"
        );
    }
    // Fractional and huge exp are accepted as numbers.
    let token = sign_raw(header, r#"{"exp":1720705455.9}"#, "s3cret");
    assert!(matches!(
        jwt_err(jwt::decode(&token, &secret, at(NOW), Duration::ZERO)),
        JwtError::Expired {
            exp: 1_720_705_455,
            ..
        }
    ));
    let token = sign_raw(header, r#"{"exp":1e300}"#, "s3cret");
    jwt::decode(&token, &secret, at(NOW), Duration::ZERO).unwrap();
    let token = sign_raw(header, r#"{"exp":18446744073709551615}"#, "s3cret");
    jwt::decode(&token, &secret, at(NOW), Duration::MAX).unwrap();
    // Header without typ is fine; extra header fields are ignored.
    let token = sign_raw(
        r#"{"alg":"HS256","kid":"1"}"#,
        r#"{"exp":1720709025}"#,
        "s3cret",
    );
    jwt::decode(&token, &secret, at(NOW), Duration::ZERO).unwrap();
}

/// Never panics, whatever the input: dots, base64 and JSON fragments in
/// random order, random bytes, long inputs.
#[test]
fn garbage_never_panics() {
    let secret = Secret::new("s3cret");
    let good = ApiToken::new("key", secret.clone())
        .sign_at(at(NOW))
        .unwrap();
    let pieces: [&str; 16] = [
        ".",
        "..",
        "=",
        "eyJ",
        "eyJhbGciOiJIUzI1NiJ9",
        "e30",
        "bnVsbA",
        "-_",
        "\u{0}",
        "é",
        "💥",
        "{",
        "}",
        good.expose(),
        "AAAA",
        " ",
    ];
    // xorshift, seeded: deterministic.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..5000 {
        let n = next() % 8;
        let mut token = String::new();
        for _ in 0..n {
            token.push_str(pieces[(next() % 16) as usize]);
        }
        // Mutate one byte of a good token, if it stays UTF-8.
        let mut bytes = good.expose().as_bytes().to_vec();
        let i = (next() as usize) % bytes.len();
        bytes[i] = (next() % 128) as u8;
        let mutated = String::from_utf8(bytes).unwrap();
        for t in [&token, &mutated] {
            let _ = jwt::decode(t, &secret, at(NOW), Duration::ZERO);
        }
    }
    let long = "a.".repeat(100_000);
    assert!(jwt::decode(&long, &secret, at(NOW), Duration::ZERO).is_err());
    let _ = jwt::decode(good.expose(), &secret, UNIX_EPOCH, Duration::MAX);
    let _ = jwt::decode(
        good.expose(),
        &secret,
        UNIX_EPOCH - Duration::from_secs(10),
        Duration::ZERO,
    );
}

#[test]
fn secrets_never_printed() {
    let api = ApiToken::new("key", "api-secret-value");
    let session = SessionToken::new("key", "session-secret-value", "room");
    let token = api.sign_at(at(NOW)).unwrap();
    let shown = format!("{api:?} {session:?} {token:?} {token}");
    assert!(!shown.contains("secret-value"), "{shown}");
    assert!(!shown.contains(&token.expose()[..20]), "{shown}");

    // Errors do not carry the token or the secret.
    let err = jwt::decode(
        token.expose(),
        &Secret::new("api-secret-valuE"),
        at(NOW),
        Duration::ZERO,
    )
    .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains("secret-value") && !shown.contains("eyJ"),
        "{shown}"
    );
}

#[test]
fn empty_secret_is_refused_on_both_sides() {
    fn config<T>(r: zoom_ws::Result<T>) -> bool {
        matches!(r, Err(Error::Config(_)))
    }
    assert!(config(ApiToken::new("key", "").sign_at(at(NOW))));
    assert!(config(ApiToken::new("key", "").sign()));
    assert!(config(SessionToken::new("key", "", "s").sign_at(at(NOW))));
    // A token really signed with the empty key does not verify either.
    let token = sign_raw(r#"{"alg":"HS256"}"#, r#"{"exp":1720709025}"#, "");
    let empty = Secret::new("");
    assert!(config(jwt::decode(&token, &empty, at(NOW), Duration::ZERO)));
    assert!(config(jwt::decode_with(
        &token,
        &empty,
        at(NOW),
        &Validation::default()
    )));
    let e = jwt::decode(&token, &empty, at(NOW), Duration::ZERO).unwrap_err();
    assert!(e.to_string().contains("secret is empty"), "{e}");
}

fn decode_with(payload: &str, now: u64, v: Validation) -> zoom_ws::Result<jwt::Claims> {
    let token = sign_raw(r#"{"alg":"HS256","typ":"JWT"}"#, payload, "s3cret");
    jwt::decode_with(&token, &Secret::new("s3cret"), at(now), &v)
}

#[test]
fn validation_defaults_are_the_checks_of_decode() {
    let v = Validation::default();
    assert_eq!(v.leeway, Duration::ZERO);
    assert!(!v.check_nbf && !v.check_iat && v.max_lifetime.is_none());
    // nbf and iat far in the future, a 100-year lifetime: all accepted.
    let far = NOW + 100 * 365 * 24 * 3600;
    let payload = format!(r#"{{"exp":{far},"nbf":{far},"iat":{far}}}"#);
    decode_with(&payload, NOW, v).unwrap();
    decode_with(r#"{"exp":1720709025,"nbf":"soon"}"#, NOW, v).unwrap();
}

#[test]
fn nbf_in_the_future_is_refused_when_asked() {
    let check = Validation::default().check_nbf(true);
    let payload = format!(r#"{{"exp":{},"nbf":{}}}"#, NOW + 3600, NOW + 10);
    assert_eq!(
        jwt_err(decode_with(&payload, NOW, check)),
        JwtError::NotYetValid {
            nbf: (NOW + 10) as i64,
            now: NOW as i64
        }
    );
    // At nbf, after it, or within the leeway: accepted.
    decode_with(&payload, NOW + 10, check).unwrap();
    decode_with(&payload, NOW, check.leeway(Duration::from_secs(10))).unwrap();
    assert!(matches!(
        jwt_err(decode_with(
            &payload,
            NOW,
            check.leeway(Duration::from_secs(9))
        )),
        JwtError::NotYetValid { .. }
    ));
    // Absent nbf: nothing to check; not a number: malformed.
    decode_with(r#"{"exp":1720709025}"#, NOW, check).unwrap();
    assert!(matches!(
        jwt_err(decode_with(r#"{"exp":1720709025,"nbf":"x"}"#, NOW, check)),
        JwtError::Malformed(_)
    ));
    let e = jwt_err(decode_with(&payload, NOW, check)).to_string();
    assert!(e.contains("not valid before"), "{e}");
}

#[test]
fn iat_in_the_future_is_refused_when_asked() {
    let check = Validation::default().check_iat(true);
    let payload = format!(r#"{{"exp":{},"iat":{}}}"#, NOW + 3600, NOW + 120);
    assert_eq!(
        jwt_err(decode_with(&payload, NOW, check)),
        JwtError::IssuedInFuture {
            iat: (NOW + 120) as i64,
            now: NOW as i64
        }
    );
    decode_with(&payload, NOW, check.leeway(Duration::from_secs(120))).unwrap();
    // Our own tokens (iat backdated 30 s) pass.
    let secret = Secret::new("s3cret");
    let token = ApiToken::new("k", secret.clone()).sign_at(at(NOW)).unwrap();
    jwt::decode_with(token.expose(), &secret, at(NOW), &check).unwrap();
    // iat is required once checked.
    assert!(matches!(
        jwt_err(decode_with(r#"{"exp":1720709025}"#, NOW, check)),
        JwtError::Malformed(_)
    ));
}

#[test]
fn maximum_lifetime_when_asked() {
    let day = Duration::from_secs(24 * 3600);
    let max = Validation::default().max_lifetime(Some(day));
    let secret = Secret::new("s3cret");
    let ok = ApiToken::new("k", secret.clone())
        .lifetime(day)
        .sign_at(at(NOW))
        .unwrap();
    jwt::decode_with(ok.expose(), &secret, at(NOW), &max).unwrap();
    let long = ApiToken::new("k", secret.clone())
        .lifetime(day + Duration::from_secs(1))
        .sign_at(at(NOW))
        .unwrap();
    assert_eq!(
        jwt_err(jwt::decode_with(long.expose(), &secret, at(NOW), &max)),
        JwtError::LifetimeTooLong {
            lifetime_secs: 86_401,
            max_secs: 86_400
        }
    );
    // exp u64::MAX with an iat far in the past: no overflow, refused.
    let payload = format!(r#"{{"exp":{},"iat":{}}}"#, u64::MAX, i64::MIN);
    assert_eq!(
        jwt_err(decode_with(&payload, NOW, max)),
        JwtError::LifetimeTooLong {
            lifetime_secs: i64::MAX,
            max_secs: 86_400
        }
    );
    // Without iat the lifetime is unknown: refused.
    let payload = format!(r#"{{"exp":{}}}"#, u64::MAX);
    assert!(matches!(
        jwt_err(decode_with(&payload, NOW, max)),
        JwtError::Malformed(_)
    ));
}

#[test]
fn extreme_times_never_overflow() {
    let all = Validation::default()
        .leeway(Duration::MAX)
        .check_nbf(true)
        .check_iat(true)
        .max_lifetime(Some(Duration::MAX));
    for payload in [
        format!(
            r#"{{"exp":{},"iat":{},"nbf":{}}}"#,
            u64::MAX,
            u64::MAX,
            u64::MAX
        ),
        format!(
            r#"{{"exp":{},"iat":{},"nbf":{}}}"#,
            i64::MIN,
            i64::MIN,
            i64::MIN
        ),
        r#"{"exp":1e308,"iat":-1e308,"nbf":-1e308}"#.to_owned(),
        r#"{"exp":-1e308,"iat":1e308,"nbf":1e308}"#.to_owned(),
    ] {
        for now in [0, NOW, u64::MAX / 2] {
            for v in [Validation::default(), all, all.leeway(Duration::ZERO)] {
                let _ = decode_with(&payload, now, v);
            }
        }
    }
    // u64::MAX is the far future: not expired, whatever the leeway.
    let payload = format!(r#"{{"exp":{}}}"#, u64::MAX);
    decode_with(&payload, NOW, Validation::default()).unwrap();
    decode_with(&payload, NOW, Validation::default().leeway(Duration::MAX)).unwrap();
}

/// Random strings, on the shared PRNG.
trait Strings {
    fn string(&mut self, max: u64) -> String;
}

impl Strings for Rng {
    /// A string of 0 to `max` characters from a mix of ASCII, JSON
    /// specials, controls, non-ASCII and astral characters.
    fn string(&mut self, max: u64) -> String {
        const CHARS: [char; 16] = [
            'a', 'Z', '0', ' ', '"', '\\', '/', '.', '\n', '\u{0}', '\u{1f}', 'é', '会', '😀',
            '\u{fffd}', '=',
        ];
        (0..self.next() % (max + 1))
            .map(|_| CHARS[(self.next() % 16) as usize])
            .collect()
    }
}

/// Sign-then-decode gives back every claim, for arbitrary strings in every
/// field, and the token fails with any other secret.
#[test]
fn sign_then_decode_arbitrary_claims() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..300 {
        let secret = Secret::new(format!("s{}", rng.string(40)));
        let key = rng.string(30);
        let name = rng.string(60);
        let identity = rng.string(20);
        let extra = rng.string(10);
        let extra_value = rng.string(50);
        let lifetime = Duration::from_secs(31 + rng.next() % 200_000);
        let issued = NOW + rng.next() % 1_000_000;
        let token = SessionToken::new(key.clone(), secret.clone(), name.clone())
            .user_identity(identity.clone())
            .claim(extra.clone(), extra_value.clone())
            .lifetime(lifetime)
            .sign_at(at(issued))
            .unwrap();
        let strict = Validation::default()
            .check_nbf(true)
            .check_iat(true)
            .max_lifetime(Some(lifetime));
        let claims = jwt::decode_with(token.expose(), &secret, at(issued), &strict).unwrap();
        assert_eq!(claims["app_key"], key.as_str());
        assert_eq!(claims["tpc"], name.as_str());
        assert_eq!(claims["user_identity"], identity.as_str());
        let builder_names = [
            "app_key",
            "tpc",
            "role_type",
            "session_key",
            "user_identity",
            "version",
            "iat",
            "exp",
        ];
        if !builder_names.contains(&extra.as_str()) {
            assert_eq!(claims[extra.as_str()], extra_value.as_str());
        }
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            lifetime.as_secs() as i64
        );
        let other = Secret::new(format!("{}x", secret.expose()));
        assert_eq!(
            jwt_err(jwt::decode(
                token.expose(),
                &other,
                at(issued),
                Duration::ZERO
            )),
            JwtError::Signature
        );
    }
}
