//! Closures: making a closure record from a `lambda` and its captured variables, and
//! `(clo.var [value])` access to a closure's variables.

use super::{FnCx, clif, internal};
use crate::error::{DspError, DspErrorKind, Result};
use crate::infer::Ref;
use crate::runtime::FaultCode;
use crate::runtime::abi::{self};
use crate::sexp::Span;
use crate::syntax::{EnvVar, Expr};
use crate::types::Type;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};

impl FnCx<'_, '_> {
    pub(super) fn make_closure(&mut self, index: usize, sp: Option<&Span>) -> Result<Value> {
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
    /// of that name and type. `(clo.inner.var ...)` first reads the closure held in
    /// `clo`'s variable `inner` (any closure type), and so on down the path.
    pub(super) fn env_var(&mut self, e: &Expr, ev: &EnvVar, t: &Type) -> Result<Option<Value>> {
        let sp = e.span.as_ref();
        let mut whole = ev.closure.clone();
        for p in ev.path.iter().chain([&ev.var]) {
            whole.push('.');
            whole.push_str(p);
        }
        let site = self.linker.site(&whole, sp);
        let mut clo = match self.typed.refs.get(&e.id).cloned() {
            Some(Ref::Local(v)) => self
                .read_var(v, site)?
                .ok_or_else(|| internal("closure variable without a value"))?,
            Some(Ref::Func(f)) => self.slot_closure(&f, sp)?,
            Some(Ref::Global(g)) => {
                let a = self.global_addr(&g, sp)?;
                self.b.ins().load(types::I64, MemFlagsData::trusted(), a, 0)
            }
            None => return Err(internal("closure.var unresolved")),
        };
        let value = match &ev.value {
            Some(v) => Some(self.value(v)?),
            None => None,
        };
        if t.is_aggregate() {
            return Err(DspError::new(
                DspErrorKind::Type,
                format!(
                    "{whole}: a {t} closure variable is not reached from outside the closure; hold a pointer to it instead"
                ),
                sp,
            ));
        }
        let ty = clif(t, sp)?.ok_or_else(|| internal("void closure variable"))?;
        for inner in &ev.path {
            let at = self.env_slot(clo, inner, crate::runtime::vars::ANY_CLOSURE, site)?;
            clo = self.load(types::I64, at, 0, 8, site)?;
        }
        let tid = self.linker.type_id(t);
        let addr = self.env_slot(clo, &ev.var, tid, site)?;
        let size = t.size();
        Ok(Some(match value {
            Some(v) => {
                self.store(v, addr, 0, size, site);
                v
            }
            None => self.load(ty, addr, 0, size, site)?,
        }))
    }

    /// The address of variable `name` of type id `tid` (or any closure, with
    /// [`ANY_CLOSURE`](crate::runtime::vars::ANY_CLOSURE)) in closure `clo`'s environment,
    /// found through its code's variable table; a fault when it has none.
    fn env_slot(&mut self, clo: Value, name: &str, tid: u64, site: u32) -> Result<Value> {
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
        let name = self.linker.string(name)?;
        let name = self.b.ins().iconst(types::I64, name as i64);
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
        Ok(addr)
    }
}
