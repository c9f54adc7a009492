//! `(sys:audio-report)` in a session rendered offline: the seconds rendered, each
//! channel's peak and RMS, the entry closure's share of the time, and the closure that
//! was running when a buffer took longer than it lasts; `(sys:audio-load)`, the load
//! alone, a number as Extempore's.

use zonal_engine::offline::OfflineSession;

fn number(s: &mut OfflineSession, expr: &str) -> f64 {
    let text = s.eval(expr).unwrap();
    text.parse()
        .unwrap_or_else(|_| panic!("{expr} gave {text}, not a number"))
}

const SINE: &str = "(bind-func tone:DSP (lambda (in time chan dat) \
     (dtof (* 0.5 (sin (* 6.283185307179586 (/ (* 440.0 (i64tod time)) 48000.0)))))))\
     (dsp:set! tone)";

#[test]
fn audio_load_reports_levels_and_the_entry_of_an_offline_render() {
    let mut s = OfflineSession::new(&Default::default()).unwrap();
    s.eval(SINE).unwrap();
    s.render(1.0);
    s.eval("(define r (sys:audio-report))").unwrap();
    assert_eq!(number(&mut s, "(cadr (assq 'seconds r))"), 1.0);
    for c in 0..2 {
        let peak = number(
            &mut s,
            &format!("(car (list-ref (cdr (assq 'channels r)) {c}))"),
        );
        let rms = number(
            &mut s,
            &format!("(cadr (list-ref (cdr (assq 'channels r)) {c}))"),
        );
        assert!((peak - 0.5).abs() < 1e-3, "channel {c} peak {peak}");
        assert!(
            (rms - 0.5 / 2f64.sqrt()).abs() < 2e-3,
            "channel {c} RMS {rms}"
        );
    }
    assert_eq!(s.eval("(length (cdr (assq 'channels r)))").unwrap(), "2");
    let load = number(&mut s, "(cadr (assq 'load r))");
    assert!(load > 0.0 && load < 1.0, "load {load}");
    assert_eq!(
        s.eval("(car (cadr (assq 'closures r)))").unwrap(),
        "\"tone\""
    );
    let share = number(&mut s, "(cadr (cadr (assq 'closures r)))");
    assert!(share > 0.0 && share <= load, "tone {share} of {load}");
    let peak_load = number(&mut s, "(cadr (assq 'peak-load r))");
    assert!(peak_load >= load, "busiest buffer {peak_load}, mean {load}");
    // no stream counts under-runs in an offline render
    assert_eq!(s.eval("(cadr (assq 'xruns r))").unwrap(), "#f");
    // a second reading covers only what was rendered since the first
    s.render(0.5);
    s.eval("(define r2 (sys:audio-report))").unwrap();
    assert_eq!(number(&mut s, "(cadr (assq 'seconds r2))"), 0.5);
    s.eval("(define r3 (sys:audio-report))").unwrap();
    assert_eq!(number(&mut s, "(cadr (assq 'seconds r3))"), 0.0);
    assert_eq!(
        s.eval("(cdr (assq 'closures r3))").unwrap(),
        "()",
        "nothing ran since the last reading"
    );
    let err = s.eval("(sys:audio-report 1)").unwrap_err();
    assert!(
        err.to_string()
            .contains("sys:audio-report takes no arguments: (sys:audio-report)"),
        "{err}"
    );
    s.eval("(sys:print-audio-load)").unwrap();
}

#[test]
fn the_entry_alone_takes_all_of_the_time_it_was_measured_over() {
    // one clock reading per closure call: the engine's work before the entry's call in a
    // buffer counts with it, so a lone entry's share is the whole load
    let mut s = OfflineSession::new(&Default::default()).unwrap();
    s.eval(SINE).unwrap();
    s.render(0.2);
    s.eval("(define r (sys:audio-report))").unwrap();
    let load = number(&mut s, "(cadr (assq 'load r))");
    let share = number(&mut s, "(cadr (cadr (assq 'closures r)))");
    assert!(load > 0.0);
    assert_eq!(share, load);
}

#[test]
fn audio_load_is_a_number_as_in_extempore() {
    let mut s = OfflineSession::new(&Default::default()).unwrap();
    s.eval(SINE).unwrap();
    s.render(0.5);
    // Extempore's mtaudio example prints (* 100. (sys:audio-load)) as a percentage
    let percent = number(&mut s, "(* 100. (sys:audio-load))");
    assert!(percent > 0.0 && percent < 100.0, "load {percent}%");
    assert_eq!(
        number(&mut s, "(sys:audio-load)"),
        0.0,
        "nothing rendered since"
    );
}

#[test]
fn a_missed_deadline_names_the_closure_that_was_running() {
    let mut s = OfflineSession::new(&Default::default()).unwrap();
    s.eval(
        "(bind-func sluggish:DSP (lambda (in time chan dat) \
           (let ((acc 0.0) (i 0)) \
             (dotimes (i 40000) (set! acc (+ acc (* 0.5 (i64tod i))))) \
             (dtof (* 0.0 acc)))))\
         (dsp:set! sluggish)",
    )
    .unwrap();
    s.render(0.01);
    s.eval("(define r (sys:audio-report))").unwrap();
    let misses = number(&mut s, "(cadr (assq 'deadline-misses r))");
    assert!(misses >= 1.0, "{misses} misses");
    assert_eq!(
        s.eval("(cadr (assq 'last-miss r))").unwrap(),
        "\"sluggish\""
    );
    let peak_load = number(&mut s, "(cadr (assq 'peak-load r))");
    assert!(peak_load > 1.0, "busiest buffer {peak_load}");
}
