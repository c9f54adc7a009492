//! Frame loops (`lower/frame_loop.rs`): a per-sample DSP closure run over a stretch of
//! frames by one call of its frame loop gives, bit for bit, what one call per frame and
//! channel gives: for float and double samples, a body that calls nothing (its captured
//! values read once for the stretch) and one that calls another closure, with `salloc`,
//! `(now)`, the channel and the DSP-visible frame. A fault ends the stretch at its own
//! sample, with the samples before it written.

mod common;
use common::setup_with;
use zonal_dsp::{AudioCtx, Dsp, Entry};

/// A `Dsp` that keeps its machine code, with `src` defined, its audio context, and entry
/// `name`.
fn setup(src: &str, name: &str) -> (Dsp, AudioCtx, Entry) {
    let (dsp, ctx) = setup_with(src, true);
    let e = dsp.entry(name).expect("entry");
    (dsp, ctx, e)
}

/// Interleaved stereo input: two different signals.
fn input(frames: usize) -> Vec<f32> {
    input_of(frames, 2)
}

/// Interleaved input of `channels` different signals.
fn input_of(frames: usize, channels: usize) -> Vec<f32> {
    let mut s = 987_654_321u32;
    (0..frames * channels)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

/// `src`'s entry `name` over `frames` stereo frames, in stretches of 64 through the frame
/// loop and one frame at a time through the per-sample calls; both results.
fn both_ways(src: &str, name: &str, frames: usize) -> (Vec<f32>, Vec<f32>) {
    both_ways_of(src, name, frames, 2)
}

/// [`both_ways`] with `channels` channels.
fn both_ways_of(src: &str, name: &str, frames: usize, channels: usize) -> (Vec<f32>, Vec<f32>) {
    let x = input_of(frames, channels);
    let (dsp, mut ctx, e) = setup(src, name);
    assert!(
        dsp.machine_code().contains("(frame loop)"),
        "the closure has a frame loop"
    );
    let mut looped = vec![0.0f32; frames * channels];
    let stretch = 64 * channels;
    for (k, (out, inp)) in looped
        .chunks_mut(stretch)
        .zip(x.chunks(stretch))
        .enumerate()
    {
        let n = out.len() / channels;
        ctx.run_buffer(e, inp, out, n, channels, (k * 64) as i64)
            .expect("no fault");
        ctx.end_buffer();
    }
    let (_dsp, mut ctx, e) = setup(src, name);
    let mut called = vec![0.0f32; frames * channels];
    for (t, (out, inp)) in called
        .chunks_mut(channels)
        .zip(x.chunks(channels))
        .enumerate()
    {
        ctx.run_sample(e, inp, t as i64, out).expect("no fault");
        ctx.end_buffer();
    }
    (looped, called)
}

fn assert_bits(looped: &[f32], called: &[f32]) {
    for (i, (a, b)) in looped.iter().zip(called).enumerate() {
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "sample {i}: frame loop {a}, per-sample calls {b}"
        );
    }
}

#[test]
fn a_leaf_body_loops_as_it_is_called() {
    // state, the input, the channel, the time and the frame (the other channel's input)
    let src = "(bind-func leaf:DSP 4096
                 (let ((y:float 0.0) (buf:float* (zalloc 16)) (i:i64 0) (n:i64 16))
                   (lambda (in time chan dat)
                     (if (= chan 0)
                         (begin
                           (dotimes (i n) (pset! buf i (+ (pref buf i) (* in (i64tof i)))))
                           (set! y (+ y (* 0.25 (- (pref dat 1) y))))
                           (+ y (* 0.001 (i64tof (% time 100)))))
                         (- in (pref buf (% time n)))))))";
    let (looped, called) = both_ways(src, "leaf", 300);
    assert!(looped.iter().any(|x| *x != 0.0));
    assert_bits(&looped, &called);
}

#[test]
fn mono_and_three_channels_loop_as_they_are_called() {
    // the channel, the time and the frame's other samples, over stretches that end
    // part-way (100 frames: 64, then 36)
    let src = "(bind-func chans:DSP 4096
                 (let ((y:float 0.0))
                   (lambda (in time chan dat)
                     (set! y (+ (* 0.5 y) in (* 0.01 (i64tof chan)) (pref dat 0)))
                     (+ y (* 0.001 (i64tof (% time 50)))))))";
    for channels in [1, 3] {
        let (looped, called) = both_ways_of(src, "chans", 100, channels);
        assert!(looped.iter().any(|x| *x != 0.0));
        assert_bits(&looped, &called);
    }
}

