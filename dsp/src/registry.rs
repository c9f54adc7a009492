//! Names → slots, the code table, and the generations of each definition.
//!
//! - Every bind-func has a slot; each thread has its own slot table (closure pointer per
//!   slot). Compiled calls load the callee from the calling thread's table, so redefining
//!   `foo` changes what every caller runs at its next call. The control table changes at
//!   `define`; the audio table when the audio thread applies a [`SwapBatch`].
//! - Redefining `foo` with another type keeps its slot: callers compiled against the old
//!   type fail the type check of the call and fault with "called a definition that is
//!   missing or changed its type: re-evaluate the caller" until they are re-evaluated.
//! - The code table (outside the arena) maps a closure's stamp to its code, type id,
//!   variable table (see [`crate::runtime::vars`]; 0 when the lambda captures nothing) and
//!   the stamp itself. A closure record's first word is a stamp: the entry's index in the
//!   low [`INDEX_BITS`] bits and a number never given out before above them. A call goes
//!   through only when the record's stamp equals its entry's, so a record that outlived
//!   its code faults ([`crate::runtime::FaultCode::FreedClosure`]) even after the index was
//!   given to other code. Entry 0 is never used, so zeroed memory is never a callable
//!   closure.
//! - A [`Gen`] is one evaluation of a definition: its code, closure zone and string
//!   literals. It stays alive while anything can still call its code: the control side's
//!   name (it is current), the audio side's slot (its replacement has not come back in a
//!   retired batch), a batch in flight, the audio side's fallback for a faulting entry, a
//!   live generation that named it when compiled (closures made by old code can be held
//!   by a newer definition: `dsp` holding oscillators made by `osc_c`), or a live zone
//!   holding one of its closure records (each zone notes which generations made closures
//!   in it; the control thread's default zone is never emptied, so a generation that made
//!   a closure there lives as long as the `Dsp`).
//! - Freeing takes two steps. When nothing holds a generation any more, its code-table
//!   stamps are cleared at once, so no call that starts afterwards can reach its code;
//!   its code, zone and indices are freed only once every audio context that was inside
//!   a buffer at that moment has finished that buffer (a call in progress then has
//!   returned), see [`Registry::reclaim`].
//! - A definition waiting for its first use ([`crate::lazy`]) has its name, slot and type
//!   in `funcs` but no generation yet: its id is a key of `lazy` until it is compiled
//!   (then its generation is installed under that id) and its slot stays empty.
use crate::carry::{Carry, Inits};
use crate::jit::CodeBlock;
use crate::lazy::{CompileCounts, Pending};
use crate::runtime::vars::{self, VarEntry};
use crate::runtime::{Arena, Zone};
use crate::sexp::Span;
use crate::types::Type;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Words in a slot table: one per bind-func, and the last for [`INTERRUPT_SLOT`].
pub const MAX_SLOTS: usize = 4096;
/// The slot-table word holding the address of this thread's interrupt flag (an
/// `AtomicBool`): compiled loops test it at every back-edge and fault when it is set.
pub const INTERRUPT_SLOT: usize = MAX_SLOTS - 1;
/// The fault code of an interrupted loop.
pub const INTERRUPTED: u32 = 12;
/// Code-table entries (compiled lambdas alive at once) at most.
pub const CODE_CAP: u64 = 1 << 16;

/// Bits of a stamp that hold the code-table index.
pub const INDEX_BITS: u32 = CODE_CAP.trailing_zeros();
/// The index part of a stamp.
pub const INDEX_MASK: u64 = CODE_CAP - 1;

/// Words per code-table entry: `{ fn_ptr, type_id, var_table, stamp, batch, frame_loop }`
/// and two unused, so that an entry's offset is its index shifted.
pub const CODE_WORDS: usize = 8;
/// Byte offset of the variable table's address in a code-table entry.
pub const CODE_VARS: i32 = 16;
/// Byte offset of the stamp in a code-table entry.
pub const CODE_STAMP: i32 = 24;
/// Byte offset of the batch entry's address in a code-table entry (0: none; see
/// `lower::batch_entry`).
pub const CODE_BATCH: i32 = 32;

