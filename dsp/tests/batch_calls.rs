//! A loop calling one closure per iteration (`((pref oscs i) amp freq)`) calls the
//! closures of up to 64 iterations at once through their code's batch entry (see
//! `lower/batch_calls.rs` and `lower/batch_entry.rs`). Each test runs the same closures
//! through a loop that batches and one that cannot (its call under an `if`), and wants
//! the same bits from both, call after call: across a stretch's end, with one closure
//! many times in a stretch, with closures of different code, with a sine of a sine, with
//! integers, and when a closure in the array is null (the fault comes at its iteration,
//! after the earlier ones ran), and for random bodies (a differential fuzzer: CI runs 150
//! programs; `ZONAL_BATCH_PROGRAMS=5000 ZONAL_BATCH_SEED=3 cargo test --release -p
//! zonal-dsp --test batch_calls random` runs at length). The machine code shows which
//! lambdas have a batch entry and that the loop calls it.

mod common;
use common::{dsp, listing};
mod rng;
use rng::Rng;
use zonal_dsp::{Dsp, DspConfig, DspValue, parse};

/// An oscillator as the library's `osc_c`: its phase in its own environment, one sine.
const OSC: &str = "
(bind-func osc_b
  (lambda (phase:float)
    (let ((p:double (ftod phase)))
      (lambda (amp:float freq:float)
        (set! p (+ p (/ (ftod freq) 48000.0)))
        (if (>= p 1.0) (set! p (- p (floor p))))
        (* amp (dtof (sin (* 6.283185307179586 p))))))))

(bind-func echo_b
  (lambda (phase:float)
    (let ((p:double (ftod phase)))
      (lambda (amp:float freq:float)
        (set! p (+ p (/ (ftod freq) 48000.0)))
        (if (>= p 1.0) (set! p (- p (floor p))))
        (* amp (dtof (+ (sin (* 6.283185307179586 p)) p)))))))

(bind-func saw_b
  (lambda (phase:float)
    (let ((p:double (ftod phase)))
      (lambda (amp:float freq:float)
        (set! p (+ p (/ (ftod freq) 48000.0)))
        (if (>= p 1.0) (set! p (- p 1.0)))
        (* amp (dtof (- (* 2.0 p) 1.0)))))))

(bind-func sinsin_b
  (lambda (phase:float)
    (let ((p:double (ftod phase)))
      (lambda (amp:float freq:float)
        (set! p (+ p (/ (ftod freq) 48000.0)))
        (* amp (dtof (sin (* 3.0 (sin (* 6.283185307179586 p))))))))))

(bind-func drift_b
  (lambda (phase:float)
    (let ((p:double (ftod phase)))
      (lambda (amp:float freq:float)
        (set! p (+ p (* 0.01 (sin p)) (/ (ftod freq) 48000.0)))
        (* amp (dtof p))))))";

/// Two arrays of 70 closures, `a` and `b`, made alike by `make` (a call of one of the
/// makers above, of `k`); `(bank n which)` sums `n` of them at 0.5 and frequencies
/// 100 + 37k, `a` in a loop that batches (which 0), `b` in one that cannot.
fn bank(make: &str) -> String {
    format!(
        "{OSC}
(bind-func bank:[float,i64,i64]*
  (let ((a:[float,float,float]** (zalloc 70))
        (b:[float,float,float]** (zalloc 70))
        (freqs:float* (zalloc 70))
        (k:i64 0))
    (dotimes (k 70)
      (pset! freqs k (i64tof (+ 100 (* 37 k))))
      (pset! a k {make})
      (pset! b k {make}))
    (lambda (n which)
      (let ((s:float 0.0) (i:i64 0))
        (if (= which 0)
            (dotimes (i n)
              (set! s (+ s ((pref a i) 0.5 (pref freqs i)))))
            (dotimes (i n)
              (if (> n 0) (set! s (+ s ((pref b i) 0.5 (pref freqs i)))))))
        s))))"
    )
}

fn sum(d: &mut Dsp, n: i64, which: i64) -> u32 {
    match d.call("bank", &[DspValue::I64(n), DspValue::I64(which)]) {
        Ok(DspValue::Float(x)) => x.to_bits(),
        other => panic!("bank: {other:?}"),
    }
}

/// Runs `bank` `calls` times with `n` closures, both ways, wanting the same bits.
fn same_bits(src: &str, n: i64, calls: usize) {
    let mut d = dsp(src);
    for c in 0..calls {
        let (x, y) = (sum(&mut d, n, 0), sum(&mut d, n, 1));
        assert_eq!(
            x,
            y,
            "call {c}: batched {} against one at a time {}",
            f32::from_bits(x),
            f32::from_bits(y)
        );
    }
}

