//! Index pages of the simple repository API as data: built from a hosted repository's rows,
//! read from an upstream's JSON (PEP 691) or HTML (PEP 503) page and rewritten to Trove's
//! paths, merged for a group, and rendered as HTML. Pure functions; no I/O.
//!
//! The canonical form of every page is PEP 691 JSON with the PEP 700 fields; its file URLs are
//! relative to the page (`../../packages/<p>/<file>`), so a cached or merged page is valid for
//! any host name and a group's links lead to the group. The HTML form is a variant rendered
//! from it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use trove_core::{Algorithm, AssetMeta, Digest, RepoKind};

use super::names::{self, Project, Stored, file_href, stored};
use crate::kit::html::escape;

/// The JSON media type (PEP 691).
pub const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";
/// The HTML media type of PEP 691, and what browsers and old clients take.
pub const HTML_TYPE: &str = "application/vnd.pypi.simple.v1+html";
pub const TEXT_HTML: &str = "text/html";
/// The variant name of the HTML page.
pub const HTML: &str = "html";

/// The file row attrs a hosted repository writes (see `upload.rs`).
pub const ATTR_VERSION: &str = "version";
pub const ATTR_REQUIRES_PYTHON: &str = "requires_python";
pub const ATTR_CORE_METADATA: &str = "core_metadata";
pub const ATTR_YANKED: &str = "yanked";
pub const ATTR_FILETYPE: &str = "filetype";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(rename = "api-version")]
    pub api_version: String,
}

/// `true`, `false` or a text (`yanked`), as PEP 691 has them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Text(String),
}

/// Whether a file's core metadata is served, and its hashes (PEP 658/714).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CoreMetadata {
    Bool(bool),
    Hashes(BTreeMap<String, String>),
}

impl CoreMetadata {
    fn present(&self) -> bool {
        !matches!(self, CoreMetadata::Bool(false))
    }

    fn sha256(&self) -> Option<&str> {
        match self {
            CoreMetadata::Hashes(h) => h.get("sha256").map(String::as_str),
            CoreMetadata::Bool(_) => None,
        }
    }

    /// The HTML attribute's value: `sha256=<hex>`, or `true`.
    fn attribute(&self) -> String {
        match self {
            CoreMetadata::Hashes(h) => match h.iter().next() {
                Some((k, v)) => format!("{k}={v}"),
                None => "true".into(),
            },
            CoreMetadata::Bool(_) => "true".into(),
        }
    }

    /// From an HTML attribute's value.
    fn from_attribute(v: &str) -> CoreMetadata {
        match v.split_once('=') {
            Some((k, h)) if !k.is_empty() && !h.is_empty() => {
                CoreMetadata::Hashes(BTreeMap::from([(k.to_ascii_lowercase(), h.to_owned())]))
            }
            _ if v.eq_ignore_ascii_case("false") => CoreMetadata::Bool(false),
            _ => CoreMetadata::Bool(true),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub filename: String,
    pub url: String,
    #[serde(default)]
    pub hashes: BTreeMap<String, String>,
    #[serde(
        rename = "requires-python",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub requires_python: Option<String>,
    #[serde(
        rename = "core-metadata",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub core_metadata: Option<CoreMetadata>,
    /// The name PEP 658 first gave `core-metadata`, still read by older clients.
    #[serde(
        rename = "dist-info-metadata",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dist_info_metadata: Option<CoreMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanked: Option<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(
        rename = "upload-time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub upload_time: Option<String>,
}

impl FileEntry {
    /// The metadata flag under either name.
    pub fn metadata(&self) -> Option<&CoreMetadata> {
        self.core_metadata
            .as_ref()
            .or(self.dist_info_metadata.as_ref())
            .filter(|m| m.present())
    }

    /// The yank reason (`""` when yanked without one), `None` when not yanked.
    pub fn yank_reason(&self) -> Option<&str> {
        match &self.yanked {
            Some(Flag::Bool(true)) => Some(""),
            Some(Flag::Text(t)) => Some(t),
            _ => None,
        }
    }
}

/// A project's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectPage {
    pub meta: Meta,
    pub name: String,
    /// PEP 700 (API 1.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRef {
    pub name: String,
}

/// The list of projects (`/simple/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectList {
    pub meta: Meta,
    pub projects: Vec<ProjectRef>,
}

/// PEP 700's timestamps: `2026-12-03T15:04:05.123456Z`.
pub fn iso(millis: i64) -> String {
    humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64))
        .to_string()
}

