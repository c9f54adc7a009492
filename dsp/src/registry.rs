//! Names → slots, the code table, and the generations of each definition.
//!
//! - Every bind-func has a slot; each thread has its own slot table (closure pointer per
//!   slot). Compiled calls load the callee from the calling thread's table, so redefining
//!   `foo` changes what every caller runs at its next call. The control table changes at
//!   `define`; the audio table when the audio thread applies a [`SwapBatch`].
//! - Redefining `foo` with another type keeps its slot: callers compiled against the old
//!   type fail the type check of the call and fault with "called a definition that is
//!   missing or changed its type: re-evaluate the caller" until they are re-evaluated.
//! - The code table (outside the arena) maps a closure's `fn_index` to its code, type id
//!   and variable table (see [`crate::runtime::vars`]; 0 when the lambda captures
//!   nothing). Entry 0 is never used, so zeroed memory is never a callable closure.
//! - A [`Gen`] is one evaluation of a definition: its code, closure zone and string
//!   literals. It is freed when the control side replaced it, the audio side no longer
//!   holds it (its replacement was applied and the batch came back), and no live
//!   generation referred to it when compiled (closures made by old code can be held by a
//!   newer definition: `dsp` holding oscillators made by `osc_c`).

use crate::jit::CodeBlock;
use crate::runtime::vars::{self, VarEntry};
use crate::runtime::{Arena, Zone};
use crate::sexp::Span;
use crate::types::Type;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Words in a slot table: one per bind-func, and the last for [`INTERRUPT_SLOT`].
pub const MAX_SLOTS: usize = 4096;
/// The slot-table word holding the address of this thread's interrupt flag (an
/// `AtomicBool`): compiled loops test it at every back-edge and fault when it is set.
pub const INTERRUPT_SLOT: usize = MAX_SLOTS - 1;
/// The fault code of an interrupted loop.
pub const INTERRUPTED: u32 = 12;
/// Code-table entries (compiled lambdas alive at once) at most.
pub const CODE_CAP: u64 = 1 << 16;

/// Words per code-table entry: `{ fn_ptr, type_id, var_table, 0 }`.
pub const CODE_WORDS: usize = 4;
/// Byte offset of the variable table's address in a code-table entry.
pub const CODE_VARS: i32 = 16;

/// The code table's memory: [`CODE_WORDS`] words per entry, shared with audio contexts.
pub struct CodeMem {
    entries: Box<[AtomicU64]>,
}

