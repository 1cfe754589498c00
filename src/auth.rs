//! The optional JWT check of BWS: `authorization: Bearer <JWT>`, HS256 or HS512, signed with one
//! of the configured keys, audience `BWS`, unexpired. The client id is `iss` (BWS also puts it
//! in `sub`).

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
    #[error("the token's signature does not match any configured key")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token's audience is not {0:?}")]
    Audience(String),
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("authentication is enabled but no key is configured (LIVENESS__AUTH__KEYS)")]
    NoKey,
}

/// The claims BWS tokens carry.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub sub: Option<String>,
    pub exp: u64,
}

impl Claims {
    /// The client id: `iss`, or `sub` when only that is set.
    pub fn client_id(&self) -> Option<&str> {
        self.iss.as_deref().or(self.sub.as_deref())
    }
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
    let keys = settings.key_list();
    if keys.is_empty() {
        return Err(AuthError::NoKey);
    }
    let head = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
    if !matches!(head.alg, Algorithm::HS256 | Algorithm::HS512) {
        return Err(AuthError::Algorithm(format!("{:?}", head.alg)));
    }
    let mut validation = Validation::new(head.alg);
    validation.set_audience(&[settings.audience.as_str()]);
    validation.set_required_spec_claims(&["exp", "aud"]);
    validation.leeway = settings.leeway_seconds;
    let mut last = AuthError::Signature;
    for key in keys {
        match jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(key.as_bytes()),
            &validation,
        ) {
            Ok(data) => return Ok(data.claims),
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind;
                last = match e.kind() {
                    ErrorKind::InvalidSignature => AuthError::Signature,
                    ErrorKind::ExpiredSignature => AuthError::Expired,
                    ErrorKind::InvalidAudience => AuthError::Audience(settings.audience.clone()),
                    _ => AuthError::Invalid(e.to_string()),
                };
                // Only a signature mismatch means another key may fit.
                if last != AuthError::Signature {
                    return Err(last);
                }
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde::Serialize;

    #[derive(Serialize)]
    struct Out<'a> {
        iss: &'a str,
        sub: &'a str,
        aud: &'a str,
        exp: u64,
    }

    fn settings() -> AuthSettings {
        AuthSettings {
            enabled: true,
            keys: "old-key, test-key".into(),
            audience: "BWS".into(),
            leeway_seconds: 0,
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn token(alg: Algorithm, key: &str, aud: &str, exp: u64) -> String {
        let claims = Out {
            iss: "client-1",
            sub: "client-1",
            aud,
            exp,
        };
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn valid_tokens_pass_with_either_algorithm_and_any_key() {
        for alg in [Algorithm::HS256, Algorithm::HS512] {
            let t = token(alg, "test-key", "BWS", now() + 60);
            let c = verify(Some(&format!("Bearer {t}")), &settings()).unwrap();
            assert_eq!(c.client_id(), Some("client-1"));
        }
    }

    #[test]
    fn each_failure_is_named() {
        let s = settings();
        assert_eq!(verify(None, &s).unwrap_err(), AuthError::Missing);
        assert_eq!(
            verify(Some("Basic abc"), &s).unwrap_err(),
            AuthError::Malformed
        );
        let wrong = token(Algorithm::HS256, "wrong", "BWS", now() + 60);
        assert_eq!(
            verify(Some(&format!("Bearer {wrong}")), &s).unwrap_err(),
            AuthError::Signature
        );
        let expired = token(Algorithm::HS256, "test-key", "BWS", now() - 120);
        assert_eq!(
            verify(Some(&format!("Bearer {expired}")), &s).unwrap_err(),
            AuthError::Expired
        );
        let aud = token(Algorithm::HS256, "test-key", "other", now() + 60);
        assert!(matches!(
            verify(Some(&format!("Bearer {aud}")), &s).unwrap_err(),
            AuthError::Audience(_)
        ));
        assert!(matches!(
            verify(Some("Bearer not.a.jwt"), &s).unwrap_err(),
            AuthError::Invalid(_)
        ));
    }
}
