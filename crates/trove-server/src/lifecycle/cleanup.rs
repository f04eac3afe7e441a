//! Cleanup policies (docs/storage.md, "Cleanup policies"): which versions of a repository a
//! policy selects, their deletion, and the preview (a dry run: what would go and the bytes the
//! next collection would free, computed in a rolled-back transaction, so the run agrees).
//!
//! A version is what the format calls one (`FormatSpec::version`: a docker tag, a raw file).
//! Its last download is the latest of its own and of the content it names
//! (`FormatSpec::content_alias`: for docker, the manifest by digest), so an image pulled only
//! by digest is in use: the Nexus bug where such manifests were reclaimed cannot happen.
//! Immutable tags are never selected.

use std::collections::BTreeMap;

use serde_json::json;
use trove_core::{AssetMeta, FormatSpec, RepositoryConfig};
use trove_store::PolicyRow;

use super::{Lease, Lifecycle, Outcome, ago};

const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);
/// Versions listed per repository in a run's report.
const LISTED: usize = 1000;

/// One version a policy looks at.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub path: String,
    pub component: String,
    pub version: String,
    pub digest: String,
    pub size: u64,
    /// When it was last pushed (unix millis).
    pub pushed: i64,
    /// Its last download, or that of the content it names.
    pub last_used: Option<i64>,
}

pub(super) async fn run(
    life: &Lifecycle,
    lease: &Lease<'_>,
    policy: &str,
    dry_run: bool,
) -> anyhow::Result<Outcome> {
    let Some(p) = life.meta.cleanup().get(policy).await? else {
        anyhow::bail!("no cleanup policy named {policy}");
    };
    let regex = p
        .name_regex
        .as_deref()
        .map(trove_formats::patterns::compile)
        .transpose()
        .map_err(|e| anyhow::anyhow!("cleanup policy {policy}: name_regex: {e}"))?;
    let users = life.meta.cleanup().used_by(policy).await?;
    let grace_cutoff = ago(life.storage.gc_grace);
    let mut outcome = Outcome::default();
    let mut per_repo = Vec::new();
    for repo in life.meta.repos().list().await? {
        if !users.iter().any(|u| u == repo.name.as_str()) {
            continue;
        }
        if p.format != "*" && p.format != repo.format.as_str() {
            outcome.errors.push(format!(
                "repository {} is a {} repository; policy {} is for {}: skipped",
                repo.name, repo.format, p.name, p.format
            ));
            continue;
        }
        let spec = match life.spec_of(&repo) {
            Ok(s) => s,
            Err(e) => {
                outcome
                    .errors
                    .push(format!("repository {}: {}; skipped", repo.name, e.msg));
                continue;
            }
        };
        let versions = versions(life, &repo, spec.as_ref()).await?;
        let selected = select(&p, regex.as_ref(), versions, trove_core::now_millis());
        let paths: Vec<String> = selected.iter().map(|v| v.path.clone()).collect();
        let rules = super::gc::retention(spec.as_ref(), grace_cutoff);
        let preview = life
            .meta
            .assets()
            .preview_removal(&repo.id, &paths, &rules)
            .await?;
        // Counted in versions (what people count); the rows each took are in the report.
        let (mut deleted, mut rows) = (0u64, 0u64);
        if !dry_run {
            for path in &paths {
                lease.keep().await?;
                // Checked again at deletion: one that became immutable (a changed rule) stays.
                if let Ok(key) = trove_core::AssetPath::parse(path)
                    && spec.immutable(&key).is_some()
                {
                    continue;
                }
                let removed = life.meta.assets().delete_cascade(&repo.id, path).await?;
                if !removed.is_empty() {
                    deleted += 1;
                    rows += removed.len() as u64;
                }
            }
        } else {
            deleted = selected.len() as u64;
            rows = preview.removed.len() as u64;
        }
        outcome.deleted += deleted;
        outcome.bytes_freed += preview.freed_bytes;
        per_repo.push(json!({
            "repository": repo.name.as_str(),
            "versions": selected.len(),
            "rows": rows,
            "bytes_to_free": preview.freed_bytes,
            "listed": selected.iter().take(LISTED).map(|v| json!({
                "component": v.component,
                "version": v.version,
                "path": v.path,
                "digest": v.digest,
                "size": v.size,
                "pushed": v.pushed,
                "last_downloaded": v.last_used,
            })).collect::<Vec<_>>(),
        }));
    }
    outcome.report = json!({
        "policy": p.name,
        "versions": per_repo.iter().map(|r| r["versions"].as_u64().unwrap_or(0)).sum::<u64>(),
        "repositories": per_repo,
        "note": "bytes_freed is what the next garbage collection frees because of these deletions",
    });
    Ok(outcome)
}

