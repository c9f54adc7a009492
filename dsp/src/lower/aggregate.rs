//! Values held by value in memory of their own: SIMD vectors `/N,T/` (and the tuples and
//! arrays that share their representation).
//!
//! Such a value is lowered as the address of its bytes: a stack slot of the function for
//! temporaries and variables, zone memory for a variable a closure captures. Binding,
//! `set!`, passing as an argument and returning copy the bytes, so every variable owns its
//! value. This memory is the compiler's own (no user pointer reaches it except through
//! the checked `-ptr` forms, whose checks fault on it), so it is read and written without
//! checks (nor any assumption of alignment: a vector inside a tuple may be 8-aligned); copying from or to user memory (`pref`/`pset!` of a vector) is checked once
//! for the whole value.
//!
//! Vector arithmetic works lane by lane: `+ - * /` of floats and doubles in `F32X4` /
//! `F64X2` chunks, everything else (integer lanes, `%`, math) lane by lane with the
//! scalar code. A number where a vector is expected fills every lane; a pointer to a
//! vector in arithmetic stands for the vector it points to.

use super::{FnCx, clif, internal};
use crate::builtin::{Arith, Builtin, Math};
use crate::error::{DspError, DspErrorKind, Result};
use crate::runtime::FaultCode;
use crate::sexp::Span;
use crate::syntax::Expr;
use crate::types::Type;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Value, types,
};

/// By-value tuples, arrays and vectors larger than this are refused: they are copied
/// word by word, inline.
pub(super) const MAX_BY_VALUE: u64 = 4096;

/// The parts of a lane-wise vector operation ([`FnCx::vector_op`]).
struct VectorOp {
    n: u64,
    elem: Type,
    esize: u64,
    ops: Vec<Lanes>,
    out: Value,
    ety: types::Type,
}

/// One operand of a lane-wise operation.
#[derive(Clone, Copy)]
enum Lanes {
    /// The address (untagged) of a vector's lanes.
    Mem(Value),
    /// A number given to every lane.
    Splat(Value),
}

