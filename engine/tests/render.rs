//! The audio path end to end: offline render through the real process function,
//! sample-accurate events, determinism, hot swap without allocation, zones.

mod common;

use common::{channel, render_source};
use zonal_engine::render::render_session;
use zonal_engine::session::Session;

#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

const CLICK: &str = r#"
(bind-val armed i64 0)
(bind-func trigger (lambda () (set! armed 1) void))
(bind-func dsp:DSP
  (lambda (in time chan dat)
    (if (= armed 1)
        (begin (if (= chan 1) (set! armed 0)) (dtof 1.0))
        (dtof 0.0))))
(dsp:set! dsp)
(callback 12345 'trigger)
"#;

#[test]
fn a_scheduled_click_lands_on_its_sample() {
    let r = render_source(CLICK, 0.5);
    let left = channel(&r.samples, 2, 0);
    let right = channel(&r.samples, 2, 1);
    let hits: Vec<usize> = (0..left.len()).filter(|&i| left[i] != 0.0).collect();
    assert_eq!(hits, vec![12_345]);
    assert_eq!(right[12_345], 1.0);
    assert_eq!(assert_no_alloc::violation_count(), 0);
}

#[test]
fn renders_are_byte_identical() {
    let a = render_source(CLICK, 0.4);
    let b = render_source(CLICK, 0.4);
    let bits = |r: &zonal_engine::render::Rendered| -> Vec<u32> {
        r.samples.iter().map(|s| s.to_bits()).collect()
    };
    assert_eq!(bits(&a), bits(&b));
}

const REDEFINE: &str = r#"
(bind-func gain (lambda () 0.0))
(bind-func dsp:DSP
  (lambda (in time chan dat)
    (dtof (* (gain) (sin (/ (* 6.283185307179586 440.0 (i64tod time)) 48000.0))))))
(dsp:set! dsp)
(define redefine
  (lambda (n)
    (when (< n 1000)
      (eval `(bind-func gain (lambda () ,(/ (exact->inexact n) 2000.0))))
      (callback (+ (now) 64) 'redefine (+ n 1)))))
(redefine 1)
"#;

#[test]
fn a_thousand_redefinitions_while_playing_allocate_nothing_and_free_everything() {
    let cfg = common::config(1000.0 * 64.0 / 48_000.0 + 0.1);
    let (mut session, processor) = Session::with_audio(&cfg.session).unwrap();
    session.eval_source(REDEFINE, "redefine.xtm").unwrap();
    let r = render_session(&mut session, processor, &cfg).unwrap();
    assert_eq!(r.summary.failures, 0);
    assert_eq!(assert_no_alloc::violation_count(), 0);
    let stats = session.stats();
    assert_eq!(
        stats
            .lost_returns
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    // The gain grew with every redefinition: the last buffers are loud, the first quiet.
    let left = channel(&r.samples, 2, 0);
    assert!(common::rms(&left, 0, 64) < 0.001);
    assert!(common::rms(&left, left.len() - 4800, 4800) > 0.3);
    // Everything retired came back and was freed: what is alive after 1,000
    // redefinitions is what is alive after 2.
    let live = session.dsp_live();
    let (mut fresh, processor) = Session::with_audio(&cfg.session).unwrap();
    fresh
        .eval_source(&REDEFINE.replace("(< n 1000)", "(< n 3)"), "baseline.xtm")
        .unwrap();
    render_session(&mut fresh, processor, &common::config(0.05)).unwrap();
    let baseline = fresh.dsp_live();
    assert_eq!(live.closures, baseline.closures);
    assert_eq!(live.zones, baseline.zones);
    assert_eq!(live.code_blocks, baseline.code_blocks);
    assert_eq!(live.fault_sites, baseline.fault_sites);
}

#[test]
fn the_audio_zone_is_reset_every_buffer() {
    let src = r#"
(bind-func dsp:DSP
  (lambda (in time chan dat)
    (let ((scratch:float* (zalloc 16)))
      (pset! scratch 0 (dtof 0.25))
      (pref scratch 0))))
(dsp:set! dsp)
"#;
    let r = render_source(src, 1.0);
    assert!(r.samples.iter().all(|s| *s == 0.25));
    let cfg = common::config(1.0);
    let (mut session, processor) = Session::with_audio(&cfg.session).unwrap();
    session.eval_source(src, "zone.xtm").unwrap();
    render_session(&mut session, processor, &cfg).unwrap();
    let high = session
        .stats()
        .audio_zone_high_water
        .load(std::sync::atomic::Ordering::Relaxed);
    // One buffer: 64 frames x 2 channels x 64 bytes; a zone that was never reset would
    // have needed 750 times as much for one second.
    assert!(high >= 64 * 2 * 64, "high-water mark {high}");
    assert!(high <= 2 * 64 * 2 * 64, "high-water mark {high}");
}

#[test]
fn a_faulting_dsp_is_stopped_and_reported_and_the_session_goes_on() {
    let src = r#"
(bind-func dsp:DSP
  (lambda (in time chan dat)
    (let ((p:float* null))
      (if (> time 4800) (pref p 0) (dtof 0.5)))))
(dsp:set! dsp)
"#;
    let r = render_source(src, 0.2);
    let left = channel(&r.samples, 2, 0);
    assert!(left[..4800].iter().all(|s| *s == 0.5));
    assert!(left[4802..].iter().all(|s| *s == 0.0));
    assert_eq!(r.summary.failures, 1);
}

#[test]
fn everything_one_evaluation_defines_swaps_at_the_same_buffer() {
    // a and b always change together; dsp plays (a) - (b) on the left and (a) on the
    // right. A buffer that saw one new and one old would leave a trace on the left.
    let src = r#"
(bind-func a (lambda () 0.0))
(bind-func b (lambda () 0.0))
(bind-func dsp:DSP
  (lambda (in time chan dat)
    (if (= chan 0) (dtof (- (a) (b))) (dtof (a)))))
(dsp:set! dsp)
(define step
  (lambda (k)
    (when (< k 200)
      (eval `(begin (bind-func a (lambda () ,(/ (exact->inexact k) 400.0)))
                    (bind-func b (lambda () ,(/ (exact->inexact k) 400.0)))))
      (callback (+ (now) 77) 'step (+ k 1)))))
(step 1)
"#;
    let r = render_source(src, 0.4);
    let left = channel(&r.samples, 2, 0);
    let right = channel(&r.samples, 2, 1);
    assert!(left.iter().all(|s| *s == 0.0));
    let distinct: std::collections::BTreeSet<u32> = right.iter().map(|s| s.to_bits()).collect();
    assert!(distinct.len() > 150, "only {} values", distinct.len());
    // Changes land on buffer boundaries (64 frames).
    for i in 1..right.len() {
        if right[i] != right[i - 1] {
            assert_eq!(i % 64, 0, "changed at {i}");
        }
    }
}

#[test]
fn the_output_guard_silences_nan_and_clamps() {
    let src = r#"
(bind-func dsp:DSP
  (lambda (in time chan dat)
    (cond ((< time 100) (dtof (/ 0.0 0.0)))
          ((< time 200) (dtof 10.0))
          (else (dtof -10.0)))))
(dsp:set! dsp)
"#;
    let cfg = common::config(0.01);
    let (mut session, processor) = Session::with_audio(&cfg.session).unwrap();
    session.eval_source(src, "guard.xtm").unwrap();
    let r = render_session(&mut session, processor, &cfg).unwrap();
    let left = channel(&r.samples, 2, 0);
    assert!(left[..100].iter().all(|s| *s == 0.0));
    assert!(left[100..200].iter().all(|s| *s == 1.0));
    assert!(left[200..].iter().all(|s| *s == -1.0));
    let non_finite = session
        .stats()
        .non_finite
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(non_finite, 200);
    // the summary: what was clamped is clipped, what was silenced is not
    assert_eq!(r.summary.frames, 480);
    assert_eq!(r.summary.clipped, 2 * 380);
    assert_eq!(r.summary.peak, 1.0);
    let rms = (760.0f64 / 960.0).sqrt() as f32;
    assert!((r.summary.rms - rms).abs() < 1e-6, "{}", r.summary.rms);
}

#[test]
fn the_process_function_writes_every_sample_whatever_the_buffer_held() {
    // The offline renderer hands the process function last second's stretch again,
    // uncleared: nothing of it may remain, whatever plays (or does not).
    let cases = [
        ("", [0.0, 0.0]),
        (
            "(bind-func dsp:DSP (lambda (in time chan dat) 0.25)) (dsp:set! dsp)",
            [0.25, 0.25],
        ),
        // a per-buffer entry that writes only the left channel
        (
            "(bind-func dsp:DSPMC (lambda (in out time dat)
               (dotimes (f FRAMES) (pset! out (* f CHANNELS) 0.5)) void))
             (dsp:set! dsp)",
            [0.5, 0.0],
        ),
        // an entry that faults in its first call, with nothing to fall back to
        (
            "(bind-func dsp:DSP (lambda (in time chan dat)
               (let ((p:float* (zalloc 1))) (pref p 1000000))))
             (dsp:set! dsp)",
            [0.0, 0.0],
        ),
    ];
    for (src, [left, right]) in cases {
        let cfg = common::config(0.01);
        let (mut session, mut processor) = Session::with_audio(&cfg.session).unwrap();
        session.eval_source(src, "stale.xtm").unwrap();
        let mut out = vec![f32::NAN; 3 * 64 * 2 + 1];
        processor.process_buffers(&mut out, 64);
        let (frames, tail) = out.split_at(3 * 64 * 2);
        assert_eq!(channel(frames, 2, 0), vec![left; 3 * 64], "{src}");
        assert_eq!(channel(frames, 2, 1), vec![right; 3 * 64], "{src}");
        assert_eq!(tail, [0.0], "{src}");
    }
    assert_eq!(assert_no_alloc::violation_count(), 0);
}

