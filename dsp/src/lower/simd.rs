//! Loops in SIMD: the fast version of a `dotimes` (see [`super::fast::FastLoop`]) runs two
//! iterations at a time in `F64X2` lanes, or four in `F32X4` lanes, when its iterations are
//! independent apart from reductions, then the scalar fast loop does the few left.
//!
//! A body qualifies ([`FnCx::simd_plan`]) when it computes on floats only (four lanes),
//! or on doubles and floats (two lanes; each float held as the double of its value, see
//! [`FnCx::round_to_float`]), with constants, the counter as a number (`(i64tod i)`,
//! `(i64tof i)`, and in doubles `(i64tod (+ c i))` for an integer c the loop does not
//! change), `+ - * /`, comparisons under a pure `if` (lowered as a lane select) or an
//! `(if c (set! x e))` of a variable already written (x = c ? e : x, lane by lane),
//! `ftod`/`dtof`, the inline math of [`super::math_ir`] and `sqrt fabs floor ceil trunc
//! fmin fmax`; reads and writes `(pref p i)` / `(pset! p i x)` of `double*` or `float*`
//! with `i` the counter (in a loop on doubles, two floats a vector); and each variable it
//! assigns is either
//! - private: written before it is read in every iteration (its last lane is its value
//!   after the loop), or
//! - a reduction: only ever `(set! s (+ s e))` (either order) or `(set! s (fmax s e))` /
//!   `(fmin ...)`; each lane accumulates its own, and the lanes are combined after the
//!   loop (so a sum adds in a different order than the scalar loop: it may differ in the
//!   last bits).
//!
//! A cheap body (no inline math) runs two vectors an iteration, each reduction with a
//! second accumulator for the second vector, so a sum's adds are not one serial chain;
//! the second accumulators are folded into the first before the last vector, if any.
//!
//! Variables it only reads are the same in every lane. The fast loop's guard (trip count,
//! disjoint ranges) and the hoisted range checks (see [`super::checks`]) cover the vector
//! accesses too: they touch exactly the elements the scalar loop would.
//!
//! Floats compute lane by lane as the scalar loop does; their inline math, which the
//! scalar loop computes in double and rounds once, runs as two `F64X2` halves, each
//! rounded back to floats, so every lane's bits are the scalar loop's.

use super::batch::{Gather, Site};
use super::math_ir::{self, MathEmitter};
use super::{FnCx, internal};
use crate::builtin::{Arith, Builtin, Compare, Math, Scalar};
use crate::error::Result;
use crate::infer::{Ref, Typed};
use crate::syntax::{Expr, ExprKind};
use crate::types::Type;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    Block, ConstantData, Endianness, InstBuilder, MemFlagsData, Value, types,
};
use cranelift_frontend::Variable;
use std::collections::HashMap;

/// How a variable the body assigns is carried across lanes.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Role {
    Private,
    Sum,
    Max,
    Min,
}

/// What [`FnCx::simd_plan`] found: the role of every variable the body assigns, and the
/// variables it only reads.
pub(super) struct Plan {
    /// The math calls gathered for the wide kernels (see [`super::batch`]); none
    /// when the body computes its math in the lanes.
    pub(super) gather: Vec<Site>,
    /// `Type::Double` or `Type::Float`: what every lane holds.
    elem: Type,
    counter: usize,
    roles: Vec<(usize, Role)>,
    invariants: Vec<usize>,
    /// Run two vectors an iteration, with a second accumulator for each reduction: the body
    /// is cheap (no inline math), so a single accumulator's chain of adds would bound it.
    unroll: bool,
}

impl Plan {
    /// The variables the body reduces (sums, maxima, minima).
    pub(super) fn reductions(&self) -> Vec<usize> {
        self.roles
            .iter()
            .filter(|(_, r)| *r != Role::Private)
            .map(|(id, _)| *id)
            .collect()
    }
}

/// State while lowering one vector iteration.
pub(super) struct Lanes {
    /// `F64X2` or `F32X4`.
    pub(super) vty: types::Type,
    pub(super) counter: Variable,
    /// The counter's variable in the syntax.
    counter_id: usize,
    pub(super) vars: HashMap<usize, Variable>,
    pub(super) invariants: HashMap<usize, Value>,
    pub(super) bases: HashMap<usize, Value>,
    /// `p[i..i+2]` for pointers loaded or stored so far in this iteration.
    known: Vec<(usize, Value)>,
    /// Bytes from the counter's element to this vector's: the second vector of an
    /// unrolled iteration is addressed with a displacement, not a second index.
    pub(super) disp: i32,
    /// The gathering loop's state, in a body whose math calls are gathered.
    pub(super) gather: Option<Gather>,
}

/// The vector type, the number of its lanes and their size in bytes for `elem`.
fn shape(elem: &Type) -> (types::Type, i64, i64) {
    if *elem == Type::Float {
        (types::F32X4, 4, 4)
    } else {
        (types::F64X2, 2, 8)
    }
}

/// The arithmetic the vector lowering knows (`%` is not among it).
fn arith(op: Arith) -> bool {
    op != Arith::Rem
}

/// The math builtins that are one vector instruction.
fn native(m: Math) -> bool {
    matches!(
        m,
        Math::Sqrt | Math::Fabs | Math::Floor | Math::Ceil | Math::Trunc | Math::Fmin | Math::Fmax
    )
}

