//! Code generation read from the machine code Cranelift makes: a closure's environment
//! is untagged once per call, not again in every block that reads one of its slots; a
//! loop's accesses at its counter are checked once before it, `if`s in its body or not;
//! a double live across the inline math's out-of-line call is not spilled for it; a
//! loop's invariant pointers are untagged before it, not again in every iteration.

mod common;
use common::listing;
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

/// W1's bank as `benches/peers/w1_buffer.xtm` writes it: a loop of four pointers in SIMD
/// lanes, inside a loop over the frames.
const NESTED_BANK: &str = "
(bind-func nested_bank
  (lambda (frames:i64)
    (let ((n 64) (s:double* (zalloc 64)) (c:double* (zalloc 64))
          (rs:double* (zalloc 64)) (rc:double* (zalloc 64))
          (f 0) (i 0) (x 0.0) (y 0.0) (sum 0.0))
      (dotimes (f frames)
        (set! sum 0.0)
        (dotimes (i n)
          (set! x (pref s i))
          (set! y (pref c i))
          (set! sum (+ sum x))
          (pset! s i (+ (* x (pref rc i)) (* y (pref rs i))))
          (pset! c i (- (* y (pref rc i)) (* x (pref rs i))))))
      sum)))
";

/// Each untagging was an `and` with a constant, which Cranelift copies into every block
/// that uses it: the SIMD loop loaded the mask from the constant pool and untagged its
/// four pointers again at every iteration (w1_buffer.xtm took 0.25 s of CPU for 60 s, 0.17 s
/// without).
#[cfg(target_arch = "x86_64")]
#[test]
fn a_loops_pointers_are_not_untagged_again_in_every_iteration() {
    let code = listing(NESTED_BANK, "nested_bank");
    let body = code
        .split("; function ")
        .find(|f| f.contains("mulpd"))
        .expect("the bank runs in SIMD lanes");
    let again = body.lines().filter(|l| l.contains("andq (%rip)")).count();
    assert_eq!(again, 0, "untagged from the constant pool:\n{body}");
}

/// The lines of `body` (one function's listing) from the header of its first loop (the
/// lowest-numbered block a later block jumps back to) to the last jump back to a block
/// of the loops: what runs in the loops, without the cold blocks placed after them.
#[cfg(target_arch = "x86_64")]
fn from_first_loop(body: &str) -> Vec<&str> {
    let block_of = |l: &str| {
        l.strip_prefix("block")?
            .strip_suffix(':')
            .and_then(|n| n.parse::<usize>().ok())
    };
    let mut current = 0;
    let mut header = usize::MAX;
    let mut last_back = 0;
    for (i, l) in body.lines().enumerate() {
        if let Some(n) = block_of(l) {
            current = n;
        }
        for target in l.split("label").skip(1) {
            let digits: String = target.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(t) = digits.parse::<usize>()
                && t <= current
            {
                header = header.min(t);
                last_back = i;
            }
        }
    }
    let start = body
        .lines()
        .position(|l| block_of(l) == Some(header))
        .expect("the function has a loop");
    body.lines()
        .skip(start)
        .take(last_back + 1 - start)
        .collect()
}

/// True for a load of a 64-bit word at a two-register address: the only such loads in
/// these listings are shadow lookups.
#[cfg(target_arch = "x86_64")]
fn is_shadow_load(l: &str) -> bool {
    let l = l.trim_start();
    l.starts_with("movq (%")
        && l.contains(", %r")
        && l.split(')').next().is_some_and(|a| a.contains(','))
}

/// A loop nest that frees nothing reads the shadow of its inner loop's four ranges once
/// a call, before the frames loop: the range checks made before the inner loop at every
/// frame used to load four shadow entries each time (about 13 % of w1_buffer.xtm's bank).
#[cfg(target_arch = "x86_64")]
#[test]
fn a_loop_nest_that_frees_nothing_reads_the_shadow_before_its_outer_loop() {
    let code = listing(NESTED_BANK, "nested_bank");
    let body = code
        .split("; function ")
        .find(|f| f.contains("mulpd"))
        .expect("the bank runs in SIMD lanes");
    assert!(
        body.lines().any(is_shadow_load),
        "no shadow lookup found:\n{body}"
    );
    let inside: Vec<&str> = from_first_loop(body)
        .into_iter()
        .filter(|l| is_shadow_load(l))
        .collect();
    assert!(
        inside.is_empty(),
        "shadow read in the loops: {inside:?}\n{body}"
    );
}

/// A per-buffer closure's frames loop writing its interleaved output.
const INTERLEAVED: &str = "
(bind-func interleaved
  (lambda (out:float* frames:i64)
    (let ((f 0) (x:float 0.0))
      (dotimes (f frames)
        (set! x (+ x 0.25))
        (pset! out (* f 2) x)
        (pset! out (+ (* f 2) 1) (* x 0.5)))
      x)))
