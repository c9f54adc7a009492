//! Inline math: `sin` `cos` `tan` `exp` `log` `pow` `tanh` and `fmod` as Cranelift IR,
//! argument reduction plus a minimax polynomial, with no call on any argument a patch
//! meets (see [`Libm`] for the few that go out of line).
//!
//! [`MathEmitter`] emits for one value type: `F64`, or `F64X2` for a loop in SIMD (see
//! `lower/simd.rs`; such a loop's `sin`, `cos` and fast variants usually go to the wide
//! kernels of `runtime/wide_math.rs` instead, the same operations in Rust, which also hold
//! the constants shared with this module). Floats are computed in double and rounded once at the end, so a float
//! result is the double result rounded (within one float ulp of the C library).
//!
//! - `sin` `cos`: m = the even (sin) or odd (cos) integer nearest x · 2/π, found by
//!   adding 1.5 · 2^53 (whose last bit then holds m/2's parity, the sign), and
//!   r = x − mπ/2 as a double-double (hi, lo), |r| ≤ π/2. With fused multiply-adds,
//!   x − m·(π/2 rounded) is exact and π/2's rest is one more constant, so hi and lo are
//!   four operations from m; without them, π/2 is split Cody–Waite style in parts of 33,
//!   33 and 53 bits. That path serves where |hi| ≥ 2^-30 |x| and |x| < 2^30 (2^18
//!   without fused multiply-adds); nearer a multiple of π/2 the reduction is redone in
//!   seven parts of 23 bits whose products are exact, subtracted with error-free sums,
//!   which keeps r exact to about 2^-160 · m. Then one odd polynomial, sin r = r − r³/6 +
//!   r⁵ P(r²) (P minimax on [-π/2, π/2], 2^-57), with hi − hi³/6 kept exact by
//!   error-free products and sum, so the result is within one ulp; the sign comes from
//!   m's parity (and, for sin(−0), from r).
//! - `tan`: k = round(x · 2/π), the same reduction by kπ/2 to |r| ≤ π/4, and the quotient
//!   of sin and cos polynomials there (minimax, relative error 2^-58 and 2^-64).
//! - `exp`: k = round(x / ln 2), r = x − k ln 2 in two parts, e^r = 1 + r + r² P(r)
//!   (degree 10, error 2^-62), then 2^k put in the exponent bits.
//! - `log`: x = 2^e m with m in [√½, √2), s = (m − 1)/(m + 1), log m = f − s (f − R(s²))
//!   (degree 6, 2^-59), plus e ln 2 in two parts.
//! - `pow`: e^(y log x), log x as a double-double to about 2^-63 (2 atanh s with s and
//!   ⅔ s³ in two parts each, the rest of the Taylor series in doubles), y log x as an
//!   exact product plus the rest, then `exp`'s core from both parts: within one ulp.
//!   x ≤ 0 (its answer depends on y being an integer), zeros, infinities, NaN, subnormal
//!   x and results beyond `exp`'s inline range go to the C library.
//! - `tanh`: x + x³ P(x²) (degree 10, 2^-60) below 0.55, else 1 − 2 / (e^{2|x|} + 1)
//!   with the sign restored; ±1 from |x| > 20.
//! - `fmod`: exact, as C's: q = trunc(|x| / |y|), |x| − q|y| with q|y| formed exactly
//!   (by one fused multiply-add, else Dekker's product, for |y| below 2^995), corrected
//!   once when the quotient rounded up.
//!
//! Fast variants (`sin_fast`, `cos_fast`) are separate names: the same half periods with
//! π/2 in two parts and a shorter polynomial (r + r³ P(r²), degree 4 in r²), error below
//! 1e-10 for |x| < 2^18 (2.4e-11 measured), no branch.

