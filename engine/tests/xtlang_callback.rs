//! xtlang's `callback`: DSP code schedules a closure (a bind-func by name, or a closure
//! value) at a sample time; it runs on the audio thread at that sample, without
//! allocating, and a redefinition of a bind-func takes over its pending callbacks.

mod common;

use common::{channel, config};
use zonal_engine::offline::OfflineSession;

#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

/// The entry plays the global `level`, so the output shows when callbacks set it.
const LEVEL: &str = "(bind-val level double 0.0)
    (bind-func dsp:DSP (lambda (in time chan dat) (dtof level)))
    (dsp:set! dsp)";

/// The first sample of `x` at `value`, from `from` on.
fn first_at(x: &[f32], value: f32, from: usize) -> Option<usize> {
    (from..x.len()).find(|&i| (x[i] - value).abs() < 1e-6)
}

fn session() -> OfflineSession {
    OfflineSession::new(&config(0.0).session).unwrap()
}

#[test]
fn a_callback_from_xtlang_runs_at_its_sample_on_the_audio_thread() {
    let mut s = session();
    s.eval(LEVEL).unwrap();
    s.eval(
        "(bind-func set-level (lambda (x:double) (set! level x)))
         ;; a closure value made in the closure zone, called by a later callback
         (bind-func quieter
           (let ((lower (lambda (x:double) (set! level x))))
             (lambda (t:i64) (callback t lower 0.25))))
         (bind-func starter
           (lambda (t:i64)
             (callback (+ t 4800) set-level 0.5)
             (callback (+ t 9601) quieter (+ t 9601))))
         (starter 0)",
    )
    .unwrap();
    let (out, _) = s.render(0.3);
    let left = channel(&out, 2, 0);
    // scheduled on the control thread for 4800: the buffer is split there
    assert!(left[..4800].iter().all(|&v| v == 0.0));
    assert_eq!(first_at(&left, 0.5, 0), Some(4800));
    // quieter runs on the audio thread at 9601 and schedules `lower` at the same
    // sample: it runs at the next one
    assert_eq!(first_at(&left, 0.25, 4800), Some(9602));
    assert_eq!(left[9601], 0.5);
    assert_eq!(
        s.session()
            .stats()
            .dropped_events
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[test]
fn a_callback_chain_runs_until_its_function_is_redefined() {
    let mut s = session();
    s.eval(LEVEL).unwrap();
    s.eval(
        "(bind-func tick
           (lambda (t:i64 n:i64)
             (set! level (* 0.1 (i64tod n)))
             (callback (+ t 1000) tick (+ t 1000) (+ n 1))))
         (tick 0 0)",
    )
    .unwrap();
    let (out, _) = s.render(0.1);
    let left = channel(&out, 2, 0);
    // a step every 1000 samples, each on its sample
    for n in 1..=4 {
        let step = 0.1 * n as f32;
        assert_eq!(first_at(&left, step, 0), Some(1000 * n), "step {n}");
    }
    let reached = left[4799];
    // "compiling this will stop the callbacks" (Extempore's tests): the pending
    // callback calls the new definition, which schedules nothing
    s.eval("(bind-func tick (lambda (t:i64 n:i64) void))")
        .unwrap();
    let (out, _) = s.render(0.1);
    let left = channel(&out, 2, 0);
    let held = left[0];
    assert!(held >= reached, "{held} {reached}");
    assert!(
        left.iter().all(|&v| v == held),
        "the level moved after the redefinition"
    );
}

#[test]
fn callback_checks_its_function_and_arguments() {
    let mut s = session();
    s.eval("(bind-func two (lambda (a:i64 b:double) void))")
        .unwrap();
    let e = s
        .eval("(bind-func bad1 (lambda (t:i64) (callback t two 1)))")
        .unwrap_err();
    assert!(
        e.message
            .contains("callback: the function takes 2 argument(s), given 1"),
        "{e}"
    );
    let e = s
        .eval("(bind-func bad2 (lambda (t:i64) (callback t two 1 \"x\")))")
        .unwrap_err();
    assert!(e.message.contains("type clash"), "{e}");
    let e = s
        .eval("(bind-func bad3 (lambda () (callback)))")
        .unwrap_err();
    assert!(
        e.message
            .contains("callback takes a time, a function and its arguments"),
        "{e}"
    );
}

/// One call may schedule 256 callbacks: the next one faults and is not scheduled (those
/// before it are, as every effect of a call before its fault stays).
#[test]
fn too_many_callbacks_from_one_call_fault_and_schedule_no_more() {
    let mut s = session();
    s.eval(LEVEL).unwrap();
    s.eval(
        "(bind-func add (lambda (x:double) (set! level (+ level x))))
         (bind-func flood (lambda (t:i64 n:i64) (dotimes (i n) (callback t add 0.001))))",
    )
    .unwrap();
    s.eval("(flood 100 256)").unwrap();
    let e = s.eval("(flood 200 257)").unwrap_err();
    assert!(
        e.message
            .contains("one call may schedule 256 callbacks at most"),
        "{e}"
    );
    let (out, _) = s.render(0.01);
    let left = channel(&out, 2, 0);
    // the 256 of each call ran, and not the 257th
    assert!((left[150] - 0.256).abs() < 1e-4, "{}", left[150]);
    assert!((left[300] - 0.512).abs() < 1e-4, "{}", left[300]);
}

/// `(next_event_time)` is the sample the stretch of the buffer being rendered ends at:
/// the next event's (a callback at 1000, inside the buffer of 960..1024), else the
/// buffer's end; never before `(now)`. An instrument renders its voices that far ahead.
#[test]
fn next_event_time_is_the_next_event_or_the_end_of_the_buffer() {
    let mut s = session();
    s.eval(
        "(bind-func dsp:DSP
           (lambda (in time chan dat) (* 0.001 (i64tof (- (next_event_time) (now))))))
         (dsp:set! dsp)
         (bind-func nothing (lambda () void))
         (callback 1000 nothing)",
    )
    .unwrap();
    let (out, _) = s.render(0.05);
    let left = channel(&out, 2, 0);
    let ahead = |t: usize| (f64::from(left[t]) * 1000.0).round() as i64;
    assert_eq!(
        (ahead(0), ahead(63), ahead(64)),
        (64, 1, 64),
        "to the buffer's end"
    );
    assert_eq!((ahead(960), ahead(999)), (40, 1), "to the event at 1000");
    assert_eq!(
        (ahead(1000), ahead(1023)),
        (24, 1),
        "from the event to the buffer's end"
    );
}
