//! The interpreter's state ([`Interp`]) and its low-level services: symbol table,
//! globals, allocation helpers, the roots of the collector and the internal control
//! signal ([`Ctrl`]) that carries errors, raised objects and escapes.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::builtins::Prim;
use crate::code::{CodeTable, Unit};
use crate::error::{Error, ErrorKind, Pos};
use crate::heap::{Heap, MARK_PER_ALLOC, Phase, SWEEP_PER_ALLOC};
use crate::syntax_rules::Rules;
use crate::value::{Obj, V, Value};

/// The Scheme interpreter. It lives on one thread.
pub struct Interp {
    pub(crate) heap: Heap,
    pub(crate) sym_names: Vec<Rc<str>>,
    pub(crate) sym_ids: FxHashMap<Rc<str>, u32>,
    /// Global values, indexed by symbol number; `Undef` when unbound.
    pub(crate) globals: Vec<Value>,
    pub(crate) macros: FxHashMap<u32, Macro>,
    /// Macros a `define-macro` inside a body being compiled made: they are seen, before
    /// the global ones, until the compilation of that body ends.
    pub(crate) local_macros: Vec<(u32, Macro)>,
    pub(crate) specials: FxHashMap<u32, Rc<Special>>,
    pub(crate) prims: Vec<Prim>,
    /// Temporaries of the evaluator (operators and arguments being evaluated).
    pub(crate) stack: Vec<Value>,
    /// Environment frames in use by active evaluations.
    pub(crate) env_stack: Vec<u32>,
    /// Frames that no closure can capture: `[parent, slots...]` per frame.
    pub(crate) locals: Vec<Value>,
    /// How many lambdas the compiler has made (to tell capturing scopes).
    pub(crate) closures_compiled: u64,
    /// Values kept for the interpreter's lifetime (what the prelude's lazy
    /// compilation needs). Constants of compiled code live in `code`.
    pub(crate) pinned: Vec<Value>,
    /// Constants and call sites of compiled code, owned by the code.
    pub(crate) code: Rc<RefCell<CodeTable>>,
    /// The unit the compiler is filling, while it compiles.
    pub(crate) building: Option<Rc<Unit>>,
    pub(crate) roots: Vec<Option<Value>>,
    pub(crate) root_free: Vec<usize>,
    /// Handlers installed by `with-exception-handler`, innermost last.
    pub(crate) handlers: Vec<Value>,
    pub(crate) depth: usize,
    /// Whether the evaluation runs on the large stack of [`Interp::on_big_stack`].
    pub(crate) on_big_stack: bool,
    /// Below this stack address the evaluator moves to a new stack segment (see
    /// `Interp::with_stack`); `usize::MAX` until the evaluation is on its big stack.
    pub(crate) stack_floor: usize,
    /// While positive the collector may not run (inside embedder natives).
    pub(crate) no_gc: usize,
    pub(crate) interrupt: Arc<AtomicBool>,
    pub(crate) output: Box<dyn Write>,
    /// Output captured by `with-output-to-string`, innermost last.
    pub(crate) captures: Vec<String>,
    pub(crate) next_cont: u64,
    pub(crate) rng: u64,
    pub(crate) gensym_count: u64,
}

/// A macro: an Extempore-style `define-macro` procedure, `syntax-rules`, or a
/// transformer registered by the embedder.
#[derive(Clone)]
pub(crate) enum Macro {
    Proc(Value),
    Rules(Rc<Rules>),
    Native(Rc<NativeMacroFn>),
}

/// A macro transformer written in Rust: the whole form, with its positions, in; its
/// expansion out.
pub(crate) type NativeMacroFn = dyn Fn(&crate::Datum) -> Result<crate::Datum, Error>;

/// A special form registered by the embedder.
pub(crate) type SpecialFn = dyn Fn(&mut Interp, &crate::Datum) -> Result<Value, Error>;

pub(crate) struct Special {
    pub name: String,
    pub f: Box<SpecialFn>,
}

/// Something thrown through the evaluator.
pub(crate) struct Thrown {
    pub err: Error,
    /// The raised object, for `raise` and `error`; internal errors have none.
    pub payload: Option<Value>,
}

/// Why an evaluation stopped early.
pub(crate) enum Ctrl {
    Throw(Box<Thrown>),
    /// A continuation invoked with this value, unwinding to its `call/cc`.
    Escape(u64, Value),
}

