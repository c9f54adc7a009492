//! The audio side of `(dsp:set! a b ...)`: several DSP closures, each in a lane of its
//! own, rendered side by side (on worker threads when there are some) and summed in lane
//! order, or mixed by a `DSPMT` closure given first (Extempore's `mtaudio.xtm` form).
//!
//! Lane contexts are made on the control thread and arrive over the command ring; this
//! side keeps them in a vector whose capacity was reserved when it was made, so taking
//! one in never allocates. Lane outputs live in one buffer reserved up front. A lane
//! whose closure faults is silent until the next routing or swap (its neighbours play on).

use zonal_dsp::{AudioCtx, Entry, Fault, MAX_LANES, PreparedCall};

use crate::audio::MAX_FRAMES;
use crate::workers::{LaneJob, Pool};

/// Which closures play: the lanes' entries, and the mixer of their outputs if any.
#[derive(Clone, Copy, Debug)]
pub struct Routing {
    pub mixer: Option<Entry>,
    pub lanes: [Option<Entry>; MAX_LANES],
    pub count: usize,
}

impl Routing {
    /// A routing of `lanes` (at most [`MAX_LANES`]), mixed by `mixer` or summed.
    pub fn new(mixer: Option<Entry>, lanes: &[Entry]) -> Routing {
        let count = lanes.len().min(MAX_LANES);
        let mut slots = [None; MAX_LANES];
        for (s, e) in slots.iter_mut().zip(lanes) {
            *s = Some(*e);
        }
        Routing {
            mixer,
            lanes: slots,
            count,
        }
    }
}

/// A fault of one lane's closure (the lane is then silent until the next routing or swap).
pub struct LaneFault {
    pub lane: usize,
    pub fault: Fault,
    pub time: i64,
}

/// The lanes, their outputs and the workers that render them.
pub struct Lanes {
    #[allow(
        clippy::vec_box,
        reason = "a lane arrives boxed over the ring; unboxing it would free the box here"
    )]
    contexts: Vec<Box<AudioCtx>>,
    routing: Option<Routing>,
    stopped: [bool; MAX_LANES],
    outputs: Box<[f32]>,
    stride: usize,
    pool: Option<Pool>,
    jobs: [Option<LaneJob>; MAX_LANES],
}

impl Lanes {
    /// Room for [`MAX_LANES`] lanes of buffers up to [`MAX_FRAMES`] × `channels`, rendered
    /// by `pool`'s workers (and the audio thread), or by the audio thread alone.
    pub fn new(channels: usize, pool: Option<Pool>) -> Lanes {
        let stride = MAX_FRAMES * channels;
        Lanes {
            contexts: Vec::with_capacity(MAX_LANES),
            routing: None,
            stopped: [false; MAX_LANES],
            outputs: vec![0.0; MAX_LANES * stride].into_boxed_slice(),
            stride,
            pool,
            jobs: std::array::from_fn(|_| None),
        }
    }

    /// Takes in a lane context made on the control thread; `Err` gives it back when
    /// [`MAX_LANES`] are here already.
    pub fn add(&mut self, ctx: Box<AudioCtx>) -> Result<(), Box<AudioCtx>> {
        if self.contexts.len() < MAX_LANES {
            self.contexts.push(ctx);
            Ok(())
        } else {
            Err(ctx)
        }
    }

    /// Plays `routing` from the next segment (`None`: the lanes stop).
    pub fn set(&mut self, routing: Option<Routing>) {
        self.routing = routing;
        self.stopped = [false; MAX_LANES];
    }

    /// Something was redefined: stopped lanes get another chance.
    pub fn restart(&mut self) {
        self.stopped = [false; MAX_LANES];
    }

    /// True when a routing of lanes is playing (instead of a single entry).
    pub fn active(&self) -> bool {
        self.routing.is_some()
    }

    /// The mixer of the playing routing.
    pub fn mixer(&self) -> Option<Entry> {
        self.routing.and_then(|r| r.mixer)
    }

    /// Renders the playing lanes over `frames` × `channels` of `input` starting at sample
    /// `t`, reading `main`'s slots, and reports each lane that faulted to `fault`. Their
    /// outputs are then read with [`Lanes::output`].
    pub fn render(
        &mut self,
        main: &AudioCtx,
        input: &[f32],
        frames: usize,
        channels: usize,
        t: i64,
        fault: &mut impl FnMut(LaneFault),
    ) {
        let Some(routing) = self.routing else { return };
        let n = routing.count.min(self.contexts.len());
        let len = (frames * channels).min(self.stride);
        let table = main.slot_table();
        let mut outputs = self.outputs.chunks_mut(self.stride);
        let mut count = 0;
        for (i, ctx) in self.contexts.iter_mut().enumerate().take(n) {
            let Some(out) = outputs.next() else { break };
            let out = &mut out[..len];
            match routing.lanes[i] {
                Some(entry) if !self.stopped[i] => {
                    self.jobs[count] = Some(LaneJob {
                        lane: &mut **ctx,
                        entry,
                        table,
                        input: input.as_ptr(),
                        input_len: input.len().min(len),
                        output: out.as_mut_ptr(),
                        output_len: len,
                        frames,
                        channels,
                        time: t,
                        result: Ok(()),
                        index: i,
                    });
                    count += 1;
                }
                _ => out.fill(0.0),
            }
        }
        let jobs = &mut self.jobs[..count];
        match &mut self.pool {
            // SAFETY: each job's lane is a distinct context of `self.contexts`, its output a
            // distinct chunk of `self.outputs` and its input `input`, all borrowed for this
            // call; `main`'s slots do not change while it runs (it is borrowed shared).
            Some(pool) if pool.workers() > 0 => unsafe { pool.run(jobs) },
            _ => {
                for job in jobs.iter_mut().flatten() {
                    crate::workers::run_job(job);
                }
            }
        }
        for job in self.jobs[..count].iter_mut() {
            if let Some(LaneJob {
                result: Err(f),
                index,
                ..
            }) = job.take()
            {
                self.stopped[index] = true;
                if let Some(out) = self.outputs.chunks_mut(self.stride).nth(index) {
                    out[..len].fill(0.0);
                }
                fault(LaneFault {
                    lane: index,
                    fault: f,
                    time: f.time().unwrap_or(t),
                });
            }
        }
    }

    /// Lane `i`'s output of the last [`Lanes::render`] (`len` samples).
    pub fn output(&self, i: usize, len: usize) -> &[f32] {
        let start = i * self.stride;
        &self.outputs[start..start + len.min(self.stride)]
    }

    /// The playing lanes' count.
    pub fn count(&self) -> usize {
        self.routing.map_or(0, |r| r.count.min(self.contexts.len()))
    }

    /// Sums the lanes' outputs of the last render into `out`, in lane order.
    pub fn sum_into(&self, out: &mut [f32]) {
        out.fill(0.0);
        let len = out.len();
        for i in 0..self.count() {
            for (o, x) in out.iter_mut().zip(self.output(i, len)) {
                *o += *x;
            }
        }
    }

    /// Ends the buffer for every lane (resets their audio zones).
    /// Hands the callbacks the lanes' closures scheduled (`callback` in DSP code) to `f`.
    pub fn take_scheduled(&mut self, f: &mut dyn FnMut(i64, PreparedCall)) {
        for ctx in self.contexts.iter_mut() {
            ctx.take_scheduled(f);
        }
    }

    pub fn end_buffer(&mut self) {
        for ctx in self.contexts.iter_mut() {
            ctx.end_buffer();
        }
    }
}
