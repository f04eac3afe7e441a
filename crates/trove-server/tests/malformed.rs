//! Malformed input never panics, never answers 500, and always answers a spec error code.
//! The corpus (`fixtures/malformed.jsonl`, one request per line with the expected status and
//! code) lives in the repository; add a line for every bad input a client is found to send.
//! `{upload}` is a live upload session of image `img`, `{blob}` a stored 4-byte blob, `{wrong}`
//! a digest that does not match the body sent.

use crate::support;

use actix_web::test::TestRequest;
use serde::Deserialize;
use support::{OCI_MANIFEST, call, image_manifest, instance, put_manifest, sha256};

#[derive(Deserialize)]
struct Case {
    method: String,
    path: String,
    headers: std::collections::BTreeMap<String, String>,
    body: String,
    status: u16,
    code: Option<String>,
}

#[actix_web::test]
async fn corpus_of_malformed_requests() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let blob = push_blob!(app, "img", b"abcd");
    let corpus = include_str!("fixtures/malformed.jsonl");
    let mut checked = 0;
    for line in corpus.lines().filter(|l| !l.trim().is_empty()) {
        let case: Case = serde_json::from_str(line).unwrap();
        // A fresh session per case, so one case's chunk cannot change the next one's offset.
        let r = call(
            &app,
            TestRequest::post().uri("/v2/hosted/img/blobs/uploads/"),
        )
        .await;
        let upload = r.header("docker-upload-uuid").unwrap();
        let path = case
            .path
            .replace("{upload}", &upload)
            .replace("{blob}", &blob)
            .replace("{wrong}", &sha256(b"not the body"));
        let method = actix_web::http::Method::from_bytes(case.method.as_bytes()).unwrap();
        let mut req = TestRequest::default()
            .method(method)
            .uri(&path)
            .set_payload(case.body.clone());
        for (k, v) in &case.headers {
            req = req.insert_header((k.as_str(), v.as_str()));
        }
        let r = call(&app, req).await;
        let what = format!(
            "{} {} -> {} {}",
            case.method,
            case.path,
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.status, case.status, "{what}");
        match &case.code {
            Some(code) => r.expect_error(case.status, code),
            None => assert!(r.status < 400, "{what}"),
        }
        checked += 1;
    }
    assert!(checked >= 60, "corpus shrank to {checked}");
}

/// Mutation fuzzing of manifest PUTs: truncations and byte flips of a valid manifest must
/// answer 201 or a spec error, never 500, and never make an invalid document visible.
#[actix_web::test]
async fn mutated_manifests_never_break_the_server() {
    let t = instance("").await;
    let app = main_app!(t.trove);
    let config = push_blob!(app, "img", b"{}");
    let layer = push_blob!(app, "img", b"layer");
    let good = image_manifest(OCI_MANIFEST, (&config, 2), &[(&layer, 5)]);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let interesting = [
        b'"', b'{', b'}', b'[', b']', b':', b',', b'0', b'a', b'\\', 0, 0xff,
    ];
    for i in 0..300 {
        let mut doc = good.clone();
        match i % 3 {
            0 => doc.truncate((next() % doc.len() as u64) as usize),
            1 => {
                for _ in 0..=(next() % 4) {
                    let at = (next() % doc.len() as u64) as usize;
                    doc[at] = interesting[(next() % interesting.len() as u64) as usize];
                }
            }
            _ => {
                let at = (next() % doc.len() as u64) as usize;
                doc.insert(
                    at,
                    interesting[(next() % interesting.len() as u64) as usize],
                );
            }
        }
        let r = call(
            &app,
            put_manifest("/v2/hosted/img/manifests/fuzz", OCI_MANIFEST, &doc),
        )
        .await;
        assert!(
            matches!(r.status, 201 | 400 | 404),
            "case {i}: {} {:?}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        if r.status == 201 {
            // Whatever was accepted parses as a manifest and is served byte for byte.
            let v: serde_json::Value =
                serde_json::from_slice(&doc).expect("accepted documents are JSON");
            assert_eq!(v["schemaVersion"], 2);
            let got = call(
                &app,
                support::get(&format!("/v2/hosted/img/manifests/{}", sha256(&doc))),
            )
            .await;
            assert_eq!(&got.body[..], &doc[..]);
        } else {
            r.expect_error(r.status, &r.code());
        }
    }
}
