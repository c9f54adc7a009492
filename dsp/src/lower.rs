//! Typed syntax → Cranelift IR: one function per lambda, `(ctx, env, params..) -> ret`.
//!
//! - A closure value is an arena pointer to `{ stamp: u64, env: u64 }` followed by its
//!   environment (one 8-byte slot per captured variable: the value, or for a captured
//!   variable that is `set!` the address of its shared cell). It is allocated in the
//!   current zone when the `lambda` is evaluated (`zonal_closure`, which notes the
//!   generation that made it in that zone). The stamp names the lambda's code-table
//!   entry (see [`crate::registry`]).
//! - Calls (to closures in variables and to bind-funcs through this thread's slot table)
//!   find the code-table entry from the stamp's index bits, which lives outside the
//!   arena, and check there that the entry still carries that stamp (else the closure
//!   outlived its code) and the callee's type id before jumping: a stale or corrupt
//!   record faults, it never jumps anywhere.
//! - Pointers carry a tag in their high bits (see [`crate::runtime::shadow`]). With checks
//!   on, every load/store through a pointer is checked against its allocation: the address
//!   must lie in the arena (so the shadow can be read), and the shadow entry of its granule
//!   must carry the pointer's tag, be alive and end at or after the access's end (one load,
//!   one compare); every dereference strips the tag. An index whose offset `i * size` does
//!   not fit in an address faults instead of wrapping. A failed check calls the runtime
//!   (cold path) to record what the shadow says of the access, for the fault message.
//!   Integer division by zero, call depth and the runtime's allocation failures fault.
//!   A fault stores its code and site in the context and returns; every call is followed
//!   by a test of the fault cell, so a fault unwinds to Rust.
//! - A check is not repeated where an identical one dominates it and nothing that can free
//!   memory (a closure call, `free`, the end of a `memzone`) ran in between (see
//!   [`FnCx::invalidate`]); a `dotimes` whose body accesses `(pref p i)` on every iteration
//!   and cannot free checks `p`'s whole range once, before the loop.
//! - A `dotimes` whose body only computes on registers and `(pref p i)` / `(pset! p i x)`
//!   (see `FnCx::fast_body`) gets a second, fast version, run when the trip count is at
//!   most `FAST_TRIPS` (65536) and the stored pointers' ranges do not overlap the others': it
//!   reuses the value of `p[i]` once loaded or stored, and does not poll for interrupts.
//!   Where its iterations are independent apart from reductions it runs two at a time in
//!   SIMD lanes first (see [`simd`]).
//! - Every loop back-edge tests the thread's interrupt flag (see
//!   [`crate::registry::INTERRUPT_SLOT`]), so a runaway loop can be stopped.
//! - The builtins are lowered in [`builtins`].

use crate::error::{DspError, DspErrorKind, Result};
use crate::infer::{Ref, Typed};
use crate::runtime::FaultCode;
use crate::runtime::abi::{
    self, CTX_DEPTH, CTX_FAULT, CTX_FAULT_SITE, CTX_MAX_DEPTH, CTX_SLOTS, CTX_SP, CTX_STACK_FLOOR,
};
use crate::sexp::Span;
use crate::syntax::{AllocKind, EnvVar, Expr, ExprKind, Lambda};
use crate::types::Type;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, Block, BlockArg, InstBuilder, MemFlagsData, Signature, Value, types,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, Variable};

mod builtins;
mod checks;
mod math_ir;
mod simd;
use checks::{Checked, STICKY};
use std::collections::HashMap;

/// Process constants compiled code embeds.
#[derive(Clone, Copy)]
pub struct Consts {
    pub arena_base: u64,
    pub arena_len: u64,
    /// Address of the arena's shadow (the entry of the arena's first granule).
    pub shadow_base: u64,
    pub checks: bool,
    /// Address of the code table (see [`crate::registry::CODE_WORDS`]).
    pub code_table: u64,
    pub call_conv: CallConv,
    pub frontend: TargetFrontendConfig,
    /// The target has fused multiply-adds (see [`crate::jit::Jit::has_fma`]).
    pub fma: bool,
}

/// What lowering asks of the registry.
pub trait Linker {
    /// A nonzero number naming a closure type, the same for equal types.
    fn type_id(&mut self, t: &Type) -> u64;
    /// The arena address of a NUL-terminated copy of `s`.
    fn string(&mut self, s: &str) -> Result<u64>;
    /// The slot of a bind-func.
    fn slot(&self, name: &str) -> Option<u32>;
    /// The address of a bind-val global.
    fn global(&self, name: &str) -> Option<u64>;
    /// A site number for faults at this form.
    fn site(&mut self, form: &str, span: Option<&Span>) -> u32;
    /// The number of the generation being compiled (noted in the zone of each closure
    /// record its code makes).
    fn maker(&self) -> u64;
}

/// The Cranelift type of a DSP value (`None` for void).
pub fn clif(t: &Type, span: Option<&Span>) -> Result<Option<types::Type>> {
    Ok(Some(match t {
        Type::I1 | Type::I8 => types::I8,
        Type::I32 => types::I32,
        Type::I64 | Type::Ptr(_) | Type::Closure(..) => types::I64,
        Type::Float => types::F32,
        Type::Double => types::F64,
        Type::Void => return Ok(None),
        other => {
            return Err(DspError::new(
                DspErrorKind::Type,
                format!("a {other} cannot be held in a variable: use a pointer to it"),
                span,
            ));
        }
    }))
}

/// The signature of a lambda of type `[ret, params..]*`.
pub fn signature(t: &Type, cc: CallConv) -> Result<Signature> {
    let mut sig = Signature::new(cc);
    sig.params.push(AbiParam::new(types::I64));
    sig.params.push(AbiParam::new(types::I64));
    let Type::Closure(ret, params) = t else {
        return Err(DspError::new(
            DspErrorKind::Internal,
            format!("{t} is not a closure type"),
            None,
        ));
    };
    for p in params {
        if let Some(c) = clif(p, None)? {
            sig.params.push(AbiParam::new(c));
        }
    }
    if let Some(c) = clif(ret, None)? {
        sig.returns.push(AbiParam::new(c));
    }
    Ok(sig)
}

