//! The docker `FormatSpec::merge` proposed for `trove-formats/src/docker/spec.rs`, kept here
//! (this crate must not depend on trove-formats) so that it is tested, with a group over
//! members that serve docker documents. In spec.rs the method reads:
//!
//! ```ignore
//! /// What a group merges: tag lists and the catalog are sorted unions (the order `last`
//! /// pagination needs), a referrers index the union of its descriptors by digest. Everything
//! /// else is served by the first member that has it.
//! fn merge(&self, path: &AssetPath, parts: Vec<Generated>) -> Option<Generated> {
//!     let doc = match parse(path)? {
//!         Route::Tags { name } => Merged::Tags(name),
//!         Route::Catalog => Merged::Catalog,
//!         Route::Referrers { .. } => Merged::Referrers,
//!         _ => return None,
//!     };
//!     Some(merge_documents(doc, &parts))
//! }
//! ```
//!
//! with `Merged` and `merge_documents` below next to it (and `OCI_INDEX` from `manifests`).

use std::collections::HashSet;

use serde_json::{Value, json};

use super::*;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A document a docker group merges.
pub enum Merged {
    /// `/v2/<name>/tags/list`
    Tags(String),
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/referrers/<digest>`
    Referrers,
}

/// Merges members' documents; a part that is not JSON is skipped (a broken upstream document
/// must not hide the others). No parts give the empty document.
pub fn merge_documents(doc: Merged, parts: &[Generated]) -> Generated {
    let docs: Vec<Value> = parts
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
            let mut seen = HashSet::new();
            let manifests: Vec<&Value> = docs
                .iter()
                .filter_map(|d| d["manifests"].as_array())
                .flatten()
                .filter(|m| {
                    m["digest"]
                        .as_str()
                        .is_some_and(|d| seen.insert(d.to_owned()))
                })
                .collect();
            let doc = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
            (doc, OCI_INDEX)
        }
    };
    Generated {
        bytes: Bytes::from(serde_json::to_vec(&doc).expect("serialises")),
        content_type: content_type.into(),
    }
}

/// Stands in for `DockerFormat` with a minimal route split for the three merged documents.
struct Dockerish;

#[async_trait]
impl FormatSpec for Dockerish {
    fn id(&self) -> FormatId {
        FormatId("docker")
    }
    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        path.clone()
    }
    async fn generate(&self, _: &AssetPath, _: &dyn AssetIndex) -> Result<Option<Generated>> {
        Ok(None)
    }
    fn merge(&self, path: &AssetPath, parts: Vec<Generated>) -> Option<Generated> {
        let tail = path.as_str().strip_prefix("/v2/")?;
        let doc = if tail == "_catalog" {
            Merged::Catalog
        } else if let Some(name) = tail.strip_suffix("/tags/list") {
            Merged::Tags(name.to_owned())
        } else if tail.rsplit_once("/referrers/").is_some() {
            Merged::Referrers
        } else {
            return None;
        };
        Some(merge_documents(doc, &parts))
    }
}

fn doc(v: Value) -> Generated {
    Generated {
        bytes: Bytes::from(serde_json::to_vec(&v).unwrap()),
        content_type: "application/json".into(),
    }
}

fn parse(g: &Generated) -> Value {
    serde_json::from_slice(&g.bytes).unwrap()
}

#[test]
fn tag_lists_are_sorted_unions() {
    let parts = vec![
        doc(json!({"name": "app", "tags": ["latest", "1.0", "2.0"]})),
        doc(json!({"name": "library/app", "tags": ["1.0", "1.1"]})),
        Generated {
            bytes: Bytes::from_static(b"<html>upstream error</html>"),
            content_type: "text/html".into(),
        },
        doc(json!({"name": "app", "tags": null})),
    ];
    let merged = merge_documents(Merged::Tags("app".into()), &parts);
    assert_eq!(merged.content_type, "application/json");
    assert_eq!(
        parse(&merged),
        json!({"name": "app", "tags": ["1.0", "1.1", "2.0", "latest"]})
    );
    let empty = merge_documents(Merged::Tags("app".into()), &[]);
    assert_eq!(parse(&empty), json!({"name": "app", "tags": []}));
}

#[test]
fn catalogs_are_sorted_unions() {
    let parts = vec![
        doc(json!({"repositories": ["mysql", "library/nginx"]})),
        doc(json!({"repositories": ["helloz/onenav", "mysql"]})),
    ];
    let merged = merge_documents(Merged::Catalog, &parts);
    assert_eq!(
        parse(&merged),
        json!({"repositories": ["helloz/onenav", "library/nginx", "mysql"]})
    );
    assert_eq!(
        parse(&merge_documents(Merged::Catalog, &[])),
        json!({"repositories": []})
    );
}

#[test]
fn referrers_are_unions_by_digest_first_member_first() {
    let sig = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:aaaa", "size": 10, "artifactType": "application/sig"});
    let sig_again = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:aaaa", "size": 10, "artifactType": "other"});
    let sbom = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:bbbb", "size": 20, "artifactType": "application/sbom"});
    let index =
        |m: Vec<Value>| doc(json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": m}));
    let merged = merge_documents(
        Merged::Referrers,
        &[
            index(vec![sig.clone()]),
            index(vec![sig_again, sbom.clone()]),
        ],
    );
    assert_eq!(merged.content_type, OCI_INDEX);
    assert_eq!(
        parse(&merged),
        json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [sig, sbom]})
    );
    assert_eq!(
        parse(&merge_documents(Merged::Referrers, &[]))["manifests"],
        json!([])
    );
}

/// The whole path: a group over members serving docker documents merges exactly the three
/// generated documents and serves everything else from the first member that has it.
#[tokio::test]
async fn a_docker_group_merges_tag_lists_catalogs_and_referrers() {
    let f = fixture().await;
    let hosted = Fake::serving(
        f.a.config(),
        "docker-hosted",
        vec![
            (
                "/v2/app/tags/list",
                "application/json",
                br#"{"name":"app","tags":["dev","1.0"]}"#,
            ),
            (
                "/v2/_catalog",
                "application/json",
                br#"{"repositories":["app"]}"#,
            ),
            (
                "/v2/app/manifests/1.0",
                "application/vnd.oci.image.manifest.v1+json",
                b"hosted manifest",
            ),
            (
                "/v2/app/referrers/sha256:cccc",
                OCI_INDEX,
                br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:aaaa","size":1}]}"#,
            ),
        ],
    );
    let hub = Fake::serving(
        f.a.config(),
        "docker-hub",
        vec![
            (
                "/v2/app/tags/list",
                "application/json",
                br#"{"name":"app","tags":["1.0","2.0"]}"#,
            ),
            (
                "/v2/_catalog",
                "application/json",
                br#"{"repositories":["app","library/mysql"]}"#,
            ),
            (
                "/v2/app/manifests/1.0",
                "application/vnd.oci.image.manifest.v1+json",
                b"hub manifest",
            ),
            (
                "/v2/app/referrers/sha256:cccc",
                OCI_INDEX,
                br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:bbbb","size":2}]}"#,
            ),
            (
                "/v2/only/tags/list",
                "application/json",
                br#"{"name":"only","tags":["x"]}"#,
            ),
        ],
    );
    let g = GroupRepository::new(
        config_named(f.a.config(), "docker-group"),
        vec![hosted, hub],
        None,
        Arc::new(Dockerish),
    );
    let json_of = |s: Option<String>| -> Value { serde_json::from_str(&s.unwrap()).unwrap() };
    assert_eq!(
        json_of(text(&g, "/v2/app/tags/list").await),
        json!({"name": "app", "tags": ["1.0", "2.0", "dev"]})
    );
    assert_eq!(
        json_of(text(&g, "/v2/_catalog").await),
        json!({"repositories": ["app", "library/mysql"]})
    );
    assert_eq!(
        json_of(text(&g, "/v2/only/tags/list").await),
        json!({"name": "only", "tags": ["x"]})
    );
    assert_eq!(
        json_of(text(&g, "/v2/app/referrers/sha256:cccc").await)["manifests"],
        json!([{"digest": "sha256:aaaa", "size": 1}, {"digest": "sha256:bbbb", "size": 2}])
    );
    // An image no member knows: a 404 (NAME_UNKNOWN), not an empty list.
    assert_eq!(text(&g, "/v2/nobody/tags/list").await, None);
    assert_eq!(
        text(&g, "/v2/app/manifests/1.0").await.as_deref(),
        Some("hosted manifest")
    );
}
