use async_trait::async_trait;
use bytes::Bytes;
use sha2::Digest as _;
use trove_core::{
    AssetClass, AssetIndex, AssetPath, AssetRef, AssetRole, BlobInfo, Digest, Error, FormatId,
    FormatSpec, Generated, MergePart, Page, ProxyConfig, Result, UpstreamHeaders, UpstreamRequest,
    VersionOf,
};

use serde_json::json;

use super::CONTENT_DIGEST;
use super::manifests::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use super::route::{self, Reference, Route};

/// The docker format logic that repository kinds call, for one repository.
#[derive(Debug, Default, Clone)]
pub struct DockerSpec {
    /// Docker Hub naming: single-segment image names mean `library/<name>` upstream.
    pub hub_index: bool,
    /// The repository's `immutable_tags`, compiled: tags matching one are pushed once.
    pub immutable_tags: Vec<(String, regex::Regex)>,
    /// The `delete_untagged_after_days` option.
    pub untagged_after_days: Option<u32>,
}

/// Where manifests of every image are stored: `/v2/<name>/manifests/<reference>`; the image
/// name and the reference (a tag, or a digest, which has a `:`), or `None`.
fn manifest_key(key: &AssetPath) -> Option<(&str, &str)> {
    let rest = key.as_str().strip_prefix("/v2/")?;
    let (name, reference) = rest.rsplit_once("/manifests/")?;
    (!name.is_empty() && !reference.is_empty() && !reference.contains('/'))
        .then_some((name, reference))
}

/// The descriptors a stored manifest or index lists, as references of the same repository:
/// its config and layers (blobs a foreign layer's `urls` serve are not here), the manifests an
/// index lists, and the subject it is a referrer of. What is not a manifest has none.
fn manifest_references(name: &str, body: &[u8]) -> Vec<AssetRef> {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let digest = |d: &serde_json::Value| d["digest"].as_str().and_then(|s| Digest::parse(s).ok());
    let path = |s: String| AssetPath::parse(&s).ok();
    let mut refs = Vec::new();
    let blobs =
        std::iter::once(&doc["config"]).chain(doc["layers"].as_array().into_iter().flatten());
    for d in blobs {
        let foreign = d["urls"].as_array().is_some_and(|u| !u.is_empty());
        if let (false, Some(dg)) = (foreign, digest(d))
            && let Some(p) = path(blob_storage_path(&dg.to_string()))
        {
            refs.push(AssetRef::needs(p));
        }
    }
    for child in doc["manifests"].as_array().into_iter().flatten() {
        if let Some(p) = digest(child).and_then(|d| path(format!("/v2/{name}/manifests/{d}"))) {
            refs.push(AssetRef::needs(p));
        }
    }
    if let Some(p) = digest(&doc["subject"]).and_then(|d| path(format!("/v2/{name}/manifests/{d}")))
    {
        refs.push(AssetRef::attached(p));
    }
    refs
}

pub const ID: FormatId = FormatId::new("docker");

/// Where a blob of any image of a repository is stored: one blob namespace per repository,
/// as in Nexus, so a layer pushed under one image name serves every other (`-` is not a
/// valid image name, so it cannot collide).
pub fn blob_storage_path(digest: &str) -> String {
    format!("/v2/-/blobs/{digest}")
}

#[async_trait]
impl FormatSpec for DockerSpec {
    /// What a group merges: tag lists and the catalog are sorted unions (the order `last`
    /// pagination needs), a referrers index the union of its descriptors by digest. Everything
    /// else is served by the first member that has it.
    /// A registry without the referrers API has no referrers: the spec's answer is an empty
    /// index (a proxy caches it as metadata, so it is asked again after its max age).
    fn absent_upstream(&self, path: &AssetPath) -> Option<Generated> {
        match parse(path)? {
            Route::Referrers { .. } => Some(Generated {
                bytes: Bytes::from(
                    serde_json::to_vec(
                        &json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
                    )
                    .expect("serialises"),
                ),
                content_type: OCI_INDEX.into(),
            }),
            _ => None,
        }
    }

