//! The fast-loop pass over a `dotimes`: which pointers its body accesses at the counter on
//! every iteration (their whole range is checked once before the loop, see
//! [`super::checks`]), whether the body qualifies for a fast version of the loop (no
//! calls, allocation or other memory access), and that version's lowering, which
//! remembers element values and may run in SIMD lanes (see [`super::simd`]).
//!
//! The analyses ([`LoopScan`]) read only the typed syntax, so they are tested on their
//! own (see the tests at the end).

use super::{FnCx, internal};
use crate::builtin::{Arith, Builtin};
use crate::error::Result;
use crate::infer::{Ref, Typed};
use crate::syntax::{Expr, ExprKind};
use crate::types::Type;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{Block, InstBuilder, Value};

/// A `dotimes` body lowered for the fast version of its loop: every memory access in it
/// is `(pref p i)` / `(pset! p i x)` with `i` the counter and `p` one of `ptrs`, whose
/// ranges were found disjoint before the loop, so `p[i]`'s value is known after a load or
/// a store of it until the iteration ends (or an `if` merges).
pub(super) struct FastLoop {
    pub(super) var: usize,
    pub(super) ptrs: Vec<usize>,
    /// The value of `p[i]` for pointers loaded or stored at a point that dominates this one.
    pub(super) known: Vec<(usize, Value)>,
}

/// Fast loops run at most this many iterations without polling the interrupt flag.
const FAST_TRIPS: i64 = 1 << 16;

/// The largest factor and offset of an affine index (see [`LoopScan::affine_accesses`]).
const AFFINE_MAX: i64 = 1 << 16;

/// Accesses of one pointer at `k·v + c` (see [`LoopScan::affine_accesses`]): the element
/// size, and the index expressions of that form.
pub(super) struct Affine {
    pub(super) ptr: usize,
    pub(super) size: u64,
    pub(super) k: i64,
    pub(super) c: i64,
    pub(super) exprs: Vec<usize>,
}

