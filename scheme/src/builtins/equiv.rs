//! Equivalence (`eq?`, `eqv?`, `equal?`), type predicates, booleans and symbols.

use super::{PlainResult, plain, str_arg, sym_arg};
use crate::interp::Interp;
use crate::printer::{IdMap, identity};
use crate::value::{Obj, V, Value};

/// How many pairs/elements `equal?` compares before it starts tracking which nodes it
/// has already matched (what makes it terminate on circular data). Tracking costs about
/// ten times a plain step, so lists of up to a million elements never pay for it.
const PLAIN_BUDGET: usize = 2_000_000;

/// Union-find over node identities: two nodes in one class have been assumed equal.
#[derive(Default)]
struct Classes(IdMap<u64>);

impl Classes {
    fn find(&mut self, x: u64) -> u64 {
        let mut root = x;
        while let Some(&p) = self.0.get(&root) {
            if p == root {
                break;
            }
            root = p;
        }
        let mut cur = x;
        while cur != root {
            let next = self.0.get(&cur).copied().unwrap_or(root);
            self.0.insert(cur, root);
            cur = next;
        }
        root
    }

    /// Puts `a` and `b` in one class; false if they were in one already.
    fn union(&mut self, a: u64, b: u64) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        self.0.insert(ra, rb);
        true
    }
}

impl Interp {
    /// Structural equality: pairs, vectors and strings by content, the rest by `eqv?`.
    /// Terminates on circular data, as R7RS asks: past [`PLAIN_BUDGET`] comparisons it
    /// starts again and treats two nodes it has already matched as equal (the
    /// union-find algorithm of Adams and Dybvig), so every node pair is expanded once.
    /// `eqv?`: identity, numbers by value (two rationals are separate objects).
    pub(crate) fn eqv(&self, a: Value, b: Value) -> bool {
        a.eqv(b)
            || matches!(
                (self.heap.obj(a), self.heap.obj(b)),
                (Some(Obj::Rat(p, q)), Some(Obj::Rat(r, s))) if (p, q) == (r, s)
            )
    }

    pub(crate) fn equal(&self, a: Value, b: Value) -> bool {
        self.equal_with(a, b, None)
            .unwrap_or_else(|| self.equal_with(a, b, Some(&mut Classes::default())) == Some(true))
    }

    /// `None` when `classes` is `None` and the budget ran out.
    fn equal_with(&self, a: Value, b: Value, mut classes: Option<&mut Classes>) -> Option<bool> {
        let mut work = vec![(a, b)];
        let mut budget = PLAIN_BUDGET;
        while let Some((x, y)) = work.pop() {
            if x.eqv(y) {
                continue;
            }
            match &mut classes {
                None => budget = budget.checked_sub(1)?,
                Some(c) => {
                    if let (Some(i), Some(j)) = (identity(x), identity(y))
                        && !c.union(i, j)
                    {
                        continue;
                    }
                }
            }
            match (x.get(), y.get()) {
                (V::Pair(_), V::Pair(_)) => {
                    let (Some(p), Some(q)) = (self.heap.pair(x), self.heap.pair(y)) else {
                        return Some(false);
                    };
                    work.push((p.cdr, q.cdr));
                    work.push((p.car, q.car));
                }
                (V::Obj(_), V::Obj(_)) => match (self.heap.obj(x), self.heap.obj(y)) {
                    (Some(Obj::Rat(a, b)), Some(Obj::Rat(c, d))) => {
                        if (a, b) != (c, d) {
                            return Some(false);
                        }
                    }
                    (Some(Obj::Str(s)), Some(Obj::Str(t))) => {
                        if s != t {
                            return Some(false);
                        }
                    }
                    (Some(Obj::Vector(v)), Some(Obj::Vector(w))) => {
                        if v.len() != w.len() {
                            return Some(false);
                        }
                        work.extend(v.iter().copied().zip(w.iter().copied()).rev());
                    }
                    _ => return Some(false),
                },
                _ => return Some(false),
            }
        }
        Some(true)
    }
}

