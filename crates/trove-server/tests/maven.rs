//! Maven repositories in process, for what the e2e test with `mvn` does not reach: every
//! refusal of a deploy (checksum files and `X-Checksum-*` headers that do not match, a release
//! redeployed, versions outside the version policy, paths outside the layout, metadata that
//! does not parse), all four checksums of every file, metadata rebuilt from the stored files
//! whatever the client uploaded, snapshot builds listed per classifier and extension, the 401
//! challenge mvn needs before it sends credentials, 403 for a reader, and a group's merged
//! metadata with checksums of its own bytes.

use crate::support;

use actix_web::test::TestRequest;
use sha2::Digest as _;
use support::{anonymous, basic, call, get, head, instance};

const MAVEN: &str = r#"
[security]
anonymous = true
[[role]]
name = "maven-public-read"
privileges = [{ format = "maven", repo = "maven-public", actions = ["browse", "read"] }]
[[user]]
name = "anonymous"
roles = ["maven-public-read"]
[[repository]]
name = "releases"
format = "maven"
kind = "hosted"
[[repository]]
name = "snapshots"
format = "maven"
kind = "hosted"
options = { version_policy = "snapshot" }
[[repository]]
name = "loose"
format = "maven"
kind = "hosted"
options = { version_policy = "mixed", layout_policy = "permissive" }
[[repository]]
name = "maven-public"
format = "maven"
kind = "group"
members = ["releases", "snapshots"]
[[repository]]
name = "maven-deploy"
format = "maven"
kind = "group"
members = ["releases", "snapshots"]
writable_member = "releases"
[[role]]
name = "maven-read"
privileges = [{ format = "maven", repo = "*", actions = ["browse", "read"] }]
[[user]]
name = "reader"
password_file = "PWFILE"
roles = ["maven-read"]
"#;

async fn maven() -> support::Instance {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let t = instance(&MAVEN.replace("PWFILE", pw.to_str().unwrap())).await;
    std::mem::forget(dir);
    t
}

fn put(uri: &str, body: impl Into<Vec<u8>>) -> TestRequest {
    TestRequest::put().uri(uri).set_payload(body.into())
}

fn sha1(b: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(b))
}

fn text(r: &support::Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// The status line's reason phrase: all mvn prints of a refused upload.
fn reason(r: &support::Resp) -> String {
    r.reason.unwrap_or_default().to_owned()
}

/// Deploys `path` under `repo` the way maven-deploy-plugin 3.0.0 does: the file, then its
/// `.sha1` and `.md5`.
async fn deploy<S, B>(app: &S, repo: &str, path: &str, body: &[u8])
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let uri = format!("/repository/{repo}{path}");
    let r = call(app, put(&uri, body.to_vec())).await;
    assert_eq!(r.status, 201, "{uri}: {}", text(&r));
    let r = call(app, put(&format!("{uri}.sha1"), sha1(body))).await;
    assert_eq!(r.status, 201, "{uri}.sha1: {}", text(&r));
    let md5 = hex::encode(md5::Md5::digest(body));
    let r = call(app, put(&format!("{uri}.md5"), md5)).await;
    assert_eq!(r.status, 201, "{uri}.md5: {}", text(&r));
}

const LIB: &str = "/org/example/lib";