/// The analysis behind [`FnCx::simd_plan`], in evaluation order.
struct Scan<'c, 'a, 'b> {
    cx: &'c FnCx<'a, 'b>,
    /// `Type::Double` or `Type::Float`: the type every value must have.
    elem: Type,
    counter: usize,
    ptrs: &'c [usize],
    /// Variables `set!` or bound in the body.
    assigned: Vec<usize>,
    /// Written so far in the iteration.
    written: Vec<usize>,
    roles: Vec<(usize, Role)>,
    invariants: Vec<usize>,
    /// The body calls inline math (see [`math_ir`]).
    heavy: bool,
}

impl FnCx<'_, '_> {
    pub(super) fn local_of(&self, x: &Expr) -> Option<usize> {
        match self.typed.refs.get(&x.id) {
            Some(Ref::Local(id)) if matches!(x.kind, ExprKind::Var(_)) => Some(*id),
            _ => None,
        }
    }

    /// A plan for running `body`, the body of a fast `dotimes` over `v` accessing `ptrs`,
    /// two (doubles) or four (floats) iterations at a time, or `None` when it does not
    /// qualify.
    pub(super) fn simd_plan(&self, v: usize, body: &[Expr], ptrs: &[usize]) -> Option<Plan> {
        // (floats alone run four to a vector; a loop on doubles also takes floats, two to a
        // vector)
        [Type::Float, Type::Double]
            .into_iter()
            .find_map(|elem| self.simd_plan_of(elem, v, body, ptrs))
    }

    fn simd_plan_of(&self, elem: Type, v: usize, body: &[Expr], ptrs: &[usize]) -> Option<Plan> {
        let mut assigned = Vec::new();
        for e in body {
            self.assigned_in(e, &mut assigned);
        }
        let mut scan = Scan {
            cx: self,
            elem: elem.clone(),
            counter: v,
            ptrs,
            assigned,
            written: Vec::new(),
            roles: Vec::new(),
            invariants: Vec::new(),
            heavy: false,
        };
        for e in body {
            scan.stmt(e)?;
        }
        for &a in &scan.assigned {
            if !scan.roles.iter().any(|(x, _)| *x == a) {
                scan.roles.push((a, Role::Private));
            }
        }
        let gather = if scan.heavy {
            self.batch_sites(body, &elem).unwrap_or_default()
        } else {
            Vec::new()
        };
        Some(Plan {
            elem,
            counter: v,
            unroll: !scan.heavy,
            gather,
            roles: scan.roles,
            invariants: scan.invariants,
        })
    }

    fn assigned_in(&self, e: &Expr, out: &mut Vec<usize>) {
        match &e.kind {
            ExprKind::Set(..) => {
                if let Some(Ref::Local(id)) = self.typed.refs.get(&e.id)
                    && !out.contains(id)
                {
                    out.push(*id);
                }
            }
            ExprKind::Let(..) => {
                for id in self.typed.let_vars.get(&e.id).into_iter().flatten() {
                    if !out.contains(id) {
                        out.push(*id);
                    }
                }
            }
            _ => {}
        }
        for c in e.children() {
            self.assigned_in(c, out);
        }
    }

