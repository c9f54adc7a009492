//! The arena: the one reservation of address space that holds every byte DSP code can reach.
//!
//! An [`Arena`] is a single `mmap` of `len` bytes (`MAP_NORESERVE`, so pages are committed
//! only when touched) made once per [`crate::runtime::Ctx`] family — in practice once per
//! `Dsp`. Compiled code checks every access with one unsigned compare against
//! [`Arena::base`] and [`Arena::len`], which never change for the arena's life, so codegen may
//! embed them as immediates, and then against its allocation through the arena's shadow
//! (see [`crate::runtime::shadow`]): [`Arena::tag`] marks an allocation and returns its
//! tagged pointer, [`Arena::kill`] marks freed memory, [`Arena::probe`] is the check in Rust.
//! Addresses given to the methods here may carry a tag; it is stripped.
//!
//! The arena hands out page-aligned [`ArenaBlock`]s (first fit over freed holes, then a bump
//! pointer). Blocks return to the arena when dropped; large freed blocks are given back to
//! the kernel with `madvise(MADV_DONTNEED)`. Handing out and returning blocks takes a mutex
//! and may allocate, so it happens on the control thread only: the audio thread works inside
//! blocks that were carved for it in advance.

use super::shadow::{self, ShadowMap, Verdict};
use std::collections::BTreeMap;
use std::fmt;
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Granularity and alignment of arena blocks.
pub const PAGE: usize = 4096;

/// Granules a fault looks through, each way, for the allocation a pointer ran off from.
pub const OWNER_SEARCH: u64 = 1 << 14;

/// Freed blocks at least this large are returned to the kernel.
const RELEASE_TO_KERNEL: usize = 1 << 20;

/// Why the arena could not be made or could not hand out a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArenaError {
    /// The operating system refused to reserve the address space.
    Reserve { bytes: usize, errno: i32 },
    /// The arena has no free range this large.
    Full { asked: u64, capacity: usize },
}

impl fmt::Display for ArenaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ArenaError::Reserve { bytes, errno } => write!(
                f,
                "could not reserve {bytes} bytes of address space for DSP memory (os error {errno})"
            ),
            ArenaError::Full { asked, capacity } => write!(
                f,
                "cannot find {asked} bytes of DSP memory: the arena holds {capacity} bytes in all"
            ),
        }
    }
}

impl std::error::Error for ArenaError {}

/// Free space bookkeeping, guarded by the arena's mutex.
#[derive(Debug, Default)]
struct Ranges {
    /// Offset of the first never-used byte.
    top: usize,
    /// Freed holes below `top`: offset -> length, coalesced.
    holes: BTreeMap<usize, usize>,
    /// Blocks handed out and not yet returned.
    live: usize,
    /// Bytes in those blocks.
    in_use: usize,
}

/// Flags of zonal's anonymous mappings: `MAP_NORESERVE` commits nothing until touched.
/// Miri models only `MAP_PRIVATE | MAP_ANONYMOUS`, so under Miri the mappings are plain.
pub(crate) const MAP_FLAGS: libc::c_int = if cfg!(miri) {
    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS
} else {
    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE
};

/// Maps `len` bytes of anonymous, private, read-write memory at an address of the
/// kernel's choosing (committed when touched): the arena, its shadow and the heap's
/// headers. The `errno` when the system refuses.
pub(crate) fn map_anonymous(len: usize) -> Result<usize, i32> {
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches
    // no existing memory; the result is checked against MAP_FAILED below.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            MAP_FLAGS,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED || addr.is_null() {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    Ok(addr as usize)
}

/// One reservation of address space for all DSP-visible memory.
#[derive(Debug)]
pub struct Arena {
    base: usize,
    len: usize,
    ranges: Mutex<Ranges>,
    shadow: ShadowMap,
}

