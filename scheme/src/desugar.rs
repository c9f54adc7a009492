//! Datum-to-datum rewrites of derived syntax into the core forms the compiler
//! knows: `let*`, named `let`, `do`, quasiquote, `guard`, `define-record-type`,
//! `case-lambda`, the `values` binding forms, `parameterize`, curried `define`.
//!
//! Rewrites call hidden procedures whose names contain a space (` qq-cons`), which no
//! program can type, so redefining `cons` or `list` cannot break them.

use crate::datum::{Datum, DatumKind};
use crate::error::{Error, ErrorKind, Pos};

type P = Option<Pos>;

pub(crate) fn syntax_err(pos: &P, msg: impl Into<String>) -> Error {
    let e = Error::new(ErrorKind::Syntax, msg);
    match pos {
        Some(p) => e.at(p.clone()),
        None => e,
    }
}

pub(crate) fn sym(name: &str, pos: &P) -> Datum {
    Datum::sym(name, pos.clone())
}

pub(crate) fn list(items: Vec<Datum>, pos: &P) -> Datum {
    Datum::list(items, pos.clone())
}

fn dotted(items: Vec<Datum>, tail: Datum, pos: &P) -> Datum {
    if items.is_empty() {
        return tail;
    }
    match tail.kind {
        DatumKind::Nil => list(items, pos),
        DatumKind::List(rest) => {
            let mut all = items;
            all.extend(rest);
            list(all, pos)
        }
        _ => Datum::new(DatumKind::Dotted(items, Box::new(tail)), pos.clone()),
    }
}

fn quoted(d: Datum, pos: &P) -> Datum {
    list(vec![sym("quote", pos), d], pos)
}

/// How many bindings `let*` may have (each one nests a `let`).
const MAX_LET_STAR_BINDINGS: usize = 1000;

/// `(let* ((a 1) (b a)) body...)` as nested `let`s.
pub(crate) fn let_star(bindings: &[Datum], body: &[Datum], pos: &P) -> Result<Datum, Error> {
    if bindings.len() > MAX_LET_STAR_BINDINGS {
        return Err(syntax_err(
            pos,
            format!("let* has more than {MAX_LET_STAR_BINDINGS} bindings"),
        ));
    }
    let mut items = vec![sym("let", pos), Datum::new(DatumKind::Nil, pos.clone())];
    items.extend_from_slice(body);
    let mut inner = list(items, pos);
    for b in bindings.iter().rev() {
        inner = list(
            vec![sym("let", pos), list(vec![b.clone()], pos), inner],
            pos,
        );
    }
    Ok(inner)
}

/// Splits `((v init) ...)` into names and inits.
pub(crate) fn bindings(d: &Datum, what: &str) -> Result<(Vec<Datum>, Vec<Datum>), Error> {
    let Some(items) = d.as_list() else {
        return Err(syntax_err(
            &d.pos,
            format!("{what} wants a list of (name value) bindings"),
        ));
    };
    let mut names = Vec::new();
    let mut inits = Vec::new();
    for b in items {
        match b.as_list() {
            Some([n, v]) if n.as_sym().is_some() => {
                names.push(n.clone());
                inits.push(v.clone());
            }
            _ => {
                return Err(syntax_err(
                    &b.pos,
                    format!("{what}: each binding must look like (name value)"),
                ));
            }
        }
    }
    Ok((names, inits))
}

/// `(let name ((v i) ...) body...)` as `((letrec ((name (lambda (v ...) body...))) name) i ...)`.
pub(crate) fn named_let(
    name: &Datum,
    binds: &Datum,
    body: &[Datum],
    pos: &P,
) -> Result<Datum, Error> {
    let (names, inits) = bindings(binds, "named let")?;
    let mut lam = vec![sym("lambda", pos), list(names, pos)];
    lam.extend_from_slice(body);
    let letrec = list(
        vec![
            sym("letrec", pos),
            list(vec![list(vec![name.clone(), list(lam, pos)], pos)], pos),
            name.clone(),
        ],
        pos,
    );
    let mut call = vec![letrec];
    call.extend(inits);
    Ok(list(call, pos))
}

