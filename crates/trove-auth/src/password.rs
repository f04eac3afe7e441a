//! Argon2id password hashes in PHC string form.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::distr::{Alphanumeric, SampleString};
use trove_core::{Error, Result};

/// Hashes `password` with Argon2id (the crate's default parameters) and a random salt. Costs
/// tens of milliseconds by design: servers call [`hash_async`].
pub fn hash(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("hashing password: {e}")))
}

/// Checks `password` against a stored PHC string; the comparison inside is constant time.
/// A malformed stored hash verifies nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs `f` (an argon2 hash or verification) on the one thread that does them all.
///
/// Argon2id allocates its 19 MiB memory cost per call. On tokio's blocking pool every thread
/// that ran one kept those 19 MiB in its own malloc arena (glibc raises its mmap threshold
/// after the first such free), so 64 concurrent first logins left a node at 100–150 MiB RSS.
/// One thread keeps one arena; it also caps the CPU argon2 may take from request handling to
/// one core, and the Basic cache and single flight keep the queue short.
pub async fn on_hasher<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    static HASHER: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    let sender = HASHER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("trove-argon2".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("spawning the password hashing thread");
        std::sync::Mutex::new(tx)
    });
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(f());
    });
    sender
        .lock()
        .expect("hasher lock")
        .send(job)
        .map_err(|_| Error::internal("the password hashing thread is gone"))?;
    result
        .await
        .map_err(|_| Error::internal("a password hash job was dropped"))
}

/// [`hash`] on the hashing thread.
pub async fn hash_async(password: String) -> Result<String> {
    on_hasher(move || hash(&password)).await?
}

/// [`verify`] on the hashing thread (false if the thread is gone).
pub async fn verify_async(password: String, phc: String) -> bool {
    on_hasher(move || verify(&password, &phc))
        .await
        .unwrap_or(false)
}

/// A random password for generated accounts (the first-start admin).
pub fn generate() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let pw = generate();
        assert_eq!(pw.len(), 24);
        let phc = hash(&pw).unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify(&pw, &phc));
        assert!(!verify("wrong", &phc));
        assert!(!verify(&pw, "not a hash"));
        assert_ne!(hash(&pw).unwrap(), phc, "salted");
    }
}