impl FnCx<'_, '_> {
    /// A fresh stack slot for a value of aggregate type `t`; its address.
    pub(super) fn agg_slot(&mut self, t: &Type, sp: Option<&Span>) -> Result<Value> {
        let size = t.size();
        if size > MAX_BY_VALUE {
            return Err(DspError::new(
                DspErrorKind::Type,
                format!(
                    "a {t} ({size} bytes) is too large to hold by value (at most {MAX_BY_VALUE}): use a pointer to it"
                ),
                sp,
            ));
        }
        let align = t.align().clamp(1, 16).trailing_zeros() as u8;
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            size.max(1) as u32,
            align,
        ));
        Ok(self.b.ins().stack_addr(types::I64, slot, 0))
    }

    /// Copies `size` bytes from `src` to `dst` (both untagged, not overlapping).
    pub(super) fn copy_bytes(&mut self, dst: Value, src: Value, size: u64) {
        let f = MemFlagsData::new();
        let mut off = 0u64;
        for (width, ty) in [
            (8, types::I64),
            (4, types::I32),
            (2, types::I16),
            (1, types::I8),
        ] {
            while off + width <= size {
                let x = self.b.ins().load(ty, f, src, off as i32);
                self.b.ins().store(f, x, dst, off as i32);
                off += width;
            }
        }
    }

    /// A copy, in a fresh slot, of the value of type `t` at user address `addr + off`
    /// (checked).
    pub(super) fn agg_from_user(
        &mut self,
        t: &Type,
        addr: Value,
        off: i32,
        site: u32,
        sp: Option<&Span>,
    ) -> Result<Value> {
        let size = t.size();
        let at = self.check(addr, off, size, site, false, false);
        let slot = self.agg_slot(t, sp)?;
        self.copy_bytes(slot, at, size);
        Ok(slot)
    }

    /// Stores the value `v` of aggregate type `t` at user address `addr + off` (checked).
    pub(super) fn agg_to_user(&mut self, v: Value, t: &Type, addr: Value, off: i32, site: u32) {
        let size = t.size();
        let at = self.check(addr, off, size, site, false, true);
        let src = self.strip(v);
        self.copy_bytes(at, src, size);
    }

    /// Loads a value of type `t` from user memory: a copy for an aggregate.
    pub(super) fn load_value(
        &mut self,
        t: &Type,
        addr: Value,
        off: i32,
        site: u32,
        sp: Option<&Span>,
    ) -> Result<Value> {
        if t.is_aggregate() {
            return self.agg_from_user(t, addr, off, site, sp);
        }
        let ty = clif(t, sp)?.ok_or_else(|| internal("void element"))?;
        self.load(ty, addr, off, t.size(), site)
    }

    /// Stores a value of type `t` to user memory: the bytes of an aggregate.
    pub(super) fn store_value(&mut self, v: Value, t: &Type, addr: Value, off: i32, site: u32) {
        if t.is_aggregate() {
            self.agg_to_user(v, t, addr, off, site);
        } else {
            self.store(v, addr, off, t.size(), site);
        }
    }

    /// A number literal where a vector `t` is expected: every lane holds it.
    pub(super) fn splat_literal(&mut self, x: Value, t: &Type, sp: Option<&Span>) -> Result<Value> {
        let Type::Vector(n, elem) = t else {
            return Err(internal("splat of a non-vector"));
        };
        let slot = self.agg_slot(t, sp)?;
        let size = elem.size();
        for i in 0..*n {
            self.b
                .ins()
                .store(MemFlagsData::new(), x, slot, (i * size) as i32);
        }
        Ok(slot)
    }

    /// `(vector a b ..)`, `(array ..)`, `(tuple ..)`: the elements stored in a fresh
    /// slot, or for the `_ref` forms in the zone (the result is then a pointer to it).
    pub(super) fn agg_lit(
        &mut self,
        args: &[Expr],
        t: &Type,
        by_ref: bool,
        site: u32,
        sp: Option<&Span>,
    ) -> Result<Value> {
        let vt = if by_ref { Self::pointee(t) } else { t.clone() };
        let (base, at) = if by_ref {
            let zalloc = crate::runtime::abi::zonal_zalloc as *const u8 as u64;
            let p = self.alloc_call(zalloc, None, vt.size().max(1), vt.align().max(8), site);
            (p, self.strip(p))
        } else {
            let s = self.agg_slot(&vt, sp)?;
            (s, s)
        };
        for (i, a) in args.iter().enumerate() {
            let (elem, off) = match &vt {
                Type::Vector(_, e) | Type::Array(_, e) => ((**e).clone(), i as u64 * e.size()),
                Type::Tuple(f) => (f[i].clone(), Type::field_offset(f, i)),
                _ => return Err(internal("literal of a non-aggregate")),
            };
            let x = self.value(a)?;
            self.trusted_store(x, &elem, at, off as i32);
        }
        Ok(base)
    }

    /// Stores `x` of type `t` at the compiler's own memory `at + off`.
    fn trusted_store(&mut self, x: Value, t: &Type, at: Value, off: i32) {
        if t.is_aggregate() {
            let to = self.b.ins().iadd_imm_s(at, i64::from(off));
            let from = self.strip(x);
            self.copy_bytes(to, from, t.size());
        } else {
            self.b.ins().store(MemFlagsData::new(), x, at, off);
        }
    }

    /// Loads a value of type `t` from the compiler's own memory `at + off` (a copy for an
    /// aggregate).
    fn trusted_load(&mut self, t: &Type, at: Value, off: i32, sp: Option<&Span>) -> Result<Value> {
        if t.is_aggregate() {
            let slot = self.agg_slot(t, sp)?;
            let from = self.b.ins().iadd_imm_s(at, i64::from(off));
            self.copy_bytes(slot, from, t.size());
            return Ok(slot);
        }
        let ty = clif(t, sp)?.ok_or_else(|| internal("void element"))?;
        Ok(self.b.ins().load(ty, MemFlagsData::new(), at, off))
    }

    /// `aref aref-ptr aset! afill! tref tref-ptr tset! tfill!` of an array or tuple
    /// value (a variable's, a global's or a temporary's own bytes): an array index
    /// outside `0..N` faults.
    pub(super) fn agg_access(
        &mut self,
        b: Builtin,
        args: &[Expr],
        site: u32,
        sp: Option<&Span>,
    ) -> Result<Option<Value>> {
        let whole = self.ty(&args[0]).clone();
        let v = self.value(&args[0])?;
        let base = self.strip(v);
        match (&whole, b) {
            (Type::Array(n, e), Builtin::Aref | Builtin::ArefPtr | Builtin::Aset) => {
                let i = self.index(&args[1])?;
                let out = self
                    .b
                    .ins()
                    .icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, i, *n as i64);
                self.fault_if(out, FaultCode::OutOfRange, site);
                let off = self.b.ins().imul_imm_s(i, e.size() as i64);
                let at = self.b.ins().iadd(base, off);
                Ok(Some(match b {
                    Builtin::ArefPtr => at,
                    Builtin::Aref => self.trusted_load(e, at, 0, sp)?,
                    _ => {
                        let x = self.value(&args[2])?;
                        self.trusted_store(x, e, at, 0);
                        x
                    }
                }))
            }
            (Type::Array(_, e), Builtin::Afill) => {
                for (k, a) in args[1..].iter().enumerate() {
                    let x = self.value(a)?;
                    self.trusted_store(x, e, base, (k as u64 * e.size()) as i32);
                }
                Ok(None)
            }
            (Type::Tuple(f), Builtin::Tfill) => {
                for (k, a) in args[1..].iter().enumerate() {
                    let x = self.value(a)?;
                    self.trusted_store(x, &f[k], base, Type::field_offset(f, k) as i32);
                }
                Ok(None)
            }
            (Type::Tuple(f), Builtin::Tref | Builtin::TrefPtr | Builtin::Tset) => {
                let crate::syntax::ExprKind::Int(k) = args[1].kind else {
                    return Err(internal("tuple index"));
                };
                let k = k as usize;
                let off = Type::field_offset(f, k) as i32;
                Ok(Some(match b {
                    Builtin::TrefPtr => self.b.ins().iadd_imm_s(base, i64::from(off)),
                    Builtin::Tref => self.trusted_load(&f[k], base, off, sp)?,
                    _ => {
                        let x = self.value(&args[2])?;
                        self.trusted_store(x, &f[k], base, off);
                        x
                    }
                }))
            }
            _ => Err(internal("access of an aggregate value")),
        }
    }

    /// The untagged address of the lanes of `e`, a vector value or a pointer to one
    /// (checked for `size` bytes).
    fn lanes_addr(&mut self, e: &Expr, size: u64, site: u32, write: bool) -> Result<Value> {
        let v = self.value(e)?;
        Ok(if matches!(self.ty(e), Type::Ptr(_)) {
            self.check(v, 0, size, site, false, write)
        } else {
            self.strip(v)
        })
    }

    fn operands(&mut self, args: &[Expr], size: u64, site: u32) -> Result<Vec<Lanes>> {
        let mut out = Vec::new();
        for a in args {
            if self.ty(a).vector_lanes().is_some() {
                out.push(Lanes::Mem(self.lanes_addr(a, size, site, false)?));
            } else {
                out.push(Lanes::Splat(self.value(a)?));
            }
        }
        Ok(out)
    }

    /// Lane `i` of an operand, of Cranelift type `ty`.
    fn lane(&mut self, x: Lanes, ty: types::Type, off: i32) -> Value {
        match x {
            Lanes::Mem(at) => self.b.ins().load(ty, MemFlagsData::new(), at, off),
            Lanes::Splat(v) if ty.is_vector() => self.b.ins().splat(ty, v),
            Lanes::Splat(v) => v,
        }
    }

    /// What a lane-wise operation of vector type `t` on `args` works with: the lanes'
    /// count, type and size, the operands and the fresh slot of the result.
    fn vector_op(
        &mut self,
        args: &[Expr],
        t: &Type,
        site: u32,
        sp: Option<&Span>,
    ) -> Result<VectorOp> {
        let Type::Vector(n, elem) = t else {
            return Err(internal("a lane-wise operation of a non-vector"));
        };
        let (n, elem) = (*n, (**elem).clone());
        let esize = elem.size();
        let ops = self.operands(args, n * esize, site)?;
        let out = self.agg_slot(t, sp)?;
        let ety = clif(&elem, sp)?.ok_or_else(|| internal("void lane"))?;
        Ok(VectorOp {
            n,
            elem,
            esize,
            ops,
            out,
            ety,
        })
    }

    /// `+ - * / %` of vectors (and numbers given to every lane), into a fresh slot.
    pub(super) fn vector_arith(
        &mut self,
        op: Arith,
        args: &[Expr],
        t: &Type,
        site: u32,
        sp: Option<&Span>,
    ) -> Result<Value> {
        let VectorOp {
            n,
            elem,
            esize,
            ops,
            out,
            ety,
        } = self.vector_op(args, t, site, sp)?;
        // whole 16-byte chunks of float lanes in SIMD, the rest lane by lane
        let chunk = match (&elem, op) {
            (Type::Float, Arith::Add | Arith::Sub | Arith::Mul | Arith::Div) => Some(types::F32X4),
            (Type::Double, Arith::Add | Arith::Sub | Arith::Mul | Arith::Div) => Some(types::F64X2),
            _ => None,
        };
        let per = chunk.map_or(1, |c| u64::from(c.lane_count()));
        let mut i = 0;
        while i < n {
            let (ty, k) = match chunk {
                Some(c) if i + per <= n => (c, per),
                _ => (ety, 1),
            };
            let off = (i * esize) as i32;
            let mut acc = self.lane(ops[0], ty, off);
            if ops.len() == 1 && op == Arith::Sub {
                acc = if elem.is_real() {
                    self.b.ins().fneg(acc)
                } else {
                    self.b.ins().ineg(acc)
                };
            }
            for x in &ops[1..] {
                let v = self.lane(*x, ty, off);
                acc = if ty.is_vector() {
                    match op {
                        Arith::Add => self.b.ins().fadd(acc, v),
                        Arith::Sub => self.b.ins().fsub(acc, v),
                        Arith::Mul => self.b.ins().fmul(acc, v),
                        _ => self.b.ins().fdiv(acc, v),
                    }
                } else {
                    self.arith(op, acc, v, &elem, site)
                };
            }
            self.b.ins().store(MemFlagsData::new(), acc, out, off);
            i += k;
        }
        Ok(out)
    }

    /// A math builtin of vectors, lane by lane, into a fresh slot.
    pub(super) fn vector_math(
        &mut self,
        m: Math,
        args: &[Expr],
        t: &Type,
        site: u32,
        sp: Option<&Span>,
    ) -> Result<Value> {
        let VectorOp {
            n,
            elem,
            esize,
            ops,
            out,
            ety,
        } = self.vector_op(args, t, site, sp)?;
        for i in 0..n {
            let off = (i * esize) as i32;
            let vals: Vec<Value> = ops.iter().map(|x| self.lane(*x, ety, off)).collect();
            let r = self.math_vals(m, &vals, &elem, sp)?;
            self.b.ins().store(MemFlagsData::new(), r, out, off);
        }
        Ok(out)
    }

    /// The address of lane `i` (an `i64`) of the vector `e` (or the one it points to);
    /// faults unless `0 <= i < N`.
    fn lane_addr(&mut self, e: &Expr, i: Value, site: u32, write: bool) -> Result<(Value, Type)> {
        let (n, elem) = self
            .ty(e)
            .vector_lanes()
            .map(|(n, x)| (n, x.clone()))
            .ok_or_else(|| internal("lane of a non-vector"))?;
        let at = self.lanes_addr(e, n * elem.size(), site, write)?;
        let out = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, i, n as i64);
        self.fault_if(out, FaultCode::OutOfRange, site);
        let off = self.b.ins().imul_imm_s(i, elem.size() as i64);
        Ok((self.b.ins().iadd(at, off), elem))
    }

    /// `(vref v i)`.
    pub(super) fn vref(&mut self, args: &[Expr], site: u32, sp: Option<&Span>) -> Result<Value> {
        let i = self.index(&args[1])?;
        let (at, elem) = self.lane_addr(&args[0], i, site, false)?;
        let ty = clif(&elem, sp)?.ok_or_else(|| internal("void lane"))?;
        Ok(self.b.ins().load(ty, MemFlagsData::new(), at, 0))
    }

    /// `(vset! v i x)`.
    pub(super) fn vset(&mut self, args: &[Expr], site: u32) -> Result<Value> {
        let i = self.index(&args[1])?;
        let x = self.value(&args[2])?;
        let (at, _) = self.lane_addr(&args[0], i, site, true)?;
        self.b.ins().store(MemFlagsData::new(), x, at, 0);
        Ok(x)
    }

    /// `(vfill! p a b ..)`.
    pub(super) fn vfill(&mut self, args: &[Expr], site: u32) -> Result<()> {
        let Some((n, elem)) = self.ty(&args[0]).vector_lanes() else {
            return Err(internal("vfill! of a non-vector"));
        };
        let (size, esize) = (n * elem.size(), elem.size());
        let at = self.lanes_addr(&args[0], size, site, true)?;
        for (i, a) in args[1..].iter().enumerate() {
            let x = self.value(a)?;
            self.b
                .ins()
                .store(MemFlagsData::new(), x, at, (i as u64 * esize) as i32);
        }
        Ok(())
    }

    /// A builtin of vectors: the vector forms, and arithmetic and math whose result is
    /// a vector (kept out of [`FnCx::app`] so that its frame stays small for deeply
    /// nested code).
    pub(super) fn vector_app(
        &mut self,
        b: Builtin,
        name: &str,
        args: &[Expr],
        t: &Type,
        site: u32,
        sp: Option<&Span>,
    ) -> Result<Option<Value>> {
        Ok(Some(match b {
            Builtin::Arith(op) => self.vector_arith(op, args, t, site, sp)?,
            Builtin::Math(m) => self.vector_math(m, args, t, site, sp)?,
            Builtin::Vector | Builtin::Array | Builtin::Tuple => {
                self.agg_lit(args, t, false, site, sp)?
            }
            Builtin::VectorRef | Builtin::ArrayRef | Builtin::TupleRef => {
                self.agg_lit(args, t, true, site, sp)?
            }
            Builtin::Vref => self.vref(args, site, sp)?,
            Builtin::Vset => self.vset(args, site)?,
            Builtin::Vfill => {
                self.vfill(args, site)?;
                return Ok(None);
            }
            _ => {
                return Err(DspError::new(
                    DspErrorKind::Type,
                    format!("{name}: comparisons of vectors are not supported (nor in Extempore)"),
                    sp,
                ));
            }
        }))
    }
}
