//! Uploads, as `mvn deploy` (3.8.7, maven-deploy-plugin 3.0.0) sends them: every file with
//! Basic credentials on the first try, each followed by its `.sha1` and `.md5`; then the
//! metadata and its checksums.
//!
//! - A file is stored with its MD5, SHA-1, SHA-256 and SHA-512 computed as it streams in;
//!   `X-Checksum-Sha1` (and `-Md5`, `-Sha256`, `-Sha512`), when sent, must match.
//! - A checksum file is never stored (they are generated): it is checked against the file it
//!   names, and a mismatch is refused.
//! - `maven-metadata.xml` must parse; it is kept (for the plugin prefixes of group-level
//!   metadata, and to check its checksum files), but what is served is rebuilt from the
//!   stored files.
//! - The version policy refuses `-SNAPSHOT` versions in a release repository and releases in
//!   a snapshot repository; a release's files are written once (metadata and checksums
//!   excepted); the strict layout policy refuses paths outside the Maven layout.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use trove_auth::Action;
use trove_core::{AssetMeta, AssetPath, Digest, NewAsset, Page};

use super::layout::{self, Algo, Kind};
use super::metadata::{self, Metadata};
use super::spec::{LayoutPolicy, VersionPolicy, checksum_hex};
use super::{Answer, Call, MavenError};
use crate::kit::checksums::{self, Checksums};
use crate::kit::{body, upload};

/// Checksum files are a line; anything longer is not one.
const CHECKSUM_LIMIT: usize = 4096;
/// `maven-metadata.xml` of an artifact with thousands of versions stays well under this.
const METADATA_LIMIT: usize = 8 << 20;

fn bad(phrase: &str, message: impl Into<String>) -> MavenError {
    MavenError::shown(StatusCode::BAD_REQUEST, phrase, message)
}

/// Refuses what the repository's policies do not take, before any byte is read.
fn check_policies(call: &Call, kind: &Kind) -> Result<(), MavenError> {
    let spec = call.spec();
    let repo = &call.name;
    if spec.layout_policy == LayoutPolicy::Strict {
        let outside = match kind {
            Kind::Other => true,
            Kind::Checksum { file, .. } => matches!(layout::parse(file), Kind::Other),
            _ => false,
        };
        if outside {
            return Err(bad(
                &format!("Path is not in the Maven layout (repository {repo} is strict)"),
                format!(
                    "{} is not a Maven repository path (group/artifact/version/artifact-version[-classifier].extension); repository {repo} has layout_policy = \"strict\"",
                    call.path
                ),
            ));
        }
    }
    let snapshot = kind.is_snapshot();
    let versioned = !matches!(kind, Kind::Other)
        && !matches!(kind, Kind::Metadata { dir } if !dir.ends_with("-SNAPSHOT"));
    if versioned && !spec.version_policy.allows(snapshot) {
        let (phrase, what) = match spec.version_policy {
            VersionPolicy::Release => (
                format!("Repository {repo} holds releases only: SNAPSHOT versions are refused"),
                "a -SNAPSHOT version",
            ),
            _ => (
                format!("Repository {repo} holds snapshots only: release versions are refused"),
                "a release version",
            ),
        };
        return Err(bad(
            &phrase,
            format!(
                "{} is {what}; repository {repo} has version_policy = \"{}\"",
                call.path,
                spec.version_policy.as_str()
            ),
        ));
    }
    Ok(())
}

pub async fn put(call: &mut Call) -> Answer {
    let kind = layout::parse(&call.path);
    check_policies(call, &kind)?;
    let path = call.asset_path();
    call.repo.check_writable().map_err(MavenError::from_core)?;
    // A routing rule refuses before any byte is streamed.
    call.repo.check_path(&path).map_err(MavenError::from_core)?;
    match kind {
        Kind::Checksum { file, algo } => put_checksum(call, &file, algo).await,
        Kind::Metadata { .. } => put_metadata(call, &path).await,
        kind => put_file(call, &path, kind.is_release_file()).await,
    }
}

fn created() -> HttpResponse {
    HttpResponse::Created().finish()
}

async fn read_body(call: &mut Call, limit: usize) -> Result<bytes::Bytes, MavenError> {
    let payload = call.payload.take().expect("the body is read once");
    body::read_limited(payload, limit, call.front.progress)
        .await
        .map_err(|e| match e {
            body::ReadError::TooLarge(n) => MavenError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{} is over {n} bytes", call.path),
            ),
            body::ReadError::Gone(why) => MavenError::from_core(trove_core::Error::internal(
                format!("{}: {why}", body::CLIENT_GONE),
            )),
        })
}

