//! The `trove` server: configuration, wiring of the metadata store, the blob store, the
//! repositories and the wire formats, the HTTP listeners (the main port and one per
//! repository connector) and the background jobs. `start` is what `trove serve` runs and what
//! the tests run in-process.
//!
//! The main port mounts the formats (`trove-formats`), the REST API (`trove-rest`) and the
//! console (`trove-ui`), both over the service layer (`trove-service`), which reaches this
//! node through [`Trove`]'s implementation of [`trove_service::Node`].

pub mod bundles;
pub mod config;
mod connectors;
pub mod governance;
pub mod lifecycle;
mod registry;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{ServerHandle, Service};
use actix_web::{App, HttpMessage, HttpServer, web};
use anyhow::Context;
use trove_core::RepoName;
use trove_formats::ConnectorRepo;
use trove_formats::kit::{Frontend, request};
use trove_service::metrics::{self, Metrics};
use trove_service::{Node, NodeInfo, UpstreamView};
use trove_store::{FsBlobStore, MetadataStore};

pub use config::Config;
pub use registry::RepoRegistry;

/// A running Trove: the main listener and every connector listener.
pub struct Running {
    main_addr: SocketAddr,
    main: ServerEntry,
    trove: Arc<Trove>,
    janitor: tokio::task::JoinHandle<()>,
    /// Token uses and audit retention (`governance::jobs`).
    governance: tokio::task::JoinHandle<()>,
}

impl Running {
    /// The address the main port is bound to.
    pub fn main_addr(&self) -> SocketAddr {
        self.main_addr
    }

    /// The bound address of the HTTP connector of repository `repo`, if it has one.
    pub fn connector_addr(&self, repo: &str) -> Option<SocketAddr> {
        self.trove.connectors.http_addr(repo)
    }

    /// The bound address of the HTTPS connector of repository `repo`, if it has one.
    pub fn connector_https_addr(&self, repo: &str) -> Option<SocketAddr> {
        self.trove.connectors.https_addr(repo)
    }

    /// The wired state (stores, security, repositories).
    pub fn trove(&self) -> &Trove {
        &self.trove
    }

    /// Applies a changed config without a restart (what SIGHUP does): security, repositories
    /// and connector ports. `[server]` keys other than those of connectors need a restart.
    pub async fn reload(&self, config: &Config) -> anyhow::Result<()> {
        self.trove.apply(config).await
    }

    /// Graceful stop: stops accepting, lets requests in flight finish (up to
    /// `server.shutdown_timeout`), then closes the database.
    pub async fn stop(self) {
        self.main.0.stop(true).await;
        let _ = self.main.1.await;
        self.trove.connectors.stop_all().await;
        self.janitor.abort();
        self.governance.abort();
        if let Err(e) = self.trove.meta.flush_downloads().await {
            tracing::warn!(error = %e, "recording last downloads failed");
        }
        governance::flush_token_uses(&self.trove).await;
        self.trove.meta.close().await;
    }
}

/// The wired application state: stores, repositories, formats. Built once per process and
/// shared by every listener (and by in-process tests, which mount the same routes).
pub struct Trove {
    pub meta: MetadataStore,
    pub auth: trove_auth::Auth,
    registry: Arc<RepoRegistry>,
    /// The routing rules in force, by name, for previews (`trove rule test`).
    rules: std::sync::RwLock<std::collections::HashMap<String, Arc<trove_routing::RoutingRule>>>,
    /// What every front end shares (stores, security, trusted proxies).
    pub front: web::Data<Frontend>,
    /// `[server]` as started with (listen address, workers, timeouts: restart to change).
    pub server: config::ServerConfig,
    connectors: connectors::Supervisor,
    /// Off for administrative commands (`trove user add` must not bind the server's ports);
    /// on when `start` opened the node.
    serve_connectors: bool,
    /// The `generation` the running state was built from.
    seen_generation: std::sync::atomic::AtomicI64,
    /// Request counters of every listener.
    pub metrics: Arc<Metrics>,
    /// Serialises `refresh`: two concurrent edits must not start a connector twice.
    refreshing: tokio::sync::Mutex<()>,
    /// Garbage collection, cleanup policies, upload expiry: their runs and schedule.
    pub lifecycle: Arc<lifecycle::Lifecycle>,
    /// `[storage]`'s limits every write obeys.
    limits: Arc<trove_core::StorageLimits>,
}

