//! Issue 11, listened to: a redefinition keeps the state of the closure it replaces
//! (variables, closure-zone buffers, closures made by its `let`) and crossfades from the
//! old output to the new, at a buffer boundary, a given sample or a beat; a thousand of
//! them allocate nothing on the audio thread and leave nothing behind.

mod common;

use common::channel;
use zonal_engine::offline::OfflineSession;

#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

const RATE: f64 = 48_000.0;

fn session() -> OfflineSession {
    OfflineSession::new(&Default::default()).unwrap()
}

fn eval(s: &mut OfflineSession, src: &str) {
    if let Err(e) = s.eval(src) {
        panic!("{src}: {e}");
    }
}

/// The left channel of the next `seconds`.
fn left(s: &mut OfflineSession, seconds: f64) -> Vec<f32> {
    channel(&s.render(seconds).0, 2, 0)
}

/// The largest sample-to-sample step of `x`.
fn largest_step(x: &[f32]) -> f32 {
    x.windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

/// A sine of `freq` Hz computed from the time alone: redefining it restarts nothing, only
/// the frequency changes, so a hard swap jumps.
fn timed_sine(freq: f64) -> String {
    format!(
        "(bind-func dsp:DSP (lambda (in time chan dat)
           (dtof (* 0.5 (sin (* 6.283185307179586 (/ (* {freq} (i64tod time)) 48000.0)))))))"
    )
}

/// Renders the sine at 220 Hz, redefined to 330 Hz after 5,056 samples with a fade of
/// `ms`: the left channel.
fn sine_redefined(ms: u32) -> Vec<f32> {
    let mut s = session();
    eval(
        &mut s,
        &format!("(dsp:fade-time {ms}) {} (dsp:set! dsp)", timed_sine(220.0)),
    );
    let mut out = left(&mut s, 5056.0 / RATE);
    eval(&mut s, &timed_sine(330.0));
    out.extend(left(&mut s, 0.1));
    out
}

#[test]
fn a_sine_redefined_with_a_20_ms_fade_has_no_jump_larger_than_twice_its_own_step() {
    let own = 0.5 * (std::f32::consts::TAU * 330.0 / 48_000.0);
    let faded = sine_redefined(20);
    let step = largest_step(&faded);
    assert!(step <= 2.0 * own, "largest step {step}, a sine's own {own}");
    // the same swap without a fade jumps (what the fade is for)
    let hard = sine_redefined(0);
    assert!(largest_step(&hard) > 10.0 * own, "{}", largest_step(&hard));
    // after the fade, only the new sine sounds
    let end = &faded[5056 + 960..];
    assert_eq!(end.len(), hard[5056 + 960..].len());
    for (a, b) in end.iter().zip(&hard[5056 + 960..]) {
        assert!((a - b).abs() < 1e-6);
    }
    assert_eq!(assert_no_alloc::violation_count(), 0);
}

#[test]
fn the_fade_is_equal_power_and_starts_on_the_sample_of_the_swap() {
    let mut s = session();
    eval(
        &mut s,
        "(dsp:fade-time 10) (bind-func dsp:DSP (lambda (in time chan dat) 0.0)) (dsp:set! dsp)",
    );
    let mut out = left(&mut s, 0.01);
    eval(
        &mut s,
        "(dsp:swap-at 1000) (bind-func dsp:DSP (lambda (in time chan dat) 1.0))",
    );
    out.extend(left(&mut s, 0.03));
    // 10 ms is 480 samples; the new closure's gain is sin(pi/2 x)
    assert_eq!(out[999], 0.0);
    assert_eq!(out[1000], 0.0);
    let quarter = (std::f32::consts::FRAC_PI_2 * 0.5).sin();
    assert!((out[1240] - quarter).abs() < 1e-4, "{}", out[1240]);
    assert!((out[1480] - 1.0).abs() < 1e-6);
    assert!(out[1001] > 0.0 && out[1001] < 0.01);
}

