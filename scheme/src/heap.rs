//! The garbage-collected heap: typed arenas for pairs, environment frames and other
//! objects, each with a mark bit per slot and a free list. The collector is a precise,
//! non-moving mark-sweep; it only runs at the evaluator's safe points, never inside a
//! native procedure. Arenas never shrink, so a stale handle can never index out of
//! bounds: it finds a freed slot and is reported as a type error, never a crash.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::value::{Obj, V, Value};

/// A pair.
#[derive(Clone, Copy)]
pub(crate) struct Pair {
    pub car: Value,
    pub cdr: Value,
}

/// An environment frame: the slots of one procedure call or `let`.
pub(crate) struct Frame {
    pub slots: Vec<Value>,
    pub parent: u32,
}

/// The parent of a top-level frame.
pub(crate) const NO_FRAME: u32 = u32::MAX;

/// Marks an environment number as an offset into `Interp::locals` rather than a
/// heap frame.
pub(crate) const STACK_BIT: u32 = 1 << 31;

pub(crate) fn is_stack_frame(env: u32) -> bool {
    env != NO_FRAME && env & STACK_BIT != 0
}

/// Collector statistics, as returned by `gc_stats` and `(sys:gc-stats)`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GcStats {
    pub collections: u64,
    pub total_pause: Duration,
    pub max_pause: Duration,
    pub live_bytes: usize,
    pub heap_bytes: usize,
}

pub(crate) struct Heap {
    pub pairs: Vec<Pair>,
    pair_marks: Vec<u8>,
    pair_free: Vec<u32>,
    pub objs: Vec<Obj>,
    obj_marks: Vec<u8>,
    obj_free: Vec<u32>,
    pub frames: Vec<Frame>,
    frame_marks: Vec<u8>,
    frame_free: Vec<u32>,
    /// Allocations since the last collection.
    pub allocated: usize,
    /// A cycle starts once `allocated` passes this.
    pub threshold: usize,
    pub stats: GcStats,
    /// Every pause, when the embedder asked for them (see `Interp::record_pauses`).
    pub pause_log: Option<Vec<Duration>>,
    gray_values: Vec<Value>,
    gray_frames: Vec<u32>,
    pub phase: Phase,
    /// Allocations since the last incremental step.
    pub since_step: usize,
    /// Allocations between steps while a cycle runs.
    pub step_allocs: usize,
    /// The smallest allocation count that starts a cycle.
    pub min_threshold: usize,
    /// `collect-garbage` asked for a whole collection at the next safe point.
    pub full_requested: bool,
    /// Next slot to sweep, per arena (pairs, objects, frames).
    sweep_at: [usize; 3],
    /// Slots (and their bytes) marked in this cycle: reached by marking or born marked.
    cycle_live: usize,
    cycle_live_bytes: usize,
    /// Bytes of objects born unmarked behind the sweep of this cycle (live, but not
    /// in `cycle_live_bytes`).
    white_born_bytes: usize,
    /// Bytes held by objects not known to be garbage: what the last cycle found live,
    /// plus what was allocated or grown since. Checked against `limit`.
    pub used: usize,
    /// The most bytes the heap may hold (see [`Heap::room_for`]); set with
    /// [`Heap::set_limit`].
    pub limit: usize,
    /// `limit`, plus [`GRACE_BYTES`] while `in_grace`: what `used` is checked against.
    ceiling: usize,
    /// `used` passed `limit` while allocating: the next safe point collects and, if
    /// the live data still exceeds the limit, raises a memory error.
    pub over_limit: bool,
    /// A memory error was raised and the live data is still over the limit: the
    /// program gets [`GRACE_BYTES`] more, so that it can let go of what it holds.
    /// Set with [`Heap::set_grace`].
    pub in_grace: bool,
}

/// The smallest heap limit that can be set.
pub(crate) const MIN_LIMIT: usize = 1 << 20;

/// What a program may allocate past the limit after a memory error, to drop its data.
pub(crate) const GRACE_BYTES: usize = 64 << 20;

