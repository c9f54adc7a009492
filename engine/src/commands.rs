//! What crosses between the control thread and the audio thread.
//!
//! Control → audio: [`Command`]s on a bounded SPSC ring. Audio → control: [`Returned`]
//! values on a second ring — everything the audio thread lets go (so it is freed on
//! the control thread) and the faults it hit. Both rings are `rtrb`; nothing else is
//! shared but atomics and memory whose ownership travelled through a ring.

use zonal_dsp::{AudioCtx, Entry, Fault, Outgoing, PreparedCall, Revert, SwapBatch};

use crate::lanes::Routing;

use crate::fade::SwapTiming;

/// Capacity of the command ring. The return ring is twice as large, so that the audio
/// thread, which returns at most two values per command (a swap's batch, then the end of
/// its fade), can never find it full while the control thread drains it before sending
/// more.
pub const RING_CAPACITY: usize = 4096;

/// A request from the control thread, applied at the start of the next buffer.
#[allow(
    clippy::large_enum_variant,
    reason = "an event carries its strings inline: boxing it would make the audio thread free it"
)]
pub enum Command {
    /// Everything one evaluation defined, installed at once, at the time and with the
    /// fade of its timing.
    Swap {
        batch: Box<SwapBatch>,
        timing: SwapTiming,
    },
    /// The closure the audio thread calls for every frame (or buffer); `None` is silence.
    SetEntry(Option<Entry>),
    /// A call into DSP code at an exact sample time.
    Event { time: i64, call: PreparedCall },
    /// A lane context for `(dsp:set! a b ...)`, kept for good.
    AddLane(Box<AudioCtx>),
    /// Several closures in lanes, summed or mixed (replaces the entry).
    SetRouting(Routing),
}

/// What the audio thread hands back.
pub enum Returned {
    /// A batch after `AudioCtx::apply`: it now holds what was replaced.
    Retired(Box<SwapBatch>),
    /// The entry closure faulted at `time`: it went back to the previous version of its
    /// definition (`fell_back`), or it was stopped until the next swap or entry.
    EntryFault {
        fault: Fault,
        time: i64,
        fell_back: Option<Revert>,
    },
    /// A timed event faulted at `time`.
    EventFault { fault: Fault, time: i64 },
    /// The closure of lane `lane` faulted at `time`; the lane is silent until the next
    /// routing or swap.
    LaneFault {
        fault: Fault,
        time: i64,
        lane: usize,
    },
    /// A lane context that found no room (more than `MAX_LANES` were sent).
    SpareLane(Box<AudioCtx>),
    /// The entry's closure a swap replaced stopped sounding (its fade is over).
    FadeOver(Outgoing),
}

/// Creates the two rings: (control's ends, audio's ends).
pub fn rings() -> (ControlEnds, AudioEnds) {
    let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(RING_CAPACITY);
    let (ret_tx, ret_rx) = rtrb::RingBuffer::new(2 * RING_CAPACITY);
    (
        ControlEnds {
            commands: cmd_tx,
            returned: ret_rx,
        },
        AudioEnds {
            commands: cmd_rx,
            returned: ret_tx,
        },
    )
}

/// The control thread's ends of the rings.
pub struct ControlEnds {
    pub commands: rtrb::Producer<Command>,
    pub returned: rtrb::Consumer<Returned>,
}

/// The audio thread's ends of the rings.
pub struct AudioEnds {
    pub commands: rtrb::Consumer<Command>,
    pub returned: rtrb::Producer<Returned>,
}
