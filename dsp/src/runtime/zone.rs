//! Zones: regions carved from the arena that hand out zeroed memory by bumping a pointer and
//! are emptied all at once.
//!
//! A zone has a size (its primary block). A request that does not fit is still served, from
//! overflow memory, and the zone warns once in its life, in Extempore's manner but naming the
//! zone: `zone of 8192 bytes (closure fill_buffer_closure_zone) is full, overflowing by 32 bytes`
//! — the number is the size of the request that did not fit, as Extempore's "leaking N bytes".
//! Overflow comes from extra arena blocks on the control thread (returned when the zone is
//! reset or dropped) or from the audio context's [`Reserve`] on the audio thread (released
//! by the context; never the system allocator). Memory is zeroed when handed out, since
//! delay lines rely on it.
//!
//! Every allocation starts on a 16-byte granule, takes whole granules and is tagged in the
//! arena's shadow (see [`crate::runtime::shadow`]): the pointer handed out carries its tag.
//! A reset marks everything handed out since dead, so pointers kept past it fault.
//!
//! A zone on the control thread also notes which generations of definitions made closure
//! records in it ([`Zone::makers`]): their code must live as long as those records can be
//! called, i.e. as long as the zone keeps its contents.

use super::arena::{Arena, ArenaBlock, ArenaError, PAGE};
use super::reserve::Reserve;
use super::shadow::{GRANULE, round_up, strip};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// What went wrong in a zone allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneErrorKind {
    /// The alignment is not a power of two up to a page.
    BadAlign,
    /// Nothing is left to overflow into: the arena (control thread) is full or the request
    /// is larger than it could ever be.
    ArenaFull,
    /// On the audio thread: the zone is full and the bounded reserve cannot serve the rest.
    ReserveFull,
}

/// A zone allocation that could not be met. Copy and heap-free, so the audio thread can
/// carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneError {
    pub kind: ZoneErrorKind,
    /// Bytes asked for (or the alignment, for [`ZoneErrorKind::BadAlign`]).
    pub asked: u64,
    /// The zone's own size.
    pub zone_bytes: u64,
    /// What could have served the overflow: the arena's or the reserve's size.
    pub capacity: u64,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ZoneError {
            kind,
            asked,
            zone_bytes,
            capacity,
        } = *self;
        match kind {
            ZoneErrorKind::BadAlign => write!(
                f,
                "cannot allocate with an alignment of {asked} bytes (a power of two up to {PAGE} is needed)"
            ),
            ZoneErrorKind::ArenaFull => write!(
                f,
                "cannot allocate {asked} bytes: the zone of {zone_bytes} bytes is full and the DSP arena of {capacity} bytes cannot hold the rest"
            ),
            ZoneErrorKind::ReserveFull => write!(
                f,
                "cannot allocate {asked} bytes on the audio thread: the zone of {zone_bytes} bytes is full and the audio reserve of {capacity} bytes cannot hold the rest"
            ),
        }
    }
}

impl std::error::Error for ZoneError {}

/// The zone-full warning, borrowed from the zone so that formatting it allocates nothing.
#[derive(Clone, Copy, Debug)]
pub struct ZoneFull<'a> {
    pub zone_bytes: u64,
    pub name: &'a str,
    pub overflow: u64,
}

impl fmt::Display for ZoneFull<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zone of {} bytes ", self.zone_bytes)?;
        if !self.name.is_empty() {
            write!(f, "({}) ", self.name)?;
        }
        write!(f, "is full, overflowing by {} bytes", self.overflow)
    }
}

