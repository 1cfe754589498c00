//! The body of the `token` fuzz target, shared with `tests/fuzz_reproducers.rs`.
//!
//! Input layout: a flag byte, a leeway byte (bits 0-1 choose 0, 30, 300 or 86400 seconds; with
//! bit 7 set the leeway is the next 8 bytes, little-endian, any `u64` the configuration
//! accepts), then the data. Bits 0-1 of the flag byte say what the data is:
//! - 0: the whole `authorization` header value. Whatever it is, an accepted token must carry a
//!   genuine signature of a configured key.
//! - 1: the `auth.keys` setting, against one fixed token signed with key A by `client-a`. It must
//!   be accepted exactly when the keys give `client-a` (or, when no entry names `client-a`, any
//!   entry) key A's secret.
//! - 2 and 3: a JOSE header and a claims set, separated by the first `\n`, which are signed
//!   here with a real HMAC, so that the fuzzer reaches past the signature into the claims. Bits
//!   2-3 choose the algorithm (HS256, HS512, HS384, HS256), bits 4-5 the key (A of `client-a`,
//!   B of `client-b`, the bare key C, or a key that is not configured), bit 6 whether header
//!   and claims are first rewritten as canonical JSON, bit 7 the scheme `JWT` instead of
//!   `Bearer`. The verdict is held against the rules of `src/auth.rs` read independently
//!   ([`expected`]): a token that breaks one must be refused, and a canonical token that
//!   breaks none must be accepted.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use liveness::config::AuthSettings;
use liveness::{AuthError, ClientKey, check_auth_settings, parse_auth_keys, verify_token};
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

/// Three keys as the BWS portal shows them (base64 of 32, 64 and 48 random bytes).
pub const KEY_A: &str = "gfZN0Y7anNNDyCYoC26iF/JM6lfNF5+oF02/F/KdSTw=";
pub const KEY_B: &str =
    "cAJgMY7mLr7ovvQCRpAda+Hme6B9ZYqiOL5d/D0+G703VRY6/nD//qfZO0rrEoZva7IMrfWVtQtxjybliNK5uA==";
pub const KEY_C: &str = "7ax4frICV8+sI7TVfy5WkvB9QDdDrySq5DeJYyWgRDl9aPA8jNWRFt1XvCBgEz+G";
/// A key no entry of the settings holds.
const KEY_WRONG: &str = "bm90IGEgY29uZmlndXJlZCBrZXksIG5vdCBhIGNvbmZpZ3VyZWQga2V5";

/// Margin, in seconds, for the clock moving between the oracle's reading and `verify`'s.
const CLOCK_MARGIN: i128 = 2;

fn settings(keys: String, leeway_seconds: u64) -> AuthSettings {
    AuthSettings {
        enabled: true,
        keys,
        audience: "BWS".into(),
        leeway_seconds,
    }
}

fn configured_keys() -> String {
    format!("client-a:{KEY_A}, client-b:{KEY_B}, {KEY_C}")
}

fn secret(b64: &str) -> Vec<u8> {
    STANDARD.decode(b64).expect("the keys above are base64")
}

fn now() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i128::from(d.as_secs()))
}

/// Runs one input; `None` when it is not one (too short, or text that is not UTF-8).
pub fn run(data: &[u8]) -> Option<Result<Option<String>, AuthError>> {
    let (&flags, rest) = data.split_first()?;
    let (&leeway_byte, mut rest) = rest.split_first()?;
    let leeway = if leeway_byte & 0x80 != 0 {
        let (bytes, tail) = rest.split_first_chunk::<8>()?;
        rest = tail;
        u64::from_le_bytes(*bytes)
    } else {
        [0, 30, 300, 86_400][usize::from(leeway_byte & 3)]
    };
    let result = match flags & 3 {
        0 => raw_header(std::str::from_utf8(rest).ok()?, leeway),
        1 => keys_text(std::str::from_utf8(rest).ok()?, leeway),
        _ => signed(flags, rest, leeway),
    };
    if leeway > MAX_LEEWAY && flags & 3 != 0 {
        // The tokens made here are well-formed headers, so the leeway is what refuses them.
        assert_eq!(result.as_ref().err(), Some(&AuthError::Leeway(leeway)));
    } else if leeway > MAX_LEEWAY {
        assert!(
            result.is_err(),
            "accepted a token with a leeway beyond a day"
        );
    }
    Some(result.map(|claims| claims.client_id().map(str::to_string)))
}

fn raw_header(header: &str, leeway: u64) -> Result<liveness::Claims, AuthError> {
    let result = verify_token(Some(header), &settings(configured_keys(), leeway));
    if result.is_ok() {
        assert!(
            genuinely_signed(header),
            "a token without a genuine signature was accepted"
        );
    }
    result
}

