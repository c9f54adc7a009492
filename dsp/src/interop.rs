//! Calling compiled closures from Rust: values, faults, DSP entry points, prepared calls,
//! and the audio thread's context.
//!
//! Calls with arbitrary signatures go through a trampoline compiled once per closure type,
//! `tramp(ctx, closure, args: *const u64, ret: *mut u64)`. DSP entries are called through
//! typed `extern "C"` function pointers:
//! - per sample (`DSP` = `[SAMPLE,SAMPLE,i64,i64,SAMPLE*]*`, or the same with `double`):
//!   once per channel with (input, time, channel, frame), where frame is this frame's
//!   input in DSP memory;
//! - per buffer (`DSPMC` = `[void,SAMPLE*,SAMPLE*,i64,i8*]*`): once per buffer with the
//!   interleaved input and output in DSP memory, the buffer's first sample time and a
//!   null `dat`; the closure reads the buffer's size from the globals `FRAMES` and
//!   `CHANNELS` (i64), which the audio context sets before each call;
//! - mixing lanes (`DSPMT` = `[SAMPLE,SAMPLE*,i64,i64,SAMPLE*]*`): once per channel and
//!   frame with the lanes' samples of that channel and frame (see [`crate::lanes`]).
//!
//! Nothing [`AudioCtx`] does allocates, locks or prints.

use crate::registry::{CodeMem, Epoch, INTERRUPTED, Outgoing, Registry, SwapBatch};
use crate::runtime::scheduled::{NO_SLOT, Scheduled};
use crate::runtime::shadow::strip;
use crate::runtime::{Arena, ArenaBlock, Ctx, FaultCode, FaultDetail, RawFault};
use crate::types::Type;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// A value passed to or returned from a compiled closure.
#[derive(Clone, Debug, PartialEq)]
pub enum DspValue {
    I1(bool),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    Float(f32),
    Double(f64),
    Ptr(u64),
    Str(String),
    Void,
}

impl DspValue {
    /// The 64-bit word a trampoline takes for this value as a `t`; strings are copied into
    /// DSP memory by `string`. `None` when the value does not fit the type.
    pub(crate) fn to_word(
        &self,
        t: &Type,
        string: &mut dyn FnMut(&str) -> Option<u64>,
    ) -> Option<u64> {
        Some(match (self, t) {
            (DspValue::I1(b), Type::I1) => u64::from(*b),
            (DspValue::I8(x), Type::I8) => *x as i64 as u64,
            (DspValue::I16(x), Type::I16) => i64::from(*x) as u64,
            (DspValue::I32(x), Type::I32) => i64::from(*x) as u64,
            (DspValue::I64(x), Type::I64) => *x as u64,
            (DspValue::Float(x), Type::Float) => u64::from(x.to_bits()),
            (DspValue::Double(x), Type::Double) => x.to_bits(),
            (DspValue::Ptr(p), t) if t.is_pointer() => *p,
            (DspValue::Str(s), Type::Ptr(e)) if **e == Type::I8 => string(s)?,
            _ => return None,
        })
    }

    pub(crate) fn from_word(w: u64, t: &Type) -> DspValue {
        match t {
            Type::I1 => DspValue::I1(w & 1 != 0),
            Type::I8 => DspValue::I8(w as i8),
            Type::I16 => DspValue::I16(w as i16),
            Type::I32 => DspValue::I32(w as i32),
            Type::I64 => DspValue::I64(w as i64),
            Type::Float => DspValue::Float(f32::from_bits(w as u32)),
            Type::Double => DspValue::Double(f64::from_bits(w)),
            Type::Void => DspValue::Void,
            _ => DspValue::Ptr(w),
        }
    }
}

/// What stopped a compiled closure, and where (Copy, no heap).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fault {
    pub(crate) raw: RawFault,
    /// The sample time of the per-sample call that faulted, when it is known.
    pub(crate) time: Option<i64>,
}

