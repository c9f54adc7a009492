//! Control flow: `if`, `dotimes` and `while` loops (rotated: tested before and at the
//! bottom, polling the interrupt flag at the back-edge), `and`/`or`.

use super::fast::Affine;
use super::{FnCx, clif, internal};
use crate::error::Result;
use crate::runtime::{FaultCode, shadow};
use crate::sexp::Span;
use crate::syntax::{Expr, ExprKind};
use crate::types::Type;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, BlockArg, InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::Variable;

/// The ranges a `dotimes` checks before its first iteration (see [`FnCx::check_ranges`]).
pub(super) struct Ranges<'r> {
    pub(super) hoisted: &'r [(usize, u64)],
    pub(super) affine: &'r [Affine],
    /// The pointers the body stores through.
    stored: &'r [usize],
    /// The iteration count.
    pub(super) n: Value,
    pub(super) site: u32,
}

impl FnCx<'_, '_> {
    pub(super) fn if_(
        &mut self,
        c: &Expr,
        th: &Expr,
        el: Option<&Expr>,
        t: &Type,
    ) -> Result<Option<Value>> {
        let cv = self.value(c)?;
        let (tb, eb, done) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        let rt = if el.is_some() { clif(t, None)? } else { None };
        if let Some(rt) = rt {
            self.b.append_block_param(done, rt);
        }
        let arms = match el {
            Some(_) => {
                self.b.ins().brif(cv, tb, &[], eb, &[]);
                vec![(tb, Some(th)), (eb, el)]
            }
            None => {
                self.b.ins().brif(cv, tb, &[], done, &[]);
                vec![(tb, Some(th))]
            }
        };
        let saved = self.scope();
        let known = self.fast.as_ref().map(|f| f.known.clone());
        for (blk, arm) in arms {
            self.b.seal_block(blk);
            self.b.switch_to_block(blk);
            self.unscope(saved);
            if let (Some(f), Some(k)) = (self.fast.as_mut(), &known) {
                f.known.clone_from(k);
            }
            let v = match arm {
                Some(a) => self.expr(a)?,
                None => None,
            };
            match (rt, v) {
                (Some(_), Some(v)) => self.b.ins().jump(done, &[BlockArg::Value(v)]),
                _ => self.b.ins().jump(done, &[]),
            };
        }
        self.b.seal_block(done);
        self.b.switch_to_block(done);
        self.unscope(saved);
        // An arm may have stored: forget every element value after the merge.
        if let Some(f) = self.fast.as_mut() {
            f.known.clear();
        }
        Ok(rt.map(|_| self.b.block_params(done)[0]))
    }

