//! Garbage collection, online (docs/storage.md, "Garbage collection"). For each repository:
//! index rows written before roles existed, evict a proxy over its `max_cache_bytes`, then
//! remove rows nothing keeps, in rounds; then remove blobs no row links. Every removal is a
//! write transaction that checks again what it removes (`trove_store::Gc`), so pushes,
//! mounts and proxy fetches go on throughout and never lose what they linked. A dry run
//! reports what a run would remove and free, and changes nothing.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::json;
use trove_core::lifecycle::describe;
use trove_core::{Digest, FormatSpec, KindConfig, RepositoryConfig};
use trove_store::{Candidate, Retention};

use super::{Lease, Lifecycle, Outcome, Sample, ago};

/// Rows read per candidate query and removed per transaction: a writer waits for at most one
/// batch.
const BATCH: u32 = 256;
/// Rounds per repository and run: each removes what the previous one left unreferenced
/// (tag → index → manifest → layers is three); what is left waits for the next run.
const MAX_ROUNDS: usize = 16;

/// What a collection removed (or, dry, would remove).
#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    /// Rows written before roles existed, indexed now.
    pub indexed: u64,
    /// Rows of parts (layers) nothing needed.
    pub parts: u64,
    /// Untagged documents (manifests) under a repository's untagged rule.
    pub documents: u64,
    /// Rows a proxy over its `max_cache_bytes` evicted.
    pub evicted: u64,
    /// Blobs removed from the blob store, and their bytes.
    pub blobs: u64,
    pub bytes: u64,
    /// Per repository: `(parts, documents, evicted)`.
    pub repositories: BTreeMap<String, [u64; 3]>,
}

pub(super) async fn run(
    life: &Lifecycle,
    lease: &Lease<'_>,
    dry_run: bool,
) -> anyhow::Result<Outcome> {
    let mut report = GcReport::default();
    let mut errors = Vec::new();
    let mut sample = Sample::new(200);
    let grace_cutoff = ago(life.storage.gc_grace);
    let repos = life.meta.repos().list().await?;
    // Rows a dry run would remove, across repositories: the blobs only they link would go.
    let mut planned: Vec<(String, Candidate)> = Vec::new();
    for repo in &repos {
        let spec = match life.spec_of(repo) {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("repository {}: {}; skipped", repo.name, e.msg));
                continue;
            }
        };
        let rules = retention(spec.as_ref(), grace_cutoff);
        let unindexed = index(life, lease, repo, spec.as_ref(), dry_run, &mut report).await?;
        if unindexed {
            // Rows without a role are kept, and so is what they may need: this repository
            // waits until they are indexed (a dry run does not write them).
            errors.push(format!(
                "repository {} has rows written before roles existed; a real run indexes them first",
                repo.name
            ));
            continue;
        }
        evict(
            life,
            lease,
            repo,
            spec.as_ref(),
            dry_run,
            &mut report,
            &mut sample,
        )
        .await?;
        if dry_run {
            for c in life.meta.gc().plan(&repo.id, &rules).await? {
                count(&mut report, repo.name.as_str(), &c, &mut sample);
                planned.push((repo.id.clone(), c));
            }
            continue;
        }
        for _ in 0..MAX_ROUNDS {
            let mut after = String::new();
            let mut removed_this_round = 0;
            loop {
                lease.keep().await?;
                let batch = life
                    .meta
                    .gc()
                    .candidates(&repo.id, &rules, &after, BATCH)
                    .await?;
                let Some(last) = batch.last() else { break };
                after = last.path.clone();
                let swept = life.meta.gc().sweep(&repo.id, &rules, &batch).await?;
                removed_this_round += swept.len();
                for c in &swept {
                    count(&mut report, repo.name.as_str(), c, &mut sample);
                }
                tokio::task::yield_now().await;
                if (batch.len() as u32) < BATCH {
                    break;
                }
            }
            if removed_this_round == 0 {
                break;
            }
        }
    }
    if dry_run {
        blobs_dry(life, grace_cutoff, &planned, &mut report).await?;
    } else {
        blobs(life, lease, grace_cutoff, &mut report).await?;
    }
    let deleted = report.parts + report.documents + report.evicted + report.blobs;
    let bytes = report.bytes;
    let mut value = serde_json::to_value(&report)?;
    value["sample"] = json!(sample.items);
    value["sample_total"] = json!(sample.total);
    if let Some(rss) = super::peak_rss_bytes() {
        value["peak_rss_bytes"] = json!(rss);
    }
    Ok(Outcome {
        deleted,
        bytes_freed: bytes,
        errors,
        report: value,
    })
}

