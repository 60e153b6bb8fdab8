//! Differential tests against Apache Velocity 1.7 (the engine API Gateway runs): every
//! template of the corpus — the hand-written files in `tests/corpus/` (AWS documentation
//! examples and language corner cases) and generated ones — is rendered by Velocity (through
//! `tests/velocity/Oracle.java`) and by wasmgate-vtl in [`Mode::Velocity`], with the same
//! variables; outputs must be identical, and a template Velocity refuses must be refused.
//!
//! Needs a JDK and Debian's `velocity` package (`.ci/run` installs both). Set
//! `VELOCITY_JARS` to a `:`-separated class path to use jars from elsewhere.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use wasmgate_vtl::{Inputs, JMap, Limits, Mode, Template, Value};

fn class_path() -> String {
    if let Ok(cp) = std::env::var("VELOCITY_JARS") {
        return cp;
    }
    let jars = ["velocity-1.7.jar", "commons-collections3.jar", "commons-lang.jar"];
    let dir = Path::new("/usr/share/java");
    for j in jars {
        assert!(
            dir.join(j).exists(),
            "{} is missing: install Apache Velocity 1.7 and a JDK (`apt-get install velocity default-jdk-headless`) \
             or set VELOCITY_JARS",
            dir.join(j).display()
        );
    }
    jars.iter().map(|j| dir.join(j).display().to_string()).collect::<Vec<_>>().join(":")
}

/// The corpus: `(name, template)`.
fn corpus() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/corpus")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "vtl"))
        .collect();
    files.sort();
    let mut out: Vec<(String, String)> = files
        .iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(p).unwrap()))
        .collect();
    out.extend(generated());
    out
}

/// Generated templates: every operator on pairs of operands of every type, and the string,
/// list and map methods with a spread of arguments.
fn generated() -> Vec<(String, String)> {
    let operands = [
        "1",
        "-3",
        "2147483647",
        "2.5",
        "0",
        "'a'",
        "\"b$n\"",
        "true",
        "false",
        "$n",
        "$d",
        "$nothing",
        "$list",
        "$map.a",
        "$empty",
        "$big",
    ];
    let ops = ["+", "-", "*", "/", "%", "==", "!=", "<", ">", "<=", ">=", "&&", "||"];
    let mut out = Vec::new();
    for (i, a) in operands.iter().enumerate() {
        for chunk in ops.chunks(2) {
            let mut t = String::new();
            for op in chunk {
                for b in operands.iter().skip(i % 3).step_by(3) {
                    t.push_str(&format!("#set($r = 'unset')#set($r = {a} {op} {b})[{a} {op} {b}=$r]\n"));
                }
            }
            out.push((format!("gen-ops-{i}-{}", chunk[0].escape_default()), t));
        }
        out.push((format!("gen-if-{i}"), format!("#if({a})T#{{else}}F#end #if(!{a})T#{{else}}F#end\n")));
    }
    let strings = ["'Hello, World'", "''", "'  padded  '", "'a,b,,c,'", "'ÄÖü ß'", "$name"];
    let calls = [
        "length()",
        "toUpperCase()",
        "toLowerCase()",
        "trim()",
        "isEmpty()",
        "substring(1)",
        "substring(1, 3)",
        "substring(0, 0)",
        "indexOf('o')",
        "indexOf('o', 5)",
        "lastIndexOf('o')",
        "lastIndexOf('l', 3)",
        "contains('lo')",
        "startsWith('He')",
        "endsWith('d')",
        "replace('l', 'L')",
        "replaceAll('[aeiou]', '*')",
        "replaceAll('(\\w+)', '<$1>')",
        "replaceFirst('l+', '_')",
        "split(',').get(0)",
        "split(',').size()",
        "split(',', 2).get(1)",
        "matches('.*o.*')",
        "charAt(0)",
        "concat('!')",
        "equals('Hello, World')",
        "equalsIgnoreCase('hello, world')",
        "compareTo('Hello')",
        "hashCode()",
        "toString()",
        "class",
        "empty",
        "bytes.size()",
        "nope()",
        "length",
    ];
    for (i, s) in strings.iter().enumerate() {
        let mut t = format!("#set($s = {s})\n");
        for c in calls {
            t.push_str(&format!("{c}=$s.{c}|\n"));
        }
        out.push((format!("gen-string-{i}"), t));
    }
    let lists = ["[]", "[1, 2, 3]", "['a', 'b', 'a']", "[1..4]", "[3..-1]", "[[1, 2], {'k': 'v'}, $nothing]"];
    let list_calls = [
        "size()",
        "isEmpty()",
        "get(0)",
        "get(1)",
        "contains('a')",
        "contains(2)",
        "indexOf('a')",
        "lastIndexOf('a')",
        "subList(0, 1)",
        "add('x')",
        "add(0, 'y')",
        "remove(0)",
        "remove('a')",
        "set(0, 'z')",
        "addAll(['p', 'q'])",
        "containsAll(['a'])",
        "toString()",
        "hashCode()",
        "[0]",
        "[-1]",
    ];
    for (i, l) in lists.iter().enumerate() {
        let mut t = String::new();
        for c in list_calls {
            let access = if c.starts_with('[') { format!("$l{c}") } else { format!("$l.{c}") };
            t.push_str(&format!("#set($l = {l})\n{c}={access}|$l\n"));
        }
        t.push_str(&format!(
            "#set($l = {l})#foreach($x in $l)$foreach.index:$x:$velocityCount:$foreach.hasNext #end\n"
        ));
        out.push((format!("gen-list-{i}"), t));
    }
    let maps = ["{}", "{'a': 1, 'b': 'two'}", "{'z': 1, 'y': 2, 'x': 3, 'aa': 4}", "$map", "$nested"];
    let map_calls = [
        "size()",
        "isEmpty()",
        "get('a')",
        "a",
        "b",
        "containsKey('a')",
        "containsValue(1)",
        "keySet()",
        "values()",
        "entrySet()",
        "put('a', 9)",
        "put('new', 1)",
        "remove('a')",
        "remove('zz')",
        "inner.k",
        "list[0].x",
        "getOrDefault('q', 'dflt')",
        "putIfAbsent('a', 7)",
        "toString()",
        "['b']",
    ];
    for (i, m) in maps.iter().enumerate() {
        let mut t = String::new();
        for c in map_calls {
            let access = if c.starts_with('[') { format!("$m{c}") } else { format!("$m.{c}") };
            t.push_str(&format!("#set($m = {m})\n{c}={access}|$m\n"));
        }
        t.push_str(&format!(
            "#set($m = {m})#foreach($e in $m.entrySet())$e.key=$e.value;#end #foreach($v in $m)$v,#end\n"
        ));
        out.push((format!("gen-map-{i}"), t));
    }
    out
}