    /// `(dotimes (i n) body)`: a rotated loop; the pointers its body reads and writes at
    /// the counter on every iteration get their whole range checked once before it, and a
    /// body that qualifies gets a fast version (see [`super::fast`]).
    pub(super) fn dotimes(&mut self, e: &Expr, n: &Expr, body: &[Expr]) -> Result<Option<Value>> {
        let sp = e.span.as_ref();
        let nv = self.value(n)?;
        let v = *self
            .typed
            .loop_vars
            .get(&e.id)
            .ok_or_else(|| internal("dotimes var"))?;
        let ty = clif(self.var_type(v), sp)?.ok_or_else(|| internal("void loop var"))?;
        let site = self.linker.site("dotimes", sp);
        let slot = self.localize_counter(v, ty, body);
        let zero = self.b.ins().iconst(ty, 0);
        if self.vars.contains_key(&v) {
            self.write_var(v, zero, site)?;
        } else {
            self.bind(v, Some(zero), site)?;
        }
        // Rotated loop: test once before, then at the bottom of the body.
        let saved = self.scope();
        let (inner, exit) = (self.b.create_block(), self.b.create_block());
        let i = self
            .read_var(v, site)?
            .ok_or_else(|| internal("loop var"))?;
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i, nv);
        // A body that may free memory could free what an earlier iteration checked. One
        // that only calls code that may has its ranges checked again in an iteration that
        // finds an allocation has died since (see `recheck_if_freed`); one that frees
        // itself has each access checked where it happens (its fault names the element).
        let frees = self.may_free(body);
        if frees {
            self.invalidate();
        }
        let hoist = !frees || !self.frees_itself(body);
        // Checked once before the loop when checks are on; their element addresses
        // are computed from the untagged pointer either way.
        let (accessed, affine, fast, stored) = self.loop_scan(|s| {
            let (accessed, affine) = if hoist {
                (s.hoistable(v, body), s.affine_accesses(v, body))
            } else {
                (Vec::new(), Vec::new())
            };
            let ptrs: Vec<usize> = accessed.iter().map(|(p, _)| *p).collect();
            let fast = !frees && !ptrs.is_empty() && body.iter().all(|e| s.fast_body(e, v, &ptrs));
            let mut stored = Vec::new();
            let all: Vec<usize> = ptrs
                .iter()
                .copied()
                .chain(affine.iter().map(|a| a.ptr))
                .collect();
            for e in body {
                s.stored_ptrs(e, &all, &mut stored);
            }
            (accessed, affine, fast, stored)
        });
        let hoisted = accessed.clone();
        let batched = (self.batch_call(v, body)).filter(|c| self.reads_in_range(c, &hoisted));
        if let Some(call) = batched {
            self.open_call_batch(call, v)?;
        }
        let ranges = Ranges {
            hoisted: &hoisted,
            affine: &affine,
            stored: &stored,
            n: nv,
            site,
        };
        let ranged = !(hoisted.is_empty() && affine.is_empty());
        // The count of allocation deaths ([`shadow::FREE_EPOCH`]) the ranges were checked
        // at, for a body that may free memory.
        let deaths =
            (frees && ranged && self.consts.checks).then(|| self.b.declare_var(types::I64));
        if !ranged && !fast {
            self.b.ins().brif(more, inner, &[], exit, &[]);
        } else {
            // Check each pointer's whole range [p, p + n*size) once, before the loop.
            let pre = self.b.create_block();
            self.b.ins().brif(more, pre, &[], exit, &[]);
            self.b.seal_block(pre);
            self.b.switch_to_block(pre);
            if let Some(deaths) = deaths {
                let now = self.free_epoch();
                self.b.def_var(deaths, now);
            }
            self.check_ranges(&ranges)?;
            if fast {
                self.fast_loop(v, nv, body, &accessed, &hoisted, inner, exit, site)?;
            } else {
                self.b.ins().jump(inner, &[]);
            }
        }
        self.b.switch_to_block(inner);
        if let Some(call) = batched {
            self.batched_loop(call, v, body, &ranges, deaths, (inner, exit))?;
        } else {
            if let Some(deaths) = deaths {
                self.recheck_if_freed(deaths, &ranges)?;
            }
            let i = self.iteration(v, body, &ranges)?;
            self.poll_interrupt(site);
            let more = self.b.ins().icmp(IntCC::SignedLessThan, i, nv);
            self.b.ins().brif(more, inner, &[], exit, &[]);
        }
        self.b.seal_block(inner);
        self.b.seal_block(exit);
        self.b.switch_to_block(exit);
        self.unscope(saved);
        if batched.is_some() {
            self.call_batches.pop();
        }
        if let Some(slot) = slot {
            let last = self
                .read_var(v, site)?
                .ok_or_else(|| internal("loop var"))?;
            self.vars.insert(v, slot);
            self.env_slots.push(v);
            self.write_var(v, last, site)?;
        }
        Ok(None)
    }

    /// One iteration of a `dotimes` over `v` (its pointers' elements at the counter
    /// marked in range, see `r`), the counter stepped: its new value.
    pub(super) fn iteration(&mut self, v: usize, body: &[Expr], r: &Ranges) -> Result<Value> {
        self.mark_in_range(v, r.hoisted, r.site)?;
        let indices = self.index_values.len();
        self.mark_affine_in_range(v, r.affine, r.site)?;
        self.body(body)?;
        self.index_values.truncate(indices);
        let i = self
            .read_var(v, r.site)?
            .ok_or_else(|| internal("loop var"))?;
        let i1 = self.b.ins().iadd_imm_s(i, 1);
        self.write_var(v, i1, r.site)?;
        Ok(i1)
    }

    /// Faults unless each pointer of `r` has its loop's whole range inside its live
    /// allocation (when checks are on): [`FnCx::check_range`] and
    /// [`FnCx::check_affine_range`] of each.
    ///
    /// In a function whose shadow reads are pure ([`FnCx::shadow_fixed`]), the ranges are
    /// first tested together: every check's failure computed without a branch, then one
    /// branch on any of them, to a cold block that makes the checks one by one (and so
    /// faults at the first that fails, as before). Three branches a pointer become one for
    /// the loop, and in a frame loop whose pointers do not change, the whole test leaves
    /// the loop.
    fn check_ranges(&mut self, r: &Ranges) -> Result<()> {
        if !self.consts.checks {
            return Ok(());
        }
        let mut ptrs = Vec::new();
        for (pv, _) in r.hoisted {
            ptrs.push(self.read_var(*pv, r.site)?);
        }
        for a in r.affine {
            ptrs.push(self.read_var(a.ptr, r.site)?);
        }
        let ptrs = ptrs
            .into_iter()
            .collect::<Option<Vec<Value>>>()
            .ok_or_else(|| internal("void pointer"))?;
        let (hoisted, affine) = ptrs.split_at(r.hoisted.len());
        let grouped = self.shadow_fixed && !ptrs.is_empty();
        let ok = self.b.create_block();
        if grouped {
            let mut any = None;
            for (p, (_, size)) in hoisted.iter().zip(r.hoisted) {
                let bad = self.range_fails(*p, r.n, *size);
                any = Some(any.map_or(bad, |b| self.b.ins().bor(b, bad)));
            }
            for (p, a) in affine.iter().zip(r.affine) {
                let bad = self.affine_range_fails(*p, r.n, a);
                any = Some(any.map_or(bad, |b| self.b.ins().bor(b, bad)));
            }
            let any = any.ok_or_else(|| internal("no range"))?;
            let one_by_one = self.b.create_block();
            self.b.set_cold_block(one_by_one);
            self.b.ins().brif(any, one_by_one, &[], ok, &[]);
            self.b.seal_block(one_by_one);
            self.b.switch_to_block(one_by_one);
        }
        for (p, (pv, size)) in hoisted.iter().zip(r.hoisted) {
            self.check_range(*p, r.n, *size, r.site, r.stored.contains(pv));
        }
        for (p, a) in affine.iter().zip(r.affine) {
            self.check_affine_range(*p, r.n, a, r.site, r.stored.contains(&a.ptr));
        }
        if grouped {
            // One of the checks above fails and faults, so this is never reached; should it
            // be, it faults too. Not going on to `ok` from here also keeps Cranelift's
            // hoisting: it would visit the blocks `ok` dominates after this one, and after
            // a block that leaves the loop it no longer hoists out of the loop this code is
            // in (see `lower/frame_loop.rs`).
            let code = self
                .b
                .ins()
                .iconst(types::I32, i64::from(FaultCode::OutOfRange as u32));
            self.store_fault(code, r.site);
            self.b.ins().jump(self.fault_block, &[]);
        } else {
            self.b.ins().jump(ok, &[]);
        }
        self.b.seal_block(ok);
        self.b.switch_to_block(ok);
        Ok(())
    }

    /// The count of allocation deaths so far ([`shadow::FREE_EPOCH`]).
    fn free_epoch(&mut self) -> Value {
        let at = std::ptr::addr_of!(shadow::FREE_EPOCH) as i64;
        let at = self.b.ins().iconst(types::I64, at);
        self.b
            .ins()
            .load(types::I64, MemFlagsData::trusted(), at, 0)
    }

    /// At the top of an iteration of a loop whose body may free memory: when an
    /// allocation has died since the ranges were checked (the count in `deaths` is not
    /// the current one), checks them again, from a cold block, and takes the current
    /// count. The accesses before the body's first call rely on these ranges; those
    /// after it are checked one by one, as any access after a call.
    pub(super) fn recheck_if_freed(&mut self, deaths: Variable, r: &Ranges) -> Result<()> {
        let (again, go) = (self.b.create_block(), self.b.create_block());
        self.b.set_cold_block(again);
        let now = self.free_epoch();
        let then = self.b.use_var(deaths);
        let same = self.b.ins().icmp(IntCC::Equal, now, then);
        self.b.ins().brif(same, go, &[], again, &[]);
        self.b.seal_block(again);
        self.b.switch_to_block(again);
        self.check_ranges(r)?;
        self.b.def_var(deaths, now);
        self.b.ins().jump(go, &[]);
        self.b.seal_block(go);
        self.b.switch_to_block(go);
        Ok(())
    }

    /// A `dotimes` counter held in this closure's environment (declared in the `let`
    /// around its `lambda`, as Extempore code often does) is counted in a register while
    /// its loop runs, and stored to its slot once after it, when the body calls nothing
    /// and names no closure's variable (`clo.var`): nothing else can read the slot
    /// meanwhile, and the loop's analyses (ranges checked once, SIMD lanes) need a
    /// counter in a register. Returns the slot's variable, to be put back after the loop;
    /// `None` leaves the counter where it is.
    fn localize_counter(&mut self, v: usize, ty: ir::Type, body: &[Expr]) -> Option<Variable> {
        if !self.env_slots.contains(&v)
            || !self.calls_nothing(body)
            || !self.names_no_closure_var(body)
        {
            return None;
        }
        let slot = *self.vars.get(&v)?;
        let local = self.b.declare_var(ty);
        self.vars.insert(v, local);
        self.env_slots.retain(|&x| x != v);
        Some(slot)
    }

    pub(super) fn while_(
        &mut self,
        c: &Expr,
        body: &[Expr],
        sp: Option<&Span>,
    ) -> Result<Option<Value>> {
        // Rotated loop: the test is lowered twice, before and at the bottom.
        let saved = self.scope();
        let (inner, exit) = (self.b.create_block(), self.b.create_block());
        let cv = self.value(c)?;
        if self.may_free(body) || self.may_free(std::slice::from_ref(c)) {
            self.invalidate();
        }
        self.b.ins().brif(cv, inner, &[], exit, &[]);
        self.b.switch_to_block(inner);
        self.body(body)?;
        let site = self.linker.site("while", sp);
        self.poll_interrupt(site);
        let cv = self.value(c)?;
        self.b.ins().brif(cv, inner, &[], exit, &[]);
        self.b.seal_block(inner);
        self.b.seal_block(exit);
        self.b.switch_to_block(exit);
        self.unscope(saved);
        Ok(None)
    }

    /// `and`/`or`, short-circuiting.
    pub(super) fn and_or(&mut self, e: &Expr, args: &[Expr]) -> Result<Value> {
        let saved = self.scope();
        let is_and = matches!(e.kind, ExprKind::And(_));
        let done = self.b.create_block();
        self.b.append_block_param(done, types::I8);
        for a in args {
            let v = self.value(a)?;
            let next = self.b.create_block();
            let short = [BlockArg::Value(v)];
            if is_and {
                self.b.ins().brif(v, next, &[], done, &short);
            } else {
                self.b.ins().brif(v, done, &short, next, &[]);
            }
            self.b.seal_block(next);
            self.b.switch_to_block(next);
        }
        let fin = self.b.ins().iconst(types::I8, i64::from(is_and));
        self.b.ins().jump(done, &[BlockArg::Value(fin)]);
        self.b.seal_block(done);
        self.b.switch_to_block(done);
        self.unscope(saved);
        Ok(self.b.block_params(done)[0])
    }
}