impl FnCx<'_, '_> {
    /// From the block before a `dotimes` loop whose body is a [`LoopScan::fast_body`]: when
    /// [`FnCx::fast_guard`] holds, runs the body in a loop that remembers element values
    /// (see [`FastLoop`]) and does not poll the interrupt flag (it is short, and its body
    /// neither loops nor calls), then goes to `exit`; otherwise goes to `slow`, the loop
    /// lowered next.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn fast_loop(
        &mut self,
        v: usize,
        nv: Value,
        body: &[Expr],
        accessed: &[(usize, u64)],
        hoisted: &[(usize, u64)],
        slow: Block,
        exit: Block,
        site: u32,
    ) -> Result<()> {
        let ptrs: Vec<usize> = accessed.iter().map(|(p, _)| *p).collect();
        let mut stored = Vec::new();
        self.loop_scan(|s| {
            for e in body {
                s.stored_ptrs(e, &ptrs, &mut stored);
            }
        });
        let mut ranges = Vec::new();
        for (pv, size) in accessed {
            let p = self
                .read_var(*pv, site)?
                .ok_or_else(|| internal("void pointer"))?;
            let p = self.strip(p);
            let len = self.b.ins().imul_imm_s(nv, *size as i64);
            let end = self.b.ins().iadd(p, len);
            ranges.push((p, end, stored.contains(pv)));
        }
        // The variables the body reads from memory (an environment slot, a cell): no
        // stored array may overlap them, so that their values are the loop's invariants.
        let mut held = Vec::new();
        self.loop_scan(|s| {
            for e in body {
                s.memory_reads(e, &mut held);
            }
        });
        for id in held {
            let at = self.memory_address(id)?;
            let end = self.b.ins().iadd_imm_s(at, 8);
            ranges.push((at, end, false));
        }
        let ok = self.fast_guard(nv, &ranges);
        let inner = self.b.create_block();
        let saved = self.scope();
        if let Some(plan) = self.simd_plan(v, body, &ptrs) {
            let lanes = self.b.create_block();
            self.b.ins().brif(ok, lanes, &[], slow, &[]);
            self.b.switch_to_block(lanes);
            self.b.seal_block(lanes);
            self.simd_loop(&plan, nv, body, inner, exit, site)?;
        } else {
            self.b.ins().brif(ok, inner, &[], slow, &[]);
        }
        self.b.switch_to_block(inner);
        self.mark_in_range(v, hoisted, site)?;
        self.fast = Some(FastLoop {
            var: v,
            ptrs,
            known: Vec::new(),
        });
        let r = self.body(body);
        self.fast = None;
        r?;
        let i = self
            .read_var(v, site)?
            .ok_or_else(|| internal("loop var"))?;
        let i1 = self.b.ins().iadd_imm_s(i, 1);
        self.write_var(v, i1, site)?;
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i1, nv);
        self.b.ins().brif(more, inner, &[], exit, &[]);
        self.b.seal_block(inner);
        self.unscope(saved);
        Ok(())
    }

    /// True (nonzero) when a fast loop may run: at most [`FAST_TRIPS`] iterations, and the
    /// range `[start, end)` of every stored pointer disjoint from the others'.
    pub(super) fn fast_guard(&mut self, n: Value, ranges: &[(Value, Value, bool)]) -> Value {
        let mut ok = self
            .b
            .ins()
            .icmp_imm_s(IntCC::SignedLessThanOrEqual, n, FAST_TRIPS);
        for a in 0..ranges.len() {
            for b in a + 1..ranges.len() {
                if !ranges[a].2 && !ranges[b].2 {
                    continue;
                }
                let below =
                    self.b
                        .ins()
                        .icmp(IntCC::UnsignedLessThanOrEqual, ranges[a].1, ranges[b].0);
                let above =
                    self.b
                        .ins()
                        .icmp(IntCC::UnsignedLessThanOrEqual, ranges[b].1, ranges[a].0);
                let apart = self.b.ins().bor(below, above);
                ok = self.b.ins().band(ok, apart);
            }
        }
        ok
    }

    /// In a fast loop, the pointer variable of `(pref p i)` / `(pset! p i x)` when its
    /// element value can be remembered.
    pub(crate) fn fast_elem(&self, args: &[Expr]) -> Option<usize> {
        let f = self.fast.as_ref()?;
        let local = |x: &Expr| match self.typed.refs.get(&x.id) {
            Some(Ref::Local(id)) if matches!(x.kind, ExprKind::Var(_)) => Some(*id),
            _ => None,
        };
        let p = local(args.first()?)?;
        (f.ptrs.contains(&p) && local(args.get(1)?)? == f.var).then_some(p)
    }

    /// The remembered value of `p[i]` in a fast loop.
    pub(crate) fn known_elem(&self, p: usize) -> Option<Value> {
        let f = self.fast.as_ref()?;
        f.known.iter().rev().find(|(q, _)| *q == p).map(|(_, v)| *v)
    }

    /// Remembers `p[i] = v` in a fast loop.
    pub(crate) fn remember_elem(&mut self, p: usize, v: Value) {
        if let Some(f) = self.fast.as_mut() {
            f.known.retain(|(q, _)| *q != p);
            f.known.push((p, v));
        }
    }

    /// The analyses of this function's loops, with the variables bound so far.
    pub(super) fn loop_scan<R>(&self, f: impl FnOnce(&LoopScan) -> R) -> R {
        // in a register: an environment slot is memory
        let bound = |v: usize| self.vars.contains_key(&v) && !self.env_slots.contains(&v);
        let in_memory = |v: usize| self.vars.contains_key(&v) && self.in_memory(v);
        f(&LoopScan {
            typed: self.typed,
            bound: &bound,
            in_memory: &in_memory,
        })
    }
}

/// The analyses of a `dotimes` body, on its typed syntax.
pub(super) struct LoopScan<'t> {
    pub(super) typed: &'t Typed,
    /// True for the variables bound before the loop (held in this function's registers).
    pub(super) bound: &'t dyn Fn(usize) -> bool,
    /// True for the variables bound before the loop and held in memory: this closure's
    /// environment slots and shared cells.
    pub(super) in_memory: &'t dyn Fn(usize) -> bool,
}

