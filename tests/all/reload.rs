//! Hot swap: plugins and manifests replaced under load, with zero failed requests; broken
//! changes rejected and reported while the running snapshot keeps serving.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmgate_tests::{TestGateway, client, replace_file};

fn guest(name: &str) -> Vec<u8> {
    std::fs::read(wasmgate::guest_path(name).unwrap()).unwrap()
}

/// Two authorizer builds whose answers differ for `Authorization: allow`: the quickstart's
/// (principal `quickstart-user`) and the fixture's in mode `ok` (principal `fixture`).
const VERSION_A: (&str, &str) = ("quickstart-authorizer", "quickstart-user");
const VERSION_B: (&str, &str) = ("fixture-hostile", "fixture");

const MANIFEST: &str = r#"
version = 1
[plugins.auth]
path = "auth.wasm"
config = { mode = "ok" }
[plugins.echo]
path = "%{guest:fixture-echo}"
[apis.r.stages.prod]
[apis.r.authorizers.auth]
type = "TOKEN"
plugin = "auth"
authorizerResultTtlInSeconds = 0
[apis.r.resources."/secret".resourceMethods.GET]
authorizationType = "CUSTOM"
authorizerId = "auth"
methodIntegration = { type = "PLUGIN", plugin = "echo" }
[apis.r.resources."/stays".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = 'stays' }
[apis.r.resources."/goes".resourceMethods.GET.methodIntegration]
type = "MOCK"
requestTemplates = { "application/json" = '{"statusCode": 200}' }
integrationResponses."200".responseTemplates = { "application/json" = 'goes' }
"#;

/// Starts a gateway whose `auth` plugin is the file `auth.wasm` in a directory of its own
/// (kept alive by the returned guard).
async fn start() -> (TestGateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("auth.wasm"), guest(VERSION_A.0)).unwrap();
    let manifest = MANIFEST.replace("auth.wasm", &dir.path().join("auth.wasm").display().to_string());
    (TestGateway::start(&manifest).await, dir)
}

/// Background load: `workers` clients each calling `path` in a loop until stopped; counts
/// requests and failures (anything but 200), and remembers the last principal seen.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(url: String, workers: usize, auth: bool) -> Load {
        let (stop, ok, failed) =
            (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let tasks = (0..workers)
            .map(|_| {
                let (stop, ok, failed, url, c) = (stop.clone(), ok.clone(), failed.clone(), url.clone(), client());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let mut req = c.get(&url);
                        if auth {
                            req = req.header("authorization", "allow");
                        }
                        match req.send().await {
                            Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                            Ok(r) => {
                                eprintln!("failed request: {}", r.status());
                                failed.fetch_add(1, Ordering::Relaxed)
                            }
                            Err(e) => {
                                eprintln!("failed request: {e}");
                                failed.fetch_add(1, Ordering::Relaxed)
                            }
                        };
                    }
                })
            })
            .collect();
        Load { stop, ok, failed, tasks }
    }

    async fn finish(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        (self.ok.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed))
    }
}

async fn principal(c: &reqwest::Client, gw: &TestGateway) -> String {
    let r = c.get(gw.url("/prod/secret")).header("authorization", "allow").send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json::<serde_json::Value>().await.unwrap()["principalId"].as_str().unwrap().to_string()
}

