//! Renders `bench/vtl/templates` with wasmgate-vtl and prints `template<TAB>µs per render`, for
//! `bench/vtl/run.sh`. The engine runs natively with the allocator the `wasmgate` binary links
//! (mimalloc), as `wasmgate render-template` runs it; in the gateway the `vtl` plugin runs the
//! same engine inside its WebAssembly sandbox, with the guest's own allocator.
//!
//! `vtl-bench <templates dir> <input.json> <context.json> <out dir> <seconds per template>`
//!
//! With `VTL_BENCH_ITERS=n`, each template renders exactly `n` times instead (for counting
//! instructions with callgrind, which a busy machine does not disturb).

use std::time::{Duration, Instant};

use wasmgate_vtl::{Inputs, Limits, Template};

/// The allocator the `wasmgate` binary links, as the criterion benchmarks use it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn pairs(v: &serde_json::Value) -> Vec<(String, String)> {
    v.as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, input, context, out, seconds] = &args[..] else {
        anyhow::bail!("usage: vtl-bench <templates dir> <input.json> <context.json> <out dir> <seconds>");
    };
    let ctx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(context)?)?;
    let inputs = Inputs {
        body: std::fs::read_to_string(input)?,
        path: pairs(&ctx["params"]["path"]),
        querystring: pairs(&ctx["params"]["querystring"]),
        header: pairs(&ctx["params"]["header"]),
        context: ctx["context"].as_object().cloned().unwrap_or_default(),
        stage_variables: pairs(&ctx["stageVariables"]),
    };
    let limits = Limits::default();
    let budget = Duration::from_secs_f64(seconds.parse()?);
    let mut names: Vec<_> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let name = name.to_string_lossy().into_owned();
        let src = std::fs::read_to_string(std::path::Path::new(dir).join(&name))?;
        let template = Template::parse(&src, &limits)?;
        let output = template.render(&inputs, &limits)?.output;
        std::fs::write(std::path::Path::new(out).join(format!("wasmgate-{name}.out")), output)?;
        let iters: Option<u64> = std::env::var("VTL_BENCH_ITERS").ok().and_then(|n| n.parse().ok());
        let (mut n, start) = (0u64, Instant::now());
        while iters.map_or(start.elapsed() < budget, |max| n < max) {
            std::hint::black_box(template.render(&inputs, &limits)?);
            n += 1;
        }
        println!("{name}\t{:.2}", start.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    Ok(())
}