/// An order of versions for people (not PEP 440's, which only matters to resolvers): release
/// numbers, then dev < pre-releases < the release < post-releases.
pub fn version_key(v: &str) -> (Vec<u64>, u8, String) {
    let v = v.trim_start_matches(['v', 'V']);
    let end = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let release = v[..end].split('.').filter_map(|n| n.parse().ok()).collect();
    let rest = v[end..]
        .trim_start_matches(['.', '-', '_'])
        .to_ascii_lowercase();
    let class = if rest.is_empty() || rest.starts_with('+') {
        3
    } else if rest.starts_with("dev") {
        0
    } else if rest.starts_with("rc") || rest.starts_with("pre") || rest.starts_with(['a', 'b', 'c'])
    {
        1
    } else if rest.starts_with("post")
        || rest.starts_with('r')
        || rest.starts_with(|c: char| c.is_ascii_digit())
    {
        4
    } else {
        2
    };
    (release, class, rest)
}

fn sorted_versions(versions: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut vs: Vec<String> = versions
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    vs.sort_by_key(|v| version_key(v));
    vs
}

/// API 1.1 when every file has its size (PEP 700 makes `size` mandatory there), else 1.0.
fn page(name: &str, versions: Vec<String>, files: Vec<FileEntry>) -> ProjectPage {
    let api = if files.iter().all(|f| f.size.is_some()) {
        "1.1"
    } else {
        "1.0"
    };
    ProjectPage {
        meta: Meta {
            api_version: api.into(),
        },
        name: name.to_owned(),
        versions: sorted_versions(versions),
        files,
    }
}

fn attr<'a>(m: &'a AssetMeta, key: &str) -> Option<&'a str> {
    m.attrs.get(key).and_then(|v| v.as_str())
}

/// A hosted project's page from its file rows; `None` when it has no files.
pub fn hosted_page(project: &Project, rows: &[AssetMeta]) -> Option<ProjectPage> {
    let mut files = Vec::new();
    let mut versions = Vec::new();
    for m in rows {
        let Some(Stored::File(_, filename)) = stored(m.path.as_str()) else {
            continue;
        };
        let version = attr(m, ATTR_VERSION)
            .map(str::to_owned)
            .or_else(|| names::version_of(project, &filename));
        versions.extend(version);
        let mut hashes = BTreeMap::new();
        if m.blob.digest.algorithm() == Algorithm::Sha256 {
            hashes.insert("sha256".to_owned(), m.blob.digest.hex().to_owned());
        }
        let metadata = attr(m, ATTR_CORE_METADATA)
            .map(|h| CoreMetadata::Hashes(BTreeMap::from([("sha256".to_owned(), h.to_owned())])));
        files.push(FileEntry {
            url: file_href(project, &filename),
            filename,
            hashes,
            requires_python: attr(m, ATTR_REQUIRES_PYTHON)
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
            core_metadata: metadata.clone(),
            dist_info_metadata: metadata,
            yanked: attr(m, ATTR_YANKED).map(|r| Flag::Text(r.to_owned())),
            size: Some(m.blob.size),
            upload_time: Some(iso(m.created)),
        });
    }
    if files.is_empty() {
        return None;
    }
    files.sort_by(|a, b| a.filename.cmp(&b.filename));
    Some(page(project.as_str(), versions, files))
}

/// The list of projects, from every stored path under `/packages/`.
pub fn hosted_projects(paths: &[String]) -> ProjectList {
    let names: BTreeSet<&str> = paths
        .iter()
        .filter_map(|p| p.strip_prefix("/packages/")?.split('/').next())
        .collect();
    list(names.into_iter().map(str::to_owned))
}

fn list(names: impl IntoIterator<Item = String>) -> ProjectList {
    ProjectList {
        meta: Meta {
            api_version: "1.1".into(),
        },
        projects: names.into_iter().map(|name| ProjectRef { name }).collect(),
    }
}

/// What an upstream file link teaches a proxy: the path it is served at, where it lives, the
/// SHA-256 its link announced (and the same for its core metadata, when served).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taught {
    pub path: String,
    pub url: String,
    pub sha256: Option<Digest>,
}

