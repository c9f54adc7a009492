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
//!   (see [`fast`]) gets a second, fast version, run when the trip count is at most
//!   `FAST_TRIPS` (65536) and the stored pointers' ranges do not overlap the others': it
//!   reuses the value of `p[i]` once loaded or stored, and does not poll for interrupts.
//!   Where its iterations are independent apart from reductions it runs two at a time in
//!   SIMD lanes first (see [`simd`]), its inline math gathered for the wide kernels of
//!   [`crate::runtime::wide_math`] where the CPU has them (see [`batch`]).
//! - Every loop back-edge tests the thread's interrupt flag (see
//!   [`crate::registry::INTERRUPT_SLOT`]), so a runaway loop can be stopped.
//! - By stage: [`builtins`] (arithmetic, memory access, math, printing), [`calls`],
//!   [`closures`], [`callback`], [`memory`] (loads, stores, allocation), [`control`] (`if`, loops),
//!   [`faults`], [`checks`] (memory checks and their merging), [`fast`] (the fast-loop
//!   pass), [`simd`], [`batch`], [`batch_entry`] and [`batch_calls`] (a loop's closure
//!   calls made 64 at a time) and [`foreign`] (calls of C functions).

use crate::error::{DspError, DspErrorKind, Result};
use crate::infer::{Ref, Typed};
use crate::runtime::FaultCode;
use crate::runtime::abi::{self, CTX_DEPTH, CTX_MAX_DEPTH, CTX_SLOTS, CTX_SP, CTX_STACK_FLOOR};
use crate::runtime::wide_math::Kernels;
use crate::sexp::Span;
use crate::syntax::{Expr, ExprKind, Lambda};
use crate::types::Type;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{AbiParam, Block, InstBuilder, MemFlagsData, Signature, Value, types};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, Variable};

mod aggregate;
mod batch;
mod batch_calls;
mod batch_entry;
mod builtins;
mod callback;
mod calls;
mod checks;
mod closures;
mod control;
mod fast;
mod faults;
mod foreign;
mod frame_loop;
mod math_ir;
mod memory;
mod simd;
use checks::{Checked, STICKY};
use fast::FastLoop;
use std::collections::HashMap;

pub use batch_entry::{batch_plan, batch_signature};
pub use frame_loop::{frame_loop_of, frames_signature};

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
    /// The batch kernels of the inline math (see [`crate::runtime::wide_math`]), where the
    /// CPU has wide vectors and fused multiply-adds: a loop in SIMD lanes gathers its math
    /// calls for them (see [`batch`]).
    pub wide_math: Option<Kernels>,
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
    /// The trampoline compiled for closures of type `t`, when there is one (the compiler
    /// makes one for the target of every `callback` before it lowers the code).
    fn tramp(&self, t: &Type) -> Option<u64>;
}

