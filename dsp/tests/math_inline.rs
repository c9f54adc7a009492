//! Inline math heard through the language: oscillators written with `sin`, `cos`,
//! `sin_fast` and float `sin`, rendered and analysed (the tone sits at its frequency, with
//! everything else far below it), including a phase that has run for a long session.

mod common;
use common::setup;
use zonal_dsp::Entry;

const RATE: f64 = 48_000.0;

fn render(src: &str, name: &str, n: usize) -> Vec<f32> {
    let (dsp, mut ctx) = setup(src);
    let e: Entry = dsp.entry(name).expect("a DSP entry");
    (0..n)
        .map(|t| {
            let mut o = [0.0f32];
            ctx.run_sample(e, &[0.0], t as i64, &mut o)
                .expect("no fault");
            o[0]
        })
        .collect()
}

/// The power of `x` at `hz` (Goertzel), per sample.
fn power_at(x: &[f32], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / RATE;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s = f64::from(v) + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.len() as f64).powi(2)
}

/// The tone is at `hz`: its power there is at least 1e6 times (60 dB) that at any other
/// multiple of 100 Hz up to 10 kHz.
fn assert_tone_at(name: &str, x: &[f32], hz: f64) {
    let at = power_at(x, hz);
    assert!(at > 0.01, "{name}: power {at} at {hz} Hz");
    for k in 1..100 {
        let f = 100.0 * f64::from(k);
        if (f - hz).abs() < 50.0 {
            continue;
        }
        let p = power_at(x, f);
        assert!(
            p * 1e6 < at,
            "{name}: {p} at {f} Hz against {at} at {hz} Hz"
        );
    }
}

fn osc(expr: &str, start: &str) -> String {
    format!(
        "(bind-func osc:DSP
           (let ((phase:double {start}))
             (lambda (in time chan dat)
               (set! phase (+ phase (/ (* 2.0 3.141592653589793 1000.0) 48000.0)))
               (dtof (* 0.5 {expr})))))"
    )
}

#[test]
fn an_inline_sine_is_a_pure_tone() {
    let x = render(&osc("(sin phase)", "0.0"), "osc", 4800);
    assert_tone_at("sin", &x, 1000.0);
}

#[test]
fn a_sine_whose_phase_ran_for_a_long_session_stays_a_pure_tone_and_matches_libm() {
    // 1e9 radians is about 44 hours of a 1 kHz phase that is never wrapped.
    let x = render(&osc("(cos phase)", "1000000000.0"), "osc", 4800);
    assert_tone_at("cos at 1e9", &x, 1000.0);
    let mut phase = 1e9f64;
    for (i, got) in x.iter().enumerate() {
        phase += 2.0 * std::f64::consts::PI * 1000.0 / 48000.0;
        let want = (0.5 * phase.cos()) as f32;
        assert_eq!(*got, want, "sample {i}");
    }
}

#[test]
fn sin_fast_and_float_sin_are_pure_tones() {
    let x = render(&osc("(sin_fast phase)", "0.0"), "osc", 4800);
    assert_tone_at("sin_fast", &x, 1000.0);
    let x = render(&osc("(ftod (sin (dtof phase)))", "0.0"), "osc", 4800);
    assert_tone_at("float sin", &x, 1000.0);
}
