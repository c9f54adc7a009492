//! Type inference within one definition: unification over [`Type::Var`]s.
//!
//! Untyped literals take the type their context needs (`(* 2.0 x)` with `x:float` is float
//! arithmetic); what stays open at the end defaults: integers to `i64`, reals to `double`,
//! pointers to `i8*`. Inference also resolves every name (local, `bind-val` global,
//! `bind-func`, builtin) and finds what each lambda captures and which captured variables
//! are `set!` (those become shared cells).
//!
//! A name with several definitions (overloads, generic templates, a type's constructors)
//! is resolved by the argument and result types in [`poly`]; a call of a generic function
//! is recorded as an [`Instance`] for the monomorphisation stage ([`crate::mono`]).
//! Arithmetic and comparison on the program's own types call their overloads
//! ([`operators`]).

mod operators;
use operators::OpCall;
mod env_vars;
mod owned;
mod poly;
pub use env_vars::find_var;
#[cfg(test)]
pub(crate) mod testing;

pub use poly::{Candidate, Instance, Target};

use crate::builtin::{Builtin, Compare};
use crate::error::{DspError, Result};
use crate::foreign::CFunction;
use crate::sexp::Span;
use crate::syntax::{AllocKind, Expr, ExprKind, Lambda, type_err};
use crate::types::Type;
use std::collections::HashMap;
use std::sync::Arc;

/// The definition being inferred, as its own code sees it.
pub struct SelfDef<'a> {
    /// The name it is called by in its own code.
    pub name: &'a str,
    /// What a self-reference names for the linker ([`Ref::Func`]).
    pub key: String,
    /// Its declared type, which may hold type variables (`!a`).
    pub ty: Option<Type>,
    /// The concrete type it is compiled at (a generic's instance), unified with `ty`.
    pub concrete: Option<Type>,
}

/// What a definition can see outside itself.
pub trait Globals {
    /// The closure type of a `bind-func`.
    fn func(&self, name: &str) -> Option<Type>;
    /// The type of a `bind-val` global.
    fn val(&self, name: &str) -> Option<Type>;
    /// The captured variables (name, type) of a `bind-func`'s closure, from its variable
    /// table; `None` when `name` is not a bind-func.
    fn closure_vars(&self, name: &str) -> Option<Vec<(String, Type)>>;
    /// The definition of a `bind-type` name with its type variables given `args` (to
    /// unfold a recursive type).
    fn named(&self, name: &str, args: &[Type]) -> Option<Type>;
    /// Every definition `name` has when it has more than one or a generic one: overloads,
    /// generic templates, a type's constructors (empty otherwise).
    fn candidates(&self, name: &str) -> Vec<Candidate>;
    /// The result type of generic template `template` of `name` called with the concrete
    /// parameter types of `ty` (its body decides what its signature leaves open).
    fn template_ret(&self, name: &str, template: usize, ty: &Type) -> Result<Type>;
    /// Reads a type annotation.
    fn parse_type(&self, text: &str) -> Option<Type>;
    /// The C function `bind-lib` bound to `name` (see [`crate::foreign`]).
    fn c_function(&self, _name: &str) -> Option<Arc<CFunction>> {
        None
    }
}

/// What a name in the code refers to.
#[derive(Clone, Debug, PartialEq)]
pub enum Ref {
    Local(usize),
    /// A `bind-val` global.
    Global(String),
    /// A `bind-func` (or the definition itself).
    Func(String),
}

/// A local variable.
#[derive(Clone, Debug)]
pub struct VarInfo {
    pub name: String,
    pub ty: Type,
    /// The lambda whose frame holds it.
    pub lambda: usize,
    pub mutated: bool,
    /// Changed by an explicit `set!` (not only as a `dotimes` counter).
    pub assigned: bool,
    pub captured: bool,
    /// The one lambda whose environment slot holds it, for a captured variable that is
    /// `set!` and owned by a single closure (see [`owned`]).
    pub owner: Option<usize>,
}

impl VarInfo {
    /// Captured and `set!`, by more than one closure or where its binder may still use it
    /// once the closure exists: lives in a zone-allocated cell shared by all who see it.
    pub fn is_cell(&self) -> bool {
        self.mutated && self.captured && self.owner.is_none()
    }
}

/// The inference results for one definition.
#[derive(Debug, Default)]
pub struct Typed {
    /// Type of every expression, by id.
    pub types: Vec<Type>,
    pub refs: HashMap<usize, Ref>,
    pub vars: Vec<VarInfo>,
    /// Variables of each `let`, by the let's id.
    pub let_vars: HashMap<usize, Vec<usize>>,
    /// Parameters of each lambda, by lambda index.
    pub params: HashMap<usize, Vec<usize>>,
    /// Loop variable of each `dotimes`, by id, and whether the loop made it.
    pub loop_vars: HashMap<usize, usize>,
    pub captures: HashMap<usize, Vec<usize>>,
    pub lambda_types: HashMap<usize, Type>,
    pub uses_salloc: HashMap<usize, bool>,
    /// The generic functions this definition calls, at their concrete types.
    pub instances: Vec<Instance>,
    /// The builtin each call node names, by id (absent for calls of closures).
    pub builtins: HashMap<usize, Builtin>,
    /// The C function each call node of one calls directly, by id.
    pub c_calls: HashMap<usize, Arc<CFunction>>,
}

