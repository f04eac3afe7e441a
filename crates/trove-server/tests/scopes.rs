//! Every docker challenge names exactly the scope its call needs: for each route kind, a client
//! that asks the realm for the challenge's scopes, and nothing else, with the credentials of a
//! user who holds the right privileges, gets a token that makes the call succeed. On a
//! connector port, on `/repository/<name>/v2/` and on `/v2/<name>/...`.

use crate::support;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use support::{OCI_MANIFEST, anonymous, basic, call, image_manifest, instance, sha256};

const USERS: &str = r#"
[[role]]
name = "all-on-hosted"
privileges = [{ format = "docker", repo = "hosted", actions = ["browse", "read", "add", "edit", "delete"] }]
[[user]]
name = "worker"
password_file = "PWFILE"
roles = ["all-on-hosted"]
"#;

/// `(realm path and query, service, scopes)` of a Bearer challenge.
fn challenge(r: &support::Resp) -> (String, String, Vec<String>) {
    let h = r
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("no challenge: {} {:?}", r.status, r.body));
    let rest = h.strip_prefix("Bearer ").expect("a bearer challenge");
    let mut realm = String::new();
    let mut service = String::new();
    let mut scopes = Vec::new();
    for part in rest.split("\",") {
        let (k, v) = part.split_once("=\"").expect("key=\"value\"");
        let v = v.trim_end_matches('"');
        match k {
            "realm" => realm = v.to_owned(),
            "service" => service = v.to_owned(),
            "scope" => scopes = v.split(' ').map(str::to_owned).collect(),
            other => panic!("unexpected challenge parameter {other}"),
        }
    }
    let url = url::Url::parse(&realm).expect("absolute realm");
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    (path, service, scopes)
}

/// Sends `make()` anonymously, follows the challenge exactly (token for its scopes, with the
/// worker's password), sends it again with the token; returns (challenge scopes, answer).
async fn follow<S, B>(
    app: &S,
    token_app: &S,
    make: impl Fn() -> TestRequest,
    pw: &str,
) -> (Vec<String>, support::Resp)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: actix_web::body::MessageBody,
{
    let r = call(app, anonymous(make())).await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    let (realm, service, scopes) = challenge(&r);
    let mut uri = realm.clone();
    uri.push(if uri.contains('?') { '&' } else { '?' });
    uri.push_str(&format!("service={service}"));
    for s in &scopes {
        uri.push_str(&format!("&scope={s}"));
    }
    let t = call(
        token_app,
        TestRequest::get()
            .uri(&uri)
            .insert_header(("authorization", basic("worker", pw))),
    )
    .await;
    assert_eq!(t.status, 200, "{uri}: {:?}", t.body);
    let token = t.json()["token"].as_str().unwrap().to_owned();
    let r = call(
        app,
        make().insert_header(("authorization", format!("Bearer {token}"))),
    )
    .await;
    (scopes, r)
}

async fn setup() -> (support::Instance, String) {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let t = instance(&USERS.replace("PWFILE", pw.to_str().unwrap())).await;
    std::mem::forget(dir);
    (t, "pw".into())
}

