//! Callbacks that DSP code schedules with xtlang's `callback`, held by its context
//! until the thread that runs it takes them.
//!
//! `(callback TIME f args...)` compiles into a call of `zonal_callback`, which puts a
//! [`Scheduled`] here: the sample time, the trampoline for `f`'s type, `f` itself (the
//! slot of a bind-func, looked up when the callback runs, so a redefinition of the
//! same type takes over its pending callbacks as in Extempore; or a closure record)
//! and the argument words. The list has a fixed capacity, reserved when the context is
//! made, so scheduling never allocates; when it is full, `callback` faults and nothing
//! is scheduled. The engine takes the list after every call it makes into DSP code (the
//! audio thread after every event and buffer segment, the control thread after every
//! call from Scheme) and queues the callbacks for the audio thread.

/// Callbacks one context holds between two takes; one call of DSP code (a buffer
/// segment, an event, a call from Scheme) schedules at most this many.
pub const MAX_SCHEDULED: usize = 256;

/// Arguments a scheduled callback passes at most.
pub const MAX_CALLBACK_ARGS: usize = 8;

/// `slot` of a callback that calls a closure record rather than a bind-func's slot.
pub const NO_SLOT: u32 = u32::MAX;

/// One callback scheduled by DSP code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheduled {
    /// The sample time to run it at.
    pub time: i64,
    /// The trampoline compiled for the callee's type (it checks the closure's type).
    pub tramp: u64,
    /// The bind-func slot to call, or [`NO_SLOT`].
    pub slot: u32,
    /// The closure record to call when `slot` is [`NO_SLOT`].
    pub closure: u64,
    /// Argument words, as the trampoline reads them.
    pub args: [u64; MAX_CALLBACK_ARGS],
}

/// A fixed-capacity list of [`Scheduled`] callbacks.
pub struct ScheduledList {
    items: Vec<Scheduled>,
}

impl ScheduledList {
    /// An empty list with room for [`MAX_SCHEDULED`] (allocates).
    pub fn new() -> Self {
        ScheduledList {
            items: Vec::with_capacity(MAX_SCHEDULED),
        }
    }

    /// Adds `s`; hands it back when the list is full (never allocates).
    pub fn push(&mut self, s: Scheduled) -> Result<(), Scheduled> {
        if self.items.len() >= MAX_SCHEDULED {
            return Err(s);
        }
        self.items.push(s);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Hands every callback to `f` in the order scheduled and empties the list (keeping
    /// its capacity).
    pub fn drain(&mut self, f: &mut dyn FnMut(Scheduled)) {
        for s in self.items.drain(..) {
            f(s);
        }
    }
}

impl Default for ScheduledList {
    fn default() -> Self {
        ScheduledList::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(time: i64) -> Scheduled {
        Scheduled {
            time,
            tramp: 1,
            slot: 0,
            closure: 0,
            args: [0; MAX_CALLBACK_ARGS],
        }
    }

    #[test]
    fn a_full_list_hands_the_callback_back_and_drain_empties_it_in_order() {
        let mut l = ScheduledList::new();
        for t in 0..MAX_SCHEDULED as i64 {
            assert!(l.push(at(t)).is_ok());
        }
        assert_eq!(l.push(at(-1)), Err(at(-1)));
        let mut times = Vec::new();
        l.drain(&mut |s| times.push(s.time));
        assert_eq!(times, (0..MAX_SCHEDULED as i64).collect::<Vec<_>>());
        assert!(l.is_empty());
        assert!(l.push(at(7)).is_ok());
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn the_full_fault_names_the_capacity() {
        let m = crate::runtime::FaultCode::CallbacksFull.message();
        assert!(m.contains(&MAX_SCHEDULED.to_string()), "{m}");
    }
}
