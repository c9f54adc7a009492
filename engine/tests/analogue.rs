//! The `analogue` instrument (`libs/core/instruments/analogue.xtm`) built with
//! Extempore's set_* interface, as Extempore's presets build it, and listened to: its
//! pitch, its filter, its amplitude envelope's times, its oscillators' waves, and
//! set_polyphonic against set_monophonic.

mod common;

use common::{RATE, channel, magnitude, render_source, rms};
use zonal_engine::testing::analysis::peak_frequency;

const FS: f64 = RATE as f64;

/// A session with the analogue `an` on the dsp, set up by the xtlang preset body
/// `preset` (of `inst`), then `play` (Scheme).
fn analogue(preset: &str, play: &str) -> String {
    format!(
        r#"(sys:load "libs/core/instruments.xtm")
(make-instrument an analogue)
(bind-func dsp:DSP (lambda (in time chan dat) (an in time chan dat)))
(dsp:set! dsp)
(bind-func test_preset
  (lambda (inst)
    (analogue_reset inst)
    {preset}
    void))
(test_preset an)
{play}"#
    )
}

fn left(src: &str, seconds: f64) -> Vec<f32> {
    let r = render_source(src, seconds);
    assert_eq!(r.summary.failures, 0, "the render reported failures");
    channel(&r.samples, 2, 0)
}

fn seconds(x: &[f32], from: f64, to: f64) -> &[f32] {
    &x[(from * FS) as usize..(to * FS) as usize]
}

fn pitch(x: &[f32], from: f64, to: f64) -> f64 {
    let seg: Vec<f64> = seconds(x, from, to).iter().map(|v| f64::from(*v)).collect();
    peak_frequency(&seg, FS).expect("a pitch")
}

#[test]
fn a_preset_of_set_calls_plays_at_its_tuned_pitch() {
    let x = left(
        &analogue(
            "(set_osc1_amp inst 0.4) (set_osc1_wave inst PARAM_PULSE) (set_osc1_tune inst 0.5)
             (set_osc2_amp inst 0.4) (set_osc2_wave inst PARAM_SAW) (set_osc2_tune inst 0.5)
             (set_filter_frq inst 2000.0) (set_filter_env inst 0.0 100.0 0.0 300.0)
             (set_filter_env_amt inst 500.0) (set_amp_env inst 5.0 0.0 1.0 300.0)
             (set_gain inst 4.0)",
            "(play-note 0 an 69 80 48000)",
        ),
        1.6,
    );
    // A4 with both oscillators tuned down an octave
    let f = pitch(&x, 0.1, 0.9);
    assert!((f - 220.0).abs() < 1.0, "at {f:.2} Hz");
    assert!(
        rms(&x, 48000 + 24000, 4800) < 1e-4,
        "silent after its release"
    );
}

#[test]
fn the_filter_cutoff_takes_the_energy_above_it() {
    // the same saw note through an open filter, then through one at 400 Hz
    let x = left(
        &analogue(
            "(set_osc1_wave inst PARAM_SAW) (set_filter_frq inst 12000.0)",
            "(play-note 0 an 45 40 24000)
             (callback 30000 set_filter_frq an 400.0)
             (play-note 36000 an 45 40 24000)",
        ),
        1.4,
    );
    let high = |from: f64| -> f64 {
        (20..40)
            .map(|n| magnitude(seconds(&x, from, from + 0.4), 110.0 * f64::from(n)))
            .sum()
    };
    let (open, closed) = (high(0.05), high(0.8));
    assert!(
        open > 100.0 * closed,
        "2.2-4.4 kHz: {open:.2e} open, {closed:.2e} at a 400 Hz cutoff"
    );
    // the fundamental passes both
    let f_open = magnitude(seconds(&x, 0.05, 0.45), 110.0);
    let f_closed = magnitude(seconds(&x, 0.8, 1.2), 110.0);
    assert!(f_closed > 0.5 * f_open, "{f_open:.4} {f_closed:.4}");
}