/// When rows of a repository of this format qualify: parts after the grace window; documents
/// under the format's untagged rule, never within the grace window either.
pub(super) fn retention(spec: &dyn FormatSpec, grace_cutoff: i64) -> Retention {
    Retention {
        parts_linked_before: grace_cutoff,
        documents_unused_before: spec.untagged_after_days().map(|days| {
            let rule = ago(std::time::Duration::from_secs(u64::from(days) * 86_400));
            rule.min(grace_cutoff)
        }),
    }
}

fn count(report: &mut GcReport, repo: &str, c: &Candidate, sample: &mut Sample) {
    let entry = report.repositories.entry(repo.to_owned()).or_default();
    match c.role {
        trove_core::AssetRole::Document => {
            report.documents += 1;
            entry[1] += 1;
        }
        _ => {
            report.parts += 1;
            entry[0] += 1;
        }
    }
    sample.push(json!({"repository": repo, "path": c.path, "size": c.size}));
}

/// Gives rows written before roles existed their role and references, as their format says
/// (reading a document's body for its references). Returns whether any is left (a dry run
/// only counts them).
async fn index(
    life: &Lifecycle,
    lease: &Lease<'_>,
    repo: &RepositoryConfig,
    spec: &dyn FormatSpec,
    dry_run: bool,
    report: &mut GcReport,
) -> anyhow::Result<bool> {
    loop {
        let rows = life.meta.gc().unindexed(&repo.id, BATCH).await?;
        if rows.is_empty() {
            return Ok(false);
        }
        if dry_run {
            return Ok(true);
        }
        for (path, digest, size) in rows {
            lease.keep().await?;
            let key = trove_core::AssetPath::parse(&path)?;
            let blob = trove_core::BlobInfo {
                digest: digest.clone(),
                size,
            };
            // A document whose body is gone (a row written before the write order was kept)
            // gets no references: it keeps nothing, and is kept itself as a root would be
            // until the untagged rule says otherwise.
            let (role, refs) = match describe(spec, life.blobs.as_ref(), &key, &blob).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(repository = %repo.name, %path, error = %e.msg, "indexing a row: its body is unreadable");
                    (spec.role(&key), Vec::new())
                }
            };
            if life
                .meta
                .gc()
                .index(&repo.id, &path, &digest, role, &refs)
                .await?
            {
                report.indexed += 1;
            }
        }
    }
}

/// Evicts a proxy's least recently used content (what its format lets go) until it holds no
/// more than its `max_cache_bytes`.
async fn evict(
    life: &Lifecycle,
    lease: &Lease<'_>,
    repo: &RepositoryConfig,
    spec: &dyn FormatSpec,
    dry_run: bool,
    report: &mut GcReport,
    sample: &mut Sample,
) -> anyhow::Result<()> {
    let KindConfig::Proxy(p) = &repo.kind else {
        return Ok(());
    };
    let Some(max) = p.max_cache_bytes else {
        return Ok(());
    };
    let (mut used, _) = life.meta.assets().repo_usage(&repo.id).await?;
    if used <= max {
        return Ok(());
    }
    let mut after: Option<(i64, String)> = None;
    let mut gone: HashSet<String> = HashSet::new();
    'pages: while used > max {
        lease.keep().await?;
        let page = life
            .meta
            .assets()
            .least_recently_used(
                &repo.id,
                after.as_ref().map(|(t, p)| (*t, p.as_str())),
                BATCH,
            )
            .await?;
        let Some((t, last)) = page.last() else { break };
        after = Some((*t, last.path.to_string()));
        for (_, m) in &page {
            if !spec.evictable(&m.path) {
                continue;
            }
            if dry_run {
                // Counted once per blob, as usage counts.
                if gone.insert(m.blob.digest.to_string()) {
                    used = used.saturating_sub(m.blob.size);
                }
            } else {
                if !life.meta.assets().delete(&repo.id, m.path.as_str()).await? {
                    continue;
                }
                used = life.meta.assets().repo_usage(&repo.id).await?.0;
            }
            report.evicted += 1;
            report
                .repositories
                .entry(repo.name.to_string())
                .or_default()[2] += 1;
            sample.push(json!({"repository": repo.name.as_str(), "path": m.path.as_str(), "size": m.blob.size, "evicted": true}));
            if used <= max {
                break 'pages;
            }
        }
        if (page.len() as u32) < BATCH {
            break;
        }
    }
    Ok(())
}

