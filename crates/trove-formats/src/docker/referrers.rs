//! The referrers API (end-12): `GET /v2/<name>/referrers/<digest>[?artifactType=]`, an OCI index
//! of the manifests whose `subject` is `<digest>`, computed from what was recorded at push.

use actix_web::{HttpRequest, HttpResponse};
use trove_core::Digest;

use super::Target;
use super::errors::OciError;
use super::manifests::OCI_INDEX;
use super::tags::{generated, list_query};

pub async fn list(
    t: &Target,
    req: &HttpRequest,
    name: &str,
    digest: &Digest,
) -> Result<HttpResponse, OciError> {
    let q = list_query(req)?;
    // Every kind answers a referrers index (a proxy of a registry without the API caches an
    // empty one); should one not, the spec's answer is still an empty index, not an error.
    let mut doc = generated(t, format!("/v2/{name}/referrers/{digest}"))
        .await?
        .unwrap_or_else(
            || serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
        );
    let mut res = HttpResponse::Ok();
    if let Some(want) = &q.artifact_type {
        let manifests = doc["manifests"].as_array_mut().expect("generated index");
        manifests.retain(|m| m["artifactType"].as_str() == Some(want.as_str()));
        // Tells the client the filter was applied here, so it need not filter again.
        res.insert_header(("OCI-Filters-Applied", "artifactType"));
    }
    Ok(res
        .content_type(OCI_INDEX)
        .body(serde_json::to_vec(&doc).expect("serialises")))
}