/// Everything one function's lowering needs.
pub struct FnCx<'a, 'b> {
    pub b: FunctionBuilder<'b>,
    pub typed: &'a Typed,
    pub consts: Consts,
    pub linker: &'a mut dyn Linker,
    /// The code-table stamp of each lambda of the definition, by lambda index.
    pub fn_indices: &'a HashMap<usize, u64>,
    ctx: Value,
    vars: HashMap<usize, Variable>,
    /// Variables this function keeps in its environment's slots (see
    /// [`crate::infer::VarInfo::owner`]): their `Variable` holds the slot's address.
    env_slots: Vec<usize>,
    fault_block: Block,
    ret_type: Option<types::Type>,
    depth: Option<Value>,
    saved_sp: Option<Value>,
    /// Accesses already checked, and element addresses already computed, at points that
    /// dominate the current one (see [`FnCx::scope`]).
    checked: Vec<Checked>,
    /// Bumped where memory may have been freed: checks of an older epoch no longer hold.
    epoch: u32,
    addrs: Vec<((Value, Value, u64), Value)>,
    /// Address of this thread's interrupt flag, loaded on entry by functions with loops.
    interrupt: Option<Value>,
    /// While lowering the body of a fast `dotimes` (see [`FnCx::fast_body`]).
    fast: Option<FastLoop>,
}

/// A `dotimes` body lowered for the fast version of its loop: every memory access in it
/// is `(pref p i)` / `(pset! p i x)` with `i` the counter and `p` one of `ptrs`, whose
/// ranges were found disjoint before the loop, so `p[i]`'s value is known after a load or
/// a store of it until the iteration ends (or an `if` merges).
struct FastLoop {
    var: usize,
    ptrs: Vec<usize>,
    /// The value of `p[i]` for pointers loaded or stored at a point that dominates this one.
    known: Vec<(usize, Value)>,
}

/// Fast loops run at most this many iterations without polling the interrupt flag.
const FAST_TRIPS: i64 = 1 << 16;

fn internal(msg: &str) -> DspError {
    DspError::new(DspErrorKind::Internal, msg, None)
}

impl<'a, 'b> FnCx<'a, 'b> {
    /// Lowers `lam` into the function the builder holds.
    #[allow(clippy::too_many_arguments)]
    pub fn lower(
        mut b: FunctionBuilder<'b>,
        lam: &'a Lambda,
        typed: &'a Typed,
        consts: Consts,
        linker: &'a mut dyn Linker,
        fn_indices: &'a HashMap<usize, u64>,
    ) -> Result<()> {
        let lt = typed
            .lambda_types
            .get(&lam.index)
            .ok_or_else(|| internal("lambda without a type"))?;
        let Type::Closure(ret, _) = lt else {
            return Err(internal("lambda type is not a closure"));
        };
        let ret_type = clif(ret, None)?;
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params = b.block_params(entry).to_vec();
        let fault_block = b.create_block();
        b.set_cold_block(fault_block);
        let mut cx = FnCx {
            b,
            typed,
            consts,
            linker,
            fn_indices,
            ctx: params[0],
            vars: HashMap::new(),
            env_slots: Vec::new(),
            fault_block,
            ret_type,
            depth: None,
            saved_sp: None,
            checked: Vec::new(),
            epoch: STICKY + 1,
            addrs: Vec::new(),
            interrupt: None,
            fast: None,
        };
        let site = cx
            .linker
            .site("lambda", lam.body.first().and_then(|e| e.span.as_ref()));
        // Call depth.
        let ctx = cx.ctx;
        let d =
            cx.b.ins()
                .load(types::I32, MemFlagsData::trusted(), ctx, CTX_DEPTH);
        let max =
            cx.b.ins()
                .load(types::I32, MemFlagsData::trusted(), ctx, CTX_MAX_DEPTH);
        let d1 = cx.b.ins().iadd_imm_s(d, 1);
        let over = cx.b.ins().icmp(IntCC::UnsignedGreaterThan, d1, max);
        cx.fault_if(over, FaultCode::CallDepth, site);
        // Native stack: a recursion goes as deep as the thread's stack allows, then faults.
        let floor =
            cx.b.ins()
                .load(types::I64, MemFlagsData::trusted(), ctx, CTX_STACK_FLOOR);
        let sp = cx.b.ins().get_stack_pointer(types::I64);
        let low = cx.b.ins().icmp(IntCC::UnsignedLessThan, sp, floor);
        cx.fault_if(low, FaultCode::CallDepth, site);
        cx.b.ins()
            .store(MemFlagsData::trusted(), d1, ctx, CTX_DEPTH);
        cx.depth = Some(d);
        // The interrupt flag's address, for the poll at entry (a recursion that never
        // returns has no loop to poll in) and at loop back-edges.
        let slots =
            cx.b.ins()
                .load(types::I64, MemFlagsData::trusted(), ctx, CTX_SLOTS);
        let flag = cx.b.ins().load(
            types::I64,
            MemFlagsData::trusted(),
            slots,
            (8 * crate::registry::INTERRUPT_SLOT) as i32,
        );
        cx.interrupt = Some(flag);
        cx.poll_interrupt(site);
        if typed.uses_salloc.get(&lam.index).copied().unwrap_or(false) {
            cx.saved_sp = Some(
                cx.b.ins()
                    .load(types::I64, MemFlagsData::trusted(), ctx, CTX_SP),
            );
        }
        // Captured variables, from the environment.
        let env = params[1];
        let caps = typed.captures.get(&lam.index).cloned().unwrap_or_default();
        // One check covers every slot of the environment; it and the captured cells live at
        // least as long as the call, so their checks hold for all of it.
        let env_at = if caps.is_empty() {
            env
        } else {
            cx.check(env, 0, 8 * caps.len() as u64, site, false, false)
        };
        cx.stick();
        for (i, v) in caps.iter().enumerate() {
            let info = &typed.vars[*v];
            if info.owner == Some(lam.index) {
                // Its slot is the variable, inside the environment checked above.
                let at = cx.b.ins().iadd_imm_s(env_at, 8 * i as i64);
                let var = cx.b.declare_var(types::I64);
                cx.b.def_var(var, at);
                cx.vars.insert(*v, var);
                cx.env_slots.push(*v);
                continue;
            }
            let ty = if info.is_cell() {
                Some(types::I64)
            } else {
                clif(&info.ty, None)?
            };
            if let Some(ty) = ty {
                let val =
                    cx.b.ins()
                        .load(ty, MemFlagsData::new(), env_at, 8 * i as i32);
                let var = cx.b.declare_var(ty);
                cx.b.def_var(var, val);
                cx.vars.insert(*v, var);
                let size = info.ty.size();
                if info.is_cell() && size > 0 {
                    cx.check(val, 0, size, site, false, false);
                    cx.stick();
                }
            }
        }
        // Parameters.
        let pvars = typed.params.get(&lam.index).cloned().unwrap_or_default();
        let mut k = 2;
        for v in pvars {
            if clif(&typed.vars[v].ty, None)?.is_some() {
                let val = params[k];
                k += 1;
                cx.bind(v, Some(val), site)?;
            }
        }
        let mut last = None;
        for e in &lam.body {
            last = cx.expr(e)?;
        }
        cx.finish_return(last)?;
        cx.b.switch_to_block(fault_block);
        let zeros = cx.zeros();
        cx.b.ins().return_(&zeros);
        cx.b.seal_all_blocks();
        cx.b.finalize(consts.frontend);
        Ok(())
    }

