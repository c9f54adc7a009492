//! Pairs and lists: constructors, the `c[ad]r` family, length, append, reverse,
//! searching (`memq`, `assoc`...), `iota`, `last`, `list-copy`.

use super::{PlainResult, index_arg, list_arg, plain, type_err};
use crate::error::{Error, ErrorKind};
use crate::heap::{PAIR_BYTES, Pair};
use crate::interp::{Interp, err};
use crate::value::{V, Value};

fn pair(it: &Interp, who: &str, v: Value) -> Result<Pair, Error> {
    it.heap
        .pair(v)
        .ok_or_else(|| type_err(it, who, "a pair", v))
}

/// Follows a `c[ad]+r` path; `path` is read right to left like the name.
fn cxr(it: &Interp, who: &str, path: &str, mut v: Value) -> PlainResult {
    for step in path.bytes().rev() {
        let p = pair(it, who, v)?;
        v = if step == b'a' { p.car } else { p.cdr };
    }
    Ok(v)
}

macro_rules! cxr_prims {
    ($it:ident; $($name:literal => $path:literal),* $(,)?) => {
        $(plain($it, $name, 1, Some(1), |it, a| cxr(it, $name, $path, a[0]));)*
    };
}

fn set_part(it: &mut Interp, who: &str, p: Value, v: Value, car: bool) -> PlainResult {
    match p.get() {
        V::Pair(i) => {
            if let Some(cell) = it.heap.pairs.get_mut(i as usize) {
                let old = if car {
                    std::mem::replace(&mut cell.car, v)
                } else {
                    std::mem::replace(&mut cell.cdr, v)
                };
                it.heap.barrier(old);
            }
            Ok(Value::UNSPEC)
        }
        _ => Err(type_err(it, who, "a pair", p).into()),
    }
}

fn length(it: &mut Interp, a: &[Value]) -> PlainResult {
    let n = super::args::proper_list(it, "length", 1, a[0])?;
    Ok(Value::new(V::Int(n as i64)))
}

fn append(it: &mut Interp, a: &[Value]) -> PlainResult {
    let Some((&last, init)) = a.split_last() else {
        return Ok(Value::NIL);
    };
    let mut items = Vec::new();
    for &l in init {
        items.extend(list_arg(it, "append", l)?);
    }
    it.room_for_items(items.len(), PAIR_BYTES)?;
    Ok(it.list_with_tail(&items, last))
}

/// What is left of list `a[0]` after its first `a[1]` elements (`list-tail`, `drop`).
fn tail_after(it: &Interp, who: &str, a: &[Value]) -> PlainResult {
    let k = index_arg(it, who, a[1])?;
    let mut v = a[0];
    for _ in 0..k {
        v = it
            .heap
            .pair(v)
            .ok_or_else(|| {
                err(
                    ErrorKind::Range,
                    format!("{who}: the list is shorter than the index"),
                )
                .with_irritants(vec![k.to_string()])
            })?
            .cdr;
    }
    Ok(v)
}

fn list_tail(it: &mut Interp, a: &[Value]) -> PlainResult {
    tail_after(it, "list-tail", a)
}

/// A new list of the first `a[1]` elements of list `a[0]` (`list-head`, `take`); walks
/// only that many pairs, so the list may be circular.
fn head_of(it: &mut Interp, who: &str, a: &[Value]) -> PlainResult {
    let k = index_arg(it, who, a[1])?;
    let mut items = Vec::with_capacity(k.min(1 << 16));
    let mut cur = a[0];
    while items.len() < k {
        match it.heap.pair(cur) {
            Some(p) => {
                items.push(p.car);
                cur = p.cdr;
            }
            None if matches!(cur.get(), V::Nil) => {
                return Err(err(
                    ErrorKind::Range,
                    format!("{who}: the index is past the end of the list"),
                )
                .with_irritants(vec![k.to_string()])
                .into());
            }
            None => return Err(type_err(it, who, "a list", a[0]).into()),
        }
    }
    Ok(it.list_from(&items))
}

fn list_ref(it: &mut Interp, a: &[Value]) -> PlainResult {
    let tail = list_tail(it, a).map_err(|_| {
        err(
            ErrorKind::Range,
            "list-ref: the index is past the end of the list",
        )
        .with_irritants(vec![it.print_to(a[1], true)])
    })?;
    it.heap.pair(tail).map(|p| p.car).ok_or_else(|| {
        err(
            ErrorKind::Range,
            "list-ref: the index is past the end of the list",
        )
        .with_irritants(vec![it.print_to(a[1], true)])
        .into()
    })
}

