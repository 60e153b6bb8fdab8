//! wasmgate's integration tests: one binary, a module per area. Every server binds
//! 127.0.0.1 on a port the OS picks.

mod authorizer;
mod binary;
mod durability;
mod edge;
mod hostile;
mod http1;
mod manifest;
mod mapping;
mod mock;
mod params;
mod plugins;
mod process;
mod proxy;
mod reload;
mod validation;
