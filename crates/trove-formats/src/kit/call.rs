//! One request addressed to a repository, once the caller is known: what a format's handlers
//! take (npm, PyPI), with who is calling, the repository and its external URL, and the
//! body until a handler takes it.

use std::sync::Arc;

use actix_web::{HttpRequest, web};
use trove_auth::{Action, Identity};
use trove_core::{Ctx, FormatId, Repository};

use super::access::{self, Refusal};
use super::errors::Failure;
use super::{Frontend, caller, request};
use crate::registry::RepoRequest;

pub struct Call {
    pub http: HttpRequest,
    pub front: web::Data<Frontend>,
    pub format: FormatId,
    /// The repository name as addressed.
    pub name: String,
    pub repo: Option<Arc<dyn Repository>>,
    /// Where the repository is mounted on this listener.
    pub base: String,
    /// The rest of the path.
    pub tail: String,
    pub identity: Identity,
    pub ctx: Ctx,
    /// The request body, until a handler takes it.
    pub payload: Option<web::Payload>,
}

impl Call {
    /// Identifies the caller of `req` (bad credentials are a challenge).
    pub async fn identify(req: RepoRequest, format: FormatId) -> Result<Call, Failure> {
        let RepoRequest {
            http,
            payload,
            front,
            name,
            repo,
            base,
            tail,
        } = req;
        let identity = caller::identify(&front.auth, &http).await.map_err(|e| {
            match e.into_service_failure() {
                // The database failing, or a directory that cannot answer (LDAP: 503), is not
                // the caller's doing.
                Ok(e) => Failure::from_core(e),
                Err(e) => Failure::refused(Refusal::Challenge(e.to_string())),
            }
        })?;
        let ctx = request::ctx(&http, &identity.principal);
        Ok(Call {
            http,
            front,
            format,
            name,
            repo,
            base,
            tail,
            identity,
            ctx,
            payload: Some(payload),
        })
    }

    /// May the caller do `action` (on `resource`, a path)?
    pub fn allow(&self, action: Action, resource: Option<&str>) -> Result<(), Failure> {
        access::check(
            &self.front.auth,
            &self.identity,
            &self.format,
            &self.name,
            self.repo.as_deref().map(|r| r.config()),
            action,
            resource,
        )
        .map_err(Failure::refused)
    }

    pub fn front(&self) -> &Frontend {
        &self.front
    }

    /// The repository; only after [`Call::allow`] passed (which refuses a missing one).
    pub fn repo(&self) -> &Arc<dyn Repository> {
        self.repo.as_ref().expect("checked: the repository exists")
    }

    /// The external URL of this repository's root, as the client addressed it.
    pub fn base_url(&self) -> String {
        self.front.external(&self.http).url(&self.base)
    }

    /// The body, once.
    pub fn take_payload(&mut self) -> Result<web::Payload, Failure> {
        self.payload.take().ok_or_else(|| {
            Failure::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "the request body was already read",
            )
        })
    }

    /// A whole (small) body, at most `limit` bytes.
    pub async fn read_body(&mut self, limit: usize) -> Result<bytes::Bytes, Failure> {
        let payload = self.take_payload()?;
        super::body::read_limited(payload, limit, self.front().progress)
            .await
            .map_err(Failure::body)
    }
}