/// The stored row at exactly `path` (a listing, so a hosted repository answers with what it
/// stores rather than what it generates there).
async fn stored(call: &Call, path: &str) -> Result<Option<AssetMeta>, MavenError> {
    let page = Page {
        after: None,
        limit: Some(2),
    };
    Ok(call
        .repo
        .list(&call.ctx, path, &page)
        .await
        .map_err(MavenError::from_core)?
        .into_iter()
        .find(|m| m.path.as_str() == path))
}

async fn put_checksum(call: &mut Call, file: &str, algo: Algo) -> Answer {
    let body = read_body(call, CHECKSUM_LIMIT).await?;
    let Some(hex) = checksum_hex(&body, algo) else {
        return Err(bad(
            "Not a checksum file",
            format!(
                "{} must hold the {} hex digits of the {} of {file}",
                call.path,
                algo.hex_len(),
                algo.name()
            ),
        ));
    };
    let Some(row) = stored(call, file).await? else {
        return Err(MavenError::shown(
            StatusCode::CONFLICT,
            "Checksum of a file that is not stored",
            format!("{file} is not stored: upload it before its checksum"),
        ));
    };
    match checksums::from_attrs(&row.attrs, algo.name()) {
        Some(stored) if stored != hex => Err(bad(
            "Checksum does not match the uploaded file",
            format!(
                "{}: the {} of {file} is {stored}, the upload says {hex}",
                call.path,
                algo.name()
            ),
        )),
        // Matches; or a file stored without its digests (not by this front end), which has
        // nothing to check against.
        _ => Ok(created()),
    }
}

async fn put_metadata(call: &mut Call, path: &AssetPath) -> Answer {
    let body = read_body(call, METADATA_LIMIT).await?;
    if let Err(e) = Metadata::parse(&body) {
        return Err(bad("Invalid maven-metadata.xml", e.msg));
    }
    let sums = Checksums::of(&body);
    let digest = Digest::parse(&format!("sha256:{}", sums.sha256)).expect("a computed digest");
    let blob = upload::store_bytes(call.front.blobs.as_ref(), body, Some(&digest))
        .await
        .map_err(MavenError::from_core)?;
    let asset = NewAsset {
        blob,
        content_type: Some(metadata::CONTENT_TYPE.into()),
        attrs: sums.to_attrs(),
    };
    call.repo
        .put(&call.ctx, path, asset)
        .await
        .map_err(MavenError::from_core)?;
    Ok(created())
}

/// The digests a client announced in `X-Checksum-*` headers (Maven Resolver's and curl
/// scripts' way of saying what they send).
fn announced(call: &Call) -> Vec<(Algo, String)> {
    Algo::ALL
        .into_iter()
        .filter_map(|a| {
            let v = call
                .http
                .headers()
                .get(format!("x-checksum-{}", a.name()))?
                .to_str()
                .ok()?;
            Some((a, v.trim().to_ascii_lowercase()))
        })
        .collect()
}

async fn put_file(call: &mut Call, path: &AssetPath, release: bool) -> Answer {
    if let Some(existing) = stored(call, path.as_str()).await? {
        if release && call.spec().version_policy != VersionPolicy::Snapshot {
            return Err(MavenError::shown(
                StatusCode::CONFLICT,
                format!(
                    "Repository does not allow updating assets: {} (a release is written once)",
                    call.name
                ),
                format!(
                    "{} is already stored ({} bytes): releases are written once; deploy a new version",
                    call.path, existing.blob.size
                ),
            ));
        }
        call.allow(Action::Edit)?;
    }
    let announced = announced(call);
    let payload = call.payload.take().expect("the body is read once");
    let (pump, body) = body::bridge(payload, call.front.progress);
    let (_, stored) = futures_util::join!(
        pump,
        upload::store_checksummed(call.front.blobs.as_ref(), body)
    );
    let (blob, sums) = stored.map_err(MavenError::from_core)?;
    for (algo, hex) in announced {
        if sums.get(algo.name()) != Some(hex.as_str()) {
            // The blob has no row; garbage collection removes it.
            return Err(bad(
                "Checksum does not match the uploaded file",
                format!(
                    "{}: X-Checksum-{} says {hex}, the body's is {}",
                    call.path,
                    algo.name(),
                    sums.get(algo.name()).unwrap_or_default()
                ),
            ));
        }
    }
    let asset = NewAsset {
        blob,
        content_type: Some(layout::content_type(&call.path)),
        attrs: sums.to_attrs(),
    };
    call.repo
        .put(&call.ctx, path, asset)
        .await
        .map_err(MavenError::from_core)?;
    Ok(created())
}