impl CodeMem {
    fn new() -> CodeMem {
        CodeMem {
            entries: (0..CODE_WORDS as u64 * CODE_CAP)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    pub fn base(&self) -> u64 {
        self.entries.as_ptr() as u64
    }

    /// (code address, type id) of entry `i`, or `None` past the end.
    pub fn get(&self, i: u64) -> Option<(u64, u64)> {
        if i >= CODE_CAP {
            return None;
        }
        let i = CODE_WORDS * i as usize;
        Some((
            self.entries[i].load(Ordering::Acquire),
            self.entries[i + 1].load(Ordering::Acquire),
        ))
    }

    /// The variable table of entry `i` (0: none), or `None` past the end.
    pub fn vars(&self, i: u64) -> Option<u64> {
        (i < CODE_CAP).then(|| self.entries[CODE_WORDS * i as usize + 2].load(Ordering::Acquire))
    }

    fn set(&self, i: u64, code: u64, type_id: u64) {
        let i = CODE_WORDS * i as usize;
        self.entries[i].store(code, Ordering::Release);
        self.entries[i + 1].store(type_id, Ordering::Release);
        self.entries[i + 2].store(0, Ordering::Release);
    }

    fn set_vars(&self, i: u64, table: u64) {
        self.entries[CODE_WORDS * i as usize + 2].store(table, Ordering::Release);
    }
}

/// A bind-func's current definition.
#[derive(Clone, Debug)]
pub struct FuncDef {
    pub slot: u32,
    pub ty: Type,
    pub gen_id: usize,
}

/// A bind-val global: its type and address (memory kept for the life of the `Dsp`).
#[derive(Debug)]
pub struct ValDef {
    pub ty: Type,
    pub addr: u64,
}

/// Where a fault can happen: the form, its position and the definition.
#[derive(Clone, Debug)]
pub struct Site {
    pub form: String,
    pub span: Option<Span>,
    pub def: Arc<str>,
}

/// One evaluation of a bind-func.
pub struct Gen {
    pub name: String,
    pub slot: u32,
    pub code: Option<CodeBlock>,
    pub zone: Option<Zone>,
    pub literals: Option<Zone>,
    pub indices: Vec<u64>,
    pub refs: Vec<usize>,
    pub current: bool,
    pub in_flight: u32,
    pub freed: bool,
}

/// What one evaluation (or several, until taken) installs on the audio side.
pub struct SwapBatch {
    /// (slot, closure, generation)
    pub(crate) installs: Vec<(u32, u64, usize)>,
    /// After `AudioCtx::apply`: (slot, closure replaced).
    pub(crate) replaced: Vec<(u32, u64)>,
}

/// Counts of what is allocated and not yet freed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveCounts {
    pub closures: usize,
    pub zones: usize,
    pub code_blocks: usize,
}

pub struct Registry {
    pub code: Arc<CodeMem>,
    free_indices: Vec<u64>,
    next_index: u64,
    pub slots: Box<[u64]>,
    next_slot: u32,
    pub funcs: HashMap<String, FuncDef>,
    slot_of: HashMap<String, u32>,
    pub vals: HashMap<String, ValDef>,
    pub val_zones: Vec<Zone>,
    pub gens: Vec<Gen>,
    pending: Vec<(u32, u64, usize)>,
    audio_gen: Vec<Option<usize>>,
    type_ids: HashMap<Type, u64>,
    pub sites: Vec<Site>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            code: Arc::new(CodeMem::new()),
            free_indices: Vec::new(),
            next_index: 1,
            slots: vec![0u64; MAX_SLOTS].into_boxed_slice(),
            next_slot: 0,
            funcs: HashMap::new(),
            slot_of: HashMap::new(),
            vals: HashMap::new(),
            val_zones: Vec::new(),
            gens: Vec::new(),
            pending: Vec::new(),
            audio_gen: vec![None; MAX_SLOTS],
            type_ids: HashMap::new(),
            sites: vec![Site {
                form: String::new(),
                span: None,
                def: Arc::from(""),
            }],
        }
    }
}

impl Registry {
    pub fn type_id(&mut self, t: &Type) -> u64 {
        let n = self.type_ids.len() as u64 + 1;
        *self.type_ids.entry(t.clone()).or_insert(n)
    }

    /// The type id of `t`, if one was given out.
    pub fn type_id_of(&self, t: &Type) -> Option<u64> {
        self.type_ids.get(t).copied()
    }

    /// The type given id `id`.
    pub fn type_of(&self, id: u64) -> Option<Type> {
        self.type_ids
            .iter()
            .find(|(_, i)| **i == id)
            .map(|(t, _)| t.clone())
    }

    /// The variable table of bind-func `name`'s current closure (control side): the
    /// definition's name and its captured variables; an empty list when it captures none.
    /// `None` when `name` is not a bind-func.
    pub fn closure_vars(&self, arena: &Arena, name: &str) -> Option<(String, Vec<VarEntry>)> {
        let def = self.funcs.get(name)?;
        let clo = self.slots[def.slot as usize];
        let mut idx = [0u8; 8];
        if !arena.read(clo, &mut idx) {
            return Some((name.to_string(), Vec::new()));
        }
        let table = self.code.vars(u64::from_le_bytes(idx)).unwrap_or(0);
        Some(vars::decode(arena, table).unwrap_or_else(|| (name.to_string(), Vec::new())))
    }

    /// The slot of `name`, made if new; `None` when all slots are taken.
    pub fn slot_for(&mut self, name: &str) -> Option<u32> {
        if let Some(s) = self.slot_of.get(name) {
            return Some(*s);
        }
        if self.next_slot as usize >= INTERRUPT_SLOT {
            return None;
        }
        let s = self.next_slot;
        self.next_slot += 1;
        self.slot_of.insert(name.to_string(), s);
        Some(s)
    }

