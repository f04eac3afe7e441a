//! Upload expiry: sessions idle for longer than `upload_ttl_hours` end and their partial bytes
//! go; so do upload files no session row knows (a crash between creating the file and the
//! row, or a manifest's own short-lived upload), once as old.

use serde_json::json;

use super::{Lifecycle, Outcome, ago};

pub(super) async fn run(life: &Lifecycle, dry_run: bool) -> anyhow::Result<Outcome> {
    let before = ago(life.upload_ttl);
    let idle = life.meta.uploads().idle_since(before).await?;
    let mut sessions = 0u64;
    for id in &idle {
        if !dry_run {
            if let Ok(upload) = trove_core::UploadId::parse(id) {
                match life.blobs.abort(&upload).await {
                    Ok(()) => {}
                    Err(e) if e.kind == trove_core::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            life.meta.uploads().delete(id).await?;
        }
        sessions += 1;
    }
    let known: std::collections::HashSet<String> =
        life.meta.uploads().ids().await?.into_iter().collect();
    let mut files = 0u64;
    for (id, modified) in life.blobs.list_uploads().await? {
        if modified >= before || known.contains(id.as_str()) {
            continue;
        }
        if !dry_run {
            match life.blobs.abort(&id).await {
                Ok(()) => {}
                Err(e) if e.kind == trove_core::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
        }
        files += 1;
    }
    if let Err(e) = life.meta.sessions().expire().await {
        tracing::warn!(error = %e, "expiring console sessions failed");
    }
    Ok(Outcome {
        deleted: sessions + files,
        bytes_freed: 0,
        errors: Vec::new(),
        report: json!({"sessions": sessions, "orphan_files": files}),
    })
}