impl Arena {
    /// Reserves `bytes` of address space (rounded up to whole pages). Nothing is committed
    /// until touched.
    pub fn new(bytes: usize) -> Result<Arc<Arena>, ArenaError> {
        let len = bytes
            .checked_next_multiple_of(PAGE)
            .filter(|&l| l > 0)
            .ok_or(ArenaError::Reserve {
                bytes,
                errno: libc::EINVAL,
            })?;
        let addr = map_anonymous(len).map_err(|errno| ArenaError::Reserve { bytes: len, errno })?;
        let shadow = match ShadowMap::new(len) {
            Ok(s) => s,
            Err(errno) => {
                // SAFETY: the mapping was just made with this address and length and nothing
                // uses it yet.
                unsafe { libc::munmap(addr as *mut libc::c_void, len) };
                return Err(ArenaError::Reserve { bytes: len, errno });
            }
        };
        Ok(Arc::new(Arena {
            base: addr,
            len,
            ranges: Mutex::default(),
            shadow,
        }))
    }

    /// First address of the arena.
    pub fn base(&self) -> u64 {
        self.base as u64
    }

    /// Size of the arena in bytes.
    pub fn len(&self) -> u64 {
        self.len as u64
    }

    /// Always false: an arena holds at least one page.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when `[addr, addr + size)` lies inside the arena (tag stripped) — the same
    /// unsigned compare compiled code does: `addr - base <= len - size`.
    pub fn contains(&self, addr: u64, size: u64) -> bool {
        let addr = shadow::strip(addr);
        size <= self.len() && addr.wrapping_sub(self.base()) <= self.len() - size
    }

    /// What compiled code adds to a granule's address to find its shadow entry.
    pub fn shadow_delta(&self) -> u64 {
        self.shadow.base().wrapping_sub(self.base())
    }

    /// Marks `[addr, addr + bytes)` (untagged, granule-aligned, inside the arena, covering
    /// whole granules that no live allocation holds) as one allocation made at `site`, and
    /// returns its pointer with a fresh tag. Takes no lock and allocates nothing.
    pub(crate) fn tag(&self, addr: u64, bytes: u64, site: u32) -> u64 {
        let addr = shadow::strip(addr);
        let span = shadow::round_up(bytes)
            .unwrap_or(u64::MAX)
            .max(shadow::GRANULE);
        if !addr.is_multiple_of(shadow::GRANULE) || !self.contains(addr, span) {
            return addr;
        }
        let t = self.shadow.fresh_tag();
        self.shadow
            .mark(addr - self.base(), span, addr + bytes, t, site);
        shadow::with_tag(addr, t)
    }

    /// Marks every allocation in `[addr, addr + bytes)` dead: a pointer into it faults from
    /// now on. Takes no lock and allocates nothing.
    pub(crate) fn kill(&self, addr: u64, bytes: u64) {
        let addr = shadow::strip(addr) & !(shadow::GRANULE - 1);
        if bytes > 0 && self.contains(addr, bytes) {
            self.shadow.kill(addr - self.base(), bytes);
        }
    }

    /// The check compiled code makes of an access of `size` bytes at pointer `p`, with the
    /// reason when it fails. When the memory is not `p`'s allocation, the allocation `p`
    /// ran off from is looked for nearby (its tag, within [`OWNER_SEARCH`] granules), so
    /// that the fault can say how far past it the access went.
    pub fn probe(&self, p: u64, size: u64) -> Verdict {
        let addr = shadow::strip(p);
        if !self.contains(addr, 1) {
            return Verdict::OutsideArena;
        }
        let granule = addr & !(shadow::GRANULE - 1);
        let e = self.shadow.entry(granule - self.base());
        let v = shadow::verdict(e, granule, p, size);
        let own = !e.unallocated() && e.tag() == shadow::tag_of(p);
        if v == Verdict::Ok || own {
            return v;
        }
        match self.owner(p) {
            Some((g, owner)) => {
                let start = owner.start(g);
                let alloc = shadow::Alloc {
                    len: owner.end().saturating_sub(start),
                    site: owner.site(),
                    offset: addr.wrapping_sub(start) as i64,
                };
                if owner.dead() {
                    Verdict::Freed(alloc)
                } else {
                    Verdict::OutOfBounds(alloc)
                }
            }
            None => v,
        }
    }

