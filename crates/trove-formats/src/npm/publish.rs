//! Writes: `npm publish` (a PUT of the package document with base64 `_attachments`), the
//! updates npm makes with `PUT /<name>/-rev/<rev>` (deprecate, unpublish of a version),
//! unpublish of a package or a tarball, and dist-tags. A package's writes are serialised on
//! this node, and an update naming an old revision is refused, so none is lost.
//!
//! Write order, so a crash leaves nothing half-visible: the tarball's blob, its row, the
//! version's manifest (which makes the version visible), then the package document.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha1::Digest as _;
use trove_auth::Action;
use trove_core::{AssetMeta, Digest, NewAsset, Page, now_millis};

use super::names::{PackageName, Stored, stored};
use super::packument::{self, RESERVED};
use super::{Answer, Call, NpmError, asset_path, not_found, ok_json, packument_value};
use crate::kit::{locks, upload};

/// The largest publish document taken (the tarball travels base64 inside it).
pub const MAX_PUBLISH: usize = 128 << 20;
/// The largest dist-tag body (a JSON string).
const MAX_TAG_BODY: usize = 4096;

fn bad(msg: impl Into<String>) -> NpmError {
    NpmError::new(StatusCode::BAD_REQUEST, msg)
}

/// One writer per package on this node.
async fn lock(name: &PackageName) -> tokio::sync::OwnedMutexGuard<()> {
    locks::lock(&format!("npm:{name}")).await
}

pub(super) async fn read_body(call: &mut Call, limit: usize) -> Result<Bytes, NpmError> {
    Ok(call.read_body(limit).await?)
}

/// The versions stored for `name`, with their manifest rows.
async fn versions(
    call: &Call,
    name: &PackageName,
) -> Result<BTreeMap<String, AssetMeta>, NpmError> {
    let rows = call
        .repo()
        .list(
            &call.ctx,
            &format!("{}meta/", name.prefix()),
            &Page::default(),
        )
        .await
        .map_err(NpmError::from_core)?;
    Ok(rows
        .into_iter()
        .filter_map(|m| match stored(m.path.as_str()) {
            Some(Stored::Manifest(_, v)) => Some((v, m)),
            _ => None,
        })
        .collect())
}

/// A stored JSON document of the package.
async fn read_json(call: &Call, path: &str) -> Result<Option<Value>, NpmError> {
    let p = asset_path(path)?;
    let Some(asset) = call
        .repo()
        .get(&call.ctx, &p, None)
        .await
        .map_err(NpmError::from_core)?
    else {
        return Ok(None);
    };
    let bytes = trove_core::documents::collect(asset.body, asset.meta.blob.size)
        .await
        .map_err(NpmError::from_core)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| NpmError::from_core(trove_core::Error::internal(format!("{path}: {e}"))))
}

async fn write_json(call: &Call, path: &str, v: &Value, attrs: Value) -> Result<(), NpmError> {
    let bytes = Bytes::from(serde_json::to_vec(v).expect("JSON values serialise"));
    let blob = upload::store_bytes(call.front().blobs.as_ref(), bytes, None)
        .await
        .map_err(NpmError::from_core)?;
    let asset = NewAsset {
        blob,
        content_type: Some(packument::FULL_TYPE.into()),
        attrs,
    };
    call.repo()
        .put(&call.ctx, &asset_path(path)?, asset)
        .await
        .map_err(NpmError::from_core)?;
    Ok(())
}

async fn delete_row(call: &Call, path: &str) -> Result<bool, NpmError> {
    call.repo()
        .delete(&call.ctx, &asset_path(path)?)
        .await
        .map_err(NpmError::from_core)
}

/// The stored package document's parts: dist-tags, created, fields.
struct PackageDoc {
    tags: Map<String, Value>,
    created: i64,
    fields: Map<String, Value>,
}

impl PackageDoc {
    fn of(v: Option<Value>) -> PackageDoc {
        let get = |k: &str| v.as_ref().and_then(|v| v.get(k));
        PackageDoc {
            tags: get("dist-tags")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            created: get("created")
                .and_then(Value::as_i64)
                .unwrap_or_else(now_millis),
            fields: get("fields")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        }
    }

    async fn save(&self, call: &Call, name: &PackageName) -> Result<(), NpmError> {
        let v = packument::package_doc(&self.tags, self.created, now_millis(), &self.fields);
        write_json(call, &name.package_doc(), &v, json!({})).await
    }
}

