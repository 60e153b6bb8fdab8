//! The `wasmgate` command line, built inside the test package so that Cargo builds it before
//! the integration tests run (`CARGO_BIN_EXE_wasmgate-under-test`). It is the same code as
//! `host/src/main.rs`: both only call [`wasmgate::cli::main`].

fn main() -> std::process::ExitCode {
    match wasmgate::cli::main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
