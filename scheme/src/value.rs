//! Scheme values: a compact `Copy` handle ([`Value`]) and the heap objects it can
//! point to ([`Obj`]). Immediates (numbers, chars, booleans, symbols, builtin
//! procedures) live in the handle itself; pairs, frames and everything else live in
//! the typed arenas of [`crate::heap::Heap`].

use std::cell::RefCell;
use std::rc::Rc;

use crate::compile::Lambda;
use crate::error::{Error, ErrorKind};
use crate::hash::Table;
use crate::interp::Interp;

/// The inside of a [`Value`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum V {
    Nil,
    Unspec,
    Eof,
    /// The value of a variable that has not been given one yet.
    Undef,
    Bool(bool),
    Int(i64),
    Float(f64),
    Char(char),
    Sym(u32),
    Pair(u32),
    Obj(u32),
    Prim(u16),
}

/// A handle to a Scheme value. Copying it is free; it stays valid while the value
/// is reachable from the interpreter or held through a [`crate::Root`].
#[derive(Clone, Copy, Debug)]
pub struct Value(pub(crate) V);

impl Value {
    pub(crate) const NIL: Value = Value(V::Nil);
    pub(crate) const UNSPEC: Value = Value(V::Unspec);
    pub(crate) const UNDEF: Value = Value(V::Undef);
    pub(crate) const TRUE: Value = Value(V::Bool(true));
    pub(crate) const FALSE: Value = Value(V::Bool(false));

    pub(crate) fn truthy(self) -> bool {
        !matches!(self.0, V::Bool(false))
    }

    pub(crate) fn boolean(b: bool) -> Value {
        Value(V::Bool(b))
    }

    pub(crate) fn is_undef(self) -> bool {
        matches!(self.0, V::Undef)
    }

    /// `eqv?`: identity, with numbers and chars compared by value.
    pub(crate) fn eqv(self, other: Value) -> bool {
        match (self.0, other.0) {
            (V::Nil, V::Nil) | (V::Unspec, V::Unspec) | (V::Eof, V::Eof) | (V::Undef, V::Undef) => {
                true
            }
            (V::Bool(a), V::Bool(b)) => a == b,
            (V::Int(a), V::Int(b)) => a == b,
            (V::Float(a), V::Float(b)) => a.to_bits() == b.to_bits(),
            (V::Char(a), V::Char(b)) => a == b,
            (V::Sym(a), V::Sym(b)) | (V::Pair(a), V::Pair(b)) | (V::Obj(a), V::Obj(b)) => a == b,
            (V::Prim(a), V::Prim(b)) => a == b,
            _ => false,
        }
    }
}

/// A native procedure registered by the embedder.
pub(crate) type NativeFn = dyn FnMut(&mut Interp, &[Value]) -> Result<Value, Error>;

pub(crate) struct Native {
    pub name: String,
    pub f: RefCell<Box<NativeFn>>,
}

/// A record type made by `define-record-type`.
pub(crate) struct RecordType {
    pub name: String,
    pub fields: Vec<String>,
}

/// A promise: either the thunk still to run or the value it gave.
pub(crate) enum Promise {
    /// The thunk, and whether it is a `delay-force` (its promise result is chained).
    Delayed(Value, bool),
    Done(Value),
}

/// A string input port (`open-input-string`).
pub(crate) struct InPort {
    pub text: String,
    pub at: usize,
}

/// A heap object.
pub(crate) enum Obj {
    Free,
    Str(String),
    Vector(Vec<Value>),
    Closure(Rc<Lambda>, u32),
    Native(Rc<Native>),
    Table(Box<Table>),
    RecordType(Rc<RecordType>),
    Record(u32, Vec<Value>),
    Promise(Promise),
    Values(Vec<Value>),
    Condition {
        kind: ErrorKind,
        message: Value,
        irritants: Value,
    },
    Cont(u64),
    InPort(InPort),
    OutPort(String),
}

impl Obj {
    /// Roughly how many bytes the object takes, for the heap statistics.
    pub(crate) fn size(&self) -> usize {
        let base = std::mem::size_of::<Obj>();
        base + match self {
            Obj::Str(s) => s.capacity(),
            Obj::Vector(v) | Obj::Values(v) | Obj::Record(_, v) => v.capacity() * 16,
            Obj::Table(t) => t.len() * 48,
            Obj::InPort(p) => p.text.capacity(),
            Obj::OutPort(s) => s.capacity(),
            _ => 0,
        }
    }
}