    /// Runs the body of `plan` a vector of iterations at a time from the current block (the
    /// fast loop's guard held), then continues in `scalar` (the scalar fast loop, for the
    /// last few iterations) or `exit`.
    pub(super) fn simd_loop(
        &mut self,
        plan: &Plan,
        nv: Value,
        body: &[Expr],
        scalar: Block,
        exit: Block,
        site: u32,
    ) -> Result<()> {
        let v = plan.counter;
        let (vty, n, _) = shape(&plan.elem);
        let pairs = self.round_down(nv, n);
        let mut lanes = Lanes {
            vty,
            counter: self.b.declare_var(types::I64),
            counter_id: plan.counter,
            vars: HashMap::new(),
            invariants: HashMap::new(),
            bases: HashMap::new(),
            known: Vec::new(),
            disp: 0,
            gather: None,
        };
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(lanes.counter, zero);
        for &id in &plan.invariants {
            let x = self
                .read_var(id, site)?
                .ok_or_else(|| internal("void invariant"))?;
            if self.typed.vars[id].ty.is_pointer() {
                let base = self.strip(x);
                lanes.bases.insert(id, base);
            } else {
                let x = self.widened(id, x, vty);
                let all = self.b.ins().splat(vty, x);
                lanes.invariants.insert(id, all);
            }
        }
        for &(id, role) in &plan.roles {
            let var = self.b.declare_var(vty);
            // A sum starts as (s, 0); the others as s in both lanes; a variable bound inside
            // the body as 0 (it is written before it is read).
            let init = match (self.vars.contains_key(&id), role) {
                (true, Role::Sum) => {
                    let x = self
                        .read_var(id, site)?
                        .ok_or_else(|| internal("void variable"))?;
                    let x = self.widened(id, x, vty);
                    let z = self.splat_const(0.0, vty);
                    self.b.ins().insertlane(z, x, 0)
                }
                (true, _) => {
                    let x = self
                        .read_var(id, site)?
                        .ok_or_else(|| internal("void variable"))?;
                    let x = self.widened(id, x, vty);
                    self.b.ins().splat(vty, x)
                }
                (false, _) => self.splat_const(0.0, vty),
            };
            self.b.def_var(var, init);
            lanes.vars.insert(id, var);
        }
        let vdone = self.b.create_block();
        if !plan.gather.is_empty() {
            self.gathered_loop(plan, &mut lanes, (pairs, vdone), body, site)?;
        } else {
            let vloop = self.b.create_block();
            if plan.unroll {
                self.unrolled_loop(plan, &mut lanes, nv, body, site)?;
                let i = self.b.use_var(lanes.counter);
                let any = self.b.ins().icmp(IntCC::SignedLessThan, i, pairs);
                self.b.ins().brif(any, vloop, &[], vdone, &[]);
            } else {
                let any = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, pairs, 0);
                self.b.ins().brif(any, vloop, &[], vdone, &[]);
            }
            self.b.switch_to_block(vloop);
            self.vbody(body, &mut lanes)?;
            let i2 = self.vstep(&lanes, n);
            let more = self.b.ins().icmp(IntCC::SignedLessThan, i2, pairs);
            self.b.ins().brif(more, vloop, &[], vdone, &[]);
            self.b.seal_block(vloop);
        }
        self.b.switch_to_block(vdone);
        self.b.seal_block(vdone);
        for &(id, role) in &plan.roles {
            if !self.vars.contains_key(&id) {
                continue;
            }
            let x = self.b.use_var(lanes.vars[&id]);
            // a float held widened comes out as the float it is
            let float = vty == types::F64X2 && self.typed.vars[id].ty == Type::Float;
            let each: Vec<Value> = (0..n as u8)
                .map(|k| {
                    let y = self.b.ins().extractlane(x, k);
                    if float {
                        self.b.ins().fdemote(types::F32, y)
                    } else {
                        y
                    }
                })
                .collect();
            let r = match role {
                Role::Private => each[each.len() - 1],
                _ => {
                    let mut acc = each[0];
                    for &y in &each[1..] {
                        acc = match role {
                            Role::Sum => self.b.ins().fadd(acc, y),
                            Role::Max => self.b.ins().fmax(acc, y),
                            _ => self.b.ins().fmin(acc, y),
                        };
                    }
                    acc
                }
            };
            self.write_var(id, r, site)?;
        }
        self.write_var(v, pairs, site)?;
        let odd = self.b.ins().icmp(IntCC::SignedLessThan, pairs, nv);
        self.b.ins().brif(odd, scalar, &[], exit, &[]);
        Ok(())
    }

    /// Variable `id`'s value `x`, as the lanes of `vty` hold it: a float's double in a
    /// loop on doubles (see [`FnCx::round_to_float`]).
    fn widened(&mut self, id: usize, x: Value, vty: types::Type) -> Value {
        if vty == types::F64X2 && self.typed.vars[id].ty == Type::Float {
            self.b.ins().fpromote(types::F64, x)
        } else {
            x
        }
    }

    /// `nv` rounded down to a multiple of `k` (a power of two), as `nv - (nv & (k - 1))`:
    /// Cranelift computes `nv & !(k - 1)` again in every block that uses it (an `and` with
    /// a constant), which put two instructions in every iteration of a loop bounded by it.
    fn round_down(&mut self, nv: Value, k: i64) -> Value {
        let rest = self.b.ins().band_imm_s(nv, k - 1);
        self.b.ins().isub(nv, rest)
    }

    /// One vector iteration of `body`, at the lanes' counter.
    pub(super) fn vbody(&mut self, body: &[Expr], l: &mut Lanes) -> Result<()> {
        if let Some(g) = l.gather.as_mut() {
            g.site = 0;
        }
        for e in body {
            self.vexpr(e, l)?;
        }
        l.known.clear();
        Ok(())
    }

    /// Moves the lanes' counter on by `n` iterations; the new counter.
    pub(super) fn vstep(&mut self, l: &Lanes, n: i64) -> Value {
        let i = self.b.use_var(l.counter);
        let next = self.b.ins().iadd_imm_s(i, n);
        self.b.def_var(l.counter, next);
        next
    }

    /// For a cheap body ([`Plan::unroll`], or a gathering loop's last pass): runs two
    /// vectors of iterations at a time from the lanes' counter while both fit in `nv`,
    /// each reduction accumulating the second vector's lanes apart, then folds those
    /// accumulators into the first ones. The single-vector loop does the rest.
    pub(super) fn unrolled_loop(
        &mut self,
        plan: &Plan,
        l: &mut Lanes,
        nv: Value,
        body: &[Expr],
        site: u32,
    ) -> Result<()> {
        let (vty, n, _) = shape(&plan.elem);
        let quads = self.round_down(nv, 2 * n);
        let mut twins = Vec::new();
        for &(id, role) in plan.roles.iter().filter(|(_, r)| *r != Role::Private) {
            let twin = self.b.declare_var(vty);
            let init = match (self.vars.contains_key(&id), role) {
                (true, Role::Max | Role::Min) => {
                    let x = self
                        .read_var(id, site)?
                        .ok_or_else(|| internal("void variable"))?;
                    let x = self.widened(id, x, vty);
                    self.b.ins().splat(vty, x)
                }
                _ => self.splat_const(0.0, vty),
            };
            self.b.def_var(twin, init);
            twins.push((id, role, twin));
        }
        let (uloop, utail) = (self.b.create_block(), self.b.create_block());
        let i = self.b.use_var(l.counter);
        let any = self.b.ins().icmp(IntCC::SignedLessThan, i, quads);
        self.b.ins().brif(any, uloop, &[], utail, &[]);
        self.b.switch_to_block(uloop);
        self.vbody(body, l)?;
        let (_, _, size) = shape(&plan.elem);
        l.disp = (n * size) as i32;
        let mut firsts = Vec::new();
        for &(id, _, twin) in &twins {
            let first = l.vars.insert(id, twin);
            firsts.push(first.ok_or_else(|| internal("SIMD reduction not planned"))?);
        }
        self.vbody(body, l)?;
        l.disp = 0;
        for (&(id, _, _), first) in twins.iter().zip(firsts) {
            l.vars.insert(id, first);
        }
        let i2 = self.vstep(l, 2 * n);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i2, quads);
        self.b.ins().brif(more, uloop, &[], utail, &[]);
        self.b.seal_block(uloop);
        self.b.switch_to_block(utail);
        self.b.seal_block(utail);
        for (id, role, twin) in twins {
            let var = l.vars[&id];
            let (a, b) = (self.b.use_var(var), self.b.use_var(twin));
            let r = match role {
                Role::Sum => self.b.ins().fadd(a, b),
                Role::Max => self.b.ins().fmax(a, b),
                _ => self.b.ins().fmin(a, b),
            };
            let r = if vty == types::F64X2 && self.typed.vars[id].ty == Type::Float {
                self.round_to_float(r)
            } else {
                r
            };
            self.b.def_var(var, r);
        }
        Ok(())
    }

    fn vvalue(&mut self, e: &Expr, l: &mut Lanes) -> Result<Value> {
        self.vexpr(e, l)?
            .ok_or_else(|| internal("void expression in a SIMD loop"))
    }

    /// `x` in every lane of `vty` (rounded to a float for `F32X4`).
    fn splat_const(&mut self, x: f64, vty: types::Type) -> Value {
        let c = if vty == types::F32X4 {
            self.b.ins().f32const(x as f32)
        } else {
            self.b.ins().f64const(x)
        };
        self.b.ins().splat(vty, c)
    }

    /// The pointer of `(pref p i)` / `(pset! p i ..)`, the address of the counter's
    /// element, and the displacement of this vector's first (see [`Lanes::disp`]).
    fn velem_addr(&mut self, args: &[Expr], l: &Lanes) -> Result<(usize, Value, i32)> {
        let p = self
            .local_of(&args[0])
            .ok_or_else(|| internal("SIMD pointer"))?;
        let base = *l.bases.get(&p).ok_or_else(|| internal("SIMD base"))?;
        let i = self.b.use_var(l.counter);
        let lane = if l.vty == types::F32X4 { 4 } else { 8 };
        // floats in a loop on doubles: two to a vector
        let size = if self.narrow_array(p, l) { 4 } else { lane };
        let off = self.b.ins().imul_imm_s(i, size);
        Ok((
            p,
            self.b.ins().iadd(base, off),
            l.disp / lane as i32 * size as i32,
        ))
    }

    /// True for a `float*` in a loop on doubles (read with `ftod`, written with `dtof`).
    fn narrow_array(&self, p: usize, l: &Lanes) -> bool {
        l.vty == types::F64X2 && FnCx::pointee(&self.typed.vars[p].ty) == Type::Float
    }

    /// One expression of the body, over both lanes (see [`FnCx::simd_plan`] for what it
    /// may be).
    fn vexpr(&mut self, e: &Expr, l: &mut Lanes) -> Result<Option<Value>> {
        let flags = MemFlagsData::new().with_notrap();
        // a float in a loop on doubles: held as the double of its value (see
        // `round_to_float`)
        let widened = l.vty == types::F64X2 && self.typed.types[e.id] == Type::Float;
        Ok(Some(match &e.kind {
            ExprKind::Int(i) if widened => self.splat_const(f64::from(*i as f32), l.vty),
            ExprKind::Float(x) if widened => self.splat_const(f64::from(*x as f32), l.vty),
            ExprKind::Int(i) => self.splat_const(*i as f64, l.vty),
            ExprKind::Float(x) => self.splat_const(*x, l.vty),
            ExprKind::Var(_) => {
                let id = self.local_of(e).ok_or_else(|| internal("SIMD variable"))?;
                match (l.vars.get(&id), l.invariants.get(&id)) {
                    (Some(var), _) => self.b.use_var(*var),
                    (None, Some(x)) => *x,
                    _ => return Err(internal("SIMD variable not planned")),
                }
            }
            ExprKind::Let(binds, body) => {
                let ids = self.typed.let_vars.get(&e.id).cloned().unwrap_or_default();
                for ((_, x), id) in binds.iter().zip(ids) {
                    let val = self.vvalue(x, l)?;
                    let var = *l.vars.get(&id).ok_or_else(|| internal("SIMD let"))?;
                    self.b.def_var(var, val);
                }
                let mut last = None;
                for x in body {
                    last = self.vexpr(x, l)?;
                }
                return Ok(last);
            }
            ExprKind::Begin(body) => {
                let mut last = None;
                for x in body {
                    last = self.vexpr(x, l)?;
                }
                return Ok(last);
            }
            ExprKind::Set(_, x) => {
                let val = self.vvalue(x, l)?;
                let Some(Ref::Local(id)) = self.typed.refs.get(&e.id) else {
                    return Err(internal("SIMD set!"));
                };
                let var = *l.vars.get(id).ok_or_else(|| internal("SIMD set! target"))?;
                let skip = l
                    .gather
                    .as_ref()
                    .is_some_and(|g| g.dry && g.reductions.contains(id));
                if !skip {
                    self.b.def_var(var, val);
                }
                val
            }
            ExprKind::If(c, th, None) => {
                let (ExprKind::Set(_, x), Some(Ref::Local(id))) =
                    (&th.kind, self.typed.refs.get(&th.id))
                else {
                    return Err(internal("SIMD one-armed if"));
                };
                let var = *l.vars.get(id).ok_or_else(|| internal("SIMD set! target"))?;
                let m = self.vvalue(c, l)?;
                let new = self.vvalue(x, l)?;
                let old = self.b.use_var(var);
                let m = self.b.ins().bitcast(
                    l.vty,
                    MemFlagsData::new().with_endianness(Endianness::Little),
                    m,
                );
                let v = self.b.ins().bitselect(m, new, old);
                self.b.def_var(var, v);
                return Ok(None);
            }
            ExprKind::If(c, th, Some(el)) => {
                let m = self.vvalue(c, l)?;
                let a = self.vvalue(th, l)?;
                let b = self.vvalue(el, l)?;
                let m = self.b.ins().bitcast(
                    l.vty,
                    MemFlagsData::new().with_endianness(Endianness::Little),
                    m,
                );
                self.b.ins().bitselect(m, a, b)
            }
            ExprKind::App(_, args) => match self
                .typed
                .builtin(e.id)
                .ok_or_else(|| internal("call not planned for SIMD"))?
            {
                Builtin::Pref => {
                    let (p, addr, disp) = self.velem_addr(args, l)?;
                    if let Some((_, x)) = l.known.iter().rev().find(|(q, _)| *q == p) {
                        *x
                    } else {
                        // A gathering loop's first pass stores nothing: what it loads and
                        // does not use is dropped.
                        let flags = if l.gather.as_ref().is_some_and(|g| g.dry) {
                            flags.with_readonly().with_can_move()
                        } else {
                            flags
                        };
                        let x = if self.narrow_array(p, l) {
                            self.load_floats(addr, disp, flags)
                        } else {
                            self.b.ins().load(l.vty, flags, addr, disp)
                        };
                        l.known.push((p, x));
                        x
                    }
                }
                Builtin::Pset => {
                    let p = self
                        .local_of(&args[0])
                        .ok_or_else(|| internal("SIMD pointer"))?;
                    let narrow = self.narrow_array(p, l);
                    // (dtof y) stored to floats: y rounded once, by the store
                    let shortcut = narrowed(&args[2], self.typed).filter(|_| narrow);
                    let x = self.vvalue(shortcut.unwrap_or(&args[2]), l)?;
                    let (p, addr, disp) = self.velem_addr(args, l)?;
                    let dry = l.gather.as_ref().is_some_and(|g| g.dry);
                    l.known.retain(|(q, _)| *q != p);
                    if narrow {
                        // two floats, eight bytes: the demoted lanes 0 and 1
                        if !dry {
                            let little = MemFlagsData::new().with_endianness(Endianness::Little);
                            let f = self.b.ins().fvdemote(x);
                            let pair = self.b.ins().bitcast(types::F64X2, little, f);
                            let pair = self.b.ins().extractlane(pair, 0);
                            self.b.ins().store(flags, pair, addr, disp);
                        }
                        // the floats stored, held widened (unused, the rounding is dropped)
                        let stored = if shortcut.is_some() {
                            self.round_to_float(x)
                        } else {
                            x
                        };
                        l.known.push((p, stored));
                        return Ok(Some(stored));
                    }
                    if !dry {
                        self.b.ins().store(flags, x, addr, disp);
                    }
                    l.known.push((p, x));
                    x
                }
                // a float held widened is its double
                Builtin::Convert(Scalar::F, Scalar::D) => self.vvalue(&args[0], l)?,
                Builtin::Convert(Scalar::D, Scalar::F) => {
                    let x = self.vvalue(&args[0], l)?;
                    self.round_to_float(x)
                }
                Builtin::Convert(Scalar::I64, _) => {
                    // lane k holds the counter (plus c) plus k (and the vector's place in
                    // an unrolled iteration)
                    let (float, size) = if l.vty == types::F32X4 {
                        (types::F32, 4)
                    } else {
                        (types::F64, 8)
                    };
                    let mut i = self.b.use_var(l.counter);
                    let plus = counter_plus(&args[0], l.counter_id, self)
                        .ok_or_else(|| internal("SIMD counter"))?;
                    if let Some(c) = plus {
                        let c = match (&c.kind, self.local_of(c)) {
                            (ExprKind::Int(n), _) => self.b.ins().iconst(types::I64, *n),
                            (_, Some(id)) => self
                                .read_var(id, 0)?
                                .ok_or_else(|| internal("SIMD counter offset"))?,
                            _ => return Err(internal("SIMD counter offset")),
                        };
                        i = self.b.ins().iadd(i, c);
                    }
                    let x = self.b.ins().fcvt_from_sint(float, i);
                    let all = self.b.ins().splat(l.vty, x);
                    let first = (l.disp / size) as usize;
                    let lanes = if float == types::F32 { 4 } else { 2 };
                    let bytes: Vec<u8> = (0..lanes)
                        .flat_map(|k| {
                            let v = (first + k) as f64;
                            if float == types::F32 {
                                (v as f32).to_le_bytes().to_vec()
                            } else {
                                v.to_le_bytes().to_vec()
                            }
                        })
                        .collect();
                    let h = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
                    let steps = self.b.ins().vconst(l.vty, h);
                    let x = self.b.ins().fadd(all, steps);
                    if widened { self.round_to_float(x) } else { x }
                }
                Builtin::Arith(Arith::Sub) if args.len() == 1 => {
                    let x = self.vvalue(&args[0], l)?;
                    self.b.ins().fneg(x)
                }
                Builtin::Arith(op) if arith(op) => {
                    // (floats held widened: each step rounded, as float arithmetic)
                    let mut acc = self.vvalue(&args[0], l)?;
                    for a in &args[1..] {
                        // dividing by a power of two: multiplying by its reciprocal, as
                        // the scalar code does (see `exact_reciprocal`)
                        let reciprocal = match a.kind {
                            ExprKind::Float(c) if op == Arith::Div => Some(c),
                            ExprKind::Int(c) if op == Arith::Div => Some(c as f64),
                            _ => None,
                        }
                        .map(|c| match self.typed.types[a.id] {
                            Type::Float => f64::from(c as f32),
                            _ => c,
                        })
                        .and_then(super::builtins::exact_reciprocal);
                        if let Some(r) = reciprocal {
                            let r = self.splat_const(r, l.vty);
                            acc = self.b.ins().fmul(acc, r);
                            if widened {
                                acc = self.round_to_float(acc);
                            }
                            continue;
                        }
                        let x = self.vvalue(a, l)?;
                        acc = match op {
                            Arith::Add => self.b.ins().fadd(acc, x),
                            Arith::Sub => self.b.ins().fsub(acc, x),
                            Arith::Mul => self.b.ins().fmul(acc, x),
                            _ => self.b.ins().fdiv(acc, x),
                        };
                        if widened {
                            acc = self.round_to_float(acc);
                        }
                    }
                    acc
                }
                Builtin::Compare(op) => {
                    let a = self.vvalue(&args[0], l)?;
                    let b = self.vvalue(&args[1], l)?;
                    let cc = match op {
                        Compare::Eq => FloatCC::Equal,
                        Compare::Lt => FloatCC::LessThan,
                        Compare::Gt => FloatCC::GreaterThan,
                        Compare::Le => FloatCC::LessThanOrEqual,
                        Compare::Ge => FloatCC::GreaterThanOrEqual,
                        Compare::Ne => FloatCC::NotEqual,
                    };
                    self.b.ins().fcmp(cc, a, b)
                }
                Builtin::Math(m) if native(m) => {
                    let a = self.vvalue(&args[0], l)?;
                    match m {
                        Math::Sqrt if widened => {
                            let r = self.b.ins().sqrt(a);
                            self.round_to_float(r)
                        }
                        Math::Sqrt => self.b.ins().sqrt(a),
                        Math::Fabs => self.b.ins().fabs(a),
                        Math::Floor => self.b.ins().floor(a),
                        Math::Ceil => self.b.ins().ceil(a),
                        Math::Trunc => self.b.ins().trunc(a),
                        _ => {
                            let b = self.vvalue(&args[1], l)?;
                            if m == Math::Fmin {
                                self.b.ins().fmin(a, b)
                            } else {
                                self.b.ins().fmax(a, b)
                            }
                        }
                    }
                }
                Builtin::Math(m) => {
                    let vals = args
                        .iter()
                        .map(|a| self.vvalue(a, l))
                        .collect::<Result<Vec<_>>>()?;
                    let r = if l.gather.is_some() && self.has_kernel(m) {
                        self.gathered(l, &vals)?
                    } else if l.vty == types::F32X4 {
                        self.float_math(m, &vals)?
                    } else {
                        self.f64x2_math(m, &vals)?
                    };
                    // a float's math computed in double, rounded once
                    if widened { self.round_to_float(r) } else { r }
                }
                _ => return Err(internal("call not planned for SIMD")),
            },
            _ => return Err(internal("expression not planned for SIMD")),
        }))
    }
}

