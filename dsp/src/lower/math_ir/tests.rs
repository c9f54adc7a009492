//! The inline math against Rust's (the C library's) functions: each function compiled on
//! its own into a scalar and an `F64X2` entry point, run over dense random arguments and
//! the edge cases, its error measured in ulp of the exact-to-½-ulp reference.

use super::{MathEmitter, SIN_LIMIT};
use crate::builtin::Math;
use crate::jit::{CodeBlock, Jit};
use cranelift_codegen::ir::{AbiParam, InstBuilder, MemFlagsData, Signature, types};

type Scalar1 = extern "C" fn(f64) -> f64;
type Scalar2 = extern "C" fn(f64, f64) -> f64;
type Vector = extern "C" fn(*const f64, *const f64, *mut f64);

/// `name` compiled twice: scalar (one or two arguments) and over two lanes, reading its
/// arguments from two pairs of doubles and writing a pair.
struct Compiled {
    scalar: u64,
    vector: Vector,
    arity: usize,
    _code: CodeBlock,
}

/// The variants to test: without fused multiply-adds, and with them where this machine
/// has them (as compiled code uses them).
fn variants() -> Vec<bool> {
    let mut v = vec![false];
    if Jit::new().expect("jit").has_fma() {
        v.push(true);
    }
    v
}

impl Compiled {
    fn with(name: &str, arity: usize, fma: bool) -> Compiled {
        let m = Math::from_name(name).expect("a math builtin");
        let mut jit = Jit::new().expect("jit");
        let cc = jit.call_conv();
        let frontend = jit.frontend();
        let mut code = jit.module();
        let mut sig = Signature::new(cc);
        sig.params
            .extend(std::iter::repeat_n(AbiParam::new(types::F64), arity));
        sig.returns.push(AbiParam::new(types::F64));
        let scalar = jit
            .function(&mut code, sig, |mut b| {
                let entry = b.create_block();
                b.append_block_params_for_function_params(entry);
                b.switch_to_block(entry);
                b.seal_block(entry);
                let args = b.block_params(entry).to_vec();
                let r = MathEmitter::new(&mut b, types::F64, cc, fma)
                    .call(m, &args)
                    .expect("inline name");
                b.ins().return_(&[r]);
                b.finalize(frontend);
                Ok(())
            })
            .expect("scalar function");
        let mut sig = Signature::new(cc);
        sig.params
            .extend(std::iter::repeat_n(AbiParam::new(types::I64), 3));
        let vector = jit
            .function(&mut code, sig, |mut b| {
                let entry = b.create_block();
                b.append_block_params_for_function_params(entry);
                b.switch_to_block(entry);
                b.seal_block(entry);
                let p = b.block_params(entry).to_vec();
                let f = MemFlagsData::trusted();
                let args: Vec<_> = (0..arity)
                    .map(|i| b.ins().load(types::F64X2, f, p[i], 0))
                    .collect();
                let r = MathEmitter::new(&mut b, types::F64X2, cc, fma)
                    .call(m, &args)
                    .expect("inline name");
                b.ins().store(f, r, p[2], 0);
                b.ins().return_(&[]);
                b.finalize(frontend);
                Ok(())
            })
            .expect("vector function");
        code.finalize().expect("finalize");
        let scalar_addr = code.address(scalar);
        // SAFETY: the function at this address was just compiled with the signature
        // (ptr, ptr, ptr) and lives as long as `code`, which `Compiled` keeps.
        let vector = unsafe { std::mem::transmute::<u64, Vector>(code.address(vector)) };
        Compiled {
            scalar: scalar_addr,
            vector,
            arity,
            _code: code,
        }
    }

    fn call(&self, x: f64, y: f64) -> f64 {
        if self.arity == 1 {
            // SAFETY: compiled above as (f64) -> f64, alive while `self` is.
            let f = unsafe { std::mem::transmute::<u64, Scalar1>(self.scalar) };
            f(x)
        } else {
            // SAFETY: compiled above as (f64, f64) -> f64, alive while `self` is.
            let f = unsafe { std::mem::transmute::<u64, Scalar2>(self.scalar) };
            f(x, y)
        }
    }