impl Fault {
    /// The sample a per-sample DSP entry was computing when it faulted (`None` for
    /// per-buffer entries and calls, which only know the buffer's time).
    pub fn time(&self) -> Option<i64> {
        self.time
    }

    /// The fault code, if the runtime knows it.
    pub fn code(&self) -> Option<FaultCode> {
        self.raw.code
    }

    /// True when a loop was stopped through the thread's interrupt flag.
    pub fn interrupted(&self) -> bool {
        self.raw.raw == INTERRUPTED
    }
}

/// "dsp faulted: out-of-bounds write of 8 bytes at offset 80 of an allocation of 32 bytes,
/// allocated by salloc at f.xtm:11:14 in f (pset!) at f.xtm:12:9 in closure f".
pub(crate) fn describe(reg: &Registry, raw: RawFault) -> String {
    let mut s = if raw.raw == INTERRUPTED {
        "dsp faulted: interrupted: it ran too long and was stopped".to_string()
    } else {
        format!("dsp faulted: {raw}")
    };
    if let FaultDetail::Access(a) = raw.detail
        && let Some(alloc) = a.alloc()
    {
        match reg.sites.get(alloc.site) {
            Some(site) => {
                s.push_str(&format!(", allocated by {}", site.form));
                if let Some(sp) = &site.span {
                    s.push_str(&format!(" at {sp}"));
                }
                if !site.def.is_empty() {
                    s.push_str(&format!(" in {}", site.def));
                }
            }
            None => s.push_str(", allocated by the runtime"),
        }
    }
    if let Some(site) = reg.sites.get(raw.site) {
        if !site.form.is_empty() {
            s.push_str(&format!(" ({})", site.form));
        }
        if let Some(sp) = &site.span {
            s.push_str(&format!(" at {sp}"));
        }
        if !site.def.is_empty() {
            s.push_str(&format!(" in closure {}", site.def));
        }
    }
    s
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Sample,
    SampleDouble,
    Buffer,
    /// `DSPMT`: mixes the outputs of the lanes (see [`crate::lanes`]).
    Mixer,
}

impl EntryKind {
    /// The kind of entry a closure of type `t` can be, if any.
    pub(crate) fn of(t: &Type) -> Option<EntryKind> {
        Some(match t.to_string().as_str() {
            "[float,float,i64,i64,float*]*" => EntryKind::Sample,
            "[double,double,i64,i64,double*]*" => EntryKind::SampleDouble,
            "[void,float*,float*,i64,i8*]*" => EntryKind::Buffer,
            "[float,float*,i64,i64,float*]*" => EntryKind::Mixer,
            _ => return None,
        })
    }
}

/// A resolved DSP entry point: a bind-func slot and the shape of its closure.
#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub(crate) slot: u32,
    pub(crate) type_id: u64,
    pub(crate) kind: EntryKind,
}

impl Entry {
    /// The slot of the entry's bind-func.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// True for a `DSPMT` closure, which mixes lanes (see [`crate::lanes`]).
    pub fn is_mixer(&self) -> bool {
        self.kind == EntryKind::Mixer
    }
}

/// A call of a bind-func, ready to run on the audio thread (arguments inline). String
/// arguments travel inline too and are copied into the audio zone when the call runs, so
/// they live as long as the call (until the end of that buffer).
#[derive(Clone, Copy, Debug)]
pub struct PreparedCall {
    pub(crate) slot: u32,
    /// The closure record to call; 0: the closure in `slot` when the call runs.
    pub(crate) closure: u64,
    pub(crate) tramp: u64,
    pub(crate) args: [u64; MAX_PREPARED_ARGS],
    /// Bit `i` set: `args[i]` is the offset in `text` of a NUL-terminated string.
    pub(crate) strings: u8,
    pub(crate) text: [u8; PREPARED_TEXT],
}

/// Arguments a [`PreparedCall`] holds at most (as many as a scheduled callback).
pub const MAX_PREPARED_ARGS: usize = crate::runtime::scheduled::MAX_CALLBACK_ARGS;

