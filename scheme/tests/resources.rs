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

/// The message of the error `src` raises, caught by the program itself.
fn caught(it: &mut Interp, src: &str) -> String {
    let wrapped =
        format!("(guard (e (#t (if (error-object? e) (error-object-message e) e))) {src})");
    let v = it.eval_str(&wrapped, "repl").unwrap();
    it.display_string(v)
}

#[test]
fn a_string_doubling_loop_ends_in_a_catchable_memory_error() {
    let mut it = Interp::new();
    it.set_heap_limit(64 << 20);
    it.eval_str("(define s \"x\")", "repl").unwrap();
    let e = it
        .eval_str("(let loop () (set! s (string-append s s)) (loop))", "repl")
        .unwrap_err();
    assert_eq!(e.kind, zonal_scheme::ErrorKind::Memory);
    assert!(
        e.message.contains("over the heap limit of 67108864 bytes"),
        "{}",
        e.message
    );
    // the string that fitted is still there, and the session goes on
    let v = it.eval_str("(string-length s)", "repl").unwrap();
    let len = it.as_int(v).unwrap();
    assert!((1 << 23..=1 << 25).contains(&len), "{len}");
    let msg = caught(&mut it, "(let loop () (set! s (string-append s s)) (loop))");
    assert!(msg.contains("heap limit"), "{msg}");
    it.eval_str("(set! s #f)", "repl").unwrap();
    let v = it
        .eval_str("(string-length (make-string 1000000 #\\a))", "repl")
        .unwrap();
    assert_eq!(it.as_int(v), Some(1_000_000));
}

#[test]
fn every_sized_allocation_checks_the_limit_first() {
    let mut it = Interp::new();
    it.set_heap_limit(32 << 20);
    let huge = "4611686018427387904";
    for src in [
        format!("(make-string {huge} #\\a)"),
        format!("(make-vector {huge} 0)"),
        format!("(make-list {huge} 0)"),
        format!("(iota {huge})"),
        "(make-string 40000000 #\\a)".to_string(),
        "(make-vector 3000000 0)".to_string(),
        "(string->list (make-string 2000000 #\\a))".to_string(),
        "(string->vector (make-string 2000000 #\\a))".to_string(),
        "(let ((p (open-output-string))) (let loop () (write-string (make-string 100000 #\\a) p) (loop)))".to_string(),
        "(with-output-to-string (lambda () (let loop () (display (make-string 100000 #\\a)) (loop))))".to_string(),
        "(let ((t (make-hash-table))) (let loop ((i 0)) (hash-table-set! t i i) (loop (+ i 1))))".to_string(),
        "(let loop ((l '())) (loop (cons 1 l)))".to_string(),
        "(let loop ((l '())) (loop (cons (make-vector 1000 0) l)))".to_string(),
        "(let loop ((v (vector 1))) (loop (vector-append v v)))".to_string(),
        "(let loop ((s \"ab\")) (loop (string-join (list s s) \",\")))".to_string(),
        "(let ((p (open-input-string (make-string 20000000 #\\1)))) (read p))".to_string(),
        "(open-input-file \"/dev/zero\")".to_string(),
    ] {
        let msg = caught(&mut it, &src);
        assert!(
            msg.contains("heap limit") || msg.contains("limit of"),
            "{src}: {msg}"
        );
        it.eval_str("(collect-garbage)", "repl").unwrap();
        // still usable
        let v = it.eval_str("(length (list 1 2 3))", "repl").unwrap();
        assert_eq!(it.as_int(v), Some(3), "{src}");
    }
}

#[test]
fn the_heap_limit_is_read_and_set_from_scheme() {
    let mut it = Interp::new();
    let v = it.eval_str("(sys:heap-limit)", "repl").unwrap();
    assert_eq!(it.as_int(v), Some(it.heap_limit() as i64));
    assert!(it.heap_limit() >= 1 << 20 && it.heap_limit() <= 8 << 30);
    it.eval_str("(sys:heap-limit 100000000)", "repl").unwrap();
    assert_eq!(it.heap_limit(), 100_000_000);
    let e = it.eval_str("(sys:heap-limit 10)", "repl").unwrap_err();
    assert_eq!(e.kind, zonal_scheme::ErrorKind::Range);
}
