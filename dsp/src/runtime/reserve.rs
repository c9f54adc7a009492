//! The bounded reserve: arena memory (committed in advance for a device's audio thread)
//! the audio thread carves memzones and zone overflow from, as a stack.
//!
//! `memzone` bodies nest, and only the top zone allocates, so everything taken from the
//! reserve is released in the reverse order it was taken: a bump pointer with marks is
//! enough. The audio context releases everything at the end of each buffer (and after a
//! fault), so an overflow never outlives the zone it served. No system allocation, no lock.
//! Takes start on 16-byte granules and cover whole ones; a release marks what it gives back
//! dead in the arena's shadow, so a pointer kept past its memzone faults.

use super::arena::{Arena, ArenaBlock, ArenaError};
use super::shadow::{GRANULE, round_up};
use std::sync::Arc;

/// A stack of bytes carved from one arena block.
#[derive(Debug)]
pub struct Reserve {
    block: ArenaBlock,
    top: usize,
    high_water: usize,
}

impl Reserve {
    /// Carves `bytes` from the arena; `commit` commits every page now (a device's audio
    /// thread), otherwise pages are committed when first used (an offline render).
    pub fn new(arena: &Arc<Arena>, bytes: u64, commit: bool) -> Result<Reserve, ArenaError> {
        let block = arena.alloc_block(bytes)?;
        if commit {
            block.touch();
        }
        Ok(Reserve {
            block,
            top: 0,
            high_water: 0,
        })
    }

    /// Takes `bytes` aligned to `align` (a power of two) and to 16, zeroed, untagged;
    /// `None` when the reserve cannot hold them.
    pub fn take(&mut self, bytes: u64, align: u64) -> Option<u64> {
        let align = align.max(GRANULE);
        let start = (self.block.addr() + self.top as u64).checked_next_multiple_of(align)?;
        let offset = (start - self.block.addr()) as usize;
        let span = usize::try_from(round_up(bytes)?).ok()?;
        let end = offset.checked_add(span)?;
        if end > self.block.len() {
            return None;
        }
        self.block.zero(start, bytes as usize);
        self.top = end;
        self.high_water = self.high_water.max(end);
        Some(start)
    }

    /// The current top, to give back to [`Reserve::release`].
    pub fn mark(&self) -> usize {
        self.top
    }

    /// Gives back everything taken since `mark`, marking it dead.
    pub fn release(&mut self, mark: usize) {
        if mark < self.top {
            let arena = self.block.arena();
            arena.kill(self.block.addr() + mark as u64, (self.top - mark) as u64);
        }
        self.top = self.top.min(mark);
    }

    /// Bytes taken now.
    pub fn used(&self) -> usize {
        self.top
    }

    /// Most bytes ever taken at once.
    pub fn high_water(&self) -> usize {
        self.high_water
    }

    /// Size of the reserve in bytes.
    pub fn capacity(&self) -> usize {
        self.block.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_nest_and_release_to_marks() {
        let arena = Arena::new(1 << 22).expect("arena");
        let mut r = Reserve::new(&arena, 8192, true).expect("reserve");
        let a = r.take(10, 8).expect("a");
        let m = r.mark();
        let b = r.take(100, 16).expect("b");
        assert_eq!(b % 16, 0);
        assert!(b >= a + 10);
        assert_eq!(r.take(8192, 8), None);
        r.release(m);
        assert_eq!(r.take(100, 16), Some(b));
        r.release(0);
        assert_eq!(r.used(), 0);
        assert!(r.high_water() >= 110);
    }
}