#[test]
fn a_swap_waits_for_its_sample_and_for_the_next_beat_of_the_metro() {
    let mut s = session();
    eval(
        &mut s,
        "(dsp:fade-time 0) (bind-func dsp:DSP (lambda (in time chan dat) 0.0)) (dsp:set! dsp)",
    );
    let mut out = left(&mut s, 0.01);
    eval(
        &mut s,
        "(dsp:swap-at 7777) (bind-func dsp:DSP (lambda (in time chan dat) 0.5))",
    );
    out.extend(left(&mut s, 0.2));
    assert_eq!(out.iter().position(|x| *x != 0.0), Some(7777));
    // *metro* is 120 BPM from sample 0: the next beat after 0.21 s is 0.5 s
    eval(
        &mut s,
        "(dsp:swap-on-beat) (bind-func dsp:DSP (lambda (in time chan dat) 0.25))",
    );
    out.extend(left(&mut s, 0.4));
    assert_eq!(out.iter().position(|x| *x == 0.25), Some(24_000));
    assert!(out[..24_000].iter().skip(7777).all(|x| *x == 0.5));
}

/// A feedback delay of 4,800 samples with one click at sample 1,000 (before any
/// redefinition); `feedback` is its feedback.
fn delay(feedback: f64, fresh: &str) -> String {
    format!(
        "(bind-func dsp:DSP 65536 {fresh}
           (let ((line:double* (zalloc 4800)) (pos 0) (y 0.0))
             (lambda (in time chan dat)
               (if (= chan 0)
                   (let ((x (if (= time 1000) 1.0 0.0)))
                     (set! y (+ x (pref line pos)))
                     (pset! line pos (* {feedback} y))
                     (set! pos (modulo (+ pos 1) 4800))))
               (dtof y))))"
    )
}

fn delay_redefined(fresh: &str) -> Vec<f32> {
    let mut s = session();
    eval(&mut s, &format!("{} (dsp:set! dsp)", delay(0.5, "")));
    let mut out = left(&mut s, 8000.0 / RATE);
    eval(&mut s, &delay(0.6, fresh));
    out.extend(left(&mut s, 0.3));
    out
}

#[test]
fn a_feedback_delay_redefined_with_another_feedback_keeps_echoing_earlier_notes() {
    let out = delay_redefined("");
    // the click, and its echoes every 4,800 samples: 0.5 before the swap, then the old
    // line's 0.25 comes out and goes back in at the new feedback, 0.6
    assert_eq!(out[1000], 1.0);
    assert!((out[5800] - 0.5).abs() < 1e-6, "{}", out[5800]);
    assert!((out[10_600] - 0.25).abs() < 1e-6, "{}", out[10_600]);
    assert!((out[15_400] - 0.15).abs() < 1e-6, "{}", out[15_400]);
    assert!((out[20_200] - 0.09).abs() < 1e-6, "{}", out[20_200]);
    // :fresh starts from the new closure's own let: the echoes are gone
    let fresh = delay_redefined(":fresh");
    assert!(fresh[9000..].iter().all(|x| *x == 0.0));
    assert_eq!(assert_no_alloc::violation_count(), 0);
}

/// `dsp` holding an oscillator made by `osc_c` in its `let`, at `amp`.
fn osc_dsp(amp: f64) -> String {
    format!(
        "(bind-func dsp:DSP
           (let ((osc (osc_c 0.0)) (y 0.0))
             (lambda (in time chan dat)
               (if (= chan 0) (set! y (* {amp} (osc 220.0))))
               (dtof y))))"
    )
}

const OSC_C: &str = "
(bind-func osc_c
  (lambda (phase:double)
    (let ((p phase))
      (lambda (freq:double)
        (set! p (+ p (/ freq 48000.0)))
        (if (>= p 1.0) (set! p (- p 1.0)))
        (sin (* 6.283185307179586 p))))))";

/// Renders `dsp` at amplitude 0.5 for 5,056 samples, then redefined at `amp` with a fade
/// of `ms`, for 0.1 s more.
fn osc_redefined(amp: f64, ms: u32) -> Vec<f32> {
    let mut s = session();
    eval(
        &mut s,
        &format!(
            "(dsp:fade-time {ms}) {OSC_C} {} (dsp:set! dsp)",
            osc_dsp(0.5)
        ),
    );
    let mut out = left(&mut s, 5056.0 / RATE);
    eval(&mut s, &osc_dsp(amp));
    out.extend(left(&mut s, 0.1));
    out
}

/// Sample indices where `x` goes from below 0 to 0 or above.
fn upward_crossings(x: &[f32]) -> Vec<usize> {
    (1..x.len())
        .filter(|&i| x[i - 1] < 0.0 && x[i] >= 0.0)
        .collect()
}

