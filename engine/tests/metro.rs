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

#[test]
fn get_beat_between_beats_gives_the_next_multiple() {
    // (modulo beat q) on a rational beat used to fail: "modulo wants integers"
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    assert_eq!(
        s.eval_source(
            "(list (*metro* 'get-beat 4) (*metro* 'get-beat 1/2) (*metro* 'pos 13/2))",
            "metro.xtm"
        )
        .unwrap(),
        "(4 1/2 5/2)"
    );
    s.eval_source("(*metro* 'set-tempo 90 36000 3/2)", "metro.xtm")
        .unwrap();
    // at 90 BPM from beat 3/2 at sample 36,000, sample 0 is beat 3/2 - 9/8 = 3/8
    assert_eq!(
        s.eval_source(
            "(list (*metro* 'beat-at-time 0) (*metro* 'get-beat 1) (*metro* 'get-beat 1/4))",
            "metro.xtm"
        )
        .unwrap(),
        "(0.375 1 1/2)"
    );
}

#[test]
fn make_metre_counts_places_in_its_groups_and_a_metro_reports_changes() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    let mut eval = |src: &str| s.eval_source(src, "metre.xtm").unwrap();
    eval("(define *metre* (make-metre '(2 3 2) 1/2))");
    // units of half a beat in groups 2 3 2: beats 0 0.5 | 1 1.5 2 | 2.5 3 | 3.5 ...
    assert_eq!(
        eval("(map *metre* '(0 1/2 1 3/2 2 5/2 3 7/2))"),
        "(1.0 2.0 1.0 2.0 3.0 1.0 2.0 1.0)"
    );
    assert_eq!(eval("(list (*metre* 2.5 1.0) (*metre* 3 1))"), "(#t #f)");
    eval("(define changes 0) (*metro* 'on-change (lambda () (set! changes (+ changes 1))))");
    eval("(*metro* 'set-tempo 100) (*metro* 'push) (*metro* 'pull)");
    assert_eq!(eval("changes"), "3");
    let e = s
        .eval_source("(make-metre '() 1)", "metre.xtm")
        .unwrap_err();
    assert!(e.message.contains("make-metre takes"), "{e}");
}

#[test]
fn extempore_runtime_procedures_are_in_every_session() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    let mut eval = |src: &str| s.eval_source(src, "runtime.xtm").unwrap();
    assert_eq!(
        eval(
            "(list (range 4) (range 2 5) (range 0 2 1/2) (repeat 3 'x) (make-list-with-proc 3 (lambda (i) (* 2 i))))"
        ),
        "((0 1 2 3) (2 3 4) (0 1/2 1 3/2) (x x x) (0 2 4))"
    );
    assert_eq!(
        eval(
            "(list (flatten '(1 (2 (3 ())) 4)) (foldl - 10 '(1 2)) (foldr cons '() '(1 2)) (sort (jumble '(3 1 2 5 4)) <))"
        ),
        "((1 2 3 4) 7 (1 2) (1 2 3 4 5))"
    );
    assert_eq!(
        eval(
            "(list (cl:nthcdr 2 '(a b c)) (cl:butnthcdr 2 '(a b c)) (cl:last '(a b c) 2) (cl:union '(1 2) '(2 3)) (cl:intersection '(1 2 3) '(3 2 9)) (cl:set-difference '(1 2 3) '(2)) (cl:remove-duplicates '(1 1 2 1)))"
        ),
        "((c) (a b) (b c) (1 2 3) (2 3) (1 3) (1 2))"
    );
    assert_eq!(
        eval(
            "(list (rational->n 3/4) (rational->d 3/4) (rational->n 5) (rational->d 0.5) (atom? 'a) (closure? car))"
        ),
        "(3 4 5 2 #t #t)"
    );
    assert_eq!(
        eval("(list (samples->clock 24000) (clock->samples 1.5) (clock:clock))"),
        "(0.5 72000 0.0)"
    );
    let e = s.eval_source("(range 0 4 0)", "runtime.xtm").unwrap_err();
    assert!(e.message.contains("range takes numbers"), "{e}");
}

#[test]
fn beat_callbacks_stay_on_their_beats_when_the_tempo_changes_after_scheduling() {
    let src = format!(
        "{CLICKS}
(sys:load \"libs/core/scheduler.xtm\")
(beat:callback 6 'strike)
(beat:callback 3 strike)
(callback 100 (lambda () (beat:quantised 4 'strike)))
;; on beat 2.5 (60,000): 240 BPM, 12,000 samples a beat from there
(callback 60000 (lambda () (*metro* 'set-tempo 240)))"
    );
    let r = render_source(&src, 2.5);
    assert_eq!(r.summary.failures, 0);
    let left: Vec<f32> = channel(&r.samples, 2, 0);
    // a plain (callback (*metro* 3) ...) would have struck at 72,000
    assert_eq!(onsets(&left, 0.5, 1), vec![66_000, 78_000, 102_000]);
}

#[test]
fn schedule_is_extempores_other_name_for_callback() {
    let src = format!(
        "{CLICKS}
(define (strike-at n) (strike) (if (< n 2) (schedule (+ (now) 1000) 'strike-at (+ n 1))))
(schedule 500 'strike-at 0)"
    );
    let r = render_source(&src, 0.1);
    assert_eq!(r.summary.failures, 0);
    assert_eq!(
        onsets(&channel(&r.samples, 2, 0), 0.5, 1),
        vec![500, 1500, 2500]
    );
}

#[test]
fn beat_callbacks_check_their_arguments() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    s.eval_source("(sys:load \"libs/core/scheduler.xtm\")", "s.xtm")
        .unwrap();
    let e = s.eval_source("(beat:callback 'f 4)", "s.xtm").unwrap_err();
    assert!(e.message.contains("beat:callback takes a beat"), "{e}");
    let e = s.eval_source("(beat:quantised 0 'f)", "s.xtm").unwrap_err();
    assert!(e.message.contains("positive number of beats"), "{e}");
    assert_eq!(
        s.eval_source("(beat:quantised 4 'f 1 2) (beat:pending)", "s.xtm")
            .unwrap(),
        "1"
    );
}

#[test]
fn topclock_calls_set_the_tempo_cycle_and_variables_on_their_beats() {
    let cfg = SessionConfig {
        sample_rate: 48_000,
        channels: 2,
        ..SessionConfig::default()
    };
    let mut s = zonal_engine::offline::OfflineSession::new(&cfg).unwrap();
    s.eval(
        "(sys:load \"libs/core/topclock.xtm\")
         (topclock-bpm (*metro* 8) 60 8 3)
         (topclock-variable (*metro* 9) 'answer 9 42)
         (topclock-variable (*metro* 9) \"many\" 9 1 2 3)",
    )
    .unwrap();
    // beat 8 stays at 192,000; from there 48,000 samples a beat, cycles of 3 from 8
    assert_eq!(
        s.eval("(list (*metro* 8) (*metro* 9) (*metro* 'get-tempo) (*metro* 'get-cycle) (*metro* 'pos 11) *topclock-master*)")
            .unwrap(),
        "(192000 240000 60 3 0 #t)"
    );
    s.render(4.99);
    assert_eq!(s.eval("(defined? 'answer)").unwrap(), "#f");
    s.render(0.02);
    assert_eq!(s.eval("(list answer many)").unwrap(), "(42 (1 2 3))");
    let e = s.eval("(topclock-bpm 0 -5 0 4)").unwrap_err();
    assert!(e.message.contains("topclock-bpm takes"), "{e}");
}
