//! `*metro*` and `make-metro`, the beat clock every session has: notes scheduled on
//! beats land on the exact sample of their beat, before and after a tempo change, and
//! the clock's answers follow Extempore's.

mod common;

use common::{channel, onsets, render_source};
use zonal_engine::session::{Session, SessionConfig};

/// A click on the sample each `(strike)` event lands on, both channels.
const CLICKS: &str = "
(bind-func dsp:DSP
  (let ((hit 0.0))
    (lambda (in time chan dat)
      (let ((o hit))
        (if (= chan 1) (set! hit 0.0))
        (dtof o)))))
(bind-func strike (lambda () (dsp.hit 1.0) void))
(dsp:set! dsp)
";

#[test]
fn notes_land_on_the_sample_of_their_beat_across_a_tempo_change() {
    let src = format!(
        "{CLICKS}
(define (on-beat b)
  (strike)
  (if (= b 4) (*metro* 'set-tempo 60))
  (callback (*metro* (+ b 1)) 'on-beat (+ b 1)))
(callback (*metro* 0) 'on-beat 0)"
    );
    let r = render_source(&src, 4.5);
    assert_eq!(r.summary.failures, 0);
    let left: Vec<f32> = channel(&r.samples, 2, 0);
    // 120 BPM: a beat every 24,000 samples; from beat 4 (sample 96,000) 60 BPM
    assert_eq!(
        onsets(&left, 0.5, 1),
        vec![0, 24_000, 48_000, 72_000, 96_000, 144_000, 192_000]
    );
}

#[test]
fn a_metro_answers_as_extempores_does() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    let mut eval = |src: &str| s.eval_source(src, "metro.xtm").unwrap();
    assert_eq!(
        eval("(list (*metro* 0) (*metro* 1) (*metro* 1/3) (*metro* 'get-time 2))"),
        "(0 24000 8000 48000)"
    );
    assert_eq!(
        eval("(list (*metro* 'dur 1/2) (*metro* 'get-tempo))"),
        "(12000 120)"
    );
    // the next beat after now on a multiple of 4
    assert_eq!(eval("(*metro* 'get-beat 4)"), "4");
    assert_eq!(eval("(*metro* 'beat-at-time 36000)"), "1.5");
    // a tempo change at sample 96,000 keeps beat 4 there
    eval("(*metro* 'set-tempo 60 96000)");
    assert_eq!(
        eval("(list (*metro* 4) (*metro* 5) (*metro* 'get-tempo))"),
        "(96000 144000 60)"
    );
    assert_eq!(eval("(*metro* 'get-mark)"), "(96000 . 4)");
    // an own metro anchored where asked; cycles
    assert_eq!(
        eval("(let ((m (make-metro 90 '(480 . 2)))) (list (m 2) (m 3)))"),
        "(480 32480)"
    );
    assert_eq!(
        eval("(list (*metro* 'pos 5) (begin (*metro* 'set-cycle 3 1) (*metro* 'pos 5)))"),
        "(1 1)"
    );
    let e = s.eval_source("(*metro* 'bogus)", "metro.xtm").unwrap_err();
    assert!(e.message.contains("a metro knows a beat"), "{e}");
}
