//! Builtin procedures, grouped by family, and the table they are registered in.
//! Procedures that only need their arguments are [`PrimFn::Plain`]; those that call
//! back into Scheme (`dynamic-wind`, `call/cc`, ...) are [`PrimFn::Ctl`]. The
//! higher-order list procedures are written in Scheme in `prelude.scm`.

mod args;
mod char;
mod control;
mod equiv;
mod extempore;
mod hash;
mod io;
mod ipc;
mod list;
mod numeric;
pub(crate) mod rational;
mod string;
mod system;
mod vector;

use crate::datum::{Datum, DatumKind};
use crate::error::{Error, ErrorKind};
use crate::interp::{Ctrl, Interp, err};
use std::rc::Rc;

use crate::value::{Obj, RecordType, V, Value};

pub(crate) use extempore::is_keyword;
pub(crate) use io::grown_by;

/// Builtins fail with a boxed error so that their result fits in two registers.
pub(crate) type PlainResult = Result<Value, Box<Error>>;
pub(crate) type PlainFn = fn(&mut Interp, &[Value]) -> PlainResult;
pub(crate) type CtlFn = fn(&mut Interp, &[Value]) -> Result<Value, Ctrl>;

#[derive(Clone, Copy)]
pub(crate) enum PrimFn {
    Plain(PlainFn),
    Ctl(CtlFn),
    /// `apply`, which the evaluator handles itself so that it is a proper tail call.
    Apply,
}

pub(crate) struct Prim {
    pub name: &'static str,
    pub min: usize,
    pub max: Option<usize>,
    pub f: PrimFn,
    /// What a call with two fixnums computes, when the evaluator can do it inline.
    pub fast: Fast,
}

/// Integer operations the evaluator does without calling the builtin (same result).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fast {
    No,
    Add,
    Sub,
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

/// Whether the builtin named `name` has a fixnum fast path (see [`Fast`]).
pub(crate) fn has_fast_path(name: &str) -> bool {
    Fast::of(name) != Fast::No
}

impl Fast {
    fn of(name: &str) -> Fast {
        match name {
            "+" => Fast::Add,
            "-" => Fast::Sub,
            "=" => Fast::Eq,
            "<" => Fast::Lt,
            ">" => Fast::Gt,
            "<=" => Fast::Le,
            ">=" => Fast::Ge,
            _ => Fast::No,
        }
    }

    /// The result for fixnums `a` and `b`, or `None` (overflow) to call the builtin.
    #[inline(always)]
    pub(crate) fn apply(self, a: i64, b: i64) -> Option<Value> {
        Some(match self {
            Fast::No => return None,
            Fast::Add => Value::new(V::Int(a.checked_add(b)?)),
            Fast::Sub => Value::new(V::Int(a.checked_sub(b)?)),
            Fast::Eq => Value::boolean(a == b),
            Fast::Lt => Value::boolean(a < b),
            Fast::Gt => Value::boolean(a > b),
            Fast::Le => Value::boolean(a <= b),
            Fast::Ge => Value::boolean(a >= b),
        })
    }
}

impl Prim {
    pub(crate) fn arity_error(&self, got: usize) -> Error {
        let wanted = match self.max {
            Some(m) if m == self.min => format!("{m}"),
            Some(m) => format!("{} to {m}", self.min),
            None => format!("at least {}", self.min),
        };
        let s = if wanted == "1" { "" } else { "s" };
        err(
            ErrorKind::Arity,
            format!(
                "{} wants {wanted} argument{s} but got {got}",
                self.name.trim_start()
            ),
        )
    }
}

/// Registers a builtin under `name`.
pub(crate) fn def(it: &mut Interp, name: &'static str, min: usize, max: Option<usize>, f: PrimFn) {
    let id = it.prims.len() as u16;
    let fast = match f {
        PrimFn::Plain(_) => Fast::of(name),
        _ => Fast::No,
    };
    it.prims.push(Prim {
        name,
        min,
        max,
        f,
        fast,
    });
    let s = it.intern(name);
    it.globals[s as usize] = Value::new(V::Prim(id));
}

pub(crate) fn plain(
    it: &mut Interp,
    name: &'static str,
    min: usize,
    max: Option<usize>,
    f: PlainFn,
) {
    def(it, name, min, max, PrimFn::Plain(f));
}

pub(crate) fn ctl(it: &mut Interp, name: &'static str, min: usize, max: Option<usize>, f: CtlFn) {
    def(it, name, min, max, PrimFn::Ctl(f));
}

/// Makes `alias` name the same value as the global `name`.
pub(crate) fn alias(it: &mut Interp, alias: &str, name: &str) {
    let s = it.intern(name);
    let v = it.globals[s as usize];
    let a = it.intern(alias);
    it.globals[a as usize] = v;
}