impl PreparedCall {
    /// The slot of the bind-func it calls ([`NO_SLOT`] for a callback to a closure
    /// record that is not a bind-func's).
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The call a callback scheduled by DSP code makes, and its time.
    pub(crate) fn scheduled(s: Scheduled) -> (i64, PreparedCall) {
        let call = PreparedCall {
            slot: s.slot,
            closure: if s.slot == NO_SLOT { s.closure } else { 0 },
            tramp: s.tramp,
            args: s.args,
            strings: 0,
            text: [0; PREPARED_TEXT],
        };
        (s.time, call)
    }
}
/// Bytes of the strings of a [`PreparedCall`] (their NULs included) at most.
pub const PREPARED_TEXT: usize = 256;

/// Trampoline: `(ctx, closure, args, ret)`.
pub(crate) type Tramp = extern "C" fn(*mut Ctx, u64, *const u64, *mut u64);
type SampleFn = extern "C" fn(*mut Ctx, u64, f32, i64, i64, u64) -> f32;
type SampleDoubleFn = extern "C" fn(*mut Ctx, u64, f64, i64, i64, u64) -> f64;
type BufferFn = extern "C" fn(*mut Ctx, u64, u64, u64, i64, u64);
/// A frame loop (see `lower::frame_loop`): `(ctx, env, input, output, frames, channels,
/// time, frame)`.
type FramesFn = extern "C" fn(*mut Ctx, u64, *const f32, *mut f32, i64, i64, i64, u64);
pub(crate) type MixFn = extern "C" fn(*mut Ctx, u64, u64, i64, i64, u64) -> f32;

/// Samples (frames × channels) the audio context's DSP-visible buffers hold; longer
/// buffers are processed in chunks.
pub const IO_SAMPLES: usize = 16384;

/// What calling a closure takes: its code's address, its environment, and its frame loop
/// (0: none; see `lower::frame_loop`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Callee {
    pub(crate) f: u64,
    pub(crate) env: u64,
    pub(crate) frame_loop: u64,
}

/// The code and environment of the closure at `clo`, if it is a closure of type `type_id`.
pub(crate) fn resolve(code: &CodeMem, arena: &Arena, clo: u64, type_id: u64) -> Option<Callee> {
    if !arena.owns(clo, 16) {
        return None;
    }
    let at = strip(clo);
    // SAFETY: [at, at+16) is 16-aligned arena memory of a live allocation, mapped while
    // `arena` lives; DSP code may change it concurrently only from this same thread.
    let (stamp, env) = unsafe { ((at as *const u64).read(), ((at + 8) as *const u64).read()) };
    let (code, tid) = code.get(stamp)?;
    (tid == type_id && code.addr != 0).then_some(Callee {
        f: code.addr,
        env,
        frame_loop: code.frame_loop,
    })
}

/// The audio side went back to the previous generation of an entry that faulted (see
/// [`AudioCtx::fall_back`]); hand it to [`crate::Dsp::fell_back`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revert {
    pub(crate) slot: u32,
    pub(crate) generation: usize,
}

/// What the audio context knows of the entry's slot: whether its closure has run without
/// a fault since it was installed, and the last closure of that slot that did (with its
/// generation), to go back to.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Watch {
    slot: Option<u32>,
    ran_ok: bool,
    fallback: Option<(u64, usize)>,
}

