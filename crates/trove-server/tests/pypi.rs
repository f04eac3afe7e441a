//! The PyPI simple API and twine's upload API in process, for what the e2e test with pip and
//! twine does not reach: every digest of an upload checked and each wrong one refused in
//! PyPI's shape (the status line's reason, which twine prints), refused re-uploads, PEP 691
//! JSON against PEP 503 HTML by `Accept`, PEP 658 metadata files, PEP 592 yanks through the
//! REST API, PEP 503 names and redirects, privileges, groups (union, first member wins, the
//! hosted-hides-proxied guard) and a proxy's rewrite of an upstream's pages with each file
//! checked against the SHA-256 its link announced.

use crate::support;

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use actix_web::test::TestRequest;
use serde_json::{Value, json};
use sha2::Digest as _;
use support::{anonymous, basic, call, get, head, instance};

const PYPI: &str = r#"
[security]
anonymous = true
[[role]]
name = "pypi-read"
privileges = [{ format = "pypi", repo = "*", actions = ["browse", "read"] }]
[[user]]
name = "anonymous"
roles = ["pypi-read"]
[[role]]
name = "pypi-upload"
privileges = [{ format = "pypi", repo = "*", actions = ["browse", "read", "add"] }]
[[user]]
name = "dev"
password_file = "PWFILE"
roles = ["pypi-upload"]
[[user]]
name = "reader"
password_file = "PWFILE"
roles = ["pypi-read"]
[[repository]]
name = "py"
format = "pypi"
kind = "hosted"
[[repository]]
name = "py2"
format = "pypi"
kind = "hosted"
[[repository]]
name = "py-all"
format = "pypi"
kind = "group"
members = ["py", "py2"]
"#;

/// The proxy and groups over an upstream at `UPSTREAM`.
const PROXIED: &str = r#"
[[repository]]
name = "up"
format = "pypi"
kind = "proxy"
remote = "UPSTREAM/simple/"
[[repository]]
name = "guarded"
format = "pypi"
kind = "group"
members = ["py", "up"]
[[repository]]
name = "mixed"
format = "pypi"
kind = "group"
members = ["py", "up"]
options = { merge_hosted_with_proxied = true }
"#;

async fn pypi(extra: &str) -> support::Instance {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let t = instance(&format!(
        "{}{extra}",
        PYPI.replace("PWFILE", pw.to_str().unwrap())
    ))
    .await;
    std::mem::forget(dir);
    t
}

const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";

fn hex_sha256(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

fn metadata(name: &str, version: &str) -> String {
    format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: >=3.8\n\nA description.\n"
    )
}

