//! Pointer tags and the shadow that says which allocation owns each 16-byte granule of the
//! arena, so that every access of DSP code is checked against its own allocation.
//!
//! A DSP pointer is an arena address (below 2^47 on x86-64 and AArch64 Linux) with a
//! 16-bit *tag* in bits 48..64, as hardware memory tagging (MTE) and HWASan do. Every
//! allocation (zone, memzone, reserve, `salloc` stack, `halloc` heap, the audio context's
//! I/O buffers) starts on a 16-byte granule, covers whole granules and gets a fresh tag;
//! the shadow holds, for each granule of the arena, one 16-byte [`Entry`]:
//!
//! - word 0: `tag << 48 | end`, where `end` is the allocation's exact end address (so
//!   bounds are exact, not rounded to 16); once the allocation is freed or its zone reset
//!   or dropped, [`DEAD`] (bit 47) is set and the tag's top bit flipped ([`KILLED`]);
//! - word 1: the allocating form's site number (low 32 bits) and how many granules back
//!   the allocation starts (high 32 bits), for fault messages.
//!
//! The check of an access of `size` bytes through pointer `p` (tag included) at offset
//! `off` is one load and one compare: `e - (p + off + size) < 2^47` (unsigned) where `e` is
//! word 0 of the entry of the granule holding `p + off`. With equal tags that says the
//! access ends by the allocation's end; a different tag, a dead entry, or a granule no
//! allocation holds (zero) makes the difference at least 2^47. Bytes below an allocation's
//! start lie in another allocation's granules, whose tag differs (tags are handed out in
//! turn, so neighbours differ; a stale pointer matches memory reused since with a chance of
//! 1 in 65,534). A range `[p, p + n*size)` checked before a loop is the same compare with
//! the range's end.
//!
//! The shadow is a mapping of the arena's length outside it (`MAP_NORESERVE`: pages are
//! committed when an allocation first tags them; blocks the audio thread uses are
//! committed in advance, so tagging there never faults a page in). Writing it takes no
//! lock and allocates nothing; words are written with relaxed atomic stores.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Bytes per granule (and per shadow entry).
pub const GRANULE: u64 = 16;
/// The tag of a pointer a C function returned that lies outside the arena (see
/// [`crate::foreign`]): never handed to an allocation, so an access through it fails its
/// check, and a C function may be given it back.
pub const FOREIGN_TAG: u16 = 0xFFFF;
/// First bit of a pointer's tag.
pub const TAG_SHIFT: u32 = 48;
/// The address bits of a pointer: `p & ADDR_MASK` strips the tag.
pub const ADDR_MASK: u64 = (1 << TAG_SHIFT) - 1;
/// [`ADDR_MASK`] in memory, for compiled code that loads it once per call (see
/// `FnCx::strip` in `lower/checks.rs`).
pub static ADDR_MASK_WORD: u64 = ADDR_MASK;
/// How many times any allocation has died (a [`ShadowMap::kill`] or
/// [`ShadowMap::forget`], in any arena): a loop whose body may free memory checks its
/// ranges once before it and again only in an iteration that finds this changed (see
/// `FnCx::dotimes`). Shared by every arena of the process, which costs only re-checks.
pub static FREE_EPOCH: AtomicU64 = AtomicU64::new(0);
/// The address bits of a pointer's granule: `p & GRANULE_MASK` strips the tag and the
/// offset in the granule.
pub const GRANULE_MASK: u64 = ADDR_MASK & !(GRANULE - 1);
/// Set in word 0 of the entries of a freed allocation.
pub const DEAD: u64 = 1 << 47;
/// What a kill flips in word 0: [`DEAD`], and the tag's top bit. The flipped tag keeps the
/// difference of the one compare at 2^47 or more for every access through the old tag,
/// however far past the end: with `DEAD` alone, an access running `k` bytes past the end
/// of a dead allocation would subtract `k` from it and pass.
pub const KILLED: u64 = DEAD | (1 << 63);
/// An access passes when `word0 - access_end` (tagged, unsigned) is below this.
pub const PASS_BELOW: u64 = 1 << 47;

/// The address of a (possibly tagged) pointer.
#[inline]
pub fn strip(p: u64) -> u64 {
    p & ADDR_MASK
}

/// The tag of a pointer.
#[inline]
pub fn tag_of(p: u64) -> u16 {
    (p >> TAG_SHIFT) as u16
}

/// `addr` with `tag`.
#[inline]
pub fn with_tag(addr: u64, tag: u16) -> u64 {
    strip(addr) | (u64::from(tag) << TAG_SHIFT)
}

/// `bytes` rounded up to whole granules (at least one granule's worth is never asked:
/// zero stays zero).
#[inline]
pub fn round_up(bytes: u64) -> Option<u64> {
    bytes.checked_next_multiple_of(GRANULE)
}

/// One granule's shadow entry, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Word 0: `tag << 48 | end`, plus [`DEAD`] once freed; 0 if never allocated.
    pub word: u64,
    /// Word 1: the allocating site (low 32 bits), granules back to the start (high 32).
    pub info: u64,
}

