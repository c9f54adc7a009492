//! Pictures of the sound: `zonal plot in.wav -o out.png` and `zonal render --plot
//! out.png` draw a PNG with the waveform of every channel above a spectrogram of their
//! average, with axes in seconds, Hz and dB (a colour bar), using `plotters`' bitmap
//! backend.
//!
//! Text is drawn with `ab_glyph` and a font built into the binary (DejaVu Sans Mono,
//! `engine/assets/`), so plotting needs no system font library. The spectrogram is
//! computed here, with rustfft: one Hann-windowed FFT of [`FFT_SIZE`] frames per pixel
//! column, centred on that column's time; each pixel row shows the loudest bin of its
//! band, in dB relative to a full-scale sine, from [`FLOOR_DB`] (black) to 0 dB (white)
//! through red and yellow, so brightness grows with level.

use std::path::Path;
use std::sync::Once;

use anyhow::Context as _;
use plotters::prelude::*;
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// The picture's size in pixels.
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 800;
/// Frames per FFT of the spectrogram (fewer when the sound is shorter).
pub const FFT_SIZE: usize = 2048;
/// The most samples a file to plot may hold (4 GiB decoded).
pub const MAX_SAMPLES: u64 = 1 << 30;
/// The quietest level the spectrogram shows, in dB relative to a full-scale sine.
pub const FLOOR_DB: f64 = -100.0;

/// Where things went in a picture, for the musician's summary and for tests.
#[derive(Clone, Debug, PartialEq)]
pub struct PlotSummary {
    pub width: u32,
    pub height: u32,
    /// The spectrogram's pixels: columns `x.0..x.1` run over the sound's duration, rows
    /// `y.0..y.1` from the highest frequency (Nyquist, the top row) down to 0 Hz.
    pub spectrogram_x: (i32, i32),
    pub spectrogram_y: (i32, i32),
    /// The frequency of the top row, half the sample rate.
    pub nyquist: f64,
    pub seconds: f64,
}

/// The font every label is drawn in, registered with plotters once.
fn register_font() -> anyhow::Result<()> {
    static FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| anyhow::anyhow!("the built-in font cannot be read"));
    });
    result
}

/// Draws the WAV file at `input` into a PNG at `output`.
pub fn plot_wav(input: &Path, output: &Path) -> anyhow::Result<PlotSummary> {
    let reader = hound::WavReader::open(input)
        .with_context(|| format!("cannot read {} as a WAV file", input.display()))?;
    let spec = reader.spec();
    let samples_in_file = u64::from(reader.duration()) * u64::from(spec.channels);
    if samples_in_file > MAX_SAMPLES {
        anyhow::bail!(
            "{} holds {samples_in_file} samples, more than zonal plots ({MAX_SAMPLES}): cut it shorter",
            input.display()
        );
    }
    let samples =
        crate::input::decode(reader).with_context(|| format!("cannot read {}", input.display()))?;
    plot_samples(
        &samples,
        usize::from(spec.channels),
        spec.sample_rate,
        output,
    )
}

/// Draws interleaved `samples` of `channels` channels at `sample_rate` into a PNG at
/// `output`.
pub fn plot_samples(
    samples: &[f32],
    channels: usize,
    sample_rate: u32,
    output: &Path,
) -> anyhow::Result<PlotSummary> {
    register_font()?;
    let channels = channels.max(1);
    let rate = f64::from(sample_rate.max(1));
    let frames = samples.len() / channels;
    let seconds = (frames as f64 / rate).max(1.0 / rate);
    let nyquist = rate / 2.0;
    let failed =
        |e: &dyn std::fmt::Display| anyhow::anyhow!("cannot draw {}: {e}", output.display());

    let root = BitMapBackend::new(output, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(&e))?;
    let (top, bottom) = root.split_vertically(HEIGHT * 7 / 20);
    let (spectrum_area, bar_area) = bottom.split_horizontally(WIDTH - 130);

    // the waveform: each pixel column shows the range of the samples it covers
    let mut wave = ChartBuilder::on(&top)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..seconds, -1.0f64..1.0)
        .map_err(|e| failed(&e))?;
    wave.configure_mesh()
        .x_desc("time (s)")
        .y_desc("amplitude")
        .light_line_style(WHITE.mix(0.0))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 14))
        .draw()
        .map_err(|e| failed(&e))?;
    let columns = (wave.plotting_area().get_pixel_range().0.len()).max(1);
    let colours = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for c in 0..channels {
        let colour = colours[c % colours.len()].mix(0.7);
        let lines = (0..columns).filter_map(|i| {
            let (lo, hi) = (
                i * frames / columns,
                ((i + 1) * frames / columns).max(i * frames / columns + 1),
            );
            let range = samples.get(lo * channels..hi.min(frames) * channels)?;
            let values = range
                .iter()
                .skip(c)
                .step_by(channels)
                .map(|&s| f64::from(s));
            let (min, max) = values.fold((f64::MAX, f64::MIN), |(a, b), s| (a.min(s), b.max(s)));
            let t = lo as f64 / rate;
            (min <= max).then(|| PathElement::new(vec![(t, min), (t, max)], colour))
        });
        wave.draw_series(lines).map_err(|e| failed(&e))?;
    }

    // the spectrogram, pixel by pixel
    let mut spectrum = ChartBuilder::on(&spectrum_area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..seconds, 0.0..nyquist)
        .map_err(|e| failed(&e))?;
    spectrum
        .configure_mesh()
        .disable_mesh()
        .x_desc("time (s)")
        .y_desc("frequency (Hz)")
        .y_label_formatter(&|hz| format!("{hz:.0}"))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 14))
        .draw()
        .map_err(|e| failed(&e))?;
    let (xs, ys) = spectrum.plotting_area().get_pixel_range();
    let mono: Vec<f32> = samples
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    let levels = spectrogram(&mono, xs.len(), ys.len());
    for (i, x) in xs.clone().enumerate() {
        for (j, y) in ys.clone().enumerate() {
            let colour = heat(levels[i * ys.len() + j]);
            root.draw_pixel((x, y), &colour).map_err(|e| failed(&e))?;
        }
    }

    // the colour bar, with its dB axis
    let mut bar = ChartBuilder::on(&bar_area)
        .margin(12)
        .margin_left(8)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..1.0, FLOOR_DB..0.0)
        .map_err(|e| failed(&e))?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc("level (dB)")
        .y_label_formatter(&|db| format!("{db:.0}"))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 14))
        .draw()
        .map_err(|e| failed(&e))?;
    let steps = 100;
    bar.draw_series((0..steps).map(|k| {
        let lo = FLOOR_DB * (1.0 - k as f64 / steps as f64);
        let hi = FLOOR_DB * (1.0 - (k + 1) as f64 / steps as f64);
        Rectangle::new(
            [(0.0, lo), (1.0, hi)],
            heat(k as f64 / steps as f64).filled(),
        )
    }))
    .map_err(|e| failed(&e))?;

    root.present().map_err(|e| failed(&e))?;
    Ok(PlotSummary {
        width: WIDTH,
        height: HEIGHT,
        spectrogram_x: (xs.start, xs.end),
        spectrogram_y: (ys.start, ys.end),
        nyquist,
        seconds,
    })
}

