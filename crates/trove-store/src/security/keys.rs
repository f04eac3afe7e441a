//! Token signing keys: one per purpose, the same on every node, and never in the database as
//! they are (issue 14: a copy of the database used to sign an admin token).
//!
//! Each key is derived (HKDF-SHA256) from two halves:
//! - the **key file**, 32 random bytes in hex, `signing.key` beside the database by default
//!   (the server puts it in the data directory), mode 0600, made by the first node that needs
//!   it;
//! - a **row** of `signing_keys` per purpose: a random salt and a check value, written once by
//!   whichever node gets there first.
//!
//! The database alone signs nothing, the key file alone signs nothing, and a node given
//! another key file than the others refuses to start, saying so, instead of minting tokens the
//! others reject (docs/decisions/0012-signing-key.md). A key stored in plain text by an
//! earlier version is replaced once.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hkdf::Hkdf;
use rand::RngCore;
use sha2::{Digest, Sha256};
use trove_core::{Error, Result, now_millis};

use super::Security;
use crate::files;
use crate::sqlite::db_err;

/// What a row holds: this prefix, the salt, then the check value.
const SEALED: &[u8] = b"trove-hkdf-sha256:";
const SALT_LEN: usize = 32;
const CHECK_LEN: usize = 32;
/// Bytes of a derived signing key (HS256 wants at least 32).
const KEY_LEN: usize = 64;
/// Bytes of key material in the key file.
const FILE_KEY_LEN: usize = 32;

/// The file name the key file gets beside the database unless told otherwise.
pub const SIGNING_KEY_FILE: &str = "signing.key";

/// Where a store's key material comes from, loaded once.
pub(crate) struct KeyFile {
    source: Source,
    loaded: tokio::sync::OnceCell<[u8; FILE_KEY_LEN]>,
}

enum Source {
    File(PathBuf),
    /// An in-memory database has no directory to keep a file in, nor a second node.
    Memory([u8; FILE_KEY_LEN]),
}

impl KeyFile {
    pub(crate) fn at(path: PathBuf) -> KeyFile {
        KeyFile {
            source: Source::File(path),
            loaded: Default::default(),
        }
    }

    pub(crate) fn in_memory() -> KeyFile {
        let mut key = [0; FILE_KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        KeyFile {
            source: Source::Memory(key),
            loaded: Default::default(),
        }
    }

    /// The key file's path, if the material lives in one.
    pub(crate) fn path(&self) -> Option<&Path> {
        match &self.source {
            Source::File(p) => Some(p),
            Source::Memory(_) => None,
        }
    }

    async fn material(&self) -> Result<&[u8; FILE_KEY_LEN]> {
        self.loaded
            .get_or_try_init(|| async {
                match &self.source {
                    Source::Memory(key) => Ok(*key),
                    Source::File(path) => {
                        let path = path.clone();
                        tokio::task::spawn_blocking(move || load_or_create(&path))
                            .await
                            .map_err(|e| Error::internal(format!("loading the key file: {e}")))?
                    }
                }
            })
            .await
    }

    fn describe(&self) -> String {
        match &self.source {
            Source::File(p) => p.display().to_string(),
            Source::Memory(_) => "this process's in-memory key".into(),
        }
    }
}

/// Reads the key file, tightening a looser mode; creates it (race-free across nodes sharing
/// the directory: written aside, then linked into place) when there is none.
fn load_or_create(path: &Path) -> Result<[u8; FILE_KEY_LEN]> {
    let io = |what: &str, e| Error::io(&format!("{what} {}", path.display()), e);
    match std::fs::read_to_string(path) {
        Ok(text) => {
            files::make_private(path).map_err(|e| io("making private", e))?;
            parse_key(path, &text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0; FILE_KEY_LEN];
            rand::rng().fill_bytes(&mut key);
            let mut spare = path.as_os_str().to_owned();
            spare.push(format!(".{}.tmp", uuid::Uuid::new_v4()));
            let spare = PathBuf::from(spare);
            let written = (|| {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(files::PRIVATE_FILE)
                    .open(&spare)?;
                writeln!(f, "{}", hex::encode(key))?;
                f.sync_all()?;
                std::fs::hard_link(&spare, path)
            })();
            let _ = std::fs::remove_file(&spare);
            match written {
                Ok(()) => {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::File::open(dir)
                            .and_then(|d| d.sync_all())
                            .map_err(|e| io("syncing the directory of", e))?;
                    }
                    tracing::info!(file = %path.display(), "created the signing key file; every node needs a copy of it, and backups too");
                    Ok(key)
                }
                // Another node made it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(path).map_err(|e| io("reading", e))?;
                    parse_key(path, &text)
                }
                Err(e) => Err(io("creating", e)),
            }
        }
        Err(e) => Err(io("reading", e)),
    }
}