impl LoopScan<'_> {
    /// The local variable `x` names, when it is a plain variable reference.
    fn local(&self, x: &Expr) -> Option<usize> {
        match self.typed.refs.get(&x.id) {
            Some(Ref::Local(id)) if matches!(x.kind, ExprKind::Var(_)) => Some(*id),
            _ => None,
        }
    }

    /// Pointers the body of a `dotimes` over `v` reads or writes at `(pref p v)` /
    /// `(pset! p v x)` on every iteration (not under a condition), where `p` is a local
    /// bound before the loop and never changed, and `v` an `i64` counter the body does not
    /// `set!`: their whole range can be checked once before the loop.
    pub(super) fn hoistable(&self, v: usize, body: &[Expr]) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        if self.steady_counter(v, body) {
            self.each_unconditional_access(body, &mut |pv, size, index| {
                if self.local(index) == Some(v) && !out.contains(&(pv, size)) {
                    out.push((pv, size));
                }
            });
        }
        out
    }

    /// The accesses of the body of a `dotimes` over `v` at `(pref p e)` / `(pset! p e x)`
    /// on every iteration with `e` an affine function `k·v + c` of the counter other than
    /// `v` itself (`(* v 2)`, `(+ (* 2 v) 1)`, `(+ v 3)`; `k` and `c` literal, `k ≥ 1`,
    /// `c ≥ 0`), with the same conditions on `p` and `v` as [`LoopScan::hoistable`]: the
    /// range of each can be checked once before the loop, as an interleaved buffer's
    /// frames loop writes `(pset! out (* f 2) l)` and `(pset! out (+ (* f 2) 1) r)`.
    pub(super) fn affine_accesses(&self, v: usize, body: &[Expr]) -> Vec<Affine> {
        let mut out: Vec<Affine> = Vec::new();
        if !self.steady_counter(v, body) {
            return out;
        }
        self.each_unconditional_access(body, &mut |ptr, size, index| {
            let Some((k, c)) = self.affine(index, v).filter(|&kc| kc != (1, 0)) else {
                return;
            };
            match out
                .iter_mut()
                .find(|a| (a.ptr, a.size, a.k, a.c) == (ptr, size, k, c))
            {
                Some(a) => a.exprs.push(index.id),
                None => out.push(Affine {
                    ptr,
                    size,
                    k,
                    c,
                    exprs: vec![index.id],
                }),
            }
        });
        out
    }

    /// True when `v` is an `i64` counter that stays as the loop sets it: never `set!`,
    /// in a register (not a shared cell, nor an environment slot the loop writes; see
    /// `FnCx::localize_counter`), not the counter of another loop in `body`.
    fn steady_counter(&self, v: usize, body: &[Expr]) -> bool {
        let info = &self.typed.vars[v];
        if info.assigned || (self.in_memory)(v) || info.ty != Type::I64 {
            return false;
        }
        fn counts_with(e: &Expr, v: usize, typed: &Typed) -> bool {
            matches!(e.kind, ExprKind::Dotimes(..)) && typed.loop_vars.get(&e.id) == Some(&v)
                || e.children().into_iter().any(|c| counts_with(c, v, typed))
        }
        !body.iter().any(|e| counts_with(e, v, self.typed))
    }

    /// `(k, c)` when `e` is the `i64` expression `k·v + c` (see
    /// [`LoopScan::affine_accesses`]); both at most [`AFFINE_MAX`].
    fn affine(&self, e: &Expr, v: usize) -> Option<(i64, i64)> {
        if self.typed.types[e.id] != Type::I64 {
            return None;
        }
        if self.local(e) == Some(v) {
            return Some((1, 0));
        }
        let ExprKind::App(_, args) = &e.kind else {
            return None;
        };
        let [a, b] = args.as_slice() else {
            return None;
        };
        let literal = |x: &Expr| match x.kind {
            ExprKind::Int(i) if (0..=AFFINE_MAX).contains(&i) => Some(i),
            _ => None,
        };
        match self.typed.builtin(e.id)? {
            Builtin::Arith(Arith::Mul) => {
                let (k, x) = match (literal(a), literal(b)) {
                    (Some(k), None) => (k, b),
                    (None, Some(k)) => (k, a),
                    _ => return None,
                };
                (k >= 1 && self.local(x) == Some(v)).then_some((k, 0))
            }
            Builtin::Arith(Arith::Add) => {
                let (c, x) = match (literal(a), literal(b)) {
                    (Some(c), None) => (c, b),
                    (None, Some(c)) => (c, a),
                    _ => return None,
                };
                let (k, c0) = self.affine(x, v)?;
                (c0 == 0).then_some((k, c))
            }
            _ => None,
        }
    }

    /// True when `e` may be lowered in a fast loop over `v` (see [`FastLoop`]): it only
    /// computes with constants and local variables held in registers, reads and writes
    /// `(pref p v)` / `(pset! p v x)` for `p` in `ptrs`, branches with `if`, and calls
    /// pure builtins: no other memory access, call, allocation, loop or closure.
    pub(super) fn fast_body(&self, e: &Expr, v: usize, ptrs: &[usize]) -> bool {
        // In a register: bound already, or (not captured) bound by a `let` inside the body.
        let register = |id: usize| {
            let info = &self.typed.vars[id];
            !info.is_cell() && ((self.bound)(id) || !info.captured)
        };
        let all = |xs: &[Expr]| xs.iter().all(|x| self.fast_body(x, v, ptrs));
        match &e.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Bool(_)
            | ExprKind::Null
            | ExprKind::Void => true,
            // A variable in memory may be read (the fast loop's guard keeps the arrays it
            // stores off it), not set.
            ExprKind::Var(_) => self
                .local(e)
                .is_some_and(|id| register(id) || (self.in_memory)(id)),
            ExprKind::Let(binds, body) => {
                let ids = self.typed.let_vars.get(&e.id);
                ids.is_some_and(|ids| ids.iter().all(|id| !self.typed.vars[*id].is_cell()))
                    && binds.iter().all(|(_, x)| self.fast_body(x, v, ptrs))
                    && all(body)
            }
            ExprKind::Begin(body) => all(body),
            ExprKind::If(c, th, el) => {
                self.fast_body(c, v, ptrs)
                    && self.fast_body(th, v, ptrs)
                    && el.as_deref().is_none_or(|x| self.fast_body(x, v, ptrs))
            }
            ExprKind::Set(_, x) => {
                matches!(self.typed.refs.get(&e.id), Some(Ref::Local(id)) if register(*id))
                    && self.fast_body(x, v, ptrs)
            }
            ExprKind::App(_, args) => match self.typed.builtin(e.id) {
                Some(b @ (Builtin::Pref | Builtin::Pset)) => {
                    args.len() == if b == Builtin::Pref { 2 } else { 3 }
                        // an element held by value is copied, never remembered
                        && self.local(&args[0]).is_some_and(|p| {
                            ptrs.contains(&p)
                                && !FnCx::pointee(&self.typed.vars[p].ty).is_aggregate()
                        })
                        && self.local(&args[1]) == Some(v)
                        && all(&args[2..])
                }
                Some(b) if b.is_pure() => all(args),
                _ => false,
            },
            _ => false,
        }
    }

    /// The variables held in memory (see [`LoopScan::in_memory`]) that `e` reads.
    pub(super) fn memory_reads(&self, e: &Expr, out: &mut Vec<usize>) {
        if let (ExprKind::Var(_), Some(id)) = (&e.kind, self.local(e))
            && (self.in_memory)(id)
            && !out.contains(&id)
        {
            out.push(id);
        }
        for c in e.children() {
            self.memory_reads(c, out);
        }
    }

    /// The pointers of `ptrs` that `e` writes with `pset!`.
    pub(super) fn stored_ptrs(&self, e: &Expr, ptrs: &[usize], out: &mut Vec<usize>) {
        if let ExprKind::App(_, args) = &e.kind
            && self.typed.builtin(e.id) == Some(Builtin::Pset)
            && let Some(x) = args.first()
            && let Some(Ref::Local(p)) = self.typed.refs.get(&x.id)
            && ptrs.contains(p)
            && !out.contains(p)
        {
            out.push(*p);
        }
        for c in e.children() {
            self.stored_ptrs(c, ptrs, out);
        }
    }

    /// Calls `f(p, size, index)` for each `(pref p index)` / `(pset! p index x)` in `body`
    /// that runs on every iteration (not under an `if`), with `p` a local bound before the
    /// loop in a register, never changed, pointing to elements of `size` bytes.
    fn each_unconditional_access<'e>(
        &self,
        body: &'e [Expr],
        f: &mut dyn FnMut(usize, u64, &'e Expr),
    ) {
        for e in body {
            self.unconditional_accesses(e, f);
        }
    }

    fn unconditional_accesses<'e>(&self, e: &'e Expr, f: &mut dyn FnMut(usize, u64, &'e Expr)) {
        match &e.kind {
            ExprKind::App(_, args) => {
                if matches!(
                    self.typed.builtin(e.id),
                    Some(Builtin::Pref | Builtin::Pset)
                ) && args.len() >= 2
                    && let Some(pv) = self.local(&args[0])
                {
                    let info = &self.typed.vars[pv];
                    let size = FnCx::pointee(&info.ty).size();
                    if !info.mutated && !info.is_cell() && (self.bound)(pv) && size > 0 {
                        f(pv, size, &args[1]);
                    }
                }
                args.iter().for_each(|a| self.unconditional_accesses(a, f));
            }
            ExprKind::Let(binds, body) => {
                binds
                    .iter()
                    .for_each(|(_, x)| self.unconditional_accesses(x, f));
                body.iter().for_each(|x| self.unconditional_accesses(x, f));
            }
            ExprKind::Begin(body) => body.iter().for_each(|x| self.unconditional_accesses(x, f)),
            ExprKind::Set(_, x) => self.unconditional_accesses(x, f),
            // `((pref oscs i) amp (pref freqs i))`: the closure and its arguments
            ExprKind::CallValue(callee, args) => {
                self.unconditional_accesses(callee, f);
                args.iter().for_each(|a| self.unconditional_accesses(a, f));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