#[test]
fn the_amplitude_envelope_holds_its_attack_and_release_times() {
    // a sine, quiet enough that the overdrive is linear: 100 ms attack, 200 ms
    // release (plus Extempore's 3 ms) after the gate closes at 0.5 s
    let x = left(
        &analogue(
            "(set_osc1_wave inst PARAM_SINE) (set_amp_env inst 100.0 0.0 1.0 200.0)",
            "(play-note 0 an 69 40 24000)",
        ),
        1.0,
    );
    let level = |t: f64| rms(&x, (t * FS) as usize - 240, 480);
    let full = level(0.3);
    assert!(full > 0.005, "sounds: {full}");
    let half_attack = level(0.05) / full;
    assert!(
        (0.4..0.6).contains(&half_attack),
        "at 50 ms: {half_attack:.3}"
    );
    assert!(level(0.12) / full > 0.97, "full after the attack");
    let half_release = level(0.6015) / full;
    assert!(
        (0.4..0.6).contains(&half_release),
        "100 ms into the release: {half_release:.3}"
    );
    assert!(level(0.72) < 1e-5, "done after the release");
}

#[test]
fn a_sine_oscillator_has_no_harmonics_and_a_saw_falls_as_one_over_n() {
    // osc 1 at 0.1, where the ladder's saturation adds no harmonic of note
    let x = left(
        &analogue(
            "(set_osc1_wave inst PARAM_SINE) (set_osc1_amp inst 0.1) (set_gain inst 10.0)",
            "(play-note 0 an 57 30 24000)
             (callback 30000 set_osc1_wave an PARAM_SAW)
             (play-note 36000 an 57 30 24000)",
        ),
        1.3,
    );
    let sine = seconds(&x, 0.05, 0.45);
    let s1 = magnitude(sine, 220.0);
    for n in 2..6 {
        let h = magnitude(sine, 220.0 * f64::from(n));
        assert!(
            h < 0.01 * s1,
            "sine's harmonic {n}: {h:.2e} against {s1:.2e}"
        );
    }
    let saw = seconds(&x, 0.8, 1.2);
    let w1 = magnitude(saw, 220.0);
    for n in 2..6 {
        let ratio = magnitude(saw, 220.0 * f64::from(n)) / w1;
        let want = 1.0 / f64::from(n);
        assert!(
            (ratio - want).abs() < 0.15 * want,
            "saw's harmonic {n} at {ratio:.3} of the fundamental, not {want:.3}"
        );
    }
}

#[test]
fn set_polyphonic_sounds_a_chord_and_set_monophonic_its_last_note() {
    let chord = "(play-note 0 an '(48 52 55) 40 24000)";
    let heard = |preset: &str| -> Vec<f64> {
        let x = left(&analogue(preset, chord), 0.5);
        [130.81, 164.81, 196.0]
            .iter()
            .map(|f| magnitude(seconds(&x, 0.1, 0.45), *f))
            .collect()
    };
    let poly = heard("(set_osc1_wave inst PARAM_SINE) (set_polyphonic inst)");
    assert!(poly.iter().all(|m| *m > 0.002), "all three: {poly:?}");
    let mono = heard("(set_osc1_wave inst PARAM_SINE) (set_monophonic inst)");
    let sounding = mono.iter().filter(|m| **m > 0.002).count();
    assert_eq!(sounding, 1, "one voice: {mono:?}");
}

#[test]
fn an_lfo_through_the_mod_matrix_moves_the_pitch() {
    // vibrato of 20 Hz depth at 2 Hz on osc 1's frequency: the pitch's spread
    // over a cycle, none without the matrix entry
    let spread = |matrix: &str| -> f64 {
        let x = left(
            &analogue(
                &format!(
                    "(set_osc1_wave inst PARAM_SINE) (set_lfo inst PARAM_LFO1 1.0 2.0 0.0 0) {matrix}"
                ),
                "(play-note 0 an 69 40 48000)",
            ),
            1.0,
        );
        let p: Vec<f64> = (0..8)
            .map(|k| {
                pitch(
                    &x,
                    0.1 + 0.0625 * f64::from(k),
                    0.1 + 0.0625 * f64::from(k + 1) + 0.05,
                )
            })
            .collect();
        p.iter().cloned().fold(f64::MIN, f64::max) - p.iter().cloned().fold(f64::MAX, f64::min)
    };
    let still = spread("");
    let moving = spread("(set_mod_matrix inst PARAM_LFO1 PARAM_OSC1_FRQ 20.0)");
    assert!(still < 2.0, "without the matrix entry: {still:.2} Hz");
    assert!(moving > 15.0, "with it: {moving:.2} Hz");
}

