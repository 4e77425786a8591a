//! Passwords (argon2id) and generated secrets (256 random bits, stored as SHA-256).
//!
//! Comparisons of secrets are constant-time: argon2's verifier compares in constant time, and
//! generated secrets are compared with `subtle`.

use std::sync::{Mutex, OnceLock, mpsc};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
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

/// Hashes a password with argon2id and a random salt.
pub async fn hash_password(password: String) -> Result<String, Error> {
    on_hasher(move || {
        let salt = SaltString::encode_b64(&random_bytes::<16>())
            .map_err(|e| Error::Internal(format!("salt: {e}")))?;
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| Error::Internal(format!("hashing a password: {e}")))
    })
    .await?
}

/// Verifies a password against a stored hash. With no stored hash (no such user) it verifies
/// against a fixed dummy so that the answer takes as long either way.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    on_hasher(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let Ok(hash) = PasswordHash::new(&stored) else {
            return false;
        };
        argon2().verify_password(password.as_bytes(), &hash).is_ok()
    })
    .await
    .unwrap_or(false)
}

/// argon2id with m = 19 MiB, t = 2, p = 1: the argon2 crate's defaults, and one of the settings
/// OWASP's password storage cheat sheet lists as equal in defense (beside m = 46 MiB, t = 1,
/// which berth used before). Why the smaller block: a `docker login`, and every token request
/// with a password after it, holds the block for the length of a hash, and it is most of the
/// server's peak memory (measured in the benchmark's `docker` rows: 63 MiB with 46 MiB blocks).
/// Hashes stored with other parameters still verify: a PHC string carries its own.
///
/// The block is transient: jemalloc, the binary's allocator, serves allocations of 8 MiB and more
/// from an arena of its own that returns them to the kernel. Hashes run one at a time
/// (`on_hasher`), so blocks never stack up.
fn argon2() -> Argon2<'static> {
    Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        Params::default(),
    )
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs `work` on the one password-hashing thread of the process.
///
/// One thread, so that a burst of logins never holds several blocks at once, and a flood
/// of logins takes at most one core (the rate limits stop the flood itself).
async fn on_hasher<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    static QUEUE: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("berth-password-hasher".into())
            .spawn(move || {
                for job in receiver {
                    job();
                }
            })
            .expect("spawning the password hashing thread");
        Mutex::new(sender)
    });
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = reply.send(work());
    });
    queue
        .lock()
        .expect("hasher queue lock")
        .send(job)
        .map_err(|_| Error::Internal("the password hashing thread is gone".into()))?;
    answer
        .await
        .map_err(|_| Error::Internal("password hashing failed".into()))
}

/// An argon2id hash (default parameters) of a password nobody knows.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$H2nXnG7gBM2Ym0pEbsbZ5m6Yt3iOnT8xKXzqGZcQ1pI";

#[cfg(test)]
mod tests {
    use super::*;

    fn params_of(phc: &str) -> (String, String, String) {
        let hash = PasswordHash::new(phc).unwrap();
        let get = |name: &str| hash.params.get_str(name).unwrap().to_owned();
        (get("m"), get("t"), get("p"))
    }

    #[tokio::test]
    async fn new_hashes_use_owasps_19_mib_two_pass_setting() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"));
        assert_eq!(params_of(&hash), ("19456".into(), "2".into(), "1".into()));
        assert!(verify_password("correct horse".into(), Some(hash.clone())).await);
        assert!(!verify_password("correct horse!".into(), Some(hash)).await);
    }

    /// Users whose hashes were stored with the earlier m = 46 MiB, t = 1 still log in.
    #[tokio::test]
    async fn hashes_stored_with_earlier_parameters_still_verify() {
        let earlier = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            Params::new(47_104, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(&random_bytes::<16>()).unwrap();
        let stored = earlier
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password("battery staple".into(), Some(stored.clone())).await);
        assert!(!verify_password("battery stapler".into(), Some(stored)).await);
    }

    /// An unknown user's answer costs what a known user's does: the dummy has the same parameters.
    #[tokio::test]
    async fn the_dummy_for_unknown_users_costs_what_a_real_hash_does() {
        let real = hash_password("anything".into()).await.unwrap();
        assert_eq!(params_of(DUMMY_HASH), params_of(&real));
        assert!(!verify_password("anything".into(), None).await);
    }
}
