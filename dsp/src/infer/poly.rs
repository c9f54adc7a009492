//! Names with several definitions, in inference: overloads (bind-funcs of one name and
//! different types, `bind-poly`), generic templates (`bind-func f:[!a,!a]*`) and a type's
//! constructors.
//!
//! A call keeps the definitions whose arity fits. One left: its type (type variables made
//! fresh inference variables) types the call as any call would. Several: the arguments are
//! typed first and the call waits; whenever a waiting call has exactly one definition
//! whose type unifies with its arguments and result, that one is chosen. At the end of
//! the definition, a waiting call that the numbers' defaults would leave with no fitting
//! definition chooses by preference first, numeric literals take their defaults and
//! what still has several
//! fitting definitions takes, in order: the definition itself (a recursive call), the one
//! concrete definition, the generic with the fewest type variables; otherwise the call is
//! ambiguous, an error naming the call and its definitions. A generic chosen is an
//! [`Instance`]; when its signature leaves its result open (`[!a,Tree*]*`), the body of the
//! template, typed at the call's parameter types, gives it.

use super::{Cx, Kind, Ref};
use crate::error::{DspError, DspErrorKind, Result};
use crate::sexp::Span;
use crate::syntax::{Expr, type_err};
use crate::types::Type;
use std::collections::HashMap;

/// One definition of a name that has several.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Its type; a generic's holds type variables.
    pub ty: Type,
    pub target: Target,
}

/// What a candidate is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A compiled bind-func, by its registry name.
    Func(String),
    /// Generic template number `n` of the name (see [`crate::generic`]).
    Template(usize),
    /// The definition being inferred (a recursive call).
    Own,
}

/// A call of a generic template at a concrete type, compiled under `key` by the
/// monomorphisation stage ([`crate::mono`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub name: String,
    pub template: usize,
    pub ty: Type,
    pub key: String,
}

/// A use of a several-definition name waiting for its types.
pub(super) struct Pending {
    pub(super) id: usize,
    pub(super) name: String,
    pub(super) cands: Vec<Candidate>,
    /// The type the chosen definition must unify with (a closure type for a call).
    pub(super) want: Type,
    pub(super) span: Option<Span>,
    pub(super) what: String,
    /// A `(print x)`: when no definition fits, the builtin print (already recorded) prints.
    pub(super) or_builtin: bool,
}

