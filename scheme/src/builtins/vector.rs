//! Vectors: construction, access, copying, conversion to and from lists.

use super::{PlainResult, index_arg, list_arg, plain, type_err};
use crate::error::{Error, ErrorKind};
use crate::heap::{PAIR_BYTES, Phase};
use crate::interp::{Interp, err};
use crate::value::{Obj, V, Value};

fn items<'a>(it: &'a Interp, who: &str, v: Value) -> Result<&'a Vec<Value>, Error> {
    match it.heap.obj(v) {
        Some(Obj::Vector(items)) => Ok(items),
        _ => Err(type_err(it, who, "a vector", v)),
    }
}

fn range_err(who: &str, k: usize) -> Error {
    err(
        ErrorKind::Range,
        format!("{who}: the index is past the end of the vector"),
    )
    .with_irritants(vec![k.to_string()])
}

fn span(it: &Interp, who: &str, len: usize, a: &[Value]) -> Result<(usize, usize), Error> {
    let start = match a.first() {
        Some(&v) => index_arg(it, who, v)?,
        None => 0,
    };
    let end = match a.get(1) {
        Some(&v) => index_arg(it, who, v)?,
        None => len,
    };
    if end > len {
        return Err(range_err(who, end));
    }
    if start > end {
        return Err(err(
            ErrorKind::Range,
            format!("{who}: the start index is after the end index"),
        )
        .with_irritants(vec![start.to_string()]));
    }
    Ok((start, end))
}

fn make_vector(it: &mut Interp, a: &[Value]) -> PlainResult {
    let n = index_arg(it, "make-vector", a[0])?;
    it.room_for_items(n, 16)?;
    let fill = a.get(1).copied().unwrap_or(Value::new(V::Int(0)));
    Ok(it.alloc(Obj::Vector(vec![fill; n])))
}

fn vector_ref(it: &mut Interp, a: &[Value]) -> PlainResult {
    let k = index_arg(it, "vector-ref", a[1])?;
    items(it, "vector-ref", a[0])?
        .get(k)
        .copied()
        .ok_or_else(|| range_err("vector-ref", k).into())
}

fn vector_set(it: &mut Interp, a: &[Value]) -> PlainResult {
    let k = index_arg(it, "vector-set!", a[1])?;
    items(it, "vector-set!", a[0])?;
    let old = match it.heap.obj_mut(a[0]) {
        Some(Obj::Vector(items)) => match items.get_mut(k) {
            Some(slot) => std::mem::replace(slot, a[2]),
            None => return Err(range_err("vector-set!", k).into()),
        },
        _ => return Err(range_err("vector-set!", k).into()),
    };
    it.heap.barrier(old);
    Ok(Value::UNSPEC)
}

/// Runs the collector's write barrier on `v[s..e]` before it is overwritten.
fn barrier_range(it: &mut Interp, v: Value, s: usize, e: usize) {
    if it.heap.phase == Phase::Marking {
        let old = match it.heap.obj(v) {
            Some(Obj::Vector(items)) => items.get(s..e).map(<[Value]>::to_vec).unwrap_or_default(),
            _ => Vec::new(),
        };
        for o in old {
            it.heap.barrier(o);
        }
    }
}

fn vector_to_list(it: &mut Interp, a: &[Value]) -> PlainResult {
    let v = items(it, "vector->list", a[0])?;
    let (s, e) = span(it, "vector->list", v.len(), &a[1..])?;
    it.room_for_items(e - s, PAIR_BYTES + 16)?;
    let part = v[s..e].to_vec();
    Ok(it.list_from(&part))
}

fn vector_copy(it: &mut Interp, a: &[Value]) -> PlainResult {
    let v = items(it, "vector-copy", a[0])?;
    let (s, e) = span(it, "vector-copy", v.len(), &a[1..])?;
    it.room_for_items(e - s, 16)?;
    let part = v[s..e].to_vec();
    Ok(it.alloc(Obj::Vector(part)))
}

fn vector_fill(it: &mut Interp, a: &[Value]) -> PlainResult {
    let len = items(it, "vector-fill!", a[0])?.len();
    let (s, e) = span(it, "vector-fill!", len, &a[2..])?;
    barrier_range(it, a[0], s, e);
    if let Some(Obj::Vector(items)) = it.heap.obj_mut(a[0]) {
        items[s..e].fill(a[1]);
    }
    Ok(Value::UNSPEC)
}

fn vector_copy_to(it: &mut Interp, a: &[Value]) -> PlainResult {
    let at = index_arg(it, "vector-copy!", a[1])?;
    let src = items(it, "vector-copy!", a[2])?;
    let (s, e) = span(it, "vector-copy!", src.len(), &a[3..])?;
    it.room_for_items(e - s, 16)?;
    let part = src[s..e].to_vec();
    let dst_len = items(it, "vector-copy!", a[0])?.len();
    if at + part.len() > dst_len {
        return Err(range_err("vector-copy!", at + part.len()).into());
    }
    barrier_range(it, a[0], at, at + part.len());
    if let Some(Obj::Vector(items)) = it.heap.obj_mut(a[0]) {
        items[at..at + part.len()].copy_from_slice(&part);
    }
    Ok(Value::UNSPEC)
}

pub(super) fn install(it: &mut Interp) {
    plain(it, "make-vector", 1, Some(2), make_vector);
    plain(it, "vector", 0, None, |it, a| {
        Ok(it.alloc(Obj::Vector(a.to_vec())))
    });
    plain(it, "vector-length", 1, Some(1), |it, a| {
        Ok(Value::new(V::Int(
            items(it, "vector-length", a[0])?.len() as i64
        )))
    });
    plain(it, "vector-ref", 2, Some(2), vector_ref);
    plain(it, "vector-set!", 3, Some(3), vector_set);
    plain(it, "vector->list", 1, Some(3), vector_to_list);
    plain(it, "list->vector", 1, Some(1), |it, a| {
        let items = list_arg(it, "list->vector", a[0])?;
        it.room_for_items(items.len(), 16)?;
        Ok(it.alloc(Obj::Vector(items)))
    });
    plain(it, "vector-fill!", 2, Some(4), vector_fill);
    plain(it, "vector-copy", 1, Some(3), vector_copy);
    plain(it, "vector-copy!", 3, Some(5), vector_copy_to);
    plain(it, "vector-append", 0, None, |it, a| {
        let mut n = 0usize;
        for &v in a {
            n = n.saturating_add(items(it, "vector-append", v)?.len());
        }
        it.room_for_items(n, 16)?;
        let mut out = Vec::with_capacity(n);
        for &v in a {
            out.extend_from_slice(items(it, "vector-append", v)?);
        }
        Ok(it.alloc(Obj::Vector(out)))
    });
    plain(it, "vector->string", 1, Some(3), |it, a| {
        let all = items(it, "vector->string", a[0])?;
        let (start, end) = span(it, "vector->string", all.len(), &a[1..])?;
        it.room_for_items(end - start, 4)?;
        let mut s = String::new();
        for &c in &all[start..end] {
            s.push(super::char_arg(it, "vector->string", c)?);
        }
        Ok(it.new_string(s))
    });
}
