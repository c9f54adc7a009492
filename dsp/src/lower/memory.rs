//! Memory: checked loads and stores, runtime calls, allocation (`salloc` `zalloc`
//! `halloc`) and `memzone`.

use super::{FnCx, internal};
use crate::error::{DspError, DspErrorKind, Result};
use crate::runtime::abi::{self};
use crate::sexp::Span;
use crate::syntax::{AllocKind, Expr};
use crate::types::Type;
use cranelift_codegen::ir::{AbiParam, InstBuilder, MemFlagsData, Signature, Value, types};

impl FnCx<'_, '_> {
    pub(super) fn load(
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

    pub(super) fn store(&mut self, v: Value, addr: Value, off: i32, size: u64, site: u32) {
        let at = self.check(addr, off, size, site, false, true);
        self.b.ins().store(MemFlagsData::new(), v, at, 0);
    }

    /// Calls a runtime function at `addr` with the given signature.
    pub(super) fn rt_call(
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

    /// `zonal_zalloc`-shaped call: (ctx, count, size, align, site) -> addr, then fault test.
    pub(super) fn alloc_call(
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

    /// `(memzone size body)`: the body runs in a fresh zone, freed at its end.
    pub(super) fn memzone(
        &mut self,
        size: &Expr,
        body: &[Expr],
        sp: Option<&Span>,
    ) -> Result<Option<Value>> {
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
        Ok(r)
    }

    /// `salloc`/`zalloc`/`halloc` of `count` (default 1) elements of what `t` points to.
    pub(super) fn alloc(
        &mut self,
        kind: AllocKind,
        count: Option<&Expr>,
        t: &Type,
        sp: Option<&Span>,
    ) -> Result<Value> {
        let Type::Ptr(elem) = t else {
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
        Ok(self.alloc_call(f, count, size, elem.align().max(8), site))
    }
}
