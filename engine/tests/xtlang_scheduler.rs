//! Extempore's xtlang schedulers (`libs/core/scheduler.xtm`): `beat_scheduler` and
//! `clock_scheduler` tick on the audio thread, and the events `sched` gives them land
//! on the exact sample of their beat or second, across a tempo change set with
//! `(bs.bpm ...)`; the pieces they stand on — xtlang's `(now)`, a bare `Rational` read
//! as `Rational*`, `clo.var` on a closure a `bind-val` holds, `xtm_play_note` — each
//! tested by what they do. The audio path runs under `assert_no_alloc`: a tick, an
//! event and `sched` allocate nothing there.

mod common;

#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

use common::{channel, onsets, render_source};
use zonal_engine::session::{Session, SessionConfig};

/// A click on the sample each `(strike)` lands on, both channels.
const CLICKS: &str = r#"(sys:load "libs/core/scheduler.xtm")
(bind-func dsp:DSP
  (let ((hit 0.0))
    (lambda (in time chan dat)
      (let ((o hit))
        (if (= chan 1) (set! hit 0.0))
        (dtof o)))))
(bind-func strike (lambda () (dsp.hit 1.0) void))
(dsp:set! dsp)
"#;

fn clicks(src: &str, seconds: f64) -> Vec<usize> {
    let r = render_source(&format!("{CLICKS}{src}"), seconds);
    assert_eq!(r.summary.failures, 0, "the render reported failures");
    assert_eq!(
        assert_no_alloc::violation_count(),
        0,
        "the audio path allocated"
    );
    onsets(&channel(&r.samples, 2, 0), 0.5, 1)
}

#[test]
fn beat_events_land_on_the_sample_of_their_beat_across_a_tempo_change() {
    let got = clicks(
        r#"(bind-val bs [void]* (beat_scheduler 120.0 100.0))
(bind-func on_beat
  (lambda (beat:Rational)
    (strike)
    (if (= beat (Rat 5 1)) (bs.bpm 240.0))
    (sched bs (+ beat (Rat 1 1)) on_beat:[void,Rational]*)
    void))
($ (sched bs (Rat 2 1) on_beat:[void,Rational]*))"#,
        3.1,
    );
    // beat 1 is sample 0; 120 bpm is 24,000 samples a beat, then from beat 5
    // (sample 96,000) 240 bpm, 12,000
    assert_eq!(
        got,
        vec![
            24_000, 48_000, 72_000, 96_000, 108_000, 120_000, 132_000, 144_000
        ]
    );
}

/// `(bs.bpm ...)` from Scheme, at a time between beats: the next tick carries the beat
/// on from where it was, and the waiting event moves to its beat's new sample.
#[test]
fn a_tempo_change_from_scheme_keeps_the_beat_where_it_was() {
    let got = clicks(
        r#"(bind-val bs [void]* (beat_scheduler 120.0 100.0))
(bind-func on_beat
  (lambda (beat:Rational)
    (strike)
    (sched bs (+ beat (Rat 1 1)) on_beat:[void,Rational]*)
    void))
($ (sched bs (Rat 2 1) on_beat:[void,Rational]*))
(callback 60000 (lambda () ($ (bs.bpm 240.0))))"#,
        2.0,
    );
    // at sample 60,000 the beat is 3.5; from there a beat is 12,000 samples
    assert_eq!(got, vec![24_000, 48_000, 66_000, 78_000, 90_000]);
}

/// `(bs.running 0)` stops the ticks, and calling the scheduler starts them again,
/// one chain of them, on the same beat clock.
#[test]
fn a_stopped_scheduler_starts_again_when_called() {
    let got = clicks(
        r#"(bind-val bs [void]* (beat_scheduler 120.0 100.0))
(bind-func on_beat
  (lambda (beat:Rational)
    (strike)
    (sched bs (+ beat (Rat 1 1)) on_beat:[void,Rational]*)
    void))
($ (sched bs (Rat 2 1) on_beat:[void,Rational]*))
(callback 60000 (lambda () ($ (bs.running 0))))
(callback 100000 (lambda () ($ (bs))))"#,
        3.1,
    );
    let before: Vec<usize> = got.iter().copied().filter(|&t| t < 100_000).collect();
    assert_eq!(before, vec![24_000, 48_000], "{got:?}");
    // beats 4 and 5, missed, run at the restart; beat 6 on its sample again (one
    // click per beat: a second chain would not add clicks, but the sample would move)
    let after: Vec<usize> = got.iter().copied().filter(|&t| t >= 110_000).collect();
    assert_eq!(after, vec![120_000, 144_000], "{got:?}");
}

