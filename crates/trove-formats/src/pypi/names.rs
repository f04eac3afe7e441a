//! Project names (PEP 503 normalisation, PEP 508 grammar), distribution file names, the routes
//! of the simple repository API and the upload API, and where a project's pieces are stored.
//!
//! Storage, per project `<p>` (its normalised name):
//! - `/packages/<p>/<file>`: a distribution file (wheel, sdist), written once; its row's attrs
//!   hold what the index shows of it (version, requires-python, the digest of its core
//!   metadata, the yank);
//! - `/packages/<p>/<file>.metadata`: a wheel's core metadata (PEP 658), written with it;
//! - `/simple/<p>`: the project's index (PEP 691 JSON), generated (hosted), fetched and
//!   rewritten (proxy) or merged (group); `/simple` the list of projects, likewise.
//!
//! Requests reach these as `/simple/<p>/`, `/simple/`, and the files' own paths.

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// The longest project name taken (PyPI has none; this bounds paths and logs).
pub const MAX_NAME: usize = 200;
/// The longest file name taken.
pub const MAX_FILENAME: usize = 255;

/// PEP 503: runs of `-`, `_` and `.` become one `-`, letters lowercase.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// A project name that is valid (PEP 508: ASCII letters and digits, with `.`, `_`, `-`
/// inside), kept in its normalised form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Project(String);

impl Project {
    /// A name as a client or an upload names it.
    pub fn parse(name: &str) -> Result<Project, String> {
        let b = name.as_bytes();
        let ok = !b.is_empty()
            && name.len() <= MAX_NAME
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
        if ok {
            Ok(Project(normalize(name)))
        } else {
            Err(format!(
                "invalid project name {name:?}: use ASCII letters and digits, with . _ - inside"
            ))
        }
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn index(&self) -> String {
        format!("/simple/{}", self.0)
    }

    /// The prefix of every stored file of the project.
    pub fn prefix(&self) -> String {
        format!("/packages/{}/", self.0)
    }

    pub fn file(&self, filename: &str) -> String {
        format!("/packages/{}/{filename}", self.0)
    }
}

impl std::fmt::Display for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of distribution a file name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistKind {
    Wheel,
    Sdist,
    Egg,
}

impl DistKind {
    /// twine's `filetype` for it.
    pub fn filetype(self) -> &'static str {
        match self {
            DistKind::Wheel => "bdist_wheel",
            DistKind::Sdist => "sdist",
            DistKind::Egg => "bdist_egg",
        }
    }
}

const SDIST_EXTENSIONS: &[&str] = &[".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar"];

/// The stem and kind of a distribution file name, or `None` for anything else.
pub fn dist_kind(filename: &str) -> Option<(&str, DistKind)> {
    if let Some(stem) = filename.strip_suffix(".whl") {
        return Some((stem, DistKind::Wheel));
    }
    if let Some(stem) = filename.strip_suffix(".egg") {
        return Some((stem, DistKind::Egg));
    }
    SDIST_EXTENSIONS
        .iter()
        .find_map(|e| filename.strip_suffix(e))
        .map(|stem| (stem, DistKind::Sdist))
}

/// Whether `filename` is one Trove serves: a distribution file with no path or control
/// characters, not starting with `.`.
pub fn filename_ok(filename: &str) -> bool {
    !filename.is_empty()
        && filename.len() <= MAX_FILENAME
        && !filename.starts_with('.')
        && !filename
            .bytes()
            .any(|b| b.is_ascii_control() || matches!(b, b'/' | b'\\' | b'"' | b'<' | b'>'))
        && dist_kind(filename).is_some_and(|(stem, _)| !stem.is_empty())
}

/// The version a distribution file of `project` carries in its name: a wheel's second part
/// (PEP 427), an sdist's rest after the name (PEP 625; older sdists may spell the name with
/// `-` or capitals, so the longest prefix that normalises to the project's name is taken).
pub fn version_of(project: &Project, filename: &str) -> Option<String> {
    let (stem, kind) = dist_kind(filename)?;
    match kind {
        DistKind::Wheel | DistKind::Egg => {
            let mut parts = stem.split('-');
            let name = parts.next()?;
            let version = parts.next()?;
            (normalize(name) == project.as_str() && !version.is_empty()).then(|| version.to_owned())
        }
        DistKind::Sdist => stem
            .rmatch_indices('-')
            .map(|(i, _)| i)
            .find(|&i| normalize(&stem[..i]) == project.as_str())
            .map(|i| stem[i + 1..].to_owned())
            .filter(|v| !v.is_empty()),
    }
}