/// Where the collector is in its cycle. Marking is snapshot-at-the-beginning: the
/// roots are grayed when a cycle starts, stores into heap objects gray the value
/// they overwrite ([`Heap::barrier`]), and objects allocated during the cycle are
/// born marked (or, while sweeping, marked only where the sweep has not passed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Idle,
    Marking,
    Sweeping,
}

/// Allocations between two incremental steps of a running cycle.
const STEP_ALLOCS: usize = 1024;
/// Gray objects traced per step, per allocation since the last step (so marking
/// outruns the program).
pub(crate) const MARK_PER_ALLOC: usize = 2;
/// Arena slots swept per step, per allocation since the last step.
pub(crate) const SWEEP_PER_ALLOC: usize = 8;

const MIN_THRESHOLD: usize = 1 << 16;

/// The mark of a slot: not (yet) reached in this cycle.
const WHITE: u8 = 0;
/// Reached by marking, or allocated where the cycle must keep it.
const BLACK: u8 = 1;
/// On a free list (the sweep passes over it).
const FREE: u8 = 2;
/// The payload bytes of an object that count as one more allocation for pacing.
const PAYLOAD_BYTES_PER_ALLOC: usize = 64;
/// What a pair costs (slot and mark).
pub(crate) const PAIR_BYTES: usize = std::mem::size_of::<Pair>() + 1;
/// What an object costs without its payload (slot and mark).
pub(crate) const OBJ_BYTES: usize = std::mem::size_of::<Obj>() + 1;
const FRAME_BYTES: usize = std::mem::size_of::<Frame>() + 1;

impl Heap {
    pub(crate) fn new() -> Heap {
        Heap {
            pairs: Vec::new(),
            pair_marks: Vec::new(),
            pair_free: Vec::new(),
            objs: Vec::new(),
            obj_marks: Vec::new(),
            obj_free: Vec::new(),
            frames: Vec::new(),
            frame_marks: Vec::new(),
            frame_free: Vec::new(),
            allocated: 0,
            threshold: MIN_THRESHOLD,
            stats: GcStats::default(),
            pause_log: None,
            gray_values: Vec::new(),
            gray_frames: Vec::new(),
            phase: Phase::Idle,
            since_step: 0,
            step_allocs: STEP_ALLOCS,
            min_threshold: MIN_THRESHOLD,
            full_requested: false,
            sweep_at: [0; 3],
            cycle_live: 0,
            cycle_live_bytes: 0,
            white_born_bytes: 0,
            used: 0,
            limit: default_limit(),
            ceiling: default_limit(),
            over_limit: false,
            in_grace: false,
        }
    }

    pub(crate) fn set_limit(&mut self, bytes: usize) {
        self.limit = bytes;
        self.set_grace(false);
    }

    pub(crate) fn set_grace(&mut self, on: bool) {
        self.in_grace = on;
        self.ceiling = if on {
            self.limit.saturating_add(GRACE_BYTES)
        } else {
            self.limit
        };
    }

    /// Whether `bytes` more fit under the limit, counting what is not yet known to
    /// be garbage. Every allocation whose size the program chooses asks first.
    pub(crate) fn room_for(&self, bytes: usize) -> bool {
        self.used.saturating_add(bytes) <= self.ceiling
    }

    /// Counts `bytes` that an object grew by in place (a string port's text, a hash
    /// table's entries), after [`Heap::room_for`] allowed them.
    pub(crate) fn grew(&mut self, bytes: usize) {
        self.used = self.used.saturating_add(bytes);
        self.check_limit();
    }

    #[inline(always)]
    fn check_limit(&mut self) {
        if self.used > self.ceiling {
            self.over();
        }
    }

    #[cold]
    #[inline(never)]
    fn over(&mut self) {
        self.over_limit = true;
        self.full_requested = true;
    }