    /// The nearest granule to `p`'s whose entry has `p`'s tag, and that entry.
    fn owner(&self, p: u64) -> Option<(u64, shadow::Entry)> {
        let (addr, tag) = (shadow::strip(p), shadow::tag_of(p));
        let g = (addr - self.base()) / shadow::GRANULE;
        let last = self.len() / shadow::GRANULE;
        for d in 1..=OWNER_SEARCH {
            for k in [g.checked_sub(d), Some(g + d).filter(|&k| k < last)] {
                let Some(k) = k else { continue };
                let e = self.shadow.entry(k * shadow::GRANULE);
                if !e.unallocated() && e.tag() == tag {
                    return Some((self.base() + k * shadow::GRANULE, e));
                }
            }
        }
        None
    }

    /// The live allocation pointer `p` points into, with `p`'s tag: (start address, length).
    pub fn allocation(&self, p: u64) -> Option<(u64, u64)> {
        self.span(p)
            .filter(|(_, _, dead)| !dead)
            .map(|(start, len, _)| (start, len))
    }

    /// The allocation, live or dead, that pointer `p` points into with its tag: (start
    /// address, length, dead).
    pub fn span(&self, p: u64) -> Option<(u64, u64, bool)> {
        let addr = shadow::strip(p);
        if !self.contains(addr, 1) {
            return None;
        }
        let granule = addr & !(shadow::GRANULE - 1);
        let e = self.shadow.entry(addr - self.base());
        if e.unallocated() || e.tag() != shadow::tag_of(p) {
            return None;
        }
        let start = e.start(granule);
        Some((start, e.end().saturating_sub(start), e.dead()))
    }

    /// True when an access of `size` bytes at pointer `p` lies in its live allocation.
    pub fn owns(&self, p: u64, size: u64) -> bool {
        self.probe(p, size) == Verdict::Ok
    }