    fn call2(&self, x: [f64; 2], y: [f64; 2]) -> [f64; 2] {
        let mut out = [0.0; 2];
        (self.vector)(x.as_ptr(), y.as_ptr(), out.as_mut_ptr());
        out
    }
}

/// Distance from `got` to `want` in ulp of `want` (NaN to NaN is 0; a NaN against a number
/// or numbers of unlike sign are infinitely far).
fn ulps(got: f64, want: f64) -> f64 {
    if got.is_nan() || want.is_nan() {
        return if got.is_nan() && want.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if got == want {
        return if got.is_sign_negative() == want.is_sign_negative() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if want.is_infinite() || got.is_infinite() {
        return f64::INFINITY;
    }
    let a = want.abs();
    let ulp = if a < f64::MIN_POSITIVE {
        f64::from_bits(1)
    } else {
        f64::from_bits(a.to_bits() + 1) - a
    };
    (got - want).abs() / ulp
}

/// A reproducible stream of 64-bit words (xorshift*).
fn words(seed: u64) -> impl Iterator<Item = u64> {
    let mut s = seed | 1;
    std::iter::from_fn(move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        Some(s.wrapping_mul(0x2545_F491_4F6C_DD1D))
    })
}

/// `n` doubles uniform in [lo, hi), then `n` spread evenly in magnitude (log-uniform) over
/// [tiny, hi), both signs when `lo` < 0.
fn args(lo: f64, hi: f64, tiny: f64, n: usize, seed: u64) -> Vec<f64> {
    let mut w = words(seed);
    let mut unit = move || (w.next().unwrap_or(0) >> 11) as f64 / (1u64 << 53) as f64;
    let mut v: Vec<f64> = (0..n).map(|_| lo + (hi - lo) * unit()).collect();
    let (a, b) = (tiny.ln(), hi.abs().max(lo.abs()).ln());
    for i in 0..n {
        let m = (a + (b - a) * unit()).exp();
        v.push(if lo < 0.0 && i % 2 == 1 { -m } else { m });
    }
    v
}

/// The largest error in ulp of `name` against `reference` over `xs` (with `ys` the second
/// arguments), checking that the two-lane version gives the scalar's bits, lane by lane,
/// with every pairing of neighbours (so a lane sent out of line meets an inline one), in
/// each of the [`variants`].
fn worst(
    name: &str,
    xs: &[f64],
    ys: &[f64],
    reference: impl Fn(f64, f64) -> f64,
) -> (f64, f64, f64) {
    let mut worst = (0.0, f64::NAN, f64::NAN);
    for fma in variants() {
        let w = worst_of(name, fma, xs, ys, &reference);
        if w.0 > worst.0 || w.0.is_nan() {
            worst = w;
        }
    }
    worst
}

fn worst_of(
    name: &str,
    fma: bool,
    xs: &[f64],
    ys: &[f64],
    reference: &impl Fn(f64, f64) -> f64,
) -> (f64, f64, f64) {
    let arity = if ys.is_empty() { 1 } else { 2 };
    let c = Compiled::with(name, arity, fma);
    let y_at = |i: usize| if ys.is_empty() { 0.0 } else { ys[i % ys.len()] };
    let mut worst = (0.0, f64::NAN, f64::NAN);
    let mut seen = (0.0, 0.0);
    let mut differ = 0;
    for (i, &x) in xs.iter().enumerate() {
        let y = y_at(i);
        let got = c.call(x, y);
        let e = ulps(got, reference(x, y));
        differ += usize::from(e > 0.0);
        if e > worst.0 || e.is_nan() {
            worst = (e, x, y);
            seen = (got, reference(x, y));
        }
        let j = (i + 1) % xs.len();
        let pair = c.call2([x, xs[j]], [y, y_at(j)]);
        let other = c.call(xs[j], y_at(j));
        assert_eq!(
            (pair[0].to_bits(), pair[1].to_bits()),
            (got.to_bits(), other.to_bits()),
            "{name} on two lanes ({x:e}, {:e}) differs from one lane at a time",
            xs[j]
        );
    }
    eprintln!(
        "{name} (fma {fma}): worst got {:e}, want {:e}; {differ} of {} differ from the C library",
        seen.0,
        seen.1,
        xs.len()
    );
    worst
}

/// The cases every function meets: zeros, infinities, NaN, subnormals, the extremes.
fn specials() -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MIN_POSITIVE,
        f64::MIN_POSITIVE / 3.0,
        f64::from_bits(1),
        -f64::from_bits(1),
        f64::MAX,
        f64::MIN,
        1.0,
        -1.0,
        0.5,
        2.0,
    ];
    v.extend(v.clone().iter().map(|x| -x));
    v
}