fn sha256_of(hex: Option<&str>) -> Option<Digest> {
    let h = hex?.to_ascii_lowercase();
    Digest::parse(&format!("sha256:{h}")).ok()
}

/// An upstream project page (JSON or HTML, as `content_type` says) made Trove's: every file
/// URL resolved against `page_url` and replaced by Trove's path, relative to the page; the
/// real URLs are returned to be remembered. Files whose names Trove would not serve are left
/// out.
pub fn rewrite_project(
    project: &Project,
    bytes: &[u8],
    content_type: Option<&str>,
    page_url: &str,
) -> Result<(ProjectPage, Vec<Taught>), String> {
    let base = url::Url::parse(page_url).map_err(|e| format!("bad upstream URL: {e}"))?;
    let upstream = if is_json(content_type) {
        serde_json::from_slice::<ProjectPage>(bytes)
            .map_err(|e| format!("the upstream page of {project} is not PEP 691 JSON: {e}"))?
    } else {
        parse_html_project(project, bytes)?
    };
    let mut files = Vec::new();
    let mut taught = Vec::new();
    let mut seen = HashSet::new();
    let mut versions: Vec<String> = upstream.versions;
    for mut f in upstream.files {
        let Ok(url) = base.join(&f.url) else { continue };
        if !matches!(url.scheme(), "http" | "https") {
            continue;
        }
        let filename = if f.filename.is_empty() {
            url.path_segments()
                .and_then(|mut s| s.next_back())
                .and_then(|s| percent_encoding::percent_decode_str(s).decode_utf8().ok())
                .map(|s| s.into_owned())
                .unwrap_or_default()
        } else {
            f.filename.clone()
        };
        if !names::filename_ok(&filename) || !seen.insert(filename.to_ascii_lowercase()) {
            continue;
        }
        let mut file_url = url.clone();
        file_url.set_fragment(None);
        let path = project.file(&filename);
        if let Some(m) = f.metadata() {
            taught.push(Taught {
                path: format!("{path}.metadata"),
                url: format!("{file_url}.metadata"),
                sha256: sha256_of(m.sha256()),
            });
        }
        taught.push(Taught {
            path,
            url: file_url.to_string(),
            sha256: sha256_of(f.hashes.get("sha256").map(String::as_str)),
        });
        versions.extend(names::version_of(project, &filename));
        f.url = file_href(project, &filename);
        f.filename = filename;
        // Both names of the metadata flag, whichever the upstream used.
        let m = f.metadata().cloned();
        f.core_metadata = m.clone();
        f.dist_info_metadata = m;
        files.push(f);
    }
    Ok((page(project.as_str(), versions, files), taught))
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|c| {
        let c = c.split(';').next().unwrap_or_default().trim();
        c.eq_ignore_ascii_case(JSON_TYPE)
            || c.eq_ignore_ascii_case("application/vnd.pypi.simple.latest+json")
            || c.eq_ignore_ascii_case("application/json")
    })
}

/// An anchor's attributes by name (a value-less attribute is `None`).
type Attrs = BTreeMap<String, Option<String>>;

/// The anchors of an HTML page: (attributes by name, text), entities decoded.
fn anchors(bytes: &[u8]) -> Result<Vec<(Attrs, String)>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the upstream page is not UTF-8")?;
    let dom = tl::parse(text, tl::ParserOptions::default())
        .map_err(|e| format!("the upstream page is not HTML: {e}"))?;
    let parser = dom.parser();
    let mut out = Vec::new();
    for node in dom.nodes() {
        let Some(tag) = node.as_tag() else { continue };
        if !tag.name().as_utf8_str().eq_ignore_ascii_case("a") {
            continue;
        }
        let mut attrs = BTreeMap::new();
        for (k, v) in tag.attributes().iter() {
            attrs.insert(
                k.to_ascii_lowercase(),
                v.map(|v| html_escape::decode_html_entities(&v).into_owned()),
            );
        }
        let inner = html_escape::decode_html_entities(&tag.inner_text(parser)).into_owned();
        out.push((attrs, inner.trim().to_owned()));
    }
    Ok(out)
}

