//! Shared helpers for the in-process API tests: a Trove on a temp dir, the same routes as the
//! server mounts, and small request/response helpers.

#![allow(dead_code)]

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName};
use actix_web::test::{self, TestRequest};
use sha2::Digest as _;
use trove_server::{Config, Trove};

const ANON: HeaderName = HeaderName::from_static("x-test-anonymous");

pub struct Instance {
    pub dir: tempfile::TempDir,
    pub trove: std::sync::Arc<Trove>,
}

/// A Trove with repository `hosted` (plus `extra` TOML) on a fresh temp dir.
pub async fn instance(extra: &str) -> Instance {
    instance_with_server("", extra).await
}

/// The same with extra `[server]` keys.
pub async fn instance_with_server(server: &str, extra: &str) -> Instance {
    let dir = tempfile::tempdir().unwrap();
    let trove = open_with_server(&dir, server, extra).await;
    Instance { dir, trove }
}

pub async fn open(dir: &tempfile::TempDir, extra: &str) -> std::sync::Arc<Trove> {
    open_with_server(dir, "", extra).await
}

pub async fn open_with_server(
    dir: &tempfile::TempDir,
    server: &str,
    extra: &str,
) -> std::sync::Arc<Trove> {
    let pw = dir.path().join("tester.password");
    std::fs::write(&pw, TESTER_PASSWORD).unwrap();
    let toml = format!(
        "[server]\ndata_dir = {:?}\n{server}\n[[repository]]\nname = \"hosted\"\nformat = \"docker\"\nkind = \"hosted\"\n\
         [[user]]\nname = \"tester\"\npassword_file = {pw:?}\nroles = [\"admin\"]\n{extra}",
        dir.path().join("data")
    );
    Trove::open(&Config::from_toml_str(&toml).unwrap())
        .await
        .unwrap()
}

/// The declared admin every test request is signed with unless it carries its own
/// `Authorization` (or asks for none with [`anonymous`]).
pub const TESTER_PASSWORD: &str = "tester-password";

pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Marks a request to be sent without credentials.
pub fn anonymous(req: TestRequest) -> TestRequest {
    req.insert_header(("x-test-anonymous", "1"))
}

pub struct Resp {
    pub status: u16,
    /// The status line's reason phrase when it is not the status's own (Maven refusals).
    pub reason: Option<&'static str>,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
    /// The `code` of an OCI error body.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap()
            .to_owned()
    }
    /// Asserts status and error code together, with the body in the failure message.
    pub fn expect_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("docker-distribution-api-version").as_deref(),
            Some("registry/2.0")
        );
    }
}

pub async fn call<S, B>(app: &S, req: TestRequest) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = req.to_request();
    let headers = req.headers_mut();
    if headers.remove(ANON).next().is_none() && !headers.contains_key(header::AUTHORIZATION) {
        let v = header::HeaderValue::from_str(&basic("tester", TESTER_PASSWORD)).unwrap();
        headers.insert(header::AUTHORIZATION, v);
    }
    let res = test::call_service(app, req).await;
    let status = res.status().as_u16();
    let reason = res.response().head().reason;
    let headers = res.headers().clone();
    let body = test::read_body(res).await;
    Resp {
        status,
        reason,
        headers,
        body,
    }
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Builds the main-port app of `trove`.
#[macro_export]
macro_rules! main_app {
    ($trove:expr) => {
        actix_web::test::init_service(actix_web::App::new().configure($trove.main_routes())).await
    };
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

pub fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

pub fn head(uri: &str) -> TestRequest {
    TestRequest::default()
        .method(actix_web::http::Method::HEAD)
        .uri(uri)
}

/// Pushes `data` as a blob of `/v2/hosted/<img>` in one request; returns its digest.
#[macro_export]
macro_rules! push_blob {
    ($app:expr, $img:expr, $data:expr) => {{
        let data: &[u8] = $data;
        let d = support::sha256(data);
        let uri = format!("/v2/hosted/{}/blobs/uploads/?digest={d}", $img);
        let req = actix_web::test::TestRequest::post()
            .uri(&uri)
            .set_payload(data.to_vec());
        let r = support::call(&$app, req).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        d
    }};
}

/// An image manifest document of `media_type` over `config` and `layers` (digest, size).
pub fn image_manifest(
    media_type: &str,
    config: (&str, usize),
    layers: &[(&str, usize)],
) -> Vec<u8> {
    let desc = |mt: &str, (d, n): (&str, usize)| serde_json::json!({"mediaType": mt, "digest": d, "size": n});
    let layers: Vec<_> = layers
        .iter()
        .map(|l| desc("application/vnd.oci.image.layer.v1.tar+gzip", *l))
        .collect();
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": desc("application/vnd.oci.image.config.v1+json", config),
        "layers": layers,
    });
    serde_json::to_vec_pretty(&doc).unwrap()
}

pub fn put_manifest(uri: &str, ctype: &str, body: &[u8]) -> TestRequest {
    TestRequest::put()
        .uri(uri)
        .insert_header(("content-type", ctype))
        .set_payload(body.to_vec())
}
