//! `syntax-rules` macros: pattern matching with literals, `_` and ellipsis (also
//! nested, and followed by more patterns), and template expansion.
//!
//! Hygiene is partial: variables that a template binds itself (with `let`, `let*`,
//! `letrec`, `lambda` or `do`) are renamed at each expansion so they cannot capture
//! the user's variables; other template symbols are inserted as written.

use std::collections::HashMap;

use crate::datum::{Datum, DatumKind};
use crate::desugar::syntax_err;
use crate::error::Error;
use crate::interp::Interp;

pub(crate) struct Rules {
    ellipsis: String,
    literals: Vec<String>,
    rules: Vec<(Datum, Datum)>,
}

#[derive(Clone, Debug)]
enum Binding {
    One(Datum),
    Many(Vec<Binding>),
}

type Env = HashMap<String, Binding>;

impl Rules {
    pub(crate) fn parse(spec: &Datum, _it: &mut Interp) -> Result<Rules, Error> {
        let bad = || {
            syntax_err(
                &spec.pos,
                "expected (syntax-rules (literal ...) (pattern template) ...)",
            )
        };
        let items = spec.as_list().ok_or_else(bad)?;
        if items.first().and_then(Datum::as_sym) != Some("syntax-rules") || items.len() < 2 {
            return Err(bad());
        }
        let (ellipsis, rest) = match items[1].as_sym() {
            Some(e) => (e.to_string(), &items[2..]),
            None => ("...".to_string(), &items[1..]),
        };
        let lits = rest.first().and_then(Datum::as_list).ok_or_else(bad)?;
        let literals = lits
            .iter()
            .filter_map(|l| l.as_sym().map(str::to_string))
            .collect();
        let mut rules = Vec::new();
        for r in &rest[1..] {
            match r.as_list() {
                Some([p, t]) => rules.push((p.clone(), t.clone())),
                _ => {
                    return Err(syntax_err(
                        &r.pos,
                        "a syntax rule looks like (pattern template)",
                    ));
                }
            }
        }
        Ok(Rules {
            ellipsis,
            literals,
            rules,
        })
    }

    pub(crate) fn expand(&self, form: &Datum, it: &mut Interp) -> Result<Datum, Error> {
        for (pattern, template) in &self.rules {
            let mut env = Env::new();
            // the keyword position is ignored
            let ok = match (pattern.as_list(), form.as_list()) {
                (Some(p), Some(f)) if !p.is_empty() && !f.is_empty() => {
                    self.match_seq(&p[1..], None, &f[1..], None, &mut env)
                }
                _ => match (&pattern.kind, &form.kind) {
                    (DatumKind::Dotted(p, pt), DatumKind::List(f)) => {
                        self.match_seq(&p[1..], Some(pt), &f[1..], None, &mut env)
                    }
                    (DatumKind::Dotted(p, pt), DatumKind::Dotted(f, ft)) => {
                        self.match_seq(&p[1..], Some(pt), &f[1..], Some(ft), &mut env)
                    }
                    _ => false,
                },
            };
            if ok {
                let mut renames = HashMap::new();
                self.collect_binders(template, &env, &mut renames, it);
                return self.instantiate(template, &env, &renames, &form.pos);
            }
        }
        let name = form
            .as_list()
            .and_then(|l| l.first())
            .and_then(Datum::as_sym)
            .unwrap_or("macro");
        Err(syntax_err(
            &form.pos,
            format!("no syntax rule of {name} matches this use"),
        ))
    }

    fn is_ellipsis(&self, d: &Datum) -> bool {
        d.as_sym() == Some(self.ellipsis.as_str())
    }

    fn match_one(&self, p: &Datum, f: &Datum, env: &mut Env) -> bool {
        match &p.kind {
            DatumKind::Sym(s) => {
                if s == "_" {
                    true
                } else if self.literals.contains(s) {
                    f.as_sym() == Some(s.as_str())
                } else {
                    env.insert(s.clone(), Binding::One(f.clone()));
                    true
                }
            }
            DatumKind::List(ps) => match &f.kind {
                DatumKind::List(fs) => self.match_seq(ps, None, fs, None, env),
                DatumKind::Dotted(fs, ft) => self.match_seq(ps, None, fs, Some(ft), env),
                DatumKind::Nil => self.match_seq(ps, None, &[], None, env),
                _ => false,
            },
            DatumKind::Nil => matches!(f.kind, DatumKind::Nil),
            DatumKind::Dotted(ps, pt) => match &f.kind {
                DatumKind::List(fs) => self.match_seq(ps, Some(pt), fs, None, env),
                DatumKind::Dotted(fs, ft) => self.match_seq(ps, Some(pt), fs, Some(ft), env),
                DatumKind::Nil => self.match_seq(ps, Some(pt), &[], None, env),
                _ => false,
            },
            DatumKind::Vector(ps) => match &f.kind {
                DatumKind::Vector(fs) => self.match_seq(ps, None, fs, None, env),
                _ => false,
            },
            _ => datum_eq(p, f),
        }
    }

