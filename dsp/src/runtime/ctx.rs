//! The context compiled code runs in: [`Ctx`], one per thread (control, audio).
//!
//! Its first fields are `#[repr(C)]` at fixed offsets (exported as `CTX_*` in
//! [`crate::runtime::abi`]) that compiled code reads and writes directly: the fault cell,
//! the call depth, the `salloc` stack pointer and limit, the slot table. The private fields
//! behind them hold the thread's zone stack (the base zone at the bottom: the default zone
//! on the control thread, the audio zone on the audio thread), its real-time heap, the
//! deferred-free rings to the other thread's heap, and where text goes: writers on the
//! control thread, the message ring on the audio thread.
//!
//! Nothing an audio context does after construction allocates, locks or prints: its zone
//! stack has a fixed capacity, memzones and overflow come from its pre-touched reserve,
//! `halloc` from its pre-touched pool, text is formatted into a fixed buffer and sent as
//! ring records. Dropping a context returns its blocks to the arena, which takes the arena's
//! lock: send an audio context back to the control thread to drop it.

use super::arena::{Arena, ArenaBlock, ArenaError};
use super::fault::{AccessFault, FaultCode, FaultDetail, RawFault};
use super::heap::{HeapError, HeapErrorKind, HeapPool, RemoteHeap};
use super::messages::{MessageKind, MessageReader, MessageWriter, message_ring};
use super::printf::{self, Arg, Buf};
use super::reserve::Reserve;
use super::scheduled::{Scheduled, ScheduledList};
use super::shadow::{GRANULE, round_up, strip};
use super::zone::{Zone, ZoneError, ZoneErrorKind};
use std::fmt;
use std::io::Write;
use std::ptr::NonNull;
use std::sync::Arc;

/// Zones a context's stack holds without growing (the base zone, closure zones lent by the
/// compiler, nested memzones); a `memzone` that would go deeper faults.
pub const MAX_ZONE_DEPTH: usize = 64;

/// Longest string `printf` reads from DSP memory (format or `%s` argument).
pub const MAX_STRING: usize = 1 << 16;

/// Control-thread warnings kept for [`Ctx::take_warnings`] at most.
const KEPT_WARNINGS: usize = 64;

/// Text is formatted into a buffer of this size and flushed when it fills.
const PRINT_BUF: usize = 1024;

/// The random generator's state in a new context (renders are reproducible).
const DEFAULT_SEED: u64 = 0x5EED_0F2A_70A1;

/// `zone_cleanup` closures a context holds at most, waiting for their zones to end.
pub const MAX_CLEANUPS: usize = 64;

/// Memzone sites whose zone-full warning a context remembers having given.
const WARNED_SITES: usize = 64;

/// Native stack kept free below compiled code's deepest frame, for the runtime functions
/// it calls (printf, faults) and the signal-free margin.
pub const STACK_MARGIN: u64 = 128 << 10;

/// Native stack an audio context's compiled code may use by default: audio threads have
/// 2 MiB (Rust's default, cpal on Linux) or 512 KiB (Core Audio).
#[cfg(target_os = "macos")]
const AUDIO_NATIVE_STACK: u64 = 256 << 10;
#[cfg(not(target_os = "macos"))]
const AUDIO_NATIVE_STACK: u64 = 1 << 20;

/// How much native stack a context's compiled code may use below its outermost call.
#[derive(Clone, Copy, Debug)]
enum NativeStack {
    /// This many bytes (audio threads, whose stacks the engine knows).
    Fixed(u64),
    /// What the thread has left, less [`STACK_MARGIN`] (the control thread, whose
    /// evaluator grows its stack in segments).
    Remaining,
}

/// The address of a local of the caller's frame: about the native stack pointer.
#[inline(always)]
fn native_sp() -> u64 {
    let here = 0u8;
    std::hint::black_box(&here) as *const u8 as u64
}

/// Sizes for a control-thread context.
#[derive(Clone, Debug)]
pub struct ControlConfig {
    /// The default zone: `zalloc` outside any memzone or closure zone (grows when full).
    pub base_zone_bytes: u64,
    /// The `halloc` heap.
    pub heap_bytes: u64,
    /// The `salloc` stack.
    pub stack_bytes: u64,
    /// Deepest call nesting before [`FaultCode::CallDepth`]; the native stack's room
    /// (what is left of it below the Rust caller, less [`STACK_MARGIN`]) usually ends a
    /// runaway recursion first.
    pub max_depth: u32,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            base_zone_bytes: 1 << 20,
            heap_bytes: 512 << 20,
            stack_bytes: 8 << 20,
            max_depth: 1_000_000,
        }
    }
}

