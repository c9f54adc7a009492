//! The process function: the one piece of code every audio backend calls.
//!
//! Once per buffer it applies what the control thread sent (swaps, the entry point,
//! timed events), runs the current DSP closure frame by frame (splitting the buffer at
//! event times, so events are sample-accurate), guards the output, resets the audio
//! zone and publishes the sample clock. The closure's input comes from the processor's
//! [`InputSource`], read for the whole buffer before it renders; the time each closure
//! call and the buffer took, and the output's levels, go to the load meter
//! ([`crate::load_meter`]). It never allocates, locks, blocks or prints:
//! faults and retired closures go back over the return ring. Denormals are flushed
//! to zero while it runs ([`crate::denormals`]).
//!
//! When the entry faults, the part of the buffer it was rendering is rendered again by
//! the previous version of its definition, if that one ran without a fault (the audio
//! context keeps it, see `AudioCtx::fall_back`); otherwise the entry stops until the next
//! swap or entry arrives, which may have fixed it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use zonal_dsp::{AudioCtx, Entry, Fault, MAX_LANES, PreparedCall};

use crate::commands::{AudioEnds, Command, Returned};
use crate::events::EventQueue;
use crate::fade::{Curve, Fader, TimedSwap, TimedSwaps};
use crate::input::InputSource;
use crate::lanes::{LaneFault, Lanes};
use crate::load_meter::{Levels, Stopwatch};

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
    /// are being written): how MIDI and OSC input find the sample they arrived at. It is
    /// the load meter's last reading in the buffer, at its last closure call's end, a
    /// moment before the clock is published.
    pub clock_at_ns: AtomicU64,
    /// Buffers processed.
    pub buffers: AtomicU64,
    /// True while the process function runs (the watchdog's view of the audio thread).
    pub running: AtomicBool,
    /// The CPU clock of the thread running the process function (the watchdog's patience
    /// is counted in it).
    pub cpu_clock: crate::watchdog::ThreadClock,
    /// Events dropped because the pending list was full.
    pub dropped_events: AtomicU64,
    /// Values that could not go back because the return ring was full (leaked, not
    /// freed on the audio thread). Always 0 unless something is wrong.
    pub lost_returns: AtomicU64,
    /// Output samples that were NaN or infinite and became 0.
    pub non_finite: AtomicU64,
    /// Output samples at full scale or beyond (the guard clamps them to ±1).
    pub clipped: AtomicU64,
    /// Highest audio-zone use seen at the end of a buffer, in bytes.
    pub audio_zone_high_water: AtomicU64,
    /// CPU share per closure, levels and deadline misses ([`crate::load_meter`]).
    pub load: crate::load_meter::LoadMeter,
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
    /// The DSP closure's input for the buffer being rendered: from `source`, or silence.
    input: Box<[f32]>,
    source: Option<Box<dyn InputSource>>,
    stats: Arc<AudioStats>,
    /// `(dsp:set! a b ...)`: closures in lanes, summed or mixed by the entry.
    lanes: Lanes,
    /// Outgoing entries still sounding (crossfades).
    fader: Fader,
    /// The levels of the buffer being rendered, for the load meter.
    levels: Levels,
    /// The clock readings that time the closure calls and the buffers.
    stopwatch: Stopwatch,
    /// Swaps waiting for their samples.
    timed: TimedSwaps,
}

