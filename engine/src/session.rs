//! A livecoding session on the control thread: the Scheme interpreter wired to the
//! DSP compiler, the scheduler and the audio thread.
//!
//! The session registers the Extempore vocabulary in Scheme — `bind-func`,
//! `bind-val`, `bind-type`, `bind-alias`, `dsp:set!`, `now`, `*samplerate*`,
//! `callback` — and a Scheme procedure for every compiled closure. What one
//! evaluation defines travels to the audio thread as one swap batch
//! ([`Session::flush`]). Calls of void DSP closures made by a callback scheduled at
//! sample `T` are sent to the audio thread as events at `T`, so they land
//! sample-accurately; every other call runs on the control thread at once.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::Sender;
use zonal_dsp::{
    AudioCtx, Dsp, DspConfig, DspError, DspErrorKind, DspValue, Entry, Fault, MAX_LANES,
    PreparedCall,
};
use zonal_scheme::{Datum, DatumKind, Error, ErrorKind, Interp, Value};

use crate::audio::{AudioStats, MAX_CHANNELS, Processor};
use crate::commands::{Command, ControlEnds, Returned, rings};
use crate::convert::to_sexp;
use crate::fade::SwapSettings;
use crate::lanes::{Lanes, Routing};
use crate::scheduler::{Callback, Scheduler, ZERO_TIME_CALLBACKS};
use crate::watchdog::Watchdog;
use crate::workers::{Pool, Priority};

mod calls;
mod loading;
mod routing;

use calls::{bind_val_computed, call_as_xtlang, call_dsp, collect_scheduled, computed_val};
use calls::{from_dsp_value, to_dsp_value};
use loading::{preload_check, sys_load};
use routing::{Route, default_workers, new_lanes, resolve_route, set_entry};

/// How a session reaches the audio thread.
pub enum AudioLink {
    /// No audio thread (`zonal run`): swaps are applied to a context kept here, made
    /// at the first swap (a script of plain Scheme never pays for one).
    Local(Option<AudioCtx>),
    /// A running (or about to run) audio thread.
    Rings(ControlEnds),
}

struct State {
    dsp: Dsp,
    scheduler: Scheduler,
    sample_rate: u32,
    channels: usize,
    stats: Arc<AudioStats>,
    link: AudioLink,
    /// The time of the callback being run, which `(now)` reads.
    callback_time: Option<i64>,
    /// The zero-time chain of the callback being run (see [`ZERO_TIME_CALLBACKS`]).
    zero_time_chain: Option<Rc<Cell<u32>>>,
    /// Where errors of callbacks scheduled now are reported besides stderr: the editor
    /// connection of the request, or of the callback, being evaluated.
    notices: Option<Sender<String>>,
    /// Where faults of the DSP entry and of timed events are reported besides stderr: the
    /// editor connection that last defined something or set the entry.
    fault_notices: Option<Sender<String>>,
    /// Every problem reported (faults, callback errors), kept when asked for
    /// ([`Session::keep_problems`]): `zonal test` turns each into a failure.
    problems: Option<Vec<String>>,
    /// What `dsp:set!` asked for, to send with the next flush.
    route: Option<Route>,
    /// The names `dsp:set!` was given: redefining one sends the route again (its type may
    /// have changed).
    route_names: Vec<String>,
    /// Lane contexts sent to the audio thread so far.
    lanes_sent: usize,
    events: Vec<(i64, PreparedCall)>,
    /// Problems reported on stderr since the last [`Session::take_failures`].
    failures: usize,
    /// The status the program asked to end with (`(quit)`, `(exit n)`), if it did, and
    /// the sample time of the callback that asked (none: an evaluation).
    exit: Option<(i32, Option<i64>)>,
    /// Where text from the audio thread (printf, println) goes.
    printer: Rc<dyn Fn(&str)>,
    /// Stops a loop running in DSP code on the audio thread (see [`Watchdog`]).
    audio_interrupt: Option<Arc<AtomicBool>>,
    /// How many `sys:load`s are running (one inside another's file counts twice).
    loading: usize,
    /// Set by `sys:load-preload-check` when its library is already loaded: the
    /// `sys:load` running stops there and returns `#f`.
    preload_escape: bool,
    /// The fade and time of swaps (`dsp:fade-time`, `dsp:swap-at`...).
    swaps: Rc<RefCell<SwapSettings>>,
}

/// The control thread's session.
pub struct Session {
    interp: Interp,
    state: Rc<RefCell<State>>,
    /// MIDI and OSC ([`crate::io`]).
    io: Option<Rc<crate::io::Io>>,
}