/// Refuses an update that names a revision other than the current one.
async fn check_rev(call: &Call, name: &PackageName, rev: &str) -> Result<(), NpmError> {
    let Some((current, _)) = packument_value(call, name).await? else {
        return Err(not_found(format!("package {name}")));
    };
    if current != rev {
        return Err(NpmError::new(
            StatusCode::CONFLICT,
            format!(
                "package {name} changed since revision {rev} was read (now {current}); read it again and retry"
            ),
        ));
    }
    Ok(())
}

/// `PUT /<name>` (publish, or an update without tarballs) and `PUT /<name>/-rev/<rev>`.
pub async fn put_package(call: &mut Call, name: &PackageName, rev: Option<&str>) -> Answer {
    let repo = call.repo().clone();
    repo.check_writable().map_err(NpmError::from_core)?;
    repo.check_path(&asset_path(&name.packument())?)
        .map_err(NpmError::from_core)?;
    let bytes = read_body(call, MAX_PUBLISH).await?;
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("the document is not JSON: {e}")))?;
    drop(bytes);
    let Some(obj) = body.as_object() else {
        return Err(bad("the document is not a JSON object"));
    };
    for k in ["name", "_id"] {
        if let Some(n) = obj.get(k).and_then(Value::as_str)
            && n != name.as_str()
        {
            return Err(bad(format!(
                "the document's {k} {n:?} is not {:?}",
                name.as_str()
            )));
        }
    }
    let _writer = lock(name).await;
    if let Some(rev) = rev {
        check_rev(call, name, rev).await?;
    }
    let attachments = obj
        .get("_attachments")
        .and_then(Value::as_object)
        .filter(|a| !a.is_empty());
    match attachments {
        Some(a) => publish(call, name, obj, a).await,
        None => {
            if rev.is_none() {
                // A plain PUT without tarballs changes existing versions.
                call.allow(Action::Edit, Some(&name.packument()))?;
            }
            update(call, name, obj).await
        }
    }
}

/// A tarball attached for `version`, decoded and checked against the manifest's `dist`.
struct Tarball {
    bytes: Bytes,
    sha512: Digest,
    sha1: String,
}

fn attached(
    name: &PackageName,
    version: &str,
    manifest: &Map<String, Value>,
    attachments: &Map<String, Value>,
) -> Result<Tarball, NpmError> {
    let keys = [format!("{name}-{version}.tgz"), name.tarball_file(version)];
    let a = keys
        .iter()
        .find_map(|k| attachments.get(k))
        .ok_or_else(|| bad(format!("no tarball is attached for version {version}")))?;
    let data = a
        .get("data")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("the tarball of {version} has no data")))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| bad(format!("the tarball of {version} is not base64: {e}")))?;
    if let Some(len) = a.get("length").and_then(Value::as_u64)
        && len != raw.len() as u64
    {
        return Err(bad(format!(
            "the tarball of {version} has {} bytes, its length says {len}",
            raw.len()
        )));
    }
    let sha512 = Digest::of(trove_core::Algorithm::Sha512, &raw);
    let sha1 = hex::encode(sha1::Sha1::digest(&raw));
    let dist = manifest.get("dist").and_then(Value::as_object);
    if let Some(integrity) = dist
        .and_then(|d| d.get("integrity"))
        .and_then(Value::as_str)
        && integrity.contains("sha512-")
        && packument::sri_sha512(integrity).as_ref() != Some(&sha512)
    {
        return Err(bad(format!(
            "the tarball of {version} does not match its dist.integrity"
        )));
    }
    if let Some(shasum) = dist.and_then(|d| d.get("shasum")).and_then(Value::as_str)
        && !shasum.eq_ignore_ascii_case(&sha1)
    {
        return Err(bad(format!(
            "the tarball of {version} does not match its dist.shasum"
        )));
    }
    Ok(Tarball {
        bytes: Bytes::from(raw),
        sha512,
        sha1,
    })
}

/// For the fuzz target: `attached` with its error as text, and the tarball as bytes, its
/// SHA-512 digest and its hex SHA-1.
#[doc(hidden)]
pub fn fuzz_attached(
    name: &PackageName,
    version: &str,
    manifest: &Map<String, Value>,
    attachments: &Map<String, Value>,
) -> Result<(Bytes, Digest, String), String> {
    attached(name, version, manifest, attachments)
        .map(|t| (t.bytes, t.sha512, t.sha1))
        .map_err(|e| e.message)
}