impl FnCx<'_, '_> {
    /// Lanes of doubles rounded to floats, and held as doubles again. A loop on doubles
    /// holds its float values so: each float operation is computed in double and rounded,
    /// which gives the float operation's bits (a double has more than twice a float's
    /// precision, so for `+ - * /` and `sqrt` rounding twice is rounding once), and float
    /// math is computed in double and rounded once, as the scalar code does.
    pub(super) fn round_to_float(&mut self, x: Value) -> Value {
        let f = self.b.ins().fvdemote(x);
        self.b.ins().fvpromote_low(f)
    }

    /// Two floats at `addr + disp`, widened to the lanes of an `F64X2`.
    fn load_floats(&mut self, addr: Value, disp: i32, flags: MemFlagsData) -> Value {
        let little = MemFlagsData::new().with_endianness(Endianness::Little);
        let pair = self.b.ins().load(types::F64, flags, addr, disp);
        let v = self.b.ins().scalar_to_vector(types::F64X2, pair);
        let f = self.b.ins().bitcast(types::F32X4, little, v);
        self.b.ins().fvpromote_low(f)
    }

    /// Inline math over `F64X2` lanes.
    fn f64x2_math(&mut self, m: Math, vals: &[Value]) -> Result<Value> {
        let (cc, fma) = (self.consts.call_conv, self.consts.fma);
        MathEmitter::new(&mut self.b, types::F64X2, cc, fma)
            .call(m, vals)
            .ok_or_else(|| internal("SIMD math"))
    }

