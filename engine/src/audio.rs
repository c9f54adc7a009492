//! The process function: the one piece of code every audio backend calls.
//!
//! Once per buffer it applies what the control thread sent (swaps, the entry point,
//! timed events), runs the current DSP closure frame by frame (splitting the buffer at
//! event times, so events are sample-accurate), guards the output, resets the audio
//! zone and publishes the sample clock. It never allocates, locks, blocks or prints:
//! faults and retired closures go back over the return ring. Denormals are flushed
//! to zero while it runs ([`crate::denormals`]).
//!
//! When the entry faults, the part of the buffer it was rendering is rendered again by
//! the previous version of its definition, if that one ran without a fault (the audio
//! context keeps it, see `AudioCtx::fall_back`); otherwise the entry stops until the next
//! swap or entry arrives, which may have fixed it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use zonal_dsp::{AudioCtx, Entry, PreparedCall};

use crate::commands::{AudioEnds, Command, Returned};
use crate::events::EventQueue;

/// Most channels a frame may have.
pub const MAX_CHANNELS: usize = 64;
/// Most frames one call of [`Processor::process`] renders.
pub const MAX_FRAMES: usize = 8192;
/// Most timed events waiting on the audio side at once.
pub const MAX_PENDING_EVENTS: usize = 1024;

/// Counters the audio thread publishes; read by the control thread and tests.
#[derive(Default)]
pub struct AudioStats {
    /// Samples rendered so far (the clock `(now)` reads when no callback runs).
    pub clock: AtomicI64,
    /// When `clock` was last published, in nanoseconds on the monotonic clock
    /// ([`crate::io::monotonic_ns`]; 0 before the first buffer, `u64::MAX` while both
    /// are being written): how MIDI and OSC input find the sample they arrived at.
    pub clock_at_ns: AtomicU64,
    /// Buffers processed.
    pub buffers: AtomicU64,
    /// True while the process function runs (the watchdog's view of the audio thread).
    pub running: AtomicBool,
    /// Events dropped because the pending list was full.
    pub dropped_events: AtomicU64,
    /// Values that could not go back because the return ring was full (leaked, not
    /// freed on the audio thread). Always 0 unless something is wrong.
    pub lost_returns: AtomicU64,
    /// Output samples that were NaN or infinite and became 0.
    pub non_finite: AtomicU64,
    /// Highest audio-zone use seen at the end of a buffer, in bytes.
    pub audio_zone_high_water: AtomicU64,
}

/// The audio thread's state.
pub struct Processor {
    ctx: AudioCtx,
    rings: AudioEnds,
    entry: Option<Entry>,
    /// The entry faulted with nothing to fall back to: silence until the next swap or entry.
    stopped: bool,
    /// Timed events by (time, arrival); a heap of small keys over a fixed slab, so an
    /// insertion never moves the (large) calls themselves.
    pending: EventQueue<PreparedCall>,
    channels: usize,
    time: i64,
    /// Silence fed to the DSP closure as its input (zonal has no audio input yet).
    input: Box<[f32]>,
    stats: Arc<AudioStats>,
}

