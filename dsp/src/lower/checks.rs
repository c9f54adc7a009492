//! Memory checks in compiled code: every access through a pointer is checked against its
//! own allocation (see [`crate::runtime::shadow`]), and the checks already made are
//! remembered so that none is repeated where an identical one dominates it in the same
//! epoch (an epoch ends where memory may have been freed).

use super::fast::Affine;
use super::{FnCx, internal};
use crate::builtin::Builtin;
use crate::error::Result;
use crate::runtime::{abi, shadow};
use crate::syntax::{Expr, ExprKind};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};

/// An access proven inside its live allocation: `(addr, off, size)` at `epoch` (0: for the
/// whole call), and the access's first address with the tag stripped.
#[derive(Clone, Copy)]
pub(super) struct Checked {
    pub(super) addr: Value,
    pub(super) off: i32,
    pub(super) size: u64,
    pub(super) epoch: u32,
    pub(super) stripped: Value,
}

/// The epoch of checks that hold for the whole call: the closure's environment and its
/// captured cells, and cells the function makes, live at least as long as the call.
pub(super) const STICKY: u32 = 0;

impl FnCx<'_, '_> {
    /// The current lengths of the check and address caches. Code entered where the
    /// current point no longer dominates (an `if` arm, the block after a merge or a loop)
    /// restores them with [`FnCx::unscope`].
    pub(super) fn scope(&self) -> (usize, usize) {
        (self.checked.len(), self.addrs.len())
    }

    pub(super) fn unscope(&mut self, saved: (usize, usize)) {
        self.checked.truncate(saved.0);
        self.addrs.truncate(saved.1);
    }

    /// Memory may have been freed here (a closure call, `free`, the end of a `memzone`, the
    /// top of a loop whose body does one of those): checks made before no longer hold.
    pub(super) fn invalidate(&mut self) {
        self.epoch += 1;
    }

    /// The checks made so far hold for the whole call (see [`STICKY`]).
    pub(super) fn stick(&mut self) {
        for c in &mut self.checked {
            c.epoch = STICKY;
        }
    }

    /// Word 0 of the shadow entry of the granule at offset `rel` of the arena (`rel`
    /// checked to lie inside it): `tag << 48 | end` of the allocation that owns it.
    ///
    /// In a function that frees nothing ([`FnCx::shadow_fixed`]) the entries of the
    /// allocations it can reach do not change during a call (a new allocation tags only
    /// granules no live allocation holds, with a fresh tag), so the load is pure: Cranelift
    /// merges it with an identical one that dominates it, and hoists it out of a loop in
    /// which `rel` does not change. Cranelift 0.135 hoists only out of a loop whose
    /// header's branch names the exit first (its hoisting forgets the loop once it has
    /// visited a block after it that the header dominates): a frame loop's loops are
    /// written so (`lower/frame_loop.rs`), and there the shadow reads of W1's four arrays
    /// leave the loop. A pure load may be placed before the check that `rel` lies in the
    /// arena, so its offset is clamped to the arena first; a clamped read is never used.
    pub(super) fn shadow_word(&mut self, rel: Value) -> Value {
        let (rel, flags) = if self.shadow_fixed {
            let last = self
                .b
                .ins()
                .iconst(types::I64, (self.consts.arena_len - shadow::GRANULE) as i64);
            let rel = self.b.ins().umin(rel, last);
            let pure = MemFlagsData::trusted().with_readonly().with_can_move();
            (rel, pure)
        } else {
            (rel, MemFlagsData::trusted())
        };
        let granule = self.b.ins().band_imm_s(rel, !(shadow::GRANULE as i64 - 1));
        let entry = self
            .b
            .ins()
            .iadd_imm_s(granule, self.consts.shadow_base as i64);
        self.b.ins().load(types::I64, flags, entry, 0)
    }

    /// `p` without its tag: an `and` with the mask loaded at the function's entry, not
    /// with a constant. Cranelift rematerialises an `and` with a constant operand in every
    /// block that uses it (and x86 cannot encode the 64-bit mask as an immediate, so each
    /// copy loads it from the constant pool), which put the untagging of a loop's
    /// invariant pointers back inside the loop; an `and` of two values is computed once
    /// where it is defined, and hoisted out of loops like any pure value.
    pub(super) fn strip(&mut self, p: Value) -> Value {
        self.b.ins().band(p, self.addr_mask)
    }

