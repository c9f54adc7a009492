//! One definition from form to installed closure: parse, infer, lower every lambda into
//! one code block, run the init code in the definition's closure zone, install. A generic
//! definition is kept as a template ([`crate::generic`]); the generic instances a
//! definition calls are compiled first ([`crate::mono`]).

use crate::builtin::Builtin;
use crate::carry;
use crate::error::{DspError, DspErrorKind, Result, syntax};
use crate::generic::{self, Generics};
use crate::infer::{self, Candidate, Globals, Ref, SelfDef, Typed};
use crate::jit::{CodeBlock, Jit};
use crate::lazy::{self, Links, Pending};
use crate::lower::{self, Consts, FnCx, Linker, Lowering};
use crate::registry::{Code, Gen, Registry, Site, ValDef};
use crate::runtime::shadow::strip;
use crate::runtime::vars::{self, VarEntry};
use crate::runtime::{Arena, Ctx, RawFault, Zone};
use crate::sexp::{Sexp, SexpKind, Span};
use crate::syntax::{Expr, ExprKind, Lambda, Parser};
use crate::types::{Type, TypeNames};
use cranelift_codegen::ir::Function;
use std::collections::HashMap;
use std::sync::Arc;

/// The option of `bind-func` that starts the closure from its own `let` instead of
/// carrying the state of the closure it replaces over (see [`crate::carry`]).
pub const FRESH: &str = ":fresh";

/// How a bind-func is built, from its options.
#[derive(Clone, Copy)]
pub(crate) struct How {
    pub(crate) zone_bytes: u64,
    pub(crate) fresh: bool,
}

/// Everything a definition is compiled against.
pub struct Compiler<'a> {
    pub reg: &'a mut Registry,
    pub names: &'a mut TypeNames,
    pub generics: &'a mut Generics,
    pub jit: &'a mut Jit,
    pub ctx: &'a mut Ctx,
    pub arena: &'a Arc<Arena>,
    pub consts: Consts,
    pub default_zone: u64,
    /// Where compile-time warnings go (the same writer as the context's warnings).
    pub warn: &'a mut dyn FnMut(&str),
    pub tramps: &'a mut Tramps,
    /// Definitions whose effects cannot be seen wait for their first use to be compiled
    /// ([`crate::DspConfig::lazy`]).
    pub lazy: bool,
}

/// The trampolines compiled so far, one per closure type, with their code (kept as long
/// as the `Dsp`): how Rust and the engine call closures (see [`crate::interop`]).
#[derive(Default)]
pub struct Tramps {
    pub by_type: HashMap<Type, u64>,
    pub code: Vec<CodeBlock>,
}

/// A definition lowered to Cranelift IR, its native code not made yet.
pub(crate) struct Lowered {
    /// Its generation: slot, stamps, string literals and fault sites so far.
    pub(crate) generation: Gen,
    /// The init code (no stamp) and each lambda.
    funcs: Vec<LoweredFn>,
    /// The lambdas' variable tables (stamp, encoded table).
    tables: Vec<(u64, Vec<u8>)>,
}

/// One lambda of a definition, lowered.
struct LoweredFn {
    /// Its code-table stamp (`None`: the init code).
    stamp: Option<u64>,
    func: Function,
    type_id: u64,
    /// Its batch entry, for a lambda that has one (see `lower::batch_entry`).
    batch: Option<Function>,
    /// Its frame loop, for a lambda of a per-sample DSP type (see `lower::frame_loop`).
    frame_loop: Option<Function>,
}

/// What a definition produced.
pub struct Output {
    pub name: String,
    pub signature: String,
    pub warnings: Vec<String>,
}

/// What a definition sees of the others: the registry, the type names, the templates.
pub(crate) struct RegGlobals<'a>(
    pub &'a Registry,
    pub &'a Arena,
    pub &'a TypeNames,
    pub &'a Generics,
);

impl Globals for RegGlobals<'_> {
    fn func(&self, name: &str) -> Option<Type> {
        self.0.funcs.get(name).map(|f| f.ty.clone())
    }
    fn val(&self, name: &str) -> Option<Type> {
        self.0.vals.get(name).map(|v| v.ty.clone())
    }
    fn named(&self, name: &str, args: &[Type]) -> Option<Type> {
        self.2.instance(name, args)
    }
    fn candidates(&self, name: &str) -> Vec<Candidate> {
        self.3.candidates(self.0, name)
    }
    fn template_ret(&self, name: &str, template: usize, ty: &Type) -> Result<Type> {
        crate::mono::template_ret(self, name, template, ty)
    }
    fn parse_type(&self, text: &str) -> Option<Type> {
        self.2.parse(text).ok()
    }
    fn c_function(&self, name: &str) -> Option<Arc<crate::foreign::CFunction>> {
        self.0.c_functions.get(name)
    }
    fn closure_vars(&self, name: &str) -> Option<Vec<(String, Type)>> {
        if let Some(vars) = self.0.pending_vars(name) {
            return Some(vars);
        }
        let (_, vars) = self.0.closure_vars(self.1, name)?;
        Some(
            vars.into_iter()
                .filter_map(|v| Some((v.name, self.0.type_of(v.type_id)?)))
                .collect(),
        )
    }
}

