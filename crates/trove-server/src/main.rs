use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use trove_server::Config;

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
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(config.as_deref())?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(serve(config))
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

async fn serve(config: Config) -> anyhow::Result<()> {
    let running = trove_server::start(config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
    running.stop().await;
    tracing::info!("stopped");
    Ok(())
}
