//! The gateway: an immutable [`Snapshot`] of everything a request needs, behind one
//! swappable pointer. Requests take the snapshot current when they start and finish on it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use std::path::Path;
use std::sync::Mutex;

use arc_swap::ArcSwap;

use crate::http_client::HttpClient;
use crate::manifest::{ApiDef, GatewayConfig, IntegrationKind, PluginDef, PluginLimits, PluginSource};
use crate::router::Router;
use crate::runtime::{LoadError, Plugin, PluginKind, Runtime, RuntimeConfig};
use crate::state::{StateLimits, StateStore};

/// Why a snapshot could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A plugin failed to load.
    #[error(transparent)]
    Plugin(#[from] LoadError),
    /// A plugin is used as something it is not.
    #[error("{at}: plugin `{plugin}` exports the {actual} interface, but is used as {expected}")]
    WrongKind {
        /// Where it is used.
        at: String,
        /// The plugin.
        plugin: String,
        /// What it exports.
        actual: PluginKind,
        /// What the use needs.
        expected: &'static str,
    },
    /// An API's routes are inconsistent.
    #[error("apis.{api}.resources: {message}")]
    Routes {
        /// The API.
        api: String,
        /// What is wrong.
        message: String,
    },
    /// The gateway could not start its parts (state store, runtime).
    #[error("{0:#}")]
    Setup(anyhow::Error),
}

/// A cached authorizer outcome.
#[derive(Debug, Clone)]
pub enum CachedDecision {
    /// Allowed as this principal with this context.
    Allow {
        /// `principalId`.
        principal_id: String,
        /// Context, stringified.
        context: Vec<(String, String)>,
    },
    /// Explicitly denied.
    Deny,
}

/// One API, ready to serve.
pub struct Api {
    /// Its definition.
    pub def: ApiDef,
    /// Its routing table (indices into `def.resources`).
    pub router: Router,
    /// Its id as a header value (`x-amzn-apigateway-api-id` on integration requests).
    pub id_header: http::HeaderValue,
    /// Decision caches by authorizer name (only authorizers with a TTL).
    pub auth_caches: HashMap<String, moka::sync::Cache<String, CachedDecision>>,
}

/// Everything a request needs, immutable.
pub struct Snapshot {
    /// The configuration it was built from.
    pub config: Arc<GatewayConfig>,
    /// APIs.
    pub apis: Vec<Api>,
    /// Loaded plugins by name.
    pub plugins: BTreeMap<String, Arc<Plugin>>,
    /// The backend HTTP client.
    pub http: HttpClient,
    /// When it was built.
    pub loaded_at: SystemTime,
    /// 1 for the snapshot the gateway started with, then one more per successful reload.
    pub version: u64,
}

impl Snapshot {
    /// The API a request for `host` goes to: the only API, or the one whose id is the
    /// host's first label (`{apiId}.execute-api.…`, like AWS).
    pub fn api_for_host(&self, host: &str) -> Option<&Api> {
        if self.apis.len() == 1 {
            return self.apis.first();
        }
        let label = host.split('.').next().unwrap_or_default();
        self.apis.iter().find(|a| a.def.id == label)
    }
}

/// The process-wide parts that outlive snapshots: runtime, state store, HTTP client.
pub struct Gateway {
    runtime: Arc<Runtime>,
    state: StateStore,
    http: HttpClient,
    current: ArcSwap<Snapshot>,
    /// Held while a reload builds its snapshot: one reload at a time.
    reloading: Mutex<()>,
    /// How the last reload went (locked only briefly, so status reads never wait for a reload).
    last_reload: Mutex<Option<ReloadOutcome>>,
}

/// How a reload attempt ended.
#[derive(Debug, Clone)]
pub struct ReloadOutcome {
    /// When it ended.
    pub at: SystemTime,
    /// What triggered it (`watch`, `admin`, …).
    pub trigger: String,
    /// The error that rejected it; `None` when the new snapshot was swapped in.
    pub error: Option<String>,
}

