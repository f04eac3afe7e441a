//! trove-server's integration tests, one binary (each test file used to link its own: slower
//! builds and gigabytes of target dir on a 2-core CI machine).

#[macro_use]
mod support;

mod api;
mod auth;
mod binary;
mod bodies;
mod broken;
mod bundle_cli;
mod cargo;
mod conformance;
mod console;
mod files;
mod governance;
mod groups;
mod lifecycle;
mod malformed;
mod maven;
mod nodes;
mod npm;
mod pypi;
mod raw;
mod rest;
mod restart;
mod scopes;
