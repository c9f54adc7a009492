//! Calls of C functions `bind-lib` bound (see [`crate::foreign`]): a direct call of the
//! function's address with the host's C calling convention, its pointer arguments checked
//! and stripped of their tags, its pointer result tagged again.

use super::{FnCx, internal};
use crate::error::Result;
use crate::foreign::{CFunction, FOREIGN_TAG};
use crate::runtime::shadow::{self, DEAD, TAG_SHIFT};
use crate::sexp::Span;
use crate::syntax::Expr;
use crate::types::Type;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{AbiParam, BlockArg, InstBuilder, Signature, Value, types};

/// How a value of type `t` travels in a C call: as C passes it, integers narrower than a
/// register extended by the caller (signed, as xtlang's integers are; `i1`, C's `bool`,
/// with zeros).
fn c_param(t: &Type) -> Result<AbiParam> {
    Ok(match t {
        Type::I1 => AbiParam::new(types::I8).uext(),
        Type::I8 => AbiParam::new(types::I8).sext(),
        Type::I16 => AbiParam::new(types::I16).sext(),
        Type::I32 => AbiParam::new(types::I32).sext(),
        Type::I64 | Type::Ptr(_) => AbiParam::new(types::I64),
        Type::Float => AbiParam::new(types::F32),
        Type::Double => AbiParam::new(types::F64),
        _ => return Err(internal("a C function's type was not checked")),
    })
}

impl FnCx<'_, '_> {
    /// `(name args..)` where `name` is C function `c`.
    pub(super) fn c_call(
        &mut self,
        c: &CFunction,
        args: &[Expr],
        sp: Option<&Span>,
    ) -> Result<Option<Value>> {
        let mut sig = Signature::new(self.consts.call_conv);
        let mut vals = Vec::with_capacity(args.len());
        for (i, (a, t)) in args.iter().zip(&c.params).enumerate() {
            let v = self.value(a)?;
            let v = match t {
                Type::Ptr(elem) => {
                    let form = format!("pointer argument {} of {}, a C function", i + 1, c.name);
                    let site = self.linker.site(&form, sp);
                    self.c_pointer_arg(v, elem.size().max(1), site)
                }
                _ => v,
            };
            sig.params.push(c_param(t)?);
            vals.push(v);
        }
        if c.ret != Type::Void {
            sig.returns.push(c_param(&c.ret)?);
        }
        let sref = self.b.import_signature(sig);
        let f = self.b.ins().iconst(types::I64, c.addr as i64);
        let call = self.b.ins().call_indirect(sref, f, &vals);
        let r = self.b.inst_results(call).first().copied();
        Ok(match (&c.ret, r) {
            (Type::Ptr(_), Some(raw)) => Some(self.c_pointer_result(raw)),
            // C's bool may come back as any nonzero byte
            (Type::I1, Some(b)) => Some(self.b.ins().icmp_imm_s(IntCC::NotEqual, b, 0)),
            (_, r) => r,
        })
    }

    /// Pointer `p` as a C function gets it: tag stripped, after faulting unless it is
    /// null, a pointer from C outside DSP memory ([`FOREIGN_TAG`]), or a pointer whose
    /// first `size` bytes lie in its live allocation (the check a load makes).
    fn c_pointer_arg(&mut self, p: Value, size: u64, site: u32) -> Value {
        let stripped = self.strip(p);
        if !self.consts.checks {
            return stripped;
        }
        let (_, outside) = self.arena_offset(stripped);
        let tag = self.b.ins().ushr_imm_u(p, i64::from(TAG_SHIFT));
        let foreign = self
            .b
            .ins()
            .icmp_imm_s(IntCC::Equal, tag, i64::from(FOREIGN_TAG));
        let from_c = self.b.ins().band(outside, foreign);
        let null = self.b.ins().icmp_imm_s(IntCC::Equal, p, 0);
        let pass = self.b.ins().bor(from_c, null);
        let check = self.b.create_block();
        let done = self.b.create_block();
        self.b.ins().brif(pass, done, &[], check, &[]);
        self.b.seal_block(check);
        self.b.switch_to_block(check);
        let len = self.b.ins().iconst(types::I64, size as i64);
        self.check_shadow(p, stripped, len, site, false);
        self.b.ins().jump(done, &[]);
        self.b.seal_block(done);
        self.b.switch_to_block(done);
        stripped
    }

    /// Pointer `raw` a C function returned, tagged for DSP code: with the tag of the live
    /// allocation of DSP memory it points into, untagged (so every access faults) if it
    /// points into DSP memory no live allocation holds, with [`FOREIGN_TAG`] if it points
    /// outside DSP memory, and null if null.
    fn c_pointer_result(&mut self, raw: Value) -> Value {
        let raw = self.strip(raw);
        let (rel, outside) = self.arena_offset(raw);
        let inside = self.b.create_block();
        let away = self.b.create_block();
        let done = self.b.create_block();
        let out = self.b.append_block_param(done, types::I64);
        self.b.ins().brif(outside, away, &[], inside, &[]);
        self.b.seal_block(inside);
        self.b.seal_block(away);
        self.b.switch_to_block(away);
        let foreign = self
            .b
            .ins()
            .bor_imm_u(raw, (u64::from(FOREIGN_TAG) << TAG_SHIFT) as i64);
        let null = self.b.ins().icmp_imm_s(IntCC::Equal, raw, 0);
        let zero = self.b.ins().iconst(types::I64, 0);
        let v = self.b.ins().select(null, zero, foreign);
        self.b.ins().jump(done, &[BlockArg::Value(v)]);
        self.b.switch_to_block(inside);
        let word = self.shadow_word(rel);
        let tag = self.b.ins().band_imm_s(word, !(shadow::ADDR_MASK as i64));
        let tagged = self.b.ins().bor(raw, tag);
        let dead = self.b.ins().band_imm_s(word, DEAD as i64);
        let v = self.b.ins().select(dead, raw, tagged);
        self.b.ins().jump(done, &[BlockArg::Value(v)]);
        self.b.seal_block(done);
        self.b.switch_to_block(done);
        out
    }
}