/// A code-table entry's code: its address, and those of the extra entries compiled for
/// some lambdas (0: none).
#[derive(Clone, Copy, Debug, Default)]
pub struct Code {
    pub addr: u64,
    /// Its batch entry (see `lower::batch_entry`).
    pub batch: u64,
    /// Its frame loop (see `lower::frame_loop`).
    pub frame_loop: u64,
}

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

    fn word(&self, stamp: u64, w: usize) -> &AtomicU64 {
        &self.entries[CODE_WORDS * (stamp & INDEX_MASK) as usize + w]
    }

    /// The code and type id of the closure stamped `stamp`, or `None` when no live code has
    /// that stamp.
    pub fn get(&self, stamp: u64) -> Option<(Code, u64)> {
        if self.word(stamp, 3).load(Ordering::Acquire) != stamp {
            return None;
        }
        let code = Code {
            addr: self.word(stamp, 0).load(Ordering::Acquire),
            batch: self.word(stamp, 4).load(Ordering::Acquire),
            frame_loop: self.word(stamp, 5).load(Ordering::Acquire),
        };
        Some((code, self.word(stamp, 1).load(Ordering::Acquire)))
    }

    /// The variable table of the closure stamped `stamp` (0: none), or `None` when no live
    /// code has that stamp.
    pub fn vars(&self, stamp: u64) -> Option<u64> {
        (self.word(stamp, 3).load(Ordering::Acquire) == stamp)
            .then(|| self.word(stamp, 2).load(Ordering::Acquire))
    }

    /// Fills the entry of `stamp`; the stamp is written last, so a reader that sees it sees
    /// the rest.
    fn set(&self, stamp: u64, code: Code, type_id: u64) {
        self.word(stamp, 0).store(code.addr, Ordering::Release);
        self.word(stamp, 1).store(type_id, Ordering::Release);
        self.word(stamp, 2).store(0, Ordering::Release);
        self.word(stamp, 4).store(code.batch, Ordering::Release);
        self.word(stamp, 5)
            .store(code.frame_loop, Ordering::Release);
        self.word(stamp, 3).store(stamp, Ordering::SeqCst);
    }

    fn set_vars(&self, stamp: u64, table: u64) {
        self.word(stamp, 2).store(table, Ordering::Release);
    }

    /// Stops calls that start from now on: the entry's stamp no longer matches any record.
    fn unstamp(&self, stamp: u64) {
        self.word(stamp, 3).store(0, Ordering::SeqCst);
    }

    /// Empties the entry (after [`CodeMem::unstamp`] and a buffer boundary).
    fn clear(&self, stamp: u64) {
        self.unstamp(stamp);
        for w in [0, 1, 2, 4, 5] {
            self.word(stamp, w).store(0, Ordering::Release);
        }
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

/// The fault sites of the code that is alive, by number: compiled code records the number
/// of the form that faulted. Number 0 is no site. A freed generation's sites are forgotten
/// (a long session does not keep one set per redefinition); numbers are not reused.
#[derive(Default)]
pub struct Sites {
    by_number: HashMap<u32, Site>,
    next: u32,
}

impl Sites {
    /// Files `site` under a new number.
    pub fn add(&mut self, site: Site) -> u32 {
        // after 2^32 - 1 sites numbers wrap (skipping 0): old code is long gone by then
        self.next = self.next.wrapping_add(1).max(1);
        self.by_number.insert(self.next, site);
        self.next
    }

    pub fn get(&self, number: u32) -> Option<&Site> {
        self.by_number.get(&number)
    }

    /// The number the next site will follow.
    pub fn next(&self) -> u32 {
        self.next
    }

    /// Forgets the sites numbered in `range` (after `range.start`, up to `range.end`).
    pub fn forget(&mut self, range: std::ops::Range<u32>) {
        if range.end.saturating_sub(range.start) as usize >= self.by_number.len() {
            self.by_number
                .retain(|n, _| !(range.start < *n && *n <= range.end));
        } else {
            for n in range.start + 1..=range.end {
                self.by_number.remove(&n);
            }
        }
    }
}

/// One evaluation of a bind-func.
pub struct Gen {
    pub name: String,
    pub slot: u32,
    pub code: Option<CodeBlock>,
    pub zone: Option<Zone>,
    pub literals: Option<Zone>,
    /// The stamps of its lambdas' code-table entries.
    pub stamps: Vec<u64>,
    /// Generations it named when compiled.
    pub refs: Vec<usize>,
    pub current: bool,
    pub in_flight: u32,
    /// The fault sites its code names (forgotten when it is freed: nothing can fault there).
    pub sites: std::ops::Range<u32>,
    /// What its closure takes from the one it replaces, until it joins a swap batch.
    pub carry: Option<Carry>,
    /// The starting values of its closures' variables, for the next redefinition's carry.
    pub inits: Inits,
}

/// An audio context's buffer count, odd while it is inside a buffer (see
/// [`crate::AudioCtx::begin_buffer`]).
pub type Epoch = AtomicU64;

/// A generation nothing holds, whose stamps are cleared, waiting until every audio context
/// that was inside a buffer then has finished it.
struct Dying {
    generation: Gen,
    waits: Vec<(Weak<Epoch>, u64)>,
}

/// What one evaluation (or several, until taken) installs on the audio side.
pub struct SwapBatch {
    /// (slot, closure, generation)
    pub(crate) installs: Vec<(u32, u64, usize)>,
    /// After `AudioCtx::apply`: (slot, closure replaced).
    pub(crate) replaced: Vec<(u32, u64)>,
    /// After `AudioCtx::apply`: the (slot, generation) the audio side now keeps to fall
    /// back to if that slot's entry faults.
    pub(crate) fallback: Option<(u32, usize)>,
    /// (slot, state to carry into the closure installed there).
    pub(crate) carries: Vec<(u32, Carry)>,
    /// After `AudioCtx::apply`: the entry's closure this batch replaced.
    pub(crate) outgoing: Option<Outgoing>,
    /// The audio side keeps running `outgoing` (a crossfade): its generation lives until
    /// [`Registry::fade_over`].
    pub(crate) keep_outgoing: bool,
}

/// The DSP entry's closure a swap replaced on the audio side, which may keep playing for a
/// crossfade (see [`SwapBatch::outgoing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outgoing {
    pub(crate) slot: u32,
    pub(crate) closure: u64,
    pub(crate) generation: usize,
}

