//! Evaluator edge cases through the embedding API: core syntax, tail calls, deep
//! recursion, errors with positions, the collector under churn, interrupts.

use std::cell::RefCell;
use std::rc::Rc;

use crate::{ErrorKind, Interp};

/// An output sink the test can read back.
#[derive(Clone, Default)]
struct Sink(Rc<RefCell<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run(src: &str) -> String {
    let plain = run_with(src, false);
    let stressed = run_with(src, true);
    assert_eq!(plain, stressed, "under GC stress: {src}");
    plain
}

/// Evaluates `src`; with `stress`, the collector runs a cycle every few
/// allocations, in small incremental steps.
fn run_with(src: &str, stress: bool) -> String {
    let mut it = Interp::new();
    if stress {
        it.heap.min_threshold = 64;
        it.heap.threshold = 64;
        it.heap.step_allocs = 16;
    }
    match it.eval_str(src, "t.scm") {
        Ok(v) => it.write_string(v),
        Err(e) => format!("ERR {e}"),
    }
}

fn output(src: &str) -> String {
    let mut it = Interp::new();
    let sink = Sink::default();
    it.set_output(Box::new(sink.clone()));
    if let Err(e) = it.eval_str(src, "t.scm") {
        return format!("ERR {e}");
    }
    String::from_utf8_lossy(&sink.0.borrow()).into_owned()
}

#[test]
fn prelude_loads() {
    let mut it = Interp::new();
    assert!(it.eval_str(crate::builtins::PRELUDE, "prelude.scm").is_ok());
}

#[test]
fn every_prelude_procedure_compiles_on_demand() {
    let mut it = Interp::new();
    let n = crate::autoload::compile_all(&mut it, crate::builtins::PRELUDE).expect("compiles");
    assert!(n > 50, "only {n} procedures were found in the prelude");
}

#[test]
fn a_prelude_procedure_compiled_late_ignores_later_macros_and_redefinitions() {
    // `reverse` is a builtin the prelude's map calls; a livecoder's macro named `if`
    // must not change how the prelude's map is compiled on its first call
    assert_eq!(
        run(
            "(define-syntax if (syntax-rules () ((_ c a b) 'hijacked))) (map (lambda (x) (* x 2)) '(1 2 3))"
        ),
        "(2 4 6)"
    );
    // a livecoder's own map stays theirs; the prelude's runs where a stub was kept
    assert_eq!(
        run(
            "(define old-map map) (define (map f l) 'mine) (list (map car '((1))) (old-map car '((1))))"
        ),
        "(mine (1))"
    );
}

#[test]
fn core_syntax() {
    assert_eq!(run("(define (f x) (* x 2)) (f 21)"), "42");
    assert_eq!(
        run("(let loop ((i 0) (acc '())) (if (= i 3) (reverse acc) (loop (+ i 1) (cons i acc))))"),
        "(0 1 2)"
    );
    assert_eq!(run("(define ((adder a) b) (+ a b)) ((adder 1) 2)"), "3");
    assert_eq!(run("((lambda (a . rest) rest) 1 2 3)"), "(2 3)");
    assert_eq!(run("(let* ((a 1) (b (+ a 1))) (list a b))"), "(1 2)");
    assert_eq!(
        run(
            "(letrec ((ev? (lambda (n) (if (= n 0) #t (od? (- n 1))))) (od? (lambda (n) (if (= n 0) #f (ev? (- n 1)))))) (ev? 10))"
        ),
        "#t"
    );
    assert_eq!(run("(do ((i 0 (+ i 1)) (s 0 (+ s i))) ((= i 5) s))"), "10");
    assert_eq!(
        run("(cond ((assv 2 '((1 . a) (2 . b))) => cdr) (else 'no))"),
        "b"
    );
    assert_eq!(
        run("(case (* 2 3) ((2 3 5 7) 'prime) ((1 4 6 8 9) 'composite))"),
        "composite"
    );
    assert_eq!(
        run("(define (f) (define a 1) (define (g) (+ a 1)) (g)) (f)"),
        "2"
    );
    assert_eq!(
        run("(let ((x 5)) `(a ,x ,@(list 1 2) (b ,(+ x 1))))"),
        "(a 5 1 2 (b 6))"
    );
    assert_eq!(run("`(1 `(2 ,(3 ,(+ 1 3))))"), "(1 `(2 ,(3 4)))");
}

#[test]
fn macros() {
    assert_eq!(
        run("(define-macro (my-if c a b) `(cond (,c ,a) (else ,b))) (my-if #f 1 2)"),
        "2"
    );
    assert_eq!(
        run(
            "(define-syntax swap! (syntax-rules () ((_ a b) (let ((tmp a)) (set! a b) (set! b tmp))))) (define tmp 1) (define y 2) (swap! tmp y) (list tmp y)"
        ),
        "(2 1)"
    );
    assert_eq!(
        run(
            "(define-syntax my-or (syntax-rules () ((_) #f) ((_ e) e) ((_ e r ...) (let ((t e)) (if t t (my-or r ...)))))) (my-or #f #f 7)"
        ),
        "7"
    );
    assert_eq!(
        run(
            "(define-syntax lets (syntax-rules () ((_ ((n v) ...) b) ((lambda (n ...) b) v ...)))) (lets ((a 1) (b 2)) (+ a b))"
        ),
        "3"
    );
}

#[test]
fn tail_calls_run_in_constant_space() {
    assert_eq!(
        run("(define (loop i) (cond ((= i 0) 'done) (else (loop (- i 1))))) (loop 1000000)"),
        "done"
    );
    assert_eq!(
        run(
            "(define (loop i) (and #t (or #f (if (= i 0) 'done (apply loop (list (- i 1))))))) (loop 1000000)"
        ),
        "done"
    );
}

#[test]
fn deep_recursion_and_runaway_recursion() {
    let src = "(define (count n) (if (= n 0) 0 (+ 1 (count (- n 1))))) (count 100000)";
    let h = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            (
                run_with(src, false),
                run_with("(define (f n) (+ 1 (f n))) (f 1)", false),
            )
        })
        .expect("thread");
    let (deep, runaway) = h.join().expect("no panic");
    assert_eq!(deep, "100000");
    assert!(
        runaway.starts_with("ERR stack overflow: recursion is deeper than"),
        "{runaway}"
    );
}

