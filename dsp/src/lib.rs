//! zonal's DSP language: xtlang-compatible typed closures compiled to native code.
//!
//! Syntax → types → IR → native code (Cranelift), and the runtime that compiled code
//! calls: the arena, zones, the real-time heap and the message sink. This crate knows
//! nothing of Scheme values or audio devices.
//!
//! The pipeline reads in order: [`sexp`] (input data and a reader) → [`syntax`] (forms to
//! a numbered tree) → [`types`] → [`infer`] (unification) → [`lower`] (Cranelift IR) →
//! [`jit`] (one module per definition) → [`registry`] (slots, code table, generations,
//! swaps) → [`interop`] (calls from Rust, DSP entries, the audio context); [`compile`]
//! drives one definition through it. [`Dsp`] is the control thread's side.
//!
//! Contract: every access compiled code makes is checked against its own allocation (in
//! bounds and still alive) in the one arena per [`Dsp`] — unless checks were turned off
//! with the `unsafe` [`Checks::off`]; calls jump only through the code table, or to a C
//! function the `unsafe` [`Dsp::bind_c_function`] bound (whose pointer arguments are
//! checked at the call, and nothing past it: see [`foreign`]); a fault stops the closure
//! and comes back as an error, never a crash. The compiler's internals
//! (registry, lowering, native code, the runtime context and ABI) are private: their
//! invariants are what makes compiled code safe to run. [`AudioCtx`] never
//! allocates, locks or prints. Code still installed when the [`Dsp`] is dropped stays
//! alive until the last [`AudioCtx`] is dropped (which then frees it).

mod builtin;
mod carry;
mod compile;
pub mod error;
pub mod foreign;
mod generic;
mod infer;
mod interop;
mod jit;
mod lanes;
mod lazy;
mod lower;
mod mono;
mod registry;
pub mod runtime;
pub mod sexp;
mod syntax;
pub mod types;

pub use error::{DspError, DspErrorKind};
pub use interop::{
    AudioCtx, DspValue, Entry, Fault, MAX_PREPARED_ARGS, PREPARED_TEXT, PreparedCall, Revert,
};
pub use lanes::{MAX_LANES, SlotTable};
pub use lazy::CompileCounts;
pub use registry::{LiveCounts, Outgoing, SwapBatch};
pub use runtime::scheduled::MAX_SCHEDULED;
pub use sexp::{Sexp, SexpKind, Span, parse};
pub use types::{FnSig, Type};

use compile::Compiler;
use error::Result;
use interop::{EntryKind, IO_SAMPLES, Tramp};
use jit::{CodeKeeper, Jit};
use lower::Consts;
use registry::Registry;
use runtime::{Arena, ArenaBlock, AudioConfig, ControlConfig, Ctx, Zone};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use types::TypeNames;

/// Whether compiled code checks its loads and stores against their allocations. Safe code
/// can only have them on ([`Checks::on`], the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checks(bool);

impl Checks {
    /// Every load and store is checked (the default).
    pub const fn on() -> Checks {
        Checks(true)
    }

    /// No load or store is checked: compiled code dereferences whatever address it computes.
    ///
    /// # Safety
    /// Every program compiled by a [`Dsp`] made with this must only read and write memory
    /// it allocated, within bounds and while it is alive: a wrong index or a stale pointer
    /// then reads or writes any memory of the process. For measuring what the checks cost
    /// on known-good code, never for code a livecoder types.
    pub const unsafe fn off() -> Checks {
        Checks(false)
    }

    /// True when checks are on.
    pub const fn enabled(self) -> bool {
        self.0
    }
}

impl Default for Checks {
    fn default() -> Checks {
        Checks::on()
    }
}

