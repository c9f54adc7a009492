//! The fast-loop analyses on their own: definitions parsed and typed, then the `dotimes`
//! in them scanned for the pointers whose checks are hoisted, the pointers stored, and
//! whether the body qualifies for a fast loop.

use super::LoopScan;
use crate::infer::Typed;
use crate::infer::testing::typed_source;
use crate::syntax::{Expr, ExprKind};

/// What the scan of the first `dotimes` in `src` finds: the names of the pointers whose
/// range is checked before the loop, of those stored through, and whether the body may
/// run in a fast loop.
fn scan(src: &str) -> (Vec<String>, Vec<String>, bool) {
    let (typed, init) = typed_source(src);
    let (id, body) = first_loop(&init.body[0]).expect("a dotimes");
    let v = typed.loop_vars[&id];
    // The parameters are bound before the loop; what the body binds is not.
    let bound =
        |x: usize| typed.vars[x].lambda == typed.vars[v].lambda && !in_body(x, body, &typed);
    // (these are the parameters and lets of one function: none is in memory)
    let s = LoopScan {
        typed: &typed,
        bound: &bound,
        in_memory: &|_| false,
    };
    let hoisted = s.hoistable(v, body);
    let ptrs: Vec<usize> = hoisted.iter().map(|(p, _)| *p).collect();
    let mut stored = Vec::new();
    for e in body {
        s.stored_ptrs(e, &ptrs, &mut stored);
    }
    let fast = !ptrs.is_empty() && body.iter().all(|e| s.fast_body(e, v, &ptrs));
    let name = |x: &usize| typed.vars[*x].name.clone();
    (
        ptrs.iter().map(name).collect(),
        stored.iter().map(name).collect(),
        fast,
    )
}

fn first_loop(e: &Expr) -> Option<(usize, &[Expr])> {
    if let ExprKind::Dotimes(_, _, body) = &e.kind {
        return Some((e.id, body));
    }
    e.children().into_iter().find_map(first_loop)
}

fn in_body(x: usize, body: &[Expr], typed: &Typed) -> bool {
    fn binds(e: &Expr, x: usize, typed: &Typed) -> bool {
        typed.let_vars.get(&e.id).is_some_and(|vs| vs.contains(&x))
            || e.children().into_iter().any(|c| binds(c, x, typed))
    }
    body.iter().any(|e| binds(e, x, typed))
}

fn names(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|x| x.to_string()).collect()
}

#[test]
fn a_copy_loop_is_hoisted_and_fast() {
    let (hoisted, stored, fast) =
        scan("(lambda (p:double* q:double* n:i64) (dotimes (i n) (pset! q i (* 2.0 (pref p i)))))");
    assert_eq!(hoisted, names(&["q", "p"]));
    assert_eq!(stored, names(&["q"]));
    assert!(fast);
}

#[test]
fn an_access_under_a_condition_is_not_hoisted() {
    let (hoisted, _, fast) =
        scan("(lambda (p:double* n:i64) (dotimes (i n) (if (> i 2) (pset! p i 1.0))))");
    assert!(hoisted.is_empty());
    assert!(!fast);
}

#[test]
fn a_call_in_the_body_keeps_the_hoisting_but_not_the_fast_loop() {
    let (hoisted, stored, fast) =
        scan("(lambda (p:double* n:i64) (dotimes (i n) (pset! p i 0.5) (printf \"%d\" i)))");
    assert_eq!(hoisted, names(&["p"]));
    assert_eq!(stored, names(&["p"]));
    assert!(!fast);
}

#[test]
fn a_local_closure_named_like_a_builtin_is_a_call() {
    let (hoisted, _, fast) = scan(
        "(lambda (p:double* n:i64)
           (let ((pref (lambda (a:double* b:i64) 1.0)))
             (dotimes (i n) (pref p i))))",
    );
    assert!(hoisted.is_empty());
    assert!(!fast);
}

#[test]
fn a_counter_set_in_the_body_is_not_hoisted() {
    let (hoisted, _, _) =
        scan("(lambda (p:double* n:i64) (dotimes (i n) (pset! p i 1.0) (set! i (+ i 1))))");
    assert!(hoisted.is_empty());
}

#[test]
fn a_let_inside_the_body_stays_fast() {
    let (hoisted, stored, fast) = scan(
        "(lambda (p:double* q:double* n:i64)
           (dotimes (i n) (let ((x (pref p i))) (pset! q i (if (> x 0.0) x (- x))))))",
    );
    assert_eq!(hoisted, names(&["p", "q"]));
    assert_eq!(stored, names(&["q"]));
    assert!(fast);
}
