//! What Extempore's example programs (`examples/core/*.xtm` of digego/extempore) do,
//! written here in zonal's own words and listened to: an instrument made in xtlang by
//! `(make_instrument (KIND_note) (KIND_fx))`, held by a `bind-val`, handed to Scheme by
//! `$$` and played there with `play-note` and `play`, at its kind's default parameters.
//! The programs themselves run unchanged under `benches/extempore/examples.sh`.

mod common;

use common::{RATE, channel, onsets, render_source, rms};
use zonal_engine::session::{Session, SessionConfig};
use zonal_engine::testing::analysis::peak_frequency;

const FS: f64 = RATE as f64;

fn pitch(x: &[f32], from: f64, to: f64) -> f64 {
    let seg: Vec<f64> = x[(from * FS) as usize..(to * FS) as usize]
        .iter()
        .map(|v| f64::from(*v))
        .collect();
    peak_frequency(&seg, FS).expect("a pitch")
}

fn left(src: &str, seconds: f64) -> Vec<f32> {
    let r = render_source(src, seconds);
    assert_eq!(r.summary.failures, 0, "the render reported failures");
    channel(&r.samples, 2, 0)
}

/// An instrument of the kind `kind` made in xtlang, as Extempore's topclock and
/// scheduler examples make theirs, playing the dsp.
fn xtlang_instrument(kind: &str) -> String {
    format!(
        r#"(sys:load "libs/core/instruments.xtm")
(bind-val inst INSTRUMENT (make_instrument ({kind}_note) ({kind}_fx)))
(define inst ($$ inst))
(bind-func dsp:DSP
  (lambda (in time chan dat)
    (if (< chan 2) (inst in time chan dat) 0.0)))
(dsp:set! dsp)
"#
    )
}

#[test]
fn an_instrument_made_in_xtlang_plays_from_scheme_at_its_pitch() {
    let src = format!(
        "{}(play-note 4800 inst 69 100 24000)\n(play-note 38400 inst 57 100 24000)",
        xtlang_instrument("fmsynth")
    );
    let x = left(&src, 1.5);
    assert!(
        rms(&x, 0, 4800) < 1e-6,
        "silent before the first note's sample"
    );
    let on = onsets(&x, 0.01, 4800);
    assert!(
        on.first().is_some_and(|&s| (4800..4900).contains(&s)),
        "{on:?}"
    );
    // the fmsynth's default index and ratio keep the carrier the loudest partial
    let a = pitch(&x, 0.2, 0.55);
    let b = pitch(&x, 0.9, 1.25);
    assert!((a - 440.0).abs() < 3.0, "first note at A4: {a:.1}");
    assert!((b - 220.0).abs() < 3.0, "second note at A3: {b:.1}");
}

/// A made-in-xtlang instrument starts at its kind's defaults the first time Scheme
/// plays it: a synth whose gain, cutoff and envelope were all 0 would be silent.
#[test]
fn an_instrument_made_in_xtlang_starts_at_its_kinds_default_parameters() {
    // analogue's default gain is Extempore's, 2.0
    for (kind, gain) in [("synth", "1.0"), ("analogue", "2.0"), ("drums", "1.0")] {
        let src = format!(
            "{}(play-note 0 inst 60 110 24000)\n(define got (get-instrument-param inst 'gain))\n(if (not (= got {gain})) (error \"gain\" got))",
            xtlang_instrument(kind)
        );
        let x = left(&src, 0.5);
        assert!(rms(&x, 0, 12000) > 0.01, "{kind} sounds");
    }
}

/// Extempore's `play` in a beat loop, on an instrument Scheme got from `$$`: each
/// note on its beat's sample.
#[test]
fn play_on_an_xtlang_instrument_lands_on_the_beat() {
    let src = format!(
        r#"{}(*metro* 'set-tempo 120)
(define loop
  (lambda (beat dur)
    (play inst 60 80 (* dur .2))
    (callback (*metro* (+ beat (* .5 dur))) 'loop (+ beat dur) dur)))
(loop (*metro* 'get-beat 1) 1)"#,
        xtlang_instrument("fmsynth")
    );
    let r = render_source(&src, 2.2);
    assert_eq!(r.summary.failures, 0);
    let x = channel(&r.samples, 2, 0);
    let on = onsets(&x, 0.01, 4800);
    assert!(on.len() >= 4, "{on:?}");
    // 120 bpm at 48 kHz: a beat every 24,000 samples (the onset detector sees the
    // fmsynth's attack a few samples after each note's start)
    for (i, &o) in on.iter().take(4).enumerate() {
        let beat = 24_000 * (i + 1);
        assert!((beat..beat + 64).contains(&o), "{on:?}");
    }
}

/// A number that is no instrument's closure is an error naming play-note's problem,
/// not a call through it.
#[test]
fn a_number_that_is_no_instrument_is_refused() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    s.eval_source(&xtlang_instrument("synth"), "test.xtm")
        .unwrap();
    let e = s
        .eval_source("(play-note 0 12345 60 100 100)", "test.xtm")
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("play-note: 12345 is not the address of an instrument"),
        "{e}"
    );
    s.eval_source("(play-note 0 inst 60 100 100)", "test.xtm")
        .unwrap();
}

/// Extempore's audio_101 starts with a dsp of `(random .2)`: xtlang's random of one
/// argument is uniform in [0, x), of x's type (a SAMPLE here), and Scheme's random
/// stays Scheme's.
#[test]
fn xtlang_random_of_one_argument_is_uniform_below_it() {
    let src = r#"(bind-func dsp:DSP
  (lambda (in:SAMPLE time:i64 channel:i64 data:SAMPLE*)
    (random .2)))
(dsp:set! dsp)
(bind-func random_double (lambda (x:double) (random x)))
(if (not (< -0.001 (random_double 3.0) 3.0)) (error "random of a double"))
(if (not (member (random '(1 2 3)) '(1 2 3))) (error "Scheme's random"))"#;
    let x = left(src, 1.0);
    let max = x.iter().fold(0.0f32, |m, v| m.max(*v));
    let min = x.iter().fold(1.0f32, |m, v| m.min(*v));
    assert!(min >= 0.0 && max < 0.2 && max > 0.199, "{min} .. {max}");
    // uniform on [0, 0.2): its RMS is 0.2 / sqrt(3)
    let r = rms(&x, 0, x.len());
    assert!((r - 0.2 / 3f64.sqrt()).abs() < 0.002, "{r}");
}

/// Extempore's audio_101 binds a variable named `inc`, which base.xtm also names
/// as an xtlang macro: a let's names and a lambda's parameters are no macro uses
/// (it used to fail: "xtmacro_inc wants 2 arguments but got 1").
#[test]
fn a_let_binding_named_as_a_macro_binds_a_variable() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    s.eval_source(
        r#"(sys:load "libs/base/base.xtm")
(bind-func step (lambda (freq:float) (let ((inc (* 2.0 freq))) inc)))
(bind-func twice (lambda (inc:i64) (* 2 inc)))"#,
        "t.xtm",
    )
    .unwrap();
    assert_eq!(s.eval_source("($ (step 2.0))", "t.xtm").unwrap(), "4.0");
    assert_eq!(s.eval_source("($ (twice 3))", "t.xtm").unwrap(), "6");
    // the macro itself still expands where it is called
    s.eval_source(
        "(bind-func bump (lambda () (let ((x 1)) (inc x 2) x)))",
        "t.xtm",
    )
    .unwrap();
    assert_eq!(s.eval_source("($ (bump))", "t.xtm").unwrap(), "3");
}