/// A wheel as a zip with METADATA, WHEEL and RECORD (no build backend needed).
fn wheel(name: &str, version: &str, md: &str) -> Vec<u8> {
    let dist = format!("{}-{version}.dist-info", name.replace('-', "_"));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let module = name.replace('-', "_");
    for (path, body) in [
        (format!("{module}/__init__.py"), "X = 1\n".to_owned()),
        (format!("{dist}/METADATA"), md.to_owned()),
        (
            format!("{dist}/WHEEL"),
            "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_owned(),
        ),
        (format!("{dist}/RECORD"), String::new()),
    ] {
        zip.start_file(path, opts).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The fields twine sends, with every digest of `data`.
fn fields(name: &str, version: &str, data: &[u8]) -> Vec<(String, String)> {
    use blake2::Digest as _;
    let md5 = hex::encode(md5::Md5::digest(data));
    let b2 = hex::encode(blake2::Blake2b::<blake2::digest::consts::U32>::digest(data));
    [
        (":action", "file_upload".to_owned()),
        ("protocol_version", "1".to_owned()),
        ("metadata_version", "2.1".to_owned()),
        ("name", name.to_owned()),
        ("version", version.to_owned()),
        ("filetype", "bdist_wheel".to_owned()),
        ("pyversion", "py3".to_owned()),
        ("sha256_digest", hex_sha256(data)),
        ("md5_digest", md5),
        ("blake2_256_digest", b2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn set(fields: &mut [(String, String)], key: &str, value: &str) {
    fields.iter_mut().find(|(k, _)| k == key).unwrap().1 = value.to_owned();
}

fn without(fields: &[(String, String)], keys: &[&str]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter(|(k, _)| !keys.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// twine's `multipart/form-data` POST.
fn upload(uri: &str, fields: &[(String, String)], filename: &str, data: &[u8]) -> TestRequest {
    let boundary = "----trove-test-boundary";
    let mut body = Vec::new();
    for (k, v) in fields {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        )
        .unwrap();
    }
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(data);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    TestRequest::post()
        .uri(uri)
        .insert_header((
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        ))
        .set_payload(body)
}

fn as_dev(req: TestRequest) -> TestRequest {
    req.insert_header(("authorization", basic("dev", "pw")))
}

fn text(r: &support::Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

async fn json_page<S, B>(app: &S, uri: &str) -> Value
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let r = call(
        app,
        anonymous(get(uri)).insert_header(("accept", PIP_ACCEPT)),
    )
    .await;
    assert_eq!(r.status, 200, "{uri}: {}", text(&r));
    r.json()
}

fn filenames(page: &Value) -> Vec<String> {
    page["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn uploads_check_every_digest_before_anything_is_visible() {
    let t = pypi("").await;
    let app = main_app!(t.trove);
    let whl = wheel("demo-pkg", "1.0", &metadata("Demo-Pkg", "1.0"));
    let file = "demo_pkg-1.0-py3-none-any.whl";
    let good = fields("Demo.Pkg", "1.0", &whl);
    // Each digest on its own is checked: a wrong one is refused with twine's words.
    for field in ["sha256_digest", "md5_digest", "blake2_256_digest"] {
        let mut bad = good.clone();
        set(
            &mut bad,
            field,
            &"0".repeat(if field == "md5_digest" { 32 } else { 64 }),
        );
        let r = call(&app, as_dev(upload("/repository/py/", &bad, file, &whl))).await;
        assert_eq!(r.status, 400, "{field}");
        assert_eq!(
            text(&r),
            format!(
                "400 {file} does not match its {field}: the file was damaged in transit or the digest is wrong\n"
            )
        );
    }
    let r = call(
        &app,
        as_dev(upload(
            "/repository/py/",
            &without(&good, &["sha256_digest", "md5_digest", "blake2_256_digest"]),
            file,
            &whl,
        )),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(text(&r).contains("has no sha256_digest"), "{}", text(&r));
    // Any one correct digest is enough (older twines send md5 only).
    let md5_only = without(&good, &["sha256_digest", "blake2_256_digest"]);
    // Other refusals: not a file of this project, a wheel naming another project, no action.
    let r = call(
        &app,
        as_dev(upload(
            "/repository/py/",
            &good,
            "other-1.0-py3-none-any.whl",
            &whl,
        )),
    )
    .await;
    assert!(
        text(&r).contains("is not a file name of project"),
        "{}",
        text(&r)
    );
    let liar = wheel("demo-pkg", "1.0", &metadata("Someone-Else", "1.0"));
    let r = call(
        &app,
        as_dev(upload(
            "/repository/py/",
            &fields("demo-pkg", "1.0", &liar),
            file,
            &liar,
        )),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(text(&r).contains("METADATA names project"), "{}", text(&r));
    let r = call(
        &app,
        as_dev(upload(
            "/repository/py/",
            &without(&good, &[":action"]),
            file,
            &whl,
        )),
    )
    .await;
    assert!(text(&r).contains("no :action"), "{}", text(&r));
    let r = call(
        &app,
        as_dev(
            TestRequest::post()
                .uri("/repository/py/")
                .insert_header(("content-type", "application/json"))
                .set_payload("{}"),
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(text(&r).contains("multipart/form-data"));
    // None of that left a trace.
    let r = call(&app, anonymous(get("/repository/py/simple/demo-pkg/"))).await;
    assert_eq!(r.status, 404, "{}", text(&r));
    assert_eq!(
        call(
            &app,
            anonymous(get(&format!("/repository/py/packages/demo-pkg/{file}")))
        )
        .await
        .status,
        404
    );
    // The good one (md5 only), then the same file again: 409 "File already exists", which
    // twine --skip-existing skips.
    let r = call(
        &app,
        as_dev(upload("/repository/py/", &md5_only, file, &whl)),
    )
    .await;
    assert_eq!((r.status, text(&r).as_str()), (200, "OK\n"));
    let r = call(
        &app,
        as_dev(upload("/repository/py/legacy/", &good, file, &whl)),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(text(&r), format!("409 File already exists: {file}\n"));
    let got = call(
        &app,
        anonymous(get(&format!("/repository/py/packages/demo-pkg/{file}"))),
    )
    .await;
    assert_eq!((got.status, &got.body[..]), (200, &whl[..]));
    // An sdist of the same version is another file.
    let sdist = b"not really a tarball".to_vec();
    let mut f = fields("demo-pkg", "1.0", &sdist);
    set(&mut f, "filetype", "sdist");
    let r = call(
        &app,
        as_dev(upload("/repository/py/", &f, "demo-pkg-1.0.tar.gz", &sdist)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let page = json_page(&app, "/repository/py/simple/demo-pkg/").await;
    assert_eq!(
        filenames(&page),
        ["demo-pkg-1.0.tar.gz", "demo_pkg-1.0-py3-none-any.whl"]
    );
}

#[actix_web::test]
async fn uploads_need_credentials_and_the_add_privilege() {
    let t = pypi("").await;
    let app = main_app!(t.trove);
    let whl = wheel("demo", "1.0", &metadata("demo", "1.0"));
    let f = fields("demo", "1.0", &whl);
    let file = "demo-1.0-py3-none-any.whl";
    // Anonymous: 401 with a Basic challenge, so twine asks for (or sends) credentials.
    let r = call(&app, anonymous(upload("/repository/py/", &f, file, &whl))).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Basic realm=\"trove\"")
    );
    // A wrong password: 401 saying so (twine prints it).
    let r = call(
        &app,
        upload("/repository/py/", &f, file, &whl)
            .insert_header(("authorization", basic("dev", "wrong"))),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(
        text(&r).contains("invalid username or password"),
        "{}",
        text(&r)
    );
    // A reader may not upload: 403, naming what is missing.
    let r = call(
        &app,
        upload("/repository/py/", &f, file, &whl)
            .insert_header(("authorization", basic("reader", "pw"))),
    )
    .await;
    assert_eq!(r.status, 403, "{}", text(&r));
    assert!(text(&r).contains("add"), "{}", text(&r));
    // A proxy takes no uploads; nor does a group without a writable member.
    let r = call(&app, as_dev(upload("/repository/py-all/", &f, file, &whl))).await;
    assert!(
        r.status == 400 || r.status == 405,
        "{} {}",
        r.status,
        text(&r)
    );
    // Reading is anonymous here; a missing repository is 404 to an administrator (others are
    // asked to sign in, or refused: nothing about names leaks).
    assert_eq!(
        call(&app, as_dev(upload("/repository/py/", &f, file, &whl)))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&app, anonymous(get("/repository/py/simple/demo/")))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&app, get("/repository/nope/simple/demo/"))
            .await
            .status,
        404
    );
    // Methods the API does not have.
    let r = call(
        &app,
        as_dev(TestRequest::delete().uri("/repository/py/simple/demo/")),
    )
    .await;
    assert_eq!(r.status, 405);
    let r = call(&app, anonymous(get("/repository/py/nothing/here"))).await;
    assert_eq!(r.status, 404);
    assert!(text(&r).contains("not a path of the PyPI simple API"));
}

#[actix_web::test]
async fn index_pages_are_json_or_html_by_accept_with_pep_658_metadata() {
    let t = pypi("").await;
    let app = main_app!(t.trove);
    let md = metadata("demo", "1.0");
    let whl = wheel("demo", "1.0", &md);
    let file = "demo-1.0-py3-none-any.whl";
    assert_eq!(
        call(
            &app,
            as_dev(upload(
                "/repository/py/",
                &fields("demo", "1.0", &whl),
                file,
                &whl
            ))
        )
        .await
        .status,
        200
    );
    let whl2 = wheel("demo", "2.0", &metadata("demo", "2.0"));
    let file2 = "demo-2.0-py3-none-any.whl";
    assert_eq!(
        call(
            &app,
            as_dev(upload(
                "/repository/py/",
                &fields("demo", "2.0", &whl2),
                file2,
                &whl2
            ))
        )
        .await
        .status,
        200
    );
    // pip's Accept: PEP 691 JSON with the PEP 700 fields.
    let r = call(
        &app,
        anonymous(get("/repository/py/simple/demo/")).insert_header(("accept", PIP_ACCEPT)),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some(JSON_TYPE));
    assert_eq!(r.header("vary").as_deref(), Some("Accept"));
    let page = r.json();
    assert_eq!(page["meta"]["api-version"], "1.1");
    assert_eq!(page["name"], "demo");
    assert_eq!(page["versions"], json!(["1.0", "2.0"]));
    let f = &page["files"][0];
    assert_eq!(f["filename"], file);
    assert_eq!(f["url"], format!("../../packages/demo/{file}"));
    assert_eq!(f["hashes"]["sha256"], hex_sha256(&whl));
    assert_eq!(f["size"], whl.len());
    assert_eq!(
        f["requires-python"], ">=3.8",
        "read from the wheel's METADATA"
    );
    assert!(f["upload-time"].as_str().unwrap().ends_with('Z'));
    let md_sha = hex_sha256(md.as_bytes());
    assert_eq!(f["core-metadata"], json!({ "sha256": md_sha }));
    assert_eq!(f["dist-info-metadata"], json!({ "sha256": md_sha }));
    assert!(f.get("yanked").is_none());
    // PEP 658: the metadata file is the wheel's METADATA, byte for byte.
    let m = call(
        &app,
        anonymous(get(&format!(
            "/repository/py/packages/demo/{file}.metadata"
        ))),
    )
    .await;
    assert_eq!((m.status, &m.body[..]), (200, md.as_bytes()));
    assert_eq!(
        call(
            &app,
            anonymous(head(&format!(
                "/repository/py/packages/demo/{file}.metadata"
            )))
        )
        .await
        .status,
        200
    );
    // No Accept, */*, or text/html: PEP 503 HTML with PEP 629's version and every attribute.
    for accept in [None, Some("*/*"), Some("text/html")] {
        let mut req = anonymous(get("/repository/py/simple/demo/"));
        if let Some(a) = accept {
            req = req.insert_header(("accept", a));
        }
        let r = call(&app, req).await;
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("text/html; charset=utf-8"),
            "{accept:?}"
        );
        let html = text(&r);
        assert!(html.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"));
        assert!(
            html.contains(&format!(
                "<a href=\"../../packages/demo/{file}#sha256={}\" data-requires-python=\"&gt;=3.8\" \
                 data-core-metadata=\"sha256={md_sha}\" data-dist-info-metadata=\"sha256={md_sha}\">{file}</a>",
                hex_sha256(&whl)
            )),
            "{html}"
        );
    }
    let r = call(
        &app,
        anonymous(get("/repository/py/simple/demo/"))
            .insert_header(("accept", "application/vnd.pypi.simple.v1+html")),
    )
    .await;
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/vnd.pypi.simple.v1+html")
    );
    // Nothing acceptable: 406.
    let r = call(
        &app,
        anonymous(get("/repository/py/simple/demo/")).insert_header(("accept", "application/json")),
    )
    .await;
    assert_eq!(r.status, 406);
    assert!(text(&r).contains(JSON_TYPE));
    // Conditional GETs, per variant.
    let json_etag = call(
        &app,
        anonymous(get("/repository/py/simple/demo/")).insert_header(("accept", PIP_ACCEPT)),
    )
    .await
    .header("etag")
    .unwrap();
    let html_etag = call(&app, anonymous(get("/repository/py/simple/demo/")))
        .await
        .header("etag")
        .unwrap();
    assert_ne!(json_etag, html_etag);
    let r = call(
        &app,
        anonymous(get("/repository/py/simple/demo/"))
            .insert_header(("accept", PIP_ACCEPT))
            .insert_header(("if-none-match", json_etag.as_str())),
    )
    .await;
    assert_eq!(r.status, 304);
    // The project list, both ways.
    let list = json_page(&app, "/repository/py/simple/").await;
    assert_eq!(list["projects"], json!([{ "name": "demo" }]));
    let html = text(&call(&app, anonymous(get("/repository/py/simple/"))).await);
    assert!(html.contains("<a href=\"demo/\">demo</a>"), "{html}");
    // An sdist has no metadata file; a missing project or file is 404 in PyPI's shape.
    let r = call(
        &app,
        anonymous(get("/repository/py/packages/demo/demo-9.0.tar.gz.metadata")),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = call(&app, anonymous(get("/repository/py/simple/nothing/"))).await;
    assert_eq!(
        (r.status, text(&r).as_str()),
        (404, "404 project nothing not found\n")
    );
}

#[actix_web::test]
async fn names_are_normalised_and_redirected() {
    let t = pypi("").await;
    let app = main_app!(t.trove);
    let whl = wheel("zope-interface", "1.0", &metadata("zope.interface", "1.0"));
    let file = "zope_interface-1.0-py3-none-any.whl";
    let r = call(
        &app,
        as_dev(upload(
            "/repository/py/",
            &fields("Zope.Interface", "1.0", &whl),
            file,
            &whl,
        )),
    )
    .await;
    assert_eq!(r.status, 200, "{}", text(&r));
    let host = ("host", "py.example:8081");
    for (from, to) in [
        (
            "/repository/py/simple/Zope.Interface/",
            "/simple/zope-interface/",
        ),
        (
            "/repository/py/simple/zope_interface/",
            "/simple/zope-interface/",
        ),
        (
            "/repository/py/simple/zope-interface",
            "/simple/zope-interface/",
        ),
        ("/repository/py/simple", "/simple/"),
        ("/repository/py", "/simple/"),
    ] {
        let r = call(&app, anonymous(get(from)).insert_header(host)).await;
        assert_eq!(r.status, 301, "{from}");
        assert_eq!(
            r.header("location").unwrap(),
            format!("http://py.example:8081/repository/py{to}"),
            "{from}"
        );
    }
    let page = json_page(&app, "/repository/py/simple/zope-interface/").await;
    assert_eq!(page["name"], "zope-interface");
    assert_eq!(filenames(&page), [file]);
    // Not a name at all.
    let r = call(&app, anonymous(get("/repository/py/simple/-bad-/"))).await;
    assert_eq!(r.status, 404);
}

#[actix_web::test]
async fn versions_are_yanked_and_unyanked_through_the_rest_api() {
    let t = pypi("").await;
    let app = main_app!(t.trove);
    for v in ["1.0", "1.1"] {
        let whl = wheel("demo", v, &metadata("demo", v));
        let r = call(
            &app,
            as_dev(upload(
                "/repository/py/",
                &fields("demo", v, &whl),
                &format!("demo-{v}-py3-none-any.whl"),
                &whl,
            )),
        )
        .await;
        assert_eq!(r.status, 200);
    }
    let actions = "/service/rest/v1/repositories/py/assets/actions?component=demo&reference=1.0";
    let yank = |who: Option<&str>, body: Value| {
        let req = TestRequest::post()
            .uri(actions)
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_string());
        match who {
            Some(u) => req.insert_header(("authorization", basic(u, "pw"))),
            None => req,
        }
    };
    // The version's page offers the action.
    let detail = call(
        &app,
        get("/service/rest/v1/repositories/py/assets?component=demo&reference=1.0"),
    )
    .await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.json()["detail"]["actions"][0]["id"], "yank");
    trove_rest::testing::conforms("BrowseAsset", &detail.json());
    // Uploading is not editing: dev may not yank.
    let r = call(
        &app,
        yank(Some("dev"), json!({"action": "yank", "input": "broken"})),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = call(
        &app,
        yank(None, json!({"action": "yank", "input": "broken build"})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", text(&r));
    let page = json_page(&app, "/repository/py/simple/demo/").await;
    assert_eq!(page["files"][0]["yanked"], "broken build");
    assert!(page["files"][1].get("yanked").is_none(), "1.1 stays");
    let html = text(&call(&app, anonymous(get("/repository/py/simple/demo/"))).await);
    assert!(html.contains("data-yanked=\"broken build\""), "{html}");
    // Yanked files are still served (an exact pin installs them, PEP 592).
    assert_eq!(
        call(
            &app,
            anonymous(get(
                "/repository/py/packages/demo/demo-1.0-py3-none-any.whl"
            ))
        )
        .await
        .status,
        200
    );
    // Unknown actions, versions and extra keys are refused.
    let r = call(&app, yank(None, json!({"action": "delete-everything"}))).await;
    assert_eq!(r.status, 400);
    let r = call(&app, yank(None, json!({"action": "yank", "why": "x"}))).await;
    assert_eq!(r.status, 400);
    let r = call(
        &app,
        TestRequest::post()
            .uri("/service/rest/v1/repositories/py/assets/actions?component=demo&reference=7.0")
            .insert_header(("content-type", "application/json"))
            .set_payload(json!({"action": "yank"}).to_string()),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = call(&app, yank(None, json!({"action": "unyank"}))).await;
    assert_eq!(r.status, 204);
    let page = json_page(&app, "/repository/py/simple/demo/").await;
    assert!(page["files"][0].get("yanked").is_none());
    // Each change is in the audit log.
    let audit = call(&app, get("/service/rest/v1/audit?entity=content")).await;
    let actions: Vec<String> = audit
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        actions.contains(&"yank".to_owned()) && actions.contains(&"unyank".to_owned()),
        "{}",
        text(&audit)
    );
}

#[actix_web::test]
async fn groups_take_the_union_and_the_first_member_wins_a_file() {
    let t = pypi("").await;
    let app = main_app!(t.trove);
    let put = |repo: &str, v: &str, body: &[u8]| {
        let file = format!("shared-{v}.tar.gz");
        let mut f = fields("shared", v, body);
        set(&mut f, "filetype", "sdist");
        as_dev(upload(&format!("/repository/{repo}/"), &f, &file, body))
    };
    assert_eq!(call(&app, put("py", "1.0", b"py 1.0")).await.status, 200);
    assert_eq!(call(&app, put("py2", "1.0", b"py2 1.0")).await.status, 200);
    assert_eq!(call(&app, put("py2", "2.0", b"py2 2.0")).await.status, 200);
    let page = json_page(&app, "/repository/py-all/simple/shared/").await;
    assert_eq!(filenames(&page), ["shared-1.0.tar.gz", "shared-2.0.tar.gz"]);
    assert_eq!(page["versions"], json!(["1.0", "2.0"]));
    assert_eq!(page["files"][0]["hashes"]["sha256"], hex_sha256(b"py 1.0"));
    assert_eq!(
        page["files"][0]["url"],
        "../../packages/shared/shared-1.0.tar.gz"
    );
    let f = call(
        &app,
        anonymous(get("/repository/py-all/packages/shared/shared-1.0.tar.gz")),
    )
    .await;
    assert_eq!(&f.body[..], b"py 1.0", "the first member's bytes");
    let list = json_page(&app, "/repository/py-all/simple/").await;
    assert_eq!(list["projects"], json!([{ "name": "shared" }]));
    // A new upload to a member shows in the group at once.
    assert_eq!(call(&app, put("py", "3.0", b"py 3.0")).await.status, 200);
    let page = json_page(&app, "/repository/py-all/simple/shared/").await;
    assert_eq!(filenames(&page).len(), 3);
}

#[actix_web::test]
async fn a_version_is_yanked_from_its_console_page() {
    use crate::console::{ORIGIN, form_post, send, sign_in};
    let t = pypi("").await;
    let app = main_app!(t.trove);
    let whl = wheel("demo", "1.0", &metadata("demo", "1.0"));
    let file = "demo-1.0-py3-none-any.whl";
    let r = call(
        &app,
        as_dev(upload(
            "/repository/py/",
            &fields("demo", "1.0", &whl),
            file,
            &whl,
        )),
    )
    .await;
    assert_eq!(r.status, 200);
    let page_uri = "/admin/repository/py/version?project=demo&reference=1.0";
    // dev may upload but not edit: the page has no yank form for them.
    let dev = sign_in(&app, "dev", "pw").await;
    let seen = send(&app, get(page_uri), Some(&dev)).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert!(!seen.body.contains("Yank 1.0"), "{}", seen.body);
    let admin = sign_in(&app, "tester", support::TESTER_PASSWORD).await;
    let page = send(&app, get(page_uri), Some(&admin)).await;
    assert!(
        page.body.contains("/admin/repository/py/version/act")
            && page.body.contains("Yank 1.0")
            && page.body.contains("Reason (optional)"),
        "{}",
        page.body
    );
    let done = send(
        &app,
        form_post(
            "/admin/repository/py/version/act",
            &format!(
                "csrf={}&project=demo&reference=1.0&action=yank&input=bad+build",
                page.csrf()
            ),
        )
        .insert_header(("origin", ORIGIN)),
        Some(&admin),
    )
    .await;
    assert_eq!(done.location.as_deref(), Some(page_uri), "{}", done.body);
    let index = json_page(&app, "/repository/py/simple/demo/").await;
    assert_eq!(index["files"][0]["yanked"], "bad build");
    let page = send(&app, get(page_uri), Some(&admin)).await;
    assert!(page.body.contains("Un-yank 1.0"), "{}", page.body);
    // The form needs the session's CSRF token.
    let refused = send(
        &app,
        form_post(
            "/admin/repository/py/version/act",
            "csrf=forged&project=demo&reference=1.0&action=unyank",
        )
        .insert_header(("origin", ORIGIN)),
        Some(&admin),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let index = json_page(&app, "/repository/py/simple/demo/").await;
    assert_eq!(index["files"][0]["yanked"], "bad build");
}

/// What the upstream serves: path -> (content type, body).
type Pages = HashMap<String, (String, Vec<u8>)>;

/// A hand-made upstream index on loopback, with a count of requests per path.
#[derive(Clone, Default)]
struct Upstream {
    pages: Arc<Mutex<Pages>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Upstream {
    fn set(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        self.pages
            .lock()
            .unwrap()
            .insert(path.to_owned(), (content_type.to_owned(), body.into()));
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Serves on an ephemeral port; its base URL.
    fn start(&self) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let me = self.clone();
        let server = actix_web::HttpServer::new(move || {
            let me = me.clone();
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest| {
                    let me = me.clone();
                    async move {
                        let path = req.path().to_owned();
                        *me.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                        match me.pages.lock().unwrap().get(&path) {
                            Some((ct, body)) => actix_web::HttpResponse::Ok()
                                .content_type(ct.as_str())
                                .body(body.clone()),
                            None => actix_web::HttpResponse::NotFound().finish(),
                        }
                    }
                },
            ))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        url
    }
}

#[actix_web::test]
async fn a_proxy_rewrites_upstream_pages_and_checks_files_against_their_links() {
    let up = Upstream::default();
    let base = up.start();
    let t = pypi(&PROXIED.replace("UPSTREAM", &base)).await;
    let app = main_app!(t.trove);
    // JSON (devpi's shape): file URLs relative to the page, on another path.
    let good = b"updep 1.0 sdist".to_vec();
    let md = metadata("updep", "1.0");
    let whl = wheel("updep", "1.0", &md);
    up.set(
        "/+f/ab/updep-1.0.tar.gz",
        "application/octet-stream",
        good.clone(),
    );
    up.set(
        "/+f/cd/updep-1.0-py3-none-any.whl",
        "application/octet-stream",
        whl.clone(),
    );
    up.set(
        "/+f/cd/updep-1.0-py3-none-any.whl.metadata",
        "text/plain",
        md.clone(),
    );
    up.set(
        "/simple/updep/",
        JSON_TYPE,
        json!({
            "meta": {"api-version": "1.0"},
            "name": "updep",
            "files": [
                {"filename": "updep-1.0.tar.gz", "url": "../../+f/ab/updep-1.0.tar.gz#sha256=x",
                 "hashes": {"sha256": hex_sha256(&good)}, "requires-python": ">=3.7"},
                {"filename": "updep-1.0-py3-none-any.whl",
                 "url": format!("{base}/+f/cd/updep-1.0-py3-none-any.whl"),
                 "hashes": {"sha256": hex_sha256(&whl)},
                 "core-metadata": {"sha256": hex_sha256(md.as_bytes())}, "yanked": "old"},
            ]
        })
        .to_string(),
    );
    // HTML (pypiserver's shape): absolute paths under /packages/, a bad hash on one file.
    up.set(
        "/packages/evil-1.0.tar.gz",
        "application/octet-stream",
        b"what the upstream serves".to_vec(),
    );
    up.set(
        "/simple/evil/",
        "text/html",
        format!(
            "<html><body><a href=\"/packages/evil-1.0.tar.gz#sha256={}\">evil-1.0.tar.gz</a>\n\
             <a href=\"/packages/evil-2.0.tar.gz#sha256={}\" data-requires-python=\"&gt;=3.9\">evil-2.0.tar.gz</a></body></html>",
            hex_sha256(b"what the page announced"),
            hex_sha256(b"two")
        ),
    );
    up.set(
        "/packages/evil-2.0.tar.gz",
        "application/octet-stream",
        b"two".to_vec(),
    );
    // The rewritten JSON page: Trove's paths, hashes, requires-python, yank and metadata kept.
    let page = json_page(&app, "/repository/up/simple/updep/").await;
    assert_eq!(
        filenames(&page),
        ["updep-1.0.tar.gz", "updep-1.0-py3-none-any.whl"]
    );
    let (sd, wh) = (&page["files"][0], &page["files"][1]);
    assert_eq!(sd["url"], "../../packages/updep/updep-1.0.tar.gz");
    assert_eq!(sd["hashes"]["sha256"], hex_sha256(&good));
    assert_eq!(sd["requires-python"], ">=3.7");
    assert_eq!(wh["yanked"], "old");
    assert_eq!(wh["core-metadata"]["sha256"], hex_sha256(md.as_bytes()));
    assert_eq!(
        wh["dist-info-metadata"]["sha256"],
        hex_sha256(md.as_bytes())
    );
    assert_eq!(page["versions"], json!(["1.0"]));
    // Files come from where the links said, once, then from the cache.
    for _ in 0..2 {
        let r = call(
            &app,
            anonymous(get("/repository/up/packages/updep/updep-1.0.tar.gz")),
        )
        .await;
        assert_eq!((r.status, &r.body[..]), (200, &good[..]));
    }
    assert_eq!(up.hits("/+f/ab/updep-1.0.tar.gz"), 1);
    let r = call(
        &app,
        anonymous(get(
            "/repository/up/packages/updep/updep-1.0-py3-none-any.whl.metadata",
        )),
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (200, md.as_bytes()));
    // The HTML page, rewritten; a file whose bytes do not hash to its link is refused and
    // not kept.
    let html = text(&call(&app, anonymous(get("/repository/up/simple/evil/"))).await);
    assert!(
        html.contains("href=\"../../packages/evil/evil-2.0.tar.gz#sha256=")
            && html.contains("data-requires-python=\"&gt;=3.9\""),
        "{html}"
    );
    // The proxy streams as it fetches: the bytes that do not hash to the link end the body
    // with an error (pip sees a broken download, never a wrong file), and nothing is kept.
    for attempt in 1..=2 {
        let res = actix_web::test::call_service(
            &app,
            get("/repository/up/packages/evil/evil-1.0.tar.gz")
                .insert_header(("authorization", basic("dev", "pw")))
                .to_request(),
        )
        .await;
        let body = actix_web::body::to_bytes(res.into_body()).await;
        match body {
            Ok(b) => panic!("a tampered file was served whole: {b:?}"),
            Err(e) => assert!(e.to_string().contains("does not match"), "{e}"),
        }
        assert_eq!(
            up.hits("/packages/evil-1.0.tar.gz"),
            attempt,
            "nothing was cached, so each request goes upstream"
        );
    }
    let r = call(
        &app,
        anonymous(get("/repository/up/packages/evil/evil-2.0.tar.gz")),
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (200, &b"two"[..]));
    // A file no page linked is not fetched from anywhere.
    let r = call(
        &app,
        anonymous(get("/repository/up/packages/updep/updep-9.0.tar.gz")),
    )
    .await;
    assert_eq!(r.status, 404, "{}", text(&r));
    // Proxies take no uploads.
    let r = call(
        &app,
        as_dev(upload(
            "/repository/up/",
            &fields("updep", "2.0", b"x"),
            "updep-2.0.tar.gz",
            b"x",
        )),
    )
    .await;
    assert!(
        r.status >= 400 && r.status < 500,
        "{} {}",
        r.status,
        text(&r)
    );

    // Groups over hosted + proxy: an upstream-only project comes through, with the group's
    // links; a project the hosted member has hides the upstream's (dependency confusion),
    // unless the group mixes them.
    let group = json_page(&app, "/repository/guarded/simple/updep/").await;
    assert_eq!(
        group["files"][0]["url"],
        "../../packages/updep/updep-1.0.tar.gz"
    );
    let r = call(
        &app,
        anonymous(get("/repository/guarded/packages/updep/updep-1.0.tar.gz")),
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (200, &good[..]));
    let private = b"our evil 3.0".to_vec();
    let mut f = fields("evil", "3.0", &private);
    set(&mut f, "filetype", "sdist");
    assert_eq!(
        call(
            &app,
            as_dev(upload("/repository/py/", &f, "evil-3.0.tar.gz", &private))
        )
        .await
        .status,
        200
    );
    let guarded = json_page(&app, "/repository/guarded/simple/evil/").await;
    assert_eq!(filenames(&guarded), ["evil-3.0.tar.gz"]);
    let mixed = json_page(&app, "/repository/mixed/simple/evil/").await;
    let mut names = filenames(&mixed);
    names.sort();
    assert_eq!(
        names,
        ["evil-1.0.tar.gz", "evil-2.0.tar.gz", "evil-3.0.tar.gz"]
    );
}