impl Typed {
    /// The builtin the call node `id` names, if it names one.
    pub fn builtin(&self, id: usize) -> Option<Builtin> {
        self.builtins.get(&id).copied()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Any,
    Num,
    Int,
    IntLit,
    Real,
    Ptr,
}

fn admits(k: Kind, t: &Type) -> bool {
    // arithmetic and math apply to vectors lane by lane, and a number literal where a
    // vector is expected fills every lane
    let lanes = |f: fn(&Type) -> bool| match t {
        Type::Vector(_, e) => matches!(**e, Type::Var(_)) || f(e),
        _ => f(t),
    };
    match k {
        Kind::Any => !matches!(t, Type::Void),
        Kind::Num => lanes(Type::is_numeric),
        Kind::Int => t.is_int(),
        Kind::IntLit => lanes(Type::is_numeric),
        Kind::Real => lanes(Type::is_real),
        Kind::Ptr => t.is_pointer(),
    }
}

fn merge(a: Kind, b: Kind) -> Option<Kind> {
    use Kind::*;
    Some(match (a, b) {
        (Any, k) | (k, Any) => k,
        (x, y) if x == y => x,
        (Num, k) | (k, Num) if k != Ptr => k,
        (Int, IntLit) | (IntLit, Int) => Int,
        (IntLit, Real) | (Real, IntLit) => Real,
        _ => return None,
    })
}

fn default_of(k: Kind) -> Type {
    match k {
        Kind::Real => Type::Double,
        Kind::Ptr => Type::ptr(Type::I8),
        _ => Type::I64,
    }
}

/// Runs inference over a definition whose code is lambda 0 (`init`, no parameters).
pub fn infer(
    init: &Lambda,
    node_count: usize,
    globals: &dyn Globals,
    me: &SelfDef,
) -> Result<(Typed, Type)> {
    let mut cx = Cx {
        subst: Vec::new(),
        out: Typed {
            types: vec![Type::Void; node_count],
            ..Typed::default()
        },
        scopes: Vec::new(),
        lambdas: Vec::new(),
        globals,
        self_name: me.name,
        self_key: me.key.clone(),
        self_ty: Type::Void,
        params: HashMap::new(),
        pending: Vec::new(),
        chosen: Vec::new(),
    };
    cx.self_ty = match &me.ty {
        Some(t) => cx.inst(t),
        None => cx.fresh(Kind::Any),
    };
    if let Some(c) = &me.concrete {
        let (own, c) = (cx.self_ty.clone(), cx.inst(c));
        cx.unify(&own, &c, "the instance", None)?;
    }
    let t = cx.lambda_body(init, None)?;
    let Type::Closure(ret, _) = &t else {
        return Err(DspError::new(
            crate::error::DspErrorKind::Internal,
            "init is not a closure",
            None,
        ));
    };
    let ret = (**ret).clone();
    let self_ty = cx.self_ty.clone();
    cx.unify(&self_ty, &ret, "the definition", None)?;
    cx.resolve_all()?;
    cx.finish();
    owned::assign(init, &mut cx.out);
    cx.record_instances();
    let ret = cx.zonk(&ret);
    Ok((cx.out, ret))
}

struct Cx<'g> {
    subst: Vec<(Option<Type>, Kind)>,
    out: Typed,
    scopes: Vec<(String, usize)>,
    lambdas: Vec<usize>,
    globals: &'g dyn Globals,
    self_name: &'g str,
    self_key: String,
    self_ty: Type,
    /// The inference variable of each type variable (`!a`) in this definition's
    /// annotations.
    params: HashMap<String, Type>,
    /// Calls of overloaded names not resolved yet.
    pending: Vec<poly::Pending>,
    /// Resolved uses of several-definition names: (expression, name, which, its type).
    chosen: Vec<(usize, String, Target, Type)>,
}

