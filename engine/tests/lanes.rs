//! `(dsp:set! a b ...)`: several DSP closures in lanes, on worker threads, summed or mixed
//! by a `DSPMT` closure (Extempore's `mtaudio.xtm` form). Checked by listening: each
//! lane's sine is in the output at its level, a mixer's weights are heard, a faulting
//! lane goes quiet while the others play on, and renders are the same bytes with any
//! number of workers. The audio path (lanes included) runs under `assert_no_alloc`.

mod common;

use common::{channel, config, magnitude};
use zonal_engine::render::render_session;
use zonal_engine::session::{Session, SessionConfig};

#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

/// Three closures, each a sine of its own frequency; `noise` adds noise from each lane's
/// own generator (state in its closure), so lanes run out of order or twice would differ.
fn voices(noise: f64) -> String {
    let mut src = String::new();
    for (name, freq) in [("dsp1", 220.0), ("dsp2", 330.0), ("dsp3", 550.0)] {
        src.push_str(&format!(
            "(bind-func {name}:DSP
               (let ((x:i64 88172645463325252))
                 (lambda (in time chan dat)
                   (set! x (bitwise-xor x (bitwise-shift-left x 13)))
                   (set! x (bitwise-xor x (bitwise-shift-right x 7)))
                   (set! x (bitwise-xor x (bitwise-shift-left x 17)))
                   (dtof (+ (* 0.2 (sin (/ (* 6.283185307179586 {freq:.1} (i64tod time)) 48000.0)))
                            (* {noise:.3} (i64tod (bitwise-and x 1023))))))))\n"
        ));
    }
    src
}

fn render_with(src: &str, workers: usize, seconds: f64) -> (Vec<f32>, Vec<String>) {
    let mut cfg = config(seconds);
    cfg.session = SessionConfig {
        workers,
        ..cfg.session
    };
    let (mut session, processor) = Session::with_audio(&cfg.session).unwrap();
    session.keep_problems();
    if let Err(e) = session.eval_source(src, "lanes.xtm") {
        panic!("evaluation failed: {e}");
    }
    let r = render_session(&mut session, processor, &cfg).unwrap();
    (r.samples, session.take_problems())
}

#[test]
fn closures_set_together_play_together_on_workers() {
    let src = format!("{}(dsp:set! dsp1 dsp2 dsp3)", voices(0.0));
    let (samples, problems) = render_with(&src, 1, 0.5);
    assert!(problems.is_empty(), "{problems:?}");
    let left = channel(&samples, 2, 0);
    let window = &left[4800..4800 + 9600];
    for f in [220.0, 330.0, 550.0] {
        let m = magnitude(window, f);
        assert!((m - 0.2).abs() < 0.01, "{f} Hz at {m}");
    }
    assert!(magnitude(window, 440.0) < 0.01);
}

#[test]
fn a_dspmt_closure_given_first_mixes_the_lanes_as_extempore_does() {
    let src = format!(
        "{}(bind-func mix:DSPMT
             (lambda (in time chan dat)
               (+ (* 2.0 (pref in 0)) (* 0.0 (pref in 1)) (* 0.5 (pref in 2)))))
           (dsp:set! mix dsp1 dsp2 dsp3)",
        voices(0.0)
    );
    let (samples, problems) = render_with(&src, 1, 0.5);
    assert!(problems.is_empty(), "{problems:?}");
    let left = channel(&samples, 2, 0);
    let window = &left[4800..4800 + 9600];
    let (a, b, c) = (
        magnitude(window, 220.0),
        magnitude(window, 330.0),
        magnitude(window, 550.0),
    );
    assert!((a - 0.4).abs() < 0.01, "lane 0 doubled: {a}");
    assert!(b < 0.001, "lane 1 muted: {b}");
    assert!((c - 0.1).abs() < 0.01, "lane 2 halved: {c}");
}

#[test]
fn renders_are_the_same_bytes_with_any_number_of_workers() {
    let src = format!("{}(dsp:set! dsp1 dsp2 dsp3)", voices(0.0001));
    let (alone, _) = render_with(&src, 0, 0.25);
    let (one, _) = render_with(&src, 1, 0.25);
    let (three, _) = render_with(&src, 3, 0.25);
    assert!(alone.iter().any(|s| *s != 0.0));
    assert!(alone == one, "one worker changed the output");
    assert!(alone == three, "three workers changed the output");
}