impl Processor {
    /// Builds the processor on the control thread; it is then moved to the audio thread.
    pub fn new(ctx: AudioCtx, rings: AudioEnds, channels: usize, stats: Arc<AudioStats>) -> Self {
        Processor {
            ctx,
            rings,
            entry: None,
            stopped: false,
            pending: EventQueue::new(MAX_PENDING_EVENTS),
            channels: channels.clamp(1, MAX_CHANNELS),
            time: 0,
            input: vec![0.0; MAX_FRAMES * MAX_CHANNELS].into_boxed_slice(),
            stats,
        }
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Renders one interleaved buffer of `out.len() / channels` frames (in pieces of
    /// at most [`MAX_FRAMES`]), split at the times of pending events.
    ///
    /// Runs inside `assert_no_alloc`: a test binary that installs
    /// `assert_no_alloc::AllocDisabler` as its global allocator catches any
    /// allocation on this path.
    pub fn process(&mut self, out: &mut [f32]) {
        let step = MAX_FRAMES * self.channels;
        self.stats.running.store(true, Ordering::Relaxed);
        let _flush = crate::denormals::FlushDenormals::new();
        assert_no_alloc::assert_no_alloc(|| {
            for chunk in out.chunks_mut(step) {
                self.process_buffer(chunk);
            }
        });
        self.stats.running.store(false, Ordering::Relaxed);
    }

    fn process_buffer(&mut self, out: &mut [f32]) {
        self.ctx.begin_buffer();
        self.receive();
        let channels = self.channels;
        let frames = (out.len() / channels).min(MAX_FRAMES);
        let mut done = 0;
        while done < frames {
            let t = self.time + done as i64;
            self.run_due_events(t);
            let until = match self.pending.peek_time() {
                Some(te) => ((te - self.time) as usize).clamp(done + 1, frames),
                None => frames,
            };
            let segment = &mut out[done * channels..until * channels];
            self.render(segment, t);
            done = until;
        }
        out[frames * channels..].fill(0.0);
        self.time += frames as i64;
        let used = self.ctx.audio_zone_used() as u64;
        self.stats
            .audio_zone_high_water
            .fetch_max(used, Ordering::Relaxed);
        self.ctx.end_buffer();
        // `u64::MAX` tells a reader of the pair that it is being written.
        self.stats.clock_at_ns.store(u64::MAX, Ordering::SeqCst);
        self.stats.clock.store(self.time, Ordering::SeqCst);
        self.stats
            .clock_at_ns
            .store(crate::io::monotonic_ns(), Ordering::SeqCst);
        self.stats.buffers.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs the entry closure over one segment starting at sample `t`, then guards it.
    fn render(&mut self, segment: &mut [f32], t: i64) {
        let channels = self.channels;
        let Some(entry) = self.entry.filter(|_| !self.stopped) else {
            segment.fill(0.0);
            return;
        };
        let frames = segment.len() / channels;
        let input = &self.input[..segment.len()];
        let mut result = self
            .ctx
            .run_buffer(entry, input, segment, frames, channels, t);
        while let Err(fault) = result {
            let fell_back = self.ctx.fall_back(entry);
            self.give_back(Returned::EntryFault {
                fault,
                time: fault.time().unwrap_or(t),
                fell_back,
            });
            if fell_back.is_none() {
                self.stopped = true;
                segment.fill(0.0);
                return;
            }
            let input = &self.input[..segment.len()];
            result = self
                .ctx
                .run_buffer(entry, input, segment, frames, channels, t);
        }
        for s in segment.iter_mut() {
            *s = self.guard(*s);
        }
    }

    fn guard(&self, s: f32) -> f32 {
        if s.is_finite() {
            s.clamp(-1.0, 1.0)
        } else {
            self.stats.non_finite.fetch_add(1, Ordering::Relaxed);
            0.0
        }
    }

    fn receive(&mut self) {
        while let Ok(cmd) = self.rings.commands.pop() {
            match cmd {
                Command::Swap(mut batch) => {
                    self.ctx.apply(&mut batch);
                    self.give_back(Returned::Retired(batch));
                    self.stopped = false;
                }
                Command::SetEntry(entry) => {
                    self.entry = entry;
                    self.ctx.watch(entry.map(|e| e.slot()));
                    self.stopped = false;
                }
                Command::Event { time, call } => self.insert_event(time, call),
            }
        }
    }

    /// Queues an event (O(log n), nothing moves but 24-byte keys); counts it as
    /// dropped when [`MAX_PENDING_EVENTS`] are waiting.
    fn insert_event(&mut self, time: i64, call: PreparedCall) {
        if self.pending.push(time, call).is_err() {
            self.stats.dropped_events.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs every event due at or before `now`, earliest first, ties in arrival order.
    fn run_due_events(&mut self, now: i64) {
        while let Some((_, call)) = self.pending.pop_due(now) {
            if let Err(fault) = self.ctx.run_call(&call) {
                self.give_back(Returned::EventFault { fault, time: now });
            }
        }
    }

    fn give_back(&mut self, value: Returned) {
        if let Err(rtrb::PushError::Full(value)) = self.rings.returned.push(value) {
            // Freeing here would call the system allocator on the audio thread; the
            // value is leaked and counted instead (tests assert the count stays 0).
            std::mem::forget(value);
            self.stats.lost_returns.fetch_add(1, Ordering::Relaxed);
        }
    }
}