impl Processor {
    /// Builds the processor on the control thread; it is then moved to the audio thread.
    pub fn new(
        ctx: AudioCtx,
        rings: AudioEnds,
        channels: usize,
        stats: Arc<AudioStats>,
        lanes: Lanes,
    ) -> Self {
        Processor {
            ctx,
            rings,
            entry: None,
            stopped: false,
            pending: EventQueue::new(MAX_PENDING_EVENTS),
            channels: channels.clamp(1, MAX_CHANNELS),
            time: 0,
            input: vec![0.0; MAX_FRAMES * MAX_CHANNELS].into_boxed_slice(),
            source: None,
            stats,
            lanes,
            fader: Fader::default(),
            timed: TimedSwaps::default(),
            levels: Levels::new(channels),
            stopwatch: Stopwatch::default(),
        }
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Feeds the DSP closure's `in` from `source` ([`crate::input`]) from now on.
    pub fn set_input(&mut self, source: Box<dyn InputSource>) {
        self.source = Some(source);
    }

    /// Renders one interleaved buffer of `out.len() / channels` frames (in pieces of
    /// at most [`MAX_FRAMES`]), split at the times of pending events. Every sample of
    /// `out` is written (silence where nothing plays), whatever it held before.
    ///
    /// Runs inside `assert_no_alloc`: a test binary that installs
    /// `assert_no_alloc::AllocDisabler` as its global allocator catches any
    /// allocation on this path.
    pub fn process(&mut self, out: &mut [f32]) {
        self.process_buffers(out, MAX_FRAMES);
    }

    /// Renders `out` as consecutive buffers of `frames` frames (at most [`MAX_FRAMES`];
    /// the last may be shorter), as that many calls of [`Processor::process`] would, but
    /// with one call's setup (the watchdog's clock, the denormal mode, the allocation
    /// check) for all of them: the offline renderer's stretches.
    pub fn process_buffers(&mut self, out: &mut [f32], frames: usize) {
        let step = frames.clamp(1, MAX_FRAMES) * self.channels;
        self.stats.cpu_clock.publish();
        self.stats.running.store(true, Ordering::Relaxed);
        let _flush = crate::denormals::FlushDenormals::new();
        self.stopwatch.start();
        assert_no_alloc::assert_no_alloc(|| {
            for chunk in out.chunks_mut(step) {
                self.process_buffer(chunk);
            }
        });
        self.stats.running.store(false, Ordering::Relaxed);
    }

    fn process_buffer(&mut self, out: &mut [f32]) {
        let began = self.stopwatch.last();
        self.stats.load.buffer_began();
        self.levels.clear();
        self.ctx.begin_buffer();
        self.receive();
        let channels = self.channels;
        let frames = (out.len() / channels).min(MAX_FRAMES);
        if let Some(source) = &mut self.source {
            source.read(&mut self.input[..frames * channels], channels);
        }
        let mut done = 0;
        while done < frames {
            let t = self.time + done as i64;
            while let Some(timed) = self.timed.pop_due(t) {
                self.apply_timed(timed);
            }
            self.run_due_events(t);
            let next = self
                .pending
                .peek_time()
                .into_iter()
                .chain(self.timed.next_time())
                .min();
            let until = match next {
                Some(te) => ((te - self.time) as usize).clamp(done + 1, frames),
                None => frames,
            };
            let segment = &mut out[done * channels..until * channels];
            let running = self.entry.filter(|_| !self.stopped);
            self.render(segment, done, t);
            if let Some(entry) = running {
                self.stats.load.ran(entry.slot(), self.stopwatch.lap());
            }
            self.queue_scheduled(t);
            done = until;
        }
        out[frames * channels..].fill(0.0);
        if self.stopwatch.last() == began {
            // nothing ran: the buffer still took time
            self.stopwatch.lap();
        }
        // the end of the last closure call (less the scheduling after it)
        let ended = self.stopwatch.last();
        self.stats
            .load
            .buffer_ended(ended.saturating_sub(began), frames, &self.levels, self.time);
        self.time += frames as i64;
        crate::load_meter::raise(
            &self.stats.audio_zone_high_water,
            self.ctx.audio_zone_used() as u64,
        );
        self.lanes.end_buffer();
        self.ctx.end_buffer();
        // `u64::MAX` tells a reader of the pair that it is being written: one that reads
        // the new clock (acquiring it) sees that mark or the new time after it
        self.stats.clock_at_ns.store(u64::MAX, Ordering::Relaxed);
        self.stats.clock.store(self.time, Ordering::Release);
        self.stats.clock_at_ns.store(ended, Ordering::Release);
        crate::load_meter::add_own(&self.stats.buffers, 1);
    }

    /// Renders one segment, frame `from` of the buffer and sample `t`: the lanes and the
    /// entry (guarded), mixed with the outgoing entries still fading out; then guards it
    /// and adds it to the buffer's levels.
    fn render(&mut self, segment: &mut [f32], from: usize, t: i64) {
        self.render_entry(segment, from, t);
        while let Some(o) = self.fader.finished() {
            self.give_back(Returned::FadeOver(o));
        }
        if self.fader.active() {
            self.guard(segment);
            let input = &self.input[from * self.channels..from * self.channels + segment.len()];
            self.fader
                .mix(&mut self.ctx, input, segment, self.channels, t);
            while let Some(o) = self.fader.finished() {
                self.give_back(Returned::FadeOver(o));
            }
        }
        // the rule: every sample finite and below full scale, nothing for the guard to
        // do, and one pass measures them
        if !self.levels.add_if_below_full_scale(segment) {
            self.guard(segment);
            self.levels.add(segment);
        }
    }

    /// Runs the lanes and the entry closure over one segment, frame `from` of the buffer
    /// and sample `t` (unguarded).
    fn render_entry(&mut self, segment: &mut [f32], from: usize, t: i64) {
        let channels = self.channels;
        let frames = segment.len() / channels;
        if self.lanes.active() {
            let input = &self.input[from * channels..from * channels + segment.len()];
            let (rings, stats) = (&mut self.rings, &self.stats);
            self.lanes.render(
                &self.ctx,
                input,
                frames,
                channels,
                t,
                &mut |f: LaneFault| {
                    give_back(
                        rings,
                        stats,
                        Returned::LaneFault {
                            fault: f.fault,
                            time: f.time,
                            lane: f.lane,
                        },
                    );
                },
            );
            if self.entry.is_none() {
                self.lanes.sum_into(segment);
                return;
            }
        }
        let Some(entry) = self.entry.filter(|_| !self.stopped) else {
            segment.fill(0.0);
            return;
        };
        let mut result = self.run_entry(entry, segment, from, t);
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
            // the previous version plays in full again: it stops fading out beside itself
            self.fader.cut();
            result = self.run_entry(entry, segment, from, t);
        }
    }

