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

/// A uniform number in [0, 1) (53 random bits), for jitter.
pub fn unit_interval() -> f64 {
    (u64::from_le_bytes(bytes::<8>()) >> 11) as f64 / (1u64 << 53) as f64
}
