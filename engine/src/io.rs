//! What MIDI and OSC share: the map between the wall clock and the sample clock, the
//! courier that hands incoming messages to the control thread, and the timed sender
//! that lets outgoing messages leave at their sample's moment.
//!
//! Incoming messages are received on threads of their own (never the audio thread),
//! stamped with the sample the audio clock had reached when they arrived plus the
//! input latency (`(io:latency)`: two buffers and a millisecond), and posted to the
//! courier's bounded inbox. The courier wakes the control thread with one [`Request`]
//! evaluating `(zonal:io-deliver)`, which drains the inbox and schedules each handler
//! as a `callback` at its time: the handler runs at once (within the control loop's
//! lookahead) with `(now)` reading that time, so what it plays lands on that exact
//! sample, a constant latency after the message arrived. A message that reaches the
//! control thread after that sample has been played is counted and logged.
//!
//! Every message comes from outside and is not trusted: a malformed one is reported on
//! the engine's log (at most [`PROBLEMS_PER_SECOND`] lines a second, then a count) and
//! dropped; a flood fills the inbox, and what does not fit is dropped and counted.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use zonal_scheme::{Error, ErrorKind, Interp, Root, Value};

use crate::audio::AudioStats;
use crate::request::{Reply, Request};

/// How many incoming messages wait for the control thread at most; more are dropped
/// and counted.
pub const INBOX_CAPACITY: usize = 4096;

/// How many problems with incoming messages are logged per second; the rest are
/// counted and the count is logged with the next one.
pub const PROBLEMS_PER_SECOND: u32 = 10;

/// The input latency a session starts with before it knows its buffer size (a live
/// engine sets two buffers and a millisecond); `(io:latency SAMPLES)` changes it.
pub const DEFAULT_LATENCY_SECONDS: f64 = 0.010;

/// The source of the request that hands incoming messages to the control thread.
pub const DELIVER: &str = "(zonal:io-deliver)";

/// Nanoseconds on the monotonic clock (`CLOCK_MONOTONIC`), which the audio thread
/// also reads when it publishes its sample clock. Never allocates or blocks.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on
    // the systems zonal runs on, so the call only writes `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// The audio thread's sample clock seen from the wall clock. Each publication of the
/// sample count says when sample 0 was, on the monotonic clock (its "origin"); a buffer
/// published late (the thread woke late, or the buffer took long) gives a later origin,
/// so the clock keeps the earliest origin seen over the last one to two seconds
/// (long enough to ignore such jitter, short enough to follow a sound card's drift)
/// and extrapolates from it at the sample rate.
#[derive(Clone)]
pub struct SampleClock {
    stats: Arc<AudioStats>,
    sample_rate: u32,
    origins: Arc<Mutex<Origins>>,
}

/// The earliest origins seen in this window and the one before, in ns.
#[derive(Default)]
struct Origins {
    window_start: u64,
    current: Option<i128>,
    previous: Option<i128>,
}

/// How long one window of [`Origins`] lasts.
const ORIGIN_WINDOW_NS: u64 = 1_000_000_000;

/// An origin this much later than the earliest kept is lost time, not jitter: the
/// device under-ran, or the device-less clock gave up catching up and restarted its
/// schedule (after [`crate::clock::MAX_LAG`]). The clock follows it at once.
const LOST_TIME_NS: i128 = 100_000_000;

