//! The Maven 2 repository layout: what a path names. A file of version `v` of
//! `groupId:artifactId` lives at `/g/r/o/u/p/<artifactId>/<v>/<artifactId>-<v>[-<classifier>].<ext>`;
//! a timestamped snapshot of `1.0-SNAPSHOT` is `<artifactId>-1.0-<yyyyMMdd.HHmmss>-<build>...` in
//! the `1.0-SNAPSHOT` directory; `maven-metadata.xml` sits at the group, artifact or (snapshot)
//! version level; any file may have `.md5`, `.sha1`, `.sha256` and `.sha512` siblings.

/// A checksum file's algorithm, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algo {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algo {
    pub const ALL: [Algo; 4] = [Algo::Md5, Algo::Sha1, Algo::Sha256, Algo::Sha512];

    /// The extension (without the dot), which is also the key of the file's attrs that holds
    /// the hex digest and the name of the document variant that is this checksum.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Md5 => "md5",
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
        }
    }

    pub fn hex_len(self) -> usize {
        match self {
            Algo::Md5 => 32,
            Algo::Sha1 => 40,
            Algo::Sha256 => 64,
            Algo::Sha512 => 128,
        }
    }

    pub fn of_variant(v: &str) -> Option<Algo> {
        Algo::ALL.into_iter().find(|a| a.name() == v)
    }
}

/// The metadata file's name.
pub const METADATA: &str = "maven-metadata.xml";
const SNAPSHOT: &str = "-SNAPSHOT";

/// A snapshot build: `20261203.115948` and `2` in `lib-1.0-20261203.115948-2.jar`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub timestamp: String,
    pub number: u32,
}

/// A file of an artifact version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    /// Dotted: `org.example`.
    pub group: String,
    pub artifact: String,
    /// The directory's version: `1.0` or `1.0-SNAPSHOT`.
    pub version: String,
    /// The version in the file name: `1.0`, `1.0-SNAPSHOT` or `1.0-20261203.115948-2`.
    pub file_version: String,
    pub build: Option<Build>,
    pub classifier: Option<String>,
    /// After the version (and classifier): `jar`, `pom`, `tar.gz`, `jar.asc`.
    pub extension: String,
}

impl ArtifactFile {
    pub fn is_snapshot(&self) -> bool {
        self.version.ends_with(SNAPSHOT)
    }
}

/// What a path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `<file>.<algo>`: a checksum of `file` (a path).
    Checksum {
        file: String,
        algo: Algo,
    },
    /// `<dir>/maven-metadata.xml`; `dir` has no trailing `/`.
    Metadata {
        dir: String,
    },
    Artifact(ArtifactFile),
    /// Anything else (`archetype-catalog.xml`, index files): only a permissive repository
    /// stores these.
    Other,
}

impl Kind {
    /// Whether the path belongs to a snapshot version (its directory is `*-SNAPSHOT`).
    pub fn is_snapshot(&self) -> bool {
        match self {
            Kind::Checksum { file, .. } => parse(file).is_snapshot(),
            Kind::Metadata { dir } => dir.ends_with(SNAPSHOT),
            Kind::Artifact(a) => a.is_snapshot(),
            Kind::Other => false,
        }
    }

    /// Whether it is a file of a release version (what release repositories write once).
    pub fn is_release_file(&self) -> bool {
        matches!(self, Kind::Artifact(a) if !a.is_snapshot())
    }
}

/// What `path` (starting with `/`) is in the Maven layout.
pub fn parse(path: &str) -> Kind {
    let Some((dir, file)) = path.rsplit_once('/') else {
        return Kind::Other;
    };
    if let Some((base, ext)) = file.rsplit_once('.')
        && let Some(algo) = Algo::ALL.into_iter().find(|a| a.name() == ext)
        && !base.is_empty()
    {
        let of = &path[..path.len() - ext.len() - 1];
        // A checksum of a checksum is not a thing Maven asks for.
        if !matches!(parse(of), Kind::Checksum { .. }) {
            return Kind::Checksum {
                file: of.to_owned(),
                algo,
            };
        }
        return Kind::Other;
    }
    if file == METADATA {
        if dir.is_empty() {
            return Kind::Other;
        }
        return Kind::Metadata {
            dir: dir.to_owned(),
        };
    }
    match artifact_file(path) {
        Some(a) => Kind::Artifact(a),
        None => Kind::Other,
    }
}

fn artifact_file(path: &str) -> Option<ArtifactFile> {
    let segs: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    if segs.len() < 4 || segs.iter().any(|s| s.is_empty()) {
        return None;
    }
    let n = segs.len();
    let (file, version, artifact) = (segs[n - 1], segs[n - 2], segs[n - 3]);
    let rest = file.strip_prefix(artifact)?.strip_prefix('-')?;
    let (file_version, build, after) = match version.strip_suffix(SNAPSHOT) {
        Some(base) if !rest.starts_with(version) => {
            let stamped = rest.strip_prefix(base)?.strip_prefix('-')?;
            let (build, len) = snapshot_build(stamped)?;
            let file_version = format!("{base}-{}", &stamped[..len]);
            (file_version, Some(build), &stamped[len..])
        }
        _ => (version.to_owned(), None, rest.strip_prefix(version)?),
    };
    let (classifier, extension) = if let Some(ext) = after.strip_prefix('.') {
        (None, ext)
    } else {
        let (c, ext) = after.strip_prefix('-')?.split_once('.')?;
        if c.is_empty() {
            return None;
        }
        (Some(c.to_owned()), ext)
    };
    if extension.is_empty() || extension.ends_with('.') {
        return None;
    }
    Some(ArtifactFile {
        group: segs[..n - 3].join("."),
        artifact: artifact.to_owned(),
        version: version.to_owned(),
        file_version,
        build,
        classifier,
        extension: extension.to_owned(),
    })
}