/// The pairs of list `l` in order, stopping with an error (argument 2 of `who`) if the
/// list turns out to be circular: more steps than there are pairs.
fn walk(
    it: &Interp,
    who: &str,
    l: Value,
    mut visit: impl FnMut(Pair, Value) -> Result<Option<Value>, Error>,
) -> PlainResult {
    let mut cur = l;
    let mut steps = 0usize;
    while let Some(p) = it.heap.pair(cur) {
        if let Some(found) = visit(p, cur)? {
            return Ok(found);
        }
        cur = p.cdr;
        steps += 1;
        if steps > it.heap.pairs.len() {
            return Err(super::args::circular_err(it, who, 2, l).into());
        }
    }
    Ok(Value::FALSE)
}

/// `memq`/`memv` (`eqv?`) or `member` (`equal?`).
fn mem(it: &Interp, who: &str, x: Value, l: Value, equal: bool) -> PlainResult {
    walk(it, who, l, |p, here| {
        let same = if equal {
            it.equal(x, p.car)
        } else {
            it.eqv(x, p.car)
        };
        Ok(same.then_some(here))
    })
}

/// `assq`/`assv` (`eqv?`) or `assoc` (`equal?`).
fn ass(it: &Interp, who: &str, x: Value, l: Value, equal: bool) -> PlainResult {
    walk(it, who, l, |p, _| {
        let entry = it
            .heap
            .pair(p.car)
            .ok_or_else(|| type_err(it, who, "a list of pairs", p.car))?;
        let same = if equal {
            it.equal(x, entry.car)
        } else {
            it.eqv(x, entry.car)
        };
        Ok(same.then_some(p.car))
    })
}

fn iota(it: &mut Interp, a: &[Value]) -> PlainResult {
    let n = index_arg(it, "iota", a[0])?;
    it.room_for_items(n, PAIR_BYTES + 16)?;
    let start = a.get(1).copied().unwrap_or(Value::new(V::Int(0)));
    let step = a.get(2).copied().unwrap_or(Value::new(V::Int(1)));
    let mut out = Vec::with_capacity(n);
    match (start.get(), step.get()) {
        (V::Int(s), V::Int(d)) => {
            for k in 0..n as i64 {
                let v = k.checked_mul(d).and_then(|x| x.checked_add(s));
                out.push(
                    v.map_or(Value::new(V::Float(s as f64 + k as f64 * d as f64)), |v| {
                        Value::new(V::Int(v))
                    }),
                );
            }
        }
        _ => {
            let s = it
                .as_f64(start)
                .ok_or_else(|| type_err(it, "iota", "a number", start))?;
            let d = it
                .as_f64(step)
                .ok_or_else(|| type_err(it, "iota", "a number", step))?;
            for k in 0..n {
                out.push(Value::new(V::Float(s + k as f64 * d)));
            }
        }
    }
    Ok(it.list_from(&out))
}

fn make_list(it: &mut Interp, a: &[Value]) -> PlainResult {
    let n = index_arg(it, "make-list", a[0])?;
    it.room_for_items(n, PAIR_BYTES)?;
    let fill = a.get(1).copied().unwrap_or(Value::UNSPEC);
    let mut l = Value::NIL;
    for _ in 0..n {
        l = it.cons(fill, l);
    }
    Ok(l)
}

fn last_pair(it: &Interp, who: &str, v: Value) -> PlainResult {
    let mut cur = v;
    let mut p = pair(it, who, cur)?;
    let mut steps = 0usize;
    while let Some(next) = it.heap.pair(p.cdr) {
        cur = p.cdr;
        p = next;
        steps += 1;
        if steps > it.heap.pairs.len() {
            return Err(type_err(it, who, "a list that is not circular", v).into());
        }
    }
    Ok(cur)
}