impl Entry {
    /// True when no allocation ever held the granule (or its block was returned whole).
    pub fn unallocated(self) -> bool {
        self.word == 0
    }

    pub fn dead(self) -> bool {
        self.word & DEAD != 0
    }

    /// The tag the allocation was made with (a dead entry's is stored flipped).
    pub fn tag(self) -> u16 {
        if self.dead() {
            tag_of(self.word ^ KILLED)
        } else {
            tag_of(self.word)
        }
    }

    /// The allocation's end address.
    pub fn end(self) -> u64 {
        self.word & ADDR_MASK & !DEAD
    }

    /// The site number of the form that made the allocation (0: made by the runtime).
    pub fn site(self) -> u32 {
        self.info as u32
    }

    /// The allocation's first address, given the address of this entry's granule.
    pub fn start(self, granule: u64) -> u64 {
        granule.saturating_sub((self.info >> 32) * GRANULE)
    }
}

/// The shadow mapping of one arena.
#[derive(Debug)]
pub(crate) struct ShadowMap {
    base: usize,
    len: usize,
    next_tag: AtomicU32,
}

impl ShadowMap {
    /// Maps `len` bytes (the arena's length) for the entries.
    pub(crate) fn new(len: usize) -> Result<ShadowMap, i32> {
        let addr = super::arena::map_anonymous(len)?;
        Ok(ShadowMap {
            base: addr,
            len,
            next_tag: AtomicU32::new(0),
        })
    }

    pub(crate) fn base(&self) -> u64 {
        self.base as u64
    }

    /// A fresh tag, never 0 (untagged addresses match no allocation) nor [`FOREIGN_TAG`].
    pub(crate) fn fresh_tag(&self) -> u16 {
        let n = self.next_tag.fetch_add(1, Ordering::Relaxed);
        (n % u32::from(FOREIGN_TAG - 1)) as u16 + 1
    }

    /// Word `w` (0 or 1) of the entry at byte `offset` of the shadow.
    fn word(&self, offset: usize, w: usize) -> &AtomicU64 {
        debug_assert!(offset + 16 <= self.len && offset.is_multiple_of(16));
        // SAFETY: `offset + 8*w + 8 <= len` (callers pass offsets of granules inside the
        // arena, whose length this mapping has), the mapping is 16-aligned and lives as long
        // as `self`; the shadow is only ever accessed as atomics from Rust (compiled code
        // reads it with plain loads, which is what a relaxed atomic load is on the hosts
        // zonal runs on).
        unsafe { AtomicU64::from_ptr((self.base + offset + 8 * w) as *mut u64) }
    }

    /// The entry of the granule at arena offset `offset` (rounded down to its granule).
    pub(crate) fn entry(&self, offset: u64) -> Entry {
        let o = (offset & !(GRANULE - 1)) as usize;
        Entry {
            word: self.word(o, 0).load(Ordering::Relaxed),
            info: self.word(o, 1).load(Ordering::Relaxed),
        }
    }

    /// Marks `[offset, offset + len)` (granule-aligned) as one allocation of `len` bytes
    /// whose end address is `end` and whose tag is `tag`, made at `site`.
    pub(crate) fn mark(&self, offset: u64, len: u64, end: u64, tag: u16, site: u32) {
        let word = (u64::from(tag) << TAG_SHIFT) | end;
        let granules = len.div_ceil(GRANULE).max(1);
        for k in 0..granules {
            let o = (offset + k * GRANULE) as usize;
            self.word(o, 0).store(word, Ordering::Relaxed);
            let back = k.min(u64::from(u32::MAX));
            self.word(o, 1)
                .store((back << 32) | u64::from(site), Ordering::Relaxed);
        }
    }

    /// Marks every allocation in `[offset, offset + len)` dead, keeping what it was for
    /// fault messages.
    pub(crate) fn kill(&self, offset: u64, len: u64) {
        FREE_EPOCH.fetch_add(1, Ordering::Relaxed);
        let granules = len.div_ceil(GRANULE);
        for k in 0..granules {
            let w = self.word((offset + k * GRANULE) as usize, 0);
            let v = w.load(Ordering::Relaxed);
            if v != 0 && v & DEAD == 0 {
                w.store(v ^ KILLED, Ordering::Relaxed);
            }
        }
    }

    /// Forgets every entry of `[offset, offset + len)` (page-aligned): the pages go back to
    /// the kernel and read as zero (unallocated) again.
    pub(crate) fn forget(&self, offset: u64, len: u64) {
        FREE_EPOCH.fetch_add(1, Ordering::Relaxed);
        let addr = self.base + offset as usize;
        if cfg!(miri) {
            for k in (0..len).step_by(GRANULE as usize) {
                let o = (offset + k) as usize;
                self.word(o, 0).store(0, Ordering::Relaxed);
                self.word(o, 1).store(0, Ordering::Relaxed);
            }
        } else {
            // SAFETY: [addr, addr+len) is a page-aligned range of this mapping; dropping its
            // pages only makes them read as zero.
            unsafe {
                libc::madvise(addr as *mut libc::c_void, len as usize, libc::MADV_DONTNEED);
            }
        }
    }

