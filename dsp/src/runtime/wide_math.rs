//! Math on many doubles at once, for a loop in SIMD lanes whose calls the compiler gathers
//! (see `lower/batch.rs`): `sin`, `cos`, `sin_fast`, `cos_fast`, `tan`, `exp`, `log`,
//! `tanh` and `fmod`
//! as the inline code computes them with fused multiply-adds (`lower::math_ir`), operation
//! for operation in the same order, written in Rust and compiled for the widest vectors the
//! CPU has (AVX-512, else AVX2), so each result has the bits the inline code gives that
//! argument. Cranelift's vectors are 128 bits wide; these run four or eight lanes an
//! instruction.
//!
//! A pass computes every argument on the usual path, with no branch, and notes the
//! arguments it does not serve (for `sin`, `cos` and `tan`: near a multiple of π/2, |x| ≥ 2^30,
//! not finite; for `exp`: |x| > 708; for `log`: below the least normal, infinite, not a
//! number); those are done again one at a time the way the inline code's cold blocks do
//! them (seven parts of π/2, or the C library).
//!
//! The constants are the inline code's: it takes them from here.

use crate::builtin::Math;

use super::math::{zonal_cos, zonal_exp, zonal_fmod, zonal_log, zonal_sin, zonal_tan};

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

/// 1.5 · 2^52: x + ROUND − ROUND rounds x to an integer, whose low bits x + ROUND holds.
pub const ROUND: f64 = 6_755_399_441_055_744.0;

/// ln 2 in two parts, the first with 32 significant bits (k · LN2_HI exact for |k| < 2^21).
pub const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);

pub const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// (e^r − 1 − r) / r², by powers of r, minimax on |r| ≤ ln2/2 (error 2^-62).
pub const EXP: [f64; 11] = [
    0.5,
    0.166_666_666_666_666_7,
    0.041_666_666_666_666_685,
    0.008_333_333_333_326_141,
    0.001_388_888_888_887_440_7,
    0.000_198_412_698_748_018_24,
    2.480_158_734_731_932e-5,
    2.755_725_542_428_290_6e-6,
    2.755_725_293_253_89e-7,
    2.510_520_691_234_169_4e-8,
    2.092_158_238_003_925e-9,
];

/// Above this |x| exp's result is not a normal double: out of line.
pub const EXP_LIMIT: f64 = 708.0;

/// (2 atanh s − 2s) / s³, by powers of s², minimax on s² ≤ (3 − 2√2)² (error 2^-59).
pub const LOG: [f64; 7] = [
    0.666_666_666_666_673_4,
    0.399_999_999_994_146_76,
    0.285_714_287_423_880_1,
    0.222_221_985_731_577_1,
    0.181_835_643_270_074_32,
    0.153_140_505_394_624_7,
    0.147_959_497_465_902_92,
];

/// 2/3 in two parts (hi + lo is 2/3 to 2^-108), for `pow`'s logarithm.
pub const TWO_THIRDS: [f64; 2] = [
    f64::from_bits(0x3FE5_5555_5555_5555),
    f64::from_bits(0x3C85_5555_5555_5555),
];

/// (2 atanh s − 2s − ⅔ s³) / s⁵ = 2/5 + 2/7 s² + 2/9 s⁴ + ..., by powers of s²: the
/// Taylor series to s^18, whose first term left out is below 2^-65 of log m for
/// s² ≤ (3 − 2√2)² (`pow`'s logarithm; `pow` has no kernel: in a loop in SIMD lanes
/// its inline code in two lanes was faster than gathering for an eight-lane kernel).
pub const LOG_TAIL: [f64; 10] = [
    2.0 / 5.0,
    2.0 / 7.0,
    2.0 / 9.0,
    2.0 / 11.0,
    2.0 / 13.0,
    2.0 / 15.0,
    2.0 / 17.0,
    2.0 / 19.0,
    2.0 / 21.0,
    2.0 / 23.0,
];

/// (tanh x / x − 1) / x², by powers of x², minimax on |x| ≤ 0.55 (error 2^-60).
pub const TANH: [f64; 11] = [
    -0.333_333_333_333_333,
    0.133_333_333_333_268_33,
    -0.053_968_253_963_878_55,
    0.021_869_488_389_101_577,
    -0.008_863_232_652_765_09,
    0.003_592_092_532_350_521,
    -0.001_455_545_983_122_156_3,
    0.000_588_457_046_095_786_8,
    -0.000_233_412_723_089_707,
    8.336_006_438_943_176e-5,
    -1.952_102_623_347_852e-5,
];

pub const TANH_SMALL: f64 = 0.55;

/// Below this |x|, tanh x rounds to x.
pub const TANH_TINY: f64 = 1.0 / 268_435_456.0;

