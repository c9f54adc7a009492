//! The real-time heap behind `halloc`/`free`: TLSF (`rlsf`) with its bookkeeping kept out of
//! DSP reach.
//!
//! Each context owns one [`HeapPool`]. Its memory is an arena block (what DSP code reads and
//! writes), but the TLSF allocator runs over a *shadow* mapping of the same length outside
//! the arena, at the same offsets: block headers and free lists live in the shadow, so a DSP
//! buffer overrun can scribble on its neighbour's data but never on the allocator's
//! pointers. A bitmap (one bit per 16 bytes) records where live allocations start, so `free`
//! of anything else — a wild pointer, an interior pointer, a double free — is refused with
//! an error instead of corrupting the pool. Allocation and free are constant time and never
//! touch the system allocator. Allocations are tagged in the arena's shadow (see
//! [`crate::runtime::shadow`]) and `free` marks them dead, so a pointer used after its
//! `free` faults, and a `free` through a stale pointer to memory handed out again is refused.
//!
//! `Tlsf` is not `Send`; each pool has exactly one owner (its context). Memory one context
//! halloc'd may be freed by the other thread: that `free` goes into a bounded deferred-free
//! ring ([`RemoteHeap`]) and the owner frees it at its next `halloc`/`free`/buffer end.

use super::arena::{Arena, ArenaBlock};
use super::shadow::strip;
use rlsf::Tlsf;
use rtrb::{Consumer, Producer, RingBuffer};
use std::alloc::Layout;
use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;

/// Alignment of every heap allocation (and the most `halloc` supports).
pub const HEAP_ALIGN: u64 = 16;

/// Deferred frees one ring holds before further frees from the other thread are counted lost.
pub const REMOTE_FREE_SLOTS: usize = 4096;

type Pool = Tlsf<'static, u32, u32, 28, 32>;

/// What went wrong in the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeapErrorKind {
    /// No free block is large enough.
    Full,
    /// The alignment is larger than [`HEAP_ALIGN`] or not a power of two.
    BadAlign,
    /// `free` of an address that is not the start of a live allocation.
    BadFree,
    /// The operating system refused the shadow mapping.
    Map,
    /// The arena has no room for a pool of this size.
    NoRoom,
}

/// A heap operation that failed. Copy and heap-free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapError {
    pub kind: HeapErrorKind,
    /// Bytes asked, the alignment, or the address freed, by kind.
    pub value: u64,
    /// The pool's size.
    pub capacity: u64,
}

impl fmt::Display for HeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let HeapError {
            kind,
            value,
            capacity,
        } = *self;
        match kind {
            HeapErrorKind::Full => write!(
                f,
                "halloc of {value} bytes could not be met: the real-time heap of {capacity} bytes is full"
            ),
            HeapErrorKind::BadAlign => write!(
                f,
                "halloc with an alignment of {value} bytes is not supported (at most {HEAP_ALIGN})"
            ),
            HeapErrorKind::BadFree => write!(
                f,
                "free of {value:#x}, which halloc did not give or which was already freed"
            ),
            HeapErrorKind::Map => write!(
                f,
                "could not map {capacity} bytes for the real-time heap's bookkeeping (os error {value})"
            ),
            HeapErrorKind::NoRoom => write!(
                f,
                "cannot make a real-time heap of {value} bytes: the DSP arena of {capacity} bytes has no room for it"
            ),
        }
    }
}

impl std::error::Error for HeapError {}

/// An anonymous mapping outside the arena holding the allocator's headers.
#[derive(Debug)]
struct Shadow {
    base: NonNull<u8>,
    len: usize,
}

impl Shadow {
    fn new(len: usize) -> Result<Shadow, HeapError> {
        let fail = |errno: i32| HeapError {
            kind: HeapErrorKind::Map,
            value: errno as u64,
            capacity: len as u64,
        };
        let addr = super::arena::map_anonymous(len).map_err(fail)?;
        let base = NonNull::new(addr as *mut u8).ok_or_else(|| fail(0))?;
        Ok(Shadow { base, len })
    }

