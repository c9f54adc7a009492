//! Fuzz tests of the reader and the evaluator: random byte strings, random token soups and
//! random well-formed-but-wrong programs must never panic (an `Err` is fine), and afterwards the
//! same interpreter must still evaluate `(+ 1 2)` to 3.
//!
//! `cargo test` runs a quick, fixed-seed batch. Longer runs:
//! `ZONAL_FUZZ_CASES=1000000 ZONAL_FUZZ_SEED=7 cargo test --release --test fuzz -- --nocapture`
//! (cases per generator; with `ZONAL_FUZZ_LOG=FILE` each input is written to FILE before it
//! runs, so an abort that cannot be caught still leaves the culprit behind). A watchdog thread
//! interrupts any case that runs longer than [`CASE_TIME_LIMIT`] through `interrupt_handle()`,
//! so generated infinite loops end as `Interrupted` errors.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Watchdog;
use zonal_scheme::{ErrorKind, Interp};

/// Cases per generator when `ZONAL_FUZZ_CASES` is not set (keeps `cargo test` quick).
const DEFAULT_CASES: u64 = 300;
/// Longest one case may run before the watchdog interrupts it.
const CASE_TIME_LIMIT: Duration = Duration::from_millis(500);

/// xorshift64* — small, deterministic, good enough to pick tokens.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// One interpreter under test, with its watchdog and the failures seen so far.
struct Harness {
    interp: Interp,
    interrupt: Arc<AtomicBool>,
    watchdog: Watchdog,
    log: Option<std::path::PathBuf>,
    failures: Vec<String>,
    ran: u64,
}

impl Harness {
    fn new() -> Harness {
        let mut interp = Interp::new();
        interp.set_output(Box::new(std::io::sink()));
        let interrupt = interp.interrupt_handle();
        let watchdog = Watchdog::start(interrupt.clone(), CASE_TIME_LIMIT);
        let log = std::env::var_os("ZONAL_FUZZ_LOG").map(std::path::PathBuf::from);
        Harness {
            interp,
            interrupt,
            watchdog,
            log,
            failures: Vec::new(),
            ran: 0,
        }
    }

