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