    fn touch(&self) {
        for offset in (0..self.len).step_by(super::arena::PAGE) {
            // SAFETY: offset < len, inside this read-write mapping, which nothing else uses
            // yet (the allocator has not been given it).
            unsafe { self.base.as_ptr().add(offset).write_volatile(0) };
        }
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `new` with this address and length; the pool that
        // used it is being dropped with it.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}

/// One context's real-time heap.
pub struct HeapPool {
    tlsf: Pool,
    block: ArenaBlock,
    shadow: Shadow,
    starts: Box<[u64]>,
    live: usize,
    inboxes: Vec<Consumer<u64>>,
    bad_remote_frees: u64,
}

// SAFETY: the only non-Send parts are the allocator's pointers, which point into `shadow`,
// a mapping this pool owns exclusively; moving the pool moves its one owner, nothing is shared.
unsafe impl Send for HeapPool {}

impl fmt::Debug for HeapPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeapPool")
            .field("addr", &self.block.addr())
            .field("len", &self.block.len())
            .field("live", &self.live)
            .finish()
    }
}

impl HeapPool {
    /// A pool of `bytes` carved from the arena; `touch` commits every page now (audio thread).
    pub fn new(arena: &Arc<Arena>, bytes: u64, touch: bool) -> Result<HeapPool, HeapError> {
        let block = arena.alloc_block(bytes).map_err(|_| HeapError {
            kind: HeapErrorKind::NoRoom,
            value: bytes,
            capacity: arena.len(),
        })?;
        let shadow = Shadow::new(block.len())?;
        if touch {
            block.touch();
            shadow.touch();
        }
        let mut tlsf = Pool::new();
        let region = NonNull::slice_from_raw_parts(shadow.base, shadow.len);
        // SAFETY: the shadow mapping is owned by this pool and outlives `tlsf` (both are
        // fields of the pool, dropped together); nothing else reads or writes it.
        unsafe { tlsf.insert_free_block_ptr(region) };
        let granules = block.len() / HEAP_ALIGN as usize;
        let starts = vec![0u64; granules.div_ceil(64)].into_boxed_slice();
        Ok(HeapPool {
            tlsf,
            block,
            shadow,
            starts,
            live: 0,
            inboxes: Vec::new(),
            bad_remote_frees: 0,
        })
    }

    /// True when `addr` (tag stripped) lies in this pool's memory.
    pub fn owns(&self, addr: u64) -> bool {
        strip(addr).wrapping_sub(self.block.addr()) < self.block.len() as u64
    }

    /// The pool's DSP-visible range, for the other thread's [`RemoteHeap`].
    pub fn range(&self) -> (u64, u64) {
        (
            self.block.addr(),
            self.block.addr() + self.block.len() as u64,
        )
    }

    /// Allocations not yet freed.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Frees from the other thread that named no live allocation (ignored and counted).
    pub fn bad_remote_frees(&self) -> u64 {
        self.bad_remote_frees
    }

    /// The pool's size in bytes.
    pub fn capacity(&self) -> u64 {
        self.block.len() as u64
    }

    /// A deferred-free ring whose consumer this pool drains; give the producer to the other
    /// thread's context (control thread: allocates the ring).
    pub fn remote(&mut self) -> RemoteHeap {
        let (outbox, inbox) = RingBuffer::new(REMOTE_FREE_SLOTS);
        self.drain_remote_frees();
        self.inboxes.retain(|c| !c.is_abandoned());
        self.inboxes.push(inbox);
        let (start, end) = self.range();
        RemoteHeap {
            start,
            end,
            outbox,
            lost: 0,
        }
    }

    /// `bytes` zeroed bytes aligned to `align` (at most [`HEAP_ALIGN`]), tagged as made at
    /// `site`.
    pub fn alloc(&mut self, bytes: u64, align: u64, site: u32) -> Result<u64, HeapError> {
        self.drain_remote_frees();
        if !align.max(1).is_power_of_two() || align > HEAP_ALIGN {
            return Err(self.error(HeapErrorKind::BadAlign, align));
        }
        let layout = usize::try_from(bytes.max(1))
            .ok()
            .and_then(|b| Layout::from_size_align(b, HEAP_ALIGN as usize).ok())
            .ok_or_else(|| self.error(HeapErrorKind::Full, bytes))?;
        let p = self
            .tlsf
            .allocate(layout)
            .ok_or_else(|| self.error(HeapErrorKind::Full, bytes))?;
        let offset = p.as_ptr() as usize - self.shadow.base.as_ptr() as usize;
        let addr = self.block.addr() + offset as u64;
        self.block.zero(addr, layout.size());
        let g = offset / HEAP_ALIGN as usize;
        self.starts[g / 64] |= 1 << (g % 64);
        self.live += 1;
        Ok(self.block.arena().tag(addr, bytes, site))
    }

