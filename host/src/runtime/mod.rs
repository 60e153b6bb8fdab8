//! The plugin runtime: one wasmtime [`Engine`] for the process, components compiled once and
//! cached on disk, a fresh instance per call from an [`InstancePre`](wasmtime::component::InstancePre)
//! with an epoch-driven deadline and a memory limit.
//!
//! A plugin that traps, loops, runs out of memory or cannot link an import fails only the
//! call it is making; see [`PluginFailure`].

pub mod bindings;
mod host;
mod plugin;

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

pub use host::{AuthorizerCall, PluginContext, PluginState};
pub use plugin::{Plugin, PluginFailure, PluginKind};

use crate::http_client::HttpClient;
use crate::manifest::{MAX_PLUGIN_MEMORY_MB, PluginDef, PluginSource};
use crate::state::StateStore;

/// How often the epoch ticks. A running guest yields to the async executor at every tick,
/// which is also the resolution of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The component file could not be read.
    #[error("plugin `{plugin}`: cannot read {path}: {error}")]
    Read {
        /// Plugin name.
        plugin: String,
        /// File.
        path: PathBuf,
        /// I/O error (part of the message, so not also a `source`).
        error: std::io::Error,
    },
    /// No built-in plugin has that name.
    #[error("plugin `{plugin}`: no built-in plugin named `{builtin}` (built-ins: {available})")]
    UnknownBuiltin {
        /// Plugin name.
        plugin: String,
        /// The name asked for.
        builtin: String,
        /// The names that exist.
        available: String,
    },
    /// The bytes are not a valid component, or it does not export a wasmgate interface.
    #[error("plugin `{plugin}`: {message}")]
    Invalid {
        /// Plugin name.
        plugin: String,
        /// What is wrong.
        message: String,
    },
}

/// Runtime settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Pooling allocator slots: how many plugin instances may exist at once.
    pub max_instances: u32,
}

/// The process-wide plugin runtime.
pub struct Runtime {
    engine: Engine,
    linker: Linker<PluginState>,
    cache_dir: Option<PathBuf>,
    http: HttpClient,
    /// Components loaded so far, by content hash: plugins built from the same component share
    /// its code, its type information and (through the pooling allocator's module affinity)
    /// its warm instance slots.
    components: std::sync::Mutex<std::collections::HashMap<String, Component>>,
}

