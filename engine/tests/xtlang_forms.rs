//! Extempore's xtlang forms beyond the core language: `bind-macro` and the macros of
//! its base library (`inc`, `tbind`, `->`, `->>`).

use zonal_engine::session::{Session, SessionConfig};

fn eval(s: &mut Session, src: &str) -> String {
    s.eval_source(src, "forms.xtm")
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn session() -> Session {
    Session::headless(&SessionConfig::default()).unwrap()
}

#[test]
fn bind_macro_expands_in_dsp_code_and_leaves_scheme_alone() {
    let mut s = session();
    eval(
        &mut s,
        "(bind-macro \"twice x\" (twice x) `(* 2 ,x))
         (bind-macro (square-sum a . more) \"docstring after the name\"
           `(+ (* ,a ,a) ,@(map (lambda (m) `(* ,m ,m)) more)))
         (bind-func use-macros (lambda (n:i64) (twice (square-sum n 2 3))))",
    );
    assert_eq!(eval(&mut s, "(use-macros 1)"), "28");
    // a macro inside a macro's expansion, and inside a nested lambda
    eval(
        &mut s,
        "(bind-macro \"\" (quad x) `(twice (twice ,x)))
         (bind-func nested (lambda () (let ((f (lambda (y:i64) (quad y)))) (f 5))))",
    );
    assert_eq!(eval(&mut s, "(nested)"), "20");
    // the Scheme name is free: twice is not a Scheme macro
    let e = s.eval_source("(twice 3)", "forms.xtm").unwrap_err();
    assert!(e.message.contains("twice"), "{e}");
    // quoted data is not expanded
    assert_eq!(eval(&mut s, "(car '(twice 3))"), "twice");
}

#[test]
fn bind_macro_without_a_body_says_how_it_is_written() {
    let mut s = session();
    let e = s
        .eval_source("(bind-macro \"doc\" (m x))", "forms.xtm")
        .unwrap_err();
    assert!(
        e.message
            .contains("bind-macro takes a name with its arguments and a body"),
        "{e}"
    );
    assert_eq!(e.pos.as_ref().map(|p| p.line), Some(1));
}

#[test]
fn base_macros_inc_and_tbind_set_variables() {
    let mut s = session();
    eval(
        &mut s,
        "(bind-func counted (lambda () (let ((x 3)) (inc x 10) (dec x 1) x)))
         (bind-func fields
           (lambda ()
             (let ((t:<i64,double,i64>* (alloc)) (a 0) (c 0))
               (tfill! t 4 2.5 6)
               (tbind t a _ c)
               (+ a c))))",
    );
    assert_eq!(eval(&mut s, "(counted)"), "12");
    assert_eq!(eval(&mut s, "(fields)"), "10");
}

#[test]
fn threading_macros_put_the_value_first_or_last() {
    let mut s = session();
    eval(
        &mut s,
        "(bind-func first-arg (lambda () (-> 10 (- 3) (* 2))))
         (bind-func last-arg (lambda () (->> 10 (- 3) (* 2))))
         (bind-func bare-step (lambda () (-> \"four\" strlen)))",
    );
    // (* (- 10 3) 2) and (* 2 (- 3 10))
    assert_eq!(eval(&mut s, "(first-arg)"), "14");
    assert_eq!(eval(&mut s, "(last-arg)"), "-14");
    assert_eq!(eval(&mut s, "(bare-step)"), "4");
}

/// Extempore's `(closure-zalloc-test 1000000)` calls a closure of no arguments with one:
/// its Scheme stub reads the arguments the closure takes and ignores the rest.
#[test]
fn extra_arguments_from_scheme_are_ignored_as_in_extempore() {
    let mut s = session();
    eval(
        &mut s,
        "(bind-func closure-zalloc-test 1000000
           (let ((k:|100000,double|* (zalloc)))
             (lambda () (aset! k 0 1.0) (aref k 0))))
         (bind-func add1 (lambda (x:i64) (+ x 1)))",
    );
    assert_eq!(eval(&mut s, "(closure-zalloc-test 1000000)"), "1.0");
    assert_eq!(eval(&mut s, "(add1 4 5 6)"), "5");
    // too few is still an error
    let e = s.eval_source("(add1)", "forms.xtm").unwrap_err();
    assert!(e.message.contains("add1 takes 1 argument, got 0"), "{e}");
}

#[test]
fn convert_gives_the_type_named_or_the_one_its_use_wants() {
    let mut s = session();
    eval(
        &mut s,
        "(bind-func to-int (lambda () (convert (/ 7.0 2.0) i64)))
         (bind-func to-real (lambda (x:i64) (let ((y:double (convert x))) (* y 0.5))))
         (bind-func compared (lambda (z:double) (> z (convert 2))))
         (bind-func same-pointer (lambda () (let ((p:i64* (zalloc)) (q:i8* (convert p))) (= (convert q i64) (convert p i64)))))",
    );
    assert_eq!(eval(&mut s, "(to-int)"), "3");
    assert_eq!(eval(&mut s, "(to-real 3)"), "1.5");
    assert_eq!(eval(&mut s, "(compared 2.5)"), "1");
    assert_eq!(eval(&mut s, "(same-pointer)"), "1");
    let e = s
        .eval_source("(bind-func bad (lambda () (convert 1.0 3)))", "forms.xtm")
        .unwrap_err();
    assert!(
        e.message
            .contains("convert's second argument must be a type"),
        "{e}"
    );
}

#[test]
fn random_of_two_bounds_stays_within_them_for_each_number_type() {
    let mut s = session();
    eval(
        &mut s,
        "(bind-func in-bounds
           (lambda ()
             (let ((ok #t))
               (dotimes (i 2000)
                 (let ((d (random -1.0 1.0)) (f (random 2.0:f 3.0:f))
                       (n (random 10 13)) (k:i32 (random (convert 0 i32) (convert 2 i32))))
                   (if (or (< d -1.0) (>= d 1.0) (< f 2.0:f) (>= f 3.0:f)
                           (< n 10) (>= n 13) (< k (convert 0 i32)) (>= k (convert 2 i32)))
                       (set! ok #f))))
               ok)))
         (bind-func hits-every-integer
           (lambda ()
             (let ((seen:i64* (zalloc 3)))
               (dotimes (i 300) (pset! seen (- (random 10 13) 10) 1))
               (+ (pref seen 0) (pref seen 1) (pref seen 2)))))",
    );
    assert_eq!(eval(&mut s, "(in-bounds)"), "1");
    assert_eq!(eval(&mut s, "(hits-every-integer)"), "3");
    // Scheme's random is still Scheme's
    assert_eq!(eval(&mut s, "(< (random 4) 4)"), "#t");
}

#[test]
fn cat_joins_strings_left_to_right() {
    let mut s = session();
    eval(
        &mut s,
        "(bind-func joined (lambda ()
           (let ((j (cat (String \"ab\") (String \"\") (String \"cde\") (String \"f\"))))
             (* 1000 (tref j 0)))))
         (bind-func joined-char (lambda (i:i64)
           (let ((j (cat (String \"ab\") (String \"cd\"))))
             (i8toi64 (pref (tref j 1) i)))))",
    );
    assert_eq!(eval(&mut s, "(joined)"), "6000");
    let chars: Vec<String> = (0..5)
        .map(|i| eval(&mut s, &format!("(joined-char {i})")))
        .collect();
    assert_eq!(chars, ["97", "98", "99", "100", "0"]);
}