/// One route of every kind, on the three ways a docker repository is addressed: `base` is
/// the API root (`/v2/`, `/repository/hosted/v2/`, `/v2/hosted/`) and `scope_name` what the
/// challenge calls image `img` there.
macro_rules! every_route {
    ($app:expr, $token_app:expr, $pw:expr, $base:expr, $scope_name:expr) => {{
        let app = &$app;
        let base: &str = $base;
        let name = |image: &str| format!("repository:{}{image}", $scope_name);
        let with_admin = |req: TestRequest| req; // `call` signs as the admin by default
        // Content to work on: a blob under `src`, an image under `img`.
        let layer = b"a layer for the scope tests".as_slice();
        let ld = sha256(layer);
        let r = call(
            app,
            with_admin(TestRequest::post().uri(&format!("{base}src/blobs/uploads/?digest={ld}")))
                .set_payload(layer.to_vec()),
        )
        .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let config = b"{}".as_slice();
        let cd = sha256(config);
        let r = call(
            app,
            TestRequest::post()
                .uri(&format!("{base}img/blobs/uploads/?digest={cd}"))
                .set_payload(config.to_vec()),
        )
        .await;
        assert_eq!(r.status, 201);
        let manifest = image_manifest(OCI_MANIFEST, (&cd, 2), &[]);
        let md = sha256(&manifest);
        let put = || {
            TestRequest::put()
                .uri(&format!("{base}img/manifests/1"))
                .insert_header(("content-type", OCI_MANIFEST))
                .set_payload(manifest.clone())
        };
        assert_eq!(call(app, put()).await.status, 201);

        let (s, r) = follow(
            app,
            &$token_app,
            || TestRequest::get().uri(&format!("{base}img/tags/list")),
            $pw,
        )
        .await;
        assert_eq!((s, r.status), (vec![format!("{}:pull", name("img"))], 200));
        let (s, r) = follow(
            app,
            &$token_app,
            || TestRequest::get().uri(&format!("{base}img/manifests/1")),
            $pw,
        )
        .await;
        assert_eq!((s, r.status), (vec![format!("{}:pull", name("img"))], 200));
        let (s, r) = follow(
            app,
            &$token_app,
            || TestRequest::get().uri(&format!("{base}img/blobs/{cd}")),
            $pw,
        )
        .await;
        assert_eq!((s, r.status), (vec![format!("{}:pull", name("img"))], 200));
        let (s, r) = follow(
            app,
            &$token_app,
            || TestRequest::get().uri(&format!("{base}img/referrers/{md}")),
            $pw,
        )
        .await;
        assert_eq!((s, r.status), (vec![format!("{}:pull", name("img"))], 200));
        // A push of the same manifest under another tag, then moving a tag (add, edit).
        let (s, r) = follow(app, &$token_app, put, $pw).await;
        assert_eq!(
            (s, r.status),
            (vec![format!("{}:pull,push", name("img"))], 201)
        );
        // An upload: start, status, chunk, cancel; a second one finished.
        let (s, r) = follow(
            app,
            &$token_app,
            || TestRequest::post().uri(&format!("{base}img/blobs/uploads/")),
            $pw,
        )
        .await;
        assert_eq!(
            (s, r.status),
            (vec![format!("{}:pull,push", name("img"))], 202)
        );
        let location = r.header("location").unwrap();
        let upload = format!(
            "{base}img/blobs/uploads/{}",
            location.rsplit('/').next().unwrap()
        );
        let (s, r) = follow(app, &$token_app, || TestRequest::get().uri(&upload), $pw).await;
        assert_eq!(
            (s, r.status),
            (vec![format!("{}:pull,push", name("img"))], 204),
            "upload status"
        );
        let (s, r) = follow(
            app,
            &$token_app,
            || {
                TestRequest::patch()
                    .uri(&upload)
                    .set_payload(b"abc".to_vec())
            },
            $pw,
        )
        .await;
        assert_eq!(
            (s, r.status),
            (vec![format!("{}:pull,push", name("img"))], 202)
        );
        let (s, r) = follow(
            app,
            &$token_app,
            || TestRequest::put().uri(&format!("{upload}?digest={}", sha256(b"abc"))),
            $pw,
        )
        .await;
        assert_eq!(
            (s, r.status),
            (vec![format!("{}:pull,push", name("img"))], 201)
        );
        let r = call(
            app,
            TestRequest::post().uri(&format!("{base}img/blobs/uploads/")),
        )
        .await;
        let location = r.header("location").unwrap();
        let upload = format!(
            "{base}img/blobs/uploads/{}",
            location.rsplit('/').next().unwrap()
        );
        let (s, r) = follow(app, &$token_app, || TestRequest::delete().uri(&upload), $pw).await;
        assert_eq!(
            (s, r.status),
            (vec![format!("{}:pull,push", name("img"))], 204),
            "cancel"
        );
        // A mount from another image: the challenge asks for a pull of the source too, and
        // following it mounts (201), not a fallback upload (202).
        let from = format!(
            "{}src",
            $scope_name.trim_end_matches('/').to_owned()
                + if $scope_name.is_empty() { "" } else { "/" }
        );
        let from = if $scope_name.is_empty() {
            "src".to_owned()
        } else {
            from
        };
        let (s, r) = follow(
            app,
            &$token_app,
            || TestRequest::post().uri(&format!("{base}img/blobs/uploads/?mount={ld}&from={from}")),
            $pw,
        )
        .await;
        assert_eq!(
            (s, r.status),
            (
                vec![
                    format!("{}:pull,push", name("img")),
                    format!("{}:pull", name("src"))
                ],
                201
            ),
            "{:?}",
            r.body
        );
        // Deletes.
        let (s, r) = follow(
            app,
            &$token_app,
            || TestRequest::delete().uri(&format!("{base}img/manifests/{md}")),
            $pw,
        )
        .await;
        assert_eq!(
            (s, r.status),
            (vec![format!("{}:delete", name("img"))], 202)
        );
        let (s, r) = follow(
            app,
            &$token_app,
            || TestRequest::delete().uri(&format!("{base}src/blobs/{ld}")),
            $pw,
        )
        .await;
        assert_eq!(
            (s, r.status),
            (vec![format!("{}:delete", name("src"))], 202)
        );
    }};
}

#[actix_web::test]
async fn connector_challenges_name_the_scope_each_call_needs() {
    let (t, pw) = setup().await;
    let app = actix_web::test::init_service(
        actix_web::App::new().configure(
            t.trove
                .connector_routes(trove_core::RepoName::parse("hosted").unwrap()),
        ),
    )
    .await;
    every_route!(app, app, &pw, "/v2/", "");
}

#[actix_web::test]
async fn path_based_challenges_name_the_scope_each_call_needs() {
    let (t, pw) = setup().await;
    let app = main_app!(t.trove);
    every_route!(app, app, &pw, "/repository/hosted/v2/", "");
}

#[actix_web::test]
async fn by_name_challenges_name_the_scope_each_call_needs() {
    let (t, pw) = setup().await;
    let app = main_app!(t.trove);
    every_route!(app, app, &pw, "/v2/hosted/", "hosted/");
}
