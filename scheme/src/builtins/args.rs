//! Argument checks for the procedures written in Scheme (`prelude.scm`): `%check` and
//! `%check-lists` say which procedure was called wrongly, which argument, what was
//! expected and what was found, so that a mistake is reported in the livecoder's terms
//! rather than in those of the prelude's internals. Also the shape of a list (proper,
//! dotted or circular), found in constant space.

use super::{PlainResult, index_arg, plain, sym_arg};
use crate::error::{Error, ErrorKind};
use crate::interp::{Interp, err};
use crate::value::{Obj, V, Value};

/// What following the `cdr`s of a value leads to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shape {
    /// A proper list of this many elements.
    Proper(usize),
    /// A chain of pairs that ends in something other than `()` (or not a pair at all).
    Dotted,
    /// A chain of pairs that loops back on itself.
    Circular,
}

/// The shape of `v`, by Floyd's tortoise and hare.
pub(crate) fn shape(it: &Interp, v: Value) -> Shape {
    let (mut slow, mut fast) = (v, v);
    let mut len = 0;
    loop {
        for _ in 0..2 {
            match fast.get() {
                V::Nil => return Shape::Proper(len),
                V::Pair(_) => match it.heap.pair(fast) {
                    Some(p) => fast = p.cdr,
                    None => return Shape::Dotted,
                },
                _ => return Shape::Dotted,
            }
            len += 1;
        }
        slow = it.heap.pair(slow).map_or(Value::NIL, |p| p.cdr);
        if slow.eqv(fast) && matches!(fast.get(), V::Pair(_)) {
            return Shape::Circular;
        }
    }
}

/// The error for argument `index` (1-based) of `who`, which should have been `wanted`.
pub(crate) fn arg_err(it: &Interp, who: &str, index: usize, wanted: &str, v: Value) -> Error {
    err(
        ErrorKind::Type,
        format!("{who}: argument {index} must be {wanted}, found"),
    )
    .with_irritants(vec![it.print_to(v, true)])
}

/// The error for a circular list given as argument `index` of `who`.
pub(crate) fn circular_err(it: &Interp, who: &str, index: usize, v: Value) -> Error {
    err(
        ErrorKind::Type,
        format!("{who}: argument {index} is a circular list, it has no end"),
    )
    .with_irritants(vec![it.print_to(v, true)])
}

/// Checks that `v` is a proper list (argument `index` of `who`).
pub(crate) fn proper_list(it: &Interp, who: &str, index: usize, v: Value) -> Result<usize, Error> {
    match shape(it, v) {
        Shape::Proper(n) => Ok(n),
        Shape::Circular => Err(circular_err(it, who, index, v)),
        Shape::Dotted => Err(arg_err(it, who, index, "a list", v)),
    }
}

fn is_alist(it: &Interp, v: Value) -> bool {
    let mut cur = v;
    while let Some(p) = it.heap.pair(cur) {
        if !matches!(p.car.get(), V::Pair(_)) {
            return false;
        }
        cur = p.cdr;
    }
    true
}