#[test]
fn oscillators_called_in_a_batch_give_each_calls_bits_across_stretches() {
    // 70 = a stretch of 64 and one of 6; 3 = one short stretch; 64 exactly one.
    for n in [70, 3, 64] {
        same_bits(&bank("(osc_b (i64tof k))"), n, 2000);
    }
}

#[test]
fn one_closure_called_for_every_iteration_sees_each_calls_phase() {
    // Every element the same closure: each call of a stretch must see the phase the one
    // before it left, as it does one call at a time.
    // (echo_b reads its phase again after the sine, in the pass that reads the sines.)
    for make in ["osc_b", "echo_b"] {
        let src = bank(&format!("({make} 0.25)"))
            .replace(
                &format!("(pset! a k ({make} 0.25))"),
                "(pset! a k (pref a 0))",
            )
            .replace(
                &format!("(pset! b k ({make} 0.25))"),
                "(pset! b k (pref b 0))",
            )
            .replace(
                "(dotimes (k 70)",
                &format!("(pset! a 0 ({make} 0.25)) (pset! b 0 ({make} 0.25)) (dotimes (k 70)"),
            );
        same_bits(&src, 70, 500);
    }
}

#[test]
fn closures_of_different_code_are_called_one_at_a_time() {
    same_bits(
        &bank("(if (= (% k 3) 0) (saw_b 0.0) (osc_b (i64tof k)))"),
        70,
        500,
    );
}

#[test]
fn a_sine_of_a_sine_and_a_phase_that_depends_on_a_sine_give_each_calls_bits() {
    same_bits(&bank("(sinsin_b (* 0.01 (i64tof k)))"), 70, 500);
    same_bits(&bank("(drift_b (* 0.01 (i64tof k)))"), 70, 500);
}

#[test]
fn counters_of_integers_called_in_a_batch_keep_their_counts() {
    let src = "
(bind-func counter_b
  (lambda (start:i64)
    (let ((c:i64 start))
      (lambda (step:i64)
        (set! c (+ c step))
        (* c 3)))))

(bind-func counts:[i64,i64,i64]*
  (let ((a:[i64,i64]** (zalloc 100)) (b:[i64,i64]** (zalloc 100)) (k:i64 0))
    (dotimes (k 100)
      (pset! a k (counter_b k))
      (pset! b k (counter_b k)))
    (lambda (n which)
      (let ((s:i64 0) (i:i64 0))
        (if (= which 0)
            (dotimes (i n) (set! s (+ (* s 7) ((pref a i) i))))
            (dotimes (i n) (if (> n 0) (set! s (+ (* s 7) ((pref b i) i))))))
        s))))";
    let mut d = dsp(src);
    let mut call = |which| match d.call("counts", &[DspValue::I64(100), DspValue::I64(which)]) {
        Ok(DspValue::I64(x)) => x,
        other => panic!("counts: {other:?}"),
    };
    for c in 0..50 {
        let (x, y) = (call(0), call(1));
        assert_eq!(x, y, "call {c}");
    }
}