/// The audio thread's context: its own runtime context (audio zone, reserve, heap,
/// message ring), its own slot table, and DSP-visible I/O buffers. `Send`.
pub struct AudioCtx {
    pub(crate) ctx: Box<Ctx>,
    pub(crate) slots: Box<[u64]>,
    /// The generation of the closure in each slot.
    pub(crate) gens: Box<[usize]>,
    pub(crate) watch: Watch,
    pub(crate) code: Arc<CodeMem>,
    pub(crate) arena: Arc<Arena>,
    pub(crate) io: ArenaBlock,
    /// The input and output halves of `io` as tagged pointers, for DSP code.
    pub(crate) io_ptrs: (u64, u64),
    pub(crate) frames_addr: u64,
    pub(crate) channels_addr: u64,
    /// Set (by a watchdog) to stop a runaway loop; cleared when the fault is returned.
    pub(crate) interrupt: Arc<AtomicBool>,
    /// Buffers begun and ended, odd inside a buffer: the registry frees unlinked code only
    /// after a buffer that was running when it was unlinked has ended.
    pub(crate) epoch: Arc<Epoch>,
    /// Keeps the code this context may run alive after the `Dsp` is dropped.
    pub(crate) _keeper: Arc<crate::jit::CodeKeeper>,
    /// Keeps the memory that code may use alive after the `Dsp` is dropped.
    pub(crate) _zones: Arc<std::sync::Mutex<Vec<crate::runtime::Zone>>>,
}

/// A fault raised by the audio context itself (no site in compiled code).
pub(crate) fn own_fault(code: FaultCode) -> Fault {
    Fault {
        time: None,
        raw: RawFault {
            code: Some(code),
            raw: code as u32,
            site: 0,
            detail: crate::runtime::FaultDetail::None,
        },
    }
}

impl AudioCtx {
    /// Installs the batch's closures all at once; the batch then holds what was replaced
    /// and what this context keeps to fall back to. When the entry's slot is replaced while
    /// its closure has been running without a fault, that closure becomes the fallback.
    pub fn apply(&mut self, batch: &mut SwapBatch) {
        batch.outgoing = None;
        for &(slot, clo, generation) in &batch.installs {
            let i = slot as usize;
            if let Some((_, carry)) = batch.carries.iter().find(|(s, _)| *s == slot)
                && carry.old() == self.slots[i]
            {
                carry.apply(&self.arena);
            }
            let old = std::mem::replace(&mut self.slots[i], clo);
            let old_gen = std::mem::replace(&mut self.gens[i], generation);
            if self.watch.slot == Some(slot) {
                batch.outgoing = (old != 0).then_some(Outgoing {
                    slot,
                    closure: old,
                    generation: old_gen,
                });
                if self.watch.ran_ok {
                    self.watch.fallback = Some((old, old_gen));
                }
                self.watch.ran_ok = false;
            }
            if batch.replaced.len() < batch.replaced.capacity() {
                batch.replaced.push((slot, old));
            }
        }
        batch.fallback = self
            .watch
            .slot
            .zip(self.watch.fallback)
            .map(|(slot, (_, g))| (slot, g));
    }

    /// Makes `slot` the one whose previous closure is kept to fall back to (the DSP entry's).
    /// A change of slot drops the fallback kept so far.
    pub fn watch(&mut self, slot: Option<u32>) {
        if self.watch.slot != slot {
            self.watch = Watch {
                slot,
                ..Watch::default()
            };
        }
    }

    /// After `e` faulted: puts the last closure of its slot that ran without a fault back in
    /// the slot, if there is one of the entry's type. The caller runs the entry again and
    /// reports the [`Revert`].
    pub fn fall_back(&mut self, e: Entry) -> Option<Revert> {
        if self.watch.slot != Some(e.slot) {
            return None;
        }
        let (clo, generation) = self.watch.fallback?;
        resolve(&self.code, &self.arena, clo, e.type_id)?;
        let i = e.slot as usize;
        self.slots[i] = clo;
        self.gens[i] = generation;
        self.watch.fallback = None;
        self.watch.ran_ok = true;
        Some(Revert {
            slot: e.slot,
            generation,
        })
    }

    fn ran_ok(&mut self, e: Entry) {
        if self.watch.slot == Some(e.slot) {
            self.watch.ran_ok = true;
        }
    }

