//! Argon2id password hashes in PHC string form.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::distr::{Alphanumeric, SampleString};
use trove_core::{Error, Result};

/// Hashes `password` with Argon2id (the crate's default parameters) and a random salt. Costs
/// tens of milliseconds by design: call it from a blocking thread in servers.
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
