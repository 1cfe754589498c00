//! The JWT check of BWS, shared by the gateway (REST and gRPC) and the worker, so that a token
//! is judged the same wherever it arrives.
//!
//! Tokens are made as BioID's published clients make them: `authorization: Bearer <JWT>`,
//! HS256 (the C# sample) or HS512 (the Java sample, the web app), signed with the *decoded
//! bytes* of the client key that the BWS portal shows as base64 text
//! (`Convert.FromBase64String(key)`). `aud` is `BWS`, compared without regard to case (the web
//! app sends `bws`); `iss` is free (the samples put the client id there, the web app
//! `demoWeApp`); `exp` is required, `nbf` and `iat` are honoured, each with a leeway.
//!
//! Several clients, each with its own key: `auth.keys` lists entries `client-id:base64-key`
//! (or a bare `base64-key`, a key of no particular client). The key is chosen by the token's
//! `sub`, then its `iss`: when either names a configured client, only that client's key may
//! have signed it. A token that names no configured client is tried against every key.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::config::AuthSettings;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no authorization header with a Bearer token")]
    Missing,
    #[error("the authorization header is not of the form `Bearer <JWT>`")]
    Malformed,
    #[error("the token is signed with {0}; only HS256 and HS512 are accepted")]
    Algorithm(String),
    #[error("the token's signature does not match the key of {0}")]
    Signature(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("the token's audience is not {0:?}")]
    Audience(String),
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("authentication is enabled but no key is configured (LIVENESS__AUTH__KEYS)")]
    NoKey,
    #[error("auth.keys entry {0}: {1}")]
    BadKey(usize, String),
    #[error("auth.leeway_seconds is {0}; at most {MAX_LEEWAY_SECONDS} (a day) is accepted")]
    Leeway(u64),
}

/// The largest `auth.leeway_seconds`. The leeway is a clock skew: a day is already far more than
/// any, and `jsonwebtoken` computes `now - leeway` and `now + leeway` in `u64`, so a leeway
/// beyond the current time made every token expired (and panicked where overflow is checked).
pub const MAX_LEEWAY_SECONDS: u64 = 86_400;

/// One configured key: the HMAC secret (the decoded bytes of the portal's base64 text) and
/// the client it belongs to, when the entry names one.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey {
    pub client_id: Option<String>,
    secret: Vec<u8>,
}

impl std::fmt::Debug for ClientKey {
    // The secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Standard base64 as .NET's `Convert.FromBase64String` reads it: padding optional.
const PORTAL_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Reads `auth.keys`: comma-separated entries `client-id:base64-key` or `base64-key`. The
/// base64 alphabet has no `:`, so the first `:` always ends the client id.
pub fn parse_keys(text: &str) -> Result<Vec<ClientKey>, AuthError> {
    let mut keys = Vec::new();
    for (i, entry) in text
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .enumerate()
    {
        let (client_id, b64) = match entry.split_once(':') {
            Some((id, key)) => (Some(id.trim().to_string()), key.trim()),
            None => (None, entry),
        };
        if client_id.as_deref().is_some_and(str::is_empty) {
            return Err(AuthError::BadKey(
                i + 1,
                "empty client id before `:`".into(),
            ));
        }
        let secret = PORTAL_BASE64.decode(b64).map_err(|e| {
            AuthError::BadKey(
                i + 1,
                format!("not base64 text as the BWS portal gives it ({e})"),
            )
        })?;
        if secret.is_empty() {
            return Err(AuthError::BadKey(i + 1, "the key is empty".into()));
        }
        keys.push(ClientKey { client_id, secret });
    }
    Ok(keys)
}

/// Checks the settings once at start: with auth on there must be at least one readable key.
/// Returns the number of keys.
pub fn check_settings(settings: &AuthSettings) -> Result<usize, AuthError> {
    if !settings.enabled {
        return Ok(0);
    }
    check_leeway(settings)?;
    let keys = parse_keys(&settings.keys)?;
    if keys.is_empty() {
        return Err(AuthError::NoKey);
    }
    Ok(keys.len())
}

fn check_leeway(settings: &AuthSettings) -> Result<(), AuthError> {
    if settings.leeway_seconds > MAX_LEEWAY_SECONDS {
        return Err(AuthError::Leeway(settings.leeway_seconds));
    }
    Ok(())
}

/// `aud` as JWT allows it: one string or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims BWS tokens carry that are read here. `exp` is required and checked by
/// `jsonwebtoken` itself (`set_required_spec_claims`), `nbf` too when present.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default, deserialize_with = "numeric_date")]
    iat: Option<u64>,
    #[serde(default)]
    aud: Option<Audience>,
}