/// Every version of `repo` with its times; immutable ones are left out.
async fn versions(
    life: &Lifecycle,
    repo: &RepositoryConfig,
    spec: &dyn FormatSpec,
) -> anyhow::Result<Vec<Version>> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let page = life
            .meta
            .assets()
            .by_role(&repo.id, true, &after, 1000)
            .await?;
        let Some((last, _)) = page.last() else { break };
        after = last.path.to_string();
        for (m, pushed) in &page {
            let Some(v) = spec.version(&m.path) else {
                continue;
            };
            if spec.immutable(&m.path).is_some() {
                continue;
            }
            out.push(Version {
                path: m.path.to_string(),
                component: v.component,
                version: v.version,
                digest: m.blob.digest.to_string(),
                size: m.blob.size,
                pushed: *pushed,
                last_used: last_used(life, repo, spec, m).await?,
            });
        }
        if page.len() < 1000 {
            break;
        }
    }
    Ok(out)
}

/// The later of the version's own last download and that of the content it names (a docker
/// tag's manifest by digest): a pull by digest counts for every tag pointing at it.
async fn last_used(
    life: &Lifecycle,
    repo: &RepositoryConfig,
    spec: &dyn FormatSpec,
    m: &AssetMeta,
) -> anyhow::Result<Option<i64>> {
    let alias = match spec.content_alias(&m.path, &m.blob) {
        Some(a) => {
            life.meta
                .assets()
                .get(&repo.id, spec.storage_path(&a).as_str())
                .await?
        }
        None => None,
    };
    Ok(m.last_downloaded.max(alias.and_then(|a| a.last_downloaded)))
}

/// The versions `p` deletes: those meeting every criterion it sets, minus the `keep_latest`
/// most recently pushed of each component.
pub(crate) fn select(
    p: &PolicyRow,
    regex: Option<&trove_formats::patterns::Regex>,
    versions: Vec<Version>,
    now: i64,
) -> Vec<Version> {
    let day = DAY.as_millis() as i64;
    let mut by_component: BTreeMap<String, Vec<Version>> = BTreeMap::new();
    for v in versions {
        by_component.entry(v.component.clone()).or_default().push(v);
    }
    let mut out = Vec::new();
    for (_, mut vs) in by_component {
        // Most recent first; equal times by version, highest first, so the order is stable.
        vs.sort_by(|a, b| {
            b.pushed
                .cmp(&a.pushed)
                .then_with(|| b.version.cmp(&a.version))
        });
        let keep = p.keep_latest.unwrap_or(0) as usize;
        for v in vs.into_iter().skip(keep) {
            let published_ok = p
                .published_before_days
                .is_none_or(|d| v.pushed < now - i64::from(d) * day);
            let downloaded_ok = p
                .last_downloaded_before_days
                .is_none_or(|d| v.last_used.unwrap_or(v.pushed) < now - i64::from(d) * day);
            let name_ok =
                regex.is_none_or(|r| r.is_match(&format!("{}:{}", v.component, v.version)));
            if published_ok && downloaded_ok && name_ok {
                out.push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(
        component: &str,
        version: &str,
        pushed_days_ago: i64,
        used_days_ago: Option<i64>,
    ) -> Version {
        let day = DAY.as_millis() as i64;
        Version {
            path: format!("/v2/{component}/manifests/{version}"),
            component: component.into(),
            version: version.into(),
            digest: String::new(),
            size: 0,
            pushed: 100 * day - pushed_days_ago * day,
            last_used: used_days_ago.map(|d| 100 * day - d * day),
        }
    }

    fn names(vs: Vec<Version>) -> Vec<String> {
        let mut n: Vec<String> = vs
            .into_iter()
            .map(|v| format!("{}:{}", v.component, v.version))
            .collect();
        n.sort();
        n
    }

    /// Each criterion alone and together; keep_latest per component, by push time.
    #[test]
    fn policies_select_versions() {
        let now = 100 * DAY.as_millis() as i64;
        let all = || {
            vec![
                v("app", "1", 50, None),
                v("app", "2", 40, Some(1)),
                v("app", "3", 30, None),
                v("app", "4", 20, Some(25)),
                v("app", "5", 10, None),
                v("lib", "a", 60, Some(59)),
            ]
        };
        let policy = |f: &dyn Fn(&mut PolicyRow)| {
            let mut p = PolicyRow::default();
            f(&mut p);
            p
        };
        let keep2 = policy(&|p| p.keep_latest = Some(2));
        assert_eq!(
            names(select(&keep2, None, all(), now)),
            ["app:1", "app:2", "app:3"],
            "per component"
        );
        let old = policy(&|p| p.published_before_days = Some(35));
        assert_eq!(
            names(select(&old, None, all(), now)),
            ["app:1", "app:2", "lib:a"]
        );
        let unused = policy(&|p| p.last_downloaded_before_days = Some(22));
        // app:2 was downloaded a day ago; app:4 25 days ago; never downloaded counts from the push.
        assert_eq!(
            names(select(&unused, None, all(), now)),
            ["app:1", "app:3", "app:4", "lib:a"]
        );
        let re = trove_formats::patterns::compile("^app:[13]$").unwrap();
        let by_name = policy(&|p| p.name_regex = Some("x".into()));
        assert_eq!(
            names(select(&by_name, Some(&re), all(), now)),
            ["app:1", "app:3"]
        );
        let together = policy(&|p| {
            p.keep_latest = Some(1);
            p.last_downloaded_before_days = Some(22);
        });
        assert_eq!(
            names(select(&together, None, all(), now)),
            ["app:1", "app:3", "app:4"],
            "lib:a is its component's latest"
        );
    }
}
