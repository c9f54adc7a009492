//! C functions of shared libraries, as a livecoder binds them: `bind-dylib` / `bind-lib`
//! with libm and libc (present on every Debian and Ubuntu), called from xtlang and from
//! Scheme, with the memory checks at the boundary; a missing library or symbol is an
//! error the session survives; a DSP closure calling a C function is listened to.

mod common;

use common::{RATE, channel, magnitude, render_source, rms};
use zonal_engine::session::{Session, SessionConfig};
use zonal_scheme::ErrorKind;

#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

const LIBM: &str = "(bind-dylib libm \"libm.so.6\")";
const LIBC: &str = "(bind-dylib libc (list \"libc.so.6\" \"libc.so\"))";

fn session() -> Session {
    Session::headless(&SessionConfig::default()).unwrap()
}

fn eval(s: &mut Session, src: &str) -> String {
    match s.eval_source(src, "ffi.xtm") {
        Ok(v) => v,
        Err(e) => panic!("{src}: {e}"),
    }
}

fn number(s: &mut Session, src: &str) -> f64 {
    let v = eval(s, src);
    v.parse()
        .unwrap_or_else(|_| panic!("{src} gave {v}, not a number"))
}

/// Equal to within a few units in the last place.
fn close(x: f64, want: f64) {
    assert!(
        (x - want).abs() <= 4.0 * f64::EPSILON * want.abs(),
        "{x} is not {want}"
    );
}

#[test]
fn libm_functions_give_their_results_from_xtlang_and_from_scheme() {
    let mut s = session();
    eval(&mut s, LIBM);
    eval(
        &mut s,
        "(bind-lib libm cbrt [double,double]*)
         (bind-lib libm pow [double,double,double]*)
         (bind-lib libm hypot [double,double,double]*)
         (bind-lib libm erf [double,double]*)
         (bind-lib libm ldexp [double,double,i32]*)
         (bind-func f (lambda (x:double) (cbrt x)))
         (bind-func g (lambda (a:double b:double) (+ (pow a b) (hypot 3.0 4.0))))
         (bind-func h (lambda (x:double) (ldexp (erf x) -1)))",
    );
    // xtlang's `cbrt` is its builtin (a C function named like a builtin does not replace
    // it), glibc's is not correctly rounded: they agree to the last bit or so
    close(number(&mut s, "(f 27.0)"), 3.0);
    assert_eq!(number(&mut s, "(g 2.0 10.0)"), 1029.0);
    let h = number(&mut s, "(h 0.5)");
    assert!((h - 0.520_499_877_813_046_5 / 2.0).abs() < 1e-12, "{h}");
    // Scheme calls the C functions themselves, as Extempore allows
    close(number(&mut s, "(cbrt 27.0)"), 3.0);
    close(number(&mut s, "(cbrt -8)"), -2.0);
    close(number(&mut s, "(pow 2.0 0.5)"), 2f64.sqrt());
    assert_eq!(number(&mut s, "(hypot 5.0 12.0)"), 13.0);
    assert_eq!(number(&mut s, "(ldexp 3.0 4)"), 48.0);
}