#[test]
fn errors_have_kind_message_and_position() {
    let mut it = Interp::new();
    let e = it
        .eval_str("(define (f x) (car x))\n(f 5)", "live.scm")
        .expect_err("type error");
    assert_eq!(e.kind, ErrorKind::Type);
    assert_eq!(e.message, "car wants a pair");
    assert_eq!(e.irritants, vec!["5".to_string()]);
    assert_eq!(e.pos.map(|p| p.to_string()), Some("live.scm:1:15".into()));
    assert_eq!(
        e.backtrace,
        vec!["in f (defined at live.scm:1:1)".to_string()]
    );
    let e = it
        .eval_str("  (undefined-thing 1)", "live.scm")
        .expect_err("unbound");
    assert_eq!(e.kind, ErrorKind::Unbound);
    assert_eq!(e.message, "undefined-thing is not defined");
    assert_eq!(e.pos.map(|p| p.to_string()), Some("live.scm:1:4".into()));
    let e = it.eval_str("(f 1 2)", "live.scm").expect_err("arity");
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Arity, "f wants 1 argument but got 2")
    );
    let e = it.eval_str("(quotient 1 0)", "live.scm").expect_err("div");
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::DivByZero, "quotient cannot divide by 0")
    );
    let e = it
        .eval_str("(vector-ref (vector 1 2) 2)", "live.scm")
        .expect_err("range");
    assert_eq!(e.kind, ErrorKind::Range);
    // definitions survive errors
    assert_eq!(
        it.eval_str("(f '(7))", "live.scm")
            .map(|v| it.write_string(v))
            .ok(),
        Some("7".into())
    );
}