struct DefLinker<'a> {
    reg: &'a mut Registry,
    tramps: &'a HashMap<Type, u64>,
    arena: &'a Arc<Arena>,
    literals: &'a mut Option<Zone>,
    def: Arc<str>,
    self_slot: u32,
    maker: usize,
    links: &'a Links,
}

impl Linker for DefLinker<'_> {
    fn type_id(&mut self, t: &Type) -> u64 {
        self.reg.type_id(t)
    }
    fn string(&mut self, s: &str) -> Result<u64> {
        if self.literals.is_none() {
            let z = Zone::new(self.arena, 1024, "string literals")
                .map_err(|e| DspError::new(DspErrorKind::Alloc, e.to_string(), None))?;
            *self.literals = Some(z);
        }
        let Some(z) = self.literals.as_mut() else {
            return Err(DspError::new(DspErrorKind::Internal, "literals", None));
        };
        let bytes = s.as_bytes();
        let addr = z
            .alloc(bytes.len() as u64 + 1, 1)
            .map_err(|e| DspError::new(DspErrorKind::Alloc, e.to_string(), None))?;
        // SAFETY: `alloc` handed out `len + 1` zeroed bytes of arena memory at `addr` (tag
        // stripped), which nothing else uses yet; the NUL is already there.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), strip(addr) as *mut u8, bytes.len())
        };
        Ok(addr)
    }
    fn slot(&self, name: &str) -> Option<u32> {
        if *name == *self.def {
            Some(self.self_slot)
        } else {
            (self.links.funcs.get(name).copied())
                .or_else(|| self.reg.funcs.get(name).map(|f| f.slot))
        }
    }
    fn global(&self, name: &str) -> Option<u64> {
        (self.links.globals.get(name).copied()).or_else(|| self.reg.vals.get(name).map(|v| v.addr))
    }
    fn site(&mut self, form: &str, span: Option<&Span>) -> u32 {
        self.reg.sites.add(Site {
            form: form.to_string(),
            span: span.cloned(),
            def: self.def.clone(),
        })
    }
    fn maker(&self) -> u64 {
        self.maker as u64
    }
    fn tramp(&self, t: &Type) -> Option<u64> {
        self.tramps.get(t).copied()
    }
}

/// The types of the functions `callback` calls in `e` (lambdas inside it included).
fn callback_targets(e: &Expr, typed: &Typed, out: &mut Vec<Type>) {
    if let ExprKind::App(_, args) = &e.kind
        && typed.builtin(e.id) == Some(Builtin::Callback)
        && let Some(target) = args.get(1)
    {
        out.push(typed.types[target.id].clone());
    }
    for c in e.children() {
        callback_targets(c, typed, out);
    }
}

fn collect_lambdas<'e>(e: &'e Expr, out: &mut HashMap<usize, &'e Lambda>) {
    if let ExprKind::Lambda(l) = &e.kind {
        out.insert(l.index, l);
    }
    for c in e.children() {
        collect_lambdas(c, out);
    }
}

fn alloc_err(e: impl std::fmt::Display, span: Option<&Span>) -> DspError {
    DspError::new(DspErrorKind::Alloc, e.to_string(), span)
}

