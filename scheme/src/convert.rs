//! Conversion between heap values and plain [`Datum`]s (for special-form handlers,
//! macro expansion, `eval` and the embedder).

use std::collections::HashMap;

use crate::datum::{Datum, DatumKind};
use crate::interp::Interp;
use crate::printer::{IdMap, cycle_targets, identity};
use crate::reader::{DATUM_LABEL, DATUM_REF, MAX_NESTING};
use crate::value::{Obj, V, Value};

/// The datum labels `datum_of` gives: which values need one (the places cycles come back
/// to) and the numbers given so far.
struct LabelState {
    targets: IdMap<Option<usize>>,
    next: usize,
}

impl LabelState {
    fn has(&self, v: Value) -> bool {
        identity(v).is_some_and(|id| self.targets.contains_key(&id))
    }
}

impl Interp {
    /// `v` as a datum; circular data become datum labels, as the reader reads them.
    pub(crate) fn datum_of(&self, v: Value, depth: usize) -> Datum {
        let mut labels = LabelState {
            targets: cycle_targets(self, v, false),
            next: 0,
        };
        self.datum_in(v, depth, &mut labels)
    }

    fn datum_in(&self, v: Value, depth: usize, labels: &mut LabelState) -> Datum {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
            let Some(slot) = identity(v).and_then(|id| labels.targets.get_mut(&id)) else {
                return self.datum_plain(v, depth, labels);
            };
            let number = |n: usize| Datum::new(DatumKind::Int(n as i64), None);
            if let Some(n) = *slot {
                return Datum::list(vec![Datum::sym(DATUM_REF, None), number(n)], None);
            }
            let n = labels.next;
            *slot = Some(n);
            labels.next += 1;
            let inner = self.datum_plain(v, depth, labels);
            Datum::list(vec![Datum::sym(DATUM_LABEL, None), number(n), inner], None)
        })
    }

    fn datum_plain(&self, v: Value, depth: usize, labels: &mut LabelState) -> Datum {
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
                        // a labelled rest of the list is written as a dotted tail
                        if !items.is_empty() && labels.has(cur) {
                            break;
                        }
                        items.push(self.datum_in(p.car, depth + 1, labels));
                        cur = p.cdr;
                    }
                    if matches!(cur.get(), V::Nil) {
                        DatumKind::List(items)
                    } else {
                        let tail = self.datum_in(cur, depth + 1, labels);
                        DatumKind::Dotted(items, Box::new(tail))
                    }
                }
                V::Obj(_) => match self.heap.obj(v) {
                    Some(Obj::Str(s)) => DatumKind::Str(s.clone()),
                    Some(Obj::Vector(items)) => DatumKind::Vector(
                        items
                            .iter()
                            .map(|&x| self.datum_in(x, depth + 1, labels))
                            .collect(),
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

    /// Builds heap data from a datum. `Other` data become rationals when their text
    /// is one (`1/3`), else strings of their text; datum
    /// labels (see `reader`) become shared and circular structure.
    pub fn from_datum(&mut self, d: &Datum) -> Value {
        self.build_datum(d, &mut HashMap::new())
    }

    fn build_datum(&mut self, d: &Datum, labels: &mut HashMap<i64, Value>) -> Value {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || match &d.kind {
            DatumKind::Nil => Value::NIL,
            DatumKind::Bool(b) => Value::boolean(*b),
            DatumKind::Int(i) => Value::new(V::Int(*i)),
            DatumKind::Float(f) => Value::new(V::Float(*f)),
            DatumKind::Char(c) => Value::new(V::Char(*c)),
            DatumKind::Str(s) => self.new_string(s.clone()),
            DatumKind::Sym(s) => self.sym(s),
            DatumKind::Other(s) => match crate::builtins::rational::parse(s) {
                Some((n, d)) => crate::builtins::rational::make(self, n, d),
                None => self.new_string(s.clone()),
            },
            DatumKind::List(items) => match label_of(items) {
                Some((n, Some(labelled))) => self.labelled(n, labelled, labels),
                Some((n, None)) => labels.get(&n).copied().unwrap_or(Value::UNSPEC),
                None => {
                    let vals: Vec<Value> =
                        items.iter().map(|i| self.build_datum(i, labels)).collect();
                    self.list_from(&vals)
                }
            },
            DatumKind::Dotted(items, tail) => {
                let vals: Vec<Value> = items.iter().map(|i| self.build_datum(i, labels)).collect();
                let t = self.build_datum(tail, labels);
                self.list_with_tail(&vals, t)
            }
            DatumKind::Vector(items) => {
                let vals: Vec<Value> = items.iter().map(|i| self.build_datum(i, labels)).collect();
                self.alloc(Obj::Vector(vals))
            }
        })
    }

    /// `#n=datum`: builds the datum with a placeholder for its own label, then puts the
    /// result wherever the placeholder went (that closes the cycles).
    fn labelled(&mut self, n: i64, d: &Datum, labels: &mut HashMap<i64, Value>) -> Value {
        let placeholder = self.cons(Value::UNSPEC, Value::UNSPEC);
        labels.insert(n, placeholder);
        let v = self.build_datum(d, labels);
        labels.insert(n, v);
        self.replace_everywhere(v, placeholder, v);
        v
    }

    /// Replaces `old` by `new` in every pair and vector reachable from `root`.
    fn replace_everywhere(&mut self, root: Value, old: Value, new: Value) {
        let mut seen = IdMap::default();
        let mut work = vec![root];
        while let Some(v) = work.pop() {
            let Some(id) = identity(v) else { continue };
            if seen.insert(id, ()).is_some() {
                continue;
            }
            let slots: Vec<&mut Value> = match v.get() {
                V::Pair(i) => match self.heap.pairs.get_mut(i as usize) {
                    Some(p) => vec![&mut p.car, &mut p.cdr],
                    None => continue,
                },
                _ => match self.heap.obj_mut(v) {
                    Some(Obj::Vector(items)) => items.iter_mut().collect(),
                    _ => continue,
                },
            };
            let mut replaced = false;
            for slot in slots {
                if slot.eqv(old) {
                    *slot = new;
                    replaced = true;
                } else {
                    work.push(*slot);
                }
            }
            if replaced {
                self.heap.barrier(old);
            }
        }
    }
}

/// `Some((n, Some(datum)))` for a datum label `(" datum-label" n datum)`, `Some((n, None))`
/// for a reference `(" datum-ref" n)`.
fn label_of(items: &[Datum]) -> Option<(i64, Option<&Datum>)> {
    let head = items.first()?.as_sym()?;
    let DatumKind::Int(n) = items.get(1)?.kind else {
        return None;
    };
    match (head, items.len()) {
        (DATUM_LABEL, 3) => Some((n, items.get(2))),
        (DATUM_REF, 2) => Some((n, None)),
        _ => None,
    }
}