/// Levels in 0..1 (0 at [`FLOOR_DB`] and below, 1 at 0 dB), `columns` × `rows`,
/// column-major, row 0 the highest band.
fn spectrogram(mono: &[f32], columns: usize, rows: usize) -> Vec<f64> {
    let size = FFT_SIZE.min(mono.len().next_power_of_two()).max(16);
    let fft = FftPlanner::<f32>::new().plan_fft_forward(size);
    let window: Vec<f32> = (0..size)
        .map(|n| 0.5 - 0.5 * (std::f32::consts::TAU * n as f32 / size as f32).cos())
        .collect();
    let gain = 2.0 / window.iter().sum::<f32>();
    let bins = size / 2;
    let mut levels = vec![0.0; columns * rows];
    let mut buffer = vec![Complex::new(0.0f32, 0.0); size];
    for i in 0..columns {
        let centre = (i as f64 + 0.5) / columns as f64 * mono.len() as f64;
        let start = centre as i64 - size as i64 / 2;
        for (n, slot) in buffer.iter_mut().enumerate() {
            let x = usize::try_from(start + n as i64)
                .ok()
                .and_then(|k| mono.get(k))
                .copied()
                .unwrap_or(0.0);
            *slot = Complex::new(x * window[n], 0.0);
        }
        fft.process(&mut buffer);
        for j in 0..rows {
            // row j covers the band from (rows - j - 1) / rows to (rows - j) / rows of Nyquist
            let lo = (rows - j - 1) * bins / rows;
            let hi = ((rows - j) * bins / rows).max(lo + 1).min(bins + 1);
            let loudest = buffer[lo..hi.min(size)]
                .iter()
                .map(|z| z.norm() * gain)
                .fold(0.0f32, f32::max);
            let db = 20.0 * f64::from(loudest.max(1e-12)).log10();
            levels[i * rows + j] = ((db - FLOOR_DB) / -FLOOR_DB).clamp(0.0, 1.0);
        }
    }
    levels
}

/// Black through red and yellow to white as `v` goes from 0 to 1: each step brighter.
fn heat(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0) * 3.0;
    let channel = |x: f64| (x.clamp(0.0, 1.0) * 255.0).round() as u8;
    RGBColor(channel(v), channel(v - 1.0), channel(v - 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_grows_brighter_with_level() {
        let brightness = |v: f64| {
            let RGBColor(r, g, b) = heat(v);
            u32::from(r) + u32::from(g) + u32::from(b)
        };
        let mut last = 0;
        for k in 1..=100 {
            let now = brightness(f64::from(k) / 100.0);
            assert!(now > last, "level {k}% is not brighter than the one below");
            last = now;
        }
        assert_eq!(heat(0.0), RGBColor(0, 0, 0));
        assert_eq!(heat(1.0), RGBColor(255, 255, 255));
    }

    #[test]
    fn a_full_scale_sine_reads_0_db_in_its_band() {
        let rate = 48_000.0;
        let mono: Vec<f32> = (0..48_000)
            .map(|n| (std::f32::consts::TAU * 3000.0 * n as f32 / rate).sin())
            .collect();
        let rows = 100;
        let levels = spectrogram(&mono, 4, rows);
        // 3 kHz of 24 kHz: the band of row 87 (rows count down from the top)
        let column = &levels[rows..2 * rows];
        let (row, level) =
            column.iter().enumerate().fold(
                (0, 0.0),
                |best, (j, &v)| if v > best.1 { (j, v) } else { best },
            );
        assert_eq!(row, 87);
        assert!(level > 0.99, "level {level}");
    }
}