impl Gateway {
    /// Opens the state store, starts the runtime and builds the first snapshot. Blocking:
    /// compiles plugins.
    pub fn new(config: GatewayConfig) -> Result<Gateway, BuildError> {
        let state = StateStore::open(&config.state_dir.join("state"), StateLimits::default()).map_err(|e| {
            BuildError::Setup(e.context(format!("opening plugin state in {}", config.state_dir.display())))
        })?;
        let http = crate::http_client::new_client();
        let runtime = Runtime::new(
            &RuntimeConfig { cache_dir: Some(config.cache_dir.clone()), max_instances: config.max_plugin_instances },
            http.clone(),
        )
        .map_err(BuildError::Setup)?;
        let runtime = Arc::new(runtime);
        let snapshot = build_snapshot(config, &runtime, &state, &http, 1)?;
        Ok(Gateway {
            runtime,
            state,
            http,
            current: ArcSwap::from_pointee(snapshot),
            reloading: Mutex::new(()),
            last_reload: Mutex::new(None),
        })
    }

    /// The snapshot current now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Builds a snapshot from `config` (off the request path: blocking) and makes it current
    /// by swapping one pointer; requests in flight finish on the snapshot they started with.
    /// On error the current snapshot stays. Returns the new snapshot's version.
    pub fn reload(&self, config: GatewayConfig) -> Result<u64, BuildError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let version = self.current.load().version + 1;
        let snapshot = build_snapshot(config, &self.runtime, &self.state, &self.http, version)?;
        self.current.store(Arc::new(snapshot));
        Ok(version)
    }

    /// Reads the manifest at `path` and reloads from it, recording the outcome for
    /// [`Gateway::last_reload`]. Settings that only apply at start (listeners, the admin
    /// listener, state and cache directories, instance slots, connection-level limits) keep
    /// their running values; the log says so when they changed.
    pub fn reload_from(&self, path: &Path, trigger: &str) -> Result<u64, String> {
        let result = crate::manifest::load(path).map_err(|e| e.to_string()).and_then(|mut config| {
            let running = self.current.load();
            let old = &running.config;
            if config.listeners.len() != old.listeners.len()
                || config.state_dir != old.state_dir
                || config.cache_dir != old.cache_dir
                || config.max_plugin_instances != old.max_plugin_instances
                || config.admin.as_ref().map(|a| &a.address) != old.admin.as_ref().map(|a| &a.address)
            {
                tracing::warn!(
                    "listeners, admin, state_dir, cache_dir and max_plugin_instances change on restart only"
                );
            }
            // What the running process was started with stays.
            config.listeners = old.listeners.clone();
            config.state_dir = old.state_dir.clone();
            config.cache_dir = old.cache_dir.clone();
            config.max_plugin_instances = old.max_plugin_instances;
            config.admin = old.admin.clone();
            drop(running);
            self.reload(config).map_err(|e| e.to_string())
        });
        let outcome = ReloadOutcome {
            at: SystemTime::now(),
            trigger: trigger.to_string(),
            error: result.as_ref().err().cloned(),
        };
        match &result {
            Ok(v) => tracing::info!(version = v, trigger, "reloaded"),
            Err(e) => tracing::error!(trigger, error = %e, "reload rejected; the running configuration stays"),
        }
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
        result
    }

    /// Removes expired plugin state every `interval`, in the background (on a blocking thread).
    pub fn sweep_state_every(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        let state = self.state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.tick().await;
            loop {
                tick.tick().await;
                let s = state.clone();
                match tokio::task::spawn_blocking(move || s.sweep_expired()).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::debug!(removed = n, "expired plugin state removed"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "sweeping expired plugin state failed"),
                    Err(e) => tracing::warn!(error = %e, "the state sweep task failed"),
                }
            }
        })
    }

    /// The outcome of the last reload attempt, if any.
    pub fn last_reload(&self) -> Option<ReloadOutcome> {
        self.last_reload.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The name the built-in template engine (`plugins/vtl`) has among a snapshot's plugins.
pub const VTL_PLUGIN: &str = "@vtl";

/// Loads every plugin, instantiates each once to prove it works, and builds every API.
/// Blocking.
pub fn build_snapshot(
    config: GatewayConfig,
    runtime: &Runtime,
    state: &StateStore,
    http: &HttpClient,
    version: u64,
) -> Result<Snapshot, BuildError> {
    let mut plugins = BTreeMap::new();
    // The template engine: the built-in `vtl` transform renders every mapping template that
    // no transform of the manifest takes over. Its name cannot clash with a manifest name.
    let vtl = PluginDef {
        name: VTL_PLUGIN.into(),
        source: PluginSource::Builtin("vtl".into()),
        config: Vec::new(),
        allowed_outbound_hosts: Vec::new(),
        limits: PluginLimits {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(2),
            warm_instances: 0,
            state_bytes: 1 << 20,
        },
    };
    plugins.insert(VTL_PLUGIN.to_string(), runtime.load(&vtl, state)?);
    for (name, def) in &config.plugins {
        let plugin = runtime.load(def, state)?;
        block_on(plugin.probe()).map_err(|message| LoadError::Invalid { plugin: name.clone(), message })?;
        plugins.insert(name.clone(), plugin);
    }
    let expect = |at: String, plugin: &str, kind: PluginKind, expected: &'static str| -> Result<(), BuildError> {
        let actual = plugins[plugin].kind();
        if actual == kind {
            Ok(())
        } else {
            Err(BuildError::WrongKind { at, plugin: plugin.to_string(), actual, expected })
        }
    };
    let mut apis = Vec::new();
    for def in &config.apis {
        let mut auth_caches = HashMap::new();
        for (name, a) in &def.authorizers {
            expect(
                format!("apis.{}.authorizers.{name}", def.name),
                &a.plugin,
                PluginKind::Authorizer,
                "an authorizer",
            )?;
            if a.ttl > Duration::ZERO {
                auth_caches.insert(
                    name.clone(),
                    moka::sync::Cache::builder().max_capacity(10_000).time_to_live(a.ttl).build(),
                );
            }
        }
        for r in &def.resources {
            for (verb, m) in &r.methods {
                let at = format!("apis.{}.resources.\"{}\".resourceMethods.{verb}.methodIntegration", def.name, r.path);
                if let IntegrationKind::Plugin { plugin } = &m.integration.kind {
                    expect(format!("{at}.plugin"), plugin, PluginKind::Integration, "an integration")?;
                }
                for (key, t) in [
                    ("request_transform", &m.integration.request_transform),
                    ("response_transform", &m.integration.response_transform),
                ] {
                    if let Some(t) = t {
                        expect(format!("{at}.{key}.plugin"), &t.plugin, PluginKind::Transform, "a transform")?;
                    }
                }
            }
        }
        let router = Router::new(def.resources.iter().enumerate().map(|(i, r)| (i, r.path.as_str())))
            .map_err(|e| BuildError::Routes { api: def.name.clone(), message: e.0 })?;
        // Ids are checked names (letters, digits, `-`, `_`), always valid header values.
        let id_header = http::HeaderValue::from_str(&def.id)
            .map_err(|_| BuildError::Setup(anyhow::anyhow!("api id `{}` is not a valid header value", def.id)))?;
        apis.push(Api { def: def.clone(), router, id_header, auth_caches });
    }
    runtime.retain_components(plugins.values().map(|p| p.hash()));
    Ok(Snapshot { config: Arc::new(config), apis, plugins, http: http.clone(), loaded_at: SystemTime::now(), version })
}

/// Runs a future to completion from blocking code: on the current Tokio runtime when there
/// is one (the caller is in `spawn_blocking`), else on a small runtime of its own.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        // Callers are on a blocking thread (`spawn_blocking`), never on a runtime worker.
        Ok(handle) => handle.block_on(f),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime")
            .block_on(f),
    }
}