fn check(name: &str, xs: &[f64], ys: &[f64], bound: f64, reference: impl Fn(f64, f64) -> f64) {
    let (e, x, y) = worst(name, xs, ys, reference);
    eprintln!("{name}: worst {e:.3} ulp at x = {x:e}, y = {y:e}");
    assert!(e <= bound, "{name}: {e} ulp at x = {x:e}, y = {y:e}");
}

/// Multiples of π/2 up to 1e9 and their neighbours: where the reduction cancels most.
fn near_multiples_of_half_pi() -> Vec<f64> {
    let mut v = Vec::new();
    for k in (1..2000).chain((0..2000).map(|i| 600_000_000 + i * 7919)) {
        let x = k as f64 * std::f64::consts::FRAC_PI_2;
        let b = x.to_bits();
        v.extend([
            x,
            -x,
            f64::from_bits(b + 1),
            f64::from_bits(b - 1),
            f64::from_bits(b + 2),
        ]);
    }
    v
}

/// For binades below 2^30, the double nearest a multiple of π/2 (from the continued
/// fraction of π/2 · 2^(52 − e)), with its sine and cosine correctly rounded (computed
/// to 100 digits with mpmath): the reduction cancels 60 bits at 45.553093477052. The C
/// library is 2 ulp off at some of them, so these are checked against the exact values.
const HARD: [(f64, f64, f64); 12] = [
    (45.553_093_477_052, 1.0, -6.189_806_365_883_577e-19),
    (14_461_176.670_278_38, -1.0, -1.698_503_829_898_600_4e-18),
    (28_922_353.340_556_76, 3.397_007_659_797_200_8e-18, -1.0),
    (57_844_706.681_113_52, -6.794_015_319_594_401_5e-18, 1.0),
    (115_689_413.362_227_04, -1.358_803_063_918_880_3e-17, 1.0),
    (231_378_826.724_454_08, -2.717_606_127_837_760_6e-17, 1.0),
    (321_307.959_442_222_9, -1.0, -4.429_600_834_596_129e-17),
    (1_698_673.284_962_942_4, 1.0, -5.038_136_613_397_025e-17),
    (462_757_653.448_908_15, -5.435_212_255_675_521e-17, 1.0),
    (642_615.918_884_445_8, 8.859_201_669_192_259e-17, -1.0),
    (925_515_306.897_816_3, -1.087_042_451_135_104_2e-16, 1.0),
    (46_066.743_875_913_93, -1.0, 1.359_307_039_318_883_7e-16),
];

#[test]
fn sin_and_cos_are_correctly_rounded_where_the_reduction_cancels_most() {
    for fma in variants() {
        hard_cases(fma);
    }
}

fn hard_cases(fma: bool) {
    let (s, c) = (Compiled::with("sin", 1, fma), Compiled::with("cos", 1, fma));
    for (x, sin, cos) in HARD {
        for x in [x, -x] {
            let sin = if x < 0.0 { -sin } else { sin };
            assert_eq!(s.call(x, 0.0), sin, "sin {x:e}");
            assert_eq!(c.call(x, 0.0), cos, "cos {x:e}");
            let pair = s.call2([x, 0.5], [0.0; 2]);
            assert_eq!(pair[0], sin, "sin {x:e} on two lanes");
        }
    }
}