/// Sizes and switches of a [`Dsp`].
#[derive(Clone, Debug)]
pub struct DspConfig {
    /// Check every load and store of compiled code against its allocation (default on;
    /// off only through the `unsafe` [`Checks::off`]).
    pub checks: Checks,
    /// A bind-func's closure zone when it gives no size (8192, as Extempore).
    pub default_closure_zone: usize,
    pub audio_zone_bytes: usize,
    pub audio_reserve_bytes: usize,
    /// The control thread's `halloc` heap (where a sampler keeps the files it loads):
    /// reserved, committed as it is used.
    pub control_heap_bytes: usize,
    /// Each audio context's `halloc` heap (the audio thread's and each lane's).
    pub audio_heap_bytes: usize,
    /// The arena: all memory DSP code can address (reserved, committed when touched).
    pub arena_bytes: usize,
    pub message_ring_bytes: usize,
    /// Commit the memory of every audio context ([`Dsp::audio_ctx`], [`Dsp::audio_lane`])
    /// when it is made, so a device's audio thread never takes a page fault (default on).
    /// Off for an offline render: its pages are committed as they are first used.
    pub commit_audio_memory: bool,
    /// Compile a bind-func's native code at its first use rather than at its definition
    /// (see [`lazy`]; the engine's setting, off by default). Off, every definition is
    /// compiled at once, so an [`AudioCtx`] made before it gets it with the next swap.
    pub lazy: bool,
}

impl Default for DspConfig {
    fn default() -> Self {
        DspConfig {
            checks: Checks::on(),
            default_closure_zone: 8192,
            audio_zone_bytes: 256 << 10,
            audio_reserve_bytes: 4 << 20,
            control_heap_bytes: 512 << 20,
            audio_heap_bytes: 8 << 20,
            arena_bytes: 4 << 30,
            message_ring_bytes: 64 << 10,
            commit_audio_memory: true,
            lazy: false,
        }
    }
}

/// What a definition defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefinedKind {
    Func,
    Val,
    Type,
    Alias,
    /// `bind-poly`: a name given one more definition.
    Poly,
    /// A generic `bind-func` (a template: compiled at each type it is called with, never
    /// callable by its own name from outside DSP code).
    Generic,
}

/// The result of [`Dsp::define`].
#[derive(Clone, Debug)]
pub struct Defined {
    pub name: String,
    pub kind: DefinedKind,
    /// The type, in xtlang syntax.
    pub signature: String,
    /// Warnings (zone full, `salloc` memory returned...), also written to the warnings writer.
    pub warnings: Vec<String>,
}

/// A writer shared between the control context and the compiler.
#[derive(Clone)]
struct SharedWriter(Arc<Mutex<Box<dyn Write + Send>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut w) => w.write(buf),
            Err(_) => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut w) => w.flush(),
            Err(_) => Ok(()),
        }
    }
}

/// The control thread's side: compiler, registry of definitions, control context, owner of
/// the arena and of all compiled code.
pub struct Dsp {
    cfg: DspConfig,
    arena: Arc<Arena>,
    ctx: Box<Ctx>,
    reg: Registry,
    names: TypeNames,
    generics: generic::Generics,
    jit: Jit,
    consts: Consts,
    tramps: compile::Tramps,
    warnings: SharedWriter,
    strings: Zone,
    interrupt: Arc<AtomicBool>,
    /// Shared with every audio context: receives the live code when the `Dsp` is dropped.
    keeper: Arc<CodeKeeper>,
    /// Shared with every audio context: receives the memory that code may still use (closure
    /// zones, string literals, globals) when the `Dsp` is dropped, so it stays alive (and
    /// tagged) as long as the code does.
    zone_keeper: Arc<Mutex<Vec<Zone>>>,
}

impl Drop for Dsp {
    fn drop(&mut self) {
        let live = self.reg.take_code();
        let tramps = std::mem::take(&mut self.tramps.code);
        self.keeper.keep(live.into_iter().chain(tramps));
        let zones = self.reg.take_zones();
        if let Ok(mut kept) = self.zone_keeper.lock() {
            kept.extend(zones);
        }
    }
}

fn err(kind: DspErrorKind, message: impl Into<String>) -> DspError {
    DspError::new(kind, message, None)
}