    /// Frees an allocation of this pool.
    pub fn free(&mut self, addr: u64) -> Result<(), HeapError> {
        self.drain_remote_frees();
        self.free_here(addr, false)
    }

    /// Frees the allocation starting at `p`. A free from the other thread (`remote`) may
    /// find it already marked dead: that thread marks it when it frees it.
    fn free_here(&mut self, p: u64, remote: bool) -> Result<(), HeapError> {
        let addr = strip(p);
        let bad = self.error(HeapErrorKind::BadFree, addr);
        if !self.owns(addr) {
            return Err(bad);
        }
        let offset = (addr - self.block.addr()) as usize;
        let g = offset / HEAP_ALIGN as usize;
        let bit = 1u64 << (g % 64);
        if !offset.is_multiple_of(HEAP_ALIGN as usize) || self.starts[g / 64] & bit == 0 {
            return Err(bad);
        }
        let arena = self.block.arena();
        let Some((start, len, dead)) = arena
            .span(p)
            .filter(|&(start, _, dead)| start == addr && (remote || !dead))
        else {
            return Err(bad);
        };
        if !dead {
            arena.kill(start, len.max(1));
        }
        self.starts[g / 64] &= !bit;
        self.live -= 1;
        // SAFETY: offset < shadow.len, so p lies in the shadow mapping.
        let p = unsafe { self.shadow.base.add(offset) };
        // SAFETY: the start bitmap says `p` is a live allocation of this allocator, made with
        // alignment HEAP_ALIGN, and its bit is now cleared so it is freed exactly once.
        unsafe { self.tlsf.deallocate(p, HEAP_ALIGN as usize) };
        Ok(())
    }

    /// Frees what the other thread handed back.
    pub fn drain_remote_frees(&mut self) {
        for i in 0..self.inboxes.len() {
            while let Ok(addr) = self.inboxes[i].pop() {
                if self.free_here(addr, true).is_err() {
                    self.bad_remote_frees += 1;
                }
            }
        }
    }

    fn error(&self, kind: HeapErrorKind, value: u64) -> HeapError {
        HeapError {
            kind,
            value,
            capacity: self.capacity(),
        }
    }
}

/// The sending end of another context's deferred-free ring.
#[derive(Debug)]
pub struct RemoteHeap {
    start: u64,
    end: u64,
    outbox: Producer<u64>,
    lost: u64,
}

impl RemoteHeap {
    /// True when `addr` (tag stripped) lies in the other pool.
    pub fn owns(&self, addr: u64) -> bool {
        (self.start..self.end).contains(&strip(addr))
    }

    /// Sends `addr` to its owner to free; a full ring counts it lost (a leak, never a crash).
    pub fn free(&mut self, addr: u64) {
        if self.outbox.push(addr).is_err() {
            self.lost += 1;
        }
    }

