//! Lowering of the builtins: arithmetic, comparisons, conversions, bitwise operations,
//! memory access (`pref` `pset!` `tref` `aref`...), math, `printf`/`println`, `free`, and
//! calls resolved by inference (bind-funcs, closures in variables and globals).

use super::{FnCx, clif, internal, math_ir};
use crate::builtin::{Arith, Bitwise, Builtin, Compare, Math};
use crate::error::{DspError, DspErrorKind, Result};
use crate::infer::Ref;
use crate::runtime::abi;
use crate::runtime::{FaultCode, math};
use crate::sexp::Span;
use crate::syntax::{Expr, ExprKind};
use crate::types::Type;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Value, types,
};

impl FnCx<'_, '_> {
    fn convert(&mut self, v: Value, from: &Type, to: &Type) -> Value {
        let (ft, tt) = (
            clif(from, None).ok().flatten(),
            clif(to, None).ok().flatten(),
        );
        let (Some(ft), Some(tt)) = (ft, tt) else {
            return v;
        };
        if *to == Type::I1 && from.is_int() {
            let nz = self.b.ins().icmp_imm_s(IntCC::NotEqual, v, 0);
            return nz;
        }
        match (from.is_int(), to.is_int()) {
            (true, true) if ft == tt => v,
            (true, true) if ft.bits() < tt.bits() => {
                if *from == Type::I1 {
                    self.b.ins().uextend(tt, v)
                } else {
                    self.b.ins().sextend(tt, v)
                }
            }
            (true, true) => self.b.ins().ireduce(tt, v),
            // the x64 conversions take and give 32 or 64 bits: narrower ones go through i32
            (true, false) if ft.bits() < 32 => {
                let w = self.b.ins().sextend(types::I32, v);
                self.b.ins().fcvt_from_sint(tt, w)
            }
            (true, false) => self.b.ins().fcvt_from_sint(tt, v),
            // Cranelift converts a real to 32 or 64 bits only: to i8 through i32 (then
            // the low byte), to i1 as whether the whole part is not zero
            (false, true) if tt.bits() < 32 => {
                let w = self.b.ins().fcvt_to_sint_sat(types::I32, v);
                if *to == Type::I1 {
                    self.b.ins().icmp_imm_s(IntCC::NotEqual, w, 0)
                } else {
                    self.b.ins().ireduce(tt, w)
                }
            }
            (false, true) => self.b.ins().fcvt_to_sint_sat(tt, v),
            (false, false) if ft == tt => v,
            (false, false) if tt == types::F64 => self.b.ins().fpromote(tt, v),
            (false, false) => self.b.ins().fdemote(tt, v),
        }
    }

