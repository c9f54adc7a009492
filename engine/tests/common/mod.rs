//! Helpers shared by the engine's integration tests: rendering source text and
//! listening to the result (spectral magnitude, windowed RMS, onsets).

#![allow(dead_code)]

use std::path::Path;

use zonal_engine::render::{RenderConfig, Rendered, SampleFormat, render_files, render_session};
use zonal_engine::session::{Session, SessionConfig};

pub const RATE: u32 = 48_000;

pub fn config(seconds: f64) -> RenderConfig {
    RenderConfig {
        session: SessionConfig {
            sample_rate: RATE,
            channels: 2,
            ..SessionConfig::default()
        },
        buffer_frames: 64,
        seconds,
        format: SampleFormat::F32,
        progress: false,
    }
}

/// Evaluates `src` in a fresh session (panicking on an evaluation error) and renders it.
pub fn render_source(src: &str, seconds: f64) -> Rendered {
    let cfg = config(seconds);
    let (mut session, processor) = Session::with_audio(&cfg.session).unwrap();
    if let Err(e) = session.eval_source(src, "test.xtm") {
        panic!("evaluation failed: {e}");
    }
    render_session(&mut session, processor, &cfg).unwrap()
}

/// Renders one of the files in `examples/`.
pub fn render_example(name: &str, seconds: f64) -> Rendered {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    let rendered = render_files(&[path], &config(seconds)).unwrap();
    assert_eq!(rendered.summary.failures, 0, "{name} reported failures");
    rendered
}

/// One channel of interleaved samples.
pub fn channel(samples: &[f32], channels: usize, c: usize) -> Vec<f32> {
    samples.iter().skip(c).step_by(channels).copied().collect()
}

/// Magnitude of the `freq` component of `x` (Goertzel), normalised so that a sine of
/// amplitude A gives about A.
pub fn magnitude(x: &[f32], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(RATE);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &v in x {
        let s0 = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power.max(0.0).sqrt() / x.len() as f64
}

/// RMS of `x[start..start + len]`.
pub fn rms(x: &[f32], start: usize, len: usize) -> f64 {
    let w = &x[start..(start + len).min(x.len())];
    (w.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / w.len().max(1) as f64).sqrt()
}

/// Indices where |x| first rises above `threshold` after at least `gap` quiet samples
/// (`zonal_engine::testing::analysis::onsets` on `f32` samples).
pub fn onsets(x: &[f32], threshold: f32, gap: usize) -> Vec<usize> {
    let x: Vec<f64> = x.iter().map(|v| f64::from(*v)).collect();
    zonal_engine::testing::analysis::onsets(&x, f64::from(threshold), gap)
}
