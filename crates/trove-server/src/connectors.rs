//! Connector ports: each repository may have its own HTTP and/or HTTPS listener serving it at
//! `/` (its format's routes). The supervisor reconciles the running listeners with the config on
//! every reload: new ones start, changed ones restart on their new port, removed ones stop
//! gracefully, and a certificate renewed in place (same paths, new content) is loaded into the
//! running listener, which keeps its connections. No Trove restart is needed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use actix_web::App;
use anyhow::Context;

use trove_store::RepoRecord;

use crate::config::ServerConfig;
use crate::{ServerEntry, Trove, serve};

/// What a repository's connector should be.
#[derive(Debug, Clone, PartialEq)]
struct Spec {
    http: Option<SocketAddr>,
    https: Option<(SocketAddr, PathBuf, PathBuf)>,
}

struct Listeners {
    spec: Spec,
    http: Option<(SocketAddr, ServerEntry)>,
    https: Option<(SocketAddr, ServerEntry)>,
    /// The HTTPS listener's certificate, swapped in place when its files change.
    tls: Option<Arc<CertResolver>>,
}

/// Serves the certificate currently loaded; a reload replaces it for new handshakes.
#[derive(Debug)]
struct CertResolver {
    current: std::sync::RwLock<(u64, Arc<rustls::sign::CertifiedKey>)>,
}

impl rustls::server::ResolvesServerCert for CertResolver {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.current.read().expect("cert lock").1.clone())
    }
}

/// A fingerprint of the certificate and key files' contents.
fn fingerprint(cert: &PathBuf, key: &PathBuf) -> anyhow::Result<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in [cert, key] {
        std::fs::read(p)
            .with_context(|| format!("reading {}", p.display()))?
            .hash(&mut h);
    }
    Ok(h.finish())
}

/// The running connector listeners, by repository name.
#[derive(Default)]
pub(crate) struct Supervisor {
    running: Mutex<HashMap<String, Listeners>>,
    /// Connectors that failed to start at the last reconcile (a port taken, a certificate that
    /// does not parse), by repository name, with why.
    problems: Mutex<HashMap<String, String>>,
}

/// The wanted listeners: one entry per online repository whose row names ports.
fn specs(server: &ServerConfig, records: &[RepoRecord]) -> HashMap<String, Spec> {
    let ip = server.listen.ip();
    records
        .iter()
        .filter(|r| r.config.online)
        .filter_map(|r| {
            let c = r.connector.as_ref()?;
            let https = match (c.https, &c.certificate, &c.key) {
                (Some(port), Some(cert), Some(key)) => Some((
                    SocketAddr::new(ip, port),
                    PathBuf::from(cert),
                    PathBuf::from(key),
                )),
                _ => None,
            };
            let spec = Spec {
                http: c.http.map(|p| SocketAddr::new(ip, p)),
                https,
            };
            (spec.http.is_some() || spec.https.is_some()).then(|| (r.config.name.to_string(), spec))
        })
        .collect()
}

/// The certificate chain and private key of PEM files, checked to belong together.
fn certified_key(cert: &PathBuf, key: &PathBuf) -> anyhow::Result<rustls::sign::CertifiedKey> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading key {}", key.display()))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    rustls::sign::CertifiedKey::from_der(certs, key, &provider)
        .context("certificate and key do not match")
}

/// A rustls server config serving what `resolver` holds.
fn tls_config(resolver: Arc<CertResolver>) -> anyhow::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver))
}

impl Supervisor {
    /// Why repository `repo`'s connector is not running as configured, if it is not.
    pub fn problem(&self, repo: &str) -> Option<String> {
        self.problems
            .lock()
            .expect("connectors lock")
            .get(repo)
            .cloned()
    }

    pub fn http_addr(&self, repo: &str) -> Option<SocketAddr> {
        let running = self.running.lock().expect("connectors lock");
        running
            .get(repo)
            .and_then(|l| l.http.as_ref().map(|(a, _)| *a))
    }

    pub fn https_addr(&self, repo: &str) -> Option<SocketAddr> {
        let running = self.running.lock().expect("connectors lock");
        running
            .get(repo)
            .and_then(|l| l.https.as_ref().map(|(a, _)| *a))
    }