impl Cx<'_> {
    /// An annotation's type for inference: each type variable (`!a`) of this definition
    /// is one inference variable throughout it.
    pub(super) fn inst(&mut self, t: &Type) -> Type {
        let mut map = std::mem::take(&mut self.params);
        let r = self.inst_with(t, &mut map);
        self.params = map;
        r
    }

    fn inst_with(&mut self, t: &Type, map: &mut HashMap<String, Type>) -> Type {
        if !t.has_params() {
            return t.clone();
        }
        let mut names = Vec::new();
        t.each_param(&mut |p| names.push(p.to_string()));
        for n in names {
            if let std::collections::hash_map::Entry::Vacant(slot) = map.entry(n) {
                slot.insert(self.fresh(Kind::Any));
            }
        }
        t.subst(map)
    }

    /// A candidate's type with fresh variables for its type variables.
    fn fresh_inst(&mut self, t: &Type) -> Type {
        self.inst_with(t, &mut HashMap::new())
    }

    /// The definitions `name` may mean, or `None` when it has one plain definition (or
    /// none): then it is an ordinary name.
    fn cands(&self, name: &str) -> Option<Vec<Candidate>> {
        let c = self.definitions(name, false);
        if name == self.self_name && c.len() == 1 {
            return None;
        }
        let generic = c.iter().any(|x| matches!(x.target, Target::Template(_)));
        (c.len() > 1 || generic).then_some(c)
    }

    /// Every definition of `name`, this one (a recursive call) included. When this
    /// definition is of `name`, the name's current definition is replaced if this one has
    /// its type (a call of it is a recursive call, which `Own` stands for), else it moves
    /// aside to `name:TYPE` ([`crate::generic::Generics::place`]), where a call finds
    /// it. While this definition's type is unknown, the current one is left out, unless
    /// `aside` keeps it under `name:TYPE` (the compiler makes such calls recursive if the
    /// types turn out the same).
    pub(super) fn definitions(&self, name: &str, aside: bool) -> Vec<Candidate> {
        let mut c = self.globals.candidates(name);
        if name == self.self_name {
            let current = Target::Func(self.self_key.clone());
            let own = self.zonk(&self.self_ty);
            let known = matches!(own, Type::Closure(..));
            if self.self_key == name && (known || aside) {
                c.retain(|x| !(x.target == current && known && x.ty == own));
                for x in c.iter_mut().filter(|x| x.target == current) {
                    x.target = Target::Func(crate::generic::key(name, &x.ty));
                }
            } else {
                c.retain(|x| x.target != current);
            }
            c.push(Candidate {
                ty: self.self_ty.clone(),
                target: Target::Own,
            });
        }
        c
    }

    fn sigs(cands: &[Candidate]) -> String {
        let v: Vec<String> = cands.iter().map(|c| c.ty.to_string()).collect();
        v.join(", ")
    }

    /// A call of a several-definition name; `None` when `name` is an ordinary name.
    pub(super) fn poly_call(
        &mut self,
        e: &Expr,
        name: &str,
        args: &[Expr],
    ) -> Result<Option<Type>> {
        let Some(all) = self.cands(name) else {
            return Ok(None);
        };
        let sp = e.span.as_ref();
        let what = format!("({name} ...)");
        let n = args.len();
        let fit: Vec<Candidate> = all
            .iter()
            .filter(|c| match self.shallow(&c.ty) {
                Type::Closure(_, p) => p.len() == n,
                Type::Var(_) => c.target == Target::Own,
                _ => false,
            })
            .cloned()
            .collect();
        if fit.is_empty() {
            return Err(type_err(
                format!(
                    "no definition of {name} takes {n} argument(s): it has {}",
                    Self::sigs(&all)
                ),
                sp,
            ));
        }
        if let [c] = &fit[..] {
            let ft = self.fresh_inst(&c.ty);
            let ret = self.call_type(&ft, args, &what, sp)?;
            self.choose(e.id, name, c.target.clone(), ft, sp)?;
            return Ok(Some(ret));
        }
        let mut ats = Vec::new();
        for a in args {
            ats.push(self.expr(a, None)?);
        }
        let ret = self.fresh(Kind::Any);
        self.pending.push(Pending {
            id: e.id,
            name: name.to_string(),
            cands: fit,
            want: Type::Closure(Box::new(ret.clone()), ats),
            span: e.span.clone(),
            what,
            or_builtin: false,
        });
        self.progress(false)?;
        Ok(Some(ret))
    }

    /// A several-definition name used as a value; `None` when `name` is an ordinary name.
    pub(super) fn poly_ref(
        &mut self,
        name: &str,
        id: usize,
        sp: Option<&Span>,
    ) -> Result<Option<Type>> {
        let (base, all) = match name.split_once(":$") {
            Some((base, vars)) => (base, Some(self.by_vars(base, vars, sp)?)),
            None => (name, self.cands(name)),
        };
        let Some(all) = all else {
            return Ok(None);
        };
        let t = self.fresh(Kind::Any);
        self.pending.push(Pending {
            id,
            name: base.to_string(),
            cands: all,
            want: t.clone(),
            span: sp.cloned(),
            what: name.to_string(),
            or_builtin: false,
        });
        self.progress(false)?;
        Ok(Some(t))
    }

    /// The generics of `base` given their type variables in order (`vars` is `[T,U]*`,
    /// Extempore's `name:$[T,U]*`), as candidates at those types.
    fn by_vars(&self, base: &str, vars: &str, sp: Option<&Span>) -> Result<Vec<Candidate>> {
        let given = match self.globals.parse_type(vars) {
            Some(Type::Closure(first, rest)) => std::iter::once(*first).chain(rest).collect(),
            _ => Vec::new(),
        };
        let mut out = Vec::new();
        for c in self.globals.candidates(base) {
            let mut order: Vec<String> = Vec::new();
            c.ty.each_param(&mut |n| {
                if !order.iter().any(|m| m == n) {
                    order.push(n.to_string());
                }
            });
            if matches!(c.target, Target::Template(_)) && order.len() == given.len() {
                let map = order.into_iter().zip(given.iter().cloned()).collect();
                out.push(Candidate {
                    ty: c.ty.subst(&map),
                    target: c.target,
                });
            }
        }
        if out.is_empty() {
            return Err(type_err(
                format!(
                    "{base}:${vars}: {base} has no generic definition with {} type variable(s)",
                    given.len()
                ),
                sp,
            ));
        }
        Ok(out)
    }

    fn choose(
        &mut self,
        id: usize,
        name: &str,
        target: Target,
        ft: Type,
        sp: Option<&Span>,
    ) -> Result<()> {
        match target {
            Target::Func(k) => {
                self.out.refs.insert(id, Ref::Func(k));
            }
            Target::Own => {
                self.out.refs.insert(id, Ref::Func(self.self_key.clone()));
            }
            Target::Template(i) => {
                self.chosen
                    .push((id, name.to_string(), Target::Template(i), ft.clone()));
                self.open_result(name, i, &ft, sp)?;
            }
        }
        Ok(())
    }

    fn vars_of(&self, t: &Type, out: &mut Vec<u32>) {
        match self.shallow(t) {
            Type::Var(v) => out.push(v),
            Type::Ptr(x) | Type::Array(_, x) | Type::Vector(_, x) => self.vars_of(&x, out),
            Type::Tuple(f) | Type::Rec(_, f) => f.iter().for_each(|x| self.vars_of(x, out)),
            Type::Closure(r, a) => {
                self.vars_of(&r, out);
                a.iter().for_each(|x| self.vars_of(x, out));
            }
            _ => {}
        }
    }

    /// Gives a generic instance the result its template's body decides, once its
    /// parameters are concrete. False while they are not.
    fn open_result(&mut self, name: &str, i: usize, ft: &Type, sp: Option<&Span>) -> Result<bool> {
        let Type::Closure(r, ps) = self.zonk(ft) else {
            return Ok(true);
        };
        let (mut rv, mut pv) = (Vec::new(), Vec::new());
        self.vars_of(&r, &mut rv);
        ps.iter().for_each(|p| self.vars_of(p, &mut pv));
        if rv.iter().all(|v| pv.contains(v)) {
            return Ok(true);
        }
        if !ps.iter().all(Type::is_concrete) {
            return Ok(false);
        }
        let open = Type::Closure(Box::new(Type::Param("?".into())), ps);
        let full = self
            .globals
            .template_ret(name, i, &open)
            .map_err(|e| DspError {
                message: format!("in {name} called as {open}: {}", e.message),
                span: e.span.clone().or_else(|| sp.cloned()),
                ..e
            })?;
        self.unify(&r, &full, &format!("the result of ({name} ...)"), sp)?;
        Ok(true)
    }

    /// True when `cand` unifies with `want` (nothing is kept).
    pub(super) fn trial(&mut self, cand: &Type, want: &Type) -> bool {
        let saved = self.subst.clone();
        let ft = self.fresh_inst(cand);
        let ok = self.unify_inner(&ft, want);
        self.subst = saved;
        ok
    }

    /// Resolves the waiting uses that can be; at the end (`last`), by preference.
    pub(super) fn progress(&mut self, last: bool) -> Result<()> {
        loop {
            let mut changed = false;
            let mut i = 0;
            while i < self.pending.len() {
                let (cands, want) = (self.pending[i].cands.clone(), self.pending[i].want.clone());
                let fits: Vec<usize> = (0..cands.len())
                    .filter(|k| self.trial(&cands[*k].ty, &want))
                    .collect();
                let pick = match fits.len() {
                    0 if self.pending[i].or_builtin => {
                        self.pending.remove(i);
                        continue;
                    }
                    0 => return Err(self.no_fit(i)),
                    1 => Some(fits[0]),
                    // a value several `print`s fit equally (named types of one shape,
                    // which zonal cannot tell apart) is printed by the builtin
                    _ if last && self.pending[i].or_builtin => match self.prefer(i, &fits) {
                        Ok(k) => Some(k),
                        Err(_) => {
                            self.pending.remove(i);
                            continue;
                        }
                    },
                    _ if last => Some(self.prefer(i, &fits)?),
                    _ => None,
                };
                let Some(k) = pick else {
                    i += 1;
                    continue;
                };
                let p = self.pending.remove(i);
                let c = &p.cands[k];
                let ft = self.fresh_inst(&c.ty);
                self.unify(&ft, &p.want, &p.what, p.span.as_ref())?;
                self.choose(p.id, &p.name, c.target.clone(), ft, p.span.as_ref())?;
                changed = true;
            }
            if !changed {
                return Ok(());
            }
        }
    }

    fn no_fit(&self, i: usize) -> DspError {
        let p = &self.pending[i];
        let found = match self.shallow(&p.want) {
            Type::Closure(_, args) => {
                let a: Vec<String> = args.iter().map(|t| self.show(t)).collect();
                format!("arguments ({})", a.join(", "))
            }
            _ => format!("a value of type {}", self.show(&p.want)),
        };
        type_err(
            format!(
                "no definition of {} fits {}: given {found}; it has {}",
                p.name,
                p.what,
                Self::sigs(&p.cands)
            ),
            p.span.as_ref(),
        )
    }

    /// Several definitions fit at the end: the definition itself, else the one concrete
    /// definition, else the generic with the fewest type variables; else ambiguous.
    fn prefer(&self, i: usize, fits: &[usize]) -> Result<usize> {
        let p = &self.pending[i];
        if let Some(k) = fits.iter().find(|k| p.cands[**k].target == Target::Own) {
            return Ok(*k);
        }
        let concrete: Vec<usize> = fits
            .iter()
            .copied()
            .filter(|k| matches!(p.cands[*k].target, Target::Func(_)))
            .collect();
        let count = |k: usize| {
            let mut names: Vec<String> = Vec::new();
            p.cands[k].ty.each_param(&mut |n| {
                if !names.iter().any(|m| m == n) {
                    names.push(n.to_string());
                }
            });
            names.len()
        };
        let best: Vec<usize> = match concrete.len() {
            1 => return Ok(concrete[0]),
            0 => {
                // the most specific generics: those no other is an instance of
                let (cands, mut more) = (p.cands.clone(), Vec::new());
                for a in fits {
                    let general = fits.iter().any(|b| {
                        b != a
                            && self.instance_of(&cands[*a].ty, &cands[*b].ty)
                            && !self.instance_of(&cands[*b].ty, &cands[*a].ty)
                    });
                    if !general {
                        more.push(*a);
                    }
                }
                let least = more.iter().map(|k| count(*k)).min().unwrap_or(0);
                more.into_iter().filter(|k| count(*k) == least).collect()
            }
            _ => concrete,
        };
        if let [k] = best[..] {
            return Ok(k);
        }
        let which: Vec<Candidate> = best.iter().map(|k| p.cands[*k].clone()).collect();
        Err(DspError::new(
            DspErrorKind::Type,
            format!(
                "ambiguous {}: {} definitions of {} fit ({}); give the arguments' types, e.g. x:i64, or name one as {}:[...]*",
                p.what,
                which.len(),
                p.name,
                Self::sigs(&which),
                p.name
            ),
            p.span.as_ref(),
        ))
    }

    /// True when generic type `a` is an instance of generic type `b` (`b`'s variables
    /// can be chosen to make it `a`, whose own variables stay as they are).
    fn instance_of(&self, b: &Type, a: &Type) -> bool {
        let mut cx = Cx {
            subst: self.subst.clone(),
            out: super::Typed::default(),
            scopes: Vec::new(),
            lambdas: Vec::new(),
            globals: self.globals,
            self_name: self.self_name,
            self_key: String::new(),
            self_ty: Type::Void,
            params: HashMap::new(),
            pending: Vec::new(),
            chosen: Vec::new(),
        };
        let general = cx.fresh_inst(b);
        cx.unify_inner(&general, a)
    }

    /// Gives open numeric literals their defaults (integers `i64`, reals `double`).
    fn default_numbers(&mut self) {
        for v in 0..self.subst.len() {
            let k = self.subst[v].1;
            if self.subst[v].0.is_none()
                && matches!(k, Kind::IntLit | Kind::Int | Kind::Num | Kind::Real)
            {
                self.subst[v].0 = Some(super::default_of(k));
            }
        }
    }

    fn open_results(&mut self) -> Result<()> {
        for (_, name, target, ft) in self.chosen.clone() {
            if let Target::Template(i) = target {
                self.open_result(&name, i, &ft, None)?;
            }
        }
        Ok(())
    }

    /// The waiting uses that the numbers' defaults would leave with no fitting definition
    /// (`(+ (first p) (second p))` on a point of doubles: the sum's type, open until a
    /// definition is chosen, would default to i64) choose by preference first, while
    /// their results are still open.
    fn settle_before_defaults(&mut self) -> Result<()> {
        let saved = self.subst.clone();
        self.default_numbers();
        let mut doomed = Vec::new();
        for i in 0..self.pending.len() {
            let (cands, want) = (self.pending[i].cands.clone(), self.pending[i].want.clone());
            if !self.pending[i].or_builtin && !cands.iter().any(|c| self.trial(&c.ty, &want)) {
                doomed.push(i);
            }
        }
        self.subst = saved;
        for i in doomed.into_iter().rev() {
            let (cands, want) = (self.pending[i].cands.clone(), self.pending[i].want.clone());
            let fits: Vec<usize> = (0..cands.len())
                .filter(|k| self.trial(&cands[*k].ty, &want))
                .collect();
            if fits.is_empty() {
                continue;
            }
            let k = self.prefer(i, &fits)?;
            let p = self.pending.remove(i);
            let c = &p.cands[k];
            let ft = self.fresh_inst(&c.ty);
            self.unify(&ft, &p.want, &p.what, p.span.as_ref())?;
            self.choose(p.id, &p.name, c.target.clone(), ft, p.span.as_ref())?;
        }
        Ok(())
    }

    /// Resolves every waiting use at the end of the definition.
    pub(super) fn resolve_all(&mut self) -> Result<()> {
        self.progress(false)?;
        self.open_results()?;
        self.settle_before_defaults()?;
        self.open_results()?;
        self.default_numbers();
        self.progress(false)?;
        self.open_results()?;
        self.progress(true)?;
        self.open_results()
    }

    /// After [`Cx::finish`]: each generic chosen becomes an instance named by its type.
    pub(super) fn record_instances(&mut self) {
        for (id, name, target, ft) in std::mem::take(&mut self.chosen) {
            let Target::Template(template) = target else {
                continue;
            };
            let ty = self.zonk(&ft);
            let key = crate::generic::key(&name, &ty);
            self.out.refs.insert(id, Ref::Func(key.clone()));
            let inst = Instance {
                name,
                template,
                ty,
                key,
            };
            if !self.out.instances.contains(&inst) {
                self.out.instances.push(inst);
            }
        }
    }
}