#[test]
fn sin_and_cos_stay_within_one_ulp_up_to_a_billion() {
    let mut xs = args(-SIN_LIMIT, SIN_LIMIT, 1e-300, 300_000, 1);
    xs.extend(args(-7.0, 7.0, 1e-12, 200_000, 2));
    xs.extend(args(-3e5, 3e5, 1e-3, 200_000, 3));
    xs.extend(near_multiples_of_half_pi());
    xs.extend(specials());
    xs.extend([
        262_143.999_999_999_94,
        262_144.0,
        SIN_LIMIT,
        1e9,
        1e12,
        1e300,
    ]);
    check("sin", &xs, &[], 1.0, |x, _| x.sin());
    check("cos", &xs, &[], 1.0, |x, _| x.cos());
}

/// Arguments on both sides of where the reduction's usual path hands over to its seven
/// parts (|r| = 2^-30 |x|), from 2π up to 2^30.
fn around_the_seven_part_threshold() -> Vec<f64> {
    let mut v = Vec::new();
    for e in 2..30 {
        for k in [1.0, 1.37, 1.91] {
            let m = (k * 2f64.powi(e) / std::f64::consts::FRAC_PI_2).round();
            let base = m * std::f64::consts::FRAC_PI_2;
            for f in [0.25, 0.5, 0.999, 1.0, 1.001, 2.0, 4.0] {
                let d = f * base * 2f64.powi(-30);
                v.extend([base + d, base - d, -(base + d)]);
            }
        }
    }
    v
}

#[test]
fn sin_cos_and_tan_stay_within_their_bounds_where_the_reduction_changes_path() {
    let xs = around_the_seven_part_threshold();
    check("sin", &xs, &[], 1.0, |x, _| x.sin());
    check("cos", &xs, &[], 1.0, |x, _| x.cos());
    check("tan", &xs, &[], 3.0, |x, _| x.tan());
}

#[test]
fn tan_stays_within_three_ulp_up_to_a_billion() {
    let mut xs = args(-SIN_LIMIT, SIN_LIMIT, 1e-300, 200_000, 4);
    xs.extend(args(-7.0, 7.0, 1e-12, 200_000, 5));
    xs.extend(near_multiples_of_half_pi());
    xs.extend(specials());
    check("tan", &xs, &[], 3.0, |x, _| x.tan());
}

#[test]
fn exp_log_and_tanh_stay_within_two_ulp() {
    let mut xs = args(-745.0, 710.0, 1e-300, 300_000, 6);
    xs.extend(args(-1.0, 1.0, 1e-20, 100_000, 7));
    xs.extend(specials());
    xs.extend([708.0, -708.0, 709.7, -744.0, -1e-320]);
    check("exp", &xs, &[], 1.0, |x, _| x.exp());
    let mut ls = args(0.0, 1e300, 1e-300, 300_000, 8);
    ls.extend(args(0.5, 2.0, 0.5, 200_000, 9));
    ls.extend(specials());
    ls.extend([
        1.0 - f64::EPSILON,
        1.0 + f64::EPSILON,
        std::f64::consts::SQRT_2,
    ]);
    check("log", &ls, &[], 1.0, |x, _| x.ln());
    let mut ts = args(-25.0, 25.0, 1e-300, 300_000, 10);
    ts.extend(args(-1.0, 1.0, 1e-10, 200_000, 11));
    ts.extend(specials());
    ts.extend([0.55, -0.55, 0.549_999_999_999_999_9, 20.0, 19.06]);
    check("tanh", &ts, &[], 2.0, |x, _| x.tanh());
}

