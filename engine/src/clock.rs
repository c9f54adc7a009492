//! The device-less real-time backend (`zonal play --no-audio`): a thread named
//! `zonal-audio` calls the one process function at the real-time rate and discards what
//! it writes (unless a recorder wraps it). Headless livecoding, and how tests reach the
//! editor server with the real engine running.
//!
//! Buffers are paced by deadlines: buffer `k` starts at `start + k · frames / rate`, so
//! the clock does not drift however long each call takes. A buffer started more than a
//! buffer late counts as late; when the clock falls [`MAX_LAG`] behind (the machine
//! stalled) it gives up catching up and restarts its schedule from now, as a device that
//! under-ran would.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::device::{Backend, DeviceConfig, Stream};

/// How far behind its schedule the clock may fall before it restarts the schedule.
pub const MAX_LAG: Duration = Duration::from_millis(100);

/// Counters a running clock shares with its [`Stream`].
#[derive(Debug, Default)]
pub struct ClockCounters {
    buffers: AtomicU64,
    late: AtomicU64,
}

impl ClockCounters {
    /// Buffers processed so far.
    pub fn buffers(&self) -> u64 {
        self.buffers.load(Ordering::Relaxed)
    }

    /// Buffers started more than one buffer's duration after their deadline.
    pub fn late_buffers(&self) -> u64 {
        self.late.load(Ordering::Relaxed)
    }
}

/// Calls a process function once per buffer at the real-time rate. [`start_clock`] runs
/// one on its own thread; tests can drive [`Clock::tick`] directly.
pub struct Clock<P> {
    process: P,
    buffer: Box<[f32]>,
    sample_rate: u64,
    frames_per_buffer: u64,
    /// When frame 0 of the current schedule was due.
    start: Instant,
    /// Frames since `start`.
    frames: u64,
    counters: Arc<ClockCounters>,
}

impl<P: FnMut(&mut [f32])> Clock<P> {
    /// A clock for `cfg`'s rate, channels and buffer size, its first buffer due now.
    pub fn new(cfg: &DeviceConfig, process: P) -> Self {
        let channels = usize::from(cfg.channels.max(1));
        let frames_per_buffer = cfg.buffer_frames.max(1);
        Clock {
            process,
            buffer: vec![0.0; frames_per_buffer as usize * channels].into_boxed_slice(),
            sample_rate: u64::from(cfg.sample_rate.max(1)),
            frames_per_buffer: u64::from(frames_per_buffer),
            start: Instant::now(),
            frames: 0,
            counters: Arc::new(ClockCounters::default()),
        }
    }

    /// The counters of this clock, shared.
    pub fn counters(&self) -> Arc<ClockCounters> {
        Arc::clone(&self.counters)
    }

    /// Waits until the next buffer is due, then fills it with the process function.
    /// Allocates nothing.
    pub fn tick(&mut self) {
        let due = self.start + self.offset(self.frames);
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        } else {
            let lag = now - due;
            if lag > self.offset(self.frames_per_buffer) {
                self.counters.late.fetch_add(1, Ordering::Relaxed);
            }
            if lag > MAX_LAG {
                self.start = now;
                self.frames = 0;
            }
        }
        self.buffer.fill(0.0);
        (self.process)(&mut self.buffer);
        self.frames += self.frames_per_buffer;
        self.counters.buffers.fetch_add(1, Ordering::Relaxed);
    }

    /// The time `frames` frames take to play.
    fn offset(&self, frames: u64) -> Duration {
        let nanos = u128::from(frames) * 1_000_000_000 / u128::from(self.sample_rate);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// The thread of a running clock; stopped and joined when dropped.
pub(crate) struct ClockThread {
    stop: Arc<AtomicBool>,
    counters: Arc<ClockCounters>,
    thread: Option<JoinHandle<()>>,
}

impl ClockThread {
    pub(crate) fn buffers(&self) -> u64 {
        self.counters.buffers()
    }

    pub(crate) fn late_buffers(&self) -> u64 {
        self.counters.late_buffers()
    }

    pub(crate) fn counters(&self) -> Arc<ClockCounters> {
        Arc::clone(&self.counters)
    }

    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for ClockThread {
    fn drop(&mut self) {
        self.request_stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts a thread named `zonal-audio` that calls `process` once per buffer of
/// `cfg.buffer_frames` frames at `cfg.sample_rate` frames a second, discarding what it
/// writes. `cfg.device` is ignored.
pub fn start_clock(
    cfg: &DeviceConfig,
    process: impl FnMut(&mut [f32]) + Send + 'static,
) -> io::Result<Stream> {
    let mut clock = Clock::new(cfg, process);
    let counters = clock.counters();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = Arc::clone(&stop);
        thread::Builder::new()
            .name("zonal-audio".to_owned())
            .spawn(move || {
                clock.start = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    clock.tick();
                }
            })?
    };
    Ok(Stream {
        name: "no audio".to_owned(),
        sample_rate: cfg.sample_rate,
        channels: cfg.channels,
        sample_format: "f32".to_owned(),
        backend: Backend::Clock(ClockThread {
            stop,
            counters,
            thread: Some(thread),
        }),
    })
}