/// The variables Oracle.java puts in the context.
fn inputs() -> (Inputs, HashMap<String, Value>) {
    let inputs = Inputs {
        body: "{\"a\":1}".into(),
        path: vec![("id".into(), "42".into())],
        querystring: vec![("q".into(), "x y".into())],
        header: vec![("Accept".into(), "application/json".into())],
        context: serde_json::json!({
            "requestId": "r-1",
            "authorizer": {"principalId": "alice"},
            "identity": {"sourceIp": "127.0.0.1"},
        })
        .as_object()
        .unwrap()
        .clone(),
        stage_variables: vec![("env".into(), "prod".into())],
    };
    let json = |s: &str| Value::from_json(&serde_json::from_str(s).unwrap());
    let java = |v: Value| match v {
        // Oracle.java builds java.util.ArrayList, not JSON arrays.
        Value::List(items, _) => Value::list(items.borrow().to_vec()),
        other => other,
    };
    let mut map = JMap::linked();
    map.insert("a".into(), Value::Int(1));
    map.insert("b".into(), Value::str("two"));
    map.insert("c".into(), Value::list(vec![Value::Int(1), Value::Int(2)]));
    let mut nested = JMap::linked();
    nested.insert("inner".into(), json(r#"{"k":"v"}"#));
    nested.insert("list".into(), java(json(r#"[{"x":1}]"#)));
    let vars = HashMap::from([
        ("name".to_string(), Value::str("Ada")),
        ("n".to_string(), Value::Int(3)),
        ("big".to_string(), Value::Int(i32::MAX)),
        ("d".to_string(), Value::Double(1.5)),
        ("flag".to_string(), Value::Bool(true)),
        ("empty".to_string(), Value::str("")),
        ("list".to_string(), Value::list(vec![Value::str("a"), Value::str("b"), Value::str("c")])),
        ("nums".to_string(), Value::list(vec![Value::Int(1), Value::Int(2), Value::Int(3)])),
        ("map".to_string(), Value::map(map)),
        ("nested".to_string(), Value::map(nested)),
    ]);
    (inputs, vars)
}

/// What our engine makes of a template: `OK\n<output>` or `ERR`.
fn ours(src: &str) -> String {
    let limits = Limits::default();
    let t = match Template::parse(src, &limits) {
        Ok(t) => t,
        Err(_) => return "ERR".into(),
    };
    let (inputs, vars) = inputs();
    match t.render_full(&inputs, vars, &limits, Mode::Velocity) {
        Ok(r) => format!("OK\n{}", r.output),
        Err(_) => "ERR".into(),
    }
}

#[test]
fn renders_like_velocity_1_7() {
    let cp = class_path();
    let work = std::env::temp_dir().join(format!("wasmgate-vtl-diff-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let oracle = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/velocity/Oracle.java");
    let status = Command::new("javac")
        .args(["-nowarn", "-cp", &cp, "-d"])
        .arg(&work)
        .arg(&oracle)
        .status()
        .expect("javac (a JDK) is needed for the differential tests");
    assert!(status.success(), "javac failed on Oracle.java");

    let corpus = corpus();
    assert!(corpus.len() >= 200, "the corpus has only {} templates", corpus.len());
    let mut paths = Vec::new();
    for (i, (_, src)) in corpus.iter().enumerate() {
        let p = work.join(format!("{i:04}.vtl"));
        std::fs::write(&p, src).unwrap();
        paths.push(p);
    }
    let status = Command::new("java")
        .arg("-cp")
        .arg(format!("{cp}:{}", work.display()))
        .arg("Oracle")
        .args(&paths)
        .status()
        .expect("java");
    assert!(status.success(), "the Velocity oracle failed");

    let mut mismatches = Vec::new();
    for ((name, src), path) in corpus.iter().zip(&paths) {
        let theirs = std::fs::read_to_string(path.with_extension("vtl.out")).unwrap();
        let theirs = if theirs.starts_with("ERR") { "ERR".to_string() } else { theirs };
        let mine = ours(src);
        if mine != theirs {
            mismatches.push(format!("--- {name}\n{src}\n--- Velocity 1.7:\n{theirs}\n--- wasmgate-vtl:\n{mine}\n"));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    assert!(
        mismatches.is_empty(),
        "{} of {} templates render differently:\n\n{}",
        mismatches.len(),
        corpus.len(),
        mismatches.join("\n")
    );
}
