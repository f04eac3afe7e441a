//! The config loader: `trove_server::Config::from_toml_str` (TOML, then `validate`).
//!
//! Invariants: never panics; whatever it accepts can be turned into what the server reads at
//! start (declared repositories, rules, trusted proxies, paths) without a panic, and the rules
//! and proxies it validated compile. `security_decl` is left out: it reads environment
//! variables and files named by the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove_server::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::from_toml_str(text) else {
        return;
    };
    assert!(config.rules().is_ok(), "validated rules do not compile");
    assert!(
        config.trusted_proxies().is_ok(),
        "validated trusted_proxies do not parse"
    );
    let repos = config.declared_repos();
    assert_eq!(repos.len(), config.repositories.len());
    let _ = config.declared_rules();
    let _ = config.database_url();
    let _ = config.blob_dir();
    let _ = format!("{config:?}");
});