    pub(crate) fn entry_fn(&self, e: Entry) -> Result<Callee, Fault> {
        let clo = self.slot_value(e.slot);
        resolve(&self.code, &self.arena, clo, e.type_id).ok_or(own_fault(FaultCode::StaleCall))
    }

    pub(crate) fn in_addr(&self) -> u64 {
        self.io.addr()
    }

    fn out_addr(&self) -> u64 {
        self.io.addr() + (IO_SAMPLES * 8) as u64
    }

    /// The first `n` floats (at most [`IO_SAMPLES`]) of the per-buffer entries' input and
    /// output buffers, which DSP code reads and writes only while it runs.
    fn io_samples(&mut self, n: usize) -> (&mut [f32], &mut [f32]) {
        let n = n.min(IO_SAMPLES);
        // SAFETY: both buffers are `IO_SAMPLES * 8` bytes of this context's I/O block,
        // apart from each other, 4-aligned, and live as long as the context; no DSP code
        // runs while the slices, which borrow the context mutably, are alive.
        unsafe {
            (
                std::slice::from_raw_parts_mut(self.in_addr() as *mut f32, n),
                std::slice::from_raw_parts_mut(self.out_addr() as *mut f32, n),
            )
        }
    }

    /// Writes one frame into the DSP-visible frame buffer (as f32 or f64).
    fn put_frame(&mut self, frame: &[f32], double: bool) {
        let n = frame.len().min(IO_SAMPLES);
        for (i, x) in frame[..n].iter().enumerate() {
            // SAFETY: the I/O block holds 2 × IO_SAMPLES 8-byte words of arena memory owned by
            // this context; `i < IO_SAMPLES`.
            unsafe {
                if double {
                    ((self.in_addr() as *mut f64).add(i)).write(f64::from(*x));
                } else {
                    ((self.in_addr() as *mut f32).add(i)).write(*x);
                }
            }
        }
    }

    fn call_sample(
        &mut self,
        e: Entry,
        f: u64,
        env: u64,
        x: f32,
        time: i64,
        chan: i64,
    ) -> Result<f32, Fault> {
        self.ctx.now = time;
        let ctx: *mut Ctx = &mut *self.ctx;
        let mark = self.ctx.call_mark();
        let frame = self.io_ptrs.0;
        let y = if e.kind == EntryKind::SampleDouble {
            // SAFETY: `f` is the code of a live closure whose type id was checked to be
            // [double,double,i64,i64,double*]*, compiled in the C calling convention.
            let g: SampleDoubleFn = unsafe { std::mem::transmute(f as *const u8) };
            g(ctx, env, f64::from(x), time, chan, frame) as f32
        } else {
            // SAFETY: as above, with type [float,float,i64,i64,float*]*.
            let g: SampleFn = unsafe { std::mem::transmute(f as *const u8) };
            g(ctx, env, x, time, chan, frame)
        };
        self.ctx.finish_call(mark).map_err(|raw| Fault {
            time: Some(time),
            ..self.fault(raw)
        })?;
        Ok(y)
    }

    fn call_buffer(&mut self, f: u64, env: u64, time: i64) -> Result<(), Fault> {
        self.ctx.now = time;
        let ctx: *mut Ctx = &mut *self.ctx;
        let mark = self.ctx.call_mark();
        // SAFETY: `f` is the code of a live closure whose type id was checked to be
        // [void,float*,float*,i64,i8*]*, compiled in the C calling convention.
        let g: BufferFn = unsafe { std::mem::transmute(f as *const u8) };
        g(ctx, env, self.io_ptrs.0, self.io_ptrs.1, time, 0);
        self.ctx.finish_call(mark).map_err(|raw| self.fault(raw))
    }

