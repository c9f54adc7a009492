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

/// `libs/core/pc_ivl.xtm`: pitch classes as Extempore's programs use them.
#[test]
fn pitch_classes_answer_as_extempores_do() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    eval(&mut s, "(sys:load \"libs/core/pc_ivl.xtm\")");
    let major = "'(0 2 4 5 7 9 11)";
    assert_eq!(
        eval(
            &mut s,
            &format!("(map (lambda (i) (pc:relative 64 i {major})) '(-2 -1 0 1))")
        ),
        "(60 62 64 65)"
    );
    assert_eq!(eval(&mut s, &format!("(pc:relative 69 3 {major})")), "74");
    assert_eq!(eval(&mut s, "(pc:scale 2 'dorian)"), "(2 4 5 7 9 11 0)");
    assert_eq!(eval(&mut s, "(pc:chord 0 '^7)"), "(0 4 7 11)");
    assert_eq!(eval(&mut s, "(pc:diatonic 0 '^ 'v7)"), "(7 11 2 5)");
    assert_eq!(eval(&mut s, "(pc:diatonic 9 '- 'iv)"), "(2 5 9)");
    // up first when two are as near; down first with quantize-low
    assert_eq!(
        eval(
            &mut s,
            "(list (pc:quantize 62 '(0 4)) (pc:quantize-low 62 '(0 4)))"
        ),
        "(64 60)"
    );
    assert_eq!(eval(&mut s, "(pc:degree 64 '(0 2 4))"), "3");
    assert_eq!(eval(&mut s, "(ivl:invert '(60 62 64))"), "(60 58 56)");
    // a chord of four pitches of C7 between 60 and 85, one of each class
    let chord = eval(&mut s, "(pc:make-chord 60 85 4 '(0 4 7 10))");
    let pitches: Vec<i64> = chord
        .trim_matches(|c| c == '(' || c == ')')
        .split(' ')
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pitches.len(), 4, "{chord}");
    let mut classes: Vec<i64> = pitches.iter().map(|p| p % 12).collect();
    classes.sort();
    assert_eq!(classes, vec![0, 4, 7, 10], "{chord}");
    assert!(pitches.iter().all(|p| (60..85).contains(p)), "{chord}");
    // a second load is a no-op
    assert_eq!(eval(&mut s, "(sys:load \"libs/core/pc_ivl.xtm\")"), "#f");
}

#[test]
fn a_closure_returned_to_scheme_can_be_passed_back_and_a_forged_one_faults() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    eval(
        &mut s,
        "(bind-func incrementer (lambda (i:i64) (lambda (incr) (set! i (+ i incr)) i)))
         (bind-func apply_it (lambda (f:[i64,i64]* x) (f x)))
         (bind-func doubler (lambda () (lambda (x:double) (* x 2.0))))
         (define myf (incrementer 0))",
    );
    // Extempore's tests/core/xtlang.xtm: the closure keeps its state between calls.
    assert_eq!(eval(&mut s, "(apply_it myf 1)"), "1");
    assert_eq!(eval(&mut s, "(apply_it myf 1)"), "2");
    assert_eq!(eval(&mut s, "(apply_it myf 5)"), "7");
    for (forged, says) in [
        ("(doubler)", "not a closure of the right type"),
        ("12345", "outside DSP memory"),
        ("0", "outside DSP memory"),
        ("(+ myf 16)", "out-of-bounds read"),
        ("3.5", "must be a closure returned by a bind-func"),
    ] {
        let e = s
            .eval_source(&format!("(apply_it {forged} 1)"), "compat.xtm")
            .unwrap_err();
        assert!(e.message.contains(says), "{forged}: {e}");
    }
    assert_eq!(eval(&mut s, "(apply_it myf 1)"), "8");
}

#[test]
fn bind_val_takes_an_expression_as_its_value() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    eval(
        &mut s,
        "(bind-func incrementer (lambda (i:i64) (lambda (incr) (set! i (+ i incr)) i)))
         (bind-val g_inc [i64,i64]* (incrementer 10))
         (bind-val answer i64 (* 6 7))
         (bind-func use_g (lambda (x) (+ answer (g_inc x))))",
    );
    assert_eq!(eval(&mut s, "(use_g 1)"), "53");
    assert_eq!(eval(&mut s, "(use_g 1)"), "54");
    let e = s
        .eval_source("(bind-val broken i64 (no_such_fn 3))", "compat.xtm")
        .unwrap_err();
    assert!(
        e.message.contains("bind-val broken: its value failed"),
        "{e}"
    );
    assert!(e.message.contains("no_such_fn"), "{e}");
}

#[test]
fn base_xtm_keeps_schemes_random() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    eval(&mut s, "(sys:load \"libs/base/base.xtm\")");
    for _ in 0..20 {
        let v: i64 = eval(&mut s, "(random 40 70)").parse().unwrap();
        assert!((40..70).contains(&v), "{v}");
    }
    let pick = eval(&mut s, "(random '(a b))");
    assert!(pick == "a" || pick == "b", "{pick}");
    let x: f64 = eval(&mut s, "($ (random))").parse().unwrap();
    assert!((0.0..1.0).contains(&x), "xtlang's random: {x}");
}