/// `yyyyMMdd.HHmmss-N` at the start of `s`: the build and how many bytes it took.
fn snapshot_build(s: &str) -> Option<(Build, usize)> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if !(digits(0..8) && b.get(8) == Some(&b'.') && digits(9..15) && b.get(15) == Some(&b'-')) {
        return None;
    }
    let n = b[16..].iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || n > 9 {
        return None;
    }
    let number = s[16..16 + n].parse().ok()?;
    Some((
        Build {
            timestamp: s[..15].to_owned(),
            number,
        },
        16 + n,
    ))
}

/// The directory of an artifact (`/org/example/lib`) for `group` and `artifact`.
pub fn artifact_dir(group: &str, artifact: &str) -> String {
    format!("/{}/{artifact}", group.replace('.', "/"))
}

/// The Content-Type a file is served with.
pub fn content_type(path: &str) -> String {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match ext {
        "pom" | "xml" => "application/xml".into(),
        "jar" | "war" | "ear" | "aar" => "application/java-archive".into(),
        "md5" | "sha1" | "sha256" | "sha512" => "text/plain".into(),
        "asc" => "application/pgp-signature".into(),
        _ => mime_guess::from_path(path)
            .first_raw()
            .unwrap_or("application/octet-stream")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(p: &str) -> ArtifactFile {
        match parse(p) {
            Kind::Artifact(a) => a,
            k => panic!("{p}: {k:?}"),
        }
    }

    #[test]
    fn release_files() {
        let a = artifact("/org/example/lib/1.0/lib-1.0.jar");
        assert_eq!(
            (a.group.as_str(), a.artifact.as_str(), a.version.as_str()),
            ("org.example", "lib", "1.0")
        );
        assert_eq!((a.classifier, a.extension.as_str()), (None, "jar"));
        let a = artifact("/org/example/lib/1.0/lib-1.0-sources.jar");
        assert_eq!(a.classifier.as_deref(), Some("sources"));
        let a = artifact("/org/example/lib/1.0/lib-1.0-bin.tar.gz");
        assert_eq!(
            (a.classifier.as_deref(), a.extension.as_str()),
            (Some("bin"), "tar.gz")
        );
        let a = artifact("/org/example/lib/1.0/lib-1.0.pom.asc");
        assert_eq!(a.extension, "pom.asc");
        assert!(parse("/org/example/lib/1.0/lib-1.0.jar").is_release_file());
    }

    #[test]
    fn snapshots() {
        let a = artifact("/org/example/lib/1.1-SNAPSHOT/lib-1.1-20261203.115948-2-tests.jar");
        assert_eq!(a.file_version, "1.1-20261203.115948-2");
        assert_eq!(
            a.build,
            Some(Build {
                timestamp: "20261203.115948".into(),
                number: 2
            })
        );
        assert_eq!(a.classifier.as_deref(), Some("tests"));
        assert!(a.is_snapshot());
        let a = artifact("/org/example/lib/1.1-SNAPSHOT/lib-1.1-SNAPSHOT.jar");
        assert_eq!((a.file_version.as_str(), a.build), ("1.1-SNAPSHOT", None));
        assert!(parse("/org/example/lib/1.1-SNAPSHOT/maven-metadata.xml").is_snapshot());
        assert!(!parse("/org/example/lib/1.1-SNAPSHOT/lib-1.1-SNAPSHOT.jar").is_release_file());
    }

    #[test]
    fn metadata_and_checksums() {
        assert_eq!(
            parse("/org/example/lib/maven-metadata.xml"),
            Kind::Metadata {
                dir: "/org/example/lib".into()
            }
        );
        assert_eq!(
            parse("/org/example/lib/1.0/lib-1.0.jar.sha1"),
            Kind::Checksum {
                file: "/org/example/lib/1.0/lib-1.0.jar".into(),
                algo: Algo::Sha1
            }
        );
        assert_eq!(
            parse("/org/example/lib/maven-metadata.xml.sha512"),
            Kind::Checksum {
                file: "/org/example/lib/maven-metadata.xml".into(),
                algo: Algo::Sha512
            }
        );
        assert!(parse("/org/example/lib/1.0-SNAPSHOT/maven-metadata.xml.md5").is_snapshot());
        assert_eq!(parse("/a/b.jar.sha1.md5"), Kind::Other);
        assert_eq!(parse("/maven-metadata.xml"), Kind::Other);
    }

    #[test]
    fn outside_the_layout() {
        for p in [
            "/archetype-catalog.xml",
            "/org/example/lib/1.0/other-1.0.jar",
            "/org/example/lib/1.0/lib-1.1.jar",
            "/org/example/lib/1.0/lib-1.0",
            "/org/example/lib/1.0/lib-1.0-.jar",
            "/org/example/lib/1.0/lib-1.0.",
            "/lib/1.0/lib-1.0.jar",
            "/org/example/lib/1.0-SNAPSHOT/lib-1.0-2026.1-1.jar",
        ] {
            assert_eq!(parse(p), Kind::Other, "{p}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("/a/b/1/b-1.pom"), "application/xml");
        assert_eq!(content_type("/a/b/1/b-1.jar"), "application/java-archive");
        assert_eq!(content_type("/a/b/1/b-1.jar.sha1"), "text/plain");
    }
}