/// Sizes for an audio-thread context; all of it is committed (touched) at construction
/// unless [`AudioConfig::commit`] is off.
#[derive(Clone, Debug)]
pub struct AudioConfig {
    /// The audio zone, reset after every buffer.
    pub zone_bytes: u64,
    /// The bounded reserve for memzones and zone overflow.
    pub reserve_bytes: u64,
    /// The `halloc` pool.
    pub heap_bytes: u64,
    /// The `salloc` stack.
    pub stack_bytes: u64,
    /// The message ring, in bytes.
    pub ring_bytes: usize,
    /// Deepest call nesting before [`FaultCode::CallDepth`]; [`AudioConfig::native_stack_bytes`]
    /// usually ends a runaway recursion first.
    pub max_depth: u32,
    /// Native stack compiled code may use below the Rust function that calls it (the
    /// thread must have this much more than the engine's own frames: audio threads are
    /// made with at least 2 MiB on Linux and 512 KiB on macOS).
    pub native_stack_bytes: u64,
    /// Commit every page of the audio zone, reserve, heap and stack at construction, so
    /// the audio thread never takes a page fault (a device's thread). Off for an offline
    /// render, whose pages are committed as they are first used.
    pub commit: bool,
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig {
            zone_bytes: 256 << 10,
            reserve_bytes: 4 << 20,
            heap_bytes: 8 << 20,
            stack_bytes: 1 << 20,
            ring_bytes: 64 << 10,
            max_depth: 1_000_000,
            native_stack_bytes: AUDIO_NATIVE_STACK,
            commit: true,
        }
    }
}

/// Why a context could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeError {
    Arena(ArenaError),
    Heap(HeapError),
    /// An audio context must be made from the control context.
    NotControl,
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::Arena(e) => write!(f, "{e}"),
            RuntimeError::Heap(e) => write!(f, "{e}"),
            RuntimeError::NotControl => {
                f.write_str("an audio context can only be made from the control context")
            }
        }
    }
}

impl std::error::Error for RuntimeError {}

impl From<ArenaError> for RuntimeError {
    fn from(e: ArenaError) -> Self {
        RuntimeError::Arena(e)
    }
}

impl From<HeapError> for RuntimeError {
    fn from(e: HeapError) -> Self {
        RuntimeError::Heap(e)
    }
}

/// One entry of the zone stack.
enum ZoneSlot {
    /// A zone the context owns: the base zone, or a memzone (with the site that opened it
    /// and, on the audio thread, the reserve mark to release when it is popped).
    Own {
        zone: Zone,
        memzone_site: Option<u32>,
        reserve_mark: Option<usize>,
    },
    /// A zone lent by [`Ctx::with_zone`] for the duration of its closure.
    Lent(NonNull<Zone>),
}

/// Where text goes.
enum Sink {
    Control {
        output: Box<dyn Write + Send>,
        warnings: Box<dyn Write + Send>,
        kept: Vec<String>,
        readers: Vec<MessageReader>,
    },
    Audio {
        ring: MessageWriter,
    },
}

impl Sink {
    fn output(&mut self, bytes: &[u8]) {
        match self {
            // A failing output writer has nowhere to report to; the text is lost.
            Sink::Control { output, .. } => drop(output.write_all(bytes)),
            Sink::Audio { ring } => drop(ring.send(MessageKind::Output, bytes)),
        }
    }

    fn flush(&mut self) {
        if let Sink::Control { output, .. } = self {
            drop(output.flush());
        }
    }

    fn warn(&mut self, args: fmt::Arguments<'_>) {
        match self {
            Sink::Control { warnings, kept, .. } => {
                let text = args.to_string();
                drop(writeln!(warnings, "{text}"));
                if kept.len() < KEPT_WARNINGS {
                    kept.push(text);
                }
            }
            Sink::Audio { ring } => {
                let mut line = Buf::<256>::new();
                let _ = fmt::Write::write_fmt(&mut line, args);
                ring.send(MessageKind::Warning, line.as_bytes());
            }
        }
    }
}

/// Text being printed, a line at a time: flushed to the sink after a print that ends a
/// line, when full, and after each top-level call or buffer ([`Ctx::after_call`]), so
/// that a line printed in pieces (`println` of several values is a `print` of each) is
/// one message on the audio thread's ring, not one per piece.
struct PrintBuf {
    bytes: [u8; PRINT_BUF],
    len: usize,
    /// A newline was put since the last flush.
    line: bool,
}

impl PrintBuf {
    fn put(&mut self, mut b: &[u8], sink: &mut Sink) {
        self.line |= b.contains(&b'\n');
        while !b.is_empty() {
            if self.len == PRINT_BUF {
                self.flush(sink);
            }
            let n = b.len().min(PRINT_BUF - self.len);
            self.bytes[self.len..self.len + n].copy_from_slice(&b[..n]);
            self.len += n;
            b = &b[n..];
        }
    }

    /// Flushes if a line ended since the last flush.
    fn end_print(&mut self, sink: &mut Sink) {
        if self.line {
            self.flush(sink);
        }
    }

    fn flush(&mut self, sink: &mut Sink) {
        if self.len > 0 {
            sink.output(&self.bytes[..self.len]);
            self.len = 0;
        }
        self.line = false;
        sink.flush();
    }
}