#[test]
fn exceptions() {
    assert_eq!(
        run("(guard (e (#t (list 'caught e))) (raise 'boom))"),
        "(caught boom)"
    );
    assert_eq!(
        run("(guard (e ((error-object? e) (error-object-message e))) (error \"bad\" 1 2))"),
        "\"bad\""
    );
    assert_eq!(
        run("(guard (e ((string? e) 's)) (guard (e2 ((number? e2) 'n)) (raise \"x\")))"),
        "s"
    );
    assert_eq!(
        run("(guard (e (#t (error-object-message e))) (car 1))"),
        "\"car wants a pair\""
    );
    assert_eq!(
        run("(with-exception-handler (lambda (e) 10) (lambda () (+ 1 (raise-continuable 'c))))"),
        "11"
    );
    assert_eq!(
        run(
            "(call/cc (lambda (k) (dynamic-wind (lambda () #f) (lambda () (k 'out)) (lambda () #f))))"
        ),
        "out"
    );
    assert_eq!(run("(+ 1 (call/cc (lambda (k) (+ 10 (k 5)))))"), "6");
    assert_eq!(run("(call-with-values (lambda () (values 1 2)) +)"), "3");
    let e = run("(raise 'oops)");
    assert_eq!(e, "ERR error: uncaught exception oops\n  at t.scm:1:1");
}

#[test]
fn data() {
    assert_eq!(
        run(
            "(define-record-type point (make-point x y) point? (x point-x set-point-x!) (y point-y)) (define p (make-point 1 2)) (set-point-x! p 5) (list (point? p) (point-x p) (point-y p) (point? 5))"
        ),
        "(#t 5 2 #f)"
    );
    assert_eq!(
        run(
            "(define h (make-hash-table)) (hash-table-set! h \"a\" 1) (hash-table-set! h '(1 2) 2) (list (hash-table-ref/default h \"a\" 0) (hash-table-ref h '(1 2)) (hash-table-ref/default h 'zz 'none))"
        ),
        "(1 2 none)"
    );
    assert_eq!(
        run("(define p (delay (begin (set! n (+ n 1)) n))) (define n 0) (force p) (force p)"),
        "1"
    );
    assert_eq!(run("(* 4611686018427387904 4)"), "1.8446744073709552e19");
    assert_eq!(run("(list 6/3 1/4 (exact->inexact 1/1))"), "(2 1/4 1.0)");
    assert_eq!(
        run("(list (/ 6 3) (/ 1 2) (exact->inexact (/ 1 2)))"),
        "(2 1/2 0.5)"
    );
    assert_eq!(run("(sort '(3 1 2) <)"), "(1 2 3)");
    assert_eq!(run("(map + '(1 2) '(10 20))"), "(11 22)");
    assert_eq!(
        run("(with-output-to-string (lambda () (display \"hi\") (write 'x)))"),
        "\"hix\""
    );
    assert_eq!(run("(read (open-input-string \"(a . b) c\"))"), "(a . b)");
    assert_eq!(run("(string->symbol \"tup:<i64,i64>*\")"), "tup:<i64,i64>*");
}

#[test]
fn forms_before_a_read_error_run() {
    let out = output("(display \"before\") (newline) (oops");
    assert_eq!(
        out,
        "ERR read error: this list is never closed: a ')' is missing\n  at t.scm:1:30"
    );
    let mut it = Interp::new();
    let e = it
        .eval_str("(define x 1) (", "t.scm")
        .expect_err("unclosed");
    assert_eq!(e.kind, ErrorKind::Read);
    assert_eq!(it.lookup("x").and_then(|v| it.as_int(v)), Some(1));
}

#[test]
fn println_separates_arguments_with_spaces() {
    assert_eq!(
        output("(println 'a '= 5 \"q\") (print \"s\" 1) (newline)"),
        "a = 5 \"q\"\ns 1\n"
    );
}

#[test]
fn gc_keeps_memory_bounded_under_churn() {
    let mut it = Interp::new();
    let v = it
        .eval_str("(define (churn n acc) (if (= n 0) acc (churn (- n 1) (car (list n n))))) (churn 2000000 0)", "t")
        .expect("runs");
    assert_eq!(it.as_int(v), Some(1));
    let stats = it.gc_stats();
    assert!(stats.collections > 0);
    assert!(stats.heap_bytes < 64 << 20, "{stats:?}");
    let kept = it.eval_str(
        "(define keep (iota 1000)) (collect-garbage) (length keep)",
        "t",
    );
    assert_eq!(kept.map(|v| it.write_string(v)).ok(), Some("1000".into()));
    assert!(it.gc_stats().collections > stats.collections);
    it.reset_gc_stats();
    let fresh = it.gc_stats();
    assert_eq!(
        (fresh.collections, fresh.max_pause),
        (0, std::time::Duration::ZERO)
    );
}

