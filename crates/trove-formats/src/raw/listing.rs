//! The HTML listing of a folder (a path ending in `/`): its sub-folders and files, from the
//! repository's own rows (a proxy lists what it has cached, a group the union of its members).

use std::collections::BTreeMap;

use trove_core::AssetMeta;

use crate::kit::html::escape;

/// One entry of a folder.
pub enum Entry<'a> {
    Folder(&'a str),
    File(&'a str, &'a AssetMeta),
}

/// The entries directly in folder `prefix` (which ends with `/`), folders first, by name.
pub fn entries<'a>(prefix: &str, assets: &'a [AssetMeta]) -> Vec<Entry<'a>> {
    let mut folders: BTreeMap<&'a str, ()> = BTreeMap::new();
    let mut files: BTreeMap<&'a str, &'a AssetMeta> = BTreeMap::new();
    for a in assets {
        let Some(rest) = a.path.as_str().strip_prefix(prefix) else {
            continue;
        };
        match rest.split_once('/') {
            Some((folder, _)) => {
                folders.insert(folder, ());
            }
            None => {
                files.insert(rest, a);
            }
        }
    }
    folders
        .into_keys()
        .map(Entry::Folder)
        .chain(files.into_iter().map(|(n, m)| Entry::File(n, m)))
        .collect()
}

fn href(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        // Unreserved characters read better unencoded and mean the same.
        .replace("%2E", ".")
        .replace("%2D", "-")
        .replace("%5F", "_")
        .replace("%7E", "~")
}

/// The listing page. Links are relative, so it works under any prefix a proxy maps it to.
pub fn html(repository: &str, folder: &str, entries: &[Entry<'_>], truncated: bool) -> String {
    let title = format!("{repository}{folder}");
    let mut out = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Index of {t}</title></head>\n\
         <body><h1>Index of {t}</h1>\n<table>\n<tr><th>Name</th><th>Size</th><th>Modified</th></tr>\n",
        t = escape(&title)
    );
    if folder != "/" {
        out.push_str("<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    }
    for e in entries {
        match e {
            Entry::Folder(n) => out.push_str(&format!(
                "<tr><td><a href=\"{}/\">{}/</a></td><td>-</td><td></td></tr>\n",
                href(n),
                escape(n)
            )),
            Entry::File(n, m) => out.push_str(&format!(
                "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td></tr>\n",
                href(n),
                escape(n),
                m.blob.size,
                actix_web::http::header::HttpDate::from(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_millis(m.created.max(0) as u64)
                )
            )),
        }
    }
    out.push_str("</table>\n");
    if truncated {
        out.push_str("<p>Only the first entries are shown.</p>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use trove_core::{Algorithm, AssetPath, BlobInfo, Digest};

    fn meta(path: &str) -> AssetMeta {
        AssetMeta {
            path: AssetPath::parse(path).unwrap(),
            blob: BlobInfo {
                digest: Digest::of(Algorithm::Sha256, path.as_bytes()),
                size: 3,
            },
            content_type: None,
            created: 0,
            last_downloaded: None,
            attrs: serde_json::Value::Null,
        }
    }

    #[test]
    fn folders_then_files_escaped() {
        let assets = [
            meta("/a/x.txt"),
            meta("/a/b/y.txt"),
            meta("/a/b/z.txt"),
            meta("/a/<s>.txt"),
            meta("/other.txt"),
        ];
        let e = entries("/a/", &assets);
        let names: Vec<_> = e
            .iter()
            .map(|e| match e {
                Entry::Folder(n) => format!("{n}/"),
                Entry::File(n, _) => n.to_string(),
            })
            .collect();
        assert_eq!(names, ["b/", "<s>.txt", "x.txt"]);
        let page = html("files", "/a/", &e, false);
        assert!(
            page.contains("<a href=\"%3Cs%3E.txt\">&lt;s&gt;.txt</a>"),
            "{page}"
        );
        assert!(page.contains("<a href=\"b/\">b/</a>"));
        assert!(page.contains("href=\"../\""));
        assert!(!html("files", "/", &e, false).contains("href=\"../\""));
    }
}