/// `(%check who index kind value)` returns `value` if it is of `kind` (`procedure`,
/// `list`, `alist`, `pair`, `vector`, `string`, `char`, `hash-table`, `integer`, `index`, `real`,
/// `char-or-procedure`, `sequence`), else raises the error for argument `index` of `who`.
fn check(it: &mut Interp, a: &[Value]) -> PlainResult {
    let who = sym_arg(it, "%check", a[0])?;
    let who = it.sym_name(who).to_string();
    let index = index_arg(it, "%check", a[1])?;
    let kind = sym_arg(it, "%check", a[2])?;
    let v = a[3];
    let obj = it.heap.obj(v);
    let wanted = match it.sym_name(kind) {
        "procedure" if !it.is_procedure_value(v) => "a procedure",
        "char-or-procedure" if !it.is_procedure_value(v) && !matches!(v.get(), V::Char(_)) => {
            "a character or a procedure"
        }
        "list" => {
            proper_list(it, &who, index, v)?;
            return Ok(v);
        }
        "alist" => {
            proper_list(it, &who, index, v)?;
            if is_alist(it, v) {
                return Ok(v);
            }
            "a list of pairs"
        }
        "sequence" if !matches!(obj, Some(Obj::Vector(_))) => {
            proper_list(it, &who, index, v)
                .map_err(|_| arg_err(it, &who, index, "a list or a vector", v))?;
            return Ok(v);
        }
        "vector" if !matches!(obj, Some(Obj::Vector(_))) => "a vector",
        "string" if !matches!(obj, Some(Obj::Str(_))) => "a string",
        "hash-table" if !matches!(obj, Some(Obj::Table(_))) => "a hash table",
        "char" if !matches!(v.get(), V::Char(_)) => "a character",
        "pair" if !matches!(v.get(), V::Pair(_)) => "a pair",
        "integer" if super::int_arg(it, &who, v).is_err() => "an integer",
        "index" if !matches!(v.get(), V::Int(i) if i >= 0) => "a non-negative integer",
        "real" if it.as_f64(v).is_none() => "a real number",
        _ => return Ok(v),
    };
    Err(arg_err(it, &who, index, wanted, v).into())
}

/// `(%check-lists who first-index lists)` returns `lists` if each of them (arguments
/// `first-index`, ... of `who`) is a proper or a circular list and at least one ends, as
/// R7RS asks of `map`, `for-each` and their kin when they are given several lists.
fn check_lists(it: &mut Interp, a: &[Value]) -> PlainResult {
    let who = sym_arg(it, "%check-lists", a[0])?;
    let who = it.sym_name(who).to_string();
    let first = index_arg(it, "%check-lists", a[1])?;
    let lists = it.list_vec(a[2]).unwrap_or_default();
    let mut some_end = false;
    for (k, &l) in lists.iter().enumerate() {
        match shape(it, l) {
            Shape::Proper(_) => some_end = true,
            Shape::Circular => {}
            Shape::Dotted => return Err(arg_err(it, &who, first + k, "a list", l).into()),
        }
    }
    if !some_end && !lists.is_empty() {
        return Err(err(
            ErrorKind::Type,
            format!("{who}: every list is circular, so it would never end"),
        )
        .into());
    }
    Ok(a[2])
}

/// `(%range-error who what irritant)`: an out-of-range error `who: what irritant`, for
/// an index past the end or a key that is not there.
fn range_error(it: &mut Interp, a: &[Value]) -> PlainResult {
    let who = sym_arg(it, "%range-error", a[0])?;
    let what = super::str_arg(it, "%range-error", a[1])?;
    Err(
        err(ErrorKind::Range, format!("{}: {what}", it.sym_name(who)))
            .with_irritants(vec![it.print_to(a[2], true)])
            .into(),
    )
}

pub(super) fn install(it: &mut Interp) {
    plain(it, "%check", 4, Some(4), check);
    plain(it, "%check-lists", 3, Some(3), check_lists);
    plain(it, "%range-error", 3, Some(3), range_error);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(src: &str) -> Shape {
        let mut it = Interp::new();
        let v = it.eval_str(src, "t.scm").expect("the test program runs");
        shape(&it, v)
    }

    #[test]
    fn shapes_of_lists() {
        assert_eq!(shape_of("'()"), Shape::Proper(0));
        assert_eq!(shape_of("'(1 2 3)"), Shape::Proper(3));
        assert_eq!(shape_of("'(1 2 3 4)"), Shape::Proper(4));
        assert_eq!(shape_of("'(1 2 . 3)"), Shape::Dotted);
        assert_eq!(shape_of("5"), Shape::Dotted);
        assert_eq!(
            shape_of("(define l (list 1 2 3)) (set-cdr! (cddr l) l) l"),
            Shape::Circular
        );
        assert_eq!(
            shape_of("(define l (list 1 2 3)) (set-cdr! (cddr l) (cdr l)) l"),
            Shape::Circular
        );
        assert_eq!(
            shape_of("(define l (list 1)) (set-cdr! l l) l"),
            Shape::Circular
        );
    }
}
