//! The web API's writes and lookups: `cargo publish` (`PUT /api/v1/crates/new`), yank and
//! unyank, owners, search. A crate's writes are serialised on this node.
//!
//! Write order, so a crash leaves nothing half-visible: the `.crate`'s blob, its row, then the
//! version's index line (which makes the version visible in the index at once: cargo polls
//! for it right after the upload), then the owners of a new crate.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use trove_core::{AssetMeta, NewAsset, Page};

use super::index::{self, version_key};
use super::names::{CrateName, Stored, parse_version, stored};
use super::{Answer, Call, CargoError, asset_path, bad, not_found, ok_json};
use crate::kit::{body, locks, upload};

/// The largest publish body taken (crates.io's limit is 10 MiB per crate).
pub const MAX_PUBLISH: usize = 64 << 20;
/// The largest publish metadata document.
const MAX_METADATA: usize = 4 << 20;
const MAX_OWNERS_BODY: usize = 64 << 10;

async fn lock(call: &Call, name: &CrateName) -> tokio::sync::OwnedMutexGuard<()> {
    locks::lock(&format!(
        "cargo:{}:{}",
        call.repo().config().id,
        name.canonical()
    ))
    .await
}

async fn read_body(call: &mut Call, limit: usize) -> Result<Bytes, CargoError> {
    let payload = call
        .payload
        .take()
        .ok_or_else(|| bad("the request body was already read"))?;
    body::read_limited(payload, limit, call.front().progress)
        .await
        .map_err(|e| match e {
            body::ReadError::TooLarge(l) => CargoError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over {l} bytes"),
            ),
            body::ReadError::Gone(why) => {
                let mut e = bad(why);
                e.aborted = true;
                e.reason = "client aborted".into();
                e
            }
        })
}

/// The publish body: a little-endian u32 length, the metadata JSON, a u32 length, the
/// `.crate`; every length checked against what is there, nothing after.
pub fn split_publish(body: &[u8]) -> Result<(&[u8], &[u8]), String> {
    fn take<'a>(b: &'a [u8], at: usize, what: &str) -> Result<(&'a [u8], usize), String> {
        let len_end = at
            .checked_add(4)
            .filter(|e| *e <= b.len())
            .ok_or_else(|| format!("the body ends before the length of the {what}"))?;
        let len = u32::from_le_bytes(b[at..len_end].try_into().expect("4 bytes")) as usize;
        let end = len_end
            .checked_add(len)
            .filter(|e| *e <= b.len())
            .ok_or_else(|| {
                format!(
                    "the {what} is said to be {len} bytes but only {} follow",
                    b.len() - len_end
                )
            })?;
        Ok((&b[len_end..end], end))
    }
    let (meta, at) = take(body, 0, "metadata")?;
    if meta.len() > MAX_METADATA {
        return Err(format!("the metadata is over {MAX_METADATA} bytes"));
    }
    let (krate, end) = take(body, at, ".crate")?;
    if end != body.len() {
        return Err(format!("{} bytes follow the .crate", body.len() - end));
    }
    Ok((meta, krate))
}

/// The rows of a crate's versions: version → its index line row.
async fn version_rows(
    call: &Call,
    name: &CrateName,
) -> Result<BTreeMap<String, AssetMeta>, CargoError> {
    let rows = call
        .repo()
        .list(&call.ctx, &name.prefix(), &Page::default())
        .await
        .map_err(CargoError::from_core)?;
    Ok(rows
        .into_iter()
        .filter_map(|m| match stored(m.path.as_str()) {
            Some(Stored::Line(_, v)) => Some((v, m)),
            _ => None,
        })
        .collect())
}

async fn read_json(call: &Call, path: &str) -> Result<Option<Value>, CargoError> {
    let Some(asset) = call
        .repo()
        .get(&call.ctx, &asset_path(path)?, None)
        .await
        .map_err(CargoError::from_core)?
    else {
        return Ok(None);
    };
    let bytes = trove_core::documents::collect(asset.body, asset.meta.blob.size)
        .await
        .map_err(CargoError::from_core)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| CargoError::from_core(trove_core::Error::internal(format!("{path}: {e}"))))
}