impl Dsp {
    pub fn new(cfg: DspConfig) -> Result<Dsp> {
        let arena =
            Arena::new(cfg.arena_bytes).map_err(|e| err(DspErrorKind::Alloc, e.to_string()))?;
        let mut ctx = Box::new(
            Ctx::control(
                &arena,
                &ControlConfig {
                    heap_bytes: cfg.control_heap_bytes as u64,
                    ..ControlConfig::default()
                },
            )
            .map_err(|e| err(DspErrorKind::Alloc, e.to_string()))?,
        );
        let warnings = SharedWriter(Arc::new(Mutex::new(Box::new(std::io::stderr()))));
        ctx.set_warnings(Box::new(warnings.clone()));
        let mut reg = Registry::default();
        let interrupt = Arc::new(AtomicBool::new(false));
        reg.slots[registry::INTERRUPT_SLOT] = Arc::as_ptr(&interrupt) as u64;
        ctx.slots = reg.slots.as_ptr();
        let jit = Jit::new()?;
        let consts = Consts {
            arena_base: arena.base(),
            arena_len: arena.len(),
            shadow_base: arena.base().wrapping_add(arena.shadow_delta()),
            checks: cfg.checks.enabled(),
            code_table: reg.code.base(),
            call_conv: jit.call_conv(),
            frontend: jit.frontend(),
            fma: jit.has_fma(),
            wide_math: jit.has_fma().then(runtime::wide_math::kernels).flatten(),
        };
        let strings = Zone::new(&arena, 4096, "call arguments")
            .map_err(|e| err(DspErrorKind::Alloc, e.to_string()))?;
        let mut dsp = Dsp {
            cfg,
            arena,
            ctx,
            reg,
            names: TypeNames::default(),
            generics: generic::Generics::default(),
            jit,
            consts,
            tramps: compile::Tramps::default(),
            warnings,
            strings,
            interrupt,
            keeper: Arc::default(),
            zone_keeper: Arc::default(),
        };
        for g in ["(bind-val FRAMES i64 0)", "(bind-val CHANNELS i64 0)"] {
            for f in parse(g, "zonal")? {
                dsp.define(&f)?;
            }
        }
        Ok(dsp)
    }

    /// True for the heads of forms [`Dsp::define`] takes.
    pub fn is_definition(head: &str) -> bool {
        matches!(
            head,
            "bind-func" | "bind-val" | "bind-type" | "bind-alias" | "bind-poly"
        )
    }

    /// Compiles and installs a definition on the control side at once; what it defines for
    /// the audio side joins the pending swap batch. A `bind-func` of a name `bind-lib`
    /// bound to a C function replaces the C function (see [`foreign`]).
    pub fn define(&mut self, form: &Sexp) -> Result<Defined> {
        let bound_c = (form.head() == Some("bind-func"))
            .then(|| form.list()?.get(1)?.sym())
            .flatten()
            .map(|n| n.split(':').next().unwrap_or(n).to_string())
            .filter(|n| self.reg.c_functions.get(n).is_some());
        match bound_c {
            Some(name) => self.replacing_c_function(&name, |dsp| dsp.define_form(form)),
            None => self.define_form(form),
        }
    }

    fn define_form(&mut self, form: &Sexp) -> Result<Defined> {
        let Some(items) = form.list() else {
            return error::syntax(format!("`{form}` is not a definition"), form.span.as_ref());
        };
        let head = form.head().unwrap_or("");
        let (out, kind) = self.with_compiler(|c| {
            Ok(match head {
                "bind-func" => (c.bind_func(form, items)?, DefinedKind::Func),
                "bind-val" => (c.bind_val(form, items)?, DefinedKind::Val),
                "bind-type" => (c.bind_type(form, items)?, DefinedKind::Type),
                "bind-alias" => (c.bind_type(form, items)?, DefinedKind::Alias),
                "bind-poly" => (c.bind_poly(form, items)?, DefinedKind::Poly),
                _ => {
                    return error::syntax(
                        format!("`{form}` is not a definition"),
                        form.span.as_ref(),
                    );
                }
            })
        })?;
        let generic = kind == DefinedKind::Func
            && self
                .reg
                .funcs
                .get(&out.name)
                .is_none_or(|f| f.ty.to_string() != out.signature);
        let kind = if generic { DefinedKind::Generic } else { kind };
        if kind == DefinedKind::Func
            && self.reg.pending_id(&out.name).is_none()
            && let Some(f) = self.reg.funcs.get(&out.name)
        {
            let ty = f.ty.clone();
            // one with a tuple, array or vector value in its signature cannot be called
            // from Scheme: the call says so
            let by_value = match &ty {
                Type::Closure(r, ps) => r.is_aggregate() || ps.iter().any(Type::is_aggregate),
                _ => false,
            };
            if !by_value {
                self.tramp(&ty)?;
            }
        }
        Ok(Defined {
            name: out.name,
            kind,
            signature: out.signature,
            warnings: out.warnings,
        })
    }

