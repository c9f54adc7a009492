//! Faults in compiled code: branching to a cold block that records a fault code and site
//! and returns, the interrupt poll, and the fault test after every call.

use super::FnCx;
use crate::runtime::FaultCode;
use crate::runtime::abi::{CTX_FAULT, CTX_FAULT_SITE};
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};

impl FnCx<'_, '_> {
    /// Branches to a block that records `code` at `site` and returns, when `cond` is true.
    pub(super) fn fault_if(&mut self, cond: Value, code: FaultCode, site: u32) {
        self.fault_raw(cond, code as u32, site);
    }

    /// As [`FnCx::fault_if`] with a raw fault code.
    pub(super) fn fault_raw(&mut self, cond: Value, code: u32, site: u32) {
        self.cold_if(cond, |cx| {
            let c = cx.b.ins().iconst(types::I32, i64::from(code));
            cx.store_fault(c, site);
        });
    }

    /// When `cond` is true, runs `fail` in a cold block that then returns through the
    /// fault block; code goes on after the test otherwise.
    pub(super) fn cold_if(&mut self, cond: Value, fail: impl FnOnce(&mut Self)) {
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
    pub(super) fn store_fault(&mut self, code: Value, site: u32) {
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
    pub(super) fn poll_interrupt(&mut self, site: u32) {
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
    pub(super) fn check_fault(&mut self) {
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
}
