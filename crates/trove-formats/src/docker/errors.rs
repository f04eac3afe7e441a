//! The one error table of the docker front-end: spec error codes, their HTTP statuses, and the
//! mapping from `trove_core::ErrorKind`. Codes are those of the distribution spec
//! (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes), plus
//! `TAG_INVALID` from the Docker registry API and distribution's `UNKNOWN`/`UNAVAILABLE` for
//! failures the spec has no code for.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use trove_core::{Error, ErrorKind};

use super::API_VERSION;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OciCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    TagInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    #[serde(rename = "TOOMANYREQUESTS")]
    TooManyRequests,
    Unavailable,
    Unknown,
}

impl OciCode {
    pub const ALL: [OciCode; 17] = [
        OciCode::BlobUnknown,
        OciCode::BlobUploadInvalid,
        OciCode::BlobUploadUnknown,
        OciCode::DigestInvalid,
        OciCode::ManifestBlobUnknown,
        OciCode::ManifestInvalid,
        OciCode::ManifestUnknown,
        OciCode::NameInvalid,
        OciCode::NameUnknown,
        OciCode::SizeInvalid,
        OciCode::TagInvalid,
        OciCode::Unauthorized,
        OciCode::Denied,
        OciCode::Unsupported,
        OciCode::TooManyRequests,
        OciCode::Unavailable,
        OciCode::Unknown,
    ];

    /// The wire string, as it appears in `{"errors":[{"code": ...}]}`.
    pub fn as_str(self) -> &'static str {
        match self {
            OciCode::BlobUnknown => "BLOB_UNKNOWN",
            OciCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            OciCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            OciCode::DigestInvalid => "DIGEST_INVALID",
            OciCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            OciCode::ManifestInvalid => "MANIFEST_INVALID",
            OciCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            OciCode::NameInvalid => "NAME_INVALID",
            OciCode::NameUnknown => "NAME_UNKNOWN",
            OciCode::SizeInvalid => "SIZE_INVALID",
            OciCode::TagInvalid => "TAG_INVALID",
            OciCode::Unauthorized => "UNAUTHORIZED",
            OciCode::Denied => "DENIED",
            OciCode::Unsupported => "UNSUPPORTED",
            OciCode::TooManyRequests => "TOOMANYREQUESTS",
            OciCode::Unavailable => "UNAVAILABLE",
            OciCode::Unknown => "UNKNOWN",
        }
    }

    /// The status the spec (or distribution, for the last three) gives each code.
    pub fn status(self) -> u16 {
        match self {
            OciCode::BlobUnknown
            | OciCode::BlobUploadUnknown
            | OciCode::ManifestBlobUnknown
            | OciCode::ManifestUnknown
            | OciCode::NameUnknown => 404,
            OciCode::BlobUploadInvalid
            | OciCode::DigestInvalid
            | OciCode::ManifestInvalid
            | OciCode::NameInvalid
            | OciCode::SizeInvalid
            | OciCode::TagInvalid => 400,
            OciCode::Unauthorized => 401,
            OciCode::Denied => 403,
            OciCode::Unsupported => 405,
            OciCode::TooManyRequests => 429,
            OciCode::Unavailable => 503,
            OciCode::Unknown => 500,
        }
    }
}

/// What a request was about, which decides the code of "not found" and "invalid".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Repository,
    Blob,
    Upload,
    Manifest,
}

/// The code and status for a core error kind about `subject`.
pub fn code_for(kind: &ErrorKind, subject: Subject) -> (OciCode, u16) {
    let c = |code: OciCode| (code, code.status());
    match (kind, subject) {
        (ErrorKind::NotFound, Subject::Repository) => c(OciCode::NameUnknown),
        (ErrorKind::NotFound, Subject::Blob) => c(OciCode::BlobUnknown),
        (ErrorKind::NotFound, Subject::Upload) => c(OciCode::BlobUploadUnknown),
        (ErrorKind::NotFound, Subject::Manifest) => c(OciCode::ManifestUnknown),
        (ErrorKind::Invalid, Subject::Repository) => c(OciCode::NameInvalid),
        (ErrorKind::Invalid, Subject::Blob) => c(OciCode::DigestInvalid),
        (ErrorKind::Invalid, Subject::Upload) => c(OciCode::BlobUploadInvalid),
        (ErrorKind::Invalid, Subject::Manifest) => c(OciCode::ManifestInvalid),
        (ErrorKind::DigestMismatch, _) => c(OciCode::DigestInvalid),
        // Out-of-order chunks (spec: 416) and unsatisfiable blob ranges.
        (ErrorKind::RangeNotSatisfiable, Subject::Upload) => (OciCode::BlobUploadInvalid, 416),
        (ErrorKind::RangeNotSatisfiable, _) => (OciCode::SizeInvalid, 416),
        // Write policy "allow once": the tag or blob exists and may not be replaced.
        (ErrorKind::AlreadyExists, _) => c(OciCode::Denied),
        (ErrorKind::Unauthenticated, _) => c(OciCode::Unauthorized),
        (ErrorKind::Forbidden | ErrorKind::Blocked { .. }, _) => c(OciCode::Denied),
        (ErrorKind::Unsupported, _) => c(OciCode::Unsupported),
        (ErrorKind::Upstream, _) => (OciCode::Unavailable, 502),
        (ErrorKind::Unavailable, _) => c(OciCode::Unavailable),
        // Below `[storage] min_free_bytes`: distribution has no code for it; the status says
        // what it is (RFC 4918 §11.5) and the message what to free.
        (ErrorKind::InsufficientStorage, _) => (OciCode::Unavailable, 507),
        (ErrorKind::Internal, _) => c(OciCode::Unknown),
    }
}

