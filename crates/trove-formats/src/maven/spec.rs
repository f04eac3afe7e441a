//! The Maven format logic the repository kinds call.
//!
//! - **Hosted**: `maven-metadata.xml` is built from the stored files (a client's upload is kept
//!   only for the plugin prefixes of group-level metadata), and every checksum file is
//!   generated: a stored file's from the digests computed when it was uploaded.
//! - **Proxy**: release files (and their checksum files) are content, cached forever; a release
//!   file is checked against the upstream's `.sha256` when it has one (the `.sha256` teaches
//!   the proxy the digest the bytes must hash to); metadata, snapshot files and files outside
//!   the layout are metadata, revalidated after the repository's max age.
//! - **Group**: `maven-metadata.xml` is merged from every member.
//!
//! The checksums of `maven-metadata.xml`, in every kind, are variants of the document
//! (`render`), computed from the bytes that document is served with.

use async_trait::async_trait;
use bytes::Bytes;
use trove_core::{
    AssetClass, AssetIndex, AssetMeta, AssetPath, Digest, Error, Fetched, FormatId, FormatSpec,
    Generated, Link, MergePart, Page, ProxyConfig, RepoKind, Result, Rewritten, UpstreamRequest,
};

use super::layout::{self, Algo, Kind};
use super::metadata::{self, Metadata};
use crate::kit::checksums::{self, Checksums};

pub const ID: FormatId = FormatId::new("maven");

/// Which versions a repository holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionPolicy {
    Release,
    Snapshot,
    Mixed,
}

impl VersionPolicy {
    pub fn parse(s: &str) -> Option<VersionPolicy> {
        match s {
            "release" => Some(VersionPolicy::Release),
            "snapshot" => Some(VersionPolicy::Snapshot),
            "mixed" => Some(VersionPolicy::Mixed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VersionPolicy::Release => "release",
            VersionPolicy::Snapshot => "snapshot",
            VersionPolicy::Mixed => "mixed",
        }
    }

    /// Whether a path of a snapshot version (`snapshot`) belongs here.
    pub fn allows(self, snapshot: bool) -> bool {
        match self {
            VersionPolicy::Release => !snapshot,
            VersionPolicy::Snapshot => snapshot,
            VersionPolicy::Mixed => true,
        }
    }
}

/// Whether uploads must follow the Maven layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutPolicy {
    Strict,
    Permissive,
}

#[derive(Debug, Clone)]
pub struct MavenSpec {
    pub kind: RepoKind,
    pub version_policy: VersionPolicy,
    pub layout_policy: LayoutPolicy,
    /// Group: mix proxy members' metadata into an artifact a hosted member has (off: the
    /// dependency-confusion guard).
    pub merge_hosted_with_proxied: bool,
}

fn text(hex: &str) -> Generated {
    Generated {
        bytes: Bytes::from(hex.to_owned()),
        content_type: "text/plain".into(),
    }
}

fn xml(m: &Metadata) -> Generated {
    Generated {
        bytes: Bytes::from(m.to_xml()),
        content_type: metadata::CONTENT_TYPE.into(),
    }
}

/// The stored row at exactly `path` among rows listed by that prefix.
async fn row_at(index: &dyn AssetIndex, path: &str) -> Result<Option<AssetMeta>> {
    let page = Page {
        after: None,
        limit: Some(2),
    };
    Ok(index
        .list(path, &page)
        .await?
        .into_iter()
        .find(|m| m.path.as_str() == path))
}