    /// `(image, Some(tag))` for a manifest by tag, `(image, None)` for one by digest; blobs
    /// belong to no image (they are shared) and come with the manifests that name them.
    fn component_of(&self, path: &AssetPath) -> Option<(String, Option<String>)> {
        match parse(path)? {
            Route::Manifest {
                name,
                reference: Reference::Tag(tag),
            } => Some((name, Some(tag))),
            Route::Manifest { name, .. } => Some((name, None)),
            _ => None,
        }
    }

    fn refers(&self, path: &AssetPath) -> bool {
        matches!(parse(path), Some(Route::Manifest { .. }))
    }

    /// A manifest needs its config and layers (an index its child manifests), and a tag the
    /// manifest by digest it names.
    fn references(&self, path: &AssetPath, doc: &[u8]) -> Vec<AssetPath> {
        let Some(Route::Manifest { name, reference }) = parse(path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Reference::Tag(_) = reference {
            let own = format!("sha256:{}", hex::encode(sha2::Sha256::digest(doc)));
            out.push(format!("/v2/{name}/manifests/{own}"));
        }
        for (is_manifest, d) in super::manifests::referenced(doc) {
            out.push(match is_manifest {
                true => format!("/v2/{name}/manifests/{d}"),
                false => blob_storage_path(&d.to_string()),
            });
        }
        out.iter()
            .filter_map(|p| AssetPath::parse(p).ok())
            .collect()
    }

    fn merges(&self, path: &AssetPath) -> bool {
        matches!(
            parse(path),
            Some(Route::Tags { .. } | Route::Catalog | Route::Referrers { .. })
        )
    }

    fn merge(&self, path: &AssetPath, parts: Vec<MergePart>) -> Option<Generated> {
        let doc = match parse(path)? {
            Route::Tags { name } => Merged::Tags(name),
            Route::Catalog => Merged::Catalog,
            Route::Referrers { .. } => Merged::Referrers,
            _ => return None,
        };
        let docs: Vec<Generated> = parts.into_iter().map(|p| p.doc).collect();
        Some(merge_documents(doc, &docs))
    }

    fn id(&self) -> FormatId {
        ID
    }

    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        let tail = path.as_str().strip_prefix("/v2");
        match tail.map(route::parse) {
            Some(Ok(Route::Blob { digest, .. })) => {
                AssetPath::parse(&blob_storage_path(&digest.to_string())).expect("valid path")
            }
            _ => path.clone(),
        }
    }

    /// Blobs and manifests by digest are immutable; a tag, a tag list and a referrers list
    /// change; the catalog of a proxy is what it has cached.
    fn classify(&self, path: &AssetPath) -> AssetClass {
        match parse(path) {
            Some(Route::Blob { digest, .. })
            | Some(Route::Manifest {
                reference: Reference::Digest(digest),
                ..
            }) => AssetClass::Content {
                digest: Some(digest),
            },
            Some(Route::Manifest { .. } | Route::Tags { .. } | Route::Referrers { .. }) => {
                AssetClass::Metadata
            }
            _ => AssetClass::Local,
        }
    }