/// `(do ((var init step)...) (test res...) body...)` as a named let.
pub(crate) fn do_loop(form: &[Datum], pos: &P) -> Result<Datum, Error> {
    let (Some(specs), Some(end)) = (
        form.get(1).and_then(Datum::as_list),
        form.get(2).and_then(Datum::as_list),
    ) else {
        return Err(syntax_err(
            pos,
            "do wants ((var init step) ...) (test result ...) body ...",
        ));
    };
    let Some((test, results)) = end.split_first() else {
        return Err(syntax_err(pos, "do wants a (test result ...) clause"));
    };
    let lp = sym(" do-loop", pos);
    let mut binds = Vec::new();
    let mut steps = Vec::new();
    for s in specs {
        match s.as_list() {
            Some([v, init]) if v.as_sym().is_some() => {
                binds.push(list(vec![v.clone(), init.clone()], &s.pos));
                steps.push(v.clone());
            }
            Some([v, init, step]) if v.as_sym().is_some() => {
                binds.push(list(vec![v.clone(), init.clone()], &s.pos));
                steps.push(step.clone());
            }
            _ => {
                return Err(syntax_err(
                    &s.pos,
                    "do: each variable must look like (var init step)",
                ));
            }
        }
    }
    let mut again = vec![sym("begin", pos)];
    again.extend_from_slice(&form[3..]);
    let mut recur = vec![lp.clone()];
    recur.extend(steps);
    again.push(list(recur, pos));
    let mut done = vec![sym("begin", pos)];
    if results.is_empty() {
        done.push(list(vec![sym(" unspecified", pos)], pos));
    } else {
        done.extend_from_slice(results);
    }
    let body = list(
        vec![
            sym("if", pos),
            test.clone(),
            list(done, pos),
            list(again, pos),
        ],
        pos,
    );
    named_let(&lp, &list(binds, pos), &[body], pos)
}

/// Quasiquote at nesting `depth` (1 for the outermost).
pub(crate) fn quasi(d: &Datum, depth: usize) -> Result<Datum, Error> {
    let pos = &d.pos;
    match &d.kind {
        DatumKind::List(items) => {
            if let Some(crate::reader::DATUM_LABEL | crate::reader::DATUM_REF) = items[0].as_sym() {
                return Err(syntax_err(
                    pos,
                    "datum labels (#0= and #0#) cannot be used inside a quasiquote; quote the data instead",
                ));
            }
            if let (Some(head), 2) = (items[0].as_sym(), items.len()) {
                match head {
                    "unquote" if depth == 1 => return Ok(items[1].clone()),
                    "unquote" | "unquote-splicing" => {
                        return Ok(list(
                            vec![
                                sym(" qq-list", pos),
                                quoted(items[0].clone(), pos),
                                quasi(&items[1], depth - 1)?,
                            ],
                            pos,
                        ));
                    }
                    "quasiquote" => {
                        return Ok(list(
                            vec![
                                sym(" qq-list", pos),
                                quoted(items[0].clone(), pos),
                                quasi(&items[1], depth + 1)?,
                            ],
                            pos,
                        ));
                    }
                    _ => {}
                }
            }
            quasi_items(items, None, depth, pos)
        }
        DatumKind::Dotted(items, tail) => quasi_items(items, Some(tail), depth, pos),
        DatumKind::Vector(items) => {
            let l = quasi_items(items, None, depth, pos)?;
            Ok(list(vec![sym(" qq-list->vector", pos), l], pos))
        }
        DatumKind::Sym(_) | DatumKind::Nil => Ok(quoted(d.clone(), pos)),
        _ => Ok(d.clone()),
    }
}