    /// Inline math over `F32X4` lanes, as the scalar loop computes it: each half widened
    /// to `F64X2`, computed there, and rounded back to floats.
    fn float_math(&mut self, m: Math, vals: &[Value]) -> Result<Value> {
        let mut halves = [Vec::new(), Vec::new()];
        for &v in vals {
            let (lo, hi) = self.widen(v);
            halves[0].push(lo);
            halves[1].push(hi);
        }
        let lo = self.f64x2_math(m, &halves[0])?;
        let hi = self.f64x2_math(m, &halves[1])?;
        Ok(self.narrow(lo, hi))
    }

    /// The `F32X4` lanes `v` as two `F64X2`: lanes 0 and 1, then lanes 2 and 3.
    pub(super) fn widen(&mut self, v: Value) -> (Value, Value) {
        // lanes 2 and 3 moved down to 0 and 1
        let high: Vec<u8> = (0..16).map(|i| 8 + i % 8).collect();
        let up = self.shuffle_bytes(v, v, &high);
        (
            self.b.ins().fvpromote_low(v),
            self.b.ins().fvpromote_low(up),
        )
    }

    /// Two `F64X2` rounded to floats, as the `F32X4` of their four lanes in order.
    pub(super) fn narrow(&mut self, lo: Value, hi: Value) -> Value {
        // lanes 0 and 1 of the first operand, then lanes 0 and 1 of the second
        let join: Vec<u8> = (0..16).map(|i| if i < 8 { i } else { 8 + i }).collect();
        let lo = self.b.ins().fvdemote(lo);
        let hi = self.b.ins().fvdemote(hi);
        self.shuffle_bytes(lo, hi, &join)
    }

