//! Batch entries: a second function compiled for a lambda simple enough to run for many
//! closures at once, which a loop calling one closure per iteration calls once for up to
//! [`BATCH`] of them (see [`super::batch_calls`]). The 64 oscillators of an additive
//! patch, each a closure made by the same `osc_c`, then cost one call, and their `sin`s
//! go to the wide kernels of [`crate::runtime::wide_math`] together, as a loop in SIMD
//! lanes gathers its math (see [`super::batch`]).
//!
//! A lambda has a batch entry ([`batch_plan`]) when it captures variables (a closure made
//! by a maker, as an oscillator is), its parameters, result and captured
//! variables are numbers, its captured variables are values or slots of its own
//! environment (no shared cell), and its body only computes: literals, variables,
//! `let`, `set!` of its own variables, `if`, `and`, `or`, arithmetic (no integer division,
//! which can fault), comparisons, conversions and math. It reads no memory, calls
//! nothing, and cannot fault (but for its environment's check), so what one closure does
//! cannot change what another computes, and running them one after the other in a batch
//! is running them as the loop would.
//!
//! The entry `(ctx, envs, args, outs, n)` runs the body for closure environments
//! `envs[0..n]`, parameters `args[p][j]` (64-bit words, as the trampolines pass them) and
//! writes each result to `outs[j]`. A body without gathered math runs once per closure.
//! One with gathered math runs in passes, each over every closure, as a gathering loop
//! does: a pass per level ([`LaneSite::level`]) writes the arguments of that level's
//! calls to a scratch, the kernels compute them, and a last pass reads the results. The
//! first pass runs the whole body, stores each closure's own variables back to its
//! environment, and keeps the values they had after the body's first expressions without
//! a gathered call ([`BatchPlan::prefix`]): the later passes start from those, run only
//! the rest of the body, and store nothing. So the stored values must not depend on a
//! gathered result ([`Scan`] refuses a lambda whose own variable does), and the first
//! pass computes them exactly; a closure that appears twice in the batch sees its first
//! run's values in its second, as it would in the loop.

use super::{FnCx, Lowering, clif, internal};
use crate::builtin::{Builtin, Math};
use crate::error::Result;
use crate::infer::{Ref, Typed};
use crate::runtime::wide_math::{BATCH, Kernels};
use crate::syntax::{Expr, ExprKind, Lambda};
use crate::types::Type;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, InstBuilder, MemFlagsData, Signature, StackSlotData, StackSlotKind, Value, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use std::collections::HashMap;

/// The most gathered calls a batch entry's body may have.
const MAX_SITES: usize = 4;
/// The most variables of its own a lambda with a batch entry may keep in its environment.
const MAX_OWN: usize = 16;
/// Bytes of one scratch region: a word for each closure of a batch.
const REGION: i32 = BATCH as i32 * 8;

/// A math call of a batch entry's body that a wide kernel computes.
#[derive(Clone, Copy, Debug)]
struct LaneSite {
    kernel: u64,
    arity: usize,
    /// 1 when its arguments depend on no gathered result, else one more than the highest
    /// level of those they (or the conditions it runs under) depend on.
    level: u32,
}

/// How a lambda's batch entry is lowered.
pub struct BatchPlan {
    sites: Vec<LaneSite>,
    /// How many of the body's first expressions have no gathered call: only the first
    /// pass runs them.
    prefix: usize,
    /// The positions, in its environment, of the variables the lambda keeps there itself.
    own: Vec<usize>,
}

impl BatchPlan {
    fn levels(&self) -> u32 {
        self.sites.iter().map(|s| s.level).max().unwrap_or(0)
    }
}

/// The state of a batch entry's pass while its body is lowered.
pub(super) struct LanePass {
    sites: Vec<LaneSite>,
    /// The level whose arguments this pass writes; `None` in the last pass.
    level: Option<u32>,
    /// The gathered call the body has reached.
    next: usize,
    /// The scratch's address, and this closure's offset in a region (`8 j`).
    scratch: Value,
    lane: Value,
    /// Where the site arguments and results start in the scratch.
    args_at: i32,
    outs_at: i32,
}

/// The signature of every batch entry: `(ctx, envs, args, outs, n)`.
pub fn batch_signature(cc: CallConv) -> Signature {
    let mut sig = Signature::new(cc);
    sig.params.extend([AbiParam::new(types::I64); 5]);
    sig
}