    /// The mark bit of an object born now in slot `i` of arena `kind`.
    #[inline(always)]
    fn born_marked(&self, kind: usize, i: usize) -> bool {
        match self.phase {
            Phase::Idle => false,
            Phase::Marking => true,
            Phase::Sweeping => i >= self.sweep_at[kind],
        }
    }

    /// The mark of slot `i` of arena `kind`, allocated now and taking `bytes`: black
    /// (and counted live) when the running cycle must keep it.
    #[inline(always)]
    fn birth_mark(&mut self, kind: usize, i: usize, bytes: usize) -> u8 {
        self.used += bytes;
        self.check_limit();
        if self.born_marked(kind, i) {
            self.count_live(bytes);
            BLACK
        } else {
            if self.phase == Phase::Sweeping {
                self.white_born_bytes += bytes;
            }
            WHITE
        }
    }

    #[inline(always)]
    fn count_live(&mut self, bytes: usize) {
        self.cycle_live += 1;
        self.cycle_live_bytes += bytes;
    }

    /// Starts a cycle's marking (the caller grays the roots).
    pub(crate) fn begin_marking(&mut self) {
        self.phase = Phase::Marking;
        self.cycle_live = 0;
        self.cycle_live_bytes = 0;
        self.white_born_bytes = 0;
    }

    /// Must be called with the value a store into a heap object overwrites.
    #[inline(always)]
    pub(crate) fn barrier(&mut self, old: Value) {
        if self.phase == Phase::Marking && old.is_heap() {
            self.gray_values.push(old);
        }
    }

    /// Whether the evaluator should call the collector at its next safe point.
    #[inline(always)]
    pub(crate) fn needs_step(&self) -> bool {
        self.full_requested
            || match self.phase {
                Phase::Idle => self.allocated > self.threshold,
                _ => self.since_step >= self.step_allocs,
            }
    }

    pub(crate) fn cons(&mut self, car: Value, cdr: Value) -> Value {
        self.allocated += 1;
        self.since_step += 1;
        let p = Pair { car, cdr };
        let i = match self.pair_free.pop() {
            Some(i) => {
                self.pairs[i as usize] = p;
                i as usize
            }
            None => {
                self.pairs.push(p);
                self.pair_marks.push(WHITE);
                self.pairs.len() - 1
            }
        };
        self.pair_marks[i] = self.birth_mark(0, i, PAIR_BYTES);
        Value::new(V::Pair(i as u32))
    }

    pub(crate) fn alloc(&mut self, o: Obj) -> Value {
        // an object that owns a big block (a long string, a big vector) counts as
        // many allocations, so that garbage made of few large objects is collected
        // as soon as garbage made of many small ones
        let cost = 1 + o.payload_bytes() / PAYLOAD_BYTES_PER_ALLOC;
        self.allocated += cost;
        self.since_step += cost;
        let i = match self.obj_free.pop() {
            Some(i) => {
                self.objs[i as usize] = o;
                i as usize
            }
            None => {
                self.objs.push(o);
                self.obj_marks.push(WHITE);
                self.objs.len() - 1
            }
        };
        self.obj_marks[i] = self.birth_mark(1, i, Heap::obj_bytes(&self.objs[i]));
        Value::new(V::Obj(i as u32))
    }

    /// A new frame holding `slots` then `extra` unassigned slots.
    pub(crate) fn frame(&mut self, slots: &[Value], extra: usize, parent: u32) -> u32 {
        self.allocated += 1;
        self.since_step += 1;
        let i = match self.frame_free.pop() {
            Some(i) => {
                let f = &mut self.frames[i as usize];
                f.slots.clear();
                f.slots.extend_from_slice(slots);
                f.slots.resize(slots.len() + extra, Value::UNDEF);
                f.parent = parent;
                i as usize
            }
            None => {
                let mut v = Vec::with_capacity(slots.len() + extra);
                v.extend_from_slice(slots);
                v.resize(slots.len() + extra, Value::UNDEF);
                self.frames.push(Frame { slots: v, parent });
                self.frame_marks.push(WHITE);
                self.frames.len() - 1
            }
        };
        let bytes = FRAME_BYTES + self.frames[i].slots.capacity() * 16;
        self.frame_marks[i] = self.birth_mark(2, i, bytes);
        i as u32
    }

