//! The evaluator: walks compiled [`Node`]s. Calls in tail position return
//! [`Flow::Tail`] to the trampoline in [`Interp::exec`], so tail calls run in
//! constant space; non-tail calls recurse on the Rust stack, which `stacker` grows
//! on demand, with a depth limit that raises a Scheme error instead of overflowing.
//!
//! GC safety: every temporary value lives on `Interp::stack` and every frame in use
//! on `Interp::env_stack`; the collector runs only at the top of `exec`'s loop.

use std::rc::Rc;
use std::sync::atomic::Ordering;

use crate::builtins::{Fast, PlainFn, PrimFn};
use crate::code::Unit;
use crate::compile::{GlobalCall, Lambda, MAX_GLOBAL_CALL_ARGS, Node};
use crate::error::{BACKTRACE_LIMIT, Error, ErrorKind};
use crate::heap::{NO_FRAME, STACK_BIT};
use crate::interp::{Ctrl, Interp, err};
use crate::value::{NativeBody, Obj, Promise, V, Value};

/// How deep non-tail calls may nest before a stack-overflow error.
pub(crate) const MAX_DEPTH: usize = 400_000;
/// The stack reserved (virtual memory, touched only as deep as it is used) for an
/// evaluation entered from Rust, so that deep recursion does not keep crossing the
/// boundaries of small stack segments.
const STACK_RESERVE: usize = 256 << 20;
const RED_ZONE: usize = 128 * 1024;
const STACK_SEGMENT: usize = 4 * 1024 * 1024;

pub(crate) enum Flow {
    Val(Value),
    /// Call `lam` closed over `env` with the top `argc` values of `Interp::stack`
    /// as arguments (the procedure itself sits just below them).
    Tail(Rc<Lambda>, u32, u32),
}

impl Interp {
    /// Runs `f` on a large stack of its own, unless already on one.
    pub(crate) fn on_big_stack<R>(&mut self, f: impl FnOnce(&mut Interp) -> R) -> R {
        if self.on_big_stack {
            return f(self);
        }
        self.on_big_stack = true;
        let saved = self.stack_floor;
        let r = stacker::grow(STACK_RESERVE, || {
            self.stack_floor = stack_floor_here();
            f(self)
        });
        self.stack_floor = saved;
        self.on_big_stack = false;
        r
    }

    /// Runs `f` where at least [`RED_ZONE`] bytes of stack are left, moving to a new
    /// segment when this one is nearly used up. The common case is one comparison of
    /// the stack pointer with [`Interp::stack_floor`].
    #[inline(always)]
    fn with_stack<R>(&mut self, f: impl FnOnce(&mut Interp) -> R) -> R {
        if stack_pointer() > self.stack_floor {
            f(self)
        } else {
            self.grow_stack(f)
        }
    }