#[test]
fn a_faulting_lane_goes_quiet_and_the_others_play_on() {
    let src = format!(
        "{}(bind-func dsp2:DSP
             (lambda (in time chan dat)
               (let ((p:float* null)) (if (> time 12000) (pref p 0) (dtof 0.0)))))
           (dsp:set! dsp1 dsp2 dsp3)",
        voices(0.0)
    );
    let (samples, problems) = render_with(&src, 1, 0.5);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("dsp2 (lane 1) is silent"),
        "{}",
        problems[0]
    );
    let left = channel(&samples, 2, 0);
    let after = &left[14400..14400 + 9600];
    assert!((magnitude(after, 220.0) - 0.2).abs() < 0.01);
    assert!((magnitude(after, 550.0) - 0.2).abs() < 0.01);
}

#[test]
fn redefining_a_lane_plays_the_new_version_in_its_lane() {
    let mut cfg = config(0.0);
    cfg.session.workers = 1;
    let mut s = zonal_engine::offline::OfflineSession::new(&cfg.session).unwrap();
    s.eval(&format!("{}(dsp:set! dsp1 dsp2)", voices(0.0)))
        .unwrap();
    let (before, _) = s.render(0.2);
    s.eval(
        "(bind-func dsp2:DSP (lambda (in time chan dat)
           (dtof (* 0.3 (sin (/ (* 6.283185307179586 770.0 (i64tod time)) 48000.0))))))",
    )
    .unwrap();
    let (after, _) = s.render(0.2);
    let (b, a) = (channel(&before, 2, 0), channel(&after, 2, 0));
    assert!((magnitude(&b[..9600], 330.0) - 0.2).abs() < 0.01);
    assert!(magnitude(&a[..9600], 330.0) < 0.01);
    assert!((magnitude(&a[..9600], 770.0) - 0.3).abs() < 0.01);
    assert!((magnitude(&a[..9600], 220.0) - 0.2).abs() < 0.01);
}

#[test]
fn dsp_set_of_lanes_says_what_is_wrong() {
    let mut s = zonal_engine::offline::OfflineSession::new(&SessionConfig::default()).unwrap();
    s.eval(&voices(0.0)).unwrap();
    s.eval("(bind-func mix:DSPMT (lambda (in time chan dat) (pref in 0)))")
        .unwrap();
    let alone = s.eval("(dsp:set! mix)").unwrap_err().to_string();
    assert!(alone.contains("name the closures it mixes"), "{alone}");
    let later = s.eval("(dsp:set! dsp1 mix)").unwrap_err().to_string();
    assert!(later.contains("only the first"), "{later}");
    let many = s
        .eval("(dsp:set! dsp1 dsp1 dsp1 dsp1 dsp1 dsp1 dsp1 dsp1 dsp1)")
        .unwrap_err()
        .to_string();
    assert!(many.contains("at most 8"), "{many}");
    let unbound = s.eval("(dsp:set! dsp1 nothing)").unwrap_err().to_string();
    assert!(unbound.contains("nothing is not a bind-func"), "{unbound}");
}

#[test]
fn a_lane_that_never_ends_is_stopped_by_the_watchdog_and_the_others_play_on() {
    let src = format!(
        "{}(bind-func dsp2:DSP
             (lambda (in time chan dat)
               (let ((n 0)) (if (> time 12000) (while (>= n 0) (set! n (+ n 1)))) (dtof 0.0))))
           (dsp:set! dsp1 dsp2 dsp3)",
        voices(0.0)
    );
    let (samples, problems) = render_with(&src, 1, 0.5);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("interrupted"), "{}", problems[0]);
    assert!(problems[0].contains("dsp2 (lane 1)"), "{}", problems[0]);
    let left = channel(&samples, 2, 0);
    let after = &left[14400..14400 + 9600];
    assert!((magnitude(after, 220.0) - 0.2).abs() < 0.01);
    assert!((magnitude(after, 550.0) - 0.2).abs() < 0.01);
}

/// Extempore's mixer reads `(now)`, the sample it is mixing (mtaudio.xtm); it used to see
/// the time of the buffer's start for every sample.
#[test]
fn a_dspmt_mixer_sees_the_sample_it_mixes_as_now() {
    let src = format!(
        "{}(bind-func mix:DSPMT
             (lambda (in time chan dat)
               (if (= (now) time)
                   (if (= (% time 4800) 0) 0.5 0.0)
                   0.9)))
           (dsp:set! mix dsp1 dsp2)",
        voices(0.0)
    );
    let (samples, problems) = render_with(&src, 1, 0.25);
    assert!(problems.is_empty(), "{problems:?}");
    let left = channel(&samples, 2, 0);
    let clicks: Vec<usize> = (0..left.len()).filter(|&i| left[i] != 0.0).collect();
    assert_eq!(clicks, (0..left.len()).step_by(4800).collect::<Vec<_>>());
    assert!(
        clicks.iter().all(|&i| left[i] == 0.5),
        "(now) differed from time"
    );
}