#[test]
fn clock_events_land_on_the_sample_of_their_second() {
    let got = clicks(
        r#"(bind-val cs [void]* (clock_scheduler 200.0))
(bind-func on_time
  (lambda (time:double)
    (strike)
    (if (< time 1.2) (sched cs (+ time 0.25) on_time:[void,double]*))
    void))
($ (sched cs 0.5 on_time:[void,double]*))"#,
        2.0,
    );
    assert_eq!(got, vec![24_000, 36_000, 48_000, 60_000]);
}

/// `xtm_play_note` at `(now)` from a scheduled event: an fmsynth made in xtlang (at
/// its kind's defaults, though Scheme never played it) sounds from the beat's sample.
#[test]
fn notes_played_by_scheduled_events_start_on_their_beats() {
    let src = r#"(sys:load "libs/core/scheduler.xtm")
(sys:load "libs/core/instruments.xtm")
(bind-val synth INSTRUMENT (make_instrument (fmsynth_note) (fmsynth_fx)))
(bind-func dsp:DSP (lambda (in time chan dat) (synth in time chan dat)))
(dsp:set! dsp)
(bind-val bs [void]* (beat_scheduler 120.0 100.0))
(bind-func play_beat
  (lambda (beat:Rational)
    (xtm_play_note (now) synth 440.0 0.5 2400 0 null)
    (sched bs (+ beat (Rat 1 1)) play_beat:[void,Rational]*)
    void))
($ (sched bs (Rat 2 1) play_beat:[void,Rational]*))"#;
    let r = render_source(src, 2.2);
    assert_eq!(r.summary.failures, 0);
    assert_eq!(
        assert_no_alloc::violation_count(),
        0,
        "the audio path allocated"
    );
    let x = channel(&r.samples, 2, 0);
    let on = onsets(&x, 0.01, 4800);
    assert_eq!(on.len(), 4, "{on:?}");
    for (i, &o) in on.iter().enumerate() {
        // the fmsynth's attack reaches the detector's level a few samples in
        let beat = 24_000 * (i + 1);
        assert!((beat..beat + 64).contains(&o), "{on:?}");
    }
}

/// The language pieces the schedulers use, as Extempore's programs write them.
#[test]
fn rationals_annotated_bare_and_closures_held_by_a_bind_val_work_as_in_extempore() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    let mut eval = |src: &str| s.eval_source(src, "t.xtm").unwrap();
    eval(r#"(sys:load "libs/core/rational.xtm")"#);
    // a bare Rational is the Rational* zonal handles them by
    eval("(bind-func half_more (lambda (b:Rational) (rtod (+ b (Rat 1 2)))))");
    assert_eq!(eval("($ (half_more (Rat 1 4)))"), "0.75");
    // clo.var on a closure a bind-val holds, typed by annotation, value or use
    eval(
        "(bind-func counter (lambda () (let ((n 0) (b:Rational (Rat 1 1))) (lambda () (set! n (+ n 1)) (set! b (+ b (Rat 1 2))) void))))",
    );
    eval("(bind-val c [void]* (counter))");
    eval("($ (c))");
    assert_eq!(eval("($ (c.n:i64))"), "1");
    eval("($ (c.n 5))");
    assert_eq!(eval("($ (+ 1 (c.n)))"), "6");
    assert_eq!(eval("($ (rtod (c.b)))"), "1.5");
    let e = s
        .eval_source(
            "(bind-val k i64 3) (bind-func bad (lambda () (k.n:i64)))",
            "t.xtm",
        )
        .unwrap_err();
    assert!(e.message.contains("k.n: k is i64, not a closure"), "{e}");
}
