//! wasmgate's benchmark harness. `bench/run.sh` drives the load runs against nginx, HAProxy,
//! Envoy and wasmgate with `bench-backend` behind them; `benches/plugin.rs` measures plugin
//! calls and component loading with criterion. See `bench/README.md`.