/// The plan of `lam`'s batch entry, or `None` when it has none (see the module's comment).
/// `kernels`: the CPU's wide math kernels, if any.
pub fn batch_plan(lam: &Lambda, typed: &Typed, kernels: Option<Kernels>) -> Option<BatchPlan> {
    let Some(Type::Closure(ret, params)) = typed.lambda_types.get(&lam.index) else {
        return None;
    };
    if !ret.is_numeric() || !params.iter().all(Type::is_numeric) {
        return None;
    }
    // (a lambda that captures nothing is a function, not one of many closures in an array:
    // compiling it twice would only cost time)
    let caps = typed.captures.get(&lam.index).filter(|c| !c.is_empty())?;
    let mut own = Vec::new();
    let mut owned = Vec::new();
    for (i, v) in caps.iter().enumerate() {
        let info = &typed.vars[*v];
        if info.is_cell() || !info.ty.is_numeric() {
            return None;
        }
        if info.owner == Some(lam.index) {
            own.push(i);
            owned.push(*v);
        }
    }
    for v in typed.params.get(&lam.index)? {
        if typed.vars[*v].is_cell() {
            return None;
        }
    }
    let mut scan = Scan {
        typed,
        kernels,
        owned,
        levels: HashMap::new(),
        sites: Vec::new(),
    };
    let mut prefix = None;
    for (k, e) in lam.body.iter().enumerate() {
        scan.expr(e, 0)?;
        if prefix.is_none() && !scan.sites.is_empty() {
            prefix = Some(k);
        }
    }
    (own.len() <= MAX_OWN && scan.sites.len() <= MAX_SITES).then_some(BatchPlan {
        sites: scan.sites,
        prefix: prefix.unwrap_or(lam.body.len()),
        own,
    })
}

/// Walks a body in the order lowering does, giving each value the level of the gathered
/// results it depends on (see [`LaneSite::level`]).
struct Scan<'a> {
    typed: &'a Typed,
    kernels: Option<Kernels>,
    /// The lambda's own environment variables: set only to values of level 0.
    owned: Vec<usize>,
    /// Each local's level: the highest of any value it was set to (a conservative bound).
    levels: HashMap<usize, u32>,
    sites: Vec<LaneSite>,
}

impl Scan<'_> {
    fn seq(&mut self, body: &[Expr], ctl: u32) -> Option<u32> {
        let mut l = 0;
        for e in body {
            l = self.expr(e, ctl)?;
        }
        Some(l)
    }

    /// Gives local `v` a value of level `l`; `None` when it is the lambda's own
    /// environment variable and `l` is not 0, or a shared cell.
    fn assign(&mut self, v: usize, l: u32) -> Option<()> {
        if self.typed.vars[v].is_cell() || (l > 0 && self.owned.contains(&v)) {
            return None;
        }
        let at = self.levels.entry(v).or_insert(0);
        *at = (*at).max(l);
        Some(())
    }

    /// The level of `e`'s value when it runs under conditions of level `ctl`; `None` when
    /// the body does not qualify.
    fn expr(&mut self, e: &Expr, ctl: u32) -> Option<u32> {
        let t = &self.typed.types[e.id];
        if !(t.is_numeric() || *t == Type::Void) {
            return None;
        }
        Some(match &e.kind {
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Void => 0,
            ExprKind::Var(_) => match self.typed.refs.get(&e.id)? {
                Ref::Local(v) => self.levels.get(v).copied().unwrap_or(0),
                Ref::Global(_) => 0,
                Ref::Func(_) => return None,
            },
            ExprKind::Let(binds, body) => {
                let ids = self.typed.let_vars.get(&e.id)?;
                for ((_, x), v) in binds.iter().zip(ids) {
                    let l = self.expr(x, ctl)?.max(ctl);
                    self.assign(*v, l)?;
                }
                self.seq(body, ctl)?
            }
            ExprKind::Begin(body) => self.seq(body, ctl)?,
            ExprKind::Set(_, x) => {
                let l = self.expr(x, ctl)?;
                let Some(Ref::Local(v)) = self.typed.refs.get(&e.id) else {
                    return None;
                };
                self.assign(*v, l.max(ctl))?;
                l
            }
            ExprKind::If(c, th, el) => {
                let lc = self.expr(c, ctl)?;
                let inner = ctl.max(lc);
                let mut l = lc.max(self.expr(th, inner)?);
                if let Some(el) = el {
                    l = l.max(self.expr(el, inner)?);
                }
                l
            }
            ExprKind::And(args) | ExprKind::Or(args) => {
                let mut l = 0;
                for a in args {
                    l = l.max(self.expr(a, ctl.max(l))?);
                }
                l
            }
            ExprKind::App(_, args) => self.app(e, args, ctl)?,
            _ => return None,
        })
    }

    fn app(&mut self, e: &Expr, args: &[Expr], ctl: u32) -> Option<u32> {
        let b = self.typed.builtin(e.id)?;
        if !b.only_computes(&self.typed.types[e.id]) {
            return None;
        }
        let mut l = 0;
        for a in args {
            l = l.max(self.expr(a, ctl)?);
        }
        if let Builtin::Math(m) = b
            && let Some((kernel, arity)) = self.kernel(m)
        {
            let level = 1 + l.max(ctl);
            self.sites.push(LaneSite {
                kernel,
                arity,
                level,
            });
            return Some(level);
        }
        Some(l)
    }

    fn kernel(&self, m: Math) -> Option<(u64, usize)> {
        self.kernels?.of(m)
    }
}

