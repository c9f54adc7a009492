//! Batched closure calls: a `dotimes` whose body calls one computed closure per
//! iteration, `((pref oscs i) amp (pref freqs i))`, calls the closures of up to
//! [`BATCH`] iterations at once through their code's batch entry (see
//! [`super::batch_entry`]), when they all have the same code and it has one.
//!
//! Every [`BATCH`] iterations, the top of the body first computes the next iterations'
//! closures and arguments into a scratch ([`FnCx::refill`]); if they share one code-table
//! entry, of the call's type, with a batch entry, that entry runs them all and each
//! iteration's call takes its result from the scratch; otherwise each iteration calls its
//! closure as before. Running the calls ahead of the rest of their iterations is running
//! them in the loop's order when nothing the rest does can change what a call sees or
//! computes, and nothing a call does can change the rest. So a loop qualifies
//! ([`FnCx::batch_call`]) when:
//! - the call runs once in every iteration (not under an `if`, `and`, `or` or inner loop),
//!   and the body calls nothing else (no closure, bind-func or C function, no `memzone`);
//! - the body writes no memory, no global and no closure's variable (`clo.var`), and does
//!   not free (a batch entry reads only its environment, its arguments and globals);
//! - the closure and the arguments are computed from values the body does not change:
//!   the counter, variables it neither binds nor sets, globals, arrays read at the
//!   counter, with arithmetic, conversions and math (no integer division, which can
//!   fault); the closures' array (`(pref p i)`, or `(aref p i)` of an array value held
//!   through a pointer) is read without faulting where the loop did not check its range;
//! - the call's arguments and result are numbers, and the counter an `i64`.
//!
//! A batch entry cannot fault but for its environments' check, and its code runs only
//! when every closure's record was checked and its stamp found in the code table.

use super::control::Ranges;
use super::{FnCx, internal};
use crate::builtin::Builtin;
use crate::error::Result;
use crate::infer::Ref;
use crate::runtime::shadow;
use crate::runtime::wide_math::BATCH;
use crate::syntax::{Expr, ExprKind};
use crate::types::Type;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    Block, BlockArg, InstBuilder, MemFlagsData, StackSlot, StackSlotData, StackSlotKind, Value,
    types,
};
use cranelift_frontend::Variable;

/// Bytes of one scratch region: a word for each iteration of a batch.
const REGION: i32 = BATCH as i32 * 8;

/// A loop's batched call while the loop is lowered.
pub(super) struct CallBatch {
    /// The call's expression id.
    pub(super) call: usize,
    /// The loop's counter.
    counter: usize,
    /// The environments, then each argument, then the results, a region each.
    slot: StackSlot,
    /// The first iteration whose results the scratch holds, while the iterations whose
    /// calls the batch entry ran are lowered (else the call is made as any other).
    pub(super) start: Option<Value>,
}

