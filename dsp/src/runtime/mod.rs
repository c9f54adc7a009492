//! The runtime of compiled DSP code: the memory it may touch and the functions it calls.
//!
//! - [`arena`]: the one reservation of address space all DSP-visible memory comes from.
//! - [`zone`]: bump regions that warn once when full and overflow without leaking.
//! - [`reserve`]: the audio thread's bounded stack for memzones and zone overflow.
//! - [`heap`]: the real-time heap behind `halloc`/`free` (TLSF, bookkeeping out of DSP reach).
//! - [`shadow`]: pointer tags and the per-granule shadow every access is checked against
//!   (its allocation, its bounds, whether it is still alive).
//! - [`ctx`]: the per-thread context compiled code receives: fault cell, `salloc` stack,
//!   zone stack, heap, text output.
//! - [`fault`]: why compiled code stopped.
//! - [`printf`], [`messages`]: C-format printing without allocation, and the ring that
//!   carries the audio thread's text to the control thread.
//! - [`vars`]: the table of a closure's captured variables behind `closure.var`.
//! - [`scheduled`]: the callbacks DSP code schedules with `callback`, held until the
//!   engine takes them.
//! - [`math`], [`abi`]: the `extern "C"` functions and the offsets codegen uses.
//!
//! The audio-thread paths (zalloc from the audio zone, memzones from the reserve,
//! halloc/free from the pool, printf into the ring, resetting the audio zone) never
//! allocate, lock or block; `runtime/tests/no_alloc.rs` proves it.

pub(crate) mod abi;
pub mod arena;
pub(crate) mod ctx;
pub mod fault;
pub mod heap;
pub mod math;
#[cfg(target_arch = "x86_64")]
pub mod math_keep;
pub mod messages;
pub mod printf;
pub mod reserve;
pub mod scheduled;
pub mod shadow;
pub mod vars;
pub mod wide_math;
pub mod zone;

#[cfg(test)]
mod tests;

pub use arena::{Arena, ArenaBlock, ArenaError};
pub(crate) use ctx::{AudioConfig, ControlConfig, Ctx};
pub use fault::{FaultCode, FaultDetail, RawFault};
pub use heap::{HeapError, HeapErrorKind};
pub use messages::MessageKind;
pub use shadow::{Alloc, Verdict};
pub use zone::{Zone, ZoneError, ZoneErrorKind, ZoneFull};