    #[inline(never)]
    fn grow_stack<R>(&mut self, f: impl FnOnce(&mut Interp) -> R) -> R {
        let saved = self.stack_floor;
        let r = stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || {
            self.stack_floor = stack_floor_here();
            f(self)
        });
        self.stack_floor = saved;
        r
    }

    /// Calls `lam` (closed over `cenv`) with the top `argc` values of the stack and
    /// runs until it returns a value; tail calls loop here.
    pub(crate) fn exec(&mut self, lam: Rc<Lambda>, cenv: u32, argc: u32) -> Result<Value, Ctrl> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        self.depth += 1;
        let slot = self.env_stack.len();
        let lbase = self.locals.len();
        let r = self.with_stack(|it| it.exec_loop(lam, cenv, argc, slot, lbase));
        self.env_stack.truncate(slot);
        self.locals.truncate(lbase);
        self.depth -= 1;
        r
    }

    fn exec_loop(
        &mut self,
        mut lam: Rc<Lambda>,
        mut cenv: u32,
        mut argc: u32,
        slot: usize,
        lbase: usize,
    ) -> Result<Value, Ctrl> {
        loop {
            self.locals.truncate(lbase);
            let env = self.bind_frame(&lam, cenv, argc as usize);
            self.env_stack.truncate(slot);
            self.env_stack.push(env);
            if self.interrupt.load(Ordering::Relaxed) {
                return Err(self.interrupted());
            }
            if self.heap.needs_step() && self.no_gc == 0 {
                self.safe_point()?;
            }
            match self.eval_node(&lam.body, env) {
                Ok(Flow::Val(v)) => return Ok(v),
                Ok(Flow::Tail(l, e, n)) => {
                    lam = l;
                    cenv = e;
                    argc = n;
                }
                Err(c) => return Err(self.traced(c, &lam)),
            }
        }
    }

    /// The interrupt flag was raised: clears it and stops the evaluation.
    #[cold]
    #[inline(never)]
    fn interrupted(&self) -> Ctrl {
        self.interrupt.store(false, Ordering::Relaxed);
        err(ErrorKind::Interrupted, "evaluation interrupted").into()
    }

    /// Makes the frame of a call from the top `argc` stack values (arity already
    /// checked) and pops them and the procedure below them.
    fn bind_frame(&mut self, lam: &Lambda, cenv: u32, argc: usize) -> u32 {
        let start = self.stack.len() - argc;
        if lam.rest {
            let rest = self.list_from_stack(start + lam.nreq);
            self.stack.truncate(start + lam.nreq);
            self.stack.push(rest);
        }
        let env = if lam.stack_frame {
            let base = self.locals.len();
            self.locals.push(Value::new(V::Int(cenv as i64)));
            self.locals.extend_from_slice(&self.stack[start..]);
            self.locals
                .resize(self.locals.len() + lam.extra, Value::UNDEF);
            STACK_BIT | base as u32
        } else {
            self.heap.frame(&self.stack[start..], lam.extra, cenv)
        };
        self.stack.truncate(start.saturating_sub(1));
        env
    }

    /// A new frame for `let`/`letrec` from `slots` plus `extra` unassigned ones.
    fn let_frame(&mut self, from: usize, extra: usize, parent: u32, on_stack: bool) -> u32 {
        let env = if on_stack {
            let base = self.locals.len();
            self.locals.push(Value::new(V::Int(parent as i64)));
            self.locals.extend_from_slice(&self.stack[from..]);
            self.locals.resize(self.locals.len() + extra, Value::UNDEF);
            STACK_BIT | base as u32
        } else {
            self.heap.frame(&self.stack[from..], extra, parent)
        };
        self.stack.truncate(from);
        env
    }

    #[cold]
    #[inline(never)]
    fn traced(&self, mut c: Ctrl, lam: &Lambda) -> Ctrl {
        if let Ctrl::Throw(t) = &mut c
            && t.err.backtrace.len() < BACKTRACE_LIMIT
            && lam.name != "top level"
        {
            let line = match &lam.pos {
                Some(p) => format!("in {} (defined at {p})", lam.name),
                None => format!("in {}", lam.name),
            };
            if t.err.backtrace.last() != Some(&line) {
                t.err.backtrace.push(line);
            }
        }
        c
    }

    /// Evaluates a node that is not in tail position.
    pub(crate) fn eval_value(&mut self, node: &Node, env: u32) -> Result<Value, Ctrl> {
        match self.eval_node(node, env)? {
            Flow::Val(v) => Ok(v),
            Flow::Tail(l, e, n) => self.exec(l, e, n),
        }
    }

    #[inline(always)]
    fn eval_arg(&mut self, node: &Node, env: u32) -> Result<Value, Ctrl> {
        match node {
            Node::Const(v) => Ok(*v),
            Node::Local(i) => self.checked_local(env, *i),
            Node::Global(s, site) => self.global(*s, *site),
            Node::GlobalCall(c) => match self.global_call(c, env, false)? {
                Flow::Val(v) => Ok(v),
                Flow::Tail(l, e, n) => self.exec(l, e, n),
            },
            _ => self.with_stack(|it| it.eval_value(node, env)),
        }
    }

    /// A [`GlobalCall`]: with simple arguments (constants and variables, which stay
    /// reachable), builtins are called directly with the arguments in a local array;
    /// with others, two fixnums for `+ - = < > <= >=` are combined at once; anything
    /// else goes through the stack like any call.
    fn global_call(&mut self, c: &GlobalCall, env: u32, tail: bool) -> Result<Flow, Ctrl> {
        let f = self.global(c.sym, c.sym_site)?;
        if let V::Prim(id) = f.get()
            && !c.simple
        {
            let p = &self.prims[id as usize];
            if matches!(p.f, PrimFn::Plain(_))
                && p.fast != Fast::No
                && let [x, y] = &c.args[..]
            {
                // `(+ (f a) 1)`: the first value waits on the stack (where the
                // collector sees it) while the second is computed
                let fast = p.fast;
                let base = self.stack.len();
                self.stack.push(f);
                let a = self.eval_arg(x, env)?;
                self.stack.push(a);
                let b = self.eval_arg(y, env)?;
                if let (V::Int(a), V::Int(b)) = (a.get(), b.get())
                    && let Some(v) = fast.apply(a, b)
                {
                    self.stack.truncate(base);
                    return Ok(Flow::Val(v));
                }
                self.stack.push(b);
                return self.call_from_stack(base, c.site, tail);
            }
        }
        if let V::Prim(id) = f.get()
            && c.simple
        {
            let p = &self.prims[id as usize];
            let n = c.args.len();
            if let PrimFn::Plain(func) = p.f
                && p.fast != Fast::No
                && let [x, y] = &c.args[..]
            {
                let fast = p.fast;
                let (a, b) = (self.simple(x, env)?, self.simple(y, env)?);
                if let (V::Int(a), V::Int(b)) = (a.get(), b.get())
                    && let Some(v) = fast.apply(a, b)
                {
                    return Ok(Flow::Val(v));
                }
                return match func(self, &[a, b]) {
                    Ok(v) => Ok(Flow::Val(v)),
                    Err(e) => Err(self.failed_at(e, c.site)),
                };
            }
            if let PrimFn::Plain(func) = p.f
                && n >= p.min
                && p.max.is_none_or(|m| n <= m)
            {
                {
                    let mut args = [Value::UNSPEC; MAX_GLOBAL_CALL_ARGS];
                    for (slot, a) in args.iter_mut().zip(c.args.iter()) {
                        *slot = self.simple(a, env)?;
                    }
                    // the arguments are constants and variables: reachable while
                    // a retry collects
                    return match func(self, &args[..n]) {
                        Ok(v) => Ok(Flow::Val(v)),
                        Err(e) => self.builtin_failed(func, &args[..n], e, c.site),
                    };
                }
            }
        }
        let base = self.stack.len();
        self.stack.push(f);
        for a in c.args.iter() {
            let v = self.simple(a, env)?;
            self.stack.push(v);
        }
        self.call_from_stack(base, c.site, tail)
    }

    /// Evaluates a constant or variable reference.
    #[inline(always)]
    fn simple(&mut self, node: &Node, env: u32) -> Result<Value, Ctrl> {
        match node {
            Node::Const(v) => Ok(*v),
            Node::Local(i) => self.checked_local(env, *i),
            Node::Global(s, site) => self.global(*s, *site),
            _ => self.eval_value(node, env),
        }
    }

    #[inline(always)]
    fn checked_local(&self, env: u32, i: u32) -> Result<Value, Ctrl> {
        let v = self.local(env, i);
        if v.is_undef() {
            return Err(used_before_definition().into());
        }
        Ok(v)
    }

    #[inline(always)]
    fn local(&self, env: u32, i: u32) -> Value {
        if env & STACK_BIT != 0 {
            self.locals[(env & !STACK_BIT) as usize + 1 + i as usize]
        } else {
            self.heap.frames[env as usize].slots[i as usize]
        }
    }

    fn set_local(&mut self, env: u32, i: u32, v: Value) {
        if env & STACK_BIT != 0 {
            self.locals[(env & !STACK_BIT) as usize + 1 + i as usize] = v;
        } else {
            let slot = &mut self.heap.frames[env as usize].slots[i as usize];
            let old = std::mem::replace(slot, v);
            self.heap.barrier(old);
        }
    }

    fn parent(&self, env: u32) -> u32 {
        if env & STACK_BIT != 0 {
            match self.locals[(env & !STACK_BIT) as usize].get() {
                V::Int(p) => p as u32,
                _ => NO_FRAME,
            }
        } else {
            self.heap.frames[env as usize].parent
        }
    }

    fn up(&self, env: u32, depth: u32, i: u32) -> Value {
        self.local(self.frame_at(env, depth), i)
    }

    #[inline(always)]
    fn global(&self, s: u32, site: u32) -> Result<Value, Ctrl> {
        let v = self.globals[s as usize];
        if v.is_undef() {
            return Err(self.unbound(s, site).into());
        }
        Ok(v)
    }

    #[cold]
    #[inline(never)]
    fn unbound(&self, s: u32, site: u32) -> Error {
        let e = err(
            ErrorKind::Unbound,
            format!("{} is not defined", self.sym_name(s)),
        );
        self.at_site(e, site)
    }

    pub(crate) fn at_site(&self, mut e: Error, site: u32) -> Error {
        if e.pos.is_none() {
            e.pos = self.site_pos(site);
        }
        e
    }

    /// A builtin's error, placed at `site` (kept out of line: the callers are hot
    /// and recursive, and an `Error` on their frames made every Scheme call use
    /// more stack).
    #[cold]
    #[inline(never)]
    #[allow(
        clippy::boxed_local,
        reason = "the box is what the builtin returned; unboxing it in the caller is what put an Error on the hot frames"
    )]
    fn failed_at(&self, e: Box<Error>, site: u32) -> Ctrl {
        self.at_site(*e, site).into()
    }

    fn site_ctrl(&self, mut c: Ctrl, site: u32) -> Ctrl {
        if let Ctrl::Throw(t) = &mut c
            && t.err.pos.is_none()
        {
            t.err.pos = self.site_pos(site);
        }
        c
    }

    fn frame_at(&self, mut env: u32, depth: u32) -> u32 {
        for _ in 0..depth {
            env = self.parent(env);
        }
        env
    }

    /// Evaluates `node`; a call in tail position comes back as [`Flow::Tail`].
    pub(crate) fn eval_node(&mut self, mut node: &Node, mut env: u32) -> Result<Flow, Ctrl> {
        // where the env and locals stacks stood before the first `let` here
        let mut marks: Option<(usize, usize)> = None;
        let r = loop {
            match node {
                Node::Const(v) => break Flow::Val(*v),
                Node::Local(i) => {
                    let v = self.local(env, *i);
                    if v.is_undef() {
                        return Err(used_before_definition().into());
                    }
                    break Flow::Val(v);
                }
                Node::Up(d, i) => {
                    let v = self.up(env, *d, *i);
                    if v.is_undef() {
                        return Err(used_before_definition().into());
                    }
                    break Flow::Val(v);
                }
                Node::Global(s, site) => break Flow::Val(self.global(*s, *site)?),
                Node::SetLocal(d, i, value) => {
                    let v = self.eval_arg(value, env)?;
                    let f = self.frame_at(env, *d);
                    self.set_local(f, *i, v);
                    break Flow::Val(Value::UNSPEC);
                }
                Node::SetGlobal(..) | Node::DefGlobal(..) | Node::DefMacro(..) => {
                    break Flow::Val(self.eval_definition(node, env)?);
                }
                Node::If(parts) => {
                    let t = self.eval_arg(&parts[0], env)?;
                    node = if t.truthy() { &parts[1] } else { &parts[2] };
                }
                Node::Lambda(lam) => {
                    let v = self.alloc(Obj::Closure(lam.clone(), env));
                    break Flow::Val(v);
                }
                Node::Seq(nodes) => {
                    let Some((last, init)) = nodes.split_last() else {
                        break Flow::Val(Value::UNSPEC);
                    };
                    for n in init {
                        self.eval_arg(n, env)?;
                    }
                    node = last;
                }
                Node::And(nodes) => {
                    let Some((last, init)) = nodes.split_last() else {
                        break Flow::Val(Value::TRUE);
                    };
                    let mut short = None;
                    for n in init {
                        let v = self.eval_arg(n, env)?;
                        if !v.truthy() {
                            short = Some(v);
                            break;
                        }
                    }
                    match short {
                        Some(v) => break Flow::Val(v),
                        None => node = last,
                    }
                }
                Node::Or(nodes) => {
                    let Some((last, init)) = nodes.split_last() else {
                        break Flow::Val(Value::FALSE);
                    };
                    let mut short = None;
                    for n in init {
                        let v = self.eval_arg(n, env)?;
                        if v.truthy() {
                            short = Some(v);
                            break;
                        }
                    }
                    match short {
                        Some(v) => break Flow::Val(v),
                        None => node = last,
                    }
                }
                Node::GlobalCall(c) => break self.global_call(c, env, true)?,
                Node::Call(call) => {
                    let base = self.stack.len();
                    let f = self.eval_arg(&call.f, env)?;
                    self.stack.push(f);
                    for a in call.args.iter() {
                        let v = self.eval_arg(a, env)?;
                        self.stack.push(v);
                    }
                    break self.call_from_stack(base, call.site, true)?;
                }
                Node::Let(l) => {
                    marks.get_or_insert((self.env_stack.len(), self.locals.len()));
                    let base = self.stack.len();
                    for i in l.inits.iter() {
                        let v = self.eval_arg(i, env)?;
                        self.stack.push(v);
                    }
                    let f = self.let_frame(base, l.extra, env, l.stack);
                    self.env_stack.push(f);
                    env = f;
                    node = &l.body;
                }
                Node::Letrec(l) => {
                    marks.get_or_insert((self.env_stack.len(), self.locals.len()));
                    let f = self.let_frame(self.stack.len(), l.inits.len() + l.extra, env, l.stack);
                    self.env_stack.push(f);
                    for (k, i) in l.inits.iter().enumerate() {
                        let v = self.eval_arg(i, f)?;
                        self.set_local(f, k as u32, v);
                    }
                    env = f;
                    node = &l.body;
                }
                Node::CondArrow(parts, site) => {
                    let t = self.eval_arg(&parts[0], env)?;
                    if t.truthy() {
                        let base = self.stack.len();
                        self.stack.push(t);
                        let f = self.eval_arg(&parts[1], env)?;
                        self.stack[base] = f;
                        self.stack.push(t);
                        break self.call_from_stack(base, *site, true)?;
                    }
                    node = &parts[2];
                }
                Node::Case(c) => {
                    let k = self.eval_arg(&c.key, env)?;
                    let chosen = c
                        .clauses
                        .iter()
                        .find(|(vals, _, _)| vals.iter().any(|v| v.eqv(k)))
                        .map(|(_, body, arrow)| (body, *arrow))
                        .or(c.default.as_ref().map(|(b, a)| (b, *a)));
                    match chosen {
                        None => break Flow::Val(Value::UNSPEC),
                        Some((body, false)) => node = body,
                        Some((body, true)) => {
                            let base = self.stack.len();
                            self.stack.push(k);
                            let f = self.eval_arg(body, env)?;
                            self.stack[base] = f;
                            self.stack.push(k);
                            break self.call_from_stack(base, c.site, true)?;
                        }
                    }
                }
                Node::Delay(..) | Node::Special(..) => break Flow::Val(self.eval_rare(node, env)?),
            }
        };
        if let Some((env_mark, locals_mark)) = marks {
            self.env_stack.truncate(env_mark);
            self.locals.truncate(locals_mark);
        }
        Ok(r)
    }

    /// `set!` of a global, `define` and `define-macro` (kept out of `eval_node`'s frame).
    #[inline(never)]
    fn eval_definition(&mut self, node: &Node, env: u32) -> Result<Value, Ctrl> {
        match node {
            Node::SetGlobal(s, site, value) => {
                let v = self.eval_arg(value, env)?;
                if self.globals[*s as usize].is_undef() {
                    let e = err(
                        ErrorKind::Unbound,
                        format!("set! of {}, which is not defined", self.sym_name(*s)),
                    );
                    return Err(self.at_site(e, *site).into());
                }
                self.globals[*s as usize] = v;
                Ok(Value::UNSPEC)
            }
            Node::DefGlobal(s, value) => {
                let v = self.eval_arg(value, env)?;
                self.globals[*s as usize] = v;
                self.macros.remove(s);
                Ok(self.sym_value(*s))
            }
            Node::DefMacro(s, value, site) => {
                let v = self.eval_arg(value, env)?;
                if !self.is_procedure_value(v) {
                    let e = err(ErrorKind::Type, "define-macro wants a procedure");
                    return Err(self.at_site(e, *site).into());
                }
                self.macros.insert(*s, crate::interp::Macro::Proc(v));
                Ok(self.sym_value(*s))
            }
            _ => Ok(Value::UNSPEC),
        }
    }

    /// `delay` and embedder special forms (kept out of `eval_node`'s frame).
    #[inline(never)]
    fn eval_rare(&mut self, node: &Node, env: u32) -> Result<Value, Ctrl> {
        match node {
            Node::Delay(lam, lazy) => {
                let thunk = self.alloc(Obj::Closure(lam.clone(), env));
                let base = self.stack.len();
                self.stack.push(thunk);
                let p = self.alloc(Obj::Promise(Promise::Delayed(thunk, *lazy)));
                self.stack.truncate(base);
                Ok(p)
            }
            Node::Special(sp, form, site) => {
                let sp = sp.clone();
                self.no_gc += 1;
                let r = (sp.f)(self, form);
                self.no_gc -= 1;
                Ok(r.map_err(|e| self.at_site(e, *site))?)
            }
            _ => Ok(Value::UNSPEC),
        }
    }

    fn sym_value(&self, s: u32) -> Value {
        Value::new(V::Sym(s))
    }

    pub(crate) fn is_procedure_value(&self, v: Value) -> bool {
        match v.get() {
            V::Prim(_) => true,
            V::Obj(_) => matches!(
                self.heap.obj(v),
                Some(Obj::Closure(..) | Obj::Native(_) | Obj::Cont(_))
            ),
            _ => false,
        }
    }

    /// Calls the procedure at `stack[base]` with the arguments above it, consuming them.
    /// Builtins and closures are handled here; everything else, and every error, out
    /// of line, so that this frame (on the stack once per Scheme call) stays small.
    pub(crate) fn call_from_stack(
        &mut self,
        base: usize,
        site: u32,
        tail: bool,
    ) -> Result<Flow, Ctrl> {
        let f = self.stack[base];
        let argc = self.stack.len() - base - 1;
        match f.get() {
            V::Prim(id) => {
                let p = &self.prims[id as usize];
                if let PrimFn::Plain(func) = p.f
                    && argc >= p.min
                    && p.max.is_none_or(|m| argc <= m)
                {
                    return self.call_plain(func, base, site);
                }
            }
            V::Obj(i) => {
                if let Some(Obj::Closure(lam, cenv)) = self.heap.objs.get(i as usize) {
                    let fits = if lam.rest {
                        argc >= lam.nreq
                    } else {
                        argc == lam.nreq
                    };
                    if fits {
                        let lam = lam.clone();
                        let cenv = *cenv;
                        return if tail {
                            Ok(Flow::Tail(lam, cenv, argc as u32))
                        } else {
                            self.exec(lam, cenv, argc as u32)
                                .map(Flow::Val)
                                .map_err(|c| self.site_ctrl(c, site))
                        };
                    }
                }
            }
            _ => {}
        }
        self.call_other(base, site, tail)
    }

    /// Calls a plain builtin with the arguments above `stack[base]`, consuming them.
    #[inline(always)]
    fn call_plain(&mut self, func: PlainFn, base: usize, site: u32) -> Result<Flow, Ctrl> {
        let stack = std::mem::take(&mut self.stack);
        let r = func(self, &stack[base + 1..]);
        self.stack = stack;
        match r {
            Ok(v) => {
                self.stack.truncate(base);
                Ok(Flow::Val(v))
            }
            Err(e) => {
                // the arguments are back on the stack, where a collection sees them
                let args = self.stack[base + 1..].to_vec();
                let r = self.builtin_failed(func, &args, e, site);
                self.stack.truncate(base);
                r
            }
        }
    }

    /// A builtin called with `args` failed with `e`: the error at `site`, unless it
    /// ran out of room and succeeds after a collection (see `retry_after_collection`).
    #[cold]
    #[inline(never)]
    fn builtin_failed(
        &mut self,
        func: PlainFn,
        args: &[Value],
        e: Box<Error>,
        site: u32,
    ) -> Result<Flow, Ctrl> {
        match self.retry_after_collection(func, args, e) {
            Ok(v) => Ok(Flow::Val(v)),
            Err(e) => Err(self.failed_at(e, site)),
        }
    }

    /// A builtin failed with `e`: when it ran out of room under the heap limit and
    /// a collection can run, collects (everything the evaluator holds is reachable
    /// at a builtin's call) and calls it again with the same arguments. Builtins
    /// check for room before any effect, so calling one twice is safe.
    #[cold]
    #[inline(never)]
    fn retry_after_collection(
        &mut self,
        func: PlainFn,
        args: &[Value],
        e: Box<Error>,
    ) -> Result<Value, Box<Error>> {
        if e.kind != ErrorKind::Memory || self.no_gc > 0 {
            return Err(e);
        }
        self.collect_now();
        self.heap.over_limit = false;
        func(self, args)
    }

    /// The rest of [`Interp::call_from_stack`]: control builtins, `apply`, natives,
    /// continuations, and the errors (wrong argument count, not a procedure).
    #[inline(never)]
    fn call_other(&mut self, base: usize, site: u32, tail: bool) -> Result<Flow, Ctrl> {
        let f = self.stack[base];
        let argc = self.stack.len() - base - 1;
        match f.get() {
            V::Prim(id) => {
                let p = &self.prims[id as usize];
                let func = p.f;
                if argc < p.min || p.max.is_some_and(|m| argc > m) {
                    let e = p.arity_error(argc);
                    self.stack.truncate(base);
                    return Err(self.at_site(e, site).into());
                }
                match func {
                    PrimFn::Plain(func) => self.call_plain(func, base, site),
                    PrimFn::Ctl(func) => {
                        let args: Vec<Value> = self.stack[base + 1..].to_vec();
                        let r = func(self, &args);
                        self.stack.truncate(base);
                        match r {
                            Ok(v) => Ok(Flow::Val(v)),
                            Err(c) => Err(self.site_ctrl(c, site)),
                        }
                    }
                    PrimFn::Apply => {
                        let last = self.stack[self.stack.len() - 1];
                        let Some(spread) = self.list_vec(last) else {
                            self.stack.truncate(base);
                            let e = err(
                                ErrorKind::Type,
                                "apply wants a proper list as its last argument",
                            );
                            return Err(self.at_site(e, site).into());
                        };
                        self.stack.pop();
                        self.stack.remove(base);
                        self.stack.extend(spread);
                        self.call_from_stack(base, site, tail)
                    }
                }
            }
            V::Obj(i) => match self.heap.objs.get(i as usize).unwrap_or(&Obj::Free) {
                Obj::Closure(lam, _) => {
                    let wanted = if lam.rest {
                        format!("at least {}", lam.nreq)
                    } else {
                        lam.nreq.to_string()
                    };
                    let e = err(
                        ErrorKind::Arity,
                        format!(
                            "{} wants {wanted} argument{} but got {argc}",
                            lam.name,
                            plural(lam.nreq)
                        ),
                    );
                    self.stack.truncate(base);
                    Err(self.at_site(e, site).into())
                }
                Obj::Native(n) => {
                    let n = n.clone();
                    let args: Vec<Value> = self.stack[base + 1..].to_vec();
                    let r = match &n.f {
                        NativeBody::Once(f) => {
                            let Ok(mut func) = f.try_borrow_mut() else {
                                self.stack.truncate(base);
                                let e = err(
                                    ErrorKind::Native,
                                    format!("native procedure {} called itself", n.name),
                                );
                                return Err(self.at_site(e, site).into());
                            };
                            self.no_gc += 1;
                            let r = func(self, &args);
                            self.no_gc -= 1;
                            r
                        }
                        NativeBody::Reentrant(func) => {
                            self.no_gc += 1;
                            let r = func(self, &args);
                            self.no_gc -= 1;
                            r
                        }
                    };
                    self.stack.truncate(base);
                    r.map(Flow::Val).map_err(|e| self.at_site(e, site).into())
                }
                Obj::Cont(id) => {
                    let id = *id;
                    let v = if argc == 1 {
                        self.stack[base + 1]
                    } else {
                        let vals = self.stack[base + 1..].to_vec();
                        self.alloc(Obj::Values(vals))
                    };
                    self.stack.truncate(base);
                    Err(Ctrl::Escape(id, v))
                }
                _ => {
                    self.stack.truncate(base);
                    Err(self.not_procedure(f, site).into())
                }
            },
            _ => {
                self.stack.truncate(base);
                Err(self.not_procedure(f, site).into())
            }
        }
    }

    fn not_procedure(&self, f: Value, site: u32) -> Error {
        let message = match self.site_name(site) {
            Some(name) if name != crate::compile::ANONYMOUS_CALL => {
                format!("{name} is not a procedure, it cannot be called")
            }
            _ => "cannot call a value that is not a procedure:".to_string(),
        };
        let e = err(ErrorKind::Type, message).with_irritants(vec![self.write_string(f)]);
        self.at_site(e, site)
    }

    fn list_from_stack(&mut self, from: usize) -> Value {
        let mut l = Value::NIL;
        for k in (from..self.stack.len()).rev() {
            let v = self.stack[k];
            l = self.heap.cons(v, l);
        }
        l
    }

    /// Calls procedure `f` with `args` (not in tail position).
    pub(crate) fn apply_values(&mut self, f: Value, args: &[Value]) -> Result<Value, Ctrl> {
        let base = self.stack.len();
        self.stack.push(f);
        self.stack.extend_from_slice(args);
        match self.call_from_stack(base, 0, false)? {
            Flow::Val(v) => Ok(v),
            Flow::Tail(l, e, n) => self.exec(l, e, n),
        }
    }

    /// Runs a compiled top-level form.
    pub(crate) fn run_top(&mut self, (node, unit): (Node, Rc<Unit>)) -> Result<Value, Ctrl> {
        let lam = Rc::new(Lambda {
            unit: Some(unit),
            name: "top level".into(),
            nreq: 0,
            rest: false,
            extra: 0,
            stack_frame: false,
            body: node,
            pos: None,
            source: None,
        });
        let base = self.stack.len();
        self.stack.push(Value::UNSPEC);
        let r = self.exec(lam, NO_FRAME, 0);
        self.stack.truncate(base);
        r
    }

    /// Forces a promise (iterating through `delay-force` chains).
    pub(crate) fn force(&mut self, p: Value) -> Result<Value, Ctrl> {
        loop {
            let (thunk, lazy) = match self.heap.obj(p) {
                Some(Obj::Promise(Promise::Done(v))) => return Ok(*v),
                Some(Obj::Promise(Promise::Delayed(t, lazy))) => (*t, *lazy),
                _ => return Ok(p),
            };
            let base = self.stack.len();
            self.stack.push(p);
            let r = self.apply_values(thunk, &[]);
            self.stack.truncate(base);
            let v = r?;
            if let Some(Obj::Promise(Promise::Done(done))) = self.heap.obj(p) {
                return Ok(*done);
            }
            if !lazy {
                self.set_promise(p, Promise::Done(v));
                return Ok(v);
            }
            // delay-force: a promise result is chained into this one
            match self.heap.obj(v) {
                Some(Obj::Promise(Promise::Done(inner))) => {
                    let inner = *inner;
                    self.set_promise(p, Promise::Done(inner));
                    return Ok(inner);
                }
                Some(Obj::Promise(Promise::Delayed(t, l))) => {
                    let (t, l) = (*t, *l);
                    self.set_promise(p, Promise::Delayed(t, l));
                }
                _ => {
                    self.set_promise(p, Promise::Done(v));
                    return Ok(v);
                }
            }
        }
    }

    fn set_promise(&mut self, p: Value, state: Promise) {
        if let Some(o) = self.heap.obj_mut(p) {
            let old = std::mem::replace(o, Obj::Promise(state));
            if let Obj::Promise(Promise::Delayed(v, _) | Promise::Done(v)) = old {
                self.heap.barrier(v);
            }
        }
    }
}