#[test]
fn the_output_guard_and_the_levels_see_every_segment_of_a_buffer_split_by_an_event() {
    // the event at 105 splits the second buffer (64..128) in the middle of the loud part
    let src = r#"
(bind-func noop (lambda () void))
(bind-func dsp:DSP
  (lambda (in time chan dat)
    (if (and (>= time 100) (< time 110)) (dtof 2.0) (dtof 0.5))))
(dsp:set! dsp)
(callback 105 'noop)
"#;
    let r = render_source(src, 0.01);
    let left = channel(&r.samples, 2, 0);
    for (i, s) in left.iter().enumerate() {
        let want = if (100..110).contains(&i) { 1.0 } else { 0.5 };
        assert_eq!(*s, want, "sample {i}");
    }
    assert_eq!(r.summary.failures, 0);
    assert_eq!(r.summary.clipped, 2 * 10);
    assert_eq!(r.summary.peak, 1.0);
    let rms = ((20.0 + 940.0 * 0.25) / 960.0f64).sqrt() as f32;
    assert!((r.summary.rms - rms).abs() < 1e-6, "{}", r.summary.rms);
}

#[test]
fn per_buffer_and_per_sample_entries_render_the_same() {
    let per_sample = r#"
(bind-func dsp:DSP
  (lambda (in time chan dat)
    (dtof (* (if (= chan 0) 0.5 0.25)
             (sin (/ (* 6.283185307179586 330.0 (i64tod time)) 48000.0))))))
(dsp:set! dsp)
"#;
    let per_buffer = r#"
(bind-func dsp:DSPMC
  (lambda (in out time dat)
    (dotimes (f FRAMES)
      (dotimes (c CHANNELS)
        (pset! out (+ (* f CHANNELS) c)
               (dtof (* (if (= c 0) 0.5 0.25)
                        (sin (/ (* 6.283185307179586 330.0 (i64tod (+ time f))) 48000.0)))))))
    void))
(dsp:set! dsp)
"#;
    let a = render_source(per_sample, 0.25);
    let b = render_source(per_buffer, 0.25);
    assert!(a.summary.peak > 0.49);
    assert_eq!(a.samples, b.samples);
}

#[test]
fn a_dsp_loop_that_never_ends_is_stopped_by_the_watchdog() {
    let src = r#"
(bind-func dsp:DSP
  (lambda (in time chan dat)
    (let ((n:i64 0))
      (if (> time 960) (while (>= n 0) (set! n (+ n 1))))
      (dtof 0.5))))
(dsp:set! dsp)
"#;
    let started = std::time::Instant::now();
    let r = render_source(src, 0.1);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let left = channel(&r.samples, 2, 0);
    assert!(left[..960].iter().all(|s| *s == 0.5));
    assert!(left[1024..].iter().all(|s| *s == 0.0));
    assert_eq!(r.summary.failures, 1);
}

#[test]
fn subnormal_results_in_dsp_code_are_flushed_to_zero() {
    // 1e-30 * 1e-10 is subnormal in single precision: flushed, it stays 0 when scaled
    // back up (unflushed it would be 1e-10); a normal product is kept.
    let src = |a: i32| {
        format!(
            "(bind-func dsp:DSP
               (lambda (in:SAMPLE time:i64 chan:i64 dat:SAMPLE*)
                 (* (* (pow 10.0 {a}.0) (pow 10.0 -10.0)) (pow 10.0 30.0))))
             (dsp:set! dsp)"
        )
    };
    let flushed = render_source(&src(-30), 0.01);
    assert_eq!(flushed.samples[0], 0.0);
    let kept = render_source(&src(-21), 0.01);
    assert!((kept.samples[0] - 0.1).abs() < 1e-6, "{}", kept.samples[0]);
}

/// Page faults this thread has taken so far.
fn minor_faults() -> i64 {
    // SAFETY: an all-zero rusage is a valid value to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage; RUSAGE_THREAD is Linux's.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0, "getrusage: {}", std::io::Error::last_os_error());
    usage.ru_minflt
}

#[test]
fn an_offline_session_commits_its_audio_memory_only_as_it_uses_it() {
    let cfg = zonal_engine::session::SessionConfig {
        workers: 0,
        ..Default::default()
    };
    // made on this thread: the pages its audio context touches are this thread's faults
    let before = minor_faults();
    let offline = Session::offline(&cfg).unwrap();
    let offline_faults = minor_faults() - before;
    let before = minor_faults();
    let live = Session::with_audio(&cfg).unwrap();
    let live_faults = minor_faults() - before;
    // a device's context commits its audio zone, reserve, heap and stack (over 20 MB,
    // 5,000 pages and more) before it plays; an offline one leaves them to first use
    assert!(
        live_faults > offline_faults + 4_000,
        "live session {live_faults} page faults, offline {offline_faults}"
    );
    drop((offline, live));
}
