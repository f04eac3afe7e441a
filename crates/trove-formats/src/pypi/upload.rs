//! Uploads: twine's legacy API, a `multipart/form-data` POST with `:action=file_upload`, the
//! project's metadata fields, the digests twine computed (`sha256_digest`, `md5_digest`,
//! `blake2_256_digest`) and the file as `content`. The file streams into the blob store while
//! all three digests are computed; it becomes visible only once every digest the client sent
//! matches. A wheel's core metadata is read from it and kept as `<file>.metadata` (PEP 658).
//! A file name is taken once: a second upload answers 409 "File already exists", which
//! `twine upload --skip-existing` skips. Yanking (PEP 592) rewrites a version's file rows.
//!
//! Write order, so a crash leaves nothing half-visible: the file's blob, the metadata's blob
//! and row, then the file's row (which puts it in the index).

use std::sync::{Arc, Mutex};

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use blake2::Digest as _;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use trove_auth::Action;
use trove_core::{AssetPath, BlobStore, ByteStream, Ctx, NewAsset, Page, Repository, Result};

use super::index::{
    ATTR_CORE_METADATA, ATTR_FILETYPE, ATTR_REQUIRES_PYTHON, ATTR_VERSION, ATTR_YANKED,
};
use super::names::{self, DistKind, Project, Stored, stored};
use super::wheel;
use crate::kit::call::Call;
use crate::kit::errors::Failure;
use crate::kit::locks;
use crate::kit::{body, upload};

/// The largest form field other than the file (a long description).
const MAX_FIELD: u64 = 8 << 20;
/// The largest form, fields and file excluded from the count (a bound on field count).
const MAX_FIELDS: usize = 1000;

type Blake2b256 = blake2::Blake2b<blake2::digest::consts::U32>;

fn bad(msg: impl Into<String>) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, msg)
}

/// The file part of an upload, staged.
struct Content {
    filename: String,
    staged: upload::Staged,
    md5: String,
    blake2_256: String,
}

#[derive(Default)]
struct Form {
    fields: Vec<(String, String)>,
    content: Option<Content>,
}

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    async fn discard(self, blobs: &dyn BlobStore) {
        if let Some(c) = self.content {
            c.staged.abort(blobs).await;
        }
    }
}

fn multipart_error(e: multer::Error) -> Failure {
    let text = e.to_string();
    if text.contains(body::CLIENT_GONE) {
        let mut f = bad(text);
        f.aborted = true;
        f.reason = "client aborted".into();
        return f;
    }
    match e {
        multer::Error::FieldSizeExceeded { field_name, .. } => Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "form field {} is over {MAX_FIELD} bytes",
                field_name.unwrap_or_default()
            ),
        ),
        _ => bad(format!("the upload is not a valid multipart form: {text}")),
    }
}

/// Reads the form, staging the file (hashed three ways) as it arrives.
async fn read_form(
    blobs: &dyn BlobStore,
    body: ByteStream,
    boundary: String,
) -> Result<Form, Failure> {
    let limits = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .per_field(MAX_FIELD)
            .for_field("content", u64::MAX),
    );
    let mut mp = multer::Multipart::with_constraints(body, boundary, limits);
    let mut form = Form::default();
    let result = async {
        while let Some(field) = mp.next_field().await.map_err(multipart_error)? {
            let name = field.name().unwrap_or_default().to_owned();
            if name != "content" {
                if form.fields.len() >= MAX_FIELDS {
                    return Err(bad(format!("the form has more than {MAX_FIELDS} fields")));
                }
                let value = field.text().await.map_err(multipart_error)?;
                form.fields.push((name, value));
                continue;
            }
            if form.content.is_some() {
                return Err(bad("the form has more than one content part"));
            }
            let filename = field
                .file_name()
                .map(str::to_owned)
                .ok_or_else(|| bad("the content part has no file name"))?;
            let md5 = Arc::new(Mutex::new(md5::Md5::new()));
            let b2 = Arc::new(Mutex::new(Blake2b256::new()));
            let (m, b) = (md5.clone(), b2.clone());
            let stream: ByteStream = Box::pin(field.map(move |chunk| match chunk {
                Ok(c) => {
                    m.lock().expect("md5").update(&c);
                    b.lock().expect("blake2").update(&c);
                    Ok(c)
                }
                Err(e) => Err(std::io::Error::other(e.to_string())),
            }));
            let staged = upload::stage(blobs, stream)
                .await
                .map_err(Failure::from_core)?;
            let md5 = hex::encode(std::mem::take(&mut *md5.lock().expect("md5")).finalize());
            let blake2_256 =
                hex::encode(std::mem::take(&mut *b2.lock().expect("blake2")).finalize());
            form.content = Some(Content {
                filename,
                staged,
                md5,
                blake2_256,
            });
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => Ok(form),
        Err(e) => {
            form.discard(blobs).await;
            Err(e)
        }
    }
}

