//! The raw format in process: files at any depth with Range, ETag, Last-Modified and
//! conditional requests, Content-Type kept or guessed, DELETE, folder listings, traversal
//! refusals, routing rules on the path, privileges per format, write policy, groups, and the
//! same answer for a missing repository as for one the caller may not see.

use crate::support;

use actix_web::test::TestRequest;
use support::{anonymous, basic, call, get, head, instance, sha256};

const RAW: &str = r#"
[[repository]]
name = "files"
format = "raw"
kind = "hosted"
[[repository]]
name = "once"
format = "raw"
kind = "hosted"
write_policy = "allow_once"
[[repository]]
name = "more"
format = "raw"
kind = "hosted"
[[repository]]
name = "all"
format = "raw"
kind = "group"
members = ["files", "more"]
writable_member = "files"
[[routing_rule]]
name = "no-secrets"
mode = "block"
matchers = ["^/secret/.*"]
[[repository]]
name = "guarded"
format = "raw"
kind = "hosted"
routing_rule = "no-secrets"
[[role]]
name = "raw-readers"
privileges = [{ format = "raw", repo = "*", actions = ["browse", "read"] }]
[[user]]
name = "reader"
password_file = "PWFILE"
roles = ["raw-readers"]
[[user]]
name = "nobody"
password_file = "PWFILE"
"#;

async fn raw() -> support::Instance {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let t = instance(&RAW.replace("PWFILE", pw.to_str().unwrap())).await;
    std::mem::forget(dir);
    t
}

fn put(uri: &str, body: &[u8]) -> TestRequest {
    TestRequest::put().uri(uri).set_payload(body.to_vec())
}

fn as_user(req: TestRequest, user: &str) -> TestRequest {
    req.insert_header(("authorization", basic(user, "pw")))
}

