//! Calls: of closures held in variables, globals and bind-funcs (through the code table,
//! checked), and the trampoline by which Rust calls a closure.

use super::{FnCx, Lowering, clif, internal, signature};
use crate::error::{DspError, DspErrorKind, Result};
use crate::infer::Ref;
use crate::runtime::FaultCode;
use crate::runtime::abi::CTX_SLOTS;
use crate::sexp::Span;
use crate::syntax::Expr;
use crate::types::Type;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};
use cranelift_frontend::FunctionBuilder;

impl<'a, 'b> FnCx<'a, 'b> {
    /// Builds `tramp(ctx, closure, args: *const u64, ret: *mut u64)`, which calls a closure
    /// of type `ft` (checked like any closure call) with arguments and result as 64-bit
    /// words: integers sign-extended, floats as their `f32` bits, doubles as `f64` bits.
    pub fn trampoline(b: FunctionBuilder<'b>, ft: &Type, lowering: Lowering<'a>) -> Result<()> {
        let Type::Closure(ret, params) = ft else {
            return Err(internal("trampoline of a non-closure"));
        };
        if let Some(t) = params.iter().chain([&**ret]).find(|t| t.is_aggregate()) {
            return Err(DspError::new(
                DspErrorKind::Type,
                format!("a {t} value cannot cross between Scheme and xtlang: pass a pointer to it"),
                None,
            ));
        }
        let (mut cx, p) = FnCx::open(b, lowering, None);
        let mut vals = Vec::new();
        for (i, t) in params.iter().enumerate() {
            if clif(t, None)?.is_none() {
                continue;
            }
            let w =
                cx.b.ins()
                    .load(types::I64, MemFlagsData::trusted(), p[2], 8 * i as i32);
            vals.push(cx.of_word(w, t)?);
        }
        let site = cx.linker.site("call from Scheme", None);
        let r = cx.call_closure(p[1], ft, vals, FaultCode::StaleCall, site)?;
        if let Some(r) = r {
            let w = cx.word_of(r, ret)?;
            cx.b.ins().store(MemFlagsData::trusted(), w, p[3], 0);
        }
        cx.finish_void();
        Ok(())
    }

    /// The value of type `t` (a number or pointer) a 64-bit word holds, as the trampolines
    /// pass them: integers sign-extended, floats as their `f32` bits, doubles as `f64` bits.
    pub(super) fn of_word(&mut self, w: Value, t: &Type) -> Result<Value> {
        Ok(match clif(t, None)? {
            None => return Err(internal("a void value in a word")),
            Some(types::I64) => w,
            Some(types::F64) => self.b.ins().bitcast(types::F64, MemFlagsData::new(), w),
            Some(types::F32) => {
                let n = self.b.ins().ireduce(types::I32, w);
                self.b.ins().bitcast(types::F32, MemFlagsData::new(), n)
            }
            Some(ty) => self.b.ins().ireduce(ty, w),
        })
    }

    /// The 64-bit word holding `v`, of type `t` (see [`FnCx::of_word`]).
    pub(super) fn word_of(&mut self, v: Value, t: &Type) -> Result<Value> {
        Ok(match clif(t, None)? {
            Some(types::F64) => self.b.ins().bitcast(types::I64, MemFlagsData::new(), v),
            Some(types::F32) => {
                let n = self.b.ins().bitcast(types::I32, MemFlagsData::new(), v);
                self.b.ins().uextend(types::I64, n)
            }
            Some(types::I64) => v,
            _ if *t == Type::I1 => self.b.ins().uextend(types::I64, v),
            _ => self.b.ins().sextend(types::I64, v),
        })
    }

    pub(super) fn global_addr(&mut self, g: &str, sp: Option<&Span>) -> Result<Value> {
        let a = self.linker.global(g).ok_or_else(|| {
            DspError::new(DspErrorKind::Unbound, format!("{g} is not defined"), sp)
        })?;
        Ok(self.b.ins().iconst(types::I64, a as i64))
    }

    pub(super) fn slot_closure(&mut self, name: &str, sp: Option<&Span>) -> Result<Value> {
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

    pub(super) fn read_ref(&mut self, id: usize, t: &Type, site: u32) -> Result<Option<Value>> {
        match self.typed.refs.get(&id).cloned() {
            Some(Ref::Local(v)) => self.read_var(v, site),
            Some(Ref::Global(g)) => {
                let Some(ty) = clif(t, None)? else {
                    return Ok(None);
                };
                let a = self.global_addr(&g, None)?;
                if t.is_aggregate() {
                    // its bytes are the global's own
                    return Ok(Some(a));
                }
                Ok(Some(self.b.ins().load(ty, MemFlagsData::trusted(), a, 0)))
            }
            Some(Ref::Func(f)) => Ok(Some(self.slot_closure(&f, None)?)),
            None => Err(internal("unresolved name")),
        }
    }

    /// The address of the code-table entry `stamp`'s index bits name (whether it still
    /// carries the stamp is for the caller to see).
    pub(super) fn entry_of(&mut self, stamp: Value) -> Value {
        let idx = self
            .b
            .ins()
            .band_imm_s(stamp, crate::registry::INDEX_MASK as i64);
        let shift = (8 * crate::registry::CODE_WORDS).trailing_zeros();
        let off = self.b.ins().ishl_imm_s(idx, i64::from(shift));
        self.b.ins().iadd_imm_s(off, self.consts.code_table as i64)
    }

    /// The code-table entry a closure record's `stamp` names. Faults unless the entry
    /// still carries that stamp ([`FaultCode::FreedClosure`]) and, when `want` gives a
    /// type id, the entry has that type (`code`). One test on the fast path.
    pub(super) fn code_entry(
        &mut self,
        stamp: Value,
        want: Option<u64>,
        code: FaultCode,
        site: u32,
    ) -> Value {
        let entry = self.entry_of(stamp);
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

    pub(super) fn call_args(&mut self, args: &[Expr]) -> Result<Vec<Value>> {
        let mut vals = Vec::new();
        for a in args {
            if let Some(v) = self.expr(a)? {
                vals.push(v);
            }
        }
        Ok(vals)
    }

    pub(super) fn call_closure(
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
        // an aggregate result is written to a slot of the caller's
        let out = if ret.is_aggregate() {
            let s = self.agg_slot(ret, None)?;
            vals.push(s);
            Some(s)
        } else {
            None
        };
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
        if out.is_some() {
            return Ok(out);
        }
        Ok(if clif(ret, None)?.is_some() { r } else { None })
    }
}