fn quasi_items(
    items: &[Datum],
    tail: Option<&Datum>,
    depth: usize,
    pos: &P,
) -> Result<Datum, Error> {
    // `(a . ,b)` reads as (a unquote b): an unquote in tail position
    let (items, tail) = match tail {
        Some(t) => (items, quasi(t, depth)?),
        None => {
            let n = items.len();
            if n >= 3 && items[n - 2].as_sym() == Some("unquote") && depth == 1 {
                (&items[..n - 2], items[n - 1].clone())
            } else {
                (items, quoted(Datum::new(DatumKind::Nil, pos.clone()), pos))
            }
        }
    };
    // runs of plain items become one (list ...), splices are spliced: the result is
    // one flat (append ...) however long the list
    let mut parts = vec![sym(" qq-append", pos)];
    let mut run = vec![sym(" qq-list", pos)];
    for item in items {
        if let Some([h, inner]) = item.as_list()
            && h.as_sym() == Some("unquote-splicing")
            && depth == 1
        {
            if run.len() > 1 {
                parts.push(list(
                    std::mem::replace(&mut run, vec![sym(" qq-list", pos)]),
                    pos,
                ));
            }
            parts.push(inner.clone());
            continue;
        }
        run.push(quasi(item, depth)?);
    }
    if run.len() > 1 {
        parts.push(list(run, pos));
    }
    parts.push(tail);
    Ok(list(parts, pos))
}

/// `(guard (e clause...) body...)` as a call of the hidden ` guard` procedure.
pub(crate) fn guard(form: &[Datum], pos: &P) -> Result<Datum, Error> {
    let Some(spec) = form.get(1).and_then(Datum::as_list) else {
        return Err(syntax_err(
            pos,
            "guard wants (variable clause ...) then a body",
        ));
    };
    let Some((var, clauses)) = spec.split_first() else {
        return Err(syntax_err(
            pos,
            "guard wants (variable clause ...) then a body",
        ));
    };
    if var.as_sym().is_none() {
        return Err(syntax_err(
            &var.pos,
            "guard wants a variable name for the condition",
        ));
    }
    let has_else = clauses
        .last()
        .and_then(Datum::as_list)
        .and_then(|c| c.first())
        .and_then(Datum::as_sym)
        == Some("else");
    let mut cond = vec![sym("cond", pos)];
    cond.extend_from_slice(clauses);
    if !has_else {
        cond.push(list(
            vec![
                sym("else", pos),
                list(vec![sym(" guard-reraise", pos)], pos),
            ],
            pos,
        ));
    }
    let mut thunk = vec![sym("lambda", pos), Datum::new(DatumKind::Nil, pos.clone())];
    thunk.extend_from_slice(&form[2..]);
    let handler = list(
        vec![
            sym("lambda", pos),
            list(vec![var.clone()], pos),
            list(cond, pos),
        ],
        pos,
    );
    Ok(list(
        vec![sym(" guard", pos), list(thunk, pos), handler],
        pos,
    ))
}