    /// Runs `entry` once over a segment (frame `from` of the buffer): a mixer over the
    /// lanes' outputs, any other entry over the input.
    fn run_entry(
        &mut self,
        entry: Entry,
        segment: &mut [f32],
        from: usize,
        t: i64,
    ) -> Result<(), Fault> {
        let channels = self.channels;
        let len = segment.len();
        let frames = len / channels;
        if entry.is_mixer() {
            let count = self.lanes.count();
            let lanes: [&[f32]; MAX_LANES] = std::array::from_fn(|i| self.lanes.output(i, len));
            self.ctx
                .run_mixer(entry, &lanes[..count], segment, frames, channels, t)
        } else {
            let input = &self.input[from * channels..from * channels + len];
            self.ctx
                .run_buffer(entry, input, segment, frames, channels, t)
        }
    }

    /// Clamps `segment` to [-1, 1] and silences what is not finite, counting both: without
    /// a branch per sample, so that it runs in vector instructions (eight samples in 36).
    /// Out of line: most segments never need it.
    #[inline(never)]
    fn guard(&self, segment: &mut [f32]) {
        let (mut bad, mut full) = (0u32, 0u32);
        for s in segment.iter_mut() {
            let a = s.abs();
            // false for NaN and both infinities
            let finite = a <= f32::MAX;
            bad += u32::from(!finite);
            full += u32::from(finite && a >= 1.0);
            *s = if finite { s.clamp(-1.0, 1.0) } else { 0.0 };
        }
        if bad > 0 {
            self.stats
                .non_finite
                .fetch_add(u64::from(bad), Ordering::Relaxed);
        }
        if full > 0 {
            self.stats
                .clipped
                .fetch_add(u64::from(full), Ordering::Relaxed);
        }
    }