    /// Compiles bind-func `name` (and the definitions it needs) if it waits for its
    /// first use (see [`lazy`]): before [`Dsp::entry`] or [`Dsp::get_var`] name it.
    /// Calls ([`Dsp::call`], [`Dsp::prepare_call`]) and [`Dsp::set_var`] compile what they
    /// name themselves.
    pub fn compile(&mut self, name: &str) -> Result<()> {
        let Some(id) = self.reg.pending_id(name) else {
            return Ok(());
        };
        self.realize(id)
    }

    fn realize(&mut self, id: usize) -> Result<()> {
        self.with_compiler(|c| c.realize(id))
    }

    /// Runs `run` with a [`Compiler`] over this instance's state, its warnings going to
    /// the context's warning writer.
    fn with_compiler<R>(&mut self, run: impl FnOnce(&mut Compiler) -> Result<R>) -> Result<R> {
        let mut w = self.warnings.clone();
        let mut warn = |s: &str| {
            let _ = writeln!(w, "{s}");
        };
        let mut c = Compiler {
            reg: &mut self.reg,
            names: &mut self.names,
            generics: &mut self.generics,
            jit: &mut self.jit,
            ctx: &mut self.ctx,
            arena: &self.arena,
            consts: self.consts,
            default_zone: self.cfg.default_closure_zone as u64,
            warn: &mut warn,
            tramps: &mut self.tramps,
            lazy: self.cfg.lazy,
        };
        run(&mut c)
    }

    /// How many bind-func generations were compiled to native code, and how many
    /// definitions wait for their first use (see [`lazy`]).
    pub fn compile_counts(&self) -> CompileCounts {
        self.reg.compile_counts()
    }

    fn tramp(&mut self, ty: &Type) -> Result<u64> {
        if let Some(t) = self.tramps.by_type.get(ty) {
            return Ok(*t);
        }
        self.with_compiler(|c| c.tramp(ty))
    }

    /// The argument words of a call of `name`; `string` puts a string argument where the
    /// callee can read it and returns its word.
    fn words(
        reg: &Registry,
        name: &str,
        args: &[DspValue],
        string: &mut dyn FnMut(&str) -> Option<u64>,
    ) -> Result<(registry::FuncDef, Vec<u64>)> {
        let Some(def) = reg.funcs.get(name).cloned() else {
            return Err(err(
                DspErrorKind::Unbound,
                format!("{name} is not a bind-func"),
            ));
        };
        let Type::Closure(_, params) = &def.ty else {
            return Err(err(DspErrorKind::Internal, "not a closure"));
        };
        if params.len() != args.len() {
            return Err(err(
                DspErrorKind::Call,
                format!(
                    "{name} takes {} argument(s), given {}",
                    params.len(),
                    args.len()
                ),
            ));
        }
        let mut words = Vec::with_capacity(args.len());
        for (i, (a, t)) in args.iter().zip(params).enumerate() {
            let w = a.to_word(t, string).ok_or_else(|| {
                err(
                    DspErrorKind::Call,
                    format!("argument {} of {name} must be a {t}, given {a:?}", i + 1),
                )
            })?;
            words.push(w);
        }
        Ok((def, words))
    }

    /// Calls a bind-func on the control thread.
    ///
    /// String arguments are copied into the call-argument zone, which is emptied when the
    /// call returns: they live as long as the call (like an `salloc`), so DSP code must
    /// copy a string it wants to keep.
    pub fn call(&mut self, name: &str, args: &[DspValue]) -> Result<DspValue> {
        let name = &self.overload_for(name, args);
        self.compile(name)?;
        let strings = &mut self.strings;
        let mut string = |s: &str| strings.alloc_c_str(s.as_bytes()).ok();
        let words = Self::words(&self.reg, name, args, &mut string);
        let result = words.and_then(|(def, words)| self.call_words(&def, &words));
        self.strings.reset();
        result
    }

    /// The sample time xtlang's `(now)` reads in calls on the control thread from here on.
    pub fn set_now(&mut self, time: i64) {
        self.ctx.now = time;
    }

    /// The callbacks DSP code run on the control thread scheduled with `callback` since
    /// the last take (time, call), in the order scheduled: calls for the audio thread.
    pub fn take_scheduled(&mut self) -> Vec<(i64, PreparedCall)> {
        let mut calls = Vec::new();
        self.ctx
            .take_scheduled(&mut |s| calls.push(PreparedCall::scheduled(s)));
        calls
    }

