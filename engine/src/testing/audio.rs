//! Sound in `zonal test`: `(render-for SECONDS)` renders the file's own DSP in
//! process, and the `audiotest_*` procedures and assertions listen to the result.
//!
//! `render-for` runs the session's process function on the calling thread, buffer by
//! buffer, running due callbacks between buffers exactly as an offline render does, so
//! a take is deterministic. It continues from where the last one stopped (the clock
//! does not go back), writes the take to a WAV file and returns its path, which every
//! `audiotest_*` procedure accepts — as it accepts the path of any WAV file, as
//! Extempore's do.
//!
//! Extempore's: `audiotest_peak`, `audiotest_rms`, `audiotest_goertzel`,
//! `audiotest_goertzel_range` (values; zonal adds `audiotest_rms_range PATH CH START
//! END` over frames and `audiotest_level PATH CH FREQ` in dB) and `audiotest_assert_sine`,
//! `audiotest_assert_stereo_sine`, `audiotest_assert_three_sines`,
//! `audiotest_assert_sweep` (assertions, with its thresholds). zonal's own
//! assertions: `audiotest_assert_peak` (spectral peak), `audiotest_assert_level`
//! (level at a frequency: a frequency response point), `audiotest_assert_rms` (RMS
//! over a window), `audiotest_assert_onsets` (onsets on given samples),
//! `audiotest_assert_clean` (no clipping, no non-finite samples),
//! `audiotest_assert_deadline` (share of each buffer's deadline the DSP used) and
//! `audiotest_assert_golden` (against a golden WAV; `--bless` writes it).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use zonal_scheme::{Datum, DatumKind, Error, ErrorKind, Interp, Value};

use super::analysis as an;
use super::assertions::{
    Assertion, Outcome, Recorder, arity, place, skipped, tagged, template, text,
};
use crate::audio::Processor;
use crate::offline::render_inline;
use crate::session::SessionHandle;

/// One stretch of audio the assertions look at.
pub struct Take {
    /// Interleaved samples.
    pub samples: Vec<f32>,
    pub channels: usize,
    pub rate: u32,
    /// For each buffer rendered, the share of its duration the process function took.
    pub deadline_shares: Vec<f64>,
    /// Output samples that were NaN or infinite (the output guard made them 0).
    pub non_finite: u64,
}

impl Take {
    fn channel(&self, c: i64) -> Vec<f64> {
        an::channel(&self.samples, self.channels, c)
    }

    /// Channel `c` as `channel` gives it, or why not: a channel the take does not have.
    fn checked_channel(&self, c: f64) -> Result<Vec<f64>, String> {
        if c >= self.channels as f64 {
            return Err(format!(
                "channel {c}: the take has {} channel{} (0 is the first; a negative channel mixes them)",
                self.channels,
                if self.channels == 1 { "" } else { "s" }
            ));
        }
        Ok(self.channel(c as i64))
    }

    fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1)
    }

    fn load(path: &str) -> Result<Take, String> {
        let mut r = hound::WavReader::open(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let spec = r.spec();
        let samples: Result<Vec<f32>, _> = match spec.sample_format {
            hound::SampleFormat::Float => r.samples::<f32>().collect(),
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
                r.samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect()
            }
        };
        let samples = samples.map_err(|e| format!("cannot read {path}: {e}"))?;
        let non_finite = samples.iter().filter(|s| !s.is_finite()).count() as u64;
        Ok(Take {
            samples,
            channels: usize::from(spec.channels),
            rate: spec.sample_rate,
            deadline_shares: Vec::new(),
            non_finite,
        })
    }

    fn write(&self, path: &Path) -> Result<(), String> {
        let spec = hound::WavSpec {
            channels: u16::try_from(self.channels).unwrap_or(u16::MAX),
            sample_rate: self.rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let fail = |e: hound::Error| format!("cannot write {}: {e}", path.display());
        let mut w = hound::WavWriter::create(path, spec).map_err(fail)?;
        for &s in &self.samples {
            w.write_sample(s).map_err(fail)?;
        }
        w.finalize().map_err(fail)
    }
}