impl From<Box<Error>> for Ctrl {
    fn from(err: Box<Error>) -> Ctrl {
        Ctrl::Throw(Box::new(Thrown {
            err: *err,
            payload: None,
        }))
    }
}

impl From<Error> for Ctrl {
    fn from(err: Error) -> Ctrl {
        Ctrl::Throw(Box::new(Thrown { err, payload: None }))
    }
}

pub(crate) fn err(kind: ErrorKind, msg: impl Into<String>) -> Error {
    Error::new(kind, msg)
}

/// Saved lengths of the evaluator's stacks, restored by whoever catches a [`Ctrl`].
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    stack: usize,
    env: usize,
    locals: usize,
    handlers: usize,
    depth: usize,
    no_gc: usize,
    captures: usize,
}

impl Interp {
    pub(crate) fn blank(output: Box<dyn Write>) -> Interp {
        let mut it = Interp {
            heap: Heap::new(),
            sym_names: Vec::new(),
            sym_ids: FxHashMap::default(),
            globals: Vec::new(),
            macros: FxHashMap::default(),
            local_macros: Vec::new(),
            specials: FxHashMap::default(),
            prims: Vec::new(),
            stack: Vec::with_capacity(1024),
            env_stack: Vec::with_capacity(1024),
            locals: Vec::with_capacity(4096),
            closures_compiled: 0,
            pinned: Vec::new(),
            code: Rc::new(RefCell::new(CodeTable::default())),
            building: None,
            roots: Vec::new(),
            root_free: Vec::new(),
            handlers: Vec::new(),
            depth: 0,
            on_big_stack: false,
            stack_floor: usize::MAX,
            no_gc: 0,
            interrupt: Arc::new(AtomicBool::new(false)),
            output,
            captures: Vec::new(),
            next_cont: 1,
            rng: 0x2545_f491_4f6c_dd1d,
            gensym_count: 0,
        };
        for k in crate::syms::KEYWORDS {
            it.intern(k);
        }
        it
    }

    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.sym_ids.get(name) {
            return i;
        }
        let i = self.sym_names.len() as u32;
        let rc: Rc<str> = Rc::from(name);
        self.sym_names.push(rc.clone());
        self.sym_ids.insert(rc, i);
        self.globals.push(Value::UNDEF);
        i
    }

    pub(crate) fn sym_name(&self, i: u32) -> &str {
        self.sym_names.get(i as usize).map_or("?", |s| s)
    }

    pub(crate) fn sym(&mut self, name: &str) -> Value {
        Value::new(V::Sym(self.intern(name)))
    }

    pub(crate) fn cons(&mut self, a: Value, b: Value) -> Value {
        self.heap.cons(a, b)
    }

    pub(crate) fn alloc(&mut self, o: Obj) -> Value {
        self.heap.alloc(o)
    }

    pub(crate) fn new_string(&mut self, s: String) -> Value {
        self.heap.alloc(Obj::Str(s))
    }

    pub(crate) fn list_from(&mut self, items: &[Value]) -> Value {
        self.list_with_tail(items, Value::NIL)
    }

    pub(crate) fn list_with_tail(&mut self, items: &[Value], tail: Value) -> Value {
        let mut l = tail;
        for &v in items.iter().rev() {
            l = self.cons(v, l);
        }
        l
    }

    /// The items of a proper list, or `None`.
    pub(crate) fn list_vec(&self, mut v: Value) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            match v.get() {
                V::Nil => return Some(out),
                V::Pair(_) => {
                    let p = self.heap.pair(v)?;
                    out.push(p.car);
                    v = p.cdr;
                    if out.len() > self.heap.pairs.len() {
                        return None;
                    }
                }
                _ => return None,
            }
        }
    }

    pub(crate) fn str_of(&self, v: Value) -> Option<&str> {
        match self.heap.obj(v) {
            Some(Obj::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// Records the lengths of the evaluator's stacks before a catch point.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            stack: self.stack.len(),
            env: self.env_stack.len(),
            locals: self.locals.len(),
            handlers: self.handlers.len(),
            depth: self.depth,
            no_gc: self.no_gc,
            captures: self.captures.len(),
        }
    }

    /// Restores the stacks after catching a [`Ctrl`] at `m`.
    pub(crate) fn unwind_to(&mut self, m: Mark) {
        self.stack.truncate(m.stack);
        self.env_stack.truncate(m.env);
        self.locals.truncate(m.locals);
        self.handlers.truncate(m.handlers);
        self.depth = m.depth;
        self.no_gc = m.no_gc;
        self.captures.truncate(m.captures);
    }

    /// Grays every root: the start of a collection cycle.
    fn mark_roots(&mut self) {
        let h = &mut self.heap;
        for &v in self
            .globals
            .iter()
            .chain(&self.stack)
            .chain(&self.locals)
            .chain(&self.pinned)
            .chain(&self.handlers)
            .chain(self.roots.iter().flatten())
            .chain(self.code.borrow().consts())
        {
            h.mark_value(v);
        }
        for m in self
            .macros
            .values()
            .chain(self.local_macros.iter().map(|(_, m)| m))
        {
            if let Macro::Proc(v) = m {
                h.mark_value(*v);
            }
        }
        for &f in &self.env_stack {
            // a stack frame's slots are marked with `locals`; its parents may be heap frames
            let mut f = f;
            while crate::heap::is_stack_frame(f) {
                f = match self
                    .locals
                    .get((f & !crate::heap::STACK_BIT) as usize)
                    .map(|v| v.get())
                {
                    Some(V::Int(p)) => p as u32,
                    _ => crate::heap::NO_FRAME,
                };
            }
            h.mark_frame(f);
        }
        h.begin_marking();
    }

    /// A safe point that needs the collector: one step of it, then the memory
    /// error if the heap went over its limit and a collection did not bring it back.
    #[cold]
    #[inline(never)]
    pub(crate) fn safe_point(&mut self) -> Result<(), Ctrl> {
        self.gc_step();
        if self.heap.over_limit
            && let Some(c) = self.over_limit_error()
        {
            return Err(c);
        }
        Ok(())
    }

    /// One bounded step of the incremental collector (at a safe point).
    pub(crate) fn gc_step(&mut self) {
        if self.heap.full_requested {
            self.collect_now();
            return;
        }
        let start = Instant::now();
        let work = self.heap.since_step.max(1);
        match self.heap.phase {
            Phase::Idle => self.mark_roots(),
            Phase::Marking => {
                if self.heap.mark_step(work * MARK_PER_ALLOC) {
                    self.heap.begin_sweep();
                }
            }
            Phase::Sweeping => {
                self.heap.sweep_step(work * SWEEP_PER_ALLOC);
            }
        }
        self.heap.since_step = 0;
        self.record_pause(start);
    }

    /// Finishes any cycle in progress, then runs a whole cycle at once.
    pub(crate) fn collect_now(&mut self) {
        let start = Instant::now();
        for _ in 0..2 {
            if self.heap.phase == Phase::Idle {
                self.mark_roots();
            }
            if self.heap.phase == Phase::Marking {
                self.heap.mark_step(usize::MAX);
                self.heap.begin_sweep();
            }
            self.heap.sweep_step(usize::MAX);
        }
        self.heap.since_step = 0;
        self.heap.full_requested = false;
        self.record_pause(start);
    }

    fn record_pause(&mut self, start: Instant) {
        let pause = start.elapsed();
        let s = &mut self.heap.stats;
        s.total_pause += pause;
        s.max_pause = s.max_pause.max(pause);
        if let Some(log) = &mut self.heap.pause_log {
            log.push(pause);
        }
    }

    /// Succeeds when `bytes` more fit under the heap limit; every allocation whose
    /// size comes from the program (a count, a length, a sum of lengths) asks first.
    /// The error is retried once after a collection by the evaluator (see
    /// `Interp::retry_after_collection`), so garbage not yet swept never fails it.
    pub(crate) fn room_for(&self, bytes: usize) -> Result<(), Box<Error>> {
        if self.heap.room_for(bytes) {
            Ok(())
        } else {
            Err(Box::new(self.memory_error(bytes)))
        }
    }

    /// [`Interp::room_for`] for `n` items of `size` bytes each.
    pub(crate) fn room_for_items(&self, n: usize, size: usize) -> Result<(), Box<Error>> {
        self.room_for(n.saturating_mul(size))
    }

    /// The text of the file at `path`, read only as far as the heap limit allows
    /// (so that `/dev/zero` or a huge file is an error, not an abort).
    /// `verb` names what failed in the error (`read`, `open`).
    pub(crate) fn read_text_file(&self, path: &str, verb: &str) -> Result<String, Error> {
        use std::io::Read;
        let cannot = |e: std::io::Error| err(ErrorKind::Io, format!("cannot {verb} {path}: {e}"));
        let room = self.heap.limit.saturating_sub(self.heap.used) / 2;
        let file = std::fs::File::open(path).map_err(cannot)?;
        let mut bytes = Vec::new();
        file.take(room as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(cannot)?;
        if bytes.len() > room {
            return Err(self.memory_error(bytes.len()));
        }
        String::from_utf8(bytes).map_err(|_| {
            err(
                ErrorKind::Io,
                format!("cannot {verb} {path}: it is not UTF-8 text"),
            )
        })
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn memory_error(&self, bytes: usize) -> Error {
        let h = &self.heap;
        err(
            ErrorKind::Memory,
            format!(
                "asked for {bytes} bytes with {} in use, over the heap limit of {} bytes (see sys:heap-limit)",
                h.used, h.limit
            ),
        )
    }

    /// After a collection at a safe point: the error to raise when the live data
    /// is still over the limit (the program then gets some grace to drop it).
    #[cold]
    #[inline(never)]
    pub(crate) fn over_limit_error(&mut self) -> Option<Ctrl> {
        self.heap.over_limit = false;
        if self.heap.used <= self.heap.limit {
            return None;
        }
        self.heap.set_grace(true);
        let h = &self.heap;
        Some(
            err(
                ErrorKind::Memory,
                format!(
                    "the heap holds {} bytes of live data, over its limit of {} bytes (see sys:heap-limit)",
                    h.used, h.limit
                ),
            )
            .into(),
        )
    }

    /// Builds the value thrown for a Rust-side error converted to a Scheme object.
    pub(crate) fn error_object(&mut self, e: &Error) -> Value {
        let message = self.new_string(e.message.clone());
        let mut items = Vec::with_capacity(e.irritants.len());
        for text in &e.irritants {
            let v = match crate::reader::read_all(text, "irritant") {
                Ok(ds) if ds.len() == 1 => self.from_datum(&ds[0]),
                _ => self.new_string(text.clone()),
            };
            items.push(v);
        }
        let irritants = self.list_from(&items);
        self.alloc(Obj::Condition {
            kind: e.kind,
            message,
            irritants,
        })
    }

    /// The Scheme object describing a caught [`Thrown`].
    pub(crate) fn thrown_value(&mut self, t: &Thrown) -> Value {
        match t.payload {
            Some(v) => v,
            None => self.error_object(&t.err),
        }
    }

    /// Converts an escaped control signal to the error a caller of the API sees.
    pub(crate) fn ctrl_to_error(&self, c: Ctrl) -> Error {
        match c {
            Ctrl::Throw(t) => t.err,
            Ctrl::Escape(..) => err(
                ErrorKind::User,
                "a continuation was called after its call/cc returned (only escaping continuations are supported)",
            ),
        }
    }

    /// Writes text to the current output (or the innermost capture).
    pub(crate) fn emit(&mut self, s: &str) -> Result<(), Error> {
        if let Some(buf) = self.captures.last() {
            let grown = crate::builtins::grown_by(buf, s.len());
            if !self.heap.room_for(grown) {
                return Err(self.memory_error(grown));
            }
            if let Some(buf) = self.captures.last_mut() {
                buf.push_str(s);
            }
            self.heap.grew(grown);
            return Ok(());
        }
        self.output
            .write_all(s.as_bytes())
            .map_err(|e| err(ErrorKind::Io, format!("cannot write the output: {e}")))
    }

    pub(crate) fn flush_output(&mut self) {
        // an output that cannot be flushed has nowhere to report it
        let _ = self.output.flush();
    }

    /// A call site of the code being compiled (released with it), or a permanent
    /// one outside a compilation.
    pub(crate) fn add_site(&mut self, pos: Option<Pos>, name: String) -> u32 {
        self.code
            .borrow_mut()
            .add_site(self.building.as_deref(), pos, name)
    }

    /// The position of call site `site`.
    pub(crate) fn site_pos(&self, site: u32) -> Option<Pos> {
        self.code.borrow().site(site).and_then(|s| s.pos.clone())
    }

    /// The name of what call site `site` calls.
    pub(crate) fn site_name(&self, site: u32) -> Option<String> {
        self.code.borrow().site(site).map(|s| s.name.clone())
    }
}
