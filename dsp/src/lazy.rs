//! Native code made only when something can run it.
//!
//! A bind-func is parsed and type-checked when it is defined, so every type error is
//! reported then, with its place. Its native code (Cranelift, the costly part) and its
//! init code (the outer `let`, which makes the closure) wait until the definition becomes
//! reachable from something that runs: a call from Rust or Scheme ([`crate::Dsp::call`],
//! a timed call), the DSP entry (`dsp:set!`), a captured variable read or set from
//! outside, or a definition being compiled that names it — callees are compiled,
//! transitively and on the control thread, before their caller's code exists
//! ([`Compiler::realize`]). Until then the name has its slot and its type (callers
//! type-check against it) and its slot holds no closure; nothing compiled can reach it.
//!
//! A definition is deferred only when deferring cannot be observed:
//! - its name has no compiled definition (a redefinition of code that may be running
//!   compiles at once, so its state carries over and its swap is part of the evaluation
//!   that made it, as before);
//! - its init code, outside its lambdas, has no effect anything else could see and cannot
//!   fault or warn, so running it later changes nothing: it calls no function, reads or
//!   writes no global, touches no other closure's variables, prints and schedules
//!   nothing, accesses no memory, runs no loop, divides no integers, and allocates only
//!   literal sizes within half its closure zone (`(let ((phase 0.0)) (lambda ...))`);
//! - the closure it makes is one lambda known from the syntax (the last form of its
//!   `let`s), so the names of that closure's variables are known before it exists.
//!
//! What the code links to — the slot of every bind-func and the address of every global
//! it names — is fixed when it is type-checked ([`Links`]), so a callee redefined with
//! another type in between (an overload set aside under a name of its own) is linked as
//! it was typed. The code is lowered to IR at the definition too, so an error lowering
//! finds is reported then; one only code generation can find (a compiler fault) is
//! reported at the first use, naming the definition and its place, and the name is then
//! undefined.

use crate::compile::{Compiler, How, Lowered};
use crate::error::{DspError, Result};
use crate::infer::{Ref, Typed};
use crate::lower;
use crate::registry::Registry;
use crate::runtime::vars;
use crate::sexp::Span;
use crate::syntax::{Expr, ExprKind, Lambda};
use crate::types::Type;
use std::collections::{HashMap, HashSet};

/// The bind-funcs (by slot) and globals (by address) a definition's code names, as they
/// were when it was type-checked.
#[derive(Default)]
pub(crate) struct Links {
    pub(crate) funcs: HashMap<String, u32>,
    pub(crate) globals: HashMap<String, u64>,
}

impl Links {
    /// What `typed` (the definition `own`) names now.
    pub(crate) fn of(reg: &Registry, typed: &Typed, own: &str) -> Links {
        let mut links = Links::default();
        for r in typed.refs.values() {
            match r {
                Ref::Func(f) if f != own => {
                    if let Some(d) = reg.funcs.get(f) {
                        links.funcs.insert(f.clone(), d.slot);
                    }
                }
                Ref::Global(g) => {
                    if let Some(v) = reg.vals.get(g) {
                        links.globals.insert(g.clone(), v.addr);
                    }
                }
                _ => {}
            }
        }
        links
    }
}

/// A bind-func type-checked and lowered, waiting for its first use.
pub(crate) struct Pending {
    /// Its registry name (kept up to date when it is set aside as an overload).
    pub(crate) key: String,
    /// Where it was defined.
    pub(crate) span: Option<Span>,
    pub(crate) lowered: Lowered,
    pub(crate) ty: Type,
    pub(crate) how: How,
    pub(crate) links: Links,
    /// The captured variables of the closure it will make (name, type), as its variable
    /// table will list them.
    pub(crate) vars: Vec<(String, Type)>,
}

/// How many definitions were compiled and how many wait for their first use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompileCounts {
    /// Bind-func generations compiled to native code so far.
    pub compiled: u64,
    /// Bind-funcs defined (type-checked) whose code is not made yet.
    pub pending: usize,
}

/// The variables of the closure `init` makes, when it can be deferred (see the module
/// header); `None` when it must be compiled now. `zone_bytes`: its closure zone's size.
pub(crate) fn deferrable(
    reg: &Registry,
    key: &str,
    init: &Lambda,
    typed: &Typed,
    zone_bytes: u64,
) -> Option<Vec<(String, Type)>> {
    if reg
        .funcs
        .get(key)
        .is_some_and(|f| !reg.lazy.contains_key(&f.gen_id))
    {
        return None;
    }
    let body = init.body.first()?;
    let made = made_lambda(body)?;
    if !quiet(body, typed, zone_bytes / 2) {
        return None;
    }
    let caps = typed.captures.get(&made).map_or(&[][..], Vec::as_slice);
    let mut out: Vec<(String, Type)> = caps
        .iter()
        .map(|v| &typed.vars[*v])
        .filter(|info| matches!(lower::clif(&info.ty, None), Ok(Some(_))))
        .map(|info| (info.name.clone(), info.ty.clone()))
        .collect();
    out.truncate(vars::MAX_VARS);
    Some(out)
}

