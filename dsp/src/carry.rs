//! State carried over from a closure to the one a redefinition builds in its place.
//!
//! When `bind-func NAME` is evaluated again, each captured variable of the new closure whose
//! name and type match one of the old closure's may take the old value (found through both
//! closures' variable tables, [`crate::runtime::vars`]). A variable is carried when its
//! starting value is the same as the old closure's was — the livecoder did not change
//! what its `let` gives it — so editing `(fb 0.5)` to `(fb 0.6)` takes effect, while a
//! phase or a write position keeps running. What a variable holds decides how:
//! - a number is copied, unless some buffer of the same closure changed size (its indices
//!   would not fit the new buffers: that closure's numbers start from its `let`);
//! - a closure (an `osc_c` instance made by the outer `let`) is walked in turn, variable by
//!   variable, so it keeps its phase;
//! - a pointer to a buffer of plain data (numbers, tuples and arrays of them) allocated in
//!   the old closure zone, held where the new closure holds one allocated in its own zone,
//!   has its contents copied into the new buffer when both started all zeros or with the
//!   same contents — all of it when the sizes match, up to the smaller size when they do
//!   not (noted as a warning). Buffers holding pointers are not carried: their pointers
//!   would lead into the old zone, freed after the swap.
//!
//! Each definition records the starting values of its closures' variables ([`Inits`], by
//! path: `dsp.osc.p`) before anything runs it, to be compared with at the next
//! redefinition. The plan is made on the control thread at definition time and carried
//! out by the audio thread when it installs the new closure ([`crate::AudioCtx::apply`]),
//! so the state is the old closure's at the very sample of the swap. Applying is a few
//! `memcpy`s between live allocations of the two zones: no allocation, no lock. The plan
//! holds only when the audio side's slot still holds the closure it was made against;
//! otherwise (a closure that never reached the audio side) the new closure starts from
//! its own `let`.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::registry::Registry;
use crate::runtime::Zone;
use crate::runtime::arena::Arena;
use crate::runtime::shadow::strip;
use crate::runtime::vars::{self, VarEntry};
use crate::types::Type;

/// How deep closures held by closures are walked.
const MAX_DEPTH: u32 = 8;
/// Most copies one plan holds (variables and buffers of all the closures walked).
const MAX_PIECES: usize = 4096;
/// The starting value recorded for a buffer that started all zeros (any size).
const ZEROS: u64 = 0;

/// One copy of `len` bytes between untagged arena addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Piece {
    from: u64,
    to: u64,
    len: u64,
}

/// What a redefinition takes from the closure it replaces.
#[derive(Debug, Default)]
pub struct Carry {
    /// The closure record the plan was made against.
    old: u64,
    pieces: Vec<Piece>,
}

/// The starting values of a definition's closure variables, by path (`dsp.osc.p`): a
/// number's bits, or a buffer's fingerprint ([`ZEROS`] when it started all zeros).
#[derive(Debug, Default)]
pub struct Inits(HashMap<String, u64>);

impl Carry {
    /// The closure this carry takes its state from.
    pub(crate) fn old(&self) -> u64 {
        self.old
    }

    /// Copies the old state into the new closure. Allocates nothing (audio thread): every
    /// range was a live allocation of a zone that outlives the swap, and is checked to lie
    /// in the arena again before it is touched.
    pub(crate) fn apply(&self, arena: &Arena) {
        for p in &self.pieces {
            if arena.contains(p.from, p.len) && arena.contains(p.to, p.len) {
                // SAFETY: both ranges lie inside the arena, mapped read-write for its life;
                // they belong to different zones (the old and the new closure's), so they do
                // not overlap, and DSP memory is plain bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        p.from as *const u8,
                        p.to as *mut u8,
                        p.len as usize,
                    )
                };
            }
        }
    }
}

/// The closure being replaced: its record, its zone and its recorded starting values.
pub(crate) struct Old<'a> {
    pub closure: u64,
    pub zone: &'a Zone,
    pub inits: &'a Inits,
}