/// A PEP 503 page as a PEP 691 one (URLs still the upstream's).
fn parse_html_project(project: &Project, bytes: &[u8]) -> Result<ProjectPage, String> {
    let mut files = Vec::new();
    for (attrs, text) in anchors(bytes)? {
        let Some(Some(href)) = attrs.get("href") else {
            continue;
        };
        let mut hashes = BTreeMap::new();
        if let Some((_, frag)) = href.split_once('#')
            && let Some((algo, hex)) = frag.split_once('=')
            && !hex.is_empty()
        {
            hashes.insert(algo.to_ascii_lowercase(), hex.to_owned());
        }
        let get = |k: &str| attrs.get(k).map(|v| v.clone().unwrap_or_default());
        let metadata = get("data-core-metadata")
            .or_else(|| get("data-dist-info-metadata"))
            .map(|v| CoreMetadata::from_attribute(&v));
        files.push(FileEntry {
            filename: String::new(),
            url: href.clone(),
            hashes,
            requires_python: get("data-requires-python").filter(|r| !r.is_empty()),
            core_metadata: metadata.clone(),
            dist_info_metadata: metadata,
            yanked: get("data-yanked").map(Flag::Text),
            size: None,
            upload_time: None,
        });
        let _ = text;
    }
    Ok(ProjectPage {
        meta: Meta {
            api_version: "1.0".into(),
        },
        name: project.as_str().to_owned(),
        versions: Vec::new(),
        files,
    })
}

/// An upstream list of projects (JSON or HTML) as Trove's.
pub fn rewrite_projects(bytes: &[u8], content_type: Option<&str>) -> Result<ProjectList, String> {
    let names: Vec<String> = if is_json(content_type) {
        serde_json::from_slice::<ProjectList>(bytes)
            .map_err(|e| format!("the upstream project list is not PEP 691 JSON: {e}"))?
            .projects
            .into_iter()
            .map(|p| p.name)
            .collect()
    } else {
        anchors(bytes)?.into_iter().map(|(_, text)| text).collect()
    };
    Ok(list(
        names
            .into_iter()
            .filter(|n| Project::parse(n).is_ok())
            .collect::<BTreeSet<_>>(),
    ))
}

/// One member's page, for [`merge_project`].
pub struct Part {
    pub kind: RepoKind,
    pub page: ProjectPage,
}

/// A group's page from its members' (in member order): the union of their files, where the
/// first member that has a file name wins. With `hosted_hides_proxied`, a project that a
/// hosted member has hides the same project in proxy members: a private project is never mixed
/// with a public one of the same name (dependency confusion). `None` when no part is left.
pub fn merge_project(
    project: &str,
    parts: Vec<Part>,
    hosted_hides_proxied: bool,
) -> Option<ProjectPage> {
    let hosted = parts.iter().any(|p| p.kind == RepoKind::Hosted);
    let parts: Vec<Part> = parts
        .into_iter()
        .filter(|p| !(hosted_hides_proxied && hosted && p.kind == RepoKind::Proxy))
        .collect();
    if parts.is_empty() {
        return None;
    }
    let mut seen = HashSet::new();
    let mut files = Vec::new();
    let mut versions = Vec::new();
    for p in parts {
        versions.extend(p.page.versions);
        for f in p.page.files {
            if seen.insert(f.filename.to_ascii_lowercase()) {
                files.push(f);
            }
        }
    }
    Some(page(project, versions, files))
}

/// The union of members' project lists.
pub fn merge_projects(lists: Vec<ProjectList>) -> ProjectList {
    let mut by_norm: BTreeMap<String, String> = BTreeMap::new();
    for l in lists {
        for p in l.projects {
            by_norm.entry(names::normalize(&p.name)).or_insert(p.name);
        }
    }
    list(by_norm.into_values())
}

