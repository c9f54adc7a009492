//! C functions bound with `Dsp::bind_c_function` (what `bind-lib` does once the engine
//! found the symbol): called directly from xtlang and through their bind-func from Rust,
//! with the memory rule at the boundary — pointer arguments null, live DSP allocations or
//! pointers C returned; pointer results tagged again.

mod common;
use common::define;
use zonal_dsp::{Dsp, DspConfig, DspErrorKind, DspValue, parse};

fn bind(dsp: &mut Dsp, name: &str, ty: &str, addr: usize) {
    // SAFETY: every caller passes a libc/libm function whose C signature is `ty`.
    let r = unsafe { dsp.bind_c_function(name, ty, addr as u64) };
    if let Err(e) = r {
        panic!("{e}");
    }
}

/// A Dsp with libc's `strlen`, `memset`, `getenv`, `abs`, `time` and libm's `erf`, `ldexp`,
/// `sinf` bound.
fn dsp() -> Dsp {
    let mut d = Dsp::new(DspConfig::default()).expect("a Dsp");
    bind(
        &mut d,
        "strlen",
        "[i64,i8*]*",
        libc::strlen as *const () as usize,
    );
    bind(
        &mut d,
        "memset",
        "[i8*,i8*,i32,i64]*",
        libc::memset as *const () as usize,
    );
    bind(
        &mut d,
        "getenv",
        "[i8*,i8*]*",
        libc::getenv as *const () as usize,
    );
    bind(&mut d, "abs", "[i32,i32]*", libc::abs as *const () as usize);
    bind(
        &mut d,
        "time",
        "[i64,i64*]*",
        libc::time as *const () as usize,
    );
    unsafe extern "C" {
        safe fn erf(x: f64) -> f64;
        safe fn ldexp(x: f64, e: i32) -> f64;
        safe fn sinf(x: f32) -> f32;
    }
    bind(&mut d, "erf", "[double,double]*", erf as *const () as usize);
    bind(
        &mut d,
        "ldexp",
        "[double,double,i32]*",
        ldexp as *const () as usize,
    );
    bind(&mut d, "sinf", "[float,float]*", sinf as *const () as usize);
    d
}

fn fault(dsp: &mut Dsp, name: &str) -> String {
    let e = dsp.call(name, &[]).expect_err("faults");
    assert_eq!(e.kind, DspErrorKind::Fault, "{}", e.message);
    e.message
}

#[test]
fn c_functions_are_called_from_xtlang_with_their_c_types() {
    let mut d = dsp();
    define(
        &mut d,
        "(bind-func e1 (lambda (x:double) (erf x)))
         (bind-func l1 (lambda (x:double n:i32) (ldexp x n)))
         (bind-func a1 (lambda (n:i32) (abs n)))
         (bind-func s1 (lambda (x:float) (sinf x)))",
    );
    let v = d.call("e1", &[DspValue::Double(0.5)]).unwrap();
    assert_eq!(v, DspValue::Double(0.520_499_877_813_046_5));
    let v = d
        .call("l1", &[DspValue::Double(3.0), DspValue::I32(-2)])
        .unwrap();
    assert_eq!(v, DspValue::Double(0.75));
    assert_eq!(
        d.call("a1", &[DspValue::I32(-7)]).unwrap(),
        DspValue::I32(7)
    );
    let DspValue::Float(s) = d.call("s1", &[DspValue::Float(0.5)]).unwrap() else {
        panic!("a float");
    };
    assert!((s - 0.5f32.sin()).abs() < 1e-7);
}

#[test]
fn a_c_function_is_also_a_bind_func_called_from_rust_and_taken_as_a_closure() {
    let mut d = dsp();
    assert_eq!(
        d.call("abs", &[DspValue::I32(-3)]).unwrap(),
        DspValue::I32(3)
    );
    assert_eq!(
        d.call("strlen", &[DspValue::Str("hello".into())]).unwrap(),
        DspValue::I64(5)
    );
    define(
        &mut d,
        "(bind-func twice (lambda (f:[double,double]* x:double) (f (f x))))
         (bind-func via (lambda (x:double) (twice erf x)))",
    );
    let v = d.call("via", &[DspValue::Double(0.5)]).unwrap();
    let DspValue::Double(x) = v else {
        panic!("a double")
    };
    assert!((x - 0.538_328_93).abs() < 1e-6, "{x}");
}

#[test]
fn a_pointer_argument_must_be_null_or_a_live_allocation() {
    let mut d = dsp();
    define(
        &mut d,
        "(bind-func fill (lambda ()
           (let ((b:i8* (zalloc 8)))
             (memset b 65 7)
             (strlen b))))
         (bind-func past (lambda () (let ((b:i8* (zalloc 8))) (strlen (pref-ptr b 8)))))
         (bind-func freed (lambda () (let ((b:i8* (halloc 8))) (free b) (strlen b))))
         (bind-func made (lambda () (let ((p:i8* (convert 4096))) (strlen p))))
         (bind-func none (lambda () (let ((p:i64* null)) (time p))))",
    );
    assert_eq!(d.call("fill", &[]).unwrap(), DspValue::I64(7));
    let m = fault(&mut d, "past");
    assert!(m.contains("out-of-bounds read"), "{m}");
    assert!(
        m.contains("pointer argument 1 of strlen, a C function"),
        "{m}"
    );
    let m = fault(&mut d, "freed");
    assert!(m.contains("freed"), "{m}");
    let m = fault(&mut d, "made");
    assert!(m.contains("outside DSP memory"), "{m}");
    // null passes: time(NULL) returns the time
    let DspValue::I64(t) = d.call("none", &[]).unwrap() else {
        panic!("an i64")
    };
    assert!(t > 1_600_000_000, "{t}");
}

