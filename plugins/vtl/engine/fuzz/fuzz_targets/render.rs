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
    let inputs = |body: &str| Inputs {
        body: body.into(),
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
    // Read lazily (a plain payload: see the engine's `doc` module).
    let rendered = template.render(&inputs(r#"{"a":[1,2.5,{"b":"c","a":[]}],"s":"x y","n":null,"t":true}"#), &limits);
    // The time limit is checked every 1024 steps: allow generous slack, but never a hang.
    assert!(started.elapsed() < Duration::from_secs(5), "rendering took {:?}", started.elapsed());
    if let Ok(r) = &rendered {
        assert!(r.output.len() <= limits.max_output_bytes);
    }
    // The same payload with a key spelled with an escape, which the lazy reader leaves to
    // serde_json: read into ordinary maps and lists, it must render the same (unless the
    // template shows the payload's text, or a rendering ran into its time limit).
    if src.contains("ody") || src.contains("evaluate") {
        return;
    }
    let started = Instant::now();
    let eager = template.render(&inputs(r#"{"\u0061":[1,2.5,{"b":"c","a":[]}],"s":"x y","n":null,"t":true}"#), &limits);
    let timed_out = |r: &Result<wasmgate_vtl::Rendered, wasmgate_vtl::Error>| {
        r.as_ref().is_err_and(|e| matches!(e, wasmgate_vtl::Error::Limit(_)))
    };
    assert!(started.elapsed() < Duration::from_secs(5), "rendering took {:?}", started.elapsed());
    if timed_out(&rendered) || timed_out(&eager) {
        return;
    }
    match (&rendered, &eager) {
        (Ok(a), Ok(b)) => assert_eq!(a.output, b.output, "lazy and eager readings differ"),
        (a, b) => assert_eq!(a.is_ok(), b.is_ok(), "one reading fails: {a:?} {b:?}"),
    }
});