/// Compares the digests the client sent with the file's; at least one must be sent.
fn check_digests(form: &Form, c: &Content) -> Result<(), Failure> {
    let ours = [
        ("sha256_digest", c.staged.digest.hex().to_owned()),
        ("md5_digest", c.md5.clone()),
        ("blake2_256_digest", c.blake2_256.clone()),
    ];
    let mut sent = 0;
    for (field, value) in &ours {
        let Some(theirs) = form.get(field) else {
            continue;
        };
        sent += 1;
        if !theirs.trim().eq_ignore_ascii_case(value) {
            return Err(bad(format!(
                "{} does not match its {field}: the file was damaged in transit or the digest is wrong",
                c.filename
            )));
        }
    }
    if sent == 0 {
        return Err(bad(
            "the upload has no sha256_digest, md5_digest or blake2_256_digest to check the file against",
        ));
    }
    Ok(())
}

/// What an upload writes, checked before anything is kept.
struct Checked {
    project: Project,
    version: String,
    kind: DistKind,
    path: AssetPath,
}

fn check_form(form: &Form, c: &Content) -> Result<Checked, Failure> {
    match form.get(":action") {
        Some("file_upload") => {}
        Some(other) => {
            return Err(bad(format!(
                "unsupported :action {other:?}: Trove takes file_upload"
            )));
        }
        None => return Err(bad("the form has no :action (twine sends file_upload)")),
    }
    if let Some(v) = form.get("protocol_version")
        && v != "1"
    {
        return Err(bad(format!("unsupported protocol_version {v:?}")));
    }
    let name = form
        .get("name")
        .ok_or_else(|| bad("the form has no project name"))?;
    let project = Project::parse(name).map_err(bad)?;
    let version = form
        .get("version")
        .ok_or_else(|| bad("the form has no version"))?
        .trim()
        .to_owned();
    if version.len() > 128 || version.contains(['/', '\\']) || version.contains(char::is_control) {
        return Err(bad(format!("invalid version {version:?}")));
    }
    let filename = &c.filename;
    if !names::filename_ok(filename) {
        return Err(bad(format!(
            "invalid file name {filename:?}: a wheel (.whl) or an sdist (.tar.gz, .zip)"
        )));
    }
    let (_, kind) = names::dist_kind(filename).expect("checked by filename_ok");
    if names::version_of(&project, filename).is_none() {
        return Err(bad(format!(
            "{filename} is not a file name of project {name} (it must start with the project's name and a version)"
        )));
    }
    let path = AssetPath::parse(&project.file(filename)).map_err(|e| bad(e.msg))?;
    Ok(Checked {
        project,
        version,
        kind,
        path,
    })
}

/// `POST /` with `:action=file_upload`.
pub async fn upload(call: &mut Call) -> Result<HttpResponse, Failure> {
    let repo = call.repo().clone();
    repo.check_writable().map_err(Failure::from_core)?;
    let content_type = call
        .http
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let boundary = multer::parse_boundary(&content_type)
        .map_err(|_| bad("an upload is a multipart/form-data POST (twine upload)"))?;
    let payload = call.take_payload()?;
    let blobs = call.front().blobs.clone();
    let (pump, body) = body::bridge(payload, call.front().progress);
    let ((), form) = tokio::join!(pump, read_form(blobs.as_ref(), body, boundary));
    let mut form = form?;
    let Some(content) = form.content.take() else {
        form.discard(blobs.as_ref()).await;
        return Err(bad("the form has no content part (the file)"));
    };
    let checked = check_form(&form, &content).and_then(|c| {
        check_digests(&form, &content)?;
        Ok(c)
    });
    let checked = match checked {
        Ok(c) => c,
        Err(e) => {
            content.staged.abort(blobs.as_ref()).await;
            return Err(e);
        }
    };
    match store(call, &form, content, &checked).await {
        Ok(()) => {
            tracing::info!(project = %checked.project, version = %checked.version,
                file = %checked.path, "uploaded");
            Ok(HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .body("OK\n"))
        }
        Err(e) => Err(e),
    }
}

