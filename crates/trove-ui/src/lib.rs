//! The admin web console (to come with the console layer): askama pages and plain HTML form
//! handlers under `/admin`, templates in `web/templates`, static files embedded from
//! `web/static`. Calls the same service functions as the REST API; no logic in templates.
//!
//! Depends on `trove-auth`, `trove-store` and `trove-core`; never on a repository kind.