impl FnCx<'_, '_> {
    /// The call of `body` (a `dotimes` over `v`) to batch, if the loop qualifies (see the
    /// module's comment).
    pub(super) fn batch_call<'e>(&self, v: usize, body: &'e [Expr]) -> Option<&'e Expr> {
        // (the stretches' bounds and offsets are computed in the counter's type)
        if self.typed.vars[v].ty != Type::I64 {
            return None;
        }
        let mut calls = Vec::new();
        for e in body {
            collect_calls(e, &mut calls);
        }
        let [call] = calls[..] else {
            return None;
        };
        let ExprKind::CallValue(f, args) = &call.kind else {
            return None;
        };
        let Type::Closure(ret, params) = self.ty(f) else {
            return None;
        };
        if !ret.is_numeric() || !params.iter().all(Type::is_numeric) {
            return None;
        }
        if body.iter().find_map(|e| once(e, call.id, false)) != Some(false) {
            return None;
        }
        let mut changed = Vec::new();
        for e in body {
            if !self.only_computes(e, call.id, &mut changed) {
                return None;
            }
        }
        if changed.contains(&v) {
            return None;
        }
        let fixed = std::iter::once(&**f)
            .chain(args)
            .all(|x| self.fixed(x, v, &changed));
        fixed.then_some(call)
    }

    /// True when `e` (in a loop body whose batched call is `call`) calls nothing but
    /// `call`, writes no memory, global or closure variable and frees nothing; notes the
    /// locals it binds or sets in `changed`.
    fn only_computes(&self, e: &Expr, call: usize, changed: &mut Vec<usize>) -> bool {
        let typed = self.typed;
        let ok = match &e.kind {
            ExprKind::CallValue(..) => e.id == call,
            ExprKind::Lambda(_) | ExprKind::EnvVar(_) | ExprKind::Memzone(..) => false,
            ExprKind::Set(..) => match typed.refs.get(&e.id) {
                Some(Ref::Local(v)) => {
                    changed.push(*v);
                    true
                }
                _ => false,
            },
            ExprKind::Let(..) => {
                changed.extend(typed.let_vars.get(&e.id).into_iter().flatten());
                true
            }
            ExprKind::Dotimes(..) => {
                changed.extend(typed.loop_vars.get(&e.id));
                true
            }
            ExprKind::App(..) => {
                !typed.refs.contains_key(&e.id)
                    && !typed.c_calls.contains_key(&e.id)
                    && !matches!(
                        typed.builtin(e.id),
                        Some(
                            Builtin::Pset
                                | Builtin::Aset
                                | Builtin::Afill
                                | Builtin::Tset
                                | Builtin::Tfill
                                | Builtin::Vset
                                | Builtin::Vfill
                                | Builtin::Free
                                | Builtin::Callback
                                | Builtin::ZoneCleanup
                        )
                    )
            }
            _ => true,
        };
        ok && e
            .children()
            .into_iter()
            .all(|c| self.only_computes(c, call, changed))
    }

    /// True when `x` is computed from values a loop body over `v` does not change
    /// (`changed` are the locals it binds or sets), without anything that could fault:
    /// the only memory it reads is `(pref p v)`, whose range the loop checks before it runs
    /// (see [`FnCx::reads_in_range`]).
    fn fixed(&self, x: &Expr, v: usize, changed: &[usize]) -> bool {
        let typed = self.typed;
        let ok = match &x.kind {
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Null => true,
            ExprKind::Var(_) => match typed.refs.get(&x.id) {
                Some(Ref::Local(v)) => !changed.contains(v),
                Some(Ref::Global(_)) => true,
                _ => false,
            },
            ExprKind::App(_, args) => match typed.builtin(x.id) {
                Some(Builtin::Pref | Builtin::Aref) => {
                    args.len() == 2
                        && self.local_of(&args[0]).is_some()
                        && self.local_of(&args[1]) == Some(v)
                }
                Some(b) => b.only_computes(self.ty(x)),
                None => false,
            },
            _ => false,
        };
        ok && x.children().into_iter().all(|c| self.fixed(c, v, changed))
    }

    /// True when every array `call`'s closure and arguments read (`(pref p i)`, see
    /// [`FnCx::fixed`]) has its range checked before the loop (`hoisted`), so computing
    /// them ahead cannot fault.
    pub(super) fn reads_in_range(&self, call: &Expr, hoisted: &[(usize, u64)]) -> bool {
        let mut ok = true;
        let mut walk = |e: &Expr| match self.typed.builtin(e.id) {
            Some(Builtin::Pref) => {
                if let ExprKind::App(_, args) = &e.kind {
                    let p = args.first().and_then(|a| self.local_of(a));
                    ok &= p.is_some_and(|p| hoisted.iter().any(|(q, _)| *q == p));
                }
            }
            Some(Builtin::Aref) => ok = false,
            _ => {}
        };
        let ExprKind::CallValue(f, args) = &call.kind else {
            return false;
        };
        // (the closures, `(pref p i)` or `(aref p i)`, are read without faulting: see
        // `FnCx::gather_calls`)
        let closures = self.closures_at(f).is_some().then_some(&**f);
        for x in std::iter::once(&**f).chain(args) {
            if closures.is_none_or(|c| c.id != x.id) {
                visit(x, &mut walk);
            }
        }
        ok
    }

    /// Before a loop over `counter` whose body's call `call` is batched: its scratch, and
    /// no iteration in it yet.
    pub(super) fn open_call_batch(&mut self, call: &Expr, counter: usize) -> Result<()> {
        let ExprKind::CallValue(_, args) = &call.kind else {
            return Err(internal("batched call is not a call"));
        };
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (REGION * (args.len() as i32 + 2)) as u32,
            4,
        ));
        self.call_batches.push(CallBatch {
            call: call.id,
            counter,
            slot,
            start: None,
        });
        Ok(())
    }

    /// The rest of a `dotimes` over `v` whose `call` is batched, from its loop's first
    /// block (`top`, entered with the counter below the count) to `exit`: each
    /// stretch of up to [`BATCH`] iterations computes its calls' closures and arguments,
    /// then runs in a loop of its own, taking each call's result from the batch entry's
    /// run where there was one, else calling each closure. `deaths`: see
    /// [`FnCx::recheck_if_freed`].
    pub(super) fn batched_loop(
        &mut self,
        call: &Expr,
        v: usize,
        body: &[Expr],
        r: &Ranges,
        deaths: Option<Variable>,
        (top, exit): (Block, Block),
    ) -> Result<()> {
        if let Some(deaths) = deaths {
            self.recheck_if_freed(deaths, r)?;
        }
        let i = self
            .read_var(v, r.site)?
            .ok_or_else(|| internal("loop var"))?;
        let (ran, end) = self.refill(call, i, r)?;
        let (fast, slow, next) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        self.b.ins().brif(ran, fast, &[], slow, &[]);
        // The stretch whose calls ran: nothing in it calls or frees.
        self.b.switch_to_block(fast);
        let saved = self.scope();
        if let Some(bc) = self.call_batches.last_mut() {
            bc.start = Some(i);
        }
        let i1 = self.iteration(v, body, r)?;
        if let Some(bc) = self.call_batches.last_mut() {
            bc.start = None;
        }
        self.unscope(saved);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i1, end);
        self.b.ins().brif(more, fast, &[], next, &[]);
        self.b.seal_block(fast);
        // The stretch whose closures differ (or have no batch entry): one call each.
        self.b.switch_to_block(slow);
        let saved = self.scope();
        if let Some(deaths) = deaths {
            self.recheck_if_freed(deaths, r)?;
        }
        let i1 = self.iteration(v, body, r)?;
        self.poll_interrupt(r.site);
        self.unscope(saved);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i1, end);
        self.b.ins().brif(more, slow, &[], next, &[]);
        self.b.seal_block(slow);
        self.b.switch_to_block(next);
        self.b.seal_block(next);
        self.poll_interrupt(r.site);
        let i = self
            .read_var(v, r.site)?
            .ok_or_else(|| internal("loop var"))?;
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i, r.n);
        self.b.ins().brif(more, top, &[], exit, &[]);
        Ok(())
    }

    /// At the top of a stretch of a loop with a batched call (the innermost open one),
    /// at iteration `i`: computes the closures and arguments of the next iterations, up
    /// to [`BATCH`] and the count, and calls their batch entry if they share one. Whether
    /// it ran (an `i8`), and the end of the stretch.
    fn refill(&mut self, call: &Expr, i: Value, r: &Ranges) -> Result<(Value, Value)> {
        let ExprKind::CallValue(f, args) = &call.kind else {
            return Err(internal("batched call is not a call"));
        };
        let bc = self
            .call_batches
            .last()
            .ok_or_else(|| internal("no batched call"))?;
        let (counter, slot) = (bc.counter, bc.slot);
        let limit = self.b.ins().iadd_imm_s(i, BATCH as i64);
        let short = self.b.ins().icmp(IntCC::SignedLessThan, limit, r.n);
        let last = self.b.ins().select(short, limit, r.n);
        let (stamp, differ) = self.gather_calls((f, args), (counter, i, last), slot, r)?;
        // The entry the first closure's stamp names: it must still carry the stamp, have
        // the call's type and a batch entry, and every closure must have that stamp.
        let entry = self.entry_of(stamp);
        let flags = MemFlagsData::trusted();
        let owner = self
            .b
            .ins()
            .load(types::I64, flags, entry, crate::registry::CODE_STAMP);
        let tid = self.b.ins().load(types::I64, flags, entry, 8);
        let code = self
            .b
            .ins()
            .load(types::I64, flags, entry, crate::registry::CODE_BATCH);
        let typed = self.typed;
        let want = self.linker.type_id(&typed.types[f.id]);
        let stale = self.b.ins().bxor(owner, stamp);
        let other = self.b.ins().bxor_imm_s(tid, want as i64);
        let bad = self.b.ins().bor(stale, other);
        let bad = self.b.ins().bor(bad, differ);
        let none = self.b.ins().icmp_imm_s(IntCC::Equal, code, 0);
        let none = self.b.ins().uextend(types::I64, none);
        let bad = self.b.ins().bor(bad, none);
        let (run, skip, done) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        self.b.append_block_param(done, types::I8);
        self.b.ins().brif(bad, skip, &[], run, &[]);
        self.b.seal_block(run);
        self.b.seal_block(skip);
        self.b.switch_to_block(run);
        let ctx = self.ctx;
        let envs = self.b.ins().stack_addr(types::I64, slot, 0);
        let argv = self.b.ins().stack_addr(types::I64, slot, REGION);
        let outs = self
            .b
            .ins()
            .stack_addr(types::I64, slot, REGION * (args.len() as i32 + 1));
        let count = self.b.ins().isub(last, i);
        let sig = super::batch_signature(self.consts.call_conv);
        let sref = self.b.import_signature(sig);
        self.b
            .ins()
            .call_indirect(sref, code, &[ctx, envs, argv, outs, count]);
        self.check_fault();
        let yes = self.b.ins().iconst(types::I8, 1);
        self.b.ins().jump(done, &[BlockArg::Value(yes)]);
        self.b.switch_to_block(skip);
        let no = self.b.ins().iconst(types::I8, 0);
        self.b.ins().jump(done, &[BlockArg::Value(no)]);
        self.b.seal_block(done);
        self.b.switch_to_block(done);
        Ok((self.b.block_params(done)[0], last))
    }

    /// Computes the closures and arguments of iterations `[i, last)` of the call into the
    /// scratch (the counter rebound for the purpose); the last closure's stamp, and a word
    /// that is 0 when every stamp is the same.
    fn gather_calls(
        &mut self,
        (f, args): (&Expr, &[Expr]),
        (counter, i, last): (usize, Value, Value),
        slot: StackSlot,
        r: &Ranges,
    ) -> Result<(Value, Value)> {
        let site = r.site;
        let ty = super::clif(self.var_type(counter), None)?.ok_or_else(|| internal("loop var"))?;
        // The counter, in a register of its own while the iterations are gathered.
        let outer = self.vars.get(&counter).copied();
        let in_env = self.env_slots.contains(&counter);
        self.env_slots.retain(|&x| x != counter);
        let c = self.b.declare_var(ty);
        self.b.def_var(c, i);
        self.vars.insert(counter, c);
        let indices = std::mem::take(&mut self.index_values);
        let saved = self.scope();
        let [prev, differ] = [(); 2].map(|_| self.zeroed_var(types::I64));
        let (lane, after) = (self.b.create_block(), self.b.create_block());
        self.b.ins().jump(lane, &[]);
        self.b.switch_to_block(lane);
        let k = self.b.use_var(c);
        // (the loop's ranges hold for every iteration of the stretch)
        self.mark_in_range(counter, r.hoisted, site)?;
        self.mark_affine_in_range(counter, r.affine, site)?;
        let rel = self.b.ins().isub(k, i);
        let at = self.b.ins().imul_imm_s(rel, 8);
        let base = self.b.ins().stack_addr(types::I64, slot, 0);
        let at = self.b.ins().iadd(base, at);
        // (an array whose range the loop checked is read as the loop reads it, else
        // without faulting)
        let unchecked = self
            .closures_at(f)
            .filter(|p| !r.hoisted.iter().any(|(q, _)| q == p));
        let (clo, missing) = match unchecked {
            Some(p) => self.closure_at(p, k, base)?,
            None => (self.value(f)?, self.b.ins().iconst(types::I64, 0)),
        };
        // The record's 16 bytes tested as every call checks them, without the fault: a
        // bad one sends the stretch one call at a time, and its iteration faults in turn.
        let (rec, bad) = self.valid_or(clo, 16, base);
        let bad = self.b.ins().bor(bad, missing);
        let stamp = self.b.ins().load(types::I64, MemFlagsData::new(), rec, 0);
        let env = self.b.ins().load(types::I64, MemFlagsData::new(), rec, 8);
        let flags = MemFlagsData::trusted();
        self.b.ins().store(flags, env, at, 0);
        let p = self.b.use_var(prev);
        let first = self.b.ins().icmp(IntCC::Equal, k, i);
        let p = self.b.ins().select(first, stamp, p);
        let x = self.b.ins().bxor(stamp, p);
        let d = self.b.use_var(differ);
        let d = self.b.ins().bor(d, x);
        let d = self.b.ins().bor(d, bad);
        self.b.def_var(differ, d);
        self.b.def_var(prev, stamp);
        for (a, arg) in args.iter().enumerate() {
            let v = self.value(arg)?;
            let typed = self.typed;
            let w = self.word_of(v, &typed.types[arg.id])?;
            self.b.ins().store(flags, w, at, REGION * (a as i32 + 1));
        }
        let k1 = self.b.ins().iadd_imm_s(k, 1);
        self.b.def_var(c, k1);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, k1, last);
        self.b.ins().brif(more, lane, &[], after, &[]);
        self.b.seal_block(lane);
        self.b.seal_block(after);
        self.b.switch_to_block(after);
        self.unscope(saved);
        self.index_values = indices;
        match outer {
            Some(o) => self.vars.insert(counter, o),
            None => self.vars.remove(&counter),
        };
        if in_env {
            self.env_slots.push(counter);
        }
        Ok((self.b.use_var(prev), self.b.use_var(differ)))
    }

    /// The array `f` reads its closure from at the counter, `(pref p i)` or `(aref p i)`.
    fn closures_at(&self, f: &Expr) -> Option<usize> {
        let ExprKind::App(_, args) = &f.kind else {
            return None;
        };
        matches!(
            self.typed.builtin(f.id),
            Some(Builtin::Pref | Builtin::Aref)
        )
        .then(|| self.local_of(args.first()?))
        .flatten()
    }

    /// Element `k` of the array of closures `p` (see [`FnCx::closures_at`]) and a word that
    /// is 0 when the element lies in a live allocation, else nonzero (the closure then read
    /// from `other`): read without faulting, as [`FnCx::valid_or`] says.
    fn closure_at(&mut self, p: usize, k: Value, other: Value) -> Result<(Value, Value)> {
        let base = self
            .read_var(p, 0)?
            .ok_or_else(|| internal("void array of closures"))?;
        let off = self.b.ins().imul_imm_s(k, 8);
        let at = self.b.ins().iadd(base, off);
        let (addr, bad) = self.valid_or(at, 8, other);
        // (an index past 2^40 is past any allocation; its product cannot wrap)
        let far = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, k, 1 << 40);
        let far = self.b.ins().uextend(types::I64, far);
        let clo = self.b.ins().load(types::I64, MemFlagsData::new(), addr, 0);
        Ok((clo, self.b.ins().bor(bad, far)))
    }

    /// `(address, bad)`: the untagged address of the `len` bytes at tagged pointer `at`
    /// and 0 when they lie in a live allocation of `at`'s tag, else `other` (readable) and
    /// a nonzero word.
    fn valid_or(&mut self, at: Value, len: u64, other: Value) -> (Value, Value) {
        let stripped = self.strip(at);
        let (rel, outside) = self.arena_offset(stripped);
        let last = self.consts.arena_len - shadow::GRANULE;
        let last = self.b.ins().iconst(types::I64, last as i64);
        let rel = self.b.ins().umin(rel, last);
        let word = self.shadow_word(rel);
        let end = self.b.ins().iadd_imm_s(at, len as i64);
        let d = self.b.ins().isub(word, end);
        let dead = self.b.ins().icmp_imm_s(
            IntCC::UnsignedGreaterThanOrEqual,
            d,
            shadow::PASS_BELOW as i64,
        );
        let bad = self.b.ins().bor(outside, dead);
        let addr = self.b.ins().select(bad, other, stripped);
        (addr, self.b.ins().uextend(types::I64, bad))
    }

    /// The batched call of the innermost open loop at `k`, in a stretch whose calls its
    /// batch entry ran: the result from the scratch.
    pub(super) fn batched_result(&mut self, k: usize, e: &Expr) -> Result<Option<Value>> {
        let bc = &self.call_batches[k];
        let (counter, slot, start) = (bc.counter, bc.slot, bc.start);
        let start = start.ok_or_else(|| internal("batched call outside its stretch"))?;
        let ExprKind::CallValue(f, args) = &e.kind else {
            return Err(internal("batched call is not a call"));
        };
        let typed = self.typed;
        let Type::Closure(ret, _) = &typed.types[f.id] else {
            return Err(internal("batched call of a non-closure"));
        };
        let i = self
            .read_var(counter, 0)?
            .ok_or_else(|| internal("loop var"))?;
        let rel = self.b.ins().isub(i, start);
        let off = self.b.ins().imul_imm_s(rel, 8);
        let base = self.b.ins().stack_addr(types::I64, slot, 0);
        let at = self.b.ins().iadd(base, off);
        let outs = REGION * (args.len() as i32 + 1);
        let w = self
            .b
            .ins()
            .load(types::I64, MemFlagsData::trusted(), at, outs);
        Ok(Some(self.of_word(w, ret)?))
    }
}

