//! Math gathered: a loop in SIMD lanes (see [`super::simd`]) whose `sin`, `cos`,
//! `sin_fast`, `cos_fast`, `tan`, `exp`, `log`, `tanh` and `fmod` calls go to the CPU's
//! widest kernels ([`crate::runtime::wide_math`], four or eight lanes an instruction
//! where Cranelift has two). Each stretch of up to [`BATCH`] iterations runs in passes: a
//! first pass computes only what the calls' arguments need and writes them to a scratch
//! area on the stack (it leaves out the body's stores and reductions); one kernel call per
//! call site takes them; a last pass runs the body in full, reading each result from the
//! scratch. A call whose argument depends on another's result (through an expression, a
//! variable, or an element stored earlier in the iteration) has a higher level
//! ([`Site::level`]): each level gets a first pass and kernel calls of its own, after the
//! levels below it. An argument that is an array's element at the counter needs no first
//! pass: the kernel reads the array.
//!
//! A loop of floats sends its arguments to the kernels as doubles and rounds their results
//! back, as the inline code computes float math. The kernels give each argument the bits
//! the inline code gives it, so the loop's output is the same with or without them, and
//! the scalar loop that does the last few iterations agrees with the lanes.
//!
//! A body qualifies ([`FnCx::batch_sites`]) when it has at most [`MAX_SITES`] such calls.
//! A first pass writes the body's private variables as the last does; the last writes
//! them again before it reads them (they are written before they are read in every
//! iteration).

use super::FnCx;
use super::simd::{Lanes, Plan};
use crate::builtin::{Builtin, Math};
use crate::error::Result;
use crate::infer::Ref;
use crate::runtime::wide_math::{BATCH, Kernels};
use crate::syntax::{Expr, ExprKind};
use crate::types::Type;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, Block, InstBuilder, MemFlagsData, Signature, StackSlot, StackSlotData, StackSlotKind,
    Value, types,
};

/// The most calls a gathered body may have (each takes 1.5 KiB of stack).
pub(super) const MAX_SITES: usize = 4;

/// Bytes of one argument's values (or of one site's results) for a stretch: the scratch
/// holds two arguments for each site, then each site's results.
const REGION: i64 = BATCH as i64 * 8;

/// A gathered call, in the order the body reaches them.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) struct Site {
    /// The kernel's address (see [`crate::runtime::wide_math::Kernels::of`]).
    kernel: u64,
    /// How many arguments it takes (`fmod` two).
    arity: usize,
    /// For each argument (`fmod` has two), the array whose element at the counter it is,
    /// unchanged since the iteration began: the kernel reads it there, and the first pass
    /// has nothing to write.
    from: [Option<usize>; 2],
    /// 1 for a call whose argument depends on no gathered result; else one more than the
    /// highest level of the calls it depends on. The kernels run a level at a time, each
    /// level's arguments written by a pass of their own.
    level: u32,
}

/// The state of a gathering loop while its body is lowered.
pub(super) struct Gather {
    sites: Vec<Site>,
    /// The scratch, less 8 bytes for each iteration before the stretch's first: each
    /// site's arguments, then each site's results, at 8 bytes an iteration.
    args: Value,
    outs: Value,
    /// A first pass, which computes arguments only.
    pub(super) dry: bool,
    /// The level (see [`Site::level`]) whose arguments the first pass computes.
    phase: u32,
    /// The call site the body has reached in this iteration.
    pub(super) site: usize,
    /// The body's reductions: the first pass does not accumulate them.
    pub(super) reductions: Vec<usize>,
}

/// Values that cross a gathering loop's kernel calls in a stack slot, put there and taken
/// back by hand (left to the register allocator, they were stored and reloaded in every
/// iteration of the passes): the vector invariants, the arrays' addresses, then the
/// accumulators, 16 bytes each.
struct Kept {
    slot: StackSlot,
    invariants: Vec<usize>,
    bases: Vec<usize>,
    reductions: Vec<usize>,
}