/// The Cranelift type of a DSP value (`None` for void).
pub fn clif(t: &Type, span: Option<&Span>) -> Result<Option<types::Type>> {
    Ok(Some(match t {
        Type::I1 | Type::I8 => types::I8,
        Type::I16 => types::I16,
        Type::I32 => types::I32,
        Type::I64 | Type::Ptr(_) | Type::Closure(..) => types::I64,
        // the address of its bytes (see [`aggregate`])
        t if t.is_aggregate() => types::I64,
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
    // a tuple, array or vector result is written where the caller says
    if ret.is_aggregate() {
        sig.params.push(AbiParam::new(types::I64));
    }
    for p in params {
        if let Some(c) = clif(p, None)? {
            sig.params.push(AbiParam::new(c));
        }
    }
    if let Some(c) = ret_clif(ret)? {
        sig.returns.push(AbiParam::new(c));
    }
    Ok(sig)
}

/// The Cranelift type a function of result `ret` returns: none for void, and none for an
/// aggregate (it is written through the hidden result pointer).
pub fn ret_clif(ret: &Type) -> Result<Option<types::Type>> {
    if ret.is_aggregate() {
        return Ok(None);
    }
    clif(ret, None)
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
    /// Where an aggregate result goes (the hidden parameter after the environment).
    sret: Option<Value>,
    sret_size: u64,
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
    /// While lowering the body of a fast `dotimes` (see [`fast::LoopScan::fast_body`]).
    fast: Option<FastLoop>,
    /// The untagging mask, loaded at the function's entry (see [`FnCx::strip`]).
    addr_mask: Value,
    /// Nothing in the function frees memory (see [`FnCx::may_free`]), so no shadow entry
    /// it reads changes during a call (see [`FnCx::shadow_word`]), and it has loops.
    shadow_fixed: bool,
    /// Index expressions of a loop body computed at its top (see
    /// [`FnCx::mark_affine_in_range`]), by expression id: [`FnCx::index`] takes them.
    index_values: Vec<(usize, Value)>,
    /// While lowering a pass of a batch entry (see [`batch_entry`]).
    lane: Option<batch_entry::LanePass>,
    /// The loops around the code being lowered whose closure call is batched (see
    /// [`batch_calls`]), innermost last.
    call_batches: Vec<batch_calls::CallBatch>,
}

fn internal(msg: &str) -> DspError {
    DspError::new(DspErrorKind::Internal, msg, None)
}

/// What lowering one of a definition's functions needs besides its builder: the
/// definition's types, the compile-time constants, the linker for what the code calls, and
/// the code-table stamp of each of the definition's lambdas (by lambda index).
pub struct Lowering<'a> {
    typed: &'a Typed,
    consts: Consts,
    linker: &'a mut dyn Linker,
    fn_indices: &'a HashMap<usize, u64>,
}

impl<'a> Lowering<'a> {
    pub fn new(
        typed: &'a Typed,
        consts: Consts,
        linker: &'a mut dyn Linker,
        fn_indices: &'a HashMap<usize, u64>,
    ) -> Self {
        Lowering {
            typed,
            consts,
            linker,
            fn_indices,
        }
    }
}

impl<'a, 'b> FnCx<'a, 'b> {
    /// The lowering state of a function returning `ret_type`, positioned in its entry
    /// block (sealed: nothing jumps back to it), with the function's parameters.
    fn open(
        mut b: FunctionBuilder<'b>,
        lowering: Lowering<'a>,
        ret_type: Option<types::Type>,
    ) -> (FnCx<'a, 'b>, Vec<Value>) {
        let Lowering {
            typed,
            consts,
            linker,
            fn_indices,
        } = lowering;
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params = b.block_params(entry).to_vec();
        let addr_mask = checks::load_addr_mask(&mut b);
        let fault_block = b.create_block();
        b.set_cold_block(fault_block);
        let cx = FnCx {
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
            sret: None,
            sret_size: 0,
            depth: None,
            saved_sp: None,
            checked: Vec::new(),
            epoch: STICKY + 1,
            addrs: Vec::new(),
            interrupt: None,
            fast: None,
            addr_mask,
            shadow_fixed: false,
            index_values: Vec::new(),
            lane: None,
            call_batches: Vec::new(),
        };
        (cx, params)
    }

    /// Lowers `lam` into the function the builder holds.
    pub fn lower(b: FunctionBuilder<'b>, lam: &'a Lambda, lowering: Lowering<'a>) -> Result<()> {
        let lt = lowering
            .typed
            .lambda_types
            .get(&lam.index)
            .ok_or_else(|| internal("lambda without a type"))?;
        let Type::Closure(ret, _) = lt else {
            return Err(internal("lambda type is not a closure"));
        };
        let ret_type = ret_clif(ret)?;
        let ret_size = ret.size();
        let (mut cx, params) = FnCx::open(b, lowering, ret_type);
        // (without a loop there is nothing to hoist a shadow read out of, and the pure
        // read's clamp would cost three instructions a check)
        cx.shadow_fixed = !cx.may_free(&lam.body) && cx.loops(&lam.body);
        let (site, leaf) = cx.enter(lam);
        if !leaf {
            cx.poll_interrupt(site);
        }
        let env_at = cx.enter_env(lam, params[1], site);
        cx.bind_captures(lam, env_at, site)?;
        let mut k = 2;
        if ret.is_aggregate() {
            cx.sret = Some(params[2]);
            cx.sret_size = ret_size;
            k = 3;
        }
        cx.bind_params(lam, &params[k..], site)?;
        let mut last = None;
        for e in &lam.body {
            last = cx.expr(e)?;
        }
        cx.finish_return(last)?;
        cx.b.switch_to_block(cx.fault_block);
        let zeros = cx.zeros();
        cx.b.ins().return_(&zeros);
        cx.b.seal_all_blocks();
        cx.b.finalize(cx.consts.frontend);
        Ok(())
    }

    /// What every entry of `lam`'s code does first: checks the call depth and the native
    /// stack (a function that calls something), loads the interrupt flag's address (for
    /// the poll at entry, which the caller emits, and at loop back-edges) and notes the
    /// salloc stack pointer to come back to. Its fault site, and whether it calls nothing.
    fn enter(&mut self, lam: &Lambda) -> (u32, bool) {
        let site = self
            .linker
            .site("lambda", lam.body.first().and_then(|e| e.span.as_ref()));
        let ctx = self.ctx;
        let leaf = self.calls_nothing(&lam.body);
        if !leaf {
            self.check_depth_and_stack(site);
        }
        if !leaf || self.loops(&lam.body) {
            // (a recursion that never returns has no loop to poll in)
            let slots = self
                .b
                .ins()
                .load(types::I64, MemFlagsData::trusted(), ctx, CTX_SLOTS);
            let flag = self.b.ins().load(
                types::I64,
                MemFlagsData::trusted(),
                slots,
                (8 * crate::registry::INTERRUPT_SLOT) as i32,
            );
            self.interrupt = Some(flag);
        }
        if self
            .typed
            .uses_salloc
            .get(&lam.index)
            .copied()
            .unwrap_or(false)
        {
            self.saved_sp = Some(self.b.ins().load(
                types::I64,
                MemFlagsData::trusted(),
                ctx,
                CTX_SP,
            ));
        }
        (site, leaf)
    }

    /// The untagged address of `lam`'s environment `env`, checked once: it and the captured
    /// cells live at least as long as the call, so their checks hold for all of it. Every
    /// slot access goes through the one value (see [`FnCx::strip`]).
    fn enter_env(&mut self, lam: &Lambda, env: Value, site: u32) -> Value {
        let caps = self.typed.captures.get(&lam.index).map_or(0, Vec::len);
        let env_at = if caps == 0 {
            env
        } else {
            let at = self.strip(env);
            if self.consts.checks {
                self.check_stripped(env, 0, 8 * caps as u64, site, false, at);
            }
            at
        };
        self.stick();
        env_at
    }

    /// Binds `lam`'s captured variables from its environment at `env_at`: a variable the
    /// lambda keeps there itself is its slot's address; any other is loaded (a shared
    /// cell's address, checked).
    fn bind_captures(&mut self, lam: &Lambda, env_at: Value, site: u32) -> Result<()> {
        let typed = self.typed;
        let caps = typed
            .captures
            .get(&lam.index)
            .map_or(&[][..], Vec::as_slice);
        for (i, v) in caps.iter().enumerate() {
            let info = &typed.vars[*v];
            if info.owner == Some(lam.index) {
                // Its slot is the variable, inside the environment checked at entry.
                let at = self.b.ins().iadd_imm_s(env_at, 8 * i as i64);
                let var = self.b.declare_var(types::I64);
                self.b.def_var(var, at);
                self.vars.insert(*v, var);
                self.env_slots.push(*v);
                continue;
            }
            let ty = if info.is_cell() {
                Some(types::I64)
            } else {
                clif(&info.ty, None)?
            };
            if let Some(ty) = ty {
                let val = self
                    .b
                    .ins()
                    .load(ty, MemFlagsData::new(), env_at, 8 * i as i32);
                let var = self.b.declare_var(ty);
                self.b.def_var(var, val);
                self.vars.insert(*v, var);
                let size = info.ty.size();
                if info.is_cell() && size > 0 {
                    self.check(val, 0, size, site, false, false);
                    self.stick();
                }
            }
        }
        Ok(())
    }

    /// Binds `lam`'s parameters (those with a value) to `vals`, in order.
    fn bind_params(&mut self, lam: &Lambda, vals: &[Value], site: u32) -> Result<()> {
        let typed = self.typed;
        let pvars = typed.params.get(&lam.index).map_or(&[][..], Vec::as_slice);
        let mut k = 0;
        for &v in pvars {
            if clif(&typed.vars[v].ty, None)?.is_some() {
                let val = *vals
                    .get(k)
                    .ok_or_else(|| internal("fewer arguments than parameters"))?;
                k += 1;
                self.bind(v, Some(val), site)?;
            }
        }
        Ok(())
    }

    /// At the entry of a function that calls something: faults past the call depth
    /// limit or below the native stack's floor (a recursion goes as deep as the
    /// thread's stack allows, then faults), and counts this call's depth.
    fn check_depth_and_stack(&mut self, site: u32) {
        let ctx = self.ctx;
        let d = self
            .b
            .ins()
            .load(types::I32, MemFlagsData::trusted(), ctx, CTX_DEPTH);
        let max = self
            .b
            .ins()
            .load(types::I32, MemFlagsData::trusted(), ctx, CTX_MAX_DEPTH);
        let d1 = self.b.ins().iadd_imm_s(d, 1);
        let over = self.b.ins().icmp(IntCC::UnsignedGreaterThan, d1, max);
        self.fault_if(over, FaultCode::CallDepth, site);
        let floor = self
            .b
            .ins()
            .load(types::I64, MemFlagsData::trusted(), ctx, CTX_STACK_FLOOR);
        let sp = self.b.ins().get_stack_pointer(types::I64);
        let low = self.b.ins().icmp(IntCC::UnsignedLessThan, sp, floor);
        self.fault_if(low, FaultCode::CallDepth, site);
        self.b
            .ins()
            .store(MemFlagsData::trusted(), d1, ctx, CTX_DEPTH);
        self.depth = Some(d);
    }

    /// A new variable of type `ty`, 0 from here on.
    fn zeroed_var(&mut self, ty: types::Type) -> Variable {
        let v = self.b.declare_var(ty);
        let zero = self.b.ins().iconst(ty, 0);
        self.b.def_var(v, zero);
        v
    }

    /// Returns from a function without a result, and from its fault block; the function
    /// is complete.
    fn finish_void(mut self) {
        self.b.ins().return_(&[]);
        self.b.switch_to_block(self.fault_block);
        self.b.ins().return_(&[]);
        self.b.seal_all_blocks();
        self.b.finalize(self.consts.frontend);
    }

    fn zeros(&mut self) -> Vec<Value> {
        match self.ret_type {
            None => vec![],
            Some(types::F32) => vec![self.b.ins().f32const(0.0)],
            Some(types::F64) => vec![self.b.ins().f64const(0.0)],
            Some(t) => vec![self.b.ins().iconst(t, 0)],
        }
    }

    /// Puts back the call depth [`FnCx::check_depth_and_stack`] counted, if it did.
    fn restore_depth(&mut self) {
        if let Some(d) = self.depth {
            let ctx = self.ctx;
            self.b
                .ins()
                .store(MemFlagsData::trusted(), d, ctx, CTX_DEPTH);
        }
    }

    /// Frees what this call took with `salloc`, in a lambda that uses it: the stack
    /// pointer goes back to where it was at the entry.
    fn release_salloc(&mut self) {
        if let Some(sp) = self.saved_sp {
            let ctx = self.ctx;
            let release = abi::zonal_salloc_release as *const u8 as u64;
            self.rt_call(release, &[types::I64, types::I64], None, &[ctx, sp]);
        }
    }

    fn finish_return(&mut self, last: Option<Value>) -> Result<()> {
        self.restore_depth();
        self.release_salloc();
        if let Some(out) = self.sret {
            let v = last.ok_or_else(|| internal("an aggregate-returning lambda ended in void"))?;
            let src = self.strip(v);
            self.copy_bytes(out, src, self.sret_size);
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

    fn var_type(&self, v: usize) -> &Type {
        &self.typed.vars[v].ty
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
        if info.ty.is_aggregate() {
            // its own bytes: in the zone when a closure captures it (the closure may
            // outlive this call), else in this function's frame
            let t = info.ty.clone();
            let storage = if info.captured {
                let zalloc = abi::zonal_zalloc as *const u8 as u64;
                self.alloc_call(zalloc, None, t.size().max(1), t.align().max(8), site)
            } else {
                self.agg_slot(&t, None)?
            };
            let (to, from) = (self.strip(storage), self.strip(val));
            self.copy_bytes(to, from, t.size());
            let var = self.b.declare_var(types::I64);
            self.b.def_var(var, storage);
            self.vars.insert(v, var);
        } else if info.is_cell() {
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
        if self.in_memory(v) && !self.typed.vars[v].ty.is_aggregate() {
            let at = self.memory_address(v)?;
            return Ok(Some(self.b.ins().load(ty, MemFlagsData::new(), at, 0)));
        }
        let var = *self
            .vars
            .get(&v)
            .ok_or_else(|| internal("variable not in this function"))?;
        Ok(Some(self.b.use_var(var)))
    }

    /// True for a variable whose value is held in memory: an environment slot of this
    /// closure, or a shared cell.
    fn in_memory(&self, v: usize) -> bool {
        self.env_slots.contains(&v) || self.typed.vars[v].is_cell()
    }

    /// The address of variable `v`'s value, for one held in memory (see
    /// [`FnCx::in_memory`]): the slot's address, or the cell's untagged.
    fn memory_address(&mut self, v: usize) -> Result<Value> {
        let var = *self
            .vars
            .get(&v)
            .ok_or_else(|| internal("variable not in this function"))?;
        let x = self.b.use_var(var);
        Ok(if self.env_slots.contains(&v) {
            x
        } else {
            self.strip(x)
        })
    }

    fn write_var(&mut self, v: usize, val: Value, _site: u32) -> Result<()> {
        let var = *self
            .vars
            .get(&v)
            .ok_or_else(|| internal("variable not in this function"))?;
        let t = &self.typed.vars[v].ty;
        if t.is_aggregate() {
            let size = t.size();
            let storage = self.b.use_var(var);
            let (to, from) = (self.strip(storage), self.strip(val));
            self.copy_bytes(to, from, size);
        } else if self.env_slots.contains(&v) {
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
        // an affine index computed at the top of its loop's body
        if let Some(&(_, v)) = self.index_values.iter().rev().find(|(id, _)| *id == e.id) {
            return Ok(v);
        }
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
            Type::I16 => self.b.ins().iconst(types::I16, i64::from(i as i16)),
            Type::I8 | Type::I1 => self.b.ins().iconst(types::I8, i64::from(i as i8)),
            _ => self.b.ins().iconst(types::I64, i),
        }
    }

    pub fn expr(&mut self, e: &Expr) -> Result<Option<Value>> {
        let t = self.ty(e).clone();
        let sp = e.span.as_ref();
        Ok(Some(match &e.kind {
            ExprKind::Int(i) => match &t {
                Type::Vector(_, elem) => {
                    let x = self.literal_int(*i, elem);
                    self.splat_literal(x, &t, sp)?
                }
                _ => self.literal_int(*i, &t),
            },
            ExprKind::Float(x) => match &t {
                Type::Float => self.b.ins().f32const(*x as f32),
                Type::Vector(_, elem) => {
                    let x = match **elem {
                        Type::Float => self.b.ins().f32const(*x as f32),
                        _ => self.b.ins().f64const(*x),
                    };
                    self.splat_literal(x, &t, sp)?
                }
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
                        if t.is_aggregate() {
                            let from = self.strip(val);
                            self.copy_bytes(a, from, t.size());
                        } else {
                            self.b.ins().store(MemFlagsData::trusted(), val, a, 0);
                        }
                    }
                    _ => return Err(internal(&format!("set! of {name} unresolved"))),
                }
                val
            }
            ExprKind::Dotimes(_, n, body) => return self.dotimes(e, n, body),
            ExprKind::While(c, body) => return self.while_(c, body, sp),
            ExprKind::Memzone(size, body) => return self.memzone(size, body, sp),
            ExprKind::Alloc(kind, count) => self.alloc(*kind, count.as_deref(), &t, sp)?,
            ExprKind::And(args) | ExprKind::Or(args) => self.and_or(e, args)?,
            ExprKind::App(name, args) => return self.app(e, name, args, &t),
            ExprKind::CallValue(f, args) => {
                let batched = |b: &batch_calls::CallBatch| b.call == e.id && b.start.is_some();
                if let Some(k) = self.call_batches.iter().position(batched) {
                    return self.batched_result(k, e);
                }
                let fv = self.value(f)?;
                let ft = self.ty(f).clone();
                let site = self.linker.site("call", sp);
                let vals = self.call_args(args)?;
                return self.call_closure(fv, &ft, vals, FaultCode::BadClosure, site);
            }
        }))
    }
}