async fn publish(
    call: &Call,
    name: &PackageName,
    obj: &Map<String, Value>,
    attachments: &Map<String, Value>,
) -> Answer {
    let existing = versions(call, name).await?;
    let doc = read_json(call, &name.package_doc()).await?;
    let new_package = existing.is_empty() && doc.is_none();
    if new_package {
        name.check_new().map_err(bad)?;
    }
    let offered = obj
        .get("versions")
        .and_then(Value::as_object)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad("the document has no versions to publish"))?;
    let taken: Vec<&str> = offered
        .keys()
        .filter(|v| existing.contains_key(*v))
        .map(String::as_str)
        .collect();
    if !taken.is_empty() {
        return Err(NpmError::new(
            StatusCode::FORBIDDEN,
            format!(
                "cannot publish over the previously published versions: {}",
                taken.join(", ")
            ),
        ));
    }
    // Check everything before writing anything.
    let mut ready = Vec::new();
    for (version, manifest) in offered {
        semver::Version::parse(version)
            .map_err(|e| bad(format!("invalid version {version:?}: {e}")))?;
        let m = manifest
            .as_object()
            .ok_or_else(|| bad(format!("version {version} is not an object")))?;
        if m.get("name").and_then(Value::as_str) != Some(name.as_str())
            || m.get("version").and_then(Value::as_str) != Some(version.as_str())
        {
            return Err(bad(format!(
                "the manifest of {version} must have name {name:?} and version {version:?}"
            )));
        }
        let tarball = attached(name, version, m, attachments)?;
        ready.push((version.clone(), m.clone(), tarball));
    }
    let user = call.ctx.user.clone();
    let blobs = call.front().blobs.clone();
    for (version, mut manifest, tarball) in ready {
        let blob = upload::store_bytes(blobs.as_ref(), tarball.bytes, Some(&tarball.sha512))
            .await
            .map_err(NpmError::from_core)?;
        let tar_path = name.tarball(&version);
        call.repo()
            .put(
                &call.ctx,
                &asset_path(&tar_path)?,
                NewAsset {
                    blob,
                    content_type: Some("application/octet-stream".into()),
                    attrs: json!({ "version": version }),
                },
            )
            .await
            .map_err(NpmError::from_core)?;
        let dist = manifest.entry("dist").or_insert_with(|| json!({}));
        if let Some(d) = dist.as_object_mut() {
            d.insert("tarball".into(), json!(packument::marked(&tar_path)));
            d.insert(
                "integrity".into(),
                json!(packument::sri_of(&tarball.sha512)),
            );
            d.insert("shasum".into(), json!(tarball.sha1));
        }
        manifest.insert("_id".into(), json!(format!("{name}@{version}")));
        if let Some(u) = &user {
            manifest.insert("_npmUser".into(), json!({ "name": u }));
        }
        write_json(
            call,
            &name.manifest(&version),
            &Value::Object(manifest),
            json!({ "version": version }),
        )
        .await?;
    }
    let mut pkg = PackageDoc::of(doc);
    for (k, v) in obj {
        if !RESERVED.contains(&k.as_str()) && !v.is_null() {
            pkg.fields.insert(k.clone(), v.clone());
        }
    }
    if !pkg.fields.contains_key("maintainers")
        && let Some(u) = &user
    {
        pkg.fields
            .insert("maintainers".into(), json!([{ "name": u }]));
    }
    if let Some(tags) = obj.get("dist-tags").and_then(Value::as_object) {
        for (tag, v) in tags {
            if v.is_string() {
                pkg.tags.insert(tag.clone(), v.clone());
            }
        }
    }
    pkg.save(call, name).await?;
    tracing::info!(package = %name, versions = offered.len(), "published");
    Ok(ok_json(
        StatusCode::CREATED,
        json!({
            "ok": if new_package { "created new package" } else { "updated package" },
            "success": true
        }),
    ))
}

