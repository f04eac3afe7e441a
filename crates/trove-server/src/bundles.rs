//! `trove bundle export|import|manifest` (issue 23, docs/bundles.md) on an opened node: the
//! formats' logic from the registry, the node's stores, files written beside and renamed.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use trove_bundle::{ExportReport, Have, ImportReport, Selection};

use crate::Trove;

/// The format logic of a repository, from the registry.
pub fn spec_of(repo: &trove_core::RepositoryConfig) -> Option<Arc<dyn trove_core::FormatSpec>> {
    trove_formats::registry().spec(repo).ok()
}

/// `--since`: a date (midnight UTC) or an RFC 3339 time, as unix millis.
pub fn since_millis(s: &str) -> anyhow::Result<i64> {
    let t = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    let at = humantime::parse_rfc3339_weak(&t)
        .map_err(|e| anyhow::anyhow!("--since {s:?}: {e} (use YYYY-MM-DD or RFC 3339)"))?;
    Ok(at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64))
}

/// Writes the bundle of `sel` to `output` (`-`: standard output). A file is written beside
/// (`.partial`), synced and renamed: a bundle cut short is never mistaken for a whole one.
pub async fn export(
    t: &Trove,
    sel: &Selection,
    oci_layout: bool,
    key: Option<trove_bundle::SigningKey>,
    output: &Path,
) -> anyhow::Result<ExportReport> {
    let blobs = t.front.blobs.clone();
    let manifest = trove_bundle::plan(&t.meta, &*blobs, &spec_of, sel).await?;
    let handle = tokio::runtime::Handle::current();
    let output = output.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        if output.as_os_str() == "-" {
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            return trove_bundle::write_bundle(
                &handle,
                blobs,
                &manifest,
                out,
                oci_layout,
                key.as_ref(),
                |_| {},
            );
        }
        let partial = output.with_extension("partial");
        let file = std::fs::File::create(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let report = trove_bundle::write_bundle(
            &handle,
            blobs,
            &manifest,
            &mut out,
            oci_layout,
            key.as_ref(),
            |_| {},
        )?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&partial, &output)
            .with_context(|| format!("renaming to {}", output.display()))?;
        Ok(report)
    })
    .await?
}

/// Imports the bundle at `path` (into `into`, or the repositories of the same names).
pub async fn import(
    t: &Trove,
    path: &Path,
    into: Option<&str>,
    verify: Option<trove_bundle::VerifyingKey>,
) -> anyhow::Result<ImportReport> {
    let handle = tokio::runtime::Handle::current();
    let meta = t.meta.clone();
    let blobs = t.front.blobs.clone();
    let path = path.to_owned();
    let into = into.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let file =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let input = std::io::BufReader::with_capacity(1 << 20, file);
        trove_bundle::import_bundle(
            &handle,
            &meta,
            blobs,
            &spec_of,
            input,
            trove_bundle::ImportOptions {
                into: into.as_deref(),
                verify: verify.as_ref(),
            },
            |_| {},
        )
    })
    .await?
}

/// Writes what `repositories` (every repository when empty) hold to `output`.
pub async fn manifest(t: &Trove, repositories: &[String], output: &Path) -> anyhow::Result<Have> {
    let have = trove_bundle::have(&t.meta, repositories).await?;
    std::fs::write(output, serde_json::to_vec_pretty(&have)?)
        .with_context(|| format!("writing {}", output.display()))?;
    Ok(have)
}

/// One line saying what an import did.
pub fn summary(r: &ImportReport) -> String {
    format!(
        "imported: {} blobs added ({} bytes), {} already here, {} refused; rows: {} added, {} replaced, {} unchanged, {} refused",
        r.blobs_added,
        r.bytes_added,
        r.blobs_existing,
        r.blobs_refused.len(),
        r.assets_added,
        r.assets_replaced,
        r.assets_unchanged,
        r.assets_refused.len()
    )
}