fn eq(_: &mut Interp, a: &[Value]) -> PlainResult {
    // small integers, chars and floats compare by value, as most Schemes do for eq?
    Ok(Value::boolean(a[0].eqv(a[1])))
}

fn type_pred(name: &'static str) -> fn(&mut Interp, &[Value]) -> PlainResult {
    match name {
        "boolean?" => |_, a| Ok(Value::boolean(matches!(a[0].get(), V::Bool(_)))),
        "symbol?" => |_, a| Ok(Value::boolean(matches!(a[0].get(), V::Sym(_)))),
        "procedure?" => |it, a| Ok(Value::boolean(it.is_procedure_value(a[0]))),
        "eof-object?" => |_, a| Ok(Value::boolean(matches!(a[0].get(), V::Eof))),
        "null?" => |_, a| Ok(Value::boolean(matches!(a[0].get(), V::Nil))),
        "pair?" => |_, a| Ok(Value::boolean(matches!(a[0].get(), V::Pair(_)))),
        "char?" => |_, a| Ok(Value::boolean(matches!(a[0].get(), V::Char(_)))),
        "string?" => |it, a| {
            Ok(Value::boolean(matches!(
                it.heap.obj(a[0]),
                Some(Obj::Str(_))
            )))
        },
        "vector?" => |it, a| {
            Ok(Value::boolean(matches!(
                it.heap.obj(a[0]),
                Some(Obj::Vector(_))
            )))
        },
        "promise?" => |it, a| {
            Ok(Value::boolean(matches!(
                it.heap.obj(a[0]),
                Some(Obj::Promise(_))
            )))
        },
        "hash-table?" => |it, a| {
            Ok(Value::boolean(matches!(
                it.heap.obj(a[0]),
                Some(Obj::Table(_))
            )))
        },
        _ => |_, _| Ok(Value::FALSE),
    }
}

pub(super) fn install(it: &mut Interp) {
    plain(it, "eq?", 2, Some(2), eq);
    plain(it, "eqv?", 2, Some(2), |it, a| {
        Ok(Value::boolean(it.eqv(a[0], a[1])))
    });
    plain(it, "equal?", 2, Some(2), |it, a| {
        Ok(Value::boolean(it.equal(a[0], a[1])))
    });
    plain(it, "not", 1, Some(1), |_, a| {
        Ok(Value::boolean(!a[0].truthy()))
    });
    for name in [
        "boolean?",
        "symbol?",
        "procedure?",
        "eof-object?",
        "null?",
        "pair?",
        "char?",
        "string?",
        "vector?",
        "promise?",
        "hash-table?",
    ] {
        plain(it, name, 1, Some(1), type_pred(name));
    }
    plain(it, "boolean=?", 2, None, |it, a| {
        let first = a[0];
        for &v in a {
            if !matches!(v.get(), V::Bool(_)) {
                return Err(super::type_err(it, "boolean=?", "booleans", v).into());
            }
        }
        Ok(Value::boolean(a.iter().all(|v| v.eqv(first))))
    });
    plain(it, "symbol->string", 1, Some(1), |it, a| {
        let s = sym_arg(it, "symbol->string", a[0])?;
        let name = it.sym_name(s).to_string();
        Ok(it.new_string(name))
    });
    plain(it, "string->symbol", 1, Some(1), |it, a| {
        let s = str_arg(it, "string->symbol", a[0])?.to_string();
        Ok(it.sym(&s))
    });
    plain(it, "symbol=?", 2, None, |it, a| {
        let first = sym_arg(it, "symbol=?", a[0])?;
        for &v in a {
            if sym_arg(it, "symbol=?", v)? != first {
                return Ok(Value::FALSE);
            }
        }
        Ok(Value::TRUE)
    });
    plain(it, "gensym", 0, Some(1), |it, a| {
        it.gensym_count += 1;
        let prefix = match a.first() {
            Some(&v) => it
                .str_of(v)
                .map_or_else(|| it.print_to(v, false), str::to_string),
            None => "g".to_string(),
        };
        let name = format!("{prefix}{}", it.gensym_count);
        Ok(it.sym(&name))
    });
}
