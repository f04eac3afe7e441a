//! The front-end kit: format-neutral HTTP plumbing that every format uses and none copies. The
//! external URL a client used ([`external`]), who is calling ([`caller`]), one request with its
//! caller ([`call`]), writers of one name serialised on this node ([`locks`]), request ids and the
//! facts of each request's log line ([`request`]), whether the caller may ([`access`]), request bodies as `Send` streams with a
//! progress timeout ([`body`]), one writer per key ([`locks`]), bodies into the blob store with their digest verified
//! ([`upload`]), response pieces ([`response`]), and what every format's error table shares
//! ([`errors`]).

pub mod access;
pub mod audit;
pub mod body;
pub mod call;
pub mod caller;
pub mod checksums;
pub mod errors;
pub mod external;
pub mod file;
pub mod html;
pub mod locks;
pub mod request;
pub mod response;
pub mod tokens;
pub mod upload;

use std::sync::Arc;

use trove_core::{BlobStore, RepoLookup};
use trove_store::MetadataStore;

pub use external::External;

/// What the front ends share: set once as app data on every listener.
pub struct Frontend {
    pub repos: Arc<dyn RepoLookup>,
    pub auth: trove_auth::Auth,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub blobs: Arc<dyn BlobStore>,
    pub meta: MetadataStore,
    /// How fast request bodies must arrive.
    pub progress: body::Progress,
}

impl Frontend {
    /// How the client addressed this listener (see [`External`]).
    pub fn external(&self, req: &actix_web::HttpRequest) -> External {
        External::of(req, &self.trusted_proxies)
    }
}
