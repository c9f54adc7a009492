//! Fault codes: why compiled code stopped, as stored in [`crate::runtime::Ctx::fault`].
//!
//! Compiled code (or a runtime function) writes a nonzero code and the site number of the
//! form into the context and returns; every caller tests the fault cell after a call and
//! returns too, so the fault unwinds to Rust, which turns it into an error with
//! [`crate::runtime::Ctx::finish_call`].

use super::heap::HeapError;
use super::shadow::{Alloc, Verdict, strip};
use super::zone::ZoneError;
use std::fmt;

/// Why DSP code stopped. The numeric values are the ABI: compiled code stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum FaultCode {
    /// A load or store outside its allocation: out of bounds, after the allocation was freed
    /// (or its zone reset), through a stale or stray pointer, or outside DSP memory; or an
    /// index whose offset does not fit in an address.
    OutOfRange = 1,
    /// Integer division or remainder by zero.
    DivByZero = 2,
    /// `zalloc`/`alloc`/`memzone` could not be met.
    ZoneExhausted = 3,
    /// `halloc` could not be met.
    HeapExhausted = 4,
    /// `salloc` ran past the end of the context's stack.
    StackExhausted = 5,
    /// Calls nested deeper than the context's `max_depth` (runaway recursion).
    CallDepth = 6,
    /// A call through a value that is not a closure of the expected type.
    BadClosure = 7,
    /// `free` of memory that `halloc` did not hand out (or already freed).
    BadFree = 8,
    /// An allocation asked for an alignment that is not a power of two up to a page.
    BadAlign = 9,
    /// `memzone` nested too deeply, or popped with no memzone open.
    ZoneStack = 10,
    /// A call to a definition that is missing or changed its type since the caller was compiled.
    StaleCall = 11,
    /// A loop or a function entry saw its thread's interrupt flag set (Ctrl-C,
    /// `(zonal:interrupt)`, the audio watchdog) and stopped.
    Interrupted = 12,
    /// `closure.var` of a variable the closure does not have, or has with another type
    /// (the closure was redefined since the access was compiled).
    ClosureVar = 13,
    /// A call through a closure record whose code was freed: the closure outlived every
    /// definition and zone that kept its code (or the value was never a closure).
    FreedClosure = 14,
    /// `callback` with [`MAX_SCHEDULED`](super::scheduled::MAX_SCHEDULED) callbacks
    /// already scheduled by the same call: nothing was scheduled.
    CallbacksFull = 15,
    /// `zone_cleanup` with [`MAX_CLEANUPS`](super::ctx::MAX_CLEANUPS) cleanups already
    /// waiting for their zones to end.
    CleanupsFull = 16,
}

impl FaultCode {
    /// Every fault code, in numeric order.
    pub const ALL: [FaultCode; 16] = [
        FaultCode::OutOfRange,
        FaultCode::DivByZero,
        FaultCode::ZoneExhausted,
        FaultCode::HeapExhausted,
        FaultCode::StackExhausted,
        FaultCode::CallDepth,
        FaultCode::BadClosure,
        FaultCode::BadFree,
        FaultCode::BadAlign,
        FaultCode::ZoneStack,
        FaultCode::StaleCall,
        FaultCode::Interrupted,
        FaultCode::ClosureVar,
        FaultCode::FreedClosure,
        FaultCode::CallbacksFull,
        FaultCode::CleanupsFull,
    ];

    /// The code stored in the context, or `None` for 0 (no fault) and unknown values.
    pub fn from_u32(code: u32) -> Option<FaultCode> {
        FaultCode::ALL.into_iter().find(|c| *c as u32 == code)
    }

    /// What happened, in a musician's words.
    pub fn message(self) -> &'static str {
        match self {
            FaultCode::OutOfRange => "out-of-range memory access",
            FaultCode::DivByZero => "integer division by zero",
            FaultCode::ZoneExhausted => "zone allocation could not be met",
            FaultCode::HeapExhausted => "halloc could not be met: the real-time heap is full",
            FaultCode::StackExhausted => "salloc stack exhausted",
            FaultCode::CallDepth => {
                "calls nested deeper than the thread's stack allows (runaway recursion?)"
            }
            FaultCode::BadClosure => "call through a value that is not a closure of the right type",
            FaultCode::BadFree => "free of memory that halloc did not give (or freed twice)",
            FaultCode::BadAlign => "unsupported alignment",
            FaultCode::ZoneStack => "memzones nested too deeply, or closed with none open",
            FaultCode::StaleCall => {
                "called a definition that is missing or changed its type: re-evaluate the caller"
            }
            FaultCode::Interrupted => "interrupted: it ran too long and was stopped",
            FaultCode::ClosureVar => {
                "closure.var: the closure has no variable of that name and type (was it redefined?)"
            }
            FaultCode::FreedClosure => {
                "call through a closure whose code was freed: it outlived the definition that made it (or the value is not a closure)"
            }
            FaultCode::CallbacksFull => {
                "callback not scheduled: one call may schedule 256 callbacks at most"
            }
            FaultCode::CleanupsFull => {
                "zone_cleanup: 64 cleanups at most may wait for their zones to end"
            }
        }
    }
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// More about a fault, when the runtime knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultDetail {
    None,
    Zone(ZoneError),
    Heap(HeapError),
    /// A memory access that its allocation does not allow.
    Access(AccessFault),
    /// `(pref p i)` and kin with an index whose offset `i * size` does not fit in an address.
    Index {
        index: i64,
        size: u64,
    },
}

