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
    /// Render a mapping template as API Gateway would (like its test invoke) and print it.
    RenderTemplate {
        /// The template (VTL).
        template: PathBuf,
        /// The payload (`$input.body`), read from this file.
        #[arg(long)]
        body: Option<PathBuf>,
        /// Request parameters: `{"path":{},"querystring":{},"header":{}}`.
        #[arg(long)]
        params: Option<String>,
        /// `$context` as a JSON object, e.g. `{"requestId":"r-1","authorizer":{"principalId":"me"}}`.
        #[arg(long)]
        context: Option<String>,
        /// `$stageVariables` as a JSON object of strings.
        #[arg(long)]
        stage_variables: Option<String>,
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
            // One worker: a current-thread runtime (no work-stealing bookkeeping, no cross-thread
            // wake-ups); more: the multi-threaded one.
            let mut rt = match workers {
                Some(1) => tokio::runtime::Builder::new_current_thread(),
                Some(n) => {
                    let mut rt = tokio::runtime::Builder::new_multi_thread();
                    rt.worker_threads(n.max(1));
                    rt
                }
                None => tokio::runtime::Builder::new_multi_thread(),
            };
            rt.enable_all().build()?.block_on(serve(manifest, listen, admin, !no_watch, state_dir))
        }
        Command::Check { manifest } => check(manifest),
        Command::RenderTemplate { template, body, params, context, stage_variables } => render_template(
            &template,
            body.as_deref(),
            params.as_deref(),
            context.as_deref(),
            stage_variables.as_deref(),
        ),
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

/// A JSON object of strings as pairs; values that are not strings are written as JSON.
fn string_pairs(json: &serde_json::Value, what: &str) -> anyhow::Result<Vec<(String, String)>> {
    let obj = json.as_object().with_context(|| format!("{what} must be a JSON object"))?;
    Ok(obj.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect())
}

fn render_template(
    template: &std::path::Path,
    body: Option<&std::path::Path>,
    params: Option<&str>,
    context: Option<&str>,
    stage_variables: Option<&str>,
) -> anyhow::Result<()> {
    use wasmgate_vtl::{Inputs, Limits, Template};
    let source =
        std::fs::read_to_string(template).with_context(|| format!("reading the template {}", template.display()))?;
    let limits = Limits::default();
    let parsed = Template::parse(&source, &limits).map_err(|e| anyhow::anyhow!("{}: {e}", template.display()))?;
    let mut inputs = Inputs::default();
    if let Some(path) = body {
        inputs.body = std::fs::read_to_string(path).with_context(|| format!("reading the body {}", path.display()))?;
    }
    if let Some(p) = params {
        let json: serde_json::Value = serde_json::from_str(p).context("--params is not JSON")?;
        let obj = json.as_object().context("--params must be {\"path\":{},\"querystring\":{},\"header\":{}}")?;
        for (k, v) in obj {
            let pairs = string_pairs(v, &format!("--params.{k}"))?;
            match k.as_str() {
                "path" => inputs.path = pairs,
                "querystring" => inputs.querystring = pairs,
                "header" => inputs.header = pairs,
                other => anyhow::bail!("--params: unknown key `{other}` (expected path, querystring, header)"),
            }
        }
    }
    if let Some(c) = context {
        let json: serde_json::Value = serde_json::from_str(c).context("--context is not JSON")?;
        inputs.context = json.as_object().context("--context must be a JSON object")?.clone();
    }
    if let Some(v) = stage_variables {
        let json: serde_json::Value = serde_json::from_str(v).context("--stage-variables is not JSON")?;
        inputs.stage_variables = string_pairs(&json, "--stage-variables")?;
    }
    let rendered = parsed.render(&inputs, &limits).map_err(|e| anyhow::anyhow!("{}: {e}", template.display()))?;
    print!("{}", rendered.output);
    let o = &rendered.overrides;
    if o != &wasmgate_vtl::Overrides::default() {
        eprintln!("overrides: {o:?}");
    }
    Ok(())
}