#[test]
fn an_oscillator_held_in_a_redefined_dsp_keeps_its_phase() {
    let unbroken = osc_redefined(0.5, 0);
    let mut s = session();
    eval(
        &mut s,
        &format!("(dsp:fade-time 0) {OSC_C} {} (dsp:set! dsp)", osc_dsp(0.5)),
    );
    let straight = left(&mut s, (5056.0 + 4800.0) / RATE);
    assert_eq!(unbroken.len(), straight.len());
    for (i, (a, b)) in unbroken.iter().zip(&straight).enumerate() {
        assert!((a - b).abs() < 1e-6, "sample {i}: {a} against {b}");
    }
    // at another level, with the default fade: every zero crossing where it was
    let quieter = osc_redefined(0.25, 30);
    assert_eq!(upward_crossings(&quieter), upward_crossings(&straight));
    assert!((largest_step(&quieter[7000..]) - 0.5 * largest_step(&straight[7000..])).abs() < 1e-4);
}

/// `dsp` redefined every buffer, `n` times, each with its own delay line and oscillator
/// (their sizes vary, so some carries are partial), fading 20 ms.
fn redefinitions(n: u32) -> String {
    format!(
        "(dsp:fade-time 20)
{OSC_C}
(define (dsp-source k)
  `(bind-func dsp:DSP 16384
     (let ((osc (osc_c 0.0)) (line:double* (zalloc ,(+ 64 (* 16 (modulo k 8))))) (pos 0) (y 0.0))
       (lambda (in time chan dat)
         (if (= chan 0)
             (begin
               (set! y (+ (* 0.2 (osc ,(+ 220.0 k))) (* 0.3 (pref line pos))))
               (pset! line pos y)
               (set! pos (modulo (+ pos 1) ,(+ 64 (* 16 (modulo k 8)))))))
         (dtof y)))))
(eval (dsp-source 0))
(dsp:set! dsp)
(define (again k)
  (when (< k {n})
    (eval (dsp-source k))
    (callback (+ (now) 64) 'again (+ k 1))))
(callback 64 'again 1)"
    )
}

#[test]
fn a_thousand_faded_redefinitions_of_dsp_allocate_nothing_and_leave_nothing_behind() {
    let mut s = session();
    s.session().keep_problems();
    eval(&mut s, &redefinitions(1000));
    let out = left(&mut s, 1000.0 * 64.0 / RATE + 0.2);
    assert_eq!(assert_no_alloc::violation_count(), 0);
    let problems = s.session().take_problems();
    assert!(problems.is_empty(), "{problems:?}");
    let stats = s.session().stats();
    assert_eq!(
        stats
            .lost_returns
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    // it kept sounding through overlapping fades (a fifth one at once stops the entry it
    // replaces instead of fading it)
    assert!(common::rms(&out, out.len() - 4800, 4800) > 0.05);
    assert!(common::rms(&out, 32_000, 4800) > 0.05);
    let live = s.session().dsp_live();
    let mut baseline = session();
    eval(&mut baseline, &redefinitions(3));
    left(&mut baseline, 0.2);
    let base = baseline.session().dsp_live();
    assert_eq!(live.closures, base.closures);
    assert_eq!(live.zones, base.zones);
    assert_eq!(live.code_blocks, base.code_blocks);
}

#[test]
fn a_let_value_the_livecoder_changed_takes_effect_and_the_rest_carries_over() {
    let src = |gain: f64| {
        format!(
            "(bind-func dsp:DSP
               (let ((gain {gain}) (n 0))
                 (lambda (in time chan dat)
                   (if (= chan 0) (set! n (+ n 1)))
                   (dtof (* gain (i64tod n))))))"
        )
    };
    let mut s = session();
    eval(
        &mut s,
        &format!("(dsp:fade-time 0) {} (dsp:set! dsp)", src(0.001)),
    );
    let mut out = left(&mut s, 640.0 / RATE);
    eval(&mut s, &src(0.0005));
    out.extend(left(&mut s, 640.0 / RATE));
    // n counted on (its let is unchanged), gain is the new one (its let changed)
    assert!((out[639] - 0.64).abs() < 1e-6, "{}", out[639]);
    assert!((out[640] - 0.3205).abs() < 1e-6, "{}", out[640]);
}

#[test]
fn a_redefinition_that_faults_during_its_fade_falls_back_without_running_the_old_one_twice() {
    let osc = "(bind-func dsp:DSP
       (let ((p 0.0) (y 0.0))
         (lambda (in time chan dat)
           (if (= chan 0)
               (begin (set! p (+ p (/ 220.0 48000.0)))
                      (if (>= p 1.0) (set! p (- p 1.0)))
                      (set! y (* 0.5 (sin (* 6.283185307179586 p))))))
           (dtof y))))";
    let faulty = "(bind-func dsp:DSP
       (let ((p 0.0) (y 0.0))
         (lambda (in time chan dat)
           (let ((q:float* null)) (pref q 0)))))";
    let mut s = session();
    s.session().keep_problems();
    eval(&mut s, &format!("(dsp:fade-time 100) {osc} (dsp:set! dsp)"));
    let mut out = left(&mut s, 4800.0 / RATE);
    eval(&mut s, faulty);
    out.extend(left(&mut s, 0.2));
    assert_eq!(s.session().take_problems().len(), 1);
    // the old oscillator alone, once per sample: 220 Hz, nothing at 440
    let after = &out[4800..4800 + 4800];
    assert!(common::magnitude(after, 220.0) > 0.45);
    assert!(
        common::magnitude(after, 440.0) < 0.01,
        "{}",
        common::magnitude(after, 440.0)
    );
}

/// A time-based sine of `freq` Hz as a per-buffer (DSPMC) entry.
fn timed_sine_per_buffer(freq: f64) -> String {
    format!(
        "(bind-func dsp:DSPMC
           (lambda (in out time dat)
             (dotimes (f FRAMES)
               (dotimes (c CHANNELS)
                 (pset! out (+ (* f CHANNELS) c)
                        (dtof (* 0.5 (sin (* 6.283185307179586 (/ (* {freq} (i64tod (+ time f))) 48000.0))))))))
             void))"
    )
}

/// The 220 Hz sine from `first`, redefined after 5,056 samples as the 330 Hz one from
/// `second`, fading 20 ms: both channels.
fn faded(first: &str, second: &str) -> Vec<f32> {
    let mut s = session();
    eval(
        &mut s,
        &format!("(dsp:fade-time 20) {first} (dsp:set! dsp)"),
    );
    let mut out = s.render(5056.0 / RATE).0;
    eval(&mut s, second);
    out.extend(s.render(0.05).0);
    out
}

#[test]
fn a_fade_sounds_the_same_from_per_sample_and_per_buffer_entries() {
    let per_sample = faded(&timed_sine(220.0), &timed_sine(330.0));
    let per_buffer = faded(&timed_sine_per_buffer(220.0), &timed_sine_per_buffer(330.0));
    assert!(largest_step(&channel(&per_sample, 2, 0)) < 0.05);
    assert_eq!(per_sample.len(), per_buffer.len());
    for (i, (a, b)) in per_sample.iter().zip(&per_buffer).enumerate() {
        assert!((a - b).abs() < 1e-6, "sample {i}: {a} against {b}");
    }
}

#[test]
fn a_redefinition_of_the_entry_with_another_type_plays_the_new_overload_at_once() {
    // As in Extempore, another type is an overload (a slot of its own); the entry moves to
    // the newest `dsp` at the swap, without a fade.
    let per_sample = faded(&timed_sine(220.0), &timed_sine(330.0));
    let changing = faded(&timed_sine(220.0), &timed_sine_per_buffer(330.0));
    let swap = 5056 * 2;
    assert_eq!(per_sample[..swap], changing[..swap]);
    let after = channel(&changing[swap..], 2, 0);
    let expect: Vec<f32> = (0..after.len())
        .map(|f| {
            let t = (5056 + f) as f64;
            (0.5 * (std::f64::consts::TAU * 330.0 * t / 48000.0).sin()) as f32
        })
        .collect();
    for (i, (a, e)) in after.iter().zip(&expect).enumerate() {
        assert!(
            (a - e).abs() < 1e-6,
            "frame {i} after the swap: {a} against {e}"
        );
    }
}

#[test]
fn dsp_fresh_next_starts_the_next_swap_from_its_let() {
    let mut s = session();
    eval(
        &mut s,
        &format!("(dsp:fade-time 0) {} (dsp:set! dsp)", delay(0.5, "")),
    );
    let mut out = left(&mut s, 8000.0 / RATE);
    eval(&mut s, &format!("(dsp:fresh-next) {}", delay(0.6, "")));
    out.extend(left(&mut s, 0.3));
    assert!((out[5800] - 0.5).abs() < 1e-6);
    assert!(out[8000..].iter().all(|x| *x == 0.0));
}

#[test]
fn a_swap_sent_while_a_quantised_one_waits_takes_effect_with_it_not_before() {
    let mut s = session();
    eval(
        &mut s,
        "(dsp:fade-time 0) (bind-func dsp:DSP (lambda (in time chan dat) 0.0)) (dsp:set! dsp)",
    );
    let mut out = left(&mut s, 0.01);
    eval(
        &mut s,
        "(dsp:swap-at 10000) (bind-func dsp:DSP (lambda (in time chan dat) 0.5))",
    );
    out.extend(left(&mut s, 0.05));
    // another evaluation before the waiting swap's sample, then one redefining dsp again
    eval(&mut s, "(bind-func helper (lambda () 1))");
    out.extend(left(&mut s, 0.01));
    eval(
        &mut s,
        "(bind-func dsp:DSP (lambda (in time chan dat) 0.25))",
    );
    out.extend(left(&mut s, 0.2));
    // the quantised swap was not pulled forward; the one after it replaced it at once
    assert!(out[..10_000].iter().all(|x| *x == 0.0));
    assert!(out[10_000..].iter().all(|x| *x == 0.25));
}

#[test]
fn a_linear_fade_keeps_the_level_of_a_carried_oscillator_where_equal_power_swells() {
    let peak_during_fade = |curve: &str| {
        let mut s = session();
        eval(
            &mut s,
            &format!(
                "(dsp:fade-time 100) (dsp:fade-curve '{curve}) {OSC_C} {} (dsp:set! dsp)",
                osc_dsp(0.5)
            ),
        );
        left(&mut s, 5056.0 / RATE);
        eval(&mut s, &osc_dsp(0.5));
        let out = left(&mut s, 0.1);
        out.iter().fold(0.0f32, |m, x| m.max(x.abs()))
    };
    let linear = peak_during_fade("linear");
    assert!((linear - 0.5).abs() < 1e-3, "{linear}");
    let equal_power = peak_during_fade("equal-power");
    assert!(equal_power > 0.69 && equal_power < 0.71, "{equal_power}");
}

/// `dsp` holding the library's `osc_c`, at `amp`.
fn library_osc_dsp(amp: f64) -> String {
    format!(
        "(bind-func dsp:DSP
           (let ((o (osc_c 0.0)) (l:SAMPLE 0.0))
             (lambda (in:SAMPLE time:i64 chan:i64 dat:SAMPLE*)
               (if (= chan 0) (set! l (o {amp} 330.0)))
               l)))"
    )
}

#[test]
fn the_librarys_osc_c_held_in_a_redefined_dsp_keeps_its_phase() {
    let render = |redefine: bool| {
        let mut s = session();
        eval(
            &mut s,
            &format!(
                "(sys:load \"libs/core/audio_dsp.xtm\") (dsp:fade-time 0) {} (dsp:set! dsp)",
                library_osc_dsp(0.5)
            ),
        );
        let mut out = left(&mut s, 5056.0 / RATE);
        if redefine {
            eval(&mut s, &library_osc_dsp(0.25));
        }
        out.extend(left(&mut s, 0.05));
        out
    };
    let (straight, redefined) = (render(false), render(true));
    for (i, (a, b)) in straight.iter().zip(&redefined).enumerate() {
        let expected = if i < 5056 { *a } else { 0.5 * a };
        assert!(
            (b - expected).abs() < 1e-6,
            "sample {i}: {b} against {expected}"
        );
    }
}

#[test]
fn the_old_closure_and_its_zone_are_freed_when_its_fade_is_over() {
    // v1 fades out over 100 ms under v2; v2 is replaced at once by v3 and stays alive as
    // the entry's fallback (it played without a fault): v1 lives as long as its fade only
    let mut s = session();
    eval(
        &mut s,
        &format!("(dsp:fade-time 100) {} (dsp:set! dsp)", timed_sine(220.0)),
    );
    left(&mut s, 0.01);
    let one = s.session().dsp_live();
    eval(&mut s, &timed_sine(330.0));
    left(&mut s, 64.0 / RATE);
    eval(&mut s, &format!("(dsp:fade-next 0) {}", timed_sine(440.0)));
    left(&mut s, 0.02);
    let during = s.session().dsp_live();
    assert_eq!(during.closures, one.closures + 2);
    assert_eq!(during.zones, one.zones + 2);
    assert_eq!(during.code_blocks, one.code_blocks + 2);
    left(&mut s, 0.1);
    let after = s.session().dsp_live();
    assert_eq!(after.closures, one.closures + 1);
    assert_eq!(after.zones, one.zones + 1);
    assert_eq!(after.code_blocks, one.code_blocks + 1);
}
