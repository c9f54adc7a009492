//! The audio thread's queue of timed events: a binary min-heap of small keys
//! (sample time, arrival number, slot) over a fixed slab that holds the events
//! themselves.
//!
//! An event (a `PreparedCall`, some 360 bytes with its inline strings) is written once
//! into a free slot and never moves; inserting or removing one moves only 24-byte keys,
//! at most log2(capacity) of them. Events with the same time come out in the order they
//! arrived. Everything is allocated when the queue is made (on the control thread);
//! `push` and `pop_due` never allocate, so they run on the audio thread.

/// The ordering key of one queued event.
#[derive(Clone, Copy, Debug)]
struct Key {
    time: i64,
    /// Arrival number: ties in time keep their arrival order.
    seq: u64,
    /// Where the event sits in the slab.
    slot: u32,
}

impl Key {
    fn before(&self, other: &Key) -> bool {
        (self.time, self.seq) < (other.time, other.seq)
    }
}

/// A fixed-capacity queue of events ordered by (time, arrival).
pub struct EventQueue<T> {
    /// The events, by slot; `None` for a free slot.
    slab: Box<[Option<T>]>,
    /// Free slots, used as a stack.
    free: Box<[u32]>,
    free_len: usize,
    /// A binary min-heap of keys in `heap[..len]`.
    heap: Box<[Key]>,
    len: usize,
    next_seq: u64,
}

impl<T: Copy> EventQueue<T> {
    /// A queue for at most `capacity` events (at most `u32::MAX`). Allocates; call it
    /// on the control thread.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.min(u32::MAX as usize);
        let empty = Key {
            time: 0,
            seq: 0,
            slot: 0,
        };
        EventQueue {
            slab: vec![None; capacity].into_boxed_slice(),
            // Slot 0 on top of the stack, so the first events fill the slab in order.
            free: (0..capacity as u32).rev().collect(),
            free_len: capacity,
            heap: vec![empty; capacity].into_boxed_slice(),
            len: 0,
            next_seq: 0,
        }
    }

    /// How many events are queued.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most events the queue holds.
    pub fn capacity(&self) -> usize {
        self.slab.len()
    }

    /// Queues `value` at `time`; when the queue is full, hands it back.
    pub fn push(&mut self, time: i64, value: T) -> Result<(), T> {
        if self.free_len == 0 {
            return Err(value);
        }
        self.free_len -= 1;
        let slot = self.free[self.free_len];
        self.slab[slot as usize] = Some(value);
        let key = Key {
            time,
            seq: self.next_seq,
            slot,
        };
        self.next_seq += 1;
        self.heap[self.len] = key;
        self.len += 1;
        self.sift_up(self.len - 1);
        Ok(())
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<i64> {
        (self.len > 0).then(|| self.heap[0].time)
    }

    /// Removes and returns the earliest event if its time is at or before `now`.
    pub fn pop_due(&mut self, now: i64) -> Option<(i64, T)> {
        if self.peek_time()? > now {
            return None;
        }
        let top = self.heap[0];
        self.len -= 1;
        self.heap[0] = self.heap[self.len];
        if self.len > 0 {
            self.sift_down(0);
        }
        let value = self.slab[top.slot as usize].take()?;
        self.free[self.free_len] = top.slot;
        self.free_len += 1;
        Some((top.time, value))
    }

    fn sift_up(&mut self, mut i: usize) {
        let key = self.heap[i];
        while i > 0 {
            let parent = (i - 1) / 2;
            if !key.before(&self.heap[parent]) {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = key;
    }

    fn sift_down(&mut self, mut i: usize) {
        let key = self.heap[i];
        loop {
            let left = 2 * i + 1;
            if left >= self.len {
                break;
            }
            let right = left + 1;
            let child = if right < self.len && self.heap[right].before(&self.heap[left]) {
                right
            } else {
                left
            };
            if !self.heap[child].before(&key) {
                break;
            }
            self.heap[i] = self.heap[child];
            i = child;
        }
        self.heap[i] = key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(q: &mut EventQueue<u32>, now: i64) -> Vec<(i64, u32)> {
        std::iter::from_fn(|| q.pop_due(now)).collect()
    }

    #[test]
    fn events_come_out_by_time_and_ties_in_arrival_order() {
        let mut q = EventQueue::new(16);
        for (time, tag) in [(30, 1), (10, 2), (30, 3), (20, 4), (10, 5), (30, 6)] {
            q.push(time, tag).unwrap();
        }
        assert_eq!(q.peek_time(), Some(10));
        assert_eq!(drain(&mut q, 9), []);
        assert_eq!(drain(&mut q, 20), [(10, 2), (10, 5), (20, 4)]);
        q.push(25, 7).unwrap();
        q.push(30, 8).unwrap();
        assert_eq!(
            drain(&mut q, 100),
            [(25, 7), (30, 1), (30, 3), (30, 6), (30, 8)]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_queue_hands_the_event_back_and_frees_slots_as_events_run() {
        let mut q = EventQueue::new(3);
        for t in [3, 2, 1] {
            q.push(t, t as u32).unwrap();
        }
        assert_eq!(q.push(0, 99), Err(99));
        assert_eq!(q.pop_due(1), Some((1, 1)));
        q.push(0, 0).unwrap();
        assert_eq!(drain(&mut q, 10), [(0, 0), (2, 2), (3, 3)]);
        assert_eq!(q.capacity(), 3);
    }

    #[test]
    fn matches_a_stable_sort_whatever_the_arrival_order() {
        let mut state: u64 = 0x1234_5678;
        let mut q = EventQueue::new(1024);
        let mut expected = Vec::new();
        for tag in 0..1000u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let time = (state % 50) as i64;
            q.push(time, tag).unwrap();
            expected.push((time, tag));
        }
        expected.sort_by_key(|&(time, _)| time);
        assert_eq!(q.len(), 1000);
        assert_eq!(drain(&mut q, i64::MAX), expected);
    }
}