/// Which values of one iteration depend on a gathered result, in evaluation order.
struct Taint<'c, 'a, 'b> {
    cx: &'c FnCx<'a, 'b>,
    kernels: Kernels,
    /// The loop computes on doubles (else floats, whose elements the kernels, which take
    /// doubles, cannot read in place).
    doubles: bool,
    /// Variables, and arrays stored to, whose values depend on gathered results, with
    /// their levels (see [`Taint::expr`]).
    vars: Vec<(usize, u32)>,
    ptrs: Vec<(usize, u32)>,
    /// Arrays stored to so far in the iteration.
    stored: Vec<usize>,
    /// Variables holding `(pref p i)` of an array not yet stored to, and the array.
    copies: Vec<(usize, usize)>,
    sites: Vec<Site>,
}

impl FnCx<'_, '_> {
    /// True when a wide kernel computes `m` on this CPU: in a gathering loop, every such
    /// call is a gathered one.
    pub(super) fn has_kernel(&self, m: Math) -> bool {
        self.consts.wide_math.is_some_and(|k| k.of(m).is_some())
    }

    /// The calls of `body` (a loop body in SIMD lanes of `elem`) to gather, or `None` when
    /// it does not qualify (see the module's comment) or the CPU has no kernels.
    pub(super) fn batch_sites(&self, body: &[Expr], elem: &Type) -> Option<Vec<Site>> {
        let mut t = Taint {
            cx: self,
            kernels: self.consts.wide_math?,
            doubles: *elem == Type::Double,
            vars: Vec::new(),
            ptrs: Vec::new(),
            stored: Vec::new(),
            copies: Vec::new(),
            sites: Vec::new(),
        };
        t.seq(body)?;
        (1..=MAX_SITES).contains(&t.sites.len()).then_some(t.sites)
    }