/// Sites whose memzone already warned: a memzone is a new zone each time it opens, so a
/// memzone that overflows inside a loop would otherwise warn on every pass.
struct WarnedSites {
    sites: [u32; WARNED_SITES],
    len: usize,
}

impl WarnedSites {
    /// True the first time `site` is seen (and always once the table is full).
    fn first_time(&mut self, site: u32) -> bool {
        if self.sites[..self.len].contains(&site) {
            return false;
        }
        if self.len < WARNED_SITES {
            self.sites[self.len] = site;
            self.len += 1;
        }
        true
    }
}

/// Where a call started, to restore after it (see [`Ctx::finish_call`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallMark {
    sp: u64,
    depth: u32,
    zones: usize,
}

/// The context of one thread. The public fields are the ABI: compiled code reads and
/// writes them at the offsets `CTX_*` in [`crate::runtime::abi`].
#[repr(C)]
pub struct Ctx {
    /// 0, or the [`FaultCode`] that stopped the code (first fault wins).
    pub fault: u32,
    /// The compiler's site number of the form that faulted.
    pub fault_site: u32,
    /// Calls in progress; compiled code increments it on entry, faults with
    /// [`FaultCode::CallDepth`] past `max_depth`, decrements it on return.
    pub depth: u32,
    pub max_depth: u32,
    /// Next free byte of the `salloc` stack (an arena address; the stack grows upward).
    pub sp: u64,
    /// End of the `salloc` stack: an `salloc` whose end passes it faults
    /// ([`FaultCode::StackExhausted`]).
    pub sp_limit: u64,
    /// This thread's slot table (one closure pointer per bind-func slot). Owned by the
    /// compiler's side, which keeps it alive and unmoved while code runs in this context.
    pub slots: *const u64,
    /// The lowest native stack address compiled code may reach: every function faults
    /// with [`FaultCode::CallDepth`] at entry when the stack pointer is below it. Set by
    /// [`Ctx::call_mark`] at each outermost call (0: not checked).
    pub stack_floor: u64,
    /// The sample time xtlang's `(now)` reads: set by the engine before each call into
    /// DSP code (the event's sample, the start of the buffer segment, the control
    /// thread's clock).
    pub now: i64,
    /// The sample time at which the stretch of samples the engine is rendering ends: no
    /// event runs before it, so DSP code may compute ahead up to it (xtlang's
    /// `(next_event_time)`, which is never before `now`). Set for each stretch of a buffer;
    /// `i64::MIN` where none is being rendered (events, the control thread).
    pub span_end: i64,
    /// How much native stack below the outermost call compiled code may use.
    native_stack: NativeStack,
    arena: Arc<Arena>,
    audio: bool,
    detail: FaultDetail,
    stack: ArenaBlock,
    zones: Vec<ZoneSlot>,
    reserve: Option<Reserve>,
    heap: HeapPool,
    remotes: Vec<RemoteHeap>,
    sink: Sink,
    print: PrintBuf,
    warned: WarnedSites,
    rng: u64,
    /// Callbacks scheduled by `callback`, until the engine takes them.
    scheduled: ScheduledList,
    /// `zone_cleanup` closures (zone depth, closure record), oldest first.
    cleanups: Vec<(usize, u64)>,
}

// SAFETY: `slots` points to a table that the owner of this context keeps alive and only
// this context's thread reads through it; `ZoneSlot::Lent` pointers exist only inside
// `with_zone`, which holds `&mut self`, so they never cross threads; the heap pool is Send;
// the writers are `Send`. Moving the context moves its single owner.
unsafe impl Send for Ctx {}

impl fmt::Debug for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("audio", &self.audio)
            .field("fault", &self.fault)
            .field("fault_site", &self.fault_site)
            .field("depth", &self.depth)
            .field("sp", &self.sp)
            .field("zones", &self.zones.len())
            .finish_non_exhaustive()
    }
}

impl Ctx {
    /// The control thread's context: printf output to stdout, warnings to stderr.
    pub fn control(arena: &Arc<Arena>, cfg: &ControlConfig) -> Result<Ctx, RuntimeError> {
        let base = Zone::new(arena, cfg.base_zone_bytes, "default zone")?;
        let heap = HeapPool::new(arena, cfg.heap_bytes, false)?;
        let stack = arena.alloc_block(cfg.stack_bytes)?;
        let sink = Sink::Control {
            output: Box::new(std::io::stdout()),
            warnings: Box::new(std::io::stderr()),
            kept: Vec::new(),
            readers: Vec::new(),
        };
        let mut ctx = Ctx::assemble(arena, false, cfg.max_depth, base, None, heap, stack, sink);
        ctx.native_stack = NativeStack::Remaining;
        Ok(ctx)
    }

