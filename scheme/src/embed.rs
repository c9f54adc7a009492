//! The embedding API used by `engine/`: evaluate text or data, call procedures,
//! register native procedures and special forms, build and inspect values, hold
//! values across evaluations with [`Root`]s, interrupt a runaway evaluation.

use std::cell::RefCell;
use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::datum::{Datum, DatumKind};
use crate::error::Error;
use crate::heap::GcStats;
use crate::interp::{Interp, Special};
use crate::syms;
use crate::value::{Native, NativeBody, Obj, V, Value};

/// An owned GC root: the value it holds stays alive until [`Interp::unroot`].
#[derive(Debug)]
pub struct Root(usize);

impl Default for Interp {
    fn default() -> Interp {
        Interp::new()
    }
}

impl Interp {
    /// A fresh interpreter with every builtin defined; output goes to stdout.
    pub fn new() -> Interp {
        let mut it = Interp::blank(Box::new(std::io::stdout()));
        crate::builtins::install(&mut it);
        it
    }

    /// Reads every datum of `src`, keeping positions; evaluates nothing.
    pub fn read_all(src: &str, file: &str) -> Result<Vec<Datum>, Error> {
        crate::reader::read_all(src, file)
    }

    /// The top-level forms of `src`, read one at a time (see [`Forms`]).
    pub fn forms(src: &str, file: &str) -> Forms {
        Forms {
            reader: crate::reader::Reader::new(src, file),
            done: false,
        }
    }

    /// Evaluates each top-level form of `src` in order; the value of the last one.
    /// Forms are read one at a time, so those before a read error have run when
    /// it is reported (as in a REPL).
    pub fn eval_str(&mut self, src: &str, file: &str) -> Result<Value, Error> {
        let mut reader = crate::reader::Reader::new(src, file);
        // one large stack for every form: making one per form costs more than a small form
        self.on_big_stack(|it| {
            let mut last = Value::UNSPEC;
            while let Some(form) = reader.next_datum()? {
                last = it.eval_datum(&form)?;
            }
            Ok(last)
        })
    }

    /// Evaluates one datum at top level.
    pub fn eval_datum(&mut self, d: &Datum) -> Result<Value, Error> {
        let r = self.on_big_stack(|it| it.eval_top(d));
        self.flush_output();
        r
    }

    fn eval_top(&mut self, d: &Datum) -> Result<Value, Error> {
        // a top-level begin is evaluated form by form, so a macro it defines is
        // usable by the forms after it
        if let Some(items) = d.as_list()
            && items.first().and_then(Datum::as_sym) == Some("begin")
            && self.intern("begin") == syms::BEGIN
        {
            let mut last = Value::UNSPEC;
            for f in &items[1..] {
                last = self.eval_top(f)?;
            }
            return Ok(last);
        }
        let mark = self.mark();
        let node = self.compile_top(d)?;
        match self.run_top(node) {
            Ok(v) => Ok(v),
            Err(c) => {
                self.unwind_to(mark);
                let mut e = self.ctrl_to_error(c);
                // no call on the way had a position (tail calls into the prelude): the form's
                if e.pos.is_none() {
                    e.pos = d.pos.clone();
                }
                Err(e)
            }
        }
    }

    /// Reads and evaluates a file (what the `load` builtin does).
    pub fn load(&mut self, path: &Path) -> Result<Value, Error> {
        let src = self.read_text_file(&path.display().to_string(), "read")?;
        self.eval_str(&src, &path.display().to_string())
    }

    /// Calls procedure `f` with `args`.
    pub fn apply(&mut self, f: Value, args: &[Value]) -> Result<Value, Error> {
        let mark = self.mark();
        match self.on_big_stack(|it| it.apply_values(f, args)) {
            Ok(v) => Ok(v),
            Err(c) => {
                self.unwind_to(mark);
                Err(self.ctrl_to_error(c))
            }
        }
    }

    /// The value of a global variable.
    pub fn lookup(&self, name: &str) -> Option<Value> {
        let s = *self.sym_ids.get(name)?;
        let v = self.globals[s as usize];
        (!v.is_undef()).then_some(v)
    }

    /// Defines (or redefines) a global variable.
    pub fn define(&mut self, name: &str, v: Value) {
        let s = self.intern(name);
        self.globals[s as usize] = v;
        self.macros.remove(&s);
    }