    /// Copies `bytes` into the arena at `addr`; false (and nothing written) when the range is
    /// not inside the arena. For interop: arguments, frames, string literals.
    pub fn write(&self, addr: u64, bytes: &[u8]) -> bool {
        let addr = shadow::strip(addr);
        let ok = self.contains(addr, bytes.len() as u64);
        if ok {
            // SAFETY: the range was just checked to lie inside the arena, mapped read-write for
            // the arena's life; DSP memory is plain bytes, any value is valid.
            unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, bytes.len()) };
        }
        ok
    }

    /// Copies arena bytes at `addr` into `out`; false (and `out` untouched) when the range is
    /// not inside the arena.
    pub fn read(&self, addr: u64, out: &mut [u8]) -> bool {
        let addr = shadow::strip(addr);
        let ok = self.contains(addr, out.len() as u64);
        if ok {
            // SAFETY: the range was just checked to lie inside the arena, mapped read-write for
            // the arena's life.
            unsafe { ptr::copy_nonoverlapping(addr as *const u8, out.as_mut_ptr(), out.len()) };
        }
        ok
    }

    /// The NUL-terminated string at `addr` (without the NUL), if `addr` is in the arena; cut
    /// at the arena's end or after `max` bytes. DSP code may change the bytes from another
    /// thread while they are read: the result is then some mix of old and new bytes.
    pub fn c_str(&self, addr: u64, max: usize) -> Option<&[u8]> {
        let addr = shadow::strip(addr);
        if !self.contains(addr, 1) {
            return None;
        }
        let room = (self.base() + self.len() - addr).min(max as u64) as usize;
        // SAFETY: [addr, addr+room) lies inside the arena, which stays mapped while `self` is
        // borrowed.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, room) };
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(room);
        Some(&bytes[..len])
    }

    /// The NUL-terminated string at pointer `p` (without the NUL), if `p` points into a live
    /// allocation of its tag; cut at the allocation's end or after `max` bytes.
    pub fn live_str(&self, p: u64, max: usize) -> Option<&[u8]> {
        let addr = shadow::strip(p);
        let (start, len) = self.allocation(p)?;
        let room = (start + len).checked_sub(addr)?.min(max as u64) as usize;
        // SAFETY: [addr, addr+room) lies inside a live allocation, in the arena, which stays
        // mapped while `self` is borrowed.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, room) };
        let n = bytes.iter().position(|&b| b == 0).unwrap_or(room);
        Some(&bytes[..n])
    }

    /// Blocks handed out and not yet returned.
    pub fn live_blocks(&self) -> usize {
        self.lock().live
    }

    /// Bytes in blocks handed out and not yet returned.
    pub fn bytes_in_use(&self) -> usize {
        self.lock().in_use
    }

    /// Hands out a block of at least `bytes` bytes (whole pages), page-aligned. Its content is
    /// unspecified: zones and pools zero what they hand out.
    pub fn alloc_block(self: &Arc<Self>, bytes: u64) -> Result<ArenaBlock, ArenaError> {
        let full = ArenaError::Full {
            asked: bytes,
            capacity: self.len,
        };
        let len = usize::try_from(bytes)
            .ok()
            .and_then(|b| b.max(1).checked_next_multiple_of(PAGE))
            .filter(|&l| l <= self.len)
            .ok_or(full)?;
        let mut r = self.lock();
        let hole = r
            .holes
            .iter()
            .find(|&(_, &hole_len)| hole_len >= len)
            .map(|(&o, &l)| (o, l));
        let offset = match hole {
            Some((offset, hole_len)) => {
                r.holes.remove(&offset);
                if hole_len > len {
                    r.holes.insert(offset + len, hole_len - len);
                }
                offset
            }
            None if self.len - r.top >= len => {
                r.top += len;
                r.top - len
            }
            None => return Err(full),
        };
        r.live += 1;
        r.in_use += len;
        drop(r);
        Ok(ArenaBlock {
            arena: Arc::clone(self),
            addr: (self.base + offset) as u64,
            len,
        })
    }

    fn release(&self, addr: u64, len: usize) {
        let offset = addr as usize - self.base;
        if len >= RELEASE_TO_KERNEL {
            self.shadow.forget(offset as u64, len as u64);
        } else {
            self.shadow.kill(offset as u64, len as u64);
        }
        if len >= RELEASE_TO_KERNEL {
            if cfg!(miri) {
                // SAFETY: [addr, addr+len) is a range of this mapping that no block owns any
                // more. Miri has no madvise: zero it, which is what the pages read as after.
                unsafe { ptr::write_bytes(addr as *mut u8, 0, len) };
            } else {
                // SAFETY: [addr, addr+len) is a page-aligned range of this mapping that no
                // block owns any more; MADV_DONTNEED only drops its pages (they read as zero
                // again).
                unsafe {
                    libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED);
                }
            }
        }
        let mut r = self.lock();
        r.live -= 1;
        r.in_use -= len;
        let (mut start, mut end) = (offset, offset + len);
        if let Some((&prev, &prev_len)) = r.holes.range(..start).next_back()
            && prev + prev_len == start
        {
            r.holes.remove(&prev);
            start = prev;
        }
        if let Some(next_len) = r.holes.remove(&end) {
            end += next_len;
        }
        if end == r.top {
            r.top = start;
        } else {
            r.holes.insert(start, end - start);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Ranges> {
        self.ranges.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `new` with exactly this address and length, and
        // every block holds an `Arc` to the arena, so no block outlives it.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
        }
    }
}

/// A page-aligned range of the arena owned by one zone, pool, stack or reserve. Dropping it
/// returns the range to the arena (control thread: this takes the arena's mutex).
#[derive(Debug)]
pub struct ArenaBlock {
    arena: Arc<Arena>,
    addr: u64,
    len: usize,
}

impl ArenaBlock {
    /// First address of the block.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Length of the block in bytes (whole pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a block holds at least one page.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The arena the block belongs to.
    pub fn arena(&self) -> &Arc<Arena> {
        &self.arena
    }

    /// Commits every page of the block and of its shadow now (one write per page), so that
    /// the audio thread never takes a page fault on first use or when it tags memory.
    pub fn touch(&self) {
        self.arena
            .shadow
            .touch(self.addr - self.arena.base(), self.len as u64);
        for offset in (0..self.len).step_by(PAGE) {
            let p = (self.addr as usize + offset) as *mut u8;
            // SAFETY: `p` is inside this block, which is mapped read-write and owned by it;
            // the byte is rewritten with its own value.
            unsafe { p.write_volatile(p.read_volatile()) };
        }
    }