    /// Runs `body` (its plan gathering calls) a vector of iterations at a time up to
    /// `pairs`, in stretches of up to [`BATCH`] iterations, then continues in `done`.
    pub(super) fn gathered_loop(
        &mut self,
        plan: &Plan,
        l: &mut Lanes,
        (pairs, done): (Value, Block),
        body: &[Expr],
        site: u32,
    ) -> Result<()> {
        let sites = &plan.gather;
        let region = 2 * REGION * sites.len() as i64;
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (region + REGION * sites.len() as i64) as u32,
            4,
        ));
        let start = self.b.declare_var(types::I64);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(start, zero);
        let kept = self.keep_invariants(l, plan.reductions());
        let [stretch, wet, next] = [(); 3].map(|_| self.b.create_block());
        let any = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, pairs, 0);
        self.b.ins().brif(any, stretch, &[], done, &[]);

        self.b.switch_to_block(stretch);
        self.take_invariants(l, &kept);
        let s = self.b.use_var(start);
        let limit = self.b.ins().iadd_imm_s(s, BATCH as i64);
        let short = self.b.ins().icmp(IntCC::SignedLessThan, limit, pairs);
        let end = self.b.ins().select(short, limit, pairs);
        self.b.def_var(l.counter, s);
        let before = self.b.ins().imul_imm_s(s, -8);
        let args = self.b.ins().stack_addr(types::I64, slot, 0);
        let outs = self.b.ins().stack_addr(types::I64, slot, region as i32);
        l.gather = Some(Gather {
            sites: sites.to_vec(),
            args: self.b.ins().iadd(args, before),
            outs: self.b.ins().iadd(outs, before),
            dry: true,
            phase: 1,
            site: 0,
            reductions: kept.reductions.clone(),
        });
        let levels = sites.iter().map(|x| x.level).max().unwrap_or(1);
        for phase in 1..=levels {
            let called = self.b.create_block();
            if let Some(g) = l.gather.as_mut() {
                g.phase = phase;
            }
            // Nothing to write when every argument is an array's element.
            let direct = sites
                .iter()
                .filter(|x| x.level == phase)
                .all(|x| x.from.iter().take(x.arity).all(Option::is_some));
            if direct {
                self.b.ins().jump(called, &[]);
            } else {
                let dry = self.b.create_block();
                self.b.ins().jump(dry, &[]);
                self.gathering_pass(l, body, (dry, called), true, end)?;
            }
            self.b.switch_to_block(called);
            self.b.seal_block(called);
            self.cross_kernel_calls(l, &kept, |cx, l| cx.call_kernels(l, phase, s, end))?;
            self.b.def_var(l.counter, s);
        }
        // The last pass two vectors at a time (a second accumulator for each reduction:
        // one chain of dependent adds bounded it), then the last vector, if any.
        if let Some(g) = l.gather.as_mut() {
            g.dry = false;
        }
        self.unrolled_loop(plan, l, end, body, site)?;
        let i = self.b.use_var(l.counter);
        let any = self.b.ins().icmp(IntCC::SignedLessThan, i, end);
        self.b.ins().brif(any, wet, &[], next, &[]);
        self.gathering_pass(l, body, (wet, next), false, end)?;
        self.b.switch_to_block(next);
        self.b.seal_block(next);
        self.b.def_var(start, end);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, end, pairs);
        self.b.ins().brif(more, stretch, &[], done, &[]);
        self.b.seal_block(stretch);
        l.gather = None;
        Ok(())
    }

    /// One pass over a stretch, in `blocks.0` (entered with the lanes' counter at the
    /// stretch's first iteration), up to `end`, then on to `blocks.1`: the first pass
    /// (`dry`) or the last.
    fn gathering_pass(
        &mut self,
        l: &mut Lanes,
        body: &[Expr],
        (block, after): (Block, Block),
        dry: bool,
        end: Value,
    ) -> Result<()> {
        self.b.switch_to_block(block);
        if let Some(g) = l.gather.as_mut() {
            g.dry = dry;
        }
        self.vbody(body, l)?;
        let lanes = if l.vty == types::F32X4 { 4 } else { 2 };
        let i2 = self.vstep(l, lanes);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, i2, end);
        self.b.ins().brif(more, block, &[], after, &[]);
        self.b.seal_block(block);
        Ok(())
    }

    /// Puts the lanes' vector invariants and arrays' addresses in a new [`Kept`] slot
    /// (which will hold `reductions` across each kernel call too).
    fn keep_invariants(&mut self, l: &Lanes, reductions: Vec<usize>) -> Kept {
        let mut invariants: Vec<usize> = l.invariants.keys().copied().collect();
        invariants.sort_unstable();
        let mut bases: Vec<usize> = l.bases.keys().copied().collect();
        bases.sort_unstable();
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            16 * (invariants.len() + bases.len() + reductions.len()).max(1) as u32,
            4,
        ));
        let values = invariants.iter().map(|id| l.invariants[id]);
        let values: Vec<Value> = values.chain(bases.iter().map(|id| l.bases[id])).collect();
        for (k, x) in values.into_iter().enumerate() {
            self.b.ins().stack_store(types::I64, x, slot, 16 * k as i32);
        }
        Kept {
            slot,
            invariants,
            bases,
            reductions,
        }
    }

    /// The vector invariants and the arrays' addresses again from `kept`.
    fn take_invariants(&mut self, l: &mut Lanes, kept: &Kept) {
        for (k, id) in kept.invariants.iter().enumerate() {
            let x = self
                .b
                .ins()
                .stack_load(types::I64, l.vty, kept.slot, 16 * k as i32);
            l.invariants.insert(*id, x);
        }
        let at = 16 * kept.invariants.len();
        for (k, id) in kept.bases.iter().enumerate() {
            let x =
                self.b
                    .ins()
                    .stack_load(types::I64, types::I64, kept.slot, (at + 16 * k) as i32);
            l.bases.insert(*id, x);
        }
    }

    /// `calls` (kernel calls), with the accumulators put in `kept` before and taken back
    /// after, and the invariants taken back too.
    fn cross_kernel_calls(
        &mut self,
        l: &mut Lanes,
        kept: &Kept,
        calls: impl FnOnce(&mut Self, &Lanes) -> Result<()>,
    ) -> Result<()> {
        let at = 16 * (kept.invariants.len() + kept.bases.len());
        for (k, id) in kept.reductions.iter().enumerate() {
            let x = self.b.use_var(l.vars[id]);
            self.b
                .ins()
                .stack_store(types::I64, x, kept.slot, (at + 16 * k) as i32);
        }
        calls(self, l)?;
        for (k, id) in kept.reductions.iter().enumerate() {
            let x = self
                .b
                .ins()
                .stack_load(types::I64, l.vty, kept.slot, (at + 16 * k) as i32);
            self.b.def_var(l.vars[id], x);
        }
        self.take_invariants(l, kept);
        Ok(())
    }

    /// One call per site of level `phase`: the kernel of the `end - s` arguments from
    /// iteration `s` on, in the scratch or in their array.
    fn call_kernels(&mut self, l: &Lanes, phase: u32, s: Value, end: Value) -> Result<()> {
        let Some(g) = l.gather.as_ref() else {
            return Ok(());
        };
        let mut refs = Vec::new();
        for params in [3, 4] {
            let mut sig = Signature::new(self.consts.call_conv);
            sig.params
                .extend(std::iter::repeat_n(AbiParam::new(types::I64), params));
            refs.push(self.b.import_signature(sig));
        }
        let n = self.b.ins().isub(end, s);
        let first = self.b.ins().imul_imm_s(s, 8);
        for (k, site) in g.sites.iter().enumerate() {
            if site.level != phase {
                continue;
            }
            let mut call = Vec::new();
            for (j, from) in site.from.iter().take(site.arity).enumerate() {
                call.push(match from {
                    Some(p) => {
                        let base = *l
                            .bases
                            .get(p)
                            .ok_or_else(|| super::internal("gathered array"))?;
                        self.b.ins().iadd(base, first)
                    }
                    None => {
                        let a = self.b.ins().iadd(g.args, first);
                        self.b.ins().iadd_imm_s(a, REGION * (2 * k + j) as i64)
                    }
                });
            }
            let o = self.b.ins().iadd(g.outs, first);
            call.push(self.b.ins().iadd_imm_s(o, REGION * k as i64));
            call.push(n);
            let f = self.b.ins().iconst(types::I64, site.kernel as i64);
            self.b.ins().call_indirect(refs[site.arity - 1], f, &call);
        }
        Ok(())
    }

    /// The gathered call of the lanes `args` in a gathering loop. A first pass writes the
    /// arguments to the scratch if the call is of the pass's level (but those the kernel
    /// reads from their arrays) and gives the first back, as it does for a call of a
    /// later level (nothing the pass keeps uses it); for a call of an earlier level, and
    /// in the last pass, the kernel's result is read.
    pub(super) fn gathered(&mut self, l: &mut Lanes, args: &[Value]) -> Result<Value> {
        let x = *args
            .first()
            .ok_or_else(|| super::internal("gathered call without arguments"))?;
        let i = self.b.use_var(l.counter);
        let Some(g) = l.gather.as_mut() else {
            return Err(super::internal("no gathering loop"));
        };
        let k = g.site;
        let site = *g
            .sites
            .get(k)
            .ok_or_else(|| super::internal("gathered call not planned"))?;
        g.site += 1;
        let dry = g.dry && site.level >= g.phase;
        if dry && site.level > g.phase {
            return Ok(x);
        }
        let base = if dry { g.args } else { g.outs };
        let off = self.b.ins().imul_imm_s(i, 8);
        let addr = self.b.ins().iadd(base, off);
        let flags = MemFlagsData::trusted();
        // The scratch holds a double an iteration: a float vector's four lanes are two
        // vectors of doubles there (the second vector of an unrolled iteration is `disp`
        // bytes of floats on, twice that of doubles).
        let float = l.vty == types::F32X4;
        let disp = if float { 2 * l.disp } else { l.disp };
        if dry {
            for (j, &v) in args.iter().enumerate() {
                if site.from[j].is_some() {
                    continue;
                }
                let at = (REGION * (2 * k + j) as i64) as i32 + disp;
                if float {
                    let (lo, hi) = self.widen(v);
                    self.b.ins().store(flags, lo, addr, at);
                    self.b.ins().store(flags, hi, addr, at + 16);
                } else {
                    self.b.ins().store(flags, v, addr, at);
                }
            }
            return Ok(x);
        }
        let at = (REGION * k as i64) as i32 + disp;
        Ok(if float {
            let lo = self.b.ins().load(types::F64X2, flags, addr, at);
            let hi = self.b.ins().load(types::F64X2, flags, addr, at + 16);
            self.narrow(lo, hi)
        } else {
            self.b.ins().load(types::F64X2, flags, addr, at)
        })
    }
}