/// What `render-for` and the audio assertions share in one file's session.
pub(crate) struct AudioTesting {
    session: SessionHandle,
    processor: Processor,
    buffer: usize,
    rate: u32,
    /// Where takes are written, and the file name they start with.
    out_dir: PathBuf,
    stem: String,
    takes: HashMap<String, Rc<Take>>,
    bless: bool,
}

impl AudioTesting {
    pub(crate) fn new(
        session: SessionHandle,
        processor: Processor,
        buffer: usize,
        rate: u32,
        out_dir: PathBuf,
        stem: String,
        bless: bool,
    ) -> AudioTesting {
        AudioTesting {
            session,
            processor,
            buffer,
            rate,
            out_dir,
            stem,
            takes: HashMap::new(),
            bless,
        }
    }

    /// Renders `seconds` more of the session's output and returns the take's path.
    fn render(&mut self, interp: &mut Interp, seconds: f64) -> Result<String, String> {
        if !(0.0..=600.0).contains(&seconds) {
            return Err(format!(
                "render-for renders 0 to 600 seconds at a time, not {seconds}"
            ));
        }
        let channels = self.processor.channels();
        let total = (seconds * f64::from(self.rate)).round() as usize;
        let mut samples = vec![0.0f32; total * channels];
        let stretch = render_inline(
            interp,
            &self.session,
            &mut self.processor,
            self.buffer,
            self.rate,
            &mut samples,
        );
        let take = Take {
            samples,
            channels,
            rate: self.rate,
            deadline_shares: stretch.deadline_shares,
            non_finite: stretch.non_finite,
        };
        let path = self
            .out_dir
            .join(format!("{}-{}.wav", self.stem, self.takes.len() + 1));
        std::fs::create_dir_all(&self.out_dir)
            .map_err(|e| format!("cannot create {}: {e}", self.out_dir.display()))?;
        take.write(&path)?;
        let key = path.display().to_string();
        self.takes.insert(key.clone(), Rc::new(take));
        Ok(key)
    }

    fn take(&mut self, path: &str) -> Result<Rc<Take>, String> {
        if let Some(t) = self.takes.get(path) {
            return Ok(t.clone());
        }
        let t = Rc::new(Take::load(path)?);
        self.takes.insert(path.to_string(), t.clone());
        Ok(t)
    }
}

/// The assertions, each with the shape of its arguments after the path.
const ASSERTIONS: [(&str, &str); 11] = [
    ("audiotest_assert_sine", "PATH FREQ"),
    ("audiotest_assert_stereo_sine", "PATH FREQ-LEFT FREQ-RIGHT"),
    ("audiotest_assert_three_sines", "PATH F1 F2 F3"),
    (
        "audiotest_assert_sweep",
        "PATH FREQ-A FREQ-B SPLIT-FRAME GUARD",
    ),
    ("audiotest_assert_peak", "PATH CHANNEL FREQ TOLERANCE-HZ"),
    (
        "audiotest_assert_level",
        "PATH CHANNEL FREQ DB TOLERANCE-DB",
    ),
    (
        "audiotest_assert_rms",
        "PATH CHANNEL FROM-SECONDS TO-SECONDS RMS TOLERANCE",
    ),
    (
        "audiotest_assert_onsets",
        "PATH CHANNEL '(SAMPLE ...) TOLERANCE-SAMPLES [THRESHOLD]",
    ),
    ("audiotest_assert_clean", "PATH"),
    ("audiotest_assert_deadline", "PATH MAX-SHARE"),
    ("audiotest_assert_golden", "PATH GOLDEN-WAV MAX-DIFFERENCE"),
];

