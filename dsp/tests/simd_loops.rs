//! `dotimes` loops run two iterations at a time in SIMD lanes (see `lower/simd.rs`):
//! reductions, private variables, the odd last iteration, math in lanes, and the memory
//! checks, which stay on.

use zonal_dsp::{Dsp, DspConfig, DspValue, parse};

fn dsp(src: &str) -> Dsp {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    for f in parse(src, "test.xtm").expect("parses") {
        if let Err(e) = dsp.define(&f) {
            panic!("{e}");
        }
    }
    dsp
}

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