/// Who opens the node's state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Opener {
    /// An administrative command or a test: declared passwords are checked now, and no
    /// connector port is bound (the server may be running beside it).
    Admin,
    /// `start`: connectors are served, and no password is hashed before the node listens (see
    /// [`Trove::settle_passwords`]).
    Server,
}

impl Trove {
    /// Opens the stores, creates the first admin if needed, applies the declarative section,
    /// and builds the repositories.
    pub async fn open(config: &Config) -> anyhow::Result<Arc<Trove>> {
        let (trove, _) = Trove::open_for(config, Opener::Admin).await?;
        trove.settle_passwords(config).await?;
        Ok(trove)
    }

    /// For `Opener::Server`, also the hold on password logins that
    /// [`Trove::settle_passwords`] must release: taken before any port (connectors included)
    /// is bound.
    async fn open_for(
        config: &Config,
        opener: Opener,
    ) -> anyhow::Result<(Arc<Trove>, Option<trove_auth::LoginHold>)> {
        let data_dir = &config.server.data_dir;
        trove_store::files::create_private_dir(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        // Durable before anything is served (`apply_with`): what opening writes, the next start
        // would write again.
        let meta = MetadataStore::open_unsynced(&config.database_url())
            .await
            .context("opening the metadata database")?
            .with_key_file(data_dir.join(trove_store::SIGNING_KEY_FILE));
        let blobs = Arc::new(
            FsBlobStore::open(config.blob_dir())
                .await
                .context("opening the blob store")?,
        );
        bootstrap_admin(&meta, data_dir).await?;
        let mut settings = trove_auth::AuthSettings::default();
        if let Some(ttl) = config.security.token_ttl {
            settings.token_ttl = Duration::from_secs(ttl);
        }
        let auth = trove_auth::Auth::init(meta.clone(), settings)
            .await
            .context("loading the security model")?;
        let hold = match opener {
            Opener::Server => auth.authenticator.hold_logins(),
            Opener::Admin => None,
        };
        let limits = Arc::new(config.storage.limits());
        let registry = Arc::new(RepoRegistry::new(
            meta.clone(),
            blobs.clone(),
            limits.clone(),
        ));
        let lifecycle = Arc::new(lifecycle::Lifecycle::new(
            meta.clone(),
            blobs.clone(),
            config.storage.clone(),
            Duration::from_secs(config.server.upload_ttl_hours * 3600),
        ));
        let front = web::Data::new(Frontend {
            repos: registry.clone(),
            auth: auth.clone(),
            trusted_proxies: config.trusted_proxies()?,
            blobs,
            meta: meta.clone(),
            progress: config.server.body_progress(),
        });
        let trove = Trove {
            meta,
            auth,
            registry,
            rules: Default::default(),
            front,
            server: config.server.clone(),
            connectors: connectors::Supervisor::default(),
            serve_connectors: opener == Opener::Server,
            seen_generation: Default::default(),
            metrics: Default::default(),
            refreshing: Default::default(),
            lifecycle,
            limits,
        };
        trove.apply_with(config, true).await?;
        Ok((Arc::new(trove), hold))
    }

    /// The password work left out before listening: gives the first-start `admin` its hash
    /// (also after a crash that came between creating it and hashing), then hashes or checks
    /// each declared user's password (an argon2 run each, ~25 ms).
    async fn settle_passwords(&self, config: &Config) -> anyhow::Result<()> {
        finish_bootstrap_admin(&self.meta, &config.server.data_dir).await?;
        let before = governance::state(self).await;
        let report = self
            .auth
            .apply_config(&config.security_decl()?)
            .await
            .context("applying the declared passwords")?;
        governance::record_since(self, &governance::config_file(), before).await;
        if !report.is_empty() {
            tracing::info!(?report, "declared passwords applied");
        }
        Ok(())
    }

    /// Applies the declarative sections (security, routing rules, repositories) to the
    /// database, then `refresh`es. Idempotent; run at start and on every reload (SIGHUP).
    pub async fn apply(&self, config: &Config) -> anyhow::Result<()> {
        self.apply_with(config, false).await
    }

    /// [`Self::apply`]; `opening` a node, declared passwords wait for
    /// [`Self::settle_passwords`], and the metadata store becomes durable before anything can
    /// be served (connectors start in `refresh`).
    async fn apply_with(&self, config: &Config, opening: bool) -> anyhow::Result<()> {
        // The audit log records what the file changed (issue 16).
        let before = governance::state(self).await;
        let applied = self.apply_unrecorded(config, opening).await;
        governance::record_since(self, &governance::config_file(), before).await;
        applied
    }

    async fn apply_unrecorded(&self, config: &Config, opening: bool) -> anyhow::Result<()> {
        let decl = config.security_decl()?;
        self.auth.tokens.set_ttl(
            config
                .security
                .token_ttl
                .map_or(trove_auth::DEFAULT_TTL, Duration::from_secs),
        );
        let report = if opening {
            self.auth.apply_config_quick(&decl).await
        } else {
            self.auth.apply_config(&decl).await
        }
        .context("applying [security], [[role]], [[user]]")?;
        if !report.is_empty() {
            tracing::info!(?report, "security reconciled with the config file");
        }
        // A declared proxy whose password is missing fails the start (or the reload, which then
        // changes nothing): the file is wrong. Repositories made in the console or the API are
        // kept offline with the reason instead, and everything else keeps serving.
        for r in config.declared_repos() {
            if let trove_core::KindConfig::Proxy(p) = &r.kind {
                trove_proxy::Credentials::from_config(p)
                    .map_err(|e| anyhow::anyhow!("repository {}: {}", r.name, e.msg))?;
            }
        }
        let mut changed = self
            .meta
            .rules()
            .reconcile(&config.declared_rules(), false)
            .await
            .context("applying [[routing_rule]]")?;
        changed |= self
            .meta
            .cleanup()
            .reconcile(&config.declared_policies(), false)
            .await
            .context("applying [[cleanup_policy]]")?;
        let report = self
            .meta
            .repos()
            .reconcile(&config.declared_repos())
            .await
            .context("applying [[repository]]")?;
        if report != Default::default() {
            changed = true;
            tracing::info!(created = ?report.created, updated = ?report.updated, disabled = ?report.disabled, "repositories reconciled with the config file");
        }
        changed |= self
            .meta
            .rules()
            .reconcile(&config.declared_rules(), true)
            .await
            .context("removing routing rules no longer in the config file")?;
        changed |= self
            .meta
            .cleanup()
            .reconcile(&config.declared_policies(), true)
            .await
            .context("removing cleanup policies no longer in the config file")?;
        if opening {
            self.meta.make_durable().await?;
        }
        if changed {
            tracing::info!("routing rules or repositories changed by the config file");
            // Other nodes rebuild too; an unchanged file (every restart) writes nothing.
            self.changed().await
        } else {
            self.refresh().await
        }
    }

    /// Makes the running state match the database: recompiles the routing rules, rebuilds the
    /// repository snapshot (reusing unchanged repositories) and starts, moves or stops
    /// connector ports. Run after `apply` and after every change made in the console or the
    /// REST API.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        match self.refresh_reporting().await? {
            None => Ok(()),
            Some(connectors) => Err(connectors),
        }
    }

    /// [`Self::refresh`], telling connectors that failed to start (the rest is applied and the
    /// failures are kept as the repositories' problems) apart from failures of the refresh.
    async fn refresh_reporting(&self) -> anyhow::Result<Option<anyhow::Error>> {
        let _one_at_a_time = self.refreshing.lock().await;
        let generation = self.meta.generation().await?;
        let mut rules = std::collections::HashMap::new();
        for row in self.meta.rules().list().await? {
            let rule = trove_service::compiled_rule(&row).map_err(|e| anyhow::anyhow!(e.msg))?;
            rules.insert(row.name, Arc::new(rule));
        }
        let records = self.meta.repos().records().await?;
        let configs: Vec<_> = records.iter().map(|r| r.config.clone()).collect();
        self.registry.rebuild(&configs, &rules)?;
        *self.rules.write().expect("rules lock") = rules;
        let connectors = if self.serve_connectors {
            self.connectors.reconcile(self, &records).await.err()
        } else {
            None
        };
        self.seen_generation
            .store(generation, std::sync::atomic::Ordering::SeqCst);
        Ok(connectors)
    }

    /// After this node changed rows: tell every node (itself included) to refresh.
    pub async fn changed(&self) -> anyhow::Result<()> {
        self.meta.bump_generation().await?;
        self.refresh().await
    }

    /// What the console and the REST API run after a change they committed: like
    /// [`Self::changed`], but a repository that cannot run as configured (its connector's port
    /// is taken, its certificate does not parse) does not fail the change, which is saved: it is
    /// reported on the repository instead ([`Self::repository_problem`]).
    async fn changed_by_service(&self) -> anyhow::Result<()> {
        self.meta.bump_generation().await?;
        if let Some(e) = self.refresh_reporting().await? {
            tracing::warn!(
                error = format!("{e:#}"),
                "a change was applied with problems; they are shown on the repositories"
            );
        }
        Ok(())
    }

    /// Refreshes when another node (or an administrative command) changed the rows.
    pub async fn refresh_if_changed(&self) -> anyhow::Result<bool> {
        let now = self.meta.generation().await?;
        if now
            == self
                .seen_generation
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(false);
        }
        self.refresh().await?;
        Ok(true)
    }

    /// The routing rule called `name`, as last applied.
    pub fn routing_rule(&self, name: &str) -> Option<Arc<trove_routing::RoutingRule>> {
        self.rules.read().expect("rules lock").get(name).cloned()
    }

    /// Why repository `name` is offline although declared online (it cannot be built: a proxy
    /// whose password variable or file is missing), if it is.
    pub fn repository_problem(&self, name: &str) -> Option<String> {
        self.registry
            .problem(name)
            .or_else(|| self.connectors.problem(name))
    }

    /// Upstream health of proxy repository `name`.
    pub fn upstream_status(&self, name: &str) -> Option<trove_proxy::UpstreamStatus> {
        self.registry.upstream_status(name)
    }

    /// Ends upload sessions idle for longer than `ttl`: their partial bytes are removed from the
    /// blob store, then their rows. Returns how many ended. Run periodically by `start`.
    pub async fn expire_uploads(&self, ttl: Duration) -> anyhow::Result<usize> {
        let before = trove_core::now_millis() - ttl.as_millis() as i64;
        let ids = self.meta.uploads().idle_since(before).await?;
        for id in &ids {
            if let Ok(upload) = trove_core::UploadId::parse(id) {
                match self.front.blobs.abort(&upload).await {
                    Ok(()) => {}
                    Err(e) if e.kind == trove_core::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
            self.meta.uploads().delete(id).await?;
        }
        Ok(ids.len())
    }

    /// The online repository called `name`.
    pub fn repository(&self, name: &str) -> Option<Arc<dyn trove_core::Repository>> {
        self.front.repos.get(name)
    }

    /// The service layer over this node: what the console and the REST API call.
    pub fn service(self: &Arc<Self>) -> trove_service::Service {
        trove_service::Service::new(
            self.meta.clone(),
            self.auth.clone(),
            self.front.blobs.clone(),
            self.clone(),
        )
        .with_trusted_proxies(self.front.trusted_proxies.clone())
    }

    /// The routes of the main port.
    pub fn main_routes(
        self: &Arc<Self>,
    ) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
        let front = self.front.clone();
        let service = web::Data::new(self.service());
        move |cfg| {
            cfg.app_data(front.clone())
                .app_data(service.clone())
                .configure(trove_formats::registry::configure_main)
                .configure(trove_rest::configure)
                .configure(trove_ui::console::configure);
        }
    }

    /// The routes of repository `repo`'s connector port.
    pub fn connector_routes(
        &self,
        repo: RepoName,
    ) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
        let front = self.front.clone();
        move |cfg| {
            cfg.app_data(front.clone())
                .app_data(ConnectorRepo(repo.clone()))
                .configure(trove_formats::registry::configure_connector);
        }
    }
}