/// The Scheme half of the builtins.
pub(crate) const PRELUDE: &str = include_str!("prelude.scm");

/// Defines every builtin, then evaluates the Scheme prelude.
pub(crate) fn install(it: &mut Interp) {
    // site 0 is where builtins call procedures from (`apply_values`): no source position,
    // so an error there is reported at the caller's form
    it.add_site(None, crate::compile::ANONYMOUS_CALL.to_string());
    args::install(it);
    numeric::install(it);
    equiv::install(it);
    list::install(it);
    char::install(it);
    string::install(it);
    vector::install(it);
    hash::install(it);
    io::install(it);
    control::install(it);
    system::install(it);
    extempore::install(it);
    ipc::install(it);
    for (hidden, name) in [
        (" apply", "apply"),
        (" =", "="),
        (" >=", ">="),
        (" length", "length"),
        (" error", "error"),
        (" call-with-values", "call-with-values"),
        (" qq-list", "list"),
        (" qq-cons", "cons"),
        (" qq-append", "append"),
        (" qq-list->vector", "list->vector"),
    ] {
        alias(it, hidden, name);
    }
    // the prelude ships with the crate and unit tests compile all of it: an error is a bug
    if let Err(e) = crate::autoload::load(it, PRELUDE, forget_positions) {
        eprintln!("zonal-scheme: the prelude failed to load: {e}");
    }
    alias(it, " parameterize", "%parameterize");
}

/// Makes a record type `type_name` with no fields and one instance of it, kept in the
/// hidden global `global` (a name with a space cannot be typed): a value that prints as
/// `#<type_name>` and is recognised by identity (the environment, the console port).
pub(crate) fn singleton(it: &mut Interp, global: &str, type_name: &str) {
    let rtd = it.alloc(Obj::RecordType(Rc::new(RecordType {
        name: type_name.into(),
        fields: Vec::new(),
    })));
    if let V::Obj(r) = rtd.get() {
        let v = it.alloc(Obj::Record(r, Vec::new()));
        let s = it.intern(global);
        it.globals[s as usize] = v;
    }
}

/// The value of the hidden global `name`.
pub(crate) fn hidden(it: &mut Interp, name: &str) -> Value {
    let s = it.intern(name);
    it.globals[s as usize]
}

/// Drops the source positions of a prelude form, so that an error inside a prelude
/// procedure is reported at the livecoder's call, not at a line of `prelude.scm`.
fn forget_positions(d: &mut Datum) {
    d.pos = None;
    match &mut d.kind {
        DatumKind::List(items) | DatumKind::Vector(items) => {
            items.iter_mut().for_each(forget_positions);
        }
        DatumKind::Dotted(items, tail) => {
            items.iter_mut().for_each(forget_positions);
            forget_positions(tail);
        }
        _ => {}
    }
}

/// The type error for argument `i` (0-based) of `who`.
pub(crate) fn type_err(it: &Interp, who: &str, wanted: &str, v: Value) -> Error {
    err(ErrorKind::Type, format!("{who} wants {wanted}")).with_irritants(vec![it.print_to(v, true)])
}

pub(crate) fn int_arg(it: &Interp, who: &str, v: Value) -> Result<i64, Error> {
    match v.get() {
        V::Int(i) => Ok(i),
        V::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Ok(f as i64),
        _ => Err(type_err(it, who, "an integer", v)),
    }
}

pub(crate) fn index_arg(it: &Interp, who: &str, v: Value) -> Result<usize, Error> {
    match v.get() {
        V::Int(i) if i >= 0 => Ok(i as usize),
        _ => Err(type_err(it, who, "a non-negative integer index", v)),
    }
}

pub(crate) fn sym_arg(it: &Interp, who: &str, v: Value) -> Result<u32, Error> {
    match v.get() {
        V::Sym(s) => Ok(s),
        _ => Err(type_err(it, who, "a symbol", v)),
    }
}

pub(crate) fn str_arg<'a>(it: &'a Interp, who: &str, v: Value) -> Result<&'a str, Error> {
    it.str_of(v).ok_or_else(|| type_err(it, who, "a string", v))
}

pub(crate) fn char_arg(it: &Interp, who: &str, v: Value) -> Result<char, Error> {
    match v.get() {
        V::Char(c) => Ok(c),
        _ => Err(type_err(it, who, "a character", v)),
    }
}

pub(crate) fn proc_arg(it: &Interp, who: &str, v: Value) -> Result<Value, Error> {
    if it.is_procedure_value(v) {
        Ok(v)
    } else {
        Err(type_err(it, who, "a procedure", v))
    }
}

pub(crate) fn list_arg(it: &Interp, who: &str, v: Value) -> Result<Vec<Value>, Error> {
    it.list_vec(v)
        .ok_or_else(|| type_err(it, who, "a proper list", v))
}
