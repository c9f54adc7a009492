//! DSP compiler benchmarks: compile time of a typical DSP bind-func, and throughput of a
//! 64-oscillator bank with a one-pole lowpass and a delay line, and of the "W1" patch
//! (`benches/peers/w1_buffer.xtm`: 64 rotating sines, lowpass, feedback delay, stereo), and
//! of W1 as `benches/peers/w1.xtm` writes it (`sin` of each partial's phase every sample),
//! and of sixteen voices whose pitch goes through `pow` every sample, and of W1 from 64
//! closures made by the library's `osc_c` (`benches/peers/w1_osc.xtm`, against 64 Rust
//! closures of the same code),
//! compiled from xtlang (checks on and off) against the same algorithms in plain Rust, in
//! the same run.
//!
//! `cargo bench -p zonal-dsp --bench dsp`. The Rust baseline is built for the default
//! target (no `-C target-cpu=native`); Cranelift uses what `cranelift-native` detects.
//!
//! Before the criterion groups, each patch is also timed *interleaved*: plain Rust, xtlang
//! with checks and xtlang without run one buffer each in turn, many rounds, and the median
//! buffer time of each is printed with its ratio to Rust. On a shared machine whose load
//! drifts from second to second, that ratio is steadier than one taken from criterion
//! groups measured seconds apart.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use zonal_dsp::{AudioCtx, Checks, Dsp, DspConfig, Entry, Sexp, parse};

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

/// A bank of 64 float oscillators calling `sin` per partial and frame, whose loop runs in
/// four float lanes.
const FLOAT_BANK: &str = "(bind-func fbank:DSPMC 1000000
  (let ((phases:float* (zalloc 64)) (incs:float* (zalloc 64)) (k 0) (twopi:float 6.2831855))
    (dotimes (k 64) (pset! incs k (dtof (* 0.001 (i64tod (+ k 1))))))
    (lambda (in out time dat)
      (let ((i 0) (j 0) (ph:float 0.0))
        (dotimes (i FRAMES)
          (let ((sum:float 0.0))
            (dotimes (j 64)
              (set! ph (pref phases j))
              (set! sum (+ sum (sin ph)))
              (set! ph (+ ph (pref incs j)))
              (pset! phases j (if (> ph twopi) (- ph twopi) ph)))
            (pset! out i (* 0.015625 sum))))
        void))))";

/// Sixteen triangle voices whose pitch (a MIDI note with vibrato) goes through `pow` to a
/// frequency every frame: `pow` per voice and sample, in a loop in SIMD lanes.
const PITCHES: &str = "(bind-func pitches:DSPMC 1000000
  (let ((notes:double* (zalloc 16)) (phases:double* (zalloc 16)) (vib 0.0) (k 0))
    (dotimes (k 16) (pset! notes k (+ 48.0 (* 1.5 (i64tod k)))))
    (lambda (in out time dat)
      (let ((i 0) (j 0))
        (dotimes (i FRAMES)
          (set! vib (+ vib 0.0001))
          (if (> vib 1.0) (set! vib (- vib 2.0)))
          (let ((sum 0.0))
            (dotimes (j 16)
              (let ((f (* 440.0 (pow 2.0 (/ (- (+ (pref notes j) (* 0.2 vib)) 69.0) 12.0))))
                    (p (+ (pref phases j) (/ f 48000.0))))
                (if (>= p 1.0) (set! p (- p 2.0)))
                (pset! phases j p)
                (set! sum (+ sum (* p (- 1.0 (fabs p)))))))
            (pset! out i (dtof (* 0.1 sum)))))
        void))))";

/// W1 as a per-buffer closure, as in `benches/peers/w1_buffer.xtm`.
const W1: &str = include_str!("peers/w1_buffer.xtm");

/// W1 as a per-sample closure rotating its sines, as in `benches/peers/w1_rotation.xtm`.
const W1_ROT: &str = include_str!("peers/w1_rotation.xtm");

/// W1 as a per-sample closure calling `sin` for every partial, as in `benches/peers/w1.xtm`.
const W1_SIN: &str = include_str!("peers/w1.xtm");