async fn write(
    call: &Call,
    path: &str,
    bytes: Bytes,
    content_type: &str,
    attrs: Value,
) -> Result<AssetMeta, CargoError> {
    let blob = upload::store_bytes(call.front().blobs.as_ref(), bytes, None)
        .await
        .map_err(CargoError::from_core)?;
    let asset = NewAsset {
        blob,
        content_type: Some(content_type.into()),
        attrs,
    };
    call.repo()
        .put(&call.ctx, &asset_path(path)?, asset)
        .await
        .map_err(CargoError::from_core)
}

async fn write_json(call: &Call, path: &str, v: &Value, attrs: Value) -> Result<(), CargoError> {
    let bytes = Bytes::from(serde_json::to_vec(v).expect("JSON values serialise"));
    write(call, path, bytes, "application/json", attrs).await?;
    Ok(())
}

/// The crate's owners (Trove user names); empty when none were recorded.
async fn owners(call: &Call, name: &CrateName) -> Result<Vec<String>, CargoError> {
    Ok(read_json(call, &name.owners_path())
        .await?
        .and_then(|v| v.get("users").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}

/// Refuses a change to an existing crate by someone who is not one of its owners (Trove
/// administrators may always).
async fn check_owner(call: &Call, name: &CrateName) -> Result<(), CargoError> {
    let owners = owners(call, name).await?;
    let me = call.identity.principal.name();
    if owners.is_empty()
        || owners.iter().any(|o| o == me)
        || call.front().auth.is_admin(&call.identity)
    {
        return Ok(());
    }
    Err(CargoError::new(
        StatusCode::FORBIDDEN,
        format!(
            "{me} is not an owner of crate {name} (owners: {})",
            owners.join(", ")
        ),
    ))
}

/// `PUT /api/v1/crates/new`.
pub async fn publish(call: &mut Call) -> Answer {
    let repo = call.repo().clone();
    repo.check_writable().map_err(CargoError::from_core)?;
    let body = read_body(call, MAX_PUBLISH).await?;
    let (meta, krate) =
        split_publish(&body).map_err(|e| bad(format!("invalid publish body: {e}")))?;
    let meta: Value = serde_json::from_slice(meta)
        .map_err(|e| bad(format!("the publish metadata is not JSON: {e}")))?;
    let Some(meta) = meta.as_object() else {
        return Err(bad("the publish metadata is not a JSON object"));
    };
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the publish metadata has no name"))?;
    let name = CrateName::parse(name).map_err(bad)?;
    name.check_new().map_err(bad)?;
    let vers = meta
        .get("vers")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("the publish metadata has no vers"))?;
    let version = parse_version(vers).map_err(bad)?.to_string();
    if !krate.starts_with(&[0x1f, 0x8b]) {
        return Err(bad("the .crate is not a gzip file"));
    }
    let index_path = name.index_path();
    repo.check_path(&asset_path(&index_path)?)
        .map_err(CargoError::from_core)?;
    let krate = body.slice_ref(krate);
    let _writer = lock(call, &name).await;
    let existing = version_rows(call, &name).await?;
    if let Some(other) = existing
        .values()
        .find_map(|m| m.attrs.get("name").and_then(Value::as_str))
        .filter(|n| *n != name.as_str())
    {
        return Err(bad(format!(
            "crate {name} conflicts with the existing crate {other}: names that differ only in case or in - and _ are one crate; publish it as {other}"
        )));
    }
    if let Some(v) = existing
        .keys()
        .find(|v| version_key(v) == version_key(&version))
    {
        return Err(CargoError::new(
            StatusCode::CONFLICT,
            format!(
                "crate version `{name}@{v}` is already uploaded; versions cannot be replaced, publish a new one"
            ),
        ));
    }
    if !existing.is_empty() {
        check_owner(call, &name).await?;
    }
    let blob = upload::store_bytes(call.front().blobs.as_ref(), krate, None)
        .await
        .map_err(CargoError::from_core)?;
    let cksum = blob.digest.hex().to_owned();
    let line = index::line_of(meta, &name, &cksum).map_err(bad)?;
    let line = {
        let mut l = line;
        l["vers"] = json!(version);
        l
    };
    call.repo()
        .put(
            &call.ctx,
            &asset_path(&name.crate_path(&version))?,
            NewAsset {
                blob,
                content_type: Some("application/gzip".into()),
                attrs: json!({}),
            },
        )
        .await
        .map_err(CargoError::from_core)?;
    let str_of = |k: &str| {
        meta.get(k)
            .filter(|v| v.is_string())
            .cloned()
            .unwrap_or(Value::Null)
    };
    let attrs = json!({
        "name": name.as_str(),
        "vers": version,
        "description": str_of("description"),
        "license": str_of("license"),
        "repository": str_of("repository"),
        "keywords": meta.get("keywords").cloned().unwrap_or_else(|| json!([])),
        "publisher": call.identity.principal.name(),
        "yanked": false,
    });
    write_json(call, &name.line_path(&version), &line, attrs).await?;
    if existing.is_empty() && !call.identity.principal.is_anonymous() {
        let users = json!({ "users": [call.identity.principal.name()] });
        write_json(call, &name.owners_path(), &users, json!({})).await?;
    }
    tracing::info!(repository = %call.name, krate = %name, %version, "published");
    Ok(ok_json(json!({
        "warnings": { "invalid_categories": [], "invalid_badges": [], "other": [] }
    })))
}

/// `DELETE .../{crate}/{version}/yank` and `PUT .../unyank`: only the line's `yanked` changes.
pub async fn set_yanked(call: &Call, name: &CrateName, version: &str, yanked: bool) -> Answer {
    call.repo()
        .check_writable()
        .map_err(CargoError::from_core)?;
    let _writer = lock(call, name).await;
    let rows = version_rows(call, name).await?;
    let Some((v, row)) = rows
        .into_iter()
        .find(|(v, _)| version_key(v) == version_key(version))
    else {
        return Err(not_found(format!("crate {name} version {version}")));
    };
    check_owner(call, name).await?;
    let mut line = read_json(call, row.path.as_str())
        .await?
        .ok_or_else(|| not_found(format!("crate {name} version {version}")))?;
    line["yanked"] = json!(yanked);
    let mut attrs = row.attrs.clone();
    if attrs.is_object() {
        attrs["yanked"] = json!(yanked);
    }
    write_json(call, &name.line_path(&v), &line, attrs).await?;
    Ok(ok_json(json!({ "ok": true })))
}

/// `GET .../{crate}/owners`: `{"users": [{id, login, name}]}`.
pub async fn list_owners(call: &Call, name: &CrateName) -> Answer {
    if version_rows(call, name).await?.is_empty() {
        return Err(not_found(format!("crate {name}")));
    }
    let users: Vec<Value> = owners(call, name)
        .await?
        .into_iter()
        .enumerate()
        .map(|(i, u)| json!({ "id": i + 1, "login": u, "name": u }))
        .collect();
    Ok(ok_json(json!({ "users": users })))
}

/// `PUT` (add) and `DELETE` (remove) `.../{crate}/owners` with `{"users": [login]}`; logins
/// are Trove user names.
pub async fn change_owners(call: &mut Call, name: &CrateName, add: bool) -> Answer {
    call.repo()
        .check_writable()
        .map_err(CargoError::from_core)?;
    let body = read_body(call, MAX_OWNERS_BODY).await?;
    let logins: Vec<String> = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("users").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .filter(|l: &Vec<String>| !l.is_empty())
        .ok_or_else(|| bad(r#"the body must be {"users": ["login", ...]}"#))?;
    let _writer = lock(call, name).await;
    if version_rows(call, name).await?.is_empty() {
        return Err(not_found(format!("crate {name}")));
    }
    check_owner(call, name).await?;
    let mut current = owners(call, name).await?;
    if add {
        for l in &logins {
            let known = call
                .front()
                .meta
                .security()
                .user(l)
                .await
                .map_err(CargoError::from_core)?
                .is_some();
            if !known || l == "anonymous" {
                return Err(bad(format!("there is no Trove user named {l:?}")));
            }
            if !current.contains(l) {
                current.push(l.clone());
            }
        }
    } else {
        current.retain(|o| !logins.contains(o));
        if current.is_empty() {
            return Err(bad(format!("crate {name} must keep at least one owner")));
        }
    }
    write_json(
        call,
        &name.owners_path(),
        &json!({ "users": current }),
        json!({}),
    )
    .await?;
    let msg = format!(
        "{} {} {} the owners of crate {name}",
        logins.join(", "),
        if logins.len() == 1 { "is" } else { "are" },
        if add { "now among" } else { "no longer among" },
    );
    Ok(ok_json(json!({ "ok": true, "msg": msg })))
}

/// `GET /api/v1/crates?q=&per_page=`: crates whose name (ignoring case, `-` vs `_`) or
/// description contains `q`, exact matches first, then by name.
pub async fn search(call: &Call) -> Answer {
    let mut q = String::new();
    let mut per_page = 10usize;
    for (k, v) in url::form_urlencoded::parse(call.http.query_string().as_bytes()) {
        match &*k {
            "q" => q = v.into_owned(),
            "per_page" => per_page = v.parse().unwrap_or(10).clamp(1, 100),
            _ => {}
        }
    }
    let canon = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let needle = canon(&q);
    let rows = call
        .repo()
        .list(&call.ctx, "/-/c/", &Page::default())
        .await
        .map_err(CargoError::from_core)?;
    // Per crate: the highest version not yanked (or the highest, all being yanked).
    let mut crates: BTreeMap<String, (bool, semver::Version, Map<String, Value>)> = BTreeMap::new();
    for row in rows {
        let Some(Stored::Line(c, v)) = stored(row.path.as_str()) else {
            continue;
        };
        let (Ok(v), Some(attrs)) = (semver::Version::parse(&v), row.attrs.as_object()) else {
            continue;
        };
        let live = !attrs
            .get("yanked")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let better = crates
            .get(&c)
            .is_none_or(|(l, best, _)| (live, &v) > (*l, best));
        if better {
            crates.insert(c, (live, v, attrs.clone()));
        }
    }
    let mut hits: Vec<(bool, String, Value)> = crates
        .into_iter()
        .filter_map(|(c, (_, v, attrs))| {
            let name = attrs.get("name").and_then(Value::as_str)?.to_owned();
            let desc = attrs
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("");
            let hit = needle.is_empty()
                || c.contains(&needle)
                || desc.to_ascii_lowercase().contains(&q.to_ascii_lowercase());
            hit.then(|| {
                (
                    c != needle,
                    name.clone(),
                    json!({ "name": name, "max_version": v.to_string(), "description": desc }),
                )
            })
        })
        .collect();
    hits.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let total = hits.len();
    let crates: Vec<Value> = hits.into_iter().take(per_page).map(|h| h.2).collect();
    Ok(ok_json(
        json!({ "crates": crates, "meta": { "total": total } }),
    ))
}

#[cfg(test)]
mod tests {
    use super::split_publish;

    fn body(meta: &[u8], krate: &[u8]) -> Vec<u8> {
        let mut b = (meta.len() as u32).to_le_bytes().to_vec();
        b.extend_from_slice(meta);
        b.extend_from_slice(&(krate.len() as u32).to_le_bytes());
        b.extend_from_slice(krate);
        b
    }

    #[test]
    fn publish_bodies_are_bounds_checked() {
        let ok = body(b"{}", b"crate");
        assert_eq!(split_publish(&ok).unwrap(), (&b"{}"[..], &b"crate"[..]));
        assert!(split_publish(&[]).is_err());
        assert!(split_publish(&[1, 0]).is_err());
        assert!(
            split_publish(&ok[..ok.len() - 1])
                .unwrap_err()
                .contains("only 4 follow")
        );
        let mut trailing = ok.clone();
        trailing.push(0);
        assert!(
            split_publish(&trailing)
                .unwrap_err()
                .contains("1 bytes follow")
        );
        // A length near u32::MAX must not overflow or allocate.
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(split_publish(&huge).is_err());
        let no_crate_len = [2, 0, 0, 0, b'{', b'}'];
        assert!(
            split_publish(&no_crate_len)
                .unwrap_err()
                .contains("length of the .crate")
        );
    }
}
