//! The OpenAPI document in step with the routes and the input types: every documented path
//! and method is routed and every route documented, probes answer documented statuses in the
//! one error shape, and the input schemas list exactly the keys the input types accept.
//! (Answers of every endpoint are checked against the document by trove-server's REST tests,
//! through [`crate::testing::conforms`].)

use std::collections::BTreeSet;

use actix_web::dev::ServiceResponse;
use actix_web::http::Method;
use actix_web::test::{self, TestRequest};
use actix_web::{App, web};
use serde_json::{Value, json};

use crate::testing::{collect_refs, conforms, openapi};

const V1: &str = "/service/rest/v1";

/// The API over `svc`, as the server mounts it.
async fn app(
    svc: &trove_service::Service,
) -> impl actix_web::dev::Service<
    actix_http::Request,
    Response = ServiceResponse,
    Error = actix_web::Error,
> {
    test::init_service(
        App::new()
            .app_data(web::Data::new(svc.clone()))
            .configure(crate::configure),
    )
    .await
}

struct Resp {
    status: u16,
    headers: actix_web::http::header::HeaderMap,
    body: bytes::Bytes,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

const ANON: &str = "x-test-anonymous";

/// Marks a request to be sent without credentials.
fn anonymous(req: TestRequest) -> TestRequest {
    req.insert_header((ANON, "1"))
}

/// Sends `req` as the test administrator unless it is [`anonymous`].
async fn call<S>(app: &S, req: TestRequest) -> Resp
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = ServiceResponse,
            Error = actix_web::Error,
        >,
{
    use base64::Engine;
    let mut req = req.to_request();
    let headers = req.headers_mut();
    if headers.remove(ANON).next().is_none() {
        let pair = format!(
            "{}:{}",
            trove_service::testing::ADMIN,
            trove_service::testing::ADMIN_PASSWORD
        );
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        );
        headers.insert(actix_web::http::header::AUTHORIZATION, v.parse().unwrap());
    }
    let res = app.call(req).await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = test::read_body(res).await;
    Resp {
        status,
        headers,
        body,
    }
}

fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

fn v1(path: &str) -> String {
    format!("{V1}{path}")
}

fn fetch(path: &str) -> TestRequest {
    get(&v1(path))
}

fn body(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Asserts a success status; returns the JSON body.
#[track_caller]
fn ok(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", body(r));
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

/// Asserts an error answer in the one shape; returns its `error` object.
#[track_caller]
fn error(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", body(r));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let v = r.json();
    assert_eq!(v["error"]["code"], code, "{}", body(r));
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        body(r)
    );
    if status == 401 {
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some("Basic realm=\"trove\"")
        );
    }
    v["error"].clone()
}

/// Every documented path and method is routed, every route is documented, every answer of a
/// probe is a documented status, and every `$ref` resolves.
#[actix_web::test]
async fn openapi_document_and_routes_cannot_drift() {
    let t = trove_service::testing::service().await;
    let app = app(&t.service).await;
    let r = call(&app, anonymous(get("/service/rest/openapi.json"))).await;
    let doc = ok(&r, 200);
    assert_eq!(doc, openapi());
    assert_eq!(doc["openapi"], "3.0.3");

    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 50);
    for r in &refs {
        assert!(
            doc.pointer(r.strip_prefix('#').unwrap()).is_some(),
            "dangling {r}"
        );
    }

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method != "parameters" {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let registered: BTreeSet<(String, String)> = crate::routes()
        .into_iter()
        .map(|(m, p)| (m.as_str().to_owned(), p.to_owned()))
        .collect();
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:?}"
    );
    assert!(
        unregistered.is_empty(),
        "documented but not registered: {unregistered:?}"
    );

    for (method, path) in &documented {
        let uri = path.replace("{name}", "no-such-thing");
        let mut req = TestRequest::default()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(&uri);
        if method == "POST" || method == "PUT" {
            req = req.set_json(json!({}));
        }
        let r = call(&app, req).await;
        let unrouted = r.status == 405
            || (r.status == 404
                && r.json()["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("no endpoint")));
        assert!(!unrouted, "{method} {path} is not routed: {}", body(&r));
        let op = &doc["paths"][path.as_str()][method.to_lowercase()];
        assert!(
            op["responses"].get(r.status.to_string()).is_some(),
            "{method} {uri} answered {}, which openapi.json does not list: {}",
            r.status,
            body(&r)
        );
        if r.status >= 400 {
            let e = r.json();
            conforms("Error", &e);
        }
    }

    // What is not routed answers in the same error shape.
    let r = call(&app, fetch("/nothing-here")).await;
    let e = error(&r, 404, "NOT_FOUND");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("no endpoint GET /service/rest/v1/nothing-here")
    );
    let r = call(&app, TestRequest::patch().uri(&v1("/repositories"))).await;
    error(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow").as_deref(), Some("GET, POST"));
    let r = call(&app, TestRequest::post().uri("/metrics")).await;
    error(&r, 405, "METHOD_NOT_ALLOWED");
}

/// The documented input schemas list exactly the keys the input types accept.
#[test]
fn openapi_input_schemas_match_the_input_types() {
    use trove_service::{
        AssetActionInput, PolicyInput, PrivilegeInput, RepoInput, RoleInput, RuleInput, TokenInput,
        UserInput, UserUpdate,
    };
    let doc = openapi();
    let inputs = [
        ("RepoInput", serde_json::to_value(RepoInput::default())),
        ("UserInput", serde_json::to_value(UserInput::default())),
        ("UserUpdate", serde_json::to_value(UserUpdate::default())),
        ("RoleInput", serde_json::to_value(RoleInput::default())),
        (
            "PrivilegeInput",
            serde_json::to_value(PrivilegeInput::default()),
        ),
        ("RuleInput", serde_json::to_value(RuleInput::default())),
        ("PolicyInput", serde_json::to_value(PolicyInput::default())),
        ("TokenInput", serde_json::to_value(TokenInput::default())),
        (
            "AssetActionInput",
            serde_json::to_value(AssetActionInput::default()),
        ),
    ];
    for (name, value) in inputs {
        let schema = &doc["components"]["schemas"][name];
        let documented: BTreeSet<&String> =
            schema["properties"].as_object().unwrap().keys().collect();
        let value = value.unwrap();
        let accepted: BTreeSet<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(documented, accepted, "{name}");
        assert_eq!(
            schema["additionalProperties"], false,
            "{name} refuses unknown keys"
        );
    }
}