    /// The bind-func a call of `name` with `args` from outside DSP code means: `name`
    /// itself if the arguments fit it, else the first of its overloads they fit.
    fn overload_for(&self, name: &str, args: &[DspValue]) -> String {
        let fits = |key: &str| {
            self.reg.funcs.get(key).is_some_and(|f| match &f.ty {
                Type::Closure(_, p) => {
                    p.len() == args.len()
                        && args
                            .iter()
                            .zip(p)
                            .all(|(a, t)| a.to_word(t, &mut |_| Some(0)).is_some())
                }
                _ => false,
            })
        };
        if fits(name) {
            return name.to_string();
        }
        self.generics
            .overloads(name)
            .iter()
            .find(|k| fits(k))
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }

    fn call_words(&mut self, def: &registry::FuncDef, words: &[u64]) -> Result<DspValue> {
        let Type::Closure(ret, _) = def.ty.clone() else {
            return Err(err(DspErrorKind::Internal, "not a closure"));
        };
        let tramp = self.tramp(&def.ty)?;
        let clo = self.reg.slots[def.slot as usize];
        let mut out = 0u64;
        // SAFETY: `tramp` was compiled for closures of `def.ty` with the C calling convention
        // (ctx, closure, args, ret); `words` holds one word per parameter.
        let t: Tramp = unsafe { std::mem::transmute(tramp as *const u8) };
        let mark = self.ctx.call_mark();
        t(&mut *self.ctx, clo, words.as_ptr(), &mut out);
        let r = self.ctx.finish_call(mark);
        self.ctx.after_call();
        self.reg.note_permanent(self.ctx.base_zone().makers());
        match r {
            Ok(()) => Ok(DspValue::from_word(out, &ret)),
            Err(raw) => {
                if raw.raw == registry::INTERRUPTED {
                    self.interrupt.store(false, Ordering::Relaxed);
                }
                Err(err(DspErrorKind::Fault, interop::describe(&self.reg, raw)))
            }
        }
    }

    /// A call to run later on the audio thread (arguments checked now).
    pub fn prepare_call(&mut self, name: &str, args: &[DspValue]) -> Result<PreparedCall> {
        if args.len() > MAX_PREPARED_ARGS {
            return Err(err(
                DspErrorKind::Call,
                format!("a timed call takes at most {MAX_PREPARED_ARGS} arguments"),
            ));
        }
        let mut text = [0u8; PREPARED_TEXT];
        let mut used = 0;
        let mut string = |s: &str| {
            let at = used;
            let end = at + s.len() + 1;
            let room = text.get_mut(at..end)?;
            room[..s.len()].copy_from_slice(s.as_bytes());
            used = end;
            Some(at as u64)
        };
        let name = &self.overload_for(name, args);
        self.compile(name)?;
        let (def, words) = Self::words(&self.reg, name, args, &mut string).map_err(|e| {
            let long = args.iter().any(|a| matches!(a, DspValue::Str(_)));
            if long && e.kind == DspErrorKind::Call {
                err(
                    DspErrorKind::Call,
                    format!(
                        "{}; the strings of a timed call hold {} bytes at most",
                        e.message,
                        PREPARED_TEXT - 1
                    ),
                )
            } else {
                e
            }
        })?;
        let tramp = self.tramp(&def.ty)?;
        let mut a = [0u64; MAX_PREPARED_ARGS];
        a[..words.len()].copy_from_slice(&words);
        let strings = args
            .iter()
            .enumerate()
            .filter(|(_, v)| matches!(v, DspValue::Str(_)))
            .fold(0u8, |m, (i, _)| m | (1 << i));
        Ok(PreparedCall {
            slot: def.slot,
            closure: 0,
            tramp,
            args: a,
            strings,
            text,
        })
    }

    /// The captured variables of bind-func `name`'s closure (name, type), read from its
    /// variable table; `None` when `name` is not a bind-func.
    pub fn closure_vars(&self, name: &str) -> Option<Vec<(String, Type)>> {
        if let Some(vars) = self.reg.pending_vars(name) {
            return Some(vars);
        }
        let (_, vars) = self.reg.closure_vars(&self.arena, name)?;
        Some(
            vars.into_iter()
                .filter_map(|v| Some((v.name, self.reg.type_of(v.type_id)?)))
                .collect(),
        )
    }

