//! The library's benchmarks (criterion):
//!
//! - `library_load`: a fresh session's `(sys:load "libs/core/audio_dsp.xtm")`, which
//!   compiles every unit of the library (and base.xtm); the same of
//!   `libs/core/instruments.xtm` (which loads audio_dsp.xtm), and of that and one
//!   `(make-instrument synth synth)`;
//! - `unit/NAME`: 4,800 frames (stereo, 64-frame buffers) of a `dsp` that runs one
//!   unit once per frame on a 480 Hz sawtooth, through the real process function;
//!   `unit/baseline` is the
//!   same `dsp` without a unit, so a unit's cost per sample is
//!   (its time - baseline's) / 4,800;
//! - `voices/synth_N`: 4,800 frames (0.1 s at 48 kHz) of a `dsp` that sums four `synth`
//!   instruments of `libs/core/instruments.xtm` holding N notes between them (0, 32 or
//!   128), so one voice costs (time(N) - time(0)) / N per 0.1 s of audio, and a core
//!   holds 0.1 s / that many voices in real time.
//!
//! Run with `cargo bench -p zonal-engine --bench library`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use zonal_engine::session::{Session, SessionConfig};

const FRAMES: usize = 4_800;

fn library_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("library_load");
    group.sample_size(10);
    for (name, src) in [
        ("audio_dsp", r#"(sys:load "libs/core/audio_dsp.xtm")"#),
        ("instruments", r#"(sys:load "libs/core/instruments.xtm")"#),
        (
            "instruments_and_a_synth",
            r#"(sys:load "libs/core/instruments.xtm") (make-instrument synth synth) #t"#,
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || Session::headless(&SessionConfig::default()).unwrap(),
                |mut session| {
                    let v = session.eval_source(src, "bench.xtm").unwrap();
                    assert_eq!(v, "#t");
                    session
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// (name, constructor binding, per-frame call of `u` on the input `x`)
const UNITS: &[(&str, &str, &str)] = &[
    ("baseline", "(u 0)", "x"),
    ("osc_c", "(u (osc_c 0.0))", "(u 0.5 440.0)"),
    ("saw_c", "(u (saw_c 0.0))", "(u 0.5 440.0)"),
    ("blsaw_c", "(u (blsaw_c 0.0))", "(u 0.5 440.0)"),
    ("blpulse_c", "(u (blpulse_c 0.0))", "(u 0.5 440.0 0.3)"),
    ("bltri_c", "(u (bltri_c 0.0))", "(u 0.5 440.0)"),
    ("pulse_c", "(u (pulse_c 0.0))", "(u 0.5 440.0 0.3)"),
    ("tri_c", "(u (tri_c 0.0))", "(u 0.5 440.0)"),
    ("white_c", "(u (white_c))", "(u)"),
    ("pink_c", "(u (pink_c))", "(u)"),
    ("lpf_c", "(u (lpf_c))", "(u x 1000.0 0.5)"),
    ("hpf_c", "(u (hpf_c))", "(u x 1000.0 0.5)"),
    ("bpf_c", "(u (bpf_c))", "(u x 1000.0 0.5)"),
    ("notch_c", "(u (notch_c))", "(u x 1000.0 0.5)"),
    ("peak_c", "(u (peak_c))", "(u x 1000.0 0.5)"),
    ("apf_c", "(u (apf_c))", "(u x 1000.0 0.5)"),
    ("vcf_c", "(u (vcf_c 1))", "(u x 1000.0 0.5)"),
    ("lpf_1p_c", "(u (lpf_1p_c))", "(u x 0.1)"),
    ("hpfbq_c", "(u (hpfbq_c))", "(u x 1000.0 0.7)"),
    ("lpfbq_c", "(u (lpfbq_c))", "(u x 1000.0 0.7)"),
    ("lshelf_c", "(u (lshelf_c))", "(u x 1000.0 6.0 0.7)"),
    ("hshelf_c", "(u (hshelf_c))", "(u x 1000.0 6.0 0.7)"),
    ("moog_ladder", "(u (moog_ladder 2))", "(u x 1000.0 0.5)"),
    ("delay_c", "(u (delay_c 12000))", "(u x 0.5 0.5)"),
    ("comb_c", "(u (comb_c 12000))", "(u x 1000.5 1.0 0.5 0.5)"),
    ("chorus_c", "(u (chorus_c 0.0))", "(u x 1.0 0.5 0.2)"),
    ("tap_delay_c", "(u (tap_delay_c 12000 4))", "(u x)"),
    ("distort_c", "(u (distort_c 4.0))", "(u x)"),
    ("saturation_c", "(u (saturation_c))", "(u x 0.5 0.5)"),
    ("crusher_c", "(u (crusher_c))", "(u x 8.0)"),
    ("ringmod_c", "(u (ringmod_c))", "(u x 300.0 0.0)"),
    ("env_follow_c", "(u (env_follow_c 10.0))", "(u x)"),
    (
        "line_c",
        "(u (line_c 0.0 0.0 48000.0 1.0))",
        "(* x (u 0.5))",
    ),
    ("ad_c", "(u (ad_c))", "(* x (u 0 1.0 10.0 100.0 1.0 1.0))"),
    (
        "adsr_c",
        "(u (adsr_c))",
        "(* x (u 0 1.0 10.0 100.0 0.5 200.0))",
    ),
    (
        "reverb_c (both channels)",
        "(u (reverb_c))",
        "(u 0 x 0.5 20.0 0.3 0.3)",
    ),
];

fn units(c: &mut Criterion) {
    let mut group = c.benchmark_group("unit");
    group.sample_size(20);
    group.throughput(Throughput::Elements(FRAMES as u64));
    for (name, setup, call) in UNITS {
        let (mut session, mut processor) = Session::with_audio(&SessionConfig::default()).unwrap();
        session
            .eval_source(r#"(sys:load "libs/core/audio_dsp.xtm")"#, "bench.xtm")
            .unwrap();
        // reverb_c computes both channels on channel 0 and returns the right on 1.
        let right = if name.starts_with("reverb") {
            call.replace("(u 0 ", "(u 1 ")
        } else {
            "l".to_string()
        };
        let src = format!(
            "(bind-func dsp:DSP 4000000
               (let ({setup} (x:SAMPLE 0.0) (l:SAMPLE 0.0))
                 (lambda (in:SAMPLE time:i64 chan:i64 dat:SAMPLE*)
                   (if (= chan 0) (begin (set! x (if (> x 0.5) -0.5 (+ x 0.01))) (set! l {call}) l) {right}))))
             (dsp:set! dsp)"
        );
        session.eval_source(&src, "bench.xtm").unwrap();
        let mut out = vec![0.0f32; 64 * 2];
        processor.process(&mut out);
        group.bench_function(*name, |b| {
            b.iter(|| {
                for _ in 0..FRAMES / 64 {
                    processor.process(&mut out);
                }
            })
        });
        session.poll();
    }
    group.finish();
}

/// A session whose `dsp` sums four `synth` instruments holding `voices` notes between
/// them (32 at most each), every note sounding when this returns.
fn synth_voices(voices: usize) -> (Session, zonal_engine::audio::Processor) {
    let (mut session, mut processor) = Session::with_audio(&SessionConfig::default()).unwrap();
    let mut src = String::from(r#"(sys:load "libs/core/instruments.xtm")"#);
    for i in 0..4 {
        src += &format!("(make-instrument s{i} synth)");
    }
    src += "(bind-func dsp:DSP 100000 (lambda (in time chan dat)
              (+ (s0 in time chan dat) (s1 in time chan dat) (s2 in time chan dat) (s3 in time chan dat))))
            (dsp:set! dsp)";
    for v in 0..voices {
        src += &format!("(start-note 0 s{} {} 70)", v / 32, 36 + v % 32);
    }
    session.eval_source(&src, "bench.xtm").unwrap();
    session.run_callbacks_before(64);
    session.flush();
    let mut out = vec![0.0f32; 64 * 2];
    processor.process(&mut out);
    session.poll();
    let mut held = 0;
    for i in 0..4 {
        let n = session
            .eval_source(&format!("(instrument-active-notes s{i})"), "bench.xtm")
            .unwrap();
        held += n.parse::<usize>().unwrap();
    }
    assert_eq!(held, voices, "every note sounds");
    (session, processor)
}

fn voices(c: &mut Criterion) {
    let mut group = c.benchmark_group("voices");
    group.sample_size(20);
    group.throughput(Throughput::Elements(FRAMES as u64));
    for n in [0, 32, 128] {
        let (mut session, mut processor) = synth_voices(n);
        let mut out = vec![0.0f32; 64 * 2];
        group.bench_function(format!("synth_{n}"), |b| {
            b.iter(|| {
                for _ in 0..FRAMES / 64 {
                    processor.process(&mut out);
                }
            })
        });
        session.poll();
    }
    group.finish();
}

criterion_group!(benches, library_load, units, voices);
criterion_main!(benches);