impl Outgoing {
    /// The slot it was replaced in.
    pub fn slot(&self) -> u32 {
        self.slot
    }
}

impl SwapBatch {
    /// After `AudioCtx::apply`: the closure of the watched entry slot this batch replaced,
    /// if it replaced one.
    pub fn outgoing(&self) -> Option<Outgoing> {
        self.outgoing
    }

    /// The closures this batch installs start from their own `let`: the state planned to be
    /// carried over from the closures they replace is let go.
    pub fn start_fresh(&mut self) {
        self.carries.clear();
    }

    /// The audio side keeps playing the outgoing closure: when this batch is retired its
    /// generation stays alive until `Dsp::fade_over` is given it back.
    pub fn keep_outgoing(&mut self) {
        self.keep_outgoing = self.outgoing.is_some();
    }
}

/// What the registry held before a definition started, to undo a failed one
/// ([`Registry::rollback`]).
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    next_slot: u32,
    next_type: u64,
    sites: u32,
}

/// Counts of what is allocated and not yet freed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveCounts {
    pub closures: usize,
    pub zones: usize,
    pub code_blocks: usize,
    /// Fault sites remembered for the code that is alive.
    pub fault_sites: usize,
}

pub struct Registry {
    pub code: Arc<CodeMem>,
    free_indices: Vec<u64>,
    next_index: u64,
    /// The next stamp's upper part: never repeats.
    next_unique: u64,
    pub slots: Box<[u64]>,
    next_slot: u32,
    pub funcs: HashMap<String, FuncDef>,
    slot_of: HashMap<String, u32>,
    pub vals: HashMap<String, ValDef>,
    pub val_zones: Vec<Zone>,
    pub gens: HashMap<usize, Gen>,
    next_gen: usize,
    dying: Vec<Dying>,
    pending: Vec<(u32, u64, usize)>,
    audio_gen: Vec<Option<usize>>,
    /// The generation the audio side keeps to fall back to when its entry faults.
    audio_fallback: Option<usize>,
    /// Generations the audio side keeps playing while it fades them out.
    fading: Vec<usize>,
    /// Generations that made closures in the control thread's default zone.
    permanent: HashSet<usize>,
    /// The buffer counts of the audio contexts made so far.
    epochs: Vec<Weak<Epoch>>,
    type_ids: HashMap<Type, u64>,
    /// The next type id: ids are never given out twice, so code compiled by a failed
    /// definition (see [`Registry::rollback`]) cannot mistake a later type for one of its own.
    next_type: u64,
    pub sites: Sites,
    /// The C functions `bind-lib` bound (see [`crate::foreign`]).
    pub c_functions: crate::foreign::CFunctions,
    /// Definitions type-checked and not compiled yet, by the generation id their
    /// [`FuncDef`] names (see [`crate::lazy`]).
    pub(crate) lazy: HashMap<usize, Pending>,
    /// Generations compiled to native code so far.
    compiled: u64,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            code: Arc::new(CodeMem::new()),
            free_indices: Vec::new(),
            next_index: 1,
            next_unique: 1,
            slots: vec![0u64; MAX_SLOTS].into_boxed_slice(),
            next_slot: 0,
            funcs: HashMap::new(),
            slot_of: HashMap::new(),
            vals: HashMap::new(),
            val_zones: Vec::new(),
            gens: HashMap::new(),
            next_gen: 1,
            dying: Vec::new(),
            pending: Vec::new(),
            audio_gen: vec![None; MAX_SLOTS],
            audio_fallback: None,
            fading: Vec::new(),
            permanent: HashSet::new(),
            epochs: Vec::new(),
            type_ids: HashMap::new(),
            next_type: 1,
            sites: Sites::default(),
            c_functions: Default::default(),
            lazy: HashMap::new(),
            compiled: 0,
        }
    }
}

