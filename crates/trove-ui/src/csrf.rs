//! Session and CSRF tokens. A token is 32 random bytes (from the OS-seeded thread RNG),
//! base64url without padding; the database keeps only [`hash`] of a session token, so a copy
//! of the database does not sign anybody in. Comparisons run in constant time.

use base64::Engine as _;
use rand::RngCore as _;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

/// 32 random bytes, base64url (43 characters).
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of a token, lowercase hex: what the sessions table stores.
pub fn hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Whether `presented` equals `expected`, in time independent of where they differ. An empty
/// `expected` never matches.
pub fn matches(expected: &str, presented: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// Whether a cookie value has the shape of one of our tokens (43 base64url characters), so a
/// garbage cookie costs no database read.
pub fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_urlsafe_and_well_formed() {
        let (a, b) = (token(), token());
        assert_ne!(a, b);
        assert!(well_formed(&a), "{a}");
        assert!(!well_formed("short"));
        assert!(!well_formed(&format!("{}=", &a[..42])));
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn comparison() {
        let t = token();
        assert!(matches(&t, &t.clone()));
        assert!(!matches(&t, &token()));
        assert!(!matches(&t, &t[..42]));
        assert!(!matches(&t, ""));
        assert!(!matches("", ""));
    }
}