    /// Defines a global procedure implemented in Rust. The collector does not run
    /// while it executes.
    pub fn register_native(
        &mut self,
        name: &str,
        f: impl FnMut(&mut Interp, &[Value]) -> Result<Value, Error> + 'static,
    ) {
        let n = Native {
            name: name.to_string(),
            f: NativeBody::Once(RefCell::new(Box::new(f))),
        };
        let v = self.alloc(Obj::Native(Rc::new(n)));
        self.define(name, v);
    }

    /// Defines a global procedure implemented in Rust that may evaluate Scheme (with
    /// [`Interp::eval_datum`]) and so be called again before it returns, as a loader
    /// is when the file it loads loads another. The collector does not run while it
    /// executes, nested evaluations included.
    pub fn register_reentrant_native(
        &mut self,
        name: &str,
        f: impl Fn(&mut Interp, &[Value]) -> Result<Value, Error> + 'static,
    ) {
        let n = Native {
            name: name.to_string(),
            f: NativeBody::Reentrant(Box::new(f)),
        };
        let v = self.alloc(Obj::Native(Rc::new(n)));
        self.define(name, v);
    }

    /// Defines a special form: `f` receives the whole unevaluated form. It may evaluate
    /// Scheme, and so run again before it returns (a definition that loads a library
    /// defining more); what it shares between runs it keeps in cells of its own. The
    /// collector does not run while it executes, nested evaluations included.
    pub fn register_special_form(
        &mut self,
        name: &str,
        f: impl Fn(&mut Interp, &Datum) -> Result<Value, Error> + 'static,
    ) {
        let s = self.intern(name);
        self.macros.remove(&s);
        self.specials.insert(
            s,
            Rc::new(Special {
                name: name.to_string(),
                f: Box::new(f),
            }),
        );
    }

    /// Defines a macro whose transformer is Rust: `f` receives the whole form, with
    /// the positions of all its parts, and returns the form to compile in its place
    /// (in the lexical scope of the use). Parts of the expansion without a position
    /// take the use's.
    pub fn register_macro(
        &mut self,
        name: &str,
        f: impl Fn(&Datum) -> Result<Datum, Error> + 'static,
    ) {
        let s = self.intern(name);
        self.specials.remove(&s);
        self.macros
            .insert(s, crate::interp::Macro::Native(Rc::new(f)));
    }

    /// True when the global `name` is a macro (`define-macro`, `syntax-rules` or one
    /// registered from Rust).
    pub fn is_macro(&self, name: &str) -> bool {
        self.sym_ids
            .get(name)
            .is_some_and(|s| self.macros.contains_key(s))
    }

    /// Expands `d` at top level while its head names a macro; `None` when it does not
    /// (what `macroexpand` does, on data with positions). Parts of the expansion
    /// without a position take `d`'s.
    pub fn expand_macro_use(&mut self, d: &Datum) -> Result<Option<Datum>, Error> {
        let mark = self.mark();
        let r = self.on_big_stack(|it| it.macroexpand(d, &Vec::new()));
        if r.is_err() {
            self.unwind_to(mark);
        }
        r
    }

    pub fn int(&mut self, i: i64) -> Value {
        Value::new(V::Int(i))
    }

    pub fn float(&mut self, f: f64) -> Value {
        Value::new(V::Float(f))
    }

    pub fn bool(&self, b: bool) -> Value {
        Value::boolean(b)
    }

    pub fn string(&mut self, s: &str) -> Value {
        self.new_string(s.to_string())
    }

    pub fn symbol(&mut self, s: &str) -> Value {
        self.sym(s)
    }

    pub fn list(&mut self, items: &[Value]) -> Value {
        self.list_from(items)
    }

    pub fn unspecified(&self) -> Value {
        Value::UNSPEC
    }

    pub fn nil(&self) -> Value {
        Value::NIL
    }

