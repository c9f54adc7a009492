//! Listening to rendered audio: levels, spectra, onsets and comparisons on plain
//! sample slices, as `zonal test`'s assertions and Rust tests use them.
//!
//! Every function takes one channel (or a mix) of samples and the sample rate, and
//! answers in the units a musician reads: amplitude (1.0 is full scale), dB, Hz,
//! sample indices.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// One channel of interleaved `samples`, or the average of all channels when
/// `channel` is negative (Extempore's audiotest convention).
pub fn channel(samples: &[f32], channels: usize, channel: i64) -> Vec<f64> {
    let channels = channels.max(1);
    match usize::try_from(channel) {
        Ok(c) => samples
            .iter()
            .skip(c)
            .step_by(channels)
            .map(|&v| f64::from(v))
            .collect(),
        Err(_) => samples
            .chunks(channels)
            .map(|f| f.iter().map(|&v| f64::from(v)).sum::<f64>() / channels as f64)
            .collect(),
    }
}

/// The largest absolute sample.
pub fn peak(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Root mean square (0 for no samples).
pub fn rms(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

/// Goertzel power at the DFT bin nearest `freq` over all of `x` — Extempore's
/// `audiotest_goertzel`, with its scale (a full-scale sine of N samples gives about
/// N²/4).
pub fn goertzel_power(x: &[f64], rate: f64, freq: f64) -> f64 {
    let n = x.len() as f64;
    if x.is_empty() {
        return 0.0;
    }
    let k = (0.5 + n * freq / rate).floor();
    let coeff = 2.0 * (std::f64::consts::TAU * k / n).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s2 * s2 + s1 * s1 - coeff * s1 * s2
}

/// The amplitude of the `freq` component of `x` (a sine of amplitude A gives about A,
/// whether or not `freq` falls on a bin): a Hann-windowed single-frequency DFT.
pub fn amplitude_at(x: &[f64], rate: f64, freq: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let n = x.len() as f64;
    let w = std::f64::consts::TAU * freq / rate;
    let (mut re, mut im, mut wsum) = (0.0, 0.0, 0.0);
    for (i, &v) in x.iter().enumerate() {
        let hann = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n).cos();
        let (s, c) = (w * i as f64).sin_cos();
        re += hann * v * c;
        im -= hann * v * s;
        wsum += hann;
    }
    2.0 * (re * re + im * im).sqrt() / wsum
}

/// Amplitude as decibels relative to full scale (-inf for silence).
pub fn db(amplitude: f64) -> f64 {
    20.0 * amplitude.log10()
}

/// The frequency of the strongest spectral peak of `x` (DC excluded), from a
/// Hann-windowed FFT over at most 2^16 samples taken from the middle of `x`, refined
/// by parabolic interpolation of the log magnitudes; `None` for silence or fewer
/// than 64 samples.
pub fn peak_frequency(x: &[f64], rate: f64) -> Option<f64> {
    if x.len() < 64 {
        return None;
    }
    // the largest power of two that fits
    let n = 1usize << (usize::BITS - 1 - x.len().min(1 << 16).leading_zeros());
    let start = (x.len() - n) / 2;
    let mut buf: Vec<Complex<f64>> = x[start..start + n]
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let hann = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos();
            Complex::new(v * hann, 0.0)
        })
        .collect();
    FftPlanner::new().plan_fft_forward(n).process(&mut buf);
    let mags: Vec<f64> = buf[..n / 2].iter().map(|c| c.norm()).collect();
    let (k, &m) = mags
        .iter()
        .enumerate()
        .skip(1)
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    if m <= 1e-9 {
        return None;
    }
    let offset = match (mags.get(k - 1), mags.get(k + 1)) {
        (Some(&a), Some(&c)) if a > 0.0 && c > 0.0 => {
            let (a, b, c) = (a.ln(), m.ln(), c.ln());
            let d = a - 2.0 * b + c;
            if d.abs() > 1e-12 {
                0.5 * (a - c) / d
            } else {
                0.0
            }
        }
        _ => 0.0,
    };
    Some((k as f64 + offset) * rate / n as f64)
}

/// Sample indices where |x| rises above `threshold` after at least `gap` samples at
/// or below it (the first sample above the threshold counts as an onset).
pub fn onsets(x: &[f64], threshold: f64, gap: usize) -> Vec<usize> {
    let mut found = Vec::new();
    let mut quiet = gap;
    for (i, v) in x.iter().enumerate() {
        if v.abs() > threshold {
            if quiet >= gap {
                found.push(i);
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    found
}

/// The largest absolute difference between two signals over their common length, and
/// the index where it occurs; `None` when their lengths differ.
pub fn max_difference(a: &[f64], b: &[f64]) -> Option<(f64, usize)> {
    if a.len() != b.len() {
        return None;
    }
    Some(
        a.iter()
            .zip(b)
            .enumerate()
            .map(|(i, (x, y))| ((x - y).abs(), i))
            .fold((0.0, 0), |m, d| if d.0 > m.0 { d } else { m }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 48_000.0;

    fn sine(freq: f64, amp: f64, n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| amp * (std::f64::consts::TAU * freq * i as f64 / RATE).sin())
            .collect()
    }

    #[test]
    fn amplitude_of_an_off_bin_sine_is_its_amplitude() {
        let x = sine(441.7, 0.25, 48_000);
        assert!((amplitude_at(&x, RATE, 441.7) - 0.25).abs() < 1e-3);
        assert!(amplitude_at(&x, RATE, 1_000.0) < 1e-4);
        assert!((db(amplitude_at(&x, RATE, 441.7)) - db(0.25)).abs() < 0.05);
    }

    #[test]
    fn peak_frequency_is_within_a_tenth_of_a_bin() {
        for f in [55.0, 440.0, 1234.5, 15_000.0] {
            let x = sine(f, 0.5, 30_000);
            let got = peak_frequency(&x, RATE).unwrap();
            assert!(
                (got - f).abs() < 0.1 * RATE / 16_384.0,
                "{f} Hz read as {got}"
            );
        }
        assert_eq!(peak_frequency(&[0.0; 1000], RATE), None);
    }

    #[test]
    fn goertzel_power_has_extempores_scale() {
        let x = sine(480.0, 1.0, 4800);
        let p = goertzel_power(&x, RATE, 480.0);
        assert!((p / (4800.0f64 * 4800.0 / 4.0) - 1.0).abs() < 1e-6);
        assert!(goertzel_power(&x, RATE, 960.0) < 1e-6 * p);
    }

    #[test]
    fn onsets_are_found_on_their_sample() {
        let mut x = vec![0.0; 10_000];
        for &at in &[100, 4_000, 9_000] {
            x[at..at + 50].fill(0.5);
        }
        assert_eq!(onsets(&x, 0.1, 1_000), vec![100, 4_000, 9_000]);
    }

    #[test]
    fn channels_are_taken_apart_and_mixed() {
        let s = [1.0, -1.0, 0.5, 0.25];
        assert_eq!(channel(&s, 2, 0), vec![1.0, 0.5]);
        assert_eq!(channel(&s, 2, 1), vec![-1.0, 0.25]);
        assert_eq!(channel(&s, 2, -1), vec![0.0, 0.375]);
        assert_eq!(rms(&[3.0, -3.0]), 3.0);
        assert_eq!(peak(&[0.5, -0.75]), 0.75);
        assert_eq!(max_difference(&[1.0, 2.0], &[1.0, 2.5]), Some((0.5, 1)));
        assert_eq!(max_difference(&[1.0], &[1.0, 2.5]), None);
    }
}