impl SampleClock {
    pub fn new(stats: Arc<AudioStats>, sample_rate: u32) -> SampleClock {
        SampleClock {
            stats,
            sample_rate,
            origins: Arc::default(),
        }
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The last published (sample count, monotonic ns), read consistently.
    fn published(&self) -> (i64, u64) {
        loop {
            let at = self.stats.clock_at_ns.load(Ordering::SeqCst);
            if at == u64::MAX {
                std::hint::spin_loop();
                continue;
            }
            let clock = self.stats.clock.load(Ordering::SeqCst);
            if self.stats.clock_at_ns.load(Ordering::SeqCst) == at {
                return (clock, at);
            }
        }
    }

    /// Notes the origin of publication (`clock`, `at`) and returns the earliest one
    /// of the last one to two windows.
    fn origin(&self, clock: i64, at: u64) -> i128 {
        let origin =
            i128::from(at) - i128::from(clock) * 1_000_000_000 / i128::from(self.sample_rate);
        let Ok(mut o) = self.origins.lock() else {
            return origin;
        };
        let kept = o.current.into_iter().chain(o.previous).min();
        if kept.is_some_and(|k| origin - k >= LOST_TIME_NS) {
            *o = Origins {
                window_start: at,
                current: Some(origin),
                previous: None,
            };
            return origin;
        }
        if at.saturating_sub(o.window_start) >= ORIGIN_WINDOW_NS {
            o.previous = o.current;
            o.current = None;
            o.window_start = at;
        }
        let current = o.current.map_or(origin, |c| c.min(origin));
        o.current = Some(current);
        o.previous.map_or(current, |p| p.min(current))
    }

    /// The sample the audio clock is at at monotonic time `ns`. Before the first
    /// buffer (or without an audio thread) it is the published count itself; it is
    /// never before the last published count, nor more than a second past it.
    pub fn sample_at(&self, ns: u64) -> i64 {
        let (clock, at) = self.published();
        if at == 0 {
            return clock;
        }
        let origin = self.origin(clock, at);
        if ns <= at {
            return clock;
        }
        let estimate = ((i128::from(ns) - origin) * i128::from(self.sample_rate) + 500_000_000)
            / 1_000_000_000;
        let estimate = i64::try_from(estimate).unwrap_or(clock);
        estimate.clamp(clock, clock + i64::from(self.sample_rate))
    }

    /// The monotonic time at which the audio clock reaches `sample`: now for a sample
    /// already past.
    pub fn ns_at(&self, sample: i64) -> u64 {
        let now = monotonic_ns();
        let current = self.sample_at(now);
        if sample <= current {
            return now;
        }
        let ahead = (sample - current) as u128 * 1_000_000_000 / u128::from(self.sample_rate);
        now.saturating_add(u64::try_from(ahead).unwrap_or(u64::MAX))
    }
}

impl SampleClock {
    /// The monotonic time in microseconds at which the audio clock is (or was) at
    /// `sample`.
    pub fn host_us_at(&self, sample: i64) -> i64 {
        let now = monotonic_ns();
        let current = self.sample_at(now);
        let offset_ns =
            (i128::from(sample - current) * 1_000_000_000) / i128::from(self.sample_rate);
        ((i128::from(now) + offset_ns) / 1000) as i64
    }
}

/// A value carried from an I/O thread to a Scheme handler: plain data, made into
/// Scheme values on the control thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Float(f64),
    Str(String),
    Sym(String),
    Bool(bool),
    List(Vec<Arg>),
}

impl Arg {
    fn to_value(&self, interp: &mut Interp) -> Value {
        match self {
            Arg::Int(i) => interp.int(*i),
            Arg::Float(f) => interp.float(*f),
            Arg::Str(s) => interp.string(s),
            Arg::Sym(s) => interp.symbol(s),
            Arg::Bool(b) => interp.bool(*b),
            Arg::List(items) => {
                let values: Vec<Value> = items.iter().map(|a| a.to_value(interp)).collect();
                interp.list(&values)
            }
        }
    }
}

/// One incoming message for a Scheme handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The sample at which the handler runs (what `(now)` reads in it); also its
    /// first argument.
    pub time: i64,
    /// The name of the handler (a global procedure).
    pub handler: String,
    /// The arguments after the time.
    pub args: Vec<Arg>,
    /// Whether a missing handler is skipped quietly (MIDI: define only the handlers
    /// you want) rather than reported (OSC: the server was started with its name).
    pub optional: bool,
}

