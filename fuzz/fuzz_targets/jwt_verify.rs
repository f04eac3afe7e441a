//! Bearer token verification: `trove_auth::TokenService::with_key(..).verify(token, aud)`.
//!
//! Two kinds of input. Without a newline, the input is the token itself (forged, truncated or
//! garbled tokens). With one, it is `<header JSON>\n<claims JSON>`: the target signs the
//! two with the service's key (HS256), so the claim checks behind the signature are reached.
//!
//! Invariants: never panics; a token is accepted only with `iss` = `trove`, `aud` = the
//! audience asked for, `exp` and `nbf` within the leeway of now, and a header that names
//! HS256; the claims of an accepted token answer `principal` and `allows` without panicking.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use trove_auth::{Auth, AuthSettings, TokenService};

const KEY: &[u8] = b"trove-fuzz-signing-key-0123456789abcdef0123456789abcdef01234567";
const AUDIENCE: &str = "trove";
/// `LEEWAY_SECS` in crates/trove-auth/src/token.rs.
const LEEWAY: u64 = 5;

/// A `TokenService` over `KEY`. Its `Authorizer` only comes from a real `Auth` over a database,
/// made once per process in a temporary directory that is removed again (the open connections
/// keep the files; `verify` never reads them). The runtime that owns the pool's connections
/// lives in the same static: dropped or forgotten, LeakSanitizer would report it.
fn service() -> &'static TokenService {
    struct Fixture {
        _runtime: tokio::runtime::Runtime,
        service: TokenService,
    }
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    let f = FIXTURE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("trove-fuzz-jwt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("t.db").display());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let auth = runtime.block_on(async {
            let meta = trove_store::MetadataStore::open(&url).await.unwrap();
            Auth::init(meta, AuthSettings::default()).await.unwrap()
        });
        let _ = std::fs::remove_dir_all(&dir);
        let service =
            TokenService::with_key(KEY, AUDIENCE, Duration::from_secs(300), auth.authorizer);
        Fixture {
            _runtime: runtime,
            service,
        }
    });
    &f.service
}

fn signed(header: &[u8], claims: &[u8]) -> String {
    let message = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(KEY),
        Algorithm::HS256,
    )
    .expect("HS256 signing");
    format!("{message}.{sig}")
}

fuzz_target!(|data: &[u8]| {
    let token = match data.iter().position(|&b| b == b'\n') {
        Some(i) => signed(&data[..i], &data[i + 1..]),
        None => match std::str::from_utf8(data) {
            Ok(t) => t.to_owned(),
            Err(_) => return,
        },
    };
    let Ok(claims) = service().verify(&token, AUDIENCE) else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(claims.iss, "trove", "{token:?}");
    assert_eq!(claims.aud, AUDIENCE, "{token:?}");
    assert!(
        claims.exp + LEEWAY >= now,
        "{token:?}: expired token accepted"
    );
    assert!(
        claims.nbf <= now + LEEWAY,
        "{token:?}: token not yet valid accepted"
    );
    let header = jsonwebtoken::decode_header(&token).expect("accepted token has a header");
    assert_eq!(header.alg, Algorithm::HS256, "{token:?}");
    let _ = claims.principal();
    for a in &claims.access {
        let _ = claims.allows(&a.repository_id, &a.name, trove_auth::Action::Read);
    }
});