/// W1 from 64 closures of the library's `osc_c`, as in `benches/peers/w1_osc.xtm`: its
/// `(sys:load ...)` of the library replaced by `osc_c` and the globals it reads.
fn w1_osc() -> String {
    const OSC_C: &str = "
(bind-val SRd double 48000.0)
(bind-val TWOPI double 6.283185307179586)
(bind-func osc_c
  (lambda (phase:float)
    (let ((p:double (ftod phase)))
      (lambda (amp:float freq:float)
        (set! p (+ p (/ (ftod freq) SRd)))
        (if (>= p 1.0) (set! p (- p (floor p))))
        (if (< p 0.0) (set! p (- p (floor p))))
        (* amp (dtof (sin (* TWOPI p))))))))";
    include_str!("peers/w1_osc.xtm").replace("(sys:load \"libs/core/audio_dsp.xtm\")", OSC_C)
}

/// `benches/peers/w1_osc.xtm` in plain Rust: 64 boxed closures of `osc_c`'s code, called
/// one by one every frame, and the lowpass and delay in floats.
struct W1OscRust {
    oscs: Vec<Box<dyn FnMut(f32, f32) -> f32>>,
    freqs: Vec<f32>,
    lp: f32,
    dl: Vec<f32>,
    pos: usize,
}

impl W1OscRust {
    fn new() -> W1OscRust {
        let freqs: Vec<f32> = (0..OSCS)
            .map(|k| (110.0 * (1.0 + 0.37 * k as f64)) as f32)
            .collect();
        let oscs = freqs
            .iter()
            .map(|f| {
                let mut p = f64::from((f64::from(*f) / -48000.0) as f32);
                Box::new(move |amp: f32, freq: f32| {
                    p += f64::from(freq) / 48000.0;
                    if p >= 1.0 {
                        p -= p.floor();
                    }
                    if p < 0.0 {
                        p -= p.floor();
                    }
                    amp * (std::f64::consts::TAU * p).sin() as f32
                }) as Box<dyn FnMut(f32, f32) -> f32>
            })
            .collect();
        W1OscRust {
            oscs,
            freqs,
            lp: 0.0,
            dl: vec![0.0; 12000],
            pos: 0,
        }
    }

    fn process(&mut self, out: &mut [f32]) {
        for frame in out.chunks_exact_mut(2) {
            let mut sum = 0.0f32;
            for (osc, f) in self.oscs.iter_mut().zip(&self.freqs) {
                sum += osc(0.015625, *f);
            }
            self.lp += 0.230_334_6 * (sum - self.lp);
            let wet = self.dl[self.pos];
            self.dl[self.pos] = self.lp + 0.5 * wet;
            self.pos = (self.pos + 1) % self.dl.len();
            let o = 0.5 * self.lp + 0.5 * wet;
            frame[0] = o;
            frame[1] = o;
        }
    }
}

/// W1's one-pole lowpass at 2 kHz and 0.25 s feedback delay, in plain Rust.
struct Tail {
    dline: Vec<f64>,
    pos: usize,
    lp: f64,
}

impl Tail {
    fn new() -> Tail {
        Tail {
            dline: vec![0.0; 12000],
            pos: 0,
            lp: 0.0,
        }
    }

    /// The output sample for the oscillators' `sum`.
    fn frame(&mut self, sum: f64) -> f32 {
        let coef = 0.23033458750676017;
        self.lp += coef * (sum / 64.0 - self.lp);
        let wet = self.dline[self.pos];
        self.dline[self.pos] = self.lp + 0.5 * wet;
        self.pos = if self.pos + 1 == self.dline.len() {
            0
        } else {
            self.pos + 1
        };
        (0.5 * self.lp + 0.5 * wet) as f32
    }
}

/// W1 in plain Rust: the same oscillators, filter and delay.
struct W1Rust {
    sins: Vec<f64>,
    coss: Vec<f64>,
    rot_s: Vec<f64>,
    rot_c: Vec<f64>,
    tail: Tail,
}

impl W1Rust {
    fn new() -> W1Rust {
        let twopi = std::f64::consts::TAU;
        let w = |k: usize| twopi * 110.0 * (1.0 + 0.37 * k as f64) / 48000.0;
        W1Rust {
            sins: vec![0.0; OSCS],
            coss: vec![1.0; OSCS],
            rot_s: (0..OSCS).map(|k| w(k).sin()).collect(),
            rot_c: (0..OSCS).map(|k| (w(k) + twopi / 4.0).sin()).collect(),
            tail: Tail::new(),
        }
    }