/// Settings of a session.
#[derive(Clone)]
pub struct SessionConfig {
    pub sample_rate: u32,
    pub channels: usize,
    pub dsp: DspConfig,
    /// Worker threads that render the lanes of `(dsp:set! a b ...)` beside the audio
    /// thread (0: the audio thread renders them all).
    pub workers: usize,
    /// Ask for real-time priority for the workers (live playing).
    pub realtime_workers: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            sample_rate: 48_000,
            channels: 2,
            // a library's definitions are compiled when something first uses them
            dsp: DspConfig {
                lazy: true,
                ..DspConfig::default()
            },
            workers: default_workers(),
            realtime_workers: false,
        }
    }
}

impl Session {
    /// A session with no audio thread (`zonal run`). Its audio context, made at the
    /// first swap, commits its memory as it is used (nothing plays in real time).
    pub fn headless(cfg: &SessionConfig) -> Result<Session, DspError> {
        let dsp = Dsp::new(DspConfig {
            commit_audio_memory: false,
            ..cfg.dsp.clone()
        })?;
        Ok(Self::with_link(
            cfg,
            dsp,
            AudioLink::Local(None),
            Arc::default(),
        ))
    }

    /// A session and the processor for an offline render (`zonal render`, tests): as
    /// [`Session::with_audio`], but the audio contexts commit their memory as they use
    /// it rather than all of it up front (about 9,000 page faults a render need not take).
    pub fn offline(cfg: &SessionConfig) -> Result<(Session, Processor), DspError> {
        let mut cfg = cfg.clone();
        cfg.dsp.commit_audio_memory = false;
        Self::with_audio(&cfg)
    }

    /// A session and the processor to move to the audio thread. The audio contexts'
    /// memory is committed now unless `cfg.dsp.commit_audio_memory` is off, so a
    /// device's audio thread takes no page fault.
    pub fn with_audio(cfg: &SessionConfig) -> Result<(Session, Processor), DspError> {
        let mut dsp = Dsp::new(cfg.dsp.clone())?;
        let ctx = dsp.audio_ctx()?;
        let audio_interrupt = ctx.interrupt_handle();
        let (control, audio) = rings();
        let stats = Arc::<AudioStats>::default();
        let pool = match Pool::new(cfg.workers, cfg.realtime_workers) {
            Ok((pool, Priority::Refused(why))) => {
                eprintln!("{why}");
                Some(pool)
            }
            Ok((pool, _)) => Some(pool),
            Err(e) => {
                eprintln!(
                    "cannot start DSP worker threads ({e}): lanes render on the audio thread"
                );
                None
            }
        };
        let lanes = Lanes::new(cfg.channels.clamp(1, MAX_CHANNELS), pool);
        let processor = Processor::new(ctx, audio, cfg.channels, stats.clone(), lanes);
        let session = Self::with_link(cfg, dsp, AudioLink::Rings(control), stats);
        session.state.borrow_mut().audio_interrupt = Some(audio_interrupt);
        Ok((session, processor))
    }

    /// Starts a watchdog over this session's audio thread, whose buffers are
    /// `buffer_frames` long; `None` without an audio thread. Keep it while the audio
    /// thread runs.
    pub fn start_watchdog(&self, buffer_frames: usize) -> std::io::Result<Option<Watchdog>> {
        let st = self.state.borrow();
        let Some(flag) = st.audio_interrupt.clone() else {
            return Ok(None);
        };
        let patience = Watchdog::patience(buffer_frames, st.sample_rate);
        Watchdog::spawn(st.stats.clone(), flag, patience).map(Some)
    }

    fn with_link(
        cfg: &SessionConfig,
        dsp: Dsp,
        link: AudioLink,
        stats: Arc<AudioStats>,
    ) -> Session {
        let state = Rc::new(RefCell::new(State {
            dsp,
            scheduler: Scheduler::default(),
            sample_rate: cfg.sample_rate,
            channels: cfg.channels,
            stats,
            link,
            callback_time: None,
            zero_time_chain: None,
            notices: None,
            fault_notices: None,
            problems: None,
            route: None,
            route_names: Vec::new(),
            lanes_sent: 0,
            events: Vec::new(),
            failures: 0,
            exit: None,
            printer: Rc::new(print_stdout),
            audio_interrupt: None,
            loading: 0,
            preload_escape: false,
            swaps: Rc::new(RefCell::new(SwapSettings::new(cfg.sample_rate))),
        }));
        let interp = Interp::new();
        // `(zonal:interrupt)` and Ctrl-C stop loops in DSP code called from Scheme too.
        state
            .borrow_mut()
            .dsp
            .set_interrupt(interp.interrupt_handle());
        let mut session = Session {
            interp,
            state,
            io: None,
        };
        session.register();
        session
    }

    pub fn stats(&self) -> Arc<AudioStats> {
        self.state.borrow().stats.clone()
    }

    pub fn interrupt_handle(&self) -> Arc<AtomicBool> {
        self.interp.interrupt_handle()
    }

    /// The Scheme collector's statistics (live and heap bytes, pauses).
    pub fn gc_stats(&self) -> zonal_scheme::GcStats {
        self.interp.gc_stats()
    }