/// Waits until the gateway answers with `want`; returns how long that took.
async fn until_principal(c: &reqwest::Client, gw: &TestGateway, want: &str) -> Duration {
    let started = Instant::now();
    loop {
        if principal(c, gw).await == want {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never switched to {want}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_swap_under_load_without_failed_requests() {
    let (gw, _plugins) = start().await;
    let _watcher = gw.watch();
    let admin = gw.admin(None).await;
    let c = client();
    let plugin = gw.gateway.snapshot().config.plugins["auth"].clone();
    let wasmgate::manifest::PluginSource::File(path) = plugin.source else { panic!("file plugin") };
    assert_eq!(principal(&c, &gw).await, VERSION_A.1);

    let load = Load::start(gw.url("/prod/secret"), 4, true);
    let (a, b) = (guest(VERSION_A.0), guest(VERSION_B.0));
    // How fast a swap lands is the benchmark's business (a cold compile on a busy machine
    // can take seconds); here every swap must land (`until_principal` gives up after 10 s).
    for i in 0..20 {
        let (bytes, want) = if i % 2 == 0 { (&b, VERSION_B.1) } else { (&a, VERSION_A.1) };
        replace_file(&path, bytes);
        let took = until_principal(&c, &gw, want).await;
        eprintln!("swap {i} landed in {took:?}");
    }

    // A truncated file is rejected: the running version keeps answering, and the admin API
    // says why.
    let before = principal(&c, &gw).await;
    replace_file(&path, &a[..a.len() / 3]);
    let status_url = format!("http://{}/admin/status", admin.addr);
    let started = Instant::now();
    let status = loop {
        let s: serde_json::Value = c.get(&status_url).send().await.unwrap().json().await.unwrap();
        if s["lastReload"]["ok"] == false {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the truncated file was never reported: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let error = status["lastReload"]["error"].as_str().unwrap();
    assert!(error.starts_with("plugin `auth`: not a valid component"), "{error}");
    assert_eq!(principal(&c, &gw).await, before);

    let (ok, failed) = load.finish().await;
    assert_eq!(failed, 0, "{failed} of {} requests failed during the swaps", ok + failed);
    assert!(ok > 100, "too little load to mean anything: {ok}");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_edits_add_and_remove_routes_under_load() {
    let (gw, _plugins) = start().await;
    let _watcher = gw.watch();
    let c = client();
    assert_eq!(c.get(gw.url("/prod/goes")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(gw.url("/prod/new")).send().await.unwrap().status(), 403);

    let load = Load::start(gw.url("/prod/stays"), 2, false);
    let auth_load = Load::start(gw.url("/prod/secret"), 2, true);
    let version = gw.gateway.snapshot().version;
    let path = gw.manifest_path();
    // Rename a route, and add a plugin with a route of its own.
    let edited = std::fs::read_to_string(&path).unwrap().replace("\"/goes\"", "\"/new\"")
        + &format!(
            "\n[plugins.added]\npath = \"{}\"\n[apis.r.resources.\"/added\".resourceMethods.GET.methodIntegration]\ntype = \"PLUGIN\"\nplugin = \"added\"\n",
            wasmgate::guest_path("fixture-echo").unwrap()
        );
    replace_file(&path, edited.as_bytes());
    let started = Instant::now();
    while gw.gateway.snapshot().version == version {
        assert!(started.elapsed() < Duration::from_secs(10), "the edit was never picked up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(c.get(gw.url("/prod/goes")).send().await.unwrap().status(), 403);
    let r = c.get(gw.url("/prod/new")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "goes");
    assert_eq!(c.get(gw.url("/prod/added")).send().await.unwrap().status(), 200);

    // A manifest that does not parse is rejected; the routes stay.
    replace_file(&path, b"version = 1\n[apis.r\n");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(gw.gateway.last_reload().unwrap().error.unwrap().contains("gateway.toml:2"));
    assert_eq!(c.get(gw.url("/prod/new")).send().await.unwrap().status(), 200);

    for (name, load) in [("stays", load), ("secret", auth_load)] {
        let (ok, failed) = load.finish().await;
        assert_eq!(failed, 0, "{failed} of {} requests to /{name} failed", ok + failed);
        assert!(ok > 10);
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn admin_api_reports_reloads_and_guards_with_a_token() {
    let (gw, _plugins) = start().await;
    let admin = gw.admin(Some("0123456789abcdef-token")).await;
    let c = client();
    let base = format!("http://{}", admin.addr);
    let r = c.get(format!("{base}/admin/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let auth = ("authorization", "Bearer 0123456789abcdef-token");
    let r = c.get(format!("{base}/admin/healthz")).header(auth.0, auth.1).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["status"], "ok");

    let s: serde_json::Value =
        c.get(format!("{base}/admin/status")).header(auth.0, auth.1).send().await.unwrap().json().await.unwrap();
    assert_eq!(s["version"], 1);
    assert_eq!(s["apis"][0]["name"], "r");
    assert_eq!(s["apis"][0]["stages"], serde_json::json!(["prod"]));
    let plugins = s["plugins"].as_array().unwrap();
    let auth_plugin = plugins.iter().find(|p| p["name"] == "auth").unwrap();
    assert_eq!(auth_plugin["kind"], "authorizer");
    assert_eq!(auth_plugin["sha256"].as_str().unwrap().len(), 64);
    assert!(s["lastReload"].is_null());

    let r = c.post(format!("{base}/admin/reload")).header(auth.0, auth.1).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["version"], 2);
    // A plugin that needs a grant it was not given: rejected.
    let with_fetch = std::fs::read_to_string(gw.manifest_path()).unwrap()
        + &format!("\n[plugins.fetch]\npath = \"{}\"\n", wasmgate::guest_path("fixture-fetch").unwrap());
    std::fs::write(gw.manifest_path(), with_fetch).unwrap();
    let r = c.post(format!("{base}/admin/reload")).header(auth.0, auth.1).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("has no allowed_outbound_hosts"), "{body}");
    // A broken manifest: 400 with the error, and the status shows it.
    std::fs::write(gw.manifest_path(), "version = 1\nnonsense = true\n").unwrap();
    let r = c.post(format!("{base}/admin/reload")).header(auth.0, auth.1).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("unknown field `nonsense`"), "{body}");
    let s: serde_json::Value =
        c.get(format!("{base}/admin/status")).header(auth.0, auth.1).send().await.unwrap().json().await.unwrap();
    assert_eq!(s["version"], 2);
    assert_eq!(s["lastReload"]["ok"], false);
    assert_eq!(s["lastReload"]["trigger"], "admin");
    gw.shutdown().await;
}

/// The same component with a custom section appended: a new version (another hash) that
/// behaves the same.
fn new_version(bytes: &[u8], tag: &str) -> Vec<u8> {
    let name = b"wasmgate-test-version";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    let mut out = bytes.to_vec();
    out.push(0); // custom section
    out.push(payload.len() as u8);
    out.extend_from_slice(&payload);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_plugin_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("echo.wasm");
    std::fs::write(&file, guest("fixture-echo")).unwrap();
    let gw = TestGateway::start(&format!(
        r#"version = 1
[plugins.counter]
path = "{}"
[apis.u.stages.prod]
[apis.u.resources."/n".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "counter"
"#,
        file.display()
    ))
    .await;
    let _watcher = gw.watch();
    let c = client();
    let calls = || async {
        c.get(gw.url("/prod/n")).send().await.unwrap().json::<serde_json::Value>().await.unwrap()["calls"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(calls().await, 1);
    assert_eq!(calls().await, 2);
    let old_hash = gw.gateway.snapshot().plugins["counter"].hash().to_string();
    replace_file(&file, &new_version(&guest("fixture-echo"), "v2"));
    let started = Instant::now();
    while gw.gateway.snapshot().plugins["counter"].hash() == old_hash {
        assert!(started.elapsed() < Duration::from_secs(10), "the new version was never loaded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The new version, same plugin name: the same state.
    assert_eq!(calls().await, 3);
    gw.shutdown().await;
}