/// What the service layer asks of this node.
#[async_trait::async_trait]
impl Node for Trove {
    async fn changed(&self) -> anyhow::Result<()> {
        self.changed_by_service().await
    }

    fn problem(&self, name: &str) -> Option<String> {
        self.repository_problem(name)
    }

    fn repository(&self, name: &str) -> Option<Arc<dyn trove_core::Repository>> {
        Trove::repository(self, name)
    }

    fn connector_ports(&self, name: &str) -> (Option<u16>, Option<u16>) {
        (
            self.connectors.http_addr(name).map(|a| a.port()),
            self.connectors.https_addr(name).map(|a| a.port()),
        )
    }

    fn upstream(&self, name: &str) -> Option<UpstreamView> {
        self.upstream_status(name).map(|s| UpstreamView {
            remote: s.remote,
            available: s.available,
            blocked_until: s.blocked_until,
            consecutive_failures: s.consecutive_failures,
            last_error: s.last_error,
            requests: s.gets + s.heads + s.token_requests,
        })
    }

    fn metrics(&self) -> metrics::MetricsSnapshot {
        self.metrics.snapshot()
    }

    fn info(&self) -> NodeInfo {
        NodeInfo {
            main_port: self.server.listen.port(),
            blob_dir: self.server.blob_dir(),
            storage: (*self.limits).clone(),
        }
    }

