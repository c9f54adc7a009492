//! Equivalence (`eq?`, `eqv?`, `equal?`), type predicates, booleans and symbols.

use super::{PlainResult, plain, str_arg, sym_arg};
use crate::interp::Interp;
use crate::value::{Obj, V, Value};

/// How many pairs/elements `equal?` may visit before it gives up (circular data).
const EQUAL_BUDGET: usize = 50_000_000;

impl Interp {
    /// Structural equality: pairs, vectors and strings by content, the rest by `eqv?`.
    pub(crate) fn equal(&self, a: Value, b: Value) -> bool {
        let mut work = vec![(a, b)];
        let mut budget = EQUAL_BUDGET;
        while let Some((x, y)) = work.pop() {
            budget = match budget.checked_sub(1) {
                Some(b) => b,
                None => return false,
            };
            if x.eqv(y) {
                continue;
            }
            match (x.get(), y.get()) {
                (V::Pair(_), V::Pair(_)) => {
                    let (Some(p), Some(q)) = (self.heap.pair(x), self.heap.pair(y)) else {
                        return false;
                    };
                    work.push((p.cdr, q.cdr));
                    work.push((p.car, q.car));
                }
                (V::Obj(_), V::Obj(_)) => match (self.heap.obj(x), self.heap.obj(y)) {
                    (Some(Obj::Str(s)), Some(Obj::Str(t))) => {
                        if s != t {
                            return false;
                        }
                    }
                    (Some(Obj::Vector(v)), Some(Obj::Vector(w))) => {
                        if v.len() != w.len() {
                            return false;
                        }
                        work.extend(v.iter().copied().zip(w.iter().copied()).rev());
                    }
                    _ => return false,
                },
                _ => return false,
            }
        }
        true
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
    plain(it, "eqv?", 2, Some(2), eq);
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