impl Runtime {
    /// Creates the engine (pooling allocator, epoch interruption) and the base linker, and
    /// starts the epoch ticker thread (it stops when the engine is dropped).
    pub fn new(config: &RuntimeConfig, http: HttpClient) -> anyhow::Result<Runtime> {
        let mut pool = PoolingAllocationConfig::new();
        // One slot per live instance; each plugin instance is one component instance with a
        // handful of core instances (the guest plus its WASI adapter shims).
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances.saturating_mul(4))
            .total_memories(config.max_instances.saturating_mul(2))
            .total_tables(config.max_instances.saturating_mul(4))
            .total_stacks(config.max_instances)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16)
            // The largest memory any plugin may be given; each store's limiter enforces the
            // plugin's own, smaller limit.
            .max_memory_size((MAX_PLUGIN_MEMORY_MB as usize) << 20)
            // Keep the first pages of a slot resident between instances so a fresh instance
            // doesn't fault in its stack and data again; with pagemap_scan the kernel tells
            // which pages were touched, so only those are reset.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10)
            .pagemap_scan(Enabled::Auto);
        let mut cfg = Config::new();
        cfg.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            // Small virtual reservations: many slots, and plugins are small.
            .memory_reservation(MAX_PLUGIN_MEMORY_MB << 20)
            .memory_guard_size(64 << 10)
            .memory_reservation_for_growth(0)
            .max_wasm_stack(512 << 10)
            .async_stack_size(1 << 20);
        let engine = Engine::new(&cfg).map_err(anyhow::Error::from).context("creating the wasmtime engine")?;

        let mut linker = Linker::new(&engine);
        // WASI is linked so that components built by ordinary toolchains instantiate, but each
        // store's WASI context grants nothing: no preopened directories, no environment, no
        // arguments, and every socket address and name lookup is denied.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from).context("linking WASI")?;
        bindings::host::PluginHost::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |s| s)
            .map_err(anyhow::Error::from)
            .context("linking the wasmgate host interfaces")?;

        let weak = engine.weak();
        std::thread::Builder::new()
            .name("wasmgate-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .context("starting the epoch thread")?;

        if let Some(dir) = &config.cache_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(Runtime { engine, linker, cache_dir: config.cache_dir.clone(), http, components: Default::default() })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads a plugin: reads its component (file or built-in), compiles it or loads the
    /// cached compilation, links it and checks which wasmgate interface it exports.
    /// Blocking (compilation): call it from `spawn_blocking` on an async runtime.
    pub fn load(&self, def: &PluginDef, state: &StateStore) -> Result<Arc<Plugin>, LoadError> {
        let bytes: std::borrow::Cow<'static, [u8]> = match &def.source {
            PluginSource::File(path) => std::fs::read(path)
                .map_err(|error| LoadError::Read { plugin: def.name.clone(), path: path.clone(), error })?
                .into(),
            PluginSource::Builtin(name) => crate::builtin(name)
                .ok_or_else(|| LoadError::UnknownBuiltin {
                    plugin: def.name.clone(),
                    builtin: name.clone(),
                    available: crate::builtin_names().join(", "),
                })?
                .into(),
        };
        let invalid = |message: String| LoadError::Invalid { plugin: def.name.clone(), message };
        let hash = hex::encode(Sha256::digest(&bytes));
        let component = self.compile(&bytes, &hash).map_err(|e| invalid(format!("not a valid component: {e:#}")))?;

        check_grants(def, &component, &self.engine).map_err(invalid)?;
        let pre = match self.linker.instantiate_pre(&component) {
            Ok(pre) => pre,
            Err(missing) => {
                // Imports no host provides are linked as traps: the plugin loads, and only a
                // call that reaches such an import fails (its own request).
                tracing::warn!(plugin = %def.name, error = %format!("{missing:#}"), "plugin imports what this gateway does not provide; calls to it will trap");
                let mut linker = self.linker.clone();
                linker.define_unknown_imports_as_traps(&component).map_err(|e| invalid(format!("{e:#}")))?;
                linker.instantiate_pre(&component).map_err(|e| invalid(format!("cannot link: {e:#}")))?
            }
        };
        let namespace = state
            .namespace(&def.name, def.limits.state_bytes)
            .map_err(|e| invalid(format!("opening its state: {e:#}")))?;
        let ctx = Arc::new(PluginContext {
            name: def.name.clone(),
            config: def.config.clone(),
            allowed_outbound_hosts: def.allowed_outbound_hosts.clone(),
            state: Arc::new(namespace),
            http: self.http.clone(),
            yields: Default::default(),
        });
        Plugin::new(def, hash, ctx, pre).map_err(invalid)
    }

    /// Compiles a component, or loads its compiled form from the cache. The cache key is the
    /// content hash and the engine's compatibility hash (wasmtime version and settings).
    fn compile(&self, bytes: &[u8], hash: &str) -> anyhow::Result<Component> {
        if let Some(c) = self.components.lock().unwrap_or_else(|p| p.into_inner()).get(hash) {
            return Ok(c.clone());
        }
        let component = self.compile_uncached(bytes, hash)?;
        self.components.lock().unwrap_or_else(|p| p.into_inner()).insert(hash.to_string(), component.clone());
        Ok(component)
    }

    /// Forgets the loaded components whose hashes are not in `keep` (plugins already built
    /// from them keep theirs alive until they are dropped).
    pub fn retain_components<'a>(&self, keep: impl IntoIterator<Item = &'a str>) {
        let keep: std::collections::HashSet<&str> = keep.into_iter().collect();
        self.components.lock().unwrap_or_else(|p| p.into_inner()).retain(|hash, _| keep.contains(hash.as_str()));
    }

    fn compile_uncached(&self, bytes: &[u8], hash: &str) -> anyhow::Result<Component> {
        let Some(dir) = &self.cache_dir else {
            return Ok(Component::new(&self.engine, bytes)?);
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        let path = dir.join(format!("{hash}-{:016x}.cwasm", h.finish()));
        if path.exists() {
            match load_cached(&self.engine, &path) {
                Ok(c) => return Ok(c),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable cached component"),
            }
        }
        let component = Component::new(&self.engine, bytes)?;
        let serialized = component.serialize()?;
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4()));
        if let Err(e) = std::fs::write(&tmp, &serialized).and_then(|()| std::fs::rename(&tmp, &path)) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the compiled-component cache");
            let _ = std::fs::remove_file(&tmp);
        }
        Ok(component)
    }
}

/// Capabilities a plugin needs a grant for in the manifest: importing the interface without
/// the grant is refused when the plugin is loaded, rather than failing on every call.
fn check_grants(def: &PluginDef, component: &Component, engine: &Engine) -> Result<(), String> {
    let imports_http = component
        .component_type()
        .imports(engine)
        .any(|(name, _)| name.split('@').next() == Some("wasmgate:plugin/http-client"));
    if imports_http && def.allowed_outbound_hosts.is_empty() {
        return Err("imports wasmgate:plugin/http-client but has no allowed_outbound_hosts: \
                    grant the hosts it may reach in the manifest"
            .into());
    }
    Ok(())
}

/// Loads a precompiled component from the cache directory.
#[allow(unsafe_code, reason = "wasmtime requires unsafe to load precompiled code")]
fn load_cached(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    // SAFETY: the file was written by `Runtime::compile` from `Component::serialize` of this
    // same engine configuration (the compatibility hash is part of its name), into the
    // gateway's own state directory. wasmtime still checks the header and version.
    Ok(unsafe { Component::deserialize_file(engine, path) }?)
}
