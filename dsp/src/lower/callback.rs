//! Lowering of xtlang's `callback`: `(callback time f args...)` evaluates its arguments
//! and hands them to the runtime (`zonal_callback`), which keeps the call for the engine
//! to run at sample `time` on the audio thread (see [`crate::runtime::scheduled`]).
//!
//! A bind-func named directly (`(callback t my-func 1)`) is scheduled by its slot, so the
//! callback runs whatever definition of that name (and type) is current when its time
//! comes: redefining a function that reschedules itself takes its chain over, as in
//! Extempore. Any other closure value is scheduled as the record it is (a stale record
//! faults when the callback runs, through the trampoline's checks).

use super::{FnCx, internal};
use crate::error::Result;
use crate::infer::Ref;
use crate::runtime::abi;
use crate::runtime::scheduled::NO_SLOT;
use crate::syntax::{Expr, ExprKind};
use crate::types::Type;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, types};

impl FnCx<'_, '_> {
    /// `(callback time f args...)` (inference checked the shape and the types).
    pub(super) fn callback(&mut self, args: &[Expr], site: u32) -> Result<()> {
        let [time, target, rest @ ..] = args else {
            return Err(internal("callback without a time and a function"));
        };
        let ft = self.ty(target).clone();
        let tramp = self
            .linker
            .tramp(&ft)
            .ok_or_else(|| internal("no trampoline for a callback's target"))?;
        let time = self.value(time)?;
        let typed = self.typed;
        let by_slot = match (&target.kind, typed.refs.get(&target.id)) {
            (ExprKind::Var(_), Some(Ref::Func(f))) => self.linker.slot(f),
            _ => None,
        };
        let (slot, closure) = match by_slot {
            Some(slot) => (slot, self.b.ins().iconst(types::I64, 0)),
            None => (NO_SLOT, self.value(target)?),
        };
        let words = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (8 * rest.len().max(1)) as u32,
            3,
        ));
        for (i, a) in rest.iter().enumerate() {
            let t = self.ty(a).clone();
            let Some(v) = self.expr(a)? else {
                continue;
            };
            // the words the trampoline reads: doubles and floats as their bits
            let w = match t {
                Type::Double => self.b.ins().bitcast(types::I64, MemFlagsData::new(), v),
                Type::Float => {
                    let n = self.b.ins().bitcast(types::I32, MemFlagsData::new(), v);
                    self.b.ins().uextend(types::I64, n)
                }
                Type::I1 => self.b.ins().uextend(types::I64, v),
                Type::I8 | Type::I32 => self.b.ins().sextend(types::I64, v),
                _ => v,
            };
            self.b.ins().stack_store(types::I64, w, words, 8 * i as i32);
        }
        let wa = self.b.ins().stack_addr(types::I64, words, 0);
        let ctx = self.ctx;
        let consts = [
            self.b.ins().iconst(types::I64, tramp as i64),
            self.b.ins().iconst(types::I32, i64::from(slot)),
            self.b.ins().iconst(types::I32, rest.len() as i64),
            self.b.ins().iconst(types::I32, i64::from(site)),
        ];
        let [tramp, slot, n, site] = consts;
        self.rt_call(
            abi::zonal_callback as *const u8 as u64,
            &[
                types::I64,
                types::I64,
                types::I64,
                types::I32,
                types::I64,
                types::I64,
                types::I32,
                types::I32,
            ],
            None,
            &[ctx, time, tramp, slot, closure, wa, n, site],
        );
        self.check_fault();
        Ok(())
    }
}
