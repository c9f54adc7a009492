//! A fault costs a message, not the music: a DSP entry that faults falls back to the
//! previous version of its definition when that one ran without a fault, and an entry
//! stopped by a fault plays again at the next definition, without `dsp:set!`. Checked by
//! listening to renders (the level of the sine at its frequency).

mod common;

use std::process::Command;

use common::{channel, magnitude, render_source};

#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

const SINE: &str = "(bind-func dsp:DSP (lambda (in time chan dat)
  (dtof (* 0.5 (sin (/ (* 6.283185307179586 440.0 (i64tod time)) 48000.0))))))";

/// Silence until sample 12,000, then a load through a null pointer.
const TYPO: &str = "(bind-func dsp:DSP (lambda (in time chan dat)
  (let ((p:float* null)) (if (> time 12000) (pref p 0) (dtof 0.0)))))";

/// (Hard swaps: the test measures where each version starts.)
fn falling_back() -> String {
    format!(
        "(dsp:fade-time 0)
{SINE}
(dsp:set! dsp)
(define (typo) (eval '{TYPO}))
(callback 6000 'typo)
"
    )
}

#[test]
fn a_faulting_redefinition_falls_back_to_the_version_that_played() {
    let r = render_source(&falling_back(), 0.5);
    let left = channel(&r.samples, 2, 0);
    // The sine, then the new version (silent), then the sine again after its fault.
    assert!(magnitude(&left[..6000], 440.0) > 0.45);
    assert!(left[6100..11900].iter().all(|s| *s == 0.0));
    for start in (12100..left.len() - 4800).step_by(2400) {
        let m = magnitude(&left[start..start + 4800], 440.0);
        assert!(m > 0.45, "440 Hz at {start}: {m}");
    }
    assert_eq!(r.summary.failures, 1);
    assert_eq!(assert_no_alloc::violation_count(), 0);
}

#[test]
fn the_fallback_is_reported_as_such() {
    let dir = std::env::temp_dir().join(format!("zonal-fallback-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("typo.xtm");
    std::fs::write(&src, falling_back()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zonal"))
        .args(["render", "--seconds", "0.5", "-o"])
        .arg(dir.join("typo.wav"))
        .arg(&src)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("faulted").count(), 1, "{stderr}");
    assert!(
        stderr.contains("dsp faulted: out-of-range memory access: read of 4 bytes at 0x0")
            && stderr
                .contains("(pref) in closure dsp (at sample 12001); playing its previous version"),
        "{stderr}"
    );
}

#[test]
fn a_corrected_definition_brings_a_stopped_entry_back() {
    // The first version faults at 4,801 with nothing to fall back to: silence. The
    // corrected one, evaluated at 9,600, plays without another dsp:set!.
    let src = format!(
        "(bind-func dsp:DSP (lambda (in time chan dat)
  (let ((p:float* null)) (if (> time 4800) (pref p 0) (dtof 0.25)))))
(dsp:set! dsp)
(define (fix) (eval '{SINE}))
(callback 9600 'fix)
"
    );
    let r = render_source(&src, 0.5);
    let left = channel(&r.samples, 2, 0);
    assert!(left[..4800].iter().all(|s| *s == 0.25));
    assert!(left[4864..9600].iter().all(|s| *s == 0.0));
    for start in (9700..left.len() - 4800).step_by(2400) {
        let m = magnitude(&left[start..start + 4800], 440.0);
        assert!(m > 0.45, "440 Hz at {start}: {m}");
    }
    assert_eq!(r.summary.failures, 1);
}

#[test]
fn an_entry_redefined_with_another_type_plays_without_dsp_set() {
    // DSP with doubles, then the same sine as a float DSP: a new entry type.
    let src = format!(
        "(dsp:fade-time 0)
(bind-func dsp:[double,double,i64,i64,double*]* (lambda (in time chan dat) 0.25))
(dsp:set! dsp)
(define (retype) (eval '{SINE}))
(callback 4800 'retype)
"
    );
    let r = render_source(&src, 0.3);
    let left = channel(&r.samples, 2, 0);
    assert!(left[..4800].iter().all(|s| *s == 0.25));
    let m = magnitude(&left[4864..4864 + 4800], 440.0);
    assert!(m > 0.45, "440 Hz after the new type: {m}");
    assert_eq!(r.summary.failures, 0);
}

#[test]
fn a_deep_recursion_plays_and_a_runaway_one_falls_back_on_the_audio_thread() {
    // 10,000 nested calls per buffer fit the audio thread's stack; an endless recursion
    // (from sample 12,000) faults at its stack's end instead of crashing the engine.
    let src = format!(
        "(bind-func depth_sum (lambda (n:i64) (if (= n 0) 0 (+ n (depth_sum (- n 1))))))
{SINE}
(dsp:set! dsp)
(define (deep) (eval '(bind-func dsp:DSP (lambda (in time chan dat)
  (let ((n (if (> time 12000) -1 10000)))
    (dtof (* (if (= (depth_sum n) 50005000) 0.5 0.0)
             (sin (/ (* 6.283185307179586 440.0 (i64tod time)) 48000.0)))))))))
(callback 6000 'deep)
"
    );
    let r = render_source(&src, 0.5);
    let left = channel(&r.samples, 2, 0);
    assert!(
        magnitude(&left[6400..11200], 440.0) > 0.45,
        "the deep version plays"
    );
    assert!(
        magnitude(&left[14400..19200], 440.0) > 0.45,
        "the fallback plays"
    );
    assert_eq!(r.summary.failures, 1);
    assert_eq!(assert_no_alloc::violation_count(), 0);
}