#[actix_web::test]
async fn a_release_deploy_serves_every_checksum_and_is_written_once() {
    let t = maven().await;
    let app = main_app!(t.trove);
    let jar = b"jar bytes of lib 1.0";
    deploy(&app, "releases", &format!("{LIB}/1.0/lib-1.0.jar"), jar).await;
    deploy(
        &app,
        "releases",
        &format!("{LIB}/1.0/lib-1.0.pom"),
        b"<project/>",
    )
    .await;
    let jar_uri = format!("/repository/releases{LIB}/1.0/lib-1.0.jar");

    let r = call(&app, get(&jar_uri)).await;
    assert_eq!((r.status, &r.body[..]), (200, &jar[..]));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/java-archive")
    );
    let etag = r.header("etag").unwrap();
    let r = call(&app, get(&jar_uri).insert_header(("if-none-match", etag))).await;
    assert_eq!(r.status, 304);
    let r = call(&app, get(&jar_uri).insert_header(("range", "bytes=0-2"))).await;
    assert_eq!((r.status, &r.body[..]), (206, &b"jar"[..]));
    let r = call(&app, head(&jar_uri)).await;
    assert_eq!(r.header("content-length"), Some(jar.len().to_string()));
    let want = [
        ("md5", hex::encode(md5::Md5::digest(jar))),
        ("sha1", sha1(jar)),
        ("sha256", hex::encode(sha2::Sha256::digest(jar))),
        ("sha512", hex::encode(sha2::Sha512::digest(jar))),
    ];
    for (algo, hex) in &want {
        let r = call(&app, get(&format!("{jar_uri}.{algo}"))).await;
        assert_eq!((r.status, text(&r)), (200, hex.clone()), "{algo}");
    }

    // A redeploy of a release file is refused with a reason mvn prints; nothing changes.
    let r = call(&app, put(&jar_uri, b"other bytes".to_vec())).await;
    assert_eq!(r.status, 409, "{}", text(&r));
    assert!(
        reason(&r).starts_with("Repository does not allow updating assets"),
        "{}",
        reason(&r)
    );
    assert!(
        text(&r).contains("releases are written once"),
        "{}",
        text(&r)
    );
    assert_eq!(&call(&app, get(&jar_uri)).await.body[..], &jar[..]);

    // Metadata may be uploaded again (each deploy does), and what is served is built from the
    // files: a stale upload listing 0.9 does not hide 1.0, nor invent 0.9.
    let stale = b"<?xml version=\"1.0\"?><metadata><groupId>org.example</groupId><artifactId>lib</artifactId><versioning><versions><version>0.9</version></versions></versioning></metadata>";
    for _ in 0..2 {
        let r = call(
            &app,
            put(
                &format!("/repository/releases{LIB}/maven-metadata.xml"),
                stale.to_vec(),
            ),
        )
        .await;
        assert_eq!(r.status, 201, "{}", text(&r));
    }
    let meta_uri = format!("/repository/releases{LIB}/maven-metadata.xml");
    let r = call(&app, get(&meta_uri)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some("application/xml"));
    let doc = text(&r);
    assert!(doc.contains("<version>1.0</version>"), "{doc}");
    assert!(!doc.contains("0.9"), "{doc}");
    assert!(doc.contains("<release>1.0</release>"), "{doc}");
    let sha = call(&app, get(&format!("{meta_uri}.sha1"))).await;
    assert_eq!(text(&sha), sha1(&r.body), "checksum of the bytes served");

    // A second version shows beside the first, ordered as Maven orders (1.10 after 1.9).
    deploy(
        &app,
        "releases",
        &format!("{LIB}/1.10/lib-1.10.jar"),
        b"ten",
    )
    .await;
    deploy(&app, "releases", &format!("{LIB}/1.9/lib-1.9.jar"), b"nine").await;
    let doc = text(&call(&app, get(&meta_uri)).await);
    let at = |v: &str| doc.find(&format!("<version>{v}</version>")).unwrap();
    assert!(at("1.0") < at("1.9") && at("1.9") < at("1.10"), "{doc}");
    assert!(doc.contains("<latest>1.10</latest>"), "{doc}");
}