    /// What the DSP side has allocated and not yet freed.
    pub fn dsp_live(&self) -> zonal_dsp::LiveCounts {
        self.state.borrow().dsp.live()
    }

    /// How many bind-func generations were compiled to native code, and how many
    /// definitions wait for their first use.
    pub fn dsp_compile_counts(&self) -> zonal_dsp::CompileCounts {
        self.state.borrow().dsp.compile_counts()
    }

    /// Evaluates source text form by form, as one evaluation: the value of the last
    /// form in its written form (empty when it has none), or the first error, read
    /// or evaluation (the forms before it have run; later ones are not evaluated).
    pub fn eval_source(&mut self, src: &str, origin: &str) -> Result<String, Error> {
        self.eval_source_with(src, origin, None)
    }

    /// [`Session::eval_source`], with the errors of the callbacks this evaluation
    /// schedules (and of those they schedule) also sent to `notices`, as one text each.
    pub fn eval_source_with(
        &mut self,
        src: &str,
        origin: &str,
        notices: Option<Sender<String>>,
    ) -> Result<String, Error> {
        self.state.borrow_mut().notices = notices;
        let result = (|| {
            let mut last = self.interp.unspecified();
            for form in Interp::forms(src, origin) {
                last = self.interp.eval_datum(&form?)?;
            }
            let unspecified = self.interp.unspecified();
            Ok(
                if self.interp.write_string(last) == self.interp.write_string(unspecified) {
                    String::new()
                } else {
                    self.interp.write_string(last)
                },
            )
        })();
        if let Err(e) = &result {
            note_exit(&mut self.state.borrow_mut(), e, None);
        }
        self.state.borrow_mut().notices = None;
        self.flush();
        result
    }

    /// The status the program asked to end with (`(quit)`, `(exit n)`) in an evaluation
    /// or a callback, if it did: the embedder ends the session.
    pub fn exit_requested(&self) -> Option<i32> {
        self.state.borrow().exit.map(|(status, _)| status)
    }

    /// The sample time of the callback that asked to end the program, if one did.
    pub fn exit_time(&self) -> Option<i64> {
        self.state.borrow().exit.and_then(|(_, at)| at)
    }