struct Planner<'a> {
    reg: &'a Registry,
    arena: &'a Arena,
    old: Option<Old<'a>>,
    new_zone: &'a Zone,
    pieces: Vec<Piece>,
    inits: Inits,
    seen: Vec<u64>,
    notes: Vec<String>,
}

/// Records the starting values of closure `new` of definition `def` (in `new_zone`), and
/// plans what it takes from `old` when there is one; notes for the livecoder (a buffer
/// whose size changed) go to `notes`.
pub(crate) fn plan(
    reg: &Registry,
    arena: &Arena,
    old: Option<Old<'_>>,
    (def, new, new_zone): (&str, u64, &Zone),
    notes: &mut Vec<String>,
) -> (Option<Carry>, Inits) {
    let old_closure = old.as_ref().map(|o| o.closure);
    let mut p = Planner {
        reg,
        arena,
        old,
        new_zone,
        pieces: Vec::new(),
        inits: Inits::default(),
        seen: Vec::new(),
        notes: Vec::new(),
    };
    p.closure(old_closure, new, def, 0);
    notes.append(&mut p.notes);
    let carry = old_closure.map(|old| Carry {
        old,
        pieces: p.pieces,
    });
    (carry, p.inits)
}

/// True for data that holds no address: numbers, and tuples and arrays of them.
fn plain(t: &Type) -> bool {
    match t {
        Type::Tuple(ts) => ts.iter().all(plain),
        Type::Array(_, t) | Type::Vector(_, t) => plain(t),
        t => t.is_numeric(),
    }
}

/// What one variable of the new closure holds.
enum Held {
    Number { at: u64, len: u64, bits: u64 },
    Buffer { start: u64, len: u64, print: u64 },
    Closure(u64),
    Other,
}