#[test]
fn fmod_is_exact_like_c() {
    let mut xs = args(-1e9, 1e9, 1e-300, 200_000, 12);
    xs.extend(specials());
    let mut ys = args(-10.0, 10.0, 1e-10, 1000, 13);
    ys.extend([
        std::f64::consts::TAU,
        1.0,
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::from_bits(1),
        1e-300,
        // q |y| near the top of the range, where Dekker's splitting overflows
        1e300,
        1.0e308,
    ]);
    xs.extend([1.5e300, -1.7e308, 9.9e307]);
    // Rust's % is C's fmod, which is exact.
    check("fmod", &xs, &ys, 0.0, |x, y| x % y);
}

#[test]
fn pow_stays_within_one_ulp_where_it_is_inline_and_is_cs_elsewhere() {
    // Pairs (x, y): x over the whole positive range with modest y; x near 1 with large
    // y; y log x near the edge of the inline range (±708) and past it.
    let mut w = words(15);
    let mut unit = move || (w.next().unwrap_or(0) >> 11) as f64 / (1u64 << 53) as f64;
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for x in args(0.0, 1e300, 1e-300, 100_000, 16) {
        xs.push(x);
        ys.push(-4.0 + 8.0 * unit());
    }
    for d in args(-1e-3, 1e-3, 1e-16, 50_000, 17) {
        xs.push(1.0 + d);
        ys.push((unit() - 0.5) * 2e5);
    }
    for x in args(0.0, 1e30, 1e-30, 50_000, 18) {
        let edge = 708.0 / x.ln();
        xs.push(x);
        ys.push(edge * (0.98 + 0.04 * unit()));
    }
    // The cases C decides: signs, zeros, infinities, NaN, subnormals, integer powers
    // of negatives; and exact results.
    let sp = specials();
    for &x in &sp {
        for &y in sp.iter().chain(&[3.0, -3.0, 0.5, 2.5, 1e300]) {
            xs.push(x);
            ys.push(y);
        }
    }
    for (x, y) in [
        (2.0, 10.0),
        (10.0, 2.0),
        (4.0, 0.5),
        (-2.0, 3.0),
        (2.0, -1074.0),
    ] {
        xs.push(x);
        ys.push(y);
    }
    check("pow", &xs, &ys, 1.0, |x, y| x.powf(y));
    for fma in variants() {
        let c = Compiled::with("pow", 2, fma);
        for (x, y, want) in [(2.0, 10.0, 1024.0), (10.0, 3.0, 1000.0), (9.0, 0.5, 3.0)] {
            assert_eq!(c.call(x, y), want, "pow({x}, {y})");
        }
    }
}

#[test]
fn sin_fast_and_cos_fast_stay_within_1e_10_below_2_18() {
    for fma in variants() {
        fast_within_1e_10(fma);
    }
}

fn fast_within_1e_10(fma: bool) {
    let c = [
        Compiled::with("sin_fast", 1, fma),
        Compiled::with("cos_fast", 1, fma),
    ];
    let mut worst = [0.0f64; 2];
    for x in args(-262_144.0, 262_144.0, 1e-12, 300_000, 14) {
        let err = [
            (c[0].call(x, 0.0) - x.sin()).abs(),
            (c[1].call(x, 0.0) - x.cos()).abs(),
        ];
        assert!(err[0] < 1e-10 && err[1] < 1e-10, "x = {x:e}: {err:?}");
        worst = [worst[0].max(err[0]), worst[1].max(err[1])];
        let pair = c[0].call2([x, -x], [0.0; 2]);
        assert_eq!(pair[0].to_bits(), c[0].call(x, 0.0).to_bits());
    }
    eprintln!(
        "sin_fast, cos_fast (fma {fma}): worst {:e}, {:e}",
        worst[0], worst[1]
    );
}