    pub fn as_int(&self, v: Value) -> Option<i64> {
        match v.get() {
            V::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The number as a flonum (integers too).
    pub fn as_f64(&self, v: Value) -> Option<f64> {
        match v.get() {
            V::Int(i) => Some(i as f64),
            V::Float(f) => Some(f),
            _ => crate::builtins::rational::parts(self, v).map(|(n, d)| n as f64 / d as f64),
        }
    }

    pub fn as_bool(&self, v: Value) -> Option<bool> {
        match v.get() {
            V::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Scheme truth: everything but `#f` is true.
    pub fn is_true(&self, v: Value) -> bool {
        v.truthy()
    }

    pub fn as_string(&self, v: Value) -> Option<String> {
        self.str_of(v).map(str::to_string)
    }

    pub fn as_symbol(&self, v: Value) -> Option<String> {
        match v.get() {
            V::Sym(s) => Some(self.sym_name(s).to_string()),
            _ => None,
        }
    }

    pub fn is_procedure(&self, v: Value) -> bool {
        self.is_procedure_value(v)
    }

    /// The items of a proper list.
    pub fn list_items(&self, v: Value) -> Option<Vec<Value>> {
        self.list_vec(v)
    }

    pub fn to_datum(&self, v: Value) -> Datum {
        self.datum_of(v, 0)
    }

    /// The written form (`write`): strings quoted, chars as `#\a`.
    pub fn write_string(&self, v: Value) -> String {
        self.print_to(v, true)
    }

    /// The displayed form (`display`).
    pub fn display_string(&self, v: Value) -> String {
        self.print_to(v, false)
    }

    /// Keeps `v` alive until the root is given back with [`Interp::unroot`].
    pub fn root(&mut self, v: Value) -> Root {
        match self.root_free.pop() {
            Some(i) => {
                self.roots[i] = Some(v);
                Root(i)
            }
            None => {
                self.roots.push(Some(v));
                Root(self.roots.len() - 1)
            }
        }
    }

    pub fn rooted(&self, r: &Root) -> Value {
        self.roots
            .get(r.0)
            .copied()
            .flatten()
            .unwrap_or(Value::UNSPEC)
    }

    pub fn unroot(&mut self, r: Root) {
        if let Some(slot) = self.roots.get_mut(r.0) {
            *slot = None;
            self.root_free.push(r.0);
        }
    }

    /// Storing `true` here from any thread stops the running evaluation soon with
    /// [`crate::ErrorKind::Interrupted`]; the flag is cleared when the interrupt is taken.
    pub fn interrupt_handle(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }

    /// Where `display`, `write`, `newline`, `print` and `println` write.
    pub fn set_output(&mut self, w: Box<dyn Write>) {
        self.output = w;
    }

    /// The most bytes the heap may hold (by default half the physical memory, at
    /// most 8 GiB). An allocation past it fails with an [`crate::ErrorKind::Memory`] error
    /// that the program can catch; the interpreter stays usable.
    pub fn heap_limit(&self) -> usize {
        self.heap.limit
    }

    /// Sets the heap limit in bytes (at least 1 MiB; smaller values are raised to it).
    pub fn set_heap_limit(&mut self, bytes: usize) {
        self.heap.set_limit(bytes.max(crate::heap::MIN_LIMIT));
    }

    /// How many compilation units (with their constants) and call sites are live:
    /// a unit lives while its top-level form runs or a closure made by its code is
    /// reachable.
    pub fn code_counts(&self) -> (usize, usize) {
        self.code.borrow().counts()
    }

    pub fn gc_stats(&self) -> GcStats {
        let mut s = self.heap.stats;
        s.heap_bytes = self.heap.heap_bytes();
        s
    }

    /// Starts the pause statistics afresh (collections, total and max pause), e.g.
    /// to measure the pauses of one phase of a program. `max_pause` is the longest
    /// single stop: one incremental step, or one whole [`Interp::collect`].
    pub fn reset_gc_stats(&mut self) {
        let s = &mut self.heap.stats;
        s.collections = 0;
        s.total_pause = std::time::Duration::ZERO;
        s.max_pause = std::time::Duration::ZERO;
    }

    /// Starts (or stops) keeping the length of every collector pause, for measuring
    /// their distribution; [`Interp::take_pauses`] hands them over.
    pub fn record_pauses(&mut self, on: bool) {
        self.heap.pause_log = on.then(Vec::new);
    }

    /// The pauses recorded since the last call (empty unless recording).
    pub fn take_pauses(&mut self) -> Vec<std::time::Duration> {
        self.heap
            .pause_log
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Runs a full collection now (unless a native procedure is running).
    pub fn collect(&mut self) {
        if self.no_gc == 0 {
            self.collect_now();
        }
    }
}

/// The top-level forms of a text, read one at a time, so that each can be
/// evaluated before the next is read: the forms before a read error have run when
/// it is reported, as they would have in a REPL. After a read error the iterator
/// ends (nothing after an unbalanced parenthesis can be read with confidence).
pub struct Forms {
    reader: crate::reader::Reader,
    done: bool,
}

impl Iterator for Forms {
    type Item = Result<Datum, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.reader.next_datum() {
            Ok(Some(d)) => Some(Ok(d)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Datum {
    /// A datum without a position (for building forms from Rust).
    pub fn plain(kind: DatumKind) -> Datum {
        Datum::new(kind, None)
    }
}
