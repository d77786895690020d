//! The one source of randomness: the operating system's CSPRNG.

/// Fills `buf` from the OS CSPRNG (getrandom(2) on Linux).
///
/// # Panics
/// Only if the operating system cannot provide randomness at all, which no caller can
/// recover from safely: minting a predictable secret would be worse than stopping.
pub fn fill(buf: &mut [u8]) {
    if let Err(error) = getrandom::fill(buf) {
        panic!("the operating system's random number generator failed: {error}");
    }
}

pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    fill(&mut buf);
    buf
}