    /// The address to load or store `size` bytes at `addr + off` (tag stripped), after
    /// checking, when checks are on (or `always`), that the access lies inside the live
    /// allocation `addr` points into. A check already made at a dominating point in this
    /// epoch is not repeated.
    pub(super) fn check(
        &mut self,
        addr: Value,
        off: i32,
        size: u64,
        site: u32,
        always: bool,
        write: bool,
    ) -> Value {
        let dfg = &self.b.func.dfg;
        let key = dfg.resolve_aliases(addr);
        if let Some(c) = self.checked.iter().rev().find(|c| {
            (dfg.resolve_aliases(c.addr), c.off, c.size) == (key, off, size)
                && (c.epoch == STICKY || c.epoch == self.epoch)
        }) {
            return c.stripped;
        }
        let at = if off == 0 {
            addr
        } else {
            self.b.ins().iadd_imm_s(addr, i64::from(off))
        };
        let stripped = self.strip(at);
        if !self.consts.checks && !always {
            return stripped;
        }
        self.check_stripped(addr, off, size, site, write, stripped);
        stripped
    }

    /// The check of [`FnCx::check`] of `size` bytes at `addr + off`, whose untagged
    /// address `stripped` the caller computed, remembered for the accesses it dominates.
    pub(super) fn check_stripped(
        &mut self,
        addr: Value,
        off: i32,
        size: u64,
        site: u32,
        write: bool,
        stripped: Value,
    ) {
        let at = if off == 0 {
            addr
        } else {
            self.b.ins().iadd_imm_s(addr, i64::from(off))
        };
        self.checked.push(Checked {
            addr,
            off,
            size,
            epoch: self.epoch,
            stripped,
        });
        let len = self.b.ins().iconst(types::I64, size as i64);
        self.check_shadow(at, stripped, len, site, write);
    }

    /// Untagged address `stripped`'s offset in the arena, and whether it lies outside it
    /// (one add and one unsigned compare).
    pub(super) fn arena_offset(&mut self, stripped: Value) -> (Value, Value) {
        let rel = self
            .b
            .ins()
            .iadd_imm_s(stripped, self.consts.arena_base.wrapping_neg() as i64);
        let outside = self.b.ins().icmp_imm_s(
            IntCC::UnsignedGreaterThanOrEqual,
            rel,
            self.consts.arena_len as i64,
        );
        (rel, outside)
    }

    /// Faults (through the runtime, which says why) unless the `len` bytes at tagged
    /// pointer `at` (`stripped` without its tag) lie inside the live allocation of `at`'s
    /// tag: `stripped` in the arena (so its shadow entry can be read), then one load of
    /// the entry and one compare.
    pub(super) fn check_shadow(
        &mut self,
        at: Value,
        stripped: Value,
        len: Value,
        site: u32,
        write: bool,
    ) {
        let fail = self.b.create_block();
        self.b.set_cold_block(fail);
        let (rel, outside) = self.arena_offset(stripped);
        let inside = self.b.create_block();
        self.b.ins().brif(outside, fail, &[], inside, &[]);
        self.b.seal_block(inside);
        self.b.switch_to_block(inside);
        let word = self.shadow_word(rel);
        let bad = self.past_end(word, at, len);
        let ok = self.b.create_block();
        self.b.ins().brif(bad, fail, &[], ok, &[]);
        self.b.seal_block(fail);
        self.b.seal_block(ok);
        self.b.switch_to_block(fail);
        let ctx = self.ctx;
        let w = self.b.ins().iconst(types::I32, i64::from(write));
        let s = self.b.ins().iconst(types::I32, i64::from(site));
        let f = abi::zonal_access_fault as *const u8 as u64;
        let p = [types::I64, types::I64, types::I64, types::I32, types::I32];
        self.rt_call(f, &p, None, &[ctx, at, len, w, s]);
        self.b.ins().jump(self.fault_block, &[]);
        self.b.switch_to_block(ok);
    }

    /// Whether the `len` bytes at tagged pointer `at` run past the end of (or are not in)
    /// the allocation whose shadow entry is `word`: one subtraction and one compare.
    fn past_end(&mut self, word: Value, at: Value, len: Value) -> Value {
        let end = self.b.ins().iadd(at, len);
        let d = self.b.ins().isub(word, end);
        self.b.ins().icmp_imm_s(
            IntCC::UnsignedGreaterThanOrEqual,
            d,
            shadow::PASS_BELOW as i64,
        )
    }