impl Planner<'_> {
    /// A word of arena memory.
    fn word(&self, addr: u64) -> Option<u64> {
        let mut w = [0u8; 8];
        self.arena.read(addr, &mut w).then(|| u64::from_le_bytes(w))
    }

    /// The (stamp, environment) of the closure record at `rec`, when it is a live
    /// allocation.
    fn record(&self, rec: u64) -> Option<(u64, u64)> {
        self.arena.allocation(rec).filter(|(_, len)| *len >= 16)?;
        Some((self.word(rec)?, self.word(rec + 8)?))
    }

    /// The variables of the closure at `rec`, and its environment.
    fn table(&self, rec: u64) -> Option<(Vec<VarEntry>, u64)> {
        let (stamp, env) = self.record(rec)?;
        let t = self.reg.code.vars(stamp).unwrap_or(0);
        vars::decode(self.arena, t).map(|(_, v)| (v, env))
    }

    /// Where variable `v` of the closure with environment `env` keeps its value.
    fn place(&self, env: u64, v: &VarEntry) -> Option<u64> {
        vars::value_addr(self.arena, env, v.slot())
    }

    /// The live allocation `p` points to the start of, in `zone`: (start, length).
    fn buffer_in(&self, p: u64, zone: &Zone) -> Option<(u64, u64)> {
        let (start, len) = self.arena.allocation(p)?;
        (strip(p) == start && zone.holds(start, len)).then_some((start, len))
    }

    /// The bytes of a buffer, as a fingerprint ([`ZEROS`] when all are zero), read a
    /// chunk at a time.
    fn fingerprint(&self, start: u64, len: u64) -> u64 {
        let mut chunk = [0u8; 4096];
        let mut h = DefaultHasher::new();
        let mut zeros = true;
        let mut at = 0;
        while at < len {
            let n = (len - at).min(chunk.len() as u64) as usize;
            if !self.arena.read(start + at, &mut chunk[..n]) {
                return ZEROS;
            }
            zeros &= chunk[..n].iter().all(|b| *b == 0);
            chunk[..n].hash(&mut h);
            at += n as u64;
        }
        if zeros { ZEROS } else { h.finish() | 1 }
    }

    /// What variable `v` (of type `ty`) holds at `at` in the new closure.
    fn held(&self, ty: &Type, at: u64) -> Held {
        match ty {
            Type::Closure(..) => match self.word(at) {
                Some(c) if c != 0 => Held::Closure(c),
                _ => Held::Other,
            },
            Type::Ptr(elem) if plain(elem) => {
                match self.word(at).and_then(|p| self.buffer_in(p, self.new_zone)) {
                    Some((start, len)) => Held::Buffer {
                        start,
                        len,
                        print: self.fingerprint(start, len),
                    },
                    None => Held::Other,
                }
            }
            t if t.is_numeric() => {
                let len = t.size().min(8);
                let mut w = [0u8; 8];
                self.arena.read(at, &mut w[..len as usize]);
                Held::Number {
                    at: strip(at),
                    len,
                    bits: u64::from_le_bytes(w),
                }
            }
            _ => Held::Other,
        }
    }

    /// Walks the new closure at `new` (path `path`) beside the old one at `old`.
    fn closure(&mut self, old: Option<u64>, new: u64, path: &str, depth: u32) {
        if depth > MAX_DEPTH || self.seen.contains(&strip(new)) {
            return;
        }
        self.seen.push(strip(new));
        let Some((new_vars, new_env)) = self.table(new) else {
            return;
        };
        let (old_vars, old_env) = old.and_then(|o| self.table(o)).unwrap_or((Vec::new(), 0));
        let mut vars = Vec::new();
        for nv in &new_vars {
            let (Some(at), Some(ty)) = (self.place(new_env, nv), self.reg.type_of(nv.type_id))
            else {
                continue;
            };
            let name = format!("{path}.{}", nv.name);
            let held = self.held(&ty, at);
            let bits = match held {
                Held::Number { bits, .. } => Some(bits),
                Held::Buffer { print, .. } => Some(print),
                _ => None,
            };
            let unchanged = bits.is_some_and(|b| {
                let old_init = self.old.as_ref().and_then(|o| o.inits.0.get(&name));
                old_init == Some(&b)
            });
            if let Some(b) = bits {
                self.inits.0.insert(name.clone(), b);
            }
            let from = old_vars
                .iter()
                .find(|o| o.name == nv.name && o.type_id == nv.type_id)
                .and_then(|ov| self.place(old_env, ov));
            vars.push((name, held, from, unchanged));
        }
        // a buffer that changed size: this closure's numbers start from its let
        let resized = vars.iter().any(|(_, held, from, _)| match (held, from) {
            (Held::Buffer { len, .. }, Some(from)) => self
                .old_buffer(*from)
                .is_some_and(|(_, old_len)| old_len != *len),
            _ => false,
        });
        for (name, held, from, unchanged) in vars {
            match held {
                Held::Closure(c) => {
                    let o = from.and_then(|f| self.word(f)).filter(|o| *o != 0);
                    self.closure(o, c, &name, depth + 1);
                }
                Held::Number { at, len, .. } if unchanged && !resized => {
                    if let Some(from) = from {
                        self.push(Piece {
                            from: strip(from),
                            to: at,
                            len,
                        });
                    }
                }
                Held::Buffer { start, len, .. } if unchanged => {
                    if let Some((os, olen)) = from.and_then(|f| self.old_buffer(f)) {
                        if olen != len {
                            self.notes.push(format!(
                                "{name} changed size from {olen} to {len} bytes: its first {} bytes carried over, the numbers beside it start afresh",
                                olen.min(len)
                            ));
                        }
                        self.push(Piece {
                            from: os,
                            to: start,
                            len: olen.min(len),
                        });
                    }
                }
                _ => {}
            }
        }
    }

    /// The buffer the old closure's variable at `from` points to, in the old zone.
    fn old_buffer(&self, from: u64) -> Option<(u64, u64)> {
        let zone = self.old.as_ref()?.zone;
        self.word(from).and_then(|p| self.buffer_in(p, zone))
    }

    fn push(&mut self, p: Piece) {
        if self.pieces.len() < MAX_PIECES && p.len > 0 && p.from != p.to {
            self.pieces.push(p);
        }
    }
}