/// Where a zone's primary memory lives.
#[derive(Debug)]
enum Primary {
    /// An arena block the zone owns.
    Owned(ArenaBlock),
    /// A range lent by an audio context's reserve (audio-thread memzones).
    Lent { addr: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Warning {
    Quiet,
    Pending(u64),
    Given,
}

/// A region of the arena handing out zeroed memory by bumping a pointer.
#[derive(Debug)]
pub struct Zone {
    arena: Arc<Arena>,
    primary: Primary,
    size: u64,
    bump: u64,
    overflow_blocks: Vec<ArenaBlock>,
    overflow_bytes: u64,
    high_water: u64,
    name: Cow<'static, str>,
    warning: Warning,
    makers: Vec<u64>,
}

impl Zone {
    /// Carves a zone of `bytes` from the arena (control thread). `name` says whose zone it
    /// is in warnings, e.g. `closure fill_buffer_closure_zone`, `memzone`, `audio zone`.
    pub fn new(
        arena: &Arc<Arena>,
        bytes: u64,
        name: impl Into<Cow<'static, str>>,
    ) -> Result<Zone, ArenaError> {
        let block = arena.alloc_block(bytes)?;
        Ok(Zone::with_primary(
            arena,
            Primary::Owned(block),
            bytes,
            name.into(),
        ))
    }

    /// A zone over `bytes` at `addr`, lent by a reserve (the caller releases the range when
    /// the zone is popped).
    pub(crate) fn lent(arena: &Arc<Arena>, addr: u64, bytes: u64, name: &'static str) -> Zone {
        Zone::with_primary(arena, Primary::Lent { addr }, bytes, Cow::Borrowed(name))
    }

    fn with_primary(
        arena: &Arc<Arena>,
        primary: Primary,
        size: u64,
        name: Cow<'static, str>,
    ) -> Zone {
        Zone {
            arena: Arc::clone(arena),
            primary,
            size,
            bump: 0,
            overflow_blocks: Vec::new(),
            overflow_bytes: 0,
            high_water: 0,
            name,
            warning: Warning::Quiet,
            makers: Vec::new(),
        }
    }

    /// The zone's size in bytes (what fits before it overflows).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// First address of the zone's primary memory.
    pub fn base(&self) -> u64 {
        match &self.primary {
            Primary::Owned(block) => block.addr(),
            Primary::Lent { addr } => *addr,
        }
    }

    /// Bytes handed out since the last reset, overflow included.
    pub fn used(&self) -> u64 {
        self.bump + self.overflow_bytes
    }

    /// True when `[addr, addr + len)` (tag stripped) lies in memory this zone hands out:
    /// its primary range or one of its overflow blocks.
    pub fn holds(&self, addr: u64, len: u64) -> bool {
        let addr = strip(addr);
        let inside =
            |base: u64, size: u64| addr >= base && len <= size && addr - base <= size - len;
        inside(self.base(), self.size)
            || self
                .overflow_blocks
                .iter()
                .any(|b| inside(b.addr(), b.len() as u64))
    }

    /// The most [`Zone::used`] has ever been.
    pub fn high_water(&self) -> u64 {
        self.high_water
    }

    /// True once the zone has overflowed (it warns only the first time).
    pub fn has_overflowed(&self) -> bool {
        self.warning != Warning::Quiet
    }

    /// Hands out `bytes` zeroed bytes aligned to `align` (and to 16), growing into extra
    /// arena blocks when the zone is full (control thread); the pointer is tagged, made by
    /// the runtime (site 0). After a call, [`Zone::take_warning`] yields the zone-full
    /// warning the first time the zone overflows.
    pub fn alloc(&mut self, bytes: u64, align: u64) -> Result<u64, ZoneError> {
        self.alloc_in(bytes, align, None, 0)
    }

    /// As [`Zone::alloc`], for the form numbered `site`; overflow comes from `reserve` when
    /// one is given (audio thread).
    pub(crate) fn alloc_in(
        &mut self,
        bytes: u64,
        align: u64,
        reserve: Option<&mut Reserve>,
        site: u32,
    ) -> Result<u64, ZoneError> {
        let align = align.max(1);
        if !align.is_power_of_two() || align > PAGE as u64 {
            return Err(self.error(ZoneErrorKind::BadAlign, align, 0));
        }
        let align = align.max(GRANULE);
        if let Some(addr) = self.bump(bytes, align) {
            return Ok(self.arena.tag(addr, bytes, site));
        }
        let addr = match reserve {
            Some(reserve) => reserve.take(bytes, align).ok_or_else(|| {
                self.error(ZoneErrorKind::ReserveFull, bytes, reserve.capacity() as u64)
            })?,
            None => {
                let block = self
                    .arena
                    .alloc_block(bytes)
                    .map_err(|_| self.error(ZoneErrorKind::ArenaFull, bytes, self.arena.len()))?;
                let addr = block.addr();
                block.zero(addr, bytes as usize);
                self.overflow_blocks.push(block);
                addr
            }
        };
        self.overflow_bytes += bytes;
        self.high_water = self.high_water.max(self.used());
        if self.warning == Warning::Quiet {
            self.warning = Warning::Pending(bytes);
        }
        Ok(self.arena.tag(addr, bytes, site))
    }

    /// Notes that generation `maker` made a closure record in this zone (control thread:
    /// it may allocate).
    pub fn note_maker(&mut self, maker: u64) {
        if self.makers.last() != Some(&maker) && !self.makers.contains(&maker) {
            self.makers.push(maker);
        }
    }

    /// The generations that made closure records in this zone since it was last emptied.
    pub fn makers(&self) -> &[u64] {
        &self.makers
    }

    /// Copies `text` into the zone with a NUL after it (string literals, string arguments);
    /// returns its address.
    pub fn alloc_c_str(&mut self, text: &[u8]) -> Result<u64, ZoneError> {
        let addr = self.alloc(text.len() as u64 + 1, 1)?;
        // SAFETY: `addr` (its tag stripped) is text.len()+1 bytes of zone memory just handed
        // out to us.
        unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), strip(addr) as *mut u8, text.len()) };
        Ok(addr)
    }

    fn bump(&mut self, bytes: u64, align: u64) -> Option<u64> {
        let base = self.base();
        let start = (base + self.bump).checked_next_multiple_of(align)?;
        let end = (start - base).checked_add(bytes)?;
        if end > self.size {
            return None;
        }
        let end = round_up(end)?.min(self.size.max(end));
        // SAFETY: [start, start+bytes) lies inside the primary range of `size` bytes, which
        // is arena memory owned by this zone (or lent to it by a reserve) and mapped read-write.
        unsafe { std::ptr::write_bytes(start as *mut u8, 0, bytes as usize) };
        self.bump = end;
        self.high_water = self.high_water.max(self.used());
        Some(start)
    }

    fn error(&self, kind: ZoneErrorKind, asked: u64, capacity: u64) -> ZoneError {
        ZoneError {
            kind,
            asked,
            zone_bytes: self.size,
            capacity,
        }
    }

    /// The zone-full warning, once in the zone's life: `Some` right after the allocation
    /// that first overflowed, `None` at every other time.
    pub fn take_warning(&mut self) -> Option<ZoneFull<'_>> {
        let Warning::Pending(overflow) = self.warning else {
            return None;
        };
        self.warning = Warning::Given;
        Some(ZoneFull {
            zone_bytes: self.size,
            name: &self.name,
            overflow,
        })
    }

    /// Empties the zone: everything handed out is given back, overflow blocks return to the
    /// arena. (Reserve overflow is released by the audio context.)
    pub fn reset(&mut self) {
        self.arena.kill(self.base(), self.bump);
        self.bump = 0;
        self.overflow_bytes = 0;
        self.overflow_blocks.clear();
        self.makers.clear();
    }

    /// Commits every page of the zone's own block now (the audio zone, made in advance).
    pub fn touch(&self) {
        if let Primary::Owned(block) = &self.primary {
            block.touch();
        }
    }

    /// Arena blocks this zone holds now (its own block and overflow blocks).
    pub fn blocks(&self) -> usize {
        usize::from(matches!(self.primary, Primary::Owned(_))) + self.overflow_blocks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Alloc, Verdict};

    fn arena() -> Arc<Arena> {
        Arena::new(1 << 26).expect("arena")
    }

    #[test]
    fn memory_is_zeroed_aligned_and_inside_the_zone() {
        let arena = arena();
        let mut z = Zone::new(&arena, 8192, "closure t").expect("zone");
        let a = z.alloc(3, 1).expect("a");
        // SAFETY: `a` is 3 bytes of zone memory just handed out.
        unsafe { std::ptr::write_bytes(strip(a) as *mut u8, 0xff, 3) };
        let b = z.alloc(16, 16).expect("b");
        assert_eq!(strip(b) % 16, 0);
        assert!(strip(b) >= strip(a) + 3 && strip(b) + 16 <= z.base() + 8192);
        assert!(arena.owns(a, 3) && !arena.owns(a, 4), "bounds are exact");
        z.reset();
        assert!(!arena.owns(a, 1), "a reset kills what the zone handed out");
        let c = z.alloc(3, 1).expect("c");
        assert_eq!(strip(c), strip(a));
        assert_ne!(c, a, "memory handed out again gets another tag");
        // SAFETY: `c` is 3 bytes of zone memory just handed out.
        let bytes = unsafe { std::slice::from_raw_parts(strip(c) as *const u8, 3) };
        assert_eq!(bytes, &[0, 0, 0]);
        assert_eq!(z.high_water(), 32);
    }

    #[test]
    fn a_full_zone_warns_once_and_its_overflow_is_freed_with_it() {
        let arena = arena();
        let mut z = Zone::new(&arena, 8192, "closure fill_buffer_closure_zone").expect("zone");
        z.alloc(8000, 8).expect("buffer");
        z.alloc(168, 8).expect("fits");
        assert!(z.take_warning().is_none());
        z.alloc(32, 8).expect("overflow");
        assert_eq!(
            z.take_warning().map(|w| w.to_string()).as_deref(),
            Some(
                "zone of 8192 bytes (closure fill_buffer_closure_zone) is full, overflowing by 32 bytes"
            )
        );
        z.alloc(64, 8).expect("overflow again");
        assert!(z.take_warning().is_none());
        assert_eq!(z.blocks(), 3);
        assert_eq!(z.used(), 8000 + 176 + 32 + 64);
        assert_eq!(arena.live_blocks(), 3);
        z.reset();
        assert_eq!(arena.live_blocks(), 1);
        drop(z);
        assert_eq!(arena.live_blocks(), 0);
    }

    #[test]
    fn strings_are_copied_with_their_nul() {
        let arena = arena();
        let mut z = Zone::new(&arena, 64, "literals").expect("zone");
        let a = z.alloc_c_str(b"tup* = ").expect("a");
        assert_eq!(arena.c_str(a, 100), Some(&b"tup* = "[..]));
    }

    #[test]
    fn an_impossible_request_is_an_error() {
        let arena = arena();
        let mut z = Zone::new(&arena, 100_000, "memzone").expect("zone");
        let err = z.alloc(8_000_000_000_000_000, 8).expect_err("impossible");
        assert_eq!(err.kind, ZoneErrorKind::ArenaFull);
        assert_eq!(
            err.to_string(),
            "cannot allocate 8000000000000000 bytes: the zone of 100000 bytes is full and the DSP arena of 67108864 bytes cannot hold the rest"
        );
        let err = z.alloc(8, 3).expect_err("bad align");
        assert_eq!(err.kind, ZoneErrorKind::BadAlign);
        assert_eq!(
            err.to_string(),
            "cannot allocate with an alignment of 3 bytes (a power of two up to 4096 is needed)"
        );
    }

    #[test]
    fn reserve_overflow_is_bounded() {
        let arena = arena();
        let mut reserve = Reserve::new(&arena, 4096, true).expect("reserve");
        let mut z = Zone::new(&arena, 64, "audio zone").expect("zone");
        z.alloc_in(64, 8, Some(&mut reserve), 0).expect("fits");
        let over = z.alloc_in(100, 8, Some(&mut reserve), 0).expect("reserve");
        assert!(arena.owns(over, 100));
        reserve.release(0);
        assert!(matches!(arena.probe(over, 8), Verdict::Freed(a) if a.len == 100));
        assert_eq!(
            z.take_warning().map(|w| w.to_string()).as_deref(),
            Some("zone of 64 bytes (audio zone) is full, overflowing by 100 bytes")
        );
        let err = z
            .alloc_in(5000, 8, Some(&mut reserve), 0)
            .expect_err("too big");
        assert_eq!(err.kind, ZoneErrorKind::ReserveFull);
        assert_eq!(
            err.to_string(),
            "cannot allocate 5000 bytes on the audio thread: the zone of 64 bytes is full and the audio reserve of 4096 bytes cannot hold the rest"
        );
    }

    #[test]
    fn an_unnamed_zone_warns_without_a_name() {
        let w = ZoneFull {
            zone_bytes: 100_000,
            name: "",
            overflow: 8_000_000,
        };
        assert_eq!(
            w.to_string(),
            "zone of 100000 bytes is full, overflowing by 8000000 bytes"
        );
    }

    #[test]
    fn a_pointer_kept_past_its_zone_faults_with_what_it_was() {
        let arena = Arena::new(1 << 24).expect("arena");
        let mut z = Zone::new(&arena, 4096, "memzone").expect("zone");
        let p = z.alloc_in(40, 8, None, 7).expect("p");
        assert_eq!(
            arena.probe(p + 40, 8),
            Verdict::OutOfBounds(Alloc {
                len: 40,
                site: 7,
                offset: 40
            })
        );
        drop(z);
        assert_eq!(
            arena.probe(p, 8),
            Verdict::Freed(Alloc {
                len: 40,
                site: 7,
                offset: 0
            })
        );
    }
}