/// (sin r / r − 1) / r², by powers of r², minimax on [-π/4, π/4] (relative error 2^-58).
pub const SIN: [f64; 6] = [
    -0.166_666_666_666_666_32,
    0.008_333_333_333_322_425,
    -0.000_198_412_698_298_169_66,
    2.755_731_369_523_182_5e-6,
    -2.505_075_865_405_809_2e-8,
    1.589_682_797_204_629_6e-10,
];

/// (cos r − 1 + r²/2) / r⁴, by powers of r² (relative error 2^-64).
pub const COS: [f64; 6] = [
    0.041_666_666_666_666_6,
    -0.001_388_888_888_887_413_8,
    2.480_158_728_949_184_7e-5,
    -2.755_731_435_524_804e-7,
    2.087_572_368_536_469_4e-9,
    -1.135_966_991_930_906_3e-11,
];

/// The arguments one call takes at most: a batch's scratch holds this many per site.
pub const BATCH: usize = 64;

/// A batch kernel: `n` (at most [`BATCH`]) results from `n` arguments.
pub type Kernel = unsafe extern "C" fn(args: *const f64, out: *mut f64, n: i64);

/// A batch kernel of two arguments: `n` results from `n` pairs.
pub type Kernel2 = unsafe extern "C" fn(x: *const f64, y: *const f64, out: *mut f64, n: i64);

/// One kernel for each function gathered, for one vector width.
#[derive(Clone, Copy)]
pub struct Kernels {
    pub sin: Kernel,
    pub cos: Kernel,
    pub sin_fast: Kernel,
    pub cos_fast: Kernel,
    pub tan: Kernel,
    pub exp: Kernel,
    pub log: Kernel,
    pub tanh: Kernel,
    pub fmod: Kernel2,
}

impl Kernels {
    /// The address of the kernel computing `m` and how many arguments it takes, or `None`
    /// for math no kernel computes.
    pub fn of(&self, m: Math) -> Option<(u64, usize)> {
        let one = |k: Kernel| Some((k as usize as u64, 1));
        match m {
            Math::Sin => one(self.sin),
            Math::Cos => one(self.cos),
            Math::SinFast => one(self.sin_fast),
            Math::CosFast => one(self.cos_fast),
            Math::Tan => one(self.tan),
            Math::Exp => one(self.exp),
            Math::Log => one(self.log),
            Math::Tanh => one(self.tanh),
            Math::Fmod => Some((self.fmod as usize as u64, 2)),
            _ => None,
        }
    }
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
            v.push(avx512::KERNELS);
        }
        if has!("fma") && has!("avx2") {
            v.push(avx2::KERNELS);
        }
    }
    v
}

/// `c[0] + c[1] z + c[2] z² + ...` by Estrin's scheme, in the inline code's order: pairs
/// `c[k] + c[k+1] z`, then pairs of those with z², z⁴, ... (The first level reads `c`
/// directly: copied into `t` first, the kernels were not vectorised and took 2.5x as long.)
#[inline(always)]
fn estrin<const N: usize>(z: f64, c: &[f64; N]) -> f64 {
    let mut t = [0.0f64; N];
    let mut n = 0;
    while 2 * n < N {
        let k = 2 * n;
        t[n] = if k + 1 < N {
            z.mul_add(c[k + 1], c[k])
        } else {
            c[k]
        };
        n += 1;
    }
    let mut zp = z * z;
    while n > 1 {
        let mut m = 0;
        while 2 * m < n {
            let j = 2 * m;
            t[m] = if j + 1 < n {
                zp.mul_add(t[j + 1], t[j])
            } else {
                t[j]
            };
            m += 1;
        }
        n = m;
        if n > 1 {
            zp *= zp;
        }
    }
    t[0]
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
    let p = estrin(z, &SIN_FAST);
    signed((r * z).mul_add(p, r), r, t, cos)
}

/// 2^k for t = k + [`ROUND`] (k an integer within the normal exponents).
#[inline(always)]
fn pow2(t: f64) -> f64 {
    f64::from_bits(t.to_bits().wrapping_sub(ROUND.to_bits() - 1023) << 52)
}

/// e^hi for |hi| ≤ [`EXP_LIMIT`] (the inline code's `exp_core` with lo = 0).
#[inline(always)]
fn exp_core(hi: f64) -> f64 {
    let t = hi * std::f64::consts::LOG2_E + ROUND;
    let k = t - ROUND;
    let r = k.mul_add(-LN2_HI, hi) + k.mul_add(-LN2_LO, 0.0);
    let p = (r * r).mul_add(estrin(r, &EXP), r);
    (1.0 + p) * pow2(t)
}

/// exp x on the usual path, and whether x needs the C library instead.
#[inline(always)]
fn exp_usual(x: f64) -> (f64, bool) {
    // Beyond the limit: NaN too, in one comparison.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    let far = !(x.abs() <= EXP_LIMIT);
    (exp_core(x), far)
}

