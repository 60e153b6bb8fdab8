//! A loaded plugin and its calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::{InstancePre, Resource};
use wasmtime::{Store, UpdateDeadline};

use super::bindings::{authorizer, integration, transform, types};
use super::host::{AuthorizerCall, PluginContext, PluginState};
use crate::manifest::{PluginDef, PluginLimits};

/// Which wasmgate interface a plugin exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginKind {
    /// `wasmgate:plugin/authorizer`.
    Authorizer,
    /// `wasmgate:plugin/transform`.
    Transform,
    /// `wasmgate:plugin/integration`.
    Integration,
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::Authorizer => "authorizer",
            PluginKind::Transform => "transform",
            PluginKind::Integration => "integration",
        })
    }
}

/// Why a plugin call did not produce a value.
#[derive(Debug, thiserror::Error)]
pub enum PluginFailure {
    /// The plugin returned a `plugin-error`.
    #[error("plugin returned an error: {0}")]
    Returned(String),
    /// The call ran past its deadline.
    #[error("plugin exceeded its {0:?} deadline")]
    Timeout(Duration),
    /// The plugin needed more memory than its limit.
    #[error("plugin exceeded its memory limit: {0:#}")]
    OutOfMemory(anyhow::Error),
    /// Every instance slot of the gateway is in use: nothing is wrong with the plugin.
    #[error("no free plugin instance slot (gateway.max_plugin_instances)")]
    Overloaded,
    /// The plugin trapped (panic, unreachable, stack overflow, an unlinked import, …).
    #[error("plugin trapped: {0:#}")]
    Trap(anyhow::Error),
}

/// A live instance kept warm for reuse.
struct Warm<B> {
    store: Store<PluginState>,
    bindings: B,
}

enum Pre {
    Authorizer(authorizer::AuthorizerPluginPre<PluginState>, Mutex<Vec<Warm<authorizer::AuthorizerPlugin>>>),
    Transform(transform::TransformPluginPre<PluginState>, Mutex<Vec<Warm<transform::TransformPlugin>>>),
    Integration(integration::IntegrationPluginPre<PluginState>, Mutex<Vec<Warm<integration::IntegrationPlugin>>>),
}

/// A loaded plugin: compiled, linked, ready to instantiate.
pub struct Plugin {
    name: String,
    hash: String,
    limits: PluginLimits,
    ctx: Arc<PluginContext>,
    pre: Pre,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .field("kind", &self.kind())
            .field("hash", &self.hash)
            .finish()
    }
}

/// Runs one call on a warm or fresh instance, under the plugin's deadline.
macro_rules! call {
    ($self:ident, $request_id:expr, $timeout:expr, $pool:expr, $pre:expr, |$store:ident, $b:ident| $call:expr) => {{
        let limits = $self.limits;
        let timeout: Duration = $timeout;
        let warm = if limits.warm_instances > 0 { $pool.lock().unwrap_or_else(|p| p.into_inner()).pop() } else { None };
        let (mut $store, existing) = match warm {
            Some(w) => (w.store, Some(w.bindings)),
            None => ($self.new_store(), None),
        };
        // The deadline counts from this call: a reused store's last one passed long ago, and
        // the guest's first epoch check would otherwise yield to the executor at once, a
        // suspension and a rescheduling on every call (bench/PROFILE.md, session 14).
        $store.set_epoch_deadline(1);
        $store.data_mut().request_id = $request_id.to_string();
        $store.data_mut().limiter.denied = false;
        let run = async {
            let $b = match existing {
                Some(b) => b,
                None => $pre.instantiate_async(&mut $store).await?,
            };
            let out = $call;
            Ok::<_, wasmtime::Error>(($b, out?))
        };
        match tokio::time::timeout(timeout, run).await {
            Err(_) => Err(PluginFailure::Timeout(timeout)),
            Ok(Err(trap)) if trap.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() => {
                Err(PluginFailure::Overloaded)
            }
            Ok(Err(trap)) => {
                let trap = anyhow::Error::from(trap);
                if $store.data().limiter.denied {
                    Err(PluginFailure::OutOfMemory(trap))
                } else {
                    Err(PluginFailure::Trap(trap))
                }
            }
            Ok(Ok((bindings, result))) => {
                // Only an instance that finished its call cleanly is reused; one that trapped
                // or timed out is dropped with its store.
                if limits.warm_instances > 0 {
                    let mut pool = $pool.lock().unwrap_or_else(|p| p.into_inner());
                    if pool.len() < limits.warm_instances {
                        pool.push(Warm { store: $store, bindings });
                    }
                }
                result.map_err(plugin_error)
            }
        }
    }};
}

fn plugin_error(e: types::PluginError) -> PluginFailure {
    match e {
        types::PluginError::Internal(m) => PluginFailure::Returned(m),
        types::PluginError::Configuration(m) => PluginFailure::Returned(format!("configuration: {m}")),
    }
}

