//! `zonal test`: files of code and sound assertions, run as sessions, reported for a
//! musician and for CI; and the same rendering from Rust, for `cargo test`.
//!
//! Each file is evaluated form by form in a fresh session, as a livecoder's would be:
//! a form that raises outside any assertion is recorded as a failed `error` with its
//! place, a read error ends the file, and the next form runs either way. Assertions
//! ([`assertions`], [`audio`]) record their outcome and place. Files run in parallel
//! (a thread and a session each); each is deterministic on its own.
//!
//! From Rust, [`render_source`] renders source text for a number of seconds and gives
//! the samples, what the program printed and its errors:
//!
//! ```no_run
//! use zonal_engine::testing::{analysis, render_source};
//! let take = render_source(
//!     "(bind-func dsp:DSP (lambda (in time chan dat) (dtof (* 0.5 (sin (* 0.05759586531581287 (i64tod time)))))))
//!      (dsp:set! dsp)",
//!     1.0,
//!     &Default::default(),
//! )
//! .unwrap();
//! assert!(take.errors.is_empty());
//! let left = take.channel(0);
//! let peak = analysis::peak_frequency(&left, take.sample_rate as f64).unwrap();
//! assert!((peak - 440.0).abs() < 1.0);
//! ```

pub mod analysis;
pub mod assertions;
pub mod audio;
pub mod report;

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use zonal_scheme::{ErrorKind, Interp};

use crate::render::{RenderConfig, SampleFormat, render_session};
use crate::session::{Session, SessionConfig};
use assertions::{Assertion, Outcome, Recorder};

/// How `zonal test` runs.
#[derive(Clone)]
pub struct TestOptions {
    /// Only assertions whose name contains this run (the rest are counted as skipped).
    pub filter: Option<String>,
    /// Write golden files instead of comparing with them.
    pub bless: bool,
    /// Files run at once.
    pub jobs: usize,
    /// Where `render-for` writes its takes.
    pub out_dir: PathBuf,
    pub session: SessionConfig,
    /// Frames per buffer when rendering.
    pub buffer_frames: usize,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            filter: None,
            bless: false,
            jobs: std::thread::available_parallelism().map_or(1, usize::from),
            out_dir: std::env::temp_dir().join(format!("zonal-test-{}", std::process::id())),
            session: SessionConfig::default(),
            buffer_frames: 64,
        }
    }
}

/// What one file gave.
#[derive(Debug)]
pub struct FileReport {
    pub file: PathBuf,
    pub assertions: Vec<Assertion>,
    pub skipped: usize,
    /// What the file printed (Scheme and DSP code on the control thread, and messages
    /// from the audio thread).
    pub output: String,
}

impl FileReport {
    pub fn failed(&self) -> usize {
        self.assertions
            .iter()
            .filter(|a| !a.outcome.passed())
            .count()
    }
}

/// Text written by a session, collected from its threads.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Sends everything `session` prints here.
    fn attach(&self, session: &mut Session) {
        session.interp_mut().set_output(Box::new(self.clone()));
        session.set_dsp_output(Box::new(self.clone()));
        let audio = self.clone();
        session.set_printer(move |text| {
            let mut a = audio.clone();
            let _ = writeln!(a, "{text}");
        });
    }
}