    async fn tasks(&self) -> anyhow::Result<Vec<trove_service::TaskSpec>> {
        self.lifecycle.tasks().await
    }

    /// On the runtime, so the run goes on if the request that asked goes away.
    async fn run_task(
        &self,
        id: &str,
        dry_run: bool,
    ) -> anyhow::Result<Option<trove_store::TaskRun>> {
        let lifecycle = self.lifecycle.clone();
        let id = id.to_owned();
        tokio::spawn(async move { lifecycle.run(&id, dry_run).await })
            .await
            .map_err(|e| anyhow::anyhow!("task run failed: {e}"))?
    }

    fn lifecycle_metrics(&self) -> trove_service::metrics::LifecycleSnapshot {
        self.lifecycle.metrics()
    }
}

/// Starts Trove on the current (multi-thread) tokio runtime; returns once every listener is
/// bound.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    // No argon2 before listening (~25 ms per password was most of a start); password logins
    // wait on `hold` until `settle_passwords` is done.
    let (trove, hold) = Trove::open_for(&config, Opener::Server).await?;
    let routes = trove.main_routes();
    let (main_addr, main) = serve(
        &config.server,
        trove.metrics.clone(),
        config.server.listen,
        None,
        move || App::new().configure(routes.clone()),
    )?;
    tracing::info!(%main_addr, "main port listening");
    let retention_days = config.audit.retention_days();
    let settling = trove.clone();
    tokio::spawn(async move {
        if let Err(e) = settling.settle_passwords(&config).await {
            tracing::error!(error = format!("{e:#}"), "setting up passwords failed");
        }
        drop(hold);
    });
    let janitor = tokio::spawn(background_jobs(trove.clone()));
    let governance = tokio::spawn(governance::jobs(trove.clone(), retention_days));
    Ok(Running {
        main_addr,
        main,
        trove,
        janitor,
        governance,
    })
}

