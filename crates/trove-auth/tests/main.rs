//! trove-auth's integration tests, one binary (each test file used to link its own: slower
//! builds and gigabytes of target dir on a 2-core CI machine).

mod common;

mod api_tokens;
mod basic;
mod config;
mod ldap;
mod matrix;
mod oidc;
mod tokens;