/// A docker API error: rendered as `{"errors":[{"code","message","detail"}]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct OciError {
    pub code: OciCode,
    pub status: u16,
    pub message: String,
    pub detail: Option<serde_json::Value>,
    /// Extra response headers (`Range` on a 416, `WWW-Authenticate` on a 401).
    pub headers: Vec<(&'static str, String)>,
    /// Why a request was refused, for the log line only (never sent).
    pub reason: Option<String>,
}

impl OciError {
    pub fn new(code: OciCode, message: impl Into<String>) -> Self {
        OciError {
            code,
            status: code.status(),
            message: message.into(),
            detail: None,
            headers: vec![],
            reason: None,
        }
    }
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
    pub fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Maps a core error about `subject`. Internal causes are logged here, once, and replaced
    /// by a generic message: clients never see file paths or SQL.
    pub fn from_core(e: Error, subject: Subject) -> Self {
        let (code, status) = code_for(&e.kind, subject);
        if code == OciCode::Unknown {
            if crate::kit::upload::is_client_abort(&e) {
                // The client went away mid-body: its doing, not ours (logged at info).
                tracing::info!(error = %e.msg, "client aborted the request");
                return OciError::new(OciCode::BlobUploadInvalid, e.msg)
                    .status(400)
                    .reason("client aborted");
            }
            return OciError::new(code, crate::kit::errors::internal(&e));
        }
        let reason = match &e.kind {
            trove_core::ErrorKind::Blocked { rule } => Some(format!("routing rule {rule}")),
            _ => None,
        };
        // A routing rule's refusal already names the rule and its matchers.
        let err = OciError::new(code, e.msg).status(status);
        match reason {
            Some(r) => err.reason(r),
            None => err,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    errors: [Entry<'a>; 1],
}

#[derive(Serialize)]
struct Entry<'a> {
    code: OciCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a serde_json::Value>,
}

impl std::fmt::Display for OciError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl ResponseError for OciError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let body = Body {
            errors: [Entry {
                code: self.code,
                message: &self.message,
                detail: self.detail.as_ref(),
            }],
        };
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header(API_VERSION);
        for (name, value) in &self.headers {
            res.insert_header((*name, value.as_str()));
        }
        res.content_type("application/json")
            .body(serde_json::to_string(&body).expect("serialises"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the table: every code has the spec's status and serialises to its wire string,
    /// and every core kind maps to some code for every subject.
    #[test]
    fn error_table() {
        let expected: [(&str, u16); 17] = [
            ("BLOB_UNKNOWN", 404),
            ("BLOB_UPLOAD_INVALID", 400),
            ("BLOB_UPLOAD_UNKNOWN", 404),
            ("DIGEST_INVALID", 400),
            ("MANIFEST_BLOB_UNKNOWN", 404),
            ("MANIFEST_INVALID", 400),
            ("MANIFEST_UNKNOWN", 404),
            ("NAME_INVALID", 400),
            ("NAME_UNKNOWN", 404),
            ("SIZE_INVALID", 400),
            ("TAG_INVALID", 400),
            ("UNAUTHORIZED", 401),
            ("DENIED", 403),
            ("UNSUPPORTED", 405),
            ("TOOMANYREQUESTS", 429),
            ("UNAVAILABLE", 503),
            ("UNKNOWN", 500),
        ];
        for (code, (wire, status)) in OciCode::ALL.iter().zip(expected) {
            assert_eq!((code.as_str(), code.status()), (wire, status));
            assert_eq!(serde_json::to_value(code).unwrap(), wire);
        }
        let subjects = [
            Subject::Repository,
            Subject::Blob,
            Subject::Upload,
            Subject::Manifest,
        ];
        for kind in ErrorKind::all() {
            for s in subjects {
                let (code, status) = code_for(&kind, s);
                assert!((400..600).contains(&status), "{kind:?} {s:?}");
                if kind != ErrorKind::Internal {
                    assert_ne!(code, OciCode::Unknown, "{kind:?} {s:?} needs a real code");
                }
            }
        }
        assert_eq!(
            code_for(&ErrorKind::NotFound, Subject::Blob).0,
            OciCode::BlobUnknown
        );
        assert_eq!(
            code_for(&ErrorKind::NotFound, Subject::Manifest).0,
            OciCode::ManifestUnknown
        );
        assert_eq!(
            code_for(&ErrorKind::RangeNotSatisfiable, Subject::Upload),
            (OciCode::BlobUploadInvalid, 416)
        );
        assert_eq!(
            code_for(&ErrorKind::InsufficientStorage, Subject::Upload),
            (OciCode::Unavailable, 507)
        );
        // Quotas and immutable tags refuse with DENIED, naming the rule.
        assert_eq!(
            code_for(&ErrorKind::Forbidden, Subject::Manifest).0,
            OciCode::Denied
        );
    }

    #[test]
    fn body_shape() {
        let e = OciError::new(OciCode::BlobUnknown, "blob unknown to registry");
        let res = e.error_response();
        assert_eq!(res.status(), 404);
        assert_eq!(
            res.headers()
                .get("docker-distribution-api-version")
                .unwrap(),
            "registry/2.0"
        );
        let body = Body {
            errors: [Entry {
                code: e.code,
                message: &e.message,
                detail: None,
            }],
        };
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            serde_json::json!({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry"}]})
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = OciError::from_core(Error::internal("open /secret/path: EIO"), Subject::Blob);
        assert_eq!((e.code, e.status), (OciCode::Unknown, 500));
        assert!(!e.message.contains("/secret"));
    }
}