    fn process(&mut self, out: &mut [f32]) {
        for frame in out.chunks_exact_mut(2) {
            let mut sum = 0.0;
            for i in 0..OSCS {
                let (s, c) = (self.sins[i], self.coss[i]);
                let (rs, rc) = (self.rot_s[i], self.rot_c[i]);
                sum += s;
                self.sins[i] = s * rc + c * rs;
                self.coss[i] = c * rc - s * rs;
            }
            let o = self.tail.frame(sum);
            frame[0] = o;
            frame[1] = o;
        }
    }
}

/// W1 as `benches/peers/w1.xtm` writes it, in plain Rust: the C library's `sin` of each
/// partial's phase, every sample.
struct W1SinRust {
    phases: Vec<f64>,
    incs: Vec<f64>,
    tail: Tail,
}

impl W1SinRust {
    fn new() -> W1SinRust {
        let twopi = std::f64::consts::TAU;
        W1SinRust {
            phases: vec![0.0; OSCS],
            incs: (0..OSCS)
                .map(|k| twopi * 110.0 * (1.0 + 0.37 * k as f64) / 48000.0)
                .collect(),
            tail: Tail::new(),
        }
    }

    fn process(&mut self, out: &mut [f32]) {
        let twopi = std::f64::consts::TAU;
        for frame in out.chunks_exact_mut(2) {
            let mut sum = 0.0;
            for (p, inc) in self.phases.iter_mut().zip(&self.incs) {
                sum += p.sin();
                let q = *p + inc;
                *p = if q > twopi { q - twopi } else { q };
            }
            let o = self.tail.frame(sum);
            frame[0] = o;
            frame[1] = o;
        }
    }
}

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

/// FLOAT_BANK in plain Rust (the C library's `sinf` per partial).
struct FloatBank {
    phases: Vec<f32>,
    incs: Vec<f32>,
}

impl FloatBank {
    fn new() -> FloatBank {
        FloatBank {
            phases: vec![0.0; OSCS],
            incs: (0..OSCS).map(|k| (0.001 * (k + 1) as f64) as f32).collect(),
        }
    }

    fn process(&mut self, out: &mut [f32]) {
        let twopi = std::f32::consts::TAU;
        for o in out.iter_mut() {
            let mut sum = 0.0f32;
            for (p, inc) in self.phases.iter_mut().zip(&self.incs) {
                sum += p.sin();
                let q = *p + inc;
                *p = if q > twopi { q - twopi } else { q };
            }
            *o = 0.015625 * sum;
        }
    }
}

/// PITCHES in plain Rust (the C library's `pow` per voice and frame).
struct Pitches {
    notes: Vec<f64>,
    phases: Vec<f64>,
    vib: f64,
}

impl Pitches {
    fn new() -> Pitches {
        Pitches {
            notes: (0..16).map(|k| 48.0 + 1.5 * f64::from(k)).collect(),
            phases: vec![0.0; 16],
            vib: 0.0,
        }
    }

    fn process(&mut self, out: &mut [f32]) {
        for o in out.iter_mut() {
            self.vib += 0.0001;
            if self.vib > 1.0 {
                self.vib -= 2.0;
            }
            let mut sum = 0.0;
            for (n, p) in self.notes.iter().zip(self.phases.iter_mut()) {
                let f = 440.0 * 2.0f64.powf((n + 0.2 * self.vib - 69.0) / 12.0);
                let mut q = *p + f / 48000.0;
                if q >= 1.0 {
                    q -= 2.0;
                }
                *p = q;
                sum += q * (1.0 - q.abs());
            }
            *o = (0.1 * sum) as f32;
        }
    }
}

fn form(src: &str) -> Sexp {
    parse(src, "bench.xtm").expect("parses").remove(0)
}

