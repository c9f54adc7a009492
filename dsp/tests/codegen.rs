//! Code generation read from the machine code Cranelift makes: a closure's environment
//! is untagged once per call, not again in every block that reads one of its slots; a
//! loop's accesses at its counter are checked once before it, `if`s in its body or not;
//! a double live across the inline math's out-of-line call is not spilled for it.

use zonal_dsp::{Dsp, DspConfig, parse};

/// A closure whose state lives in its environment's slots, read and written in many
/// blocks (each `if` arm is one).
const VOICE: &str = "
(bind-func env_voice_c
  (lambda ()
    (let ((a:SAMPLE 0.0) (b:SAMPLE 0.0) (n 0) (m 0))
      (lambda (x:SAMPLE chan:i64)
        (if (= chan 0) (set! n (+ n 1)))
        (if (> n 100) (set! n 0))
        (if (> a 1.0) (set! a (- a 1.0)) (set! a (+ a x)))
        (if (> b 1.0) (set! b 0.0) (set! b (+ b a)))
        (if (= m 3) (set! m 0) (set! m (+ m 1)))
        (+ a b)))))
(bind-func env_voice_make
  (lambda ()
    (let ((f (env_voice_c)))
      (f 0.5 0))))
";

#[cfg(target_arch = "x86_64")]
#[test]
fn environment_slots_do_not_strip_the_tag_again_in_every_block() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    dsp.keep_machine_code();
    for f in parse(VOICE, "test.xtm").expect("parses") {
        if let Err(e) = dsp.define(&f) {
            panic!("{e}");
        }
    }
    dsp.compile("env_voice_make").expect("compiles");
    let code = dsp.machine_code();
    // The closure's function (the one that compares floats), in which an `and` with the
    // mask from the constant pool would be the tag stripped again.
    let body = code
        .split("; function ")
        .find(|f| f.contains("ucomiss"))
        .expect("the closure's code is listed");
    let again = body.lines().filter(|l| l.contains("andq (%rip)")).count();
    assert_eq!(
        again, 0,
        "the tag is stripped again in the closure:\n{body}"
    );
}

/// The listing of the functions `name` compiles to (compiled on its own, in a fresh
/// `Dsp` that keeps machine code).
fn listing(src: &str, name: &str) -> String {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    dsp.keep_machine_code();
    for f in parse(src, "test.xtm").expect("parses") {
        if let Err(e) = dsp.define(&f) {
            panic!("{e}");
        }
    }
    dsp.compile(name).expect("compiles");
    dsp.machine_code().to_string()
}

/// A variable read after an `if` in a loop body is a new alias (Cranelift's SSA
/// construction) of the counter and the pointer read at the top, so `(pref buf j)` after
/// the `if` missed the range check made before the loop and checked its element again on
/// every iteration (a shadow lookup each time: six more arena-bound compares here).
#[cfg(target_arch = "x86_64")]
#[test]
fn an_if_in_a_loop_body_keeps_the_hoisted_range_check() {
    let plain = "(bind-func acc (lambda (buf:float* n:i64)
        (let ((j 0) (x:float 0.0))
          (dotimes (j n) (set! x (+ x 0.5)) (pset! buf j (+ (pref buf j) x)))
          void)))";
    let branchy = "(bind-func acc (lambda (buf:float* n:i64)
        (let ((j 0) (x:float 0.0))
          (dotimes (j n)
            (if (> x 1.0) (set! x 0.0) (set! x (+ x 0.5)))
            (pset! buf j (+ (pref buf j) x)))
          void)))";
    let checks = |code: &str| code.lines().filter(|l| l.contains("cmpq (%rip)")).count();
    let (a, b) = (listing(plain, "acc"), listing(branchy, "acc"));
    assert_eq!(
        checks(&b),
        checks(&a),
        "the loop with an if checks again:\n{b}"
    );
}

/// `y` is live across `sin`'s out-of-line call (taken only for |x| ≥ 2^30 and NaN).
const ACROSS_SIN: &str = "
(bind-func across_sin
  (lambda (x:double y:double)
    (* y (sin (* x y)))))
";

#[cfg(target_arch = "x86_64")]
#[test]
fn doubles_live_across_the_out_of_line_sin_stay_in_registers() {
    let code = listing(ACROSS_SIN, "across_sin");
    // The C library is called through a trampoline that keeps every register, so no
    // vector register is saved to the stack around it (a System V call would clobber
    // them all, and `y`, `x y` and the partial results would be spilled).
    let body = code
        .split("; function ")
        .find(|f| f.contains("vfmadd") || f.contains("vmulsd"))
        .expect("the function's code is listed");
    let spills = body
        .lines()
        .filter(|l| l.contains("%xmm") && l.contains("(%rsp)") && l.trim_start().starts_with("mov"))
        .filter(|l| {
            l.split(',')
                .next_back()
                .is_some_and(|d| d.contains("(%rsp)"))
        })
        .count();
    assert_eq!(spills, 0, "vector registers spilled:\n{body}");
}