    /// Where `closure.var` lives now (control side), and its type; `ty` is the type the
    /// caller gave (`closure.var:TYPE`), as text.
    fn var_place(&self, closure: &str, var: &str, ty: Option<&str>) -> Result<(Type, u64)> {
        self.compiled(closure)?;
        let vars = self.closure_vars(closure).ok_or_else(|| {
            err(
                DspErrorKind::Unbound,
                format!("{closure}.{var}: {closure} is not a bind-func"),
            )
        })?;
        let given = match ty {
            Some(t) => Some(
                self.names
                    .parse(t)
                    .map_err(|e| err(DspErrorKind::Type, format!("{closure}.{var}:{t}: {e}")))?,
            ),
            None => None,
        };
        let t = infer::find_var(closure, var, &vars, given.as_ref())?;
        let (_, entries) = self
            .reg
            .closure_vars(&self.arena, closure)
            .unwrap_or_default();
        let entry = entries.iter().find(|e| e.name == var);
        let def = self.reg.funcs.get(closure);
        let clo = def.map_or(0, |d| self.reg.slots[d.slot as usize]);
        let mut env = [0u8; 8];
        let place = entry
            .filter(|_| self.arena.read(clo + 8, &mut env))
            .and_then(|e| {
                runtime::vars::value_addr(&self.arena, u64::from_le_bytes(env), e.slot())
            });
        let addr = place.ok_or_else(|| {
            err(
                DspErrorKind::Fault,
                format!("{closure}.{var}: the closure's memory is damaged"),
            )
        })?;
        Ok((t, addr))
    }

    /// `(closure.var)` from Rust: the value of a captured variable of bind-func `closure`
    /// (`ty`: the type the caller expects, if it says).
    pub fn get_var(&self, closure: &str, var: &str, ty: Option<&str>) -> Result<DspValue> {
        let (t, addr) = self.var_place(closure, var, ty)?;
        let mut w = [0u8; 8];
        let size = (t.size() as usize).min(8);
        self.arena.read(addr, &mut w[..size]);
        Ok(DspValue::from_word(u64::from_le_bytes(w), &t))
    }

    /// `(closure.var value)` from Rust: sets a captured variable of bind-func `closure`; the
    /// closure sees the value at its next call. Strings cannot be stored (they would not
    /// outlive the call).
    pub fn set_var(
        &mut self,
        closure: &str,
        var: &str,
        ty: Option<&str>,
        value: &DspValue,
    ) -> Result<()> {
        self.compile(closure)?;
        let (t, addr) = self.var_place(closure, var, ty)?;
        let w = value.to_word(&t, &mut |_| None).ok_or_else(|| {
            err(
                DspErrorKind::Call,
                format!("{closure}.{var} is {t}: it cannot be set to {value:?}"),
            )
        })?;
        let size = (t.size() as usize).min(8);
        self.arena.write(addr, &w.to_le_bytes()[..size]);
        Ok(())
    }

    pub fn signature(&self, name: &str) -> Option<FnSig> {
        match &self.reg.funcs.get(name)?.ty {
            Type::Closure(r, p) => Some(FnSig {
                params: p.clone(),
                ret: (**r).clone(),
            }),
            _ => None,
        }
    }

    /// Every definition of `name`, by its type: its bind-funcs of each type (a name
    /// defined at several types is overloaded) and its generic templates.
    pub fn definitions(&self, name: &str) -> Vec<Type> {
        self.generics
            .candidates(&self.reg, name)
            .into_iter()
            .map(|c| c.ty)
            .collect()
    }

    /// The name of the bind-func whose slot is `slot` (as [`Entry::slot`] and
    /// [`PreparedCall::slot`] give it).
    pub fn closure_name(&self, slot: u32) -> Option<String> {
        self.reg.name_of_slot(slot).map(str::to_owned)
    }