    /// Makes the running listeners match `config`. Listeners whose spec is unchanged keep
    /// running untouched; a listener that fails to start (port taken, bad certificate) is an
    /// error that names the repository, and leaves the others as they are.
    pub async fn reconcile(&self, trove: &Trove, records: &[RepoRecord]) -> anyhow::Result<()> {
        let wanted = specs(&trove.server, records);
        let mut retired = Vec::new();
        let mut failures = Vec::new();
        let mut problems = HashMap::new();
        {
            let mut running = self.running.lock().expect("connectors lock");
            let names: Vec<String> = running.keys().cloned().collect();
            for name in names {
                if wanted.get(&name) != running.get(&name).map(|l| &l.spec) {
                    let old = running.remove(&name).expect("listed");
                    retired.extend(old.http.map(|(_, s)| s));
                    retired.extend(old.https.map(|(_, s)| s));
                    tracing::info!(repository = %name, "connector stopped or changed");
                }
            }
            for (name, spec) in wanted {
                if let Some(l) = running.get(&name) {
                    if let (Some(resolver), Some((_, cert, key))) = (&l.tls, &spec.https)
                        && let Err(e) = reload_certificate(resolver, cert, key)
                    {
                        let why = format!("https connector of repository {name}: {e:#}");
                        problems.insert(name.clone(), why.clone());
                        failures.push(why);
                    }
                    continue;
                }
                match start(trove, &name, &spec) {
                    Ok(listeners) => {
                        running.insert(name, listeners);
                    }
                    Err(e) => {
                        problems.insert(name.clone(), format!("{e:#}"));
                        failures.push(format!("{e:#}"));
                    }
                }
            }
        }
        *self.problems.lock().expect("connectors lock") = problems;
        // Retired listeners stop accepting at once and finish their requests in the background
        // (up to `shutdown_timeout`): a reload never waits for an idle keep-alive connection.
        for (handle, task) in retired {
            tokio::spawn(async move {
                handle.stop(true).await;
                let _ = task.await;
            });
        }
        if failures.is_empty() {
            Ok(())
        } else {
            anyhow::bail!(failures.join("; "))
        }
    }

    /// Stops every connector gracefully.
    pub async fn stop_all(&self) {
        let all: Vec<Listeners> = self
            .running
            .lock()
            .expect("connectors lock")
            .drain()
            .map(|(_, l)| l)
            .collect();
        for l in all {
            for (handle, task) in l
                .http
                .map(|(_, s)| s)
                .into_iter()
                .chain(l.https.map(|(_, s)| s))
            {
                handle.stop(true).await;
                let _ = task.await;
            }
        }
    }
}

fn start(trove: &Trove, name: &str, spec: &Spec) -> anyhow::Result<Listeners> {
    let config = &trove.server;
    let repo = trove_core::RepoName::parse(name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let routes = trove.connector_routes(repo);
    let http = match spec.http {
        Some(bind) => {
            let routes = routes.clone();
            let (addr, entry) = serve(config, trove.metrics.clone(), bind, None, move || {
                App::new().configure(routes.clone())
            })
            .with_context(|| format!("http connector of repository {name}"))?;
            tracing::info!(repository = %name, %addr, "http connector listening");
            Some((addr, entry))
        }
        None => None,
    };
    let mut resolver = None;
    let https = match &spec.https {
        Some((bind, cert, key)) => {
            let loaded = fingerprint(cert, key)
                .and_then(|f| Ok((f, Arc::new(certified_key(cert, key)?))))
                .with_context(|| format!("https connector of repository {name}"))?;
            let r = Arc::new(CertResolver {
                current: std::sync::RwLock::new(loaded),
            });
            resolver = Some(r.clone());
            let tls = tls_config(r)?;
            let (addr, entry) = serve(config, trove.metrics.clone(), *bind, Some(tls), move || {
                App::new().configure(routes.clone())
            })
            .with_context(|| format!("https connector of repository {name}"))?;
            tracing::info!(repository = %name, %addr, "https connector listening");
            Some((addr, entry))
        }
        None => None,
    };
    Ok(Listeners {
        spec: spec.clone(),
        http,
        https,
        tls: resolver,
    })
}

/// Loads the certificate files again if their content changed (renewed in place); a file that
/// does not parse leaves the running certificate as it was.
fn reload_certificate(
    resolver: &CertResolver,
    cert: &PathBuf,
    key: &PathBuf,
) -> anyhow::Result<()> {
    let f = fingerprint(cert, key)?;
    if resolver.current.read().expect("cert lock").0 == f {
        return Ok(());
    }
    let loaded = Arc::new(certified_key(cert, key)?);
    *resolver.current.write().expect("cert lock") = (f, loaded);
    tracing::info!(certificate = %cert.display(), "renewed certificate loaded");
    Ok(())
}
