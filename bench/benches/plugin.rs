//! Plugin micro-benchmarks: an authorizer call on a fresh instance and on a reused (warm)
//! instance, and loading a component by compiling it vs. from the compiled-component cache.
//!
//! `cargo bench -p wasmgate-bench --bench plugin`

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wasmgate::manifest::{PluginDef, PluginLimits, PluginSource};
use wasmgate::runtime::bindings::types;
use wasmgate::runtime::{Runtime, RuntimeConfig};
use wasmgate::state::{StateLimits, StateStore};

fn def(warm: usize) -> PluginDef {
    PluginDef {
        name: format!("auth-{warm}"),
        source: PluginSource::File(wasmgate::guest_path("quickstart-authorizer").expect("built guest").into()),
        config: Vec::new(),
        allowed_outbound_hosts: Vec::new(),
        limits: PluginLimits {
            memory_bytes: 64 << 20,
            timeout: Duration::from_secs(1),
            warm_instances: warm,
            state_bytes: 64 << 20,
        },
    }
}

fn request() -> types::AuthorizerRequest {
    types::AuthorizerRequest {
        kind: types::AuthorizerKind::Token,
        authorization_token: Some("allow".into()),
        method_arn: "arn:aws:execute-api:us-east-1:123456789012:bench/prod/GET/secret".into(),
        resource: "/secret".into(),
        path: "/secret".into(),
        http_method: "GET".into(),
        headers: vec![("authorization".into(), "allow".into()), ("host".into(), "bench".into())],
        query: Vec::new(),
        path_parameters: Vec::new(),
        context: types::RequestContext {
            request_id: "00000000-0000-0000-0000-000000000000".into(),
            api_id: "bench".into(),
            stage: "prod".into(),
            resource_id: "abc123".into(),
            resource_path: "/secret".into(),
            http_method: "GET".into(),
            path: "/prod/secret".into(),
            protocol: "HTTP/1.1".into(),
            source_ip: "127.0.0.1".into(),
            user_agent: "bench".into(),
            domain_name: "bench".into(),
            request_time_epoch: 0,
            stage_variables: Vec::new(),
            principal_id: None,
            authorizer_context: Vec::new(),
            account_id: "123456789012".into(),
            extra: Vec::new(),
        },
    }
}

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
    let req = request();

    let fresh = runtime.load(&def(0), &state).unwrap();
    let warm = runtime.load(&def(1), &state).unwrap();
    let mut g = c.benchmark_group("authorizer call");
    g.bench_function("fresh instance", |b| {
        b.iter(|| rt.block_on(fresh.authorize("bench", &req)).unwrap());
    });
    g.bench_function("reused instance", |b| {
        b.iter(|| rt.block_on(warm.authorize("bench", &req)).unwrap());
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
            uncached.load(&def(0), &state).unwrap()
        })
    });
    g.bench_function("from cache", |b| {
        b.iter(|| {
            runtime.retain_components(std::iter::empty());
            runtime.load(&def(0), &state).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
