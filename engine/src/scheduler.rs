//! Scheme callbacks waiting for their sample time.
//!
//! `(callback TIME fn args...)` queues here; the control loop pops what is due — in
//! offline render exactly at the buffer boundary before `TIME`, live a short lookahead
//! ahead of the audio clock — and runs it with `(now)` reading `TIME`. Ties run in the
//! order they were scheduled, so renders are deterministic.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;

use crossbeam_channel::Sender;
use zonal_scheme::Root;

/// How many callbacks one chain may schedule at or before the sample time of the
/// callback scheduling them (time not advancing) before it is stopped with an error:
/// Sonic Pi's guard against a zero-time loop, which would otherwise hang a render and
/// starve the control thread live.
pub const ZERO_TIME_CALLBACKS: u32 = 10_000;

/// One scheduled call: the procedure (or the symbol naming it) and its arguments,
/// held as GC roots until it runs.
pub struct Callback {
    pub time: i64,
    pub target: Root,
    pub args: Vec<Root>,
    /// Shared by a callback and every callback scheduled, directly or not, at or
    /// before its own time: how many there have been (see [`ZERO_TIME_CALLBACKS`]).
    pub zero_time_chain: Rc<Cell<u32>>,
    /// Where an error in this callback is reported besides stderr: the editor
    /// connection whose request started the chain.
    pub notices: Option<Sender<String>>,
}

struct Queued {
    time: i64,
    seq: u64,
    callback: Callback,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.seq).cmp(&(other.time, other.seq))
    }
}

/// The queue of callbacks, earliest first.
#[derive(Default)]
pub struct Scheduler {
    heap: BinaryHeap<Reverse<Queued>>,
    seq: u64,
}

impl Scheduler {
    pub fn schedule(&mut self, callback: Callback) {
        self.seq += 1;
        self.heap.push(Reverse(Queued {
            time: callback.time,
            seq: self.seq,
            callback,
        }));
    }

    /// The time of the earliest callback.
    pub fn next_time(&self) -> Option<i64> {
        self.heap.peek().map(|Reverse(q)| q.time)
    }

    /// Removes and returns the earliest callback if it is due before `limit`.
    pub fn pop_before(&mut self, limit: i64) -> Option<Callback> {
        if self.next_time()? < limit {
            self.heap.pop().map(|Reverse(q)| q.callback)
        } else {
            None
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zonal_scheme::Interp;

    #[test]
    fn earliest_first_and_ties_in_order() {
        let mut interp = Interp::new();
        let mut s = Scheduler::default();
        for (time, tag) in [(30, 1), (10, 2), (30, 3), (20, 4)] {
            let v = interp.int(tag);
            let target = interp.root(v);
            s.schedule(Callback {
                time,
                target,
                args: Vec::new(),
                zero_time_chain: Rc::default(),
                notices: None,
            });
        }
        assert_eq!(s.next_time(), Some(10));
        assert!(s.pop_before(10).is_none());
        let mut order = Vec::new();
        while let Some(cb) = s.pop_before(31) {
            order.push(interp.as_int(interp.rooted(&cb.target)).unwrap());
            interp.unroot(cb.target);
        }
        assert_eq!(order, vec![2, 4, 1, 3]);
        assert!(s.is_empty());
    }
}