/// Background jobs, on the runtime and never inside a request (a cancelled request cannot stop
/// them): every 2 s, pick up changes other nodes made to the rows; every 10 s, write the
/// `last_downloaded` times noted by GETs; every few seconds, run the lifecycle's tasks that
/// are due (garbage collection, cleanup policies, upload and console session expiry), each on
/// its own task so a long collection does not hold up the rest.
async fn background_jobs(trove: Arc<Trove>) {
    let storage = trove.lifecycle.storage();
    let shortest = [storage.gc_interval, storage.cleanup_interval]
        .into_iter()
        .filter(|d| !d.is_zero())
        .min()
        .unwrap_or(Duration::from_secs(30));
    let tick = (shortest / 2).clamp(Duration::from_millis(500), Duration::from_secs(30));
    let mut lifecycle = tokio::time::interval(tick);
    lifecycle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut changes = tokio::time::interval(Duration::from_secs(2));
    changes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut downloads = tokio::time::interval(Duration::from_secs(10));
    downloads.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let ticking = Arc::new(std::sync::atomic::AtomicBool::new(false));
    loop {
        tokio::select! {
            _ = downloads.tick() => if let Err(e) = trove.meta.flush_downloads().await {
                tracing::warn!(error = %e, "recording last downloads failed");
            },
            _ = changes.tick() => match trove.refresh_if_changed().await {
                Ok(false) => {}
                Ok(true) => tracing::info!("applied changes made elsewhere"),
                Err(e) => tracing::warn!(error = format!("{e:#}"), "applying changes made elsewhere failed"),
            },
            _ = lifecycle.tick() => {
                // One tick at a time; the next waits while a long run goes on.
                if !ticking.swap(true, std::sync::atomic::Ordering::AcqRel) {
                    let (life, ticking) = (trove.lifecycle.clone(), ticking.clone());
                    tokio::spawn(async move {
                        life.tick().await;
                        ticking.store(false, std::sync::atomic::Ordering::Release);
                    });
                }
            }
        }
    }
}

