//! Passwords (argon2id) and generated secrets (256 random bits, stored as SHA-256).
//!
//! Comparisons of secrets are constant-time: argon2's verifier compares in constant time, and
//! generated secrets are compared with `subtle`.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::Error;

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}

/// A new secret for a robot or CI token: 256 random bits, URL-safe base64.
pub fn generate() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// What is stored of a generated secret.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `secret` is the one whose digest is `stored`, in constant time.
pub fn matches(secret: &str, stored: &[u8]) -> bool {
    digest(secret).ct_eq(stored).into()
}

/// Hashes a password with argon2id and a random salt; CPU-heavy, so off the async threads.
pub async fn hash_password(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&random_bytes::<16>())
            .map_err(|e| Error::Internal(format!("salt: {e}")))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| Error::Internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(format!("hashing task: {e}")))?
}

/// Verifies a password against a stored hash, off the async threads. With no stored hash (no
/// such user) it verifies against a fixed dummy so that the answer takes as long either way.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let Ok(hash) = PasswordHash::new(&stored) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// An argon2id hash (default parameters) of a password nobody knows.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$H2nXnG7gBM2Ym0pEbsbZ5m6Yt3iOnT8xKXzqGZcQ1pI";