    /// Commits the entries of `[offset, offset + len)` now (blocks the audio thread uses).
    pub(crate) fn touch(&self, offset: u64, len: u64) {
        let page = super::arena::PAGE as u64;
        let mut o = offset & !(page - 1);
        while o < offset + len {
            let w = self.word(o as usize, 1);
            w.fetch_or(0, Ordering::Relaxed);
            o += page;
        }
    }
}

impl Drop for ShadowMap {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `new` with this address and length; nothing reads
        // it after its arena is dropped.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
        }
    }
}

/// What the shadow says of an access of `size` bytes at (tagged) pointer `p`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The access lies inside a live allocation of the pointer's tag.
    Ok,
    /// The address is not DSP memory at all.
    OutsideArena,
    /// No allocation holds the memory.
    Unallocated,
    /// The allocation was freed (or its zone reset or dropped).
    Freed(Alloc),
    /// The memory belongs to a live allocation with another tag: a stale pointer, or one
    /// that ran off its own allocation into a neighbour.
    Foreign(Alloc),
    /// The pointer's allocation, but the access runs past its end.
    OutOfBounds(Alloc),
}

/// An allocation as the shadow knows it, seen from one access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alloc {
    /// Its size in bytes.
    pub len: u64,
    /// The site number of the form that made it (0: the runtime).
    pub site: u32,
    /// The access's offset from the allocation's start.
    pub offset: i64,
}

/// The check compiled code makes, in Rust: `word - (p + size) < 2^47`.
#[inline]
pub fn passes(word: u64, p: u64, size: u64) -> bool {
    word.wrapping_sub(p.wrapping_add(size)) < PASS_BELOW
}

/// Classifies a failed (or passing) access given the granule's entry and address.
pub(crate) fn verdict(e: Entry, granule: u64, p: u64, size: u64) -> Verdict {
    if passes(e.word, p, size) {
        return Verdict::Ok;
    }
    if e.unallocated() {
        return Verdict::Unallocated;
    }
    let start = e.start(granule);
    let alloc = Alloc {
        len: e.end().saturating_sub(start),
        site: e.site(),
        offset: strip(p).wrapping_sub(start) as i64,
    };
    if e.dead() {
        Verdict::Freed(alloc)
    } else if e.tag() != tag_of(p) {
        Verdict::Foreign(alloc)
    } else {
        Verdict::OutOfBounds(alloc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_compare_tells_inside_from_everything_else() {
        let (tag, end) = (7u16, 0x1000_0040u64);
        let word = (u64::from(tag) << TAG_SHIFT) | end;
        let p = with_tag(0x1000_0000, tag);
        assert!(passes(word, p, 0x40));
        assert!(passes(word, p + 0x38, 8));
        assert!(!passes(word, p + 0x39, 8), "one byte past the end");
        assert!(!passes(word, with_tag(0x1000_0000, 8), 8), "another tag");
        assert!(!passes(word, with_tag(0x1000_0000, 6), 8), "a lower tag");
        assert!(!passes(word ^ KILLED, p, 8), "a dead allocation");
        // an overrun of a dead allocation cannot borrow its way back under the bound
        for past in [8, 24, 0x40, 0x1000] {
            assert!(
                !passes(word ^ KILLED, p, 0x40 + past),
                "{past} past a dead end"
            );
        }
        assert!(!passes(0, p, 8), "unallocated memory");
        assert!(!passes(0, 0x1000_0000, 8), "an untagged address");
    }

    #[test]
    fn marks_and_kills_keep_what_the_allocation_was() {
        let shadow = ShadowMap::new(1 << 16).expect("shadow");
        let base = 0x7000_0000u64;
        let tag = shadow.fresh_tag();
        assert_ne!(tag, 0);
        shadow.mark(0x100, 40, base + 0x100 + 40, tag, 9);
        let p = with_tag(base + 0x100, tag);
        let e = shadow.entry(0x120);
        assert_eq!(verdict(e, base + 0x120, p + 0x20, 8), Verdict::Ok);
        let past = verdict(e, base + 0x120, p + 0x24, 8);
        assert_eq!(
            past,
            Verdict::OutOfBounds(Alloc {
                len: 40,
                site: 9,
                offset: 0x24
            })
        );
        shadow.kill(0x100, 48);
        let e = shadow.entry(0x110);
        assert!(
            matches!(verdict(e, base + 0x110, p + 0x10, 8), Verdict::Freed(a) if a.len == 40 && a.offset == 16)
        );
        assert_eq!(
            verdict(shadow.entry(0x200), base + 0x200, p + 0x100, 8),
            Verdict::Unallocated
        );
    }

    #[test]
    fn tags_are_never_zero_and_neighbours_differ() {
        let shadow = ShadowMap::new(1 << 16).expect("shadow");
        let mut last = 0;
        for _ in 0..200_000 {
            let t = shadow.fresh_tag();
            assert_ne!(t, 0);
            assert_ne!(t, last);
            last = t;
        }
    }
}