    /// Frees that did not fit in the ring.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// True once the owning pool is gone.
    pub fn is_abandoned(&self) -> bool {
        self.outbox.is_abandoned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::shadow::{Alloc, Verdict};

    fn pool() -> (Arc<Arena>, HeapPool) {
        let arena = Arena::new(1 << 26).expect("arena");
        let pool = HeapPool::new(&arena, 1 << 20, false).expect("pool");
        (arena, pool)
    }

    #[test]
    fn allocations_are_zeroed_aligned_and_disjoint() {
        let (arena, mut pool) = pool();
        let a = pool.alloc(24, 8, 0).expect("a");
        let b = pool.alloc(100, 16, 0).expect("b");
        assert!(arena.contains(a, 24) && arena.contains(b, 100));
        let (a, b) = (strip(a), strip(b));
        assert_eq!(a % 16, 0);
        assert!(a + 24 <= b || b + 100 <= a);
        // SAFETY: `b` is 100 bytes just handed out by the pool.
        let bytes = unsafe { std::slice::from_raw_parts(b as *const u8, 100) };
        assert!(bytes.iter().all(|&x| x == 0));
        assert_eq!(pool.live(), 2);
    }

    #[test]
    fn an_overrun_cannot_corrupt_the_allocator() {
        let (_arena, mut pool) = pool();
        let a = pool.alloc(32, 8, 0).expect("a");
        let b = pool.alloc(32, 8, 0).expect("b");
        // SAFETY: the pool's whole block is arena memory owned by the pool; a DSP overrun
        // writes like this over the next allocation and beyond.
        unsafe { std::ptr::write_bytes(strip(a) as *mut u8, 0xAB, 4096) };
        pool.free(b).expect("b");
        pool.free(a).expect("a");
        let c = pool.alloc(64, 8, 0).expect("c");
        pool.free(c).expect("c");
    }

    #[test]
    fn bad_frees_are_refused_with_a_message() {
        let (_arena, mut pool) = pool();
        let a = pool.alloc(32, 8, 0).expect("a");
        let err = pool.free(a + 16).expect_err("interior");
        assert_eq!(err.kind, HeapErrorKind::BadFree);
        pool.free(a).expect("a");
        let err = pool.free(a).expect_err("double");
        assert_eq!(err.kind, HeapErrorKind::BadFree);
        assert_eq!(
            err.to_string(),
            format!(
                "free of {:#x}, which halloc did not give or which was already freed",
                strip(a)
            )
        );
        assert_eq!(pool.free(8).expect_err("wild").kind, HeapErrorKind::BadFree);
    }

    #[test]
    fn memory_used_after_free_faults_and_a_stale_free_is_refused() {
        let (arena, mut pool) = pool();
        let a = pool.alloc(32, 8, 5).expect("a");
        assert!(arena.owns(a + 24, 8));
        assert!(!arena.owns(a + 28, 8), "past the end");
        pool.free(a).expect("a");
        assert!(matches!(
            arena.probe(a, 8),
            Verdict::Freed(Alloc {
                len: 32,
                site: 5,
                offset: 0
            })
        ));
        let b = pool.alloc(32, 8, 6).expect("b");
        assert_eq!(strip(b), strip(a), "TLSF hands the block out again");
        assert!(matches!(arena.probe(a, 8), Verdict::Foreign(_)));
        let err = pool.free(a).expect_err("stale");
        assert_eq!(err.kind, HeapErrorKind::BadFree);
        pool.free(b).expect("b");
    }

    #[test]
    fn a_full_pool_and_a_big_alignment_are_errors() {
        let (_arena, mut pool) = pool();
        let err = pool.alloc(2 << 20, 8, 0).expect_err("full");
        assert_eq!(
            err.to_string(),
            "halloc of 2097152 bytes could not be met: the real-time heap of 1048576 bytes is full"
        );
        let err = pool.alloc(8_000_000_000_000_000, 8, 0).expect_err("huge");
        assert_eq!(err.kind, HeapErrorKind::Full);
        let err = pool.alloc(8, 64, 0).expect_err("align");
        assert_eq!(
            err.to_string(),
            "halloc with an alignment of 64 bytes is not supported (at most 16)"
        );
    }

    #[test]
    fn a_pool_larger_than_the_arena_is_refused_with_a_message() {
        let arena = Arena::new(1 << 20).expect("arena");
        let err = HeapPool::new(&arena, 1 << 30, false).expect_err("too big");
        assert_eq!(
            err.to_string(),
            "cannot make a real-time heap of 1073741824 bytes: the DSP arena of 1048576 bytes has no room for it"
        );
    }

    #[test]
    fn frees_from_the_other_thread_are_deferred_to_the_owner() {
        let (_arena, mut pool) = pool();
        let mut remote = pool.remote();
        let a = pool.alloc(32, 8, 0).expect("a");
        assert!(remote.owns(a));
        std::thread::scope(|s| {
            s.spawn(|| remote.free(a));
        });
        assert_eq!(pool.live(), 1);
        pool.drain_remote_frees();
        assert_eq!(pool.live(), 0);
        remote.free(a);
        pool.drain_remote_frees();
        assert_eq!(pool.bad_remote_frees(), 1);
        assert_eq!(remote.lost(), 0);
    }
}
