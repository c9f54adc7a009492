//! Engine benchmarks (criterion):
//!
//! - `render_2s/EXAMPLE`: offline render of two seconds of each example (throughput in
//!   frames per second; divide by 48,000 for the real-time factor);
//! - `buffer_under_load`: how long one 64-frame buffer takes on a real-time-paced audio
//!   thread while the control thread recompiles a closure and churns the Scheme heap
//!   without pause; prints the median, p99.9 and maximum;
//! - `eval_to_audible`: from an evaluation arriving (a new `dsp`) to the end of the first
//!   buffer that plays it, on one thread (a live engine adds up to one buffer of waiting).
//! - `buffer_64_frames_fading`: one 64-frame buffer of `LOADED_DSP` while a redefinition
//!   of it crossfades (both closures run), beside `buffer_64_frames_idle` (one runs).
//! - `events_1000_reverse`: the 64-frame buffer that receives 1,000 timed events sent in
//!   reverse time order (all queued, none due yet).
//! - `load_meter_64_frames`: what the load meter adds to one 64-frame stereo buffer (its
//!   clock readings, one closure's time, the peaks and sums of squares), to set beside
//!   `buffer_64_frames_idle`, which includes it.
//!
//! Run with `cargo bench -p zonal-engine --bench engine`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use zonal_dsp::{Dsp, DspConfig, DspValue, parse};
use zonal_engine::audio::{AudioStats, Processor};
use zonal_engine::commands::{Command, rings};
use zonal_engine::render::{RenderConfig, SampleFormat, render_files};
use zonal_engine::session::{Session, SessionConfig};

const RATE: u32 = 48_000;

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn render_config(seconds: f64) -> RenderConfig {
    RenderConfig {
        session: SessionConfig::default(),
        buffer_frames: 64,
        seconds,
        format: SampleFormat::F32,
        progress: false,
    }
}

fn render_examples(c: &mut Criterion) {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut group = c.benchmark_group("render_2s");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2 * u64::from(RATE)));
    for name in ["sine.xtm", "delay.xtm", "filter.xtm", "synth.xtm"] {
        let path = examples.join(name);
        group.bench_function(name, |b| {
            b.iter(|| render_files(std::slice::from_ref(&path), &render_config(2.0)).unwrap())
        });
    }
    group.finish();
}

const LOADED_DSP: &str = r#"
(bind-func gain (lambda () 0.25))
(bind-func osc_c
  (lambda (phase)
    (lambda (freq)
      (set! phase (+ phase (* 6.283185307179586 (/ freq 48000.0))))
      (sin phase))))
(bind-func dsp:DSP
  (let ((osc (osc_c 0.0)) (out 0.0))
    (lambda (in time chan dat)
      (if (= chan 0) (set! out (* (gain) (osc 440.0))))
      (dtof out))))
(dsp:set! dsp)
"#;