/// Hands incoming messages from I/O threads to the control thread; shared by every
/// receiving thread of a session.
pub struct Courier {
    inbox: Sender<Incoming>,
    requests: Sender<Request>,
    /// A `(zonal:io-deliver)` request is on its way and has not started draining.
    pending: AtomicBool,
    dropped: AtomicU64,
    /// Messages whose handler's sample the audio clock had passed when they were
    /// delivered: their sound was late.
    late: AtomicU64,
    clock: SampleClock,
    latency: Arc<AtomicU64>,
    problems: Mutex<ProblemLog>,
}

#[derive(Default)]
struct ProblemLog {
    window_start: u64,
    in_window: u32,
    suppressed: u64,
}

impl Courier {
    /// The sample at which a message that arrived at monotonic time `ns` is handled:
    /// where the audio clock was, plus the input latency.
    pub fn arrival_time(&self, ns: u64) -> i64 {
        self.clock.sample_at(ns) + self.latency.load(Ordering::Relaxed) as i64
    }

    pub fn clock(&self) -> &SampleClock {
        &self.clock
    }

    /// Queues a message for its handler and wakes the control thread.
    pub fn post(&self, incoming: Incoming) {
        match self.inbox.try_send(incoming) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    self.problem(&format!(
                        "{n} incoming messages dropped so far: the control thread is behind"
                    ));
                }
                return;
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
        if !self.pending.swap(true, Ordering::AcqRel) {
            let (reply, _) = crossbeam_channel::bounded::<Reply>(1);
            let _ = self.requests.send(Request {
                source: DELIVER.to_owned(),
                origin: "io".to_owned(),
                reply,
                notices: None,
            });
        }
    }

    /// Logs a problem with incoming data (rate-limited, see [`PROBLEMS_PER_SECOND`]).
    pub fn problem(&self, message: &str) {
        let now = monotonic_ns();
        let Ok(mut log) = self.problems.lock() else {
            return;
        };
        if now.saturating_sub(log.window_start) >= 1_000_000_000 {
            log.window_start = now;
            log.in_window = 0;
        }
        if log.in_window >= PROBLEMS_PER_SECOND {
            log.suppressed += 1;
            return;
        }
        log.in_window += 1;
        let suppressed = std::mem::take(&mut log.suppressed);
        drop(log);
        if suppressed > 0 {
            eprintln!("zonal: {message} ({suppressed} more problems were not shown)");
        } else {
            eprintln!("zonal: {message}");
        }
    }

    /// How many messages were dropped because the inbox was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How many messages reached the control thread after their handler's sample had
    /// been played (each is logged, rate-limited, with the remedy).
    pub fn late(&self) -> u64 {
        self.late.load(Ordering::Relaxed)
    }
}

/// A session's I/O: the Scheme side of MIDI and OSC, on the control thread.
pub struct Io {
    clock: SampleClock,
    latency: Arc<AtomicU64>,
    requests: RefCell<Option<Sender<Request>>>,
    courier: RefCell<Option<(Arc<Courier>, Receiver<Incoming>)>>,
    /// `callback`, through which handlers are scheduled.
    callback: Root,
    pub(crate) osc: RefCell<crate::osc::Osc>,
    pub(crate) midi: RefCell<crate::midi::Midi>,
}

impl Io {
    /// The courier for receiving threads; an error naming `what` when the session has
    /// no control loop to hand messages to.
    pub fn courier(&self, what: &str) -> Result<Arc<Courier>, Error> {
        if let Some((courier, _)) = &*self.courier.borrow() {
            return Ok(courier.clone());
        }
        let Some(requests) = self.requests.borrow().clone() else {
            return Err(Error::new(
                ErrorKind::Native,
                format!(
                    "{what} needs a live engine (zonal play or zonal repl): this session has no \
                     control loop to hand incoming messages to"
                ),
            ));
        };
        let (inbox, rx) = crossbeam_channel::bounded(INBOX_CAPACITY);
        let courier = Arc::new(Courier {
            inbox,
            requests,
            pending: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            late: AtomicU64::new(0),
            clock: self.clock.clone(),
            latency: self.latency.clone(),
            problems: Mutex::new(ProblemLog::default()),
        });
        *self.courier.borrow_mut() = Some((courier.clone(), rx));
        Ok(courier)
    }