    /// Builds `tramp(ctx, closure, args: *const u64, ret: *mut u64)`, which calls a closure
    /// of type `ft` (checked like any closure call) with arguments and result as 64-bit
    /// words: integers sign-extended, floats as their `f32` bits, doubles as `f64` bits.
    pub fn trampoline(
        mut b: FunctionBuilder<'b>,
        ft: &Type,
        consts: Consts,
        linker: &'a mut dyn Linker,
        typed: &'a Typed,
        fn_indices: &'a HashMap<usize, u64>,
    ) -> Result<()> {
        let Type::Closure(ret, params) = ft else {
            return Err(internal("trampoline of a non-closure"));
        };
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let p = b.block_params(entry).to_vec();
        let fault_block = b.create_block();
        b.set_cold_block(fault_block);
        let mut cx = FnCx {
            b,
            typed,
            consts,
            linker,
            fn_indices,
            ctx: p[0],
            vars: HashMap::new(),
            env_slots: Vec::new(),
            fault_block,
            ret_type: None,
            depth: None,
            saved_sp: None,
            checked: Vec::new(),
            epoch: STICKY + 1,
            addrs: Vec::new(),
            interrupt: None,
            fast: None,
        };
        let mut vals = Vec::new();
        for (i, t) in params.iter().enumerate() {
            let w =
                cx.b.ins()
                    .load(types::I64, MemFlagsData::trusted(), p[2], 8 * i as i32);
            let v = match clif(t, None)? {
                None => continue,
                Some(types::I64) => w,
                Some(types::F64) => cx.b.ins().bitcast(types::F64, MemFlagsData::new(), w),
                Some(types::F32) => {
                    let n = cx.b.ins().ireduce(types::I32, w);
                    cx.b.ins().bitcast(types::F32, MemFlagsData::new(), n)
                }
                Some(ty) => cx.b.ins().ireduce(ty, w),
            };
            vals.push(v);
        }
        let site = cx.linker.site("call from Scheme", None);
        let r = cx.call_closure(p[1], ft, vals, FaultCode::StaleCall, site)?;
        if let Some(r) = r {
            let w = match clif(ret, None)? {
                Some(types::F64) => cx.b.ins().bitcast(types::I64, MemFlagsData::new(), r),
                Some(types::F32) => {
                    let n = cx.b.ins().bitcast(types::I32, MemFlagsData::new(), r);
                    cx.b.ins().uextend(types::I64, n)
                }
                Some(types::I64) => r,
                _ if **ret == Type::I1 => cx.b.ins().uextend(types::I64, r),
                _ => cx.b.ins().sextend(types::I64, r),
            };
            cx.b.ins().store(MemFlagsData::trusted(), w, p[3], 0);
        }
        cx.b.ins().return_(&[]);
        cx.b.switch_to_block(fault_block);
        cx.b.ins().return_(&[]);
        cx.b.seal_all_blocks();
        cx.b.finalize(consts.frontend);
        Ok(())
    }

    fn zeros(&mut self) -> Vec<Value> {
        match self.ret_type {
            None => vec![],
            Some(types::F32) => vec![self.b.ins().f32const(0.0)],
            Some(types::F64) => vec![self.b.ins().f64const(0.0)],
            Some(t) => vec![self.b.ins().iconst(t, 0)],
        }
    }

    fn finish_return(&mut self, last: Option<Value>) -> Result<()> {
        let ctx = self.ctx;
        if let Some(d) = self.depth {
            self.b
                .ins()
                .store(MemFlagsData::trusted(), d, ctx, CTX_DEPTH);
        }
        if let Some(sp) = self.saved_sp {
            let release = abi::zonal_salloc_release as *const u8 as u64;
            self.rt_call(release, &[types::I64, types::I64], None, &[ctx, sp]);
        }
        match (self.ret_type, last) {
            (None, _) => {
                self.b.ins().return_(&[]);
            }
            (Some(_), Some(v)) => {
                self.b.ins().return_(&[v]);
            }
            (Some(_), None) => return Err(internal("a value-returning lambda ended in void")),
        }
        Ok(())
    }

    /// Branches to a block that records `code` at `site` and returns, when `cond` is true.
    fn fault_if(&mut self, cond: Value, code: FaultCode, site: u32) {
        self.fault_raw(cond, code as u32, site);
    }

    /// As [`FnCx::fault_if`] with a raw fault code.
    fn fault_raw(&mut self, cond: Value, code: u32, site: u32) {
        self.cold_if(cond, |cx| {
            let c = cx.b.ins().iconst(types::I32, i64::from(code));
            cx.store_fault(c, site);
        });
    }

    /// When `cond` is true, runs `fail` in a cold block that then returns through the
    /// fault block; code goes on after the test otherwise.
    fn cold_if(&mut self, cond: Value, fail: impl FnOnce(&mut Self)) {
        let fail_block = self.b.create_block();
        self.b.set_cold_block(fail_block);
        let cont = self.b.create_block();
        self.b.ins().brif(cond, fail_block, &[], cont, &[]);
        self.b.seal_block(fail_block);
        self.b.seal_block(cont);
        self.b.switch_to_block(fail_block);
        fail(self);
        self.b.ins().jump(self.fault_block, &[]);
        self.b.switch_to_block(cont);
    }