#[test]
fn the_batch_kernels_give_each_argument_the_inline_codes_bits() {
    // The kernels mirror the code compiled with fused multiply-adds, the only one they
    // stand in for, every vector width this CPU has.
    let mut xs = args(-SIN_LIMIT, SIN_LIMIT, 1e-300, 20_000, 5);
    xs.extend(args(-7.0, 7.0, 1e-12, 20_000, 6));
    xs.extend(near_multiples_of_half_pi());
    xs.extend(around_the_seven_part_threshold());
    xs.extend(specials());
    xs.extend(HARD.iter().flat_map(|&(x, _, _)| [x, -x]));
    xs.extend([SIN_LIMIT, 1e9, 1e12, 1e300, -0.0, 0.0]);
    // exp's and log's edges: around ±708, subnormals, the least normal, ±0.55 and 2^-28
    // (tanh's switches), 20.
    xs.extend(args(-750.0, 750.0, 1e-300, 20_000, 7));
    xs.extend(args(0.0, 4.0, 1e-300, 20_000, 8));
    xs.extend([
        708.0,
        -708.0,
        708.000_000_000_000_1,
        709.9,
        -745.2,
        f64::MIN_POSITIVE,
        f64::MIN_POSITIVE / 3.0,
        f64::MAX,
        0.55,
        -0.55,
        0.549_999_999_999_999_9,
        1.0 / 268_435_456.0,
        20.0,
        -20.000_000_1,
        std::f64::consts::SQRT_2,
        1.0,
    ]);
    let batch = crate::runtime::wide_math::BATCH;
    let kernels = crate::runtime::wide_math::every_kernel();
    let each = kernels.iter().flat_map(|k| {
        [
            ("sin", k.sin),
            ("cos", k.cos),
            ("sin_fast", k.sin_fast),
            ("cos_fast", k.cos_fast),
            ("tan", k.tan),
            ("exp", k.exp),
            ("log", k.log),
            ("tanh", k.tanh),
        ]
    });
    for (name, kernel) in each {
        let inline = Compiled::with(name, 1, true);
        // Every length up to a whole batch, so each tail of the kernel's loop runs.
        let mut at = 0;
        let mut len = 0;
        while at < xs.len() {
            len = len % batch + 1;
            let chunk = &xs[at..(at + len).min(xs.len())];
            let mut out = vec![0.0; chunk.len()];
            // SAFETY: chunk.len() ≤ BATCH arguments and as many results, apart.
            unsafe { kernel(chunk.as_ptr(), out.as_mut_ptr(), chunk.len() as i64) };
            for (&x, &y) in chunk.iter().zip(&out) {
                let want = inline.call(x, 0.0);
                assert!(
                    y.to_bits() == want.to_bits() || (y.is_nan() && want.is_nan()),
                    "{name} {x:e}: kernel {y:e}, inline {want:e}"
                );
            }
            at += chunk.len();
        }
    }
    // fmod, of pairs: the arguments above against a few divisors.
    let ys = [
        std::f64::consts::TAU,
        1.0,
        -3.5,
        0.0,
        f64::NAN,
        f64::INFINITY,
        1e-300,
        1e300,
    ];
    for k in &kernels {
        two(("fmod", k.fmod), &xs, &ys);
    }
}

/// A two-argument kernel against the inline code, the arguments `xs` in batches, each
/// against the second arguments `ys` in turn.
fn two((name, kernel): (&str, crate::runtime::wide_math::Kernel2), xs: &[f64], ys: &[f64]) {
    let inline = Compiled::with(name, 2, true);
    for (n, chunk) in xs.chunks(crate::runtime::wide_math::BATCH).enumerate() {
        let y: Vec<f64> = (0..chunk.len()).map(|i| ys[(n + i) % ys.len()]).collect();
        let mut out = vec![0.0; chunk.len()];
        // SAFETY: chunk.len() ≤ BATCH pairs and as many results, apart.
        unsafe {
            kernel(
                chunk.as_ptr(),
                y.as_ptr(),
                out.as_mut_ptr(),
                chunk.len() as i64,
            )
        };
        for ((&x, &y), &r) in chunk.iter().zip(&y).zip(&out) {
            let want = inline.call(x, y);
            assert!(
                r.to_bits() == want.to_bits() || (r.is_nan() && want.is_nan()),
                "{name} {x:e} {y:e}: kernel {r:e}, inline {want:e}"
            );
        }
    }
}