#[test]
fn a_pointer_from_c_into_an_allocation_is_checked_like_the_allocation() {
    let mut d = dsp();
    define(
        &mut d,
        "(bind-func back (lambda ()
           (let ((b:i8* (zalloc 4))
                 (r (memset b 66 4)))
             (pset! r 3 67)
             (+ (i8toi64 (pref b 3)) (* 1000 (i8toi64 (pref r 0)))))))
         (bind-func over (lambda ()
           (let ((b:i8* (zalloc 4))
                 (r (memset b 66 4)))
             (pref r 4))))",
    );
    assert_eq!(d.call("back", &[]).unwrap(), DspValue::I64(66_067));
    let m = fault(&mut d, "over");
    assert!(
        m.contains("out-of-bounds read of 1 bytes at offset 4"),
        "{m}"
    );
}

#[test]
fn a_pointer_from_c_outside_dsp_memory_goes_back_to_c_but_is_never_dereferenced() {
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("ZONAL_FFI_TEST", "abcdef") };
    let mut d = dsp();
    define(
        &mut d,
        "(bind-func len (lambda () (strlen (getenv \"ZONAL_FFI_TEST\"))))
         (bind-func peek (lambda () (pref (getenv \"ZONAL_FFI_TEST\") 0)))
         (bind-func missing (lambda () (null? (getenv \"ZONAL_NO_SUCH_VARIABLE\"))))",
    );
    assert_eq!(d.call("len", &[]).unwrap(), DspValue::I64(6));
    let m = fault(&mut d, "peek");
    assert!(m.contains("outside DSP memory"), "{m}");
    assert_eq!(d.call("missing", &[]).unwrap(), DspValue::I1(true));
}

#[test]
fn a_call_of_the_wrong_shape_is_a_type_error() {
    let mut d = dsp();
    for (src, want) in [
        (
            "(bind-func w1 (lambda () (erf 1.0 2.0)))",
            "takes 1 argument(s), given 2",
        ),
        ("(bind-func w2 (lambda (s:i8*) (erf s)))", "erf"),
        ("(bind-func w3 (lambda (x:double) (strlen x)))", "strlen"),
    ] {
        let f = &parse(src, "t.xtm").unwrap()[0];
        let e = d.define(f).expect_err(src);
        assert_eq!(e.kind, DspErrorKind::Type, "{src}: {}", e.message);
        assert!(e.message.contains(want), "{src}: {}", e.message);
    }
}

#[test]
fn signatures_c_cannot_take_are_refused_when_bound() {
    let mut d = dsp();
    for (ty, want) in [
        ("[void,[void]*]*", "xtlang closure"),
        ("[void,<i64,i64>]*", "pointer to it"),
        ("[void,void]*", "not a parameter type"),
        ("double", "not a function type"),
    ] {
        // SAFETY: refused before the address is used.
        let e = unsafe { d.bind_c_function("qsort", ty, libc::qsort as *const () as usize as u64) }
            .expect_err(ty);
        assert_eq!(e.kind, DspErrorKind::Type, "{ty}: {}", e.message);
        assert!(e.message.contains(want), "{ty}: {}", e.message);
    }
    assert!(d.c_function("qsort").is_none());
}

#[test]
fn a_bind_func_of_the_same_name_replaces_the_c_function_unless_it_fails() {
    let mut d = dsp();
    define(&mut d, "(bind-func user (lambda (x:double) (erf x)))");
    let bad = &parse("(bind-func erf (lambda (x:double) (+ x nothing)))", "t.xtm").unwrap()[0];
    assert!(d.define(bad).is_err());
    assert!(
        d.c_function("erf").is_some(),
        "a failed definition leaves it"
    );
    define(
        &mut d,
        "(bind-func erf (lambda (x:double) (* x 2.0)))
         (bind-func user2 (lambda (x:double) (erf x)))",
    );
    assert!(d.c_function("erf").is_none());
    assert_eq!(
        d.call("user2", &[DspValue::Double(1.5)]).unwrap(),
        DspValue::Double(3.0)
    );
    assert_eq!(
        d.call("erf", &[DspValue::Double(1.5)]).unwrap(),
        DspValue::Double(3.0)
    );
}

#[test]
fn a_c_function_named_like_a_builtin_is_the_builtin_in_xtlang_and_c_from_outside() {
    let mut d = dsp();
    unsafe extern "C" {
        safe fn cbrt(x: f64) -> f64;
    }
    bind(
        &mut d,
        "cbrt",
        "[double,double]*",
        cbrt as *const () as usize,
    );
    define(&mut d, "(bind-func c3 (lambda (x:double) (cbrt x)))");
    assert_eq!(
        d.call("c3", &[DspValue::Double(27.0)]).unwrap(),
        DspValue::Double(3.0)
    );
    assert_eq!(
        d.call("cbrt", &[DspValue::Double(-8.0)]).unwrap(),
        DspValue::Double(-2.0)
    );
}