/// PEP 503 HTML of a project page (with PEP 629's repository version).
pub fn project_html(page: &ProjectPage) -> String {
    let mut out = String::with_capacity(256 + page.files.len() * 200);
    let name = escape(&page.name);
    out.push_str(&format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{}\">\n    \
         <title>Links for {name}</title>\n  </head>\n  <body>\n    <h1>Links for {name}</h1>\n",
        escape(&page.meta.api_version)
    ));
    for f in &page.files {
        let mut href = f.url.clone();
        if let Some(h) = f.hashes.get("sha256").or_else(|| f.hashes.values().next()) {
            let algo = if f.hashes.contains_key("sha256") {
                "sha256"
            } else {
                f.hashes
                    .keys()
                    .next()
                    .map(String::as_str)
                    .unwrap_or("sha256")
            };
            href.push_str(&format!("#{algo}={h}"));
        }
        out.push_str(&format!("    <a href=\"{}\"", escape(&href)));
        if let Some(r) = &f.requires_python {
            out.push_str(&format!(" data-requires-python=\"{}\"", escape(r)));
        }
        if let Some(m) = f.metadata() {
            let v = escape(&m.attribute());
            out.push_str(&format!(
                " data-core-metadata=\"{v}\" data-dist-info-metadata=\"{v}\""
            ));
        }
        if let Some(reason) = f.yank_reason() {
            out.push_str(&format!(" data-yanked=\"{}\"", escape(reason)));
        }
        out.push_str(&format!(">{}</a><br>\n", escape(&f.filename)));
    }
    out.push_str("  </body>\n</html>\n");
    out
}