/// Registers `render-for`, the `audiotest_*` values and the audio assertions.
pub(crate) fn register(
    interp: &mut Interp,
    testing: &Rc<RefCell<AudioTesting>>,
    rec: &Rc<RefCell<Recorder>>,
) {
    let t = testing.clone();
    interp.register_native("render-for", move |it, a| {
        let seconds = number(it, a, 0, "render-for", "SECONDS")?;
        let mut at = t.try_borrow_mut().map_err(|_| {
            Error::new(
                ErrorKind::Native,
                "render-for was called while a render was running (from a callback?)",
            )
        })?;
        let path = at
            .render(it, seconds)
            .map_err(|m| Error::new(ErrorKind::Io, m))?;
        Ok(it.string(&path))
    });
    register_values(interp, testing);
    for (name, shape) in ASSERTIONS {
        let r = rec.clone();
        interp.register_macro(name, move |form| {
            let items = form.as_list().unwrap_or(&[]);
            if !r.borrow().selected(name) {
                return Ok(skipped());
            }
            let shape = format!("({name} {shape})");
            let args = Datum::new(
                DatumKind::List(
                    std::iter::once(Datum::new(DatumKind::Sym("list".into()), None))
                        .chain(items.iter().skip(1).cloned())
                        .collect(),
                ),
                None,
            );
            Ok(template(
                "(%test:audio PLACE NAME SHAPE (guard (%e (#t (list 'error (%test:describe %e)))) (list 'ok ARGS)))",
                &[
                    ("PLACE", place(form)),
                    ("NAME", Datum::new(DatumKind::Str(name.into()), None)),
                    ("SHAPE", Datum::new(DatumKind::Str(shape), None)),
                    ("ARGS", args),
                ],
            ))
        });
    }
    let (t, r) = (testing.clone(), rec.clone());
    interp.register_native("%test:audio", move |it, a| {
        arity(a, 4, "%test:audio")?;
        let (place, name, shape) = (text(it, a[0]), text(it, a[1]), text(it, a[2]));
        let (outcome, expected, got) = match tagged(it, a[3]) {
            Err(e) => (
                Outcome::RuntimeError,
                "its arguments to evaluate".to_string(),
                format!("an error: {e}"),
            ),
            Ok(args) => {
                let args = it.list_items(args).unwrap_or_default();
                match t.try_borrow_mut() {
                    Err(_) => (
                        Outcome::RuntimeError,
                        "no render running".into(),
                        "an assertion inside a render".into(),
                    ),
                    Ok(mut at) => match check(&mut at, it, &name, &args, &place) {
                        Ok((e, g)) => (Outcome::Pass, e, g),
                        Err(Check::Failed(e, g)) => (Outcome::Fail, e, g),
                        Err(Check::Usage(m)) => (Outcome::RuntimeError, shape.clone(), m),
                    },
                }
            }
        };
        r.borrow_mut().record(Assertion {
            place,
            name,
            outcome,
            call: String::new(),
            expected,
            got,
        });
        Ok(it.unspecified())
    });
}

/// Extempore's `audiotest_*` values, of a WAV path or a take.
fn register_values(interp: &mut Interp, testing: &Rc<RefCell<AudioTesting>>) {
    type Value4 = fn(&Take, &[f64]) -> f64;
    let values: [(&str, usize, Value4); 6] = [
        ("audiotest_peak", 1, |t, a| {
            an::peak(&t.channel(a[0] as i64))
        }),
        ("audiotest_rms", 1, |t, a| an::rms(&t.channel(a[0] as i64))),
        ("audiotest_goertzel", 2, |t, a| {
            an::goertzel_power(&t.channel(a[0] as i64), f64::from(t.rate), a[1])
        }),
        // zonal's: RMS over frames [START, END), and the level in dB at a frequency
        ("audiotest_rms_range", 3, |t, a| {
            let x = t.channel(a[0] as i64);
            let start = (a[1].max(0.0) as usize).min(x.len());
            let end = (a[2].max(0.0) as usize).clamp(start, x.len());
            an::rms(&x[start..end])
        }),
        ("audiotest_level", 2, |t, a| {
            an::db(an::amplitude_at(
                &t.channel(a[0] as i64),
                f64::from(t.rate),
                a[1],
            ))
        }),
        ("audiotest_goertzel_range", 4, |t, a| {
            let x = t.channel(a[0] as i64);
            let start = (a[2].max(0.0) as usize).min(x.len());
            let end = (a[3].max(0.0) as usize).clamp(start, x.len());
            an::goertzel_power(&x[start..end], f64::from(t.rate), a[1])
        }),
    ];
    for (name, n, f) in values {
        let t = testing.clone();
        interp.register_native(name, move |it, a| {
            if a.len() != n + 1 {
                return Err(Error::new(
                    ErrorKind::Arity,
                    format!("{name} takes a WAV path and {n} numbers"),
                ));
            }
            let path = it.as_string(a[0]).ok_or_else(|| {
                Error::new(
                    ErrorKind::Type,
                    format!("{name}'s first argument is a WAV path"),
                )
            })?;
            let nums = (1..=n)
                .map(|i| number(it, a, i, name, "a number"))
                .collect::<Result<Vec<f64>, Error>>()?;
            let take = t
                .try_borrow_mut()
                .map_err(|_| Error::new(ErrorKind::Native, format!("{name} inside a render")))?
                .take(&path)
                .map_err(|m| Error::new(ErrorKind::Io, m))?;
            take.checked_channel(nums[0])
                .map_err(|m| Error::new(ErrorKind::Range, format!("{name}: {m}")))?;
            Ok(it.float(f(&take, &nums)))
        });
    }
}