impl Registry {
    pub fn type_id(&mut self, t: &Type) -> u64 {
        if let Some(id) = self.type_ids.get(t) {
            return *id;
        }
        let id = self.next_type;
        self.next_type += 1;
        self.type_ids.insert(t.clone(), id);
        id
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

    /// Where the registry stands now (see [`Registry::rollback`]).
    pub fn mark(&self) -> Mark {
        Mark {
            next_slot: self.next_slot,
            next_type: self.next_type,
            sites: self.sites.next(),
        }
    }

    /// Undoes what a failed definition added since `mark`: the slots of names it was the
    /// first to use, the type ids and the fault sites it made. (Its code and zone go with
    /// [`Registry::discard`].)
    pub fn rollback(&mut self, mark: Mark) {
        self.slot_of.retain(|_, s| *s < mark.next_slot);
        self.next_slot = mark.next_slot;
        self.type_ids.retain(|_, id| *id < mark.next_type);
        self.sites.forget(mark.sites..u32::MAX);
        self.sites.next = mark.sites;
    }

    /// The name whose slot is `slot`, if one has it.
    pub fn name_of_slot(&self, slot: u32) -> Option<&str> {
        self.slot_of
            .iter()
            .find(|(_, s)| **s == slot)
            .map(|(name, _)| name.as_str())
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

    /// Files the bind-func `from` (its definition and slot) under the name `to` (an
    /// overload set aside, see [`crate::generic`]); callers compiled against its slot keep
    /// calling it.
    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(f) = self.funcs.remove(from) {
            if let Some(p) = self.lazy.get_mut(&f.gen_id) {
                p.key = to.to_string();
            }
            self.funcs.insert(to.to_string(), f);
        }
        if let Some(s) = self.slot_of.remove(from) {
            self.slot_of.insert(to.to_string(), s);
        }
    }

    /// A number for a new generation (never given out again).
    pub fn new_gen_id(&mut self) -> usize {
        self.next_gen += 1;
        self.next_gen - 1
    }

    /// A stamp for a new code-table entry: a free index and a number never used before.
    pub fn code_stamp(&mut self) -> Option<u64> {
        let index = match self.free_indices.pop() {
            Some(i) => i,
            None if self.next_index < CODE_CAP => {
                self.next_index += 1;
                self.next_index - 1
            }
            None => return None,
        };
        let unique = self.next_unique;
        self.next_unique += 1;
        Some(unique << INDEX_BITS | index)
    }

    pub fn set_code(&self, stamp: u64, code: Code, type_id: u64) {
        self.code.set(stamp, code, type_id);
    }

    /// Records the variable table of the entry of `stamp` (set after [`Registry::set_code`]).
    pub fn set_vars(&self, stamp: u64, table: u64) {
        self.code.set_vars(stamp, table);
    }

    fn release_stamps(&mut self, stamps: &[u64]) {
        for s in stamps {
            self.code.clear(*s);
            self.free_indices.push(s & INDEX_MASK);
        }
    }

    /// A new audio context's buffer count: frees wait for its buffers.
    pub fn add_epoch(&mut self, epoch: &Arc<Epoch>) {
        self.epochs.retain(|e| e.strong_count() > 0);
        self.epochs.push(Arc::downgrade(epoch));
    }

    /// Notes the generations that made closures in the control thread's default zone (it is
    /// never emptied: they live as long as the `Dsp`).
    pub fn note_permanent(&mut self, makers: &[u64]) {
        self.permanent.extend(makers.iter().map(|m| *m as usize));
    }

    /// Makes the definition `p` (numbered `id` by [`Registry::new_gen_id`], with its slot)
    /// the current definition of its name, to be compiled at its first use; a pending
    /// definition it replaces is dropped (nothing compiled can name it).
    /// Returns the pending definition replaced (its id and itself), to be discarded.
    pub(crate) fn defer(&mut self, id: usize, slot: u32, p: Pending) -> Option<(usize, Pending)> {
        let def = FuncDef {
            slot,
            ty: p.ty.clone(),
            gen_id: id,
        };
        let old = self.funcs.insert(p.key.clone(), def);
        self.lazy.insert(id, p);
        let old = old?.gen_id;
        Some((old, self.lazy.remove(&old)?))
    }

    /// Forgets `name`'s definition if it is still generation `id` (a pending definition
    /// whose compilation failed).
    pub(crate) fn undefine(&mut self, name: &str, id: usize) {
        if self.funcs.get(name).is_some_and(|f| f.gen_id == id) {
            self.funcs.remove(name);
        }
    }

    /// The generation id of `name`'s definition when it waits for its first use.
    pub(crate) fn pending_id(&self, name: &str) -> Option<usize> {
        let id = self.funcs.get(name)?.gen_id;
        self.lazy.contains_key(&id).then_some(id)
    }

    /// The captured variables (name, type) of the closure `name`'s pending definition will
    /// make; `None` when `name` is not pending.
    pub(crate) fn pending_vars(&self, name: &str) -> Option<Vec<(String, Type)>> {
        Some(self.lazy.get(&self.pending_id(name)?)?.vars.clone())
    }

    /// The generation of the definition whose slot is `slot`.
    pub(crate) fn owner_of_slot(&self, slot: u32) -> Option<usize> {
        self.funcs
            .values()
            .find(|f| f.slot == slot)
            .map(|f| f.gen_id)
    }

    /// How many generations were compiled, how many definitions wait.
    pub fn compile_counts(&self) -> CompileCounts {
        CompileCounts {
            compiled: self.compiled,
            pending: self.lazy.len(),
        }
    }

    /// Makes `generation` (numbered `id` by [`Registry::new_gen_id`]) the current definition
    /// of its name (control side at once, audio side at the next batch).
    pub fn install(&mut self, id: usize, generation: Gen, ty: Type, closure: u64) {
        let slot = generation.slot;
        let name = generation.name.clone();
        self.gens.insert(id, generation);
        self.compiled += 1;
        if let Some(old) = self.funcs.get(&name)
            && old.gen_id != id
            && let Some(g) = self.gens.get_mut(&old.gen_id)
        {
            g.current = false;
        }
        self.funcs.insert(
            name,
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
    }

    /// Lets go of a generation that was never installed (its definition failed): freed like
    /// any other, once nothing can be running its code.
    pub fn discard(&mut self, id: usize, mut generation: Gen) {
        generation.current = false;
        self.gens.insert(id, generation);
        self.collect();
    }

    pub fn take_swap(&mut self) -> Option<Box<SwapBatch>> {
        if self.pending.is_empty() {
            return None;
        }
        let installs = std::mem::take(&mut self.pending);
        let mut carries = Vec::new();
        for (slot, _, g) in &installs {
            if let Some(g) = self.gens.get_mut(g) {
                g.in_flight += 1;
                if let Some(c) = g.carry.take() {
                    carries.push((*slot, c));
                }
            }
        }
        let replaced = Vec::with_capacity(installs.len());
        Some(Box::new(SwapBatch {
            installs,
            replaced,
            fallback: None,
            carries,
            outgoing: None,
            keep_outgoing: false,
        }))
    }

    pub fn retire(&mut self, batch: &SwapBatch) {
        for (slot, _, g) in &batch.installs {
            if let Some(g) = self.gens.get_mut(g) {
                g.in_flight = g.in_flight.saturating_sub(1);
            }
            self.audio_gen[*slot as usize] = Some(*g);
        }
        self.audio_fallback = batch.fallback.map(|(_, g)| g);
        if let Some(o) = batch.outgoing.filter(|_| batch.keep_outgoing) {
            self.fading.push(o.generation);
        }
        self.collect();
    }

    /// The audio side stopped playing `o` (its fade is over).
    pub fn fade_over(&mut self, o: Outgoing) {
        if let Some(i) = self.fading.iter().position(|g| *g == o.generation) {
            self.fading.swap_remove(i);
        }
        self.collect();
    }

    /// The audio side went back to its fallback for `slot`: generation `id` is in its slot
    /// again and it keeps no fallback.
    pub fn fell_back(&mut self, slot: u32, id: usize) {
        if let Some(s) = self.audio_gen.get_mut(slot as usize) {
            *s = Some(id);
        }
        self.audio_fallback = None;
        self.collect();
    }

    /// The audio side starts from the control side's slots.
    pub fn audio_started(&mut self) {
        for f in self
            .funcs
            .values()
            .filter(|f| !self.lazy.contains_key(&f.gen_id))
        {
            self.audio_gen[f.slot as usize] = Some(f.gen_id);
        }
        self.collect();
    }

    /// Unlinks every generation nothing can reach any more (see the module header), and
    /// frees those whose wait is over.
    pub fn collect(&mut self) {
        loop {
            self.free_passed();
            let mut held = HashSet::new();
            let live = self.gens.iter().map(|(i, g)| (Some(*i), g));
            for (id, g) in live.chain(self.dying.iter().map(|d| (None, &d.generation))) {
                let makers = g.zone.iter().flat_map(|z| z.makers()).map(|m| *m as usize);
                held.extend(
                    g.refs
                        .iter()
                        .copied()
                        .chain(makers)
                        .filter(|r| Some(*r) != id),
                );
            }
            held.extend(self.audio_gen.iter().flatten().copied());
            held.extend(self.pending.iter().map(|p| p.2));
            held.extend(self.audio_fallback);
            held.extend(self.fading.iter().copied());
            held.extend(self.permanent.iter().copied());
            let dead: Vec<usize> = self
                .gens
                .iter()
                .filter(|(i, g)| !g.current && g.in_flight == 0 && !held.contains(*i))
                .map(|(i, _)| *i)
                .collect();
            if dead.is_empty() {
                return;
            }
            for i in dead {
                let Some(g) = self.gens.remove(&i) else {
                    continue;
                };
                for s in &g.stamps {
                    self.code.unstamp(*s);
                }
                // Read after the stamps were cleared: a context not inside a buffer now
                // starts its next one seeing them cleared.
                let waits = self.busy_contexts();
                if waits.is_empty() {
                    self.free_generation(&g);
                } else {
                    self.dying.push(Dying {
                        generation: g,
                        waits,
                    });
                }
            }
        }
    }

    /// Frees the generations whose wait is over (and what only they held); cheap when none
    /// is waiting.
    pub fn reclaim(&mut self) {
        if !self.dying.is_empty() {
            self.collect();
        }
    }

    /// The audio contexts inside a buffer now, with their buffer counts.
    fn busy_contexts(&self) -> Vec<(Weak<Epoch>, u64)> {
        self.epochs
            .iter()
            .filter_map(|w| {
                let n = w.upgrade()?.load(Ordering::SeqCst);
                (!n.is_multiple_of(2)).then(|| (w.clone(), n))
            })
            .collect()
    }

    /// Gives back what a generation no code can reach holds in the registry: its code
    /// stamps and its fault sites. (Its code and zone are freed when `g` is dropped.)
    fn free_generation(&mut self, g: &Gen) {
        self.release_stamps(&g.stamps);
        self.sites.forget(g.sites.clone());
    }

    /// Frees the dying generations whose wait is over.
    fn free_passed(&mut self) {
        let mut i = 0;
        while i < self.dying.len() {
            let over = self.dying[i]
                .waits
                .iter()
                .all(|(w, n)| w.upgrade().is_none_or(|e| e.load(Ordering::Acquire) > *n));
            if over {
                let d = self.dying.swap_remove(i);
                self.free_generation(&d.generation);
            } else {
                i += 1;
            }
        }
    }

    /// The code of every generation not yet freed (when the `Dsp` is dropped).
    pub fn take_code(&mut self) -> Vec<CodeBlock> {
        let live = self.gens.values_mut().filter_map(|g| g.code.take());
        let dying = self
            .dying
            .iter_mut()
            .filter_map(|d| d.generation.code.take());
        live.chain(dying).collect()
    }

    /// The closure zones, string literals and globals of every generation not yet freed
    /// (when the `Dsp` is dropped: code that may still run keeps them).
    pub fn take_zones(&mut self) -> Vec<Zone> {
        let gens = self
            .gens
            .values_mut()
            .chain(self.dying.iter_mut().map(|d| &mut d.generation));
        let mut zones: Vec<Zone> = gens
            .flat_map(|g| g.zone.take().into_iter().chain(g.literals.take()))
            .collect();
        zones.append(&mut self.val_zones);
        zones
    }

    pub fn live(&self) -> LiveCounts {
        let live = self
            .gens
            .values()
            .chain(self.dying.iter().map(|d| &d.generation));
        let mut c = LiveCounts::default();
        for g in live {
            c.closures += 1;
            c.zones += usize::from(g.zone.is_some());
            c.code_blocks += usize::from(g.code.is_some());
        }
        c.zones += self.val_zones.len();
        c.fault_sites = self.sites.by_number.len();
        c
    }
}