#[test]
fn roots_survive_collections() {
    let mut it = Interp::new();
    let l = it.eval_str("(list 1 2 3)", "t").expect("list");
    let r = it.root(l);
    it.eval_str(
        "(define (churn n) (if (> n 0) (begin (cons n n) (churn (- n 1))))) (churn 1000000)",
        "t",
    )
    .expect("churn");
    it.collect();
    let back = it.rooted(&r);
    assert_eq!(it.write_string(back), "(1 2 3)");
    it.unroot(r);
}

/// Sets `it`'s interrupt flag from another thread 50 ms from now.
fn interrupt_soon(it: &Interp) -> std::thread::JoinHandle<()> {
    let flag = it.interrupt_handle();
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    })
}

#[test]
fn interrupt_stops_a_runaway_loop() {
    let mut it = Interp::new();
    let t = interrupt_soon(&it);
    let e = it
        .eval_str("(define x 1) (let loop () (loop))", "t")
        .expect_err("interrupted");
    t.join().expect("joins");
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Interrupted, "evaluation interrupted")
    );
    assert_eq!(it.lookup("x").and_then(|v| it.as_int(v)), Some(1));
}

/// A runaway loop inside `guard` used to be caught by it: the interrupt, taken once,
/// became the guard's condition and the program went on.
#[test]
fn no_handler_catches_an_interrupt() {
    let mut it = Interp::new();
    let t = interrupt_soon(&it);
    let e = it
        .eval_str(
            "(define caught 0)
             (guard (e (#t (set! caught 1)))
               (with-exception-handler (lambda (c) (set! caught 2))
                 (lambda () (let loop () (loop)))))",
            "t",
        )
        .expect_err("interrupted");
    t.join().expect("joins");
    assert_eq!(e.kind, ErrorKind::Interrupted);
    assert_eq!(it.lookup("caught").and_then(|v| it.as_int(v)), Some(0));
}

#[test]
fn exit_and_quit_end_the_program_through_every_handler() {
    let mut it = Interp::new();
    for (src, status) in [
        ("(quit)", 0),
        ("(quit 3)", 3),
        ("(exit #t)", 0),
        ("(exit #f)", 1),
        ("(guard (e (#t 'caught)) (exit 4))", 4),
        (
            "(with-exception-handler (lambda (c) 'caught) (lambda () (exit 5)))",
            5,
        ),
        ("(sys:eval-string \"(exit 6)\")", 6),
    ] {
        let kind = it.eval_str(src, "t").map(drop).map_err(|e| e.kind);
        assert_eq!(kind, Err(ErrorKind::Exit(status)), "{src}");
    }
    let e = it.eval_str("(exit 'soon)", "t").expect_err("a type error");
    assert_eq!(e.kind, ErrorKind::Type);
    assert!(e.message.contains("exit"), "{}", e.message);
}

#[test]
fn natives_and_special_forms() {
    let mut it = Interp::new();
    it.register_native("twice", |it, args| {
        let n = it.as_int(args[0]).unwrap_or(0);
        Ok(it.int(n * 2))
    });
    it.register_special_form("quote-count", |it, form| {
        let n = form.as_list().map_or(0, |l| l.len() as i64 - 1);
        Ok(it.int(n))
    });
    let v = it
        .eval_str("(+ (twice 4) (quote-count a b c))", "t")
        .expect("runs");
    assert_eq!(it.as_int(v), Some(11));
    let f = it.lookup("twice").expect("defined");
    let a = it.int(5);
    let v = it.apply(f, &[a]).expect("applies");
    assert_eq!(it.as_int(v), Some(10));
}

#[test]
fn a_native_that_evaluates_can_be_called_again_while_it_runs() {
    // A loader's file loads another file: `(nest n)` evaluates `(nest n-1)`.
    let mut it = Interp::new();
    it.register_reentrant_native("nest", |it, args| {
        let n = it.as_int(args[0]).unwrap_or(0);
        if n == 0 {
            return Ok(it.int(0));
        }
        let form = Interp::read_all(&format!("(+ 1 (nest {}))", n - 1), "t")?;
        it.eval_datum(&form[0])
    });
    let v = it.eval_str("(nest 5)", "t").expect("runs");
    assert_eq!(it.as_int(v), Some(5));
    // A native with state of its own still refuses to be re-entered.
    it.register_native("once", |it, _| {
        let form = Interp::read_all("(once)", "t")?;
        it.eval_datum(&form[0])
    });
    let e = it.eval_str("(once)", "t").expect_err("re-entered");
    assert_eq!(e.kind, ErrorKind::Native);
    assert!(e.message.contains("once called itself"), "{}", e.message);
}

#[test]
fn huge_forms_give_errors_not_crashes() {
    let h = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let binds: String = (0..2000).map(|i| format!("(v{i} {i})")).collect();
            let let_star = run(&format!("(let* ({binds}) v1999)"));
            let clauses: String = (0..20_000).map(|i| format!("((= x {i}) {i})")).collect();
            let cond = run(&format!("(define x 3) (cond {clauses})"));
            let items: String = (0..100_000).map(|i| format!("{i} ")).collect();
            let quasi = run(&format!("(length `({items} ,@(list 1 2)))"));
            (let_star, cond, quasi)
        })
        .expect("thread");
    let (let_star, cond, quasi) = h.join().expect("no crash");
    assert_eq!(
        let_star,
        "ERR syntax error: let* has more than 1000 bindings\n  at t.scm:1:1"
    );
    assert_eq!(
        cond,
        "ERR syntax error: this expression is nested too deeply\n  at t.scm:1:82785"
    );
    assert_eq!(quasi, "100002");
}