    /// Whether `n` elements of `size` bytes are too many to check as one range (their
    /// byte count could wrap), and that byte count.
    fn range_len(&mut self, n: Value, size: u64) -> (Value, Value) {
        let bound = (shadow::PASS_BELOW / size.max(1)) as i64;
        let big = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedGreaterThan, n, bound);
        (big, self.b.ins().imul_imm_s(n, size as i64))
    }

    /// For [`FnCx::check_affine_range`]: whether `n` is too large for `a`'s step, and the
    /// first element's address and the count of elements the range spans.
    fn affine_span(&mut self, p: Value, n: Value, a: &Affine) -> (Value, Value, Value) {
        let size = a.size.max(1);
        let bound = (shadow::PASS_BELOW / size / a.k as u64) as i64;
        let big = self
            .b
            .ins()
            .icmp_imm_s(IntCC::UnsignedGreaterThan, n, bound);
        let span = self.b.ins().imul_imm_s(n, a.k);
        let count = self.b.ins().iadd_imm_s(span, 1 - a.k);
        let first = self.b.ins().iadd_imm_s(p, a.c * size as i64);
        (big, first, count)
    }

    /// Whether [`FnCx::check_range`] of the same arguments would fault, computed without a
    /// branch: only in a function whose shadow reads are pure and clamped to the arena
    /// ([`FnCx::shadow_fixed`]), where reading the entry of an address outside it is
    /// harmless.
    pub(super) fn range_fails(&mut self, p: Value, n: Value, size: u64) -> Value {
        let (big, len) = self.range_len(n, size);
        let stripped = self.strip(p);
        let (rel, outside) = self.arena_offset(stripped);
        let word = self.shadow_word(rel);
        let past = self.past_end(word, p, len);
        let either = self.b.ins().bor(outside, past);
        self.b.ins().bor(big, either)
    }

    /// [`FnCx::range_fails`] for [`FnCx::check_affine_range`].
    pub(super) fn affine_range_fails(&mut self, p: Value, n: Value, a: &Affine) -> Value {
        let (big, first, count) = self.affine_span(p, n, a);
        let rest = self.range_fails(first, count, a.size.max(1));
        self.b.ins().bor(big, rest)
    }

    /// Faults unless `i * size` fits in an address (`|i| < 2^47 / size`), so that an index
    /// cannot wrap around to a valid offset.
    pub(super) fn check_index(&mut self, i: Value, size: u64, site: u32) {
        if size == 0 {
            return;
        }
        let bound = (shadow::PASS_BELOW / size) as i64;
        let shifted = self.b.ins().iadd_imm_s(i, bound - 1);
        let bad =
            self.b
                .ins()
                .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, shifted, 2 * bound - 1);
        self.index_fault_if(bad, i, size, site);
    }

    pub(super) fn index_fault_if(&mut self, bad: Value, i: Value, size: u64, site: u32) {
        self.cold_if(bad, |cx| {
            let ctx = cx.ctx;
            let sz = cx.b.ins().iconst(types::I64, size as i64);
            let s = cx.b.ins().iconst(types::I32, i64::from(site));
            let f = abi::zonal_index_fault as *const u8 as u64;
            let p = [types::I64, types::I64, types::I64, types::I32];
            cx.rt_call(f, &p, None, &[ctx, i, sz, s]);
        });
    }

    /// Faults unless `n` elements of `size` bytes from `p` lie inside `p`'s live allocation
    /// (`n > 0`): a bound on `n` so that `n * size` cannot wrap, then one shadow lookup and
    /// one compare for the whole range.
    pub(super) fn check_range(&mut self, p: Value, n: Value, size: u64, site: u32, write: bool) {
        let (big, len) = self.range_len(n, size);
        self.index_fault_if(big, n, size, site);
        let stripped = self.strip(p);
        self.check_shadow(p, stripped, len, site, write);
    }

    /// Faults unless the elements `c`, `c + k`, … `c + k·(n - 1)` of `a.size` bytes from
    /// `p` lie inside `p`'s live allocation (`n > 0`; see [`Affine`]): `n` bounded so
    /// that `k·(n - 1) + 1` elements cannot wrap, then [`FnCx::check_range`] of those
    /// from element `c`.
    pub(super) fn check_affine_range(
        &mut self,
        p: Value,
        n: Value,
        a: &Affine,
        site: u32,
        write: bool,
    ) {
        let size = a.size.max(1);
        let (big, first, count) = self.affine_span(p, n, a);
        self.index_fault_if(big, n, size, site);
        self.check_range(first, count, size, site, write);
    }

    /// At the top of a loop body, for the affine accesses checked before the loop (see
    /// [`FnCx::check_affine_range`]): each index `k·v + c` is computed once, its
    /// expressions in the body take that value (see [`FnCx::index`]), and the element
    /// addresses there are in range.
    pub(super) fn mark_affine_in_range(
        &mut self,
        v: usize,
        affine: &[Affine],
        site: u32,
    ) -> Result<()> {
        if affine.is_empty() {
            return Ok(());
        }
        let j = self
            .read_var(v, site)?
            .ok_or_else(|| internal("loop var"))?;
        for a in affine {
            let scaled = self.b.ins().imul_imm_s(j, a.k);
            let i = self.b.ins().iadd_imm_s(scaled, a.c);
            for &id in &a.exprs {
                self.index_values.push((id, i));
            }
            self.mark_elem_in_range(a.ptr, i, a.size, site)?;
        }
        Ok(())
    }

    /// Element `i` of `size` bytes of pointer variable `pv` is in range: its address's
    /// check is made (a range check before the loop covers it).
    fn mark_elem_in_range(&mut self, pv: usize, i: Value, size: u64, site: u32) -> Result<()> {
        let p = self
            .read_var(pv, site)?
            .ok_or_else(|| internal("void pointer"))?;
        let addr = self.elem_addr(p, i, size, None);
        let base = self.strip(p);
        let off = self.b.ins().imul_imm_s(i, size as i64);
        let stripped = self.b.ins().iadd(base, off);
        self.checked.push(Checked {
            addr,
            off: 0,
            size,
            epoch: self.epoch,
            stripped,
        });
        Ok(())
    }

    /// At the top of a loop body: the element addresses of the hoisted pointers at the
    /// counter `v` are in range (their whole ranges were checked before the loop).
    pub(super) fn mark_in_range(
        &mut self,
        v: usize,
        hoisted: &[(usize, u64)],
        site: u32,
    ) -> Result<()> {
        if hoisted.is_empty() {
            return Ok(());
        }
        let j = self
            .read_var(v, site)?
            .ok_or_else(|| internal("loop var"))?;
        for &(pv, size) in hoisted {
            self.mark_elem_in_range(pv, j, size, site)?;
        }
        Ok(())
    }

    /// True when running `body` may free memory (see [`FnCx::invalidate`]): it calls a
    /// closure, calls `free`, or ends a `memzone`.
    pub(super) fn may_free(&self, body: &[Expr]) -> bool {
        let typed = self.typed;
        any_in(body, &|e| match &e.kind {
            ExprKind::CallValue(..) | ExprKind::Memzone(..) => true,
            ExprKind::App(..) => {
                typed.builtin(e.id) == Some(Builtin::Free) || typed.refs.contains_key(&e.id)
            }
            _ => false,
        })
    }

    /// True when `body` itself frees memory: calls `free` or ends a `memzone` (rather than
    /// only calling code that may).
    pub(super) fn frees_itself(&self, body: &[Expr]) -> bool {
        let typed = self.typed;
        any_in(body, &|e| match &e.kind {
            ExprKind::Memzone(..) => true,
            ExprKind::App(..) => typed.builtin(e.id) == Some(Builtin::Free),
            _ => false,
        })
    }

    /// True when `body` calls nothing: no closure, named function or C function, and no
    /// `memzone` (whose end calls its cleanup closures). A call of such a function cannot
    /// recurse and ends soon (its loops poll the interrupt flag), so it needs no call
    /// depth, native stack or interrupt check at its entry.
    pub(super) fn calls_nothing(&self, body: &[Expr]) -> bool {
        let typed = self.typed;
        !any_in(body, &|e| match &e.kind {
            ExprKind::CallValue(..) | ExprKind::Memzone(..) => true,
            ExprKind::App(..) => {
                typed.refs.contains_key(&e.id) || typed.c_calls.contains_key(&e.id)
            }
            _ => false,
        })
    }

    /// True when `body` reads or sets no closure's variable by name (`clo.var`), which
    /// could be one of this closure's own.
    pub(super) fn names_no_closure_var(&self, body: &[Expr]) -> bool {
        !any_in(body, &|e| matches!(e.kind, ExprKind::EnvVar(_)))
    }

    /// True when `body` has a loop of its own.
    pub(super) fn loops(&self, body: &[Expr]) -> bool {
        any_in(body, &|e| {
            matches!(e.kind, ExprKind::Dotimes(..) | ExprKind::While(..))
        })
    }
}

/// True when `pred` holds for an expression of `body`, nested lambdas (functions of
/// their own) left out.
pub(super) fn any_in(body: &[Expr], pred: &dyn Fn(&Expr) -> bool) -> bool {
    fn any(e: &Expr, pred: &dyn Fn(&Expr) -> bool) -> bool {
        !matches!(e.kind, ExprKind::Lambda(_))
            && (pred(e) || e.children().into_iter().any(|c| any(c, pred)))
    }
    body.iter().any(|e| any(e, pred))
}

/// Loads the untagging mask ([`shadow::ADDR_MASK_WORD`]) in the function's entry block, so
/// that it dominates every use (an unused load is removed: it reads memory that never
/// changes).
pub(super) fn load_addr_mask(b: &mut cranelift_frontend::FunctionBuilder) -> Value {
    let word = std::ptr::addr_of!(shadow::ADDR_MASK_WORD) as i64;
    let word = b.ins().iconst(types::I64, word);
    b.ins()
        .load(types::I64, MemFlagsData::trusted().with_readonly(), word, 0)
}