    /// An audio thread's context, made on the control thread from the control context
    /// (which keeps the reading end of its message ring and the deferred-free rings).
    pub fn audio(control: &mut Ctx, cfg: &AudioConfig) -> Result<Ctx, RuntimeError> {
        if control.audio {
            return Err(RuntimeError::NotControl);
        }
        let arena = Arc::clone(&control.arena);
        let base = Zone::new(&arena, cfg.zone_bytes, "audio zone")?;
        let reserve = Reserve::new(&arena, cfg.reserve_bytes, cfg.commit)?;
        let mut heap = HeapPool::new(&arena, cfg.heap_bytes, cfg.commit)?;
        let stack = arena.alloc_block(cfg.stack_bytes)?;
        if cfg.commit {
            base.touch();
            stack.touch();
        }
        let (ring, reader) = message_ring(cfg.ring_bytes);
        let to_control = control.heap.remote();
        control.remotes.retain(|r| !r.is_abandoned());
        control.remotes.push(heap.remote());
        if let Sink::Control { readers, .. } = &mut control.sink {
            readers.retain(|r| !r.is_finished());
            readers.push(reader);
        }
        let mut ctx = Ctx::assemble(
            &arena,
            true,
            cfg.max_depth,
            base,
            Some(reserve),
            heap,
            stack,
            Sink::Audio { ring },
        );
        ctx.remotes.push(to_control);
        ctx.native_stack = NativeStack::Fixed(cfg.native_stack_bytes);
        Ok(ctx)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        arena: &Arc<Arena>,
        audio: bool,
        max_depth: u32,
        base: Zone,
        reserve: Option<Reserve>,
        heap: HeapPool,
        stack: ArenaBlock,
        sink: Sink,
    ) -> Ctx {
        let mut zones = Vec::with_capacity(MAX_ZONE_DEPTH);
        zones.push(ZoneSlot::Own {
            zone: base,
            memzone_site: None,
            reserve_mark: None,
        });
        Ctx {
            fault: 0,
            fault_site: 0,
            depth: 0,
            max_depth,
            sp: stack.addr(),
            sp_limit: stack.addr() + stack.len() as u64,
            slots: std::ptr::null(),
            stack_floor: 0,
            now: 0,
            span_end: i64::MIN,
            native_stack: NativeStack::Fixed(AUDIO_NATIVE_STACK),
            arena: Arc::clone(arena),
            audio,
            detail: FaultDetail::None,
            stack,
            zones,
            reserve,
            heap,
            remotes: Vec::with_capacity(1),
            sink,
            print: PrintBuf {
                bytes: [0; PRINT_BUF],
                len: 0,
                line: false,
            },
            warned: WarnedSites {
                sites: [0; WARNED_SITES],
                len: 0,
            },
            rng: DEFAULT_SEED,
            scheduled: ScheduledList::new(),
            cleanups: Vec::with_capacity(MAX_CLEANUPS),
        }
    }

    /// True for an audio-thread context.
    // Only the runtime's tests use this; the compiler does not.
    #[cfg(test)]
    pub fn is_audio(&self) -> bool {
        self.audio
    }

    /// Control thread: where `printf`/`println` output goes (default stdout).
    pub fn set_output(&mut self, w: Box<dyn Write + Send>) {
        if let Sink::Control { output, .. } = &mut self.sink {
            *output = w;
        }
    }

    /// Control thread: where warnings such as zone-full go, one per line (default stderr).
    pub fn set_warnings(&mut self, w: Box<dyn Write + Send>) {
        if let Sink::Control { warnings, .. } = &mut self.sink {
            *warnings = w;
        }
    }

    /// Control thread: the warnings written since the last call (at most 64 kept), e.g. to
    /// attach a closure zone's zone-full warning to its definition.
    pub fn take_warnings(&mut self) -> Vec<String> {
        match &mut self.sink {
            Sink::Control { kept, .. } => std::mem::take(kept),
            Sink::Audio { .. } => Vec::new(),
        }
    }

    /// Control thread: hands every message the audio contexts sent (text, kind) to `f`.
    pub fn drain_messages(&mut self, mut f: impl FnMut(MessageKind, &str)) {
        if let Sink::Control { readers, .. } = &mut self.sink {
            for r in readers.iter_mut() {
                r.drain(&mut f);
            }
            readers.retain(|r| !r.is_finished());
        }
    }

    /// Runs `f` with `zone` as the top zone (the compiler runs a bind-func's outer `let` this
    /// way, on the control thread, so that its `zalloc`s come from the closure zone). Zones
    /// `f` leaves open above it are popped.
    pub fn with_zone<R>(&mut self, zone: &mut Zone, f: impl FnOnce(&mut Ctx) -> R) -> R {
        let depth = self.zones.len();
        self.zones.push(ZoneSlot::Lent(NonNull::from(zone)));
        let r = f(self);
        self.unwind_zones(depth);
        r
    }

    /// Zones on the stack now (1 = only the base zone).
    // Only the runtime's tests use this; the compiler does not.
    #[cfg(test)]
    pub fn zone_depth(&self) -> usize {
        self.zones.len()
    }

