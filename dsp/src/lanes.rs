//! Lanes: several DSP closures rendering the same buffer side by side, on worker threads.
//!
//! `(dsp:set! a b c)` gives each closure a *lane*: an audio context of its own (audio zone,
//! reserve, stack, heap, message ring, DSP-visible I/O block, random state), made on the
//! control thread by [`crate::Dsp::audio_lane`]. A lane has no slot table of its own: it
//! reads the main audio context's ([`AudioCtx::slot_table`]) while it runs, so swaps are
//! applied once, by the main audio thread, between buffers. Because a lane's state is its
//! own, its output does not depend on which thread runs it or in what order: a render
//! with one worker and a render with none write the same bytes.
//!
//! The lanes' outputs are summed in lane order, or mixed by a `DSPMT` closure
//! (`[SAMPLE,SAMPLE*,i64,i64,SAMPLE*]*`, Extempore's), called once per channel and frame
//! with the lanes' samples of that channel and frame ([`AudioCtx::run_mixer`]).

use crate::error::Result;
use crate::interop::{AudioCtx, Entry, EntryKind, Fault, IO_SAMPLES, MixFn, own_fault};
use crate::registry::{Epoch, MAX_SLOTS};
use crate::runtime::{Ctx, FaultCode};
use crate::{DspErrorKind, err};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Lanes one `dsp:set!` may run at most (and samples a `DSPMT` closure's `in` holds).
pub const MAX_LANES: usize = 8;

/// The main audio context's slot table, lent to lanes while they run
/// ([`AudioCtx::run_lane`]).
#[derive(Clone, Copy, Debug)]
pub struct SlotTable(*const u64);

// SAFETY: a `SlotTable` is only read through, by `run_lane`, whose caller guarantees the
// table outlives the call and does not change during it; reading a table that does not
// change from several threads is sound.
unsafe impl Send for SlotTable {}
// SAFETY: as above: shared reads of an unchanging table.
unsafe impl Sync for SlotTable {}

impl crate::Dsp {
    /// A lane's audio context. It reads the slot table of the audio thread's context while
    /// it runs ([`AudioCtx::run_lane`]) and shares its interrupt flag, `interrupt` (that
    /// context's [`AudioCtx::interrupt_handle`]). Made on the control thread; moved to the
    /// audio side.
    pub fn audio_lane(&mut self, interrupt: Arc<AtomicBool>) -> Result<AudioCtx> {
        let cfg = self.audio_config();
        let ctx = Box::new(
            Ctx::audio(&mut self.ctx, &cfg).map_err(|e| err(DspErrorKind::Alloc, e.to_string()))?,
        );
        let io = self
            .arena
            .alloc_block((2 * IO_SAMPLES * 8) as u64)
            .map_err(|e| err(DspErrorKind::Alloc, e.to_string()))?;
        if self.cfg.commit_audio_memory {
            io.touch();
        }
        let half = (IO_SAMPLES * 8) as u64;
        let io_ptrs = (
            self.arena.tag(io.addr(), half, 0),
            self.arena.tag(io.addr() + half, half, 0),
        );
        Ok(AudioCtx {
            ctx,
            slots: Box::new([]),
            gens: Box::new([]),
            watch: Default::default(),
            code: self.reg.code.clone(),
            arena: self.arena.clone(),
            io,
            io_ptrs,
            frames_addr: self.reg.vals.get("FRAMES").map_or(0, |v| v.addr),
            channels_addr: self.reg.vals.get("CHANNELS").map_or(0, |v| v.addr),
            // Compiled code polls the flag named in the slot table it reads: the main
            // context's. Sharing it lets a lane clear it when it stops on it.
            interrupt,
            // Lanes run only inside the main context's buffers, whose epoch covers them.
            epoch: Arc::new(Epoch::new(0)),
            _keeper: self.keeper.clone(),
            _zones: self.zone_keeper.clone(),
        })
    }
}

impl AudioCtx {
    /// This context's slot table, to lend to lanes.
    pub fn slot_table(&self) -> SlotTable {
        SlotTable(self.ctx.slots)
    }

    /// The closure in `slot` of the table this context reads.
    pub(crate) fn slot_value(&self, slot: u32) -> u64 {
        let i = slot as usize;
        if i >= MAX_SLOTS || self.ctx.slots.is_null() {
            return 0;
        }
        // SAFETY: `ctx.slots` points to a table of MAX_SLOTS words: this context's own
        // (`slots`, allocated with MAX_SLOTS entries, alive as long as the context), or
        // while `run_lane` runs, the main context's, which its caller keeps alive.
        unsafe { *self.ctx.slots.add(i) }
    }

    /// Runs entry `e` as a lane: like [`AudioCtx::run_buffer`], reading `table`'s slots.
    ///
    /// # Safety
    /// `table` must come from [`AudioCtx::slot_table`] of a context that outlives this call
    /// and whose slots do not change while it runs (no `apply` or `fall_back` on it).
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn run_lane(
        &mut self,
        table: SlotTable,
        e: Entry,
        input: &[f32],
        output: &mut [f32],
        frames: usize,
        channels: usize,
        time: i64,
    ) -> std::result::Result<(), Fault> {
        let own = self.ctx.slots;
        self.ctx.slots = table.0;
        let result = if e.kind == EntryKind::Mixer {
            self.run_mixer(e, &[], output, frames, channels, time)
        } else {
            self.run_buffer(e, input, output, frames, channels, time)
        };
        self.ctx.slots = own;
        result
    }

    /// Runs the `DSPMT` entry `e` once per channel and frame with the lanes' samples of
    /// that channel and frame as its `in` (at most [`MAX_LANES`]; the rest read 0), writing
    /// `output` (interleaved, `frames` × `channels`).
    pub fn run_mixer(
        &mut self,
        e: Entry,
        lanes: &[&[f32]],
        output: &mut [f32],
        frames: usize,
        channels: usize,
        time: i64,
    ) -> std::result::Result<(), Fault> {
        let crate::interop::Callee { f, env, .. } = self.entry_fn(e)?;
        let frames = frames.min(output.len() / channels.max(1));
        let lanes = &lanes[..lanes.len().min(MAX_LANES)];
        let ins = self.in_addr() as *mut f32;
        for k in lanes.len()..MAX_LANES {
            // SAFETY: `k < MAX_LANES <= IO_SAMPLES`: inside this context's I/O block.
            unsafe { ins.add(k).write(0.0) };
        }
        if e.kind != EntryKind::Mixer {
            return Err(own_fault(FaultCode::BadClosure));
        }
        // SAFETY: `f` is the code of a live closure whose type id was checked to be
        // [float,float*,i64,i64,float*]*, compiled in the C calling convention.
        let g: MixFn = unsafe { std::mem::transmute::<*const u8, MixFn>(f as *const u8) };
        self.ctx.span_end = time + frames as i64;
        for fr in 0..frames {
            for c in 0..channels {
                let i = fr * channels + c;
                for (k, lane) in lanes.iter().enumerate() {
                    // SAFETY: as above, `k < MAX_LANES`.
                    unsafe { ins.add(k).write(lane.get(i).copied().unwrap_or(0.0)) };
                }
                let ctx: *mut Ctx = &mut *self.ctx;
                let mark = self.ctx.call_mark();
                let t = time + fr as i64;
                self.ctx.now = t;
                let y = g(ctx, env, self.io_ptrs.0, t, c as i64, self.io_ptrs.0);
                self.ctx.finish_call(mark).map_err(|raw| Fault {
                    time: Some(t),
                    ..self.fault(raw)
                })?;
                output[i] = y;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::define;
    use crate::{Dsp, DspConfig};

    #[test]
    fn a_lane_runs_the_closure_the_main_context_holds_now() {
        let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
        define(
            &mut dsp,
            "(bind-func voice:DSP (lambda (in time chan dat) 0.25))",
        );
        let mut main = dsp.audio_ctx().expect("main context");
        let mut lane = dsp.audio_lane(main.interrupt_handle()).expect("lane");
        let e = dsp.entry("voice").expect("an entry");
        let mut out = [0.0f32; 8];
        // SAFETY: `main` outlives the call and nothing changes its slots during it.
        unsafe { lane.run_lane(main.slot_table(), e, &[0.0; 8], &mut out, 4, 2, 0) }.expect("runs");
        assert_eq!(out, [0.25; 8]);
        define(
            &mut dsp,
            "(bind-func voice:DSP (lambda (in time chan dat) 0.5))",
        );
        let mut batch = dsp.take_swap().expect("a swap");
        main.apply(&mut batch);
        // SAFETY: as above.
        unsafe { lane.run_lane(main.slot_table(), e, &[0.0; 8], &mut out, 4, 2, 0) }.expect("runs");
        assert_eq!(out, [0.5; 8], "the lane reads the main context's new slot");
        dsp.retire(batch);
    }

    #[test]
    fn a_mixer_sees_each_lanes_sample_of_its_channel_and_frame() {
        let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
        define(
            &mut dsp,
            "(bind-func mix:DSPMT
               (lambda (in time chan dat)
                 (+ (pref in 0) (* 10.0 (pref in 1)) (* 100.0 (pref in 2)))))",
        );
        let mut main = dsp.audio_ctx().expect("main context");
        let e = dsp.entry("mix").expect("an entry");
        assert!(e.is_mixer());
        let a = [1.0f32, 2.0, 3.0, 4.0];
        let b = [0.5f32, 0.25, 0.125, 0.0625];
        let mut out = [0.0f32; 4];
        main.run_mixer(e, &[&a, &b], &mut out, 2, 2, 0)
            .expect("runs");
        assert_eq!(out, [6.0, 4.5, 4.25, 4.625], "lane 2 is absent and reads 0");
    }

    #[test]
    fn a_mixer_set_alone_mixes_silence_instead_of_misreading_its_arguments() {
        let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
        define(
            &mut dsp,
            "(bind-func mix:DSPMT (lambda (in time chan dat) (+ 0.125 (pref in 0))))",
        );
        let mut main = dsp.audio_ctx().expect("main context");
        let e = dsp.entry("mix").expect("an entry");
        let mut out = [1.0f32; 4];
        main.run_buffer(e, &[0.9; 4], &mut out, 2, 2, 0)
            .expect("runs");
        assert_eq!(out, [0.125; 4]);
    }
}
