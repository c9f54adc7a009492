//! The offline backend: renders a session to a WAV file, deterministically.
//!
//! The process function runs on a thread named `zonal-audio`, exactly as on a device.
//! The control thread (the caller) moves in lock-step with the sample clock: it lets
//! the audio thread render up to the buffer in which the next callback is due, runs
//! that callback (so its events reach the audio thread before that buffer), and so on.
//! Nothing depends on wall-clock time, so the same files render to the same bytes.
//! The audio goes to a sink a stretch (at most a second) at a time: `zonal render`
//! streams it into the WAV file, tests keep it in memory.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::audio::Processor;
use crate::session::{Session, SessionConfig};

/// The most memory a render kept in memory ([`render_session`]) may hold; renders
/// streamed to a file ([`render_files_to_wav`]) have no such limit.
pub const MAX_RENDER_BYTES: usize = 4 << 30;

/// Sample format of the WAV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SampleFormat {
    F32,
    I16,
    I24,
}

impl SampleFormat {
    /// Bytes per sample in the file.
    pub fn bytes(self) -> usize {
        match self {
            SampleFormat::F32 => 4,
            SampleFormat::I16 => 2,
            SampleFormat::I24 => 3,
        }
    }
}

/// The most audio data a WAV file holds (its sizes are 32-bit), less room for headers.
const MAX_WAV_BYTES: u64 = u32::MAX as u64 - 1024;

/// What and how to render.
#[derive(Clone)]
pub struct RenderConfig {
    pub session: SessionConfig,
    pub buffer_frames: usize,
    pub seconds: f64,
    pub format: SampleFormat,
    pub progress: bool,
}

/// The one-line report of a render.
#[derive(Debug, Clone)]
pub struct RenderSummary {
    pub frames: usize,
    pub channels: usize,
    pub sample_rate: u32,
    /// Wall time of the render phase (evaluation of the files excluded).
    pub elapsed: Duration,
    pub peak: f32,
    pub rms: f32,
    /// Samples at full scale (the output guard clamps to ±1).
    pub clipped: usize,
    /// Forms, callbacks or DSP closures that failed along the way.
    pub failures: usize,
    /// The status the program asked to end with (`(quit)`, `(exit n)`), which also
    /// ended the render where it asked.
    pub exit: Option<i32>,
}

impl RenderSummary {
    pub fn realtime_factor(&self) -> f64 {
        let audio = self.frames as f64 / f64::from(self.sample_rate);
        audio / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for RenderSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let db = |x: f32| 20.0 * f64::from(x.max(1e-10)).log10();
        write!(
            f,
            "{:.2} s of {} ch at {} Hz in {:.3} s ({:.1}x real time), peak {:.3} ({:.1} dBFS), RMS {:.3} ({:.1} dBFS), {} clipped",
            self.frames as f64 / f64::from(self.sample_rate),
            self.channels,
            self.sample_rate,
            self.elapsed.as_secs_f64(),
            self.realtime_factor(),
            self.peak,
            db(self.peak),
            self.rms,
            db(self.rms),
            self.clipped
        )
    }
}

/// The rendered audio, interleaved, before it is written anywhere.
pub struct Rendered {
    pub samples: Vec<f32>,
    pub summary: RenderSummary,
}

/// Lock-step between the control thread and the offline audio thread.
struct Gate {
    /// (granted up to, rendered up to, the audio thread has stopped, the render's end),
    /// in frames.
    state: Mutex<(usize, usize, bool, usize)>,
    changed: Condvar,
}

/// Held by the audio thread while it renders: dropped when the thread ends, even by a
/// panic, it tells a control thread waiting for frames that none will come.
struct Rendering(Arc<Gate>);

impl Drop for Rendering {
    fn drop(&mut self) {
        let mut s = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        s.2 = true;
        self.0.changed.notify_all();
    }
}