fn compiled(checks: bool, src: &str, name: &str) -> (Dsp, AudioCtx, Entry) {
    let checks = if checks {
        Checks::on()
    } else {
        // SAFETY: the bench runs only the patches `agree` runs first with checks on (their
        // accesses stay inside their allocations), and they are the same code.
        unsafe { Checks::off() }
    };
    let mut dsp = Dsp::new(DspConfig {
        checks,
        ..DspConfig::default()
    })
    .expect("a Dsp");
    let mut ctx = dsp.audio_ctx().expect("an audio context");
    for f in parse(src, "bench.xtm").expect("parses") {
        if matches!(f.head(), Some("bind-func" | "bind-val")) {
            dsp.define(&f).expect("compiles");
        }
    }
    if let Some(mut b) = dsp.take_swap() {
        ctx.apply(&mut b);
        dsp.retire(b);
    }
    let e = dsp.entry(name).expect("a DSPMC entry");
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
        let (_dsp, mut ctx, e) = compiled(checks, BANK, "bank");
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
    let mut g = c.benchmark_group("64 float sines per frame, 256 frames");
    g.throughput(Throughput::Elements(FRAMES as u64));
    let mut rust = FloatBank::new();
    g.bench_function("plain Rust", |b| {
        b.iter(|| rust.process(black_box(&mut out)))
    });
    let (_dsp, mut ctx, e) = compiled(true, FLOAT_BANK, "fbank");
    g.bench_with_input(BenchmarkId::new("xtlang", "checks on"), &e, |b, e| {
        b.iter(|| {
            ctx.run_buffer(*e, &input, black_box(&mut out), FRAMES, 1, 0)
                .expect("no fault");
            ctx.end_buffer();
        })
    });
    g.finish();
    let mut g = c.benchmark_group("W1, 256 stereo frames");
    g.throughput(Throughput::Elements(FRAMES as u64));
    let input = [0.0f32; 2 * FRAMES];
    let mut out = [0.0f32; 2 * FRAMES];
    let mut rust = W1Rust::new();
    g.bench_function("plain Rust", |b| {
        b.iter(|| rust.process(black_box(&mut out)))
    });
    for checks in [true, false] {
        let (_dsp, mut ctx, e) = compiled(checks, W1, "dsp");
        let name = if checks { "checks on" } else { "checks off" };
        g.bench_with_input(BenchmarkId::new("xtlang", name), &e, |b, e| {
            b.iter(|| {
                ctx.run_buffer(*e, &input, black_box(&mut out), FRAMES, 2, 0)
                    .expect("no fault");
                ctx.end_buffer();
            })
        });
    }
    g.finish();
}

/// The bank and W1 compiled from xtlang compute what their Rust versions compute.
fn agree() {
    let mut w1 = W1Rust::new();
    agree_with("W1", W1, "dsp", 2, 1e-6, &mut |o| w1.process(o));
    let mut w1 = W1Rust::new();
    agree_with("W1 rotating per sample", W1_ROT, "dsp", 2, 1e-6, &mut |o| {
        w1.process(o)
    });
    let mut w1_sin = W1SinRust::new();
    agree_with("W1 with sin", W1_SIN, "dsp", 2, 1e-6, &mut |o| {
        w1_sin.process(o)
    });
    let mut fbank = FloatBank::new();
    agree_with("float banks", FLOAT_BANK, "fbank", 1, 1e-5, &mut |o| {
        fbank.process(o)
    });
    let mut bank = Bank::new();
    agree_with("banks", BANK, "bank", 1, 1e-4, &mut |o| bank.process(o));
    let mut pitches = Pitches::new();
    agree_with("pitches", PITCHES, "pitches", 1, 1e-6, &mut |o| {
        pitches.process(o)
    });
    let mut osc = W1OscRust::new();
    agree_with(
        "W1 of osc_c closures",
        &w1_osc(),
        "dsp",
        2,
        1e-6,
        &mut |o| osc.process(o),
    );
}

/// Four buffers of the xtlang patch `src` (entry `entry`) and of `rust`, each sample
/// within `tolerance` of the other's.
fn agree_with(
    what: &str,
    src: &str,
    entry: &str,
    channels: usize,
    tolerance: f32,
    rust: &mut dyn FnMut(&mut [f32]),
) {
    let (_dsp, mut ctx, e) = compiled(true, src, entry);
    let (mut a, mut b) = (
        vec![0.0f32; channels * FRAMES],
        vec![0.0f32; channels * FRAMES],
    );
    let input = vec![0.0f32; channels * FRAMES];
    for _ in 0..4 {
        ctx.run_buffer(e, &input, &mut a, FRAMES, channels, 0)
            .expect("no fault");
        ctx.end_buffer();
        rust(&mut b);
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() < tolerance),
            "xtlang and Rust {what} differ"
        );
    }
}

