//! Every file in `examples/` rendered headless and listened to: the sine's peak is at
//! its frequency, the delay's echoes come at the delay time and decay by the
//! feedback, the lowpass attenuates above its cutoff and the highpass below it, the
//! synth's notes start on the samples they were scheduled for.

mod common;

use common::{RATE, channel, magnitude, render_example, render_source, rms};

#[test]
fn sine_peaks_at_440_hz() {
    let r = render_example("sine.xtm", 1.0);
    let left = channel(&r.samples, 2, 0);
    let right = channel(&r.samples, 2, 1);
    assert_eq!(left, right);
    let (peak_freq, peak) = (100..2000)
        .step_by(5)
        .map(|f| (f, magnitude(&left, f64::from(f))))
        .fold((0, 0.0), |best, x| if x.1 > best.1 { x } else { best });
    assert_eq!(peak_freq, 440);
    assert!((peak - 0.3).abs() < 0.01, "amplitude {peak}");
    assert!(magnitude(&left, 880.0) < 0.001);
}

#[test]
fn delay_echoes_every_quarter_second_at_half_the_level() {
    let r = render_example("delay.xtm", 1.5);
    let left = channel(&r.samples, 2, 0);
    let echo = |k: usize| rms(&left, k * 12_000, 4_800);
    let levels: Vec<f64> = (0..5).map(echo).collect();
    for k in 1..5 {
        let ratio = levels[k] / levels[k - 1];
        assert!((ratio - 0.5).abs() < 0.02, "echo {k}: {levels:?}");
    }
    // Between echoes the line is quiet.
    assert!(rms(&left, 6_000, 6_000) < levels[0] * 0.01);
}

#[test]
fn filter_lowpass_and_highpass_split_at_the_cutoff() {
    let r = render_example("filter.xtm", 1.0);
    let low = channel(&r.samples, 2, 0);
    let high = channel(&r.samples, 2, 1);
    let (f_low, f_high) = (220.0, 4400.0);
    // A bare sawtooth's 40th harmonic is 1/20 of its 2nd.
    let lp_ratio = magnitude(&low, f_high) / magnitude(&low, f_low);
    let hp_ratio = magnitude(&high, f_high) / magnitude(&high, f_low);
    assert!(lp_ratio < 0.01, "lowpass keeps {lp_ratio} above the cutoff");
    assert!(hp_ratio > 0.5, "highpass keeps {hp_ratio}");
    // The resonance (q = 2) lifts the lowpass near its cutoff.
    assert!(magnitude(&low, 990.0) > magnitude(&low, 550.0) * 0.5);
}

#[test]
fn tour_drone_sweeps_its_filter_and_walks_its_notes() {
    let r = render_example("tour_drone.xtm", 6.0);
    let left = channel(&r.samples, 2, 0);
    let right = channel(&r.samples, 2, 1);
    // The drone's sub (half of D2, 36.7 Hz) and saws (73.4 Hz) in the first two
    // seconds; F2 (87.3 Hz) from the walk's second note at 2 s.
    let first = &left[24_000..96_000];
    let second = &left[120_000..192_000];
    assert!(magnitude(first, 73.4) > 5.0 * magnitude(first, 87.3));
    assert!(magnitude(second, 87.3) > 5.0 * magnitude(second, 73.4));
    // The sweep: a slow sine opens the lowpass from 200 Hz (start, phase 0.75)
    // to 3.2 kHz five seconds later, so the saws' harmonics near 1.2 kHz grow
    // (D2 in the first second, C2 at 4.5 s; each saw 0.3 % sharp or flat).
    let highs = |x: &[f32], f: f64| -> f64 {
        (14..=20)
            .map(|k| {
                magnitude(x, f64::from(k) * f * 1.003) + magnitude(x, f64::from(k) * f * 0.997)
            })
            .sum()
    };
    let early = highs(&left[0..48_000], 73.42);
    let late = highs(&left[216_000..264_000], 65.41);
    assert!(late > 4.0 * early, "early {early}, late {late}");
    // Echo and reverb make the channels differ.
    assert!(left != right);
    assert!(rms(&left, 0, left.len()) > 0.01);
}

fn synth_with_note_retuned(note: i64) -> Vec<f32> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/synth.xtm");
    let src = std::fs::read_to_string(path).unwrap();
    let retune = format!(
        "(define midi->hz (let ((old midi->hz)) (lambda (m) (if (= m {note}) 100.0 (old m)))))"
    );
    render_source(&format!("{src}\n{retune}"), 2.0).samples
}

#[test]
fn synth_notes_start_on_their_scheduled_samples() {
    let r = render_example("synth.xtm", 2.0);
    let left = channel(&r.samples, 2, 0);
    assert!(left[0] != 0.0, "the first note starts at sample 0");
    // Retuning one note changes the render from the sample it starts on, not before.
    for (note, start) in [(72, 36_000usize), (62, 72_000)] {
        let other = channel(&synth_with_note_retuned(note), 2, 0);
        let first_diff = left.iter().zip(&other).position(|(a, b)| a != b);
        assert_eq!(first_diff, Some(start), "note {note}");
    }
    // Polyphony: the previous note still sounds when the next starts.
    let tail = rms(&left, 12_000 - 480, 480);
    assert!(tail > 0.0003, "tail {tail}");
    assert_eq!(RATE, 48_000);
}
