//! Control flow: `if`, `dotimes` and `while` loops (rotated: tested before and at the
//! bottom, polling the interrupt flag at the back-edge), `and`/`or`.

use super::{FnCx, clif, internal};
use crate::error::Result;
use crate::sexp::Span;
use crate::syntax::{Expr, ExprKind};
use crate::types::Type;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, BlockArg, InstBuilder, Value, types};
use cranelift_frontend::Variable;

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
        // A body that may free memory could free what an earlier iteration checked.
        let frees = self.may_free(body);
        if frees {
            self.invalidate();
        }
        // Checked once before the loop when checks are on; their element addresses
        // are computed from the untagged pointer either way.
        let (accessed, affine, fast, stored) = self.loop_scan(|s| {
            let (accessed, affine) = if frees {
                (Vec::new(), Vec::new())
            } else {
                (s.hoistable(v, body), s.affine_accesses(v, body))
            };
            let ptrs: Vec<usize> = accessed.iter().map(|(p, _)| *p).collect();
            let fast = !ptrs.is_empty() && body.iter().all(|e| s.fast_body(e, v, &ptrs));
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
        if hoisted.is_empty() && affine.is_empty() && !fast {
            self.b.ins().brif(more, inner, &[], exit, &[]);
        } else {
            // Check each pointer's whole range [p, p + n*size) once, before the loop.
            let pre = self.b.create_block();
            self.b.ins().brif(more, pre, &[], exit, &[]);
            self.b.seal_block(pre);
            self.b.switch_to_block(pre);
            let checks = self.consts.checks;
            for (pv, size) in hoisted.iter().filter(|_| checks) {
                let p = self
                    .read_var(*pv, site)?
                    .ok_or_else(|| internal("void pointer"))?;
                self.check_range(p, nv, *size, site, stored.contains(pv));
            }
            for a in affine.iter().filter(|_| checks) {
                let p = self
                    .read_var(a.ptr, site)?
                    .ok_or_else(|| internal("void pointer"))?;
                self.check_affine_range(p, nv, a, site, stored.contains(&a.ptr));
            }
            if fast {
                self.fast_loop(v, nv, body, &accessed, &hoisted, inner, exit, site)?;
            } else {
                self.b.ins().jump(inner, &[]);
            }
        }
        self.b.switch_to_block(inner);
        self.mark_in_range(v, &hoisted, site)?;
        let indices = self.index_values.len();
        self.mark_affine_in_range(v, &affine, site)?;
        self.body(body)?;
        self.index_values.truncate(indices);
        let i = self
            .read_var(v, site)?
            .ok_or_else(|| internal("loop var"))?;
        let i1 = self.b.ins().iadd_imm_s(i, 1);
        self.write_var(v, i1, site)?;
        let i = self
            .read_var(v, site)?
            .ok_or_else(|| internal("loop var"))?;
        self.poll_interrupt(site);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i, nv);
        self.b.ins().brif(more, inner, &[], exit, &[]);
        self.b.seal_block(inner);
        self.b.seal_block(exit);
        self.b.switch_to_block(exit);
        self.unscope(saved);
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