#[test]
fn libc_functions_take_strings_and_fill_zone_buffers() {
    let mut s = session();
    eval(&mut s, LIBC);
    eval(
        &mut s,
        "(bind-lib libc strlen [i64,i8*]*)
         (bind-lib libc memset [i8*,i8*,i32,i64]*)
         (bind-lib libc memcpy [i8*,i8*,i8*,i64]*)
         (bind-func len-of (lambda (s:i8*) (strlen s)))
         (bind-func string-len (lambda () (strlen (tref (String \"livecoding\") 1))))
         (bind-func filled (lambda (n:i64)
           (let ((b:i8* (zalloc 32))
                 (c:i8* (zalloc 32)))
             (memset b 120 n)
             (memcpy c b 32)
             (+ (* 1000 (strlen c)) (i8toi64 (pref c 0))))))",
    );
    assert_eq!(eval(&mut s, "(len-of \"hello\")"), "5");
    assert_eq!(eval(&mut s, "(strlen \"from scheme\")"), "11");
    assert_eq!(eval(&mut s, "(string-len)"), "10");
    assert_eq!(eval(&mut s, "(filled 20)"), "20120");
}

#[test]
fn a_c_call_past_its_buffer_faults_before_c_runs_and_the_session_goes_on() {
    let mut s = session();
    eval(&mut s, LIBC);
    eval(
        &mut s,
        "(bind-lib libc strlen [i64,i8*]*)
         (bind-func past (lambda () (let ((b:i8* (zalloc 16))) (strlen (pref-ptr b 16)))))",
    );
    let e = s.eval_source("(past)", "ffi.xtm").unwrap_err();
    assert!(e.message.contains("out-of-bounds read"), "{e}");
    assert!(
        e.message
            .contains("pointer argument 1 of strlen, a C function"),
        "{e}"
    );
    assert_eq!(eval(&mut s, "(strlen \"ok\")"), "2");
}

#[test]
fn a_missing_library_says_what_was_tried_and_the_session_goes_on() {
    let mut s = session();
    let e = s
        .eval_source("(bind-dylib libnope \"libzonal-no-such.so\")", "ffi.xtm")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Native);
    assert!(
        e.message
            .contains("bind-dylib libnope: no library libzonal-no-such.so found"),
        "{e}"
    );
    assert!(e.message.contains("/usr/lib"), "{e}");
    let e = s
        .eval_source("(bind-lib libnope f [void]*)", "ffi.xtm")
        .unwrap_err();
    assert!(
        e.message
            .contains("libnope is not a library that was loaded"),
        "{e}"
    );
    assert_eq!(
        eval(&mut s, "(sys:open-dylib \"libzonal-no-such.so\")"),
        "#f"
    );
    assert_eq!(eval(&mut s, "(+ 1 2)"), "3");
}

#[test]
fn a_missing_symbol_names_the_library_and_leaves_nothing_behind() {
    let mut s = session();
    eval(&mut s, LIBM);
    let e = s
        .eval_source(
            "(bind-lib libm zonal_no_such_fn [double,double]*)",
            "ffi.xtm",
        )
        .unwrap_err();
    assert!(
        e.message
            .contains("bind-lib: libm (libm.so.6) has no function zonal_no_such_fn"),
        "{e}"
    );
    let e = s
        .eval_source(
            "(bind-func uses (lambda (x:double) (zonal_no_such_fn x)))",
            "ffi.xtm",
        )
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unbound, "{e}");
    eval(&mut s, "(bind-lib libm cbrt [double,double]*)");
    assert_eq!(number(&mut s, "(cbrt 64.0)"), 4.0);
}

#[test]
fn a_call_that_does_not_fit_the_c_signature_is_a_type_error() {
    let mut s = session();
    eval(&mut s, LIBM);
    eval(&mut s, "(bind-lib libm erf [double,double]*)");
    let e = s
        .eval_source("(bind-func two (lambda () (erf 1.0 2.0)))", "ffi.xtm")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Type);
    assert!(e.message.contains("takes 1 argument(s), given 2"), "{e}");
    let e = s
        .eval_source("(bind-func str (lambda () (erf \"one\")))", "ffi.xtm")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Type, "{e}");
    let e = s.eval_source("(erf \"one\")", "ffi.xtm").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Type, "{e}");
    let e = s.eval_source("(erf)", "ffi.xtm").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Arity, "{e}");
    let e = s
        .eval_source("(bind-lib libm erf [double,<double,double>]*)", "ffi.xtm")
        .unwrap_err();
    assert!(e.message.contains("pass a pointer to it"), "{e}");
    let e = s
        .eval_source("(bind-lib-func libm erf [double,double]*)", "ffi.xtm")
        .unwrap_err();
    assert!(e.message.contains("ahead-of-time"), "{e}");
}

