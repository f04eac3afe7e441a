//! The checksums clients of several formats verify or announce (Maven's `.md5`, `.sha1`,
//! `.sha256`, `.sha512` files; PyPI's `md5_digest`/`sha256_digest`), computed in one pass over
//! a body as it streams ([`Hasher`]) and kept in an asset's attrs under their names.

use serde_json::{Value, json};
use sha1::Digest as _;

/// Lowercase hex digests of one body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksums {
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub sha512: String,
}

/// The four hashes, fed chunk by chunk.
#[derive(Default, Clone)]
pub struct Hasher {
    md5: md5::Md5,
    sha1: sha1::Sha1,
    sha256: sha2::Sha256,
    sha512: sha2::Sha512,
}

impl Hasher {
    pub fn update(&mut self, chunk: &[u8]) {
        self.md5.update(chunk);
        self.sha1.update(chunk);
        self.sha256.update(chunk);
        self.sha512.update(chunk);
    }

    pub fn finish(self) -> Checksums {
        Checksums {
            md5: hex::encode(self.md5.finalize()),
            sha1: hex::encode(self.sha1.finalize()),
            sha256: hex::encode(self.sha256.finalize()),
            sha512: hex::encode(self.sha512.finalize()),
        }
    }
}

impl Checksums {
    /// The checksums of bytes already in memory.
    pub fn of(bytes: &[u8]) -> Checksums {
        let mut h = Hasher::default();
        h.update(bytes);
        h.finish()
    }

    /// The digest called `name` (`md5`, `sha1`, `sha256`, `sha512`).
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            "md5" => Some(&self.md5),
            "sha1" => Some(&self.sha1),
            "sha256" => Some(&self.sha256),
            "sha512" => Some(&self.sha512),
            _ => None,
        }
    }

    /// As an asset's attrs: `{"md5": hex, "sha1": hex, ...}`.
    pub fn to_attrs(&self) -> Value {
        json!({
            "md5": self.md5,
            "sha1": self.sha1,
            "sha256": self.sha256,
            "sha512": self.sha512,
        })
    }
}

/// The digest called `name` kept in an asset's `attrs` (see [`Checksums::to_attrs`]).
pub fn from_attrs<'a>(attrs: &'a Value, name: &str) -> Option<&'a str> {
    attrs.get(name)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_of_abc() {
        let c = Checksums::of(b"abc");
        assert_eq!(c.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(c.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            c.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(c.sha512.starts_with("ddaf35a193617aba"));
        let attrs = c.to_attrs();
        for name in ["md5", "sha1", "sha256", "sha512"] {
            assert_eq!(from_attrs(&attrs, name), c.get(name));
        }
        let mut h = Hasher::default();
        h.update(b"a");
        h.update(b"bc");
        assert_eq!(h.finish(), c, "chunked or whole: the same");
    }
}