    /// Records fault `code` (an `i32` value) at `site` in the context.
    fn store_fault(&mut self, code: Value, site: u32) {
        let ctx = self.ctx;
        let s = self.b.ins().iconst(types::I32, i64::from(site));
        self.b
            .ins()
            .store(MemFlagsData::trusted(), code, ctx, CTX_FAULT);
        self.b
            .ins()
            .store(MemFlagsData::trusted(), s, ctx, CTX_FAULT_SITE);
    }

    /// At a function's entry and a loop's back-edge: fault if this thread's interrupt
    /// flag is set.
    fn poll_interrupt(&mut self, site: u32) {
        if let Some(flag) = self.interrupt {
            // An atomic load (a plain byte load on x86-64 and AArch64): another thread
            // raises the flag, and an ordinary load here could be merged with the one at
            // the function's entry, so a loop would never see the flag change.
            let set = self
                .b
                .ins()
                .atomic_load(types::I8, MemFlagsData::trusted(), flag);
            self.fault_raw(set, crate::registry::INTERRUPTED, site);
        }
    }

    /// After a call: return at once if the callee faulted.
    fn check_fault(&mut self) {
        let ctx = self.ctx;
        let f = self
            .b
            .ins()
            .load(types::I32, MemFlagsData::trusted(), ctx, CTX_FAULT);
        let cont = self.b.create_block();
        self.b.ins().brif(f, self.fault_block, &[], cont, &[]);
        self.b.seal_block(cont);
        self.b.switch_to_block(cont);
    }