    pub(super) fn arith(&mut self, op: Arith, a: Value, x: Value, t: &Type, site: u32) -> Value {
        let real = t.is_real();
        match (op, real) {
            (Arith::Add, false) => self.b.ins().iadd(a, x),
            (Arith::Sub, false) => self.b.ins().isub(a, x),
            (Arith::Mul, false) => self.b.ins().imul(a, x),
            (Arith::Add, true) => self.b.ins().fadd(a, x),
            (Arith::Sub, true) => self.b.ins().fsub(a, x),
            (Arith::Mul, true) => self.b.ins().fmul(a, x),
            (Arith::Div, true) => match self.constant(x).and_then(exact_reciprocal) {
                // a power of two: multiplying by its reciprocal gives the quotient's bits
                Some(r) if *t == Type::Float => {
                    let r = self.b.ins().f32const(r as f32);
                    self.b.ins().fmul(a, r)
                }
                Some(r) => {
                    let r = self.b.ins().f64const(r);
                    self.b.ins().fmul(a, r)
                }
                None => self.b.ins().fdiv(a, x),
            },
            (_, true) => {
                let (f, ty) = if *t == Type::Float {
                    (math::zonal_fmodf as *const u8 as u64, types::F32)
                } else {
                    (math::zonal_fmod as *const u8 as u64, types::F64)
                };
                self.rt_call(f, &[ty, ty], Some(ty), &[a, x]).unwrap_or(a)
            }
            (_, false) if self.nonzero_constant(x) => {
                if op == Arith::Div {
                    self.b.ins().sdiv(a, x)
                } else {
                    self.b.ins().srem(a, x)
                }
            }
            (_, false) => {
                let ty = self.b.func.dfg.value_type(a);
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, x, 0);
                self.fault_if(zero, FaultCode::DivByZero, site);
                // MIN / -1 overflows (and traps in hardware): divide by 1 and negate instead.
                let minus1 = self.b.ins().icmp_imm_s(IntCC::Equal, x, -1);
                let one = self.b.ins().iconst(ty, 1);
                let safe = self.b.ins().select(minus1, one, x);
                if op == Arith::Div {
                    let q = self.b.ins().sdiv(a, safe);
                    let neg = self.b.ins().ineg(a);
                    self.b.ins().select(minus1, neg, q)
                } else {
                    let r = self.b.ins().srem(a, safe);
                    let z = self.b.ins().iconst(ty, 0);
                    self.b.ins().select(minus1, z, r)
                }
            }
        }
    }

    /// The value of `v` when it is a floating-point constant.
    fn constant(&self, v: Value) -> Option<f64> {
        let dfg = &self.b.func.dfg;
        match dfg.insts[dfg.value_def(v).inst()?] {
            cranelift_codegen::ir::InstructionData::UnaryIeee64 { imm, .. } => {
                Some(f64::from_bits(imm.bits()))
            }
            cranelift_codegen::ir::InstructionData::UnaryIeee32 { imm, .. } => {
                Some(f64::from(f32::from_bits(imm.bits())))
            }
            _ => None,
        }
    }

    /// True when `v` is a constant other than 0 and -1 (division by it cannot trap).
    fn nonzero_constant(&self, v: Value) -> bool {
        let dfg = &self.b.func.dfg;
        let Some(inst) = dfg.value_def(v).inst() else {
            return false;
        };
        match dfg.insts[inst] {
            cranelift_codegen::ir::InstructionData::UnaryImm { imm, .. } => {
                let c = imm.bits();
                c != 0 && c != -1
            }
            _ => false,
        }
    }

    fn compare(&mut self, op: Compare, a: Value, x: Value, t: &Type) -> Value {
        if t.is_real() {
            let cc = match op {
                Compare::Eq => FloatCC::Equal,
                Compare::Lt => FloatCC::LessThan,
                Compare::Gt => FloatCC::GreaterThan,
                Compare::Le => FloatCC::LessThanOrEqual,
                Compare::Ge => FloatCC::GreaterThanOrEqual,
                Compare::Ne => FloatCC::NotEqual,
            };
            self.b.ins().fcmp(cc, a, x)
        } else {
            let unsigned = t.is_pointer();
            let cc = match (op, unsigned) {
                (Compare::Eq, _) => IntCC::Equal,
                (Compare::Ne, _) => IntCC::NotEqual,
                (Compare::Lt, false) => IntCC::SignedLessThan,
                (Compare::Gt, false) => IntCC::SignedGreaterThan,
                (Compare::Le, false) => IntCC::SignedLessThanOrEqual,
                (Compare::Ge, false) => IntCC::SignedGreaterThanOrEqual,
                (Compare::Lt, true) => IntCC::UnsignedLessThan,
                (Compare::Gt, true) => IntCC::UnsignedGreaterThan,
                (Compare::Le, true) => IntCC::UnsignedLessThanOrEqual,
                (Compare::Ge, true) => IntCC::UnsignedGreaterThanOrEqual,
            };
            self.b.ins().icmp(cc, a, x)
        }
    }

    /// The address of element `i` of `size` bytes from `p`; with a `site`, faults there
    /// when `i * size` does not fit in an address (see [`FnCx::check_index`]).
    pub(super) fn elem_addr(&mut self, p: Value, i: Value, size: u64, site: Option<u32>) -> Value {
        // A variable read after a join is a fresh alias of the value that reaches it
        // (Cranelift's SSA construction): compare what the aliases stand for.
        let dfg = &self.b.func.dfg;
        let (p, i) = (dfg.resolve_aliases(p), dfg.resolve_aliases(i));
        if let Some((_, a)) = self.addrs.iter().find(|(k, _)| *k == (p, i, size)) {
            return *a;
        }
        if let Some(site) = site
            && self.consts.checks
        {
            self.check_index(i, size, site);
        }
        let off = self.b.ins().imul_imm_s(i, size as i64);
        let a = self.b.ins().iadd(p, off);
        self.addrs.push(((p, i, size), a));
        a
    }

    pub(super) fn pointee(t: &Type) -> Type {
        match t {
            Type::Ptr(x) => (**x).clone(),
            _ => Type::Void,
        }
    }

    pub(super) fn app(
        &mut self,
        e: &Expr,
        name: &str,
        args: &[Expr],
        t: &Type,
    ) -> Result<Option<Value>> {
        let sp = e.span.as_ref();
        if let Some(c) = self.typed.c_calls.get(&e.id) {
            return self.c_call(&c.clone(), args, sp);
        }
        let site = self.linker.site(name, sp);
        if let Some(r) = self.typed.refs.get(&e.id).cloned() {
            let params: Vec<Type> = args.iter().map(|a| self.ty(a).clone()).collect();
            let ft = Type::Closure(Box::new(t.clone()), params);
            let (clo, code) = match r {
                Ref::Local(v) => {
                    let clo = self
                        .read_var(v, site)?
                        .ok_or_else(|| internal("void closure"))?;
                    (clo, FaultCode::BadClosure)
                }
                Ref::Global(g) => {
                    let a = self.global_addr(&g, sp)?;
                    (
                        self.b.ins().load(types::I64, MemFlagsData::trusted(), a, 0),
                        FaultCode::BadClosure,
                    )
                }
                Ref::Func(f) => (self.slot_closure(&f, sp)?, FaultCode::StaleCall),
            };
            let vals = self.call_args(args)?;
            return self.call_closure(clo, &ft, vals, code, site);
        }
        let at = |i: usize| -> Type {
            args.get(i)
                .map(|a| self.typed.types[a.id].clone())
                .unwrap_or(Type::Void)
        };
        let b = self
            .typed
            .builtin(e.id)
            .ok_or_else(|| internal("unresolved call"))?;
        Ok(Some(match b {
            Builtin::Vector
            | Builtin::VectorRef
            | Builtin::Vref
            | Builtin::Vset
            | Builtin::Vfill
            | Builtin::Array
            | Builtin::ArrayRef
            | Builtin::Tuple
            | Builtin::TupleRef => {
                return self.vector_app(b, name, args, t, site, sp);
            }
            Builtin::Aref
            | Builtin::ArefPtr
            | Builtin::Aset
            | Builtin::Afill
            | Builtin::Tref
            | Builtin::TrefPtr
            | Builtin::Tset
            | Builtin::Tfill
                if at(0).is_aggregate() =>
            {
                return self.agg_access(b, args, site, sp);
            }
            Builtin::Arith(_) | Builtin::Math(_) if matches!(t, Type::Vector(..)) => {
                return self.vector_app(b, name, args, t, site, sp);
            }
            Builtin::Compare(_) if args.iter().any(|a| matches!(self.ty(a), Type::Vector(..))) => {
                return self.vector_app(b, name, args, t, site, sp);
            }
            Builtin::Arith(op) => {
                let mut acc = self.value(&args[0])?;
                if args.len() == 1 && op == Arith::Sub {
                    return Ok(Some(if t.is_real() {
                        self.b.ins().fneg(acc)
                    } else {
                        self.b.ins().ineg(acc)
                    }));
                }
                for a in &args[1..] {
                    let x = self.value(a)?;
                    acc = self.arith(op, acc, x, t, site);
                }
                acc
            }
            Builtin::Compare(op) => {
                let a = self.value(&args[0])?;
                let x = self.value(&args[1])?;
                self.compare(op, a, x, &at(0))
            }
            Builtin::Not => {
                let a = self.value(&args[0])?;
                self.b.ins().icmp_imm_s(IntCC::Equal, a, 0)
            }
            Builtin::BitNot => {
                let a = self.value(&args[0])?;
                self.b.ins().bnot(a)
            }
            Builtin::Bitwise(op) => {
                let mut acc = self.value(&args[0])?;
                for a in &args[1..] {
                    let x = self.value(a)?;
                    acc = match op {
                        Bitwise::And => self.b.ins().band(acc, x),
                        Bitwise::Or => self.b.ins().bor(acc, x),
                        Bitwise::Xor => self.b.ins().bxor(acc, x),
                        Bitwise::Shl => self.b.ins().ishl(acc, x),
                        Bitwise::Shr => self.b.ins().ushr(acc, x),
                    };
                }
                acc
            }
            Builtin::Pref
                if self
                    .fast_elem(args)
                    .and_then(|p| self.known_elem(p))
                    .is_some() =>
            {
                self.fast_elem(args)
                    .and_then(|p| self.known_elem(p))
                    .ok_or_else(|| internal("known element"))?
            }
            Builtin::Pref | Builtin::PrefPtr | Builtin::Aref | Builtin::ArefPtr => {
                let fast = if b == Builtin::Pref {
                    self.fast_elem(args)
                } else {
                    None
                };
                let p = self.value(&args[0])?;
                let i = self.index(&args[1])?;
                let mut elem = Self::pointee(&at(0));
                if matches!(b, Builtin::Aref | Builtin::ArefPtr)
                    && let Type::Array(_, x) = elem
                {
                    elem = *x;
                }
                let addr = self.elem_addr(p, i, elem.size(), Some(site));
                if matches!(b, Builtin::PrefPtr | Builtin::ArefPtr) {
                    addr
                } else {
                    let x = self.load_value(&elem, addr, 0, site, sp)?;
                    if let Some(pv) = fast {
                        self.remember_elem(pv, x);
                    }
                    x
                }
            }
            Builtin::Pset | Builtin::Aset => {
                let fast = if b == Builtin::Pset {
                    self.fast_elem(args)
                } else {
                    None
                };
                let p = self.value(&args[0])?;
                let i = self.index(&args[1])?;
                let v = self.value(&args[2])?;
                let mut elem = Self::pointee(&at(0));
                if b == Builtin::Aset
                    && let Type::Array(_, x) = elem
                {
                    elem = *x;
                }
                let addr = self.elem_addr(p, i, elem.size(), Some(site));
                self.store_value(v, &elem, addr, 0, site);
                if let Some(pv) = fast {
                    self.remember_elem(pv, v);
                }
                v
            }
            Builtin::Afill => {
                let p = self.value(&args[0])?;
                let elem = match Self::pointee(&at(0)) {
                    Type::Array(_, x) => *x,
                    other => other,
                };
                for (k, a) in args[1..].iter().enumerate() {
                    let v = self.value(a)?;
                    let off = (k as u64 * elem.size()) as i32;
                    self.store_value(v, &elem, p, off, site);
                }
                return Ok(None);
            }
            Builtin::Tref | Builtin::TrefPtr | Builtin::Tset | Builtin::Tfill => {
                let p = self.value(&args[0])?;
                let Type::Tuple(fields) = Self::pointee(&at(0)) else {
                    return Err(internal("tuple type"));
                };
                if b == Builtin::Tfill {
                    for (k, a) in args[1..].iter().enumerate() {
                        let v = self.value(a)?;
                        let off = Type::field_offset(&fields, k) as i32;
                        self.store_value(v, &fields[k], p, off, site);
                    }
                    return Ok(None);
                }
                let ExprKind::Int(k) = args[1].kind else {
                    return Err(internal("tuple index"));
                };
                let k = k as usize;
                let off = Type::field_offset(&fields, k) as i32;
                match b {
                    Builtin::TrefPtr => self.b.ins().iadd_imm_s(p, i64::from(off)),
                    Builtin::Tset => {
                        let v = self.value(&args[2])?;
                        self.store_value(v, &fields[k], p, off, site);
                        v
                    }
                    _ => self.load_value(&fields[k], p, off, site, sp)?,
                }
            }
            Builtin::Printf | Builtin::Println | Builtin::Print => {
                return self.print(b, args, site);
            }
            Builtin::Free => {
                let p = self.value(&args[0])?;
                let s = self.b.ins().iconst(types::I32, i64::from(site));
                let ctx = self.ctx;
                self.rt_call(
                    abi::zonal_free as *const u8 as u64,
                    &[types::I64, types::I64, types::I32],
                    None,
                    &[ctx, p, s],
                );
                self.invalidate();
                self.check_fault();
                return Ok(None);
            }
            Builtin::Callback => {
                self.callback(args, site)?;
                return Ok(None);
            }
            Builtin::Cast => {
                let from = self.ty(&args[0]).clone();
                let v = self.value(&args[0])?;
                let pointer = |t: &Type| matches!(t, Type::Ptr(_) | Type::Closure(..));
                let word = |t: &Type| pointer(t) || *t == Type::I64;
                if from == *t || (word(&from) && word(t)) {
                    v
                } else if (from.is_int() || from.is_real()) && (t.is_int() || t.is_real()) {
                    self.convert(v, &from, t)
                } else {
                    return Err(DspError::new(
                        DspErrorKind::Type,
                        format!("convert cannot make a {t} of a {from}"),
                        sp,
                    ));
                }
            }
            Builtin::Now => {
                let ctx = self.ctx;
                self.b
                    .ins()
                    .load(types::I64, MemFlagsData::trusted(), ctx, abi::CTX_NOW)
            }
            Builtin::NextEventTime => {
                let ctx = self.ctx;
                let now = self
                    .b
                    .ins()
                    .load(types::I64, MemFlagsData::trusted(), ctx, abi::CTX_NOW);
                let until =
                    self.b
                        .ins()
                        .load(types::I64, MemFlagsData::trusted(), ctx, abi::CTX_SPAN_END);
                self.b.ins().smax(now, until)
            }
            Builtin::ZoneCleanup => {
                let f = self.value(&args[0])?;
                let s = self.b.ins().iconst(types::I32, i64::from(site));
                let ctx = self.ctx;
                self.rt_call(
                    abi::zonal_zone_cleanup as *const u8 as u64,
                    &[types::I64, types::I64, types::I32],
                    None,
                    &[ctx, f, s],
                );
                self.check_fault();
                return Ok(None);
            }
            Builtin::Convert(from, to) => {
                let v = self.value(&args[0])?;
                self.convert(v, &from.ty(), &to.ty())
            }
            Builtin::Math(m) => self.math(m, args, t, sp)?,
        }))
    }

    fn math(&mut self, m: Math, args: &[Expr], t: &Type, sp: Option<&Span>) -> Result<Value> {
        let vals = args
            .iter()
            .map(|a| self.value(a))
            .collect::<Result<Vec<_>>>()?;
        if let Some(r) = self.lane_math(m, &vals, t)? {
            return Ok(r);
        }
        self.math_vals(m, &vals, t, sp)
    }

    /// `m` of the values `vals`, of type `t` (`float` or `double`).
    pub(super) fn math_vals(
        &mut self,
        m: Math,
        vals: &[Value],
        t: &Type,
        sp: Option<&Span>,
    ) -> Result<Value> {
        Ok(match m {
            Math::Sqrt => self.b.ins().sqrt(vals[0]),
            Math::Fabs => self.b.ins().fabs(vals[0]),
            Math::Floor => self.b.ins().floor(vals[0]),
            Math::Ceil => self.b.ins().ceil(vals[0]),
            Math::Trunc => self.b.ins().trunc(vals[0]),
            Math::Fmin => self.b.ins().fmin(vals[0], vals[1]),
            Math::Fmax => self.b.ins().fmax(vals[0], vals[1]),
            _ if math_ir::inline(m) => self.inline_math(m, vals, t)?,
            _ => {
                let name = m.name();
                let sym = if *t == Type::Float {
                    format!("zonal_{name}f")
                } else {
                    format!("zonal_{name}")
                };
                let Some(addr) = math::symbols()
                    .into_iter()
                    .find(|(n, _)| *n == sym)
                    .map(|(_, p)| p as u64)
                else {
                    return Err(DspError::new(
                        DspErrorKind::Unbound,
                        format!("{name} is not defined"),
                        sp,
                    ));
                };
                let ty = if *t == Type::Float {
                    types::F32
                } else {
                    types::F64
                };
                let params = vec![ty; m.arity()];
                self.rt_call(addr, &params, Some(ty), vals)
                    .ok_or_else(|| internal("math call"))?
            }
        })
    }

    /// `name` compiled inline (see [`math_ir`]); a float is computed in double.
    fn inline_math(&mut self, m: Math, vals: &[Value], t: &Type) -> Result<Value> {
        let float = *t == Type::Float;
        let args: Vec<Value> = vals
            .iter()
            .map(|&v| {
                if float {
                    self.b.ins().fpromote(types::F64, v)
                } else {
                    v
                }
            })
            .collect();
        let (cc, fma) = (self.consts.call_conv, self.consts.fma);
        let r = math_ir::MathEmitter::new(&mut self.b, types::F64, cc, fma)
            .call(m, &args)
            .ok_or_else(|| internal("inline math"))?;
        Ok(if float {
            self.b.ins().fdemote(types::F32, r)
        } else {
            r
        })
    }

    /// The word and kind the runtime prints a value `v` of type `t` from.
    fn print_word(&mut self, v: Value, t: &Type) -> (Value, u8) {
        match t {
            Type::Float => {
                let d = self.b.ins().fpromote(types::F64, v);
                (
                    self.b.ins().bitcast(types::I64, MemFlagsData::new(), d),
                    abi::KIND_F64,
                )
            }
            Type::Double => (
                self.b.ins().bitcast(types::I64, MemFlagsData::new(), v),
                abi::KIND_F64,
            ),
            Type::Ptr(x) if **x == Type::I8 => (v, abi::KIND_STR),
            Type::Ptr(_) | Type::Closure(..) => (v, abi::KIND_PTR),
            Type::I1 => (self.b.ins().uextend(types::I64, v), abi::KIND_I1),
            Type::I32 => (self.b.ins().sextend(types::I64, v), abi::KIND_I32),
            Type::I8 | Type::I16 => (self.b.ins().sextend(types::I64, v), abi::KIND_I32),
            _ => (v, abi::KIND_I64),
        }
    }

    fn print(&mut self, b: Builtin, args: &[Expr], site: u32) -> Result<Option<Value>> {
        let (fmt, rest) = if b == Builtin::Printf {
            (Some(self.value(&args[0])?), &args[1..])
        } else {
            (None, args)
        };
        // each argument's word and kind; a vector gives one per lane
        let mut items = Vec::new();
        for a in rest {
            let t = self.ty(a).clone();
            let Some(v) = self.expr(a)? else {
                let z = self.b.ins().iconst(types::I64, 0);
                items.push((z, abi::KIND_I64));
                continue;
            };
            if let Type::Vector(n, elem) = &t {
                let ty = clif(elem, None)?.ok_or_else(|| internal("void lane"))?;
                let at = self.strip(v);
                for i in 0..*n {
                    let off = (i * elem.size()) as i32;
                    let x = self.b.ins().load(ty, MemFlagsData::trusted(), at, off);
                    items.push(self.print_word(x, elem));
                }
            } else {
                items.push(self.print_word(v, &t));
            }
        }
        let n = items.len();
        let words = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (8 * n.max(1)) as u32,
            3,
        ));
        let kinds = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            n.max(1) as u32,
            0,
        ));
        for (i, (bits, kind)) in items.into_iter().enumerate() {
            let k = self.b.ins().iconst(types::I8, i64::from(kind));
            self.b
                .ins()
                .stack_store(types::I64, bits, words, 8 * i as i32);
            self.b.ins().stack_store(types::I64, k, kinds, i as i32);
        }
        let wa = self.b.ins().stack_addr(types::I64, words, 0);
        let ka = self.b.ins().stack_addr(types::I64, kinds, 0);
        let nv = self.b.ins().iconst(types::I32, n as i64);
        let ctx = self.ctx;
        if let Some(fmt) = fmt {
            let s = self.b.ins().iconst(types::I32, i64::from(site));
            let p = [
                types::I64,
                types::I64,
                types::I64,
                types::I64,
                types::I32,
                types::I32,
            ];
            let r = self.rt_call(
                abi::zonal_printf as *const u8 as u64,
                &p,
                Some(types::I32),
                &[ctx, fmt, wa, ka, nv, s],
            );
            self.check_fault();
            Ok(r)
        } else {
            let p = [types::I64, types::I64, types::I64, types::I32];
            let f = if b == Builtin::Print {
                abi::zonal_print as *const u8 as u64
            } else {
                abi::zonal_println as *const u8 as u64
            };
            self.rt_call(f, &p, None, &[ctx, wa, ka, nv]);
            self.check_fault();
            Ok(None)
        }
    }
}

/// `1 / c` when `c` is a power of two (either sign) whose reciprocal is a normal number,
/// in floats too: then `x / c` and `x * (1 / c)` are the same real number, rounded the
/// same way, whatever `x` is. `None` otherwise.
pub(super) fn exact_reciprocal(c: f64) -> Option<f64> {
    let bits = c.to_bits();
    let exponent = (bits >> 52) & 0x7ff;
    let power = bits & ((1 << 52) - 1) == 0 && (1..=2045).contains(&exponent);
    // (a float's reciprocal must be a normal float as well: 2^-126 ..= 2^127)
    let r = 1.0 / c;
    let float_ok = (f64::from(f32::MIN_POSITIVE)..=2f64.powi(127)).contains(&r.abs());
    (power && float_ok).then_some(r)
}