/// `define-record-type` as a `begin` of definitions.
pub(crate) fn record_type(form: &[Datum], pos: &P) -> Result<Datum, Error> {
    let bad = || {
        syntax_err(
            pos,
            "define-record-type wants a type name, (constructor field ...), a predicate and field specs",
        )
    };
    if form.len() < 3 {
        return Err(bad());
    }
    let type_name = match &form[1].kind {
        DatumKind::Sym(_) => form[1].clone(),
        DatumKind::List(items) if items[0].as_sym().is_some() => items[0].clone(),
        _ => return Err(bad()),
    };
    let mut fields = Vec::new();
    for spec in &form[4.min(form.len())..] {
        match spec.as_list() {
            Some([f, ..]) if f.as_sym().is_some() => fields.push(f.clone()),
            _ => match spec.as_sym() {
                Some(_) => fields.push(spec.clone()),
                None => {
                    return Err(syntax_err(
                        &spec.pos,
                        "a record field spec looks like (field accessor [modifier])",
                    ));
                }
            },
        }
    }
    let field_index = |name: &str| fields.iter().position(|f| f.as_sym() == Some(name));
    let mut out = vec![sym("begin", pos)];
    let tname = type_name
        .as_sym()
        .unwrap_or("record")
        .trim_matches(['<', '>'])
        .to_string();
    out.push(list(
        vec![
            sym("define", pos),
            type_name.clone(),
            list(
                vec![
                    sym(" make-record-type", pos),
                    quoted(sym(&tname, pos), pos),
                    quoted(list(fields.clone(), pos), pos),
                ],
                pos,
            ),
        ],
        pos,
    ));
    match &form[2].kind {
        DatumKind::List(ctor) => {
            let cname = ctor[0].clone();
            let args: Vec<Datum> = ctor[1..].to_vec();
            for a in &args {
                if a.as_sym().and_then(field_index).is_none() {
                    return Err(syntax_err(
                        &a.pos,
                        "a constructor argument must be one of the record's fields",
                    ));
                }
            }
            let mut make = vec![sym(" make-record", pos), type_name.clone()];
            for f in &fields {
                let given = args.iter().any(|a| a.as_sym() == f.as_sym());
                make.push(if given {
                    f.clone()
                } else {
                    Datum::new(DatumKind::Bool(false), pos.clone())
                });
            }
            out.push(list(
                vec![
                    sym("define", pos),
                    cname,
                    list(
                        vec![sym("lambda", pos), list(args, pos), list(make, pos)],
                        pos,
                    ),
                ],
                pos,
            ));
        }
        DatumKind::Sym(_) => {
            let mut make = vec![sym(" make-record", pos), type_name.clone()];
            let names: Vec<Datum> = fields.clone();
            make.extend(fields.iter().cloned());
            out.push(list(
                vec![
                    sym("define", pos),
                    form[2].clone(),
                    list(
                        vec![sym("lambda", pos), list(names, pos), list(make, pos)],
                        pos,
                    ),
                ],
                pos,
            ));
        }
        DatumKind::Bool(false) => {}
        _ => return Err(bad()),
    }
    if let Some(pred) = form.get(3).filter(|p| p.as_sym().is_some()) {
        let o = sym(" obj", pos);
        out.push(list(
            vec![
                sym("define", pos),
                pred.clone(),
                list(
                    vec![
                        sym("lambda", pos),
                        list(vec![o.clone()], pos),
                        list(vec![sym(" record?", pos), o, type_name.clone()], pos),
                    ],
                    pos,
                ),
            ],
            pos,
        ));
    }
    for spec in &form[4.min(form.len())..] {
        let Some(parts) = spec.as_list() else {
            continue;
        };
        let Some(i) = parts.first().and_then(Datum::as_sym).and_then(field_index) else {
            continue;
        };
        let idx = Datum::new(DatumKind::Int(i as i64), pos.clone());
        let o = sym(" obj", pos);
        let v = sym(" val", pos);
        if let Some(getter) = parts.get(1) {
            out.push(list(
                vec![
                    sym("define", pos),
                    getter.clone(),
                    list(
                        vec![
                            sym("lambda", pos),
                            list(vec![o.clone()], pos),
                            list(
                                vec![
                                    sym(" record-ref", pos),
                                    o.clone(),
                                    type_name.clone(),
                                    idx.clone(),
                                    quoted(getter.clone(), pos),
                                ],
                                pos,
                            ),
                        ],
                        pos,
                    ),
                ],
                pos,
            ));
        }
        if let Some(setter) = parts.get(2) {
            out.push(list(
                vec![
                    sym("define", pos),
                    setter.clone(),
                    list(
                        vec![
                            sym("lambda", pos),
                            list(vec![o.clone(), v.clone()], pos),
                            list(
                                vec![
                                    sym(" record-set!", pos),
                                    o,
                                    type_name.clone(),
                                    idx,
                                    v,
                                    quoted(setter.clone(), pos),
                                ],
                                pos,
                            ),
                        ],
                        pos,
                    ),
                ],
                pos,
            ));
        }
    }
    Ok(list(out, pos))
}

