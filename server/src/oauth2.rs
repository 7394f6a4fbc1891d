//! OAuth2 access tokens on N5g-eir, as the NRF issues them (TS 33.501 §13.4.1, TS 29.510
//! `AccessTokenClaims`): a JWT in `Authorization: Bearer`, signed (ES256 or RS256) by a key
//! the operator configured, not expired, for this NF (`aud`: the NF type `5G_EIR` or this
//! instance's id), with the service's scope (`n5g-eir-eic`).
//!
//! Keys come from PEM public keys or JWKS files and are reloaded when a file changes, so
//! that the NRF's keys can be rotated without a restart; a file that no longer reads keeps
//! the keys it had (and the error is logged).
//!
//! An NF reuses its token for the token's lifetime, and checking an ES256 signature costs
//! more than answering (it took three quarters of the throughput): tokens accepted are
//! remembered, by their whole text, until they expire or the keys change.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// The NF type an EIR's tokens name in `aud` (TS 29.510 `NFType`).
pub const NF_TYPE: &str = "5G_EIR";
/// The scope of the Equipment Identity Check service (TS 29.511 §5.1).
pub const SCOPE: &str = "n5g-eir-eic";
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;
/// Accepted tokens remembered at most; past that, the expired ones are forgotten, or all.
const CACHE_MAX: usize = 16_384;

/// Why a request's token was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    /// No token, or one that is malformed, unsigned, badly signed, expired, not yet valid
    /// or for another audience: 401 `invalid_token` (RFC 6750 §3.1).
    InvalidToken(String),
    /// A valid token without this service's scope: 403 `insufficient_scope`.
    InsufficientScope(String),
}

/// One verification key.
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// What identifies a key file's version: its length and modification time.
type Stamp = Option<(u64, SystemTime)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// The claims this EIR reads besides those the validation checks (`exp`, `nbf`, `aud`).
#[derive(Deserialize)]
struct Claims {
    /// Checked by the validation; kept to know until when the token may be remembered.
    exp: u64,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    scope: Option<serde_json::Value>,
}

/// The token checker: keys, audiences, and the files the keys came from.
#[derive(Debug)]
pub struct OAuth2 {
    files: Vec<PathBuf>,
    audiences: Vec<String>,
    keys: RwLock<Arc<Vec<Key>>>,
    stamps: Mutex<Vec<Stamp>>,
    /// Tokens accepted: their client and `exp`.
    accepted: Mutex<HashMap<String, (Option<String>, u64)>>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads the keys of one file: a JWKS (JSON with `keys`) or PEM public keys.
fn read_keys(path: &Path) -> Result<Vec<Key>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("could not read the OAuth2 key file {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    if text.trim_start().starts_with('{') {
        let set: JwkSet = serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "the OAuth2 key file {} is not a JWKS ({{\"keys\": [...]}}): {e}",
                path.display()
            )
        })?;
        return set
            .keys
            .iter()
            .map(|jwk| {
                let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
                    (_, Some(KeyAlgorithm::ES256)) => Algorithm::ES256,
                    (_, Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                    (_, Some(other)) => {
                        return Err(format!(
                            "{}: key {:?} is for {other:?}: this EIR accepts ES256 and RS256",
                            path.display(),
                            jwk.common.key_id
                        ));
                    }
                    (AlgorithmParameters::EllipticCurve(p), None)
                        if p.curve == EllipticCurve::P256 =>
                    {
                        Algorithm::ES256
                    }
                    (AlgorithmParameters::RSA(_), None) => Algorithm::RS256,
                    _ => {
                        return Err(format!(
                            "{}: key {:?} is neither an EC P-256 (ES256) nor an RSA (RS256) key",
                            path.display(),
                            jwk.common.key_id
                        ));
                    }
                };
                let key = DecodingKey::from_jwk(jwk)
                    .map_err(|e| format!("{}: key {:?}: {e}", path.display(), jwk.common.key_id))?;
                Ok(Key {
                    kid: jwk.common.key_id.clone(),
                    alg,
                    key,
                })
            })
            .collect();
    }
    // PEM: the public keys (SPKI, or PKCS#1 for RSA) the file holds, each block tried as
    // EC, then as RSA.
    let mut keys = Vec::new();
    let mut block = String::new();
    for line in text.lines() {
        if line.starts_with("-----BEGIN ") {
            block.clear();
        }
        block.push_str(line);
        block.push('\n');
        if !line.starts_with("-----END ") {
            continue;
        }
        let pem = block.as_bytes();
        if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            keys.push(Key {
                kid: None,
                alg: Algorithm::ES256,
                key,
            });
        } else if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
            keys.push(Key {
                kid: None,
                alg: Algorithm::RS256,
                key,
            });
        }
        block.clear();
    }
    if keys.is_empty() {
        return Err(format!(
            "the OAuth2 key file {} holds no EC P-256 or RSA public key: give PEM \
             (-----BEGIN PUBLIC KEY-----) or a JWKS",
            path.display()
        ));
    }
    Ok(keys)
}