impl Taint<'_, '_, '_> {
    fn seq(&mut self, body: &[Expr]) -> Option<u32> {
        let mut t = 0;
        for x in body {
            t = self.expr(x)?;
        }
        Some(t)
    }

    /// The array `x` reads at the counter, if it is `(pref p i)` of an array not stored
    /// to yet in the iteration.
    fn element(&self, x: &Expr) -> Option<usize> {
        let ExprKind::App(_, args) = &x.kind else {
            return None;
        };
        if !self.doubles {
            return None;
        }
        if self.cx.typed.builtin(x.id)? != Builtin::Pref {
            return None;
        }
        let p = self.cx.local_of(args.first()?)?;
        // (a float array in a loop on doubles is not the kernels' to read)
        let doubles = FnCx::pointee(&self.cx.typed.vars[p].ty) == Type::Double;
        (doubles && !self.stored.contains(&p)).then_some(p)
    }

    /// Notes that variable `id` was just set to `x`: a copy of an array's element, or not.
    fn copy(&mut self, id: usize, x: &Expr) {
        self.copies.retain(|(v, _)| *v != id);
        if let Some(p) = self.element(x) {
            self.copies.push((id, p));
        }
    }

    /// The level of variable or array `id` in `of`.
    fn level(of: &[(usize, u32)], id: usize) -> u32 {
        of.iter().find(|(v, _)| *v == id).map_or(0, |(_, l)| *l)
    }

    /// Gives variable `id` the level `l`.
    fn mark(&mut self, id: usize, l: u32) {
        self.vars.retain(|(v, _)| *v != id);
        if l > 0 {
            self.vars.push((id, l));
        }
    }

    /// The level of `e`'s value: 0 when it depends on no gathered result, else one more
    /// than... the highest level of the calls it depends on; `None` when the body does
    /// not qualify.
    fn expr(&mut self, e: &Expr) -> Option<u32> {
        let cx = self.cx;
        Some(match &e.kind {
            ExprKind::Var(_) => cx.local_of(e).map_or(0, |id| Self::level(&self.vars, id)),
            ExprKind::Let(binds, body) => {
                let ids = cx.typed.let_vars.get(&e.id)?;
                for ((_, x), id) in binds.iter().zip(ids) {
                    let t = self.expr(x)?;
                    self.mark(*id, t);
                    self.copy(*id, x);
                }
                self.seq(body)?
            }
            ExprKind::Begin(body) => self.seq(body)?,
            ExprKind::Set(_, x) => {
                let t = self.expr(x)?;
                if let Some(Ref::Local(id)) = cx.typed.refs.get(&e.id) {
                    self.mark(*id, t);
                    self.copy(*id, x);
                }
                t
            }
            ExprKind::If(c, th, None) => {
                // (if c (set! x e)): x = c ? e : x, so x keeps its level if higher.
                let ExprKind::Set(_, x) = &th.kind else {
                    return None;
                };
                let t = self.expr(c)?.max(self.expr(x)?);
                if let Some(Ref::Local(id)) = cx.typed.refs.get(&th.id) {
                    self.copies.retain(|(v, _)| v != id);
                    let l = t.max(Self::level(&self.vars, *id));
                    self.mark(*id, l);
                }
                t
            }
            ExprKind::If(c, th, Some(el)) => self.expr(c)?.max(self.expr(th)?).max(self.expr(el)?),
            ExprKind::App(_, args) => match cx.typed.builtin(e.id)? {
                Builtin::Pref => cx
                    .local_of(args.first()?)
                    .map_or(0, |p| Self::level(&self.ptrs, p)),
                Builtin::Pset => {
                    let t = self.expr(args.get(2)?)?;
                    let p = cx.local_of(args.first()?)?;
                    let l = t.max(Self::level(&self.ptrs, p));
                    self.ptrs.retain(|(q, _)| *q != p);
                    self.ptrs.push((p, l));
                    self.stored.push(p);
                    self.copies.retain(|(_, q)| *q != p);
                    t
                }
                Builtin::Math(m) if self.kernels.of(m).is_some() => {
                    let mut level = 0;
                    let mut from = [None; 2];
                    for (j, x) in args.iter().take(2).enumerate() {
                        let l = self.expr(x)?;
                        level = level.max(l);
                        if l == 0 {
                            from[j] = self.element(x).or_else(|| {
                                let v = cx.local_of(x)?;
                                self.copies.iter().find(|(w, _)| *w == v).map(|(_, p)| *p)
                            });
                        }
                    }
                    let level = level + 1;
                    let (kernel, arity) = self.kernels.of(m)?;
                    self.sites.push(Site {
                        kernel,
                        arity,
                        from,
                        level,
                    });
                    level
                }
                _ => {
                    let mut t = 0;
                    for a in args {
                        t = t.max(self.expr(a)?);
                    }
                    t
                }
            },
            _ => 0,
        })
    }
}