    fn receive(&mut self) {
        while let Ok(cmd) = self.rings.commands.pop() {
            match cmd {
                Command::Swap { batch, timing } => match self.timed.time_for(timing.at) {
                    Some(at) if at > self.time || !self.timed.is_empty() => {
                        let timed = TimedSwap {
                            batch,
                            at,
                            fade: (timing.fade, timing.curve),
                            entry: None,
                        };
                        if let Some(early) = self.timed.push(timed) {
                            self.apply_timed(early);
                        }
                    }
                    _ => self.swap(batch, (timing.fade, timing.curve)),
                },
                Command::SetEntry(entry) => match self.timed.last_mut() {
                    Some(timed) => timed.entry = Some(entry),
                    None => self.set_entry(entry),
                },
                Command::SetRouting(routing) => {
                    self.lanes.set(Some(routing));
                    self.entry = routing.mixer;
                    self.ctx.watch(routing.mixer.map(|e| e.slot()));
                    self.stopped = false;
                }
                Command::AddLane(lane) => {
                    if let Err(lane) = self.lanes.add(lane) {
                        self.give_back(Returned::SpareLane(lane));
                    }
                }
                Command::Event { time, call } => self.insert_event(time, call),
            }
        }
    }

    /// Installs a swap batch; when it replaces the entry's closure and the fade is not 0
    /// samples, the old closure keeps sounding, fading out along the fade's curve. (A
    /// mixer of lanes and the lanes' own closures swap at once.)
    fn swap(&mut self, mut batch: Box<zonal_dsp::SwapBatch>, fade: (u32, Curve)) {
        self.ctx.apply(&mut batch);
        if let (Some(entry), Some(out)) = (self.entry, batch.outgoing())
            && fade.0 > 0
            && !self.stopped
            && !entry.is_mixer()
            && out.slot() == entry.slot()
            && self.fader.start(out, entry, fade)
        {
            batch.keep_outgoing();
        }
        self.give_back(Returned::Retired(batch));
        self.stopped = false;
        self.lanes.restart();
    }

    fn set_entry(&mut self, entry: Option<Entry>) {
        self.lanes.set(None);
        self.entry = entry;
        self.ctx.watch(entry.map(|e| e.slot()));
        self.stopped = false;
    }

    /// Installs a swap that waited for its time, and the entry sent after it.
    fn apply_timed(&mut self, timed: TimedSwap) {
        self.swap(timed.batch, timed.fade);
        if let Some(entry) = timed.entry {
            self.set_entry(entry);
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
            let result = self.ctx.run_call(&call, now);
            self.stats.load.ran(call.slot(), self.stopwatch.lap());
            if let Err(fault) = result {
                self.give_back(Returned::EventFault { fault, time: now });
            }
            self.queue_scheduled(now);
        }
    }

    /// Queues the callbacks DSP code scheduled (xtlang's `callback`) in code that ran at
    /// sample `now`, as events. One whose time is not after `now` runs at `now + 1`: the
    /// sample it ran at is rendered (or being run), and a callback that schedules itself
    /// at its own time then runs once per sample rather than forever in one buffer.
    fn queue_scheduled(&mut self, now: i64) {
        let (pending, stats) = (&mut self.pending, &self.stats);
        let mut queue = |time: i64, call: PreparedCall| {
            if pending.push(time.max(now + 1), call).is_err() {
                stats.dropped_events.fetch_add(1, Ordering::Relaxed);
            }
        };
        self.ctx.take_scheduled(&mut queue);
        self.lanes.take_scheduled(&mut queue);
    }

    fn give_back(&mut self, value: Returned) {
        give_back(&mut self.rings, &self.stats, value);
    }
}

/// Sends `value` back to the control thread over the return ring.
fn give_back(rings: &mut AudioEnds, stats: &AudioStats, value: Returned) {
    if let Err(rtrb::PushError::Full(value)) = rings.returned.push(value) {
        // Freeing here would call the system allocator on the audio thread; the value is
        // leaked and counted instead (tests assert the count stays 0).
        std::mem::forget(value);
        stats.lost_returns.fetch_add(1, Ordering::Relaxed);
    }
}
