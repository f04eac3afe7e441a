//! The vocabulary of the storage lifecycle: what garbage collection, cleanup policies and a
//! proxy's cache limit ask a format about the assets it stores (through `FormatSpec::role`,
//! `gc_references`, `version`, `immutable` and `evictable`), and a repository's lifecycle
//! settings (cleanup policies, quotas, immutable tags). Kinds and the collector only see these
//! types, so they stay format-free (docs/storage.md).

use serde::{Deserialize, Serialize};

use crate::{AssetPath, BlobInfo, BlobStore, FormatSpec, Result};

/// What an asset is to garbage collection, as its format says (`FormatSpec::role`) and the
/// kind records when it writes the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssetRole {
    /// Kept until it is deleted or a cleanup policy removes it: what people name (a docker
    /// tag, a raw file, cached metadata).
    Root,
    /// Kept while a kept asset needs it, and for the grace window after it was last linked, so
    /// an upload survives until the document that needs it arrives (a docker layer or config).
    Part,
    /// A document reachable by digest (a docker manifest): kept while a kept asset needs it (a
    /// tag, an index) or while it is attached to a kept asset (a referrer of a kept subject).
    /// Otherwise it is *untagged*: kept, unless its format's untagged rule
    /// (`FormatSpec::untagged_after_days`) lets it go once it was neither pushed nor pulled for
    /// that long.
    Document,
}

impl AssetRole {
    /// The stored code (the `role` column): 0, 1, 2.
    pub fn code(self) -> i64 {
        match self {
            AssetRole::Root => 0,
            AssetRole::Part => 1,
            AssetRole::Document => 2,
        }
    }

    pub fn from_code(code: i64) -> Option<AssetRole> {
        match code {
            0 => Some(AssetRole::Root),
            1 => Some(AssetRole::Part),
            2 => Some(AssetRole::Document),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AssetRole::Root => "root",
            AssetRole::Part => "part",
            AssetRole::Document => "document",
        }
    }
}

/// How one asset refers to another of the same repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefKind {
    /// Cannot be served without it: a manifest needs its config and layers, an index its
    /// manifests, a tag the manifest it names. A hosted repository refuses to write an asset
    /// whose targets are missing, in the same transaction that writes it.
    Needs,
    /// Is about it: a referrer (a signature, an SBOM) is attached to its subject. Kept while
    /// the subject is kept; the subject may arrive later.
    Attached,
}

impl RefKind {
    pub fn code(self) -> i64 {
        match self {
            RefKind::Needs => 0,
            RefKind::Attached => 1,
        }
    }

    pub fn from_code(code: i64) -> Option<RefKind> {
        match code {
            0 => Some(RefKind::Needs),
            1 => Some(RefKind::Attached),
            _ => None,
        }
    }
}

/// A reference from one stored asset to another of the same repository, by storage path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssetRef {
    pub kind: RefKind,
    pub target: AssetPath,
}

impl AssetRef {
    pub fn needs(target: AssetPath) -> AssetRef {
        AssetRef {
            kind: RefKind::Needs,
            target,
        }
    }
    pub fn attached(target: AssetPath) -> AssetRef {
        AssetRef {
            kind: RefKind::Attached,
            target,
        }
    }
}

/// The component and version a stored path is, for cleanup policies (docker: the image and
/// the tag; raw: the directory and the file name).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionOf {
    pub component: String,
    pub version: String,
}

/// What a kind records with a row besides its content: the role and the references, as the
/// format describes the asset stored at `key`. The body is read (from the blob store, where it
/// was just committed) only for documents, the only assets whose references are inside them.
pub async fn describe(
    format: &dyn FormatSpec,
    blobs: &dyn BlobStore,
    key: &AssetPath,
    blob: &BlobInfo,
) -> Result<(AssetRole, Vec<AssetRef>)> {
    let role = format.role(key);
    let refs = if role == AssetRole::Document {
        let meta = crate::AssetMeta {
            path: key.clone(),
            blob: blob.clone(),
            content_type: None,
            created: 0,
            last_downloaded: None,
            attrs: serde_json::Value::Null,
        };
        let body = crate::documents::read_document(blobs, &meta).await?;
        format.gc_references(key, blob, Some(&body))?
    } else {
        format.gc_references(key, blob, None)?
    };
    let mut refs = refs;
    refs.sort();
    refs.dedup();
    Ok((role, refs))
}

/// A repository's lifecycle settings (the `[[repository]]` keys `cleanup_policies`,
/// `quota_bytes`, `quota_soft_bytes`, `immutable_tags`). Empty by default: no policy, no quota,
/// every tag movable.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoLifecycle {
    /// Names of the cleanup policies that run on this repository.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cleanup_policies: Vec<String>,
    /// Hard quota: writes that would take the repository's usage past it are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_bytes: Option<u64>,
    /// Soft quota: past it the console, the API and metrics warn; nothing is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_soft_bytes: Option<u64>,
    /// Patterns (regular expressions, matched against the whole tag) of tags that are written
    /// once and never moved or deleted, except by an administrator's explicit override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub immutable_tags: Vec<String>,
}

impl RepoLifecycle {
    pub fn is_empty(&self) -> bool {
        self == &RepoLifecycle::default()
    }
}

/// Limits that hold for every repository of a node: the blob store's quotas and the free space
/// uploads keep (`[storage]`). Handed to the kinds that write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageLimits {
    /// `[storage] quota_bytes`: the blob store's hard quota.
    pub quota_bytes: Option<u64>,
    /// `[storage] quota_soft_bytes`.
    pub quota_soft_bytes: Option<u64>,
    /// `[storage] min_free_bytes`: new uploads are refused (507) while the blob store's
    /// filesystem has less free space than this.
    pub min_free_bytes: u64,
}

/// Formats a byte count for messages: `1.5 GiB`, `512 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for r in [AssetRole::Root, AssetRole::Part, AssetRole::Document] {
            assert_eq!(AssetRole::from_code(r.code()), Some(r));
        }
        for k in [RefKind::Needs, RefKind::Attached] {
            assert_eq!(RefKind::from_code(k.code()), Some(k));
        }
        assert_eq!(AssetRole::from_code(7), None);
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