/// log x on the usual path (a positive normal finite x), and whether x needs the C
/// library instead.
#[inline(always)]
fn log_usual(x: f64) -> (f64, bool) {
    let xb = x.to_bits();
    let m = f64::from_bits((xb & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
    let e = f64::from_bits((xb >> 52).wrapping_add(ROUND.to_bits() - 1023)) - ROUND;
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = if big { e + 1.0 } else { e };
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let r = z * estrin(z, &LOG);
    let hfsq = (f * f) * 0.5;
    let lo = (s * (hfsq + r) + e * LN2_LO) - hfsq;
    let eh = e * LN2_HI;
    let hi = eh + f;
    let lo = lo + (f - (hi - eh));
    let ok = (f64::MIN_POSITIVE..f64::INFINITY).contains(&x);
    (hi + lo, !ok)
}

/// tanh x (the inline code's `tanh`: no branch, no call).
#[inline(always)]
fn tanh(x: f64) -> f64 {
    let ax = x.abs();
    let z = x * x;
    let small = x + (x * z) * estrin(z, &TANH);
    // (Cranelift's fmin gives NaN for a NaN, this 20: the result is x either way.)
    let c = ax.min(20.0);
    let big = 1.0 - 2.0 / (exp_core(c + c) + 1.0);
    let big = f64::from_bits(big.to_bits() | (x.to_bits() & (1 << 63)));
    let v = if ax < TANH_SMALL { small } else { big };
    if ax >= TANH_TINY { v } else { x }
}

/// tan x from t = x · 2/π + ROUND (whose last bit is the parity of k, the nearest
/// integer) and r = x − kπ/2 = hi + lo (the inline code's `tan` after its reduction):
/// the quotient of sine and cosine polynomials, negated and inverted in odd quadrants.
#[inline(always)]
fn tan_of(x: f64, t: f64, hi: f64, lo: f64) -> f64 {
    let z = hi * hi;
    let sin = hi + (hi * z).mul_add(estrin(z, &SIN), lo);
    let half = z * 0.5;
    let w = 1.0 - half;
    let d = (1.0 - w) - half;
    let c = (z * z).mul_add(estrin(z, &COS), -(hi * lo));
    let cos = w + (d + c);
    let v = if t.to_bits() & 1 == 1 {
        -cos / sin
    } else {
        sin / cos
    };
    if x == 0.0 { x } else { v }
}

/// t and k for tan: k the integer nearest x · 2/π, t = k + ROUND.
#[inline(always)]
fn tan_quadrant(x: f64) -> (f64, f64) {
    let t = x * TWO_OVER_PI + ROUND;
    (t, t + -ROUND)
}

/// tan x on the usual path, and whether x needs [`tan_careful`] instead.
#[inline(always)]
fn tan_usual(x: f64) -> (f64, bool) {
    let (t, k) = tan_quadrant(x);
    let (hi, lo, _, bad) = reduce(x, k);
    (tan_of(x, t, hi, lo), bad)
}

/// tan x where the usual path does not serve.
fn tan_careful(x: f64) -> f64 {
    if x.abs() < SIN_LIMIT {
        let (t, k) = tan_quadrant(x);
        let (hi, lo, _) = reduce_seven(x, k);
        tan_of(x, t, hi, lo)
    } else {
        zonal_tan(x)
    }
}

/// fmod(x, y) on the usual path (the inline code's `fmod` with fused multiply-adds: q|y|
/// formed exactly), and whether (x, y) needs the C library instead.
#[inline(always)]
fn fmod_usual(x: f64, y: f64) -> (f64, bool) {
    let (ax, ay) = (x.abs(), y.abs());
    let ratio = ax / ay;
    let ok = ratio < 4_503_599_627_370_496.0 && ay > 0.0 && ay < f64::INFINITY;
    let q = ratio.trunc();
    let p = q * ay;
    let pe = q.mul_add(ay, -p);
    let r = (ax - p) - pe;
    let r = if r < 0.0 { r + ay } else { r };
    let r = f64::from_bits(r.to_bits() | (x.to_bits() & (1 << 63)));
    (r, !ok)
}

/// `usual` over a batch of pairs (vectorised), then `careful` again for the pairs `usual`
/// said it does not serve.
#[inline(always)]
fn guarded2(
    (xs, ys): (&[f64], &[f64]),
    out: &mut [f64],
    usual: impl Fn(f64, f64) -> (f64, bool),
    careful: impl Fn(f64, f64) -> f64,
) {
    let mut any = false;
    for ((o, &x), &y) in out.iter_mut().zip(xs).zip(ys) {
        let (v, bad) = usual(x, y);
        *o = v;
        any |= bad;
    }
    if any {
        for ((o, &x), &y) in out.iter_mut().zip(xs).zip(ys) {
            if usual(x, y).1 {
                *o = careful(x, y);
            }
        }
    }
}

/// `f` over a batch (vectorised by the compiler: no branch, no call).
#[inline(always)]
fn plain(args: &[f64], out: &mut [f64], f: impl Fn(f64) -> f64) {
    for (o, &x) in out.iter_mut().zip(args) {
        *o = f(x);
    }
}

/// `usual` over a batch (vectorised), then `careful` again for the arguments `usual` said
/// it does not serve.
#[inline(always)]
fn guarded(
    args: &[f64],
    out: &mut [f64],
    usual: impl Fn(f64) -> (f64, bool),
    careful: impl Fn(f64) -> f64,
) {
    let mut any = false;
    for (o, &x) in out.iter_mut().zip(args) {
        let (v, bad) = usual(x);
        *o = v;
        any |= bad;
    }
    if any {
        for (o, &x) in out.iter_mut().zip(args) {
            if usual(x).1 {
                *o = careful(x);
            }
        }
    }
}

/// A kernel call's count of arguments, at most [`BATCH`].
fn count(n: i64) -> usize {
    (n.max(0) as usize).min(BATCH)
}

/// A kernel call's `n` arguments at `p`.
///
/// # Safety
/// `p` points to `n` doubles, `n` ≤ [`BATCH`], that nothing writes during the call.
#[inline(always)]
unsafe fn arguments<'a>(p: *const f64, n: i64) -> &'a [f64] {
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(p, count(n)) }
}

/// A kernel call's `n` results at `p`.
///
/// # Safety
/// `p` points to `n` doubles, `n` ≤ [`BATCH`], apart from the arguments.
#[inline(always)]
unsafe fn results<'a>(p: *mut f64, n: i64) -> &'a mut [f64] {
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts_mut(p, count(n)) }
}