/// Whether the token in a header carries the HMAC of one of the configured keys, computed here
/// with the algorithm of its own header.
fn genuinely_signed(header: &str) -> bool {
    let Some((_, token)) = header.trim().split_once(' ') else {
        return false;
    };
    let token = token.trim();
    let Some((message, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let Ok(head) = jsonwebtoken::decode_header(token) else {
        return false;
    };
    [KEY_A, KEY_B, KEY_C].iter().any(|key| {
        jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(&secret(key)),
            head.alg,
        )
        .is_ok_and(|s| s == signature)
    })
}

fn keys_text(keys: &str, leeway: u64) -> Result<liveness::Claims, AuthError> {
    let settings = settings(keys.to_string(), leeway);
    let parsed = parse_auth_keys(keys);
    if let Ok(parsed) = &parsed {
        for key in parsed {
            // The first `:` ends the client id, and ids are trimmed (base64 has no `:`).
            if let Some(id) = &key.client_id {
                assert!(!id.is_empty() && !id.contains([':', ',']) && id.trim() == id);
            }
        }
        assert_eq!(
            check_auth_settings(&settings).map_err(|_| ()),
            if parsed.is_empty() || leeway > MAX_LEEWAY {
                Err(())
            } else {
                Ok(parsed.len())
            }
        );
    }
    let header = sign_parts(
        br#"{"alg":"HS256","typ":"JWT"}"#,
        br#"{"sub":"client-a","aud":"BWS","exp":4102444800}"#,
        Algorithm::HS256,
        KEY_A,
        "Bearer",
    );
    let result = verify_token(Some(&header), &settings);
    let accept = parsed.as_ref().is_ok_and(|keys| {
        let own: Vec<&ClientKey> = keys
            .iter()
            .filter(|k| k.client_id.as_deref() == Some("client-a"))
            .collect();
        let candidates = if own.is_empty() {
            keys.iter().collect()
        } else {
            own
        };
        candidates.into_iter().any(|k| holds(k, KEY_A))
    });
    if leeway <= MAX_LEEWAY {
        assert_eq!(result.is_ok(), accept, "{result:?} with keys {parsed:?}");
    }
    result
}

/// The largest `auth.leeway_seconds` the configuration accepts (a day, docs/operations.md);
/// a larger one refuses every token.
const MAX_LEEWAY: u64 = 86_400;

/// Whether a parsed key has the secret of `b64` (the secret is private: an entry with the same
/// client id and `b64` is compared instead).
fn holds(key: &ClientKey, b64: &str) -> bool {
    let entry = match &key.client_id {
        Some(id) => format!("{id}:{b64}"),
        None => b64.to_string(),
    };
    parse_auth_keys(&entry).is_ok_and(|k| k.as_slice() == std::slice::from_ref(key))
}

fn sign_parts(header: &[u8], claims: &[u8], alg: Algorithm, key: &str, scheme: &str) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(&secret(key)),
        alg,
    )
    .expect("HMAC signs with any key");
    format!("{scheme} {message}.{signature}")
}

/// Which key signed a token made here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    A,
    B,
    C,
    Wrong,
}

fn signed(flags: u8, data: &[u8], leeway: u64) -> Result<liveness::Claims, AuthError> {
    let alg = [
        Algorithm::HS256,
        Algorithm::HS512,
        Algorithm::HS384,
        Algorithm::HS256,
    ][usize::from((flags >> 2) & 3)];
    let signer = [Signer::A, Signer::B, Signer::C, Signer::Wrong][usize::from((flags >> 4) & 3)];
    let key = match signer {
        Signer::A => KEY_A,
        Signer::B => KEY_B,
        Signer::C => KEY_C,
        Signer::Wrong => KEY_WRONG,
    };
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (mut header, mut claims) = (
        data[..split].to_vec(),
        data.get(split + 1..).unwrap_or(&[]).to_vec(),
    );
    if flags & 0x40 != 0 {
        for part in [&mut header, &mut claims] {
            if let Ok(value) = serde_json::from_slice::<Value>(part) {
                *part = serde_json::to_vec(&value).expect("a JSON value serialises");
            }
        }
    }
    let canonical = [&header, &claims].iter().all(|part| {
        serde_json::from_slice::<Value>(part)
            .is_ok_and(|v| serde_json::to_vec(&v).is_ok_and(|c| &c == *part))
    });
    let scheme = if flags & 0x80 != 0 { "JWT" } else { "Bearer" };
    let token = sign_parts(&header, &claims, alg, key, scheme);
    let before = now();
    let result = verify_token(Some(&token), &settings(configured_keys(), leeway));
    match expected(&header, &claims, alg, signer, leeway, before) {
        Expect::Refuse(why) => assert!(result.is_err(), "accepted a token that {why}"),
        Expect::Accept if canonical => {
            assert!(result.is_ok(), "refused a valid token: {result:?}")
        }
        Expect::Accept | Expect::Either => {}
    }
    result
}

/// The verdict the documented rules give a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Expect {
    /// Every rule is met by a token of the plain form BWS clients make.
    Accept,
    /// A rule is broken.
    Refuse(&'static str),
    /// Neither: a form the rules do not speak of (refusing or accepting it are both fine).
    Either,
}