/// Characters escaped in the path segment of a file URL.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

/// A file's URL relative to its project's index page (`/simple/<p>/`): the two-stage URL, so
/// cached and merged pages do not depend on the host name, and a group's links lead to the
/// group.
pub fn file_href(project: &Project, filename: &str) -> String {
    format!(
        "../../packages/{}/{}",
        project.as_str(),
        utf8_percent_encode(filename, SEGMENT)
    )
}

/// One request of the simple repository API or the upload API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/simple/`: every project.
    Projects,
    /// `/simple/<normalised>/`.
    Index(Project),
    /// Where a non-normalised name or a missing `/` is sent: the tail to redirect to.
    Redirect(String),
    /// `/packages/<p>/<file>`.
    File(Project, String),
    /// `/packages/<p>/<file>.metadata`: the file's core metadata (PEP 658).
    Metadata(Project, String),
    /// `POST /` (or `/legacy/`): twine's upload.
    Upload,
}

fn decode(s: &str) -> Option<String> {
    let d = percent_decode_str(s).decode_utf8().ok()?;
    (!d.bytes().any(|b| b.is_ascii_control())).then(|| d.into_owned())
}

/// The route of `tail` (the path after the repository's base: empty, or from its `/`), or
/// `None` when it is none of the API's.
pub fn route(tail: &str) -> Option<Route> {
    match tail {
        "" | "/simple" => return Some(Route::Redirect("/simple/".into())),
        "/" | "/legacy" | "/legacy/" => return Some(Route::Upload),
        "/simple/" => return Some(Route::Projects),
        _ => {}
    }
    let rest = tail.strip_prefix('/')?;
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["simple", name] => {
            let name = decode(name)?;
            let p = Project::parse(&name).ok()?;
            Some(Route::Redirect(format!("/simple/{}/", p.as_str())))
        }
        ["simple", name, ""] => {
            let name = decode(name)?;
            let p = Project::parse(&name).ok()?;
            if p.as_str() == name {
                Some(Route::Index(p))
            } else {
                Some(Route::Redirect(format!("/simple/{}/", p.as_str())))
            }
        }
        ["packages", project, file] => {
            let project = Project::parse(&decode(project)?).ok()?;
            let file = decode(file)?;
            if let Some(dist) = file.strip_suffix(".metadata")
                && filename_ok(dist)
            {
                return Some(Route::Metadata(project, dist.to_owned()));
            }
            filename_ok(&file).then_some(Route::File(project, file))
        }
        _ => None,
    }
}

/// What a stored (or requested) asset path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Projects,
    Index(Project),
    File(Project, String),
    Metadata(Project, String),
}

