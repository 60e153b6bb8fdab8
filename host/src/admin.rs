//! The admin API, on a listener of its own (`[admin]`): `GET /admin/status`,
//! `POST /admin/reload`, `GET /admin/healthz`. Documented in `docs/operations.md`.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::gateway::Gateway;
use crate::http_client::{GatewayBody, full_body};
use crate::manifest::{AdminSettings, IntegrationKind, PluginSource};

/// A running admin listener.
pub struct AdminServer {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds the admin listener. `manifest` is what `POST /admin/reload` reads.
pub async fn start(gateway: Arc<Gateway>, settings: &AdminSettings, manifest: PathBuf) -> anyhow::Result<AdminServer> {
    let listener = TcpListener::bind(settings.address).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "admin API listening");
    let token = settings.token.clone().map(Arc::new);
    let manifest = Arc::new(manifest);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (gateway, token, manifest) = (gateway.clone(), token.clone(), manifest.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let (gateway, token, manifest) = (gateway.clone(), token.clone(), manifest.clone());
                    async move {
                        Ok::<_, Infallible>(
                            handle(req, &gateway, token.as_deref().map(String::as_str), &manifest).await,
                        )
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(AdminServer { addr, task })
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<GatewayBody> {
    let mut resp = Response::new(full_body(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    resp
}

/// Compares in time independent of where the strings differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

async fn handle(
    req: Request<Incoming>,
    gateway: &Arc<Gateway>,
    token: Option<&str>,
    manifest: &Arc<PathBuf>,
) -> Response<GatewayBody> {
    if let Some(token) = token {
        let given = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            return json(StatusCode::UNAUTHORIZED, serde_json::json!({"message": "Unauthorized"}));
        }
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/admin/healthz") => json(StatusCode::OK, serde_json::json!({"status": "ok"})),
        (&Method::GET, "/admin/status") => json(StatusCode::OK, status(gateway, manifest)),
        (&Method::POST, "/admin/reload") => {
            let (gateway, path) = (gateway.clone(), manifest.clone());
            match tokio::task::spawn_blocking(move || gateway.reload_from(&path, "admin")).await {
                Ok(Ok(version)) => json(StatusCode::OK, serde_json::json!({"ok": true, "version": version})),
                Ok(Err(error)) => json(StatusCode::BAD_REQUEST, serde_json::json!({"ok": false, "error": error})),
                Err(e) => {
                    json(StatusCode::INTERNAL_SERVER_ERROR, serde_json::json!({"ok": false, "error": e.to_string()}))
                }
            }
        }
        (_, "/admin/healthz" | "/admin/status" | "/admin/reload") => {
            json(StatusCode::METHOD_NOT_ALLOWED, serde_json::json!({"message": "Method Not Allowed"}))
        }
        _ => json(StatusCode::NOT_FOUND, serde_json::json!({"message": "Not Found"})),
    }
}

/// The `GET /admin/status` document.
pub fn status(gateway: &Gateway, manifest: &std::path::Path) -> serde_json::Value {
    let snap = gateway.snapshot();
    let apis: Vec<_> = snap
        .apis
        .iter()
        .map(|a| {
            let routes: Vec<String> = a
                .def
                .resources
                .iter()
                .flat_map(|r| {
                    r.methods.iter().map(move |(verb, m)| {
                        let kind = match &m.integration.kind {
                            IntegrationKind::Mock => "MOCK".to_string(),
                            IntegrationKind::HttpProxy { .. } => "HTTP_PROXY".to_string(),
                            IntegrationKind::Http { .. } => "HTTP".to_string(),
                            IntegrationKind::Plugin { plugin } => format!("PLUGIN:{plugin}"),
                        };
                        format!("{verb} {} ({kind})", r.path)
                    })
                })
                .collect();
            serde_json::json!({
                "name": a.def.name,
                "id": a.def.id,
                "stages": a.def.stages.keys().collect::<Vec<_>>(),
                "authorizers": a.def.authorizers.keys().collect::<Vec<_>>(),
                "routes": routes,
            })
        })
        .collect();
    let plugins: Vec<_> = snap
        .plugins
        .values()
        // The built-in template engine is internal: only the manifest's plugins are listed.
        .filter_map(|p| Some((p, snap.config.plugins.get(p.name())?)))
        .map(|(p, def)| {
            let source = match &def.source {
                PluginSource::File(path) => serde_json::json!({"path": path.display().to_string()}),
                PluginSource::Builtin(name) => serde_json::json!({"builtin": name}),
            };
            let limits = p.limits();
            serde_json::json!({
                "name": p.name(),
                "kind": p.kind().to_string(),
                "source": source,
                "sha256": p.hash(),
                "limits": {
                    "memoryBytes": limits.memory_bytes,
                    "timeoutMs": limits.timeout.as_millis() as u64,
                    "warmInstances": limits.warm_instances,
                },
                "epochYields": p.epoch_yields(),
            })
        })
        .collect();
    let last_reload = gateway.last_reload().map(|r| {
        serde_json::json!({
            "atEpochMs": epoch_ms(r.at),
            "trigger": r.trigger,
            "ok": r.error.is_none(),
            "error": r.error,
        })
    });
    serde_json::json!({
        "manifest": manifest.display().to_string(),
        "version": snap.version,
        "loadedAtEpochMs": epoch_ms(snap.loaded_at),
        "apis": apis,
        "plugins": plugins,
        "lastReload": last_reload,
    })
}