    /// `<remote>/v2/<name>/...`, where a Docker Hub index maps `<name>` without a `/` to
    /// `library/<name>` (what `docker pull alpine` means); manifests ask for every manifest type
    /// we serve, so the upstream never down-converts to schema 1; the token scope is a pull of
    /// that name.
    fn upstream(&self, proxy: &ProxyConfig, path: &AssetPath) -> Result<UpstreamRequest> {
        let route = parse(path).ok_or_else(|| {
            Error::invalid(format!("{path} is not fetched from an upstream registry"))
        })?;
        let Some(name) = route.name() else {
            return Err(Error::invalid(format!(
                "{path} is not fetched from an upstream"
            )));
        };
        let upstream_name = if self.hub_index && !name.contains('/') {
            format!("library/{name}")
        } else {
            name.to_owned()
        };
        let rest = &path.as_str()["/v2/".len() + name.len()..];
        let accept = matches!(route, Route::Manifest { .. })
            .then(|| [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(", "));
        Ok(UpstreamRequest {
            url: format!(
                "{}/v2/{upstream_name}{rest}",
                proxy.remote.trim_end_matches('/')
            ),
            accept,
            scope: Some(format!("repository:{upstream_name}:pull")),
            ..Default::default()
        })
    }

    fn announced_digest(&self, headers: &UpstreamHeaders) -> Option<Digest> {
        Digest::parse(headers.get(CONTENT_DIGEST)?.trim()).ok()
    }

    fn content_alias(&self, path: &AssetPath, blob: &BlobInfo) -> Option<AssetPath> {
        match parse(path)? {
            Route::Manifest {
                name,
                reference: Reference::Tag(_),
            } => AssetPath::parse(&format!("/v2/{name}/manifests/{}", blob.digest)).ok(),
            _ => None,
        }
    }

    /// Blobs are parts (kept while a manifest needs them), manifests by digest documents
    /// (kept while a tag, an index or a kept subject references them), tags roots.
    fn role(&self, key: &AssetPath) -> AssetRole {
        if key.as_str().starts_with("/v2/-/blobs/") {
            return AssetRole::Part;
        }
        match manifest_key(key) {
            Some((_, reference)) if reference.contains(':') => AssetRole::Document,
            _ => AssetRole::Root,
        }
    }

    /// A tag needs the manifest it names; a manifest its config, layers and child manifests,
    /// and a referrer is attached to its subject.
    fn gc_references(
        &self,
        key: &AssetPath,
        blob: &BlobInfo,
        body: Option<&[u8]>,
    ) -> Result<Vec<AssetRef>> {
        let Some((name, reference)) = manifest_key(key) else {
            return Ok(Vec::new());
        };
        if !reference.contains(':') {
            let by_digest = AssetPath::parse(&format!("/v2/{name}/manifests/{}", blob.digest))?;
            return Ok(vec![AssetRef::needs(by_digest)]);
        }
        Ok(body
            .map(|b| manifest_references(name, b))
            .unwrap_or_default())
    }

    /// A tag is a version of its image (cleanup policies keep or delete tags per image).
    fn version(&self, key: &AssetPath) -> Option<VersionOf> {
        match manifest_key(key) {
            Some((name, tag)) if !tag.contains(':') => Some(VersionOf {
                component: name.to_owned(),
                version: tag.to_owned(),
            }),
            _ => None,
        }
    }

    fn immutable(&self, key: &AssetPath) -> Option<String> {
        let (_, tag) = manifest_key(key)?;
        if tag.contains(':') {
            return None;
        }
        self.immutable_tags
            .iter()
            .find(|(_, re)| re.is_match(tag))
            .map(|(src, _)| src.clone())
    }

    /// Only blobs: a proxy fetches a layer again on demand, and keeps every manifest and tag
    /// (the metadata a cached image needs; a few KiB each).
    fn evictable(&self, key: &AssetPath) -> bool {
        key.as_str().starts_with("/v2/-/blobs/")
    }

    fn untagged_after_days(&self) -> Option<u32> {
        self.untagged_after_days
    }

    fn generates(&self, path: &AssetPath) -> bool {
        matches!(
            parse(path),
            Some(Route::Tags { .. } | Route::Referrers { .. } | Route::Catalog)
        )
    }

    /// Documents computed from the manifest rows: `tags/list`, `referrers/<digest>` and
    /// `_catalog`. Pagination and filters are applied by the handlers.
    async fn generate(
        &self,
        path: &AssetPath,
        index: &dyn AssetIndex,
    ) -> Result<Option<Generated>> {
        let Some(tail) = path.as_str().strip_prefix("/v2") else {
            return Ok(None);
        };
        let doc = match route::parse(tail) {
            Ok(Route::Tags { name }) => tags(&name, index).await?,
            Ok(Route::Referrers { name, digest }) => {
                Some(referrers(&name, &digest.to_string(), index).await?)
            }
            Ok(Route::Catalog) => Some(catalog(index).await?),
            _ => None,
        };
        Ok(doc.map(|(doc, content_type)| Generated {
            bytes: Bytes::from(doc),
            content_type: content_type.into(),
        }))
    }
}

fn parse(path: &AssetPath) -> Option<Route> {
    route::parse(path.as_str().strip_prefix("/v2")?).ok()
}

pub use crate::kit::response::upstream_headers;

/// A generated document's bytes and content type.
type Doc = (Vec<u8>, &'static str);

fn to_doc(doc: &impl serde::Serialize, content_type: &'static str) -> Doc {
    (serde_json::to_vec(doc).expect("serialises"), content_type)
}

/// Every tag of the image, sorted; `None` when the image has no manifest at all.
async fn tags(name: &str, index: &dyn AssetIndex) -> Result<Option<Doc>> {
    let prefix = format!("/v2/{name}/manifests/");
    let paths = index.list_paths(&prefix).await?;
    if paths.is_empty() {
        return Ok(None);
    }
    let tags: Vec<&str> = paths
        .iter()
        .filter_map(|p| p.strip_prefix(&prefix))
        .filter(|r| !r.contains('/') && !r.contains(':'))
        .collect();
    #[derive(serde::Serialize)]
    struct TagList<'a> {
        name: &'a str,
        tags: Vec<&'a str>,
    }
    Ok(Some(to_doc(&TagList { name, tags }, "application/json")))
}

/// An OCI index of the manifests of `name` whose `subject` is `digest` (recorded at push), as
/// the referrers API asks; empty, not 404, when there are none.
async fn referrers(name: &str, digest: &str, index: &dyn AssetIndex) -> Result<Doc> {
    let prefix = format!("/v2/{name}/manifests/");
    let rows = index.list(&prefix, &Page::default()).await?;
    let manifests: Vec<serde_json::Value> = rows
        .iter()
        .filter(|m| m.path.as_str()[prefix.len()..].contains(':'))
        .filter(|m| m.attrs.get("subject").and_then(|s| s.as_str()) == Some(digest))
        .map(|m| {
            let mut d = json!({
                "mediaType": m.content_type,
                "digest": m.blob.digest.to_string(),
                "size": m.blob.size,
            });
            for key in ["artifactType", "annotations"] {
                if let Some(v) = m.attrs.get(key) {
                    d[key] = v.clone();
                }
            }
            d
        })
        .collect();
    let doc = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    Ok(to_doc(&doc, OCI_INDEX))
}

/// The image names of the repository that have at least one manifest, sorted.
async fn catalog(index: &dyn AssetIndex) -> Result<Doc> {
    // From "/v2/." on: blob rows ("/v2/-/blobs/...") sort before every image name ('-' < '.'
    // < '0' < 'a'), so a catalog never walks the blobs.
    let paths = index.list_paths_from("/v2/", "/v2/.").await?;
    let mut names: Vec<&str> = paths
        .iter()
        .filter_map(|p| p.strip_prefix("/v2/")?.rsplit_once("/manifests/"))
        .map(|(name, _)| name)
        .collect();
    names.sort_unstable();
    names.dedup();
    #[derive(serde::Serialize)]
    struct Catalog<'a> {
        repositories: Vec<&'a str>,
    }
    Ok(to_doc(
        &Catalog {
            repositories: names,
        },
        "application/json",
    ))
}

