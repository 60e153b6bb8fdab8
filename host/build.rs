//! Builds every guest component of the workspace (built-in plugins, examples, test fixtures)
//! for `wasm32-wasip2` with one nested `cargo build`, and generates `artifacts.rs`:
//! - `BUILTINS`: the built-in plugins (`plugins/*`), embedded with `include_bytes!`;
//! - `GUESTS`: the path of every guest component, for examples and tests.
//!
//! `WASMGATE_SKIP_WASM_BUILD=1` skips the nested build (for lint-only jobs); the tables are
//! then empty and the gateway says so when a built-in is asked for.

use std::collections::BTreeSet;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const GUEST_DIRS: &[&str] = &["plugins", "tests/fixtures/guests", "examples"];
const TARGET: &str = "wasm32-wasip2";

struct Guest {
    package: String,
    dir: PathBuf,
    builtin: bool,
}

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-env-changed=WASMGATE_SKIP_WASM_BUILD");
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!("cargo:rerun-if-changed={}", root.join("Cargo.toml").display());
    // A new guest crate is a new workspace member: it always changes the lock file.
    println!("cargo:rerun-if-changed={}", root.join("Cargo.lock").display());
    println!("cargo:rerun-if-changed={}", root.join("sdk").display());

    let guests = discover(&root);
    for g in &guests {
        println!("cargo:rerun-if-changed={}", g.dir.join("Cargo.toml").display());
        println!("cargo:rerun-if-changed={}", g.dir.join("src").display());
    }
    let skip = env::var("WASMGATE_SKIP_WASM_BUILD").is_ok_and(|v| v == "1");
    let mut generated = String::new();
    generated.push_str("/// Built-in plugins: `(name, component bytes)`.\npub const BUILTINS: &[(&str, &[u8])] = &[\n");
    let mut paths = String::new();
    paths.push_str(
        "/// Every guest component built with the host: `(package, path)`.\npub const GUESTS: &[(&str, &str)] = &[\n",
    );
    if !skip {
        // The nested build gets a target directory of its own next to the outer one, so the two
        // builds never wait on each other's lock.
        let target_dir = outer_target_dir(&out_dir).join("wasm");
        build(&root, &target_dir, &guests);
        let release = target_dir.join(TARGET).join("release");
        let mut deps = BTreeSet::new();
        for g in &guests {
            let stem = g.package.replace('-', "_");
            let wasm = release.join(format!("{stem}.wasm"));
            assert!(wasm.exists(), "guest build produced no {}", wasm.display());
            read_deps(&release.join(format!("{stem}.d")), &mut deps);
            let wasm = wasm.display().to_string();
            if g.builtin {
                writeln!(generated, "    ({:?}, include_bytes!({wasm:?})),", g.package).unwrap();
            }
            writeln!(paths, "    ({:?}, {wasm:?}),", g.package).unwrap();
        }
        for d in deps {
            println!("cargo:rerun-if-changed={d}");
        }
    }
    generated.push_str("];\n");
    paths.push_str("];\n");
    generated.push_str(&paths);
    fs::write(out_dir.join("artifacts.rs"), generated).unwrap();
}

/// Every package below the guest directories (one level deep, and `examples/*/*`).
fn discover(root: &Path) -> Vec<Guest> {
    let mut found = Vec::new();
    for dir in GUEST_DIRS {
        let mut stack = vec![(root.join(dir), 0)];
        while let Some((d, depth)) = stack.pop() {
            let Ok(entries) = fs::read_dir(&d) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                let cargo = p.join("Cargo.toml");
                if cargo.exists() {
                    let text = fs::read_to_string(&cargo).unwrap();
                    if let Some(package) = package_name(&text) {
                        found.push(Guest { package, dir: p.clone(), builtin: *dir == "plugins" });
                    }
                } else if p.is_dir() && depth < 1 {
                    stack.push((p, depth + 1));
                }
            }
        }
    }
    found.sort_by(|a, b| a.package.cmp(&b.package));
    found
}

fn package_name(cargo_toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in cargo_toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(rest) = line.strip_prefix("name") {
            return Some(rest.trim_start().strip_prefix('=')?.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// `OUT_DIR` is `<target>/<profile>/build/<pkg>-<hash>/out` (or with a target triple).
fn outer_target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|p| p.join("CACHEDIR.TAG").exists())
        .unwrap_or_else(|| out_dir.ancestors().nth(4).unwrap())
        .to_path_buf()
}

fn build(root: &Path, target_dir: &Path, guests: &[Guest]) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if !target_installed(&rustc) {
        // A fresh machine has only the host target: add it, so that `cargo run` works as the
        // README says; say how when that is not possible.
        println!("cargo:warning=installing the {TARGET} Rust target (rustup target add {TARGET})");
        let added = Command::new("rustup").args(["target", "add", TARGET]).status().is_ok_and(|s| s.success());
        if !added || !target_installed(&rustc) {
            panic!(
                "\n\nThe `{TARGET}` Rust target is not installed, and wasmgate's plugins are built for it.\n\
                 Install it with:\n\n    rustup target add {TARGET}\n\n\
                 (or set WASMGATE_SKIP_WASM_BUILD=1 to build the host without its plugins)\n"
            );
        }
    }
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args(["build", "--release", "--target", TARGET, "--target-dir"]).arg(target_dir);
    for g in guests {
        cmd.args(["-p", &g.package]);
    }
    // Don't inherit the outer build's flags, wrappers (clippy) or target overrides.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MAKEFLAGS_SKIP",
    ] {
        cmd.env_remove(var);
    }
    // Small components: no debug info, but keep the name section for readable trap backtraces.
    cmd.env("CARGO_PROFILE_RELEASE_DEBUG", "false").env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    // CI's warning policy applies to guests too.
    if env::var("RUSTFLAGS").is_ok_and(|f| f.contains("-D warnings")) {
        cmd.env("RUSTFLAGS", "-D warnings");
    }
    let status = cmd.status().expect("failed to run cargo for the wasm32-wasip2 guests");
    if !status.success() {
        panic!("building the wasm32-wasip2 guests failed ({status}); see the cargo output above");
    }
}

fn target_installed(rustc: &str) -> bool {
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot).join("lib/rustlib").join(TARGET).join("lib").exists()
}

/// Adds the source files listed in a cargo dep-info (`.d`) file.
fn read_deps(d_file: &Path, deps: &mut BTreeSet<String>) {
    let Ok(text) = fs::read_to_string(d_file) else { return };
    for line in text.lines() {
        let Some((_, inputs)) = line.split_once(": ") else {
            continue;
        };
        // Paths are space separated, with spaces inside paths escaped as `\ `.
        let mut current = String::new();
        let mut chars = inputs.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                ' ' => {
                    if !current.is_empty() {
                        deps.insert(std::mem::take(&mut current));
                    }
                }
                _ => current.push(c),
            }
        }
        if !current.is_empty() {
            deps.insert(current);
        }
    }
}