    fn match_seq(
        &self,
        ps: &[Datum],
        ptail: Option<&Datum>,
        fs: &[Datum],
        ftail: Option<&Datum>,
        env: &mut Env,
    ) -> bool {
        if let Some(ei) = ps.iter().position(|p| self.is_ellipsis(p)) {
            if ei == 0 {
                return false;
            }
            let before = &ps[..ei - 1];
            let repeated = &ps[ei - 1];
            let after = &ps[ei + 1..];
            if fs.len() < before.len() + after.len() {
                return false;
            }
            for (p, f) in before.iter().zip(fs) {
                if !self.match_one(p, f, env) {
                    return false;
                }
            }
            let rep_end = fs.len() - after.len();
            let mut runs = Vec::new();
            for f in &fs[before.len()..rep_end] {
                let mut sub = Env::new();
                if !self.match_one(repeated, f, &mut sub) {
                    return false;
                }
                runs.push(sub);
            }
            for v in pattern_vars(repeated, self) {
                let items = runs
                    .iter()
                    .map(|r| r.get(&v).cloned().unwrap_or(Binding::Many(Vec::new())))
                    .collect();
                env.insert(v, Binding::Many(items));
            }
            for (p, f) in after.iter().zip(&fs[rep_end..]) {
                if !self.match_one(p, f, env) {
                    return false;
                }
            }
            return match (ptail, ftail) {
                (None, None) => true,
                (Some(pt), None) => self.match_one(pt, &Datum::new(DatumKind::Nil, None), env),
                (Some(pt), Some(ft)) => self.match_one(pt, ft, env),
                (None, Some(_)) => false,
            };
        }
        match ptail {
            None => {
                if ftail.is_some() || fs.len() != ps.len() {
                    return false;
                }
                ps.iter().zip(fs).all(|(p, f)| self.match_one(p, f, env))
            }
            Some(pt) => {
                if fs.len() < ps.len() {
                    return false;
                }
                if !ps.iter().zip(fs).all(|(p, f)| self.match_one(p, f, env)) {
                    return false;
                }
                let rest = &fs[ps.len()..];
                let tail = match ftail {
                    Some(ft) if rest.is_empty() => ft.clone(),
                    Some(ft) => {
                        Datum::new(DatumKind::Dotted(rest.to_vec(), Box::new(ft.clone())), None)
                    }
                    None => Datum::list(rest.to_vec(), None),
                };
                self.match_one(pt, &tail, env)
            }
        }
    }

    /// Finds variables the template binds itself, to be renamed.
    fn collect_binders(
        &self,
        t: &Datum,
        env: &Env,
        out: &mut HashMap<String, String>,
        it: &mut Interp,
    ) {
        let Some(items) = t.as_list() else { return };
        let add = |d: &Datum, out: &mut HashMap<String, String>, it: &mut Interp| {
            if let Some(s) = d.as_sym()
                && !env.contains_key(s)
                && s != self.ellipsis
                && !out.contains_key(s)
            {
                it.gensym_count += 1;
                out.insert(s.to_string(), format!("{s}~{}", it.gensym_count));
            }
        };
        match items.first().and_then(Datum::as_sym) {
            Some("let" | "let*" | "letrec" | "letrec*" | "do") => {
                let mut bi = 1;
                if let Some(name) = items.get(1).filter(|d| d.as_sym().is_some()) {
                    add(name, out, it);
                    bi = 2;
                }
                if let Some(binds) = items.get(bi).and_then(Datum::as_list) {
                    for b in binds {
                        if let Some(first) = b.as_list().and_then(|l| l.first()) {
                            add(first, out, it);
                        }
                    }
                }
            }
            Some("lambda") => match items.get(1).map(|p| &p.kind) {
                Some(DatumKind::List(ps)) => ps.iter().for_each(|p| add(p, out, it)),
                Some(DatumKind::Dotted(ps, tail)) => {
                    ps.iter().for_each(|p| add(p, out, it));
                    add(tail, out, it);
                }
                Some(DatumKind::Sym(_)) => add(&items[1], out, it),
                _ => {}
            },
            _ => {}
        }
        for i in items {
            self.collect_binders(i, env, out, it);
        }
    }

