//! The raw format logic the repository kinds call: a file is stored under its own path, a
//! proxy fetches it at `<remote><path>` (segments percent-encoded) and revalidates it after
//! the repository's max age with the upstream's `ETag` / `Last-Modified`, a group serves the
//! first member that has it.

use async_trait::async_trait;
use trove_core::{
    AssetIndex, AssetPath, FormatId, FormatSpec, Generated, ProxyConfig, Result, UpstreamRequest,
    VersionOf,
};

use crate::kit::file;

pub const ID: FormatId = FormatId::new("raw");

#[derive(Debug, Default)]
pub struct RawSpec;

#[async_trait]
impl FormatSpec for RawSpec {
    fn id(&self) -> FormatId {
        ID
    }

    fn storage_path(&self, path: &AssetPath) -> AssetPath {
        path.clone()
    }

    fn generates(&self, _path: &AssetPath) -> bool {
        false
    }

    async fn generate(
        &self,
        _path: &AssetPath,
        _index: &dyn AssetIndex,
    ) -> Result<Option<Generated>> {
        Ok(None)
    }

    /// Every file is a version of its folder: a cleanup policy's `keep_latest` keeps the most
    /// recent files of each folder.
    fn version(&self, key: &AssetPath) -> Option<VersionOf> {
        let (dir, file) = key.as_str().rsplit_once('/')?;
        (!file.is_empty()).then(|| VersionOf {
            component: if dir.is_empty() {
                "/".into()
            } else {
                dir.to_owned()
            },
            version: file.to_owned(),
        })
    }

    /// `<remote>/<path>`: a remote with a path prefix and a trailing slash keeps its prefix.
    fn upstream(&self, proxy: &ProxyConfig, path: &AssetPath) -> Result<UpstreamRequest> {
        Ok(UpstreamRequest {
            url: file::upstream_url(&proxy.remote, path),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_versions_of_their_folder() {
        let p = |s: &str| AssetPath::parse(s).unwrap();
        let v = RawSpec.version(&p("/dist/app-1.0.tgz")).unwrap();
        assert_eq!(
            (v.component.as_str(), v.version.as_str()),
            ("/dist", "app-1.0.tgz")
        );
        assert_eq!(RawSpec.version(&p("/top.txt")).unwrap().component, "/");
    }

    #[test]
    fn upstream_urls_keep_the_remote_prefix_and_encode_segments() {
        let p = |s: &str| AssetPath::parse(s).unwrap();
        let r = RawSpec
            .upstream(&ProxyConfig::new("http://h:1/files/"), &p("/a b/c#d.txt"))
            .unwrap();
        assert_eq!(r.url, "http://h:1/files/a%20b/c%23d.txt");
        let r = RawSpec
            .upstream(&ProxyConfig::new("http://h:1"), &p("/x/%2e%2e"))
            .unwrap();
        assert_eq!(
            r.url, "http://h:1/x/%252e%252e",
            "a literal % stays literal"
        );
    }
}