#[test]
fn odd_data_from_an_embedder_are_errors() {
    use crate::{Datum, DatumKind};
    let mut it = Interp::new();
    let empty = Datum::plain(DatumKind::List(Vec::new()));
    let e = it.eval_datum(&empty).expect_err("() is not an expression");
    assert_eq!(
        (e.kind, e.message.as_str()),
        (
            ErrorKind::Syntax,
            "() is not an expression: quote it as '()"
        )
    );
    let call = Datum::plain(DatumKind::List(vec![
        Datum::plain(DatumKind::Sym("list".into())),
        Datum::plain(DatumKind::Dotted(
            Vec::new(),
            Box::new(Datum::plain(DatumKind::Int(3))),
        )),
    ]));
    let v = it.eval_datum(&call).expect("evaluates");
    assert_eq!(it.write_string(v), "(3)");
    let e = it
        .eval_str(
            "(define-record-type point (make-point x) point? ())",
            "t.scm",
        )
        .expect_err("empty field spec");
    assert_eq!(
        (e.kind, e.message.as_str()),
        (
            ErrorKind::Syntax,
            "a record field spec looks like (field accessor [modifier])"
        )
    );
}

/// Every conformance program prints the same with a collector that runs a cycle
/// every few allocations as with the normal one (a differential test of the write
/// barriers and of allocation during incremental cycles).
#[test]
fn conformance_programs_agree_under_gc_stress() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let entries = std::fs::read_dir(&dir).expect("the conformance programs are there");
    let mut checked = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("scm") {
            continue;
        }
        // these recurse 10^5 deep or run away on purpose: slow in debug builds and
        // light on the heap (deep_recursion_and_runaway_recursion covers them)
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if matches!(name, "errors.scm" | "tail_calls.scm") {
            continue;
        }
        let Ok(src) = std::fs::read_to_string(&path) else {
            continue;
        };
        let outputs: Vec<String> = [false, true]
            .into_iter()
            .map(|stress| {
                let mut it = Interp::new();
                if stress {
                    it.heap.min_threshold = 256;
                    it.heap.threshold = 256;
                    it.heap.step_allocs = 32;
                }
                let sink = Sink::default();
                it.set_output(Box::new(sink.clone()));
                let mut log = String::new();
                for form in Interp::read_all(&src, "c.scm").unwrap_or_default() {
                    if let Err(e) = it.eval_datum(&form) {
                        log.push_str(&e.to_string());
                    }
                }
                String::from_utf8_lossy(&sink.0.borrow()).into_owned() + &log
            })
            .collect();
        assert_eq!(outputs[0], outputs[1], "{}", path.display());
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn calling_a_non_procedure_names_it() {
    assert_eq!(
        run("(5 3)"),
        "ERR type error: cannot call a value that is not a procedure: 5\n  at t.scm:1:1"
    );
    assert_eq!(
        run("((lambda (a) a))"),
        "ERR wrong number of arguments: lambda wants 1 argument but got 0\n  at t.scm:1:1"
    );
}