impl Gate {
    /// A gate for a render of `total` frames.
    fn new(total: usize) -> Gate {
        Gate {
            state: Mutex::new((0, 0, false, total)),
            changed: Condvar::new(),
        }
    }

    fn grant(&self, until: usize) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 = s.0.max(until);
        self.changed.notify_all();
    }

    fn report(&self, rendered: usize) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.1 = rendered;
        self.changed.notify_all();
    }

    /// Waits (audio side) until frames beyond `pos` are granted: up to where, or `None`
    /// when the render ends at `pos`.
    fn wait_grant(&self, pos: usize) -> Option<usize> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while s.0 <= pos && pos < s.3 {
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        (pos < s.3).then_some(s.0.min(s.3))
    }

    /// Ends the render at frame `end` (the program asked to end there), or where it
    /// was to end if that is sooner.
    fn end_at(&self, end: usize) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.3 = s.3.min(end);
        self.changed.notify_all();
    }

    /// Waits (control side) until `until` frames are rendered. A buffer stuck in DSP
    /// code is stopped by the watchdog's own thread, so this wait ends; an audio thread
    /// that stopped before rendering them (a panic) ends it with an error.
    fn wait_rendered(&self, until: usize) -> anyhow::Result<()> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while s.1 < until {
            if s.2 {
                anyhow::bail!(
                    "the audio thread stopped after {} frames, before the {until} asked for: the render is incomplete (this is a bug in zonal; please report it)",
                    s.1
                );
            }
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        Ok(())
    }
}

/// Evaluates `files` in a fresh session and renders `cfg.seconds` of its output into
/// memory. Evaluation errors are reported on stderr and counted; the render goes on.
pub fn render_files(files: &[PathBuf], cfg: &RenderConfig) -> anyhow::Result<Rendered> {
    let (mut session, processor, failures) = start_session(files, cfg)?;
    let mut rendered = render_session(&mut session, processor, cfg)?;
    rendered.summary.failures += failures;
    Ok(rendered)
}

/// Evaluates `files` in a fresh session and streams `cfg.seconds` of its output into
/// the WAV file at `path`, which is created before anything is evaluated. The DSP
/// closure's input comes from `input` (`--input FILE.wav`), or is silence.
pub fn render_files_to_wav(
    files: &[PathBuf],
    cfg: &RenderConfig,
    path: &Path,
    input: Option<Box<dyn crate::input::InputSource>>,
) -> anyhow::Result<RenderSummary> {
    let bytes = frames_of(cfg) as f64 * cfg.session.channels as f64 * cfg.format.bytes() as f64;
    if bytes > MAX_WAV_BYTES as f64 {
        anyhow::bail!(
            "a render of {:.0} s of {} channels at {} Hz needs {:.1} GiB, more than a WAV file can hold (4 GiB): render a shorter stretch",
            cfg.seconds,
            cfg.session.channels,
            cfg.session.sample_rate,
            bytes / f64::from(1u32 << 30),
        );
    }
    let mut wav = WavSink::create(path, cfg)?;
    let (mut session, mut processor, failures) = start_session(files, cfg)?;
    if let Some(input) = input {
        processor.set_input(input);
    }
    let mut summary =
        render_session_into(&mut session, processor, cfg, &mut |chunk| wav.write(chunk))?;
    wav.finish()?;
    summary.failures += failures;
    Ok(summary)
}

/// A session with `files` evaluated, and how many of their forms failed (each
/// reported on stderr).
fn start_session(
    files: &[PathBuf],
    cfg: &RenderConfig,
) -> anyhow::Result<(Session, Processor, usize)> {
    let (mut session, processor) = Session::offline(&cfg.session)
        .map_err(|e| anyhow::anyhow!("cannot start the DSP compiler: {e}"))?;
    let mut failures = 0;
    for file in files {
        match session.eval_file(file, true) {
            Ok(failed) => failures += failed,
            // `(quit)`: the render ends where it was asked, here at its start
            Err(_) if session.exit_requested().is_some() => break,
            Err(e) => {
                eprintln!("{}", crate::diagnostic::report(&e, None));
                failures += 1;
            }
        }
    }
    Ok((session, processor, failures))
}