    pub fn clock(&self) -> &SampleClock {
        &self.clock
    }

    /// Schedules the handler of every message waiting in the inbox.
    fn deliver(&self, interp: &mut Interp) {
        let Some((courier, rx)) = self.courier.borrow().clone() else {
            return;
        };
        courier.pending.store(false, Ordering::Release);
        let callback = interp.rooted(&self.callback);
        for incoming in rx.try_iter() {
            if incoming.optional && interp.lookup(&incoming.handler).is_none() {
                continue;
            }
            let behind = self.clock.sample_at(monotonic_ns()) - incoming.time;
            if behind > 0 {
                courier.late.fetch_add(1, Ordering::Relaxed);
                courier.problem(&format!(
                    "{} ran {behind} samples after its time, so what it plays is late; \
                     (io:latency {}) leaves more room",
                    incoming.handler,
                    self.latency.load(Ordering::Relaxed) as i64 + behind
                ));
            }
            let time = interp.int(incoming.time);
            let mut args = vec![time, interp.symbol(&incoming.handler), time];
            args.extend(incoming.args.iter().map(|a| a.to_value(interp)));
            if let Err(e) = interp.apply(callback, &args) {
                eprintln!(
                    "zonal: cannot schedule {}: {}",
                    incoming.handler,
                    crate::diagnostic::report(&e, None)
                );
            }
        }
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        self.osc.borrow_mut().stop_all();
        self.midi.borrow_mut().close_all();
    }
}

/// Registers the I/O vocabulary in a session's interpreter: `(io:latency [SAMPLES])`,
/// `(io:clock)` (the sample the audio clock is at now, between buffers too),
/// `(io:host-time SAMPLE)` (when the audio clock is at SAMPLE, in microseconds of
/// the monotonic clock, which every process on the machine shares), Link's
/// ([`crate::link`], with the feature `link`),
/// the OSC procedures ([`crate::osc`]) and the MIDI ones ([`crate::midi`]). Call it
/// after `callback` is defined.
pub fn register(interp: &mut Interp, stats: Arc<AudioStats>, sample_rate: u32) -> Rc<Io> {
    let callback = interp
        .lookup("callback")
        .unwrap_or_else(|| interp.unspecified());
    let latency = (DEFAULT_LATENCY_SECONDS * f64::from(sample_rate)).round() as u64;
    let clock = SampleClock::new(stats, sample_rate);
    let io = Rc::new(Io {
        osc: RefCell::new(crate::osc::Osc::new(clock.clone())),
        midi: RefCell::new(crate::midi::Midi::new(clock.clone())),
        clock,
        latency: Arc::new(AtomicU64::new(latency)),
        requests: RefCell::new(None),
        courier: RefCell::new(None),
        callback: interp.root(callback),
    });
    let it = io.clone();
    interp.register_reentrant_native("zonal:io-deliver", move |interp, _args| {
        it.deliver(interp);
        Ok(interp.unspecified())
    });
    let it = io.clone();
    interp.register_native("io:latency", move |interp, args| {
        match args {
            [] => {}
            [samples] => match interp.as_int(*samples) {
                Some(n) if (0..=i64::from(u32::MAX)).contains(&n) => {
                    it.latency.store(n as u64, Ordering::Relaxed);
                }
                _ => {
                    return Err(Error::new(
                        ErrorKind::Type,
                        "io:latency takes a number of samples, 0 or more: (io:latency 96)",
                    )
                    .with_irritants(vec![interp.write_string(*samples)]));
                }
            },
            _ => {
                return Err(Error::new(
                    ErrorKind::Arity,
                    "io:latency takes at most one argument, the input latency in samples",
                ));
            }
        }
        Ok(interp.int(it.latency.load(Ordering::Relaxed) as i64))
    });
    let it = io.clone();
    interp.register_native("io:clock", move |interp, _args| {
        Ok(interp.int(it.clock.sample_at(monotonic_ns())))
    });
    let it = io.clone();
    interp.register_native("io:host-time", move |interp, args| {
        let [time] = args else {
            return Err(Error::new(
                ErrorKind::Arity,
                "io:host-time takes a sample time: (io:host-time (now))",
            ));
        };
        let time = sample_time(interp, *time, "io:host-time")?;
        Ok(interp.int(it.clock.host_us_at(time)))
    });
    crate::osc::register(interp, &io);
    crate::midi::register(interp, &io);
    #[cfg(feature = "link")]
    crate::link::register(interp, &io.clock);
    #[cfg(not(feature = "link"))]
    interp.register_native("link:join", |_interp, _args| {
        Err(Error::new(
            ErrorKind::Native,
            "this zonal was built without Ableton Link (GPL-2.0): build it with \
             `cargo build --release --features link`",
        ))
    });
    io
}