#[actix_web::test]
async fn deploys_are_checked_before_anything_is_kept() {
    let t = maven().await;
    let app = main_app!(t.trove);
    let jar = b"the jar";
    let uri = format!("/repository/releases{LIB}/2.0/lib-2.0.jar");

    // X-Checksum-* headers that do not match the body: refused, nothing stored.
    let r = call(
        &app,
        put(&uri, jar.to_vec()).insert_header(("x-checksum-sha1", sha1(b"something else"))),
    )
    .await;
    assert_eq!(r.status, 400, "{}", text(&r));
    assert_eq!(reason(&r), "Checksum does not match the uploaded file");
    assert_eq!(call(&app, get(&uri)).await.status, 404);
    let r = call(
        &app,
        put(&uri, jar.to_vec()).insert_header(("x-checksum-sha1", sha1(jar))),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));

    // A checksum file that does not match the stored file, or is not a checksum at all.
    let r = call(&app, put(&format!("{uri}.sha1"), sha1(b"other"))).await;
    assert_eq!(r.status, 400);
    assert_eq!(reason(&r), "Checksum does not match the uploaded file");
    assert!(
        text(&r).contains(&sha1(jar)),
        "says what it should be: {}",
        text(&r)
    );
    let r = call(&app, put(&format!("{uri}.md5"), "not hex")).await;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (400, "Not a checksum file")
    );
    let r = call(
        &app,
        put(
            &format!("{uri}.sha1"),
            format!("{}  lib-2.0.jar\n", sha1(jar)),
        ),
    )
    .await;
    assert_eq!(
        r.status,
        201,
        "the `hex  name` form is read too: {}",
        text(&r)
    );
    let r = call(
        &app,
        put(
            &format!("/repository/releases{LIB}/2.0/lib-2.0.pom.sha1"),
            sha1(b"x"),
        ),
    )
    .await;
    assert_eq!(r.status, 409, "a checksum of nothing: {}", text(&r));

    // Version policies, both ways.
    let r = call(
        &app,
        put(
            &format!("/repository/releases{LIB}/2.1-SNAPSHOT/lib-2.1-20261203.115948-1.jar"),
            jar.to_vec(),
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        reason(&r),
        "Repository releases holds releases only: SNAPSHOT versions are refused"
    );
    let r = call(
        &app,
        put(
            &format!("/repository/snapshots{LIB}/2.0/lib-2.0.jar"),
            jar.to_vec(),
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        reason(&r),
        "Repository snapshots holds snapshots only: release versions are refused"
    );

    // Strict layout: a file that is not the artifact's, or outside any artifact.
    for bad in [
        format!("{LIB}/2.0/other-2.0.jar"),
        format!("{LIB}/2.0/lib-3.0.jar"),
        "/archetype-catalog.xml".to_owned(),
    ] {
        let r = call(
            &app,
            put(&format!("/repository/releases{bad}"), jar.to_vec()),
        )
        .await;
        assert_eq!(r.status, 400, "{bad}: {}", text(&r));
        assert!(
            reason(&r).starts_with("Path is not in the Maven layout"),
            "{bad}"
        );
    }
    // ... which a permissive repository stores.
    let r = call(
        &app,
        put("/repository/loose/archetype-catalog.xml", b"<c/>".to_vec()),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    assert_eq!(
        &call(&app, get("/repository/loose/archetype-catalog.xml"))
            .await
            .body[..],
        b"<c/>"
    );

    // Metadata must parse; paths must stay inside the repository.
    let r = call(
        &app,
        put(
            &format!("/repository/releases{LIB}/maven-metadata.xml"),
            b"<metadata><versioning>".to_vec(),
        ),
    )
    .await;
    assert_eq!(
        (r.status, reason(&r).as_str()),
        (400, "Invalid maven-metadata.xml")
    );
    let r = call(
        &app,
        put("/repository/releases/org/%2e%2e/x.jar", jar.to_vec()),
    )
    .await;
    assert_eq!(r.status, 400, "{}", text(&r));
    let r = call(&app, TestRequest::post().uri(&uri)).await;
    assert_eq!(r.status, 405);
}

#[actix_web::test]
async fn snapshot_builds_are_listed_per_classifier_and_extension() {
    let t = maven().await;
    let app = main_app!(t.trove);
    let dir = format!("{LIB}/1.1-SNAPSHOT");
    for (stamp, n) in [("20261203.115948", 1), ("20261203.120501", 2)] {
        for file in [
            format!("lib-1.1-{stamp}-{n}.jar"),
            format!("lib-1.1-{stamp}-{n}-sources.jar"),
            format!("lib-1.1-{stamp}-{n}.pom"),
        ] {
            deploy(&app, "snapshots", &format!("{dir}/{file}"), file.as_bytes()).await;
        }
    }
    // Snapshots may be overwritten (a snapshot repository's files are not write-once).
    deploy(
        &app,
        "snapshots",
        &format!("{dir}/lib-1.1-20261203.120501-2.pom"),
        b"<project>2</project>",
    )
    .await;

    let r = call(
        &app,
        get(&format!("/repository/snapshots{dir}/maven-metadata.xml")),
    )
    .await;
    assert_eq!(r.status, 200);
    let doc = text(&r);
    for want in [
        "<version>1.1-SNAPSHOT</version>",
        "<timestamp>20261203.120501</timestamp>",
        "<buildNumber>2</buildNumber>",
        "<lastUpdated>20261203120501</lastUpdated>",
        "<value>1.1-20261203.115948-1</value>",
        "<value>1.1-20261203.120501-2</value>",
        "<classifier>sources</classifier>",
        "<extension>pom</extension>",
    ] {
        assert!(doc.contains(want), "{want} in {doc}");
    }
    assert_eq!(
        doc.matches("<snapshotVersion>").count(),
        6,
        "3 files × 2 builds: {doc}"
    );
    assert!(
        doc.find("120501-2").unwrap() < doc.find("115948-1").unwrap(),
        "newest build first: {doc}"
    );
    let doc = text(
        &call(
            &app,
            get(&format!("/repository/snapshots{LIB}/maven-metadata.xml")),
        )
        .await,
    );
    assert!(doc.contains("<latest>1.1-SNAPSHOT</latest>"), "{doc}");
    assert!(
        !doc.contains("<release>"),
        "no release among snapshots: {doc}"
    );
}

#[actix_web::test]
async fn credentials_are_challenged_and_groups_merge_metadata() {
    let t = maven().await;
    let app = main_app!(t.trove);
    deploy(&app, "releases", &format!("{LIB}/1.0/lib-1.0.jar"), b"one").await;
    deploy(
        &app,
        "releases",
        &format!("{LIB}/1.2/lib-1.2.jar"),
        b"one two",
    )
    .await;
    deploy(
        &app,
        "snapshots",
        &format!("{LIB}/2.0-SNAPSHOT/lib-2.0-20261203.115948-1.jar"),
        b"two",
    )
    .await;

    // mvn GETs metadata without credentials and sends them only after a 401 with a challenge.
    let meta = format!("/repository/releases{LIB}/maven-metadata.xml");
    let r = call(&app, anonymous(get(&meta))).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Basic realm=\"trove\"")
    );
    let r = call(
        &app,
        anonymous(put(
            &format!("/repository/releases{LIB}/3.0/lib-3.0.jar"),
            "x",
        )),
    )
    .await;
    assert_eq!(r.status, 401);
    // A known caller who may read but not deploy: 403, with the reason in the status line.
    let as_reader = |req: TestRequest| req.insert_header(("authorization", basic("reader", "pw")));
    assert_eq!(call(&app, as_reader(get(&meta))).await.status, 200);
    let r = call(
        &app,
        as_reader(put(
            &format!("/repository/releases{LIB}/3.0/lib-3.0.jar"),
            "x",
        )),
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    assert!(
        !reason(&r).is_empty() && reason(&r) != "Forbidden",
        "{}",
        reason(&r)
    );
    let r = call(&app, as_reader(get("/repository/releases/x/y/1/y-1.jar"))).await;
    assert_eq!(r.status, 404);

    // The group is anonymous-readable and merges its members' metadata.
    let group = format!("/repository/maven-public{LIB}/maven-metadata.xml");
    let r = call(&app, anonymous(get(&group))).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let doc = text(&r);
    for want in [
        "<version>1.0</version>",
        "<version>1.2</version>",
        "<version>2.0-SNAPSHOT</version>",
        "<latest>2.0-SNAPSHOT</latest>",
        "<release>1.2</release>",
    ] {
        assert!(doc.contains(want), "{want} in {doc}");
    }
    for algo in ["sha1", "md5", "sha256", "sha512"] {
        let r2 = call(&app, anonymous(get(&format!("{group}.{algo}")))).await;
        let want = match algo {
            "sha1" => sha1(&r.body),
            "md5" => hex::encode(md5::Md5::digest(&r.body)),
            "sha256" => hex::encode(sha2::Sha256::digest(&r.body)),
            _ => hex::encode(sha2::Sha512::digest(&r.body)),
        };
        assert_eq!((r2.status, text(&r2)), (200, want), "merged {algo}");
    }
    // Files come from the member that has them; a miss is a 404.
    let r = call(
        &app,
        anonymous(get(&format!(
            "/repository/maven-public{LIB}/1.2/lib-1.2.jar"
        ))),
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (200, &b"one two"[..]));
    let r = call(
        &app,
        anonymous(get(&format!(
            "/repository/maven-public{LIB}/9/lib-9.jar.sha1"
        ))),
    )
    .await;
    assert_eq!(r.status, 404);
    // A group without a writable member refuses deploys; one with goes to the member, under
    // the member's policies.
    let r = call(
        &app,
        put(
            &format!("/repository/maven-public{LIB}/3.0/lib-3.0.jar"),
            "x",
        ),
    )
    .await;
    assert_eq!(r.status, 405, "{}", text(&r));
    let r = call(
        &app,
        put(
            &format!("/repository/maven-deploy{LIB}/3.0/lib-3.0.jar"),
            "three",
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let r = call(
        &app,
        get(&format!("/repository/releases{LIB}/3.0/lib-3.0.jar")),
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (200, &b"three"[..]));
    let r = call(
        &app,
        put(
            &format!("/repository/maven-deploy{LIB}/3.1-SNAPSHOT/lib-3.1-SNAPSHOT.jar"),
            "x",
        ),
    )
    .await;
    assert_eq!(
        r.status,
        400,
        "the member holds releases only: {}",
        text(&r)
    );
    let r = call(
        &app,
        put(
            &format!("/repository/maven-deploy{LIB}/3.0/lib-3.0.jar"),
            "again",
        ),
    )
    .await;
    assert_eq!(r.status, 409, "{}", text(&r));
}

#[actix_web::test]
async fn the_rest_api_browses_artifacts_versions_and_files() {
    let t = maven().await;
    let app = main_app!(t.trove);
    for v in ["1.9", "1.10"] {
        deploy(
            &app,
            "releases",
            &format!("{LIB}/{v}/lib-{v}.jar"),
            v.as_bytes(),
        )
        .await;
        deploy(
            &app,
            "releases",
            &format!("{LIB}/{v}/lib-{v}.pom"),
            b"<project/>",
        )
        .await;
    }
    let api = "/service/rest/v1/repositories/releases";
    let r = call(&app, get(&format!("{api}/components"))).await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let listed = r.json();
    assert_eq!(listed["nouns"]["component"], "artifact");
    let e = &listed["components"]["entries"][0];
    assert_eq!(e["key"], "org.example:lib");
    assert_eq!(
        e["facts"]["latest"], "1.10",
        "Maven's order, not the string's"
    );
    assert_eq!(e["facts"]["versions"], 2);
    let r = call(
        &app,
        get(&format!(
            "{api}/components/assets?component=org.example:lib"
        )),
    )
    .await;
    let rows = r.json()["assets"]["entries"].as_array().unwrap().clone();
    let order: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(order, ["1.10", "1.9"], "newest first");
    assert_eq!(rows[0]["facts"]["files"], 2);
    let r = call(
        &app,
        get(&format!(
            "{api}/assets?component=org.example:lib&reference=1.10"
        )),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let d = r.json();
    let files = d["detail"]["sections"][0]["listing"]["entries"]
        .as_array()
        .unwrap()
        .clone();
    let jar = files
        .iter()
        .find(|f| f["facts"]["extension"] == "jar")
        .unwrap();
    assert_eq!(jar["facts"]["size"], 4);
    assert_eq!(jar["facts"]["sha1"], sha1(b"1.10"));
    let snippet = d["detail"]["document"]["text"].as_str().unwrap_or_default();
    assert_eq!(
        snippet,
        "<dependency>\n  <groupId>org.example</groupId>\n  <artifactId>lib</artifactId>\n  <version>1.10</version>\n</dependency>",
        "{d}"
    );
    let r = call(
        &app,
        get(&format!(
            "{api}/components/assets?component=not-a-coordinate"
        )),
    )
    .await;
    assert_eq!(r.status, 400, "{}", text(&r));
}