#[test]
fn a_body_that_calls_and_sallocs_loops_as_it_is_called() {
    let src = "(bind-func gain (lambda (x:double k:double) (* x k)))
               (bind-func caller 4096
                 (let ((acc:double 0.0))
                   (lambda (in:double time:i64 chan:i64 dat:double*)
                     (let ((tmp:double* (salloc 4)))
                       (pset! tmp 0 (gain in (+ 1.0 (i64tod chan))))
                       (set! acc (+ (* 0.5 acc) (pref tmp 0) (pref dat 0)))
                       (+ acc (i64tod (now)))))))";
    let (looped, called) = both_ways(src, "caller", 200);
    assert!(looped.iter().any(|x| *x != 0.0));
    assert_bits(&looped, &called);
}

#[test]
fn a_fault_ends_the_stretch_at_its_own_sample() {
    let src = "(bind-func late:DSP
                 (lambda (in time chan dat)
                   (let ((p:float* null))
                     (if (and (= time 37) (= chan 1)) (pref p 3) (i64tof time)))))";
    let (dsp, mut ctx, e) = setup(src, "late");
    let x = input(64);
    let mut out = vec![-1.0f32; 128];
    let f = ctx.run_buffer(e, &x, &mut out, 64, 2, 0).unwrap_err();
    assert_eq!(f.time(), Some(37));
    let text = dsp.describe_fault(f);
    assert!(text.contains("(pref)"), "{text}");
    // every call before the faulting one wrote its sample; none after it ran
    for (i, o) in out.iter().enumerate() {
        let want = if i < 75 { (i / 2) as f32 } else { -1.0 };
        assert_eq!(*o, want, "sample {i}");
    }
    // the next buffer runs again
    ctx.end_buffer();
    let mut out = vec![0.0f32; 8];
    ctx.run_buffer(e, &x[..8], &mut out, 4, 2, 100)
        .expect("runs again");
    assert_eq!(out[0], 100.0);
}

#[test]
fn a_runaway_loop_in_a_stretch_is_interrupted() {
    use std::sync::atomic::Ordering;
    let src = "(bind-func hang:DSP
                 (lambda (in time chan dat)
                   (let ((i 0))
                     (if (= time 5) (dotimes (i 1000000000000) (set! in (+ in 1.0))))
                     in)))";
    let (dsp, mut ctx, e) = setup(src, "hang");
    let handle = ctx.interrupt_handle();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        handle.store(true, Ordering::Relaxed);
    });
    let x = input(16);
    let mut out = vec![0.0f32; 32];
    let f = ctx.run_buffer(e, &x, &mut out, 16, 2, 0).unwrap_err();
    setter.join().expect("setter");
    assert!(f.interrupted());
    assert_eq!(f.time(), Some(5));
    assert!(dsp.describe_fault(f).contains("in closure hang"));
    assert_eq!(
        out[..10],
        x[..10],
        "the frames before the runaway one played"
    );
}

#[test]
fn a_body_that_sets_its_own_closure_variable_sees_it_in_the_next_call() {
    // `k` is read-only in the body, but `(c.k 5.0)` through a global holding the closure
    // itself writes its slot: the next call must read the new value, in the same stretch
    let src = "(bind-val selfclo [float,float,i64,i64,float*]*)
               (bind-func selfset:DSP 4096
                 (let ((k:float 1.0))
                   (lambda (in time chan dat)
                     (let ((c selfclo))
                       (if (= time 3) (c.k:float 5.0)))
                     k)))
               (bind-func point (lambda () (set! selfclo selfset) void))";
    let x = input(8);
    let mut runs = Vec::new();
    for looped in [true, false] {
        let (mut dsp, mut ctx, e) = setup(src, "selfset");
        dsp.call("point", &[])
            .expect("points the global at the closure");
        let mut out = vec![0.0f32; 16];
        if looped {
            ctx.run_buffer(e, &x, &mut out, 8, 2, 0).expect("no fault");
        } else {
            for (t, (o, i)) in out.chunks_mut(2).zip(x.chunks(2)).enumerate() {
                ctx.run_sample(e, i, t as i64, o).expect("no fault");
            }
        }
        runs.push(out);
    }
    assert_eq!(runs[0][8], 5.0, "{:?}", runs[0]);
    assert_bits(&runs[0], &runs[1]);
}