    /// From the block before a `dotimes` loop whose body is a [`FnCx::fast_body`]: when
    /// [`FnCx::fast_guard`] holds, runs the body in a loop that remembers element values
    /// (see [`FastLoop`]) and does not poll the interrupt flag (it is short, and its body
    /// neither loops nor calls), then goes to `exit`; otherwise goes to `slow`, the loop
    /// lowered next.
    #[allow(clippy::too_many_arguments)]
    fn fast_loop(
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
        for e in body {
            self.stored_ptrs(e, &ptrs, &mut stored);
        }
        let mut ranges = Vec::new();
        for (pv, size) in accessed {
            let p = self
                .read_var(*pv, site)?
                .ok_or_else(|| internal("void pointer"))?;
            let p = self.strip(p);
            ranges.push((p, *size, stored.contains(pv)));
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

    /// Pointers the body of a `dotimes` over `v` reads or writes at `(pref p v)` /
    /// `(pset! p v x)` on every iteration (not under a condition), where `p` is a local
    /// bound before the loop and never changed, and `v` an `i64` counter the body does not
    /// `set!`: their whole range can be checked once before the loop.
    fn hoistable(&self, v: usize, body: &[Expr]) -> Vec<(usize, u64)> {
        let info = &self.typed.vars[v];
        if info.assigned || self.in_memory(v) || info.ty != Type::I64 {
            return Vec::new();
        }
        fn counts_with(e: &Expr, v: usize, typed: &Typed) -> bool {
            matches!(e.kind, ExprKind::Dotimes(..)) && typed.loop_vars.get(&e.id) == Some(&v)
                || e.children().into_iter().any(|c| counts_with(c, v, typed))
        }
        if body.iter().any(|e| counts_with(e, v, self.typed)) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for e in body {
            self.unconditional_accesses(e, v, &mut out);
        }
        out
    }

    /// True when `e` may be lowered in a fast loop over `v` (see [`FastLoop`]): it only
    /// computes with constants and local variables held in registers, reads and writes
    /// `(pref p v)` / `(pset! p v x)` for `p` in `ptrs`, branches with `if`, and calls
    /// pure builtins: no other memory access, call, allocation, loop or closure.
    fn fast_body(&self, e: &Expr, v: usize, ptrs: &[usize]) -> bool {
        // In a register: bound already, or (not captured) bound by a `let` inside the body.
        let register = |id: usize| {
            let info = &self.typed.vars[id];
            !self.in_memory(id) && (self.vars.contains_key(&id) || !info.captured)
        };
        let local = |x: &Expr| match self.typed.refs.get(&x.id) {
            Some(Ref::Local(id)) if matches!(x.kind, ExprKind::Var(_)) => Some(*id),
            _ => None,
        };
        let all = |xs: &[Expr]| xs.iter().all(|x| self.fast_body(x, v, ptrs));
        match &e.kind {
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Bool(_)
            | ExprKind::Null
            | ExprKind::Void => true,
            ExprKind::Var(_) => local(e).is_some_and(register),
            ExprKind::Let(binds, body) => {
                let ids = self.typed.let_vars.get(&e.id);
                ids.is_some_and(|ids| ids.iter().all(|id| !self.in_memory(*id)))
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
            ExprKind::App(name, args) => {
                if self.typed.refs.contains_key(&e.id) {
                    return false;
                }
                match name.as_str() {
                    "pref" | "pset!" => {
                        args.len() == if name == "pref" { 2 } else { 3 }
                            && local(&args[0]).is_some_and(|p| ptrs.contains(&p))
                            && local(&args[1]) == Some(v)
                            && all(&args[2..])
                    }
                    "+"
                    | "-"
                    | "*"
                    | "/"
                    | "%"
                    | "modulo"
                    | "="
                    | "<>"
                    | "!="
                    | "<"
                    | ">"
                    | "<="
                    | ">="
                    | "not"
                    | "bitwise-not"
                    | "bitwise-and"
                    | "bitwise-or"
                    | "bitwise-xor"
                    | "bitwise-shift-left"
                    | "bitwise-shift-right" => all(args),
                    n if crate::infer::conversion(n).is_some()
                        || crate::infer::MATH1.contains(&n)
                        || crate::infer::MATH2.contains(&n) =>
                    {
                        all(args)
                    }
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// The pointers of `ptrs` that `e` writes with `pset!`.
    fn stored_ptrs(&self, e: &Expr, ptrs: &[usize], out: &mut Vec<usize>) {
        if let ExprKind::App(name, args) = &e.kind
            && name == "pset!"
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

    /// True (nonzero) when a fast loop may run: at most [`FAST_TRIPS`] iterations, and the
    /// ranges `[p, p + n*size)` of every stored pointer disjoint from those of the others.
    fn fast_guard(&mut self, n: Value, ptrs: &[(Value, u64, bool)]) -> Value {
        let mut ok = self
            .b
            .ins()
            .icmp_imm_s(IntCC::SignedLessThanOrEqual, n, FAST_TRIPS);
        let ends: Vec<Value> = ptrs
            .iter()
            .map(|&(p, size, _)| {
                let len = self.b.ins().imul_imm_s(n, size as i64);
                self.b.ins().iadd(p, len)
            })
            .collect();
        for a in 0..ptrs.len() {
            for b in a + 1..ptrs.len() {
                if !ptrs[a].2 && !ptrs[b].2 {
                    continue;
                }
                let below = self
                    .b
                    .ins()
                    .icmp(IntCC::UnsignedLessThanOrEqual, ends[a], ptrs[b].0);
                let above = self
                    .b
                    .ins()
                    .icmp(IntCC::UnsignedLessThanOrEqual, ends[b], ptrs[a].0);
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

    fn unconditional_accesses(&self, e: &Expr, v: usize, out: &mut Vec<(usize, u64)>) {
        let local = |x: &Expr| match self.typed.refs.get(&x.id) {
            Some(Ref::Local(id)) if matches!(x.kind, ExprKind::Var(_)) => Some(*id),
            _ => None,
        };
        match &e.kind {
            ExprKind::App(name, args) => {
                if (name == "pref" || name == "pset!")
                    && !self.typed.refs.contains_key(&e.id)
                    && args.len() >= 2
                    && local(&args[1]) == Some(v)
                    && let Some(pv) = local(&args[0])
                {
                    let info = &self.typed.vars[pv];
                    let size = Self::pointee(&info.ty).size();
                    if !info.mutated
                        && !self.in_memory(pv)
                        && self.vars.contains_key(&pv)
                        && size > 0
                        && !out.contains(&(pv, size))
                    {
                        out.push((pv, size));
                    }
                }
                args.iter()
                    .for_each(|a| self.unconditional_accesses(a, v, out));
            }
            ExprKind::Let(binds, body) => {
                binds
                    .iter()
                    .for_each(|(_, x)| self.unconditional_accesses(x, v, out));
                body.iter()
                    .for_each(|x| self.unconditional_accesses(x, v, out));
            }
            ExprKind::Begin(body) => body
                .iter()
                .for_each(|x| self.unconditional_accesses(x, v, out)),
            ExprKind::Set(_, x) => self.unconditional_accesses(x, v, out),
            _ => {}
        }
    }

    fn load(
        &mut self,
        ty: types::Type,
        addr: Value,
        off: i32,
        size: u64,
        site: u32,
    ) -> Result<Value> {
        let at = self.check(addr, off, size, site, false, false);
        Ok(self.b.ins().load(ty, MemFlagsData::new(), at, 0))
    }

    fn store(&mut self, v: Value, addr: Value, off: i32, size: u64, site: u32) {
        let at = self.check(addr, off, size, site, false, true);
        self.b.ins().store(MemFlagsData::new(), v, at, 0);
    }

    /// Calls a runtime function at `addr` with the given signature.
    fn rt_call(
        &mut self,
        addr: u64,
        params: &[types::Type],
        ret: Option<types::Type>,
        args: &[Value],
    ) -> Option<Value> {
        let mut sig = Signature::new(self.consts.call_conv);
        sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
        sig.returns.extend(ret.map(AbiParam::new));
        let sref = self.b.import_signature(sig);
        let f = self.b.ins().iconst(types::I64, addr as i64);
        let call = self.b.ins().call_indirect(sref, f, args);
        self.b.inst_results(call).first().copied()
    }

    fn var_type(&self, v: usize) -> &Type {
        &self.typed.vars[v].ty
    }

    /// True when `v` lives in memory in this function (a shared cell, or a slot of this
    /// function's environment), not in a register.
    fn in_memory(&self, v: usize) -> bool {
        self.typed.vars[v].is_cell() || self.env_slots.contains(&v)
    }

    /// Binds local variable `v` to `val` (allocating its cell if it is a shared cell).
    fn bind(&mut self, v: usize, val: Option<Value>, site: u32) -> Result<()> {
        let info = &self.typed.vars[v];
        let Some(ty) = clif(&info.ty, None)? else {
            return Ok(());
        };
        let val = match val {
            Some(v) => v,
            None => return Err(internal("binding without a value")),
        };
        if info.is_cell() {
            let size = info.ty.size().max(1);
            let cell = self.alloc_call(abi::zonal_zalloc as *const u8 as u64, None, size, 8, site);
            let at = self.strip(cell);
            self.b.ins().store(MemFlagsData::trusted(), val, at, 0);
            let var = self.b.declare_var(types::I64);
            self.b.def_var(var, cell);
            self.vars.insert(v, var);
        } else {
            let var = self.b.declare_var(ty);
            self.b.def_var(var, val);
            self.vars.insert(v, var);
        }
        Ok(())
    }

    /// The value of local `v`. A shared cell needs no check here: the cells a closure
    /// captures were checked when it was entered, and a cell this function made is fresh;
    /// either lives at least as long as the call (see [`STICKY`]). An environment slot
    /// lies inside the environment checked at entry, whose address is already untagged.
    fn read_var(&mut self, v: usize, _site: u32) -> Result<Option<Value>> {
        let Some(ty) = clif(self.var_type(v), None)? else {
            return Ok(None);
        };
        let var = *self
            .vars
            .get(&v)
            .ok_or_else(|| internal("variable not in this function"))?;
        let x = self.b.use_var(var);
        if self.env_slots.contains(&v) {
            return Ok(Some(self.b.ins().load(ty, MemFlagsData::new(), x, 0)));
        }
        if self.typed.vars[v].is_cell() {
            let at = self.strip(x);
            return Ok(Some(self.b.ins().load(ty, MemFlagsData::new(), at, 0)));
        }
        Ok(Some(x))
    }

    fn write_var(&mut self, v: usize, val: Value, _site: u32) -> Result<()> {
        let var = *self
            .vars
            .get(&v)
            .ok_or_else(|| internal("variable not in this function"))?;
        if self.env_slots.contains(&v) {
            let at = self.b.use_var(var);
            self.b.ins().store(MemFlagsData::new(), val, at, 0);
        } else if self.typed.vars[v].is_cell() {
            let cell = self.b.use_var(var);
            let at = self.strip(cell);
            self.b.ins().store(MemFlagsData::new(), val, at, 0);
        } else {
            self.b.def_var(var, val);
        }
        Ok(())
    }

    /// `zonal_zalloc`-shaped call: (ctx, count, size, align, site) -> addr, then fault test.
    fn alloc_call(
        &mut self,
        f: u64,
        count: Option<Value>,
        size: u64,
        align: u64,
        site: u32,
    ) -> Value {
        let count = count.unwrap_or_else(|| self.b.ins().iconst(types::I64, 1));
        let size = self.b.ins().iconst(types::I64, size as i64);
        let align = self.b.ins().iconst(types::I64, align as i64);
        let s = self.b.ins().iconst(types::I32, i64::from(site));
        let ctx = self.ctx;
        let p = [types::I64, types::I64, types::I64, types::I64, types::I32];
        let r = self.rt_call(f, &p, Some(types::I64), &[ctx, count, size, align, s]);
        self.check_fault();
        r.unwrap_or(count)
    }

    fn ty(&self, e: &Expr) -> &Type {
        &self.typed.types[e.id]
    }

    fn value(&mut self, e: &Expr) -> Result<Value> {
        match self.expr(e)? {
            Some(v) => Ok(v),
            None => Err(DspError::new(
                DspErrorKind::Type,
                "this expression has no value (it is void)",
                e.span.as_ref(),
            )),
        }
    }

    fn index(&mut self, e: &Expr) -> Result<Value> {
        let v = self.value(e)?;
        Ok(self.widen_int(v, self.ty(e).clone()))
    }

    fn widen_int(&mut self, v: Value, t: Type) -> Value {
        match t {
            Type::I64 => v,
            Type::I1 => self.b.ins().uextend(types::I64, v),
            _ => self.b.ins().sextend(types::I64, v),
        }
    }

    fn body(&mut self, body: &[Expr]) -> Result<Option<Value>> {
        let mut last = None;
        for e in body {
            last = self.expr(e)?;
        }
        Ok(last)
    }

    fn literal_int(&mut self, i: i64, t: &Type) -> Value {
        match t {
            Type::Float => self.b.ins().f32const(i as f32),
            Type::Double => self.b.ins().f64const(i as f64),
            Type::I32 => self.b.ins().iconst(types::I32, i64::from(i as i32)),
            Type::I8 | Type::I1 => self.b.ins().iconst(types::I8, i64::from(i as i8)),
            _ => self.b.ins().iconst(types::I64, i),
        }
    }

    pub fn expr(&mut self, e: &Expr) -> Result<Option<Value>> {
        let t = self.ty(e).clone();
        let sp = e.span.as_ref();
        Ok(Some(match &e.kind {
            ExprKind::Int(i) => self.literal_int(*i, &t),
            ExprKind::Float(x) => match t {
                Type::Float => self.b.ins().f32const(*x as f32),
                _ => self.b.ins().f64const(*x),
            },
            ExprKind::Bool(x) => self.b.ins().iconst(types::I8, i64::from(*x)),
            ExprKind::Str(s) => {
                let a = self.linker.string(s)?;
                self.b.ins().iconst(types::I64, a as i64)
            }
            ExprKind::Null => self.b.ins().iconst(types::I64, 0),
            ExprKind::Void => return Ok(None),
            ExprKind::Var(name) => {
                let site = self.linker.site(name, sp);
                return self.read_ref(e.id, &t, site);
            }
            ExprKind::Let(binds, body) => {
                let ids = self.typed.let_vars.get(&e.id).cloned().unwrap_or_default();
                for ((b, v), id) in binds.iter().zip(ids) {
                    let val = self.expr(v)?;
                    let site = self.linker.site(&b.name, b.span.as_ref());
                    if clif(self.var_type(id), b.span.as_ref())?.is_some() {
                        self.bind(id, val, site)?;
                    }
                }
                return self.body(body);
            }
            ExprKind::Lambda(l) => self.make_closure(l.index, sp)?,
            ExprKind::EnvVar(ev) => return self.env_var(e, ev, &t),
            ExprKind::If(c, th, el) => return self.if_(c, th, el.as_deref(), &t),
            ExprKind::Begin(body) => return self.body(body),
            ExprKind::Set(name, v) => {
                let val = self.value(v)?;
                let site = self.linker.site("set!", sp);
                match self.typed.refs.get(&e.id) {
                    Some(Ref::Local(id)) => self.write_var(*id, val, site)?,
                    Some(Ref::Global(g)) => {
                        let a = self.global_addr(g, sp)?;
                        self.b.ins().store(MemFlagsData::trusted(), val, a, 0);
                    }
                    _ => return Err(internal(&format!("set! of {name} unresolved"))),
                }
                val
            }
            ExprKind::Dotimes(_, n, body) => {
                let nv = self.value(n)?;
                let v = *self
                    .typed
                    .loop_vars
                    .get(&e.id)
                    .ok_or_else(|| internal("dotimes var"))?;
                let ty = clif(self.var_type(v), sp)?.ok_or_else(|| internal("void loop var"))?;
                let site = self.linker.site("dotimes", sp);
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
                let accessed = if frees {
                    Vec::new()
                } else {
                    self.hoistable(v, body)
                };
                // Checked once before the loop when checks are on; their element addresses
                // are computed from the untagged pointer either way.
                let hoisted = accessed.clone();
                let ptrs: Vec<usize> = accessed.iter().map(|(p, _)| *p).collect();
                let fast = !ptrs.is_empty() && body.iter().all(|e| self.fast_body(e, v, &ptrs));
                if hoisted.is_empty() && !fast {
                    self.b.ins().brif(more, inner, &[], exit, &[]);
                } else {
                    // Check each pointer's whole range [p, p + n*size) once, before the loop.
                    let pre = self.b.create_block();
                    self.b.ins().brif(more, pre, &[], exit, &[]);
                    self.b.seal_block(pre);
                    self.b.switch_to_block(pre);
                    let mut stored = Vec::new();
                    for e in body {
                        self.stored_ptrs(e, &ptrs, &mut stored);
                    }
                    let checks = self.consts.checks;
                    for (pv, size) in hoisted.iter().filter(|_| checks) {
                        let p = self
                            .read_var(*pv, site)?
                            .ok_or_else(|| internal("void pointer"))?;
                        self.check_range(p, nv, *size, site, stored.contains(pv));
                    }
                    if fast {
                        self.fast_loop(v, nv, body, &accessed, &hoisted, inner, exit, site)?;
                    } else {
                        self.b.ins().jump(inner, &[]);
                    }
                }
                self.b.switch_to_block(inner);
                self.mark_in_range(v, &hoisted, site)?;
                self.body(body)?;
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
                return Ok(None);
            }
            ExprKind::While(c, body) => {
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
                return Ok(None);
            }
            ExprKind::Memzone(size, body) => {
                let sv = self.index(size)?;
                let site = self.linker.site("memzone", sp);
                let s = self.b.ins().iconst(types::I32, i64::from(site));
                let ctx = self.ctx;
                let push = abi::zonal_memzone_push as *const u8 as u64;
                self.rt_call(
                    push,
                    &[types::I64, types::I64, types::I32],
                    Some(types::I32),
                    &[ctx, sv, s],
                );
                self.check_fault();
                let r = self.body(body)?;
                let pop = abi::zonal_memzone_pop as *const u8 as u64;
                self.rt_call(pop, &[types::I64, types::I32], None, &[ctx, s]);
                self.invalidate();
                self.check_fault();
                return Ok(r);
            }
            ExprKind::Alloc(kind, count) => {
                let Type::Ptr(elem) = &t else {
                    return Err(internal("allocation of a non-pointer"));
                };
                let size = elem.size();
                if size == 0 {
                    return Err(DspError::new(
                        DspErrorKind::Type,
                        format!(
                            "cannot tell what this allocation holds ({t}): annotate the binding, as in buf:double*"
                        ),
                        sp,
                    ));
                }
                let count = match count {
                    Some(c) => Some(self.index(c)?),
                    None => None,
                };
                let f = match kind {
                    AllocKind::Stack => abi::zonal_salloc as *const u8 as u64,
                    AllocKind::Zone => abi::zonal_zalloc as *const u8 as u64,
                    AllocKind::Heap => abi::zonal_halloc as *const u8 as u64,
                };
                let name = match kind {
                    AllocKind::Stack => "salloc",
                    AllocKind::Zone => "zalloc",
                    AllocKind::Heap => "halloc",
                };
                let site = self.linker.site(name, sp);
                self.alloc_call(f, count, size, elem.align().max(8), site)
            }
            ExprKind::And(args) | ExprKind::Or(args) => {
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
                self.b.block_params(done)[0]
            }
            ExprKind::App(name, args) => return self.app(e, name, args, &t),
            ExprKind::CallValue(f, args) => {
                let fv = self.value(f)?;
                let ft = self.ty(f).clone();
                let site = self.linker.site("call", sp);
                let vals = self.call_args(args)?;
                return self.call_closure(fv, &ft, vals, FaultCode::BadClosure, site);
            }
        }))
    }

    fn global_addr(&mut self, g: &str, sp: Option<&Span>) -> Result<Value> {
        let a = self.linker.global(g).ok_or_else(|| {
            DspError::new(DspErrorKind::Unbound, format!("{g} is not defined"), sp)
        })?;
        Ok(self.b.ins().iconst(types::I64, a as i64))
    }

    fn slot_closure(&mut self, name: &str, sp: Option<&Span>) -> Result<Value> {
        let slot = self.linker.slot(name).ok_or_else(|| {
            DspError::new(DspErrorKind::Unbound, format!("{name} is not defined"), sp)
        })?;
        let ctx = self.ctx;
        let slots = self
            .b
            .ins()
            .load(types::I64, MemFlagsData::trusted(), ctx, CTX_SLOTS);
        Ok(self
            .b
            .ins()
            .load(types::I64, MemFlagsData::trusted(), slots, 8 * slot as i32))
    }

    fn read_ref(&mut self, id: usize, t: &Type, site: u32) -> Result<Option<Value>> {
        match self.typed.refs.get(&id).cloned() {
            Some(Ref::Local(v)) => self.read_var(v, site),
            Some(Ref::Global(g)) => {
                let Some(ty) = clif(t, None)? else {
                    return Ok(None);
                };
                let a = self.global_addr(&g, None)?;
                Ok(Some(self.b.ins().load(ty, MemFlagsData::trusted(), a, 0)))
            }
            Some(Ref::Func(f)) => Ok(Some(self.slot_closure(&f, None)?)),
            None => Err(internal("unresolved name")),
        }
    }

    fn make_closure(&mut self, index: usize, sp: Option<&Span>) -> Result<Value> {
        let caps = self.typed.captures.get(&index).cloned().unwrap_or_default();
        let stamp = *self
            .fn_indices
            .get(&index)
            .ok_or_else(|| internal("lambda without code"))?;
        let site = self.linker.site("lambda", sp);
        let bytes = 16 + 8 * caps.len() as u64;
        let ctx = self.ctx;
        let n = self.b.ins().iconst(types::I64, bytes as i64);
        let maker = self.b.ins().iconst(types::I64, self.linker.maker() as i64);
        let s = self.b.ins().iconst(types::I32, i64::from(site));
        let p = [types::I64, types::I64, types::I64, types::I32];
        let rec = self
            .rt_call(
                abi::zonal_closure as *const u8 as u64,
                &p,
                Some(types::I64),
                &[ctx, n, maker, s],
            )
            .ok_or_else(|| internal("zonal_closure has a result"))?;
        self.check_fault();
        let at = self.strip(rec);
        let fi = self.b.ins().iconst(types::I64, stamp as i64);
        self.b.ins().store(MemFlagsData::trusted(), fi, at, 0);
        let env = self.b.ins().iadd_imm_s(rec, 16);
        self.b.ins().store(MemFlagsData::trusted(), env, at, 8);
        for (i, v) in caps.iter().enumerate() {
            let var = *self
                .vars
                .get(v)
                .ok_or_else(|| internal("captured variable not visible"))?;
            if clif(self.var_type(*v), None)?.is_some() {
                let x = self.b.use_var(var);
                self.b
                    .ins()
                    .store(MemFlagsData::trusted(), x, at, 16 + 8 * i as i32);
            }
        }
        Ok(rec)
    }

    /// `(clo.var[:TYPE] [value])`: the closure's variable table (through the code table)
    /// gives the runtime the variable's place; it faults when the closure has no variable
    /// of that name and type.
    fn env_var(&mut self, e: &Expr, ev: &EnvVar, t: &Type) -> Result<Option<Value>> {
        let sp = e.span.as_ref();
        let site = self.linker.site(&format!("{}.{}", ev.closure, ev.var), sp);
        let clo = match self.typed.refs.get(&e.id).cloned() {
            Some(Ref::Local(v)) => self
                .read_var(v, site)?
                .ok_or_else(|| internal("closure variable without a value"))?,
            Some(Ref::Func(f)) => self.slot_closure(&f, sp)?,
            _ => return Err(internal("closure.var unresolved")),
        };
        let value = match &ev.value {
            Some(v) => Some(self.value(v)?),
            None => None,
        };
        let ty = clif(t, sp)?.ok_or_else(|| internal("void closure variable"))?;
        let rec = self.check(clo, 0, 16, site, true, false);
        let stamp = self.b.ins().load(types::I64, MemFlagsData::new(), rec, 0);
        let env = self.b.ins().load(types::I64, MemFlagsData::new(), rec, 8);
        let entry = self.code_entry(stamp, None, FaultCode::ClosureVar, site);
        let table = self.b.ins().load(
            types::I64,
            MemFlagsData::trusted(),
            entry,
            crate::registry::CODE_VARS,
        );
        let name = self.linker.string(&ev.var)?;
        let name = self.b.ins().iconst(types::I64, name as i64);
        let tid = self.linker.type_id(t);
        let tid = self.b.ins().iconst(types::I64, tid as i64);
        let s = self.b.ins().iconst(types::I32, i64::from(site));
        let p = [types::I64; 5];
        let args = [self.ctx, table, env, name, tid, s];
        let addr = self
            .rt_call(
                abi::zonal_env_var as *const u8 as u64,
                &[p[0], p[1], p[2], p[3], p[4], types::I32],
                Some(types::I64),
                &args,
            )
            .ok_or_else(|| internal("zonal_env_var has a result"))?;
        self.check_fault();
        let size = t.size();
        Ok(Some(match value {
            Some(v) => {
                self.store(v, addr, 0, size, site);
                v
            }
            None => self.load(ty, addr, 0, size, site)?,
        }))
    }

    /// The code-table entry a closure record's `stamp` names. Faults unless the entry
    /// still carries that stamp ([`FaultCode::FreedClosure`]) and, when `want` gives a
    /// type id, the entry has that type (`code`). One test on the fast path.
    fn code_entry(&mut self, stamp: Value, want: Option<u64>, code: FaultCode, site: u32) -> Value {
        let idx = self
            .b
            .ins()
            .band_imm_s(stamp, crate::registry::INDEX_MASK as i64);
        let entry_shift = (8 * crate::registry::CODE_WORDS).trailing_zeros();
        let off = self.b.ins().ishl_imm_s(idx, i64::from(entry_shift));
        let entry = self.b.ins().iadd_imm_s(off, self.consts.code_table as i64);
        let owner = self.b.ins().load(
            types::I64,
            MemFlagsData::trusted(),
            entry,
            crate::registry::CODE_STAMP,
        );
        let stale = self.b.ins().bxor(owner, stamp);
        let bad = match want {
            Some(want) => {
                let tid = self
                    .b
                    .ins()
                    .load(types::I64, MemFlagsData::trusted(), entry, 8);
                let other = self.b.ins().bxor_imm_s(tid, want as i64);
                self.b.ins().bor(stale, other)
            }
            None => stale,
        };
        self.cold_if(bad, |cx| {
            let freed =
                cx.b.ins()
                    .iconst(types::I32, FaultCode::FreedClosure as i64);
            let wrong = cx.b.ins().iconst(types::I32, code as i64);
            let c = cx.b.ins().select(stale, freed, wrong);
            cx.store_fault(c, site);
        });
        entry
    }

    fn call_args(&mut self, args: &[Expr]) -> Result<Vec<Value>> {
        let mut vals = Vec::new();
        for a in args {
            if let Some(v) = self.expr(a)? {
                vals.push(v);
            }
        }
        Ok(vals)
    }

    fn call_closure(
        &mut self,
        clo: Value,
        ft: &Type,
        args: Vec<Value>,
        code: FaultCode,
        site: u32,
    ) -> Result<Option<Value>> {
        let Type::Closure(ret, _) = ft else {
            return Err(internal("call of a non-closure"));
        };
        let mut vals = vec![self.ctx, clo];
        vals.extend(args);
        // Record: always checked, so that a null, wild or stale closure faults.
        let rec = self.check(clo, 0, 16, site, true, false);
        let stamp = self.b.ins().load(types::I64, MemFlagsData::new(), rec, 0);
        let env = self.b.ins().load(types::I64, MemFlagsData::new(), rec, 8);
        vals[1] = env;
        let want = self.linker.type_id(ft);
        let entry = self.code_entry(stamp, Some(want), code, site);
        let fptr = self
            .b
            .ins()
            .load(types::I64, MemFlagsData::trusted(), entry, 0);
        let sig = signature(ft, self.consts.call_conv)?;
        let sref = self.b.import_signature(sig);
        let call = self.b.ins().call_indirect(sref, fptr, &vals);
        let r = self.b.inst_results(call).first().copied();
        self.invalidate();
        self.check_fault();
        Ok(if clif(ret, None)?.is_some() { r } else { None })
    }

    fn if_(&mut self, c: &Expr, th: &Expr, el: Option<&Expr>, t: &Type) -> Result<Option<Value>> {
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
}
