//! Trove's end-to-end tests with the real docker, skopeo, podman, docker-registry and nginx, one
//! binary (each file used to link its own: slower builds and gigabytes of target dir on a
//! 2-core CI machine). `.config/nextest.toml` runs them one at a time.

mod auth_docker;
mod bundles;
mod cargo;
mod connectors;
mod console_browser;
mod disk_full;
mod harness_selfcheck;
mod hosted_docker;
mod ldap_docker;
mod lifecycle_docker;
mod maven;
mod npm;
mod proxy_docker;
mod pypi;
mod raw_files;
mod scenario_s1;
mod scenario_s2;
mod scenario_s3;
mod sso_browser;
mod tokens_docker;