impl OAuth2 {
    /// Reads the keys of `files`; tokens must name `5G_EIR` or `instance_id` in `aud`.
    ///
    /// # Errors
    ///
    /// A file cannot be read or holds no key this EIR can use.
    pub fn load(files: &[PathBuf], instance_id: Option<&str>) -> Result<OAuth2, String> {
        let mut keys = Vec::new();
        let mut stamps = Vec::new();
        for f in files {
            stamps.push(stamp(f));
            keys.extend(read_keys(f)?);
        }
        let mut audiences = vec![NF_TYPE.to_string()];
        audiences.extend(instance_id.map(str::to_string));
        Ok(OAuth2 {
            files: files.to_vec(),
            audiences,
            keys: RwLock::new(Arc::new(keys)),
            stamps: Mutex::new(stamps),
            accepted: Mutex::new(HashMap::new()),
        })
    }

    /// Reads the key files again if one has changed since they were read. Returns whether
    /// the keys were replaced.
    ///
    /// # Errors
    ///
    /// A changed file cannot be read or holds no usable key: the keys in use stay.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now: Vec<Stamp> = self.files.iter().map(|f| stamp(f)).collect();
        let mut stamps = self.stamps.lock().unwrap_or_else(PoisonError::into_inner);
        if *stamps == now {
            return Ok(false);
        }
        // Remember the change even when it fails, so that one bad file is reported once,
        // not at every look.
        *stamps = now;
        let mut keys = Vec::new();
        for f in &self.files {
            keys.extend(read_keys(f)?);
        }
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        // A token signed by a key now gone is no longer accepted.
        self.accepted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        Ok(true)
    }

    /// Keys in use.
    pub fn key_count(&self) -> usize {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The client of the token in the `Authorization` header's value when that token was
    /// accepted before and has not expired: no signature to check.
    pub fn remembered(&self, authorization: Option<&[u8]>) -> Option<Option<String>> {
        let token = bearer(authorization?).ok()?;
        let accepted = self.accepted.lock().unwrap_or_else(PoisonError::into_inner);
        let (client, exp) = accepted.get(token)?;
        (unix_now() <= exp.saturating_add(LEEWAY_SECONDS)).then(|| client.clone())
    }

    /// Checks the `Authorization` header's value; returns the client the token names
    /// (`sub`, else `client_id`), for the rate limit.
    ///
    /// # Errors
    ///
    /// What is wrong with the token, as the answer must say it.
    pub fn authorize(&self, authorization: Option<&[u8]>) -> Result<Option<String>, Denied> {
        let value = authorization.ok_or_else(|| {
            Denied::InvalidToken(
                "an access token is required: Authorization: Bearer <token>".to_string(),
            )
        })?;
        let token = bearer(value)?;
        if let Some(client) = self.remembered(Some(value)) {
            return Ok(client);
        }
        let now = unix_now();
        // alg none (and every algorithm but these) fails here or finds no key.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Denied::InvalidToken(format!("the token is not a signed JWT: {e}")))?;
        if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256) {
            return Err(Denied::InvalidToken(format!(
                "tokens signed with {:?} are not accepted: ES256 or RS256",
                header.alg
            )));
        }
        let keys = Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner));
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_audience(&self.audiences);
        validation.required_spec_claims = HashSet::from(["exp".to_string(), "aud".to_string()]);
        let mut last = None;
        for key in keys.iter().filter(|k| {
            k.alg == header.alg && (header.kid.is_none() || k.kid.is_none() || k.kid == header.kid)
        }) {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => {
                    let exp = data.claims.exp;
                    let client = self.scoped(data.claims)?;
                    self.remember(token, client.clone(), exp, now);
                    return Ok(client);
                }
                // Another key may have signed it.
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => last = Some(e),
                Err(e) => return Err(Denied::InvalidToken(reason(e.kind()))),
            }
        }
        Err(Denied::InvalidToken(match last {
            Some(_) => "the token's signature is not by a key this EIR trusts".to_string(),
            None => format!(
                "no key for {:?}{} is configured",
                header.alg,
                header
                    .kid
                    .map(|k| format!(" with kid {k:?}"))
                    .unwrap_or_default()
            ),
        }))
    }

    fn remember(&self, token: &str, client: Option<String>, exp: u64, now: u64) {
        let mut accepted = self.accepted.lock().unwrap_or_else(PoisonError::into_inner);
        if accepted.len() >= CACHE_MAX {
            accepted.retain(|_, (_, exp)| now <= exp.saturating_add(LEEWAY_SECONDS));
            if accepted.len() >= CACHE_MAX {
                accepted.clear();
            }
        }
        accepted.insert(token.to_string(), (client, exp));
    }

    fn scoped(&self, claims: Claims) -> Result<Option<String>, Denied> {
        let has_scope = match &claims.scope {
            Some(serde_json::Value::String(s)) => s.split(' ').any(|s| s == SCOPE),
            Some(serde_json::Value::Array(a)) => a.iter().any(|s| s.as_str() == Some(SCOPE)),
            _ => false,
        };
        if !has_scope {
            return Err(Denied::InsufficientScope(format!(
                "the token's scope does not include {SCOPE}"
            )));
        }
        Ok(claims.sub.or(claims.client_id))
    }
}