    /// Runs a per-sample entry for one frame: `out[c]` for each channel `c`. A per-buffer
    /// entry runs as a buffer of one frame.
    pub fn run_sample(
        &mut self,
        e: Entry,
        input: &[f32],
        time: i64,
        out: &mut [f32],
    ) -> Result<(), Fault> {
        if matches!(e.kind, EntryKind::Buffer | EntryKind::Mixer) {
            let ch = out.len();
            return self.run_buffer(e, input, out, 1, ch, time);
        }
        let Callee { f, env, .. } = self.entry_fn(e)?;
        self.ctx.span_end = time + 1;
        self.put_frame(input, e.kind == EntryKind::SampleDouble);
        for (c, o) in out.iter_mut().enumerate() {
            let x = input.get(c).copied().unwrap_or(0.0);
            *o = self.call_sample(e, f, env, x, time, c as i64)?;
        }
        self.ran_ok(e);
        Ok(())
    }

    /// Runs an entry over an interleaved buffer of `frames` × `channels` samples.
    pub fn run_buffer(
        &mut self,
        e: Entry,
        input: &[f32],
        output: &mut [f32],
        frames: usize,
        channels: usize,
        time: i64,
    ) -> Result<(), Fault> {
        if e.kind == EntryKind::Mixer {
            // A mixer alone mixes no lanes.
            return self.run_mixer(e, &[], output, frames, channels, time);
        }
        let callee = self.entry_fn(e)?;
        self.run_code(e, callee, input, output, (frames, channels), time)?;
        self.ran_ok(e);
        Ok(())
    }

    /// Runs closure `o`, which entry `e`'s slot held before a swap, as `e` over an
    /// interleaved buffer of `channels` channels (the outgoing side of a crossfade).
    /// Faults as a stale call when `o` is not a live closure of `e`'s type.
    pub fn run_outgoing(
        &mut self,
        e: Entry,
        o: &Outgoing,
        input: &[f32],
        output: &mut [f32],
        channels: usize,
        time: i64,
    ) -> Result<(), Fault> {
        let frames = output.len() / channels.max(1);
        let code = resolve(&self.code, &self.arena, o.closure, e.type_id)
            .ok_or(own_fault(FaultCode::StaleCall))?;
        self.run_code(e, code, input, output, (frames, channels), time)
    }

