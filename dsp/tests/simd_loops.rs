//! `dotimes` loops run two iterations at a time in SIMD lanes (see `lower/simd.rs`):
//! reductions, private variables, the odd last iteration, math in lanes, and the memory
//! checks, which stay on. Sines, cosines, `tan`, `exp`, `log` and `tanh` gathered for the
//! CPU's wide kernels (see `lower/batch.rs`) give every element the scalar loop's bits:
//! across stretches, with an odd last iteration, with arguments read from arrays,
//! computed, or read after a store, and where one call feeds another (gathered a level at
//! a time). A loop whose body calls a closure (so may free memory) also has its ranges
//! checked before it, and again in an iteration that finds an allocation died. Floats
//! mixed into a loop on doubles (float arithmetic, math, arrays, sums) run in its lanes
//! with the bits of one iteration at a time, tested on chosen bodies and by a fuzzer.

mod common;
use common::{dsp, listing};
mod rng;
use rng::Rng;
use zonal_dsp::{Dsp, DspValue};

fn double(d: &mut Dsp, name: &str, args: &[DspValue]) -> f64 {
    match d.call(name, args) {
        Ok(DspValue::Double(x)) => x,
        other => panic!("{name}: {other:?}"),
    }
}

/// Fills `p` with 1e16, 1, -1e16, 1, then 0.5 from index 4 on, and sums the first `n`.
const SUM: &str = "
(bind-func lanes_sum:[double,i64]*
  (lambda (n)
    (let ((p:double* (zalloc 8)) (s 0.0) (i:i64 0))
      (pset! p 0 1e16) (pset! p 1 1.0) (pset! p 2 -1e16) (pset! p 3 1.0)
      (pset! p 4 0.5) (pset! p 5 0.5) (pset! p 6 0.5) (pset! p 7 0.5)
      (dotimes (i n)
        (set! s (+ s (pref p i))))
      s)))";

#[test]
fn a_sum_runs_in_two_lanes_and_the_odd_last_iteration_after() {
    let mut d = dsp(SUM);
    // One after the other, 1e16 + 1 rounds to 1e16 and the sum is 1; lane by lane it
    // is (1e16 − 1e16) + (1 + 1) = 2. The lanes are what ran.
    assert_eq!(double(&mut d, "lanes_sum", &[DspValue::I64(4)]), 2.0);
    assert_eq!(double(&mut d, "lanes_sum", &[DspValue::I64(5)]), 2.5);
    assert_eq!(double(&mut d, "lanes_sum", &[DspValue::I64(1)]), 1e16);
    assert_eq!(double(&mut d, "lanes_sum", &[DspValue::I64(0)]), 0.0);
}

/// Fills `p` with 1e16, 0, 1, 0, -1e16, 0, 1, 0 and sums the first `n`.
const WIDE_SUM: &str = "
(bind-func wide_sum:[double,i64]*
  (lambda (n)
    (let ((p:double* (zalloc 8)) (s 0.0) (i:i64 0))
      (pset! p 0 1e16) (pset! p 1 0.0) (pset! p 2 1.0) (pset! p 3 0.0)
      (pset! p 4 -1e16) (pset! p 5 0.0) (pset! p 6 1.0) (pset! p 7 0.0)
      (dotimes (i n)
        (set! s (+ s (pref p i))))
      s)))";

#[test]
fn a_cheap_sum_runs_two_vectors_at_a_time_in_four_accumulators() {
    let mut d = dsp(WIDE_SUM);
    // Two accumulators (even and odd indices) would add 1e16 + 1 first, which rounds
    // to 1e16, and end at 1. Four, each taking every fourth element, add 1e16 and -1e16
    // in one and 1 and 1 in another: 2, the exact sum.
    assert_eq!(double(&mut d, "wide_sum", &[DspValue::I64(8)]), 2.0);
    // Six: one vector pair (0..4), then a single vector (4..6) into the first
    // accumulators after the second ones were folded in: (1e16 + 1) - 1e16 = 0.
    assert_eq!(double(&mut d, "wide_sum", &[DspValue::I64(6)]), 0.0);
    // Seven: the same, then the scalar loop adds the 1 at index 6.
    assert_eq!(double(&mut d, "wide_sum", &[DspValue::I64(7)]), 1.0);
}

#[test]
fn a_loop_past_its_allocation_still_faults_before_it_runs() {
    let mut d = dsp(SUM);
    let e = d
        .call("lanes_sum", &[DspValue::I64(9)])
        .expect_err("reads past the allocation");
    // The whole range the loop reads, 9 doubles, is checked once before it starts.
    assert!(
        e.message
            .contains("out-of-bounds read of 72 bytes at offset 0 of an allocation of 64 bytes"),
        "{}",
        e.message
    );
}

