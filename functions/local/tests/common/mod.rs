//! Starting the keyroll-local binary for end-to-end tests.

mod process;

pub use process::Server;

/// Starts keyroll-local on a free loopback port with `env` and `args`, and waits until
/// it says where it listens.
pub fn start_server(args: &[&str], env: &[(&str, &str)]) -> Server {
    process::start_binary(
        std::path::Path::new(env!("CARGO_BIN_EXE_keyroll-local")),
        args,
        env,
    )
}