/// Removes blobs no row links and the blob store says are older than the grace window: first
/// `blobs` rows no asset links, then files no row knows (an upload committed by a push that
/// never linked it: a crash, a refused manifest, a quota).
async fn blobs(
    life: &Lifecycle,
    lease: &Lease<'_>,
    cutoff: i64,
    report: &mut GcReport,
) -> anyhow::Result<()> {
    let mut after = String::new();
    loop {
        lease.keep().await?;
        let rows = life.meta.gc().unlinked_blobs(&after, BATCH).await?;
        let Some((last, _)) = rows.last() else { break };
        after = last.to_string();
        let digests: Vec<Digest> = rows.iter().map(|(d, _)| d.clone()).collect();
        tally(
            report,
            life.meta
                .gc()
                .collect(life.blobs.as_ref(), &digests, cutoff)
                .await?,
        );
        tokio::task::yield_now().await;
        if (rows.len() as u32) < BATCH {
            break;
        }
    }
    let mut after: Option<Digest> = None;
    loop {
        lease.keep().await?;
        let page = life.blobs.list(after.as_ref(), BATCH as usize).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.digest.clone());
        let digests: Vec<Digest> = page.iter().map(|b| b.digest.clone()).collect();
        let linked = life.meta.gc().linked(&digests).await?;
        let candidates: Vec<Digest> = page
            .iter()
            .filter(|b| b.modified < cutoff && !linked.contains(&b.digest.to_string()))
            .map(|b| b.digest.clone())
            .collect();
        if !candidates.is_empty() {
            tally(
                report,
                life.meta
                    .gc()
                    .collect(life.blobs.as_ref(), &candidates, cutoff)
                    .await?,
            );
        }
        tokio::task::yield_now().await;
        if page.len() < BATCH as usize {
            break;
        }
    }
    Ok(())
}

fn tally(report: &mut GcReport, collected: Vec<trove_store::Collected>) {
    for c in collected {
        report.blobs += 1;
        report.bytes += c.bytes;
    }
}

/// What [`blobs`] would remove after the planned rows went: blobs only planned rows link,
/// blob rows nothing links, and files no row knows, older than the grace window.
async fn blobs_dry(
    life: &Lifecycle,
    cutoff: i64,
    planned: &[(String, Candidate)],
    report: &mut GcReport,
) -> anyhow::Result<()> {
    let planned_rows: HashSet<(&str, &str)> = planned
        .iter()
        .map(|(repo, c)| (repo.as_str(), c.path.as_str()))
        .collect();
    let mut counted: HashSet<String> = HashSet::new();
    for (_, c) in planned {
        let key = c.digest.to_string();
        if counted.contains(&key) {
            continue;
        }
        let links = life.meta.gc().links_of(&c.digest).await?;
        if links
            .iter()
            .all(|(r, p)| planned_rows.contains(&(r.as_str(), p.as_str())))
            && let Some(s) = life.blobs.stored(&c.digest).await?
            && s.modified < cutoff
        {
            report.blobs += 1;
            report.bytes += s.size;
            counted.insert(key);
        }
    }
    let mut after: Option<Digest> = None;
    loop {
        let page = life.blobs.list(after.as_ref(), BATCH as usize).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.digest.clone());
        let digests: Vec<Digest> = page.iter().map(|b| b.digest.clone()).collect();
        let linked = life.meta.gc().linked(&digests).await?;
        for b in &page {
            let key = b.digest.to_string();
            if b.modified < cutoff && !linked.contains(&key) && counted.insert(key) {
                report.blobs += 1;
                report.bytes += b.size;
            }
        }
        if page.len() < BATCH as usize {
            break;
        }
    }
    Ok(())
}