/// Argument `i` of `a` as a number.
fn number(it: &Interp, a: &[Value], i: usize, name: &str, what: &str) -> Result<f64, Error> {
    a.get(i).and_then(|v| it.as_f64(*v)).ok_or_else(|| {
        Error::new(
            ErrorKind::Type,
            format!("{name} wants {what} as argument {}", i + 1),
        )
    })
}

/// Why an audio assertion did not pass.
enum Check {
    /// (expected, got)
    Failed(String, String),
    /// The arguments were not what the assertion takes.
    Usage(String),
}

type Checked = Result<(String, String), Check>;

fn failed(expected: impl Into<String>, got: impl Into<String>) -> Check {
    Check::Failed(expected.into(), got.into())
}

/// Passed when `ok`, with what was expected and what came, else failed with them.
fn judged(ok: bool, expected: String, got: String) -> Checked {
    if ok {
        Ok((expected, got))
    } else {
        Err(failed(expected, got))
    }
}

/// Runs assertion `name` on `args` (the path first).
fn check(at: &mut AudioTesting, it: &Interp, name: &str, args: &[Value], place: &str) -> Checked {
    let path = args
        .first()
        .and_then(|v| it.as_string(*v))
        .ok_or_else(|| Check::Usage("a WAV path (from render-for) first".into()))?;
    let take = at.take(&path).map_err(Check::Usage)?;
    let num = |i: usize| -> Result<f64, Check> {
        args.get(i + 1)
            .and_then(|v| it.as_f64(*v))
            .ok_or_else(|| Check::Usage(format!("a number as argument {}", i + 2)))
    };
    let chan = |i: usize| -> Result<Vec<f64>, Check> {
        take.checked_channel(num(i)?).map_err(Check::Usage)
    };
    let rate = f64::from(take.rate);
    match name {
        "audiotest_assert_sine" => sine(&take, num(0)?),
        "audiotest_assert_stereo_sine" => stereo_sine(&take, num(0)?, num(1)?),
        "audiotest_assert_three_sines" => three_sines(&take, [num(0)?, num(1)?, num(2)?]),
        "audiotest_assert_sweep" => sweep(&take, num(0)?, num(1)?, num(2)?, num(3)?),
        "audiotest_assert_peak" => {
            let (x, f, tol) = (chan(0)?, num(1)?, num(2)?);
            match an::peak_frequency(&x, rate) {
                Some(p) if (p - f).abs() <= tol => {
                    Ok((format!("a peak at {f} Hz"), format!("{p:.2} Hz")))
                }
                Some(p) => Err(failed(
                    format!("a peak at {f} ± {tol} Hz"),
                    format!("{p:.2} Hz"),
                )),
                None => Err(failed(format!("a peak at {f} Hz"), "silence")),
            }
        }
        "audiotest_assert_level" => {
            let (x, f, want, tol) = (chan(0)?, num(1)?, num(2)?, num(3)?);
            let got = an::db(an::amplitude_at(&x, rate, f));
            let (e, g) = (
                format!("{want} ± {tol} dB at {f} Hz"),
                format!("{got:.2} dB"),
            );
            judged((got - want).abs() <= tol, e, g)
        }
        "audiotest_assert_rms" => {
            let x = chan(0)?;
            let from = ((num(1)? * rate).max(0.0) as usize).min(x.len());
            let to = ((num(2)? * rate).max(0.0) as usize).clamp(from, x.len());
            let (want, tol) = (num(3)?, num(4)?);
            let got = an::rms(&x[from..to]);
            let (e, g) = (format!("RMS {want} ± {tol}"), format!("{got:.5}"));
            judged((got - want).abs() <= tol, e, g)
        }
        "audiotest_assert_onsets" => {
            let x = chan(0)?;
            let want: Vec<f64> = args
                .get(2)
                .and_then(|v| it.list_items(*v))
                .map(|l| l.iter().filter_map(|v| it.as_f64(*v)).collect())
                .ok_or_else(|| Check::Usage("a list of sample positions as argument 3".into()))?;
            let tol = num(2)?;
            let threshold = args.get(4).and_then(|v| it.as_f64(*v)).unwrap_or(0.05);
            let got = an::onsets(&x, threshold, 64);
            let got_f: Vec<f64> = got.iter().map(|&g| g as f64).collect();
            let close = got_f.len() == want.len()
                && got_f.iter().zip(&want).all(|(g, w)| (g - w).abs() <= tol);
            let (e, g) = (format!("onsets at {want:?} ± {tol}"), format!("{got:?}"));
            judged(close, e, g)
        }
        "audiotest_assert_clean" => {
            let clipped = take.samples.iter().filter(|s| s.abs() >= 1.0).count();
            let g = format!("{clipped} clipped, {} non-finite", take.non_finite);
            if clipped == 0 && take.non_finite == 0 {
                Ok(("no clipping, no non-finite samples".into(), g))
            } else {
                Err(failed("no clipping, no non-finite samples", g))
            }
        }
        "audiotest_assert_deadline" => {
            let max = num(0)?;
            let mut s = take.deadline_shares.clone();
            if s.is_empty() {
                return Err(Check::Usage(
                    "a take from render-for (a WAV file has no timing)".into(),
                ));
            }
            s.sort_by(f64::total_cmp);
            let p99 = s[(s.len() * 99 / 100).min(s.len() - 1)];
            let (e, g) = (
                format!(
                    "at most {:.1}% of each buffer's time (99th percentile)",
                    max * 100.0
                ),
                format!(
                    "{:.2}% (median {:.2}%)",
                    p99 * 100.0,
                    s[s.len() / 2] * 100.0
                ),
            );
            judged(p99 <= max, e, g)
        }
        "audiotest_assert_golden" => {
            let golden = args
                .get(1)
                .and_then(|v| it.as_string(*v))
                .ok_or_else(|| Check::Usage("the golden WAV's path as argument 2".into()))?;
            let tol = num(1)?;
            golden_check(at, &take, &golden_path(place, &golden), tol)
        }
        _ => Err(Check::Usage(format!("{name} is not an audio assertion"))),
    }
}