/// Renders a session whose files are already evaluated, into memory.
pub fn render_session(
    session: &mut Session,
    processor: Processor,
    cfg: &RenderConfig,
) -> anyhow::Result<Rendered> {
    let channels = processor.channels();
    let rate = cfg.session.sample_rate;
    let total = frames_of(cfg);
    let bytes = total as f64 * channels as f64 * 4.0;
    if bytes > MAX_RENDER_BYTES as f64 {
        anyhow::bail!(
            "a render of {:.0} s of {channels} channels at {rate} Hz needs {:.1} GiB in memory, more than the {} GiB zonal allows: render a shorter stretch",
            cfg.seconds,
            bytes / f64::from(1u32 << 30),
            MAX_RENDER_BYTES >> 30
        );
    }
    let mut samples = Vec::new();
    samples
        .try_reserve_exact(total * channels)
        .context("not enough memory for the render")?;
    let summary = render_session_into(session, processor, cfg, &mut |chunk| {
        samples.extend_from_slice(chunk);
        Ok(())
    })?;
    Ok(Rendered { samples, summary })
}

/// The frames `cfg` asks for.
fn frames_of(cfg: &RenderConfig) -> usize {
    (cfg.seconds * f64::from(cfg.session.sample_rate))
        .round()
        .max(0.0) as usize
}

/// Renders a session whose files are already evaluated, handing the interleaved
/// audio to `sink` in order, at most a second (or one buffer) at a time.
pub fn render_session_into(
    session: &mut Session,
    mut processor: Processor,
    cfg: &RenderConfig,
    sink: &mut dyn FnMut(&[f32]) -> anyhow::Result<()>,
) -> anyhow::Result<RenderSummary> {
    let channels = processor.channels();
    let rate = cfg.session.sample_rate;
    let mut total = frames_of(cfg);
    let buffer = cfg.buffer_frames.clamp(1, crate::audio::MAX_FRAMES);
    // At most this many frames are granted at once, so progress, returned garbage
    // and the sink are handled while long stretches render.
    let chunk = (rate as usize).max(buffer);
    let mut stretch = Vec::new();
    stretch
        .try_reserve_exact(chunk * channels)
        .context("not enough memory for the render")?;
    let stretch = Arc::new(Mutex::new(stretch));
    // The summary's levels are the load meter's and the output guard's, which see every
    // sample as the audio thread renders it: their counts from here on.
    let stats = session.stats();
    let (_, squares_before) = stats.load.take_levels();
    let clipped_before = stats.clipped.load(Ordering::Relaxed);
    let gate = Arc::new(Gate::new(total));
    let progress = cfg.progress.then(|| progress_bar(total as u64));
    let started = Instant::now();

    let audio_gate = gate.clone();
    let audio_stretch = stretch.clone();
    let audio = std::thread::Builder::new()
        .name("zonal-audio".into())
        .spawn(move || {
            let _rendering = Rendering(audio_gate.clone());
            let mut pos = 0;
            while let Some(granted) = audio_gate.wait_grant(pos) {
                {
                    // uncontended: the control thread waits until this stretch is done
                    let mut out = audio_stretch.lock().unwrap_or_else(|p| p.into_inner());
                    // within the capacity reserved above: no allocation; the process
                    // function writes every sample, so the last stretch's need no clearing
                    out.resize((granted - pos) * channels, 0.0);
                    processor.process_buffers(&mut out, buffer);
                }
                pos = granted;
                audio_gate.report(pos);
            }
        })
        .context("cannot start the audio thread")?;

    let _watchdog = session
        .start_watchdog(buffer)
        .context("cannot start the watchdog thread")?;
    let mut rendered = 0;
    let mut failures = 0;
    let mut result = Ok(());
    while rendered < total {
        session.poll();
        session.run_callbacks_before((rendered + buffer) as i64);
        failures += session.take_failures();
        if session.exit_requested().is_some() {
            // the program asked to end: where its callback was due, or now
            let at = session
                .exit_time()
                .map_or(rendered, |t| usize::try_from(t).unwrap_or(0));
            total = at.clamp(rendered, total);
            gate.end_at(total);
            if rendered >= total {
                break;
            }
        }
        let target = match session.next_callback() {
            Some(t) if t >= 0 => align_down(t as usize, buffer).max(rendered + buffer),
            _ => total,
        }
        .min(rendered + chunk)
        .min(total);
        gate.grant(target);
        if let Err(e) = gate.wait_rendered(target) {
            // the thread is gone: its panic message is already on stderr
            let _ = audio.join();
            return Err(e);
        }
        rendered = target;
        {
            let out = stretch.lock().unwrap_or_else(|p| p.into_inner());
            if result.is_ok() {
                result = sink(&out);
            }
        }
        if let Some(bar) = &progress {
            bar.set_position(rendered as u64);
        }
    }
    let elapsed = started.elapsed();
    audio
        .join()
        .map_err(|_| anyhow::anyhow!("the audio thread stopped unexpectedly"))?;
    session.poll();
    failures += session.take_failures();
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    result?;
    let (peak, squares) = stats.load.take_levels();
    let samples = rendered * channels;
    Ok(RenderSummary {
        frames: rendered,
        channels,
        sample_rate: rate,
        elapsed,
        peak,
        rms: ((squares - squares_before) / samples.max(1) as f64).sqrt() as f32,
        clipped: (stats.clipped.load(Ordering::Relaxed) - clipped_before) as usize,
        failures,
        exit: session.exit_requested(),
    })
}

