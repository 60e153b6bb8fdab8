//! The `wasmgate` binary: the README's quick start, `check`, SIGTERM, and streaming of
//! large bodies with bounded memory.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use wasmgate_tests::{Backend, GatewayProcess, client, wasmgate_bin};

fn bin() -> std::path::PathBuf {
    wasmgate_bin!()
}

fn quickstart() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart/gateway.toml")
}

#[tokio::test]
async fn quickstart_behaves_as_the_readme_says() {
    let gw = GatewayProcess::spawn(&bin(), &quickstart(), &[]).await;
    let c = client();
    let r = c.get(gw.url("/prod/hello")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["message"], "hello from wasmgate");

    let secret = |auth: Option<&'static str>| {
        let mut req = c.get(gw.url("/prod/secret"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    assert_eq!(secret(Some("allow")).await.unwrap().status(), 200);
    assert_eq!(secret(Some("deny")).await.unwrap().status(), 403);
    assert_eq!(secret(Some("whatever")).await.unwrap().status(), 401);
    assert_eq!(secret(None).await.unwrap().status(), 401);

    let r = c.get(gw.url("/prod/elsewhere")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Missing Authentication Token"}"#);
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    // SIGTERM the moment it listens: handlers are installed before anything starts, so even
    // this is a graceful stop.
    let mut gw = GatewayProcess::spawn(&bin(), &quickstart(), &[]).await;
    gw.terminate();
    let status = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        loop {
            if let Some(s) = gw.child.try_wait().unwrap() {
                return Some(s);
            }
            if started.elapsed() > Duration::from_secs(20) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    assert!(status.expect("did not exit after SIGTERM").success());
}

#[test]
fn check_validates_and_reports() {
    let ok = Command::new(bin()).arg("check").arg(quickstart()).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok (1 apis, 1 plugins)"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("gateway.toml");
    std::fs::write(&bad, "version = 1\n[gateway]\nlisten = 1\n").unwrap();
    let out = Command::new(bin()).arg("check").arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("error: {}:3:1: unknown field `listen`", bad.display())), "{stderr}");
}

/// 50 MB up and 50 MB down through HTTP_PROXY, with the gateway's resident memory growing
/// by far less than the bodies: they are streamed, not buffered.
#[tokio::test]
async fn large_bodies_stream_both_ways_in_bounded_memory() {
    const SIZE: usize = 50 * 1024 * 1024;
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("gateway.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"version = 1
[gateway.limits]
max_body_bytes = 104857600
[apis.big.stages.prod]
[apis.big.resources."/{{proxy+}}".resourceMethods.ANY.methodIntegration]
type = "HTTP_PROXY"
uri = "http://{}/{{proxy}}"
requestParameters = {{ "integration.request.path.proxy" = "method.request.path.proxy" }}
"#,
            backend.addr
        ),
    )
    .unwrap();
    let gw = GatewayProcess::spawn(&bin(), &manifest, &[]).await;
    let c = client();
    // Warm up, then take the baseline.
    assert_eq!(c.get(gw.url("/prod/warm")).send().await.unwrap().status(), 200);
    let (_, baseline) = gw.memory_kib();

    let chunk = Bytes::from(vec![b'u'; 256 * 1024]);
    let upload =
        futures_util::stream::iter((0..SIZE / chunk.len()).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let r = c.post(gw.url("/prod/upload")).body(reqwest::Body::wrap_stream(upload)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.unwrap();
    assert_eq!(echo["bodyLength"], SIZE);

    let r = c.get(gw.url(&format!("/prod/download?download={SIZE}"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let mut received = 0usize;
    let mut stream = r.bytes_stream();
    while let Some(chunk) = stream.next().await {
        received += chunk.unwrap().len();
    }
    assert_eq!(received, SIZE);

    let (peak, _) = gw.memory_kib();
    let growth_mib = peak.saturating_sub(baseline) / 1024;
    assert!(growth_mib < 24, "resident memory grew by {growth_mib} MiB while moving 2 x 50 MiB");
}