/// The token of an `Authorization: Bearer <token>` value.
fn bearer(value: &[u8]) -> Result<&str, Denied> {
    let invalid = |s: &str| Denied::InvalidToken(s.to_string());
    let value = std::str::from_utf8(value).map_err(|_| invalid("Authorization is not text"))?;
    value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("Authorization must be Bearer <token>"))
}

fn reason(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => {
            format!("the token is not for this NF: its aud must name {NF_TYPE} or this instance")
        }
        ErrorKind::MissingRequiredClaim(c) => format!("the token has no {c} claim"),
        ErrorKind::InvalidAlgorithm => "the token's algorithm does not match its key".into(),
        other => format!("the token is not valid: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA_PUB: &str = include_str!("../tests/data/rs256-test.pub");

    #[test]
    fn pem_files_hold_several_keys_and_say_when_they_hold_none() {
        let dir = tempfile::tempdir().unwrap();
        let ec = rcgen::KeyPair::generate().unwrap().public_key_pem();
        let both = dir.path().join("both.pem");
        std::fs::write(&both, format!("# the NRF's keys\n{ec}{RSA_PUB}")).unwrap();
        let o = OAuth2::load(std::slice::from_ref(&both), None).unwrap();
        assert_eq!(o.key_count(), 2);
        let algs: Vec<Algorithm> = o.keys.read().unwrap().iter().map(|k| k.alg).collect();
        assert_eq!(algs, [Algorithm::ES256, Algorithm::RS256]);

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing here\n").unwrap();
        let e = OAuth2::load(&[empty], None).unwrap_err();
        assert!(e.contains("no EC P-256 or RSA public key"), "{e}");
        let e = OAuth2::load(&[dir.path().join("missing.pem")], None).unwrap_err();
        assert!(e.contains("could not read"), "{e}");
        let hmac = dir.path().join("hmac.jwks");
        std::fs::write(
            &hmac,
            r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}]}"#,
        )
        .unwrap();
        let e = OAuth2::load(&[hmac], None).unwrap_err();
        assert!(e.contains("ES256 and RS256"), "{e}");
    }

    #[test]
    fn headers_that_are_not_bearer_tokens_are_invalid() {
        let o = OAuth2 {
            files: Vec::new(),
            audiences: vec![NF_TYPE.into()],
            keys: RwLock::new(Arc::new(Vec::new())),
            stamps: Mutex::new(Vec::new()),
            accepted: Mutex::new(HashMap::new()),
        };
        for header in [
            None,
            Some(&b"Basic dXNlcjpwYXNz"[..]),
            Some(b"Bearer "),
            Some(b"\xff"),
        ] {
            assert!(matches!(o.authorize(header), Err(Denied::InvalidToken(_))));
        }
        // HS256 is refused before any key is looked for.
        let hs = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln";
        let Err(Denied::InvalidToken(why)) = o.authorize(Some(format!("Bearer {hs}").as_bytes()))
        else {
            panic!("HS256 accepted");
        };
        assert!(why.contains("HS256"), "{why}");
    }

    #[test]
    fn remembered_tokens_expire_too() {
        let o = OAuth2 {
            files: Vec::new(),
            audiences: vec![NF_TYPE.into()],
            keys: RwLock::new(Arc::new(Vec::new())),
            stamps: Mutex::new(Vec::new()),
            accepted: Mutex::new(HashMap::new()),
        };
        let now = unix_now();
        o.remember("a.b.c", Some("amf-1".into()), now + 60, now);
        o.remember("d.e.f", Some("amf-2".into()), now - LEEWAY_SECONDS - 1, now);
        assert_eq!(o.authorize(Some(b"Bearer a.b.c")), Ok(Some("amf-1".into())));
        // Expired: checked again, and (no key) refused.
        assert!(matches!(
            o.authorize(Some(b"Bearer d.e.f")),
            Err(Denied::InvalidToken(_))
        ));
    }
}
