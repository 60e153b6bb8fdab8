//! How long Rust's fastest JSON parsers take over `bench/vtl/input.json`, the payload that
//! `passthrough.vtl` writes out compact (`$input.json('$')`), for comparison with
//! wasmgate-vtl's own writer (`bench/PROFILE.md`, session 14). Each mode parses the payload
//! `n` times; `sonic-write` and `serde-write` also write it back compact, as the template does.
//!
//! `json-peers <simd-tape | sonic | sonic-write | serde-ignore | serde-write> <n>` prints µs per
//! parse; `VTL_INPUT` names another payload. Under callgrind, run it with `n` and with 0 and
//! divide the difference by `n` for instructions per parse.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let path = std::env::var("VTL_INPUT").unwrap_or_else(|_| "../vtl/input.json".into());
    let text = std::fs::read_to_string(&path).expect("reading the payload");
    let mut args = std::env::args().skip(1);
    let (Some(mode), Some(n)) = (args.next(), args.next().and_then(|n| n.parse::<u32>().ok())) else {
        eprintln!("usage: json-peers <simd-tape|sonic|sonic-write|serde-ignore|serde-write> <n>");
        std::process::exit(2);
    };
    let start = std::time::Instant::now();
    for _ in 0..n {
        match mode.as_str() {
            // simd-json parses in place, so each parse starts from a copy of the text.
            "simd-tape" => {
                let mut bytes = text.clone().into_bytes();
                std::hint::black_box(simd_json::to_tape(&mut bytes).expect("valid JSON").0.len());
            }
            "sonic" => {
                std::hint::black_box(sonic_rs::from_str::<sonic_rs::Value>(&text).expect("valid JSON"));
            }
            "sonic-write" => {
                let v: sonic_rs::Value = sonic_rs::from_str(&text).expect("valid JSON");
                std::hint::black_box(sonic_rs::to_string(&v).expect("written"));
            }
            "serde-ignore" => {
                std::hint::black_box(serde_json::from_str::<serde::de::IgnoredAny>(&text).expect("valid JSON"));
            }
            "serde-write" => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
                std::hint::black_box(serde_json::to_string(&v).expect("written"));
            }
            other => panic!("unknown mode {other}"),
        }
    }
    println!("{mode}\t{:.2}", start.elapsed().as_secs_f64() * 1e6 / f64::from(n.max(1)));
}
