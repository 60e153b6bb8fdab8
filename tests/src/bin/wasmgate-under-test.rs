//! The `wasmgate` command line, built inside the test package so that Cargo builds it before
//! the integration tests run (`CARGO_BIN_EXE_wasmgate-under-test`). It is the same code as
//! `host/src/main.rs`: both only call [`wasmgate::cli::run`].

fn main() -> std::process::ExitCode {
    wasmgate::cli::run()
}