/// PEP 503 HTML of the list of projects.
pub fn projects_html(list: &ProjectList) -> String {
    let mut out = String::with_capacity(256 + list.projects.len() * 60);
    out.push_str(&format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"{}\">\n    \
         <title>Simple index</title>\n  </head>\n  <body>\n",
        escape(&list.meta.api_version)
    ));
    for p in &list.projects {
        out.push_str(&format!(
            "    <a href=\"{}/\">{}</a><br>\n",
            escape(&names::normalize(&p.name)),
            escape(&p.name)
        ));
    }
    out.push_str("  </body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use trove_core::{AssetPath, BlobInfo};

    fn p(s: &str) -> Project {
        Project::parse(s).unwrap()
    }

    fn row(path: &str, attrs: serde_json::Value, body: &[u8]) -> AssetMeta {
        AssetMeta {
            path: AssetPath::parse(path).unwrap(),
            blob: BlobInfo {
                digest: Digest::of(Algorithm::Sha256, body),
                size: body.len() as u64,
            },
            content_type: None,
            created: 1_700_000_000_123,
            last_downloaded: None,
            attrs,
        }
    }

    #[test]
    fn hosted_pages_have_hashes_sizes_times_metadata_and_yanks() {
        let md = Digest::of(Algorithm::Sha256, b"Metadata-Version: 2.1");
        let rows = vec![
            row(
                "/packages/demo/demo-1.0-py3-none-any.whl",
                json!({"version": "1.0", "requires_python": ">=3.8", "core_metadata": md.hex()}),
                b"wheel",
            ),
            row(
                "/packages/demo/demo-1.0-py3-none-any.whl.metadata",
                json!({}),
                b"Metadata-Version: 2.1",
            ),
            row(
                "/packages/demo/demo-0.9.tar.gz",
                json!({"version": "0.9", "yanked": "broken"}),
                b"sdist",
            ),
        ];
        let page = hosted_page(&p("demo"), &rows).unwrap();
        assert_eq!(page.meta.api_version, "1.1");
        assert_eq!(page.versions, ["0.9", "1.0"]);
        assert_eq!(
            page.files.len(),
            2,
            "the metadata file is not a file of the index"
        );
        let whl = &page.files[1];
        assert_eq!(whl.url, "../../packages/demo/demo-1.0-py3-none-any.whl");
        assert_eq!(
            whl.hashes["sha256"],
            Digest::of(Algorithm::Sha256, b"wheel").hex()
        );
        assert_eq!(whl.size, Some(5));
        assert_eq!(
            whl.upload_time.as_deref(),
            Some("2023-11-14T22:13:20.123000Z")
        );
        assert_eq!(whl.metadata().unwrap().sha256(), Some(md.hex()));
        let v = serde_json::to_value(&page).unwrap();
        assert_eq!(v["files"][1]["core-metadata"]["sha256"], md.hex());
        assert_eq!(v["files"][1]["dist-info-metadata"]["sha256"], md.hex());
        assert_eq!(v["files"][1]["requires-python"], ">=3.8");
        assert_eq!(v["files"][0]["yanked"], "broken");
        assert!(v["files"][1].get("yanked").is_none());
        let html = project_html(&page);
        assert!(html.contains(r#"<meta name="pypi:repository-version" content="1.1">"#));
        assert!(html.contains(&format!(
            r#"<a href="../../packages/demo/demo-1.0-py3-none-any.whl#sha256={}" data-requires-python="&gt;=3.8" data-core-metadata="sha256={}" data-dist-info-metadata="sha256={}">demo-1.0-py3-none-any.whl</a>"#,
            Digest::of(Algorithm::Sha256, b"wheel").hex(),
            md.hex(),
            md.hex()
        )), "{html}");
        assert!(
            html.contains(r#"data-yanked="broken">demo-0.9.tar.gz</a>"#),
            "{html}"
        );
        assert!(hosted_page(&p("demo"), &rows[1..2]).is_none());
    }

    #[test]
    fn upstream_json_pages_are_rewritten_and_teach_files() {
        let h = Digest::of(Algorithm::Sha256, b"f");
        let doc = json!({"meta": {"api-version": "1.0"}, "name": "updep", "files": [
            {"filename": "updep-1.0-py3-none-any.whl", "url": "../../+f/ef2/13cd/updep-1.0-py3-none-any.whl",
             "hashes": {"sha256": h.hex()}, "requires-python": ">=3.8", "dist-info-metadata": {"sha256": h.hex()}},
            {"filename": "updep-1.1.tar.gz", "url": "https://files.example/updep-1.1.tar.gz#sha256=abc", "hashes": {}, "yanked": true},
            {"filename": "../evil.whl", "url": "x", "hashes": {}},
            {"filename": "updep-2.0.tar.gz", "url": "file:///etc/passwd", "hashes": {}}
        ]});
        let (page, taught) = rewrite_project(
            &p("updep"),
            doc.to_string().as_bytes(),
            Some("application/vnd.pypi.simple.v1+json"),
            "http://up:1/root/dev/+simple/updep/",
        )
        .unwrap();
        assert_eq!(page.files.len(), 2);
        assert_eq!(page.meta.api_version, "1.0", "upstream sizes unknown");
        assert_eq!(page.versions, ["1.0", "1.1"]);
        assert_eq!(
            page.files[0].url,
            "../../packages/updep/updep-1.0-py3-none-any.whl"
        );
        assert_eq!(
            page.files[0].core_metadata,
            page.files[0].dist_info_metadata
        );
        assert_eq!(page.files[1].yank_reason(), Some(""));
        assert_eq!(
            taught,
            vec![
                Taught {
                    path: "/packages/updep/updep-1.0-py3-none-any.whl.metadata".into(),
                    url: "http://up:1/root/dev/+f/ef2/13cd/updep-1.0-py3-none-any.whl.metadata"
                        .into(),
                    sha256: Some(h.clone()),
                },
                Taught {
                    path: "/packages/updep/updep-1.0-py3-none-any.whl".into(),
                    url: "http://up:1/root/dev/+f/ef2/13cd/updep-1.0-py3-none-any.whl".into(),
                    sha256: Some(h.clone()),
                },
                Taught {
                    path: "/packages/updep/updep-1.1.tar.gz".into(),
                    url: "https://files.example/updep-1.1.tar.gz".into(),
                    sha256: None,
                },
            ]
        );
    }

    #[test]
    fn upstream_html_pages_keep_hashes_requires_python_yanks_and_metadata() {
        let html = br#"<!DOCTYPE html><html><body><h1>Links for updep</h1>
<a href="/packages/updep-1.0-py3-none-any.whl#sha256=AB12" data-requires-python="&gt;=3.8" data-dist-info-metadata="sha256=cd34">updep-1.0-py3-none-any.whl</a><br>
<A HREF="updep-1.1.tar.gz#md5=00ff" data-yanked="">updep-1.1.tar.gz</A>
<a href="https://other.example/x/updep-1.2.zip" data-yanked="bad &amp; old">updep-1.2.zip</a>
<a name="no-href">nothing</a>
</body></html>"#;
        let (page, taught) = rewrite_project(
            &p("updep"),
            html,
            Some("text/html"),
            "http://up:2/simple/updep/",
        )
        .unwrap();
        let names: Vec<&str> = page.files.iter().map(|f| f.filename.as_str()).collect();
        assert_eq!(
            names,
            [
                "updep-1.0-py3-none-any.whl",
                "updep-1.1.tar.gz",
                "updep-1.2.zip"
            ]
        );
        assert_eq!(page.files[0].hashes["sha256"], "AB12");
        assert_eq!(page.files[0].requires_python.as_deref(), Some(">=3.8"));
        assert_eq!(page.files[0].metadata().unwrap().sha256(), Some("cd34"));
        assert_eq!(page.files[1].hashes["md5"], "00ff");
        assert_eq!(page.files[1].yank_reason(), Some(""));
        assert_eq!(page.files[2].yank_reason(), Some("bad & old"));
        assert_eq!(
            taught[1].url,
            "http://up:2/packages/updep-1.0-py3-none-any.whl"
        );
        assert_eq!(taught[2].url, "http://up:2/simple/updep/updep-1.1.tar.gz");
        assert_eq!(taught[3].url, "https://other.example/x/updep-1.2.zip");
        assert_eq!(taught[1].sha256, None, "AB12 is not a SHA-256");
        // Rendered back, the attributes survive.
        let out = project_html(&page);
        assert!(out.contains(r#"data-yanked="bad &amp; old""#), "{out}");
        assert!(out.contains("#md5=00ff"), "{out}");
    }

    #[test]
    fn project_lists() {
        let html = br#"<html><body><a href="a/">A_b</a><a href="/simple/c/">c</a><a href="x">-bad</a></body></html>"#;
        let l = rewrite_projects(html, Some("text/html")).unwrap();
        let names: Vec<&str> = l.projects.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["A_b", "c"]);
        let j = json!({"meta": {"api-version": "1.0"}, "projects": [{"name": "z"}]});
        let l2 = rewrite_projects(j.to_string().as_bytes(), Some(JSON_TYPE)).unwrap();
        let m = merge_projects(vec![l2, l, hosted_projects(&["/packages/a-b/x".into()])]);
        let names: Vec<&str> = m.projects.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["A_b", "c", "z"]);
        assert!(projects_html(&m).contains(r#"<a href="a-b/">A_b</a>"#));
    }

    #[test]
    fn groups_merge_files_first_wins_and_hosted_hides_proxied() {
        let f = |name: &str, url: &str| FileEntry {
            filename: name.into(),
            url: url.into(),
            hashes: BTreeMap::new(),
            requires_python: None,
            core_metadata: None,
            dist_info_metadata: None,
            yanked: None,
            size: Some(1),
            upload_time: None,
        };
        let hosted = page("x", vec!["1.0".into()], vec![f("x-1.0.tar.gz", "hosted")]);
        let proxied = page(
            "x",
            vec!["1.0".into(), "2.0".into()],
            vec![f("X-1.0.tar.gz", "proxy"), f("x-2.0.tar.gz", "proxy")],
        );
        let part = |kind, page: &ProjectPage| Part {
            kind,
            page: page.clone(),
        };
        let m = merge_project(
            "x",
            vec![
                part(RepoKind::Hosted, &hosted),
                part(RepoKind::Proxy, &proxied),
            ],
            false,
        )
        .unwrap();
        assert_eq!(m.files.len(), 2);
        assert_eq!(m.files[0].url, "hosted");
        assert_eq!(m.versions, ["1.0", "2.0"]);
        let g = merge_project(
            "x",
            vec![
                part(RepoKind::Proxy, &proxied),
                part(RepoKind::Hosted, &hosted),
            ],
            true,
        )
        .unwrap();
        assert_eq!(g.files.len(), 1, "the guard hides the proxied project");
        assert_eq!(g.versions, ["1.0"]);
        let only_proxy = merge_project("x", vec![part(RepoKind::Proxy, &proxied)], true).unwrap();
        assert_eq!(only_proxy.files.len(), 2);
        assert!(merge_project("x", vec![], true).is_none());
    }

    #[test]
    fn versions_sort_for_people() {
        let vs = sorted_versions(
            [
                "1.10",
                "1.9",
                "1.0",
                "1.0rc1",
                "1.0.post1",
                "1.0.dev1",
                "2.0a1",
            ]
            .map(String::from),
        );
        assert_eq!(
            vs,
            [
                "1.0.dev1",
                "1.0rc1",
                "1.0",
                "1.0.post1",
                "1.9",
                "1.10",
                "2.0a1"
            ]
        );
    }
}