pub(super) fn install(it: &mut Interp) {
    plain(it, "cons", 2, Some(2), |it, a| Ok(it.cons(a[0], a[1])));
    plain(
        it,
        "car",
        1,
        Some(1),
        |it, a| Ok(pair(it, "car", a[0])?.car),
    );
    plain(
        it,
        "cdr",
        1,
        Some(1),
        |it, a| Ok(pair(it, "cdr", a[0])?.cdr),
    );
    cxr_prims!(it;
        "caar" => "aa", "cadr" => "ad", "cdar" => "da", "cddr" => "dd",
        "caaar" => "aaa", "caadr" => "aad", "cadar" => "ada", "caddr" => "add",
        "cdaar" => "daa", "cdadr" => "dad", "cddar" => "dda", "cdddr" => "ddd",
        "caaaar" => "aaaa", "caaadr" => "aaad", "caadar" => "aada", "caaddr" => "aadd",
        "cadaar" => "adaa", "cadadr" => "adad", "caddar" => "adda", "cadddr" => "addd",
        "cdaaar" => "daaa", "cdaadr" => "daad", "cdadar" => "dada", "cdaddr" => "dadd",
        "cddaar" => "ddaa", "cddadr" => "ddad", "cdddar" => "ddda", "cddddr" => "dddd",
    );
    plain(it, "set-car!", 2, Some(2), |it, a| {
        set_part(it, "set-car!", a[0], a[1], true)
    });
    plain(it, "set-cdr!", 2, Some(2), |it, a| {
        set_part(it, "set-cdr!", a[0], a[1], false)
    });
    plain(it, "list", 0, None, |it, a| Ok(it.list_from(a)));
    plain(it, "cons*", 1, None, |it, a| {
        let (&last, init) = a
            .split_last()
            .ok_or_else(|| err(ErrorKind::Arity, "cons* wants at least 1 argument"))?;
        Ok(it.list_with_tail(init, last))
    });
    super::alias(it, "list*", "cons*");
    plain(it, "length", 1, Some(1), length);
    plain(it, "list?", 1, Some(1), |it, a| {
        Ok(Value::boolean(matches!(
            super::args::shape(it, a[0]),
            super::args::Shape::Proper(_)
        )))
    });
    plain(it, "append", 0, None, append);
    plain(it, "reverse", 1, Some(1), |it, a| {
        let mut items = list_arg(it, "reverse", a[0])?;
        items.reverse();
        it.room_for_items(items.len(), PAIR_BYTES)?;
        Ok(it.list_from(&items))
    });
    plain(it, "list-tail", 2, Some(2), list_tail);
    plain(it, "list-ref", 2, Some(2), list_ref);
    plain(it, "list-set!", 3, Some(3), |it, a| {
        let tail = list_tail(it, &a[..2])?;
        match tail.get() {
            V::Pair(_) => set_part(it, "list-set!", tail, a[2], true),
            _ => Err(err(
                ErrorKind::Range,
                "list-set!: the index is past the end of the list",
            )
            .into()),
        }
    });
    plain(it, "list-copy", 1, Some(1), |it, a| {
        let mut items = Vec::new();
        let mut cur = a[0];
        while let Some(p) = it.heap.pair(cur) {
            items.push(p.car);
            cur = p.cdr;
            if items.len() > it.heap.pairs.len() {
                return Err(type_err(it, "list-copy", "a list that is not circular", a[0]).into());
            }
        }
        it.room_for_items(items.len(), PAIR_BYTES)?;
        Ok(it.list_with_tail(&items, cur))
    });
    plain(it, "memq", 2, Some(2), |it, a| {
        mem(it, "memq", a[0], a[1], false)
    });
    plain(it, "memv", 2, Some(2), |it, a| {
        mem(it, "memv", a[0], a[1], false)
    });
    plain(it, "%member", 2, Some(2), |it, a| {
        mem(it, "member", a[0], a[1], true)
    });
    plain(it, "assq", 2, Some(2), |it, a| {
        ass(it, "assq", a[0], a[1], false)
    });
    plain(it, "assv", 2, Some(2), |it, a| {
        ass(it, "assv", a[0], a[1], false)
    });
    plain(it, "%assoc", 2, Some(2), |it, a| {
        ass(it, "assoc", a[0], a[1], true)
    });
    plain(it, "iota", 1, Some(3), iota);
    plain(it, "make-list", 1, Some(2), make_list);
    plain(it, "last-pair", 1, Some(1), |it, a| {
        last_pair(it, "last-pair", a[0])
    });
    plain(it, "last", 1, Some(1), |it, a| {
        let p = last_pair(it, "last", a[0])?;
        Ok(pair(it, "last", p)?.car)
    });
    plain(it, "list-index-of", 2, Some(2), |it, a| {
        let items = list_arg(it, "list-index-of", a[0])?;
        Ok(items
            .iter()
            .position(|&x| it.equal(x, a[1]))
            .map_or(Value::FALSE, |i| Value::new(V::Int(i as i64))))
    });
    plain(it, "list-head", 2, Some(2), |it, a| {
        head_of(it, "list-head", a)
    });
    plain(it, "take", 2, Some(2), |it, a| head_of(it, "take", a));
    plain(it, "drop", 2, Some(2), |it, a| tail_after(it, "drop", a));
}