#[test]
fn runaway_macros_stop_with_an_error() {
    let doubling = "(define-syntax f (syntax-rules () ((_ x) (f (x x))))) (f 1)";
    let e = run(doubling);
    assert!(
        e.starts_with("ERR syntax error: this macro use expands to more than 1000000 data"),
        "{e}"
    );
    let forever = "(define-syntax g (syntax-rules () ((_ x) (g x)))) (g 1)";
    assert!(
        run(forever).starts_with("ERR syntax error: "),
        "{}",
        run(forever)
    );
}

#[test]
fn stores_during_incremental_cycles_keep_their_values() {
    // under GC stress a cycle is always running: every store below goes through the
    // write barrier while old and new values move between vectors, pairs, tables,
    // records and closure frames
    let src = "
        (define-record-type box (make-box v) box? (v box-v set-box-v!))
        (define v (make-vector 50 '()))
        (define h (make-hash-table))
        (define b (make-box '()))
        (define cell (list '()))
        (define (counter) (let ((n '())) (lambda (x) (let ((old n)) (set! n x) old))))
        (define c (counter))
        (define (fill i)
          (when (< i 2000)
            (let ((k (modulo i 50)))
              (let ((old (vector-ref v k)))
                (vector-set! v k (list i i))
                (hash-table-set! h k old)
                (set-box-v! b (cons i (box-v b)))
                (set-car! cell (list i))
                (c (list i)))
              (fill (+ i 1)))))
        (fill 0)
        (list (apply + (map car (vector->list v)))
              (length (box-v b))
              (car (hash-table-ref h 7))
              (car cell)
              (c 'done))";
    assert_eq!(run(src), "(98725 2000 1907 (1999) (1999))");
}

#[test]
fn circular_data_print_and_convert_on_a_small_stack() {
    let h = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let mut it = Interp::new();
            let v = it
                .eval_str("(define c (vector 1)) (vector-set! c 0 c) c", "t.scm")
                .expect("builds");
            let written = it.write_string(v);
            let datum = it.to_datum(v);
            let back = it.from_datum(&datum);
            (written, it.write_string(back))
        })
        .expect("thread");
    let (written, round_trip) = h.join().expect("no overflow");
    assert_eq!(written, "#0=#(#0#)");
    assert_eq!(round_trip, "#0=#(#0#)");
}

#[test]
fn recorded_pauses_are_each_stop_of_the_collector() {
    let mut it = Interp::new();
    assert!(it.take_pauses().is_empty());
    it.record_pauses(true);
    it.eval_str(
        "(define (churn k acc) (if (= k 0) 0 (churn (- k 1) (if (= (remainder k 50) 0) '() (cons k acc)))))
         (churn 300000 '())",
        "t.scm",
    )
    .expect("churns");
    it.collect();
    let pauses = it.take_pauses();
    let stats = it.gc_stats();
    assert!(pauses.len() >= 2, "{} pauses", pauses.len());
    assert_eq!(pauses.iter().max().copied(), Some(stats.max_pause));
    assert!(it.take_pauses().is_empty());
    it.record_pauses(false);
    it.collect();
    assert!(it.take_pauses().is_empty());
}

#[test]
fn errors_caught_by_eval_string_and_apply_top_level_leave_no_stack_behind() {
    let mut it = Interp::new();
    it.eval_str(
        "(define quiet (open-output-string))
         (set-current-error-port quiet)
         (define (deep n) (if (= n 0) (car n) (list n (deep (- n 1)))))",
        "t.scm",
    )
    .expect("defines");
    let sizes = |it: &Interp| {
        (
            it.stack.len(),
            it.env_stack.len(),
            it.locals.len(),
            it.handlers.len(),
        )
    };
    let before = sizes(&it);
    it.eval_str(
        "(do ((i 0 (+ i 1))) ((= i 50))
           (sys:eval-string \"(list 1 2 (deep 40))\")
           (sys:apply-top-level deep '(40))
           (sys:eval-string \"(guard (e (#f 0)) (vector 1 (deep 10)))\"))",
        "t.scm",
    )
    .expect("errors are caught");
    assert_eq!(sizes(&it), before);
}