    /// The base zone: the audio zone on the audio thread, the default zone on the control
    /// thread.
    pub fn base_zone(&self) -> &Zone {
        match &self.zones[0] {
            ZoneSlot::Own { zone, .. } => zone,
            // SAFETY: slot 0 is always the owned base zone; a lent slot would be valid anyway
            // because lent slots exist only inside `with_zone`.
            ZoneSlot::Lent(z) => unsafe { z.as_ref() },
        }
    }

    /// `halloc` allocations of this context's heap not yet freed.
    // Only the runtime's tests use this; the compiler does not.
    #[cfg(test)]
    pub fn heap_live(&self) -> usize {
        self.heap.live()
    }

    /// The address ranges of the `halloc` pool and the `salloc` stack.
    // Only the runtime's tests use this; the compiler does not.
    #[cfg(test)]
    pub fn heap_and_stack(&self) -> [(u64, u64); 2] {
        [
            self.heap.range(),
            (
                self.stack.addr(),
                self.stack.addr() + self.stack.len() as u64,
            ),
        ]
    }

    /// Frees from the other thread lost to a full deferred-free ring, and frees from the
    /// other thread that named no live allocation.
    // Only the runtime's tests use this; the compiler does not.
    #[cfg(test)]
    pub fn heap_anomalies(&self) -> (u64, u64) {
        (
            self.remotes.iter().map(RemoteHeap::lost).sum(),
            self.heap.bad_remote_frees(),
        )
    }

    /// Marks the start of a call from Rust into compiled code.
    #[inline]
    pub fn call_mark(&mut self) -> CallMark {
        if self.depth == 0 {
            self.arm_stack();
        }
        CallMark {
            sp: self.sp,
            depth: self.depth,
            zones: self.zones.len(),
        }
    }

    /// Sets [`Ctx::stack_floor`] from the native stack pointer of an outermost call.
    fn arm_stack(&mut self) {
        let room = match self.native_stack {
            NativeStack::Fixed(bytes) => bytes,
            NativeStack::Remaining => stacker::remaining_stack().map_or(AUDIO_NATIVE_STACK, |r| {
                (r as u64).saturating_sub(STACK_MARGIN)
            }),
        };
        self.stack_floor = native_sp().saturating_sub(room);
    }

    /// Ends a call started at `mark`: restores the stack pointer, depth and zone stack
    /// (popping memzones a fault left open) and returns the fault, if any, clearing it.
    #[inline]
    pub fn finish_call(&mut self, mark: CallMark) -> Result<(), RawFault> {
        if self.fault == 0 && self.zones.len() == mark.zones && self.sp == mark.sp {
            return Ok(());
        }
        self.finish_call_slow(mark)
    }

    #[cold]
    fn finish_call_slow(&mut self, mark: CallMark) -> Result<(), RawFault> {
        let fault = self.take_fault();
        self.unwind_zones(mark.zones.max(1));
        self.salloc_release(mark.sp);
        self.depth = mark.depth;
        fault.map_or(Ok(()), Err)
    }

    /// The pending fault, cleared.
    pub fn take_fault(&mut self) -> Option<RawFault> {
        if self.fault == 0 {
            return None;
        }
        let f = RawFault {
            code: FaultCode::from_u32(self.fault),
            raw: self.fault,
            site: self.fault_site,
            detail: self.detail,
        };
        self.fault = 0;
        self.fault_site = 0;
        self.detail = FaultDetail::None;
        Some(f)
    }

    /// Audio thread, after every buffer: empties the audio zone, releases the reserve and
    /// does what [`Ctx::after_call`] does. Pending faults stay for [`Ctx::take_fault`].
    pub fn end_buffer(&mut self) {
        self.after_call();
        if let Some(ZoneSlot::Own { zone, .. }) = self.zones.first_mut() {
            zone.reset();
        }
        if let Some(r) = &mut self.reserve {
            r.release(0);
        }
    }

    /// After a top-level call (control thread) or a buffer: closes zones left open, resets
    /// the `salloc` stack and call depth, and frees what the other thread handed back. The
    /// base zone keeps its contents (on the control thread it is Extempore's default zone,
    /// whose memory outlives calls).
    pub fn after_call(&mut self) {
        if self.print.len > 0 {
            self.print.flush(&mut self.sink);
        }
        self.unwind_zones(1);
        self.cleanups.clear();
        self.salloc_release(self.stack.addr());
        self.depth = 0;
        self.heap.drain_remote_frees();
    }

    /// `zone_cleanup`: keeps the closure record `f` to be called when the current zone
    /// ends, if it is a memzone (compiled code calls it, see [`Ctx::take_cleanup`]); a
    /// cleanup on any other zone is dropped when the call or buffer ends, unrun (Extempore
    /// never runs those either: its default zones are not destroyed).
    pub fn zone_cleanup(&mut self, f: u64, site: u32) {
        if self.cleanups.len() >= MAX_CLEANUPS {
            self.raise(FaultCode::CleanupsFull, site, FaultDetail::None);
            return;
        }
        self.cleanups.push((self.zones.len(), f));
    }