/// Refuses a taken name, then commits the file and writes its rows.
async fn store(call: &Call, form: &Form, content: Content, c: &Checked) -> Result<(), Failure> {
    let repo = call.repo().clone();
    let blobs = call.front().blobs.clone();
    let refuse = |e: Failure| async { e };
    if let Err(e) = call.allow(Action::Add, Some(c.path.as_str())) {
        content.staged.abort(blobs.as_ref()).await;
        return Err(refuse(e).await);
    }
    if let Err(e) = repo.check_path(&c.path) {
        content.staged.abort(blobs.as_ref()).await;
        return Err(Failure::from_core(e));
    }
    // One writer per project on this node: the duplicate check and the write go together.
    let _writer = locks::lock(&format!("pypi:{}", c.project.as_str())).await;
    let taken = repo.head(&call.ctx, &c.path).await;
    match taken {
        Ok(None) => {}
        Ok(Some(_)) => {
            content.staged.abort(blobs.as_ref()).await;
            return Err(Failure::new(
                StatusCode::CONFLICT,
                format!("File already exists: {}", content.filename),
            ));
        }
        Err(e) => {
            content.staged.abort(blobs.as_ref()).await;
            return Err(Failure::from_core(e));
        }
    }
    let blob = content
        .staged
        .commit(blobs.as_ref())
        .await
        .map_err(Failure::from_core)?;
    let mut attrs = Map::new();
    attrs.insert(ATTR_VERSION.into(), json!(c.version));
    attrs.insert(ATTR_FILETYPE.into(), json!(c.kind.filetype()));
    let mut requires_python = form.get("requires_python").map(str::to_owned);
    if c.kind == DistKind::Wheel {
        // Checked before anything is visible; a broken wheel leaves only an unreferenced blob
        // for garbage collection.
        let md = wheel::core_metadata(blobs.clone(), blob.clone(), &content.filename)
            .await
            .map_err(|e| bad(format!("invalid wheel {}: {e}", content.filename)))?;
        let text = String::from_utf8_lossy(&md);
        if let Some(n) = wheel::header(&text, "Name")
            && names::normalize(n) != c.project.as_str()
        {
            return Err(bad(format!(
                "the wheel's METADATA names project {n:?}, not {}",
                c.project
            )));
        }
        if requires_python.is_none() {
            requires_python = wheel::header(&text, "Requires-Python").map(str::to_owned);
        }
        let md_blob = upload::store_bytes(blobs.as_ref(), md, None)
            .await
            .map_err(Failure::from_core)?;
        attrs.insert(ATTR_CORE_METADATA.into(), json!(md_blob.digest.hex()));
        let md_path = AssetPath::parse(&format!("{}.metadata", c.path)).map_err(|e| bad(e.msg))?;
        repo.put(
            &call.ctx,
            &md_path,
            NewAsset {
                blob: md_blob,
                content_type: Some("text/plain; charset=utf-8".into()),
                attrs: json!({ "metadata_of": content.filename }),
            },
        )
        .await
        .map_err(Failure::from_core)?;
    }
    if let Some(r) = requires_python.filter(|r| !r.trim().is_empty()) {
        attrs.insert(ATTR_REQUIRES_PYTHON.into(), json!(r.trim()));
    }
    if let Some(u) = &call.ctx.user {
        attrs.insert("uploader".into(), json!(u));
    }
    repo.put(
        &call.ctx,
        &c.path,
        NewAsset {
            blob,
            content_type: Some("application/octet-stream".into()),
            attrs: Value::Object(attrs),
        },
    )
    .await
    .map_err(Failure::from_core)?;
    Ok(())
}

/// Yanks (`reason`: `Some`, maybe empty) or un-yanks (`None`) every file of `version` of
/// `project` (PEP 592); the number of files changed.
pub async fn set_yanked(
    repo: &dyn Repository,
    ctx: &Ctx,
    project: &Project,
    version: &str,
    reason: Option<&str>,
) -> Result<usize> {
    let rows = repo.list(ctx, &project.prefix(), &Page::default()).await?;
    let mut changed = 0;
    for m in rows {
        let Some(Stored::File(_, filename)) = stored(m.path.as_str()) else {
            continue;
        };
        let v = m
            .attrs
            .get(ATTR_VERSION)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| names::version_of(project, &filename));
        if v.as_deref() != Some(version) {
            continue;
        }
        let mut attrs = match m.attrs {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        let now = attrs
            .get(ATTR_YANKED)
            .and_then(Value::as_str)
            .map(str::to_owned);
        if now.as_deref() == reason {
            continue;
        }
        match reason {
            Some(r) => attrs.insert(ATTR_YANKED.into(), json!(r)),
            None => attrs.remove(ATTR_YANKED),
        };
        repo.put(
            ctx,
            &m.path,
            NewAsset {
                blob: m.blob,
                content_type: m.content_type,
                attrs: Value::Object(attrs),
            },
        )
        .await?;
        changed += 1;
    }
    Ok(changed)
}

/// The bytes of a small stored document (a wheel's metadata), for the browse views.
pub async fn read_small(repo: &dyn Repository, ctx: &Ctx, path: &str) -> Result<Option<Bytes>> {
    let Some(asset) = repo.get(ctx, &AssetPath::parse(path)?, None).await? else {
        return Ok(None);
    };
    trove_core::documents::collect(asset.body, asset.meta.blob.size)
        .await
        .map(Some)
}