/// The index of the lambda `e` evaluates to, when the syntax says which.
fn made_lambda(e: &Expr) -> Option<usize> {
    match &e.kind {
        ExprKind::Lambda(l) => Some(l.index),
        ExprKind::Let(_, body) | ExprKind::Begin(body) => made_lambda(body.last()?),
        _ => None,
    }
}

/// True when `e`, outside the lambdas in it, can neither fault nor have an effect
/// anything else can see, and allocates at most `room` bytes at a time (so its zone never
/// overflows and a warning or fault that running it could give is not put off).
fn quiet(e: &Expr, typed: &Typed, room: u64) -> bool {
    let own = match &e.kind {
        ExprKind::Lambda(_) => return true,
        ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Bool(_)
        | ExprKind::Str(_)
        | ExprKind::Null
        | ExprKind::Void
        | ExprKind::Let(..)
        | ExprKind::Begin(_)
        | ExprKind::If(..)
        | ExprKind::And(_)
        | ExprKind::Or(_) => true,
        ExprKind::Var(_) | ExprKind::Set(..) => {
            !matches!(typed.refs.get(&e.id), Some(Ref::Global(_)))
        }
        ExprKind::Alloc(_, count) => {
            let n = match count.as_deref().map(|c| &c.kind) {
                None => Some(1),
                Some(ExprKind::Int(n)) => u64::try_from(*n).ok(),
                Some(_) => None,
            };
            let elem = match typed.types.get(e.id) {
                Some(Type::Ptr(t)) => Some(t.size()),
                _ => None,
            };
            n.zip(elem)
                .and_then(|(n, size)| n.checked_mul(size))
                .is_some_and(|bytes| bytes <= room)
        }
        ExprKind::App(..) => typed
            .builtin(e.id)
            .zip(typed.types.get(e.id))
            .is_some_and(|(b, t)| b.only_computes(t)),
        _ => false,
    };
    own && e.children().into_iter().all(|c| quiet(c, typed, room))
}

/// The pending definitions `root` needs compiled first (those its code links to, and
/// theirs), in the order to compile them, `root` last.
fn order(reg: &Registry, root: usize) -> Vec<usize> {
    let by_slot: HashMap<u32, usize> = reg
        .funcs
        .values()
        .filter(|f| reg.lazy.contains_key(&f.gen_id))
        .map(|f| (f.slot, f.gen_id))
        .collect();
    let mut out = Vec::new();
    let mut seen = HashSet::from([root]);
    // (definition, whether its callees were pushed already)
    let mut stack = vec![(root, false)];
    while let Some((id, expanded)) = stack.pop() {
        if expanded {
            out.push(id);
            continue;
        }
        stack.push((id, true));
        let Some(p) = reg.lazy.get(&id) else {
            continue;
        };
        for slot in p.links.funcs.values() {
            if let Some(callee) = by_slot.get(slot)
                && seen.insert(*callee)
            {
                stack.push((*callee, false));
            }
        }
    }
    out
}

impl Compiler<'_> {
    /// Compiles the pending definition numbered `root` (its generation id) and, first,
    /// every pending definition its code links to. Nothing to do when it is compiled.
    pub(crate) fn realize(&mut self, root: usize) -> Result<()> {
        if !self.reg.lazy.contains_key(&root) {
            return Ok(());
        }
        for id in order(self.reg, root) {
            self.compile_pending(id)?;
        }
        Ok(())
    }

    /// Compiles the pending definitions `links` names (and those they need): a definition
    /// compiled now calls only compiled code.
    pub(crate) fn realize_links(&mut self, links: &Links) -> Result<()> {
        let ids: Vec<usize> = (links.funcs.values())
            .filter_map(|s| self.reg.owner_of_slot(*s))
            .filter(|id| self.reg.lazy.contains_key(id))
            .collect();
        for id in ids {
            self.realize(id)?;
        }
        Ok(())
    }

    fn compile_pending(&mut self, id: usize) -> Result<()> {
        // (its callees were compiled first, by `realize`'s order)
        let Some(p) = self.reg.lazy.remove(&id) else {
            return Ok(());
        };
        let Pending {
            key,
            span,
            mut lowered,
            ty,
            how,
            links,
            ..
        } = p;
        // installed under the name it has now (an overload set aside has another)
        lowered.generation.name.clone_from(&key);
        let result = self.compile_gen(span.as_ref(), id, lowered, &links, ty, how);
        result.map(|_| ()).map_err(|e| {
            // its generation is gone: the name is no longer defined
            self.reg.undefine(&key, id);
            self.ctx.take_warnings();
            DspError {
                message: format!("{key} (compiled at its first use): {}", e.message),
                span: e.span.clone().or(span),
                ..e
            }
        })
    }
}