    pub(crate) fn obj(&self, v: Value) -> Option<&Obj> {
        match v.get() {
            V::Obj(i) => self.objs.get(i as usize),
            _ => None,
        }
    }

    pub(crate) fn obj_mut(&mut self, v: Value) -> Option<&mut Obj> {
        match v.get() {
            V::Obj(i) => self.objs.get_mut(i as usize),
            _ => None,
        }
    }

    pub(crate) fn pair(&self, v: Value) -> Option<Pair> {
        match v.get() {
            V::Pair(i) => self.pairs.get(i as usize).copied(),
            _ => None,
        }
    }

    pub(crate) fn mark_value(&mut self, v: Value) {
        if v.is_heap() {
            self.gray_values.push(v);
        }
    }

    pub(crate) fn mark_frame(&mut self, f: u32) {
        if f != NO_FRAME {
            self.gray_frames.push(f);
        }
    }

    /// Marks from the gray stacks, at most `budget` objects; true when none are left.
    pub(crate) fn mark_step(&mut self, budget: usize) -> bool {
        for _ in 0..budget {
            if let Some(v) = self.gray_values.pop() {
                match v.get() {
                    V::Pair(i) => {
                        let i = i as usize;
                        if self.pair_marks.get(i) == Some(&WHITE) {
                            self.pair_marks[i] = BLACK;
                            self.count_live(PAIR_BYTES);
                            let p = self.pairs[i];
                            self.mark_value(p.car);
                            self.mark_value(p.cdr);
                        }
                    }
                    V::Obj(i) => {
                        let i = i as usize;
                        if self.obj_marks.get(i) == Some(&WHITE) {
                            self.obj_marks[i] = BLACK;
                            self.count_live(self.objs[i].size() + 1);
                            self.trace_obj(i);
                        }
                    }
                    _ => {}
                }
            } else if let Some(f) = self.gray_frames.pop() {
                let f = f as usize;
                if self.frame_marks.get(f) == Some(&WHITE) {
                    self.frame_marks[f] = BLACK;
                    self.count_live(FRAME_BYTES + self.frames[f].slots.capacity() * 16);
                    let frame = &self.frames[f];
                    let parent = frame.parent;
                    self.gray_values
                        .extend(frame.slots.iter().filter(|v| v.is_heap()));
                    self.mark_frame(parent);
                }
            } else {
                return true;
            }
        }
        self.gray_values.is_empty() && self.gray_frames.is_empty()
    }

    fn trace_obj(&mut self, i: usize) {
        let gray = &mut self.gray_values;
        match &self.objs[i] {
            Obj::Vector(items) | Obj::Values(items) => gray.extend(items.iter().copied()),
            Obj::Record(rtd, items) => {
                gray.push(Value::new(V::Obj(*rtd)));
                gray.extend(items.iter().copied());
            }
            Obj::Closure(_, frame) => {
                let frame = *frame;
                self.mark_frame(frame);
            }
            Obj::Table(t) => {
                for (k, v) in t.entries() {
                    gray.push(k);
                    gray.push(v);
                }
            }
            Obj::Promise(p) => match p {
                crate::value::Promise::Delayed(v, _) | crate::value::Promise::Done(v) => {
                    gray.push(*v)
                }
            },
            Obj::Condition {
                message, irritants, ..
            } => {
                gray.push(*message);
                gray.push(*irritants);
            }
            Obj::Free
            | Obj::Str(_)
            | Obj::Native(_)
            | Obj::RecordType(_)
            | Obj::Cont(_)
            | Obj::InPort(_)
            | Obj::OutPort(_)
            | Obj::Rat(..)
            | Obj::Macro(_) => {}
        }
    }

