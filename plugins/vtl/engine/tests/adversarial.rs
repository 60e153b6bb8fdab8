//! Templates written to make the engine slow or large, each at the size limit: the parser must
//! answer (a template or an error) in linear time, and a rendering must end at its time limit
//! or with a clear error, never run on or take all memory.
//!
//! Each shape below once took, or could take, far longer than its bound: the parser recorded
//! every reference's position by counting from the start of the template (288 KB of `$a ` took
//! 40 s in a release build), and a few method calls on large strings ran between two checks of
//! the time limit. The bounds are wide (the tests run in an unoptimised build on a shared,
//! noisy machine); what they catch is quadratic parsing and unchecked steps, which miss them by
//! orders of magnitude.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use wasmgate_vtl::{Error, Inputs, Limits, Mode, Template};

/// A template of `prefix`, then `unit` repeated up to the template size limit, then `suffix`.
fn at_limit(limits: &Limits, prefix: &str, unit: &str, suffix: &str) -> String {
    let room = limits.max_template_bytes - prefix.len() - suffix.len();
    format!("{prefix}{}{suffix}", unit.repeat(room / unit.len()))
}

/// Parsing each shape at the size limit: nested and unclosed constructs, long runs of one
/// character, long reference chains. Each parses in at most about 0.15 s in a release build.
#[test]
fn templates_at_the_size_limit_parse_in_linear_time() {
    let limits = Limits::default();
    let shapes: &[(&str, &str, &str, &str)] = &[
        ("many references", "", "$a ", ""),
        ("unclosed #{", "", "#{", ""),
        ("unclosed map literals", "#set($a = ", "{", ""),
        ("unclosed list literals", "#set($a = ", "[", ""),
        ("unclosed parentheses", "#if(", "(", ""),
        ("unclosed comments", "", "#*", ""),
        ("#define after #define", "", "#define($a)", ""),
        ("dollars", "", "$", ""),
        ("unclosed ${", "", "${", ""),
        ("a reference and dots", "$a", ".", ""),
        ("references in and out of strings", "#set($a = \"", "\"$a", ""),
        ("stray #else", "", "#else", ""),
        ("#elseif after #elseif", "#if(true)", "#elseif(true)", "#end"),
        ("backslashes before a reference", "", "\\", "$a"),
        ("nested #evaluate", "", "#evaluate(", ""),
        ("unclosed #foreach", "", "#foreach($i in [1..2])", ""),
        ("#if in #if's condition", "", "#if(", ""),
        ("hashes", "", "#", ""),
        ("unknown directives", "", "#a", ""),
        ("unclosed indexes", "", "$a[", ""),
        ("strings in strings", "#set($a = ", "\"#set($b = ", ""),
        ("macro calls in macro calls", "", "#m(", ""),
        ("unclosed method calls", "", "$a.b(", ""),
        ("single quotes", "#set($a = ", "'", ""),
        ("ranges of ranges", "#set($a = [", "1..", ""),
        ("a long reference chain", "$a", ".b", ""),
        ("#set and whitespace", "#set($a = 1)", " ", ""),
    ];
    for (name, prefix, unit, suffix) in shapes {
        let src = at_limit(&limits, prefix, unit, suffix);
        within(name, Duration::from_secs(20), move || {
            let limits = Limits { max_render_time: Duration::from_millis(200), ..Limits::default() };
            // An error is an answer too; when it parses, it renders in time.
            if let Ok(t) = Template::parse(&src, &limits) {
                let _ = t.render_with(HashMap::new(), &limits, Mode::Velocity);
            }
        });
    }
}

/// Runs `f` on a thread of its own and fails when it has not finished within `bound` (a
/// quadratic parse in an unoptimised build would take many minutes: it is not waited for).
fn within(name: &str, bound: Duration, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(bound) {
        Ok(()) => {}
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{name}: still running after {bound:?}"),
        // `f` panicked: its message is on the output.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!("{name}: failed after {:?}", started.elapsed()),
    }
}

/// A string of 2^20 copies of `c`, made by the template itself.
fn big(c: char) -> String {
    format!("#set($s = '{c}')#foreach($i in [1..20])#set($s = $s.concat($s))#end")
}