/// Median of `xs` (sorted in place).
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Times `rust` and the xtlang patch one buffer each in turn, many rounds, first with checks
/// and then without (one `Dsp` alive at a time), and prints each median buffer time and its
/// ratio to Rust's in the same rounds.
fn interleaved(
    name: &str,
    src: &str,
    entry: &str,
    channels: usize,
    rust: &mut dyn FnMut(&mut [f32]),
) {
    const ROUNDS: usize = 20_000;
    let input = vec![0.0f32; FRAMES * channels];
    let mut out = vec![0.0f32; FRAMES * channels];
    let mut line = format!("{name}, {FRAMES} frames, interleaved medians of {ROUNDS} buffers:");
    for checks in [true, false] {
        let (dsp, mut ctx, e) = compiled(checks, src, entry);
        let (mut r, mut x) = (Vec::with_capacity(ROUNDS), Vec::with_capacity(ROUNDS));
        for _ in 0..ROUNDS {
            let t = std::time::Instant::now();
            rust(black_box(&mut out));
            r.push(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            ctx.run_buffer(e, &input, black_box(&mut out), FRAMES, channels, 0)
                .expect("no fault");
            ctx.end_buffer();
            x.push(t.elapsed().as_secs_f64());
        }
        drop((ctx, dsp));
        let (r, x) = (median(&mut r) * 1e6, median(&mut x) * 1e6);
        let on = if checks { "checks on" } else { "checks off" };
        line.push_str(&format!(
            " plain Rust {r:.2} µs, xtlang {on} {x:.2} µs ({:.2}x);",
            x / r
        ));
    }
    println!("{}", line.trim_end_matches(';'));
}

/// The wide math kernels a loop in SIMD lanes hands its `sin`, `exp`, `log`... to
/// (`runtime/wide_math.rs`), 64 arguments a call, against the C library's function over
/// the same arguments: each kernel is fast only if the compiler vectorised it.
fn kernels(c: &mut Criterion) {
    let Some(k) = zonal_dsp::runtime::wide_math::kernels() else {
        return;
    };
    const N: usize = zonal_dsp::runtime::wide_math::BATCH;
    let xs: Vec<f64> = (0..N).map(|i| 0.5 + 0.03 * i as f64).collect();
    let mut out = vec![0.0; N];
    let mut g = c.benchmark_group("wide math kernels, 64 arguments");
    g.throughput(Throughput::Elements(N as u64));
    let sin: fn(f64) -> f64 = f64::sin;
    let libm = [("sin", sin), ("exp", f64::exp), ("log", f64::ln)];
    for ((name, libm), kernel) in libm.into_iter().zip([k.sin, k.exp, k.log]) {
        g.bench_function(BenchmarkId::new("kernel", name), |b| {
            // SAFETY: N = BATCH arguments and as many results, apart.
            b.iter(|| unsafe { kernel(xs.as_ptr(), black_box(out.as_mut_ptr()), N as i64) })
        });
        g.bench_function(BenchmarkId::new("C library", name), |b| {
            b.iter(|| {
                for (o, &x) in out.iter_mut().zip(&xs) {
                    *o = libm(black_box(x));
                }
            })
        });
    }
    g.finish();
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
    // Only under `cargo bench` (`cargo test` runs each benchmark once, as a smoke test).
    if std::env::args().any(|a| a == "--bench") {
        let mut bank = Bank::new();
        interleaved(
            "64 oscillators + one-pole + delay",
            BANK,
            "bank",
            1,
            &mut |o| bank.process(o),
        );
        let mut w1 = W1Rust::new();
        interleaved("W1", W1, "dsp", 2, &mut |o| w1.process(o));
        let mut w1 = W1Rust::new();
        interleaved("W1 rotating, per sample", W1_ROT, "dsp", 2, &mut |o| {
            w1.process(o)
        });
        let mut w1 = W1SinRust::new();
        interleaved("W1 with sin per partial", W1_SIN, "dsp", 2, &mut |o| {
            w1.process(o)
        });
        let mut fbank = FloatBank::new();
        interleaved(
            "64 float sines per frame",
            FLOAT_BANK,
            "fbank",
            1,
            &mut |o| fbank.process(o),
        );
        let mut pitches = Pitches::new();
        interleaved(
            "16 voices' pitch through pow per frame",
            PITCHES,
            "pitches",
            1,
            &mut |o| pitches.process(o),
        );
        let mut osc = W1OscRust::new();
        interleaved(
            "W1 of 64 osc_c closures, per sample",
            &w1_osc(),
            "dsp",
            2,
            &mut |o| osc.process(o),
        );
    }
    compile_time(c);
    throughput(c);
    kernels(c);
    calls(c);
}

criterion_group!(dsp_benches, benches);
criterion_main!(dsp_benches);