    /// The newest cleanup of the current zone, taken off the list; 0 when it has none.
    pub fn take_cleanup(&mut self) -> u64 {
        match self.cleanups.last() {
            Some(&(depth, f)) if depth == self.zones.len() => {
                self.cleanups.pop();
                f
            }
            _ => 0,
        }
    }

    fn unwind_zones(&mut self, depth: usize) {
        while self.cleanups.last().is_some_and(|c| c.0 > depth) {
            self.cleanups.pop();
        }
        while self.zones.len() > depth {
            if let Some(ZoneSlot::Own {
                reserve_mark: Some(mark),
                ..
            }) = self.zones.pop()
                && let Some(r) = &mut self.reserve
            {
                r.release(mark);
            }
        }
    }

    /// Records a fault unless one is pending (the first fault wins).
    pub fn raise(&mut self, code: FaultCode, site: u32, detail: FaultDetail) {
        if self.fault == 0 {
            self.fault = code as u32;
            self.fault_site = site;
            self.detail = detail;
        }
    }

    /// `closure.var`: the address of the value of variable `name` (an arena C string) in
    /// the environment `env`, found in the variable table at `table`; 0 and a fault when the
    /// table has no such variable or gives it another type id.
    pub fn env_var(&mut self, table: u64, env: u64, name: u64, type_id: u64, site: u32) -> u64 {
        let arena = &self.arena;
        let found = arena
            .c_str(name, 256)
            .and_then(|n| super::vars::lookup(arena, table, n))
            .filter(|slot| slot.is(type_id))
            .and_then(|slot| super::vars::value_addr(arena, env, slot));
        match found {
            Some(addr) => addr,
            None => {
                self.raise(FaultCode::ClosureVar, site, FaultDetail::None);
                0
            }
        }
    }

    /// xtlang `callback`: keeps `s` for the engine to run at its time; a fault when
    /// [`MAX_SCHEDULED`](super::scheduled::MAX_SCHEDULED) are already kept.
    pub fn schedule(&mut self, s: Scheduled, site: u32) {
        if self.scheduled.push(s).is_err() {
            self.raise(FaultCode::CallbacksFull, site, FaultDetail::None);
        }
    }

    /// Hands the callbacks scheduled since the last take to `f`, in the order scheduled
    /// (never allocates).
    pub fn take_scheduled(&mut self, f: &mut dyn FnMut(Scheduled)) {
        self.scheduled.drain(f);
    }

    /// Restarts the context's random sequence from `seed`.
    // Only the runtime's tests use this; the compiler does not.
    #[cfg(test)]
    pub fn seed_random(&mut self, seed: u64) {
        self.rng = seed;
    }

