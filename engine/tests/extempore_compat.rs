//! Extempore's Scheme-side forms for running xtlang at once: `call-as-xtlang` and its
//! shorthands `$`, `xtmX` and `$$`, which compile their body as a function of no
//! arguments, call it, and give its value to Scheme.

use zonal_engine::session::{Session, SessionConfig};

fn eval(s: &mut Session, src: &str) -> String {
    s.eval_source(src, "compat.xtm")
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn call_as_xtlang_runs_its_body_and_gives_its_value() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    assert_eq!(eval(&mut s, "(call-as-xtlang 1 2 5)"), "5");
    assert_eq!(eval(&mut s, "($ (* 2.5 4.0))"), "10.0");
    eval(&mut s, "(bind-func sq (lambda (x:i64) (* x x)))");
    assert_eq!(eval(&mut s, "(xtmX (sq 12))"), "144");
    assert_eq!(eval(&mut s, "($$ (+ (sq 3) 1))"), "10");
    // each use compiles anew, with its own type
    assert_eq!(eval(&mut s, "($ (> (sq 2) 3))"), "1");
    assert_eq!(eval(&mut s, "(call-as-xtlang (sq 2) void)"), "");
}

#[test]
fn call_as_xtlang_reports_what_its_body_gets_wrong() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    let e = s.eval_source("(call-as-xtlang)", "compat.xtm").unwrap_err();
    assert!(
        e.message.contains("call-as-xtlang takes xtlang to run"),
        "{e}"
    );
    let e = s
        .eval_source("($ (+ 1 \"two\"))", "compat.xtm")
        .unwrap_err();
    assert!(e.message.contains("type clash"), "{e}");
    let e = s
        .eval_source("($ (let ((p:i64* (salloc 2))) (pref p 9)))", "compat.xtm")
        .unwrap_err();
    assert!(e.message.contains("out-of-bounds read"), "{e}");
    // and the session goes on
    assert_eq!(eval(&mut s, "($ (+ 1 2))"), "3");
}
