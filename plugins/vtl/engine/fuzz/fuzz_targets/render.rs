//! Parses and renders arbitrary templates: no panic, no hang, limits respected.
//!
//! `cd plugins/vtl/engine/fuzz && cargo +nightly fuzz run render -- -max_total_time=600`
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use wasmgate_vtl::{Inputs, Limits, Template};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let limits = Limits {
        max_template_bytes: 64 * 1024,
        max_foreach_iterations: 1000,
        max_output_bytes: 1 << 20,
        max_render_time: Duration::from_millis(200),
    };
    let Ok(template) = Template::parse(src, &limits) else { return };
    let inputs = Inputs {
        body: r#"{"a":[1,2.5,{"b":"c"}],"s":"x y","n":null,"t":true}"#.into(),
        path: vec![("id".into(), "42".into())],
        querystring: vec![("q".into(), "1".into())],
        header: vec![("Accept".into(), "*/*".into())],
        context: serde_json::json!({"requestId": "r", "authorizer": {"principalId": "p"}})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        stage_variables: vec![("v".into(), "1".into())],
    };
    let started = Instant::now();
    let rendered = template.render(&inputs, &limits);
    // The time limit is checked every 1024 steps: allow generous slack, but never a hang.
    assert!(started.elapsed() < Duration::from_secs(5), "rendering took {:?}", started.elapsed());
    if let Ok(r) = rendered {
        assert!(r.output.len() <= limits.max_output_bytes);
    }
});