    /// Evaluates a file form by form, each form read just before it runs. With
    /// `keep_going`, an evaluation error is reported on stderr and the next form is
    /// evaluated (as a livecoder would), and a read error is reported and ends the
    /// file (what follows an unbalanced parenthesis cannot be trusted); otherwise
    /// evaluation stops at the first error, which is returned. An interrupt and a
    /// request to exit ([`Session::exit_requested`]) stop it either way, returned. The
    /// forms before an error have run. Returns how many forms failed.
    pub fn eval_file(&mut self, path: &Path, keep_going: bool) -> Result<usize, Error> {
        let name = path.display().to_string();
        let src = std::fs::read_to_string(path)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot read {name}: {e}")))?;
        let mut failed = 0;
        for form in Interp::forms(&src, &name) {
            let result = form.and_then(|form| self.interp.eval_datum(&form));
            self.flush();
            if let Err(e) = result {
                note_exit(&mut self.state.borrow_mut(), &e, None);
                if !keep_going || !e.kind.is_catchable() {
                    return Err(e);
                }
                eprintln!("{}", crate::diagnostic::report(&e, Some(&src)));
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// Sends text printed on the audio thread to `printer` instead of stdout (the
    /// REPL prints it above the line being edited).
    pub fn set_printer(&mut self, printer: impl Fn(&str) + 'static) {
        self.state.borrow_mut().printer = Rc::new(printer);
    }

    /// From now on keeps every problem reported (DSP faults, callback errors), for
    /// [`Session::take_problems`].
    pub fn keep_problems(&mut self) {
        self.state
            .borrow_mut()
            .problems
            .get_or_insert_with(Vec::new);
    }

    /// The problems reported since the last call (see [`Session::keep_problems`]).
    pub fn take_problems(&mut self) -> Vec<String> {
        self.state
            .borrow_mut()
            .problems
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Problems reported on stderr (callback errors, DSP faults) since the last call.
    pub fn take_failures(&mut self) -> usize {
        std::mem::take(&mut self.state.borrow_mut().failures)
    }

    /// Sends what the last evaluation produced to the audio thread: its swap batch,
    /// then a new entry point, then timed events, in that order.
    pub fn flush(&mut self) {
        flush_state(&mut self.state.borrow_mut());
    }

    /// Frees what the audio thread gave back and reports its faults and messages.
    pub fn poll(&mut self) {
        let mut st = self.state.borrow_mut();
        poll_state(&mut st);
    }

    /// A handle on this session for native procedures that drive it while it
    /// evaluates (they are given the interpreter as their first argument).
    pub(crate) fn handle(&self) -> SessionHandle {
        SessionHandle(self.state.clone())
    }

    /// Lets MIDI and OSC input wake the live control loop that serves `requests`,
    /// with an input latency fit for buffers of `buffer_frames` ([`crate::io`]).
    pub fn connect_io(&self, requests: Sender<crate::request::Request>, buffer_frames: u32) {
        if let Some(io) = &self.io {
            io.connect(requests, buffer_frames);
        }
    }

    /// The interpreter, to register procedures and macros and to redirect output.
    pub fn interp_mut(&mut self) -> &mut Interp {
        &mut self.interp
    }

    /// Sends text DSP code prints on the control thread to `w` instead of stdout.
    pub(crate) fn set_dsp_output(&mut self, w: Box<dyn std::io::Write + Send>) {
        self.state.borrow_mut().dsp.set_output(w);
    }

    /// The sample time of the earliest scheduled callback.
    pub fn next_callback(&self) -> Option<i64> {
        self.state.borrow().scheduler.next_time()
    }

    pub fn pending_callbacks(&self) -> usize {
        self.state.borrow().scheduler.len()
    }

    /// Runs, in time order, every callback due before `limit`, each as its own
    /// evaluation with `(now)` reading its scheduled time. Returns how many ran.
    pub fn run_callbacks_before(&mut self, limit: i64) -> usize {
        let mut ran = 0;
        loop {
            let next = self.state.borrow_mut().scheduler.pop_before(limit);
            let Some(cb) = next else { break };
            run_callback(&mut self.interp, &self.state, cb);
            ran += 1;
        }
        ran
    }

    fn register(&mut self) {
        for head in [
            "bind-func",
            "bind-val",
            "bind-type",
            "bind-alias",
            "bind-poly",
        ] {
            let state = self.state.clone();
            self.interp
                .register_special_form(head, move |interp, form| define(interp, &state, form));
        }
        crate::xtmacro::register(&mut self.interp);
        let state = self.state.clone();
        self.interp
            .register_special_form("dsp:set!", move |interp, form| {
                set_entry(interp, &state, form)
            });
        for head in ["call-as-xtlang", "$", "xtmX", "$$", "call-as-xtlang-leaky"] {
            let state = self.state.clone();
            self.interp
                .register_special_form(head, move |interp, form| {
                    call_as_xtlang(interp, &state, form)
                });
        }
        let state = self.state.clone();
        self.interp.register_native("now", move |interp, _args| {
            let st = state.borrow();
            let now = st
                .callback_time
                .unwrap_or_else(|| st.stats.clock.load(Ordering::Acquire));
            Ok(interp.int(now))
        });
        let state = self.state.clone();
        self.interp
            .register_native("xtc:cache:polyfunc-pretty-print", move |interp, args| {
                polyfunc_pretty_print(interp, &state, args)
            });
        let state = self.state.clone();
        self.interp
            .register_native("callback", move |interp, args| {
                schedule(interp, &state, args)
            });
        let state = self.state.clone();
        self.interp
            .register_reentrant_native("sys:load", move |interp, args| {
                sys_load(interp, &state, args)
            });
        let state = self.state.clone();
        self.interp
            .register_native("sys:load-preload-check", move |interp, args| {
                preload_check(interp, &state, args)
            });
        crate::samples::register(&mut self.interp, self.state.borrow().dsp.arena());
        crate::dylib::register(&mut self.interp, &SessionHandle(self.state.clone()));
        let channels = self.state.borrow().channels as i64;
        let v = self.interp.int(channels);
        self.interp.define("*channels*", v);
        let rate = i64::from(self.state.borrow().sample_rate);
        for (name, samples) in [
            ("*samplerate*", rate),
            ("*second*", rate),
            ("*minute*", rate * 60),
            ("*hour*", rate * 3600),
        ] {
            let v = self.interp.int(samples);
            self.interp.define(name, v);
        }
        let swaps = self.state.borrow().swaps.clone();
        crate::fade::register(&mut self.interp, &swaps);
        let stats = self.state.borrow().stats.clone();
        let rate = self.state.borrow().sample_rate;
        self.io = Some(crate::io::register(&mut self.interp, stats, rate));
        let state = self.state.clone();
        let (stats, rate, channels) = {
            let st = self.state.borrow();
            (st.stats.clone(), st.sample_rate, st.channels)
        };
        crate::load_meter::register(
            &mut self.interp,
            stats,
            rate,
            channels,
            Rc::new(move |slot| state.try_borrow().ok()?.dsp.closure_name(slot)),
        );
        // Extempore's runtime procedures, `make-metro` and `*metro*`, in every session
        for (text, name) in [(RUNTIME, "runtime.scm"), (METRO, "metro.scm")] {
            if let Err(e) = self.interp.eval_str(text, name) {
                eprintln!("{}", crate::diagnostic::report(&e, Some(text)));
            }
        }
    }
}

/// `(xtc:cache:polyfunc-pretty-print "name")`: prints each definition of the bind-func
/// `name`, one `name:TYPE` a line (Extempore's way to see a name's overloads).
fn polyfunc_pretty_print(
    interp: &mut Interp,
    state: &Rc<RefCell<State>>,
    args: &[Value],
) -> Result<Value, Error> {
    let usage =
        "xtc:cache:polyfunc-pretty-print takes the name of a bind-func, as a string or a symbol";
    let [v] = args else {
        return Err(Error::new(ErrorKind::Native, usage));
    };
    let name = interp
        .as_string(*v)
        .or_else(|| interp.as_symbol(*v))
        .ok_or_else(|| Error::new(ErrorKind::Native, usage))?;
    let defs = state.borrow().dsp.definitions(&name);
    let text = if defs.is_empty() {
        format!("{name} has no xtlang definition\n")
    } else {
        defs.iter().map(|t| format!("{name}:{t}\n")).collect()
    };
    display(interp, &text)
}

/// Prints `text` through Scheme's `display` (so the REPL and editors get it as any other
/// output) and gives the unspecified value, for native procedures that print.
pub(crate) fn display(interp: &mut Interp, text: &str) -> Result<Value, Error> {
    let text = interp.string(text);
    let display = interp
        .lookup("display")
        .ok_or_else(|| Error::new(ErrorKind::Native, "display is not defined"))?;
    interp.apply(display, &[text])?;
    Ok(interp.unspecified())
}

/// The beat clock's Scheme ([`Session`] evaluates it at start).
const METRO: &str = include_str!("metro.scm");

/// Extempore's runtime list and clock procedures ([`Session`] evaluates them at start).
const RUNTIME: &str = include_str!("runtime.scm");

/// A session seen from a native procedure running inside one of its evaluations.
#[derive(Clone)]
pub(crate) struct SessionHandle(Rc<RefCell<State>>);

impl SessionHandle {
    /// [`Session::flush`].
    pub(crate) fn flush(&self) {
        flush_state(&mut self.0.borrow_mut());
    }

    /// [`Session::stats`].
    pub(crate) fn stats(&self) -> Arc<AudioStats> {
        self.0.borrow().stats.clone()
    }

    /// [`Session::poll`].
    pub(crate) fn poll(&self) {
        poll_state(&mut self.0.borrow_mut());
    }

    /// `bind-lib`'s last step (see [`crate::dylib`]): C function `name` of type `ty` at
    /// `addr` becomes callable from xtlang and, as a bind-func, from Scheme.
    ///
    /// # Safety
    /// As [`Dsp::bind_c_function`]: `addr` is a C function of `ty`'s signature, callable for
    /// the rest of the process's life.
    pub(crate) unsafe fn bind_c_function(
        &self,
        interp: &mut Interp,
        name: &str,
        ty: &str,
        addr: u64,
    ) -> Result<Value, Error> {
        // SAFETY: the caller's promise, passed on.
        let defined = unsafe { self.0.borrow_mut().dsp.bind_c_function(name, ty, addr) };
        let defined = defined.map_err(dsp_error)?;
        register_closure(interp, &self.0, &defined.name);
        Ok(interp.symbol(&defined.name))
    }

    /// `bind-lib-val`'s last step: the C global `name` of number type `ty` at `addr`
    /// becomes an xtlang global.
    ///
    /// # Safety
    /// As [`Dsp::bind_c_value`]: `addr` is a C global of `ty`, there for the rest of the
    /// process's life.
    pub(crate) unsafe fn bind_c_value(
        &self,
        interp: &mut Interp,
        name: &str,
        ty: &str,
        addr: u64,
    ) -> Result<Value, Error> {
        // SAFETY: the caller's promise, passed on.
        let defined = unsafe { self.0.borrow_mut().dsp.bind_c_value(name, ty, addr) };
        let defined = defined.map_err(dsp_error)?;
        Ok(interp.symbol(&defined.name))
    }

    /// [`Session::run_callbacks_before`], with the interpreter the caller was given.
    pub(crate) fn run_callbacks_before(&self, interp: &mut Interp, limit: i64) -> usize {
        let mut ran = 0;
        loop {
            let next = self.0.borrow_mut().scheduler.pop_before(limit);
            let Some(cb) = next else { break };
            run_callback(interp, &self.0, cb);
            ran += 1;
        }
        ran
    }
}

/// [`Session::flush`], for a session's state.
fn flush_state(st: &mut State) {
    let batch = st.dsp.take_swap();
    let route = st.route.take();
    let lanes = match route {
        Some(Route::Lanes(r)) => new_lanes(st, r.count),
        _ => Vec::new(),
    };
    let events = std::mem::take(&mut st.events);
    let timing = batch.as_ref().map(|_| st.swaps.borrow_mut().take());
    let batch = batch.map(|mut b| {
        if timing.is_some_and(|t| t.fresh) {
            b.start_fresh();
        }
        b
    });
    match &mut st.link {
        AudioLink::Local(local) => {
            if let Some(mut batch) = batch {
                if local.is_none() {
                    match st.dsp.audio_ctx() {
                        Ok(ctx) => *local = Some(ctx),
                        Err(e) => {
                            // Without a context the batch cannot be applied; keeping
                            // it unapplied keeps its closures alive.
                            eprintln!("{e}");
                            st.failures += 1;
                            std::mem::forget(batch);
                            return;
                        }
                    }
                }
                if let Some(ctx) = local {
                    ctx.apply(&mut batch);
                    st.dsp.retire(batch);
                }
            }
        }
        AudioLink::Rings(_) => {
            let commands = batch
                .zip(timing)
                .map(|(batch, timing)| Command::Swap { batch, timing })
                .into_iter()
                .chain(lanes.into_iter().map(|l| Command::AddLane(Box::new(l))))
                .chain(route.map(|r| match r {
                    Route::Single(e) => Command::SetEntry(e),
                    Route::Lanes(r) => Command::SetRouting(r),
                }))
                .chain(
                    events
                        .into_iter()
                        .map(|(time, call)| Command::Event { time, call }),
                );
            for cmd in commands {
                send(st, cmd);
            }
        }
    }
}

/// Runs one callback as its own evaluation, `(now)` reading its scheduled time.
fn run_callback(interp: &mut Interp, state: &Rc<RefCell<State>>, cb: Callback) {
    if cb.zero_time_chain.get() == STOPPED_CHAIN {
        // Part of a zero-time loop that was stopped (and reported) already.
        interp.unroot(cb.target);
        for r in cb.args {
            interp.unroot(r);
        }
        return;
    }
    {
        let mut st = state.borrow_mut();
        st.callback_time = Some(cb.time);
        st.zero_time_chain = Some(cb.zero_time_chain.clone());
        st.notices = cb.notices.clone();
    }
    let target = interp.rooted(&cb.target);
    let name = callback_name(interp, target);
    let args: Vec<Value> = cb.args.iter().map(|r| interp.rooted(r)).collect();
    let result = match interp.as_symbol(target) {
        Some(name) => match interp.lookup(&name) {
            Some(f) => interp.apply(f, &args),
            None => Err(Error::new(
                ErrorKind::Unbound,
                format!("callback to `{name}`, which is not defined"),
            )),
        },
        None => interp.apply(target, &args),
    };
    interp.unroot(cb.target);
    for r in cb.args {
        interp.unroot(r);
    }
    {
        let mut st = state.borrow_mut();
        st.callback_time = None;
        st.zero_time_chain = None;
        st.notices = None;
    }
    flush_state(&mut state.borrow_mut());
    if let Err(e) = result {
        if note_exit(&mut state.borrow_mut(), &e, Some(cb.time)) {
            return;
        }
        let message = format!(
            "error in callback {name} at sample {}: {}",
            cb.time,
            crate::diagnostic::report(&e, None)
        );
        eprintln!("{message}");
        let mut st = state.borrow_mut();
        if let Some(p) = &mut st.problems {
            p.push(message.clone());
        }
        if let Some(notices) = &cb.notices {
            // A connection that is gone or far behind still has the log.
            let _ = notices.try_send(message);
        }
        st.failures += 1;
    }
}

/// Records in `st` a request to end the program (`e` is [`ErrorKind::Exit`]), made by
/// the callback due `at` if any: true when `e` is one. The first request wins.
fn note_exit(st: &mut State, e: &Error, at: Option<i64>) -> bool {
    match e.kind {
        ErrorKind::Exit(status) => {
            st.exit.get_or_insert((status, at));
            true
        }
        _ => false,
    }
}

/// Pushes a command, waiting (on the control thread) while the ring is full.
fn send(st: &mut State, mut cmd: Command) {
    loop {
        let AudioLink::Rings(ends) = &mut st.link else {
            return;
        };
        match ends.commands.push(cmd) {
            Ok(()) => return,
            Err(rtrb::PushError::Full(back)) => {
                cmd = back;
                poll_state(st);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

fn poll_state(st: &mut State) {
    loop {
        let returned = match &mut st.link {
            AudioLink::Rings(ends) => ends.returned.pop().ok(),
            AudioLink::Local(_) => None,
        };
        let Some(returned) = returned else { break };
        match returned {
            Returned::Retired(batch) => st.dsp.retire(batch),
            Returned::EntryFault {
                fault,
                time,
                fell_back,
            } => {
                let consequence = match fell_back {
                    Some(r) => {
                        st.dsp.fell_back(r);
                        "playing its previous version"
                    }
                    None => "the DSP entry was stopped until the next definition",
                };
                report_fault(st, fault, time, consequence);
            }
            Returned::EventFault { fault, time } => {
                report_fault(st, fault, time, "the event was skipped");
            }
            Returned::LaneFault { fault, time, lane } => {
                let name = st
                    .route_names
                    .iter()
                    .filter(|n| st.dsp.entry(n).is_ok_and(|e| !e.is_mixer()))
                    .nth(lane)
                    .cloned()
                    .unwrap_or_else(|| format!("lane {lane}"));
                let consequence =
                    format!("{name} (lane {lane}) is silent until the next definition or dsp:set!");
                report_fault(st, fault, time, &consequence);
            }
            Returned::SpareLane(lane) => {
                st.lanes_sent -= 1;
                drop(lane);
            }
            Returned::FadeOver(out) => st.dsp.fade_over(out),
        }
    }
    st.dsp.reclaim();
    let printer = st.printer.clone();
    st.dsp.drain_messages(|text| printer(text));
}

fn print_stdout(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    // Nowhere left to report a closed stdout to.
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Reports a fault on stderr, to the editor that defined what faulted, and to the
/// problem log, and counts it.
fn report_fault(st: &mut State, fault: Fault, time: i64, consequence: &str) {
    let message = format!(
        "{} (at sample {time}); {consequence}",
        st.dsp.describe_fault(fault)
    );
    eprintln!("{message}");
    if let Some(notices) = &st.fault_notices
        && notices.try_send(message.clone()).is_err()
    {
        // the connection is gone (or far behind): stderr has it
        st.fault_notices = None;
    }
    if let Some(p) = &mut st.problems {
        p.push(message);
    }
    st.failures += 1;
}

/// A DSP compiler error as a Scheme error of the matching kind, at the same place.
fn dsp_error(e: DspError) -> Error {
    let kind = match e.kind {
        DspErrorKind::Syntax => ErrorKind::Syntax,
        DspErrorKind::Type | DspErrorKind::Call => ErrorKind::Type,
        DspErrorKind::Unbound => ErrorKind::Unbound,
        DspErrorKind::Zone | DspErrorKind::Alloc | DspErrorKind::Fault | DspErrorKind::Internal => {
            ErrorKind::Native
        }
    };
    let mut err = Error::new(kind, e.message.clone());
    if let Some(span) = &e.span {
        err = err.at(zonal_scheme::Pos {
            file: span.file.clone(),
            line: span.line,
            col: span.col,
        });
    }
    err
}

/// The library Extempore loads at start-up; zonal loads it at the first definition that
/// needs it.
const BASE_LIBRARY: &str = "libs/base/base.xtm";

/// `bind-func`, `bind-val`, `bind-type`, `bind-alias`: compile, then make compiled
/// functions callable from Scheme under their name.
fn define(interp: &mut Interp, state: &Rc<RefCell<State>>, form: &Datum) -> Result<Value, Error> {
    if let Some((plain, name, init)) = computed_val(form) {
        return bind_val_computed(interp, state, &plain, &name, init);
    }
    let sexp = |interp: &mut Interp| {
        let expanded = crate::xtmacro::expand(interp, form)?;
        to_sexp(&crate::convert::without_type_options(&expanded)).map_err(|e| {
            let err = Error::new(ErrorKind::Syntax, e.message);
            match e.pos {
                Some(pos) => err.at(pos),
                None => err,
            }
        })
    };
    let converted = sexp(interp)?;
    let first = state.borrow_mut().dsp.define(&converted);
    let defined = match first {
        // Extempore has its base library (SRf, STWOPI, random, clamp, its xtlang macros...)
        // in every session; zonal loads it when a definition first names something it
        // does not know
        Err(e)
            if e.kind == DspErrorKind::Unbound
                && interp.lookup("*xtmlib-base-loaded*").is_none() =>
        {
            let path = interp.string(BASE_LIBRARY);
            sys_load(interp, state, &[path])?;
            let again = sexp(interp)?;
            state.borrow_mut().dsp.define(&again)
        }
        other => other,
    }
    .map_err(dsp_error)?;
    {
        let mut st = state.borrow_mut();
        collect_scheduled(&mut st);
        if st.notices.is_some() {
            st.fault_notices = st.notices.clone();
        }
        let names = st.route_names.clone();
        if names.contains(&defined.name)
            && let Ok(route) = resolve_route(&mut st.dsp, &names)
        {
            st.route = Some(route);
        }
    }
    if matches!(defined.kind, zonal_dsp::DefinedKind::Func) {
        register_closure(interp, state, &defined.name);
    }
    Ok(interp.symbol(&defined.name))
}

/// The Scheme procedures of bind-func `name`: `name` itself, which calls it, and
/// `name.var` (also with `:TYPE`) for each of its closure's variables.
fn register_closure(interp: &mut Interp, state: &Rc<RefCell<State>>, name: &str) {
    let vars = state.borrow().dsp.closure_vars(name).unwrap_or_default();
    let (st, called) = (state.clone(), name.to_string());
    interp.register_native(name, move |interp, args| {
        call_dsp(interp, &st, &called, args)
    });
    // `closure.var`, and `closure.var:TYPE` for its own type and the scalar types, so
    // that a wrong type gets a type error rather than "unbound variable".
    let scalars = ["i1", "i8", "i16", "i32", "i64", "float", "double", "i8*"];
    for (var, ty) in vars {
        let own = ty.to_string();
        let others = scalars
            .iter()
            .filter(|t| **t != own)
            .map(|t| Some(t.to_string()));
        for typed in [None, Some(own.clone())].into_iter().chain(others) {
            let (closure, var, state) = (name.to_string(), var.clone(), state.clone());
            let symbol = match &typed {
                Some(t) => format!("{closure}.{var}:{t}"),
                None => format!("{closure}.{var}"),
            };
            interp.register_native(&symbol, move |interp, args| {
                closure_var(interp, &state, &closure, &var, typed.as_deref(), args)
            });
        }
    }
}

/// `(closure.var)` and `(closure.var value)` (also with `:TYPE`) from Scheme: reads or
/// sets a captured variable of a bind-func'd closure; setting returns the value.
fn closure_var(
    interp: &mut Interp,
    state: &Rc<RefCell<State>>,
    closure: &str,
    var: &str,
    ty: Option<&str>,
    args: &[Value],
) -> Result<Value, Error> {
    let name = format!("{closure}.{var}");
    let mut st = state.borrow_mut();
    st.dsp.compile(closure).map_err(dsp_error)?;
    match args {
        [] => {
            let v = st.dsp.get_var(closure, var, ty).map_err(dsp_error)?;
            drop(st);
            Ok(from_dsp_value(interp, v))
        }
        [v] => {
            let vars = st.dsp.closure_vars(closure).unwrap_or_default();
            let Some((_, vt)) = vars.iter().find(|(n, _)| n == var) else {
                // No such variable (any more): reading it says so.
                st.dsp.get_var(closure, var, ty).map_err(dsp_error)?;
                return Ok(interp.unspecified());
            };
            let value = to_dsp_value(interp, &name, 0, &vt.to_string(), *v)?;
            st.dsp
                .set_var(closure, var, ty, &value)
                .map_err(dsp_error)?;
            Ok(*v)
        }
        _ => Err(Error::new(
            ErrorKind::Arity,
            format!(
                "{name} takes no argument (to read it) or one (to set it), got {}",
                args.len()
            ),
        )),
    }
}

/// `(callback TIME fn args...)`: run `fn` (a procedure, or a symbol looked up when
/// the callback runs) at sample time `TIME`.
fn schedule(
    interp: &mut Interp,
    state: &Rc<RefCell<State>>,
    args: &[Value],
) -> Result<Value, Error> {
    if args.len() < 2 {
        return Err(Error::new(
            ErrorKind::Arity,
            "callback takes a time, a function and its arguments: (callback (+ (now) 4800) 'f 1 2)",
        ));
    }
    let time = match (interp.as_int(args[0]), interp.as_f64(args[0])) {
        (Some(t), _) => t,
        (None, Some(t)) if t.is_finite() => t.round() as i64,
        _ => {
            return Err(Error::new(
                ErrorKind::Type,
                "callback's time must be a sample time (a number)",
            )
            .with_irritants(vec![interp.write_string(args[0])]));
        }
    };
    let target = args[1];
    if interp.as_symbol(target).is_none() && !interp.is_procedure(target) {
        return Err(Error::new(
            ErrorKind::Type,
            "callback's second argument must be a procedure or the symbol naming one",
        )
        .with_irritants(vec![interp.write_string(target)]));
    }
    let zero_time_chain = {
        let st = state.borrow();
        match (st.callback_time, &st.zero_time_chain) {
            (Some(running), Some(chain)) if time <= running => {
                if chain.get() >= ZERO_TIME_CALLBACKS {
                    chain.set(STOPPED_CHAIN);
                    return Err(Error::new(
                        ErrorKind::Native,
                        format!(
                            "callback to {} stopped: time does not advance ({ZERO_TIME_CALLBACKS} \
                             callbacks in a row were scheduled at or before the sample they ran \
                             at, {running}); schedule the next call later, as in \
                             (callback (+ (now) 4800) 'f)",
                            callback_name(interp, target)
                        ),
                    ));
                }
                chain.set(chain.get() + 1);
                chain.clone()
            }
            _ => Rc::default(),
        }
    };
    let notices = state.borrow().notices.clone();
    let target = interp.root(target);
    let rest = args[2..].iter().map(|v| interp.root(*v)).collect();
    state.borrow_mut().scheduler.schedule(Callback {
        time,
        target,
        args: rest,
        zero_time_chain,
        notices,
    });
    Ok(interp.unspecified())
}

/// The count of a zero-time chain that was stopped: its callbacks still queued are
/// dropped without running.
const STOPPED_CHAIN: u32 = u32::MAX;

/// How messages name a callback's target: `` `f` `` for a symbol or a named procedure.
fn callback_name(interp: &Interp, target: Value) -> String {
    match interp.as_symbol(target) {
        Some(name) => format!("`{name}`"),
        None => interp.write_string(target),
    }
}