/// A memory access that failed its check: what was accessed and what the shadow says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessFault {
    /// The pointer (with its tag) of the access's first byte.
    pub addr: u64,
    /// Bytes accessed.
    pub size: u64,
    pub write: bool,
    pub verdict: Verdict,
}

impl AccessFault {
    /// The allocation the memory belongs to, when there is one.
    pub fn alloc(&self) -> Option<Alloc> {
        match self.verdict {
            Verdict::Freed(a) | Verdict::Foreign(a) | Verdict::OutOfBounds(a) => Some(a),
            _ => None,
        }
    }
}

impl fmt::Display for AccessFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rw = if self.write { "write" } else { "read" };
        let (size, addr) = (self.size, strip(self.addr));
        match self.verdict {
            Verdict::Ok => write!(f, "{rw} of {size} bytes at {addr:#x}"),
            Verdict::OutsideArena => write!(
                f,
                "out-of-range memory access: {rw} of {size} bytes at {addr:#x}, outside DSP memory"
            ),
            Verdict::Unallocated => write!(
                f,
                "{rw} of {size} bytes through a stray pointer, of memory that no allocation holds"
            ),
            Verdict::OutOfBounds(a) => write!(
                f,
                "out-of-bounds {rw} of {size} bytes at offset {} of an allocation of {} bytes",
                a.offset, a.len
            ),
            Verdict::Freed(a) => write!(
                f,
                "{rw} of {size} bytes at offset {} of an allocation of {} bytes that was freed (by free, or its zone, memzone or call ended)",
                a.offset, a.len
            ),
            Verdict::Foreign(a) => write!(
                f,
                "{rw} of {size} bytes through a stale or stray pointer: the memory is offset {} of another allocation, of {} bytes",
                a.offset, a.len
            ),
        }
    }
}

/// A fault taken out of a context: code, site (the compiler's number for the form) and
/// detail. Copy and heap-free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawFault {
    /// `None` only if compiled code stored a code this runtime does not know.
    pub code: Option<FaultCode>,
    /// The raw value of the fault cell.
    pub raw: u32,
    pub site: u32,
    pub detail: FaultDetail,
}

impl fmt::Display for RawFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.detail) {
            (_, FaultDetail::Zone(z)) => write!(f, "{z}"),
            (_, FaultDetail::Heap(h)) => write!(f, "{h}"),
            (_, FaultDetail::Access(a)) => write!(f, "{a}"),
            (_, FaultDetail::Index { index, size }) => write!(
                f,
                "index {index} is out of range for elements of {size} bytes (its offset does not fit in an address)"
            ),
            (Some(code), FaultDetail::None) => f.write_str(code.message()),
            (None, FaultDetail::None) => write!(f, "unknown fault {}", self.raw),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_zero_is_no_fault() {
        for code in FaultCode::ALL {
            assert_eq!(FaultCode::from_u32(code as u32), Some(code));
        }
        assert_eq!(FaultCode::from_u32(0), None);
        assert_eq!(FaultCode::from_u32(99), None);
        assert_eq!(FaultCode::from_u32(12), Some(FaultCode::Interrupted));
        assert_eq!(
            FaultCode::Interrupted.to_string(),
            "interrupted: it ran too long and was stopped"
        );
    }

    #[test]
    fn raw_faults_say_what_happened() {
        let f = RawFault {
            code: Some(FaultCode::DivByZero),
            raw: 2,
            site: 7,
            detail: FaultDetail::None,
        };
        assert_eq!(f.to_string(), "integer division by zero");
        let f = RawFault {
            code: None,
            raw: 99,
            site: 0,
            detail: FaultDetail::None,
        };
        assert_eq!(f.to_string(), "unknown fault 99");
    }
}