    /// The DSP entry point `name`: a closure of type `DSP` (or its double twin) or `DSPMC`.
    pub fn entry(&self, name: &str) -> Result<Entry> {
        self.compiled(name)?;
        let Some(def) = self.reg.funcs.get(name) else {
            return Err(err(
                DspErrorKind::Unbound,
                format!("{name} is not a bind-func"),
            ));
        };
        let t = &def.ty;
        let Some(kind) = EntryKind::of(t) else {
            return Err(err(
                DspErrorKind::Call,
                format!(
                    "{name} is {t}, not a DSP closure: expected DSP [SAMPLE,SAMPLE,i64,i64,SAMPLE*]*, DSPMC [void,SAMPLE*,SAMPLE*,i64,i8*]* or DSPMT [SAMPLE,SAMPLE*,i64,i64,SAMPLE*]*"
                ),
            ));
        };
        let type_id = self.reg.type_id_of(t).unwrap_or(0);
        Ok(Entry {
            slot: def.slot,
            type_id,
            kind,
        })
    }

    /// An error when bind-func `name` waits for its first use ([`Dsp::compile`] it first).
    fn compiled(&self, name: &str) -> Result<()> {
        match self.reg.pending_id(name) {
            Some(_) => Err(err(
                DspErrorKind::Call,
                format!("{name} is not compiled yet (Dsp::compile compiles it)"),
            )),
            None => Ok(()),
        }
    }

    /// From now on, keeps the machine code of every function compiled, for tests of code
    /// generation (see [`Dsp::machine_code`]).
    pub fn keep_machine_code(&mut self) {
        self.jit.keep_listing();
    }

    /// The machine code (Cranelift's listing) of the functions compiled since
    /// [`Dsp::keep_machine_code`].
    pub fn machine_code(&self) -> &str {
        self.jit.listing()
    }

    /// Everything defined since the last take, as one batch.
    pub fn take_swap(&mut self) -> Option<Box<SwapBatch>> {
        self.reg.take_swap()
    }

    /// A batch back from the audio thread: frees what nothing holds any more.
    pub fn retire(&mut self, batch: Box<SwapBatch>) {
        self.reg.retire(&batch);
    }

    /// The audio side stopped playing an outgoing closure it kept for a crossfade (see
    /// [`SwapBatch::keep_outgoing`]): its generation may be freed.
    pub fn fade_over(&mut self, o: Outgoing) {
        self.reg.fade_over(o);
    }

    /// The audio side went back to a previous generation of a faulting entry: it keeps that
    /// generation alive in place of the one that faulted.
    pub fn fell_back(&mut self, r: Revert) {
        self.reg.fell_back(r.slot, r.generation);
    }

    /// Frees what was unlinked and waited for the audio contexts to finish the buffer they
    /// were in (also done at every definition and retired batch; call it now and then).
    pub fn reclaim(&mut self) {
        self.reg.reclaim();
    }

    /// The sizes of an audio context (the audio thread's or a lane's), from the config.
    fn audio_config(&self) -> AudioConfig {
        AudioConfig {
            zone_bytes: self.cfg.audio_zone_bytes as u64,
            reserve_bytes: self.cfg.audio_reserve_bytes as u64,
            heap_bytes: self.cfg.audio_heap_bytes as u64,
            ring_bytes: self.cfg.message_ring_bytes,
            commit: self.cfg.commit_audio_memory,
            ..AudioConfig::default()
        }
    }

    /// The audio thread's context, with the slots of the definitions compiled so far (one
    /// waiting for its first use gets there with the swap batch of its compilation).
    pub fn audio_ctx(&mut self) -> Result<AudioCtx> {
        let cfg = self.audio_config();
        let mut ctx = Box::new(
            Ctx::audio(&mut self.ctx, &cfg).map_err(|e| err(DspErrorKind::Alloc, e.to_string()))?,
        );
        let interrupt = Arc::new(AtomicBool::new(false));
        let mut slots: Box<[u64]> = self.reg.slots.clone();
        let mut gens = vec![0usize; registry::MAX_SLOTS].into_boxed_slice();
        for f in self.reg.funcs.values() {
            gens[f.slot as usize] = f.gen_id;
        }
        slots[registry::INTERRUPT_SLOT] = Arc::as_ptr(&interrupt) as u64;
        ctx.slots = slots.as_ptr();
        let io: ArenaBlock = self
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
        let epoch = Arc::new(registry::Epoch::new(0));
        self.reg.add_epoch(&epoch);
        self.reg.audio_started();
        let frames_addr = self.reg.vals.get("FRAMES").map_or(0, |v| v.addr);
        let channels_addr = self.reg.vals.get("CHANNELS").map_or(0, |v| v.addr);
        Ok(AudioCtx {
            ctx,
            slots,
            gens,
            watch: Default::default(),
            code: self.reg.code.clone(),
            arena: self.arena.clone(),
            io,
            io_ptrs,
            frames_addr,
            channels_addr,
            interrupt,
            epoch,
            _keeper: self.keeper.clone(),
            _zones: self.zone_keeper.clone(),
        })
    }

