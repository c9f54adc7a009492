//! The audio thread's load meter: how much of each buffer's time the DSP took, which
//! closure took it, how loud each channel is, and which closure was running when a
//! buffer missed its deadline. Read from Scheme with `(sys:audio-report)` (the load alone
//! with `(sys:audio-load)`) and printed with `(sys:print-audio-load)` (the REPL's `,load`).
//!
//! The audio thread only adds to and stores into atomics here (no allocation, no lock,
//! and no locked instruction where it alone writes or where a maximum does not change):
//! nanoseconds per closure slot, the busiest buffer, per-channel peaks (as `f32` bits,
//! whose order is the order of the values for non-negative numbers) and running sums of
//! squares. The control thread turns two readings into shares of the time between
//! them: a closure's share is the time its calls took over the duration of the audio
//! rendered, so 1.0 means it alone used the whole real-time budget.
//!
//! The closures measured are those the audio thread calls: the entry (`dsp:set!`) and
//! the closures of timed events. A closure the entry calls is part of the entry's time.
//! The clock is read once per call ([`Stopwatch`]): a call's time runs from the reading
//! before it (the end of the call before it in the buffer, or the buffer's start) to its
//! end, so the engine's own work between calls (taking commands, queuing events)
//! counts with the call after it. A buffer's time runs from its start to
//! its last call's end; a buffer rendered right after another in the same call of the
//! process function (the offline renderer's) starts at that one's last reading.
//! A deadline is missed when a buffer takes longer than the audio it renders lasts;
//! the closure named is the one that took longest in that buffer. Offline renders run
//! faster than real time, so they seldom miss one.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use zonal_scheme::{Error, ErrorKind, Interp, Value};

use crate::audio::MAX_CHANNELS;

/// Closure slots the meter keeps time for (as many as the DSP compiler has).
pub const SLOTS: usize = 4096;

/// No slot: nothing was running.
const NONE: u32 = u32::MAX;

/// Counts in the audio thread's atomics; see the module docs.
pub struct LoadMeter {
    sample_rate: AtomicU32,
    slot_ns: Box<[AtomicU64]>,
    busy_ns: AtomicU64,
    frames: AtomicU64,
    /// The largest share of a buffer's duration one buffer took, in millionths, since
    /// the last reading.
    peak_share_ppm: AtomicU64,
    deadline_misses: AtomicU64,
    last_miss_slot: AtomicU32,
    last_miss_time: AtomicI64,
    peaks: [AtomicU32; MAX_CHANNELS],
    sum_squares: [AtomicU64; MAX_CHANNELS],
    /// The highest peak of any channel since [`LoadMeter::take_levels`] (a reading does
    /// not reset it).
    peak_since: AtomicU32,
    /// A buffer's duration in nanoseconds, and the (frames << 32 | sample rate) it is for
    /// (audio thread only).
    budget_ns: AtomicU64,
    budget_of: AtomicU64,
    /// The slot that took longest in the buffer being processed (audio thread only).
    longest_slot: AtomicU32,
    longest_ns: AtomicU64,
    /// Where the stream's under-runs are counted (set by the control thread only).
    xruns: Mutex<Option<Box<dyn Fn() -> u64 + Send>>>,
}

impl Default for LoadMeter {
    fn default() -> Self {
        LoadMeter {
            sample_rate: AtomicU32::new(48_000),
            slot_ns: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            busy_ns: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            peak_share_ppm: AtomicU64::new(0),
            deadline_misses: AtomicU64::new(0),
            last_miss_slot: AtomicU32::new(NONE),
            last_miss_time: AtomicI64::new(0),
            peaks: std::array::from_fn(|_| AtomicU32::new(0)),
            sum_squares: std::array::from_fn(|_| AtomicU64::new(0)),
            peak_since: AtomicU32::new(0),
            budget_ns: AtomicU64::new(0),
            budget_of: AtomicU64::new(u64::MAX),
            longest_slot: AtomicU32::new(NONE),
            longest_ns: AtomicU64::new(0),
            xruns: Mutex::new(None),
        }
    }
}