impl Compiler<'_> {
    fn warn(&mut self, w: &str) {
        (self.warn)(w);
    }

    /// `(bind-func NAME[:TYPE] [ZONE-BYTES] EXPR)`.
    pub fn bind_func(&mut self, form: &Sexp, items: &[Sexp]) -> Result<Output> {
        let sp = form.span.as_ref();
        let shape = format!(
            "bind-func takes (bind-func name [zone-bytes] [\"docstring\"] [:fresh] (lambda ...)), found `{form}`"
        );
        // between the name and the body: at most a zone size and a docstring, in
        // either order (Extempore's spellings)
        let (Some(name_form), Some((expr, options))) =
            (items.get(1), items.get(2..).and_then(<[Sexp]>::split_last))
        else {
            return syntax(shape, sp);
        };
        let parser = Parser::new(self.names);
        let binder = parser.binder(name_form)?;
        let mut zone_bytes = None;
        let mut doc = false;
        let mut fresh = false;
        for o in options {
            match &o.kind {
                SexpKind::Sym(s) if s == FRESH => fresh = true,
                SexpKind::Int(n) if *n > 0 && zone_bytes.is_none() => zone_bytes = Some(*n as u64),
                SexpKind::Str(_) if !doc => doc = true,
                SexpKind::Int(_) => {
                    return syntax(
                        format!("bind-func's zone size must be a positive integer, found `{o}`"),
                        sp,
                    );
                }
                _ => return syntax(shape, sp),
            }
        }
        let zone_bytes = zone_bytes.unwrap_or(self.default_zone);
        let name = binder.name.clone();
        if let Some(sig) = binder.ty.clone().filter(Type::has_params) {
            return self.template(form, &name, sig, zone_bytes, expr);
        }
        let me = SelfDef {
            name: &name,
            key: name.clone(),
            ty: binder.ty.clone(),
            concrete: None,
        };
        self.instances(&me, expr, 0).map_err(|e| DspError {
            span: e.span.clone().or_else(|| form.span.clone()),
            ..e
        })?;
        self.define_func(form, &name, &me, How { zone_bytes, fresh }, expr)
    }

    /// Compiles a concrete definition (a plain bind-func or a generic's instance) under
    /// the registry name `key`, rolling back what it made if it fails.
    pub(crate) fn define_func(
        &mut self,
        form: &Sexp,
        key: &str,
        me: &SelfDef,
        how: How,
        expr: &Sexp,
    ) -> Result<Output> {
        let mark = self.reg.mark();
        let result = self.bind_func_from(form, key, me, how, expr);
        if result.is_err() {
            self.reg.rollback(mark);
            // warnings of the failed init code (a zone that overflowed) belong to no
            // definition
            self.ctx.take_warnings();
        }
        result
    }

    fn bind_func_from(
        &mut self,
        form: &Sexp,
        name: &str,
        me: &SelfDef,
        how: How,
        expr: &Sexp,
    ) -> Result<Output> {
        let sp = form.span.as_ref();
        let name = name.to_string();
        let mut parser = Parser::new(self.names);
        let body = parser.expr(expr)?;
        let init = Lambda {
            index: 0,
            params: Vec::new(),
            body: vec![body],
        };
        let (mut typed, ty) = {
            let g = RegGlobals(self.reg, self.arena, self.names, self.generics);
            infer::infer(&init, parser.next_id, &g, me).map_err(|e| {
                if e.span.is_none() {
                    DspError {
                        span: form.span.clone(),
                        ..e
                    }
                } else {
                    e
                }
            })?
        };
        if !matches!(ty, Type::Closure(..)) {
            return Err(DspError::new(
                DspErrorKind::Type,
                format!("bind-func {name} must make a closure (a lambda), but its value is {ty}"),
                sp,
            ));
        }
        // calls inference sent to the name's current definition set aside (an operator's
        // overload, see infer's `definitions`) are recursive calls if this definition
        // has its type and so replaces it
        if let Some(old) = self.reg.funcs.get(&name).map(|f| f.ty.clone())
            && me.concrete.is_none()
            && old == ty
        {
            let aside = Ref::Func(generic::key(&name, &old));
            for r in typed.refs.values_mut().filter(|r| **r == aside) {
                *r = Ref::Func(name.clone());
            }
        }
        // a plain definition of another type than the name's current one is an overload
        let renames = if me.concrete.is_none() {
            self.generics.place(self.reg, &name, &ty)
        } else {
            Vec::new()
        };
        let result = self.bind_func_at(form, &name, ty, typed, init, how);
        if result.is_err() {
            self.generics.undo(self.reg, &name, renames);
        }
        result
    }

    fn bind_func_at(
        &mut self,
        form: &Sexp,
        name: &str,
        ty: Type,
        typed: Typed,
        init: Lambda,
        how: How,
    ) -> Result<Output> {
        let sp = form.span.as_ref();
        let mut lambdas = HashMap::new();
        collect_lambdas(&init.body[0], &mut lambdas);
        let mut warnings = Vec::new();
        let mut idxs: Vec<usize> = lambdas.keys().copied().collect();
        idxs.sort_unstable();
        for i in &idxs {
            if escapes(lambdas[i], &typed) {
                warnings.push(format!(
                    "{name} returns memory from its own salloc: it is reused once {name} returns (use zalloc or halloc to keep it)"
                ));
            }
        }
        let slot = self.reg.slot_for(name).ok_or_else(|| {
            DspError::new(DspErrorKind::Alloc, "too many bind-funcs: no slot left", sp)
        })?;
        let links = Links::of(self.reg, &typed, name);
        let deferred =
            lazy::deferrable(self.reg, name, &init, &typed, how.zone_bytes).filter(|_| self.lazy);
        if deferred.is_none() {
            // a definition compiled now calls only compiled code
            self.realize_links(&links)?;
        }
        let id = self.reg.new_gen_id();
        let lowered = self.lower_gen(id, name, slot, &init, &lambdas, &idxs, &typed, &links, sp)?;
        for w in &warnings {
            self.warn(w);
        }
        let Some(vars) = deferred else {
            let mut out = self.compile_gen(sp, id, lowered, &links, ty, how)?;
            warnings.append(&mut out.warnings);
            out.warnings = warnings;
            return Ok(out);
        };
        let signature = ty.to_string();
        let p = Pending {
            key: name.to_string(),
            span: form.span.clone(),
            lowered,
            ty,
            how,
            links,
            vars,
        };
        if let Some(dropped) = self.reg.defer(id, slot, p) {
            self.reg.discard(dropped.0, dropped.1.lowered.generation);
        }
        Ok(Output {
            name: name.to_string(),
            signature,
            warnings,
        })
    }

    /// Lowers every lambda of generation `id` of the definition `name` to Cranelift IR
    /// (where lowering finds an error, the definition fails now).
    #[allow(clippy::too_many_arguments)]
    fn lower_gen(
        &mut self,
        id: usize,
        name: &str,
        slot: u32,
        init: &Lambda,
        lambdas: &HashMap<usize, &Lambda>,
        idxs: &[usize],
        typed: &Typed,
        links: &Links,
        sp: Option<&Span>,
    ) -> Result<Lowered> {
        let mut lowered = Lowered {
            generation: Gen {
                name: name.to_string(),
                slot,
                code: None,
                zone: None,
                literals: None,
                stamps: Vec::new(),
                refs: Vec::new(),
                current: true,
                in_flight: 0,
                sites: 0..0,
                carry: None,
                inits: Default::default(),
            },
            funcs: Vec::new(),
            tables: Vec::new(),
        };
        let first_site = self.reg.sites.next();
        let result = self.lower_into(&mut lowered, id, init, lambdas, idxs, typed, links, sp);
        // (a failed definition's sites are rolled back instead)
        lowered.generation.sites = first_site..self.reg.sites.next();
        match result {
            Ok(()) => Ok(lowered),
            Err(e) => {
                self.reg.discard(id, lowered.generation);
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn lower_into(
        &mut self,
        out: &mut Lowered,
        id: usize,
        init: &Lambda,
        lambdas: &HashMap<usize, &Lambda>,
        idxs: &[usize],
        typed: &Typed,
        links: &Links,
        sp: Option<&Span>,
    ) -> Result<()> {
        let generation = &mut out.generation;
        let mut fn_indices = HashMap::new();
        for i in idxs {
            let k = self.reg.code_stamp().ok_or_else(|| {
                DspError::new(
                    DspErrorKind::Alloc,
                    "too many compiled lambdas alive: the code table is full",
                    sp,
                )
            })?;
            generation.stamps.push(k);
            fn_indices.insert(*i, k);
        }
        let cc = self.jit.call_conv();
        let def: Arc<str> = Arc::from(generation.name.as_str());
        let mut all: Vec<&Lambda> = vec![init];
        all.extend(idxs.iter().map(|i| lambdas[i]));
        let mut targets = Vec::new();
        for e in &init.body {
            callback_targets(e, typed, &mut targets);
        }
        for t in &targets {
            self.tramp(t)?;
        }
        for lam in all {
            let lt = typed
                .lambda_types
                .get(&lam.index)
                .cloned()
                .unwrap_or(Type::Void);
            let sig = lower::signature(&lt, cc)?;
            let consts = self.consts;
            let mut linker = DefLinker {
                reg: self.reg,
                tramps: &self.tramps.by_type,
                arena: self.arena,
                literals: &mut generation.literals,
                def: def.clone(),
                self_slot: generation.slot,
                maker: id,
                links,
            };
            let fi = &fn_indices;
            let func = self.jit.lower(sig, |b| {
                FnCx::lower(b, lam, Lowering::new(typed, consts, &mut linker, fi))
            })?;
            let stamp = (lam.index != 0).then(|| fn_indices[&lam.index]);
            let batch = stamp
                .and_then(|_| lower::batch_plan(lam, typed, consts.wide_math))
                .map(|plan| {
                    self.jit.lower(lower::batch_signature(cc), |b| {
                        FnCx::lower_batch(
                            b,
                            lam,
                            Lowering::new(typed, consts, &mut linker, fi),
                            &plan,
                        )
                    })
                })
                .transpose()?;
            let frame_loop = stamp
                .and_then(|_| lower::frame_loop_of(&lt))
                .map(|double| {
                    self.jit.lower(lower::frames_signature(cc), |b| {
                        FnCx::lower_frames(
                            b,
                            lam,
                            Lowering::new(typed, consts, &mut linker, fi),
                            double,
                        )
                    })
                })
                .transpose()?;
            let type_id = self.reg.type_id(&lt);
            out.funcs.push(LoweredFn {
                stamp,
                func,
                type_id,
                batch,
                frame_loop,
            });
        }
        out.tables = self.var_tables(&generation.name, idxs, &fn_indices, typed);
        Ok(())
    }

    /// Makes the native code of generation `id` (lowered), runs its init code and installs
    /// the closure it made; `links` are what it calls (kept alive by it).
    pub(crate) fn compile_gen(
        &mut self,
        sp: Option<&Span>,
        id: usize,
        lowered: Lowered,
        links: &Links,
        ty: Type,
        how: How,
    ) -> Result<Output> {
        let Lowered {
            mut generation,
            funcs,
            tables,
        } = lowered;
        generation.refs = (links.funcs.values())
            .filter_map(|s| self.reg.owner_of_slot(*s))
            .collect();
        let mut warnings = Vec::new();
        let result = self.build(&mut generation, &funcs, &tables, how.zone_bytes, sp);
        let closure = match result {
            Ok(c) => c,
            Err(e) => {
                // Its init code may have run: a closure it made may have been stored where
                // the audio thread reads it, so it goes the way of any unlinked generation.
                self.reg.discard(id, generation);
                return Err(e);
            }
        };
        self.carry_into(&mut generation, closure, how.fresh, &mut warnings);
        for w in &warnings {
            self.warn(w);
        }
        warnings.extend(self.ctx.take_warnings());
        let signature = ty.to_string();
        let name = generation.name.clone();
        self.reg.install(id, generation, ty, closure);
        Ok(Output {
            name,
            signature,
            warnings,
        })
    }

    /// Records the starting values of the new closure's variables and, unless `fresh`,
    /// plans what it takes from the current closure of its name (see [`crate::carry`]).
    fn carry_into(
        &mut self,
        generation: &mut Gen,
        closure: u64,
        fresh: bool,
        notes: &mut Vec<String>,
    ) {
        let Some(new_zone) = generation.zone.as_ref() else {
            return;
        };
        let old = self
            .reg
            .funcs
            .get(&generation.name)
            .filter(|_| !fresh)
            .and_then(|f| {
                let g = self.reg.gens.get(&f.gen_id)?;
                Some(carry::Old {
                    closure: self.reg.slots[f.slot as usize],
                    zone: g.zone.as_ref()?,
                    inits: &g.inits,
                })
            });
        let new = (generation.name.as_str(), closure, new_zone);
        let (plan, inits) = carry::plan(self.reg, self.arena, old, new, notes);
        generation.carry = plan;
        generation.inits = inits;
    }

    /// Compiles `funcs` (the init code first, then each lambda with its stamp and type id)
    /// into one code block, fills their code-table entries and runs the init code in a
    /// new closure zone; the closure it made.
    fn build(
        &mut self,
        generation: &mut Gen,
        funcs: &[LoweredFn],
        tables: &[(u64, Vec<u8>)],
        zone_bytes: u64,
        sp: Option<&Span>,
    ) -> Result<u64> {
        let mut code: CodeBlock = self.jit.module();
        let mut ids = Vec::new();
        for f in funcs {
            let mut extra = |func: &Option<Function>, what| {
                func.as_ref()
                    .map(|func| self.jit.define_as(&mut code, func, what))
                    .transpose()
            };
            let extras = (
                extra(&f.batch, " (batch entry)")?,
                extra(&f.frame_loop, " (frame loop)")?,
            );
            ids.push((
                f.stamp,
                self.jit.define(&mut code, &f.func)?,
                f.type_id,
                extras,
            ));
        }
        code.finalize()?;
        let mut init_addr = 0;
        for (stamp, id, tid, (batch, frame_loop)) in &ids {
            let addr = code.address(*id);
            match stamp {
                None => init_addr = addr,
                Some(k) => {
                    let at = |f: &Option<_>| f.map_or(0, |f| code.address(f));
                    let entries = Code {
                        addr,
                        batch: at(batch),
                        frame_loop: at(frame_loop),
                    };
                    self.reg.set_code(*k, entries, *tid);
                }
            }
        }
        generation.code = Some(code);
        let mut zone = Zone::new(
            self.arena,
            zone_bytes,
            format!("closure {}", generation.name),
        )
        .map_err(|e| {
            alloc_err(
                format!("cannot make the closure zone of {}: {e}", generation.name),
                sp,
            )
        })?;
        // SAFETY: `init_addr` is the finalized code of lambda 0, compiled with the signature
        // (ctx: i64, env: i64) -> i64 in the host's C calling convention; its code block is
        // kept alive in `generation` for the duration of the call.
        let f: extern "C" fn(*mut Ctx, u64) -> u64 =
            unsafe { std::mem::transmute(init_addr as *const u8) };
        let result = self.ctx.with_zone(&mut zone, |ctx| {
            let mark = ctx.call_mark();
            let clo = f(ctx, 0);
            ctx.finish_call(mark).map(|_| clo)
        });
        self.ctx.after_call();
        let result = result.and_then(|clo| self.write_var_tables(&mut zone, tables).map(|_| clo));
        generation.zone = Some(zone);
        match result {
            Ok(clo) => Ok(clo),
            Err(raw) => Err(DspError::new(
                DspErrorKind::Fault,
                crate::interop::describe(self.reg, raw),
                sp,
            )),
        }
    }

    /// The variable table of every lambda that captures variables (stamp, encoded table).
    fn var_tables(
        &mut self,
        def: &str,
        idxs: &[usize],
        fn_indices: &HashMap<usize, u64>,
        typed: &Typed,
    ) -> Vec<(u64, Vec<u8>)> {
        let mut tables = Vec::new();
        for i in idxs {
            let caps = typed.captures.get(i).map_or(&[][..], Vec::as_slice);
            let mut entries = Vec::new();
            for (slot, v) in caps.iter().enumerate() {
                let info = &typed.vars[*v];
                if !matches!(lower::clif(&info.ty, None), Ok(Some(_))) {
                    continue;
                }
                entries.push(VarEntry {
                    name: info.name.clone(),
                    ty: info.ty.to_string(),
                    type_id: self.reg.type_id(&info.ty),
                    offset: 8 * slot as u32,
                    cell: info.is_cell(),
                    closure: matches!(info.ty, Type::Closure(..)),
                });
            }
            // a closure's first MAX_VARS variables are reachable by name (a bound the
            // audio thread's lookup relies on)
            entries.truncate(vars::MAX_VARS);
            if !entries.is_empty() {
                tables.push((fn_indices[i], vars::encode(def, &entries)));
            }
        }
        tables
    }

    /// Writes the variable tables into the closure zone (after the outer `let`'s
    /// allocations, as Extempore does) and records them in the code table.
    fn write_var_tables(
        &mut self,
        zone: &mut Zone,
        tables: &[(u64, Vec<u8>)],
    ) -> std::result::Result<(), RawFault> {
        let arena = self.arena;
        let reg = &*self.reg;
        let result = self.ctx.with_zone(zone, |ctx| {
            let mark = ctx.call_mark();
            for (index, bytes) in tables {
                let addr = ctx.zalloc(1, bytes.len() as u64, 8, 0);
                if addr == 0 || !arena.write(addr, bytes) {
                    break;
                }
                reg.set_vars(*index, addr);
            }
            ctx.finish_call(mark)
        });
        self.ctx.after_call();
        result
    }

    /// `(bind-val NAME TYPE [VALUE])`.
    pub fn bind_val(&mut self, form: &Sexp, items: &[Sexp]) -> Result<Output> {
        let sp = form.span.as_ref();
        if items.len() < 3 || items.len() > 4 {
            return syntax(
                format!("bind-val takes (bind-val name type [value]), found `{form}`"),
                sp,
            );
        }
        let (Some(name), Some(tt)) = (items[1].sym(), items[2].sym()) else {
            return syntax(
                format!("bind-val takes a name and a type, found `{form}`"),
                sp,
            );
        };
        let ty = self
            .names
            .parse(tt)
            .map_err(|e| DspError::new(DspErrorKind::Type, e, items[2].span.as_ref()))?;
        if lower::clif(&ty, sp)?.is_none() {
            return Err(DspError::new(
                DspErrorKind::Type,
                format!("a global cannot be {ty}"),
                sp,
            ));
        }
        let value = items.get(3);
        if ty.is_aggregate() {
            return self.bind_val_aggregate(name, ty, value, sp);
        }
        let extra = match (&ty, value.map(|v| &v.kind)) {
            (Type::Ptr(elem), Some(SexpKind::Int(n))) if *n >= 0 => (*n as u64)
                .checked_mul(elem.size().max(1))
                .ok_or_else(|| alloc_err("this global is too large", sp))?,
            (Type::Ptr(_), Some(SexpKind::Str(s))) => s.len() as u64 + 1,
            _ => 0,
        };
        let total = 16 + extra.next_multiple_of(16);
        let mut zone =
            Zone::new(self.arena, total, format!("global {name}")).map_err(|e| alloc_err(e, sp))?;
        // The global's own word is read and written by compiled code at a fixed address
        // (untagged); a pointer value it holds is tagged like any other.
        let addr = strip(zone.alloc(8, 8).map_err(|e| alloc_err(e, sp))?);
        let word: u64 = match (&ty, value.map(|v| &v.kind)) {
            (_, None) => 0,
            (Type::Ptr(elem), Some(SexpKind::Int(_))) => zone
                .alloc(extra, elem.align().max(8))
                .map_err(|e| alloc_err(e, sp))?,
            (Type::Ptr(_), Some(SexpKind::Str(s))) => {
                let a = zone.alloc(extra, 1).map_err(|e| alloc_err(e, sp))?;
                // SAFETY: `a` (tag stripped) holds `s.len() + 1` zeroed bytes of arena memory
                // just handed out.
                unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), strip(a) as *mut u8, s.len()) };
                a
            }
            (Type::Float, Some(SexpKind::Float(x))) => u64::from((*x as f32).to_bits()),
            (Type::Float, Some(SexpKind::Int(x))) => u64::from((*x as f32).to_bits()),
            (Type::Double, Some(SexpKind::Float(x))) => x.to_bits(),
            (Type::Double, Some(SexpKind::Int(x))) => (*x as f64).to_bits(),
            (t, Some(SexpKind::Int(x))) if t.is_int() => *x as u64,
            (Type::I1, Some(SexpKind::Bool(b))) => u64::from(*b),
            (t, Some(_)) => {
                return Err(DspError::new(
                    DspErrorKind::Type,
                    format!("bind-val {name}: `{}` is not a value of type {t}", items[3]),
                    sp,
                ));
            }
        };
        // SAFETY: `addr` is 8 zeroed, 8-aligned bytes of arena memory owned by `zone`; a
        // little-endian word store sets narrower types correctly.
        unsafe { (addr as *mut u64).write(word) };
        Ok(self.keep_val(name, ty, zone, addr))
    }

    /// Registers global `name` of type `ty` at `addr`, in `zone` (kept for the process).
    fn keep_val(&mut self, name: &str, ty: Type, zone: Zone, addr: u64) -> Output {
        self.reg.val_zones.push(zone);
        let signature = ty.to_string();
        self.reg.vals.insert(name.to_string(), ValDef { ty, addr });
        Output {
            name: name.to_string(),
            signature,
            warnings: Vec::new(),
        }
    }

    /// `(bind-val NAME TYPE)` of a tuple, array or vector: the global holds the value's
    /// bytes, zeroed (as in Extempore, such a bind-val takes no value).
    fn bind_val_aggregate(
        &mut self,
        name: &str,
        ty: Type,
        value: Option<&Sexp>,
        sp: Option<&Span>,
    ) -> Result<Output> {
        if let Some(v) = value {
            return Err(DspError::new(
                DspErrorKind::Type,
                format!("bind-val {name}: a {ty} starts zeroed and takes no value, found `{v}`"),
                sp,
            ));
        }
        let size = ty.size().max(1);
        let total = size
            .checked_add(16)
            .map(|t| t.next_multiple_of(16))
            .ok_or_else(|| alloc_err("this global is too large", sp))?;
        let mut zone = Zone::new(self.arena, total, format!("global {name}")).map_err(|e| {
            alloc_err(
                format!("bind-val {name}: a {ty} takes {size} bytes of DSP memory: {e}"),
                sp,
            )
        })?;
        // compiled code reads and writes the bytes at a fixed address (untagged)
        let addr = strip(
            zone.alloc(size, ty.align().max(8))
                .map_err(|e| alloc_err(e, sp))?,
        );
        Ok(self.keep_val(name, ty, zone, addr))
    }

    /// `(bind-type NAME TYPE)` and `(bind-alias NAME TYPE)`.
    pub fn bind_type(&mut self, form: &Sexp, items: &[Sexp]) -> Result<Output> {
        let sp = form.span.as_ref();
        let (Some(name), Some(text)) = (
            items.get(1).and_then(Sexp::sym),
            items.get(2).and_then(Sexp::sym),
        ) else {
            return syntax(
                format!("expected (bind-type name type), found `{form}`"),
                sp,
            );
        };
        // after the type, Extempore allows a docstring and options such as (printer? . #f)
        if let Some(extra) = items[3..]
            .iter()
            .find(|i| !matches!(i.kind, SexpKind::Str(_) | SexpKind::List(_)))
        {
            return syntax(
                format!(
                    "expected (bind-type name type [\"docstring\"]), found `{extra}` in `{form}`"
                ),
                sp,
            );
        }
        let parsed = if head_is_type(form) {
            self.names.parse_definition(name, text)
        } else {
            self.names.parse(text)
        };
        let ty =
            parsed.map_err(|e| DspError::new(DspErrorKind::Type, e, items[2].span.as_ref()))?;
        let ty = self.names.define(name, ty);
        self.names
            .set_by_reference(name, head_is_type(form) && by_reference(&items[3..]));
        if head_is_type(form) {
            for (ctor, t) in generic::constructors(self.names, name, &ty)? {
                self.generics.add_template(&ctor, t);
            }
        }
        Ok(Output {
            name: name.to_string(),
            signature: ty.to_string(),
            warnings: Vec::new(),
        })
    }
}