#[test]
fn set_filter_type_bpf_passes_a_band_of_noise() {
    // white noise through the ladder at 1.5 kHz: a band-pass, then a low-pass
    let x = left(
        &analogue(
            "(set_osc1_amp inst 0.0) (set_noise_type inst PARAM_WHITE) (set_noise_amp inst 1.0)
             (set_filter_type inst PARAM_BPF) (set_filter_frq inst 1500.0) (set_filter_res inst 0.5)",
            "(play-note 0 an 60 60 24000)
             (callback 25000 set_filter_type an PARAM_LPF)
             (play-note 26000 an 60 60 24000)",
        ),
        1.1,
    );
    let band = |from: f64, lo: f64, hi: f64| -> f64 {
        (0..7)
            .map(|k| {
                magnitude(
                    seconds(&x, from, from + 0.2),
                    lo + (hi - lo) * f64::from(k) / 6.0,
                )
                .powi(2)
            })
            .sum()
    };
    let bpf = band(0.2, 100.0, 300.0) / band(0.2, 1200.0, 1800.0);
    let lpf = band(0.75, 100.0, 300.0) / band(0.75, 1200.0, 1800.0);
    assert!(
        bpf < 0.05,
        "band-pass: 100-300 Hz at {bpf:.2e} of 1.2-1.8 kHz"
    );
    assert!(
        lpf > 20.0 * bpf,
        "low-pass: 100-300 Hz at {lpf:.2e} of 1.2-1.8 kHz"
    );
}

#[test]
fn extempores_combined_setters_set_their_parts() {
    let x = left(
        &analogue(
            "(set_osc inst 1 0.3 PARAM_SINE 2.0 0.5 0.0)
             (set_filter inst 3000.0 0.2 1.0 12 500.0 0.5 0.0)
             (set_delay inst 0.2 125.0 250.0 0.5)
             (set_reverb inst 0.1 0.6 30.0 0.2)
             (set_flanger inst 0.3 1.0 3.0 0.2 0.4)
             (set_main inst 3.0 0.25 10.0 0)",
            r#"(define (want name v)
                 (if (> (abs (- (get-instrument-param an name) v)) 1e-6)
                     (error "analogue parameter" name (get-instrument-param an name) v)))
               (for-each (lambda (p) (want (car p) (cdr p)))
                 '((osc1-amp . 0.3) (osc1-wave . 0.0) (osc1-tune . 2.0) (osc1-pw . 0.5)
                   (cutoff . 3000.0) (res . 0.2) (filter-type . 12.0) (filter-env . 500.0)
                   (follow-frq . 0.5) (delay-mix . 0.2) (delay-left . 125.0)
                   (delay-right . 250.0) (delay-feedback . 0.5) (reverb-mix . 0.1)
                   (reverb-size . 0.6) (reverb-predelay . 30.0) (reverb-absorb . 0.2)
                   (flanger-mix . 0.3) (flanger-low . 1.0) (flanger-high . 3.0)
                   (flanger-rate . 0.2) (flanger-feedback . 0.4) (gain . 3.0) (pan . 0.25)
                   (portamento . 10.0) (legato . 0.0)))
               (play-note 0 an 57 40 24000)"#,
        ),
        0.5,
    );
    // A3 through a sine tuned an octave up
    let f = pitch(&x, 0.05, 0.45);
    assert!((f - 440.0).abs() < 1.0, "at {f:.2} Hz");
}