";

/// `(pset! out (* f 2) l)` and `(pset! out (+ (* f 2) 1) r)` are checked once before the
/// frames loop, each over the whole range it writes: they used to be checked at every
/// frame, a shadow lookup and three compares each (w1_buffer.xtm's output).
#[cfg(target_arch = "x86_64")]
#[test]
fn interleaved_writes_at_twice_the_counter_are_checked_once_before_the_loop() {
    let code = listing(INTERLEAVED, "interleaved");
    let body = code
        .split("; function ")
        .find(|f| f.contains("vmovss") || f.contains("movss"))
        .expect("the loop's code is listed");
    let inside: Vec<&str> = from_first_loop(body)
        .into_iter()
        .filter(|l| l.contains("cmpq (%rip)") || is_shadow_load(l))
        .collect();
    assert!(inside.is_empty(), "checks in the loop: {inside:?}\n{body}");
}

/// A function that calls nothing cannot recurse and ends soon: its entry has no call
/// depth, native stack or interrupt check (Extempore's small closures, an oscillator or a
/// filter called every sample, paid some fifteen instructions a call for them).
#[cfg(target_arch = "x86_64")]
#[test]
fn a_function_that_calls_nothing_has_no_depth_stack_or_interrupt_check() {
    const GAIN: &str = "(bind-func leaf_gain (lambda (x:double) (* x 0.5)))";
    let leaf = listing(GAIN, "leaf_gain");
    let caller = listing(
        &format!("{GAIN} (bind-func calls_gain (lambda (x:double) (leaf_gain x)))"),
        "calls_gain",
    );
    // the stack check reads the stack pointer into a register
    let reads_sp = |f: &str| {
        f.lines()
            .any(|l| l.contains("%rsp, %r") && !l.contains("%rbp"))
    };
    assert!(!reads_sp(&leaf), "{leaf}");
    assert!(reads_sp(&caller), "{caller}");
}

/// Values a division by a power of two meets at its edges: ordinary ones, results that
/// are subnormal or round to one, zeros, infinities and NaN.
const EDGES: [f64; 12] = [
    1.0,
    -3.7,
    1e300,
    1e-300,
    4.9e-324,
    2.2250738585072014e-308,
    1e-310,
    0.0,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

/// Dividing by a literal power of two is multiplying by its reciprocal (no `divsd`, whose
/// latency sat on W1's lowpass), with the quotient's bits for every argument, in doubles
/// and floats, one at a time and in a loop's lanes.
#[test]
fn a_division_by_a_power_of_two_is_a_multiplication_with_the_quotients_bits() {
    let src = "
(bind-func qd:[double,double]* (lambda (x) (/ x 64.0)))
(bind-func qn:[double,double]* (lambda (x) (/ x -0.125)))
(bind-func qf:[float,float]* (lambda (x) (/ x 1024.0)))
(bind-func ql:[double,double,i64]* 4096
  (let ((a:double* (zalloc 16)) (out:double* (zalloc 16)) (fa:float* (zalloc 16))
        (fout:float* (zalloc 16)) (k:i64 0))
    (lambda (x which)
      (dotimes (k 16) (pset! a k x) (pset! fa k (dtof x)))
      (dotimes (k 16)
        (pset! out k (/ (pref a k) 0.5))
        (pset! fout k (/ (pref fa k) 8.0)))
      (if (= which 0) (pref out 7) (ftod (pref fout 7))))))";
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    for f in parse(src, "test.xtm").expect("parses") {
        if let Err(e) = dsp.define(&f) {
            panic!("{e}");
        }
    }
    let mut call = |name: &str, args: &[zonal_dsp::DspValue]| match dsp.call(name, args) {
        Ok(zonal_dsp::DspValue::Double(x)) => x,
        Ok(zonal_dsp::DspValue::Float(x)) => f64::from(x),
        other => panic!("{name}: {other:?}"),
    };
    let same = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
    use zonal_dsp::DspValue::{Double, Float, I64};
    for x in EDGES {
        let f = x as f32;
        let checks = [
            (call("qd", &[Double(x)]), x / 64.0),
            (call("qn", &[Double(x)]), x / -0.125),
            (call("qf", &[Float(f)]), f64::from(f / 1024.0)),
            (call("ql", &[Double(x), I64(0)]), x / 0.5),
            (call("ql", &[Double(x), I64(1)]), f64::from(f / 8.0)),
        ];
        for (k, (got, want)) in checks.into_iter().enumerate() {
            assert!(
                same(got, want),
                "x = {x:e}, case {k}: {got:e} against {want:e}"
            );
        }
    }
    #[cfg(target_arch = "x86_64")]
    for name in ["qd", "qn", "qf", "ql"] {
        let code = listing(src, name);
        assert!(!code.contains("div"), "{name} still divides:\n{code}");
    }
}
