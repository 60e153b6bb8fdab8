//! Unit tests of the language. Differential tests against Apache Velocity 1.7 itself live in
//! `tests/vtl` (they need a JDK).

use super::*;

fn v(src: &str) -> String {
    let limits = Limits::default();
    let t = Template::parse(src, &limits).unwrap_or_else(|e| panic!("{src}: {e}"));
    t.render_with(HashMap::new(), &limits, Mode::Velocity).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn aws(src: &str, body: &str) -> Rendered {
    let limits = Limits::default();
    let t = Template::parse(src, &limits).unwrap_or_else(|e| panic!("{src}: {e}"));
    let inputs = Inputs {
        body: body.into(),
        path: vec![("id".into(), "42".into())],
        querystring: vec![("q".into(), "x y".into())],
        header: vec![("Accept".into(), "application/json".into())],
        context: serde_json::json!({"requestId": "r-1", "authorizer": {"principalId": "alice"}})
            .as_object()
            .unwrap()
            .clone(),
        stage_variables: vec![("env".into(), "prod".into())],
    };
    t.render(&inputs, &limits).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn references_and_quiet_references() {
    assert_eq!(v("a $x b $!x c ${x} $!{x}"), "a $x b  c ${x} ");
    assert_eq!(v("#set($x = 'v')$x ${x}y $x.length()"), "v vy 1");
    assert_eq!(v("$ 5 and $1 and $ x"), "$ 5 and $1 and $ x");
    assert!(Template::parse("ends with $", &Limits::default()).is_err());
    assert_eq!(v("#set($a-b = 1)$a-b"), "1");
}

#[test]
fn escaping() {
    assert_eq!(v("#set($x = 1)\\$x \\\\$x \\$y"), "$x \\1 \\$y");
    assert_eq!(v("\\#if(true)x\\#end"), "#if(true)x#end");
}

#[test]
fn set_if_foreach() {
    assert_eq!(v("#set($n = 3)#if($n > 2)big#elseif($n > 1)mid#{else}small#end"), "big");
    assert_eq!(v("#foreach($i in [1..3])$i#if($foreach.hasNext),#end#end"), "1,2,3");
    assert_eq!(v("#foreach($i in [3..1])$velocityCount:$i $foreach.index #end"), "1:3 0 2:2 1 3:1 2 ");
    assert_eq!(v("#foreach($i in ['a','b','c'])#if($i == 'b')#break#end$i#end"), "a");
    // `$foreach` is one object for the loop, as in Velocity 1.7: one the template keeps moves
    // on with the loop; one it replaces stays replaced.
    assert_eq!(
        v("#foreach($i in [1,2,3])#if($velocityCount == 1)#set($first = $foreach)#end$foreach.index/$first.index #end"),
        "0/0 1/1 2/2 "
    );
    assert_eq!(v("#foreach($i in [1,2])#set($foreach = 'x')$foreach #end"), "x x ");
    assert_eq!(
        v("#foreach($i in [1,2,3])#if($i == 2)#set($foreach = 'x')#end$foreach.index #end"),
        "0 $foreach.index $foreach.index "
    );
    assert_eq!(v("before#stop after"), "before");
    // A null right side leaves the variable as it was.
    assert_eq!(v("#set($x = 1)#set($x = $nothing)$x"), "1");
}

#[test]
fn whitespace_rules() {
    assert_eq!(v("a\n  #set($x = 1)\nb"), "a\n  b");
    assert_eq!(v("  #set($x = 1)  \nb"), "b");
    assert_eq!(v("#if(true)\nyes\n#end\nafter"), "yes\nafter");
    assert_eq!(v("x ## comment\ny"), "x y");
    assert_eq!(v("x #* block *# y"), "x  y");
    assert_eq!(v("#[[$not #parsed]]#"), "$not #parsed");
}

#[test]
fn operators_with_java_semantics() {
    // The blank before each #set follows a reference, so Velocity drops it.
    assert_eq!(v("#set($x = 7 / 2)$x #set($y = 7.0 / 2)$y #set($z = 7 % 3)$z"), "33.51");
    assert_eq!(v("#set($x = 2147483647 + 1)$x"), "2147483648");
    assert_eq!(v("#set($s = 'a' + 1)$s"), "a1");
    assert_eq!(v("#if(1 == 1.0)eq#end #if('1' == 1)eq2#end #if($u == $v)nulls#end"), "eq eq2 nulls");
    assert_eq!(v("#if(!false && (true || false) and not false)ok#end"), "ok");
    // A reference to an empty string is true; a literal in a condition is always false.
    assert_eq!(v("#set($e = '')#if($e)empty-is-true#end #if('x')literal#end"), "empty-is-true ");
    assert_eq!(v("#set($x = 1 / 0)$x"), "$x");
}

#[test]
fn strings_and_methods() {
    assert_eq!(
        v("#set($s = 'Hello, World')$s.toLowerCase() $s.substring(7) $s.indexOf('o') $s.replace('l', 'L')"),
        "hello, world World 4 HeLLo, WorLd"
    );
    assert_eq!(
        v("#set($s = 'a1b22c')$s.replaceAll('[0-9]+', '-') $s.matches('[a-c0-9]+') $s.split('[0-9]+').size()"),
        "a-b-c true 3"
    );
    assert_eq!(v("#set($n = 'x')#set($s = \"v=$n\")$s"), "v=x");
    assert_eq!(v("#set($s = 'it''s')$s"), "it's");
    assert_eq!(v("$s.substring(1)"), "$s.substring(1)");
}

#[test]
fn lists_and_maps_render_like_java() {
    assert_eq!(v("#set($l = [1, 'a', true, 1.5])$l $l.size() $l.get(1)"), "[1, a, true, 1.5] 4 a");
    assert_eq!(v("#set($l = [])$l.add('x') $l"), "true [x]");
    assert_eq!(v("#set($m = {'b': 1, 'a': 2})$m $m.b $m.get('a') $m.keySet() $m.size()"), "{b=1, a=2} 1 2 [b, a] 2");
    assert_eq!(v("#set($m = {})#set($m.k = 'v')$m.put('k', 'w') $m"), "v {k=w}");
    assert_eq!(v("#set($m = {'x': 1})#foreach($e in $m.entrySet())$e.key=$e.value#end"), "x=1");
}

#[test]
fn macros_define_evaluate() {
    assert_eq!(v("#macro(greet $who)Hi $who!#end#greet('Ada') #greet(\"Bob\")"), "Hi Ada! Hi Bob!");
    assert_eq!(v("#define($b)block $x#end#set($x = 1)$b"), "block 1");
    assert_eq!(v("#set($t = '#set($y = 5)$y')#evaluate($t)"), "5");
}

#[test]
fn parse_errors_have_positions() {
    let limits = Limits::default();
    let e = Template::parse("ok\n#if($x\nmore", &limits).unwrap_err();
    assert!(matches!(e, Error::Parse { line: 3, .. } | Error::Parse { line: 2, .. }), "{e}");
    assert!(Template::parse("#foreach($x)#end", &limits).is_err());
    // Found by fuzzing: a loop variable without `$`.
    assert!(Template::parse("#foreach(kx in $list)#end", &limits).is_err());
    assert!(Template::parse("#define(x)#end", &limits).is_err());
    assert!(Template::parse("#end", &limits).is_err());
    assert!(Template::parse("#if(true)", &limits).is_err());
    // Positions far into a long template, on its last line and on a long line.
    let long = format!("{}\n{}#if($x", "$a\n".repeat(5000), "$b ".repeat(1000));
    let e = Template::parse(&long, &limits).unwrap_err();
    assert!(matches!(e, Error::Parse { line: 5002, column: 3005.., .. }), "{e}");
}

/// A template of many references parses in time linear in its size: each reference records
/// its line and column, which were found by counting from the start of the template, so that a
/// 288 KB template of `$a` took 40 s to parse in a release build (50 ms now). A hang detector
/// with a wide margin, not a measurement: this test's 288 KB parse in about 0.25 s unoptimised,
/// and counting took at least the 40 s of the optimised build.
#[test]
fn many_references_parse_in_linear_time() {
    let limits = Limits::default();
    let src = "$a ".repeat(96_000);
    let started = std::time::Instant::now();
    let t = Template::parse(&src, &limits).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());
    assert_eq!(t.render_with(HashMap::new(), &limits, Mode::Velocity).unwrap(), src);
}

#[test]
fn limits_are_enforced() {
    let limits = Limits { max_foreach_iterations: 10, ..Limits::default() };
    let t = Template::parse("#foreach($i in [1..20])$i#end", &limits).unwrap();
    assert!(matches!(t.render_with(HashMap::new(), &limits, Mode::Aws), Err(Error::Limit(_))));
    let limits = Limits { max_output_bytes: 100, ..Limits::default() };
    let t = Template::parse("#foreach($i in [1..200])xxxxx#end", &limits).unwrap();
    assert!(matches!(t.render_with(HashMap::new(), &limits, Mode::Aws), Err(Error::Limit(_))));
    let limits = Limits { max_template_bytes: 10, ..Limits::default() };
    assert!(matches!(Template::parse("01234567890", &limits), Err(Error::Limit(_))));
    let deep = "#if(true)".repeat(100) + &"#end".repeat(100);
    assert!(Template::parse(&deep, &Limits::default()).is_err());
    let limits = Limits::default();
    for recursive in ["#macro(r $n)#r($n)#end#r(1)", "#set($s = '#evaluate($s)')#evaluate($s)", "#define($a)$a#end$a"] {
        let t = Template::parse(recursive, &limits).unwrap();
        assert!(matches!(t.render_with(HashMap::new(), &limits, Mode::Aws), Err(Error::Limit(_))), "{recursive}");
    }
    // Loops inside loops stay within the time limit.
    let limits = Limits { max_render_time: std::time::Duration::from_millis(50), ..Limits::default() };
    let t = Template::parse(
        "#foreach($a in [1..1000])#foreach($b in [1..1000])#foreach($c in [1..1000])x#end#end#end",
        &limits,
    )
    .unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(t.render_with(HashMap::new(), &limits, Mode::Aws), Err(Error::Limit(_))));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// A string or a list that a template grows from itself, over and over, fails the rendering
/// once it would be longer than the output limit, instead of taking all memory before the time
/// limit is next checked: a 20-byte string that replaces each of its characters with itself is
/// 64 MB after five rounds, and 1.3 GB after six (found by looking for what the fuzzer had not
/// tried).
#[test]
fn what_a_template_grows_from_itself_stops_at_the_output_limit() {
    let limits = Limits { max_output_bytes: 1 << 20, ..Limits::default() };
    let twenty = "xxxxxxxxxxxxxxxxxxxx";
    for (what, set) in [
        ("replace", "$s.replace('x', $s)"),
        ("replace of ''", "$s.replace('', $s)"),
        ("replaceAll", "$s.replaceAll('x', $s)"),
        ("replaceAll with a group", "$s.replaceAll('(x)', \"$1$1$1\")"),
        ("replaceFirst", "$s.replaceFirst('x', $s)"),
        ("concat", "$s.concat($s)"),
        ("+", "$s + $s"),
        ("escapeJavaScript", "$util.escapeJavaScript($s.concat('\\'))"),
        ("base64Encode", "$util.base64Encode($s)"),
    ] {
        let src = format!("#set($s = '{twenty}')#foreach($i in [1..60])#set($s = {set})#end$s.length()");
        let t = Template::parse(&src, &limits).unwrap();
        let r = t.render(&Inputs::default(), &limits);
        assert!(
            matches!(&r, Err(Error::Limit(m)) if m == "a string longer than 1048576 bytes"),
            "{what}: {:?}",
            r.map(|r| r.output)
        );
    }
    for (what, src) in [
        ("addAll", "#set($l = [1])#foreach($i in [1..60])#set($x = $l.addAll($l))#end"),
        ("add", "#set($l = [])#foreach($i in [1..1000])#foreach($j in [1..1000])#set($x = $l.add($j))#end#end"),
        ("getBytes", "#set($s = 'x')#foreach($i in [1..20])#set($s = $s.concat($s))#end$s.getBytes().size()"),
        ("split", "#set($s = 'x')#foreach($i in [1..20])#set($s = $s.concat($s))#end$s.split('').size()"),
    ] {
        let limits = Limits { max_output_bytes: if what == "add" { 1 << 18 } else { 3 << 19 }, ..limits };
        let t = Template::parse(src, &limits).unwrap();
        let r = t.render(&Inputs::default(), &limits);
        let items = limits.max_output_bytes / 2;
        assert!(
            matches!(&r, Err(Error::Limit(m)) if *m == format!("a list of more than {items} items")),
            "{what}: {:?}",
            r.map(|r| r.output)
        );
    }
    // What stays within the limit is unchanged.
    let t = Template::parse("#set($s = 'ab')#set($s = $s.replace('a', $s).concat($s))$s", &limits).unwrap();
    assert_eq!(t.render(&Inputs::default(), &limits).unwrap().output, "abbab");
}

/// `#evaluate` parses its text every time it runs, and parsing is no step of the rendering: a
/// loop that evaluates a long text that renders nothing (macro definitions) still stops at the
/// time limit, which is checked after each such parse, not only every 1024 steps (without
/// that check, this rendering ran 65 s against its limit of 50 ms).
#[test]
fn evaluate_stops_at_the_time_limit() {
    let limits = Limits {
        max_render_time: std::time::Duration::from_millis(50),
        max_template_bytes: 1 << 20,
        ..Limits::default()
    };
    let text = "#macro(m)#end".repeat(20_000);
    let src = format!("#set($s = '{text}')#foreach($i in [1..1000])#foreach($j in [1..1000])#evaluate($s)#end#end");
    let t = Template::parse(&src, &limits).unwrap();
    let started = std::time::Instant::now();
    let r = t.render(&Inputs::default(), &limits);
    assert!(matches!(&r, Err(Error::Limit(m)) if m.contains("took longer than 50 ms")), "{:?}", r.map(|r| r.output));
    // A hang detector with a wide margin (this machine has minutes when everything runs 20×
    // slower), not a measurement.
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
}

/// The time limit is checked every 1024 steps, and also after each step that can take long on
/// its own: a method call on, or making, a string of 64 KiB or more, and the parse of an
/// `#evaluate`. With a limit of zero, those fail a rendering of a handful of steps, and the
/// same calls on a short string do not.
#[test]
fn one_long_step_checks_the_time() {
    let limits = Limits { max_render_time: std::time::Duration::ZERO, ..Limits::default() };
    let long = Inputs { body: "a".repeat(1 << 16), ..Inputs::default() };
    let short = Inputs { body: "a".repeat(100), ..Inputs::default() };
    for src in [
        "$input.body.hashCode()",
        "$input.body.toString()",
        "$input.body.equals('a')",
        "$input.body.length()",
        "$input.body.indexOf('b')",
        "$util.escapeJavaScript($input.body)",
        "$util.base64Encode($input.body)",
    ] {
        let t = Template::parse(src, &limits).unwrap();
        let r = t.render(&long, &limits);
        assert!(matches!(&r, Err(Error::Limit(m)) if m.contains("took longer")), "{src}: {r:?}");
        assert!(t.render(&short, &limits).is_ok(), "{src}");
    }
    let t = Template::parse("#evaluate('x')", &limits).unwrap();
    let r = t.render(&short, &limits);
    assert!(matches!(&r, Err(Error::Limit(m)) if m.contains("took longer")), "{r:?}");
}

/// `split` into many parts checks the time as it goes: a string of less than 64 KiB, on which
/// no method call checks the time after it, split into characters fails at once with a time
/// limit of zero (it made 60k parts unchecked before), and a short one does not.
#[test]
fn splitting_into_many_parts_checks_the_time() {
    let limits = Limits { max_render_time: std::time::Duration::ZERO, ..Limits::default() };
    let t = Template::parse("$input.body.split('').size()", &limits).unwrap();
    let long = Inputs { body: "a".repeat(60_000), ..Inputs::default() };
    let r = t.render(&long, &limits);
    assert!(matches!(&r, Err(Error::Limit(m)) if m.contains("took longer")), "{r:?}");
    let short = Inputs { body: "a".repeat(4000), ..Inputs::default() };
    assert_eq!(t.render(&short, &limits).unwrap().output, "4000");
}

/// A list or map that holds itself renders as Java's do (`(this Map)`, `(this Collection)`)
/// and equals itself; one that holds itself through another container, or a value that holds
/// the same container many times over, level after level, fails the rendering with a limit
/// instead of overflowing the stack or running for ever (found by the fuzzer).
#[test]
fn values_that_hold_themselves() {
    assert_eq!(v("#set($m = {})$m.put('a', $m)$m $m.equals($m)"), "$m.put('a', $m){a=(this Map)} true");
    assert_eq!(v("#set($l = [])$l.add($l)$l $l.equals($l)"), "true[(this Collection)] true");
    let limits = Limits::default();
    let started = std::time::Instant::now();
    for cyclic in [
        "#set($a = {})#set($b = {'x': $a})$a.put('y', $b)$a",
        "#set($a = [])#set($b = [$a])$a.add($b)$a.toString()",
        "#set($a = {})#set($b = [$a])$a.put('y', $b)$a.hashCode()",
        "#set($l = [])$l.add($l)$l.hashCode()",
        "#set($a = [1])#foreach($i in [1..40])#set($a = [$a, $a])#end$a",
        "#set($a = [1])#foreach($i in [1..300])#set($a = [$a])#end$a",
        "#set($a = [1])#foreach($i in [1..40])#set($a = [$a, $a])#end#foreach($i in [1..1000])$a.hashCode()#end",
    ] {
        let t = Template::parse(cyclic, &limits).unwrap();
        let r = t.render_with(HashMap::new(), &limits, Mode::Aws);
        assert!(matches!(&r, Err(Error::Limit(m)) if m.contains("nested deeper than 256")), "{cyclic}: {r:?}");
    }
    // A payload a template made hold itself, written as JSON.
    let t = Template::parse("#set($d = $input.path('$'))$d.put('self', $d)$input.json('$')", &limits).unwrap();
    let inputs = Inputs { body: r#"{"a": 1}"#.into(), ..Inputs::default() };
    assert!(matches!(t.render(&inputs, &limits), Err(Error::Limit(_))));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Nesting up to the limit renders, and a rendering after a failed one is not affected.
    assert_eq!(v("#set($a = 1)#foreach($i in [1..255])#set($a = [$a])#end$a.toString().length()"), "511");
    // The fuzzer's template, shortened: the map holds itself directly, then through a list.
    let t =
        Template::parse("#set($m = {})$m.$m.put('a', 1) $m.put('a', $m), $m $m.put('b', [$m]) $m", &limits).unwrap();
    assert!(matches!(t.render_with(HashMap::new(), &limits, Mode::Aws), Err(Error::Limit(_))));
}

#[test]
fn cycles_a_template_made_are_freed_when_it_ends() {
    // A probe from outside, held by each cycle: it is freed only if the cycle is.
    let limits = Limits::default();
    for (src, ok) in [
        ("#set($m = {'p': $p})$m.put('self', $m)", true),
        ("#set($a = [$p])#set($b = [$a])$a.add($b)", true),
        ("#set($a = {'p': $p})#set($b = {})#set($b.a = $a)#set($a.b = $b)", true),
        ("#set($a = [$p])#set($a[0] = $a)", true),
        ("#set($l = [$p])#set($m = {})$m.put('l', $l)$l.add($m)", true),
        ("#set($a = {'p': $p})#set($b = {'x': $a})$a.putAll({'y': $b})", true),
        ("#set($m = {'p': $p})#foreach($i in [1..50])$m.put(\"k$i\", $m)#end", true),
        // A rendering that fails on its cycle frees it too.
        ("#set($a = {'p': $p})#set($b = {'x': $a})$a.put('y', $b)$a", false),
    ] {
        let probe = Value::map(JMap::linked());
        let Value::Map(m) = &probe else { unreachable!() };
        let weak = Rc::downgrade(m);
        let t = Template::parse(src, &limits).unwrap();
        let r = t.render_with(HashMap::from([("p".to_string(), probe)]), &limits, Mode::Aws);
        assert_eq!(r.is_ok(), ok, "{src}: {r:?}");
        assert!(weak.upgrade().is_none(), "{src}: the cycle was not freed");
    }
    // Many containers noted many times over (alternating, so not one after the other): the
    // walks after the rendering stay bounded.
    let t = Template::parse(
        "#set($a = [])#set($b = [])#foreach($i in [1..1000])#foreach($j in [1..100])$a.add($b)$b.add($a)#end#end",
        &limits,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let _ = t.render_with(HashMap::new(), &limits, Mode::Aws);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    // What is on no cycle is left as the template made it.
    let q = Value::map(JMap::linked());
    let t = Template::parse("#set($x = $q.put('list', [1, [2]]))#set($q.map = {'a': $q.list})", &limits).unwrap();
    t.render_with(HashMap::from([("q".to_string(), q.clone())]), &limits, Mode::Aws).unwrap();
    assert_eq!(q.render(), "{list=[1, [2]], map={a=[1, [2]]}}");
}

#[test]
fn a_map_given_itself_as_the_key_of_a_change() {
    // The fuzzer's template, shortened: the key is the map's text, made before the map is
    // borrowed to change it (it panicked with a double borrow).
    assert_eq!(v("#set($m = {'a': 1})#set($x = $m.remove($m))$m"), "{a=1}");
    assert_eq!(v("#set($m = {})#set($x = $m.put($m, 1))$m.size() $m.keySet()"), "1 [{}]");
    assert_eq!(v("#set($m = {})#set($x = $m.putIfAbsent($m, 1))$m.size()"), "1");
}

#[test]
fn jsonpath_filters() {
    let body = r#"{"items": [{"id": "a", "price": 5, "tags": ["x"]}, {"id": "b", "price": 15}, {"id": "c", "price": 8.5, "isbn": "1"}]}"#;
    assert_eq!(aws("$input.json('$.items[?(@.price < 10)].id')", body).output, r#"["a","c"]"#);
    assert_eq!(aws("$input.json('$.items[?(@.isbn)]')", body).output, r#"[{"id":"c","price":8.5,"isbn":"1"}]"#);
    assert_eq!(aws("$input.json('$.items[?@.price > 6 && @.id != \"b\"].id')", body).output, r#"["c"]"#);
    assert_eq!(
        aws("#foreach($i in $input.path('$.items[?(@.price >= 8)]'))$i.id:$i.price #end", body).output,
        "b:15 c:8.5 "
    );
    assert_eq!(aws("$input.path('$.items[?(@.price > 100)]').size()", body).output, "0");
    let limits = Limits::default();
    let t = Template::parse("$input.json('$.items[?(@.price <]')", &limits).unwrap();
    let err = t.render(&Inputs { body: body.into(), ..Inputs::default() }, &limits).unwrap_err();
    assert!(err.to_string().contains("invalid JSONPath"), "{err}");
}

#[test]
fn input_util_context() {
    let body = r#"{"name": "Ada", "tags": ["a", "b"], "o": {"k": 1}}"#;
    assert_eq!(
        aws("$input.path('$.name') $input.json('$.name') $input.json('$.tags')", body).output,
        r#"Ada "Ada" ["a","b"]"#
    );
    assert_eq!(
        aws("$input.path('$.o') $input.path('$.tags') $input.path('$.tags').size()", body).output,
        r#"{k=1} ["a","b"] 2"#
    );
    assert_eq!(
        aws("$input.params('id') $input.params('q') $input.params('accept') [$input.params('nope')]", "").output,
        "42 x y application/json []"
    );
    assert_eq!(aws("$input.params().path.id $input.params().header", "").output, "42 {Accept=application/json}");
    assert_eq!(
        aws("$context.requestId $context.authorizer.principalId [$context.nope] $stageVariables.env", "").output,
        "r-1 alice [] prod"
    );
    assert_eq!(aws("$util.escapeJavaScript(\"it's\") $util.urlEncode('a b&c') $util.base64Encode('hi') $util.base64Decode('aGk=')", "").output,
        "it\\'s a+b%26c aGk= hi");
    assert_eq!(aws("#set($o = $util.parseJson('{\"a\":[1]}'))$o.a.get(0) [$util.nope('x')]", "").output, "1 []");
    assert_eq!(aws("$input.body", "raw text").output, "raw text");
    assert_eq!(aws("$input.json('$')", "").output, "{}");
}

#[test]
fn overrides() {
    let r = aws(
        "#set($context.requestOverride.header.X-A = 'a')#set($context.responseOverride.status = 201)\
         #set($context.responseOverride.header.X-B = 'b')ok",
        "",
    );
    assert_eq!(r.output, "ok");
    assert_eq!(r.overrides.request_headers, vec![("X-A".to_string(), "a".to_string())]);
    assert_eq!(r.overrides.response_headers, vec![("X-B".to_string(), "b".to_string())]);
    assert_eq!(r.overrides.response_status, Some(201));
    let limits = Limits::default();
    let t = Template::parse(
        "#set($context.requestOverride.header.h = 'a')#set($context.requestOverride.header.h = 'b')",
        &limits,
    )
    .unwrap();
    assert!(matches!(t.render(&Inputs::default(), &limits), Err(Error::Render(_))));
    assert_eq!(aws("#set($context.responseOverride.status = 'x')", "").overrides.response_status, None);
}

#[test]
fn aws_compares_null_as_empty_string() {
    let src = "#set($r = $input.path('$.missing'))[$r][$r.nested] #if($r == $null)null#end #if($r == \"\")empty#end #if($r == 'x')x#end";
    assert_eq!(aws(src, r#"{"a": 1}"#).output, "[][] null empty ");
    // Velocity itself: a null equals only a null.
    assert_eq!(v("#if($r == $null)null#end #if($r == '')empty#end"), "null ");
}

#[test]
fn invalid_json_is_an_error() {
    let limits = Limits::default();
    let t = Template::parse("$input.json('$')", &limits).unwrap();
    let inputs = Inputs { body: "not json".into(), ..Inputs::default() };
    assert!(matches!(t.render(&inputs, &limits), Err(Error::InvalidJson(_))));
}

#[test]
fn context_is_built_with_the_keys_a_template_reaches() {
    let limits = Limits::default();
    let reaches = |src: &str, key: &str| Template::parse(src, &limits).unwrap().symbols.reaches_context(key);
    // Named properties only, in references, strings, `#set` targets and macro bodies.
    let named = "$context.requestId \"${context.stage}\" #set($context.responseOverride.status = 201)\
                 #macro(m)$!context.identity.sourceIp#end";
    for key in ["requestId", "stage", "responseOverride", "identity"] {
        assert!(reaches(named, key), "{key}");
    }
    for key in ["authorizer", "requestOverride", "path"] {
        assert!(!reaches(named, key), "{key}");
    }
    // Anything else reaches every key.
    for whole in [
        "$context",
        "$context.keySet()",
        "$context.get('x')",
        "$context[\"stage\"]",
        "#set($c = $context)",
        "#foreach($k in $context.entrySet())#end",
        "#macro(m $x)#end#m($context)",
        "$util.toJson($context)",
        "#set($context = {})",
        "#evaluate('$x')",
    ] {
        assert!(reaches(whole, "authorizer"), "{whole}");
    }
    // A template that names some keys renders as with every key built: what it cannot
    // reach it cannot see.
    assert_eq!(aws("$context.requestId [$context.nope] $context.authorizer.principalId", "").output, "r-1 [] alice");
    assert_eq!(
        aws("$context", "").output,
        "{requestId=r-1, authorizer={principalId=alice}, requestOverride={header={}, path={}, querystring={}}, responseOverride={header={}}}"
    );
    assert_eq!(aws("$context.size() $context.requestId", "").output, "4 r-1");
    let r = aws("#set($context.responseOverride.status = 202)$context.requestId", "");
    assert_eq!((r.output.as_str(), r.overrides.response_status), ("r-1", Some(202)));
}

/// A value nested a million deep (loops within loops) is dropped without a stack overflow,
/// and rendering it fails with the nesting limit.
#[test]
fn deeply_nested_values_are_dropped_without_recursion() {
    let limits = Limits { max_render_time: std::time::Duration::from_secs(60), ..Limits::default() };
    for (deep, expected) in [
        ("#set($a = 1)#foreach($i in [1..1000])#foreach($j in [1..1000])#set($a = [$a])#end#end$a.size()", "1"),
        ("#set($a = 1)#foreach($i in [1..1000])#foreach($j in [1..500])#set($a = {'k': $a})#end#end$a.size()", "1"),
        (
            "#set($a = 1)#foreach($i in [1..1000])#foreach($j in [1..300])#set($m = {'k': $a})#set($a = $m.entrySet())#end#end$a.size()",
            "1",
        ),
    ] {
        let t = Template::parse(deep, &limits).unwrap();
        assert_eq!(t.render_with(HashMap::new(), &limits, Mode::Aws).unwrap(), expected, "{deep}");
        let t = Template::parse(&format!("{deep}$a"), &limits).unwrap();
        assert!(matches!(t.render_with(HashMap::new(), &limits, Mode::Aws), Err(Error::Limit(_))), "{deep}");
    }
}

/// A template that keeps each loop's `$foreach` and puts it back before the next loop would
/// chain them as long as it runs (each one's `$foreach.parent` the one before); the chain is
/// cut at 64, so that `$foreach.topmost` and dropping it stay short.
#[test]
fn foreach_parents_are_not_chained_without_end() {
    let chain = |loops: usize| {
        v(&format!(
            "#set($f = 1)#foreach($i in [1..{loops}])#set($foreach = $f)#foreach($j in [1])#set($f = $foreach)#end#end\
             #set($n = 0)#set($p = $f)#foreach($i in [1..1000])#if($p.parent)#set($p = $p.parent)#set($n = $n + 1)#end#end$n"
        ))
    };
    assert_eq!(chain(3), "2");
    assert_eq!(chain(64), "63");
    assert_eq!(chain(65), "0");
    assert_eq!(chain(1000), "39");
}

/// `#break($scope)` of a loop that is not running, or of something that is not a loop's
/// `$foreach`, fails the rendering (Velocity 1.7 throws out of the template); the same
/// `#break` while its loop runs ends that loop and every one inside it.
#[test]
fn break_of_a_scope() {
    let limits = Limits::default();
    for src in
        ["#foreach($x in [1])#set($k = $foreach)#end a#break($k)b", "#set($k = 1)#foreach($x in [1])#break($k)#end"]
    {
        let t = Template::parse(src, &limits).unwrap();
        let r = t.render_with(HashMap::new(), &limits, Mode::Aws);
        assert!(matches!(&r, Err(Error::Render(m)) if m.contains("#break")), "{src}: {r:?}");
    }
    assert_eq!(
        v("#foreach($x in [1..3])#foreach($y in [1..3])$x$y #if($y == 2)#break($foreach.parent)#end#end#end."),
        "11 12 ."
    );
    assert!(matches!(Template::parse("#break('x')", &limits), Err(Error::Parse { .. })));
}

/// A JSON payload read lazily (`crate::doc`) renders every template as the same payload read
/// into ordinary maps and lists does: members, items, sizes, loops, changes seen through every
/// value that points at them, methods, equality, hashes and text.
#[test]
fn lazily_read_json_behaves_as_maps_and_lists() {
    let body = r#"{"items":[{"id":1,"name":"a/b","tags":["x","y"],"n":{"k":null}},{"id":2,"name":"caf\u00e9 \"q\"","price":2.5,"tags":[],"n":{}}],
        "big": 12345678901234567890, "neg": -7, "t": true, "f": false, "s": "line\nbreak", "empty": {}, "list": [[1,2],[3]],
        "shapes": [{"a":{"id":1},"id":2},{"id":3,"a":{"id":4}},{"a":{"id":5}},{"id":6},{"ab":{"id":7},"xy":8,"id":9}],
        "deep": [[[[[[[[[[1]]]]]]]]]],
        "wide": [0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,{"x":20},21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,[39]]}"#;
    let templates = [
        "$input.path('$')",
        "$input.json('$')",
        "$input.json('$.items')|$input.json('$.items[1]')|$input.json('$.list[0]')|$input.json('$.s')",
        "#set($r = $input.path('$'))$r.items.size() $r.items[0].name $r.items[-1].price $r.big $r.neg $r.t $r.f $r.s $r.missing $r.empty",
        "#foreach($i in $input.path('$.items'))$i.id:$i.name:$i.tags:$i.n:$i.n.k:$i.get('id'):$i.containsKey('price'):$i.size():$i.isEmpty();#end",
        "#foreach($v in $input.path('$.items[0]'))[$v]#end #foreach($k in $input.path('$.items[0]').keySet())$k,#end",
        "#foreach($e in $input.path('$.items[0]').entrySet())$e.key=$e.value;#end",
        "#set($a = $input.path('$.items[0]'))#set($b = $input.path('$.items[0]'))$a.put('id', 9)|$b.id|$input.path('$.items[0].id')|$input.json('$')",
        "#set($t = $input.path('$.items[0].tags'))$t.add('z')|$input.path('$.items[0]')|$input.json('$.items')",
        "#set($root = $input.path('$'))#set($root.items[1].name = 'changed')$input.path('$.items[1].name') $input.json('$.items[1]')",
        "#set($i = $input.path('$.items[0]'))#set($i.extra = $input.path('$.list'))$i.extra[0][1] $input.json('$.items[0]')",
        "#set($m = {})#set($x = $m.put('doc', $input.path('$')))$m.doc.items[0].name $m.doc.list",
        "#set($l = [])#set($x = $l.addAll($input.path('$.list')))$l $l.size() $l.containsAll($input.path('$.list[0]'))",
        "#set($m = {'a': 1})#set($x = $m.putAll($input.path('$.items[0].n')))$m",
        "$input.path('$.items[0]').equals($input.path('$.items[0]')) $input.path('$.items[0]') == $input.path('$.items[1]') $input.path('$.list[0]').hashCode() $input.path('$.items[0]').hashCode()",
        "$input.path('$.list').contains($input.path('$.list[1]')) $input.path('$.list').indexOf($input.path('$.list[1]'))",
        "$input.path('$.items[0]').getClass() $input.path('$.list').getClass() $input.path('$.items[0]').toString() $input.path('$.list').toJSONString()",
        "$input.path('$.items[*].name') $input.path('$..id') $input.path('$.items[0:1]') $input.path('$.items[0][\"name\",\"id\"]')",
        "#set($p = $util.parseJson($input.json('$.items[1]')))$p.name $p.tags.size() #set($x = $p.put('k', 1))$p",
        "#foreach($row in $input.path('$.list'))#foreach($c in $row)$c#if($foreach.hasNext)-#end#end;#end",
        "#set($o = $input.path('$.items[1]'))#foreach($k in $o.keySet())$k=$o.get($k) #end$o.remove('price') $o",
        "#set($x = $input.path('$.items'))$x.get(1).name $x.isEmpty() $x.subList(0, 1) #set($y = $x.remove(0))$x.size() $input.path('$.items').size()",
        "#if($input.path('$.empty'))yes#end #if($input.path('$.missing'))no#end $input.path('$.items[0].tags')[1] $input.path('$.items[5]')",
        "$util.escapeJavaScript($input.path('$.items[1]')) $util.toJson($input.path('$.list'))",
        "#set($c = $input.path('$.items[0]'))#set($x = $c.put('self', $c))$c.size()",
        "#set($n = $input.path('$.items[0].n'))#set($x = $n.put('up', $input.path('$.items')))$input.json('$.items[0].n.k') $n.up.size()",
        // Members found where the last one of their name was, or not: objects of other
        // shapes, and objects inside them with a member of the same name.
        "#foreach($o in $input.path('$.shapes'))$o.id/$o.a.id/$o.ab.id/$o.xy #end",
        "#foreach($o in $input.path('$.shapes'))$o.id #end",
        // Items far into an array (taken from the list it is made into).
        "#set($w = $input.path('$.wide'))$w[0] $w[15] $w[16] $w[39] $w[-1] $w[-40] $input.path('$.wide[20]') $input.json('$.wide[17]')",
        // A map or list given itself holds itself (and shows so).
        "#set($j = $input.path('$.items[0]'))#set($x = $j.put('self', $j))$j",
        "#set($j = $input.path('$.items[0]'))#set($j.me = $j)$j #set($t = $input.path('$.list'))#set($x = $t.add($t))$t",
        // Nesting past the limit, partly inside the payload: the same limit either way.
        "#set($n = $input.path('$.deep'))#foreach($i in [1..250])#set($n = [$n])#end#set($l = $util.parseJson('[]'))#set($d = $l.add($n))$l",
        "#set($n = $input.path('$.deep'))#foreach($i in [1..240])#set($n = [$n])#end#set($l = $util.parseJson('[]'))#set($d = $l.add($n))$l",
    ];
    for src in templates {
        let lazy = std::panic::catch_unwind(|| aws(src, body).output);
        crate::json::EAGER.with(|e| e.set(true));
        let eager = std::panic::catch_unwind(|| aws(src, body).output);
        crate::json::EAGER.with(|e| e.set(false));
        match (lazy, eager) {
            (Ok(lazy), Ok(eager)) => assert_eq!(lazy, eager, "{src}"),
            (lazy, eager) => assert_eq!(lazy.is_ok(), eager.is_ok(), "{src}: one way fails, the other does not"),
        }
    }
    // The lazy way is the one the payload takes (else this test compares a way with itself).
    let v = crate::json::parse_lazy(body).unwrap();
    assert!(matches!(v, Value::Json(..)), "{v:?}");
}

/// A template that puts a value pointing into a lazily read document into what was made of
/// that document (a cycle through the document) leaks nothing: the rendering forgets what it
/// made of its documents when it ends.
#[test]
fn documents_that_hold_themselves_are_freed() {
    let body = r#"{"items":[{"id":1},{"id":2}],"n":{"k":[]}}"#;
    for src in [
        "#set($c = $input.path('$.items[0]'))#set($x = $c.put('root', $input.path('$')))$c.root.items.size()",
        "#set($k = $input.path('$.n.k'))#set($x = $k.add($input.path('$.n')))$k.size()",
        "#set($p = $util.parseJson('{\"a\":{\"b\":1}}'))#set($x = $p.a.put('p', $p))$p.a.p.a.b",
        "#set($m = {})#set($x = $m.put('doc', $input.path('$')))#set($y = $input.path('$.n').put('m', $m))$m.doc.n.m.size()",
    ] {
        let before = crate::doc::LIVE.with(std::cell::Cell::get);
        let out = aws(src, body).output;
        assert!(!out.is_empty() && !out.contains('$'), "{src}: {out}");
        assert_eq!(crate::doc::LIVE.with(std::cell::Cell::get), before, "{src}: a document was not freed");
    }
}