/// An update of existing versions: versions left out are unpublished (needs delete), a
/// changed `deprecated` is written (`""` removes it), and the dist-tags become the document's.
async fn update(call: &Call, name: &PackageName, obj: &Map<String, Value>) -> Answer {
    let existing = versions(call, name).await?;
    if existing.is_empty() {
        return Err(not_found(format!("package {name}")));
    }
    let offered = obj
        .get("versions")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("the document has no versions"))?;
    if let Some(v) = offered.keys().find(|v| !existing.contains_key(*v)) {
        return Err(bad(format!(
            "version {v} of {name} does not exist; publish it with its tarball"
        )));
    }
    let removed: Vec<&String> = existing
        .keys()
        .filter(|v| !offered.contains_key(*v))
        .collect();
    if !removed.is_empty() {
        call.allow(Action::Delete, Some(&name.packument()))?;
    }
    let mut changed = 0;
    for (version, m) in offered {
        let wanted = m
            .get("deprecated")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty());
        let Some(mut stored) = read_json(call, &name.manifest(version)).await? else {
            continue;
        };
        let now = stored.get("deprecated").and_then(Value::as_str);
        if now == wanted {
            continue;
        }
        if let Some(o) = stored.as_object_mut() {
            match wanted {
                Some(d) => o.insert("deprecated".into(), json!(d)),
                None => o.remove("deprecated"),
            };
        }
        write_json(
            call,
            &name.manifest(version),
            &stored,
            json!({ "version": version }),
        )
        .await?;
        changed += 1;
    }
    for version in &removed {
        delete_row(call, &name.manifest(version)).await?;
        delete_row(call, &name.tarball(version)).await?;
    }
    let doc = read_json(call, &name.package_doc()).await?;
    if removed.len() == existing.len() {
        delete_row(call, &name.package_doc()).await?;
    } else {
        let mut pkg = PackageDoc::of(doc);
        if let Some(tags) = obj.get("dist-tags").and_then(Value::as_object) {
            pkg.tags = tags.clone();
        }
        pkg.tags
            .retain(|_, v| v.as_str().is_some_and(|v| offered.contains_key(v)));
        pkg.save(call, name).await?;
    }
    tracing::info!(package = %name, deprecations = changed, unpublished = removed.len(), "package updated");
    Ok(ok_json(StatusCode::OK, json!({ "ok": "updated package" })))
}

/// `DELETE /<name>/-rev/<rev>`: the whole package.
pub async fn delete_package(call: &Call, name: &PackageName, rev: &str) -> Answer {
    call.repo().check_writable().map_err(NpmError::from_core)?;
    let _writer = lock(name).await;
    check_rev(call, name, rev).await?;
    let rows = call
        .repo()
        .list(&call.ctx, &name.prefix(), &Page::default())
        .await
        .map_err(NpmError::from_core)?;
    // Versions first, so the package is never shown with versions whose tarballs are gone.
    let (manifests, rest): (Vec<_>, Vec<_>) = rows
        .iter()
        .partition(|m| matches!(stored(m.path.as_str()), Some(Stored::Manifest(..))));
    for m in manifests.into_iter().chain(rest) {
        delete_row(call, m.path.as_str()).await?;
    }
    tracing::info!(package = %name, rows = rows.len(), "package unpublished");
    Ok(ok_json(StatusCode::OK, json!({ "ok": "deleted package" })))
}

/// `DELETE /<name>/-/<file>/-rev/<rev>`: a tarball, and with it its version if still listed.
pub async fn delete_tarball(call: &Call, name: &PackageName, file: &str) -> Answer {
    call.repo().check_writable().map_err(NpmError::from_core)?;
    let _writer = lock(name).await;
    let version = file
        .strip_prefix(&format!("{}-", name.unscoped()))
        .and_then(|f| f.strip_suffix(".tgz"));
    let had_version = match version {
        Some(v) => delete_row(call, &name.manifest(v)).await?,
        None => false,
    };
    let had_tarball = delete_row(call, &format!("/{name}/-/{file}")).await?;
    if !had_version && !had_tarball {
        // npm's unpublish of a version first PUTs the package without it (which removed the
        // tarball), then deletes the tarball: gone already is done, for a package that exists.
        let exists = !versions(call, name).await?.is_empty();
        if !exists {
            return Err(not_found(format!("tarball {file} of {name}")));
        }
    }
    Ok(ok_json(StatusCode::OK, json!({ "ok": "deleted tarball" })))
}