    /// The bytes `mask` picks from `a` (0–15) and `b` (16–31), both `F32X4`.
    fn shuffle_bytes(&mut self, a: Value, b: Value, mask: &[u8]) -> Value {
        let little = MemFlagsData::new().with_endianness(Endianness::Little);
        let a = self.b.ins().bitcast(types::I8X16, little, a);
        let b = self.b.ins().bitcast(types::I8X16, little, b);
        let imm = self
            .b
            .func
            .dfg
            .immediates
            .push(ConstantData::from(mask.to_vec()));
        let r = self.b.ins().shuffle(a, b, imm);
        self.b.ins().bitcast(types::F32X4, little, r)
    }
}

impl Scan<'_, '_, '_> {
    /// The pointer of `(pref p i)` / `(pset! p i ...)` (`args`) when `p` points to `elem`
    /// (or, in a loop on doubles, to floats), is one of the loop's and `i` is the counter.
    fn element_of(&self, args: &[Expr], elem: &Type) -> Option<usize> {
        let cx = self.cx;
        let p = cx.local_of(args.first()?)?;
        let ty = &cx.typed.vars[p].ty;
        let of = |t: &Type| *ty == Type::ptr(t.clone());
        let ok = of(elem) || (self.elem == Type::Double && of(&Type::Float));
        (ok && self.ptrs.contains(&p) && cx.local_of(args.get(1)?) == Some(self.counter))
            .then_some(p)
    }

    fn note_pointer(&mut self, p: usize) {
        if !self.invariants.contains(&p) {
            self.invariants.push(p);
        }
    }

    /// True when a value of type `t` runs in the plan's lanes: the element type, or in a
    /// loop on doubles a float (held widened, see [`FnCx::round_to_float`]).
    fn lane_type(&self, t: &Type) -> bool {
        *t == self.elem || (self.elem == Type::Double && *t == Type::Float)
    }

    /// True when `e`'s value runs in the plan's lanes (see [`Scan::lane_type`]).
    fn in_lanes(&self, e: &Expr) -> bool {
        self.lane_type(&self.cx.typed.types[e.id])
    }

    /// True when `c` is a comparison of two values of the element type.
    fn compare(&self, c: &Expr) -> bool {
        matches!(&c.kind, ExprKind::App(_, args)
            if matches!(self.cx.typed.builtin(c.id), Some(Builtin::Compare(_)))
                && args.len() == 2
                && args.iter().all(|a| self.in_lanes(a)))
    }

    fn reduction<'e>(&self, e: &'e Expr, s: usize) -> Option<(Role, &'e Expr)> {
        let ExprKind::App(_, args) = &e.kind else {
            return None;
        };
        if args.len() != 2 {
            return None;
        }
        let role = match self.cx.typed.builtin(e.id)? {
            Builtin::Arith(Arith::Add) => Role::Sum,
            Builtin::Math(Math::Fmax) => Role::Max,
            Builtin::Math(Math::Fmin) => Role::Min,
            _ => return None,
        };
        let is_s = |x: &Expr| self.cx.local_of(x) == Some(s);
        match (is_s(&args[0]), is_s(&args[1])) {
            (true, false) => Some((role, &args[1])),
            (false, true) => Some((role, &args[0])),
            _ => None,
        }
    }

    /// A statement of the body (a `set!` may be a reduction here).
    fn stmt(&mut self, e: &Expr) -> Option<()> {
        if let ExprKind::Set(_, x) = &e.kind
            && let Some(Ref::Local(s)) = self.cx.typed.refs.get(&e.id)
            && !self.written.contains(s)
            && let Some((role, rest)) = self.reduction(x, *s)
        {
            let known = self.roles.iter().find(|(v, _)| v == s).map(|(_, r)| *r);
            if known.is_some_and(|r| r != role) || !self.in_lanes(x) {
                return None;
            }
            self.value(rest)?;
            if known.is_none() {
                self.roles.push((*s, role));
            }
            return Some(());
        }
        match &e.kind {
            ExprKind::Begin(body) => body.iter().try_for_each(|x| self.stmt(x)),
            _ => self.value(e).map(|_| ()),
        }
    }

    /// An expression whose value the body uses: a double, or under an `if` a comparison.
    fn value(&mut self, e: &Expr) -> Option<()> {
        let cx = self.cx;
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Float(_) => self.in_lanes(e).then_some(()),
            ExprKind::Var(_) => {
                let id = cx.local_of(e)?;
                if self.roles.iter().any(|(v, _)| *v == id) {
                    return None;
                }
                if self.assigned.contains(&id) {
                    return self.written.contains(&id).then_some(());
                }
                if id == self.counter || !self.in_lanes(e) || !cx.vars.contains_key(&id) {
                    return None;
                }
                if !self.invariants.contains(&id) {
                    self.invariants.push(id);
                }
                Some(())
            }
            ExprKind::Let(binds, body) => {
                let ids = cx.typed.let_vars.get(&e.id)?;
                for ((_, x), id) in binds.iter().zip(ids) {
                    if !self.lane_type(&cx.typed.vars[*id].ty) {
                        return None;
                    }
                    self.value(x)?;
                    self.written.push(*id);
                }
                body.iter().try_for_each(|x| self.stmt(x))
            }
            ExprKind::Begin(body) => body.iter().try_for_each(|x| self.stmt(x)),
            ExprKind::Set(_, x) => {
                let Some(Ref::Local(id)) = cx.typed.refs.get(&e.id) else {
                    return None;
                };
                if self.roles.iter().any(|(v, _)| v == id) || !self.in_lanes(x) {
                    return None;
                }
                self.value(x)?;
                self.written.push(*id);
                Some(())
            }
            ExprKind::If(c, th, None) => {
                // `(if c (set! x e))` of a variable already written: x = c ? e : x.
                let ExprKind::Set(_, x) = &th.kind else {
                    return None;
                };
                let Some(Ref::Local(id)) = cx.typed.refs.get(&th.id) else {
                    return None;
                };
                if !self.written.contains(id) || !self.compare(c) || !pure(x, cx.typed) {
                    return None;
                }
                self.value(c)?;
                self.value(x)
            }
            ExprKind::If(c, th, Some(el)) => {
                let ExprKind::App(_, args) = &c.kind else {
                    return None;
                };
                if !self.compare(c)
                    || !self.in_lanes(e)
                    || !pure(th, cx.typed)
                    || !pure(el, cx.typed)
                {
                    return None;
                }
                args.iter().try_for_each(|a| self.value(a))?;
                self.value(th)?;
                self.value(el)
            }
            ExprKind::App(_, args) => {
                let b = cx.typed.builtin(e.id)?;
                match b {
                    Builtin::Pref | Builtin::Pset => {
                        let p = self.element_of(args, &self.elem)?;
                        if b == Builtin::Pset {
                            let x = args.get(2)?;
                            if !self.in_lanes(x) {
                                return None;
                            }
                            self.value(x)?;
                        }
                        self.note_pointer(p);
                        Some(())
                    }
                    // A loop on doubles holds floats widened: `ftod` is exact, `dtof`
                    // rounds.
                    Builtin::Convert(Scalar::F, Scalar::D)
                    | Builtin::Convert(Scalar::D, Scalar::F)
                        if self.elem == Type::Double =>
                    {
                        self.value(args.first()?)
                    }
                    Builtin::Compare(_) => {
                        if !self.compare(e) {
                            return None;
                        }
                        args.iter().try_for_each(|a| self.value(a))
                    }
                    // The counter as a number: exact in either type, as the fast loop
                    // runs at most 65536 iterations.
                    Builtin::Convert(Scalar::I64, to) => {
                        // (in a loop on doubles, a float of the counter is its double
                        // rounded: the double is exact)
                        let want = if self.elem == Type::Float || to == Scalar::F {
                            Scalar::F
                        } else {
                            Scalar::D
                        };
                        let offset = counter_plus(args.first()?, self.counter, cx)?;
                        // i + c is exact in a double below 2^53; a float only holds the
                        // counter itself exactly
                        let exact = offset.is_none() || self.elem == Type::Double;
                        let fixed = offset.is_none_or(|c| match cx.local_of(c) {
                            Some(id) => !self.assigned.contains(&id) && cx.vars.contains_key(&id),
                            None => matches!(c.kind, ExprKind::Int(_)),
                        });
                        (to == want
                            && exact
                            && fixed
                            && cx.typed.vars[self.counter].ty == Type::I64)
                            .then_some(())
                    }
                    Builtin::Arith(op) if arith(op) => {
                        if !self.in_lanes(e) || !args.iter().all(|a| self.in_lanes(a)) {
                            return None;
                        }
                        args.iter().try_for_each(|a| self.value(a))
                    }
                    Builtin::Math(m) if native(m) || math_ir::inline(m) => {
                        if !self.in_lanes(e) || !args.iter().all(|a| self.in_lanes(a)) {
                            return None;
                        }
                        self.heavy |= !native(m);
                        args.iter().try_for_each(|a| self.value(a))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// For `x` the counter, `Some(None)`; for `(+ i c)` or `(+ c i)` with `i` the counter,
/// `Some(Some(c))`; else `None`.
fn counter_plus<'e>(x: &'e Expr, counter: usize, cx: &FnCx) -> Option<Option<&'e Expr>> {
    if cx.local_of(x) == Some(counter) {
        return Some(None);
    }
    let ExprKind::App(_, args) = &x.kind else {
        return None;
    };
    if cx.typed.builtin(x.id)? != Builtin::Arith(Arith::Add) || args.len() != 2 {
        return None;
    }
    match (
        cx.local_of(&args[0]) == Some(counter),
        cx.local_of(&args[1]) == Some(counter),
    ) {
        (true, false) => Some(Some(&args[1])),
        (false, true) => Some(Some(&args[0])),
        _ => None,
    }
}

/// `x` of `(dtof x)`.
fn narrowed<'e>(e: &'e Expr, typed: &Typed) -> Option<&'e Expr> {
    let ExprKind::App(_, args) = &e.kind else {
        return None;
    };
    (typed.builtin(e.id)? == Builtin::Convert(Scalar::D, Scalar::F)).then_some(args.first()?)
}

/// True when `e` neither assigns nor stores (both arms of a lane select run).
fn pure(e: &Expr, typed: &Typed) -> bool {
    let here = match &e.kind {
        ExprKind::Set(..) | ExprKind::Let(..) => false,
        ExprKind::App(..) => typed.builtin(e.id) != Some(Builtin::Pset),
        _ => true,
    };
    here && e.children().into_iter().all(|c| pure(c, typed))
}