#[test]
fn a_null_closure_faults_at_its_iteration_after_the_earlier_calls_ran() {
    let src = format!(
        "{}
(bind-func hole:[i64,i64]*
  (lambda (which)
    (if (= which 0) (pset! (bank.a) 5 null) (pset! (bank.b) 5 null))
    0))
(bind-func mend:[i64,i64]*
  (lambda (which)
    (if (= which 0) (pset! (bank.a) 5 (osc_b 0.5)) (pset! (bank.b) 5 (osc_b 0.5)))
    0))",
        bank("(osc_b (i64tof k))")
    );
    let mut d = dsp(&src);
    for w in [0, 1] {
        d.call("hole", &[DspValue::I64(w)]).expect("hole");
    }
    for w in [0, 1] {
        let e = d
            .call("bank", &[DspValue::I64(70), DspValue::I64(w)])
            .expect_err("a null closure faults");
        assert!(e.to_string().contains("at 0x0"), "{e}");
    }
    // Closures 0..4 were called once before the fault, the rest not, in both arrays: the
    // sums agree from here on.
    for w in [0, 1] {
        d.call("mend", &[DspValue::I64(w)]).expect("mend");
    }
    for c in 0..100 {
        let (x, y) = (sum(&mut d, 70, 0), sum(&mut d, 70, 1));
        assert_eq!(x, y, "call {c} after the fault");
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn lambdas_that_only_compute_get_a_batch_entry_and_the_loop_calls_it() {
    // Each maker alone: its inner lambda's batch entry, or none.
    let entries = |name: &str| {
        let start = OSC.find(&format!("(bind-func {name}")).expect("a maker");
        let end = OSC[start + 1..]
            .find("(bind-func")
            .map_or(OSC.len(), |e| start + 1 + e);
        listing(&OSC[start..end], name)
            .matches("(batch entry)")
            .count()
    };
    assert_eq!(entries("osc_b"), 1, "osc_b has one");
    assert_eq!(entries("sinsin_b"), 1, "two levels of sines");
    // Its own variable depends on a sine: no batch entry.
    assert_eq!(entries("drift_b"), 0, "drift_b has none");
    // Reading memory, or calling, or a shared cell: none.
    for body in [
        "(let ((q:double* (zalloc 1))) (lambda (x:double) (pref q 0)))",
        "(lambda (x:double) (osc_b 0.0) x)",
        "(let ((c:double 0.0)) (let ((f (lambda (x:double) (set! c x) x)) (g (lambda () c))) f))",
    ] {
        let src = format!(
            "(bind-func osc_b (lambda (x:float) (let ((q:float* (zalloc 1))) (pref q 0))))\n(bind-func other {body})"
        );
        let code = listing(&src, "other");
        assert!(
            !code.contains("(batch entry)"),
            "{body} has a batch entry:\n{code}"
        );
    }
    // The bank's loop reads the batch entry's address from the code table (the entry's
    // fifth word) and calls it.
    let code = listing(&bank("(osc_b (i64tof k))"), "bank");
    assert!(
        calls_a_batch_entry(&code),
        "no call of a batch entry:\n{code}"
    );
}

/// True when `code` reads a word at offset 0x20 (a code-table entry's batch entry) into a
/// register it later calls.
#[cfg(target_arch = "x86_64")]
fn calls_a_batch_entry(code: &str) -> bool {
    let lines: Vec<&str> = code.lines().collect();
    lines.iter().enumerate().any(|(k, l)| {
        let Some(reg) = l
            .trim()
            .strip_prefix("movq 0x20(")
            .and_then(|r| r.rsplit(", ").next())
        else {
            return false;
        };
        lines[k..]
            .iter()
            .any(|m| m.trim() == format!("call    *{reg}"))
    })
}

/// A random expression of doubles over the maker's variables `p q c` and the call's
/// `a b`; with `math`, also of the math the wide kernels compute.
fn expr(r: &mut Rng, depth: u32, math: bool) -> String {
    let leaf = |r: &mut Rng| {
        if r.chance(80) {
            r.pick(&["p", "q", "c", "a", "b"]).to_string()
        } else {
            format!("{:.3}", (r.below(4001) as f64 - 2000.0) / 1000.0)
        }
    };
    if depth == 0 || r.below(4) == 0 {
        return leaf(r);
    }
    let mut e = || expr(r, depth - 1, math);
    let (x, y) = (e(), e());
    let kinds = if math { 13 } else { 7 };
    match r.below(kinds) {
        0 => format!("(+ {x} {y})"),
        1 => format!("(- {x} {y})"),
        2 => format!("(* {x} {y})"),
        3 => format!("(floor {x})"),
        4 => format!("(fabs {x})"),
        5 => format!("(if (< {x} {y}) {x} {y})"),
        6 => format!("(* 0.5 {x})"),
        7 => format!("(sin {x})"),
        8 => format!("(cos {x})"),
        9 => format!("(tanh {x})"),
        10 => format!("(exp (sin {x}))"),
        11 => format!("(log (+ 1.5 (cos {x})))"),
        _ => format!("(fmod {x} 1.7)"),
    }
}

/// A maker `mk` of oscillator-like closures with random statements and result.
fn random_maker(r: &mut Rng) -> String {
    let mut body = String::new();
    for _ in 0..1 + r.below(3) {
        // Mostly without gathered math, so that most lambdas have a batch entry.
        let math = r.below(10) < 3;
        let x = expr(r, 3, math);
        // (wrapped to [0, 1) with floor: fmod and tanh are gathered math)
        body += &match r.below(3) {
            0 => format!("(set! p (- {x} (floor {x})))\n"),
            1 => format!("(if (< {x} 0.0) (set! q (- (+ q {x}) (floor (+ q {x})))))\n"),
            _ => format!("(set! q (- (+ q 0.37 {x}) (floor (+ q 0.37 {x}))))\n"),
        };
    }
    let result = expr(r, 4, true);
    format!(
        "(bind-func mk
  (lambda (seed:double)
    (let ((p:double seed) (q:double (* 0.5 seed)) (c:double (* 2.0 seed)))
      (lambda (a:double b:double)
        {body}{result}))))"
    )
}

/// Random oscillator bodies (variables of their own set under conditions, sines of
/// sines, `fmod`, `exp`, `log`, `tanh`), called through a loop that batches and one that
/// cannot: every call's sum has the same bits (NaN equal to NaN). Most of them must
/// have a batch entry, or the test would prove nothing.
#[test]
fn random_bodies_give_each_calls_bits() {
    let programs = std::env::var("ZONAL_BATCH_PROGRAMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(150);
    let mut r = Rng(std::env::var("ZONAL_BATCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11));
    let mut with_entry = 0;
    for k in 0..programs {
        let maker = random_maker(&mut r);
        let same = r.chance(25);
        let src = format!(
            "{maker}
(bind-func bank:[double,i64,i64]*
  (let ((x:[double,double,double]** (zalloc 70))
        (y:[double,double,double]** (zalloc 70))
        (k:i64 0))
    (dotimes (k 70)
      (let ((s (if {same} 0.25 (* 0.01 (i64tod k)))))
        (pset! x k (if (and {same} (> k 0)) (pref x 0) (mk s)))
        (pset! y k (if (and {same} (> k 0)) (pref y 0) (mk s)))))
    (lambda (n which)
      (let ((s 0.0) (i:i64 0))
        (if (= which 0)
            (dotimes (i n)
              (set! s (+ (* 0.999 s) ((pref x i) (i64tod i) 0.3))))
            (dotimes (i n)
              (if (> n 0) (set! s (+ (* 0.999 s) ((pref y i) (i64tod i) 0.3))))))
        s))))"
        );
        let mut d = Dsp::new(DspConfig::default()).expect("a Dsp");
        d.keep_machine_code();
        for f in parse(&src, "fuzz.xtm").expect("parses") {
            if let Err(e) = d.define(&f) {
                panic!("program {k}: {e}\n{src}");
            }
        }
        d.compile("bank").expect("compiles");
        if d.machine_code().contains("(batch entry)") {
            with_entry += 1;
        }
        for c in 0..30 {
            let mut run = |which| match d.call("bank", &[DspValue::I64(70), DspValue::I64(which)]) {
                Ok(DspValue::Double(x)) => x,
                other => panic!("program {k}: {other:?}\n{src}"),
            };
            let (x, y) = (run(0), run(1));
            assert!(
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                "program {k}, call {c}: batched {x:e} against one at a time {y:e}\n{src}"
            );
        }
    }
    eprintln!("{with_entry} of {programs} programs had a batch entry");
    assert!(
        with_entry * 10 >= programs * 4,
        "only {with_entry} of {programs} programs had a batch entry"
    );
}

#[test]
fn a_loop_counting_in_i32_calls_its_closures_as_before() {
    // (only an i64 counter's loop is batched; this one must compile and agree)
    let src = bank("(osc_b (i64tof k))")
        .replace(
            "(let ((s:float 0.0) (i:i64 0))",
            "(let ((s:float 0.0) (i:i32 0))",
        )
        .replace("(dotimes (i n)", "(dotimes (i (i64toi32 n))");
    same_bits(&src, 70, 50);
}

/// [`bank`] with `x`, the batched array, an array value held through a pointer
/// (`|70,T|*`, Extempore's usual holder for a fixed number of closures) read with `aref`.
fn aref_bank(make: &str) -> String {
    bank(make)
        .replace(
            "(a:[float,float,float]** (zalloc 70))",
            "(a:|70,[float,float,float]*|* (zalloc))",
        )
        .replace("(pset! a k", "(aset! a k")
        .replace("((pref a i)", "((aref a i)")
}

#[test]
fn closures_held_in_an_array_value_are_called_in_a_batch_too() {
    let src = aref_bank("(osc_b (i64tof k))");
    assert!(src.contains("(aref a i)"), "{src}");
    for n in [70, 5] {
        same_bits(&src, n, 300);
    }
    // A null element among them: the stretch calls one at a time and faults at it, after
    // the earlier calls ran, as in the loop that cannot batch.
    let src = format!(
        "{src}
(bind-func hole:[i64,i64]*
  (lambda (which)
    (if (= which 0) (aset! (bank.a) 5 null) (pset! (bank.b) 5 null))
    0))
(bind-func mend:[i64,i64]*
  (lambda (which)
    (if (= which 0) (aset! (bank.a) 5 (osc_b 0.5)) (pset! (bank.b) 5 (osc_b 0.5)))
    0))"
    );
    let mut d = dsp(&src);
    for w in [0, 1] {
        d.call("hole", &[DspValue::I64(w)]).expect("hole");
        let e = d
            .call("bank", &[DspValue::I64(70), DspValue::I64(w)])
            .expect_err("a null closure faults");
        assert!(e.to_string().contains("at 0x0"), "{e}");
        d.call("mend", &[DspValue::I64(w)]).expect("mend");
    }
    for c in 0..100 {
        let (x, y) = (sum(&mut d, 70, 0), sum(&mut d, 70, 1));
        assert_eq!(x, y, "call {c} after the fault");
    }
    #[cfg(target_arch = "x86_64")]
    {
        let code = listing(&aref_bank("(osc_b (i64tof k))"), "bank");
        assert!(
            calls_a_batch_entry(&code),
            "no call of a batch entry:\n{code}"
        );
    }
}