#[test]
fn a_library_with_bound_functions_stays_open() {
    let mut s = session();
    eval(&mut s, "(define h (sys:open-dylib \"libm.so.6\"))");
    eval(&mut s, "(bind-lib h cbrt [double,double]*)");
    let e = s.eval_source("(sys:close-dylib h)", "ffi.xtm").unwrap_err();
    assert!(e.message.contains("stays open"), "{e}");
    assert_eq!(number(&mut s, "(cbrt 125.0)"), 5.0);
    // Extempore's libraries name theirs per platform, with an ahead-of-time name after
    eval(
        &mut s,
        "(bind-dylib libm2
           (cond ((string=? (sys:platform) \"Linux\") \"libm.so.6\")
                 ((string=? (sys:platform) \"OSX\") \"libm.dylib\"))
           \"xtmm\")",
    );
    eval(&mut s, "(bind-lib libm2 expm1 [double,double]*)");
    close(number(&mut s, "(expm1 1.0)"), std::f64::consts::E - 1.0);
    eval(&mut s, "(define z (sys:open-dylib \"libz.so.1\"))");
    if eval(&mut s, "z") != "#f" {
        assert_eq!(eval(&mut s, "(sys:close-dylib z)"), "#t");
    }
}

#[test]
fn a_dsp_calling_a_c_sine_plays_its_pitch() {
    let src = format!(
        "{LIBM}
         (bind-lib libm sinf [float,float]*)
         (bind-func dsp:DSP
           (lambda (in time chan dat)
             (* 0.5 (sinf (* 6.2831855 440.0 (/ (i64tof time) {RATE}.0))))))
         (dsp:set! dsp)"
    );
    let r = render_source(&src, 1.0);
    assert_eq!(r.summary.failures, 0, "the render reported failures");
    // the audio path around the C call allocated nothing (C's own malloc it could not
    // see: see the last test)
    assert_eq!(assert_no_alloc::violation_count(), 0);
    let left = channel(&r.samples, 2, 0);
    let at_440 = magnitude(&left, 440.0);
    assert!((at_440 - 0.5).abs() < 0.01, "440 Hz at {at_440}");
    for f in [220.0, 660.0, 880.0] {
        assert!(magnitude(&left, f) < 0.01, "{f} Hz present");
    }
    assert!((rms(&left, 0, left.len()) - 0.5 / 2f64.sqrt()).abs() < 0.01);
}

#[test]
fn a_c_global_holding_a_number_is_an_xtlang_global() {
    let mut s = session();
    eval(&mut s, LIBM);
    eval(
        &mut s,
        "(bind-lib libm lgamma [double,double]*)
         (bind-lib-val libm signgam i32)
         (bind-func sign-of-gamma (lambda (x:double) (lgamma x) signgam))
         (bind-func set-sign (lambda (n:i32) (set! signgam n) signgam))",
    );
    // lgamma sets C's signgam to the sign of gamma(x)
    assert_eq!(eval(&mut s, "(sign-of-gamma -0.5)"), "-1");
    assert_eq!(eval(&mut s, "(sign-of-gamma 0.5)"), "1");
    assert_eq!(eval(&mut s, "(set-sign 7)"), "7");
    let e = s
        .eval_source("(bind-lib-val libm signgam i8*)", "ffi.xtm")
        .unwrap_err();
    assert!(e.message.contains("numbers only"), "{e}");
    let e = s
        .eval_source("(bind-lib-val libm zonal_no_such_var i32)", "ffi.xtm")
        .unwrap_err();
    assert!(
        e.message.contains("has no variable zonal_no_such_var"),
        "{e}"
    );
}

#[test]
fn c_mallocs_on_the_audio_thread_are_invisible_to_assert_no_alloc() {
    // C's allocator is not Rust's global allocator: a C function that allocates on the
    // audio thread passes zonal's allocation test unseen (the README says so). Here
    // strdup mallocs and realloc(p, 0) frees, on every sample.
    let src = "(bind-dylib libc \"libc.so.6\")
         (bind-lib libc strdup [i8*,i8*]*)
         (bind-lib libc realloc [i8*,i8*,i64]*)
         (bind-lib libc strlen [i64,i8*]*)
         (bind-func dsp:DSP
           (lambda (in time chan dat)
             (let ((p (strdup \"abcd\"))
                   (n (strlen p)))
               (realloc p 0)
               (* 0.1 (i64tof n)))))
         (dsp:set! dsp)";
    let r = render_source(src, 0.1);
    assert_eq!(r.summary.failures, 0, "the render reported failures");
    let left = channel(&r.samples, 2, 0);
    assert!(left.iter().all(|&v| (v - 0.4).abs() < 1e-6));
    assert_eq!(assert_no_alloc::violation_count(), 0);
}
