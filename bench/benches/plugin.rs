//! Plugin micro-benchmarks: an authorizer call on a fresh instance and on a reused (warm)
//! instance, and loading a component by compiling it vs. from the compiled-component cache.
//!
//! `cargo bench -p wasmgate-bench --bench plugin`
//!
//! With the gateway's allocator (mimalloc), as the `wasmgate` binary runs.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use wasmgate::runtime::{Runtime, RuntimeConfig};
use wasmgate::state::{StateLimits, StateStore};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = rt.enter();
    let dir = tempfile::tempdir().unwrap();
    let state = StateStore::open(&dir.path().join("state"), StateLimits::default()).unwrap();
    let cache = dir.path().join("compiled");
    let runtime = Arc::new(
        Runtime::new(
            &RuntimeConfig { cache_dir: Some(cache), max_instances: 100 },
            wasmgate::http_client::new_client(),
        )
        .unwrap(),
    );
    let req = wasmgate_bench::authorizer_request();

    let fresh = runtime.load(&wasmgate_bench::authorizer_plugin(0), &state).unwrap();
    let warm = runtime.load(&wasmgate_bench::authorizer_plugin(1), &state).unwrap();
    let mut g = c.benchmark_group("authorizer call");
    // The call's input is built outside the measurement (the pipeline builds it before the
    // call); the call lends it to the guest and drops it.
    g.bench_function("fresh instance", |b| {
        b.iter_batched(|| req.clone(), |r| rt.block_on(fresh.authorize("bench", r)).unwrap(), BatchSize::SmallInput);
    });
    g.bench_function("reused instance", |b| {
        b.iter_batched(|| req.clone(), |r| rt.block_on(warm.authorize("bench", r)).unwrap(), BatchSize::SmallInput);
    });
    g.finish();

    let uncached =
        Runtime::new(&RuntimeConfig { cache_dir: None, max_instances: 100 }, wasmgate::http_client::new_client())
            .unwrap();
    let mut g = c.benchmark_group("component load");
    g.sample_size(10);
    // Each load forgets the runtime's in-memory components first, so it compiles (or reads
    // the on-disk cache) every time.
    g.bench_function("compile", |b| {
        b.iter(|| {
            uncached.retain_components(std::iter::empty());
            uncached.load(&wasmgate_bench::authorizer_plugin(0), &state).unwrap()
        })
    });
    g.bench_function("from cache", |b| {
        b.iter(|| {
            runtime.retain_components(std::iter::empty());
            runtime.load(&wasmgate_bench::authorizer_plugin(0), &state).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