#[test]
fn max_and_private_variables_come_out_of_the_lanes() {
    let mut d = dsp("
(bind-func lanes_max:[double,i64,i64]*
  (lambda (n which)
    (let ((p:double* (zalloc 8)) (m -1000.0) (last 0.0) (i:i64 0))
      (pset! p 0 3.0) (pset! p 1 -2.0) (pset! p 2 7.5) (pset! p 3 1.0)
      (pset! p 4 9.0) (pset! p 5 4.0) (pset! p 6 -8.0) (pset! p 7 2.0)
      (dotimes (i n)
        (set! last (pref p i))
        (set! m (fmax m (* 2.0 last))))
      (if (= which 0) m last))))");
    let call =
        |d: &mut Dsp, n: i64, w: i64| double(d, "lanes_max", &[DspValue::I64(n), DspValue::I64(w)]);
    assert_eq!(call(&mut d, 4, 0), 15.0);
    assert_eq!(call(&mut d, 5, 0), 18.0);
    assert_eq!(call(&mut d, 8, 0), 18.0);
    assert_eq!(call(&mut d, 4, 1), 1.0);
    assert_eq!(call(&mut d, 7, 1), -8.0);
    assert_eq!(call(&mut d, 8, 1), 2.0);
}

const BANK: &str = "
(bind-func bank:[double,i64,i64]*
  (let ((phases:double* (zalloc 64)) (incs:double* (zalloc 64)) (k:i64 0)
        (twopi:double 6.283185307179586))
    (dotimes (k 64)
      (pset! incs k (/ (* twopi 110.0 (+ 1.0 (* 0.37 (i64tod k)))) 48000.0)))
    (lambda (n frames)
      (let ((f:i64 0) (sum 0.0) (total 0.0) (i:i64 0) (ph 0.0))
        (dotimes (f frames)
          (set! sum 0.0)
          (dotimes (i n)
            (set! ph (pref phases i))
            (set! sum (+ sum (sin ph)))
            (set! ph (+ ph (pref incs i)))
            (pset! phases i (if (> ph twopi) (- ph twopi) ph)))
          (set! total (+ total (fabs sum))))
        total))))";

#[test]
fn an_oscillator_bank_in_lanes_matches_one_computed_in_rust() {
    let twopi = std::f64::consts::TAU;
    let incs: Vec<f64> = (0..64)
        .map(|k| twopi * 110.0 * (1.0 + 0.37 * k as f64) / 48000.0)
        .collect();
    for n in [64usize, 63] {
        let mut d = dsp(BANK);
        let got = double(
            &mut d,
            "bank",
            &[DspValue::I64(n as i64), DspValue::I64(4800)],
        );
        let mut phases = vec![0.0f64; 64];
        let mut want = 0.0;
        for _ in 0..4800 {
            let mut sum = 0.0;
            for i in 0..n {
                let ph = phases[i];
                sum += ph.sin();
                let ph = ph + incs[i];
                phases[i] = if ph > twopi { ph - twopi } else { ph };
            }
            want += f64::abs(sum);
        }
        assert!((got - want).abs() < 1e-9 * want, "n = {n}: {got} vs {want}");
    }
}

#[test]
fn a_one_armed_if_that_wraps_a_variable_runs_in_lanes() {
    let mut d = dsp("
(bind-func wrap_sum:[double,double]*
  (lambda (limit)
    (let ((p:double* (zalloc 4)) (s 0.0) (i:i64 0))
      (pset! p 0 1e16) (pset! p 1 1.0) (pset! p 2 -1e16) (pset! p 3 1.0)
      (dotimes (i 4)
        (let ((x (pref p i)))
          (if (>= x limit) (set! x (- x 3.0)))
          (pset! p i x)
          (set! s (+ s x))))
      s)))");
    // Nothing wraps: lane by lane the sum is 2 (one at a time it would be 1).
    assert_eq!(double(&mut d, "wrap_sum", &[DspValue::Double(1e17)]), 2.0);
    // Both 1s wrap to -2, 1e16 - 3 rounds to 1e16 - 4: (1e16 - 4 - 1e16) + (-2 - 2).
    assert_eq!(double(&mut d, "wrap_sum", &[DspValue::Double(0.5)]), -8.0);
}

/// Fills `p` with floats 1e8, 1, 1, 1, -1e8, 1, 1, 1, then 0.5, and sums the first `n`.
const FLOAT_SUM: &str = "
(bind-func lanes_fsum:[double,i64]*
  (lambda (n)
    (let ((p:float* (zalloc 9)) (s:float 0.0) (i:i64 0))
      (pset! p 0 1e8) (pset! p 1 1.0) (pset! p 2 1.0) (pset! p 3 1.0)
      (pset! p 4 -1e8) (pset! p 5 1.0) (pset! p 6 1.0) (pset! p 7 1.0)
      (pset! p 8 0.5)
      (dotimes (i n)
        (set! s (+ s (pref p i))))
      (ftod s))))";

#[test]
fn a_float_sum_runs_in_four_lanes_and_the_last_few_iterations_after() {
    let mut d = dsp(FLOAT_SUM);
    // One after the other, each 1 added to 1e8 is lost (floats are 8 apart there): the sum
    // is 3. Lane by lane, 1e8 meets -1e8 in lane 0 and the other lanes keep two 1s each: 6.
    assert_eq!(double(&mut d, "lanes_fsum", &[DspValue::I64(8)]), 6.0);
    assert_eq!(double(&mut d, "lanes_fsum", &[DspValue::I64(9)]), 6.5);
    // Fewer than four iterations run one at a time.
    assert_eq!(double(&mut d, "lanes_fsum", &[DspValue::I64(3)]), 1e8);
    assert_eq!(double(&mut d, "lanes_fsum", &[DspValue::I64(0)]), 0.0);
}

#[test]
fn a_float_loop_past_its_allocation_still_faults_before_it_runs() {
    let mut d = dsp(FLOAT_SUM);
    let e = d
        .call("lanes_fsum", &[DspValue::I64(10)])
        .expect_err("reads past the allocation");
    assert!(
        e.message
            .contains("out-of-bounds read of 40 bytes at offset 0 of an allocation of 36 bytes"),
        "{}",
        e.message
    );
}

/// A float oscillator bank writing each partial's sine to `out`, twice: `fbank` in lanes,
/// `fbank_scalar` one iteration at a time (it converts a product of the counter, which keeps
/// it out of the lanes; adding 0 × i changes no value).
fn float_bank(name: &str, extra: &str) -> String {
    format!(
        "
(bind-func {name}:[double,i64,i64,i64]*
  (let ((phases:float* (zalloc 64)) (incs:float* (zalloc 64)) (out:float* (zalloc 64))
        (k:i64 0) (twopi:float 6.2831855))
    (dotimes (k 64)
      (pset! incs k (dtof (/ (* 6.283185307179586 110.0 (+ 1.0 (* 0.37 (i64tod k)))) 48000.0))))
    (lambda (n frames which)
      (let ((f:i64 0) (i:i64 0) (ph:float 0.0))
        (dotimes (f frames)
          (dotimes (i n)
            (set! ph (pref phases i))
            (pset! out i (+ (* 0.5 (sin ph)) (cos (* 2.0 ph)){extra}))
            (set! ph (+ ph (pref incs i)))
            (pset! phases i (if (> ph twopi) (- ph twopi) ph))))
        (ftod (pref out which))))))"
    )
}

/// Runs `frames` frames of `name`'s bank of `n` partials, then reads its 64 outputs.
fn floats(d: &mut Dsp, name: &str, n: i64, frames: i64) -> Vec<u32> {
    let mut run = |frames: i64, which: i64| {
        let args = [
            DspValue::I64(n),
            DspValue::I64(frames),
            DspValue::I64(which),
        ];
        (double(d, name, &args) as f32).to_bits()
    };
    run(frames, 0);
    (0..64).map(|i| run(0, i)).collect()
}

#[test]
fn a_float_oscillator_bank_in_four_lanes_gives_the_scalar_loops_bits() {
    for n in [64, 63, 61] {
        let mut lanes = dsp(&float_bank("fbank", ""));
        let mut scalar = dsp(&float_bank("fbank_scalar", " (* 0.0 (i64tof (* i 1)))"));
        // 1,000 frames: phases wrap many times.
        let a = floats(&mut lanes, "fbank", n, 1000);
        let b = floats(&mut scalar, "fbank_scalar", n, 1000);
        assert_eq!(a, b, "n = {n}");
        let x = f32::from_bits(a[10]);
        assert!(x.abs() <= 1.5 && x != 0.0, "{x}");
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn float_loops_and_their_math_compile_to_four_lane_instructions() {
    // Packed single-precision adds: the sum's four lanes.
    let code = listing(FLOAT_SUM, "lanes_fsum");
    assert!(code.contains("addps"), "no four-lane add:\n{code}");
    // sin and cos widen each half to two doubles and round back.
    let code = listing(&float_bank("fbank", ""), "fbank");
    for op in ["cvtps2pd", "cvtpd2ps", "mulps", "cmpltps"] {
        assert!(code.contains(op), "no {op} in the bank's loop:\n{code}");
    }
    let code = listing(
        &float_bank("fbank_scalar", " (* 0.0 (i64tof (* i 1)))"),
        "fbank_scalar",
    );
    assert!(
        !code.contains("cvtps2pd"),
        "the scalar loop ran in lanes:\n{code}"
    );
}

/// Arguments a patch meets and the ones the kernels do apart: small phases, large ones,
/// multiples of π/2 (where the usual reduction cancels), past 2^30, not finite.
/// (`{C}` converts a double to the arrays' element type: `+` leaves a double as it is.)
const FILL: &str = "
      (dotimes (k 400)
        (pset! a k ({C} (* 0.37 (i64tod (- k 200)))))
        (pset! b k ({C} (* 1.5707963267948966 (i64tod (* k 7919)))))
        (if (= (% k 50) 7) (pset! b k ({C} 3.0e9)))
        (if (= (% k 97) 3) (pset! b k ({C} (/ 0.0 0.0)))))";

/// `name`'s loop over n elements of `a` and `b`, with `body` (over `i`) writing `out`
/// and summing into `s`; returns `s` after writing the elements. `extra` is added to an
/// argument: `(* 0.0 (i64tod (* i 1)))` keeps the loop out of the lanes without changing a
/// value.
fn program(name: &str, body: &str) -> String {
    typed_program(name, body, false)
}

/// [`program`] over doubles, or over floats (`x`, `s` and the arrays).
fn typed_program(name: &str, body: &str, floats: bool) -> String {
    let (t, to, back) = if floats {
        ("float", "dtof", "ftod")
    } else {
        ("double", "+", "+")
    };
    mixed_program(name, body, (t, to, back), t)
}

/// [`program`] with arrays of `t` (`to` converting a double to it, `back` its element to
/// a double) and `x`, `s` of type `scalar`.
fn mixed_program(
    name: &str,
    body: &str,
    (t, to, back): (&str, &str, &str),
    scalar: &str,
) -> String {
    let fill = FILL.replace("{C}", to);
    let sum = if scalar == t { back } else { "+" };
    format!(
        "
(bind-func {name}:[double,i64,i64]* 16384
  (let ((a:{t}* (zalloc 400)) (b:{t}* (zalloc 400)) (out:{t}* (zalloc 400))
        (k:i64 0))
    {fill}
    (lambda (n which)
      (let ((i:i64 0) (x:{scalar} 0.0) (s:{scalar} 0.0))
        (if (< which 0)
            (begin
              (dotimes (i n)
                {body})
              ({sum} s))
            ({back} (pref out which)))))))"
    )
}

/// The bits of `s`, then of every element `name` wrote, for a loop of `n`.
fn run(d: &mut Dsp, name: &str, n: i64) -> Vec<u64> {
    let mut call = |which: i64| double(d, name, &[DspValue::I64(n), DspValue::I64(which)]);
    let mut bits = vec![call(-1).to_bits()];
    bits.extend((0..n).map(|i| call(i).to_bits()));
    bits
}

/// The same body in lanes and, with `scalar` spliced into an argument, one at a time.
fn same_bits(body: &str) {
    same_typed_bits(body, false);
}

/// [`same_bits`] over doubles or floats.
fn same_typed_bits(body: &str, floats: bool) {
    let lanes = body.replace("{scalar}", "");
    let count = if floats { "i64tof" } else { "i64tod" };
    let scalar = body.replace("{scalar}", &format!(" (* 0.0 ({count} (* i 1)))"));
    for n in [0, 1, 2, 3, 5, 63, 64, 65, 66, 129, 130, 131, 400] {
        let a = run(
            &mut dsp(&typed_program("lanes", &lanes, floats)),
            "lanes",
            n,
        );
        let b = run(
            &mut dsp(&typed_program("scalar", &scalar, floats)),
            "scalar",
            n,
        );
        assert_eq!(a[1..], b[1..], "n = {n}: {body}");
        // A sum in lanes adds in another order: its last bits may differ.
        let (sa, sb) = (f64::from_bits(a[0]), f64::from_bits(b[0]));
        let within = if floats { 1e-5 } else { 1e-12 };
        assert!((sa - sb).abs() <= within, "n = {n}: sum {sa} against {sb}");
    }
}

#[test]
fn sines_of_array_elements_and_of_computed_arguments_give_the_scalar_loops_bits() {
    same_bits(
        "(set! x (pref a i))
         (set! s (+ s (sin x)))
         (pset! out i (+ (* 0.5 (sin (pref b i))) (cos (+ (* 2.0 x){scalar}))))",
    );
}

#[test]
fn an_argument_read_after_its_array_was_stored_gets_the_stored_value() {
    same_bits(
        "(pset! a i (* 2.0 (pref a i)))
         (set! x (sin (pref a i)))
         (pset! out i (+ x 0.0{scalar}))
         (pset! a i (* 0.5 (pref a i)))",
    );
}

#[test]
fn a_phase_wrapped_by_fmod_has_it_and_its_sine_gathered() {
    // fmod takes two arguments: an array's element or a computed value, and a divisor
    // (the sine's argument needs the first fmod's result: two levels).
    same_bits(
        "(set! x (fmod (+ (pref a i) 0.7) 6.283185307179586))
         (pset! a i x)
         (set! s (+ s (sin (+ x 0.0{scalar}))))
         (pset! out i (fmod (pref b i) 2.5))",
    );
}

/// A closure whose loop reads `g`, a captured variable it sets itself (held in its
/// environment, in memory), and `h`, one shared with a second closure (held in a cell).
const HELD: &str = "
(bind-func held:[double,i64]* 16384
  (let ((a:double* (zalloc 400)) (g:double 0.0) (h:double 0.5) (k:i64 0))
    (dotimes (k 400) (pset! a k (* 0.01 (i64tod (* k 1)))))
    (let ((twice (lambda () (set! h (* 2.0 h)) h)))
      (lambda (n)
        (let ((i:i64 0) (s:double 0.0))
          (set! g (+ g 1.0))
          (twice)
          (dotimes (i n)
            (set! s (+ s (* g h (sin (pref a i))))))
          s)))))";

#[test]
fn a_loop_reading_closure_state_held_in_memory_runs_in_lanes() {
    let mut d = dsp(HELD);
    for call in 1..=3 {
        let got = double(&mut d, "held", &[DspValue::I64(400)]);
        let (g, h) = (f64::from(call), 0.5 * f64::from(1 << call));
        let want: f64 = (0..400).map(|k| g * h * (0.01 * k as f64).sin()).sum();
        assert!(
            (got - want).abs() < 1e-9 * want.abs(),
            "call {call}: {got} vs {want}"
        );
    }
    #[cfg(target_arch = "x86_64")]
    {
        let code = listing(HELD, "held");
        assert!(code.contains("mulpd"), "the loop is not in lanes:\n{code}");
    }
}

#[test]
fn the_counter_as_a_number_runs_in_lanes_and_gives_the_scalar_loops_bits() {
    // A window over the input, the counter in each lane (and in an unrolled iteration's
    // second vector), as an FFT's framing or a wavetable fill has it.
    same_bits(
        "(pset! out i (* (pref a i) (- 0.5 (* 0.5 (cos (+ (* 0.0157 (i64tod i)){scalar}))))))
         (set! s (+ s (i64tod i)))",
    );
    same_bits("(pset! out i (+ (* 0.25 (i64tod i)) (pref a i){scalar}))");
    // the counter plus an integer or a variable the loop does not set, as a per-buffer
    // oscillator's (i64tod (+ time i)): exact in doubles
    same_bits(
        "(pset! out i (+ (sin (* 0.001 (i64tod (+ i 9007199254000000)))) (* 1e-9 (i64tod (+ n i))){scalar}))",
    );
    same_typed_bits(
        "(pset! out i (sin (+ (* 0.01 (i64tof i)){scalar})))
         (set! s (+ s (i64tof i)))",
        true,
    );
    #[cfg(target_arch = "x86_64")]
    {
        for ramp in ["(i64tod i)", "(i64tod (+ n i))"] {
            let body = format!("(pset! out i (* 0.5 {ramp}))");
            let code = listing(&program("ramp", &body), "ramp");
            assert!(code.contains("mulpd"), "{ramp} is not in lanes:\n{code}");
        }
    }
}

#[test]
fn a_loop_on_doubles_reads_and_writes_floats_in_lanes() {
    // float arrays, double arithmetic: a waveshaper over a buffer, as a DSPMC has it
    let body = "(set! x (* 3.0 (ftod (pref a i))))
                (pset! out i (dtof (+ (tanh x) (* 0.1 (sin (+ (ftod (pref b i)){scalar}))))))
                (set! s (+ s x))";
    let lanes = body.replace("{scalar}", "");
    let scalar = body.replace("{scalar}", " (* 0.0 (i64tod (* i 1)))");
    let types = ("float", "dtof", "ftod");
    for n in [0, 1, 2, 3, 5, 63, 64, 65, 129, 400] {
        let a = run(
            &mut dsp(&mixed_program("lanes", &lanes, types, "double")),
            "lanes",
            n,
        );
        let b = run(
            &mut dsp(&mixed_program("scalar", &scalar, types, "double")),
            "scalar",
            n,
        );
        assert_eq!(a[1..], b[1..], "n = {n}");
        let (sa, sb) = (f64::from_bits(a[0]), f64::from_bits(b[0]));
        assert!((sa - sb).abs() <= 1e-9, "n = {n}: sum {sa} against {sb}");
    }
    #[cfg(target_arch = "x86_64")]
    {
        let src = mixed_program("lanes", &lanes, types, "double");
        let code = listing(&src, "lanes");
        assert!(
            code.contains("cvtps2pd") && code.contains("cvtpd2ps"),
            "not in lanes:\n{code}"
        );
    }
}

#[test]
fn float_loops_gathered_give_the_scalar_loops_bits() {
    same_typed_bits(
        "(set! x (pref a i))
         (set! s (+ s (sin x)))
         (pset! out i (+ (exp (* 0.01 (pref b i))) (tanh (cos (+ (* 2.0 x){scalar})))))
         (pset! a i (fmod (+ x 0.3) 1.5))",
        true,
    );
}

#[test]
fn the_fast_variants_gathered_give_the_scalar_loops_bits() {
    same_bits(
        "(set! x (pref a i))
         (set! s (+ s (sin_fast x)))
         (pset! out i (cos_fast (+ (* 2.0 x){scalar})))",
    );
}

#[test]
fn tan_exp_log_and_tanh_gathered_give_the_scalar_loops_bits() {
    // b's elements reach exp's overflow, log of 0 and NaN: their C-library paths.
    same_bits(
        "(set! s (+ s (tanh (pref a i))))
         (pset! out i (+ (exp (* 0.001 (pref b i))) (log (+ (pref b i) 0.0{scalar}))))",
    );
    same_bits("(pset! out i (* (exp (pref a i)) (sin (+ (* 3.0 (pref a i)){scalar}))))");
    // tan near its poles and of b's multiples of π/2.
    same_bits("(pset! out i (+ (tan (pref b i)) (tan (+ (pref a i) 0.0{scalar}))))");
}

#[test]
fn calls_of_calls_are_gathered_a_level_at_a_time_and_give_the_scalar_loops_bits() {
    same_bits("(pset! out i (sin (+ (sin (pref a i)) 0.5{scalar})))");
    // Three levels, through a variable and a store: exp, then tanh and sin of it, then
    // cos of the element stored.
    same_bits(
        "(set! x (exp (* 0.01 (pref a i))))
         (set! s (+ s (tanh (sin x))))
         (pset! out i x)
         (pset! out i (cos (+ (pref out i){scalar})))",
    );
}

#[test]
fn a_variable_set_under_a_condition_is_not_read_from_its_array() {
    same_bits(
        "(set! x (pref a i))
         (if (> x 1.0) (set! x (* 3.0 x)))
         (set! s (+ s (cos (+ x 0.0{scalar}))))
         (pset! out i (sin x))",
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn gathered_sines_leave_no_polynomial_in_the_lanes() {
    if zonal_dsp::runtime::wide_math::kernels().is_none() {
        return;
    }
    let lanes = |body: &str| listing(&program("lanes", body), "lanes");
    // Gathered: the kernel is called, and no two-lane fused multiply-add is left.
    for f in ["sin", "sin_fast", "exp", "tanh"] {
        let code = lanes(&format!(
            "(set! x (pref a i)) (set! s (+ s ({f} x))) (pset! out i (cos (* 2.0 x)))"
        ));
        assert!(
            !code.contains("fmadd213pd"),
            "{f}: a polynomial in the lanes:\n{code}"
        );
    }
    // A sine of a sine is gathered too, in two levels.
    let code = lanes("(pset! out i (sin (sin (pref a i))))");
    assert!(
        !code.contains("fmadd213pd"),
        "a polynomial in the lanes:\n{code}"
    );
    // A float bank's too.
    let code = listing(&float_bank("fbank", ""), "fbank");
    assert!(
        !code.contains("fmadd213pd"),
        "a polynomial in the float lanes:\n{code}"
    );
}

/// A loop counter declared in the `let` around the closure's `lambda`, as Extempore code
/// often declares every variable: held in the closure's environment, counted in a
/// register while the loop runs and stored after it.
const ENV_COUNTER: &str = "
(bind-func env_counter:[double,i64,i64]*
  (let ((p:double* (zalloc 8)) (k:i64 0) (before:i64 0))
    (pset! p 0 1e16) (pset! p 1 1.0) (pset! p 2 -1e16) (pset! p 3 1.0)
    (pset! p 4 0.5) (pset! p 5 0.5) (pset! p 6 0.5) (pset! p 7 0.5)
    (lambda (n which)
      (let ((s 0.0))
        (set! before k)
        (dotimes (k n)
          (set! s (+ s (pref p k))))
        (cond ((= which 0) s)
              ((= which 1) (i64tod k))
              (else (i64tod before)))))))";

#[test]
fn a_counter_held_in_the_closure_runs_in_lanes_and_keeps_its_last_value() {
    let mut d = dsp(ENV_COUNTER);
    let call = |d: &mut Dsp, n: i64, w: i64| {
        double(d, "env_counter", &[DspValue::I64(n), DspValue::I64(w)])
    };
    // 1e16 + 1 + -1e16 + 1 in two lanes: 2 (one at a time it would be 1).
    assert_eq!(call(&mut d, 4, 0), 2.0);
    assert_eq!(call(&mut d, 5, 0), 2.5);
    // After the loop the slot holds n; the next call sees it before its own loop.
    assert_eq!(call(&mut d, 7, 1), 7.0);
    assert_eq!(call(&mut d, 3, 2), 7.0);
    assert_eq!(call(&mut d, 0, 1), 0.0);
    // The whole range is still checked once before the loop.
    let e = d
        .call("env_counter", &[DspValue::I64(9), DspValue::I64(0)])
        .expect_err("reads past the allocation");
    assert!(
        e.message.contains("out-of-bounds read of 72 bytes"),
        "{}",
        e.message
    );
    #[cfg(target_arch = "x86_64")]
    {
        let code = listing(ENV_COUNTER, "env_counter");
        assert!(code.contains("addpd"), "the loop is not in lanes:\n{code}");
    }
}

#[test]
fn a_counter_held_in_the_closure_stays_there_when_the_body_calls_a_closure() {
    // The called closure could call back into this one, which reads the slot: the
    // counter is kept in it, and the result is the same.
    let mut d = dsp("
(bind-func twice (lambda (x:double) (* 2.0 x)))
(bind-func env_counter_calls:[double,i64]*
  (let ((p:double* (zalloc 8)) (k:i64 0))
    (dotimes (k 8) (pset! p k (i64tod k)))
    (lambda (n)
      (let ((s 0.0))
        (dotimes (k n)
          (set! s (+ s (twice (pref p k)))))
        (+ s (* 100.0 (i64tod k)))))))");
    let got = double(&mut d, "env_counter_calls", &[DspValue::I64(5)]);
    assert_eq!(got, 2.0 * (0.0 + 1.0 + 2.0 + 3.0 + 4.0) + 500.0);
}

#[test]
fn pow_in_lanes_gives_the_scalar_loops_bits() {
    // Bases from 0 to 74 (0 and the few the C library takes among them), exponents in
    // [-3.5, 3.5) and NaN; a loop of floats computes it in doubles and rounds.
    let body = "(pset! out i (pow (fabs (pref a i)) (- (fmod (pref b i) 7.0) (+ 3.5{scalar}))))";
    same_typed_bits(body, false);
    same_typed_bits(body, true);
}

/// A loop whose body calls a closure: its ranges are checked before it and again in an
/// iteration that finds an allocation has died since. `kill` frees `p` when called with
/// `at`, after that iteration's read.
const FREEING: &str = "
(bind-func freeing_loop:[double,i64,i64]*
  (lambda (n at)
    (let ((p:double* (halloc 8)) (s 0.0) (i:i64 0)
          (kill (lambda (k:i64) (if (= k at) (free p)) 0.0)))
      (dotimes (i 8) (pset! p i (i64tod i)))
      (dotimes (i n)
        (set! s (+ s (pref p i) (kill i))))
      s)))";

#[test]
fn a_loop_that_calls_a_closure_still_faults_on_memory_freed_in_it() {
    let mut d = dsp(FREEING);
    // Nothing freed inside the loop (the closure frees p only at k = 99).
    let got = double(
        &mut d,
        "freeing_loop",
        &[DspValue::I64(8), DspValue::I64(99)],
    );
    assert_eq!(got, 28.0);
    // Freed at the third iteration's end: the fourth reads a dead allocation.
    let e = d
        .call("freeing_loop", &[DspValue::I64(8), DspValue::I64(2)])
        .expect_err("reads freed memory");
    assert!(e.message.contains("was freed"), "{}", e.message);
    // Freed in the last iteration, after its read: nothing more is read.
    let got = double(
        &mut d,
        "freeing_loop",
        &[DspValue::I64(3), DspValue::I64(2)],
    );
    assert_eq!(got, 3.0);
    // Past the allocation: faults before the loop, as a loop without calls does.
    let e = d
        .call("freeing_loop", &[DspValue::I64(9), DspValue::I64(99)])
        .expect_err("reads past the allocation");
    assert!(
        e.message.contains("out-of-bounds read of 72 bytes"),
        "{}",
        e.message
    );
}

/// [`program`] over arrays of doubles with `x` and `s` floats.
fn float_scalars(name: &str, body: &str) -> String {
    mixed_program(name, body, ("double", "+", "+"), "float").replace("(+ s)", "(ftod s)")
}

#[test]
fn floats_in_a_loop_on_doubles_run_in_lanes_with_the_scalar_loops_bits() {
    for body in [
        "(set! x (dtof (pref a i)))
         (pset! out i (ftod (+ (* x 0.3){fscalar})))",
        "(set! x (dtof (sin (pref a i))))
         (pset! out i (ftod (+ (* x x) (/ (dtof (cos (pref b i))) 3.0){fscalar})))
         (set! s (+ s x))",
        "(set! x (* (dtof (pref a i)) (i64tof i)))
         (pset! out i (ftod (sqrt (fabs (+ (- x (tanh x)){fscalar})))))
         (set! s (+ s (* 0.5 x)))",
    ] {
        let lanes = body.replace("{fscalar}", "");
        let scalar = body.replace("{fscalar}", " (* 0.0 (i64tof (* i 1)))");
        for n in [0, 1, 2, 3, 5, 63, 64, 65, 129, 400] {
            let a = run(&mut dsp(&float_scalars("lanes", &lanes)), "lanes", n);
            let b = run(&mut dsp(&float_scalars("scalar", &scalar)), "scalar", n);
            assert_eq!(a[1..], b[1..], "n = {n}: {body}");
            let (sa, sb) = (f64::from_bits(a[0]), f64::from_bits(b[0]));
            assert!(
                (sa - sb).abs() <= 1e-3 * sa.abs().max(1.0),
                "n = {n}: sum {sa} against {sb}"
            );
        }
    }
}

/// The machine code of a definition's lambda in a [`listing`] (its init code comes
/// first, the trampolines that call it from Rust after).
#[cfg(target_arch = "x86_64")]
fn lambda_of(code: &str) -> &str {
    code.split("; function").nth(2).unwrap_or_default()
}

/// True when `code` computes on vectors of doubles or floats.
#[cfg(target_arch = "x86_64")]
fn packed(code: &str) -> bool {
    ["cvtps2pd", "cvtpd2ps", "addpd", "mulpd", "addps", "mulps"]
        .iter()
        .any(|op| code.contains(op))
}

/// An oscillator bank as Extempore code often has it: phases in doubles, amplitudes and
/// the output in floats (`SAMPLE`); `(bank n which)` runs n partials and gives the sum
/// (which < 0) or partial `which`'s output.
const SAMPLE_BANK: &str = "
(bind-func sbank:[double,i64,i64]* 65536
  (let ((ph:double* (zalloc 400)) (inc:double* (zalloc 400)) (amp:float* (zalloc 400))
        (out:float* (zalloc 400)) (k:i64 0))
    (dotimes (k 400)
      (pset! inc k (* 0.001 (i64tod (+ k 1))))
      (pset! ph k (* 0.37 (i64tod k)))
      (pset! amp k (/ 0.5 (i64tof (+ k 1)))))
    (lambda (n which)
      (let ((i:i64 0) (s:float 0.0))
        (if (< which 0)
            (begin
              (dotimes (i n)
                (pset! out i (* (pref amp i) (dtof (sin (+ (pref ph i){scalar})))))
                (set! s (+ s (pref out i)))
                (pset! ph i (+ (pref ph i) (pref inc i))))
              (ftod s))
            (ftod (pref out which)))))))";

#[test]
fn a_bank_of_double_phases_and_float_amplitudes_runs_in_lanes() {
    let lanes = SAMPLE_BANK.replace("{scalar}", "");
    let scalar = SAMPLE_BANK.replace("{scalar}", " (* 0.0 (i64tod (* i 1)))");
    for n in [1, 2, 3, 64, 65, 129, 400] {
        let (mut a, mut b) = (dsp(&lanes), dsp(&scalar));
        for _ in 0..3 {
            let x = run(&mut a, "sbank", n);
            let y = run(&mut b, "sbank", n);
            assert_eq!(x[1..], y[1..], "n = {n}");
            let (sa, sb) = (f64::from_bits(x[0]), f64::from_bits(y[0]));
            assert!((sa - sb).abs() <= 1e-5, "n = {n}: sum {sa} against {sb}");
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        // in lanes: the amplitudes widened two at a time, the products rounded packed
        let code = listing(&lanes, "sbank");
        assert!(
            code.contains("cvtps2pd") && code.contains("cvtpd2ps"),
            "not in lanes:\n{code}"
        );
        // (the lambda's code: the init loop filling the arrays runs in lanes either way)
        let code = listing(&scalar, "sbank");
        let lambda = lambda_of(&code);
        assert!(!packed(lambda), "the scalar loop ran in lanes:\n{lambda}");
    }
}

/// A random expression of doubles (`float` false) or floats over the loop's arrays
/// (`a`, `b` doubles, `fa` floats), the counter and, as many of them as `vars` says, its
/// variables `x` (double) and `y` (float), which are written in that order.
fn mixed_expr(r: &mut Rng, depth: u32, float: bool, vars: u64) -> String {
    if depth == 0 || r.chance(25) {
        return match (float, r.below(3)) {
            (false, 0) => r.pick(&["(pref a i)", "(pref b i)"]).to_string(),
            (false, 1) if vars > 0 => "x".to_string(),
            (true, 0) => r.pick(&["(pref fa i)", "(i64tof i)"]).to_string(),
            (true, 1) if vars > 1 => "y".to_string(),
            _ => format!("{:.4}", (r.below(40001) as f64 - 20000.0) / 10000.0),
        };
    }
    let (p, q) = (
        mixed_expr(r, depth - 1, float, vars),
        mixed_expr(r, depth - 1, float, vars),
    );
    match r.below(11) {
        0 => format!("(+ {p} {q})"),
        1 => format!("(- {p} {q})"),
        2 => format!("(* {p} {q})"),
        3 => format!("(/ {p} 3.0)"),
        4 => format!("(sqrt (fabs {p}))"),
        5 => format!("(floor {p})"),
        6 => format!("(sin {p})"),
        7 => format!("(cos (* 0.5 {p}))"),
        8 => format!("(if (< {p} {q}) {p} {q})"),
        9 if float => format!("(dtof {})", mixed_expr(r, depth - 1, false, vars)),
        9 => format!("(ftod {})", mixed_expr(r, depth - 1, true, vars)),
        _ => format!("(fmax {p} {q})"),
    }
}

/// Random loops mixing floats and doubles (float arithmetic, math, conversions, arrays of
/// both), in lanes against one iteration at a time: every element stored has the same
/// bits (NaN equal to NaN), the float sum agrees within its lanes' reordering. CI runs 60;
/// `ZONAL_MIXED_PROGRAMS=2000 ZONAL_MIXED_SEED=9 cargo test --release -p zonal-dsp --test
/// simd_loops random` runs at length.
#[test]
fn random_loops_of_floats_and_doubles_give_the_scalar_loops_bits() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let programs = env("ZONAL_MIXED_PROGRAMS", 60);
    let mut r = Rng(env("ZONAL_MIXED_SEED", 5));
    let mut in_lanes = 0;
    for k in 0..programs {
        let body = format!(
            "(set! x {}) (set! y {}) (pset! out i {}) (pset! fout i {}) (set! s (+ s {})){{scalar}}",
            mixed_expr(&mut r, 3, false, 0),
            mixed_expr(&mut r, 3, true, 1),
            mixed_expr(&mut r, 3, false, 2),
            mixed_expr(&mut r, 3, true, 2),
            mixed_expr(&mut r, 2, true, 2),
        );
        let program = |name: &str, scalar: &str| {
            format!(
                "
(bind-func {name}:[double,i64,i64]* 65536
  (let ((a:double* (zalloc 200)) (b:double* (zalloc 200)) (fa:float* (zalloc 200))
        (out:double* (zalloc 200)) (fout:float* (zalloc 200)) (k:i64 0))
    (dotimes (k 200)
      (pset! a k (* 0.37 (i64tod (- k 100))))
      (pset! b k (* 1.5707963267948966 (i64tod (* k 7))))
      (pset! fa k (dtof (* 0.11 (i64tod (- 50 k))))))
    (lambda (n which)
      (let ((i:i64 0) (x:double 0.0) (y:float 0.0) (s:float 0.0) (z:double 0.0))
        (if (< which 0)
            (begin (dotimes (i n) {}) (ftod s))
            (if (< which 1000) (pref out which) (ftod (pref fout (- which 1000)))))))))",
                body.replace("{scalar}", scalar)
            )
        };
        let lanes = program("lanes", "");
        let scalar = program("scalar", " (set! z (i64tod (* i 1)))");
        #[cfg(target_arch = "x86_64")]
        if packed(lambda_of(&listing(&lanes, "lanes"))) {
            in_lanes += 1;
        }
        let (mut a, mut b) = (dsp(&lanes), dsp(&scalar));
        for n in [1, 2, 3, 64, 65, 130] {
            let all = |d: &mut Dsp, name: &str| {
                let mut v: Vec<f64> = (0..n)
                    .map(|w| double(d, name, &[DspValue::I64(n), DspValue::I64(w)]))
                    .collect();
                v.extend(
                    (0..n).map(|w| double(d, name, &[DspValue::I64(n), DspValue::I64(1000 + w)])),
                );
                v
            };
            let sa = double(&mut a, "lanes", &[DspValue::I64(n), DspValue::I64(-1)]);
            let sb = double(&mut b, "scalar", &[DspValue::I64(n), DspValue::I64(-1)]);
            for (j, (x, y)) in all(&mut a, "lanes")
                .into_iter()
                .zip(all(&mut b, "scalar"))
                .enumerate()
            {
                assert!(
                    x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                    "program {k}, n = {n}, element {j}: {x:e} against {y:e}\n{body}"
                );
            }
            let close = (sa - sb).abs() <= 1e-3 * sa.abs().max(1.0)
                || (sa.is_nan() && sb.is_nan())
                || sa.is_infinite()
                || sb.is_infinite();
            assert!(
                close,
                "program {k}, n = {n}: sum {sa:e} against {sb:e}\n{body}"
            );
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        eprintln!("{in_lanes} of {programs} loops ran in lanes");
        assert!(
            in_lanes * 2 >= programs,
            "only {in_lanes} of {programs} loops ran in lanes"
        );
    }
}