/// A golden file's path: relative paths are relative to the test file's folder.
fn golden_path(place: &str, golden: &str) -> PathBuf {
    let g = Path::new(golden);
    if g.is_absolute() {
        return g.to_path_buf();
    }
    let file = place.rsplitn(3, ':').nth(2).unwrap_or("");
    Path::new(file).parent().unwrap_or(Path::new("")).join(g)
}

fn golden_check(at: &mut AudioTesting, take: &Take, golden: &Path, tol: f64) -> Checked {
    let shown = golden.display().to_string();
    if at.bless {
        if let Some(dir) = golden.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Check::Usage(format!("cannot create {}: {e}", dir.display())))?;
        }
        take.write(golden).map_err(Check::Usage)?;
        return Ok((format!("{shown} written (--bless)"), "blessed".into()));
    }
    let want = Take::load(&shown)
        .map_err(|e| Check::Usage(format!("{e} (run with --bless to write it)")))?;
    if (want.channels, want.rate) != (take.channels, take.rate) {
        return Err(failed(
            format!("{} channels at {} Hz as {shown}", want.channels, want.rate),
            format!("{} channels at {} Hz", take.channels, take.rate),
        ));
    }
    let a: Vec<f64> = take.samples.iter().map(|&v| f64::from(v)).collect();
    let b: Vec<f64> = want.samples.iter().map(|&v| f64::from(v)).collect();
    match an::max_difference(&a, &b) {
        None => Err(failed(
            format!("{} frames as {shown}", want.frames()),
            format!("{} frames", take.frames()),
        )),
        Some((d, i)) => {
            let (e, g) = (
                format!("within {tol} of {shown}"),
                format!(
                    "a difference of {d:.3e} at frame {}",
                    i / take.channels.max(1)
                ),
            );
            judged(d <= tol, e, g)
        }
    }
}