/// A NumericDate as JWT validation reads it: a non-negative number within `u64`, rounded.
fn numeric_date(v: &Value) -> Option<i128> {
    if let Some(n) = v.as_u64() {
        return Some(i128::from(n));
    }
    let f = v.as_f64()?;
    (f.is_finite() && f >= 0.0 && f < u64::MAX as f64).then(|| f.round() as i128)
}

/// The rules of `src/auth.rs`, read from its documentation, for a token signed with `alg` by
/// `signer` over these header and claims bytes, with the configured keys of this module.
pub fn expected(
    header: &[u8],
    claims: &[u8],
    alg: Algorithm,
    signer: Signer,
    leeway: u64,
    now: i128,
) -> Expect {
    use Expect::*;
    if signer == Signer::Wrong {
        return Refuse("is signed with a key that is not configured");
    }
    let is_json = |bytes: &[u8]| serde_json::from_slice::<IgnoredAny>(bytes).is_ok();
    if !is_json(header) || !is_json(claims) {
        return Refuse("is not JSON");
    }
    // JSON whose numbers do not fit a `Value` (1e400 is JSON, its range is the reader's
    // choice): fields that are ignored may hold them, so the rules do not decide.
    let (Ok(header), Ok(claims)) = (
        serde_json::from_slice::<Value>(header),
        serde_json::from_slice::<Value>(claims),
    ) else {
        return Either;
    };
    let (Some(header), Some(claims)) = (header.as_object(), claims.as_object()) else {
        return Refuse("has a header or claims that are not JSON objects");
    };
    let named_alg = match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS512 => "HS512",
        _ => return Refuse("is signed with an algorithm other than HS256 and HS512"),
    };
    if header.get("alg").and_then(Value::as_str) != Some(named_alg) {
        return Refuse("names another algorithm than it is signed with");
    }
    if leeway > MAX_LEEWAY {
        return Refuse("is checked with a leeway beyond a day");
    }
    let leeway = i128::from(leeway);
    let Some(exp) = claims.get("exp").and_then(numeric_date) else {
        return Refuse("has no exp NumericDate");
    };
    if exp < now - leeway - CLOCK_MARGIN {
        return Refuse("has expired");
    }
    let nbf = match claims.get("nbf") {
        None => None,
        Some(v) => match numeric_date(v) {
            Some(nbf) => Some(nbf),
            None => return Refuse("has an nbf that is not a NumericDate"),
        },
    };
    if nbf.is_some_and(|nbf| nbf > now + leeway + CLOCK_MARGIN) {
        return Refuse("is not valid yet");
    }
    let iat = claims.get("iat").filter(|v| !v.is_null());
    if iat
        .and_then(numeric_date)
        .is_some_and(|iat| iat > now + leeway + CLOCK_MARGIN)
    {
        return Refuse("was issued in the future");
    }
    let is_bws = |v: &Value| v.as_str().is_some_and(|a| a.eq_ignore_ascii_case("BWS"));
    let audience_ok = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().any(is_bws),
        Some(v) => is_bws(v),
        None => false,
    };
    if !audience_ok {
        return Refuse("is not for the audience BWS");
    }
    let name = ["sub", "iss"]
        .into_iter()
        .filter_map(|k| claims.get(k).and_then(Value::as_str))
        .find(|n| *n == "client-a" || *n == "client-b");
    match (name, signer) {
        (Some("client-a"), Signer::A) | (Some("client-b"), Signer::B) | (None, _) => {}
        _ => return Refuse("is signed with another client's key than the one it names"),
    }
    if plain(header, claims, now, leeway) {
        Accept
    } else {
        Either
    }
}

/// Whether a token that breaks no rule has the plain form the rules speak of: header fields
/// `alg`, `typ`, `kid` as strings; `iss` and `sub` strings (or null); NumericDates clear of
/// the limits by the clock margin; an audience of strings.
fn plain(
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
    now: i128,
    leeway: i128,
) -> bool {
    let strings = |v: &Value| v.is_string() || v.is_null();
    let header_plain = header
        .iter()
        .all(|(k, v)| k == "alg" || (matches!(k.as_str(), "typ" | "kid") && v.is_string()));
    let date = |k: &str| claims.get(k).and_then(numeric_date);
    let dates_clear = date("exp").is_some_and(|e| e >= now - leeway + CLOCK_MARGIN)
        && date("nbf").is_none_or(|n| n <= now + leeway - CLOCK_MARGIN)
        && claims.get("iat").is_none_or(|v| {
            v.is_null() || numeric_date(v).is_some_and(|i| i <= now + leeway - CLOCK_MARGIN)
        });
    let audience_plain = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().all(Value::is_string),
        Some(v) => v.is_string(),
        None => false,
    };
    header_plain
        && dates_clear
        && audience_plain
        && ["iss", "sub"]
            .iter()
            .all(|k| claims.get(*k).is_none_or(strings))
}
