//! Math functions compiled code calls where Cranelift has no instruction (it has `sqrt`,
//! `fabs`, `floor`, `ceil`, `trunc`, `nearest`, `fmin`, `fmax`, `copysign`): `extern "C"`
//! wrappers over Rust's `f64`/`f32` methods, named `zonal_NAME` (double) and `zonal_NAMEf`
//! (float).

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
    zonal_sin zonal_sinf sin,
    zonal_cos zonal_cosf cos,
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
