use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use trove_server::Config;

/// jemalloc, configured at build time (`.cargo/config.toml`): see the `jemalloc` feature.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Trove: an artifact repository manager (Docker/OCI registry, pull-through cache, groups).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server (embedded defaults when no config file is given).
    Serve {
        /// The config file (see config/trove.toml).
        #[arg(long, env = "TROVE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Config file operations.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Users: add, change password, disable, enable.
    User {
        #[arg(long, env = "TROVE_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Roles: add or replace, list.
    Role {
        #[arg(long, env = "TROVE_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: RoleCommand,
    },
    /// Routing rules.
    Rule {
        #[arg(long, env = "TROVE_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: RuleCommand,
    },
    /// Garbage collection: deletes blobs and layers nothing references (and untagged manifests
    /// under a repository's rule), online, under the database's lease; prints the run.
    Gc {
        #[arg(long, env = "TROVE_CONFIG")]
        config: Option<PathBuf>,
        /// Reports what would go and the bytes it would free; changes nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Repositories: purge their content.
    Repo {
        #[arg(long, env = "TROVE_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: RepoCommand,
    },
    /// API tokens: add (printed once), list, revoke.
    Token {
        #[arg(long, env = "TROVE_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Offline bundles: export a selection of content into one file, import it elsewhere
    /// (docs/bundles.md). Works on the data directory of a stopped or a running instance.
    Bundle {
        #[arg(long, env = "TROVE_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: BundleCommand,
    },
    /// Explains access decisions.
    Access {
        #[arg(long, env = "TROVE_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: AccessCommand,
    },
}

#[derive(Subcommand)]
enum RepoCommand {
    /// Deletes every asset of repository NAME and ends its uploads (immutable tags too: an
    /// administrator's explicit act); a repository removed from trove.toml goes as well. The
    /// bytes come back at the next garbage collection (`trove gc`).
    Purge { name: String },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Creates a user. The password is read from standard input with --password-stdin,
    /// otherwise a random one is generated and printed once.
    Add {
        name: String,
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Sets a new password (from standard input with --password-stdin, else generated).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disables a user: their credentials and tokens stop working at once.
    Disable { name: String },
    /// Enables a disabled user.
    Enable { name: String },
}

#[derive(Subcommand)]
enum BundleCommand {
    /// Writes what the repositories hold (or the selected part) into BUNDLE: a tar file with
    /// the rows and every blob once, verified on import.
    Export {
        /// A repository to export (repeat for several).
        #[arg(long = "repository", required = true)]
        repositories: Vec<String>,
        /// Only content the pattern selects, in the format's terms: docker `library/*:1.*`
        /// (image glob, optional tag glob), npm `@team/*` (repeat for several).
        #[arg(long)]
        select: Vec<String>,
        /// Only content stored since this date (YYYY-MM-DD or RFC 3339), and what it needs.
        #[arg(long)]
        since: Option<String>,
        /// Leave out the blobs this file (from `trove bundle manifest` on the importing
        /// Trove) says are there already.
        #[arg(long)]
        against: Option<PathBuf>,
        /// `trove`, or `oci-layout`: the bundle is also an OCI image layout archive that
        /// `skopeo copy oci-archive:BUNDLE:IMAGE:TAG` reads (docker content, no --against).
        #[arg(long, default_value = "trove", value_parser = ["trove", "oci-layout"])]
        format: String,
        /// Sign the bundle manifest with this private key (`trove bundle key`).
        #[arg(long)]
        sign: Option<PathBuf>,
        /// The bundle to write (`-`: standard output).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Imports BUNDLE: every blob verified against its digest before it is linked; running it
    /// again after an interruption finishes it, and changes nothing once complete.
    Import {
        bundle: PathBuf,
        /// Import everything into this repository (default: the repositories of the same
        /// names as in the bundle).
        #[arg(long)]
        into: Option<String>,
        /// Refuse the bundle unless it is signed by the private key of this public key.
        #[arg(long)]
        verify: Option<PathBuf>,
    },
    /// Makes a signing key pair: PRIVATE (created 0600, kept by the exporting site) and
    /// PUBLIC (given to the importing sites for --verify).
    Key {
        #[arg(long)]
        private: PathBuf,
        #[arg(long)]
        public: PathBuf,
    },
    /// Writes what these repositories hold (the blobs' digests), for an export `--against` it.
    Manifest {
        #[arg(long = "repository")]
        repositories: Vec<String>,
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Makes an API token for USER and prints it (the only time it is shown).
    Add {
        user: String,
        name: String,
        /// Limit the token to this repository (repeat for several).
        #[arg(long = "repository")]
        repositories: Vec<String>,
        /// Limit the token to this action: browse, read, add, edit, delete (repeat).
        #[arg(long = "action")]
        actions: Vec<String>,
        /// The token stops working after this many days.
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// Lists tokens (of USER, or of everyone), without their secrets.
    List { user: Option<String> },
    /// Revokes USER's token NAME.
    Revoke { user: String, name: String },
}

#[derive(Subcommand)]
enum RoleCommand {
    /// Creates or replaces a role. A privilege is FORMAT:REPO:ACTIONS, e.g.
    /// `docker:docker-hosted:read,browse` or `*:*:*`; `admin` is the admin privilege.
    Add {
        name: String,
        #[arg(long = "privilege")]
        privileges: Vec<String>,
        /// Roles whose privileges this one includes.
        #[arg(long = "include")]
        roles: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Lists roles with their privileges and included roles.
    List,
}

#[derive(Subcommand)]
enum RuleCommand {
    /// Says whether RULE lets PATH (as a request path inside a repository, e.g.
    /// /v2/helloz/onenav/manifests/0.9.33) through, and why. Exit 0 when allowed, 1 when not.
    Test { rule: String, path: String },
}

#[derive(Subcommand)]
enum AccessCommand {
    /// Says whether USER may take ACTION (browse, read, add, edit, delete) on REPO, and why.
    Explain {
        #[arg(long)]
        user: String,
        #[arg(long)]
        repo: String,
        #[arg(long)]
        action: String,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Parses and validates a config file without starting anything.
    Check {
        #[arg(long, env = "TROVE_CONFIG")]
        config: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    // Before any thread starts: whatever Trove creates is its user's alone (issue 14).
    trove_store::files::restrict_umask();
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if matches!(cli.command, Command::Serve { .. }) {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    } else {
        // A command's output (a report, a token) is its standard output; logs go beside it.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    match cli.command {
        Command::Serve { config: path } => {
            let config = Config::load(path.as_deref())?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(serve(config, path))
        }
        Command::User { config, command } => admin(config, |t| Box::pin(user(t, command))),
        Command::Role { config, command } => admin(config, |t| Box::pin(role(t, command))),
        Command::Rule {
            config,
            command: RuleCommand::Test { rule, path },
        } => {
            // A rule of the file is tested without touching the database (check a rule before
            // deploying it); one created in the console is read from the node's database.
            let loaded = Config::load(config.as_deref())?;
            let path =
                trove_core::AssetPath::parse(&path).map_err(|e| anyhow::anyhow!("{}", e.msg))?;
            let allowed = match loaded.rules()?.get(&rule) {
                Some(r) => {
                    println!("{}", r.explain(&path));
                    r.is_allowed(&path)
                }
                None => {
                    let verdict = std::sync::Arc::new(std::sync::Mutex::new(false));
                    let out = verdict.clone();
                    admin(config, move |t| {
                        Box::pin(async move {
                            let r = t.routing_rule(&rule).ok_or_else(|| {
                                anyhow::anyhow!(
                                    "routing rule {rule:?} is neither in the config file nor in the database"
                                )
                            })?;
                            println!("{}", r.explain(&path));
                            *out.lock().expect("verdict") = r.is_allowed(&path);
                            Ok(())
                        })
                    })?;
                    *verdict.lock().expect("verdict")
                }
            };
            if !allowed {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Access { config, command } => admin(config, |t| Box::pin(access(t, command))),
        Command::Gc { config, dry_run } => admin(config, move |t| Box::pin(gc(t, dry_run))),
        Command::Repo {
            config,
            command: RepoCommand::Purge { name },
        } => admin(config, move |t| Box::pin(purge(t, name))),
        Command::Token { config, command } => admin(config, |t| Box::pin(token(t, command))),
        Command::Bundle {
            command: BundleCommand::Key { private, public },
            ..
        } => {
            // Needs no node: nothing is opened, nothing is created.
            let id = trove_bundle::generate_key(&private, &public)?;
            eprintln!(
                "key {id}: private key in {} (keep it), public key in {} (for --verify)",
                private.display(),
                public.display()
            );
            Ok(())
        }
        Command::Bundle { config, command } => {
            let clean = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
            let out = clean.clone();
            admin(config, move |t| Box::pin(bundle(t, command, out)))?;
            if !clean.load(std::sync::atomic::Ordering::SeqCst) {
                // Something was refused: said in the report; a script must notice.
                std::process::exit(2);
            }
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check { config },
        } => {
            let c = Config::load(Some(&config))?;
            println!(
                "{}: ok ({} repositories)",
                config.display(),
                c.repositories.len()
            );
            Ok(())
        }
    }
}

/// Runs until SIGTERM or Ctrl-C; SIGHUP re-reads the config file and applies it (security,
/// repositories, connector ports) without a restart.
async fn serve(config: Config, path: Option<PathBuf>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let running = trove_server::start(config).await?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hup.recv() => {
                let applied = match Config::load(path.as_deref()) {
                    Ok(config) => running.reload(&config).await,
                    Err(e) => Err(e),
                };
                match applied {
                    Ok(()) => tracing::info!("configuration reloaded"),
                    Err(e) => tracing::error!(error = format!("{e:#}"), "reload failed; the previous configuration stays in force where it could not be applied"),
                }
            }
        }
    }
    tracing::info!("shutting down: finishing requests in flight");
    running.stop().await;
    tracing::info!("stopped");
    Ok(())
}

type Job<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>>;

/// Runs an administrative command against the node's database (the same config file the
/// server uses; its declarative sections are applied first, as at start).
fn admin(
    config: Option<PathBuf>,
    job: impl for<'a> FnOnce(&'a trove_server::Trove) -> Job<'a>,
) -> anyhow::Result<()> {
    let config = Config::load(config.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let trove = trove_server::Trove::open(&config).await?;
        // What the command changes is recorded in the audit log, as the operator's (issue 16).
        let before = trove_service::audit::state(&trove.meta).await.ok();
        let result = job(&trove).await;
        if let (Some(before), Ok(after)) = (before, trove_service::audit::state(&trove.meta).await)
        {
            let actor = trove_server::governance::cli();
            trove_service::audit::record_changes(&trove.meta, &actor, &before, &after).await;
        }
        trove.meta.close().await;
        result
    })
}

/// `trove gc [--dry-run]`: one run, recorded like a scheduled one; its summary on stdout.
async fn gc(t: &trove_server::Trove, dry_run: bool) -> anyhow::Result<()> {
    let run = t
        .lifecycle
        .run(trove_server::lifecycle::GC, dry_run)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no garbage collection task"))?;
    let r = &run.report;
    println!(
        "{}garbage collection {}: {} blobs, {} bytes{}; rows: {} parts, {} untagged manifests, {} evicted; {} ms",
        if dry_run { "dry run of " } else { "" },
        run.outcome,
        r["blobs"],
        run.bytes_freed,
        if dry_run { " would be freed" } else { " freed" },
        r["parts"],
        r["documents"],
        r["evicted"],
        run.finished.unwrap_or(run.started) - run.started,
    );
    for e in &run.errors {
        eprintln!("  {e}");
    }
    anyhow::ensure!(run.outcome == "ok", "garbage collection failed");
    Ok(())
}

/// `trove repo purge NAME`.
async fn purge(t: &trove_server::Trove, name: String) -> anyhow::Result<()> {
    let records = t.meta.repos().records().await?;
    let record = records
        .iter()
        .find(|r| r.config.name.as_str() == name)
        .ok_or_else(|| anyhow::anyhow!("no repository named {name}"))?;
    let report = trove_service::lifecycle::purge(&t.meta, t.front.blobs.as_ref(), record)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.msg))?;
    println!(
        "purged {name}: {} assets deleted, {} uploads ended{}; run `trove gc` to free the bytes",
        report.deleted_assets,
        report.uploads_ended,
        if report.repository_removed {
            ", repository removed"
        } else {
            ""
        }
    );
    Ok(())
}

fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\r', '\n']).to_owned();
        anyhow::ensure!(!pw.is_empty(), "empty password on standard input");
        Ok((pw, false))
    } else {
        Ok((trove_auth::password::generate(), true))
    }
}

async fn user(t: &trove_server::Trove, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            roles,
            password_stdin,
        } => {
            let (pw, generated) = password(password_stdin)?;
            t.auth.add_user(&name, Some(&pw), &roles, "cli").await?;
            println!("created user {name}");
            if generated {
                println!("password: {pw}");
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let (pw, generated) = password(password_stdin)?;
            t.auth.set_password(&name, &pw).await?;
            println!("password of {name} changed");
            if generated {
                println!("password: {pw}");
            }
        }
        UserCommand::Disable { name } => {
            t.auth
                .set_user_status(&name, trove_auth::UserStatus::Disabled)
                .await?;
            println!("disabled user {name}");
        }
        UserCommand::Enable { name } => {
            t.auth
                .set_user_status(&name, trove_auth::UserStatus::Active)
                .await?;
            println!("enabled user {name}");
        }
    }
    Ok(())
}

/// `FORMAT:REPO:ACTIONS` (e.g. `docker:docker-hosted:read,browse`), `admin`, or an application
/// permission (`metrics`).
fn privilege(spec: &str) -> anyhow::Result<trove_auth::PrivilegeDecl> {
    if spec == "admin" {
        return Ok(trove_auth::PrivilegeDecl {
            admin: true,
            ..Default::default()
        });
    }
    if trove_auth::APPLICATIONS.contains(&spec) {
        return Ok(trove_auth::PrivilegeDecl {
            application: Some(spec.to_owned()),
            ..Default::default()
        });
    }
    let parts: Vec<&str> = spec.splitn(3, ':').collect();
    let [format, repo, actions] = parts[..] else {
        anyhow::bail!(
            "privilege {spec:?}: expected FORMAT:REPO:ACTIONS, e.g. docker:docker-hosted:read"
        );
    };
    Ok(trove_auth::PrivilegeDecl {
        format: Some(format.to_owned()),
        repo: Some(repo.to_owned()),
        actions: actions.split(',').map(str::to_owned).collect(),
        ..Default::default()
    })
}

async fn role(t: &trove_server::Trove, command: RoleCommand) -> anyhow::Result<()> {
    match command {
        RoleCommand::Add {
            name,
            privileges,
            roles,
            description,
        } => {
            let privileges = privileges
                .iter()
                .map(|p| privilege(p))
                .collect::<anyhow::Result<_>>()?;
            let decl = trove_auth::RoleDecl {
                name: name.clone(),
                description,
                privileges,
                roles,
                external_groups: Vec::new(),
            };
            t.auth.upsert_role(&decl, "cli").await?;
            println!("role {name} saved");
        }
        RoleCommand::List => {
            for r in t.meta.security().list_roles().await? {
                let privileges: Vec<&str> = r.privileges.iter().map(|p| p.name.as_str()).collect();
                println!(
                    "{}\tprivileges: {}\troles: {}",
                    r.name,
                    privileges.join(", "),
                    r.roles.join(", ")
                );
            }
        }
    }
    Ok(())
}

async fn token(t: &trove_server::Trove, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Add {
            user,
            name,
            repositories,
            actions,
            expires_days,
        } => {
            let repos = (!repositories.is_empty()).then_some(repositories);
            let acts = (!actions.is_empty()).then_some(actions);
            let (repos, acts) =
                trove_auth::api_token::parse_narrowing(repos.as_deref(), acts.as_deref())?;
            let expires =
                expires_days.map(|d| trove_core::now_millis() + i64::from(d) * 86_400_000);
            let operator = trove_server::governance::cli();
            let (token, _) = t
                .auth
                .create_api_token(&user, &name, repos, acts, expires, operator.name())
                .await?;
            eprintln!("token {name} of {user} made; it is shown this once:");
            println!("{}", token.token);
        }
        TokenCommand::List { user } => {
            for r in t.meta.api_tokens().list(user.as_deref()).await? {
                println!(
                    "{}	{}	{}{}	repositories: {}	actions: {}	expires: {}	last used: {}",
                    r.user,
                    r.name,
                    trove_auth::TOKEN_PREFIX,
                    r.id,
                    r.repositories.map_or("all".into(), |v| v.join(",")),
                    r.actions.unwrap_or_else(|| "all".into()),
                    r.expires.map_or("never".into(), |e| e.to_string()),
                    r.last_used.map_or("never".into(), |e| e.to_string()),
                );
            }
        }
        TokenCommand::Revoke { user, name } => {
            anyhow::ensure!(
                t.meta.api_tokens().delete(&user, &name).await?.is_some(),
                "user {user} has no token named {name}"
            );
            println!("revoked token {name} of {user}");
        }
    }
    Ok(())
}

async fn access(t: &trove_server::Trove, command: AccessCommand) -> anyhow::Result<()> {
    let AccessCommand::Explain { user, repo, action } = command;
    let action = trove_auth::Action::parse(&action)?;
    let repo = t
        .repository(&repo)
        .ok_or_else(|| anyhow::anyhow!("repository {repo:?} does not exist or is offline"))?;
    let e = t.auth.explain(&user, repo.config(), action).await?;
    println!("{e}");
    if !e.allowed {
        std::process::exit(1);
    }
    Ok(())
}

async fn bundle(
    t: &trove_server::Trove,
    command: BundleCommand,
    clean: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    use trove_server::bundles;
    match command {
        BundleCommand::Export {
            repositories,
            select,
            since,
            against,
            format,
            sign,
            output,
        } => {
            let sel = trove_bundle::Selection {
                repositories,
                select,
                since: since.as_deref().map(bundles::since_millis).transpose()?,
                against: against
                    .as_deref()
                    .map(trove_bundle::read_have)
                    .transpose()?,
            };
            let key = sign
                .as_deref()
                .map(trove_bundle::SigningKey::load)
                .transpose()?;
            let report = bundles::export(t, &sel, format == "oci-layout", key, &output).await?;
            eprintln!(
                "exported {} rows of {} repositories, {} blobs, {} bytes",
                report.assets, report.repositories, report.blobs, report.bytes
            );
        }
        BundleCommand::Import {
            bundle,
            into,
            verify,
        } => {
            let key = verify
                .as_deref()
                .map(trove_bundle::VerifyingKey::load)
                .transpose()?;
            let report = bundles::import(t, &bundle, into.as_deref(), key).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            eprintln!("{}", bundles::summary(&report));
            if !report.is_clean() {
                clean.store(false, std::sync::atomic::Ordering::SeqCst);
            }
        }
        BundleCommand::Key { .. } => unreachable!("handled before a node is opened"),
        BundleCommand::Manifest {
            repositories,
            output,
        } => {
            let have = bundles::manifest(t, &repositories, &output).await?;
            eprintln!(
                "{}: {} blobs of {}",
                output.display(),
                have.blobs.len(),
                have.repositories.join(", ")
            );
        }
    }
    Ok(())
}