/// A JWT NumericDate (RFC 7519: a JSON number of seconds, which may have a fraction) as
/// `jsonwebtoken` reads `exp` and `nbf`: non-negative and within `u64`, rounded. A token with
/// `"iat": 1700000000.5` (`Date.now() / 1000` in JavaScript) was refused although the same in
/// `exp` passed.
fn numeric_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(whole) = number.as_u64() {
        return Ok(Some(whole));
    }
    match number.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => Ok(Some(f.round() as u64)),
        _ => Err(serde::de::Error::custom(format!(
            "{number} is not a NumericDate (seconds since 1970)"
        ))),
    }
}

impl Claims {
    /// The client id: `sub` (every BioID client puts it there), else `iss`.
    pub fn client_id(&self) -> Option<&str> {
        self.sub.as_deref().or(self.iss.as_deref())
    }

    fn has_audience(&self, wanted: &str) -> bool {
        match &self.aud {
            Some(Audience::One(a)) => a.eq_ignore_ascii_case(wanted),
            Some(Audience::Many(list)) => list.iter().any(|a| a.eq_ignore_ascii_case(wanted)),
            None => false,
        }
    }
}

/// The names in a token's payload that choose its key, read before the signature is checked.
#[derive(Deserialize, Default)]
struct Names {
    #[serde(default)]
    iss: Option<serde_json::Value>,
    #[serde(default)]
    sub: Option<serde_json::Value>,
}

fn unverified_names(token: &str) -> Names {
    let payload = token.split('.').nth(1).unwrap_or("");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Names>(&bytes).ok())
        .unwrap_or_default()
}

