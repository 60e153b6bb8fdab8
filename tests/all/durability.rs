//! Plugin state survives `kill -9`: every write a plugin was told succeeded is there after a
//! restart, and the store always opens again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use wasmgate_tests::{GatewayProcess, client, wasmgate_bin};

const ITERATIONS: usize = 50;

/// A pseudo-random number in `0..n` (the clock's nanoseconds; no seed to manage).
fn roll(n: u32) -> u32 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos() % n
}

async fn call(c: &reqwest::Client, gw: &GatewayProcess, query: &str) -> Option<serde_json::Value> {
    let r = c.get(gw.url(&format!("/prod/w?{query}"))).send().await.ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("gateway.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"version = 1
[plugins.echo]
path = "{}"
[apis.d.stages.prod]
[apis.d.resources."/w".resourceMethods.GET.methodIntegration]
type = "PLUGIN"
plugin = "echo"
"#,
            wasmgate::guest_path("fixture-echo").unwrap()
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let bin = wasmgate_bin!();
    let c = client();
    // Acknowledged in the previous run: keys set, and the highest counter value seen.
    let mut acknowledged: Vec<String> = Vec::new();
    let mut highest_count: i64 = 0;
    let mut verified_keys = 0usize;
    let mut killed_starting = 0usize;

    for round in 0..=ITERATIONS {
        // Every fifth round, first kill a gateway while it is still starting (opening the
        // store, compiling plugins): sled has been known to leave stores that never open again.
        if round % 5 == 4 {
            let mut starting = std::process::Command::new(&bin)
                .args(["serve", "--no-watch", "--listen", "127.0.0.1:0", "--state-dir"])
                .arg(&state)
                .arg(&manifest)
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(u64::from(roll(60))));
            let _ = starting.kill();
            let _ = starting.wait();
            killed_starting += 1;
        }
        // Starting proves the store opens after the previous kill.
        let mut gw = GatewayProcess::spawn_with_state(&bin, &manifest, &state, &["--no-watch"]).await;

        // Everything the previous run acknowledged is there.
        for key in acknowledged.drain(..) {
            let v = call(&c, &gw, &format!("get={key}")).await.expect("verification request failed");
            assert_eq!(v["stored"], true, "round {round}: acknowledged key {key} lost");
            assert!(v["calls"].as_i64().unwrap() > highest_count, "round {round}: counter went back: {v}");
            highest_count = v["calls"].as_i64().unwrap();
            verified_keys += 1;
        }
        if round == ITERATIONS {
            break;
        }

        // Writes under load from four clients, then SIGKILL at a random moment.
        let acked = Arc::new(Mutex::new(Vec::<(String, i64)>::new()));
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let (c, acked, url) = (c.clone(), acked.clone(), gw.url("/prod/w"));
                tokio::spawn(async move {
                    for n in 0.. {
                        let key = format!("r{round}-t{t}-{n}");
                        let Ok(r) = c.get(format!("{url}?set={key}")).send().await else { break };
                        if r.status() != 200 {
                            break;
                        }
                        let Ok(v) = r.json::<serde_json::Value>().await else { break };
                        acked.lock().unwrap().push((key, v["calls"].as_i64().unwrap()));
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20 + u64::from(roll(150)))).await;
        gw.kill9();
        for w in writers {
            w.await.unwrap();
        }
        let acked = std::mem::take(&mut *acked.lock().unwrap());
        highest_count = acked.iter().map(|(_, n)| *n).max().unwrap_or(highest_count).max(highest_count);
        acknowledged = acked.into_iter().map(|(k, _)| k).collect();
    }
    eprintln!(
        "{ITERATIONS} kills under load, {killed_starting} kills while starting, {verified_keys} acknowledged writes verified"
    );
    assert!(verified_keys >= ITERATIONS, "too few writes acknowledged to mean anything: {verified_keys}");
}