use crate::builtin::Math;
use crate::runtime::math as rt;
pub use crate::runtime::wide_math::SIN_LIMIT;
use crate::runtime::wide_math::{
    COS, EXP, EXP_LIMIT, LN2_HI, LN2_LO, LOG, LOG_TAIL, NEAR_MULTIPLE, PIO2_23, PIO2_33, PIO2_HI,
    PIO2_MID, PIO2_TAIL, ROUND, ROUND_EVEN, SIN, SIN_C0, SIN_FAST, SIN_HALF, TANH, TANH_SMALL,
    TANH_TINY, TWO_OVER_PI, TWO_THIRDS,
};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{
    AbiParam, Block, BlockArg, ConstantData, Endianness, InstBuilder, MemFlagsData, Signature,
    StackSlotData, StackSlotKind, Type, Value, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;

/// Below this |x| the three-part reduction serves (without fused multiply-adds).
const FAST_SIN_LIMIT: f64 = 262_144.0;
/// 2^995: below it, Dekker's splitting (a · [`SPLIT`]) does not overflow.
const DEKKER_LIMIT: f64 = f64::from_bits(0x7E20_0000_0000_0000);
/// 2^27 + 1: Dekker's splitting constant.
const SPLIT: f64 = 134_217_729.0;

/// The C-library function a rare argument goes to, out of line: `sin` and `cos` from
/// 2^30 up and for non-finite x, `exp` beyond ±708 (results that overflow or are
/// subnormal), `log` of zero, negatives, subnormals and non-finite x, `fmod` when y is 0
/// or x / y ≥ 2^52 or either is not finite (or, without fused multiply-adds,
/// |y| ≥ 2^995).
#[derive(Clone, Copy)]
pub enum Libm {
    Sin,
    Cos,
    Tan,
    Exp,
    Log,
    Fmod,
    Pow,
}

impl Libm {
    /// The trampoline to this function that keeps every register (see
    /// [`crate::runtime::math_keep`]).
    #[cfg(target_arch = "x86_64")]
    fn keep_addr(self) -> u64 {
        use crate::runtime::math_keep as k;
        let f = match self {
            Libm::Sin => k::zonal_sin_keep as *const u8,
            Libm::Cos => k::zonal_cos_keep as *const u8,
            Libm::Tan => k::zonal_tan_keep as *const u8,
            Libm::Exp => k::zonal_exp_keep as *const u8,
            Libm::Log => k::zonal_log_keep as *const u8,
            Libm::Fmod => k::zonal_fmod_keep as *const u8,
            Libm::Pow => k::zonal_pow_keep as *const u8,
        };
        f as u64
    }

    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    fn addr(self) -> u64 {
        let f = match self {
            Libm::Sin => rt::zonal_sin as *const u8,
            Libm::Cos => rt::zonal_cos as *const u8,
            Libm::Tan => rt::zonal_tan as *const u8,
            Libm::Exp => rt::zonal_exp as *const u8,
            Libm::Log => rt::zonal_log as *const u8,
            Libm::Fmod => rt::zonal_fmod as *const u8,
            Libm::Pow => rt::zonal_pow as *const u8,
        };
        f as u64
    }
}

/// True for the math builtins this module compiles inline (for doubles and floats).
pub fn inline(m: Math) -> bool {
    matches!(
        m,
        Math::Sin
            | Math::Cos
            | Math::Tan
            | Math::Exp
            | Math::Log
            | Math::Tanh
            | Math::Fmod
            | Math::Pow
            | Math::SinFast
            | Math::CosFast
    )
}

/// Emits inline math for `F64` or `F64X2` values into a function being built.
pub struct MathEmitter<'x, 'b> {
    b: &'x mut FunctionBuilder<'b>,
    ty: Type,
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    cc: CallConv,
    /// The target multiplies and adds in one rounding (`fma`): polynomials and the
    /// reduction's products use it.
    fma: bool,
}

/// A double-double: `hi + lo`, |lo| ≤ ulp(hi).
#[derive(Clone, Copy)]
struct Dd {
    hi: Value,
    lo: Value,
}

impl<'x, 'b> MathEmitter<'x, 'b> {
    /// An emitter for values of type `ty` (`F64` or `F64X2`), with fused multiply-adds
    /// where `fma` says the target has them.
    pub fn new(b: &'x mut FunctionBuilder<'b>, ty: Type, cc: CallConv, fma: bool) -> Self {
        debug_assert!(ty == types::F64 || ty == types::F64X2);
        MathEmitter { b, ty, cc, fma }
    }

    /// `m` applied to `args` (of the emitter's type), or `None` if `m` is not compiled
    /// [`inline`].
    pub fn call(&mut self, m: Math, args: &[Value]) -> Option<Value> {
        Some(match (m, args) {
            (Math::Sin, [x]) => self.sin_cos(*x, false),
            (Math::Cos, [x]) => self.sin_cos(*x, true),
            (Math::Tan, [x]) => self.tan(*x),
            (Math::Exp, [x]) => self.exp(*x),
            (Math::Log, [x]) => self.log(*x),
            (Math::Tanh, [x]) => self.tanh(*x),
            (Math::Fmod, [x, y]) => self.fmod(*x, *y),
            (Math::Pow, [x, y]) => self.pow(*x, *y),
            (Math::SinFast, [x]) => self.sin_cos_fast(*x, false),
            (Math::CosFast, [x]) => self.sin_cos_fast(*x, true),
            _ => return None,
        })
    }

    fn vector(&self) -> bool {
        self.ty.is_vector()
    }

    fn ity(&self) -> Type {
        if self.vector() {
            types::I64X2
        } else {
            types::I64
        }
    }

    fn flags(&self) -> MemFlagsData {
        if self.vector() {
            MemFlagsData::new().with_endianness(Endianness::Little)
        } else {
            MemFlagsData::new()
        }
    }

    /// The constant `c` (in every lane: a vector constant, loaded from the constant pool).
    fn k(&mut self, c: f64) -> Value {
        if self.vector() {
            self.lanes(c.to_bits(), self.ty)
        } else {
            self.b.ins().f64const(c)
        }
    }

    fn ik(&mut self, c: i64) -> Value {
        if self.vector() {
            self.lanes(c as u64, types::I64X2)
        } else {
            self.b.ins().iconst(types::I64, c)
        }
    }

    fn lanes(&mut self, bits: u64, ty: Type) -> Value {
        let bytes: Vec<u8> = [bits.to_le_bytes(), bits.to_le_bytes()].concat();
        let h = self.b.func.dfg.constants.insert(ConstantData::from(bytes));
        self.b.ins().vconst(ty, h)
    }

    fn bits(&mut self, v: Value) -> Value {
        let (t, f) = (self.ity(), self.flags());
        self.b.ins().bitcast(t, f, v)
    }

    fn float(&mut self, v: Value) -> Value {
        let (t, f) = (self.ty, self.flags());
        self.b.ins().bitcast(t, f, v)
    }

    fn add(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fadd(a, b)
    }

    fn sub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fsub(a, b)
    }

    fn mul(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmul(a, b)
    }

    fn mulk(&mut self, a: Value, c: f64) -> Value {
        let c = self.k(c);
        self.b.ins().fmul(a, c)
    }

    /// a · b + c: fused (one rounding) where the target has `fma`, else a product and a
    /// sum.
    fn madd(&mut self, a: Value, b: Value, c: Value) -> Value {
        if self.fma {
            self.b.ins().fma(a, b, c)
        } else {
            let p = self.b.ins().fmul(a, b);
            self.b.ins().fadd(p, c)
        }
    }

    /// a + k for a constant k.
    fn addk(&mut self, a: Value, c: f64) -> Value {
        let c = self.k(c);
        self.b.ins().fadd(a, c)
    }

    /// a · k + c for a constant k.
    fn maddk(&mut self, a: Value, k: f64, c: Value) -> Value {
        let k = self.k(k);
        self.madd(a, k, c)
    }

    /// |m| with the sign of `s`.
    fn copysign(&mut self, m: Value, s: Value) -> Value {
        let mb = self.bits(m);
        let sb = self.bits(s);
        let sign = self.ik(i64::MIN);
        let sb = self.b.ins().band(sb, sign);
        let mb = self.b.ins().bor(mb, sb);
        self.float(mb)
    }

    /// A condition: `I8` for a scalar, a lane mask for a vector.
    fn fcmp(&mut self, cc: FloatCC, a: Value, b: Value) -> Value {
        self.b.ins().fcmp(cc, a, b)
    }

    fn fcmpk(&mut self, cc: FloatCC, a: Value, c: f64) -> Value {
        let c = self.k(c);
        self.fcmp(cc, a, c)
    }

    /// `a` where `cond` holds, else `b`.
    fn choose(&mut self, cond: Value, a: Value, b: Value) -> Value {
        if self.vector() {
            let ty = self.b.func.dfg.value_type(a);
            let m = if self.b.func.dfg.value_type(cond) == ty {
                cond
            } else {
                let f = self.flags();
                self.b.ins().bitcast(ty, f, cond)
            };
            self.b.ins().bitselect(m, a, b)
        } else {
            self.b.ins().select(cond, a, b)
        }
    }

    /// True (as an `I8`) when `cond` holds in some lane.
    fn any(&mut self, cond: Value) -> Value {
        if self.vector() {
            self.b.ins().vany_true(cond)
        } else {
            cond
        }
    }

    /// True (as an `I8`) when `cond` holds in every lane.
    fn all(&mut self, cond: Value) -> Value {
        if self.vector() {
            self.b.ins().vall_true(cond)
        } else {
            cond
        }
    }

    /// `c[0] + c[1] z + c[2] z² + ...` by Estrin's scheme (pairs, then powers of z²).
    fn poly(&mut self, z: Value, c: &[f64]) -> Value {
        let mut terms: Vec<Value> = c
            .chunks(2)
            .map(|p| {
                let a = self.k(p[0]);
                match p.get(1) {
                    Some(&q) => self.maddk(z, q, a),
                    None => a,
                }
            })
            .collect();
        let mut zp = self.mul(z, z);
        while terms.len() > 1 {
            terms = terms
                .chunks(2)
                .map(|p| match p {
                    [a, b] => self.madd(zp, *b, *a),
                    [a] => *a,
                    _ => unreachable!("chunks of two"),
                })
                .collect();
            if terms.len() > 1 {
                zp = self.mul(zp, zp);
            }
        }
        terms[0]
    }

    /// `s (c[0] + c[1] z + c[2] z² + ...)` by Horner's rule, each coefficient scaled by s
    /// and rounded: the fewest operations, for a loop in SIMD lanes (whose iterations
    /// overlap, so the longer chain costs nothing).
    fn horner(&mut self, z: Value, c: &[f64], s: f64) -> Value {
        let (last, rest) = c.split_last().expect("a polynomial has coefficients");
        let mut acc = self.k(last * s);
        for &x in rest.iter().rev() {
            let x = self.k(x * s);
            acc = self.madd(acc, z, x);
        }
        acc
    }

    /// Knuth's error-free sum: a − b = s + e exactly.
    fn two_diff(&mut self, a: Value, b: Value) -> (Value, Value) {
        let s = self.sub(a, b);
        let bb = self.sub(a, s);
        let aa = self.add(s, bb);
        let eb = self.sub(bb, b);
        let ea = self.sub(a, aa);
        (s, self.add(ea, eb))
    }

    /// a · b − p exactly, for p = a · b rounded, by Dekker's splitting.
    fn dekker_err(&mut self, a: Value, b: Value, p: Value) -> Value {
        let (ah, al) = self.split(a);
        let (bh, bl) = self.split(b);
        let hh = self.mul(ah, bh);
        let e = self.sub(hh, p);
        let hl = self.mul(ah, bl);
        let e = self.add(e, hl);
        let lh = self.mul(al, bh);
        let e = self.add(e, lh);
        let ll = self.mul(al, bl);
        self.add(e, ll)
    }

    /// a · b = p + e exactly: the rounding error by one fused multiply-add where the
    /// target has it, else by Dekker's product.
    fn exact_mul(&mut self, a: Value, b: Value) -> (Value, Value) {
        let p = self.mul(a, b);
        (p, self.mul_err(a, b, p))
    }

    /// a · b − p exactly, for p = a · b rounded (see [`MathEmitter::exact_mul`]).
    fn mul_err(&mut self, a: Value, b: Value, p: Value) -> Value {
        if self.fma {
            let np = self.b.ins().fneg(p);
            self.b.ins().fma(a, b, np)
        } else {
            self.dekker_err(a, b, p)
        }
    }

    fn split(&mut self, a: Value) -> (Value, Value) {
        let c = self.mulk(a, SPLIT);
        let d = self.sub(c, a);
        let hi = self.sub(c, d);
        (hi, self.sub(a, hi))
    }

    /// Starts the cold block of an out-of-line path; returns it.
    fn cold(&mut self) -> Block {
        let blk = self.b.create_block();
        self.b.set_cold_block(blk);
        blk
    }

    /// Calls the C library's `f` lane by lane on `args`.
    fn libm(&mut self, f: Libm, args: &[Value]) -> Value {
        let lanes = if self.vector() { 2 } else { 1 };
        let mut out = args[0];
        for lane in 0..lanes {
            let vals: Vec<Value> = args
                .iter()
                .map(|&a| {
                    if self.vector() {
                        self.b.ins().extractlane(a, lane as u8)
                    } else {
                        a
                    }
                })
                .collect();
            let r = self.libm_call(f, &vals);
            out = if self.vector() {
                self.b.ins().insertlane(out, r, lane as u8)
            } else {
                r
            };
        }
        out
    }

    /// The C library's `f` of the doubles `vals` (as many as `f` takes): on x86-64 through its trampoline that
    /// keeps every register (the result comes back through a stack slot), elsewhere by an
    /// ordinary call.
    fn libm_call(&mut self, f: Libm, vals: &[Value]) -> Value {
        #[cfg(target_arch = "x86_64")]
        {
            let (addr, n) = (f.keep_addr(), vals.len());
            let mut sig = Signature::new(CallConv::PreserveAll);
            sig.params
                .extend(std::iter::repeat_n(AbiParam::new(types::F64), n));
            sig.params.push(AbiParam::new(types::I64));
            let sref = self.b.import_signature(sig);
            let slot = self.b.create_sized_stack_slot(StackSlotData::new(
                StackSlotKind::ExplicitSlot,
                8,
                3,
            ));
            let out = self.b.ins().stack_addr(types::I64, slot, 0);
            let mut args = vals.to_vec();
            args.push(out);
            let fp = self.b.ins().iconst(types::I64, addr as i64);
            self.b.ins().call_indirect(sref, fp, &args);
            self.b.ins().stack_load(types::I64, types::F64, slot, 0)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let (addr, n) = (f.addr(), vals.len());
            let mut sig = Signature::new(self.cc);
            sig.params
                .extend(std::iter::repeat_n(AbiParam::new(types::F64), n));
            sig.returns.push(AbiParam::new(types::F64));
            let sref = self.b.import_signature(sig);
            let fp = self.b.ins().iconst(types::I64, addr as i64);
            let call = self.b.ins().call_indirect(sref, fp, vals);
            self.b.inst_results(call)[0]
        }
    }

    /// `v`, computed inline, in the lanes where `fast` holds; the C library's `f` of
    /// `args` in the others, called from a cold block only when some lane needs it.
    fn guard(&mut self, fast: Value, v: Value, f: Libm, args: &[Value]) -> Value {
        let slow = self.cold();
        let join = self.b.create_block();
        self.b.append_block_param(join, self.ty);
        let c = self.all(fast);
        self.b.ins().brif(c, join, &[BlockArg::Value(v)], slow, &[]);
        self.b.switch_to_block(slow);
        self.b.seal_block(slow);
        let r = self.libm(f, args);
        let r = self.choose(fast, v, r);
        self.b.ins().jump(join, &[BlockArg::Value(r)]);
        self.b.switch_to_block(join);
        self.b.seal_block(join);
        self.b.block_params(join)[0]
    }

    /// x − mπ/2 as a double-double, for an integer-valued double m near x · 2/π, with
    /// hi² (the kernels' z), and whether every lane's x is below [`SIN_LIMIT`] (an `I8`;
    /// 1 on the usual path). Exact for |x| < [`SIN_LIMIT`]; larger and non-finite x are
    /// the caller's (see [`MathEmitter::out_of_range`]), whose r here is not used.
    ///
    /// The usual path is four operations from m. With fused multiply-adds, r1 = x − m·C1
    /// (C1 = π/2 rounded to a double) is exact whenever |x| ≥ 1: x and m·C1 are then
    /// multiples of 2^-52 and their difference is below 2, so it has at most 53 bits (for
    /// m = 0, r1 = x; sin and tan have m ≠ 0 only from |x| ≥ π/4 on, where |r1| < 1 and
    /// x's last bit is at least 2^-53; cos of |x| < 1 has m = ±1 and r1 rounded once, an
    /// error of ½ ulp of ∓π/2 + x). hi = r1 − m·C2 (C2 = π/2 − C1 rounded) rounded once,
    /// r1 − hi exact (|m·C2| < 2^-54 |x| is far below |hi|, see below), and lo the rest
    /// of r1 − m·C2 (one rounding of a number below ulp(hi)). What is left out,
    /// m (π/2 − C1 − C2), is below 2^-109 |m| < 2^-109 |x|. Without fused multiply-adds,
    /// π/2 is taken in parts of 33, 33 and 53 bits (each m · part exact for |m| < 2^20,
    /// so up to 2^18): r1 = x − m·P0, hi = r1 − m (P1 + P2), lo = (r1 − hi) − m·P1 − m·P2.
    ///
    /// The usual path serves where |hi| ≥ 2^-30 |x| (tested as hi² ≥ 2^-60 x², with no
    /// absolute value): then r1 − hi is exact (Sterbenz), and what is left out is below
    /// 2^-78 |r| with fused multiply-adds and 2^-80 |r| without, so hi + lo is r to far
    /// better than the kernels need. Lanes nearer a multiple of π/2, and from 2^30 (2^18
    /// without fused multiply-adds) up, take seven parts of 23 bits in a cold block.
    fn reduce(&mut self, x: Value, m: Value) -> (Dd, Value, Value) {
        let (hi, lo) = if self.fma {
            let r1 = self.maddk(m, -PIO2_HI, x);
            let hi = self.maddk(m, -PIO2_MID, r1);
            let d = self.sub(r1, hi);
            (hi, self.maddk(m, -PIO2_MID, d))
        } else {
            let r1 = self.maddk(m, -PIO2_33[0], x);
            let hi = self.maddk(m, -PIO2_TAIL, r1);
            let d = self.sub(r1, hi);
            let lo = self.maddk(m, -PIO2_33[1], d);
            (hi, self.maddk(m, -PIO2_33[2], lo))
        };
        let z = self.mul(hi, hi);
        let x2 = self.mul(x, x);
        let floor = self.mulk(x2, NEAR_MULTIPLE);
        let near = self.fcmp(FloatCC::LessThan, z, floor);
        let limit = if self.fma { SIN_LIMIT } else { FAST_SIN_LIMIT };
        // (and NaN, so that it goes to the C library in every lane)
        let far = self.fcmpk(FloatCC::UnorderedOrGreaterThanOrEqual, x2, limit * limit);
        let bad = self.b.ins().bor(near, far);
        let any_bad = self.any(bad);
        let join = self.b.create_block();
        for ty in [self.ty, self.ty, self.ty, types::I8] {
            self.b.append_block_param(join, ty);
        }
        let seven = self.cold();
        let in_range = self.b.ins().iconst(types::I8, 1);
        let args = [hi, lo, z, in_range].map(BlockArg::Value);
        self.b.ins().brif(any_bad, seven, &[], join, &args);
        // Seven parts, for 2^18 ≤ |x| < 2^30 or where the usual path cancelled.
        self.b.switch_to_block(seven);
        self.b.seal_block(seven);
        let p: Vec<Value> = PIO2_23.iter().map(|&c| self.mulk(m, c)).collect();
        let a = self.sub(x, p[0]);
        let b = self.sub(a, p[1]);
        let (s3, e3) = self.two_diff(b, p[2]);
        let (s4, e4) = self.two_diff(s3, p[3]);
        let (s5, e5) = self.two_diff(s4, p[4]);
        let lo7 = self.add(e3, e4);
        let lo7 = self.add(lo7, e5);
        let lo7 = self.sub(lo7, p[5]);
        let lo7 = self.sub(lo7, p[6]);
        // Renormalised, so |lo| ≤ ½ ulp(hi) (the last parts can exceed that).
        let h7 = self.add(s5, lo7);
        let d7 = self.sub(h7, s5);
        let l7 = self.sub(lo7, d7);
        let hi = self.choose(bad, h7, hi);
        let lo = self.choose(bad, l7, lo);
        let z = self.mul(hi, hi);
        let ax = self.b.ins().fabs(x);
        let below = self.fcmpk(FloatCC::LessThan, ax, SIN_LIMIT);
        let in_range = self.all(below);
        let args = [hi, lo, z, in_range].map(BlockArg::Value);
        self.b.ins().jump(join, &args);
        self.b.switch_to_block(join);
        self.b.seal_block(join);
        let p = self.b.block_params(join);
        (Dd { hi: p[0], lo: p[1] }, p[2], p[3])
    }

    /// `v`, or where |x| ≥ [`SIN_LIMIT`] (and for non-finite x) the C library's `f`, from
    /// a cold block that runs only when [`MathEmitter::reduce`] said some lane needs it.
    fn out_of_range(&mut self, x: Value, v: Value, f: Libm, in_range: Value) -> Value {
        let slow = self.cold();
        let join = self.b.create_block();
        self.b.append_block_param(join, self.ty);
        self.b
            .ins()
            .brif(in_range, join, &[BlockArg::Value(v)], slow, &[]);
        self.b.switch_to_block(slow);
        self.b.seal_block(slow);
        let ax = self.b.ins().fabs(x);
        let below = self.fcmpk(FloatCC::LessThan, ax, SIN_LIMIT);
        let r = self.libm(f, &[x]);
        let r = self.choose(below, v, r);
        self.b.ins().jump(join, &[BlockArg::Value(r)]);
        self.b.switch_to_block(join);
        self.b.seal_block(join);
        self.b.block_params(join)[0]
    }

    /// sin and cos of the reduced argument r (|r| ≤ π/4 + a little), for `tan`.
    fn kernels(&mut self, r: Dd) -> (Value, Value) {
        let z = self.mul(r.hi, r.hi);
        // sin r = hi + (hi z S(z) + lo)
        let ps = self.poly(z, &SIN);
        let hz = self.mul(r.hi, z);
        let t = self.madd(hz, ps, r.lo);
        let sin = self.add(r.hi, t);
        // cos r = w + ((1 − w − z/2) + (z² C(z) − hi lo)), w = 1 − z/2
        let pc = self.poly(z, &COS);
        let half = self.mulk(z, 0.5);
        let one = self.k(1.0);
        let w = self.sub(one, half);
        let d = self.sub(one, w);
        let d = self.sub(d, half);
        let z2 = self.mul(z, z);
        let hl = self.mul(r.hi, r.lo);
        let hl = self.b.ins().fneg(hl);
        let c = self.madd(z2, pc, hl);
        let c = self.add(d, c);
        let cos = self.add(w, c);
        (sin, cos)
    }

    /// `u` where the integer `q` is odd, else `v`, without a branch.
    fn odd_even(&mut self, q: Value, u: Value, v: Value) -> Value {
        let one = self.ik(1);
        let odd = self.b.ins().band(q, one);
        let mask = self.b.ins().ineg(odd);
        let mask = self.float(mask);
        self.b.ins().bitselect(mask, u, v)
    }

    /// `a` where `cond` holds, else `b`, without a branch (for a condition that changes
    /// unpredictably from one call to the next).
    fn blend(&mut self, cond: Value, a: Value, b: Value) -> Value {
        if self.vector() {
            self.choose(cond, a, b)
        } else {
            let m = self.b.ins().bmask(types::I64, cond);
            let m = self.float(m);
            self.b.ins().bitselect(m, a, b)
        }
    }

    /// sin r for |r| ≤ π/2 + a little, within one ulp, with z = hi² rounded: hi +
    /// SIN_C0 hi³ is formed with its rounding errors kept (each product's error by an exact
    /// step, the sum by an error-free one); the rest, hi⁵ P(hi²) and lo · cos hi, is small
    /// beside it. The products go (SIN_C0 hi) · hi², three steps from hi, and the small
    /// terms meet the sum's error last: the chain from hi to the result is seven
    /// operations.
    fn sin_half(&mut self, r: Dd, z: Value) -> Value {
        let hi = r.hi;
        // z + zl = hi², h6 + e1 = SIN_C0 hi, a + e2 = h6 z, all exactly; so
        // SIN_C0 hi³ = a + (e2 + h6 zl + e1 z), less e1 zl (below 2^-100 of it).
        let zl = self.mul_err(hi, hi, z);
        let c0 = self.k(SIN_C0);
        let (h6, e1) = self.exact_mul(c0, hi);
        let (a, e2) = self.exact_mul(h6, z);
        let c = self.madd(h6, zl, e2);
        let c = self.madd(e1, z, c);
        // s + err = hi + a exactly (|a| < |hi|).
        let s = self.add(hi, a);
        let d = self.sub(hi, s);
        let err = self.add(d, a);
        // lo · cos hi, cos hi to its z² term.
        let w = self.k(-0.5);
        let w = self.maddk(z, 1.0 / 24.0, w);
        let w = self.mul(w, z);
        let lo = self.madd(w, r.lo, r.lo);
        let c = self.add(c, lo);
        // hi⁵ P(z) = (a z) (P(z) / SIN_C0), a within 3 ulp of SIN_C0 hi³.
        let ps = self.horner(z, &SIN_HALF, -6.0);
        let az = self.mul(a, z);
        let rest = self.madd(az, ps, c);
        let tail = self.add(rest, err);
        self.add(s, tail)
    }

    /// t and m for sin (`cos` false) or cos of x: m is the even (sin) or odd (cos)
    /// integer nearest x · 2/π, and t = m + [`ROUND_EVEN`] (for cos, m − 1 + it), whose
    /// last bit counts twos, so it is the parity of k for m = 2k or 2k + 1 (of either
    /// sign: the sum is in [2^53, 2^54), where doubles are the even integers, for
    /// |x · 2/π| < 2^52).
    fn half_periods(&mut self, x: Value, cos: bool) -> (Value, Value) {
        let shift = self.k(if cos { -1.0 } else { ROUND_EVEN });
        let t = self.maddk(x, TWO_OVER_PI, shift);
        let t = if cos { self.addk(t, ROUND_EVEN) } else { t };
        let round = self.k(ROUND_EVEN);
        let m = self.sub(t, round);
        let m = if cos { self.addk(m, 1.0) } else { m };
        (t, m)
    }

    /// sin x or cos x from s = sin r, r = x − mπ/2 (see [`MathEmitter::half_periods`]),
    /// `r` being r or its leading part: sin x = (−1)^k s and cos x = (−1)^(k+1) s. s has
    /// r's sign, but for sin(−0) the kernels' sums give +0: r's sign bit is or-ed in (a
    /// no-op for any other r, as |s| > 0 there).
    fn signed(&mut self, s: Value, r: Value, t: Value, cos: bool) -> Value {
        let q = self.bits(t);
        let sb = self.bits(s);
        let (sign, sb) = if cos {
            let one = self.ik(1);
            let q = self.b.ins().iadd(q, one);
            (self.b.ins().ishl_imm_u(q, 63), sb)
        } else {
            let rb = self.bits(r);
            let top = self.ik(i64::MIN);
            let rs = self.b.ins().band(rb, top);
            let sb = self.b.ins().bor(sb, rs);
            (self.b.ins().ishl_imm_u(q, 63), sb)
        };
        let sb = self.b.ins().bxor(sb, sign);
        self.float(sb)
    }

    /// sin x (`cos` false) or cos x: r = x − mπ/2 (|r| ≤ π/2), one polynomial and a sign.
    fn sin_cos(&mut self, x: Value, cos: bool) -> Value {
        let f = if cos { Libm::Cos } else { Libm::Sin };
        let (t, m) = self.half_periods(x, cos);
        let (r, z, in_range) = self.reduce(x, m);
        let s = self.sin_half(r, z);
        let v = self.signed(s, r.hi, t, cos);
        self.out_of_range(x, v, f, in_range)
    }

    fn tan(&mut self, x: Value) -> Value {
        let t = self.mulk(x, TWO_OVER_PI);
        let t = self.addk(t, ROUND);
        let k = self.addk(t, -ROUND);
        let q = self.bits(t);
        let (r, _, in_range) = self.reduce(x, k);
        let (s, c) = self.kernels(r);
        // tan = s / c in even quadrants, −c / s in odd ones.
        let t = self.b.ins().fdiv(s, c);
        let nc = self.b.ins().fneg(c);
        let u = self.b.ins().fdiv(nc, s);
        let v = self.odd_even(q, u, t);
        let fz = self.k(0.0);
        let z = self.fcmp(FloatCC::Equal, x, fz);
        let v = self.choose(z, x, v);
        self.out_of_range(x, v, Libm::Tan, in_range)
    }

    /// The fast variants: the same half periods, π/2 in two parts, a shorter polynomial,
    /// no branch.
    fn sin_cos_fast(&mut self, x: Value, cos: bool) -> Value {
        let (t, m) = self.half_periods(x, cos);
        let r = self.maddk(m, -PIO2_33[0], x);
        let r = self.maddk(m, -PIO2_TAIL, r);
        let z = self.mul(r, r);
        let p = self.poly(z, &SIN_FAST);
        let rz = self.mul(r, z);
        let s = self.madd(rz, p, r);
        self.signed(s, r, t, cos)
    }

    /// 2^k for an integer-valued double k within the normal exponents, as a double.
    fn pow2(&mut self, t: Value) -> Value {
        // t = k + ROUND: its low bits are k; shift k + 1023 into the exponent field.
        let kb = self.bits(t);
        let round = self.ik(ROUND.to_bits() as i64 - 1023);
        let e = self.b.ins().isub(kb, round);
        let e = self.b.ins().ishl_imm_u(e, 52);
        self.float(e)
    }

    /// e^(hi + lo) for |hi| ≤ [`EXP_LIMIT`], without the range test.
    fn exp_core(&mut self, hi: Value, lo: Value) -> Value {
        let t = self.mulk(hi, std::f64::consts::LOG2_E);
        let round = self.k(ROUND);
        let t = self.add(t, round);
        let k = self.sub(t, round);
        let r = self.maddk(k, -LN2_HI, hi);
        let lo = self.maddk(k, -LN2_LO, lo);
        let r = self.add(r, lo);
        let p = self.poly(r, &EXP);
        let r2 = self.mul(r, r);
        let p = self.madd(r2, p, r);
        let one = self.k(1.0);
        let e = self.add(one, p);
        let scale = self.pow2(t);
        self.mul(e, scale)
    }

    fn exp(&mut self, x: Value) -> Value {
        let ax = self.b.ins().fabs(x);
        let fast = self.fcmpk(FloatCC::LessThanOrEqual, ax, EXP_LIMIT);
        let zero = self.k(0.0);
        let v = self.exp_core(x, zero);
        self.guard(fast, v, Libm::Exp, &[x])
    }

    /// x = 2^e m for a positive normal finite x: (m, e), m in [√½, √2), e an
    /// integer-valued double.
    fn log_parts(&mut self, x: Value) -> (Value, Value) {
        let xb = self.bits(x);
        // m in [1, 2) from the mantissa bits; e the unbiased exponent.
        let mant = self.ik(0x000F_FFFF_FFFF_FFFF);
        let mb = self.b.ins().band(xb, mant);
        let one_b = self.ik(0x3FF0_0000_0000_0000);
        let mb = self.b.ins().bor(mb, one_b);
        let m = self.float(mb);
        let eb = self.b.ins().ushr_imm_u(xb, 52);
        // e as a double: its bits added to ROUND's, minus ROUND (no int-to-float needed).
        let rb = self.ik(ROUND.to_bits() as i64 - 1023);
        let eb = self.b.ins().iadd(eb, rb);
        let ef = self.float(eb);
        let round = self.k(ROUND);
        let e = self.sub(ef, round);
        let big = self.fcmpk(FloatCC::GreaterThan, m, std::f64::consts::SQRT_2);
        let mh = self.mulk(m, 0.5);
        let m = self.blend(big, mh, m);
        let e1 = self.k(1.0);
        let e1 = self.add(e, e1);
        let e = self.blend(big, e1, e);
        (m, e)
    }

    /// log x for a positive normal finite x.
    fn log_core(&mut self, x: Value) -> Value {
        let (m, e) = self.log_parts(x);
        let one = self.k(1.0);
        let f = self.sub(m, one);
        let two = self.k(2.0);
        let den = self.add(two, f);
        let s = self.b.ins().fdiv(f, den);
        let z = self.mul(s, s);
        let r = self.poly(z, &LOG);
        let r = self.mul(z, r);
        // log m = f − s (f − R), with hfsq = f²/2 kept apart for precision:
        // log m = f − hfsq + s (hfsq + R)
        let ff = self.mul(f, f);
        let hfsq = self.mulk(ff, 0.5);
        let hr = self.add(hfsq, r);
        let shr = self.mul(s, hr);
        let el = self.mulk(e, LN2_LO);
        let lo = self.add(shr, el);
        let lo = self.sub(lo, hfsq);
        let eh = self.mulk(e, LN2_HI);
        // hi part e ln2_hi + f is exact-ish; carry the rest in lo.
        let hi = self.add(eh, f);
        let c = self.sub(hi, eh);
        let c = self.sub(f, c);
        let lo = self.add(lo, c);
        self.add(hi, lo)
    }

    /// log x as a double-double within about 2^-63 of it, for a positive normal
    /// finite x: `pow`'s logarithm, which y multiplies. With x = 2^e m and f = m − 1,
    /// log m = 2 atanh s for s = f / (2 + f): s is formed as sh + sl (2 + f split exactly,
    /// the division's residual exact), then 2s + ⅔ s³ + s⁵ Q(s²) with ⅔ s³ to 2^-100 of it
    /// (the exact square and cube of sh, corrected by sl) and the tail (under 2^-12 of
    /// log m) in plain doubles; e ln 2 in two parts, e · LN2_HI exact.
    fn log_dd(&mut self, x: Value) -> Dd {
        let (m, e) = self.log_parts(x);
        let one = self.k(1.0);
        let f = self.sub(m, one);
        // 2 + f = dh + dl exactly (|f| < 2).
        let two = self.k(2.0);
        let dh = self.add(two, f);
        let d = self.sub(two, dh);
        let dl = self.add(d, f);
        // sh = f / dh to a few ulp; sl = (f − sh dh − sh dl) / dh, where f − p is exact
        // (p = sh dh rounded is within a factor of two of f) and p's error is exact.
        let inv = self.b.ins().fdiv(one, dh);
        let sh = self.mul(f, inv);
        let (p, pe) = self.exact_mul(sh, dh);
        let n = self.sub(f, p);
        let n = self.sub(n, pe);
        let sdl = self.mul(sh, dl);
        let n = self.sub(n, sdl);
        let sl = self.mul(n, inv);
        // s³ = c + cl: sh² = z + zl and z sh = c + ce exactly, 3 sh² sl for sl.
        let (z, zl) = self.exact_mul(sh, sh);
        let (c, ce) = self.exact_mul(z, sh);
        let cl = self.madd(zl, sh, ce);
        let zsl = self.mul(z, sl);
        let cl = self.maddk(zsl, 3.0, cl);
        // ⅔ s³ = th + tl.
        let k = self.k(TWO_THIRDS[0]);
        let (th, te) = self.exact_mul(c, k);
        let tl = self.maddk(cl, TWO_THIRDS[0], te);
        let tl = self.maddk(c, TWO_THIRDS[1], tl);
        // s⁵ Q(s²).
        let q = self.poly(z, &LOG_TAIL);
        let s5 = self.mul(c, z);
        let u = self.mul(s5, q);
        // log m = (2sh + th) + (2sl + tl + u), the first sum error-free (|th| < |2sh|).
        let sh2 = self.add(sh, sh);
        let h = self.add(sh2, th);
        let d = self.sub(h, sh2);
        let err = self.sub(th, d);
        let lo = self.add(tl, u);
        let lo = self.maddk(sl, 2.0, lo);
        let lo = self.add(lo, err);
        // + e ln 2: e · LN2_HI + h error-free (|e LN2_HI| > |h| unless e = 0).
        let eh = self.mulk(e, LN2_HI);
        let hh = self.add(eh, h);
        let d = self.sub(hh, eh);
        let err = self.sub(h, d);
        let lo = self.maddk(e, LN2_LO, lo);
        let lo = self.add(lo, err);
        // Renormalised: |lo| ≤ ½ ulp(hi).
        let hi = self.add(hh, lo);
        let d = self.sub(hi, hh);
        let lo = self.sub(lo, d);
        Dd { hi, lo }
    }

    /// x^y = e^(y log x) for positive normal finite x, finite y and |y log x| ≤
    /// [`EXP_LIMIT`], with y log x a double-double (see [`MathEmitter::log_dd`]), so
    /// the result is within about one ulp; every other case (x ≤ 0, whose result
    /// depends on whether y is an integer, zeros, infinities, NaN, subnormal x, results
    /// that overflow or underflow) goes to the C library.
    fn pow(&mut self, x: Value, y: Value) -> Value {
        let ok = self.log_ok(x);
        let l = self.log_dd(x);
        let (p, pe) = self.exact_mul(y, l.hi);
        let lo = self.madd(y, l.lo, pe);
        // (p + lo is NaN where Dekker's splitting of a huge y overflowed.)
        let sum = self.add(p, lo);
        let ap = self.b.ins().fabs(sum);
        let small = self.fcmpk(FloatCC::LessThanOrEqual, ap, EXP_LIMIT);
        let ok = self.b.ins().band(ok, small);
        let v = self.exp_core(p, lo);
        self.guard(ok, v, Libm::Pow, &[x, y])
    }

    fn log_ok(&mut self, x: Value) -> Value {
        let lo = self.fcmpk(FloatCC::GreaterThanOrEqual, x, f64::MIN_POSITIVE);
        let hi = self.fcmpk(FloatCC::LessThan, x, f64::INFINITY);
        self.b.ins().band(lo, hi)
    }

    fn log(&mut self, x: Value) -> Value {
        let ok = self.log_ok(x);
        let l = self.log_core(x);
        self.guard(ok, l, Libm::Log, &[x])
    }

    fn tanh(&mut self, x: Value) -> Value {
        let ax = self.b.ins().fabs(x);
        // Small: x + x³ P(x²).
        let z = self.mul(x, x);
        let p = self.poly(z, &TANH);
        let xz = self.mul(x, z);
        let t = self.mul(xz, p);
        let small = self.add(x, t);
        // Large: 1 − 2 / (e^{2|x|} + 1), |x| clamped to 20 (tanh is 1 to the last bit).
        let twenty = self.k(20.0);
        let c = self.b.ins().fmin(ax, twenty);
        let c2 = self.add(c, c);
        let zero = self.k(0.0);
        let e = self.exp_core(c2, zero);
        let one = self.k(1.0);
        let d = self.add(e, one);
        let two = self.k(2.0);
        let q = self.b.ins().fdiv(two, d);
        let big = self.sub(one, q);
        let big = self.copysign(big, x);
        let is_small = self.fcmpk(FloatCC::LessThan, ax, TANH_SMALL);
        let v = self.blend(is_small, small, big);
        // tanh x = x below 2^-28 (keeping -0), and NaN stays NaN.
        let tiny = self.fcmpk(FloatCC::UnorderedOrLessThan, ax, TANH_TINY);
        self.choose(tiny, x, v)
    }

    fn fmod(&mut self, x: Value, y: Value) -> Value {
        let ax = self.b.ins().fabs(x);
        let ay = self.b.ins().fabs(y);
        let ratio = self.b.ins().fdiv(ax, ay);
        let ok = self.fcmpk(FloatCC::LessThan, ratio, 4_503_599_627_370_496.0);
        let pos = self.fcmpk(FloatCC::GreaterThan, ay, 0.0);
        let fin = self.fcmpk(FloatCC::LessThan, ay, f64::INFINITY);
        let ok = self.b.ins().band(ok, pos);
        let ok = self.b.ins().band(ok, fin);
        // Without fused multiply-adds, Dekker's splitting of |y| overflows from 2^996 on.
        let ok = if self.fma {
            ok
        } else {
            let small = self.fcmpk(FloatCC::LessThan, ay, DEKKER_LIMIT);
            self.b.ins().band(ok, small)
        };
        let q = self.b.ins().trunc(ratio);
        let (p, pe) = self.exact_mul(q, ay);
        let r = self.sub(ax, p);
        let r = self.sub(r, pe);
        // q may have rounded up by one: then r is in (−|y|, 0).
        let zero = self.k(0.0);
        let neg = self.fcmp(FloatCC::LessThan, r, zero);
        let up = self.add(r, ay);
        let r = self.blend(neg, up, r);
        let r = self.copysign(r, x);
        self.guard(ok, r, Libm::Fmod, &[x, y])
    }
}

#[cfg(test)]
mod tests;
