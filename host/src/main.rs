//! The `wasmgate` binary: see [`wasmgate::cli`].

/// mimalloc: the request path allocates and frees many small buffers per request, across
/// threads; glibc's allocator spent about 7% of the proxy's CPU on them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wasmgate::cli::run()
}