pub(crate) type ServerEntry = (ServerHandle, tokio::task::JoinHandle<std::io::Result<()>>);

/// Binds one HTTP listener and runs it on the current runtime.
pub(crate) fn serve<F, T>(
    server: &config::ServerConfig,
    metrics: Arc<Metrics>,
    bind: SocketAddr,
    tls: Option<rustls::ServerConfig>,
    app: F,
) -> anyhow::Result<(SocketAddr, ServerEntry)>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<actix_web::body::BoxBody>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    let server = HttpServer::new(move || {
        let metrics = metrics.clone();
        app().wrap_fn(move |req, srv| {
            let started = Instant::now();
            let (method, path) = (req.method().clone(), req.path().to_owned());
            let id = request::request_id(
                req.headers()
                    .get(request::REQUEST_ID)
                    .and_then(|v| v.to_str().ok()),
            );
            let facts = request::FactsCell::default();
            facts.0.borrow_mut().request_id = Some(id.clone());
            req.extensions_mut().insert(facts.clone());
            let fut = srv.call(req);
            let metrics = metrics.clone();
            async move {
                let mut res = fut.await?;
                if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&id) {
                    res.headers_mut().insert(
                        actix_web::http::header::HeaderName::from_static(request::REQUEST_ID),
                        v,
                    );
                }
                let f = facts.0.borrow();
                let status = res.status().as_u16();
                metrics.record(status, started.elapsed(), f.aborted);
                log_request(&method, &path, status, started.elapsed(), &f);
                Ok(res)
            }
        })
    })
    // Responses are a head plus a streamed body, written separately: with Nagle's algorithm on,
    // the body waits for the client's delayed ACK of the head (40 ms per small manifest GET).
    .on_connect(|conn, _| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = tcp.set_nodelay(true);
        }
    })
    .workers(server.workers)
    .disable_signals()
    .shutdown_timeout(server.shutdown_timeout);
    let server = match tls {
        None => server.bind(bind),
        Some(tls) => server.bind_rustls_0_23(bind, tls),
    }
    .with_context(|| format!("binding {bind}"))?;
    let addr = *server.addrs().first().context("listener has an address")?;
    let server = server.run();
    let handle = server.handle();
    Ok((addr, (handle, tokio::spawn(server))))
}