    /// Runs the closure whose (code, environment) is `(f, env)` as entry `e`.
    fn run_code(
        &mut self,
        e: Entry,
        callee: Callee,
        input: &[f32],
        output: &mut [f32],
        (frames, channels): (usize, usize),
        time: i64,
    ) -> Result<(), Fault> {
        let frames = frames.min(output.len() / channels.max(1));
        if channels == 0 || frames == 0 {
            return Ok(());
        }
        if e.kind == EntryKind::Mixer {
            // A mixer's code takes the lanes' samples: only `run_mixer` may call it.
            return Err(own_fault(FaultCode::BadClosure));
        }
        // The caller renders these frames without an event among them.
        self.ctx.span_end = time + frames as i64;
        let Callee { f, env, frame_loop } = callee;
        let sample = matches!(e.kind, EntryKind::Sample | EntryKind::SampleDouble);
        if sample && frame_loop != 0 && input.len() >= frames * channels {
            // SAFETY: `frame_loop` is the frame loop of a live closure whose type id was
            // checked to be the entry's per-sample type, compiled in the C calling
            // convention. It reads `frames × channels` samples of `input` (checked above)
            // and writes as many of `output` (`frames` is at most `output.len() /
            // channels`), and writes at most IO_SAMPLES samples to the frame.
            let g: FramesFn = unsafe { std::mem::transmute(frame_loop as *const u8) };
            let mark = self.ctx.call_mark();
            let ctx: *mut Ctx = &mut *self.ctx;
            let (frame, n, ch) = (self.io_ptrs.0, frames as i64, channels as i64);
            g(
                ctx,
                env,
                input.as_ptr(),
                output.as_mut_ptr(),
                n,
                ch,
                time,
                frame,
            );
            let t = self.ctx.now;
            return self.ctx.finish_call(mark).map_err(|raw| Fault {
                time: Some(t),
                ..self.fault(raw)
            });
        }
        if e.kind == EntryKind::SampleDouble {
            // SAFETY: `f` is the code of a live closure whose type id was checked to be
            // [double,double,i64,i64,double*]*, compiled in the C calling convention.
            let g: SampleDoubleFn = unsafe { std::mem::transmute(f as *const u8) };
            let call = |ctx, x: f32, t, c, frame| g(ctx, env, f64::from(x), t, c, frame) as f32;
            return self.run_samples(call, true, input, output, (frames, channels), time);
        }
        if e.kind == EntryKind::Sample {
            // SAFETY: as above, with type [float,float,i64,i64,float*]*.
            let g: SampleFn = unsafe { std::mem::transmute(f as *const u8) };
            let call = |ctx, x, t, c, frame| g(ctx, env, x, t, c, frame);
            return self.run_samples(call, false, input, output, (frames, channels), time);
        }
        if channels > IO_SAMPLES {
            return Err(own_fault(FaultCode::OutOfRange));
        }
        let chunk = IO_SAMPLES / channels;
        let mut done = 0;
        while done < frames {
            let n = chunk.min(frames - done);
            let (lo, hi) = (done * channels, (done + n) * channels);
            let given = input.get(lo..hi.min(input.len())).unwrap_or(&[]);
            let (dsp_in, dsp_out) = self.io_samples(hi - lo);
            dsp_in[..given.len()].copy_from_slice(given);
            dsp_in[given.len()..].fill(0.0);
            dsp_out.fill(0.0);
            // SAFETY: the FRAMES and CHANNELS globals are 8-aligned 8-byte words of arena
            // memory that live as long as the `Dsp`, which outlives its audio contexts.
            // Lanes running side by side store the same values there: atomically.
            unsafe {
                AtomicI64::from_ptr(self.frames_addr as *mut i64)
                    .store(n as i64, Ordering::Relaxed);
                AtomicI64::from_ptr(self.channels_addr as *mut i64)
                    .store(channels as i64, Ordering::Relaxed);
            }
            self.call_buffer(f, env, time + done as i64)?;
            let (_, dsp_out) = self.io_samples(hi - lo);
            output[lo..hi].copy_from_slice(dsp_out);
            done += n;
        }
        Ok(())
    }

    /// Runs a per-sample entry, `call(ctx, input, time, channel, frame)`, over `frames`
    /// frames: each frame's input goes to the DSP-visible frame (as f64 when `double`),
    /// then one call per channel. What a call from Rust needs (the native stack's floor,
    /// the mark to come back to) is set up once for all of them: each call starts where
    /// the one before it ended, or where a faulting one was brought back to.
    fn run_samples(
        &mut self,
        call: impl Fn(*mut Ctx, f32, i64, i64, u64) -> f32,
        double: bool,
        input: &[f32],
        output: &mut [f32],
        (frames, channels): (usize, usize),
        time: i64,
    ) -> Result<(), Fault> {
        let frame = self.io_ptrs.0;
        let put = channels.min(IO_SAMPLES);
        let mark = self.ctx.call_mark();
        for (fr, out) in output.chunks_exact_mut(channels).take(frames).enumerate() {
            let base = fr * channels;
            let t = time + fr as i64;
            // Volatile stores: as a plain copy loop this becomes a call of `memcpy` per
            // frame, dearer than the frame's few stores.
            for (i, &x) in input.iter().skip(base).take(put).enumerate() {
                // SAFETY: the I/O block holds 2 × IO_SAMPLES 8-byte words of arena memory
                // owned by this context; `i < put <= IO_SAMPLES`.
                unsafe {
                    if double {
                        ((self.in_addr() as *mut f64).add(i)).write_volatile(f64::from(x));
                    } else {
                        ((self.in_addr() as *mut f32).add(i)).write_volatile(x);
                    }
                }
            }
            for (c, o) in out.iter_mut().enumerate() {
                let x = input.get(base + c).copied().unwrap_or(0.0);
                self.ctx.now = t;
                let ctx: *mut Ctx = &mut *self.ctx;
                let y = call(ctx, x, t, c as i64, frame);
                self.ctx.finish_call(mark).map_err(|raw| Fault {
                    time: Some(t),
                    ..self.fault(raw)
                })?;
                *o = y;
            }
        }
        Ok(())
    }