/// The first hex token of a checksum file (`<hex>` or `<hex>  <file name>`), if it is one of
/// `algo`'s length.
pub fn checksum_hex(body: &[u8], algo: Algo) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let hex = text.split_whitespace().next()?.to_ascii_lowercase();
    (hex.len() == algo.hex_len() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

impl MavenSpec {
    /// Whether the proxy asks upstream for this path at all (a release-only proxy never asks
    /// for snapshots).
    fn fetched(&self, kind: &Kind) -> bool {
        !matches!(kind, Kind::Artifact(_) | Kind::Metadata { .. } | Kind::Checksum { .. })
            || self.version_policy.allows(kind.is_snapshot())
            // Artifact-level metadata lists releases and snapshots alike.
            || matches!(kind, Kind::Metadata { dir } if !dir.ends_with("-SNAPSHOT"))
    }

    async fn metadata_doc(&self, dir: &str, index: &dyn AssetIndex) -> Result<Option<Metadata>> {
        let rows = index.list(&format!("{dir}/"), &Page::default()).await?;
        if let Some(m) = metadata::version_level(dir, &rows) {
            return Ok(Some(m));
        }
        let own = format!("{dir}/{}", layout::METADATA);
        let uploaded = match rows.iter().find(|r| r.path.as_str() == own) {
            Some(r) => Metadata::parse(&index.read(r).await?).ok(),
            None => None,
        };
        Ok(metadata::artifact_level(dir, &rows, uploaded.as_ref()))
    }
}

#[async_trait]
impl FormatSpec for MavenSpec {
    fn id(&self) -> FormatId {
        ID
    }

    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        path.clone()
    }

    /// Hosted repositories compute metadata and every checksum file.
    fn generates(&self, path: &AssetPath) -> bool {
        self.kind == RepoKind::Hosted
            && matches!(
                layout::parse(path.as_str()),
                Kind::Metadata { .. } | Kind::Checksum { .. }
            )
    }

    async fn generate(
        &self,
        path: &AssetPath,
        index: &dyn AssetIndex,
    ) -> Result<Option<Generated>> {
        match layout::parse(path.as_str()) {
            // `None` when no file of the artifact is stored: then what a client uploaded there
            // (group-level plugin metadata) is served as it is.
            Kind::Metadata { dir } => Ok(self.metadata_doc(&dir, index).await?.map(|m| xml(&m))),
            Kind::Checksum { file, algo } => {
                if let Kind::Metadata { dir } = layout::parse(&file) {
                    let doc = match self.metadata_doc(&dir, index).await? {
                        Some(m) => Bytes::from(m.to_xml()),
                        None => match row_at(index, &file).await? {
                            Some(r) => index.read(&r).await?,
                            None => return Ok(None),
                        },
                    };
                    let sums = Checksums::of(&doc);
                    return Ok(sums.get(algo.name()).map(text));
                }
                let Some(row) = row_at(index, &file).await? else {
                    return Ok(None);
                };
                Ok(checksums::from_attrs(&row.attrs, algo.name()).map(text))
            }
            _ => Ok(None),
        }
    }

    /// Metadata, checksums and snapshot files change; a release file is written once.
    fn is_mutable(&self, path: &AssetPath) -> bool {
        let kind = layout::parse(path.as_str());
        matches!(kind, Kind::Metadata { .. } | Kind::Checksum { .. }) || kind.is_snapshot()
    }

    /// The variants `md5`, `sha1`, `sha256` and `sha512` of a document are its checksum
    /// files, computed from the bytes it is served with.
    fn render(
        &self,
        _path: &AssetPath,
        variant: &str,
        doc: &Generated,
    ) -> Result<Option<Generated>> {
        let Some(algo) = Algo::of_variant(variant) else {
            return Ok(None);
        };
        let sums = Checksums::of(&doc.bytes);
        Ok(sums.get(algo.name()).map(text))
    }

    /// A release file's `.sha256` teaches the digest the file must hash to.
    fn rewrites(&self, path: &AssetPath) -> bool {
        matches!(layout::parse(path.as_str()), Kind::Checksum { file, algo: Algo::Sha256 }
            if layout::parse(&file).is_release_file())
    }

    fn rewrite_fetched(&self, path: &AssetPath, fetched: Fetched<'_>) -> Result<Rewritten> {
        let mut links = Vec::new();
        if let Kind::Checksum { file, algo } = layout::parse(path.as_str())
            && let Some(hex) = checksum_hex(&fetched.bytes, algo)
            && let Some(url) = fetched.url.strip_suffix(".sha256")
            && let Ok(digest) = Digest::parse(&format!("sha256:{hex}"))
        {
            links.push(Link {
                path: AssetPath::parse(&file)?,
                url: url.to_owned(),
                digest: Some(digest),
            });
        }
        Ok(Rewritten {
            doc: Generated {
                bytes: fetched.bytes,
                content_type: "text/plain".into(),
            },
            links,
        })
    }

    fn upstream_source(&self, path: &AssetPath) -> Option<AssetPath> {
        if layout::parse(path.as_str()).is_release_file() {
            AssetPath::parse(&format!("{path}.sha256")).ok()
        } else {
            None
        }
    }

    fn classify(&self, path: &AssetPath) -> AssetClass {
        let kind = layout::parse(path.as_str());
        if !self.fetched(&kind) {
            return AssetClass::Local;
        }
        let release = match &kind {
            Kind::Artifact(_) => kind.is_release_file(),
            Kind::Checksum { file, .. } => layout::parse(file).is_release_file(),
            _ => false,
        };
        if release {
            AssetClass::Content { digest: None }
        } else {
            AssetClass::Metadata
        }
    }

    fn upstream(&self, proxy: &ProxyConfig, path: &AssetPath) -> Result<UpstreamRequest> {
        if !self.fetched(&layout::parse(path.as_str())) {
            return Err(Error::not_found(format!(
                "{path} is outside this repository's version policy ({})",
                self.version_policy.as_str()
            )));
        }
        Ok(UpstreamRequest {
            url: crate::kit::file::upstream_url(&proxy.remote, path),
            ..Default::default()
        })
    }

    fn merges(&self, path: &AssetPath) -> bool {
        self.kind == RepoKind::Group
            && matches!(layout::parse(path.as_str()), Kind::Metadata { .. })
    }

    fn merge(&self, path: &AssetPath, parts: Vec<MergePart>) -> Option<Generated> {
        if !self.merges(path) {
            return None;
        }
        let parsed: Vec<(RepoKind, Metadata)> = parts
            .iter()
            .filter_map(|p| Some((p.kind, Metadata::parse(&p.doc.bytes).ok()?)))
            .collect();
        // The dependency-confusion guard: versions of an artifact (or builds of a snapshot) a
        // hosted member has hide what proxy members say of it, so a public `9.9.9` of a
        // private coordinate never becomes `latest`. Group-level plugin lists still merge.
        let hosted_owns = !self.merge_hosted_with_proxied
            && parsed
                .iter()
                .any(|(k, m)| *k == RepoKind::Hosted && metadata::has_versions(m));
        let docs: Vec<Metadata> = parsed
            .into_iter()
            .filter(|(k, _)| !(hosted_owns && *k == RepoKind::Proxy))
            .map(|(_, m)| m)
            .collect();
        Some(xml(&metadata::merge(&docs).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_core::{BlobInfo, Digest};

    struct Rows(Vec<(AssetMeta, Bytes)>);

    #[async_trait]
    impl AssetIndex for Rows {
        async fn list(&self, prefix: &str, _page: &Page) -> Result<Vec<AssetMeta>> {
            Ok(self
                .0
                .iter()
                .filter(|(m, _)| m.path.as_str().starts_with(prefix))
                .map(|(m, _)| m.clone())
                .collect())
        }
        async fn read(&self, meta: &AssetMeta) -> Result<Bytes> {
            Ok(self
                .0
                .iter()
                .find(|(m, _)| m.path == meta.path)
                .map(|(_, b)| b.clone())
                .unwrap())
        }
    }

    fn stored(path: &str, body: &[u8]) -> (AssetMeta, Bytes) {
        (
            AssetMeta {
                path: AssetPath::parse(path).unwrap(),
                blob: BlobInfo {
                    digest: Digest::of(trove_core::Algorithm::Sha256, body),
                    size: body.len() as u64,
                },
                content_type: None,
                created: 1_796_299_188_000,
                last_downloaded: None,
                attrs: Checksums::of(body).to_attrs(),
            },
            Bytes::copy_from_slice(body),
        )
    }

    fn spec(kind: RepoKind) -> MavenSpec {
        MavenSpec {
            kind,
            version_policy: VersionPolicy::Mixed,
            layout_policy: LayoutPolicy::Strict,
            merge_hosted_with_proxied: false,
        }
    }

    fn p(s: &str) -> AssetPath {
        AssetPath::parse(s).unwrap()
    }

    #[tokio::test]
    async fn hosted_generates_metadata_and_checksums_from_what_is_stored() {
        let rows = Rows(vec![
            stored("/org/example/lib/1.0/lib-1.0.jar", b"jar bytes"),
            stored("/org/example/lib/1.0/lib-1.0.pom", b"<project/>"),
            stored(
                "/org/example/lib/maven-metadata.xml",
                b"<metadata><versioning><versions><version>0.1</version></versions></versioning></metadata>",
            ),
        ]);
        let s = spec(RepoKind::Hosted);
        let doc = s
            .generate(&p("/org/example/lib/maven-metadata.xml"), &rows)
            .await
            .unwrap()
            .unwrap();
        let m = Metadata::parse(&doc.bytes).unwrap();
        assert_eq!(
            m.versioning.unwrap().versions.unwrap().version,
            ["1.0"],
            "from the files, not from the upload"
        );
        let sha1 = s
            .generate(&p("/org/example/lib/1.0/lib-1.0.jar.sha1"), &rows)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sha1.bytes, Checksums::of(b"jar bytes").sha1);
        let md5 = s
            .generate(&p("/org/example/lib/maven-metadata.xml.md5"), &rows)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            md5.bytes,
            Checksums::of(&doc.bytes).md5,
            "of the bytes served"
        );
        assert!(
            s.generate(&p("/org/example/lib/1.0/lib-1.0-sources.jar.sha1"), &rows)
                .await
                .unwrap()
                .is_none()
        );
        assert!(s.generates(&p("/org/example/lib/1.0/lib-1.0.jar.sha512")));
        assert!(!s.generates(&p("/org/example/lib/1.0/lib-1.0.jar")));
        assert!(!spec(RepoKind::Proxy).generates(&p("/org/example/lib/maven-metadata.xml")));
    }

    #[tokio::test]
    async fn group_level_metadata_is_served_as_uploaded() {
        let rows = Rows(vec![stored(
            "/org/example/plugins/maven-metadata.xml",
            b"<metadata><plugins><plugin><prefix>x</prefix></plugin></plugins></metadata>",
        )]);
        let s = spec(RepoKind::Hosted);
        assert!(
            s.generate(&p("/org/example/plugins/maven-metadata.xml"), &rows)
                .await
                .unwrap()
                .is_none()
        );
        let sha1 = s
            .generate(&p("/org/example/plugins/maven-metadata.xml.sha1"), &rows)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sha1.bytes, Checksums::of(&rows.0[0].1).sha1);
    }

    #[test]
    fn proxies_cache_releases_forever_and_revalidate_the_rest() {
        let s = spec(RepoKind::Proxy);
        let content = AssetClass::Content { digest: None };
        assert_eq!(s.classify(&p("/g/a/1.0/a-1.0.jar")), content);
        assert_eq!(s.classify(&p("/g/a/1.0/a-1.0.jar.sha1")), content);
        assert_eq!(
            s.classify(&p("/g/a/maven-metadata.xml")),
            AssetClass::Metadata
        );
        assert_eq!(
            s.classify(&p("/g/a/1.0-SNAPSHOT/a-1.0-20261203.115948-1.jar")),
            AssetClass::Metadata
        );
        assert_eq!(
            s.classify(&p("/archetype-catalog.xml")),
            AssetClass::Metadata
        );
        assert_eq!(
            s.upstream_source(&p("/g/a/1.0/a-1.0.jar")),
            Some(p("/g/a/1.0/a-1.0.jar.sha256"))
        );
        assert_eq!(
            s.upstream_source(&p("/g/a/1.0-SNAPSHOT/a-1.0-SNAPSHOT.jar")),
            None
        );
        let release_only = MavenSpec {
            version_policy: VersionPolicy::Release,
            ..s
        };
        assert_eq!(
            release_only.classify(&p("/g/a/1.0-SNAPSHOT/maven-metadata.xml")),
            AssetClass::Local,
            "a release proxy never asks upstream for snapshots"
        );
        assert_eq!(
            release_only.classify(&p("/g/a/maven-metadata.xml")),
            AssetClass::Metadata
        );
    }

    #[test]
    fn an_upstream_sha256_teaches_the_digest_of_its_file() {
        let s = spec(RepoKind::Proxy);
        let path = p("/g/a/1.0/a-1.0.jar.sha256");
        assert!(s.rewrites(&path));
        assert!(!s.rewrites(&p("/g/a/1.0/a-1.0.jar.sha1")));
        let hex = Checksums::of(b"jar").sha256;
        let r = s
            .rewrite_fetched(
                &path,
                Fetched {
                    bytes: Bytes::from(format!("{hex}  a-1.0.jar\n")),
                    content_type: None,
                    url: "http://up/g/a/1.0/a-1.0.jar.sha256",
                },
            )
            .unwrap();
        assert_eq!(r.links.len(), 1);
        assert_eq!(r.links[0].path, p("/g/a/1.0/a-1.0.jar"));
        assert_eq!(r.links[0].url, "http://up/g/a/1.0/a-1.0.jar");
        assert_eq!(r.links[0].digest.as_ref().unwrap().hex(), hex);
        let junk = s
            .rewrite_fetched(
                &path,
                Fetched {
                    bytes: Bytes::from_static(b"<html>not found</html>"),
                    content_type: None,
                    url: "http://up/g/a/1.0/a-1.0.jar.sha256",
                },
            )
            .unwrap();
        assert!(junk.links.is_empty(), "no digest learnt from junk");
    }

    #[test]
    fn checksum_variants_hash_the_served_bytes() {
        let s = spec(RepoKind::Group);
        let doc = Generated {
            bytes: Bytes::from_static(b"abc"),
            content_type: "application/xml".into(),
        };
        let r = s
            .render(&p("/g/a/maven-metadata.xml"), "sha1", &doc)
            .unwrap()
            .unwrap();
        assert_eq!(r.bytes, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert!(
            s.render(&p("/g/a/maven-metadata.xml"), "other", &doc)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn groups_merge_metadata_only() {
        let s = spec(RepoKind::Group);
        assert!(s.merges(&p("/g/a/maven-metadata.xml")));
        assert!(!s.merges(&p("/g/a/1.0/a-1.0.jar")));
        let empty = s.merge(&p("/g/a/maven-metadata.xml"), vec![]).unwrap();
        assert!(Metadata::parse(&empty.bytes).is_ok());
        let part = |v: &str| MergePart {
            member: "m".into(),
            kind: RepoKind::Hosted,
            doc: Generated {
                bytes: Bytes::from(format!(
                    "<metadata><versioning><versions><version>{v}</version></versions></versioning></metadata>"
                )),
                content_type: "application/xml".into(),
            },
        };
        let merged = s
            .merge(
                &p("/g/a/maven-metadata.xml"),
                vec![part("1.0"), part("2.0")],
            )
            .unwrap();
        let m = Metadata::parse(&merged.bytes).unwrap();
        assert_eq!(m.versioning.unwrap().release.as_deref(), Some("2.0"));
    }

    #[test]
    fn a_hosted_artifact_hides_what_proxies_say_of_it() {
        let part = |kind: RepoKind, body: &str| MergePart {
            member: "m".into(),
            kind,
            doc: Generated {
                bytes: Bytes::from(body.to_owned()),
                content_type: "application/xml".into(),
            },
        };
        let versions = |v: &str| {
            format!(
                "<metadata><versioning><versions><version>{v}</version></versions></versioning></metadata>"
            )
        };
        let path = p("/com/private/lib/maven-metadata.xml");
        let parts = || {
            vec![
                part(RepoKind::Hosted, &versions("1.0")),
                part(RepoKind::Proxy, &versions("9.9.9")),
            ]
        };
        let s = spec(RepoKind::Group);
        let m = Metadata::parse(&s.merge(&path, parts()).unwrap().bytes).unwrap();
        let v = m.versioning.unwrap();
        assert_eq!(v.versions.unwrap().version, ["1.0"]);
        assert_eq!(v.latest.as_deref(), Some("1.0"));
        let mixing = MavenSpec {
            merge_hosted_with_proxied: true,
            ..s.clone()
        };
        let m = Metadata::parse(&mixing.merge(&path, parts()).unwrap().bytes).unwrap();
        assert_eq!(
            m.versioning.unwrap().versions.unwrap().version,
            ["1.0", "9.9.9"]
        );
        // Without a hosted version, proxies merge; plugin lists always merge.
        let only_proxies = vec![
            part(RepoKind::Proxy, &versions("2.0")),
            part(RepoKind::Proxy, &versions("3.0")),
        ];
        let m = Metadata::parse(&s.merge(&path, only_proxies).unwrap().bytes).unwrap();
        assert_eq!(
            m.versioning.unwrap().versions.unwrap().version,
            ["2.0", "3.0"]
        );
        let plugins = |prefix: &str| {
            format!(
                "<metadata><plugins><plugin><prefix>{prefix}</prefix><artifactId>{prefix}-plugin</artifactId></plugin></plugins></metadata>"
            )
        };
        let merged = s
            .merge(
                &p("/org/example/maven-metadata.xml"),
                vec![
                    part(RepoKind::Hosted, &plugins("ours")),
                    part(RepoKind::Proxy, &plugins("theirs")),
                ],
            )
            .unwrap();
        assert_eq!(
            Metadata::parse(&merged.bytes)
                .unwrap()
                .plugins
                .unwrap()
                .plugin
                .len(),
            2
        );
    }

    #[test]
    fn checksum_files_are_read_leniently() {
        let h = "a9993e364706816aba3e25717850c26c9cd0d89d";
        assert_eq!(checksum_hex(h.as_bytes(), Algo::Sha1).as_deref(), Some(h));
        assert_eq!(
            checksum_hex(
                format!("{}  lib.jar\n", h.to_uppercase()).as_bytes(),
                Algo::Sha1
            )
            .as_deref(),
            Some(h)
        );
        assert!(checksum_hex(h.as_bytes(), Algo::Md5).is_none());
        assert!(checksum_hex(b"zz", Algo::Md5).is_none());
    }
}