/// True when a `bind-type`'s options hold zonal's `(by-reference #t)` (the engine's
/// form of `(by-reference . #t)`): the type's bare name then reads as a pointer to it
/// (`Rational` is `Rational*`).
fn by_reference(options: &[Sexp]) -> bool {
    options.iter().any(|o| {
        matches!(o.list(), Some([k, v]) if k.sym() == Some("by-reference")
            && matches!(v.kind, SexpKind::Bool(true)))
    })
}

/// True for `bind-type` (which may be recursive), false for `bind-alias`.
fn head_is_type(form: &Sexp) -> bool {
    form.head() == Some("bind-type")
}

/// True when a lambda returns memory it `salloc`ed itself.
fn escapes(lam: &Lambda, typed: &Typed) -> bool {
    let Some(last) = lam.body.last() else {
        return false;
    };
    let mut vars = Vec::new();
    salloc_lets(&lam.body, typed, &mut vars);
    returns(last, typed, &vars)
}

fn salloc_lets(body: &[Expr], typed: &Typed, out: &mut Vec<usize>) {
    for e in body {
        if let ExprKind::Let(binds, inner) = &e.kind {
            if let Some(ids) = typed.let_vars.get(&e.id) {
                for ((_, v), id) in binds.iter().zip(ids) {
                    if matches!(v.kind, ExprKind::Alloc(crate::syntax::AllocKind::Stack, _)) {
                        out.push(*id);
                    }
                }
            }
            salloc_lets(inner, typed, out);
        }
    }
}