    /// Sets `len` bytes at `addr` to zero.
    ///
    /// Out-of-block ranges are refused, so this cannot touch memory the block does not own.
    pub fn zero(&self, addr: u64, len: usize) -> bool {
        let inside = addr >= self.addr
            && (addr - self.addr) as usize <= self.len
            && len <= self.len - (addr - self.addr) as usize;
        if inside {
            // SAFETY: the range was just checked to lie inside this block, which is mapped
            // read-write.
            unsafe { ptr::write_bytes(addr as *mut u8, 0, len) };
        }
        inside
    }
}

impl Drop for ArenaBlock {
    fn drop(&mut self) {
        self.arena.release(self.addr, self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_page_aligned_inside_and_returned_on_drop() {
        let arena = Arena::new(1 << 24).expect("arena");
        let a = arena.alloc_block(100).expect("a");
        let b = arena.alloc_block(3 * PAGE as u64).expect("b");
        assert_eq!(a.len(), PAGE);
        assert_eq!(a.addr() % PAGE as u64, 0);
        assert!(arena.contains(b.addr(), b.len() as u64));
        assert_eq!(arena.live_blocks(), 2);
        drop(a);
        drop(b);
        assert_eq!(arena.live_blocks(), 0);
        assert_eq!(arena.bytes_in_use(), 0);
    }

    #[test]
    fn freed_holes_are_reused_and_coalesced() {
        let arena = Arena::new(1 << 24).expect("arena");
        let a = arena.alloc_block(PAGE as u64).expect("a");
        let b = arena.alloc_block(PAGE as u64).expect("b");
        let c = arena.alloc_block(PAGE as u64).expect("c");
        let first = a.addr();
        drop(a);
        drop(b);
        let d = arena.alloc_block(2 * PAGE as u64).expect("d");
        assert_eq!(d.addr(), first);
        drop(c);
        drop(d);
        let e = arena.alloc_block(4 * PAGE as u64).expect("e");
        assert_eq!(e.addr(), first);
    }

    #[test]
    fn a_block_larger_than_the_arena_is_a_clear_error() {
        let arena = Arena::new(1 << 20).expect("arena");
        let err = arena
            .alloc_block(8_000_000_000_000_000)
            .expect_err("too large");
        assert_eq!(
            err,
            ArenaError::Full {
                asked: 8_000_000_000_000_000,
                capacity: 1 << 20
            }
        );
        assert_eq!(
            err.to_string(),
            "cannot find 8000000000000000 bytes of DSP memory: the arena holds 1048576 bytes in all"
        );
    }

    #[test]
    fn reads_and_writes_stay_inside() {
        let arena = Arena::new(1 << 20).expect("arena");
        let block = arena.alloc_block(64).expect("block");
        assert!(arena.write(block.addr(), b"hi\0there"));
        assert_eq!(arena.c_str(block.addr(), 100), Some(&b"hi"[..]));
        assert_eq!(arena.c_str(block.addr() + 3, 3), Some(&b"the"[..]));
        let mut out = [0u8; 2];
        assert!(arena.read(block.addr(), &mut out));
        assert_eq!(&out, b"hi");
        assert!(!arena.write(arena.base() + arena.len() - 1, b"ab"));
        assert!(!arena.read(8, &mut out));
        assert_eq!(arena.c_str(8, 10), None);
    }

    #[test]
    fn contains_is_the_unsigned_compare() {
        let arena = Arena::new(1 << 20).expect("arena");
        let base = arena.base();
        assert!(arena.contains(base, 8));
        assert!(arena.contains(base + (1 << 20) - 8, 8));
        assert!(!arena.contains(base + (1 << 20) - 7, 8));
        assert!(!arena.contains(base - 1, 1));
        assert!(!arena.contains(0, 8));
        assert!(!arena.contains(base, (1 << 20) + 1));
    }
}