/// Calls `f` on `e` and every expression inside it.
fn visit(e: &Expr, f: &mut impl FnMut(&Expr)) {
    f(e);
    for c in e.children() {
        visit(c, f);
    }
}

/// The computed-closure calls of `e`, nested lambdas left out.
fn collect_calls<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    if matches!(e.kind, ExprKind::Lambda(_)) {
        return;
    }
    if matches!(e.kind, ExprKind::CallValue(..)) {
        out.push(e);
    }
    for c in e.children() {
        collect_calls(c, out);
    }
}

/// Where `e` reaches the call `id`: `Some(false)` when on every run of `e`, once;
/// `Some(true)` when maybe not, or more than once (under an `if`'s arm, after the first
/// test of an `and`/`or`, in a loop); `None` when not at all. `cond`: `e` itself runs
/// under such a condition.
fn once(e: &Expr, id: usize, cond: bool) -> Option<bool> {
    if e.id == id {
        return Some(cond);
    }
    let parts: Vec<(&Expr, bool)> = match &e.kind {
        ExprKind::Lambda(_) => return None,
        ExprKind::If(c, th, el) => [(&**c, cond), (&**th, true)]
            .into_iter()
            .chain(el.iter().map(|x| (&**x, true)))
            .collect(),
        ExprKind::And(args) | ExprKind::Or(args) => args
            .iter()
            .enumerate()
            .map(|(k, a)| (a, cond || k > 0))
            .collect(),
        ExprKind::Dotimes(_, n, body) => std::iter::once((&**n, cond))
            .chain(body.iter().map(|x| (x, true)))
            .collect(),
        ExprKind::While(..) => e.children().into_iter().map(|x| (x, true)).collect(),
        _ => e.children().into_iter().map(|x| (x, cond)).collect(),
    };
    parts.into_iter().find_map(|(x, c)| once(x, id, c))
}