fn returns(e: &Expr, typed: &Typed, vars: &[usize]) -> bool {
    match &e.kind {
        ExprKind::Alloc(crate::syntax::AllocKind::Stack, _) => true,
        ExprKind::Var(_) => {
            matches!(typed.refs.get(&e.id), Some(Ref::Local(v)) if vars.contains(v))
        }
        ExprKind::Let(_, body) | ExprKind::Begin(body) => {
            body.last().is_some_and(|l| returns(l, typed, vars))
        }
        ExprKind::If(_, t, f) => {
            returns(t, typed, vars) || f.as_ref().is_some_and(|f| returns(f, typed, vars))
        }
        _ => false,
    }
}

impl Compiler<'_> {
    /// The trampoline for closures of type `ft`, compiled the first time it is asked for.
    pub fn tramp(&mut self, ft: &Type) -> Result<u64> {
        if let Some(t) = self.tramps.by_type.get(ft) {
            return Ok(*t);
        }
        let (addr, code) = self.trampoline(ft)?;
        self.tramps.code.push(code);
        self.tramps.by_type.insert(ft.clone(), addr);
        Ok(addr)
    }

    /// Compiles the trampoline for closures of type `ft` (see [`crate::interop`]).
    fn trampoline(&mut self, ft: &Type) -> Result<(u64, CodeBlock)> {
        use cranelift_codegen::ir::{AbiParam, Signature, types};
        let mut code = self.jit.module();
        let mut sig = Signature::new(self.jit.call_conv());
        for _ in 0..4 {
            sig.params.push(AbiParam::new(types::I64));
        }
        let consts = self.consts;
        let mut literals = None;
        let none_yet = HashMap::new();
        let no_links = Links::default();
        let mut linker = DefLinker {
            reg: self.reg,
            tramps: &none_yet,
            arena: self.arena,
            literals: &mut literals,
            def: Arc::from(""),
            self_slot: 0,
            maker: 0,
            links: &no_links,
        };
        let typed = Typed::default();
        let none = HashMap::new();
        let id = self.jit.function(&mut code, sig, |b| {
            FnCx::trampoline(b, ft, Lowering::new(&typed, consts, &mut linker, &none))
        })?;
        code.finalize()?;
        Ok((code.address(id), code))
    }
}
