//! xtlang macros: `bind-macro`, and their expansion in DSP definitions.
//!
//! As in Extempore, an xtlang macro is a Scheme macro under another name:
//! `(bind-macro "doc" (inc x n) `(set! ,x (+ ,x ,n)))` defines the Scheme macro
//! `xtmacro_inc`, and a DSP definition has every `(inc ...)` in it expanded by that
//! macro before it is compiled (so `inc` stays free for Scheme code). The docstring may
//! come first or after the name and arguments, or be left out. Quoted data is not
//! expanded; a DSP local variable does not hide a macro of the same name (as in
//! Extempore).

use zonal_scheme::{Datum, DatumKind, Error, ErrorKind, Interp, Value};

/// The prefix of the Scheme macro behind an xtlang macro.
const PREFIX: &str = "xtmacro_";

/// Registers `bind-macro`.
pub fn register(interp: &mut Interp) {
    interp.register_special_form("bind-macro", bind_macro);
}

/// `(bind-macro ["doc"] (name . args) ["doc"] body...)`.
fn bind_macro(interp: &mut Interp, form: &Datum) -> Result<Value, Error> {
    let at = |e: Error| match &form.pos {
        Some(p) => e.at(p.clone()),
        None => e,
    };
    let usage = || {
        at(Error::new(
            ErrorKind::Syntax,
            "bind-macro takes a name with its arguments and a body: \
             (bind-macro \"docstring\" (inc x n) `(set! ,x (+ ,x ,n)))",
        ))
    };
    let items = form.as_list().ok_or_else(usage)?;
    let is_doc = |d: &Datum| matches!(d.kind, DatumKind::Str(_));
    let mut rest = &items[1..];
    if rest.first().is_some_and(is_doc) {
        rest = &rest[1..];
    }
    let Some((head, mut body)) = rest.split_first() else {
        return Err(usage());
    };
    if body.len() > 1 && is_doc(&body[0]) {
        body = &body[1..];
    }
    let (name, params) = match &head.kind {
        DatumKind::List(parts) => {
            let args = match &parts[1..] {
                [] => DatumKind::Nil,
                args => DatumKind::List(args.to_vec()),
            };
            (parts.first(), Datum::new(args, head.pos.clone()))
        }
        DatumKind::Dotted(parts, tail) => (
            parts.first(),
            Datum::new(
                DatumKind::Dotted(parts[1..].to_vec(), tail.clone()),
                head.pos.clone(),
            ),
        ),
        _ => (None, Datum::new(DatumKind::Nil, None)),
    };
    let Some(name) = name.and_then(Datum::as_sym) else {
        return Err(usage());
    };
    if body.is_empty() {
        return Err(usage());
    }
    let sym = |s: &str| Datum::new(DatumKind::Sym(s.into()), form.pos.clone());
    let signature = cons(sym(&format!("{PREFIX}{name}")), params);
    let mut define = vec![sym("define-macro"), signature];
    define.extend(body.iter().cloned());
    interp.eval_datum(&Datum::new(DatumKind::List(define), form.pos.clone()))?;
    Ok(interp.symbol(name))
}

/// `(head . rest)` where `rest` is a list, a dotted list or `()`.
fn cons(head: Datum, rest: Datum) -> Datum {
    let pos = rest.pos.clone();
    let kind = match rest.kind {
        DatumKind::Nil => DatumKind::List(vec![head]),
        DatumKind::List(mut items) => {
            items.insert(0, head);
            DatumKind::List(items)
        }
        DatumKind::Dotted(mut items, tail) => {
            items.insert(0, head);
            DatumKind::Dotted(items, tail)
        }
        other => DatumKind::Dotted(vec![head], Box::new(Datum::new(other, pos.clone()))),
    };
    Datum::new(kind, pos)
}

/// `d` with every use of an xtlang macro in it expanded (outside quoted data).
pub fn expand(interp: &mut Interp, d: &Datum) -> Result<Datum, Error> {
    let DatumKind::List(items) = &d.kind else {
        return Ok(d.clone());
    };
    match items.first().and_then(Datum::as_sym) {
        Some("quote") => return Ok(d.clone()),
        Some(head) if interp.is_macro(&format!("{PREFIX}{head}")) => {
            let mut call = items.clone();
            call[0] = Datum::new(
                DatumKind::Sym(format!("{PREFIX}{head}")),
                items[0].pos.clone(),
            );
            let call = Datum::new(DatumKind::List(call), d.pos.clone());
            if let Some(expanded) = interp.expand_macro_use(&call)? {
                return expand(interp, &expanded);
            }
        }
        _ => {}
    }
    let head = items.first().and_then(Datum::as_sym);
    let items = items
        .iter()
        .enumerate()
        .map(|(i, x)| match (head, i) {
            // a lambda's parameters and a let's names are no macro uses: `(let ((inc
            // 1)) ...)` binds a variable named inc, base.xtm's macro notwithstanding
            (Some("lambda"), 1) => Ok(x.clone()),
            (Some("let" | "let*" | "letrec" | "letz"), 1) => bindings(interp, x),
            _ => expand(interp, x),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Datum::new(DatumKind::List(items), d.pos.clone()))
}

/// A let's bindings with the macro uses in their values expanded, their names kept.
fn bindings(interp: &mut Interp, d: &Datum) -> Result<Datum, Error> {
    let DatumKind::List(items) = &d.kind else {
        return expand(interp, d);
    };
    let items = items
        .iter()
        .map(|b| match &b.kind {
            DatumKind::List(parts) if parts.first().and_then(Datum::as_sym).is_some() => {
                let mut kept = vec![parts[0].clone()];
                for v in &parts[1..] {
                    kept.push(expand(interp, v)?);
                }
                Ok(Datum::new(DatumKind::List(kept), b.pos.clone()))
            }
            _ => expand(interp, b),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Datum::new(DatumKind::List(items), d.pos.clone()))
}