fn text(r: &support::Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[actix_web::test]
async fn files_round_trip_with_ranges_etags_and_conditional_requests() {
    let t = raw().await;
    let app = main_app!(t.trove);
    let body = b"hello raw world\n";
    let r = call(&app, put("/repository/files/a/b/c/hello.txt", body)).await;
    assert_eq!(r.status, 201, "{}", text(&r));
    let etag = r.header("etag").unwrap();
    assert_eq!(etag, format!("\"{}\"", &sha256(body)["sha256:".len()..]));

    let r = call(&app, get("/repository/files/a/b/c/hello.txt")).await;
    assert_eq!((r.status, &r.body[..]), (200, &body[..]));
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(r.header("etag").as_deref(), Some(etag.as_str()));
    assert_eq!(r.header("accept-ranges").as_deref(), Some("bytes"));
    let modified = r.header("last-modified").unwrap();
    assert!(modified.ends_with(" GMT"), "{modified}");

    let r = call(&app, head("/repository/files/a/b/c/hello.txt")).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length").as_deref(), Some("16"));
    assert_eq!(r.header("etag").as_deref(), Some(etag.as_str()));

    let r = call(
        &app,
        get("/repository/files/a/b/c/hello.txt").insert_header(("range", "bytes=6-8")),
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (206, &b"raw"[..]));
    assert_eq!(r.header("content-range").as_deref(), Some("bytes 6-8/16"));
    let r = call(
        &app,
        get("/repository/files/a/b/c/hello.txt").insert_header(("range", "bytes=-6")),
    )
    .await;
    assert_eq!((r.status, &r.body[..]), (206, &b"world\n"[..]));
    let r = call(
        &app,
        get("/repository/files/a/b/c/hello.txt").insert_header(("range", "bytes=99-")),
    )
    .await;
    assert_eq!(r.status, 416, "{}", text(&r));

    let r = call(
        &app,
        get("/repository/files/a/b/c/hello.txt").insert_header(("if-none-match", etag.as_str())),
    )
    .await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = call(
        &app,
        get("/repository/files/a/b/c/hello.txt").insert_header(("if-none-match", "\"other\"")),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = call(
        &app,
        get("/repository/files/a/b/c/hello.txt")
            .insert_header(("if-modified-since", modified.as_str())),
    )
    .await;
    assert_eq!(r.status, 304);
    let r = call(
        &app,
        get("/repository/files/a/b/c/hello.txt")
            .insert_header(("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT")),
    )
    .await;
    assert_eq!(r.status, 200);

    // Content-Type: the upload's, else guessed; curl -d's form type says nothing.
    let r = call(
        &app,
        put("/repository/files/doc", b"{}").insert_header(("content-type", "application/json")),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = call(&app, get("/repository/files/doc")).await;
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let r = call(
        &app,
        put("/repository/files/x.tar.gz", b"gz")
            .insert_header(("content-type", "application/x-www-form-urlencoded")),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = call(&app, get("/repository/files/x.tar.gz")).await;
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/gzip")
    );

    // Overwrite (write_policy allow), then delete.
    let r = call(&app, put("/repository/files/a/b/c/hello.txt", b"v2")).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        &call(&app, get("/repository/files/a/b/c/hello.txt"))
            .await
            .body[..],
        b"v2"
    );
    let r = call(
        &app,
        TestRequest::delete().uri("/repository/files/a/b/c/hello.txt"),
    )
    .await;
    assert_eq!(r.status, 204);
    let r = call(&app, get("/repository/files/a/b/c/hello.txt")).await;
    assert_eq!(r.status, 404);
    assert!(text(&r).starts_with("404 Not Found: "), "{}", text(&r));
    let r = call(
        &app,
        TestRequest::delete().uri("/repository/files/a/b/c/hello.txt"),
    )
    .await;
    assert_eq!(r.status, 404);
}

#[actix_web::test]
async fn uploads_are_verified_and_write_once_is_kept() {
    let t = raw().await;
    let app = main_app!(t.trove);
    let good = &sha256(b"checked")["sha256:".len()..];
    let r = call(
        &app,
        put("/repository/files/c.bin", b"checked").insert_header(("x-checksum-sha256", good)),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = call(
        &app,
        put("/repository/files/d.bin", b"tampered").insert_header(("x-checksum-sha256", good)),
    )
    .await;
    assert_eq!(r.status, 400, "{}", text(&r));
    assert!(text(&r).contains("does not match X-Checksum-Sha256"));
    assert_eq!(
        call(&app, get("/repository/files/d.bin")).await.status,
        404,
        "nothing kept"
    );
    let r = call(
        &app,
        put("/repository/files/e.bin", b"x").insert_header(("x-checksum-sha256", "nothex")),
    )
    .await;
    assert_eq!(r.status, 400);

    assert_eq!(
        call(&app, put("/repository/once/v1.zip", b"one"))
            .await
            .status,
        201
    );
    let r = call(&app, put("/repository/once/v1.zip", b"two")).await;
    assert_eq!(r.status, 409, "{}", text(&r));
    assert_eq!(
        &call(&app, get("/repository/once/v1.zip")).await.body[..],
        b"one"
    );
}

#[actix_web::test]
async fn folders_are_listed_and_traversal_is_refused() {
    let t = raw().await;
    let app = main_app!(t.trove);
    for p in ["/a/x.txt", "/a/b/y.txt", "/a/%3Cz%3E.txt", "/top.txt"] {
        let r = call(&app, put(&format!("/repository/files{p}"), b"1")).await;
        assert_eq!(r.status, 201, "{p}");
    }
    let r = call(&app, get("/repository/files/")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let page = text(&r);
    assert!(page.contains("<a href=\"a/\">a/</a>"), "{page}");
    assert!(page.contains("<a href=\"top.txt\">top.txt</a>"), "{page}");
    assert!(!page.contains("x.txt"), "only direct children: {page}");
    let page = text(&call(&app, get("/repository/files/a/")).await);
    assert!(page.contains("<a href=\"b/\">b/</a>"), "{page}");
    assert!(page.contains("&lt;z&gt;.txt"), "escaped: {page}");
    assert!(page.contains("href=\"../\""));
    let r = call(&app, get("/repository/files/a")).await;
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (301, Some("a/"))
    );
    assert_eq!(call(&app, get("/repository/files/nope/")).await.status, 404);
    // The repository root without a slash is its listing too.
    assert_eq!(call(&app, get("/repository/files")).await.status, 200);

    for bad in [
        "/repository/files/a/../top.txt",
        "/repository/files/a/./x.txt",
        "/repository/files/a//x.txt",
        "/repository/files/a/%2e%2e/top.txt",
        "/repository/files/a%2Fb",
        "/repository/files/a%5cb",
        "/repository/files/a%00b",
    ] {
        let r = call(&app, get(bad)).await;
        assert_eq!(r.status, 400, "{bad}: {}", text(&r));
        let r = call(&app, put(bad, b"x")).await;
        assert_eq!(r.status, 400, "PUT {bad}");
    }
    let r = call(&app, put("/repository/files/a/", b"x")).await;
    assert_eq!(r.status, 405, "a folder is not a file");
}

#[actix_web::test]
async fn rules_privileges_and_hidden_repositories() {
    let t = raw().await;
    let app = main_app!(t.trove);
    assert_eq!(
        call(&app, put("/repository/guarded/ok.txt", b"1"))
            .await
            .status,
        201
    );
    let r = call(&app, put("/repository/guarded/secret/key", b"1")).await;
    assert_eq!(r.status, 403);
    assert!(
        text(&r).contains("no-secrets"),
        "names the rule: {}",
        text(&r)
    );
    let r = call(&app, get("/repository/guarded/secret/key")).await;
    assert_eq!(r.status, 403);

    // A raw privilege reads raw repositories, not docker ones.
    assert_eq!(
        call(&app, put("/repository/files/f.txt", b"f"))
            .await
            .status,
        201
    );
    let r = call(&app, as_user(get("/repository/files/f.txt"), "reader")).await;
    assert_eq!(r.status, 200);
    let r = call(
        &app,
        as_user(put("/repository/files/g.txt", b"g"), "reader"),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(text(&r).contains("may not add"), "{}", text(&r));
    let r = call(&app, as_user(get("/v2/hosted/img/tags/list"), "reader")).await;
    assert_eq!(r.status, 403, "no docker privilege");

    // Who may not see a repository cannot tell it from one that does not exist.
    let a = call(&app, anonymous(get("/repository/files/f.txt"))).await;
    let b = call(&app, anonymous(get("/repository/no-such/f.txt"))).await;
    assert_eq!((a.status, b.status), (401, 401));
    assert_eq!(a.body, b.body);
    assert_eq!(a.header("www-authenticate"), b.header("www-authenticate"));
    assert_eq!(
        a.header("www-authenticate").as_deref(),
        Some("Basic realm=\"trove\"")
    );
    // (The answer names the repository the caller asked for, in both cases alike.)
    let a = call(&app, as_user(get("/repository/files/f.txt"), "nobody")).await;
    let b = call(&app, as_user(get("/repository/no-such/f.txt"), "nobody")).await;
    assert_eq!((a.status, b.status), (403, 403));
    assert_eq!(
        text(&a).replace("files", "X"),
        text(&b).replace("no-such", "X")
    );
    // One who could see a raw repository of that name is told it is missing.
    let r = call(&app, as_user(get("/repository/no-such/f.txt"), "reader")).await;
    assert_eq!(r.status, 404, "{}", text(&r));
    assert!(text(&r).contains("does not exist"));
    let r = call(&app, get("/repository/no-such/f.txt")).await;
    assert_eq!(r.status, 404, "admin");
}

#[actix_web::test]
async fn groups_serve_the_first_member_and_list_the_union() {
    let t = raw().await;
    let app = main_app!(t.trove);
    assert_eq!(
        call(&app, put("/repository/files/same.txt", b"files"))
            .await
            .status,
        201
    );
    assert_eq!(
        call(&app, put("/repository/more/same.txt", b"more"))
            .await
            .status,
        201
    );
    assert_eq!(
        call(&app, put("/repository/more/only.txt", b"only"))
            .await
            .status,
        201
    );
    assert_eq!(
        &call(&app, get("/repository/all/same.txt")).await.body[..],
        b"files"
    );
    assert_eq!(
        &call(&app, get("/repository/all/only.txt")).await.body[..],
        b"only"
    );
    assert_eq!(
        call(&app, get("/repository/all/none.txt")).await.status,
        404
    );
    let page = text(&call(&app, get("/repository/all/")).await);
    assert!(
        page.contains("same.txt") && page.contains("only.txt"),
        "{page}"
    );
    // Writes go to the writable member.
    assert_eq!(
        call(&app, put("/repository/all/new.txt", b"n"))
            .await
            .status,
        201
    );
    assert_eq!(
        &call(&app, get("/repository/files/new.txt")).await.body[..],
        b"n"
    );
}