/// Runs one file as a session and returns what its assertions recorded.
pub fn run_file(path: &Path, opts: &TestOptions) -> FileReport {
    let name = path.display().to_string();
    let mut report = FileReport {
        file: path.to_path_buf(),
        assertions: Vec::new(),
        skipped: 0,
        output: String::new(),
    };
    let error = |place: String, what: &str, got: String| Assertion {
        place,
        name: what.to_string(),
        outcome: Outcome::Error,
        call: String::new(),
        expected: "no error".into(),
        got,
    };
    let src = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            report.assertions.push(error(
                name.clone(),
                "the file",
                format!("cannot read {name}: {e}"),
            ));
            return report;
        }
    };
    let (mut session, processor) = match Session::offline(&opts.session) {
        Ok(s) => s,
        Err(e) => {
            report.assertions.push(error(
                name,
                "the session",
                format!("cannot start the DSP compiler: {e}"),
            ));
            return report;
        }
    };
    let capture = Capture::default();
    capture.attach(&mut session);
    session.keep_problems();
    let rec = Recorder::new(opts.filter.clone());
    let stem = path
        .file_stem()
        .map_or_else(|| "take".into(), |s| s.to_string_lossy().into_owned());
    let testing = Rc::new(RefCell::new(audio::AudioTesting::new(
        session.handle(),
        processor,
        opts.buffer_frames,
        opts.session.sample_rate,
        opts.out_dir.clone(),
        stem,
        opts.bless,
    )));
    if let Err(e) = assertions::register(session.interp_mut(), &rec) {
        report
            .assertions
            .push(error(name, "the test framework", e.to_string()));
        return report;
    }
    audio::register(session.interp_mut(), &testing, &rec);
    for form in Interp::forms(&src, &name) {
        let (result, pos) = match form {
            Ok(form) => {
                let pos = form.pos.clone();
                (session.interp_mut().eval_datum(&form).map(drop), pos)
            }
            Err(e) => {
                let pos = e.pos.clone();
                record_error(&rec, pos, "reading the file", e.to_string());
                break;
            }
        };
        session.flush();
        session.poll();
        if let Err(e) = &result
            && let ErrorKind::Exit(status) = e.kind
        {
            // `(quit)` ends the file; a status other than 0 says it failed
            if status != 0 {
                let why = format!("the file asked to end with status {status}");
                record_error(&rec, pos.clone(), "a form outside any assertion", why);
            }
            break;
        }
        if let Err(e) = result {
            let place = e.pos.clone().or(pos.clone());
            record_error(&rec, place, "a form outside any assertion", e.to_string());
        }
        // faults and callback errors while this form ran (a render-for, say)
        for problem in session.take_problems() {
            record_error(&rec, pos.clone(), "the DSP or a callback", problem);
        }
    }
    session.poll();
    let mut rec = rec.borrow_mut();
    report.assertions = std::mem::take(&mut rec.results);
    report.skipped = rec.skipped;
    report.output = capture.text();
    report
}

fn record_error(
    rec: &Rc<RefCell<Recorder>>,
    place: Option<zonal_scheme::Pos>,
    what: &str,
    got: String,
) {
    rec.borrow_mut().record(Assertion {
        place: place.map_or_else(|| "?".into(), |p| p.to_string()),
        name: what.into(),
        outcome: Outcome::Error,
        call: String::new(),
        expected: "no error".into(),
        got,
    });
}

/// Runs `files` on `opts.jobs` threads; the reports come back in the files' order.
/// `each` is called with every report as soon as its file is done.
pub fn run_files(
    files: &[PathBuf],
    opts: &TestOptions,
    each: &(dyn Fn(&FileReport) + Sync),
) -> Vec<FileReport> {
    let next = Mutex::new(0usize);
    let done: Mutex<Vec<Option<FileReport>>> = Mutex::new(files.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.clamp(1, files.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(file) = files.get(i) else { break };
                    let report = run_file(file, opts);
                    each(&report);
                    done.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(report);
                }
            });
        }
    });
    done.into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// Audio rendered from source text by [`render_source`].
pub struct SourceRender {
    /// Interleaved samples.
    pub samples: Vec<f32>,
    pub channels: usize,
    pub sample_rate: u32,
    /// What the program printed.
    pub printed: String,
    /// Each form that failed, with its place.
    pub errors: Vec<String>,
}

impl SourceRender {
    /// One channel as `f64`s, or the mix of all channels for a negative `c`.
    pub fn channel(&self, c: i64) -> Vec<f64> {
        analysis::channel(&self.samples, self.channels, c)
    }
}

/// Evaluates `src` in a fresh session as a file would be (a failing form is recorded
/// and the next one runs) and renders `seconds` of its output offline, with 64-frame
/// buffers. Errors only when the session or the render cannot start.
pub fn render_source(
    src: &str,
    seconds: f64,
    session: &SessionConfig,
) -> anyhow::Result<SourceRender> {
    let (mut s, processor) = Session::offline(session)
        .map_err(|e| anyhow::anyhow!("cannot start the DSP compiler: {e}"))?;
    let capture = Capture::default();
    capture.attach(&mut s);
    let mut errors = Vec::new();
    for form in Interp::forms(src, "source") {
        let result = form.and_then(|f| s.interp_mut().eval_datum(&f).map(drop));
        s.flush();
        match result {
            Err(e) if matches!(e.kind, ErrorKind::Exit(_)) => break,
            Err(e) => errors.push(crate::diagnostic::report(&e, Some(src))),
            Ok(()) => {}
        }
    }
    let cfg = RenderConfig {
        session: session.clone(),
        buffer_frames: 64,
        seconds,
        format: SampleFormat::F32,
        progress: false,
    };
    let rendered = render_session(&mut s, processor, &cfg)?;
    Ok(SourceRender {
        samples: rendered.samples,
        channels: rendered.summary.channels,
        sample_rate: rendered.summary.sample_rate,
        printed: capture.text(),
        errors,
    })
}
