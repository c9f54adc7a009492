//! Denormal numbers flushed to zero while the audio thread runs DSP code.
//!
//! A recursive filter, a delay's feedback or a reverb's tail decaying towards
//! silence passes through subnormal floats, which the CPU handles tens of times
//! slower than normal ones: a quiet tail could overrun the buffer. While a
//! [`FlushDenormals`] guard lives, the floating-point unit treats subnormal inputs as
//! zero and writes zero for subnormal results (x86-64: MXCSR's DAZ and FTZ bits;
//! aarch64: FPCR's FZ bit); dropping it restores the previous mode, so the thread
//! that called the process function gets its own mode back.

/// Flushes denormals to zero on this thread until dropped.
pub struct FlushDenormals {
    saved: Option<u64>,
}

impl FlushDenormals {
    #[allow(clippy::new_without_default)]
    pub fn new() -> FlushDenormals {
        FlushDenormals { saved: set() }
    }
}

impl Drop for FlushDenormals {
    fn drop(&mut self) {
        if let Some(mode) = self.saved {
            restore(mode);
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn set() -> Option<u64> {
    const DAZ_FTZ: u32 = (1 << 6) | (1 << 15);
    let mut csr: u32 = 0;
    // SAFETY: stmxcsr stores the 32-bit MXCSR register into `csr`, a valid u32 the
    // asm block has exclusive use of; it touches nothing else.
    unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack)) };
    let flushed = csr | DAZ_FTZ;
    // SAFETY: ldmxcsr loads `flushed`, which is the current MXCSR with only the DAZ
    // and FTZ bits set (no reserved bit, no exception unmasked), so it cannot fault.
    unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &flushed, options(nostack, readonly)) };
    Some(u64::from(csr))
}

#[cfg(target_arch = "x86_64")]
fn restore(mode: u64) {
    let csr = mode as u32;
    // SAFETY: `csr` is the MXCSR value read by `set` on this thread, so it is valid.
    unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly)) };
}

#[cfg(target_arch = "aarch64")]
fn set() -> Option<u64> {
    const FZ: u64 = 1 << 24;
    let fpcr: u64;
    // SAFETY: reading FPCR has no side effect.
    unsafe { std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack)) };
    // SAFETY: FZ is an architecturally defined control bit; setting it changes only
    // how subnormals are handled.
    unsafe { std::arch::asm!("msr fpcr, {}", in(reg) fpcr | FZ, options(nomem, nostack)) };
    Some(fpcr)
}

#[cfg(target_arch = "aarch64")]
fn restore(mode: u64) {
    // SAFETY: `mode` is the FPCR value read by `set` on this thread.
    unsafe { std::arch::asm!("msr fpcr, {}", in(reg) mode, options(nomem, nostack)) };
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn set() -> Option<u64> {
    None
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn restore(_mode: u64) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnormal_results_are_zero_inside_the_guard_only() {
        let tiny = std::hint::black_box(1.0e-30f32);
        let scale = std::hint::black_box(1.0e-10f32);
        assert!(tiny * scale > 0.0, "subnormal outside the guard");
        {
            let _guard = FlushDenormals::new();
            let product = std::hint::black_box(tiny) * std::hint::black_box(scale);
            if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
                assert_eq!(product, 0.0);
            }
        }
        assert!(std::hint::black_box(tiny) * std::hint::black_box(scale) > 0.0);
    }
}