    fn instantiate(
        &self,
        t: &Datum,
        env: &Env,
        renames: &HashMap<String, String>,
        pos: &Option<crate::Pos>,
    ) -> Result<Datum, Error> {
        let p = t.pos.clone().or_else(|| pos.clone());
        match &t.kind {
            DatumKind::Sym(s) => Ok(match env.get(s) {
                Some(Binding::One(d)) => d.clone(),
                Some(Binding::Many(_)) => {
                    return Err(syntax_err(
                        &t.pos,
                        format!("{s} is used without its ellipsis"),
                    ));
                }
                None => match renames.get(s) {
                    Some(r) => Datum::sym(r, p),
                    None => t.clone(),
                },
            }),
            DatumKind::List(items) => {
                if items.len() == 2 && self.is_ellipsis(&items[0]) {
                    // (... ...) escapes the ellipsis
                    return Ok(items[1].clone());
                }
                let out = self.instantiate_seq(items, env, renames, pos)?;
                Ok(Datum::list(out, p))
            }
            DatumKind::Dotted(items, tail) => {
                let mut out = self.instantiate_seq(items, env, renames, pos)?;
                let tail = self.instantiate(tail, env, renames, pos)?;
                Ok(match tail.kind {
                    DatumKind::Nil => Datum::list(out, p),
                    DatumKind::List(rest) => {
                        out.extend(rest);
                        Datum::list(out, p)
                    }
                    other => Datum::new(
                        DatumKind::Dotted(out, Box::new(Datum::new(other, tail.pos))),
                        p,
                    ),
                })
            }
            DatumKind::Vector(items) => Ok(Datum::new(
                DatumKind::Vector(self.instantiate_seq(items, env, renames, pos)?),
                p,
            )),
            _ => Ok(t.clone()),
        }
    }

    fn instantiate_seq(
        &self,
        items: &[Datum],
        env: &Env,
        renames: &HashMap<String, String>,
        pos: &Option<crate::Pos>,
    ) -> Result<Vec<Datum>, Error> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < items.len() {
            let item = &items[i];
            let mut depth = 0;
            while items
                .get(i + 1 + depth)
                .is_some_and(|d| self.is_ellipsis(d))
            {
                depth += 1;
            }
            if depth == 0 {
                out.push(self.instantiate(item, env, renames, pos)?);
            } else {
                let mut results = vec![(env.clone(), item.clone())];
                for _ in 0..depth {
                    let mut next = Vec::new();
                    for (e, _) in &results {
                        next.extend(self.spread(item, e)?);
                    }
                    results = next.into_iter().map(|e| (e, item.clone())).collect();
                }
                for (e, t) in results {
                    out.push(self.instantiate(&t, &e, renames, pos)?);
                }
            }
            i += 1 + depth;
        }
        Ok(out)
    }

    /// One environment per repetition of the ellipsis variables used in `t`.
    fn spread(&self, t: &Datum, env: &Env) -> Result<Vec<Env>, Error> {
        let vars: Vec<String> = template_syms(t)
            .into_iter()
            .filter(|v| matches!(env.get(v), Some(Binding::Many(_))))
            .collect();
        if vars.is_empty() {
            return Err(syntax_err(
                &t.pos,
                "an ellipsis follows a template without pattern variables",
            ));
        }
        let mut len = None;
        for v in &vars {
            if let Some(Binding::Many(items)) = env.get(v) {
                match len {
                    None => len = Some(items.len()),
                    Some(l) if l != items.len() => {
                        return Err(syntax_err(
                            &t.pos,
                            "ellipsis variables repeat a different number of times",
                        ));
                    }
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        for k in 0..len.unwrap_or(0) {
            let mut e = env.clone();
            for v in &vars {
                if let Some(Binding::Many(items)) = env.get(v) {
                    e.insert(v.clone(), items[k].clone());
                }
            }
            out.push(e);
        }
        Ok(out)
    }
}

fn pattern_vars(p: &Datum, r: &Rules) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(p: &Datum, r: &Rules, out: &mut Vec<String>) {
        match &p.kind {
            DatumKind::Sym(s) if s != "_" && *s != r.ellipsis && !r.literals.contains(s) => {
                out.push(s.clone())
            }
            DatumKind::List(items) | DatumKind::Vector(items) => {
                items.iter().for_each(|i| walk(i, r, out))
            }
            DatumKind::Dotted(items, tail) => {
                items.iter().for_each(|i| walk(i, r, out));
                walk(tail, r, out);
            }
            _ => {}
        }
    }
    walk(p, r, &mut out);
    out
}

fn template_syms(t: &Datum) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(t: &Datum, out: &mut Vec<String>) {
        match &t.kind {
            DatumKind::Sym(s) => out.push(s.clone()),
            DatumKind::List(items) | DatumKind::Vector(items) => {
                items.iter().for_each(|i| walk(i, out))
            }
            DatumKind::Dotted(items, tail) => {
                items.iter().for_each(|i| walk(i, out));
                walk(tail, out);
            }
            _ => {}
        }
    }
    walk(t, &mut out);
    out
}

/// Equality of literal data in patterns (positions ignored).
fn datum_eq(a: &Datum, b: &Datum) -> bool {
    match (&a.kind, &b.kind) {
        (DatumKind::List(x), DatumKind::List(y)) | (DatumKind::Vector(x), DatumKind::Vector(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| datum_eq(p, q))
        }
        (DatumKind::Dotted(x, xt), DatumKind::Dotted(y, yt)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| datum_eq(p, q)) && datum_eq(xt, yt)
        }
        (x, y) => x == y,
    }
}