/// A kernel: `$body` over the call's slices `$a` (arguments) and `$o` (results), compiled
/// with `$features`.
macro_rules! kernel {
    ($name:ident, $features:literal, |$a:ident, $o:ident| $body:expr) => {
        #[target_feature(enable = $features)]
        unsafe extern "C" fn $name(args: *const f64, out: *mut f64, n: i64) {
            // SAFETY: compiled code passes n ≤ BATCH doubles of arguments (its scratch, or
            // an array's elements it may read) and n of results in its scratch, apart;
            // `every_kernel` gave this function only on a CPU with these features.
            let ($a, $o) = unsafe { (arguments(args, n), results(out, n)) };
            $body
        }
    };
}

/// A kernel of two arguments: `$body` over the call's slices `$x`, `$y` and `$o`.
macro_rules! kernel2 {
    ($name:ident, $features:literal, |$x:ident, $y:ident, $o:ident| $body:expr) => {
        #[target_feature(enable = $features)]
        unsafe extern "C" fn $name(x: *const f64, y: *const f64, out: *mut f64, n: i64) {
            // SAFETY: as for `kernel!`, with n doubles of second arguments at `y`, apart
            // from the results.
            let ($x, $y, $o) = unsafe { (arguments(x, n), arguments(y, n), results(out, n)) };
            $body
        }
    };
}

/// The kernels for one vector width, in a module of that name.
macro_rules! width {
    ($width:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $width {
            use super::*;

            kernel!(sin, $features, |a, o| guarded(
                a,
                o,
                |x| usual(x, false),
                |x| careful(x, false)
            ));
            kernel!(cos, $features, |a, o| guarded(
                a,
                o,
                |x| usual(x, true),
                |x| careful(x, true)
            ));
            kernel!(sin_fast, $features, |a, o| plain(a, o, |x| fast(x, false)));
            kernel!(cos_fast, $features, |a, o| plain(a, o, |x| fast(x, true)));
            kernel!(tan, $features, |a, o| guarded(a, o, tan_usual, tan_careful));
            kernel!(exp, $features, |a, o| guarded(a, o, exp_usual, |x| {
                zonal_exp(x)
            }));
            kernel!(log, $features, |a, o| guarded(a, o, log_usual, |x| {
                zonal_log(x)
            }));
            kernel!(tanh, $features, |a, o| plain(a, o, super::tanh));
            kernel2!(fmod, $features, |x, y, o| guarded2(
                (x, y),
                o,
                fmod_usual,
                |x, y| zonal_fmod(x, y)
            ));

            pub(super) const KERNELS: Kernels = Kernels {
                sin,
                cos,
                sin_fast,
                cos_fast,
                tan,
                exp,
                log,
                tanh,
                fmod,
            };
        }
    };
}

width!(avx512, "avx512f,avx512dq,avx512vl,fma");
width!(avx2, "avx2,fma");