    /// A free code-table index.
    pub fn code_index(&mut self) -> Option<u64> {
        if let Some(i) = self.free_indices.pop() {
            return Some(i);
        }
        if self.next_index >= CODE_CAP {
            return None;
        }
        self.next_index += 1;
        Some(self.next_index - 1)
    }

    pub fn set_code(&self, i: u64, code: u64, type_id: u64) {
        self.code.set(i, code, type_id);
    }

    /// Records the variable table of code-table entry `i` (set after [`Registry::set_code`]).
    pub fn set_vars(&self, i: u64, table: u64) {
        self.code.set_vars(i, table);
    }

    /// Gives back code-table indices of a definition that never ran.
    pub fn release_indices(&mut self, indices: Vec<u64>) {
        for i in indices {
            self.code.set(i, 0, 0);
            self.free_indices.push(i);
        }
    }

    /// Makes `generation` the current definition of its name (control side at once, audio side
    /// at the next batch).
    pub fn install(&mut self, generation: Gen, ty: Type, closure: u64) -> usize {
        let slot = generation.slot;
        let id = self.gens.len();
        self.gens.push(generation);
        if let Some(old) = self.funcs.get(&self.gens[id].name) {
            self.gens[old.gen_id].current = false;
        }
        self.funcs.insert(
            self.gens[id].name.clone(),
            FuncDef {
                slot,
                ty,
                gen_id: id,
            },
        );
        self.slots[slot as usize] = closure;
        self.pending.retain(|(s, _, _)| *s != slot);
        self.pending.push((slot, closure, id));
        self.collect();
        id
    }

    pub fn take_swap(&mut self) -> Option<Box<SwapBatch>> {
        if self.pending.is_empty() {
            return None;
        }
        let installs = std::mem::take(&mut self.pending);
        for (_, _, g) in &installs {
            self.gens[*g].in_flight += 1;
        }
        let replaced = Vec::with_capacity(installs.len());
        Some(Box::new(SwapBatch { installs, replaced }))
    }

    pub fn retire(&mut self, batch: &SwapBatch) {
        for (slot, _, g) in &batch.installs {
            self.gens[*g].in_flight = self.gens[*g].in_flight.saturating_sub(1);
            self.audio_gen[*slot as usize] = Some(*g);
        }
        self.collect();
    }

    /// The audio side starts from the control side's slots.
    pub fn audio_started(&mut self) {
        for f in self.funcs.values() {
            self.audio_gen[f.slot as usize] = Some(f.gen_id);
        }
        self.collect();
    }

    /// Frees every generation nothing can reach any more.
    pub fn collect(&mut self) {
        loop {
            let held: HashSet<usize> = self
                .gens
                .iter()
                .enumerate()
                .filter(|(_, g)| !g.freed)
                .flat_map(|(i, g)| g.refs.iter().copied().filter(move |r| *r != i))
                .chain(self.audio_gen.iter().flatten().copied())
                .chain(self.pending.iter().map(|p| p.2))
                .collect();
            let dead: Vec<usize> = (0..self.gens.len())
                .filter(|i| {
                    let g = &self.gens[*i];
                    !g.freed && !g.current && g.in_flight == 0 && !held.contains(i)
                })
                .collect();
            if dead.is_empty() {
                return;
            }
            for i in dead {
                let indices = std::mem::take(&mut self.gens[i].indices);
                self.release_indices(indices);
                let g = &mut self.gens[i];
                g.code = None;
                g.zone = None;
                g.literals = None;
                g.freed = true;
            }
        }
    }

    pub fn live(&self) -> LiveCounts {
        let live = self.gens.iter().filter(|g| !g.freed);
        let mut c = LiveCounts::default();
        for g in live {
            c.closures += 1;
            c.zones += usize::from(g.zone.is_some());
            c.code_blocks += usize::from(g.code.is_some());
        }
        c.zones += self.val_zones.len();
        c
    }
}
