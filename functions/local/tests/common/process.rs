//! Starting a keyroll-local binary on a free loopback port. Included by keyroll-local's
//! tests (through `common`) and by the CLI's, which start the binary built beside theirs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running keyroll-local; killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the keyroll-local at `binary` on a free loopback port with `env` and `args`,
/// and waits until it says where it listens.
pub fn start_binary(binary: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(binary);
    command
        .args(args)
        .env("KEYROLL_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("start keyroll-local");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = lines
        .by_ref()
        .map(|line| line.expect("read stdout"))
        .find(|line| line.contains("listening on"))
        .expect("keyroll-local never said where it listens");
    let base = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}