/// Classifies an asset path.
pub fn stored(path: &str) -> Option<Stored> {
    if path == "/simple" {
        return Some(Stored::Projects);
    }
    let rest = path.strip_prefix('/')?;
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        ["simple", p] => Some(Stored::Index(Project::parse(p).ok()?)),
        ["packages", p, file] => {
            let project = Project::parse(p).ok()?;
            if let Some(dist) = file.strip_suffix(".metadata")
                && filename_ok(dist)
            {
                return Some(Stored::Metadata(project, dist.to_owned()));
            }
            filename_ok(file).then(|| Stored::File(project, (*file).to_owned()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Project {
        Project::parse(s).unwrap()
    }

    #[test]
    fn names_normalise_as_pep_503_says() {
        for (raw, norm) in [
            ("Friendly-Bard", "friendly-bard"),
            ("Friendly.Bard", "friendly-bard"),
            ("FRIENDLY_BARD", "friendly-bard"),
            ("friendly--._bard", "friendly-bard"),
            ("a", "a"),
            ("zope.interface", "zope-interface"),
        ] {
            assert_eq!(normalize(raw), norm, "{raw}");
            assert_eq!(p(raw).as_str(), norm);
        }
        for bad in [
            "",
            "-a",
            "a-",
            ".a",
            "a b",
            "a/b",
            "é",
            "a+b",
            &"a".repeat(201),
        ] {
            assert!(Project::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions_come_from_file_names() {
        let v = |proj: &str, f: &str| version_of(&p(proj), f);
        assert_eq!(
            v("demo", "demo-1.0-py3-none-any.whl").as_deref(),
            Some("1.0")
        );
        assert_eq!(
            v(
                "my-pkg",
                "my_pkg-2.0.1-1-cp311-cp311-manylinux_2_17_x86_64.whl"
            )
            .as_deref(),
            Some("2.0.1")
        );
        assert_eq!(v("my-pkg", "my_pkg-2.0.tar.gz").as_deref(), Some("2.0"));
        assert_eq!(v("my-pkg", "My-Pkg-2.0rc1.zip").as_deref(), Some("2.0rc1"));
        assert_eq!(v("my-pkg", "other-1.0.tar.gz"), None);
        assert_eq!(v("demo", "demo-1.0.exe"), None);
        assert_eq!(v("demo", "demo-.tar.gz"), None);
    }

    #[test]
    fn file_names() {
        for ok in ["a-1.0.tar.gz", "a-1.0-py3-none-any.whl", "a-1.0+local.zip"] {
            assert!(filename_ok(ok), "{ok}");
        }
        for bad in [
            "",
            ".a-1.tar.gz",
            "a-1.exe",
            "a/b.whl",
            "a\\b.whl",
            "a\n.whl",
            ".whl",
            "a\".whl",
        ] {
            assert!(!filename_ok(bad), "{bad:?}");
        }
        assert_eq!(
            file_href(&p("a"), "a-1.0+local cp.tar.gz"),
            "../../packages/a/a-1.0+local%20cp.tar.gz"
        );
    }

    #[test]
    fn routes() {
        assert_eq!(route("/simple/"), Some(Route::Projects));
        assert_eq!(route("/simple"), Some(Route::Redirect("/simple/".into())));
        assert_eq!(route(""), Some(Route::Redirect("/simple/".into())));
        assert_eq!(route("/simple/demo/"), Some(Route::Index(p("demo"))));
        assert_eq!(
            route("/simple/Demo_Pkg/"),
            Some(Route::Redirect("/simple/demo-pkg/".into()))
        );
        assert_eq!(
            route("/simple/Demo_Pkg"),
            Some(Route::Redirect("/simple/demo-pkg/".into()))
        );
        assert_eq!(
            route("/simple/demo"),
            Some(Route::Redirect("/simple/demo/".into()))
        );
        assert_eq!(route("/"), Some(Route::Upload));
        assert_eq!(route("/legacy/"), Some(Route::Upload));
        assert_eq!(
            route("/packages/demo/demo-1.0-py3-none-any.whl"),
            Some(Route::File(p("demo"), "demo-1.0-py3-none-any.whl".into()))
        );
        assert_eq!(
            route("/packages/demo/demo-1.0-py3-none-any.whl.metadata"),
            Some(Route::Metadata(
                p("demo"),
                "demo-1.0-py3-none-any.whl".into()
            ))
        );
        assert_eq!(
            route("/packages/demo/demo-1.0%2Blocal.tar.gz"),
            Some(Route::File(p("demo"), "demo-1.0+local.tar.gz".into()))
        );
        for bad in [
            "/simple/-x/",
            "/simple/a/b/",
            "/packages/demo/x.exe",
            "/packages/demo/..%2fx.whl",
            "/packages/demo",
            "/nope",
            "/simple/%ff/",
        ] {
            assert_eq!(route(bad), None, "{bad}");
        }
    }

    #[test]
    fn stored_paths() {
        assert_eq!(stored("/simple"), Some(Stored::Projects));
        assert_eq!(stored("/simple/demo"), Some(Stored::Index(p("demo"))));
        assert_eq!(
            stored("/packages/demo/demo-1.0.tar.gz"),
            Some(Stored::File(p("demo"), "demo-1.0.tar.gz".into()))
        );
        assert_eq!(
            stored("/packages/demo/demo-1.0-py3-none-any.whl.metadata"),
            Some(Stored::Metadata(
                p("demo"),
                "demo-1.0-py3-none-any.whl".into()
            ))
        );
        assert_eq!(stored("/packages/demo/x/y"), None);
        assert_eq!(stored("/other"), None);
    }
}