fn parse_key(path: &Path, text: &str) -> Result<[u8; FILE_KEY_LEN]> {
    hex::decode(text.trim())
        .ok()
        .and_then(|k| <[u8; FILE_KEY_LEN]>::try_from(k).ok())
        .ok_or_else(|| {
            Error::invalid(format!(
                "the signing key file {} must hold {} hex digits (as Trove writes it); \
                 restore it from another node or a backup",
                path.display(),
                FILE_KEY_LEN * 2
            ))
        })
}

/// `N` bytes derived from the key file and a row's salt, for `use_` and `purpose`.
fn derive<const N: usize>(material: &[u8], salt: &[u8], use_: &str, purpose: &str) -> [u8; N] {
    let mut out = [0; N];
    Hkdf::<Sha256>::new(Some(salt), material)
        .expand(format!("trove {use_} {purpose}").as_bytes(), &mut out)
        .expect("HKDF-SHA256 gives up to 8160 bytes");
    out
}

fn seal(material: &[u8], purpose: &str, salt: &[u8; SALT_LEN]) -> Vec<u8> {
    let check: [u8; CHECK_LEN] = derive(material, salt, "signing key check", purpose);
    [SEALED, &salt[..], &check[..]].concat()
}

impl Security<'_> {
    /// The signing secret for `purpose` (at least 32 bytes of `candidate` are needed). The
    /// first caller's `candidate` decides it; every later caller, on any node with the same key
    /// file, gets the same secret back (insert-if-absent, then read). See the module docs.
    pub async fn signing_key(&self, purpose: &str, candidate: &[u8]) -> Result<Vec<u8>> {
        if candidate.len() < 32 {
            return Err(Error::invalid("a signing key needs at least 32 bytes"));
        }
        let material = self.keys.material().await?;
        let salt: [u8; SALT_LEN] = Sha256::digest(candidate).into();
        sqlx::query(
            "INSERT INTO signing_keys (purpose, secret, created) VALUES ($1, $2, $3) \
             ON CONFLICT (purpose) DO NOTHING",
        )
        .bind(purpose)
        .bind(seal(material, purpose, &salt))
        .bind(now_millis())
        .execute(self.pool)
        .await
        .map_err(db_err)?;
        let mut stored = self.stored_key(purpose).await?;
        if !stored.starts_with(SEALED) {
            // Written in plain text by an earlier version, so anyone who could read the
            // database file may hold it: replaced (once, whichever node gets there first).
            sqlx::query("UPDATE signing_keys SET secret = $2 WHERE purpose = $1 AND secret = $3")
                .bind(purpose)
                .bind(seal(material, purpose, &salt))
                .bind(&stored)
                .execute(self.pool)
                .await
                .map_err(db_err)?;
            tracing::warn!(
                purpose,
                "replaced a signing key that was stored in plain text in the database; \
                 tokens issued before it stop working"
            );
            stored = self.stored_key(purpose).await?;
        }
        let rest = stored.strip_prefix(SEALED).unwrap_or_default();
        let (salt, check) = (rest.get(..SALT_LEN), rest.get(SALT_LEN..));
        let (Some(salt), Some(check)) = (salt, check) else {
            return Err(Error::internal(format!(
                "the stored signing key for {purpose} is malformed"
            )));
        };
        let expected: [u8; CHECK_LEN] = derive(material, salt, "signing key check", purpose);
        if check != expected {
            return Err(Error::invalid(format!(
                "the signing key for {purpose} was made with another key file than {}: every \
                 node must use the same one (copy it from a node that works). If it is lost \
                 for good, delete the row (`DELETE FROM signing_keys WHERE purpose = \
                 '{purpose}'`) and restart: tokens issued before stop working",
                self.keys.describe()
            )));
        }
        Ok(derive::<KEY_LEN>(material, salt, "signing key", purpose).to_vec())
    }

    async fn stored_key(&self, purpose: &str) -> Result<Vec<u8>> {
        sqlx::query_scalar("SELECT secret FROM signing_keys WHERE purpose = $1")
            .bind(purpose)
            .fetch_one(self.pool)
            .await
            .map_err(db_err)
    }
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