/// `(case-lambda (formals body...) ...)` as one variadic lambda that dispatches on the count.
pub(crate) fn case_lambda(form: &[Datum], pos: &P) -> Result<Datum, Error> {
    let args = sym(" args", pos);
    let n = sym(" n", pos);
    let mut cond = vec![sym("cond", pos)];
    for clause in &form[1..] {
        let Some((formals, body)) = clause.as_list().and_then(|c| c.split_first()) else {
            return Err(syntax_err(
                &clause.pos,
                "case-lambda clauses look like (formals body ...)",
            ));
        };
        let (required, rest) = match &formals.kind {
            DatumKind::Nil => (0, false),
            DatumKind::List(items) => (items.len(), false),
            DatumKind::Dotted(items, _) => (items.len(), true),
            DatumKind::Sym(_) => (0, true),
            _ => {
                return Err(syntax_err(
                    &formals.pos,
                    "case-lambda formals must be a list of names",
                ));
            }
        };
        let count = Datum::new(DatumKind::Int(required as i64), pos.clone());
        let test = list(
            vec![sym(if rest { " >=" } else { " =" }, pos), n.clone(), count],
            pos,
        );
        let mut lam = vec![sym("lambda", pos), formals.clone()];
        lam.extend_from_slice(body);
        cond.push(list(
            vec![
                test,
                list(vec![sym(" apply", pos), list(lam, pos), args.clone()], pos),
            ],
            pos,
        ));
    }
    cond.push(list(
        vec![
            sym("else", pos),
            list(
                vec![
                    sym(" arity-error", pos),
                    Datum::new(DatumKind::Str("case-lambda".into()), pos.clone()),
                    n.clone(),
                ],
                pos,
            ),
        ],
        pos,
    ));
    let body = list(
        vec![
            sym("let", pos),
            list(
                vec![list(
                    vec![n, list(vec![sym(" length", pos), args.clone()], pos)],
                    pos,
                )],
                pos,
            ),
            list(cond, pos),
        ],
        pos,
    );
    Ok(list(vec![sym("lambda", pos), args, body], pos))
}

/// `(receive formals expr body...)` and each `let-values` binding as `call-with-values`.
pub(crate) fn receive(formals: &Datum, expr: &Datum, body: Vec<Datum>, pos: &P) -> Datum {
    let producer = list(
        vec![
            sym("lambda", pos),
            Datum::new(DatumKind::Nil, pos.clone()),
            expr.clone(),
        ],
        pos,
    );
    let mut consumer = vec![sym("lambda", pos), formals.clone()];
    consumer.extend(body);
    list(
        vec![sym(" call-with-values", pos), producer, list(consumer, pos)],
        pos,
    )
}

/// `(let-values (((a b) expr) ...) body...)`.
pub(crate) fn let_values(form: &[Datum], pos: &P) -> Result<Datum, Error> {
    let Some(binds) = form.get(1).and_then(Datum::as_list) else {
        return Err(syntax_err(
            pos,
            "let-values wants (((name ...) expr) ...) then a body",
        ));
    };
    let mut body: Vec<Datum> = form[2..].to_vec();
    if binds.is_empty() {
        let mut items = vec![sym("let", pos), Datum::new(DatumKind::Nil, pos.clone())];
        items.extend(body);
        return Ok(list(items, pos));
    }
    for b in binds.iter().rev() {
        let Some([formals, expr]) = b.as_list() else {
            return Err(syntax_err(
                &b.pos,
                "let-values bindings look like ((name ...) expr)",
            ));
        };
        body = vec![receive(formals, expr, body, pos)];
    }
    Ok(body.remove(0))
}