/// One log line per request: what happened and, for a refusal, why. Client aborts and 4xx are
/// `info`, 5xx `warn` (the cause was logged where it was mapped).
fn log_request(
    method: &actix_web::http::Method,
    path: &str,
    status: u16,
    took: Duration,
    f: &request::Facts,
) {
    let ms = took.as_secs_f64() * 1e3;
    let id = f.request_id.as_deref().unwrap_or("-");
    let path = f.path.as_deref().unwrap_or(path);
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    if status >= 500 && !f.aborted {
        tracing::warn!(
            request_id = id, %method, %path, status, ms,
            repository = opt(&f.repository), format = opt(&f.format),
            principal = opt(&f.principal), action = f.action.unwrap_or(""),
            error = opt(&f.error), reason = opt(&f.reason), "request"
        );
    } else {
        tracing::info!(
            request_id = id, %method, %path, status, ms,
            repository = opt(&f.repository), format = opt(&f.format),
            principal = opt(&f.principal), action = f.action.unwrap_or(""),
            error = opt(&f.error), reason = opt(&f.reason), aborted = f.aborted, "request"
        );
    }
}

/// On first start (no users at all), creates `admin` with a random password written to
/// `<data_dir>/admin.password` (mode 0600), as Nexus does. The password is never logged. The
/// user is created without a hash: [`finish_bootstrap_admin`] hashes the file's password (a
/// server does that after it listens).
async fn bootstrap_admin(meta: &MetadataStore, data_dir: &Path) -> anyhow::Result<()> {
    if meta.security().count_users(true).await? > 0 {
        return Ok(());
    }
    let path = data_dir.join(ADMIN_PASSWORD_FILE);
    // The file first: if we crash before the user row exists, the next start makes both anew.
    write_private(&path, &trove_auth::password::generate())?;
    meta.security()
        .create_user(trove_auth::BOOTSTRAP_ADMIN_USER, None, "bootstrap")
        .await?;
    tracing::warn!(file = %path.display(), "created user 'admin'; its first password is in this file");
    Ok(())
}

const ADMIN_PASSWORD_FILE: &str = "admin.password";

/// Gives the first-start `admin` the password in `admin.password` if it has no password yet,
/// to be changed at first sign-in (Nexus' first-start flow). Nothing to do on most starts.
async fn finish_bootstrap_admin(meta: &MetadataStore, data_dir: &Path) -> anyhow::Result<()> {
    let security = meta.security();
    let name = trove_auth::BOOTSTRAP_ADMIN_USER;
    match security.user(name).await? {
        Some(admin) if admin.managed_by == "bootstrap" && admin.password_hash.is_none() => {}
        _ => return Ok(()),
    }
    let path = data_dir.join(ADMIN_PASSWORD_FILE);
    let password = match std::fs::read_to_string(&path) {
        Ok(p) => p.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(file = %path.display(), "user 'admin' has no password and its first-password file is gone; set one with `trove user passwd admin`");
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let hash = trove_auth::password::hash_async(password).await?;
    security.set_password(name, &hash, true).await?;
    Ok(())
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    Ok(())
}
