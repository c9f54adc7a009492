//! Characters: comparisons, classification, case, code points.

use super::{PlainResult, char_arg, int_arg, plain};
use crate::error::ErrorKind;
use crate::interp::{Interp, err};
use crate::value::{V, Value};

fn fold_case(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn char_cmp(
    it: &Interp,
    who: &str,
    a: &[Value],
    ci: bool,
    ok: fn(char, char) -> bool,
) -> PlainResult {
    let mut cs = Vec::with_capacity(a.len());
    for &v in a {
        let c = char_arg(it, who, v)?;
        cs.push(if ci { fold_case(c) } else { c });
    }
    Ok(Value::boolean(cs.windows(2).all(|w| ok(w[0], w[1]))))
}

macro_rules! char_cmps {
    ($it:ident; $($name:literal, $ci:expr, $op:tt);* $(;)?) => {
        $(plain($it, $name, 1, None, |it, a| char_cmp(it, $name, a, $ci, |x, y| x $op y));)*
    };
}

fn class(it: &Interp, who: &str, a: &[Value], f: fn(char) -> bool) -> PlainResult {
    Ok(Value::boolean(f(char_arg(it, who, a[0])?)))
}

pub(super) fn install(it: &mut Interp) {
    char_cmps!(it;
        "char=?", false, ==; "char<?", false, <; "char>?", false, >; "char<=?", false, <=; "char>=?", false, >=;
        "char-ci=?", true, ==; "char-ci<?", true, <; "char-ci>?", true, >; "char-ci<=?", true, <=; "char-ci>=?", true, >=;
    );
    plain(it, "char->integer", 1, Some(1), |it, a| {
        Ok(Value::new(V::Int(
            char_arg(it, "char->integer", a[0])? as i64
        )))
    });
    plain(it, "integer->char", 1, Some(1), |it, a| {
        let i = int_arg(it, "integer->char", a[0])?;
        u32::try_from(i)
            .ok()
            .and_then(char::from_u32)
            .map(|c| Value::new(V::Char(c)))
            .ok_or_else(|| {
                err(ErrorKind::Range, "integer->char: not a Unicode code point")
                    .with_irritants(vec![i.to_string()])
                    .into()
            })
    });
    plain(it, "char-upcase", 1, Some(1), |it, a| {
        let c = char_arg(it, "char-upcase", a[0])?;
        Ok(Value::new(V::Char(c.to_uppercase().next().unwrap_or(c))))
    });
    plain(it, "char-downcase", 1, Some(1), |it, a| {
        Ok(Value::new(V::Char(fold_case(char_arg(
            it,
            "char-downcase",
            a[0],
        )?))))
    });
    plain(it, "char-foldcase", 1, Some(1), |it, a| {
        Ok(Value::new(V::Char(fold_case(char_arg(
            it,
            "char-foldcase",
            a[0],
        )?))))
    });
    plain(it, "char-alphabetic?", 1, Some(1), |it, a| {
        class(it, "char-alphabetic?", a, char::is_alphabetic)
    });
    plain(it, "char-numeric?", 1, Some(1), |it, a| {
        class(it, "char-numeric?", a, char::is_numeric)
    });
    plain(it, "char-whitespace?", 1, Some(1), |it, a| {
        class(it, "char-whitespace?", a, char::is_whitespace)
    });
    plain(it, "char-upper-case?", 1, Some(1), |it, a| {
        class(it, "char-upper-case?", a, char::is_uppercase)
    });
    plain(it, "char-lower-case?", 1, Some(1), |it, a| {
        class(it, "char-lower-case?", a, char::is_lowercase)
    });
    plain(it, "digit-value", 1, Some(1), |it, a| {
        let c = char_arg(it, "digit-value", a[0])?;
        Ok(c.to_digit(10)
            .map_or(Value::FALSE, |d| Value::new(V::Int(d as i64))))
    });
}