    /// Starts sweeping. The free lists are kept: the program allocates from them
    /// while the sweep is young (emptying them made every cycle grow the arenas by
    /// what was allocated before the sweep reached its garbage), and the sweep passes
    /// over their slots, which are marked [`FREE`].
    pub(crate) fn begin_sweep(&mut self) {
        self.phase = Phase::Sweeping;
        self.sweep_at = [0; 3];
    }

    /// Sweeps at most `budget` slots; true when the cycle is over.
    pub(crate) fn sweep_step(&mut self, budget: usize) -> bool {
        let mut left = budget;
        let start = self.sweep_at[0];
        let end = self.pairs.len().min(start.saturating_add(left));
        for i in start..end {
            match self.pair_marks[i] {
                BLACK => self.pair_marks[i] = WHITE,
                WHITE => {
                    self.pair_marks[i] = FREE;
                    self.pair_free.push(i as u32);
                }
                _ => {}
            }
        }
        self.sweep_at[0] = end;
        left -= end - start;
        let start = self.sweep_at[1];
        let end = self.objs.len().min(start.saturating_add(left));
        for i in start..end {
            match self.obj_marks[i] {
                BLACK => self.obj_marks[i] = WHITE,
                WHITE => {
                    self.objs[i] = Obj::Free;
                    self.obj_marks[i] = FREE;
                    self.obj_free.push(i as u32);
                }
                _ => {}
            }
        }
        self.sweep_at[1] = end;
        left -= end - start;
        let start = self.sweep_at[2];
        let end = self.frames.len().min(start.saturating_add(left));
        for i in start..end {
            match self.frame_marks[i] {
                BLACK => self.frame_marks[i] = WHITE,
                WHITE => {
                    self.frames[i].slots.clear();
                    self.frame_marks[i] = FREE;
                    self.frame_free.push(i as u32);
                }
                _ => {}
            }
        }
        self.sweep_at[2] = end;
        let done = self.sweep_at[0] == self.pairs.len()
            && self.sweep_at[1] == self.objs.len()
            && self.sweep_at[2] == self.frames.len();
        if done {
            self.phase = Phase::Idle;
            self.allocated = 0;
            self.threshold = self.min_threshold.max(self.cycle_live);
            self.stats.collections += 1;
            self.stats.live_bytes = self.cycle_live_bytes;
            self.stats.heap_bytes = self.heap_bytes();
            self.used = self.cycle_live_bytes + self.white_born_bytes;
            if self.in_grace && self.used <= self.limit {
                self.set_grace(false);
            }
        }
        done
    }

    /// The bytes of an object that counts against the limit.
    pub(crate) fn obj_bytes(o: &Obj) -> usize {
        o.size() + 1
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.pairs.capacity() * PAIR_BYTES
            + self.objs.capacity() * (std::mem::size_of::<Obj>() + 1)
            + self.frames.capacity() * FRAME_BYTES
    }
}

/// The limit new interpreters start with, when set (0: not set).
static DEFAULT_LIMIT: AtomicUsize = AtomicUsize::new(0);

/// Sets the heap limit of interpreters created from now on (see
/// [`crate::Interp::set_heap_limit`]); the command line's `--heap-limit`.
pub fn set_default_heap_limit(bytes: usize) {
    DEFAULT_LIMIT.store(bytes.max(MIN_LIMIT), Ordering::Relaxed);
}

/// The heap limit when the embedder sets none: what [`set_default_heap_limit`]
/// set, else half the physical memory, at most 8 GiB (4 GiB where the memory size
/// cannot be read).
pub(crate) fn default_limit() -> usize {
    const CAP: usize = 8 << 30;
    let set = DEFAULT_LIMIT.load(Ordering::Relaxed);
    if set != 0 {
        return set;
    }
    match physical_memory() {
        Some(bytes) => (bytes / 2).min(CAP),
        None => CAP / 2,
    }
}

/// The machine's memory in bytes, from `/proc/meminfo` (Linux).
fn physical_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}
