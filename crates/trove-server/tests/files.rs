//! Issue 14: after a fresh start nothing in the data directory can be read by another local
//! user (a copy of the database once gave away the signing key), whatever the umask, and the
//! signing key lives in its own file there, not in the database.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support;

fn mode(p: &Path) -> String {
    format!(
        "{:o}",
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    )
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.push(path.clone());
        if path.is_dir() {
            walk(&path, out);
        }
    }
}

#[actix_web::test]
async fn a_fresh_start_leaves_everything_to_its_user_alone() {
    let t = support::instance("").await;
    let app = main_app!(t.trove);
    let digest = push_blob!(app, "img", b"a private layer");
    let data = t.dir.path().join("data");
    assert_eq!(mode(&data), "700", "the data directory");
    let mut found = Vec::new();
    walk(&data, &mut found);
    for path in &found {
        let wanted = if path.is_dir() { "700" } else { "600" };
        assert_eq!(mode(path), wanted, "{}", path.display());
    }
    let hex = digest.trim_start_matches("sha256:");
    for f in [
        "trove.db".to_owned(),
        "trove.db-wal".to_owned(),
        "trove.db-shm".to_owned(),
        "admin.password".to_owned(),
        "signing.key".to_owned(),
        format!("blobs/blobs/sha256/{}/{hex}", &hex[..2]),
    ] {
        assert!(found.contains(&data.join(&f)), "{f} was checked");
    }
}