/// Adds `n` to a count only the audio thread changes: a load and a store rather than a
/// locked read-modify-write (a reader sees the count before or after).
pub(crate) fn add_own(count: &AtomicU64, n: u64) {
    count.store(
        count.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// `fetch_max(v)` without its locked instruction when `a` already holds `v` or more (the
/// usual case), where it would change nothing. (Readers reset these maxima to 0: the
/// load that saw the larger value is where the maximum took effect.)
pub(crate) fn raise(a: &AtomicU64, v: u64) {
    if v > a.load(Ordering::Relaxed) {
        a.fetch_max(v, Ordering::Relaxed);
    }
}

/// [`raise`] for 32-bit values (peaks, as `f32` bits).
fn raise32(a: &AtomicU32, v: u32) {
    if v > a.load(Ordering::Relaxed) {
        a.fetch_max(v, Ordering::Relaxed);
    }
}

/// The audio thread's readings of the monotonic clock, chained: each span it measures
/// begins where the one before it ended, so a closure call costs one reading, and so does
/// a buffer with one call when buffers are rendered one after the other in one call of
/// the process function (the offline renderer). A reading is some tens of nanoseconds,
/// a few percent of a 64-frame buffer's work when its DSP is light.
#[derive(Default)]
pub struct Stopwatch {
    last: u64,
}

impl Stopwatch {
    /// Reads the clock: a call of the process function begins.
    pub fn start(&mut self) {
        self.last = crate::io::monotonic_ns();
    }

    /// Reads the clock: the nanoseconds since the last reading.
    pub fn lap(&mut self) -> u64 {
        let now = crate::io::monotonic_ns();
        let ns = now.saturating_sub(self.last);
        self.last = now;
        ns
    }

    /// The last reading, in nanoseconds on the monotonic clock
    /// ([`crate::io::monotonic_ns`]).
    pub fn last(&self) -> u64 {
        self.last
    }
}

impl LoadMeter {
    /// The rate the audio is rendered at (deadlines are measured against it).
    pub fn set_sample_rate(&self, rate: u32) {
        self.sample_rate.store(rate.max(1), Ordering::Relaxed);
    }

    /// Where the stream's under-runs can be read (the device's, or the clock's late
    /// buffers). Control thread only.
    pub fn watch_xruns(&self, xruns: Box<dyn Fn() -> u64 + Send>) {
        *self.xruns.lock().unwrap_or_else(|p| p.into_inner()) = Some(xruns);
    }

    /// Audio thread: a buffer begins.
    pub fn buffer_began(&self) {
        self.longest_slot.store(NONE, Ordering::Relaxed);
        self.longest_ns.store(0, Ordering::Relaxed);
    }

    /// Audio thread: a call of the closure in `slot` took `ns` nanoseconds.
    pub fn ran(&self, slot: u32, ns: u64) {
        if let Some(total) = self.slot_ns.get(slot as usize) {
            add_own(total, ns);
        }
        if ns >= self.longest_ns.load(Ordering::Relaxed) {
            self.longest_ns.store(ns, Ordering::Relaxed);
            self.longest_slot.store(slot, Ordering::Relaxed);
        }
    }

    /// Audio thread: the buffer of `frames` frames that starts at sample `time` took `ns`
    /// nanoseconds to render, its output's levels gathered in `levels`.
    pub fn buffer_ended(&self, ns: u64, frames: usize, levels: &Levels, time: i64) {
        let frames = frames as u64;
        add_own(&self.busy_ns, ns);
        add_own(&self.frames, frames);
        if let Some(budget) = std::num::NonZeroU64::new(self.budget_ns(frames)) {
            // the share in millionths, ns * 10^6 / budget, is worked out (a division)
            // only when it is above the busiest buffer's
            let share = ns.saturating_mul(1_000_000);
            let above = self.peak_share_ppm.load(Ordering::Relaxed).checked_add(1);
            if above
                .and_then(|ppm| ppm.checked_mul(budget.get()))
                .is_some_and(|least| share >= least)
            {
                self.peak_share_ppm
                    .fetch_max(share / budget, Ordering::Relaxed);
            }
            if ns > budget.get() {
                self.deadline_misses.fetch_add(1, Ordering::Relaxed);
                let slot = self.longest_slot.load(Ordering::Relaxed);
                self.last_miss_slot.store(slot, Ordering::Relaxed);
                self.last_miss_time.store(time, Ordering::Relaxed);
            }
        }
        let mut loudest = 0.0f32;
        for c in 0..levels.channels {
            let (peak, sum) = levels.channel(c);
            loudest = loudest.max(peak);
            self.add_levels(c, peak, sum);
        }
        raise32(&self.peak_since, loudest.to_bits());
    }

    /// How long `frames` frames last, in whole nanoseconds: worked out once for each
    /// buffer size and sample rate (audio thread only).
    fn budget_ns(&self, frames: u64) -> u64 {
        let rate = u64::from(self.sample_rate.load(Ordering::Relaxed));
        let key = (frames << 32) | rate;
        if self.budget_of.load(Ordering::Relaxed) != key {
            self.budget_ns
                .store(frames * 1_000_000_000 / rate.max(1), Ordering::Relaxed);
            self.budget_of.store(key, Ordering::Relaxed);
        }
        self.budget_ns.load(Ordering::Relaxed)
    }

    /// Audio thread: channel `c` of a buffer peaked at `peak`, its squares summing to `sum`.
    fn add_levels(&self, c: usize, peak: f32, sum: f64) {
        raise32(&self.peaks[c], peak.to_bits());
        // only this thread writes the sums: a load and a store make no race
        let old = f64::from_bits(self.sum_squares[c].load(Ordering::Relaxed));
        self.sum_squares[c].store((old + sum).to_bits(), Ordering::Relaxed);
    }

    /// The highest peak of any channel since the last call, and the sum of the squares
    /// of every sample rendered so far (both channels): what an offline render's summary
    /// is made of.
    pub fn take_levels(&self) -> (f32, f64) {
        let peak = f32::from_bits(self.peak_since.swap(0, Ordering::Relaxed));
        let sum = self
            .sum_squares
            .iter()
            .map(|s| f64::from_bits(s.load(Ordering::Relaxed)))
            .sum();
        (peak, sum)
    }

    /// Control thread: what happened since `last` (which becomes this reading), with
    /// closures named by `name_of`.
    pub fn read(&self, last: &mut Reading, name_of: &dyn Fn(u32) -> Option<String>) -> Report {
        let now = Reading::take(self);
        let rate = f64::from(self.sample_rate.load(Ordering::Relaxed));
        let frames = now.frames.saturating_sub(last.frames);
        let audio_ns = frames as f64 * 1e9 / rate;
        let share = |ns: u64| {
            if audio_ns > 0.0 {
                ns as f64 / audio_ns
            } else {
                0.0
            }
        };
        let mut closures: Vec<(String, f64)> = now
            .slot_ns
            .iter()
            .zip(last.slot_ns.iter())
            .enumerate()
            .filter(|(_, (n, l))| n > l)
            .map(|(slot, (n, l))| {
                let name = name_of(slot as u32).unwrap_or_else(|| format!("closure #{slot}"));
                (name, share(n - l))
            })
            .collect();
        closures.sort_by(|a, b| b.1.total_cmp(&a.1));
        let channels = (0..MAX_CHANNELS)
            .map(|c| {
                let peak = f32::from_bits(self.peaks[c].swap(0, Ordering::Relaxed));
                let sum = now.sum_squares[c] - last.sum_squares[c];
                let rms = if frames > 0 {
                    (sum / frames as f64).sqrt()
                } else {
                    0.0
                };
                (f64::from(peak), rms)
            })
            .collect();
        let miss_slot = self.last_miss_slot.load(Ordering::Relaxed);
        let last_miss = (now.deadline_misses > 0).then(|| {
            let name = if miss_slot == NONE {
                "no closure (the engine itself)".to_owned()
            } else {
                name_of(miss_slot).unwrap_or_else(|| format!("closure #{miss_slot}"))
            };
            (name, self.last_miss_time.load(Ordering::Relaxed))
        });
        let xruns = self
            .xruns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|count| count());
        let report = Report {
            seconds: audio_ns / 1e9,
            load: share(now.busy_ns.saturating_sub(last.busy_ns)),
            peak_load: self.peak_share_ppm.swap(0, Ordering::Relaxed) as f64 / 1e6,
            closures,
            channels,
            xruns,
            deadline_misses: now.deadline_misses,
            last_miss,
        };
        *last = now;
        report
    }
}

/// Samples a buffer's levels are gathered over side by side: independent maxima and
/// sums the compiler keeps in vector registers, each lane one channel's when the
/// channels divide it (1, 2, 4 or 8 channels).
const LANES: usize = 8;

/// One buffer's output levels, gathered as its segments are rendered (the output guard's
/// last pass over each adds it, see `audio.rs`): each channel's peak and sum of squares,
/// what [`LoadMeter::buffer_ended`] adds to the meter. The sums are made in the same
/// order however the buffer is split into segments, so they do not depend on where
/// events fall.
pub struct Levels {
    channels: usize,
    /// The channels divide [`LANES`].
    in_lanes: bool,
    /// Samples added since the buffer began.
    len: usize,
    /// When the channels divide [`LANES`]: lane i holds samples i, i + LANES, ... of the
    /// buffer, all of channel i % channels.
    lanes: LaneLevels,
    /// Otherwise: channel by channel.
    peak: [f32; MAX_CHANNELS],
    sum: [f64; MAX_CHANNELS],
}

/// Peaks and sums of squares of [`LANES`] lanes.
#[derive(Clone, Copy, Default)]
struct LaneLevels {
    peak: [f32; LANES],
    sum: [f64; LANES],
}

impl LaneLevels {
    /// Adds `samples`, the first of which is the buffer's sample `at`, and tells whether
    /// every one was finite and below full scale. (Its peaks come from comparisons, which
    /// pass over NaN: a NaN shows in the sums, which it makes NaN.)
    #[inline]
    fn add(&mut self, at: usize, samples: &[f32]) -> bool {
        let (mut most, mut sum) = ([0.0f32; LANES], self.sum);
        // one run of LANES samples, in vector registers
        let mut take = |run: &[f32; LANES]| {
            for (i, &s) in run.iter().enumerate() {
                let a = s.abs();
                most[i] = if a > most[i] { a } else { most[i] };
                sum[i] += f64::from(s) * f64::from(s);
            }
        };
        // the part runs before and after the whole ones are padded with zeros, which
        // change no peak and no sum (the sums are never -0)
        let first = at % LANES;
        let (head, rest) = samples.split_at(((LANES - first) % LANES).min(samples.len()));
        if !head.is_empty() {
            let mut run = [0.0; LANES];
            run[first..first + head.len()].copy_from_slice(head);
            take(&run);
        }
        let mut runs = rest.chunks_exact(LANES);
        for run in &mut runs {
            take(run.try_into().unwrap_or(&[0.0; LANES]));
        }
        let tail = runs.remainder();
        if !tail.is_empty() {
            let mut run = [0.0; LANES];
            run[..tail.len()].copy_from_slice(tail);
            take(&run);
        }
        self.sum = sum;
        let mut below = true;
        for ((peak, most), sum) in self.peak.iter_mut().zip(most).zip(sum) {
            *peak = if most > *peak { most } else { *peak };
            below &= most < 1.0 && sum.is_finite();
        }
        below
    }
}

impl Levels {
    /// Levels of `channels` channels (at most [`MAX_CHANNELS`]), nothing added yet.
    pub fn new(channels: usize) -> Levels {
        let channels = channels.clamp(1, MAX_CHANNELS);
        Levels {
            channels,
            in_lanes: LANES.is_multiple_of(channels),
            len: 0,
            lanes: LaneLevels::default(),
            peak: [0.0; MAX_CHANNELS],
            sum: [0.0; MAX_CHANNELS],
        }
    }

    /// Forgets what was added: a new buffer begins.
    pub fn clear(&mut self) {
        self.len = 0;
        self.lanes = LaneLevels::default();
        self.peak[..self.channels].fill(0.0);
        self.sum[..self.channels].fill(0.0);
    }

    /// Adds the next whole frames of the buffer (interleaved; no NaN among them).
    pub fn add(&mut self, samples: &[f32]) {
        if self.in_lanes {
            self.lanes.add(self.len, samples);
        } else {
            for frame in samples.chunks(self.channels) {
                for (c, &s) in frame.iter().enumerate() {
                    self.peak[c] = self.peak[c].max(s.abs());
                    self.sum[c] += f64::from(s) * f64::from(s);
                }
            }
        }
        self.len += samples.len();
    }

    /// Adds the next whole frames of the buffer if every sample is finite and below
    /// full scale (what the output guard leaves as it is), and tells whether it did.
    /// Only where the channels divide [`LANES`]; otherwise it adds nothing and says so.
    pub fn add_if_below_full_scale(&mut self, samples: &[f32]) -> bool {
        if !self.in_lanes {
            return false;
        }
        let mut lanes = self.lanes;
        if !lanes.add(self.len, samples) {
            return false;
        }
        self.lanes = lanes;
        self.len += samples.len();
        true
    }

    /// Channel `c`'s peak and sum of squares so far.
    fn channel(&self, c: usize) -> (f32, f64) {
        if self.in_lanes {
            // lanes c, c + channels, ... (the sums are never -0, so starting from 0
            // changes none)
            let (mut peak, mut sum, mut i) = (0.0f32, 0.0f64, c);
            while i < LANES {
                peak = peak.max(self.lanes.peak[i]);
                sum += self.lanes.sum[i];
                i += self.channels;
            }
            (peak, sum)
        } else {
            (self.peak[c], self.sum[c])
        }
    }
}

/// A reading of the meter's running totals; the control thread keeps the last one.
#[derive(Clone)]
pub struct Reading {
    slot_ns: Vec<u64>,
    busy_ns: u64,
    frames: u64,
    sum_squares: Vec<f64>,
    deadline_misses: u64,
}

impl Default for Reading {
    fn default() -> Self {
        Reading {
            slot_ns: vec![0; SLOTS],
            busy_ns: 0,
            frames: 0,
            sum_squares: vec![0.0; MAX_CHANNELS],
            deadline_misses: 0,
        }
    }
}

impl Reading {
    fn take(meter: &LoadMeter) -> Reading {
        // frames first: time and sums read after it cover at least those frames
        let frames = meter.frames.load(Ordering::Relaxed);
        Reading {
            slot_ns: meter
                .slot_ns
                .iter()
                .map(|n| n.load(Ordering::Relaxed))
                .collect(),
            busy_ns: meter.busy_ns.load(Ordering::Relaxed),
            frames,
            sum_squares: meter
                .sum_squares
                .iter()
                .map(|s| f64::from_bits(s.load(Ordering::Relaxed)))
                .collect(),
            deadline_misses: meter.deadline_misses.load(Ordering::Relaxed),
        }
    }
}

/// The load between two readings.
#[derive(Clone, Debug)]
pub struct Report {
    /// Seconds of audio rendered between the readings.
    pub seconds: f64,
    /// Time in the process function over the duration of that audio.
    pub load: f64,
    /// The largest share of its duration one buffer took.
    pub peak_load: f64,
    /// Each closure that ran, with its share, busiest first.
    pub closures: Vec<(String, f64)>,
    /// (peak, RMS) of every channel the meter keeps ([`MAX_CHANNELS`]).
    pub channels: Vec<(f64, f64)>,
    /// The stream's under-runs so far, when it counts them.
    pub xruns: Option<u64>,
    /// Buffers that took longer than they last, since the session began.
    pub deadline_misses: u64,
    /// The closure running at the last miss, and the sample it happened at.
    pub last_miss: Option<(String, i64)>,
}

impl Report {
    /// The report as lines for the musician, for `channels` channels.
    pub fn text(&self, channels: usize) -> String {
        let mut s = String::new();
        let db = |x: f64| {
            if x > 0.0 {
                format!("{:.1} dBFS", 20.0 * x.log10())
            } else {
                "silent".to_owned()
            }
        };
        let _ = writeln!(
            s,
            "audio load over {:.2} s: {:.1}% (busiest buffer {:.1}%)",
            self.seconds,
            100.0 * self.load,
            100.0 * self.peak_load
        );
        for (name, share) in &self.closures {
            let _ = writeln!(s, "  {name}: {:.2}%", 100.0 * share);
        }
        for (c, (peak, rms)) in self.channels.iter().take(channels).enumerate() {
            let _ = writeln!(s, "  channel {c}: peak {}, RMS {}", db(*peak), db(*rms));
        }
        match self.xruns {
            Some(n) => {
                let _ = write!(s, "xruns {n}, ");
            }
            None => s.push_str("no stream counting xruns, "),
        }
        let _ = write!(s, "deadline misses {}", self.deadline_misses);
        if let Some((name, time)) = &self.last_miss {
            let _ = write!(s, " (last at sample {time}, in {name})");
        }
        s
    }
}

/// Registers `(sys:audio-load)` (the load, a number, as Extempore's), `(sys:audio-report)`
/// (everything, an association list) and `(sys:print-audio-load)`; each reads what
/// happened since the last reading by any of them. `name_of` names a
/// closure slot; `channels` is the session's channel count.
pub(crate) fn register(
    interp: &mut Interp,
    stats: std::sync::Arc<crate::audio::AudioStats>,
    sample_rate: u32,
    channels: usize,
    name_of: Rc<dyn Fn(u32) -> Option<String>>,
) {
    stats.load.set_sample_rate(sample_rate);
    let last = Rc::new(RefCell::new(Reading::default()));
    let read = {
        let stats = std::sync::Arc::clone(&stats);
        move |name: &str, args: &[Value]| -> Result<Report, Error> {
            if !args.is_empty() {
                return Err(Error::new(
                    ErrorKind::Native,
                    format!("{name} takes no arguments: ({name})"),
                ));
            }
            let mut last = last.borrow_mut();
            Ok(stats.load.read(&mut last, &*name_of))
        }
    };
    let read = Rc::new(read);
    let r = Rc::clone(&read);
    interp.register_native("sys:audio-load", move |it, args| {
        let report = r("sys:audio-load", args)?;
        Ok(it.float(report.load))
    });
    let r = Rc::clone(&read);
    interp.register_native("sys:audio-report", move |it, args| {
        let report = r("sys:audio-report", args)?;
        Ok(report_value(it, &report, channels))
    });
    interp.register_native("sys:print-audio-load", move |it, args| {
        let report = read("sys:print-audio-load", args)?;
        crate::session::display(it, &format!("{}\n", report.text(channels)))
    });
}

/// `((seconds S) (load L) (peak-load P) (closures (NAME SHARE) ...) (channels (PEAK RMS)
/// ...) (xruns N) (deadline-misses N) (last-miss NAME TIME))`, an association list;
/// xruns is `#f` without a stream, and last-miss `(last-miss #f)` before any miss.
fn report_value(it: &mut Interp, r: &Report, channels: usize) -> Value {
    let field = |it: &mut Interp, key: &str, mut rest: Vec<Value>| {
        rest.insert(0, it.symbol(key));
        it.list(&rest)
    };
    let mut fields = Vec::new();
    let v = it.float(r.seconds);
    fields.push(field(it, "seconds", vec![v]));
    let v = it.float(r.load);
    fields.push(field(it, "load", vec![v]));
    let v = it.float(r.peak_load);
    fields.push(field(it, "peak-load", vec![v]));
    let mut closures = Vec::new();
    for (name, share) in &r.closures {
        let (n, s) = (it.string(name), it.float(*share));
        closures.push(it.list(&[n, s]));
    }
    fields.push(field(it, "closures", closures));
    let mut levels = Vec::new();
    for &(peak, rms) in r.channels.iter().take(channels) {
        let (p, q) = (it.float(peak), it.float(rms));
        levels.push(it.list(&[p, q]));
    }
    fields.push(field(it, "channels", levels));
    let v = match r.xruns {
        Some(n) => it.int(i64::try_from(n).unwrap_or(i64::MAX)),
        None => it.bool(false),
    };
    fields.push(field(it, "xruns", vec![v]));
    let v = it.int(i64::try_from(r.deadline_misses).unwrap_or(i64::MAX));
    fields.push(field(it, "deadline-misses", vec![v]));
    let miss = match &r.last_miss {
        Some((name, time)) => vec![it.string(name), it.int(*time)],
        None => vec![it.bool(false)],
    };
    fields.push(field(it, "last-miss", miss));
    it.list(&fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_channel_has_its_own_peak_and_rms_whatever_the_channel_count() {
        for channels in [1, 2, 3, 4, 5, 8, 12] {
            let meter = LoadMeter::default();
            let frames = 67;
            let out: Vec<f32> = (0..frames * channels)
                .map(|i| {
                    let (f, c) = (i / channels, i % channels);
                    let level = 0.05 * (c + 1) as f32;
                    if f % 2 == 0 { level } else { -level }
                })
                .collect();
            meter.buffer_began();
            let mut levels = Levels::new(channels);
            levels.add(&out);
            meter.buffer_ended(1000, frames, &levels, 0);
            let r = meter.read(&mut Reading::default(), &|_| None);
            for c in 0..channels {
                let level = f64::from(0.05 * (c + 1) as f32);
                let (peak, rms) = r.channels[c];
                assert_eq!(peak, level, "{channels} channels: channel {c}'s peak");
                assert!(
                    (rms - level).abs() < 1e-12,
                    "{channels} channels: channel {c}'s RMS {rms}, not {level}"
                );
            }
            assert_eq!(r.channels[channels], (0.0, 0.0), "{channels} channels");
        }
    }

    /// Interleaved frames of `channels` channels, each channel at its own level, in
    /// (-1, 1).
    fn frames(channels: usize, frames: usize) -> Vec<f32> {
        (0..frames * channels)
            .map(|i| ((i as f32 * 0.731).sin() * 0.9) / (1 + i % channels) as f32)
            .collect()
    }

    #[test]
    fn a_buffers_levels_are_the_same_however_its_segments_fall() {
        for channels in [1, 2, 3, 4, 5, 8, 12] {
            let out = frames(channels, 67);
            let mut whole = Levels::new(channels);
            whole.add(&out);
            // split at events: segments of 1, 3, 7, 13 ... frames, some taken by the
            // one-pass check and some by a plain add (after the guard)
            for (k, step) in [1, 3, 7, 13, 64].into_iter().enumerate() {
                let mut split = Levels::new(channels);
                for (n, segment) in out.chunks(step * channels).enumerate() {
                    if (n + k) % 2 == 0 || !split.add_if_below_full_scale(segment) {
                        split.add(segment);
                    }
                }
                for c in 0..channels {
                    let (peak, sum) = whole.channel(c);
                    let (p, q) = split.channel(c);
                    assert_eq!(p.to_bits(), peak.to_bits(), "{channels} ch, step {step}");
                    assert_eq!(q.to_bits(), sum.to_bits(), "{channels} ch, step {step}");
                    let mine: Vec<f32> = out.iter().skip(c).step_by(channels).copied().collect();
                    let most = mine.iter().fold(0.0f32, |m, s| m.max(s.abs()));
                    let squares: f64 = mine.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
                    assert_eq!(peak, most, "{channels} ch: channel {c}'s peak");
                    assert!((sum - squares).abs() < 1e-12, "{channels} ch: channel {c}");
                }
            }
        }
    }

    #[test]
    fn levels_taken_in_one_pass_refuse_what_the_output_guard_must_change() {
        for bad in [1.0, -1.0, 1.5, f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
            let mut out = frames(2, 16);
            out[13] = bad;
            let mut levels = Levels::new(2);
            levels.add(&out[..8]);
            let before = (levels.channel(0), levels.channel(1));
            assert!(!levels.add_if_below_full_scale(&out[8..]), "{bad}");
            // nothing was added
            assert_eq!((levels.channel(0), levels.channel(1)), before, "{bad}");
            assert_eq!(levels.len, 8);
        }
        let mut levels = Levels::new(2);
        assert!(levels.add_if_below_full_scale(&[0.999_999_9, -0.999_999_9]));
        // after a clamped segment (its peak at full scale) the next one is still taken
        levels.add(&[1.0, -1.0]);
        assert!(levels.add_if_below_full_scale(&[0.5, 0.25]));
        assert_eq!(levels.channel(0).0, 1.0);
        // channel counts that do not divide the lanes always go through the guard
        assert!(!Levels::new(3).add_if_below_full_scale(&[0.0, 0.0, 0.0]));
    }

    #[test]
    fn the_busiest_buffer_is_its_share_in_whole_millionths_of_its_duration() {
        let meter = LoadMeter::default();
        meter.set_sample_rate(48_000);
        let budget = 64 * 1_000_000_000u64 / 48_000;
        let levels = Levels::new(2);
        let runs: [&[u64]; 6] = [
            &[1_000_000],
            &[999_999, 1_000_000],
            &[1_000_000, 999_999],
            &[1_000_000, 1_000_001],
            &[1_000_000, 1_000_002, 1_000_001],
            &[5, 2_666_667, 0, budget, u64::MAX / 2],
        ];
        for ns in runs {
            for &n in ns {
                meter.buffer_ended(n, 64, &levels, 0);
            }
            let want = ns
                .iter()
                .map(|&n| n.saturating_mul(1_000_000) / budget)
                .max()
                .unwrap_or(0);
            let r = meter.read(&mut Reading::default(), &|_| None);
            assert_eq!(r.peak_load, want as f64 / 1e6, "{ns:?}");
        }
        // another rate, another buffer size: another duration
        meter.set_sample_rate(44_100);
        meter.buffer_ended(1_000_000, 64, &levels, 0);
        let r = meter.read(&mut Reading::default(), &|_| None);
        assert_eq!(r.peak_load, (1_000_000_000_000u64 / 1_451_247) as f64 / 1e6);
        meter.buffer_ended(1_000_000, 128, &levels, 0);
        let r = meter.read(&mut Reading::default(), &|_| None);
        assert_eq!(r.peak_load, (1_000_000_000_000u64 / 2_902_494) as f64 / 1e6);
    }

    #[test]
    fn a_slow_buffer_is_a_missed_deadline_named_for_its_longest_closure() {
        let meter = LoadMeter::default();
        meter.set_sample_rate(48_000);
        meter.buffer_began();
        meter.ran(3, 20_000);
        meter.ran(7, 3_000_000);
        // 64 frames last 1.33 ms: this buffer took more than 3
        let mut levels = Levels::new(2);
        levels.add(&[0.5, -0.25].repeat(64));
        meter.buffer_ended(3_050_000, 64, &levels, 640);
        let mut last = Reading::default();
        let names = |slot: u32| Some(format!("f{slot}"));
        let r = meter.read(&mut last, &names);
        assert_eq!(r.deadline_misses, 1);
        assert_eq!(r.last_miss, Some(("f7".to_owned(), 640)));
        assert_eq!(r.closures[0].0, "f7");
        assert!(r.closures[0].1 > 2.0, "{:?}", r.closures);
        assert!(r.peak_load > 2.0 && r.load > 2.0, "{r:?}");
        assert_eq!(r.channels[0], (0.5, 0.5));
        assert_eq!(r.channels[1], (0.25, 0.25));
        assert_eq!(r.xruns, None);
        let text = r.text(2);
        assert!(
            text.contains("deadline misses 1 (last at sample 640, in f7)"),
            "{text}"
        );
        assert!(
            text.contains("channel 1: peak -12.0 dBFS, RMS -12.0 dBFS"),
            "{text}"
        );
        // the peaks were taken: a reading with nothing rendered is silent
        let quiet = meter.read(&mut last, &names);
        assert_eq!(quiet.channels[0], (0.0, 0.0));
        assert!(quiet.closures.is_empty());
        assert!(quiet.text(1).contains("channel 0: peak silent, RMS silent"));
    }
}