/// The keys that may have signed a token, and whose they are (for the error message).
fn candidates<'k>(keys: &'k [ClientKey], token: &str) -> (Vec<&'k ClientKey>, String) {
    let names = unverified_names(token);
    for name in [names.sub, names.iss].into_iter().flatten() {
        let Some(name) = name.as_str() else { continue };
        let own: Vec<&ClientKey> = keys
            .iter()
            .filter(|k| k.client_id.as_deref() == Some(name))
            .collect();
        if !own.is_empty() {
            return (own, format!("client {name:?}"));
        }
    }
    (keys.iter().collect(), "any configured client".into())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Checks a header value (`Bearer <JWT>`) against the settings.
pub fn verify(header: Option<&str>, settings: &AuthSettings) -> Result<Claims, AuthError> {
    let header = header
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(AuthError::Missing)?;
    let (scheme, token) = header.split_once(' ').ok_or(AuthError::Malformed)?;
    // BWS also accepts the scheme name `JWT` for compatibility.
    if !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("jwt")) {
        return Err(AuthError::Malformed);
    }
    let token = token.trim();
    // Refused at start by `check_settings`; checked again because `verify` is public and the
    // leeway goes into `jsonwebtoken`'s unchecked arithmetic.
    check_leeway(settings)?;
    let keys = parse_keys(&settings.keys)?;
    if keys.is_empty() {
        return Err(AuthError::NoKey);
    }
    let head = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
    if !matches!(head.alg, Algorithm::HS256 | Algorithm::HS512) {
        return Err(AuthError::Algorithm(format!("{:?}", head.alg)));
    }
    let mut validation = Validation::new(head.alg);
    // The audience is compared below, without regard to case, as BWS does.
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp"]);
    validation.leeway = settings.leeway_seconds;
    let (keys, whose) = candidates(&keys, token);
    let mut claims = None;
    for key in keys {
        match jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(&key.secret),
            &validation,
        ) {
            Ok(data) => {
                claims = Some(data.claims);
                break;
            }
            // Only a signature mismatch means another key may fit.
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {}
            Err(e) => {
                return Err(match e.kind() {
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                    _ => AuthError::Invalid(e.to_string()),
                });
            }
        }
    }
    let claims = claims.ok_or(AuthError::Signature(whose))?;
    if !claims.has_audience(&settings.audience) {
        return Err(AuthError::Audience(settings.audience.clone()));
    }
    if claims
        .iat
        .is_some_and(|iat| iat > now().saturating_add(settings.leeway_seconds))
    {
        return Err(AuthError::IssuedInFuture);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    // Two keys as the portal shows them (base64 of 32 and 64 random bytes).
    const KEY_A: &str = "gfZN0Y7anNNDyCYoC26iF/JM6lfNF5+oF02/F/KdSTw=";
    const KEY_B: &str =
        "cAJgMY7mLr7ovvQCRpAda+Hme6B9ZYqiOL5d/D0+G703VRY6/nD//qfZO0rrEoZva7IMrfWVtQtxjybliNK5uA==";

    fn settings() -> AuthSettings {
        AuthSettings {
            enabled: true,
            keys: format!("client-a:{KEY_A}, client-b:{KEY_B}"),
            audience: "BWS".into(),
            leeway_seconds: 0,
        }
    }

    fn bytes(b64: &str) -> Vec<u8> {
        PORTAL_BASE64.decode(b64).unwrap()
    }

    fn sign(alg: Algorithm, key: &[u8], claims: serde_json::Value) -> String {
        let t = jsonwebtoken::encode(&Header::new(alg), &claims, &EncodingKey::from_secret(key))
            .unwrap();
        format!("Bearer {t}")
    }

    #[test]
    fn the_three_bioid_token_styles_pass() {
        let s = settings();
        let n = now();
        // C# sample: HS256, iss = sub = client id, aud BWS, 5 minutes, nbf/iat now.
        let csharp = sign(
            Algorithm::HS256,
            &bytes(KEY_A),
            json!({"sub": "client-a", "iss": "client-a", "aud": "BWS", "exp": n + 300, "nbf": n, "iat": n}),
        );
        assert_eq!(
            verify(Some(&csharp), &s).unwrap().client_id(),
            Some("client-a")
        );
        // Java sample: HS512, aud as a list.
        let java = sign(
            Algorithm::HS512,
            &bytes(KEY_B),
            json!({"sub": "client-b", "iss": "client-b", "aud": ["BWS"], "exp": n + 300, "iat": n}),
        );
        assert_eq!(
            verify(Some(&java), &s).unwrap().client_id(),
            Some("client-b")
        );
        // Web app: HS512, iss demoWeApp, aud bws in lower case.
        let webapp = sign(
            Algorithm::HS512,
            &bytes(KEY_A),
            json!({"sub": "client-a", "iss": "demoWeApp", "aud": "bws", "exp": n + 600, "nbf": n, "iat": n}),
        );
        verify(Some(&webapp), &s).unwrap();
        // A JavaScript client: NumericDates with a fraction (`Date.now() / 1000`).
        let js = sign(
            Algorithm::HS256,
            &bytes(KEY_A),
            json!({"sub": "client-a", "aud": "BWS", "exp": n as f64 + 300.25, "iat": n as f64 - 0.75}),
        );
        verify(Some(&js), &s).unwrap();
    }

    #[test]
    fn the_key_is_chosen_by_sub_then_iss_else_every_key_is_tried() {
        let s = settings();
        let n = now();
        // Signed with B's key but claiming to be client A: refused, naming A.
        let claims_a = json!({"sub": "client-a", "aud": "BWS", "exp": n + 60});
        let t = sign(Algorithm::HS256, &bytes(KEY_B), claims_a);
        assert_eq!(
            verify(Some(&t), &s).unwrap_err(),
            AuthError::Signature("client \"client-a\"".into())
        );
        // Only iss names the client.
        let t = sign(
            Algorithm::HS256,
            &bytes(KEY_B),
            json!({"iss": "client-b", "aud": "BWS", "exp": n + 60}),
        );
        verify(Some(&t), &s).unwrap();
        // A client id that is not configured: every key is tried.
        let t = sign(
            Algorithm::HS256,
            &bytes(KEY_B),
            json!({"sub": "someone", "aud": "BWS", "exp": n + 60}),
        );
        verify(Some(&t), &s).unwrap();
        // A bare key (no client id) serves any token.
        let bare = AuthSettings {
            keys: KEY_B.into(),
            ..settings()
        };
        let t = sign(
            Algorithm::HS512,
            &bytes(KEY_B),
            json!({"sub": "x", "aud": "BWS", "exp": n + 60}),
        );
        verify(Some(&t), &bare).unwrap();
    }

    #[test]
    fn the_key_text_itself_is_not_the_secret() {
        let n = now();
        let t = sign(
            Algorithm::HS256,
            KEY_A.as_bytes(),
            json!({"sub": "client-a", "aud": "BWS", "exp": n + 60}),
        );
        assert!(matches!(
            verify(Some(&t), &settings()).unwrap_err(),
            AuthError::Signature(_)
        ));
    }

    #[test]
    fn each_failure_is_named() {
        let s = settings();
        let n = now();
        let key = bytes(KEY_A);
        let with = |c: serde_json::Value| sign(Algorithm::HS256, &key, c);
        assert_eq!(verify(None, &s).unwrap_err(), AuthError::Missing);
        assert_eq!(
            verify(Some("Basic abc"), &s).unwrap_err(),
            AuthError::Malformed
        );
        let expired = with(json!({"sub": "client-a", "aud": "BWS", "exp": n - 120}));
        assert_eq!(verify(Some(&expired), &s).unwrap_err(), AuthError::Expired);
        let no_exp = with(json!({"sub": "client-a", "aud": "BWS"}));
        assert!(matches!(
            verify(Some(&no_exp), &s).unwrap_err(),
            AuthError::Invalid(_)
        ));
        let later = with(json!({"sub": "client-a", "aud": "BWS", "exp": n + 600, "nbf": n + 300}));
        assert_eq!(
            verify(Some(&later), &s).unwrap_err(),
            AuthError::NotYetValid
        );
        let future = with(json!({"sub": "client-a", "aud": "BWS", "exp": n + 600, "iat": n + 300}));
        let future_fraction =
            with(json!({"sub": "client-a", "aud": "BWS", "exp": n + 600, "iat": n as f64 + 300.5}));
        assert_eq!(
            verify(Some(&future_fraction), &s).unwrap_err(),
            AuthError::IssuedInFuture
        );
        for bad in [json!(-1), json!("now"), json!(1e30)] {
            let t = with(json!({"sub": "client-a", "aud": "BWS", "exp": n + 600, "iat": bad}));
            assert!(matches!(
                verify(Some(&t), &s).unwrap_err(),
                AuthError::Invalid(_)
            ));
        }
        assert_eq!(
            verify(Some(&future), &s).unwrap_err(),
            AuthError::IssuedInFuture
        );
        for aud in [json!("other"), json!(["x", "y"]), serde_json::Value::Null] {
            let t = with(json!({"sub": "client-a", "aud": aud, "exp": n + 60}));
            assert!(matches!(
                verify(Some(&t), &s).unwrap_err(),
                AuthError::Audience(_)
            ));
        }
        assert!(matches!(
            verify(Some("Bearer not.a.jwt"), &s).unwrap_err(),
            AuthError::Invalid(_)
        ));
        // The leeway forgives a little skew.
        let lenient = AuthSettings {
            leeway_seconds: 300,
            ..settings()
        };
        let skewed = with(
            json!({"sub": "client-a", "aud": "BWS", "exp": n - 60, "nbf": n + 60, "iat": n + 60}),
        );
        verify(Some(&skewed), &lenient).unwrap();
    }

    #[test]
    fn a_leeway_beyond_a_day_is_refused() {
        let n = now();
        let token = sign(
            Algorithm::HS256,
            &bytes(KEY_A),
            json!({"sub": "client-a", "aud": "BWS", "exp": n + 60}),
        );
        let day = AuthSettings {
            leeway_seconds: MAX_LEEWAY_SECONDS,
            ..settings()
        };
        assert_eq!(check_settings(&day), Ok(2));
        verify(Some(&token), &day).unwrap();
        // Beyond the current time (as fuzz/regressions/token/leeway_beyond_now.bin), `now -
        // leeway` underflowed in jsonwebtoken: every token expired, or a panic.
        for leeway in [MAX_LEEWAY_SECONDS + 1, n + 1, u64::MAX] {
            let s = AuthSettings {
                leeway_seconds: leeway,
                ..settings()
            };
            assert_eq!(check_settings(&s), Err(AuthError::Leeway(leeway)));
            assert_eq!(
                verify(Some(&token), &s).unwrap_err(),
                AuthError::Leeway(leeway)
            );
        }
    }

    #[test]
    fn keys_are_read_as_portal_base64() {
        let keys = parse_keys(&format!(" c1:{KEY_A} ,{KEY_B},")).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].client_id.as_deref(), Some("c1"));
        assert_eq!(keys[0].secret, bytes(KEY_A));
        assert_eq!(keys[1].client_id, None);
        assert_eq!(parse_keys("").unwrap(), vec![]);
        assert!(matches!(
            parse_keys("c1:not base64!"),
            Err(AuthError::BadKey(1, _))
        ));
        assert!(matches!(
            parse_keys(&format!("{KEY_A},:{KEY_B}")),
            Err(AuthError::BadKey(2, _))
        ));
        let off = AuthSettings {
            enabled: false,
            keys: String::new(),
            ..settings()
        };
        assert_eq!(check_settings(&off), Ok(0));
        let on = AuthSettings {
            keys: String::new(),
            ..settings()
        };
        assert_eq!(check_settings(&on), Err(AuthError::NoKey));
    }
}
