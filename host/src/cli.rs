//! The `wasmgate` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::gateway::Gateway;
use crate::manifest::{self, Listener};

/// wasmgate: an Amazon API Gateway compatible gateway with WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "wasmgate", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the APIs of a manifest.
    Serve {
        /// Listen here instead of the manifest's first listener (e.g. 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Tokio worker threads (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// Serve the admin API here instead of the manifest's `[admin]` address.
        #[arg(long)]
        admin: Option<SocketAddr>,
        /// Do not watch the manifest and plugin files for changes.
        #[arg(long)]
        no_watch: bool,
        /// Keep plugin state (and compiled components) here instead of the manifest's `state_dir`.
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// The manifest.
        manifest: PathBuf,
    },
    /// Validate a manifest and its plugins (compiles them), then exit.
    Check {
        /// The manifest.
        manifest: PathBuf,
    },
}

/// Runs the command line and turns its outcome into the exit status: 0 on success; on error,
/// `error: <message>` on stderr and 1.
pub fn run() -> std::process::ExitCode {
    match main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs the command line.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve { listen, workers, admin, no_watch, state_dir, manifest } => {
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = workers {
                rt.worker_threads(n.max(1));
            }
            rt.enable_all().build()?.block_on(serve(manifest, listen, admin, !no_watch, state_dir))
        }
        Command::Check { manifest } => check(manifest),
    }
}

async fn serve(
    path: PathBuf,
    listen: Option<SocketAddr>,
    admin: Option<SocketAddr>,
    watch: bool,
    state_dir: Option<PathBuf>,
) -> anyhow::Result<()> {
    let mut signals = Signals::install()?;
    let mut config = manifest::load(&path)?;
    if let Some(dir) = state_dir {
        config.cache_dir = dir.join("compiled");
        config.state_dir = dir;
    }
    if let Some(addr) = listen {
        match config.listeners.first_mut() {
            Some(l) => l.address = addr,
            None => config.listeners.push(Listener { address: addr, tls: None }),
        }
    }
    if config.listeners.is_empty() {
        anyhow::bail!("{}: no listener: add a [[listeners]] table or pass --listen", path.display());
    }
    if let Some(address) = admin {
        let token = config.admin.as_ref().and_then(|a| a.token.clone());
        if !address.ip().is_loopback() && token.is_none() {
            anyhow::bail!("--admin {address} is not a loopback address: set admin.token in the manifest to expose it");
        }
        config.admin = Some(crate::manifest::AdminSettings { address, token });
    }
    let listeners = config.listeners.clone();
    let admin_settings = config.admin.clone();
    let gateway = Arc::new(tokio::task::spawn_blocking(move || Gateway::new(config)).await??);
    let server = crate::server::start(gateway.clone(), &listeners).await?;
    let _admin = match &admin_settings {
        Some(settings) => Some(crate::admin::start(gateway.clone(), settings, path.clone()).await?),
        None => None,
    };
    let _watcher = if watch {
        Some(crate::watch::watch(gateway.clone(), path.clone(), crate::watch::DEFAULT_DEBOUNCE)?)
    } else {
        None
    };
    let sweeper = gateway.sweep_state_every(std::time::Duration::from_secs(60));
    signals.wait().await;
    sweeper.abort();
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// SIGTERM and SIGINT, listened for from the start: a signal that arrives while the gateway is
/// still starting must stop it gracefully too, not kill it.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
        })
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

fn check(path: PathBuf) -> anyhow::Result<()> {
    let mut config = manifest::load(&path)?;
    // Compile and link every plugin, with state and cache in a scratch directory.
    let scratch = std::env::temp_dir().join(format!("wasmgate-check-{}", std::process::id()));
    config.state_dir = scratch.clone();
    config.cache_dir = scratch.join("compiled");
    let (apis, plugins) = (config.apis.len(), config.plugins.len());
    let result = Gateway::new(config);
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    println!("{}: ok ({apis} apis, {plugins} plugins)", path.display());
    Ok(())
}
