//! DSP compiler benchmarks: compile time of a typical DSP bind-func, and throughput of a
//! 64-oscillator bank with a one-pole lowpass and a delay line, compiled from xtlang
//! (checks on and off) against the same algorithm in plain Rust, in the same run.
//!
//! `cargo bench -p zonal-dsp --bench dsp`. The Rust baseline is built for the default
//! target (no `-C target-cpu=native`); Cranelift uses what `cranelift-native` detects.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use zonal_dsp::{AudioCtx, Dsp, DspConfig, Entry, Sexp, parse};

const FRAMES: usize = 256;
const OSCS: usize = 64;
const DELAY: usize = 48000;

const TYPICAL: &str = "(bind-func lowpass_osc:DSP
  (let ((phase 0.0) (y:float 0.0))
    (lambda (in time chan dat)
      (set! phase (+ phase 0.01))
      (if (> phase 1.0) (set! phase (- phase 2.0)))
      (set! y (+ y (* 0.2 (- (dtof (* 4.0 phase (- 1.0 (fabs phase)))) y))))
      (* 0.5 y))))";

const BANK: &str = "(bind-func bank:DSPMC 1000000
  (let ((phases:double* (zalloc 64)) (incs:double* (zalloc 64)) (k 0)
        (y 0.0) (dl:double* (zalloc 48000)) (pos 0))
    (dotimes (k 64) (pset! incs k (* 0.0001 (i64tod (+ k 1)))))
    (lambda (in out time dat)
      (let ((i 0) (j 0))
        (dotimes (i FRAMES)
          (let ((sum 0.0))
            (dotimes (j 64)
              (let ((p (+ (pref phases j) (pref incs j))))
                (if (>= p 1.0) (set! p (- p 2.0)))
                (pset! phases j p)
                (set! sum (+ sum (* 4.0 p (- 1.0 (fabs p)))))))
            (set! y (+ y (* 0.1 (- sum y))))
            (let ((d (pref dl pos)))
              (pset! dl pos (+ y (* 0.5 d)))
              (set! pos (% (+ pos 1) 48000))
              (pset! out i (dtof (+ y d))))))
        void))))";

/// The same bank in plain Rust.
struct Bank {
    phases: Vec<f64>,
    incs: Vec<f64>,
    y: f64,
    dl: Vec<f64>,
    pos: usize,
}

impl Bank {
    fn new() -> Bank {
        Bank {
            phases: vec![0.0; OSCS],
            incs: (0..OSCS).map(|k| 0.0001 * (k + 1) as f64).collect(),
            y: 0.0,
            dl: vec![0.0; DELAY],
            pos: 0,
        }
    }

    fn process(&mut self, out: &mut [f32]) {
        for o in out.iter_mut() {
            let mut sum = 0.0;
            for (p, inc) in self.phases.iter_mut().zip(&self.incs) {
                let mut q = *p + inc;
                if q >= 1.0 {
                    q -= 2.0;
                }
                *p = q;
                sum += 4.0 * q * (1.0 - q.abs());
            }
            self.y += 0.1 * (sum - self.y);
            let d = self.dl[self.pos];
            self.dl[self.pos] = self.y + 0.5 * d;
            self.pos = (self.pos + 1) % DELAY;
            *o = (self.y + d) as f32;
        }
    }
}

fn form(src: &str) -> Sexp {
    parse(src, "bench.xtm").expect("parses").remove(0)
}

fn compiled(checks: bool) -> (Dsp, AudioCtx, Entry) {
    let mut dsp = Dsp::new(DspConfig {
        checks,
        ..DspConfig::default()
    })
    .expect("a Dsp");
    let mut ctx = dsp.audio_ctx().expect("an audio context");
    dsp.define(&form(BANK)).expect("compiles");
    if let Some(mut b) = dsp.take_swap() {
        ctx.apply(&mut b);
        dsp.retire(b);
    }
    let e = dsp.entry("bank").expect("a DSPMC entry");
    (dsp, ctx, e)
}

fn compile_time(c: &mut Criterion) {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    let f = form(TYPICAL);
    c.bench_function("compile a typical DSP bind-func", |b| {
        b.iter(|| {
            dsp.define(black_box(&f)).expect("compiles");
            black_box(dsp.take_swap())
        })
    });
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("64 oscillators + one-pole + delay, 256 frames");
    g.throughput(Throughput::Elements(FRAMES as u64));
    let input = [0.0f32; FRAMES];
    let mut out = [0.0f32; FRAMES];
    let mut rust = Bank::new();
    g.bench_function("plain Rust", |b| {
        b.iter(|| rust.process(black_box(&mut out)))
    });
    for checks in [true, false] {
        let (_dsp, mut ctx, e) = compiled(checks);
        let name = if checks { "checks on" } else { "checks off" };
        g.bench_with_input(BenchmarkId::new("xtlang", name), &e, |b, e| {
            b.iter(|| {
                ctx.run_buffer(*e, &input, black_box(&mut out), FRAMES, 1, 0)
                    .expect("no fault");
                ctx.end_buffer();
            })
        });
    }
    g.finish();
}

/// The bank compiled from xtlang computes what the Rust bank computes.
fn agree() {
    let (_dsp, mut ctx, e) = compiled(true);
    let mut rust = Bank::new();
    let (mut a, mut b) = ([0.0f32; FRAMES], [0.0f32; FRAMES]);
    for _ in 0..4 {
        ctx.run_buffer(e, &[0.0; FRAMES], &mut a, FRAMES, 1, 0)
            .expect("no fault");
        rust.process(&mut b);
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-4),
            "xtlang and Rust banks differ"
        );
    }
}

/// Call-heavy code: a recursive `fib` of 25 makes 242,785 calls, each paying the
/// checks at function entry (call depth, interrupt poll).
fn calls(c: &mut Criterion) {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    let fib = "(bind-func fib (lambda (n:i64) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2))))))";
    dsp.define(&form(fib)).expect("compiles");
    c.bench_function("recursive calls: fib 25", |b| {
        b.iter(|| {
            let n = zonal_dsp::DspValue::I64(black_box(25));
            dsp.call("fib", &[n]).expect("no fault")
        })
    });
}

fn benches(c: &mut Criterion) {
    agree();
    compile_time(c);
    throughput(c);
    calls(c);
}

criterion_group!(dsp_benches, benches);
criterion_main!(dsp_benches);