    /// Runs a call prepared on the control thread (e.g. a timed event) at sample `now`,
    /// which xtlang's `(now)` reads.
    pub fn run_call(&mut self, c: &PreparedCall, now: i64) -> Result<(), Fault> {
        self.ctx.now = now;
        self.ctx.span_end = i64::MIN;
        let clo = match c.closure {
            0 => self.slots.get(c.slot as usize).copied().unwrap_or(0),
            record => record,
        };
        let mark = self.ctx.call_mark();
        let mut ret = 0u64;
        let mut args = c.args;
        for (i, word) in args.iter_mut().enumerate() {
            if c.strings & (1 << i) == 0 {
                continue;
            }
            let text = c.text.get(*word as usize..).unwrap_or(&[]);
            let len = text.iter().position(|b| *b == 0).unwrap_or(text.len());
            let addr = self.ctx.zalloc(1, len as u64 + 1, 1, 0);
            if addr == 0 || !self.arena.write(addr, &text[..len]) {
                return self.ctx.finish_call(mark).map_err(|raw| self.fault(raw));
            }
            *word = addr;
        }
        // SAFETY: `tramp` is a trampoline compiled for the callee's type; trampolines live
        // as long as the `Dsp`. It checks the closure's type itself before calling.
        let t: Tramp = unsafe { std::mem::transmute(c.tramp as *const u8) };
        let ctx: *mut Ctx = &mut *self.ctx;
        t(ctx, clo, args.as_ptr(), &mut ret);
        self.ctx.finish_call(mark).map_err(|raw| self.fault(raw))
    }

    /// Hands the callbacks DSP code scheduled with `callback` since the last take to `f`
    /// (time, call), in the order scheduled. Never allocates.
    pub fn take_scheduled(&mut self, f: &mut dyn FnMut(i64, PreparedCall)) {
        self.ctx.take_scheduled(&mut |s| {
            let (time, call) = PreparedCall::scheduled(s);
            f(time, call);
        });
    }

    /// The flag that stops this context's running loops (they fault as interrupted at
    /// their next iteration); the context clears it when it returns that fault.
    pub fn interrupt_handle(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }

    /// Turns a raw fault into a [`Fault`], clearing the interrupt flag when it was the cause.
    pub(crate) fn fault(&self, raw: RawFault) -> Fault {
        if raw.raw == INTERRUPTED {
            self.interrupt.store(false, Ordering::Relaxed);
        }
        Fault { raw, time: None }
    }

    /// Marks the start of a buffer (before its swaps are applied and its code runs): until
    /// [`AudioCtx::end_buffer`], code unlinked on the control side is not freed.
    pub fn begin_buffer(&mut self) {
        if self.epoch.load(Ordering::Relaxed).is_multiple_of(2) {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            // Code-table stamps read in this buffer are read after this point, so a stamp
            // the control side cleared before seeing the count change is seen cleared.
            std::sync::atomic::fence(Ordering::SeqCst);
        }
    }

    /// Resets the audio zone (and the rest of the per-buffer state) and ends the buffer
    /// begun with [`AudioCtx::begin_buffer`].
    pub fn end_buffer(&mut self) {
        self.ctx.end_buffer();
        if !self.epoch.load(Ordering::Relaxed).is_multiple_of(2) {
            self.epoch.fetch_add(1, Ordering::Release);
        }
    }

    pub fn audio_zone_used(&self) -> usize {
        self.ctx.base_zone().used() as usize
    }

    pub fn audio_zone_high_water(&self) -> usize {
        self.ctx.base_zone().high_water() as usize
    }
}
