//! `sin`, `cos`, `sin_fast` and `cos_fast` of many doubles at once, for a loop in SIMD lanes whose sines the
//! compiler gathers (see `lower/batch.rs`): the operations of the inline `sin`/`cos` with
//! fused multiply-adds (`lower::math_ir`), one for one in the same order, written in Rust
//! and compiled for the widest vectors the CPU has (AVX-512, else AVX2), so each result
//! has the bits the inline code gives that argument. Cranelift's vectors are 128 bits
//! wide; these run four or eight lanes an instruction.
//!
//! A pass computes every argument on the usual path (x − mπ/2 in two parts, no branch)
//! and notes the arguments it does not serve (near a multiple of π/2, |x| ≥ 2^30, not
//! finite); those are done again one at a time the way the inline code's cold blocks do
//! them (seven parts of π/2, or the C library).
//!
//! The constants are the inline code's: it takes them from here.

use super::math::{zonal_cos, zonal_sin};

/// 2/π rounded.
pub const TWO_OVER_PI: f64 = std::f64::consts::FRAC_2_PI;
/// 1.5 · 2^53: x + ROUND_EVEN − ROUND_EVEN rounds x to an even integer, and the last bit
/// of x + ROUND_EVEN is the parity of half of it.
pub const ROUND_EVEN: f64 = 13_510_798_882_111_488.0;
/// π/2 in parts of 23 bits (k · part exact for |k| < 2^30), the last the rest.
pub const PIO2_23: [f64; 7] = [
    1.570_796_251_296_997,
    7.549_789_415_861_596e-8,
    5.390_302_529_957_765e-15,
    3.282_003_163_372_423_3e-22,
    3.795_010_649_787_914e-29,
    1.229_333_089_811_113_3e-36,
    2.733_700_754_906_329_5e-44,
];
/// π/2 rounded to a double, and the rest of π/2 rounded: the reduction's two parts with
/// fused multiply-adds (π/2 − PIO2_HI − PIO2_MID is −1.5e-33, below 2^-109).
pub const PIO2_HI: f64 = std::f64::consts::FRAC_PI_2;
pub const PIO2_MID: f64 = 6.123_233_995_736_766e-17;
/// 2^-60: the reduction's usual path serves where hi² ≥ NEAR_MULTIPLE · x².
pub const NEAR_MULTIPLE: f64 = 1.0 / 1_152_921_504_606_846_976.0;
/// Below this |x| the seven-part reduction serves (k < 2^30).
pub const SIN_LIMIT: f64 = 1_073_741_824.0;
/// −1/6 rounded: sin r = r + SIN_C0 r³ + r⁵ P(r²) over a half period.
pub const SIN_C0: f64 = -1.0 / 6.0;
/// P above, by powers of r², minimax on |r| ≤ π/2 with SIN_C0 fixed (relative error of
/// the whole 2^-61.6; 2^-57 with the coefficients rounded to doubles).
pub const SIN_HALF: [f64; 7] = [
    0.008_333_333_333_333_207,
    -0.000_198_412_698_412_129_02,
    2.755_731_921_165_93e-6,
    -2.505_210_691_382_309_6e-8,
    1.605_894_152_075_813_5e-10,
    -7.643_033_830_369_802e-13,
    2.721_580_259_700_761_7e-15,
];

/// π/2 in parts of 33, 33 and 53 bits (k · part exact for |k| < 2^20).
pub const PIO2_33: [f64; 3] = [
    1.570_796_326_734_125_6,
    6.077_100_506_303_966e-11,
    2.022_266_248_795_950_6e-21,
];

/// π/2 less its first part, rounded: the fast reduction's second step.
pub const PIO2_TAIL: f64 = PIO2_33[1] + PIO2_33[2];

/// (sin r / r − 1) / r², by powers of r², minimax on |r| ≤ π/2 for the fast variants
/// (relative error 2.4e-11).
pub const SIN_FAST: [f64; 5] = [
    -0.166_666_666_261_491_7,
    0.008_333_331_108_583_327,
    -0.000_198_408_682_073_103_28,
    2.752_538_429_122_475e-6,
    -2.388_890_691_382_672_2e-8,
];

/// The arguments one call takes at most: a batch's scratch holds this many per site.
pub const BATCH: usize = 64;

/// A batch kernel: `n` (at most [`BATCH`]) results from `n` arguments.
pub type Kernel = unsafe extern "C" fn(args: *const f64, out: *mut f64, n: i64);