/// Rendering shapes that loop over large values or call expensive methods: each ends at the
/// time limit or with a clear error.
#[test]
fn expensive_renderings_end_at_their_limits() {
    let limit = Duration::from_millis(200);
    let loop2 = |body: &str| format!("#foreach($i in [1..1000])#foreach($j in [1..1000]){body}#end#end");
    let map1000 = "#set($m = {})#foreach($i in [1..1000])#set($x = $m.put(\"k$i\", $i))#end";
    let list1000 = "#set($l = [])#foreach($i in [1..1000])#set($x = $l.add($i))#end";
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let json1000 = "#set($s = '[0')#foreach($i in [1..999])#set($s = \"$s,$i\")#end#set($a = $util.parseJson(\"$s]\"))";
    let shapes: Vec<(&'static str, String)> = vec![
        ("comparing large lists", format!("#set($l = [1..9999])#set($k = [1..9999]){}", loop2("#if($l == $k)#end"))),
        ("comparing large strings", format!("{}#set($t = $s.concat('')){}", big('a'), loop2("#if($s == $t)#end"))),
        ("escaping a large string", format!("{}{}", big('"'), loop2("#set($x = $util.escapeJavaScript($s))"))),
        ("iterating a large map", format!("{map1000}#foreach($i in [1..1000])#foreach($v in $m)#end#end")),
        ("hashing a large string", format!("{}{}", big('a'), loop2("$s.hashCode()"))),
        ("searching a large string", format!("{}#foreach($i in [1..1000])$s.indexOf('b')#end", big('a'))),
        ("a large map's keys", format!("{map1000}{}", loop2("#set($k = $m.keySet())"))),
        ("searching a large list", format!("{list1000}{}", loop2("#if($l.contains('z'))#end"))),
        ("lowercasing a large string", format!("{}{}", big('A'), loop2("#set($x = $s.toLowerCase())"))),
        ("a large map as a string", format!("{map1000}{}", loop2("#set($x = $m.toString())"))),
        ("large ranges", loop2("#set($x = [1..9999])")),
        ("large sublists", format!("#set($l = [1..9000]){}", loop2("#set($x = $l.subList(0, 9000))"))),
        ("a regex too large to compile", "#set($s = 'aaaa')$s.replaceAll('(a{1000}){1000}', 'b')".into()),
        ("a nested regex too large to compile", "#set($s = 'aaaa')$s.matches('((((a{100}){100}){100}){100})')".into()),
        (
            "splitting a large string into characters",
            "#set($s = 'a')#foreach($i in [1..22])#set($s = $s.concat($s))#end$s.split('').size()".into(),
        ),
        ("parsing deeply nested JSON", format!("#set($j = $util.parseJson('{deep}'))$j")),
        // A JSON array read lazily (`$util.parseJson`), indexed and iterated.
        ("indexing a large JSON array", format!("{json1000}{}", loop2("#set($x = $a[$j])$a.size()"))),
        ("iterating a large JSON array", format!("{json1000}{}", loop2("#foreach($x in $a)#end"))),
    ];
    for (name, src) in shapes {
        within(name, limit + Duration::from_secs(3), move || {
            let limits = Limits { max_render_time: limit, ..Limits::default() };
            let t = Template::parse(&src, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
            // (`$util` and `$input` are bound: an API Gateway rendering.)
            match t.render(&Inputs::default(), &limits).map(|r| r.output) {
                Ok(out) => assert!(out.len() <= limits.max_output_bytes, "{name}"),
                Err(Error::Limit(_) | Error::Render(_)) => {}
                Err(e) => panic!("{name}: {e}"),
            }
        });
    }
}

/// `$input` on a deeply nested body: `$input.json('$')` and a recursive JSONPath.
#[test]
fn deeply_nested_bodies_end_with_an_answer() {
    let limits = Limits { max_render_time: Duration::from_millis(200), ..Limits::default() };
    let body = format!("{{\"a\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    for src in ["$input.json('$')", "$input.path('$..a')", "$input.path('$.a')"] {
        let t = Template::parse(src, &limits).unwrap();
        let inputs = Inputs { body: body.clone(), ..Inputs::default() };
        let started = Instant::now();
        let rendered = t.render(&inputs, &limits);
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "{src}: took {took:?}");
        assert!(rendered.is_err(), "{src}: a body nested 100000 deep is not read");
    }
}