    /// The flag that stops loops run on the control thread (e.g. Scheme's interrupt flag):
    /// when set, a running loop faults as interrupted at its next iteration, and the flag
    /// is cleared when that fault is returned.
    pub fn set_interrupt(&mut self, flag: Arc<AtomicBool>) {
        self.reg.slots[registry::INTERRUPT_SLOT] = Arc::as_ptr(&flag) as u64;
        self.interrupt = flag;
    }

    /// Text the audio thread printed, and its warnings (one line each).
    pub fn drain_messages(&mut self, mut f: impl FnMut(&str)) {
        self.ctx.drain_messages(|kind, text| match kind {
            runtime::MessageKind::Output => f(text),
            runtime::MessageKind::Warning => f(&format!("{text}\n")),
        });
    }

    pub fn describe_fault(&self, f: Fault) -> String {
        interop::describe(&self.reg, f.raw)
    }

    /// Where control-thread `printf`/`println` output goes (default stdout).
    pub fn set_output(&mut self, w: Box<dyn Write + Send>) {
        self.ctx.set_output(w);
    }

    /// Where control-thread warnings go (default stderr).
    pub fn set_warnings(&mut self, w: Box<dyn Write + Send>) {
        if let Ok(mut g) = self.warnings.0.lock() {
            *g = w;
        }
    }

    /// The arena, for the engine to fill memory DSP code allocated (a sampler's decoded
    /// frames); [`Arena::owns`] tells whether a pointer is a live allocation of a size.
    pub fn arena(&self) -> Arc<Arena> {
        self.arena.clone()
    }

    /// DSP memory in use: bytes of the arena handed out (zones, heap, stacks, buffers).
    pub fn memory_in_use(&self) -> usize {
        self.arena.bytes_in_use()
    }

    /// What is allocated and not yet freed: live generations of bind-funcs (each one
    /// closure, one closure zone, one code block) and global zones.
    pub fn live(&self) -> LiveCounts {
        self.reg.live()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defines every form of `src`, panicking on the first error (for the crate's tests).
    pub(crate) fn define(dsp: &mut Dsp, src: &str) {
        for f in parse(src, "test.xtm").expect("parses") {
            if let Err(e) = dsp.define(&f) {
                panic!("{e}");
            }
        }
    }

    #[test]
    fn a_closure_record_that_outlived_its_code_faults_and_never_runs_reused_code() {
        let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
        define(
            &mut dsp,
            "(bind-func twice (lambda (x:i64) (* x 2)))
             (bind-func apply_to (lambda (g:[i64,i64]* x:i64) (g x)))",
        );
        // A copy of twice's closure record, kept where the registry does not look.
        let rec = dsp.reg.slots[dsp.reg.funcs["twice"].slot as usize];
        let mut words = [0u8; 16];
        assert!(dsp.arena.read(rec, &mut words));
        let mut keep = Zone::new(&dsp.arena, 64, "kept copy").expect("zone");
        let copy = keep.alloc(16, 8).expect("room");
        assert!(dsp.arena.write(copy, &words));
        let args = [DspValue::Ptr(copy), DspValue::I64(21)];
        assert_eq!(
            dsp.call("apply_to", &args).expect("runs"),
            DspValue::I64(42)
        );
        // The first twice is freed and its code-table index given to the new twice, of the
        // same type: the copy must not reach that code.
        define(&mut dsp, "(bind-func twice (lambda (x:i64) (* x 3)))");
        let e = dsp.call("apply_to", &args).expect_err("the copy is stale");
        assert_eq!(e.kind, DspErrorKind::Fault);
        assert!(
            e.message
                .contains("call through a closure whose code was freed"),
            "{}",
            e.message
        );
        assert!(e.message.contains("in closure apply_to"), "{}", e.message);
    }
}