/// `(define-values (a b . c) expr)` as definitions then one `call-with-values`.
pub(crate) fn define_values(form: &[Datum], pos: &P) -> Result<Datum, Error> {
    let [_, formals, expr] = form else {
        return Err(syntax_err(
            pos,
            "define-values wants (name ...) and an expression",
        ));
    };
    let (names, rest): (Vec<Datum>, Option<Datum>) = match &formals.kind {
        DatumKind::Nil => (Vec::new(), None),
        DatumKind::List(items) => (items.clone(), None),
        DatumKind::Dotted(items, tail) => (items.clone(), Some((**tail).clone())),
        DatumKind::Sym(_) => (Vec::new(), Some(formals.clone())),
        _ => {
            return Err(syntax_err(
                &formals.pos,
                "define-values wants a list of names",
            ));
        }
    };
    let all: Vec<Datum> = names.iter().cloned().chain(rest.clone()).collect();
    let temps: Vec<Datum> = (0..all.len())
        .map(|i| sym(&format!(" dv{i}"), pos))
        .collect();
    let mut out = vec![sym("begin", pos)];
    for n in &all {
        out.push(list(vec![sym("define", pos), n.clone()], pos));
    }
    let temp_formals = match rest {
        Some(_) => {
            let (last, first) = temps
                .split_last()
                .map(|(l, f)| (l.clone(), f.to_vec()))
                .unwrap_or_else(|| (sym(" dv", pos), Vec::new()));
            dotted(first, last, pos)
        }
        None => list(temps.clone(), pos),
    };
    let sets: Vec<Datum> = all
        .iter()
        .zip(&temps)
        .map(|(n, t)| list(vec![sym("set!", pos), n.clone(), t.clone()], pos))
        .collect();
    out.push(receive(&temp_formals, expr, sets, pos));
    Ok(list(out, pos))
}

/// `(parameterize ((p v) ...) body...)` as a call of the hidden ` parameterize`.
pub(crate) fn parameterize(form: &[Datum], pos: &P) -> Result<Datum, Error> {
    let Some(binds) = form.get(1) else {
        return Err(syntax_err(
            pos,
            "parameterize wants ((parameter value) ...) then a body",
        ));
    };
    let (params, values) = bindings(binds, "parameterize")?;
    let mut thunk = vec![sym("lambda", pos), Datum::new(DatumKind::Nil, pos.clone())];
    thunk.extend_from_slice(&form[2..]);
    let mut ps = vec![sym(" qq-list", pos)];
    ps.extend(params);
    let mut vs = vec![sym(" qq-list", pos)];
    vs.extend(values);
    Ok(list(
        vec![
            sym(" parameterize", pos),
            list(ps, pos),
            list(vs, pos),
            list(thunk, pos),
        ],
        pos,
    ))
}

/// Normalises `(define (f . args) body...)` and curried `(define ((f a) b) ...)` to
/// `(name, value-expression)`.
pub(crate) fn define_parts(form: &[Datum], pos: &P) -> Result<(Datum, Datum), Error> {
    let Some(target) = form.get(1) else {
        return Err(syntax_err(pos, "define wants a name and a value"));
    };
    match &target.kind {
        DatumKind::Sym(_) => {
            let value = match form.len() {
                2 => list(vec![sym(" unspecified", pos)], pos),
                3 => form[2].clone(),
                _ => return Err(syntax_err(pos, "define of a variable takes a single value")),
            };
            Ok((target.clone(), value))
        }
        DatumKind::List(items) | DatumKind::Dotted(items, _) => {
            let name_part = items[0].clone();
            let params = match &target.kind {
                DatumKind::List(_) => list(items[1..].to_vec(), pos),
                DatumKind::Dotted(_, tail) => dotted(items[1..].to_vec(), (**tail).clone(), pos),
                _ => unreachable_params(),
            };
            if form.len() < 3 {
                return Err(syntax_err(pos, "a procedure definition needs a body"));
            }
            let mut lam = vec![sym("lambda", pos), params];
            lam.extend_from_slice(&form[2..]);
            let lam = list(lam, pos);
            if name_part.as_sym().is_some() {
                Ok((name_part, lam))
            } else {
                define_parts(&[sym("define", pos), name_part, lam], pos)
            }
        }
        _ => Err(syntax_err(
            &target.pos,
            "define wants a name or (name args ...)",
        )),
    }
}

fn unreachable_params() -> Datum {
    Datum::new(DatumKind::Nil, None)
}