fn buffer_under_load(c: &mut Criterion) {
    let seconds = if bench_mode() { 5.0 } else { 0.2 };
    let buffers = (seconds * f64::from(RATE) / 64.0) as usize;
    let (mut session, mut processor) = Session::with_audio(&SessionConfig::default()).unwrap();
    session.eval_source(LOADED_DSP, "load.xtm").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let audio_done = done.clone();
    let audio = std::thread::Builder::new()
        .name("zonal-audio".into())
        .spawn(move || {
            let mut times = vec![0u64; buffers];
            let mut out = vec![0.0f32; 64 * 2];
            let period = Duration::from_secs_f64(64.0 / f64::from(RATE));
            let start = Instant::now();
            for (i, t) in times.iter_mut().enumerate() {
                let deadline = start + period * i as u32;
                while Instant::now() < deadline {
                    std::hint::spin_loop();
                }
                let t0 = Instant::now();
                processor.process(&mut out);
                *t = t0.elapsed().as_nanos() as u64;
            }
            audio_done.store(true, Ordering::Relaxed);
            times
        })
        .unwrap();
    let mut n = 0u64;
    while !done.load(Ordering::Relaxed) {
        n += 1;
        let src = format!(
            "(bind-func gain (lambda () {}))
             (let loop ((i 0) (acc '())) (if (< i 20000) (loop (+ i 1) (cons i acc)) (length acc)))",
            0.2 + (n % 10) as f64 / 100.0
        );
        session.eval_source(&src, "churn.scm").unwrap();
        session.poll();
    }
    let mut times = audio.join().unwrap();
    times.sort_unstable();
    let pick = |q: f64| times[((times.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    println!(
        "buffer_under_load: {} buffers of 64 frames while {} recompilations ran: median {:.1} µs, p99.9 {:.1} µs, max {:.1} µs (budget {:.0} µs)",
        times.len(),
        n,
        pick(0.5),
        pick(0.999),
        pick(1.0),
        64.0 / f64::from(RATE) * 1e6
    );
    c.bench_function("buffer_64_frames_idle", |b| {
        let (mut session, mut processor) = Session::with_audio(&SessionConfig::default()).unwrap();
        session.eval_source(LOADED_DSP, "idle.xtm").unwrap();
        let mut out = vec![0.0f32; 64 * 2];
        b.iter(|| processor.process(&mut out))
    });
}

/// A buffer during a crossfade: `dsp` is redefined with a fade of one second (750
/// buffers), and at most 700 buffers are timed per fade, so every timed buffer runs the
/// old closure beside the new one.
fn buffer_during_fade(c: &mut Criterion) {
    let (mut session, mut processor) = Session::with_audio(&SessionConfig::default()).unwrap();
    session.eval_source(LOADED_DSP, "fade.xtm").unwrap();
    let mut out = vec![0.0f32; 64 * 2];
    processor.process(&mut out);
    let redefine = LOADED_DSP
        .split("(bind-func dsp:DSP")
        .nth(1)
        .map(|rest| format!("(dsp:fade-next 1000) (bind-func dsp:DSP{rest}"))
        .unwrap();
    c.bench_function("buffer_64_frames_fading", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                session.eval_source(&redefine, "fade.xtm").unwrap();
                // the swap itself (and the carry) lands in this untimed buffer
                processor.process(&mut out);
                session.poll();
                let n = left.min(700);
                let t0 = Instant::now();
                for _ in 0..n {
                    processor.process(&mut out);
                }
                spent += t0.elapsed();
                left -= n;
                // let the fade end, so the next one starts from one closure
                for _ in n..760 {
                    processor.process(&mut out);
                }
                session.poll();
            }
            spent
        })
    });
}

fn eval_to_audible(c: &mut Criterion) {
    let (mut session, mut processor) = Session::with_audio(&SessionConfig::default()).unwrap();
    // a hard swap: the new value is the whole first sample (a fade would start it at 0)
    session
        .eval_source("(dsp:fade-time 0)", "live.xtm")
        .unwrap();
    session.eval_source(LOADED_DSP, "live.xtm").unwrap();
    let mut out = vec![0.0f32; 64 * 2];
    processor.process(&mut out);
    let mut level = 0u32;
    c.bench_function("eval_to_audible", |b| {
        b.iter(|| {
            level = (level + 1) % 50;
            let value = f64::from(level + 1) / 100.0;
            let src = format!(
                "(bind-func dsp:DSP (lambda (in time chan dat) (dtof {value})))
                 (dsp:set! dsp)"
            );
            session.eval_source(&src, "live.xtm").unwrap();
            processor.process(&mut out);
            assert_eq!(out[0], value as f32);
            session.poll();
        })
    });
}

fn events_1000_reverse(c: &mut Criterion) {
    let mut dsp = Dsp::new(DspConfig::default()).unwrap();
    let src = "(bind-val hits i64 0) (bind-func hit (lambda (k:i64) (set! hits (+ hits k)) void))";
    for form in parse(src, "events.xtm").unwrap() {
        dsp.define(&form).unwrap();
    }
    let mut ctx = dsp.audio_ctx().unwrap();
    if let Some(mut batch) = dsp.take_swap() {
        ctx.apply(&mut batch);
        dsp.retire(batch);
    }
    let (mut control, audio) = rings();
    let lanes = zonal_engine::lanes::Lanes::new(2, None);
    let mut processor = Processor::new(ctx, audio, 2, Arc::new(AudioStats::default()), lanes);
    let mut out = vec![0.0f32; 64 * 2];
    let calls: Vec<_> = (0..1000)
        .map(|_| dsp.prepare_call("hit", &[DspValue::I64(1)]).unwrap())
        .collect();
    let mut time = 0i64;
    c.bench_function("events_1000_reverse", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                let first = time + 128;
                for (i, call) in calls.iter().enumerate().rev() {
                    let event = Command::Event {
                        time: first + i as i64,
                        call: *call,
                    };
                    assert!(control.commands.push(event).is_ok());
                }
                let began = Instant::now();
                processor.process(&mut out);
                spent += began.elapsed();
                // Play the events out, untimed, so the next round starts empty.
                for _ in 0..1000 / 64 + 3 {
                    processor.process(&mut out);
                }
                time += 64 * (1000 / 64 + 4);
                while control.returned.pop().is_ok() {}
            }
            spent
        })
    });
}

fn load_meter_64_frames(c: &mut Criterion) {
    let meter = zonal_engine::load_meter::LoadMeter::default();
    let out: Vec<f32> = (0..128).map(|i| (i as f32 * 0.01).sin()).collect();
    let mut levels = zonal_engine::load_meter::Levels::new(2);
    let mut time = 0;
    c.bench_function("load_meter_64_frames", |b| {
        b.iter(|| {
            let mut stopwatch = zonal_engine::load_meter::Stopwatch::default();
            stopwatch.start();
            let began = stopwatch.last();
            meter.buffer_began();
            levels.clear();
            assert!(levels.add_if_below_full_scale(std::hint::black_box(&out)));
            meter.ran(0, stopwatch.lap());
            meter.buffer_ended(stopwatch.last() - began, 64, &levels, time);
            time += 64;
        })
    });
}

criterion_group!(
    benches,
    render_examples,
    buffer_under_load,
    buffer_during_fade,
    eval_to_audible,
    events_1000_reverse,
    load_meter_64_frames
);
criterion_main!(benches);