impl Plugin {
    pub(super) fn new(
        def: &PluginDef,
        hash: String,
        ctx: Arc<PluginContext>,
        pre: InstancePre<PluginState>,
    ) -> Result<Arc<Plugin>, String> {
        let pre = if let Ok(p) = authorizer::AuthorizerPluginPre::new(pre.clone()) {
            Pre::Authorizer(p, Mutex::default())
        } else if let Ok(p) = transform::TransformPluginPre::new(pre.clone()) {
            Pre::Transform(p, Mutex::default())
        } else if let Ok(p) = integration::IntegrationPluginPre::new(pre) {
            Pre::Integration(p, Mutex::default())
        } else {
            return Err("the component exports none of wasmgate:plugin/authorizer, transform or integration \
                        (was it built against the wasmgate:plugin@0.3.0 WIT?)"
                .into());
        };
        Ok(Arc::new(Plugin { name: def.name.clone(), hash, limits: def.limits, ctx, pre }))
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 of the component bytes.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Which interface it exports.
    pub fn kind(&self) -> PluginKind {
        match self.pre {
            Pre::Authorizer(..) => PluginKind::Authorizer,
            Pre::Transform(..) => PluginKind::Transform,
            Pre::Integration(..) => PluginKind::Integration,
        }
    }

    /// Its limits.
    pub fn limits(&self) -> PluginLimits {
        self.limits
    }

    /// How many times its calls were suspended at an epoch tick (every
    /// [`super::EPOCH_TICK`] a guest still running yields to the executor). A guest that
    /// finishes within a tick yields only when a tick happens to fall in its call, so this
    /// stays a small share of its calls unless its calls are long.
    pub fn epoch_yields(&self) -> u64 {
        self.ctx.yields.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn new_store(&self) -> Store<PluginState> {
        let pre_engine = match &self.pre {
            Pre::Authorizer(p, _) => p.engine(),
            Pre::Transform(p, _) => p.engine(),
            Pre::Integration(p, _) => p.engine(),
        };
        let mut store = Store::new(pre_engine, PluginState::new(self.ctx.clone(), self.limits.memory_bytes));
        store.limiter(|s| &mut s.limiter);
        // Yield to the executor at every epoch tick: a guest that spins cannot hold a worker
        // thread, and the call's `tokio::time::timeout` gets the chance to end it.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|store| {
            store.data().ctx.yields.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    /// Instantiates the plugin once without calling it: proves that it links and that its
    /// start-up code runs within its limits.
    pub async fn probe(&self) -> Result<(), String> {
        let mut store = self.new_store();
        let instantiated = async {
            match &self.pre {
                Pre::Authorizer(p, _) => p.instantiate_async(&mut store).await.map(drop),
                Pre::Transform(p, _) => p.instantiate_async(&mut store).await.map(drop),
                Pre::Integration(p, _) => p.instantiate_async(&mut store).await.map(drop),
            }
        };
        match tokio::time::timeout(self.limits.timeout, instantiated).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("cannot instantiate: {:#}", anyhow::Error::from(e))),
            Err(_) => Err(format!("instantiation did not finish within {:?}", self.limits.timeout)),
        }
    }

    /// Calls an authorizer.
    pub async fn authorize(&self, request_id: &str, req: AuthorizerCall) -> Result<types::Decision, PluginFailure> {
        let Pre::Authorizer(pre, pool) = &self.pre else {
            return Err(PluginFailure::Returned(format!(
                "`{}` is a {} plugin, not an authorizer",
                self.name,
                self.kind()
            )));
        };
        // The request is lent to the guest as a borrowed handle for this call only, and taken
        // back from the store's table when the call returns (a store whose call failed is
        // dropped with its table).
        call!(self, request_id, self.limits.timeout, pool, pre, |store, b| {
            let handle = store.data_mut().table.push(req)?;
            let rep = handle.rep();
            let decision = b.wasmgate_plugin_authorizer().call_authorize(&mut store, Resource::new_borrow(rep)).await;
            store.data_mut().table.delete(handle)?;
            decision
        })
    }

    /// Calls a transform.
    pub async fn transform(
        &self,
        request_id: &str,
        input: &types::TransformInput,
    ) -> Result<types::TransformOutput, PluginFailure> {
        let Pre::Transform(pre, pool) = &self.pre else {
            return Err(PluginFailure::Returned(format!(
                "`{}` is a {} plugin, not a transform",
                self.name,
                self.kind()
            )));
        };
        call!(self, request_id, self.limits.timeout, pool, pre, |store, b| b
            .wasmgate_plugin_transform()
            .call_transform(&mut store, input)
            .await)
    }

    /// Calls an integration; the deadline is the smaller of `deadline` (the integration's
    /// `timeoutInMillis`) and the plugin's own.
    pub async fn invoke(
        &self,
        request_id: &str,
        req: &types::IntegrationRequest,
        deadline: Duration,
    ) -> Result<types::IntegrationResponse, PluginFailure> {
        let Pre::Integration(pre, pool) = &self.pre else {
            return Err(PluginFailure::Returned(format!(
                "`{}` is a {} plugin, not an integration",
                self.name,
                self.kind()
            )));
        };
        call!(self, request_id, deadline.min(self.limits.timeout), pool, pre, |store, b| b
            .wasmgate_plugin_integration()
            .call_invoke(&mut store, req)
            .await)
    }
}
