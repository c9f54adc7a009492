//! Conversion between heap values and plain [`Datum`]s (for special-form handlers,
//! macro expansion, `eval` and the embedder).

use crate::datum::{Datum, DatumKind};
use crate::interp::Interp;
use crate::reader::MAX_NESTING;
use crate::value::{Obj, V, Value};

impl Interp {
    pub(crate) fn datum_of(&self, v: Value, depth: usize) -> Datum {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.datum_of_inner(v, depth))
    }

    fn datum_of_inner(&self, v: Value, depth: usize) -> Datum {
        let kind = if depth > MAX_NESTING {
            DatumKind::Other("...".into())
        } else {
            match v.get() {
                V::Nil => DatumKind::Nil,
                V::Bool(b) => DatumKind::Bool(b),
                V::Int(i) => DatumKind::Int(i),
                V::Float(f) => DatumKind::Float(f),
                V::Char(c) => DatumKind::Char(c),
                V::Sym(s) => DatumKind::Sym(self.sym_name(s).to_string()),
                V::Pair(_) => {
                    let mut items = Vec::new();
                    let mut cur = v;
                    while let Some(p) = self.heap.pair(cur) {
                        items.push(self.datum_of(p.car, depth + 1));
                        cur = p.cdr;
                        if items.len() > self.heap.pairs.len() {
                            break;
                        }
                    }
                    if matches!(cur.get(), V::Nil) {
                        DatumKind::List(items)
                    } else {
                        DatumKind::Dotted(items, Box::new(self.datum_of(cur, depth + 1)))
                    }
                }
                V::Obj(_) => match self.heap.obj(v) {
                    Some(Obj::Str(s)) => DatumKind::Str(s.clone()),
                    Some(Obj::Vector(items)) => DatumKind::Vector(
                        items.iter().map(|&x| self.datum_of(x, depth + 1)).collect(),
                    ),
                    _ => DatumKind::Other(self.print_to(v, true)),
                },
                V::Unspec | V::Eof | V::Undef | V::Prim(_) => {
                    DatumKind::Other(self.print_to(v, true))
                }
            }
        };
        Datum::new(kind, None)
    }

    /// Builds heap data from a datum. `Other` data become strings of their text.
    pub fn from_datum(&mut self, d: &Datum) -> Value {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || match &d.kind {
            DatumKind::Nil => Value::NIL,
            DatumKind::Bool(b) => Value::boolean(*b),
            DatumKind::Int(i) => Value::new(V::Int(*i)),
            DatumKind::Float(f) => Value::new(V::Float(*f)),
            DatumKind::Char(c) => Value::new(V::Char(*c)),
            DatumKind::Str(s) => self.new_string(s.clone()),
            DatumKind::Sym(s) => self.sym(s),
            DatumKind::Other(s) => self.new_string(s.clone()),
            DatumKind::List(items) => {
                let vals: Vec<Value> = items.iter().map(|i| self.from_datum(i)).collect();
                self.list_from(&vals)
            }
            DatumKind::Dotted(items, tail) => {
                let vals: Vec<Value> = items.iter().map(|i| self.from_datum(i)).collect();
                let t = self.from_datum(tail);
                self.list_with_tail(&vals, t)
            }
            DatumKind::Vector(items) => {
                let vals: Vec<Value> = items.iter().map(|i| self.from_datum(i)).collect();
                self.alloc(Obj::Vector(vals))
            }
        })
    }
}