/// One kernel for each function gathered, for one vector width.
#[derive(Clone, Copy)]
pub struct Kernels {
    pub sin: Kernel,
    pub cos: Kernel,
    pub sin_fast: Kernel,
    pub cos_fast: Kernel,
}

/// The kernels in the widest vectors this CPU has, or `None` where it has neither
/// AVX-512 nor AVX2 with fused multiply-adds (the compiler then keeps the inline code).
pub fn kernels() -> Option<Kernels> {
    every_kernel().into_iter().next()
}

/// Every set of kernels this CPU can run, widest first (each gives the same bits).
pub(crate) fn every_kernel() -> Vec<Kernels> {
    let mut v: Vec<Kernels> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("fma") && has!("avx512f") && has!("avx512dq") && has!("avx512vl") {
            v.push(Kernels {
                sin: sin_avx512,
                cos: cos_avx512,
                sin_fast: sin_fast_avx512,
                cos_fast: cos_fast_avx512,
            });
        }
        if has!("fma") && has!("avx2") {
            v.push(Kernels {
                sin: sin_avx2,
                cos: cos_avx2,
                sin_fast: sin_fast_avx2,
                cos_fast: cos_fast_avx2,
            });
        }
    }
    v
}

/// t and m (see the inline code's `half_periods`): m the even (sin) or odd (cos) integer
/// nearest x · 2/π, t = m + ROUND_EVEN (for cos, m − 1 + it), whose last bit is the sign.
#[inline(always)]
fn half_periods(x: f64, cos: bool) -> (f64, f64) {
    if cos {
        let t = x.mul_add(TWO_OVER_PI, -1.0) + ROUND_EVEN;
        (t, (t - ROUND_EVEN) + 1.0)
    } else {
        let t = x.mul_add(TWO_OVER_PI, ROUND_EVEN);
        (t, t - ROUND_EVEN)
    }
}

/// The usual reduction: (hi, lo, hi²) and whether this x needs the careful one.
#[inline(always)]
fn reduce(x: f64, m: f64) -> (f64, f64, f64, bool) {
    let r1 = m.mul_add(-PIO2_HI, x);
    let hi = m.mul_add(-PIO2_MID, r1);
    let lo = m.mul_add(-PIO2_MID, r1 - hi);
    let z = hi * hi;
    let x2 = x * x;
    let near = z < x2 * NEAR_MULTIPLE;
    // Not below the limit: NaN too, in one comparison.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    let far = !(x2 < SIN_LIMIT * SIN_LIMIT);
    (hi, lo, z, near | far)
}

/// Knuth's error-free difference: a − b = s + e exactly.
#[inline(always)]
fn two_diff(a: f64, b: f64) -> (f64, f64) {
    let s = a - b;
    let bb = a - s;
    let aa = s + bb;
    (s, (a - aa) + (bb - b))
}

/// The careful reduction, in seven parts of π/2 with error-free sums: (hi, lo, hi²).
fn reduce_seven(x: f64, m: f64) -> (f64, f64, f64) {
    let p = PIO2_23.map(|c| m * c);
    let b = (x - p[0]) - p[1];
    let (s3, e3) = two_diff(b, p[2]);
    let (s4, e4) = two_diff(s3, p[3]);
    let (s5, e5) = two_diff(s4, p[4]);
    let lo = (((e3 + e4) + e5) - p[5]) - p[6];
    let hi = s5 + lo;
    let l = lo - (hi - s5);
    (hi, l, hi * hi)
}

/// sin r for r = hi + lo, |r| ≤ π/2 and a little, z = hi² rounded (the inline code's
/// `sin_half`).
#[inline(always)]
fn sin_half(hi: f64, lo: f64, z: f64) -> f64 {
    let zl = hi.mul_add(hi, -z);
    let h6 = SIN_C0 * hi;
    let e1 = SIN_C0.mul_add(hi, -h6);
    let a = h6 * z;
    let e2 = h6.mul_add(z, -a);
    let c = e1.mul_add(z, h6.mul_add(zl, e2));
    let s = hi + a;
    let err = (hi - s) + a;
    let w = z.mul_add(1.0 / 24.0, -0.5) * z;
    let c = c + w.mul_add(lo, lo);
    let mut ps = SIN_HALF[6] * -6.0;
    for k in (0..6).rev() {
        ps = ps.mul_add(z, SIN_HALF[k] * -6.0);
    }
    let rest = (a * z).mul_add(ps, c);
    s + (rest + err)
}