impl<'a, 'b> FnCx<'a, 'b> {
    /// Lowers the batch entry of `lam` (see the module's comment) by `plan`.
    pub fn lower_batch(
        b: FunctionBuilder<'b>,
        lam: &'a Lambda,
        lowering: Lowering<'a>,
        plan: &BatchPlan,
    ) -> Result<()> {
        let typed = lowering.typed;
        let Some(Type::Closure(ret, _)) = typed.lambda_types.get(&lam.index) else {
            return Err(internal("lambda without a closure type"));
        };
        let (mut cx, p) = FnCx::open(b, lowering, None);
        let [_, envs, args, outs, n] = p[..] else {
            return Err(internal("batch entry parameters"));
        };
        let site = cx
            .linker
            .site("lambda", lam.body.first().and_then(|e| e.span.as_ref()));
        let caps = typed.captures.get(&lam.index).cloned().unwrap_or_default();
        let pvars = typed.params.get(&lam.index).cloned().unwrap_or_default();
        let levels = plan.levels();
        // The scratch: the own variables' first values, then each site's two arguments,
        // then each site's results, a region each.
        let own_at = 0;
        let args_at = REGION * plan.own.len() as i32;
        let outs_at = args_at + 2 * REGION * plan.sites.len() as i32;
        let bytes = outs_at + REGION * plan.sites.len() as i32;
        let slot = cx.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            bytes.max(8) as u32,
            4,
        ));
        let flags = MemFlagsData::trusted();
        let passes: Vec<Option<u32>> = (1..=levels).map(Some).chain([None]).collect();
        for (k, &level) in passes.iter().enumerate() {
            let first = k == 0;
            let scratch = cx.b.ins().stack_addr(types::I64, slot, 0);
            let jv = cx.zeroed_var(types::I64);
            let (lane_block, done) = (cx.b.create_block(), cx.b.create_block());
            cx.b.ins().jump(lane_block, &[]);
            cx.b.switch_to_block(lane_block);
            let j = cx.b.use_var(jv);
            let lane = cx.b.ins().imul_imm_s(j, 8);
            let at = cx.b.ins().iadd(envs, lane);
            let env = cx.b.ins().load(types::I64, flags, at, 0);
            let env_at = cx.strip(env);
            if first && cx.consts.checks && !caps.is_empty() {
                cx.check_stripped(env, 0, 8 * caps.len() as u64, site, false, env_at);
            }
            let saved = cx.scope();
            let own_slot = |v: usize| plan.own.iter().position(|&i| caps[i] == v);
            // this closure's own variables: their slots, their places in the scratch, and
            // the variables holding them
            let mut own_vars = Vec::new();
            for (i, v) in caps.iter().enumerate() {
                let ty = clif(&typed.vars[*v].ty, None)?.ok_or_else(|| internal("void capture"))?;
                let x = match own_slot(*v).filter(|_| !first) {
                    Some(o) => {
                        let a = cx.b.ins().iadd(scratch, lane);
                        cx.b.ins().load(ty, flags, a, own_at + REGION * o as i32)
                    }
                    None => {
                        cx.b.ins()
                            .load(ty, MemFlagsData::new(), env_at, 8 * i as i32)
                    }
                };
                let var = cx.b.declare_var(ty);
                cx.b.def_var(var, x);
                cx.vars.insert(*v, var);
                if let Some(o) = own_slot(*v) {
                    own_vars.push((i, o, var));
                }
            }
            for (i, v) in pvars.iter().enumerate() {
                let t = typed.vars[*v].ty.clone();
                let a = cx.b.ins().iadd(args, lane);
                let w = cx.b.ins().load(types::I64, flags, a, REGION * i as i32);
                let x = cx.of_word(w, &t)?;
                cx.bind(*v, Some(x), site)?;
            }
            let (head, tail) = lam.body.split_at(plan.prefix.min(lam.body.len()));
            let mut last = None;
            if first {
                last = cx.body(head)?;
                if levels > 0 {
                    for &(_, o, var) in &own_vars {
                        let x = cx.b.use_var(var);
                        let a = cx.b.ins().iadd(scratch, lane);
                        cx.b.ins().store(flags, x, a, own_at + REGION * o as i32);
                    }
                }
            }
            cx.lane = Some(LanePass {
                sites: plan.sites.clone(),
                level,
                next: 0,
                scratch,
                lane,
                args_at,
                outs_at,
            });
            if !tail.is_empty() {
                last = cx.body(tail)?;
            }
            cx.lane = None;
            cx.unscope(saved);
            if first {
                for &(i, _, var) in &own_vars {
                    let x = cx.b.use_var(var);
                    cx.b.ins()
                        .store(MemFlagsData::new(), x, env_at, 8 * i as i32);
                }
            }
            if level.is_none() {
                let x = last.ok_or_else(|| internal("batch entry without a result"))?;
                let w = cx.word_of(x, ret)?;
                let a = cx.b.ins().iadd(outs, lane);
                cx.b.ins().store(flags, w, a, 0);
            }
            let j1 = cx.b.ins().iadd_imm_s(j, 1);
            cx.b.def_var(jv, j1);
            let more = cx.b.ins().icmp(IntCC::SignedLessThan, j1, n);
            cx.b.ins().brif(more, lane_block, &[], done, &[]);
            cx.b.seal_block(lane_block);
            cx.b.switch_to_block(done);
            cx.b.seal_block(done);
            if let Some(level) = level {
                cx.lane_kernels(&plan.sites, level, slot, (args_at, outs_at), n);
            }
        }
        cx.finish_void();
        Ok(())
    }

    /// The kernel calls of the sites of `level`, over the `n` closures of the batch.
    fn lane_kernels(
        &mut self,
        sites: &[LaneSite],
        level: u32,
        slot: cranelift_codegen::ir::StackSlot,
        (args_at, outs_at): (i32, i32),
        n: Value,
    ) {
        for (k, s) in sites.iter().enumerate() {
            if s.level != level {
                continue;
            }
            let mut sig = Signature::new(self.consts.call_conv);
            sig.params
                .extend(std::iter::repeat_n(AbiParam::new(types::I64), s.arity + 2));
            let sref = self.b.import_signature(sig);
            let mut call = Vec::new();
            for a in 0..s.arity {
                let at = args_at + REGION * (2 * k + a) as i32;
                call.push(self.b.ins().stack_addr(types::I64, slot, at));
            }
            let at = outs_at + REGION * k as i32;
            call.push(self.b.ins().stack_addr(types::I64, slot, at));
            call.push(n);
            let f = self.b.ins().iconst(types::I64, s.kernel as i64);
            self.b.ins().call_indirect(sref, f, &call);
        }
    }

    /// In a batch entry's pass, `m` of `vals` (of type `t`) if a kernel computes it: a
    /// pass of the call's level writes the arguments (as doubles) and gives the first
    /// back, as does a pass of a lower level (nothing it keeps uses the value); the passes
    /// after read the kernel's result. `None` when no batch entry is being lowered or no
    /// kernel computes `m`.
    pub(super) fn lane_math(&mut self, m: Math, vals: &[Value], t: &Type) -> Result<Option<Value>> {
        let kernel = self.consts.wide_math.and_then(|k| k.of(m));
        let Some(lane) = self.lane.as_mut().filter(|_| kernel.is_some()) else {
            return Ok(None);
        };
        let k = lane.next;
        let site = *lane
            .sites
            .get(k)
            .ok_or_else(|| internal("batch entry: gathered call not planned"))?;
        lane.next += 1;
        let (scratch, at, level) = (lane.scratch, lane.lane, lane.level);
        let (args_at, outs_at) = (lane.args_at, lane.outs_at);
        let float = *t == Type::Float;
        let flags = MemFlagsData::trusted();
        let a = self.b.ins().iadd(scratch, at);
        match level {
            Some(l) if site.level >= l => {
                if site.level == l {
                    for (j, &v) in vals.iter().take(site.arity).enumerate() {
                        let d = if float {
                            self.b.ins().fpromote(types::F64, v)
                        } else {
                            v
                        };
                        let off = args_at + REGION * (2 * k + j) as i32;
                        self.b.ins().store(flags, d, a, off);
                    }
                }
                Ok(vals.first().copied())
            }
            _ => {
                let off = outs_at + REGION * k as i32;
                let r = self.b.ins().load(types::F64, flags, a, off);
                Ok(Some(if float {
                    self.b.ins().fdemote(types::F32, r)
                } else {
                    r
                }))
            }
        }
    }
}
