//! The `wasmgate` binary: see [`wasmgate::cli`].

fn main() -> std::process::ExitCode {
    match wasmgate::cli::main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