    /// xtlang `random`: the next number of the context's own sequence (splitmix64), uniform
    /// in [0, 1). Deterministic: the same seed gives the same sequence.
    // Only the runtime's tests use this; the compiler does not.
    #[cfg(test)]
    pub fn random(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `zalloc`: `count` items of `size` bytes from the top zone, zeroed; 0 and a fault when
    /// it cannot be met.
    pub fn zalloc(&mut self, count: u64, size: u64, align: u64, site: u32) -> u64 {
        let top = self.zones.len() - 1;
        let (zone, memzone_site) = match &mut self.zones[top] {
            ZoneSlot::Own {
                zone, memzone_site, ..
            } => (zone, *memzone_site),
            // SAFETY: lent slots exist only inside `with_zone`, which holds the exclusive
            // borrow of the zone for as long as the slot is on the stack.
            ZoneSlot::Lent(z) => (unsafe { z.as_mut() }, None),
        };
        let Some(bytes) = count.checked_mul(size) else {
            let e = ZoneError {
                kind: ZoneErrorKind::ArenaFull,
                asked: u64::MAX,
                zone_bytes: zone.size(),
                capacity: self.arena.len(),
            };
            self.raise(FaultCode::ZoneExhausted, site, FaultDetail::Zone(e));
            return 0;
        };
        let reserve = if self.audio {
            self.reserve.as_mut()
        } else {
            None
        };
        let result = zone.alloc_in(bytes, align, reserve, site);
        if let Some(w) = zone.take_warning()
            && memzone_site.is_none_or(|site| self.warned.first_time(site))
        {
            self.sink.warn(format_args!("{w}"));
        }
        match result {
            Ok(addr) => addr,
            Err(e) => {
                let code = match e.kind {
                    ZoneErrorKind::BadAlign => FaultCode::BadAlign,
                    _ => FaultCode::ZoneExhausted,
                };
                self.raise(code, site, FaultDetail::Zone(e));
                0
            }
        }
    }

    /// A closure record of `bytes` made by generation `maker`, from the top zone like
    /// [`Ctx::zalloc`]. On the control thread the zone notes its maker (its code must outlive
    /// the record); the audio thread's zones are emptied within the buffer, before any
    /// generation running in it can be freed, so they note nothing (and allocate nothing).
    pub fn closure_alloc(&mut self, bytes: u64, maker: u64, site: u32) -> u64 {
        let addr = self.zalloc(1, bytes, 8, site);
        if addr != 0 && !self.audio {
            let top = self.zones.len() - 1;
            match &mut self.zones[top] {
                ZoneSlot::Own { zone, .. } => zone.note_maker(maker),
                // SAFETY: lent slots exist only inside `with_zone`, which holds the exclusive
                // borrow of the zone for as long as the slot is on the stack.
                ZoneSlot::Lent(z) => unsafe { z.as_mut() }.note_maker(maker),
            }
        }
        addr
    }

    /// `salloc`: `count` items of `size` bytes from the stack, zeroed and tagged; 0 and a
    /// fault past the limit. The function that called it gives the memory back with
    /// [`Ctx::salloc_release`] when it returns.
    pub fn salloc(&mut self, count: u64, size: u64, align: u64, site: u32) -> u64 {
        let align = align.max(GRANULE);
        let start = self
            .sp
            .checked_next_multiple_of(align)
            .filter(|_| align.is_power_of_two());
        let bytes = count.checked_mul(size);
        let end = start
            .zip(bytes.and_then(round_up))
            .and_then(|(s, b)| s.checked_add(b));
        match (start, end, bytes) {
            (Some(start), Some(end), Some(bytes)) if end <= self.sp_limit => {
                self.stack.zero(start, bytes as usize);
                self.sp = end;
                self.arena.tag(start, bytes, site)
            }
            _ => {
                self.raise(FaultCode::StackExhausted, site, FaultDetail::None);
                0
            }
        }
    }

    /// Gives back the `salloc` stack above `sp` (a function returning, a call ending) and
    /// marks it dead, so pointers to it kept past the call fault.
    pub fn salloc_release(&mut self, sp: u64) {
        if sp < self.sp && sp >= self.stack.addr() {
            self.arena.kill(sp, self.sp - sp);
        }
        self.sp = sp;
    }

    /// Records the fault of a compiled access of `size` bytes at pointer `addr` (its tag
    /// included) that failed its check, with what the shadow says of it.
    pub fn access_fault(&mut self, addr: u64, size: u64, write: bool, site: u32) {
        let verdict = self.arena.probe(addr, size);
        let detail = FaultDetail::Access(AccessFault {
            addr,
            size,
            write,
            verdict,
        });
        self.raise(FaultCode::OutOfRange, site, detail);
    }

    /// `halloc`: `count` items of `size` bytes from this context's heap, zeroed; 0 and a
    /// fault when it cannot be met.
    pub fn halloc(&mut self, count: u64, size: u64, align: u64, site: u32) -> u64 {
        let result = match count.checked_mul(size) {
            Some(bytes) => self.heap.alloc(bytes, align, site),
            None => Err(HeapError {
                kind: HeapErrorKind::Full,
                value: u64::MAX,
                capacity: self.heap.capacity(),
            }),
        };
        result.unwrap_or_else(|e| {
            let code = match e.kind {
                HeapErrorKind::BadAlign => FaultCode::BadAlign,
                _ => FaultCode::HeapExhausted,
            };
            self.raise(code, site, FaultDetail::Heap(e));
            0
        })
    }

    /// `free`: of this context's heap now, of the other thread's heap via its deferred-free
    /// ring; `free` of 0 does nothing; anything else faults.
    pub fn free(&mut self, addr: u64, site: u32) {
        if addr == 0 {
            return;
        }
        if self.heap.owns(addr) {
            if let Err(e) = self.heap.free(addr) {
                self.raise(FaultCode::BadFree, site, FaultDetail::Heap(e));
            }
        } else if self.remotes.iter().any(|r| r.owns(addr)) {
            // Marked dead here and now, so that this thread faults on it at once; the owner
            // gives the memory back to its heap at its next halloc, free or buffer end.
            let live = self
                .arena
                .allocation(addr)
                .filter(|(start, _)| *start == strip(addr));
            match (live, self.remotes.iter_mut().find(|r| r.owns(addr))) {
                (Some((start, len)), Some(remote)) => {
                    self.arena.kill(start, len.max(1));
                    remote.free(addr);
                }
                _ => {
                    let e = HeapError {
                        kind: HeapErrorKind::BadFree,
                        value: strip(addr),
                        capacity: self.heap.capacity(),
                    };
                    self.raise(FaultCode::BadFree, site, FaultDetail::Heap(e));
                }
            }
        } else {
            let e = HeapError {
                kind: HeapErrorKind::BadFree,
                value: addr,
                capacity: self.heap.capacity(),
            };
            self.raise(FaultCode::BadFree, site, FaultDetail::Heap(e));
        }
    }

    /// Opens a memzone of `bytes`: carved from the reserve on the audio thread, from the
    /// arena on the control thread. Returns the new zone depth, or 0 and a fault. A memzone
    /// that overflows warns once per context and `site`, not every time it opens.
    pub fn memzone_push(&mut self, bytes: u64, site: u32) -> u32 {
        if self.zones.len() >= MAX_ZONE_DEPTH {
            self.raise(FaultCode::ZoneStack, site, FaultDetail::None);
            return 0;
        }
        let slot = match &mut self.reserve {
            Some(reserve) if self.audio => {
                let mark = reserve.mark();
                match reserve.take(bytes, 16) {
                    Some(addr) => Ok(ZoneSlot::Own {
                        zone: Zone::lent(&self.arena, addr, bytes, "memzone"),
                        memzone_site: Some(site),
                        reserve_mark: Some(mark),
                    }),
                    None => Err(ZoneError {
                        kind: ZoneErrorKind::ReserveFull,
                        asked: bytes,
                        zone_bytes: bytes,
                        capacity: reserve.capacity() as u64,
                    }),
                }
            }
            _ => match Zone::new(&self.arena, bytes, "memzone") {
                Ok(zone) => Ok(ZoneSlot::Own {
                    zone,
                    memzone_site: Some(site),
                    reserve_mark: None,
                }),
                Err(_) => Err(ZoneError {
                    kind: ZoneErrorKind::ArenaFull,
                    asked: bytes,
                    zone_bytes: bytes,
                    capacity: self.arena.len(),
                }),
            },
        };
        match slot {
            Ok(slot) => {
                self.zones.push(slot);
                self.zones.len() as u32
            }
            Err(e) => {
                self.raise(FaultCode::ZoneExhausted, site, FaultDetail::Zone(e));
                0
            }
        }
    }

    /// Closes the innermost memzone; faults if the top zone is not a memzone.
    pub fn memzone_pop(&mut self, site: u32) {
        match self.zones.last() {
            Some(ZoneSlot::Own {
                memzone_site: Some(_),
                ..
            }) => {
                self.unwind_zones(self.zones.len() - 1);
            }
            _ => self.raise(FaultCode::ZoneStack, site, FaultDetail::None),
        }
    }

    /// `printf` with the format at arena address `fmt` and typed arguments (`args[i]`'s kind
    /// is `kinds[i]`, see `printf::KIND_*`). Returns the bytes printed, or -1 and an
    /// out-of-range fault when the format is not a string in DSP memory.
    pub fn printf(&mut self, fmt: u64, args: &[u64], kinds: &[u8], site: u32) -> i32 {
        let Some(text) = self.arena.live_str(fmt, MAX_STRING) else {
            self.access_fault(fmt, 1, false, site);
            return -1;
        };
        let arena = &self.arena;
        let strings = |addr| arena.live_str(addr, MAX_STRING);
        let mut args = args.iter().zip(kinds).map(|(&bits, &kind)| arg(bits, kind));
        let (print, sink) = (&mut self.print, &mut self.sink);
        let n = printf::format(text, &mut args, &strings, &mut |b| print.put(b, sink));
        print.end_print(sink);
        i32::try_from(n).unwrap_or(i32::MAX)
    }

    /// xtlang `println`: the values separated by spaces, then a newline. Integers in
    /// decimal, doubles as `%f`, `i1` as 1 or 0, pointers as `%p`, strings as they are.
    pub fn println(&mut self, args: &[u64], kinds: &[u8]) {
        self.write_values(args, kinds, b" ", b"\n");
    }

    /// xtlang's builtin `print`: one value as [`Ctx::println`] writes it (a vector's
    /// lanes with a space between them), with no newline.
    pub fn print(&mut self, args: &[u64], kinds: &[u8]) {
        self.write_values(args, kinds, b" ", b"");
    }

    fn write_values(&mut self, args: &[u64], kinds: &[u8], between: &[u8], end: &[u8]) {
        let arena = &self.arena;
        let strings = |addr| arena.live_str(addr, MAX_STRING);
        let (print, sink) = (&mut self.print, &mut self.sink);
        for (i, (&bits, &kind)) in args.iter().zip(kinds).enumerate() {
            if i > 0 {
                print.put(between, sink);
            }
            let a = arg(bits, kind);
            let spec: &[u8] = match a {
                Arg::Float(_) => b"%f",
                Arg::Ptr(_) => b"%p",
                Arg::Str(..) => b"%s",
                _ => b"%d",
            };
            let mut one = std::iter::once(a);
            printf::format(spec, &mut one, &strings, &mut |b| print.put(b, sink));
        }
        print.put(end, sink);
        print.end_print(sink);
    }
}

fn arg(bits: u64, kind: u8) -> Arg {
    match kind {
        printf::KIND_F64 => Arg::Float(f64::from_bits(bits)),
        printf::KIND_PTR => Arg::Ptr(bits),
        printf::KIND_STR => Arg::Str(bits),
        printf::KIND_I1 => Arg::Bool(bits & 1 != 0),
        printf::KIND_I32 => Arg::Int32(bits as i32),
        _ => Arg::Int(bits as i64),
    }
}
