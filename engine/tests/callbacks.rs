//! Temporal recursion gone wrong: a chain of callbacks that does not advance time is
//! stopped with an error naming the function (a render ends, nothing hangs), and the
//! errors of callbacks reach the requester that scheduled them, not only stderr.
//! Variants found by fuzzing: a chain into the past, two functions calling each other,
//! a chain that fans out, an unbound name, a wrong arity, a time far in the past.

mod common;

use std::time::{Duration, Instant};

use zonal_engine::render::render_session;
use zonal_engine::session::Session;

/// Evaluates `src` as an editor request would and renders `seconds`; returns what the
/// callbacks reported to that requester and how many failures the render counted.
fn render_noting(src: &str, seconds: f64) -> (Vec<String>, usize) {
    let cfg = common::config(seconds);
    let (mut session, processor) = Session::with_audio(&cfg.session).unwrap();
    let (notices, noted) = crossbeam_channel::unbounded();
    session
        .eval_source_with(src, "callbacks.xtm", Some(notices))
        .unwrap();
    let started = Instant::now();
    let rendered = render_session(&mut session, processor, &cfg).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the render took {:?}",
        started.elapsed()
    );
    (noted.try_iter().collect(), rendered.summary.failures)
}

fn assert_stopped(src: &str, name: &str) {
    let (noted, failures) = render_noting(src, 0.2);
    assert_eq!(noted.len(), 1, "{src}: {noted:#?}");
    assert!(
        noted[0].contains(&format!(
            "callback to `{name}` stopped: time does not advance"
        )) && noted[0].contains("10000 callbacks in a row"),
        "{src}: {}",
        noted[0]
    );
    assert_eq!(failures, 1, "{src}");
}

#[test]
fn a_callback_rescheduling_itself_at_now_is_stopped_naming_it() {
    assert_stopped("(define (f) (callback (now) 'f)) (callback (now) 'f)", "f");
}

#[test]
fn a_callback_rescheduling_itself_in_the_past_is_stopped() {
    assert_stopped(
        "(define (g) (callback (- (now) 100) 'g)) (callback (now) 'g)",
        "g",
    );
}

#[test]
fn two_callbacks_scheduling_each_other_at_now_are_stopped() {
    let src = "(define (ping) (callback (now) 'pong))
               (define (pong) (callback (now) ping))
               (callback 480 'ping)";
    let (noted, failures) = render_noting(src, 0.2);
    assert_eq!(noted.len(), 1, "{noted:#?}");
    assert!(
        noted[0].contains("stopped: time does not advance"),
        "{noted:?}"
    );
    assert_eq!(failures, 1);
}

#[test]
fn a_zero_time_chain_that_fans_out_is_stopped_once() {
    let src = "(define (h) (callback (now) 'h) (callback (now) 'h)) (callback (now) 'h)";
    assert_stopped(src, "h");
}

#[test]
fn chains_that_advance_time_and_many_callbacks_at_one_time_are_not_stopped() {
    let src = "(define count 0)
               (define (tick n) (set! count (+ count 1))
                 (if (< n 15000) (callback (+ (now) 1) 'tick (+ n 1))))
               (define (noop) (set! count (+ count 1)))
               (let loop ((i 0)) (when (< i 12000) (callback 4800 'noop) (loop (+ i 1))))
               (callback 0 'tick 1)";
    let (noted, failures) = render_noting(src, 0.5);
    assert_eq!(noted, Vec::<String>::new());
    assert_eq!(failures, 0);
}

#[test]
fn errors_in_callbacks_reach_the_requester_naming_the_function() {
    let src = "(define (two a b) a)
               (define (boom) (car 5))
               (callback (now) 'nosuch)
               (callback (+ (now) 64) 'two 1)
               (callback (+ (now) 128) 'boom)
               (callback -1000000000 (lambda () (car '())))";
    let (noted, failures) = render_noting(src, 0.1);
    assert_eq!(noted.len(), 4, "{noted:#?}");
    assert!(
        noted[0].starts_with("error in callback")
            && noted[0].contains("at sample -1000000000")
            && noted[0].contains("car"),
        "{}",
        noted[0]
    );
    assert!(
        noted[1].starts_with("error in callback `nosuch` at sample 0")
            && noted[1].contains("callback to `nosuch`, which is not defined"),
        "{}",
        noted[1]
    );
    assert!(
        noted[2].starts_with("error in callback `two` at sample 64")
            && noted[2].contains("wrong number of arguments: two wants 2"),
        "{}",
        noted[2]
    );
    assert!(
        noted[3].starts_with("error in callback `boom` at sample 128")
            && noted[3].contains("car wants a pair 5"),
        "{}",
        noted[3]
    );
    assert_eq!(failures, 4);
}

#[test]
fn a_chain_started_far_in_the_past_runs_and_ends() {
    let src = "(define runs 0)
               (define (back n) (set! runs (+ runs 1))
                 (if (> n 0) (callback (- (now) 1000000000) 'back (- n 1))))
               (callback -1000000000 'back 5)";
    let cfg = common::config(0.05);
    let (mut session, processor) = Session::with_audio(&cfg.session).unwrap();
    session.eval_source(src, "past.xtm").unwrap();
    let rendered = render_session(&mut session, processor, &cfg).unwrap();
    assert_eq!(rendered.summary.failures, 0);
    assert_eq!(session.eval_source("runs", "check.scm").unwrap(), "6");
}
