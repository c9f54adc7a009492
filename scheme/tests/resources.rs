//! What a long livecoding session must not accumulate: the constants and call sites
//! of code that is gone, macros that were redefined, and a heap grown past its limit
//! (which must end in a catchable error, with the session still usable).

use zonal_scheme::Interp;

/// Live heap bytes after a whole collection.
fn live_after_collect(it: &mut Interp) -> usize {
    it.collect();
    it.gc_stats().live_bytes
}

#[test]
fn quoted_constants_of_finished_forms_are_collected() {
    let mut it = Interp::new();
    let base = live_after_collect(&mut it);
    let (units, sites) = it.code_counts();
    for _ in 0..200_000 {
        it.eval_str("'(1 2 3 4 5 6 7 8)", "repl").unwrap();
    }
    let live = live_after_collect(&mut it);
    // 200,000 lists of 8 pairs were 52.8 MB live before constants belonged to their code
    assert!(
        live < base + 64 * 1024,
        "live heap grew from {base} to {live} bytes"
    );
    assert_eq!(it.code_counts(), (units, sites));
}

#[test]
fn a_closure_keeps_the_constants_of_its_code() {
    let mut it = Interp::new();
    it.eval_str(
        "(define (f) (case 'b ((a) \"no\") ((b) (list '(x \"y\" #(z)) \"kept\"))))",
        "repl",
    )
    .unwrap();
    for i in 0..2_000 {
        it.eval_str(
            &format!("(define g{} (list '(1 2 3) \"s{i}\"))", i % 10),
            "repl",
        )
        .unwrap();
        if i % 500 == 0 {
            it.collect();
        }
    }
    it.collect();
    let v = it.eval_str("(f)", "repl").unwrap();
    assert_eq!(it.write_string(v), "((x \"y\" #(z)) \"kept\")");
}

#[test]
fn redefined_macros_and_procedures_do_not_grow_the_roots() {
    let mut it = Interp::new();
    it.eval_str("(define-macro (m x) `(list ,x '(a b c)))", "repl")
        .unwrap();
    let base = live_after_collect(&mut it);
    let counts = it.code_counts();
    for i in 0..10_000 {
        let src = format!(
            "(define-macro (m x) `(list ,x '(a b c {i}) \"{i}\")) (define (use-m) (m {i}))"
        );
        it.eval_str(&src, "repl").unwrap();
    }
    it.eval_str("(define-macro (m x) `(list ,x '(a b c)))", "repl")
        .unwrap();
    it.eval_str("(define (use-m) 0)", "repl").unwrap();
    let live = live_after_collect(&mut it);
    assert!(
        live < base + 64 * 1024,
        "live heap grew from {base} to {live} bytes"
    );
    let now = it.code_counts();
    assert!(
        now.0 <= counts.0 + 2 && now.1 <= counts.1 + 8,
        "code units and sites grew from {counts:?} to {now:?}"
    );
    let v = it.eval_str("(m 1)", "repl").unwrap();
    assert_eq!(it.write_string(v), "(1 (a b c))");
}