/// `GET /-/package/<name>/dist-tags`.
pub async fn get_tags(call: &Call, name: &PackageName) -> Answer {
    let Some((_, doc)) = packument_value(call, name).await? else {
        return Err(not_found(format!("package {name}")));
    };
    Ok(ok_json(
        StatusCode::OK,
        doc.get("dist-tags").cloned().unwrap_or_else(|| json!({})),
    ))
}

/// Tags are names, not versions or ranges (npm would read `1.0` as a range).
fn check_tag(tag: &str) -> Result<(), NpmError> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.contains(['/', '%', ' '])
        && semver::VersionReq::parse(tag).is_err();
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "invalid dist-tag {tag:?}: a tag must not be a version or a range"
        )))
    }
}

/// `PUT /-/package/<name>/dist-tags/<tag>` with the version as a JSON string.
pub async fn put_tag(call: &mut Call, name: &PackageName, tag: &str) -> Answer {
    call.repo().check_writable().map_err(NpmError::from_core)?;
    check_tag(tag)?;
    let bytes = read_body(call, MAX_TAG_BODY).await?;
    let version: String = serde_json::from_slice(&bytes)
        .map_err(|_| bad("the body must be the version as a JSON string"))?;
    let _writer = lock(name).await;
    let existing = versions(call, name).await?;
    if existing.is_empty() {
        return Err(not_found(format!("package {name}")));
    }
    if !existing.contains_key(&version) {
        return Err(not_found(format!("version {version} of {name}")));
    }
    let mut pkg = PackageDoc::of(read_json(call, &name.package_doc()).await?);
    pkg.tags.insert(tag.to_owned(), json!(version));
    pkg.save(call, name).await?;
    Ok(ok_json(
        StatusCode::CREATED,
        json!({ "ok": "package tagged" }),
    ))
}

/// `DELETE /-/package/<name>/dist-tags/<tag>`.
pub async fn delete_tag(call: &Call, name: &PackageName, tag: &str) -> Answer {
    call.repo().check_writable().map_err(NpmError::from_core)?;
    if tag == "latest" {
        return Err(bad(
            "the latest tag cannot be removed; point it at another version",
        ));
    }
    let _writer = lock(name).await;
    let Some(doc) = read_json(call, &name.package_doc()).await? else {
        return Err(not_found(format!("package {name}")));
    };
    let mut pkg = PackageDoc::of(Some(doc));
    if pkg.tags.remove(tag).is_none() {
        return Err(not_found(format!("dist-tag {tag} of {name}")));
    }
    pkg.save(call, name).await?;
    Ok(ok_json(StatusCode::OK, json!({ "ok": "tag removed" })))
}

/// A response for tests of the module's helpers.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_not_versions() {
        for ok in ["latest", "beta", "next-2"] {
            assert!(check_tag(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1.0", "^1", "1.0.0", "a/b", "a b", ">=2"] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn attachments_are_checked_against_dist() {
        let name = PackageName::parse("@s/foo").unwrap();
        let data = b"tarball bytes";
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        let sri = packument::sri_of(&Digest::of(trove_core::Algorithm::Sha512, data)).unwrap();
        let sha1 = hex::encode(sha1::Sha1::digest(data));
        let att = |len: usize| json!({ "@s/foo-1.0.0.tgz": { "data": b64, "length": len } });
        let m = |dist: Value| json!({ "dist": dist }).as_object().unwrap().clone();
        let a = att(data.len());
        let a = a.as_object().unwrap();
        assert!(
            attached(
                &name,
                "1.0.0",
                &m(json!({"integrity": sri, "shasum": sha1})),
                a
            )
            .is_ok()
        );
        let wrong_sri =
            packument::sri_of(&Digest::of(trove_core::Algorithm::Sha512, b"x")).unwrap();
        let e = attached(&name, "1.0.0", &m(json!({"integrity": wrong_sri})), a)
            .err()
            .unwrap();
        assert!(e.message.contains("dist.integrity"), "{}", e.message);
        let e = attached(&name, "1.0.0", &m(json!({"shasum": "00"})), a)
            .err()
            .unwrap();
        assert!(e.message.contains("dist.shasum"));
        let long = att(99);
        let e = attached(&name, "1.0.0", &m(json!({})), long.as_object().unwrap())
            .err()
            .unwrap();
        assert!(e.message.contains("length"));
        let e = attached(&name, "2.0.0", &m(json!({})), a).err().unwrap();
        assert!(e.message.contains("no tarball"));
    }
}
