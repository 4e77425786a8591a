//! Registry tokens: JWTs signed with HS256 keys kept in the metadata store.
//!
//! Every replica loads the keys from the store, so a token minted by one replica verifies on
//! every other. Rotation adds a new key and retires the old ones; a retired key still verifies
//! until the longest-lived token it can have signed has expired, so rotation needs no downtime.
//! The keys are symmetric because berth is both the token server and the only verifier.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::Error;
use crate::storage::access::{AccessStore, SigningKey};
use crate::time::now_ms;

/// How often the key cache is refreshed even when every `kid` is known.
const KEY_REFRESH: Duration = Duration::from_secs(60);
/// How often an unknown `kid` may trigger a reload from the store.
const KEY_RELOAD_MIN: Duration = Duration::from_secs(1);
/// Clock skew tolerated between replicas, in seconds.
const LEEWAY_SECS: u64 = 10;

/// What a token says, in the claim names of Docker's token specification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(default)]
    pub access: Vec<AccessClaim>,
    /// The credential behind the token (`user:<id>`, `robot:<id>`, empty when anonymous); it
    /// is checked on every use so that disabling it takes effect at once.
    #[serde(default)]
    pub pid: String,
    /// `access` or `refresh`.
    pub typ: String,
    /// When the subject authenticated, in unix milliseconds: a refresh token from before a
    /// password change is refused.
    #[serde(default)]
    pub auth_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaim {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// The signing keys, cached from the store.
#[derive(Clone)]
pub struct KeyRing {
    store: Arc<dyn AccessStore>,
    cache: Arc<RwLock<Cache>>,
    /// How long a retired key keeps verifying: the longest lifetime of any token.
    retired_valid_ms: i64,
}

struct Cache {
    keys: Vec<SigningKey>,
    loaded: Instant,
}

impl KeyRing {
    /// Loads the keys, creating the first one if the store has none.
    pub async fn open(
        store: Arc<dyn AccessStore>,
        longest_token: Duration,
    ) -> Result<KeyRing, Error> {
        let mut keys = store.signing_keys().await?;
        if keys.is_empty() {
            store.signing_key_add(&new_key(), None).await?;
            keys = store.signing_keys().await?;
        }
        Ok(KeyRing {
            store,
            cache: Arc::new(RwLock::new(Cache {
                keys,
                loaded: Instant::now(),
            })),
            retired_valid_ms: longest_token.as_millis() as i64,
        })
    }

    /// Adds a new signing key and retires the others; tokens they signed stay valid.
    pub async fn rotate(&self) -> Result<String, Error> {
        let key = new_key();
        self.store.signing_key_add(&key, Some(now_ms())).await?;
        self.reload().await?;
        Ok(key.kid)
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, Error> {
        let (kid, secret) = {
            let cache = self.cache.read().expect("key cache lock");
            let key = cache
                .keys
                .iter()
                .find(|k| k.retired_at.is_none())
                .or(cache.keys.first())
                .expect("the store holds a key");
            (key.kid.clone(), key.secret.clone())
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(&secret))
            .map_err(|e| Error::Internal(format!("signing a token: {e}")))
    }

    /// Verifies signature, algorithm, issuer, audience and validity period; the caller checks
    /// the token type and the credential.
    pub async fn verify(&self, token: &str, issuer: &str, audience: &str) -> Result<Claims, Error> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| Error::BadToken("malformed"))?;
        if header.alg != Algorithm::HS256 {
            return Err(Error::BadToken("unexpected algorithm"));
        }
        let kid = header.kid.ok_or(Error::BadToken("no key id"))?;
        let secret = match self.key(&kid) {
            Some(secret) => secret,
            None => {
                self.reload_if_due().await?;
                self.key(&kid).ok_or(Error::BadToken("unknown key"))?
            }
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&secret), &validation)
                .map_err(|e| {
                    use jsonwebtoken::errors::ErrorKind as K;
                    Error::BadToken(match e.kind() {
                        K::ExpiredSignature => "expired",
                        K::ImmatureSignature => "not yet valid",
                        K::InvalidSignature => "bad signature",
                        K::InvalidAudience => "wrong audience",
                        K::InvalidIssuer => "wrong issuer",
                        _ => "malformed",
                    })
                })?;
        if self.loaded_long_ago() {
            self.reload().await?;
        }
        Ok(data.claims)
    }

    /// The secret of a key that may still verify tokens.
    fn key(&self, kid: &str) -> Option<Vec<u8>> {
        let cache = self.cache.read().expect("key cache lock");
        let now = now_ms();
        cache
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .filter(|k| {
                k.retired_at
                    .is_none_or(|at| now < at + self.retired_valid_ms)
            })
            .map(|k| k.secret.clone())
    }

    fn loaded_long_ago(&self) -> bool {
        self.cache.read().expect("key cache lock").loaded.elapsed() > KEY_REFRESH
    }

    async fn reload_if_due(&self) -> Result<(), Error> {
        let due = self.cache.read().expect("key cache lock").loaded.elapsed() > KEY_RELOAD_MIN;
        if due {
            self.reload().await?;
        }
        Ok(())
    }

    async fn reload(&self) -> Result<(), Error> {
        let keys = self.store.signing_keys().await?;
        let mut cache = self.cache.write().expect("key cache lock");
        cache.keys = keys;
        cache.loaded = Instant::now();
        Ok(())
    }
}

fn new_key() -> SigningKey {
    SigningKey {
        kid: hex::encode(super::secret::random_bytes::<8>()),
        secret: super::secret::random_bytes::<32>().to_vec(),
        created_at: now_ms(),
        retired_at: None,
    }
}