/// The address of the current stack top (near enough: a local of this frame).
#[inline(always)]
fn stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// The lowest stack address [`Interp::with_stack`] may run at on the current stack
/// segment without growing it; `usize::MAX` (always ask `stacker`) when the
/// segment's size is unknown.
fn stack_floor_here() -> usize {
    match stacker::remaining_stack() {
        Some(left) => stack_pointer().saturating_sub(left) + RED_ZONE,
        None => usize::MAX,
    }
}

#[cold]
#[inline(never)]
fn too_deep() -> Ctrl {
    err(
        ErrorKind::StackOverflow,
        format!("recursion is deeper than {MAX_DEPTH} calls (runaway recursion?)"),
    )
    .into()
}

#[cold]
#[inline(never)]
fn used_before_definition() -> Error {
    err(
        ErrorKind::Unbound,
        "a variable is used before its definition has run",
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl Interp {
    /// Evaluates a datum as a top-level form from inside a running evaluation
    /// (`eval`, `load`): a `begin` is taken form by form.
    pub(crate) fn eval_nested(&mut self, d: &crate::Datum) -> Result<Value, Ctrl> {
        if let Some(items) = d.as_list()
            && items.first().and_then(crate::Datum::as_sym) == Some("begin")
        {
            let mut last = Value::UNSPEC;
            for f in &items[1..] {
                last = self.eval_nested(f)?;
            }
            return Ok(last);
        }
        let node = self.compile_top(d)?;
        self.run_top(node)
    }
}