/// Extempore's `audiotest_assert_sine`: not silent, not clipping, RMS over 0.05, and
/// the Goertzel power at `freq` a hundred times that at half and at double it.
fn sine(t: &Take, freq: f64) -> Checked {
    let rate = f64::from(t.rate);
    let x = t.channel(-1);
    let (pk, rms) = (an::peak(&x), an::rms(&x));
    let g = |f| an::goertzel_power(&x, rate, f);
    let (g0, g1, g2) = (g(freq / 2.0), g(freq), g(freq * 2.0));
    let got = format!("peak {pk:.3}, RMS {rms:.3}, power at f/2, f, 2f {g0:.2e} {g1:.2e} {g2:.2e}");
    let expected = format!("a sine of {freq} Hz (peak 0.05..0.99, RMS > 0.05, dominant)");
    let ok = x.len() as f64 >= 0.1 * rate
        && (0.05..=0.99).contains(&pk)
        && rms >= 0.05
        && g1 >= 100.0 * g0
        && g1 >= 100.0 * g2;
    judged(ok, expected, got)
}

fn stereo_sine(t: &Take, fl: f64, fr: f64) -> Checked {
    if t.channels != 2 {
        return Err(failed("2 channels", format!("{}", t.channels)));
    }
    let rate = f64::from(t.rate);
    let (l, r) = (t.channel(0), t.channel(1));
    let g = |x: &[f64], f| an::goertzel_power(x, rate, f);
    let expected = format!("{fl} Hz on the left, {fr} Hz on the right");
    let got = format!(
        "peaks {:.3} {:.3}; left at {fl}/{fr} Hz {:.2e}/{:.2e}; right {:.2e}/{:.2e}",
        an::peak(&l),
        an::peak(&r),
        g(&l, fl),
        g(&l, fr),
        g(&r, fl),
        g(&r, fr)
    );
    let ok = an::peak(&l) >= 0.05
        && an::peak(&r) >= 0.05
        && g(&l, fl) >= 10.0 * g(&l, fr)
        && g(&r, fr) >= 10.0 * g(&r, fl);
    judged(ok, expected, got)
}

fn three_sines(t: &Take, f: [f64; 3]) -> Checked {
    let rate = f64::from(t.rate);
    let x = t.channel(-1);
    let g = |fr| an::goertzel_power(&x, rate, fr);
    let target = f.iter().map(|&fr| g(fr)).fold(f64::INFINITY, f64::min);
    let noise = g(0.5 * (f[0] + f[1])).max(g(0.5 * (f[1] + f[2])));
    let pk = an::peak(&x);
    let expected = format!(
        "sines of {} {} {} Hz, each 100x the power between them",
        f[0], f[1], f[2]
    );
    let got =
        format!("peak {pk:.3}, weakest target {target:.2e}, strongest probe between {noise:.2e}");
    let ok = (0.05..=0.99).contains(&pk) && target >= 1e5 && target >= 100.0 * noise;
    judged(ok, expected, got)
}

fn sweep(t: &Take, fa: f64, fb: f64, split: f64, guard: f64) -> Checked {
    let rate = f64::from(t.rate);
    let x = t.channel(-1);
    let (a_end, b_start) = (
        (split - guard).max(0.0) as usize,
        (split + guard).max(0.0) as usize,
    );
    if a_end < 100 || b_start + 100 > x.len() {
        return Err(failed(
            format!("split {split} ± {guard} inside the take"),
            format!("{} frames", x.len()),
        ));
    }
    let g = |s: &[f64], f| an::goertzel_power(s, rate, f);
    let (pre, post) = (&x[..a_end], &x[b_start..]);
    let expected = format!("{fa} Hz before frame {split}, {fb} Hz after");
    let got = format!(
        "before: {:.2e} at {fa} Hz, {:.2e} at {fb} Hz; after: {:.2e}, {:.2e}",
        g(pre, fa),
        g(pre, fb),
        g(post, fa),
        g(post, fb)
    );
    let ok = g(pre, fa) >= 10.0 * g(pre, fb) && g(post, fb) >= 10.0 * g(post, fa);
    judged(ok, expected, got)
}