fn align_down(t: usize, buffer: usize) -> usize {
    t - t % buffer
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("rendering {bar:40} {percent}% ({eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// A WAV file being written a stretch at a time ([`crate::wav`]).
struct WavSink {
    writer: crate::wav::WavWriter<std::fs::File>,
    path: PathBuf,
}

impl WavSink {
    fn create(path: &Path, cfg: &RenderConfig) -> anyhow::Result<WavSink> {
        let channels =
            u16::try_from(cfg.session.channels).context("too many channels for a WAV file")?;
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let writer =
            crate::wav::WavWriter::new(file, cfg.format, channels, cfg.session.sample_rate)
                .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(WavSink {
            writer,
            path: path.to_path_buf(),
        })
    }

    fn write(&mut self, samples: &[f32]) -> anyhow::Result<()> {
        self.writer
            .write(samples)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    fn finish(self) -> anyhow::Result<()> {
        self.writer
            .finish()
            .map(drop)
            .with_context(|| format!("cannot finish {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_on_the_audio_thread_ends_the_wait_for_its_frames_with_an_error() {
        let gate = Arc::new(Gate::new(64));
        let audio_gate = gate.clone();
        let audio = std::thread::spawn(move || {
            let _rendering = Rendering(audio_gate.clone());
            let granted = audio_gate.wait_grant(0).unwrap_or(0);
            audio_gate.report(granted / 2);
            panic!("a bug on the audio thread");
        });
        gate.grant(64);
        let err = gate.wait_rendered(64).unwrap_err().to_string();
        assert!(err.contains("stopped after 32 frames"), "{err}");
        assert!(audio.join().is_err());
    }

    #[test]
    fn frames_rendered_before_the_audio_thread_ends_are_waited_for_without_error() {
        let gate = Arc::new(Gate::new(64));
        let audio_gate = gate.clone();
        let audio = std::thread::spawn(move || {
            let _rendering = Rendering(audio_gate.clone());
            let granted = audio_gate.wait_grant(0).unwrap_or(0);
            audio_gate.report(granted);
        });
        gate.grant(64);
        gate.wait_rendered(64).unwrap();
        audio.join().unwrap();
    }
}