/// The signed result from s = sin r (the inline code's `signed`).
#[inline(always)]
fn signed(s: f64, hi: f64, t: f64, cos: bool) -> f64 {
    let q = t.to_bits();
    let (sign, sb) = if cos {
        (q.wrapping_add(1) << 63, s.to_bits())
    } else {
        (q << 63, s.to_bits() | (hi.to_bits() & (1 << 63)))
    };
    f64::from_bits(sb ^ sign)
}

/// sin x or cos x on the usual path, and whether x needs [`careful`] instead.
#[inline(always)]
fn usual(x: f64, cos: bool) -> (f64, bool) {
    let (t, m) = half_periods(x, cos);
    let (hi, lo, z, bad) = reduce(x, m);
    (signed(sin_half(hi, lo, z), hi, t, cos), bad)
}

/// sin x or cos x where the usual path does not serve.
fn careful(x: f64, cos: bool) -> f64 {
    if x.abs() < SIN_LIMIT {
        let (t, m) = half_periods(x, cos);
        let (hi, lo, z) = reduce_seven(x, m);
        signed(sin_half(hi, lo, z), hi, t, cos)
    } else if cos {
        zonal_cos(x)
    } else {
        zonal_sin(x)
    }
}

/// `sin_fast` x or `cos_fast` x (the inline code's `sin_cos_fast`): the same half periods,
/// π/2 in two parts, the short polynomial by Estrin's scheme, no branch.
#[inline(always)]
fn fast(x: f64, cos: bool) -> f64 {
    let (t, m) = half_periods(x, cos);
    let r = m.mul_add(-PIO2_33[0], x);
    let r = m.mul_add(-PIO2_TAIL, r);
    let z = r * r;
    let t0 = z.mul_add(SIN_FAST[1], SIN_FAST[0]);
    let t1 = z.mul_add(SIN_FAST[3], SIN_FAST[2]);
    let z2 = z * z;
    let u0 = z2.mul_add(t1, t0);
    let p = (z2 * z2).mul_add(SIN_FAST[4], u0);
    signed((r * z).mul_add(p, r), r, t, cos)
}

/// The fast variants over a batch.
#[inline(always)]
fn batch_fast(args: &[f64], out: &mut [f64], cos: bool) {
    for (o, &x) in out.iter_mut().zip(args) {
        *o = fast(x, cos);
    }
}

/// The whole batch: the usual path over every argument (vectorised by the compiler: no
/// branch, no call), then the few that need it again.
#[inline(always)]
fn batch(args: &[f64], out: &mut [f64], cos: bool) {
    let mut any = false;
    for (o, &x) in out.iter_mut().zip(args) {
        let (v, bad) = usual(x, cos);
        *o = v;
        any |= bad;
    }
    if any {
        for (o, &x) in out.iter_mut().zip(args) {
            if usual(x, cos).1 {
                *o = careful(x, cos);
            }
        }
    }
}

/// The argument and result slices of a kernel call.
///
/// # Safety
/// `args` and `out` point to `n` doubles each, `n` ≤ [`BATCH`], not overlapping.
#[inline(always)]
unsafe fn slices<'a>(args: *const f64, out: *mut f64, n: i64) -> (&'a [f64], &'a mut [f64]) {
    let n = (n.max(0) as usize).min(BATCH);
    // SAFETY: the caller's contract: n doubles at each, apart.
    unsafe {
        (
            std::slice::from_raw_parts(args, n),
            std::slice::from_raw_parts_mut(out, n),
        )
    }
}

macro_rules! kernel {
    ($name:ident, $batch:ident, $features:literal, $cos:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        unsafe extern "C" fn $name(args: *const f64, out: *mut f64, n: i64) {
            // SAFETY: compiled code passes its batch scratch: n doubles of arguments and
            // n of results, apart; `kernels` gave this function only on a CPU with
            // these features.
            let (args, out) = unsafe { slices(args, out, n) };
            $batch(args, out, $cos);
        }
    };
}

kernel!(sin_avx512, batch, "avx512f,avx512dq,avx512vl,fma", false);
kernel!(cos_avx512, batch, "avx512f,avx512dq,avx512vl,fma", true);
kernel!(
    sin_fast_avx512,
    batch_fast,
    "avx512f,avx512dq,avx512vl,fma",
    false
);
kernel!(
    cos_fast_avx512,
    batch_fast,
    "avx512f,avx512dq,avx512vl,fma",
    true
);
kernel!(sin_avx2, batch, "avx2,fma", false);
kernel!(cos_avx2, batch, "avx2,fma", true);
kernel!(sin_fast_avx2, batch_fast, "avx2,fma", false);
kernel!(cos_fast_avx2, batch_fast, "avx2,fma", true);
