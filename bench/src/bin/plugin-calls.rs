//! Runs N authorizer calls of the quickstart authorizer, for counting instructions per call
//! under callgrind (the difference between two values of N is the per-call figure, free of
//! start-up costs; collecting inside `block_on` only leaves out background threads):
//!
//! ```text
//! valgrind --tool=callgrind --toggle-collect='tokio::runtime::runtime::Runtime::block_on*' \
//!     target/release/plugin-calls fresh 200
//! valgrind --tool=callgrind --toggle-collect='tokio::runtime::runtime::Runtime::block_on*' \
//!     target/release/plugin-calls fresh 1200
//! ```
//!
//! Modes: `fresh` (an instance per call, the default), `warm` (a reused instance). The
//! compiled component is cached in the system's temporary directory, so that runs after the
//! first do not compile.

use std::sync::Arc;

use wasmgate::runtime::{Runtime, RuntimeConfig};
use wasmgate::state::{StateLimits, StateStore};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "fresh".into());
    let n: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(1000);
    let warm = match mode.as_str() {
        "fresh" => 0,
        "warm" => 1,
        other => anyhow::bail!("unknown mode `{other}` (fresh or warm)"),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let _guard = rt.enter();
    let dir = std::env::temp_dir().join(format!("wasmgate-plugin-calls-{}", std::process::id()));
    let state = StateStore::open(&dir.join("state"), StateLimits::default())?;
    // The compiled component is cached across runs, so that two runs differ only in calls.
    let cache = std::env::temp_dir().join("wasmgate-plugin-calls-cache");
    let runtime = Arc::new(Runtime::new(
        &RuntimeConfig { cache_dir: Some(cache), max_instances: 4 },
        wasmgate::http_client::new_client(),
    )?);
    let plugin = runtime.load(&wasmgate_bench::authorizer_plugin(warm), &state)?;
    let req = wasmgate_bench::authorizer_request();
    for _ in 0..n {
        rt.block_on(plugin.authorize("bench", req.clone())).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    drop(plugin);
    drop(state);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