impl Cx<'_> {
    fn fresh(&mut self, k: Kind) -> Type {
        self.subst.push((None, k));
        Type::Var(self.subst.len() as u32 - 1)
    }

    fn shallow(&self, t: &Type) -> Type {
        let mut t = t.clone();
        while let Type::Var(v) = t {
            match &self.subst[v as usize].0 {
                Some(b) => t = b.clone(),
                None => return t,
            }
        }
        t
    }

    fn zonk(&self, t: &Type) -> Type {
        match self.shallow(t) {
            Type::Ptr(x) => Type::ptr(self.zonk(&x)),
            Type::Array(n, x) => Type::Array(n, Box::new(self.zonk(&x))),
            Type::Vector(n, x) => Type::Vector(n, Box::new(self.zonk(&x))),
            Type::Tuple(f) => Type::Tuple(f.iter().map(|x| self.zonk(x)).collect()),
            Type::Rec(n, f) => Type::Rec(n, f.iter().map(|x| self.zonk(x)).collect()),
            Type::Closure(r, a) => Type::Closure(
                Box::new(self.zonk(&r)),
                a.iter().map(|x| self.zonk(x)).collect(),
            ),
            t => t,
        }
    }

    fn occurs(&self, v: u32, t: &Type) -> bool {
        match self.shallow(t) {
            Type::Var(w) => v == w,
            Type::Ptr(x) | Type::Array(_, x) | Type::Vector(_, x) => self.occurs(v, &x),
            Type::Tuple(f) | Type::Rec(_, f) => f.iter().any(|x| self.occurs(v, x)),
            Type::Closure(r, a) => self.occurs(v, &r) || a.iter().any(|x| self.occurs(v, x)),
            _ => false,
        }
    }

    fn unify(&mut self, a: &Type, b: &Type, what: &str, span: Option<&Span>) -> Result<()> {
        if self.unify_inner(a, b) {
            Ok(())
        } else {
            let (a, b) = (self.show(a), self.show(b));
            Err(type_err(format!("type clash in {what}: {a} and {b}"), span))
        }
    }

    fn show(&self, t: &Type) -> String {
        match self.shallow(t) {
            Type::Var(v) => match self.subst[v as usize].1 {
                Kind::Int | Kind::IntLit => "an integer".into(),
                Kind::Real => "a real".into(),
                Kind::Num => "a number".into(),
                Kind::Ptr => "a pointer".into(),
                Kind::Any => "?".into(),
            },
            _ => self.zonk(t).to_string(),
        }
    }

    fn unify_inner(&mut self, a: &Type, b: &Type) -> bool {
        let (a, b) = (self.shallow(a), self.shallow(b));
        match (&a, &b) {
            (Type::Var(x), Type::Var(y)) if x == y => true,
            (Type::Var(x), Type::Var(y)) => {
                let (kx, ky) = (self.subst[*x as usize].1, self.subst[*y as usize].1);
                match merge(kx, ky) {
                    Some(k) => {
                        self.subst[*y as usize].1 = k;
                        self.subst[*x as usize].0 = Some(b.clone());
                        true
                    }
                    None => false,
                }
            }
            (Type::Var(x), t) | (t, Type::Var(x)) => {
                let k = self.subst[*x as usize].1;
                if !(admits(k, t) || k == Kind::Any && matches!(t, Type::Void)) {
                    return false;
                }
                if self.occurs(*x, t) {
                    return false;
                }
                self.subst[*x as usize].0 = Some(t.clone());
                true
            }
            (Type::Ptr(x), Type::Ptr(y)) => self.unify_inner(x, y),
            (Type::Array(n, x), Type::Array(m, y)) | (Type::Vector(n, x), Type::Vector(m, y)) => {
                n == m && self.unify_inner(x, y)
            }
            (Type::Tuple(f), Type::Tuple(g)) => {
                f.len() == g.len() && f.iter().zip(g).all(|(x, y)| self.unify_inner(x, y))
            }
            (Type::Rec(n, f), Type::Rec(m, g)) => {
                n == m && f.len() == g.len() && f.iter().zip(g).all(|(x, y)| self.unify_inner(x, y))
            }
            (Type::Closure(r, p), Type::Closure(s, q)) => {
                p.len() == q.len()
                    && self.unify_inner(r, s)
                    && p.iter().zip(q).all(|(x, y)| self.unify_inner(x, y))
            }
            _ => a == b,
        }
    }

    /// Gives every open variable its default type.
    fn finish(&mut self) {
        for v in 0..self.subst.len() {
            if self.subst[v].0.is_none() {
                self.subst[v].0 = Some(default_of(self.subst[v].1));
            }
        }
        let types: Vec<Type> = self.out.types.iter().map(|t| self.zonk(t)).collect();
        self.out.types = types;
        for i in 0..self.out.vars.len() {
            self.out.vars[i].ty = self.zonk(&self.out.vars[i].ty);
        }
        let lt: Vec<(usize, Type)> = self
            .out
            .lambda_types
            .iter()
            .map(|(k, t)| (*k, self.zonk(t)))
            .collect();
        self.out.lambda_types.extend(lt);
    }

    fn new_var(&mut self, name: &str, ty: Type) -> usize {
        let lambda = *self.lambdas.last().unwrap_or(&0);
        self.out.vars.push(VarInfo {
            name: name.to_string(),
            ty,
            lambda,
            mutated: false,
            assigned: false,
            captured: false,
            owner: None,
        });
        let id = self.out.vars.len() - 1;
        self.scopes.push((name.to_string(), id));
        id
    }

    fn lookup(&mut self, name: &str) -> Option<usize> {
        let v = self
            .scopes
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)?;
        let owner = self.out.vars[v].lambda;
        if let Some(pos) = self.lambdas.iter().position(|l| *l == owner) {
            for l in self.lambdas[pos + 1..].iter().copied() {
                let caps = self.out.captures.entry(l).or_default();
                if !caps.contains(&v) {
                    caps.push(v);
                }
                self.out.vars[v].captured = true;
            }
        }
        Some(v)
    }

    fn lambda_body(&mut self, lam: &Lambda, expect: Option<&Type>) -> Result<Type> {
        self.lambdas.push(lam.index);
        let mark = self.scopes.len();
        let mut params = Vec::new();
        let mut ptys = Vec::new();
        let expected: Option<Vec<Type>> = match expect.map(|t| self.shallow(t)) {
            Some(Type::Closure(_, a)) if a.len() == lam.params.len() => Some(a),
            _ => None,
        };
        for (i, p) in lam.params.iter().enumerate() {
            let t = match &p.ty {
                Some(t) => self.inst(t),
                None => self.fresh(Kind::Any),
            };
            if let Some(e) = &expected {
                self.unify(&t, &e[i], &format!("parameter {}", p.name), p.span.as_ref())?;
            }
            ptys.push(t.clone());
            params.push(self.new_var(&p.name, t));
        }
        self.out.params.insert(lam.index, params);
        self.out.captures.entry(lam.index).or_default();
        self.out.uses_salloc.entry(lam.index).or_default();
        let mut last = Type::Void;
        // what the last expression's value must be: the definition's own type for its
        // init code (its lambda's parameters take their types from it), the expected
        // result for a lambda
        let own = if lam.index == 0 {
            Some(self.self_ty.clone())
        } else {
            match expect.map(|t| self.shallow(t)) {
                Some(Type::Closure(r, _)) if self.shallow(&r) != Type::Void => Some(*r),
                _ => None,
            }
        };
        for (i, e) in lam.body.iter().enumerate() {
            let want = own.as_ref().filter(|_| i + 1 == lam.body.len());
            last = self.expr(e, want)?;
        }
        if let Some(Type::Closure(r, _)) = expect.map(|t| self.shallow(t)) {
            let span = lam.body.last().and_then(|e| e.span.as_ref());
            if self.shallow(&r) == Type::Void {
                // a void function drops its last value, as in Extempore
                last = Type::Void;
            } else {
                self.unify(&r, &last, "the lambda's result", span)?;
            }
        }
        self.scopes.truncate(mark);
        self.lambdas.pop();
        let t = Type::Closure(Box::new(last), ptys);
        self.out.lambda_types.insert(lam.index, t.clone());
        Ok(t)
    }

    fn int_arg(&mut self, e: &Expr, what: &str) -> Result<Type> {
        let t = self.expr(e, None)?;
        let i = self.fresh(Kind::Int);
        self.unify(&i, &t, what, e.span.as_ref())?;
        Ok(t)
    }

    fn expr(&mut self, e: &Expr, expect: Option<&Type>) -> Result<Type> {
        let t = self.expr_inner(e, expect)?;
        self.out.types[e.id] = t.clone();
        Ok(t)
    }

    fn expr_inner(&mut self, e: &Expr, expect: Option<&Type>) -> Result<Type> {
        let sp = e.span.as_ref();
        Ok(match &e.kind {
            ExprKind::Int(_) => self.fresh(Kind::IntLit),
            ExprKind::Float(_) => self.fresh(Kind::Real),
            ExprKind::Bool(_) => Type::I1,
            ExprKind::Str(_) => Type::ptr(Type::I8),
            ExprKind::Null => self.fresh(Kind::Ptr),
            ExprKind::Void => Type::Void,
            ExprKind::Var(name) => match self.lookup(name) {
                Some(v) => {
                    self.out.refs.insert(e.id, Ref::Local(v));
                    self.out.vars[v].ty.clone()
                }
                None => self.global(name, e.id, sp)?,
            },
            ExprKind::Let(binds, body) => self.let_expr(e.id, binds, body, expect)?,
            ExprKind::Lambda(l) => self.lambda_body(l, expect)?,
            ExprKind::If(c, t, f) => {
                let ct = self.expr(c, None)?;
                self.unify(&Type::I1, &ct, "the test of if", c.span.as_ref())?;
                let tt = self.expr(t, expect)?;
                match f {
                    None => Type::Void,
                    Some(f) => {
                        let ft = self.expr(f, expect)?;
                        if self.unify_inner(&tt, &ft) {
                            tt
                        } else {
                            Type::Void
                        }
                    }
                }
            }
            ExprKind::Begin(body) => self.body(body)?,
            ExprKind::Set(name, v) => {
                let vt = match self.lookup(name) {
                    Some(id) => {
                        self.out.vars[id].mutated = true;
                        self.out.vars[id].assigned = true;
                        self.out.refs.insert(e.id, Ref::Local(id));
                        self.out.vars[id].ty.clone()
                    }
                    None => match self.globals.val(name) {
                        Some(t) => {
                            self.out.refs.insert(e.id, Ref::Global(name.clone()));
                            t
                        }
                        None => {
                            return Err(DspError::new(
                                crate::error::DspErrorKind::Unbound,
                                format!("set! of {name}, which is not a variable here"),
                                sp,
                            ));
                        }
                    },
                };
                let t = self.expr(v, Some(&vt))?;
                self.unify(&vt, &t, &format!("(set! {name} ...)"), sp)?;
                vt
            }
            ExprKind::Dotimes(b, n, body) => {
                let nt = self.int_arg(n, "the count of dotimes")?;
                let mark = self.scopes.len();
                let v = match (self.lookup(&b.name), &b.ty) {
                    (Some(v), None) => {
                        self.out.vars[v].mutated = true;
                        v
                    }
                    _ => {
                        let t = b.ty.as_ref().map_or_else(|| nt.clone(), |t| self.inst(t));
                        self.new_var(&b.name, t)
                    }
                };
                let vt = self.out.vars[v].ty.clone();
                self.unify(&vt, &nt, "dotimes", sp)?;
                self.out.loop_vars.insert(e.id, v);
                self.body(body)?;
                self.scopes.truncate(mark);
                Type::Void
            }
            ExprKind::While(c, body) => {
                let ct = self.expr(c, None)?;
                self.unify(&Type::I1, &ct, "the test of while", c.span.as_ref())?;
                for x in body {
                    self.expr(x, None)?;
                }
                Type::Void
            }
            ExprKind::Memzone(size, body) => {
                self.int_arg(size, "the size of memzone")?;
                self.body(body)?
            }
            ExprKind::Alloc(kind, count) => {
                if let Some(c) = count {
                    self.int_arg(c, "the count of an allocation")?;
                }
                if *kind == AllocKind::Stack {
                    let l = *self.lambdas.last().unwrap_or(&0);
                    self.out.uses_salloc.insert(l, true);
                }
                let elem = self.fresh(Kind::Any);
                let t = Type::ptr(elem);
                if let Some(x) = expect {
                    self.unify(x, &t, "an allocation", sp)?;
                }
                t
            }
            ExprKind::And(args) | ExprKind::Or(args) => {
                for a in args {
                    let t = self.expr(a, None)?;
                    self.unify(&Type::I1, &t, "and/or", a.span.as_ref())?;
                }
                Type::I1
            }
            ExprKind::App(name, args) => self.app(e, name, args)?,
            ExprKind::EnvVar(ev) => self.env_var(e, ev)?,
            ExprKind::CallValue(f, args) => {
                let ft = self.expr(f, None)?;
                self.call_type(&ft, args, "a closure call", sp)?
            }
        })
    }

    /// A `let`. When its value is one of its own variables (`(let ((m (alloc))) ... m)`)
    /// and the context expects a type, that variable's value is given the type up front,
    /// so the body can take its fields.
    fn let_expr(
        &mut self,
        id: usize,
        binds: &[(crate::syntax::Binder, Expr)],
        body: &[Expr],
        expect: Option<&Type>,
    ) -> Result<Type> {
        let mark = self.scopes.len();
        let result = match body.last().map(|x| &x.kind) {
            Some(ExprKind::Var(n)) => binds.iter().rposition(|(b, _)| b.name == *n),
            _ => None,
        };
        let mut ids = Vec::new();
        for (i, (b, v)) in binds.iter().enumerate() {
            let bt = match &b.ty {
                Some(t) => Some(self.inst(t)),
                None => expect.filter(|_| result == Some(i)).cloned(),
            };
            let t = self.expr(v, bt.as_ref())?;
            if let Some(bt) = &bt {
                self.unify(
                    bt,
                    &t,
                    &format!("the binding of {}", b.name),
                    b.span.as_ref(),
                )?;
            }
            ids.push(self.new_var(&b.name, t));
        }
        self.out.let_vars.insert(id, ids);
        let t = self.body(body)?;
        self.scopes.truncate(mark);
        Ok(t)
    }

    fn body(&mut self, body: &[Expr]) -> Result<Type> {
        let mut last = Type::Void;
        for x in body {
            last = self.expr(x, None)?;
        }
        Ok(last)
    }

    fn global(&mut self, name: &str, id: usize, sp: Option<&Span>) -> Result<Type> {
        if let Some(t) = self.poly_ref(name, id, sp)? {
            return Ok(t);
        }
        if name == self.self_name {
            self.out.refs.insert(id, Ref::Func(self.self_key.clone()));
            return Ok(self.self_ty.clone());
        }
        if let Some(t) = self.globals.val(name) {
            self.out.refs.insert(id, Ref::Global(name.to_string()));
            return Ok(t);
        }
        if let Some(t) = self.globals.func(name) {
            self.out.refs.insert(id, Ref::Func(name.to_string()));
            return Ok(t);
        }
        Err(DspError::new(
            crate::error::DspErrorKind::Unbound,
            format!("{name} is not defined"),
            sp,
        ))
    }

    fn call_type(
        &mut self,
        ft: &Type,
        args: &[Expr],
        what: &str,
        sp: Option<&Span>,
    ) -> Result<Type> {
        let ft = self.shallow(ft);
        let (ret, params) = match &ft {
            Type::Closure(r, p) => ((**r).clone(), p.clone()),
            _ => {
                let ps: Vec<Type> = args.iter().map(|_| self.fresh(Kind::Any)).collect();
                let r = self.fresh(Kind::Any);
                let c = Type::Closure(Box::new(r.clone()), ps.clone());
                self.unify(&c, &ft, what, sp)?;
                (r, ps)
            }
        };
        if params.len() != args.len() {
            return Err(type_err(
                format!(
                    "{what} takes {} argument(s), given {}",
                    params.len(),
                    args.len()
                ),
                sp,
            ));
        }
        // lambdas last: their parameters take the types the other arguments decide
        let (lambdas, others): (Vec<_>, Vec<_>) = params
            .iter()
            .zip(args)
            .partition(|(_, a)| matches!(a.kind, ExprKind::Lambda(_)));
        for (p, a) in others.into_iter().chain(lambdas) {
            let t = self.expr(a, Some(p))?;
            self.unify(p, &t, &format!("an argument of {what}"), a.span.as_ref())?;
        }
        Ok(ret)
    }

    fn nargs(&self, name: &str, args: &[Expr], n: usize, sp: Option<&Span>) -> Result<()> {
        if args.len() == n {
            Ok(())
        } else {
            Err(type_err(
                format!("{name} takes {n} argument(s), given {}", args.len()),
                sp,
            ))
        }
    }

    fn pointee(&mut self, t: &Type, what: &str, sp: Option<&Span>) -> Result<Type> {
        let elem = self.fresh(Kind::Any);
        self.unify(&Type::ptr(elem.clone()), t, what, sp)?;
        Ok(self.shallow(&elem))
    }

    fn app(&mut self, e: &Expr, name: &str, args: &[Expr]) -> Result<Type> {
        let sp = e.span.as_ref();
        let what = format!("({name} ...)");
        if let Some(v) = self.lookup(name) {
            self.out.refs.insert(e.id, Ref::Local(v));
            let ft = self.out.vars[v].ty.clone();
            return self.call_type(&ft, args, &what, sp);
        }
        // the bind-func bind-lib made to call a C function calls it, even one named like a
        // builtin; elsewhere a builtin or a definition of several types comes first
        if name == self.self_name
            && let Some(c) = self.globals.c_function(name)
        {
            return self.c_call(e, c, args, &what);
        }
        if let Some(b) = Builtin::from_name(name) {
            let typed_args = match self.operator_call(e, b, name, args)? {
                OpCall::Overload(t) if b == Builtin::Print => {
                    // the builtin prints if no overload turns out to take the value
                    self.out.builtins.insert(e.id, b);
                    self.unify(&Type::Void, &t, &format!("({name} ...)"), e.span.as_ref())?;
                    return Ok(Type::Void);
                }
                OpCall::Overload(t) => return Ok(t),
                OpCall::Builtin(ats) => Some(ats),
                OpCall::NoOverloads => None,
            };
            self.out.builtins.insert(e.id, b);
            if b == Builtin::Print && typed_args.is_some() {
                // `print`'s overloads typed the argument already
                return Ok(Type::Void);
            }
            if let Some(t) = self.numeric(b, name, args, typed_args.as_deref(), sp)? {
                return Ok(t);
            }
            return self.builtin(b, name, args, sp);
        }
        if let Some(t) = self.poly_call(e, name, args)? {
            return Ok(t);
        }
        if let Some(c) = self.globals.c_function(name) {
            return self.c_call(e, c, args, &what);
        }
        let ft = self.global(name, e.id, sp)?;
        self.call_type(&ft, args, &what, sp)
    }

    /// A direct call of C function `c`: typed as a call of a closure of its signature.
    fn c_call(&mut self, e: &Expr, c: Arc<CFunction>, args: &[Expr], what: &str) -> Result<Type> {
        let ft = Type::Closure(Box::new(c.ret.clone()), c.params.clone());
        let t = self.call_type(&ft, args, what, e.span.as_ref())?;
        self.out.c_calls.insert(e.id, c);
        Ok(t)
    }

    /// The type of a call of an arithmetic, comparison, bitwise or math builtin `b`
    /// (named `name` at the call), `None` for the other builtins. `typed_args` are the
    /// arguments' types when an operator's overloads already inferred them. Apart from
    /// [`Cx::builtin`], whose frame is large, because expressions nest through it.
    #[inline(never)]
    fn numeric(
        &mut self,
        b: Builtin,
        name: &str,
        args: &[Expr],
        typed_args: Option<&[Type]>,
        sp: Option<&Span>,
    ) -> Result<Option<Type>> {
        let kind = match b {
            Builtin::Arith(_) => {
                if args.is_empty() {
                    return Err(type_err(format!("{name} needs arguments"), sp));
                }
                Kind::Num
            }
            Builtin::Compare(c) => {
                self.nargs(name, args, 2, sp)?;
                if matches!(c, Compare::Eq | Compare::Ne) {
                    Kind::Any
                } else {
                    Kind::Num
                }
            }
            Builtin::Bitwise(_) | Builtin::BitNot => {
                if args.is_empty() || (b == Builtin::BitNot && args.len() != 1) {
                    return Err(type_err(format!("{name} takes integer arguments"), sp));
                }
                Kind::Int
            }
            Builtin::Math(m) => {
                self.nargs(name, args, m.arity(), sp)?;
                Kind::Real
            }
            _ => return Ok(None),
        };
        let what = format!("({name} ...)");
        let r = self.fresh(kind);
        for (i, a) in args.iter().enumerate() {
            let t = match typed_args {
                Some(ts) => ts[i].clone(),
                None => self.expr(a, Some(&r))?,
            };
            // in arithmetic, a pointer to a vector stands for the vector it points to
            let t = match self.zonk(&t) {
                Type::Ptr(v) if kind != Kind::Any && matches!(*v, Type::Vector(..)) => *v,
                _ => t,
            };
            self.unify(&r, &t, &what, sp)?;
        }
        Ok(Some(if matches!(b, Builtin::Compare(_)) {
            Type::I1
        } else {
            r
        }))
    }

    /// The type of a call of builtin `b` (named `name` at the call), other than those
    /// [`Cx::numeric`] types.
    fn builtin(
        &mut self,
        b: Builtin,
        name: &str,
        args: &[Expr],
        sp: Option<&Span>,
    ) -> Result<Type> {
        let what = format!("({name} ...)");
        match b {
            Builtin::Arith(_)
            | Builtin::Compare(_)
            | Builtin::Bitwise(_)
            | Builtin::BitNot
            | Builtin::Math(_) => Ok(self.numeric(b, name, args, None, sp)?.unwrap_or(Type::Void)),
            Builtin::Not => {
                self.nargs(name, args, 1, sp)?;
                let t = self.expr(&args[0], None)?;
                self.unify(&Type::I1, &t, &what, sp)?;
                Ok(Type::I1)
            }
            Builtin::Pref | Builtin::PrefPtr | Builtin::Aref | Builtin::ArefPtr => {
                self.nargs(name, args, 2, sp)?;
                let pt = self.expr(&args[0], None)?;
                self.int_arg(&args[1], &what)?;
                let elem = if matches!(b, Builtin::Aref | Builtin::ArefPtr) {
                    self.array_of(&pt, &what, sp)?
                } else {
                    self.pointee(&pt, &what, sp)?
                };
                Ok(if matches!(b, Builtin::PrefPtr | Builtin::ArefPtr) {
                    Type::ptr(elem)
                } else {
                    elem
                })
            }
            Builtin::Pset | Builtin::Aset => {
                self.nargs(name, args, 3, sp)?;
                let pt = self.expr(&args[0], None)?;
                self.int_arg(&args[1], &what)?;
                let elem = if b == Builtin::Aset {
                    self.array_of(&pt, &what, sp)?
                } else {
                    self.pointee(&pt, &what, sp)?
                };
                let vt = self.expr(&args[2], Some(&elem))?;
                self.unify(&elem, &vt, &what, args[2].span.as_ref())?;
                Ok(elem)
            }
            Builtin::Afill => {
                let pt = self.first(name, args, sp)?;
                let elem = self.array_of(&pt, &what, sp)?;
                for a in &args[1..] {
                    let t = self.expr(a, Some(&elem))?;
                    self.unify(&elem, &t, &what, a.span.as_ref())?;
                }
                Ok(Type::Void)
            }
            Builtin::Tref | Builtin::TrefPtr | Builtin::Tset => {
                let n = if b == Builtin::Tset { 3 } else { 2 };
                self.nargs(name, args, n, sp)?;
                let pt = self.expr(&args[0], None)?;
                let fields = self.tuple_fields(&pt, &what, sp)?;
                let ExprKind::Int(i) = args[1].kind else {
                    return Err(type_err(
                        format!("the index of {name} must be a literal integer"),
                        sp,
                    ));
                };
                self.expr(&args[1], Some(&Type::I64))?;
                let i64t = Type::I64;
                self.unify(&i64t, &self.out.types[args[1].id].clone(), &what, sp)?;
                let Some(ft) = usize::try_from(i).ok().and_then(|i| fields.get(i)).cloned() else {
                    return Err(type_err(
                        format!(
                            "{name}: index {i} is outside a tuple of {} fields",
                            fields.len()
                        ),
                        sp,
                    ));
                };
                Ok(match b {
                    Builtin::TrefPtr => Type::ptr(ft),
                    Builtin::Tset => {
                        let vt = self.expr(&args[2], Some(&ft))?;
                        self.unify(&ft, &vt, &what, args[2].span.as_ref())?;
                        ft
                    }
                    _ => ft,
                })
            }
            Builtin::Tfill => {
                let pt = self.first(name, args, sp)?;
                let fields = self.tuple_fields(&pt, &what, sp)?;
                if args.len() - 1 != fields.len() {
                    return Err(type_err(
                        format!(
                            "tfill! of a tuple of {} fields given {} values",
                            fields.len(),
                            args.len() - 1
                        ),
                        sp,
                    ));
                }
                for (f, a) in fields.iter().zip(&args[1..]) {
                    let t = self.expr(a, Some(f))?;
                    self.unify(f, &t, &what, a.span.as_ref())?;
                }
                Ok(Type::Void)
            }
            Builtin::Printf => {
                let ft = self.first(name, args, sp)?;
                self.unify(&Type::ptr(Type::I8), &ft, "the format of printf", sp)?;
                for a in &args[1..] {
                    self.expr(a, None)?;
                }
                Ok(Type::I32)
            }
            Builtin::Print => {
                self.nargs(name, args, 1, sp)?;
                self.expr(&args[0], None)?;
                Ok(Type::Void)
            }
            Builtin::Println => {
                for a in args {
                    self.expr(a, None)?;
                }
                Ok(Type::Void)
            }
            Builtin::Free => {
                self.nargs(name, args, 1, sp)?;
                let t = self.expr(&args[0], None)?;
                let p = self.fresh(Kind::Ptr);
                self.unify(&p, &t, &what, sp)?;
                Ok(Type::Void)
            }
            Builtin::Vector
            | Builtin::VectorRef
            | Builtin::Vref
            | Builtin::Vset
            | Builtin::Vfill
            | Builtin::Array
            | Builtin::ArrayRef
            | Builtin::Tuple
            | Builtin::TupleRef => self.vector_builtin(b, name, args, sp),
            Builtin::Callback => self.callback(args, sp),
            Builtin::Cast => {
                self.nargs(name, args, 1, sp)?;
                self.expr(&args[0], None)?;
                Ok(self.fresh(Kind::Any))
            }
            Builtin::Now | Builtin::NextEventTime => {
                self.nargs(name, args, 0, sp)?;
                Ok(Type::I64)
            }
            Builtin::ZoneCleanup => {
                self.nargs(name, args, 1, sp)?;
                let want = Type::Closure(Box::new(Type::Void), Vec::new());
                let t = self.expr(&args[0], Some(&want))?;
                self.unify(&want, &t, &what, sp)?;
                Ok(Type::Void)
            }
            Builtin::Convert(from, to) => {
                self.nargs(name, args, 1, sp)?;
                let from = from.ty();
                let t = self.expr(&args[0], Some(&from))?;
                self.unify(&from, &t, &what, sp)?;
                Ok(to.ty())
            }
        }
    }

    /// The one type of the elements `args` of a literal, of kind `kind`.
    fn one_type(&mut self, args: &[Expr], kind: Kind, what: &str) -> Result<Type> {
        let elem = self.fresh(kind);
        for a in args {
            let t = self.expr(a, Some(&elem))?;
            self.unify(&elem, &t, what, a.span.as_ref())?;
        }
        Ok(elem)
    }

    /// The type of a call of one of the vector builtins (apart from [`Cx::builtin`] so
    /// that its frame stays small for deeply nested code).
    fn vector_builtin(
        &mut self,
        b: Builtin,
        name: &str,
        args: &[Expr],
        sp: Option<&Span>,
    ) -> Result<Type> {
        let what = format!("({name} ...)");
        match b {
            Builtin::Vector | Builtin::VectorRef => {
                if args.is_empty() {
                    return Err(type_err(format!("{name} needs lanes"), sp));
                }
                let elem = self.one_type(args, Kind::Num, &what)?;
                let v = Type::Vector(args.len() as u64, Box::new(elem));
                Ok(if b == Builtin::Vector {
                    v
                } else {
                    Type::ptr(v)
                })
            }
            Builtin::Vref | Builtin::Vset => {
                self.nargs(name, args, if b == Builtin::Vref { 2 } else { 3 }, sp)?;
                let vt = self.expr(&args[0], None)?;
                self.int_arg(&args[1], &what)?;
                let vt = self.zonk(&vt);
                let Some((_, elem)) = vt.vector_lanes() else {
                    return Err(type_err(
                        format!("{what} needs a vector or a pointer to one, found {vt}"),
                        sp,
                    ));
                };
                let elem = elem.clone();
                if b == Builtin::Vset {
                    let t = self.expr(&args[2], Some(&elem))?;
                    self.unify(&elem, &t, &what, args[2].span.as_ref())?;
                }
                Ok(elem)
            }
            Builtin::Vfill => {
                let pt = self.first(name, args, sp)?;
                let (n, elem) = match self.zonk(&pt) {
                    Type::Ptr(v) => match *v {
                        Type::Vector(n, e) => (n, *e),
                        other => {
                            return Err(type_err(
                                format!("{what} needs a pointer to a vector, found {other}*"),
                                sp,
                            ));
                        }
                    },
                    other => {
                        return Err(type_err(
                            format!("{what} needs a pointer to a vector, found {other}"),
                            sp,
                        ));
                    }
                };
                if args.len() - 1 != n as usize {
                    return Err(type_err(
                        format!(
                            "{what}: a vector of {n} lanes given {} values",
                            args.len() - 1
                        ),
                        sp,
                    ));
                }
                for a in &args[1..] {
                    let t = self.expr(a, Some(&elem))?;
                    self.unify(&elem, &t, &what, a.span.as_ref())?;
                }
                Ok(Type::Void)
            }
            Builtin::Array | Builtin::ArrayRef => {
                if args.is_empty() {
                    return Err(type_err(format!("{name} needs elements"), sp));
                }
                let elem = self.one_type(args, Kind::Any, &what)?;
                let v = Type::Array(args.len() as u64, Box::new(elem));
                Ok(if b == Builtin::Array { v } else { Type::ptr(v) })
            }
            Builtin::Tuple | Builtin::TupleRef => {
                let mut fields = Vec::new();
                for a in args {
                    fields.push(self.expr(a, None)?);
                }
                let v = Type::Tuple(fields);
                Ok(if b == Builtin::Tuple { v } else { Type::ptr(v) })
            }
            _ => Err(type_err(format!("{what} is not a vector form"), sp)),
        }
    }

    /// `(callback time f args...)`: `time` an i64, `f` a closure that takes `args`.
    fn callback(&mut self, args: &[Expr], sp: Option<&Span>) -> Result<Type> {
        let [time, target, rest @ ..] = args else {
            return Err(type_err(
                "callback takes a time, a function and its arguments: \
                 (callback (+ time 44100) my-func 1 2)",
                sp,
            ));
        };
        if rest.len() > crate::runtime::scheduled::MAX_CALLBACK_ARGS {
            return Err(type_err(
                format!(
                    "callback passes {} arguments at most, given {}",
                    crate::runtime::scheduled::MAX_CALLBACK_ARGS,
                    rest.len()
                ),
                sp,
            ));
        }
        let t = self.expr(time, Some(&Type::I64))?;
        self.unify(&Type::I64, &t, "callback's time", time.span.as_ref())?;
        let params: Vec<Type> = rest.iter().map(|_| self.fresh(Kind::Any)).collect();
        let want = Type::Closure(Box::new(self.fresh(Kind::Any)), params.clone());
        let ft = self.expr(target, Some(&want))?;
        if let Type::Closure(_, p) = self.shallow(&ft)
            && p.len() != rest.len()
        {
            return Err(type_err(
                format!(
                    "callback: the function takes {} argument(s), given {}",
                    p.len(),
                    rest.len()
                ),
                target.span.as_ref(),
            ));
        }
        self.unify(&want, &ft, "callback's function", target.span.as_ref())?;
        for (p, a) in params.iter().zip(rest) {
            let t = self.expr(a, Some(p))?;
            self.unify(p, &t, "an argument of callback", a.span.as_ref())?;
        }
        Ok(Type::Void)
    }

    fn first(&mut self, name: &str, args: &[Expr], sp: Option<&Span>) -> Result<Type> {
        match args.first() {
            Some(a) => self.expr(a, None),
            None => Err(type_err(format!("{name} needs arguments"), sp)),
        }
    }

    fn array_elem(&mut self, t: &Type, what: &str, sp: Option<&Span>) -> Result<Type> {
        match self.zonk(t) {
            Type::Array(_, e) => Ok(*e),
            other => Err(type_err(
                format!("{what} needs a pointer to an array, found {other}*"),
                sp,
            )),
        }
    }

    /// The element type of an array value, or of the array a pointer points to.
    fn array_of(&mut self, t: &Type, what: &str, sp: Option<&Span>) -> Result<Type> {
        if let Type::Array(_, e) = self.zonk(t) {
            return Ok(*e);
        }
        let elem = self.pointee(t, what, sp)?;
        self.array_elem(&elem, what, sp)
    }

    /// The fields of a tuple value, or of the tuple a pointer points to.
    fn tuple_fields(&mut self, t: &Type, what: &str, sp: Option<&Span>) -> Result<Vec<Type>> {
        match self.zonk(t) {
            Type::Tuple(f) => {
                let globals = self.globals;
                let lookup = |n: &str, args: &[Type]| globals.named(n, args);
                Ok(f.iter().map(|x| x.unfold(&lookup)).collect())
            }
            Type::Ptr(inner) => match *inner {
                Type::Tuple(f) => {
                    let globals = self.globals;
                    let lookup = |n: &str, args: &[Type]| globals.named(n, args);
                    Ok(f.iter().map(|x| x.unfold(&lookup)).collect())
                }
                Type::Var(_) => Err(type_err(
                    format!(
                        "{what}: the tuple type is not known here; annotate the binding, as in t:<i64,i64>*"
                    ),
                    sp,
                )),
                other => Err(type_err(
                    format!("{what} needs a pointer to a tuple, found {other}*"),
                    sp,
                )),
            },
            Type::Var(_) => Err(type_err(
                format!(
                    "{what}: the tuple type is not known here; annotate the binding, as in t:<i64,i64>*"
                ),
                sp,
            )),
            other => Err(type_err(
                format!("{what} needs a pointer to a tuple, found {other}"),
                sp,
            )),
        }
    }
}
