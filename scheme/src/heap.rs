//! The garbage-collected heap: typed arenas for pairs, environment frames and other
//! objects, each with a mark bit per slot and a free list. The collector is a precise,
//! non-moving mark-sweep; it only runs at the evaluator's safe points, never inside a
//! native procedure. Arenas never shrink, so a stale handle can never index out of
//! bounds: it finds a freed slot and is reported as a type error, never a crash.

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
    pair_marks: Vec<bool>,
    pair_free: Vec<u32>,
    pub objs: Vec<Obj>,
    obj_marks: Vec<bool>,
    obj_free: Vec<u32>,
    pub frames: Vec<Frame>,
    frame_marks: Vec<bool>,
    frame_free: Vec<u32>,
    /// Allocations since the last collection.
    pub allocated: usize,
    /// A collection is due once `allocated` passes this.
    pub threshold: usize,
    pub stats: GcStats,
    gray_values: Vec<Value>,
    gray_frames: Vec<u32>,
}

const MIN_THRESHOLD: usize = 1 << 18;
const PAIR_BYTES: usize = std::mem::size_of::<Pair>() + 1;
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
            gray_values: Vec::new(),
            gray_frames: Vec::new(),
        }
    }

    pub(crate) fn cons(&mut self, car: Value, cdr: Value) -> Value {
        self.allocated += 1;
        let p = Pair { car, cdr };
        if let Some(i) = self.pair_free.pop() {
            self.pairs[i as usize] = p;
            Value::new(V::Pair(i))
        } else {
            self.pairs.push(p);
            self.pair_marks.push(false);
            Value::new(V::Pair((self.pairs.len() - 1) as u32))
        }
    }

    pub(crate) fn alloc(&mut self, o: Obj) -> Value {
        self.allocated += 1;
        if let Some(i) = self.obj_free.pop() {
            self.objs[i as usize] = o;
            Value::new(V::Obj(i))
        } else {
            self.objs.push(o);
            self.obj_marks.push(false);
            Value::new(V::Obj((self.objs.len() - 1) as u32))
        }
    }

    /// A new frame holding `slots` then `extra` unassigned slots.
    pub(crate) fn frame(&mut self, slots: &[Value], extra: usize, parent: u32) -> u32 {
        self.allocated += 1;
        if let Some(i) = self.frame_free.pop() {
            let f = &mut self.frames[i as usize];
            f.slots.clear();
            f.slots.extend_from_slice(slots);
            f.slots.resize(slots.len() + extra, Value::UNDEF);
            f.parent = parent;
            i
        } else {
            let mut v = Vec::with_capacity(slots.len() + extra);
            v.extend_from_slice(slots);
            v.resize(slots.len() + extra, Value::UNDEF);
            self.frames.push(Frame { slots: v, parent });
            self.frame_marks.push(false);
            (self.frames.len() - 1) as u32
        }
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

    pub(crate) fn due(&self) -> bool {
        self.allocated > self.threshold
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

    /// Marks everything reachable from the gray stacks.
    pub(crate) fn trace(&mut self) {
        loop {
            if let Some(v) = self.gray_values.pop() {
                match v.get() {
                    V::Pair(i) => {
                        let i = i as usize;
                        if i < self.pairs.len() && !self.pair_marks[i] {
                            self.pair_marks[i] = true;
                            let p = self.pairs[i];
                            self.mark_value(p.car);
                            self.mark_value(p.cdr);
                        }
                    }
                    V::Obj(i) => {
                        let i = i as usize;
                        if i < self.objs.len() && !self.obj_marks[i] {
                            self.obj_marks[i] = true;
                            self.trace_obj(i);
                        }
                    }
                    _ => {}
                }
            } else if let Some(f) = self.gray_frames.pop() {
                let f = f as usize;
                if f < self.frames.len() && !self.frame_marks[f] {
                    self.frame_marks[f] = true;
                    let frame = &self.frames[f];
                    let parent = frame.parent;
                    self.gray_values
                        .extend(frame.slots.iter().filter(|v| v.is_heap()));
                    self.mark_frame(parent);
                }
            } else {
                return;
            }
        }
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
            | Obj::OutPort(_) => {}
        }
    }

    /// Frees everything unmarked, clears the marks and sets the next threshold.
    pub(crate) fn sweep(&mut self, pause_start: std::time::Instant) {
        let mut live = 0usize;
        self.pair_free.clear();
        for (i, m) in self.pair_marks.iter_mut().enumerate() {
            if *m {
                *m = false;
                live += 1;
            } else {
                self.pair_free.push(i as u32);
            }
        }
        let mut live_bytes = live * PAIR_BYTES;
        let mut live_count = live;
        self.obj_free.clear();
        for (i, m) in self.obj_marks.iter_mut().enumerate() {
            if *m {
                *m = false;
                live_count += 1;
                live_bytes += self.objs[i].size() + 1;
            } else {
                if !matches!(self.objs[i], Obj::Free) {
                    self.objs[i] = Obj::Free;
                }
                self.obj_free.push(i as u32);
            }
        }
        self.frame_free.clear();
        for (i, m) in self.frame_marks.iter_mut().enumerate() {
            if *m {
                *m = false;
                live_count += 1;
                live_bytes += FRAME_BYTES + self.frames[i].slots.capacity() * 16;
            } else {
                self.frames[i].slots.clear();
                self.frame_free.push(i as u32);
            }
        }
        // free lists pop from the end: hand out low slots first for locality
        self.pair_free.reverse();
        self.obj_free.reverse();
        self.frame_free.reverse();
        self.allocated = 0;
        self.threshold = MIN_THRESHOLD.max(live_count);
        let pause = pause_start.elapsed();
        let heap_bytes = self.heap_bytes();
        let s = &mut self.stats;
        s.collections += 1;
        s.total_pause += pause;
        s.max_pause = s.max_pause.max(pause);
        s.live_bytes = live_bytes;
        s.heap_bytes = heap_bytes;
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.pairs.capacity() * PAIR_BYTES
            + self.objs.capacity() * (std::mem::size_of::<Obj>() + 1)
            + self.frames.capacity() * FRAME_BYTES
    }
}
