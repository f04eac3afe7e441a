use std::fmt;
use std::str::FromStr;

use crate::{Error, ErrorKind};

/// A registered digest algorithm of the OCI image spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A content digest `algorithm:hex`, validated as the OCI image spec requires for the
/// registered algorithms (lowercase hex of the exact length).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algo: Algorithm,
    hex: String,
}

impl Digest {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid =
            |why: &str| Error::new(ErrorKind::Invalid, format!("invalid digest {s:?}: {why}"));
        let (algo, hex) = s.split_once(':').ok_or_else(|| invalid("missing ':'"))?;
        let algo = match algo {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(invalid("unsupported algorithm")),
        };
        if hex.len() != algo.hex_len() {
            return Err(invalid("wrong length"));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid("not lowercase hex"));
        }
        Ok(Digest {
            algo,
            hex: hex.to_owned(),
        })
    }

    /// The digest of `data` under `algo`.
    pub fn of(algo: Algorithm, data: &[u8]) -> Digest {
        use sha2::Digest as _;
        let hex = match algo {
            Algorithm::Sha256 => hex::encode(sha2::Sha256::digest(data)),
            Algorithm::Sha512 => hex::encode(sha2::Sha512::digest(data)),
        };
        Digest { algo, hex }
    }

    /// Builds a digest from a freshly computed hash. The caller guarantees lowercase hex of the
    /// algorithm's length.
    pub fn from_hex(algo: Algorithm, hex: String) -> Self {
        debug_assert_eq!(hex.len(), algo.hex_len());
        Digest { algo, hex }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algo
    }
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Digest::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo.as_str(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_prints_sha256() {
        let d = Digest::parse(&format!("sha256:{H}")).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.to_string(), format!("sha256:{H}"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            &format!("sha256:{}", &H[1..]),
            &format!("sha256:{}", H.to_uppercase()),
            &format!("md5:{H}"),
            &format!("sha512:{H}"),
            &format!("sha256:{H}0"),
            &format!("sha256:{}g", &H[1..]),
            "sha256:../../etc/passwd",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn accepts_sha512() {
        let hex = "a".repeat(128);
        assert!(Digest::parse(&format!("sha512:{hex}")).is_ok());
    }
}