enum Merged {
    Tags(String),
    Catalog,
    Referrers,
}

/// Merges members' documents; a part that is not JSON is skipped. No parts give the empty
/// document (the contract `FormatSpec::merge` has with groups).
fn merge_documents(doc: Merged, parts: &[Generated]) -> Generated {
    let docs: Vec<serde_json::Value> = parts
        .iter()
        .filter_map(|p| serde_json::from_slice(&p.bytes).ok())
        .collect();
    let union = |key: &str| -> Vec<String> {
        let mut all: Vec<String> = docs
            .iter()
            .filter_map(|d| d[key].as_array())
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let (doc, content_type) = match doc {
        Merged::Tags(name) => (
            json!({ "name": name, "tags": union("tags") }),
            "application/json",
        ),
        Merged::Catalog => (
            json!({ "repositories": union("repositories") }),
            "application/json",
        ),
        Merged::Referrers => {
            let mut seen = std::collections::HashSet::new();
            let manifests: Vec<&serde_json::Value> = docs
                .iter()
                .filter_map(|d| d["manifests"].as_array())
                .flatten()
                .filter(|m| {
                    m["digest"]
                        .as_str()
                        .is_some_and(|d| seen.insert(d.to_owned()))
                })
                .collect();
            (
                json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests }),
                OCI_INDEX,
            )
        }
    };
    Generated {
        bytes: Bytes::from(serde_json::to_vec(&doc).expect("serialises")),
        content_type: content_type.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_core::{ATTR_UPSTREAM_STALE, AssetMeta};

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn p(s: &str) -> AssetPath {
        AssetPath::parse(s).unwrap()
    }

    #[test]
    fn classify_for_proxies() {
        let f = DockerSpec::default();
        let digest = Some(Digest::parse(D).unwrap());
        assert_eq!(
            f.classify(&p(&format!("/v2/a/b/blobs/{D}"))),
            AssetClass::Content {
                digest: digest.clone()
            }
        );
        assert_eq!(
            f.classify(&p(&format!("/v2/a/manifests/{D}"))),
            AssetClass::Content { digest }
        );
        assert_eq!(
            f.classify(&p("/v2/a/manifests/latest")),
            AssetClass::Metadata
        );
        assert_eq!(f.classify(&p("/v2/a/tags/list")), AssetClass::Metadata);
        assert_eq!(
            f.classify(&p(&format!("/v2/a/referrers/{D}"))),
            AssetClass::Metadata
        );
        assert_eq!(f.classify(&p("/v2/_catalog")), AssetClass::Local);
    }

    #[test]
    fn upstream_requests() {
        let mut f = DockerSpec::default();
        let cfg = ProxyConfig::new("https://registry-1.docker.io/");
        let r = f.upstream(&cfg, &p("/v2/alpine/manifests/3")).unwrap();
        assert_eq!(r.url, "https://registry-1.docker.io/v2/alpine/manifests/3");
        assert!(r.accept.as_deref().unwrap().contains(DOCKER_LIST));
        assert!(r.accept.as_deref().unwrap().contains(OCI_INDEX));
        assert_eq!(r.scope.as_deref(), Some("repository:alpine:pull"));

        f.hub_index = true;
        let r = f
            .upstream(&cfg, &p(&format!("/v2/alpine/blobs/{D}")))
            .unwrap();
        assert_eq!(
            r.url,
            format!("https://registry-1.docker.io/v2/library/alpine/blobs/{D}")
        );
        assert_eq!(r.accept, None);
        assert_eq!(r.scope.as_deref(), Some("repository:library/alpine:pull"));
        let r = f.upstream(&cfg, &p("/v2/org/app/tags/list")).unwrap();
        assert_eq!(r.url, "https://registry-1.docker.io/v2/org/app/tags/list");
        // Names that contain route words keep them.
        let r = f
            .upstream(&cfg, &p("/v2/a/manifests/b/manifests/latest"))
            .unwrap();
        assert_eq!(
            r.url,
            "https://registry-1.docker.io/v2/a/manifests/b/manifests/latest"
        );
        assert!(f.upstream(&cfg, &p("/v2/_catalog")).is_err());
    }

    #[test]
    fn upstream_checks_and_aliases() {
        let f = DockerSpec::default();
        let d = Digest::parse(D).unwrap();
        let blob = BlobInfo {
            digest: d.clone(),
            size: 0,
        };
        let mut h = UpstreamHeaders::new();
        assert_eq!(f.announced_digest(&h), None);
        h.push("Docker-Content-Digest", D);
        assert_eq!(f.announced_digest(&h), Some(d.clone()));
        let path = p("/v2/a/manifests/1");
        assert!(f.check_upstream(&path, &h, &blob).is_ok());
        let other = BlobInfo {
            digest: Digest::parse(&format!("sha256:{}", "0".repeat(64))).unwrap(),
            size: 0,
        };
        let e = f.check_upstream(&path, &h, &other).unwrap_err();
        assert_eq!(e.kind, trove_core::ErrorKind::Upstream);
        assert_eq!(
            f.content_alias(&path, &blob),
            Some(p(&format!("/v2/a/manifests/{D}")))
        );
        assert_eq!(
            f.content_alias(&p(&format!("/v2/a/manifests/{D}")), &blob),
            None
        );
    }

    #[test]
    fn stale_headers() {
        let mut meta = AssetMeta {
            path: p("/v2/a/manifests/1"),
            blob: BlobInfo {
                digest: Digest::parse(D).unwrap(),
                size: 0,
            },
            content_type: None,
            created: 0,
            last_downloaded: None,
            attrs: json!({}),
        };
        assert!(upstream_headers(&meta).is_empty());
        meta.attrs[ATTR_UPSTREAM_STALE] = json!("upstream \"x\" is unreachable\n");
        let h = upstream_headers(&meta);
        assert_eq!(h[0].0, "Warning");
        assert_eq!(
            h[0].1,
            "110 trove \"Response is stale: upstream x is unreachable?\""
        );
        assert_eq!(
            h[1],
            (
                "X-Trove-Upstream",
                "stale; upstream x is unreachable?".into()
            )
        );
    }

    fn doc(v: serde_json::Value) -> Generated {
        Generated {
            bytes: Bytes::from(serde_json::to_vec(&v).unwrap()),
            content_type: "application/json".into(),
        }
    }

    fn merged(path: &str, parts: Vec<Generated>) -> (serde_json::Value, String) {
        let parts = parts
            .into_iter()
            .map(|doc| MergePart {
                member: "m".into(),
                kind: trove_core::RepoKind::Hosted,
                doc,
            })
            .collect();
        let g = DockerSpec::default()
            .merge(&AssetPath::parse(path).unwrap(), parts)
            .expect("merged");
        (serde_json::from_slice(&g.bytes).unwrap(), g.content_type)
    }

    /// What a group serves for tags/list: a sorted union; non-JSON parts are skipped; no parts
    /// give the empty document (the merge contract).
    #[test]
    fn merge_tag_lists() {
        let parts = vec![
            doc(json!({"name": "app", "tags": ["latest", "1.0", "2.0"]})),
            doc(json!({"name": "library/app", "tags": ["1.0", "1.1"]})),
            Generated {
                bytes: Bytes::from_static(b"<html>upstream error</html>"),
                content_type: "text/html".into(),
            },
            doc(json!({"name": "app", "tags": null})),
        ];
        let (doc_, ctype) = merged("/v2/app/tags/list", parts);
        assert_eq!(ctype, "application/json");
        assert_eq!(
            doc_,
            json!({"name": "app", "tags": ["1.0", "1.1", "2.0", "latest"]})
        );
        assert_eq!(
            merged("/v2/app/tags/list", vec![]).0,
            json!({"name": "app", "tags": []})
        );
    }

    #[test]
    fn merge_catalogs_and_referrers_and_nothing_else() {
        let parts = vec![
            doc(json!({"repositories": ["mysql", "library/nginx"]})),
            doc(json!({"repositories": ["helloz/onenav", "mysql"]})),
        ];
        let (c, _) = merged("/v2/_catalog", parts);
        assert_eq!(
            c,
            json!({"repositories": ["helloz/onenav", "library/nginx", "mysql"]})
        );

        let sig = json!({"mediaType": OCI_MANIFEST_T, "digest": "sha256:aaaa", "size": 10, "artifactType": "application/sig"});
        let again = json!({"mediaType": OCI_MANIFEST_T, "digest": "sha256:aaaa", "size": 10, "artifactType": "other"});
        let sbom = json!({"mediaType": OCI_MANIFEST_T, "digest": "sha256:bbbb", "size": 20, "artifactType": "application/sbom"});
        let index = |m: Vec<serde_json::Value>| {
            doc(json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": m}))
        };
        let d = format!("sha256:{}", "c".repeat(64));
        let (r, ctype) = merged(
            &format!("/v2/app/referrers/{d}"),
            vec![index(vec![sig.clone()]), index(vec![again, sbom.clone()])],
        );
        assert_eq!(ctype, OCI_INDEX);
        assert_eq!(
            r,
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [sig, sbom]}),
            "first member wins per digest"
        );
        // Manifests and blobs are not merged: the first member that has them serves them.
        let path = AssetPath::parse("/v2/app/manifests/1").unwrap();
        let part = MergePart {
            member: "m".into(),
            kind: trove_core::RepoKind::Hosted,
            doc: doc(json!({})),
        };
        assert!(DockerSpec::default().merge(&path, vec![part]).is_none());
        // `merges` agrees with `merge`.
        for path in [
            "/v2/app/tags/list".to_owned(),
            "/v2/_catalog".to_owned(),
            format!("/v2/app/referrers/{d}"),
            "/v2/app/manifests/1".to_owned(),
            format!("/v2/app/blobs/{d}"),
        ] {
            let path = AssetPath::parse(&path).unwrap();
            let spec = DockerSpec::default();
            assert_eq!(
                spec.merges(&path),
                spec.merge(&path, vec![]).is_some(),
                "{path}"
            );
        }
    }

    const OCI_MANIFEST_T: &str = "application/vnd.oci.image.manifest.v1+json";

    /// What garbage collection and cleanup policies learn of docker paths: roles, references
    /// (foreign layers left out, a subject attached), versions, immutable tags, eviction.
    #[test]
    fn lifecycle_of_docker_paths() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let spec = DockerSpec {
            immutable_tags: crate::patterns::compile_all(&[r"^v?\d+\.\d+\.\d+$".into()]).unwrap(),
            ..Default::default()
        };
        let blob = BlobInfo {
            digest: Digest::parse(&d('a')).unwrap(),
            size: 1,
        };
        assert_eq!(
            spec.role(&p(&format!("/v2/-/blobs/{}", d('b')))),
            AssetRole::Part
        );
        assert_eq!(
            spec.role(&p(&format!("/v2/org/app/manifests/{}", d('a')))),
            AssetRole::Document
        );
        assert_eq!(spec.role(&p("/v2/org/app/manifests/1.0")), AssetRole::Root);
        assert_eq!(
            spec.gc_references(&p("/v2/org/app/manifests/1.0"), &blob, None)
                .unwrap(),
            vec![AssetRef::needs(p(&format!(
                "/v2/org/app/manifests/{}",
                d('a')
            )))]
        );
        let manifest = json!({
            "schemaVersion": 2,
            "config": {"mediaType": "c", "digest": d('c'), "size": 1},
            "layers": [
                {"mediaType": "l", "digest": d('1'), "size": 1},
                {"mediaType": "l", "digest": d('2'), "size": 1, "urls": ["https://foreign"]}
            ],
            "subject": {"mediaType": "m", "digest": d('5'), "size": 1}
        });
        let key = p(&format!("/v2/org/app/manifests/{}", d('a')));
        let body = serde_json::to_vec(&manifest).unwrap();
        assert_eq!(
            spec.gc_references(&key, &blob, Some(&body)).unwrap(),
            vec![
                AssetRef::needs(p(&format!("/v2/-/blobs/{}", d('c')))),
                AssetRef::needs(p(&format!("/v2/-/blobs/{}", d('1')))),
                AssetRef::attached(p(&format!("/v2/org/app/manifests/{}", d('5')))),
            ]
        );
        let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "m", "digest": d('7'), "size": 1}]});
        assert_eq!(
            spec.gc_references(&key, &blob, Some(&serde_json::to_vec(&index).unwrap()))
                .unwrap(),
            vec![AssetRef::needs(p(&format!(
                "/v2/org/app/manifests/{}",
                d('7')
            )))]
        );
        assert!(
            spec.gc_references(&key, &blob, Some(b"not json"))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            spec.version(&p("/v2/org/app/manifests/1.0")),
            Some(VersionOf {
                component: "org/app".into(),
                version: "1.0".into()
            })
        );
        assert_eq!(spec.version(&key), None, "a digest is not a version");
        assert_eq!(
            spec.immutable(&p("/v2/app/manifests/v1.2.3")).as_deref(),
            Some(r"^v?\d+\.\d+\.\d+$")
        );
        assert_eq!(spec.immutable(&p("/v2/app/manifests/latest")), None);
        assert_eq!(spec.immutable(&key), None);
        assert!(spec.evictable(&p(&format!("/v2/-/blobs/{}", d('b')))));
        assert!(!spec.evictable(&key) && !spec.evictable(&p("/v2/app/manifests/latest")));
    }
}