impl Io {
    /// Gives the I/O threads the live control loop's request channel, so incoming
    /// messages wake it, and sets the input latency for buffers of `buffer_frames`:
    /// two buffers and a millisecond, so that a handler's sound is in time for its
    /// sample (see [`crate::io`]).
    pub fn connect(&self, requests: Sender<Request>, buffer_frames: u32) {
        *self.requests.borrow_mut() = Some(requests);
        let latency = 2 * u64::from(buffer_frames) + u64::from(self.clock.sample_rate() / 1000);
        self.latency.store(latency, Ordering::Relaxed);
    }
}

/// A thread that hands each item to a sink at its moment on the monotonic clock, in
/// time order (ties in the order they were queued). Dropping it stops the thread;
/// items not yet due are dropped with it.
pub struct TimedSender<T: Send + 'static> {
    queue: Option<Sender<(u64, T)>>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> TimedSender<T> {
    /// Starts the thread, named `name`, calling `sink` with each item when it is due.
    pub fn spawn(
        name: &str,
        mut sink: impl FnMut(T) + Send + 'static,
    ) -> std::io::Result<TimedSender<T>> {
        let (queue, rx) = crossbeam_channel::unbounded::<(u64, T)>();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut heap: BinaryHeap<Reverse<Due<T>>> = BinaryHeap::new();
                let mut seq = 0u64;
                loop {
                    let now = monotonic_ns();
                    while heap.peek().is_some_and(|Reverse(d)| d.at <= now) {
                        if let Some(Reverse(due)) = heap.pop() {
                            sink(due.item);
                        }
                    }
                    let wait = heap
                        .peek()
                        .map(|Reverse(d)| Duration::from_nanos(d.at - now))
                        .unwrap_or(Duration::from_secs(3600));
                    match rx.recv_timeout(wait) {
                        Ok((at, item)) => {
                            seq += 1;
                            heap.push(Reverse(Due { at, seq, item }));
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
            })?;
        Ok(TimedSender {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues `item` for monotonic time `at_ns` (at once if that has passed).
    pub fn send_at(&self, at_ns: u64, item: T) {
        if let Some(queue) = &self.queue {
            let _ = queue.send((at_ns, item));
        }
    }
}

impl<T: Send + 'static> Drop for TimedSender<T> {
    fn drop(&mut self) {
        self.queue = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Due<T> {
    at: u64,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Due<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Due<T> {}
impl<T> PartialOrd for Due<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Due<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A sample time from a Scheme value (an integer or a finite real, rounded), or an
/// error naming `what`.
pub fn sample_time(interp: &Interp, v: Value, what: &str) -> Result<i64, Error> {
    match (interp.as_int(v), interp.as_f64(v)) {
        (Some(t), _) => Ok(t),
        (None, Some(t)) if t.is_finite() => Ok(t.round() as i64),
        _ => Err(Error::new(
            ErrorKind::Type,
            format!("{what}: the time must be a sample time (a number)"),
        )
        .with_irritants(vec![interp.write_string(v)])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_at(clock: i64, at: u64) -> Arc<AudioStats> {
        let stats = Arc::<AudioStats>::default();
        stats.clock.store(clock, Ordering::Relaxed);
        stats.clock_at_ns.store(at, Ordering::Relaxed);
        stats
    }

    #[test]
    fn the_sample_clock_extrapolates_from_the_last_buffer() {
        let clock = SampleClock::new(stats_at(4800, 1_000_000_000), 48_000);
        assert_eq!(clock.sample_at(1_000_000_000), 4800);
        assert_eq!(clock.sample_at(1_010_000_000), 4800 + 480);
        // Before the publication, and far past it (a stalled device), stay bounded.
        assert_eq!(clock.sample_at(900_000_000), 4800);
        assert_eq!(clock.sample_at(60_000_000_000), 4800 + 48_000);
    }

    #[test]
    fn a_buffer_published_late_does_not_move_the_clock() {
        let stats = stats_at(4800, 1_000_000_000);
        let clock = SampleClock::new(stats.clone(), 48_000);
        assert_eq!(clock.sample_at(1_001_000_000), 4800 + 48);
        // The next 64 frames are published 0.67 ms late (on time: 1.001333 s).
        stats.clock.store(4864, Ordering::SeqCst);
        stats.clock_at_ns.store(1_002_000_000, Ordering::SeqCst);
        assert_eq!(clock.sample_at(1_003_000_000), 4800 + 144);
        // Two windows later only late publications are left, and they are followed.
        stats.clock.store(4864 + 96_000, Ordering::SeqCst);
        stats.clock_at_ns.store(3_002_000_000, Ordering::SeqCst);
        assert_eq!(clock.sample_at(3_002_000_000), 4864 + 96_000);
        stats.clock.store(4864 + 144_000, Ordering::SeqCst);
        stats.clock_at_ns.store(4_002_000_000, Ordering::SeqCst);
        assert_eq!(clock.sample_at(4_003_000_000), 4864 + 144_000 + 48);
    }

    #[test]
    fn time_the_audio_thread_lost_moves_the_clock_at_once() {
        let stats = stats_at(4800, 1_000_000_000);
        let clock = SampleClock::new(stats.clone(), 48_000);
        assert_eq!(clock.sample_at(1_001_000_000), 4800 + 48);
        // The thread stalled for 150 ms and went on from where it was: those samples
        // were never played, so the clock is 150 ms behind its old origin from now on.
        stats.clock.store(4864, Ordering::SeqCst);
        stats.clock_at_ns.store(1_151_333_333, Ordering::SeqCst);
        assert_eq!(clock.sample_at(1_161_333_333), 4864 + 480);
        // A little jitter after it does not move it back.
        stats.clock.store(4928, Ordering::SeqCst);
        stats.clock_at_ns.store(1_153_000_000, Ordering::SeqCst);
        assert_eq!(clock.sample_at(1_161_333_333), 4864 + 480);
    }

    #[test]
    fn without_an_audio_thread_the_clock_stands_still() {
        let clock = SampleClock::new(Arc::default(), 48_000);
        assert_eq!(clock.sample_at(monotonic_ns()), 0);
    }

    #[test]
    fn a_timed_sender_hands_items_over_in_time_order_at_their_moment() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let sender = TimedSender::spawn("test-timed", move |item: u32| {
            let _ = tx.send((item, monotonic_ns()));
        })
        .unwrap();
        let start = monotonic_ns();
        sender.send_at(start + 300_000_000, 3);
        sender.send_at(start + 200_000_000, 1);
        sender.send_at(start + 200_000_000, 2);
        sender.send_at(0, 0);
        let got: Vec<(u32, u64)> = (0..4)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert!(got[0].1 < start + 100_000_000, "{:?}", got[0]);
        assert!(got[1].1 >= start + 200_000_000);
        assert!(got[3].1 >= start + 300_000_000);
        assert!(got[3].1 < start + 300_000_000 + 150_000_000, "{:?}", got[3]);
    }
}