    /// Reads and evaluates `src`; records a panic, or an interpreter that no longer adds.
    fn run(&mut self, src: &str) {
        if let Some(log) = &self.log {
            let _ = std::fs::write(log, src);
        }
        self.ran += 1;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let _ = Interp::read_all(src, "fuzz.scm");
            let _ = self.interp.eval_str(src, "fuzz.scm");
        }));
        self.watchdog.tick();
        if outcome.is_err() {
            self.failures.push(format!("panic on input {src:?}"));
            self.interp = Interp::new();
            self.interp.set_output(Box::new(std::io::sink()));
            self.interrupt = self.interp.interrupt_handle();
            self.watchdog = Watchdog::start(self.interrupt.clone(), CASE_TIME_LIMIT);
            return;
        }
        if let Err(problem) = self.still_adds() {
            self.failures
                .push(format!("after input {src:?}: {problem}"));
            self.interp = Interp::new();
            self.interp.set_output(Box::new(std::io::sink()));
            self.interrupt = self.interp.interrupt_handle();
            self.watchdog = Watchdog::start(self.interrupt.clone(), CASE_TIME_LIMIT);
        }
    }

    /// `(+ 1 2)` still gives 3. An interrupt the watchdog raised just as the case ended may land
    /// here instead, so an `Interrupted` answer is retried.
    fn still_adds(&mut self) -> Result<(), String> {
        for _ in 0..3 {
            match catch_unwind(AssertUnwindSafe(|| {
                self.interp.eval_str("(+ 1 2)", "check.scm")
            })) {
                Err(_) => return Err("(+ 1 2) panicked".to_string()),
                Ok(Ok(v)) => {
                    return match self.interp.as_int(v) {
                        Some(3) => Ok(()),
                        other => Err(format!("(+ 1 2) gave {other:?}")),
                    };
                }
                Ok(Err(e)) if e.kind == ErrorKind::Interrupted => {
                    self.interrupt.store(false, Ordering::Relaxed);
                }
                Ok(Err(e)) => return Err(format!("(+ 1 2) failed: {e}")),
            }
        }
        Err("(+ 1 2) kept being interrupted".to_string())
    }

    fn assert_clean(&self, what: &str) {
        println!("fuzz {what}: {} inputs", self.ran);
        assert!(
            self.failures.is_empty(),
            "fuzz {what}: {} failures, first ones:\n{}",
            self.failures.len(),
            self.failures
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

fn cases() -> u64 {
    std::env::var("ZONAL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

fn seed(salt: u64) -> u64 {
    let base = std::env::var("ZONAL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    base ^ salt.wrapping_mul(0x1000_0000_01B3)
}

/// Bytes biased toward Scheme's punctuation, so the reader gets past its first character.
fn random_bytes(rng: &mut Rng) -> String {
    const FAVOURED: &[u8] = b"()[]#'`,@\";|\\.-+0123456789eE:<>*x tf\n";
    let len = rng.below(64);
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            if rng.chance(2) {
                FAVOURED[rng.below(FAVOURED.len())]
            } else {
                (rng.next() & 0xFF) as u8
            }
        })
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

const TOKENS: &[&str] = &[
    "(",
    "(",
    "(",
    ")",
    ")",
    ")",
    "[",
    "]",
    "#(",
    "'",
    "`",
    ",",
    ",@",
    "#;",
    "#|",
    "|#",
    "\"",
    "\"s\"",
    "\"\\x41;\"",
    "\"\\q\"",
    "#\\",
    "#\\a",
    "#\\space",
    "#\\x",
    "#\\x110000",
    "#\\xZZ",
    ".",
    "...",
    "..",
    "#0=",
    "#0#",
    "#1=",
    "#1#",
    "#99999999999999999999=",
    "0",
    "1",
    "-1",
    "1.5",
    ".5",
    "1e3",
    "1e400",
    "-1e-400",
    "+inf.0",
    "-inf.0",
    "+nan.0",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "#t",
    "#f",
    "#true",
    "#x1F",
    "#b102",
    "#e1.5",
    "1/2",
    "a:i64",
    "tup:<i64,i64>*",
    "buf:|4,double|*",
    "f:[double,double]*",
    "<i64,i64>",
    "|",
    "define",
    "lambda",
    "let",
    "let*",
    "letrec",
    "if",
    "cond",
    "case",
    "else",
    "=>",
    "and",
    "or",
    "when",
    "unless",
    "do",
    "begin",
    "set!",
    "quote",
    "quasiquote",
    "unquote",
    "define-syntax",
    "syntax-rules",
    "define-macro",
    "define-record-type",
    "delay",
    "force",
    "guard",
    "raise",
    "error",
    "call/cc",
    "dynamic-wind",
    "values",
    "call-with-values",
    "apply",
    "eval",
    "car",
    "cdr",
    "cons",
    "list",
    "vector-ref",
    "string-ref",
    "substring",
    "make-vector",
    "make-string",
    "expt",
    "quotient",
    "/",
    "-",
    "*",
    "<",
    "=",
    "x",
    "y",
    "loop",
    "k",
    "_",
    "\n",
    ";c\n",
];

fn token_soup(rng: &mut Rng) -> String {
    let mut out = String::new();
    for _ in 0..rng.below(40) {
        out.push_str(rng.pick(TOKENS));
        if !rng.chance(4) {
            out.push(' ');
        }
    }
    out
}

const ATOMS: &[&str] = &[
    "0",
    "1",
    "-1",
    "3",
    "1000000",
    "9223372036854775807",
    "-9223372036854775808",
    "1.5",
    "-0.0",
    "+nan.0",
    "+inf.0",
    "#t",
    "#f",
    "'()",
    "\"\"",
    "\"abc\"",
    "#\\a",
    "'sym",
    "'(1 2 3)",
    "'(1 . 2)",
    "#(1 2)",
    "(make-hash-table)",
    "car",
    "x",
    "y",
    "lst",
    "v",
    "s",
    "h",
    "f",
    "k",
];

const PROCEDURES: &[&str] = &[
    "car",
    "cdr",
    "cons",
    "list",
    "length",
    "append",
    "reverse",
    "list-tail",
    "list-ref",
    "memq",
    "member",
    "assq",
    "assoc",
    "map",
    "for-each",
    "filter",
    "reduce",
    "fold-left",
    "fold-right",
    "sort",
    "iota",
    "last",
    "vector",
    "make-vector",
    "vector-ref",
    "vector-set!",
    "vector-fill!",
    "vector-map",
    "vector->list",
    "list->vector",
    "string",
    "make-string",
    "string-ref",
    "string-set!",
    "substring",
    "string-append",
    "string->list",
    "string->symbol",
    "symbol->string",
    "string->number",
    "number->string",
    "string-upcase",
    "char->integer",
    "integer->char",
    "-",
    "*",
    "/",
    "quotient",
    "remainder",
    "modulo",
    "abs",
    "min",
    "max",
    "expt",
    "sqrt",
    "exp",
    "log",
    "sin",
    "atan",
    "floor",
    "round",
    "exact",
    "inexact",
    "random",
    "<",
    "=",
    "eq?",
    "eqv?",
    "equal?",
    "not",
    "apply",
    "display",
    "write",
    "newline",
    "println",
    "hash-table-ref",
    "hash-table-set!",
    "hash-table-ref/default",
    "hash-table-delete!",
    "hash-table-keys",
    "force",
    "values",
    "call-with-values",
    "call/cc",
    "dynamic-wind",
    "with-exception-handler",
    "raise",
    "error",
    "error-object-message",
    "eval",
    "read",
    "open-input-string",
    "with-output-to-string",
    "procedure?",
    "sys:gc-stats",
    "take",
    "drop",
    "first",
    "list-head",
    "write-shared",
    "write-simple",
    "string-copy!",
    "string->vector",
    "vector->string",
    "numerator",
    "call-with-port",
    "features",
    "current-jiffy",
    "string-map",
    "fold",
    "delete",
    "hash-table-update!",
    "make-parameter",
    "set-cdr!",
    "set-car!",
    "list-copy",
    "list-set!",
    "make-hash-table",
    "list->string",
    "string-for-each",
    "vector-for-each",
];

/// A random expression of roughly the given depth: syntactically plausible, often wrong.
fn expr(rng: &mut Rng, depth: usize) -> String {
    if depth == 0 || rng.chance(4) {
        return rng.pick(ATOMS).to_string();
    }
    let d = depth - 1;
    let e = |rng: &mut Rng| expr(rng, d);
    match rng.below(24) {
        0..=7 => {
            let args: Vec<String> = (0..rng.below(4)).map(|_| e(rng)).collect();
            format!("({} {})", rng.pick(PROCEDURES), args.join(" "))
        }
        8 => format!("(if {} {} {})", e(rng), e(rng), e(rng)),
        9 => format!("(let ((x {}) (y {})) {})", e(rng), e(rng), e(rng)),
        10 => format!("(lambda (x . y) {})", e(rng)),
        11 => format!(
            "(define {} {})",
            rng.pick(&["x", "y", "lst", "v", "s", "f"]),
            e(rng)
        ),
        12 => format!(
            "(set! {} {})",
            rng.pick(&["x", "y", "lst", "v", "s", "zz"]),
            e(rng)
        ),
        13 => format!("(cond ({} {}) (else {}))", e(rng), e(rng), e(rng)),
        14 => format!("(case {} ((1 2) {}) (else {}))", e(rng), e(rng), e(rng)),
        15 => format!(
            "(let loop ((i {})) (if (< i 0) {} (loop (- i 1))))",
            e(rng),
            e(rng)
        ),
        16 => format!("(guard (c (#t {})) {})", e(rng), e(rng)),
        17 => format!(
            "(call/cc (lambda (k) ({} (k {}))))",
            rng.pick(PROCEDURES),
            e(rng)
        ),
        18 => format!("`({} ,{} ,@{})", e(rng), e(rng), e(rng)),
        19 => format!(
            "(begin (define-syntax m (syntax-rules () ((_ a ...) (list a ...)))) (m {} {}))",
            e(rng),
            e(rng)
        ),
        20 => format!(
            "(define (f . args) (apply {} args)) (f {} {})",
            rng.pick(PROCEDURES),
            e(rng),
            e(rng)
        ),
        21 => format!(
            "({} {})",
            rng.pick(&[
                "if",
                "let",
                "lambda",
                "define",
                "set!",
                "quote",
                "cond",
                "case",
                "do",
                "let*",
                "letrec",
                "named-lambda",
                "delay",
                "guard",
                "define-record-type",
                "syntax-rules",
                "define-syntax",
                "let-values",
                "when",
                "unless",
                "cond-expand",
                "parameterize",
                "case-lambda",
                "define-values"
            ]),
            (0..rng.below(4))
                .map(|_| e(rng))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        22 => format!(
            "(with-exception-handler (lambda (c) {}) (lambda () {}))",
            e(rng),
            e(rng)
        ),
        _ => format!(
            "(dynamic-wind (lambda () {}) (lambda () {}) (lambda () {}))",
            e(rng),
            e(rng),
            e(rng)
        ),
    }
}

fn wrong_program(rng: &mut Rng) -> String {
    (0..1 + rng.below(3))
        .map(|_| expr(rng, 4))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(seed(1));
    let mut h = Harness::new();
    for _ in 0..cases() {
        let src = random_bytes(&mut rng);
        h.run(&src);
    }
    h.assert_clean("random bytes");
}

#[test]
fn token_soups_never_panic() {
    let mut rng = Rng::new(seed(2));
    let mut h = Harness::new();
    for _ in 0..cases() {
        let src = token_soup(&mut rng);
        h.run(&src);
    }
    h.assert_clean("token soups");
}

#[test]
fn wrong_programs_never_panic() {
    let mut rng = Rng::new(seed(3));
    let mut h = Harness::new();
    for _ in 0..cases() {
        let src = wrong_program(&mut rng);
        h.run(&src);
    }
    h.assert_clean("wrong programs");
}

/// Hand-picked inputs that break naive readers, printers and allocators: deep nesting, huge
/// sizes, extreme numbers, cyclic data.
#[test]
fn adversarial_inputs_never_panic() {
    let deep_open = "(".repeat(200_000);
    let deep_list = format!("'{}{}", "(".repeat(100_000), ")".repeat(100_000));
    let deep_vector = format!("'{}{}", "#(".repeat(50_000), ")".repeat(50_000));
    let deep_quote = format!("{}x", "'".repeat(100_000));
    let deep_call = format!("{}0{}", "(- ".repeat(100_000), ")".repeat(100_000));
    let inputs: Vec<String> = [
        deep_open.as_str(),
        deep_list.as_str(),
        deep_vector.as_str(),
        deep_quote.as_str(),
        deep_call.as_str(),
        "(make-vector 9223372036854775807 0)",
        "(make-vector 100000000000 0)",
        "(make-string 100000000000 #\\a)",
        "(make-list 100000000000 0)",
        "(iota 100000000000)",
        "(expt 2 100000000000)",
        "(expt 2.0 100000)",
        "(exact 1e300)",
        "(exact +nan.0)",
        "(exact +inf.0)",
        "(* 9223372036854775807 9223372036854775807)",
        "(- -9223372036854775808)",
        "(abs -9223372036854775808)",
        "(quotient -9223372036854775808 -1)",
        "(remainder -9223372036854775808 -1)",
        "(modulo -9223372036854775808 -1)",
        "(number->string 10 1)",
        "(number->string 10 99)",
        "(string->number \"10\" 0)",
        "(integer->char 55296)",
        "(integer->char 1114112)",
        "(list-tail '(1 2) -1)",
        "(substring \"abc\" -1 2)",
        "(vector-ref #(1) -1)",
        "(string-ref \"\" 0)",
        "(define c (list 1 2)) (set-cdr! (cdr c) c) (length c)",
        "(define c (list 1 2)) (set-cdr! (cdr c) c) (list? c)",
        "(define c (list 1 2)) (set-cdr! (cdr c) c) (equal? c c)",
        "(define c (list 1 2)) (set-cdr! (cdr c) c) (write c)",
        "(define c (list 1 2)) (set-cdr! (cdr c) c) (display c)",
        "(define c (vector 1)) (vector-set! c 0 c) (write c)",
        "(define c (vector 1)) (vector-set! c 0 c) (display c)",
        "(define c (list 1)) (set-car! c c) (write c)",
        "(write (read (open-input-string \"#0=(#0# #0# . #0#)\")))",
        "(write (read (open-input-string \"#0=#(#0# #1=(#1# . #0#) #1#)\")))",
        "(equal? '#0=(1 . #0#) '#1=(1 1 . #1#))",
        "(length '#0=(1 . #0#))",
        "(map car '#0=((1) . #0#))",
        "(for-each car '#0=((1) . #0#) '#1=((1) . #1#))",
        "(eval '#0=(+ 1 . #0#))",
        "(define-syntax id (syntax-rules () ((_ x) 'x))) (id #0=(a . #0#))",
        "`#0=(a ,@'(b) . #0#)",
        "(vector->list '#0=#(1 #0#))",
        "(list->string '#0=(#\\a . #0#))",
        "(apply + '#0=(1 . #0#))",
        "(string-append \"a\" '#0=(1 . #0#))",
        "(define a (list 1)) (set-car! a a) (define b (list 1)) (set-car! b b) (equal? a b)",
        "(define c (list 1 2)) (set-cdr! (cdr c) c) (map (lambda (x) x) c)",
        "(define c (list 1 2)) (set-cdr! (cdr c) c) (append c '(1))",
        "(define c (list 1 2)) (set-cdr! (cdr c) c) (sort c <)",
        "(define c (list 1 2)) (set-cdr! (cdr c) c) (apply + c)",
        "(define (nest n) (if (= n 0) '() (list (nest (- n 1))))) (equal? (nest 200000) (nest 200000))",
        "(define (nest n) (if (= n 0) '() (list (nest (- n 1))))) (write (nest 200000))",
        "(define (nest n) (if (= n 0) '() (vector (nest (- n 1))))) (equal? (nest 200000) (nest 200000))",
        "(define (nest n) (if (= n 0) '() (list (nest (- n 1))))) (hash-table-set! (make-hash-table) (nest 200000) 1)",
        "(let loop () (loop))",
        "(define (f) (f)) (f)",
        "(define (g n) (+ 1 (g n))) (g 0)",
        "(define (h n) (apply h (list n))) (h 0)",
        "(define-syntax forever (syntax-rules () ((_ x) (forever x)))) (forever 1)",
        "(define-macro (m x) (list 'm x)) (m 1)",
        "(call/cc call/cc)",
        "((call/cc call/cc) (lambda (x) 1))",
        "(define k #f) (+ 1 (call/cc (lambda (c) (set! k c) 1))) (k 5)",
        "(dynamic-wind (lambda () (raise 'in)) (lambda () 1) (lambda () 2))",
        "(with-exception-handler (lambda (e) (raise e)) (lambda () (raise 'x)))",
        "(with-exception-handler 5 (lambda () (raise 'x)))",
        "(guard (e) (raise 'unhandled))",
        "(error)",
        "(error 5 6)",
        "(raise)",
        "(eval '(define x 1) 5)",
        "(eval 5 6 7)",
        "(read (open-input-string \"#(\"))",
        "(load \"/\")",
        "(load \"\")",
        "(with-output-to-string 5)",
        "(define-record-type)",
        "(define-record-type p (mk) p? (a))",
        "(force (delay (force (delay (raise 'x)))))",
        "(define p (delay (force p))) (force p)",
        "(string->symbol \"\")",
        "(symbol->string (string->symbol \"a b\"))",
        "(list->string '(1 2))",
        "(apply apply apply '())",
        "(sys:gc-stats 1 2)",
        "(vector-map + #(1) '(1))",
        "(sort '(3 1 2) (lambda (a b) (raise 'cmp)))",
        "(sort '(3 1 2) 5)",
        "(hash-table-update! (make-hash-table) 'k (lambda (v) v))",
        "#!eof",
        "\u{0}",
        "\"\\x;\"",
        "\"\\xFFFFFFFFFF;\"",
        "#\\x-1",
        "1e99999999999999999999",
        "#e1e400",
        ".",
        "(.)",
        "( . )",
        "#;",
        "#;#;1",
        "`,@(list 1 2)",
        "`(1 ,@5)",
        "`#(,@5)",
        ",x",
        "(unquote x)",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    let mut h = Harness::new();
    for src in &inputs {
        h.run(src);
    }
    h.assert_clean("adversarial inputs");
}
