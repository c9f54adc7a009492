//! Strings (UTF-8, indexed by character): construction, access, comparison, case,
//! searching, splitting and joining, conversion to and from lists.

use super::{PlainResult, char_arg, index_arg, list_arg, plain, str_arg, type_err};
use crate::error::{Error, ErrorKind};
use crate::heap::{OBJ_BYTES, PAIR_BYTES};
use crate::interp::{Interp, err};
use crate::value::{Obj, V, Value};

fn char_count(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Byte offset of character `k` (which may be the end).
fn byte_at(s: &str, k: usize) -> Option<usize> {
    if s.is_ascii() {
        return (k <= s.len()).then_some(k);
    }
    if k == char_count(s) {
        return Some(s.len());
    }
    s.char_indices().nth(k).map(|(b, _)| b)
}

fn range_err(who: &str, what: &str, k: usize) -> Error {
    err(ErrorKind::Range, format!("{who}: {what}")).with_irritants(vec![k.to_string()])
}

/// The optional `[start [end]]` arguments of string procedures, in characters.
pub(super) fn span(it: &Interp, who: &str, s: &str, a: &[Value]) -> Result<(usize, usize), Error> {
    let n = char_count(s);
    let start = match a.first() {
        Some(&v) => index_arg(it, who, v)?,
        None => 0,
    };
    let end = match a.get(1) {
        Some(&v) => index_arg(it, who, v)?,
        None => n,
    };
    if end > n {
        return Err(range_err(
            who,
            "the end index is past the end of the string",
            end,
        ));
    }
    if start > end {
        return Err(range_err(
            who,
            "the start index is after the end index",
            start,
        ));
    }
    Ok((start, end))
}

pub(super) fn sub(s: &str, start: usize, end: usize) -> String {
    match (byte_at(s, start), byte_at(s, end)) {
        (Some(b0), Some(b1)) => s[b0..b1].to_string(),
        _ => String::new(),
    }
}

fn substring(it: &mut Interp, a: &[Value]) -> PlainResult {
    let s = str_arg(it, "substring", a[0])?;
    let (start, end) = span(it, "substring", s, &a[1..])?;
    it.room_for(s.len())?;
    let r = sub(s, start, end);
    Ok(it.new_string(r))
}

fn string_append(it: &mut Interp, a: &[Value]) -> PlainResult {
    let mut len = 0;
    for &v in a {
        len += str_arg(it, "string-append", v)?.len();
    }
    it.room_for(len)?;
    let mut out = String::with_capacity(len);
    for &v in a {
        out.push_str(str_arg(it, "string-append", v)?);
    }
    Ok(it.new_string(out))
}

fn string_ref(it: &mut Interp, a: &[Value]) -> PlainResult {
    let s = str_arg(it, "string-ref", a[0])?;
    let k = index_arg(it, "string-ref", a[1])?;
    let c = if s.is_ascii() {
        s.as_bytes().get(k).map(|&b| b as char)
    } else {
        s.chars().nth(k)
    };
    c.map(|c| Value::new(V::Char(c)))
        .ok_or_else(|| range_err("string-ref", "the index is past the end of the string", k).into())
}

fn string_set(it: &mut Interp, a: &[Value]) -> PlainResult {
    let k = index_arg(it, "string-set!", a[1])?;
    let c = char_arg(it, "string-set!", a[2])?;
    let s = str_arg(it, "string-set!", a[0])?;
    it.room_for_items(s.len(), 8)?;
    let mut chars: Vec<char> = s.chars().collect();
    let slot = chars
        .get_mut(k)
        .ok_or_else(|| range_err("string-set!", "the index is past the end of the string", k))?;
    *slot = c;
    if let Some(Obj::Str(s)) = it.heap.obj_mut(a[0]) {
        *s = chars.into_iter().collect();
    }
    Ok(Value::UNSPEC)
}

/// `(string-copy! to at from [start [end]])`: copies characters of `from` into `to`
/// from index `at` on (the two may be the same string).
fn string_copy_to(it: &mut Interp, a: &[Value]) -> PlainResult {
    let who = "string-copy!";
    let at = index_arg(it, who, a[1])?;
    let from = str_arg(it, who, a[2])?;
    let (start, end) = span(it, who, from, &a[3..])?;
    it.room_for_items(from.len() + str_arg(it, who, a[0])?.len(), 8)?;
    let piece: Vec<char> = from.chars().skip(start).take(end - start).collect();
    let mut to: Vec<char> = str_arg(it, who, a[0])?.chars().collect();
    if at + piece.len() > to.len() {
        return Err(range_err(who, "the copy would run past the end of the string", at).into());
    }
    to[at..at + piece.len()].copy_from_slice(&piece);
    if let Some(Obj::Str(s)) = it.heap.obj_mut(a[0]) {
        *s = to.into_iter().collect();
    }
    Ok(Value::UNSPEC)
}

fn str_cmp(
    it: &Interp,
    who: &str,
    a: &[Value],
    ci: bool,
    ok: fn(std::cmp::Ordering) -> bool,
) -> PlainResult {
    let mut strs = Vec::with_capacity(a.len());
    let total: usize = a.iter().filter_map(|&v| it.str_of(v)).map(str::len).sum();
    it.room_for(total.saturating_mul(3))?;
    for &v in a {
        let s = str_arg(it, who, v)?;
        strs.push(if ci { s.to_lowercase() } else { s.to_string() });
    }
    Ok(Value::boolean(strs.windows(2).all(|w| ok(w[0].cmp(&w[1])))))
}

macro_rules! str_cmps {
    ($it:ident; $($name:literal, $ci:expr, $ok:expr);* $(;)?) => {
        $(plain($it, $name, 1, None, |it, a| str_cmp(it, $name, a, $ci, $ok));)*
    };
}

fn string_to_list(it: &mut Interp, a: &[Value]) -> PlainResult {
    let s = str_arg(it, "string->list", a[0])?;
    let (start, end) = span(it, "string->list", s, &a[1..])?;
    it.room_for_items(end - start, PAIR_BYTES + 16)?;
    let chars: Vec<Value> = s
        .chars()
        .skip(start)
        .take(end - start)
        .map(|c| Value::new(V::Char(c)))
        .collect();
    Ok(it.list_from(&chars))
}

fn chars_of(it: &Interp, who: &str, items: &[Value]) -> Result<String, Error> {
    it.room_for_items(items.len(), 4).map_err(|e| *e)?;
    let mut out = String::with_capacity(items.len());
    for &c in items {
        out.push(char_arg(it, who, c)?);
    }
    Ok(out)
}

fn string_search(it: &mut Interp, a: &[Value]) -> PlainResult {
    let hay = str_arg(it, "string-contains", a[0])?;
    let needle = str_arg(it, "string-contains", a[1])?;
    Ok(match hay.find(needle) {
        Some(b) => Value::new(V::Int(char_count(&hay[..b]) as i64)),
        None => Value::FALSE,
    })
}

fn string_split(it: &mut Interp, a: &[Value]) -> PlainResult {
    let s = str_arg(it, "string-split", a[0])?;
    // the pieces, and at most one string object and pair per byte
    it.room_for_items(s.len(), 2 + OBJ_BYTES + PAIR_BYTES)?;
    let s = s.to_string();
    let parts: Vec<String> = match a.get(1).map(|v| v.get()) {
        None => s.split_whitespace().map(str::to_string).collect(),
        Some(V::Char(c)) => s.split(c).map(str::to_string).collect(),
        Some(_) => {
            let sep = str_arg(it, "string-split", a[1])?;
            if sep.is_empty() {
                return Err(type_err(it, "string-split", "a non-empty separator", a[1]).into());
            }
            s.split(sep).map(str::to_string).collect()
        }
    };
    let vals: Vec<Value> = parts.into_iter().map(|p| it.new_string(p)).collect();
    Ok(it.list_from(&vals))
}

fn string_join(it: &mut Interp, a: &[Value]) -> PlainResult {
    let items = list_arg(it, "string-join", a[0])?;
    let sep = match a.get(1) {
        Some(&v) => str_arg(it, "string-join", v)?.to_string(),
        None => " ".to_string(),
    };
    let mut total = sep.len().saturating_mul(items.len());
    for &v in &items {
        total = total.saturating_add(str_arg(it, "string-join", v)?.len());
    }
    it.room_for(total.saturating_mul(2))?;
    let mut parts = Vec::with_capacity(items.len());
    for v in items {
        parts.push(str_arg(it, "string-join", v)?.to_string());
    }
    Ok(it.new_string(parts.join(&sep)))
}

fn make_string(it: &mut Interp, a: &[Value]) -> PlainResult {
    let n = index_arg(it, "make-string", a[0])?;
    let c = match a.get(1) {
        Some(&v) => char_arg(it, "make-string", v)?,
        None => ' ',
    };
    it.room_for_items(n, c.len_utf8())?;
    Ok(it.new_string(std::iter::repeat_n(c, n).collect()))
}

fn map_str(it: &mut Interp, a: &[Value], who: &str, f: fn(&str) -> String) -> PlainResult {
    // case mapping can triple a string's bytes
    it.room_for_items(str_arg(it, who, a[0])?.len(), 3)?;
    let s = f(str_arg(it, who, a[0])?);
    Ok(it.new_string(s))
}

pub(super) fn install(it: &mut Interp) {
    plain(it, "string-length", 1, Some(1), |it, a| {
        Ok(Value::new(V::Int(
            char_count(str_arg(it, "string-length", a[0])?) as i64,
        )))
    });
    plain(it, "string-ref", 2, Some(2), string_ref);
    plain(it, "string-set!", 3, Some(3), string_set);
    plain(it, "substring", 2, Some(3), substring);
    plain(it, "string-copy", 1, Some(3), |it, a| {
        let s = str_arg(it, "string-copy", a[0])?;
        let (start, end) = span(it, "string-copy", s, &a[1..])?;
        it.room_for(s.len())?;
        let r = sub(s, start, end);
        Ok(it.new_string(r))
    });
    plain(it, "string-append", 0, None, string_append);
    plain(it, "string", 0, None, |it, a| {
        let s = chars_of(it, "string", a)?;
        Ok(it.new_string(s))
    });
    plain(it, "make-string", 1, Some(2), make_string);
    plain(it, "string->list", 1, Some(3), string_to_list);
    plain(it, "list->string", 1, Some(1), |it, a| {
        let items = list_arg(it, "list->string", a[0])?;
        let s = chars_of(it, "list->string", &items)?;
        Ok(it.new_string(s))
    });
    plain(it, "string-null?", 1, Some(1), |it, a| {
        Ok(Value::boolean(
            str_arg(it, "string-null?", a[0])?.is_empty(),
        ))
    });
    str_cmps!(it;
        "string=?", false, |o| o.is_eq(); "string<?", false, |o| o.is_lt(); "string>?", false, |o| o.is_gt();
        "string<=?", false, |o| o.is_le(); "string>=?", false, |o| o.is_ge();
        "string-ci=?", true, |o| o.is_eq(); "string-ci<?", true, |o| o.is_lt(); "string-ci>?", true, |o| o.is_gt();
        "string-ci<=?", true, |o| o.is_le(); "string-ci>=?", true, |o| o.is_ge();
    );
    plain(it, "string-upcase", 1, Some(1), |it, a| {
        map_str(it, a, "string-upcase", str::to_uppercase)
    });
    plain(it, "string-downcase", 1, Some(1), |it, a| {
        map_str(it, a, "string-downcase", str::to_lowercase)
    });
    plain(it, "string-foldcase", 1, Some(1), |it, a| {
        map_str(it, a, "string-foldcase", str::to_lowercase)
    });
    plain(it, "string-trim", 1, Some(1), |it, a| {
        map_str(it, a, "string-trim", |s| s.trim().to_string())
    });
    plain(it, "string-trim-left", 1, Some(1), |it, a| {
        map_str(it, a, "string-trim-left", |s| s.trim_start().to_string())
    });
    plain(it, "string-trim-right", 1, Some(1), |it, a| {
        map_str(it, a, "string-trim-right", |s| s.trim_end().to_string())
    });
    plain(it, "string-contains", 2, Some(2), string_search);
    plain(it, "string-prefix?", 2, Some(2), |it, a| {
        let p = str_arg(it, "string-prefix?", a[0])?;
        Ok(Value::boolean(
            str_arg(it, "string-prefix?", a[1])?.starts_with(p),
        ))
    });
    plain(it, "string-suffix?", 2, Some(2), |it, a| {
        let p = str_arg(it, "string-suffix?", a[0])?;
        Ok(Value::boolean(
            str_arg(it, "string-suffix?", a[1])?.ends_with(p),
        ))
    });
    plain(it, "string-split", 1, Some(2), string_split);
    plain(it, "string-join", 1, Some(2), string_join);
    plain(it, "string-fill!", 2, Some(4), |it, a| {
        let c = char_arg(it, "string-fill!", a[1])?;
        let s = str_arg(it, "string-fill!", a[0])?;
        let (start, end) = span(it, "string-fill!", s, &a[2..])?;
        it.room_for_items(end - start, c.len_utf8())?;
        let filled: String = s
            .chars()
            .enumerate()
            .map(|(i, x)| if (start..end).contains(&i) { c } else { x })
            .collect();
        if let Some(Obj::Str(s)) = it.heap.obj_mut(a[0]) {
            *s = filled;
        }
        Ok(Value::UNSPEC)
    });
    plain(it, "string->vector", 1, Some(3), |it, a| {
        let s = str_arg(it, "string->vector", a[0])?;
        let (start, end) = span(it, "string->vector", s, &a[1..])?;
        it.room_for_items(end - start, 16)?;
        let items: Vec<Value> = s
            .chars()
            .skip(start)
            .take(end - start)
            .map(|c| Value::new(V::Char(c)))
            .collect();
        Ok(it.alloc(Obj::Vector(items)))
    });
    plain(it, "string-copy!", 3, Some(5), string_copy_to);
}
