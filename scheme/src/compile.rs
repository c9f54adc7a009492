//! The compiler: a datum is analysed once into a tree of [`Node`]s with lexical
//! addressing (frame depth and slot), globals resolved to their symbol's cell, and
//! macros expanded. The evaluator then walks nodes, never raw lists.

use std::borrow::Cow;
use std::rc::Rc;

use crate::code::{CodeTable, Unit};
use crate::datum::{Datum, DatumKind};
use crate::desugar::{self, list, sym, syntax_err};
use crate::error::{Error, Pos};
use crate::interp::{Interp, Macro, Special};
use crate::syms;
use crate::value::Value;

/// The name a call site gets when what it calls is not a variable, e.g. `((f) 1)`.
pub(crate) const ANONYMOUS_CALL: &str = "procedure";

/// A compiled `lambda`.
pub(crate) struct Lambda {
    pub name: String,
    pub nreq: usize,
    pub rest: bool,
    /// Slots for internal definitions, after the parameters.
    pub extra: usize,
    /// No closure can capture the frame: it lives on the locals stack.
    pub stack_frame: bool,
    pub body: Node,
    pub pos: Option<Pos>,
    /// The `(lambda params body...)` it was compiled from, for sending the procedure
    /// to another process (`ipc:define`); none for what the interpreter makes itself.
    pub source: Option<Rc<Datum>>,
    /// The constants and sites of the compilation this lambda is part of, held
    /// only to keep them alive as long as the lambda.
    #[expect(dead_code, reason = "read by nothing: holding it is its purpose")]
    pub unit: Option<Rc<Unit>>,
}

pub(crate) struct Call {
    pub f: Node,
    pub args: Box<[Node]>,
    pub site: u32,
}

/// A call of a global variable with constants and variables as arguments (at most
/// [`MAX_GLOBAL_CALL_ARGS`]), or of `+ - = < > <= >=` with any two: when the global
/// holds a builtin, it is called without [`Node::Call`]'s general path (see
/// `Interp::global_call`).
pub(crate) struct GlobalCall {
    pub sym: u32,
    /// Where the variable is named, for the unbound-variable error.
    pub sym_site: u32,
    /// Every argument is a constant or a variable: evaluating one cannot run the
    /// collector, so their values may wait outside the stack.
    pub simple: bool,
    pub args: Box<[Node]>,
    pub site: u32,
}

pub(crate) struct Let {
    pub inits: Box<[Node]>,
    pub extra: usize,
    /// No closure can capture the frame: it lives on the locals stack.
    pub stack: bool,
    pub body: Node,
}

pub(crate) struct Case {
    pub key: Node,
    pub clauses: Vec<(Vec<Value>, Node, bool)>,
    pub default: Option<(Node, bool)>,
    pub site: u32,
}

pub(crate) enum Node {
    Const(Value),
    Local(u32),
    Up(u32, u32),
    /// A global variable: symbol number and the site for the unbound error.
    Global(u32, u32),
    SetLocal(u32, u32, Box<Node>),
    SetGlobal(u32, u32, Box<Node>),
    DefGlobal(u32, Box<Node>),
    DefMacro(u32, Box<Node>, u32),
    If(Box<[Node; 3]>),
    Lambda(Rc<Lambda>),
    Seq(Box<[Node]>),
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Call(Box<Call>),
    GlobalCall(Box<GlobalCall>),
    Let(Box<Let>),
    Letrec(Box<Let>),
    /// `(cond (test => receiver) rest...)`.
    CondArrow(Box<[Node; 3]>, u32),
    Case(Box<Case>),
    /// `delay` (false) or `delay-force` (true) of a thunk.
    Delay(Rc<Lambda>, bool),
    Special(Rc<Special>, Box<Datum>, u32),
}

/// The lexical scopes around the form being compiled, innermost last.
pub(crate) type Scopes = Vec<Vec<u32>>;

const MAX_COMPILE_DEPTH: usize = 5_000;

/// The most arguments a [`GlobalCall`] passes without the stack.
pub(crate) const MAX_GLOBAL_CALL_ARGS: usize = 4;

impl Interp {
    /// Compiles a top-level form.
    /// Compiles a top-level form, with the unit that owns its constants and sites.
    pub(crate) fn compile_top(&mut self, d: &Datum) -> Result<(Node, Rc<Unit>), Error> {
        let unit = CodeTable::new_unit(&self.code);
        let outer = self.building.replace(unit.clone());
        let r = self.compile_form(d);
        self.building = outer;
        r.map(|node| (node, unit))
    }

    fn compile_form(&mut self, d: &Datum) -> Result<Node, Error> {
        let mut sc = Scopes::new();
        if is_normal(d, 0)? {
            return self.compile(d, &mut sc, 0);
        }
        let d = normalized(d, 0)?;
        self.compile(&d, &mut sc, 0)
    }

    /// Keeps heap constant `v` alive as long as the code being compiled.
    fn keep_const(&mut self, v: Value) {
        if v.is_heap() {
            match &self.building {
                Some(unit) => self.code.borrow_mut().add_const(unit, v),
                None => self.pinned.push(v),
            }
        }
    }

    fn lookup_local(sc: &Scopes, s: u32) -> Option<(u32, u32)> {
        for (depth, scope) in sc.iter().rev().enumerate() {
            if let Some(i) = scope.iter().rposition(|&v| v == s) {
                return Some((depth as u32, i as u32));
            }
        }
        None
    }

    fn constant(&mut self, d: &Datum) -> Node {
        let v = self.from_datum(d);
        self.keep_const(v);
        Node::Const(v)
    }

    fn site(&mut self, pos: &Option<Pos>, name: &str) -> u32 {
        self.add_site(pos.clone(), name.to_string())
    }

    pub(crate) fn compile(
        &mut self,
        d: &Datum,
        sc: &mut Scopes,
        level: usize,
    ) -> Result<Node, Error> {
        if level > MAX_COMPILE_DEPTH {
            return Err(syntax_err(&d.pos, "this expression is nested too deeply"));
        }
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
            self.compile_inner(d, sc, level + 1)
        })
    }

    fn compile_inner(&mut self, d: &Datum, sc: &mut Scopes, level: usize) -> Result<Node, Error> {
        match &d.kind {
            DatumKind::Sym(name) => {
                let s = self.intern(name);
                Ok(match Self::lookup_local(sc, s) {
                    Some((0, i)) => Node::Local(i),
                    Some((depth, i)) => Node::Up(depth, i),
                    // Extempore's keywords (`:name`, for `define*` calls) are constants
                    None if crate::builtins::is_keyword(name) => {
                        Node::Const(Value::new(crate::value::V::Sym(s)))
                    }
                    None => Node::Global(s, self.site(&d.pos, name)),
                })
            }
            DatumKind::List(items) => self.compile_list(d, items, sc, level),
            DatumKind::Nil => Err(syntax_err(
                &d.pos,
                "() is not an expression: quote it as '()",
            )),
            DatumKind::Dotted(..) => Err(syntax_err(&d.pos, "a dotted list is not an expression")),
            _ => Ok(self.constant(d)),
        }
    }

    /// The symbol number of a form's head when it names syntax, a special form or a
    /// macro (not shadowed by a local variable).
    fn head_keyword(&mut self, items: &[Datum], sc: &Scopes) -> Option<u32> {
        let name = items.first()?.as_sym()?;
        let s = self.intern(name);
        if Self::lookup_local(sc, s).is_some() {
            return None;
        }
        Some(s)
    }

    /// The macro symbol `s` names where the form being compiled is: one defined in an
    /// enclosing body, else the global one.
    pub(crate) fn macro_named(&self, s: u32) -> Option<Macro> {
        match self.local_macros.iter().rev().find(|(n, _)| *n == s) {
            Some((_, m)) => Some(m.clone()),
            None => self.macros.get(&s).cloned(),
        }
    }

    /// `d` expanded once when it is a use of a global macro (s7's `macroexpand`).
    pub(crate) fn expand_once(&mut self, d: &Datum) -> Result<Option<Datum>, Error> {
        let Some(s) = d
            .as_list()
            .and_then(|items| self.head_keyword(items, &Vec::new()))
        else {
            return Ok(None);
        };
        match self.macro_named(s) {
            Some(m) => self.expand_macro(&m, d).map(Some),
            None => Ok(None),
        }
    }

    /// Expands macro uses at the head of `d` until it is something else.
    /// `None` when `d` is not a macro use.
    pub(crate) fn macroexpand(&mut self, d: &Datum, sc: &Scopes) -> Result<Option<Datum>, Error> {
        let mut cur: Option<Datum> = None;
        for _ in 0..10_000 {
            let form = cur.as_ref().unwrap_or(d);
            let Some(items) = form.as_list() else {
                return Ok(cur);
            };
            let Some(s) = self.head_keyword(items, sc) else {
                return Ok(cur);
            };
            let Some(m) = self.macro_named(s) else {
                return Ok(cur);
            };
            cur = Some(self.expand_macro(&m, form)?);
        }
        Err(syntax_err(&d.pos, "macro expansion does not terminate"))
    }

    fn expand_macro(&mut self, m: &Macro, form: &Datum) -> Result<Datum, Error> {
        if self
            .interrupt
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            return Err(Error::new(
                crate::ErrorKind::Interrupted,
                "evaluation interrupted",
            ));
        }
        let expanded = match m {
            Macro::Rules(rules) => rules.expand(form, self)?,
            Macro::Native(f) => f(form)?,
            Macro::Proc(f) => {
                let items = form.as_list().unwrap_or(&[]);
                let operands = items.get(1..).unwrap_or(&[]);
                let args: Vec<Value> = operands.iter().map(|a| self.from_datum(a)).collect();
                let mark = self.mark();
                let base = self.stack.len();
                self.stack.extend_from_slice(&args);
                let r = self.apply_values(*f, &args);
                self.stack.truncate(base);
                match r {
                    Ok(v) => self.to_datum(v),
                    Err(c) => {
                        self.unwind_to(mark);
                        let mut e = self.ctrl_to_error(c);
                        if e.pos.is_none() {
                            e.pos = form.pos.clone();
                        }
                        return Err(e);
                    }
                }
            }
        };
        if datum_size(&expanded, MAX_EXPANSION_SIZE) > MAX_EXPANSION_SIZE {
            return Err(syntax_err(
                &form.pos,
                format!("this macro use expands to more than {MAX_EXPANSION_SIZE} data"),
            ));
        }
        Ok(fill_positions(expanded, &form.pos))
    }

    fn compile_list(
        &mut self,
        d: &Datum,
        items: &[Datum],
        sc: &mut Scopes,
        level: usize,
    ) -> Result<Node, Error> {
        let pos = &d.pos;
        if let Some(s) = self.head_keyword(items, sc) {
            if (s as usize) < syms::KEYWORDS.len()
                && let Some(node) = self.compile_syntax(s, d, items, sc, level)?
            {
                return Ok(node);
            }
            if let Some(sp) = self.specials.get(&s).cloned() {
                let site = self.site(pos, &sp.name);
                return Ok(Node::Special(sp, Box::new(d.clone()), site));
            }
            if let Some(m) = self.macro_named(s) {
                let expanded = self.expand_macro(&m, d)?;
                return self.compile(&expanded, sc, level);
            }
        }
        let f = self.compile(&items[0], sc, level)?;
        let mut args = Vec::with_capacity(items.len() - 1);
        for a in &items[1..] {
            args.push(self.compile(a, sc, level)?);
        }
        let name = match &items[0].kind {
            DatumKind::Sym(s) => s.clone(),
            _ => ANONYMOUS_CALL.to_string(),
        };
        let site = self.site(pos, &name);
        let simple = |n: &Node| {
            matches!(
                n,
                Node::Const(_) | Node::Local(_) | Node::Up(..) | Node::Global(..)
            )
        };
        // a global called with constants and variables, or one of the arithmetic
        // and comparison builtins with two arguments of any kind
        let all_simple = args.iter().all(simple);
        if let Node::Global(sym, sym_site) = f
            && args.len() <= MAX_GLOBAL_CALL_ARGS
            && (all_simple || (args.len() == 2 && crate::builtins::has_fast_path(&name)))
        {
            return Ok(Node::GlobalCall(Box::new(GlobalCall {
                sym,
                sym_site,
                simple: all_simple,
                args: args.into_boxed_slice(),
                site,
            })));
        }
        Ok(Node::Call(Box::new(Call {
            f,
            args: args.into_boxed_slice(),
            site,
        })))
    }

    fn compile_seq(
        &mut self,
        forms: &[Datum],
        sc: &mut Scopes,
        level: usize,
    ) -> Result<Node, Error> {
        let mut nodes = Vec::with_capacity(forms.len());
        for f in forms {
            nodes.push(self.compile(f, sc, level)?);
        }
        Ok(match nodes.len() {
            0 => Node::Const(Value::UNSPEC),
            1 => nodes.remove(0),
            _ => Node::Seq(nodes.into_boxed_slice()),
        })
    }

    /// Core syntax; `None` when `s` is a keyword that is not syntax (`else`, `...`).
    fn compile_syntax(
        &mut self,
        s: u32,
        d: &Datum,
        items: &[Datum],
        sc: &mut Scopes,
        level: usize,
    ) -> Result<Option<Node>, Error> {
        let pos = &d.pos;
        let n = items.len();
        let node = match s {
            syms::QUOTE => {
                if n != 2 {
                    return Err(syntax_err(pos, "quote takes exactly one datum"));
                }
                self.constant(&items[1])
            }
            syms::QUASIQUOTE => {
                if n != 2 {
                    return Err(syntax_err(pos, "quasiquote takes exactly one datum"));
                }
                let expanded = desugar::quasi(&items[1], 1)?;
                self.compile(&expanded, sc, level)?
            }
            syms::UNQUOTE | syms::UNQUOTE_SPLICING => {
                return Err(syntax_err(
                    pos,
                    "unquote is only allowed inside a quasiquote",
                ));
            }
            syms::LAMBDA => {
                if n < 3 {
                    return Err(syntax_err(pos, "lambda wants parameters and a body"));
                }
                Node::Lambda(self.compile_lambda(
                    "lambda",
                    &items[1],
                    &items[2..],
                    pos,
                    sc,
                    level,
                )?)
            }
            syms::DEFINE => {
                if !sc.is_empty() {
                    return Err(syntax_err(
                        pos,
                        "define is only allowed at the top level or at the start of a body",
                    ));
                }
                let (name, value) = desugar::define_parts(items, pos)?;
                let name = name.as_sym().unwrap_or("?").to_string();
                let g = self.intern(&name);
                let v = self.compile_named(&value, &name, sc, level)?;
                Node::DefGlobal(g, Box::new(v))
            }
            syms::SET => {
                let (Some(target), 3) = (items.get(1).and_then(Datum::as_sym), n) else {
                    return Err(syntax_err(pos, "set! wants a variable name and a value"));
                };
                let target = target.to_string();
                let t = self.intern(&target);
                let v = self.compile(&items[2], sc, level)?;
                match Self::lookup_local(sc, t) {
                    Some((depth, i)) => Node::SetLocal(depth, i, Box::new(v)),
                    None => Node::SetGlobal(t, self.site(pos, &target), Box::new(v)),
                }
            }
            syms::IF => {
                if !(3..=4).contains(&n) {
                    return Err(syntax_err(
                        pos,
                        "if wants a test, a consequent and an optional alternative",
                    ));
                }
                let t = self.compile(&items[1], sc, level)?;
                let c = self.compile(&items[2], sc, level)?;
                let a = match items.get(3) {
                    Some(e) => self.compile(e, sc, level)?,
                    None => Node::Const(Value::UNSPEC),
                };
                Node::If(Box::new([t, c, a]))
            }
            syms::BEGIN => {
                if sc.is_empty() {
                    self.compile_seq(&items[1..], sc, level)?
                } else {
                    let mut nodes = Vec::new();
                    for f in &items[1..] {
                        nodes.push(self.compile(f, sc, level)?);
                    }
                    match nodes.len() {
                        0 => Node::Const(Value::UNSPEC),
                        1 => nodes.remove(0),
                        _ => Node::Seq(nodes.into_boxed_slice()),
                    }
                }
            }
            syms::LET => {
                if n < 3 {
                    return Err(syntax_err(pos, "let wants bindings and a body"));
                }
                if items[1].as_sym().is_some() {
                    if n < 4 {
                        return Err(syntax_err(
                            pos,
                            "named let wants a name, bindings and a body",
                        ));
                    }
                    let e = desugar::named_let(&items[1], &items[2], &items[3..], pos)?;
                    return self.compile(&e, sc, level).map(Some);
                }
                let (names, inits) = desugar::bindings(&items[1], "let")?;
                let mut init_nodes = Vec::with_capacity(inits.len());
                for i in &inits {
                    init_nodes.push(self.compile(i, sc, level)?);
                }
                let vars = self.names(&names)?;
                let nvars = vars.len();
                sc.push(vars);
                let closures = self.closures_compiled;
                let body = self.compile_body(&items[2..], sc, level);
                let extra = sc.pop().map_or(0, |v| v.len() - nvars);
                Node::Let(Box::new(Let {
                    inits: init_nodes.into_boxed_slice(),
                    extra,
                    stack: self.closures_compiled == closures,
                    body: body?,
                }))
            }
            syms::LET_STAR => {
                if n < 3 {
                    return Err(syntax_err(pos, "let* wants bindings and a body"));
                }
                let Some(binds) = items[1].as_list() else {
                    return Err(syntax_err(
                        pos,
                        "let* wants a list of (name value) bindings",
                    ));
                };
                desugar::bindings(&items[1], "let*")?;
                let e = desugar::let_star(binds, &items[2..], pos)?;
                self.compile(&e, sc, level)?
            }
            syms::LETREC | syms::LETREC_STAR => {
                if n < 3 {
                    return Err(syntax_err(pos, "letrec wants bindings and a body"));
                }
                let (names, inits) = desugar::bindings(&items[1], "letrec")?;
                let vars = self.names(&names)?;
                let nvars = vars.len();
                sc.push(vars);
                let closures = self.closures_compiled;
                let r = (|| {
                    let mut init_nodes = Vec::with_capacity(inits.len());
                    for (name, i) in names.iter().zip(&inits) {
                        init_nodes.push(self.compile_named(
                            i,
                            name.as_sym().unwrap_or("?"),
                            sc,
                            level,
                        )?);
                    }
                    let body = self.compile_body(&items[2..], sc, level)?;
                    Ok::<_, Error>((init_nodes, body))
                })();
                let extra = sc.pop().map_or(0, |v| v.len() - nvars);
                let (init_nodes, body) = r?;
                Node::Letrec(Box::new(Let {
                    inits: init_nodes.into_boxed_slice(),
                    extra,
                    stack: self.closures_compiled == closures,
                    body,
                }))
            }
            syms::COND => self.compile_cond(&items[1..], sc, level)?,
            syms::CASE => self.compile_case(items, pos, sc, level)?,
            syms::AND | syms::OR => {
                let mut nodes = Vec::new();
                for e in &items[1..] {
                    nodes.push(self.compile(e, sc, level)?);
                }
                match nodes.len() {
                    0 => Node::Const(Value::boolean(s == syms::AND)),
                    1 => nodes.remove(0),
                    _ if s == syms::AND => Node::And(nodes.into_boxed_slice()),
                    _ => Node::Or(nodes.into_boxed_slice()),
                }
            }
            syms::WHEN | syms::UNLESS => {
                if n < 2 {
                    return Err(syntax_err(pos, "when and unless want a test and a body"));
                }
                let t = self.compile(&items[1], sc, level)?;
                let body = self.compile_seq(&items[2..], sc, level)?;
                let none = Node::Const(Value::UNSPEC);
                if s == syms::WHEN {
                    Node::If(Box::new([t, body, none]))
                } else {
                    Node::If(Box::new([t, none, body]))
                }
            }
            syms::DO => {
                let e = desugar::do_loop(items, pos)?;
                self.compile(&e, sc, level)?
            }
            syms::DELAY | syms::DELAY_FORCE | syms::MAKE_PROMISE_LAZY => {
                if n != 2 {
                    return Err(syntax_err(pos, "delay takes exactly one expression"));
                }
                let nil = Datum::new(DatumKind::Nil, pos.clone());
                let lam = self.compile_lambda("promise", &nil, &items[1..], pos, sc, level)?;
                Node::Delay(lam, s != syms::DELAY)
            }
            syms::CONS_STREAM => {
                if n != 3 {
                    return Err(syntax_err(pos, "cons-stream wants a head and a tail"));
                }
                let e = list(
                    vec![
                        sym(" qq-cons", pos),
                        items[1].clone(),
                        list(vec![sym("delay", pos), items[2].clone()], pos),
                    ],
                    pos,
                );
                self.compile(&e, sc, level)?
            }
            syms::DEFINE_MACRO => self.compile_define_macro(items, pos, sc, level)?,
            syms::DEFINE_SYNTAX => {
                let (Some(name), 3) = (items.get(1).and_then(Datum::as_sym), n) else {
                    return Err(syntax_err(
                        pos,
                        "define-syntax wants a name and (syntax-rules ...)",
                    ));
                };
                let name = name.to_string();
                self.define_syntax(&name, &items[2])?;
                Node::Const(Value::UNSPEC)
            }
            syms::LET_SYNTAX | syms::LETREC_SYNTAX => {
                let Some(binds) = items.get(1).and_then(Datum::as_list) else {
                    return Err(syntax_err(
                        pos,
                        "let-syntax wants ((name (syntax-rules ...)) ...) then a body",
                    ));
                };
                for b in binds {
                    match b.as_list() {
                        Some([name, rules]) if name.as_sym().is_some() => {
                            let name = name.as_sym().unwrap_or("?").to_string();
                            self.define_syntax(&name, rules)?;
                        }
                        _ => {
                            return Err(syntax_err(
                                &b.pos,
                                "let-syntax bindings look like (name (syntax-rules ...))",
                            ));
                        }
                    }
                }
                let mut e = vec![sym("let", pos), Datum::new(DatumKind::Nil, pos.clone())];
                e.extend_from_slice(&items[2..]);
                self.compile(&list(e, pos), sc, level)?
            }
            syms::GUARD => {
                let e = desugar::guard(items, pos)?;
                self.compile(&e, sc, level)?
            }
            syms::DEFINE_RECORD_TYPE => {
                let e = desugar::record_type(items, pos)?;
                if sc.is_empty() {
                    self.compile(&e, sc, level)?
                } else {
                    return Err(syntax_err(
                        pos,
                        "define-record-type is only allowed at the top level or at the start of a body",
                    ));
                }
            }
            syms::CASE_LAMBDA => {
                let e = desugar::case_lambda(items, pos)?;
                self.compile(&e, sc, level)?
            }
            syms::LET_VALUES | syms::LET_STAR_VALUES => {
                let e = desugar::let_values(items, pos)?;
                self.compile(&e, sc, level)?
            }
            syms::RECEIVE => {
                if n < 4 {
                    return Err(syntax_err(
                        pos,
                        "receive wants formals, an expression and a body",
                    ));
                }
                let e = desugar::receive(&items[1], &items[2], items[3..].to_vec(), pos);
                self.compile(&e, sc, level)?
            }
            syms::DEFINE_VALUES => {
                if !sc.is_empty() {
                    return Err(syntax_err(
                        pos,
                        "define-values is only allowed at the top level or at the start of a body",
                    ));
                }
                let e = desugar::define_values(items, pos)?;
                self.compile(&e, sc, level)?
            }
            syms::PARAMETERIZE => {
                let e = desugar::parameterize(items, pos)?;
                self.compile(&e, sc, level)?
            }
            syms::ASSERT => {
                if n != 2 {
                    return Err(syntax_err(pos, "assert takes one expression"));
                }
                let e = list(
                    vec![
                        sym("if", pos),
                        items[1].clone(),
                        list(vec![sym(" unspecified", pos)], pos),
                        list(
                            vec![
                                sym(" error", pos),
                                Datum::new(DatumKind::Str("assertion failed".into()), pos.clone()),
                                list(vec![sym("quote", pos), items[1].clone()], pos),
                            ],
                            pos,
                        ),
                    ],
                    pos,
                );
                self.compile(&e, sc, level)?
            }
            _ => return Ok(None),
        };
        Ok(Some(node))
    }

    fn names(&mut self, names: &[Datum]) -> Result<Vec<u32>, Error> {
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            match n.as_sym() {
                Some(s) => out.push(self.intern(s)),
                None => return Err(syntax_err(&n.pos, "a variable name must be a symbol")),
            }
        }
        Ok(out)
    }

    /// Compiles `value`, naming it `name` if it is a lambda (for messages).
    fn compile_named(
        &mut self,
        value: &Datum,
        name: &str,
        sc: &mut Scopes,
        level: usize,
    ) -> Result<Node, Error> {
        if let Some(items) = value.as_list()
            && items.len() >= 3
            && self.head_keyword(items, sc) == Some(syms::LAMBDA)
        {
            return Ok(Node::Lambda(self.compile_lambda(
                name,
                &items[1],
                &items[2..],
                &value.pos,
                sc,
                level,
            )?));
        }
        self.compile(value, sc, level)
    }

    pub(crate) fn compile_lambda(
        &mut self,
        name: &str,
        params: &Datum,
        body: &[Datum],
        pos: &Option<Pos>,
        sc: &mut Scopes,
        level: usize,
    ) -> Result<Rc<Lambda>, Error> {
        let (req, rest): (&[Datum], Option<&Datum>) = match &params.kind {
            DatumKind::Nil => (&[], None),
            DatumKind::List(items) => (items, None),
            DatumKind::Dotted(items, tail) => (items, Some(tail)),
            DatumKind::Sym(_) => (&[], Some(params)),
            _ => return Err(syntax_err(pos, "lambda parameters must be a list of names")),
        };
        let mut vars = self.names(req)?;
        let nreq = vars.len();
        if let Some(r) = rest {
            vars.extend(self.names(std::slice::from_ref(r))?);
        }
        let nparams = vars.len();
        sc.push(vars);
        let closures = self.closures_compiled;
        let mut source = vec![sym("lambda", pos), params.clone()];
        source.extend_from_slice(body);
        let body = self.compile_body(body, sc, level);
        let extra = sc.pop().map_or(0, |v| v.len() - nparams);
        let stack_frame = self.closures_compiled == closures;
        self.closures_compiled += 1;
        Ok(Rc::new(Lambda {
            source: Some(Rc::new(list(source, pos))),
            name: name.to_string(),
            nreq,
            rest: rest.is_some(),
            extra,
            stack_frame,
            body: body?,
            pos: pos.clone(),
            unit: self.building.clone(),
        }))
    }

    /// A body: internal definitions (after macro expansion and `begin` splicing)
    /// become slots of the innermost scope, with `letrec*` semantics.
    fn compile_body(
        &mut self,
        forms: &[Datum],
        sc: &mut Scopes,
        level: usize,
    ) -> Result<Node, Error> {
        // the body's own macros end with it
        let mark = self.local_macros.len();
        let r = self.compile_body_forms(forms, sc, level);
        self.local_macros.truncate(mark);
        r
    }

    fn compile_body_forms(
        &mut self,
        forms: &[Datum],
        sc: &mut Scopes,
        level: usize,
    ) -> Result<Node, Error> {
        let mut queue: Vec<Cow<Datum>> = forms.iter().rev().map(Cow::Borrowed).collect();
        let mut items: Vec<(Option<u32>, Cow<Datum>)> = Vec::new();
        while let Some(f) = queue.pop() {
            let f = match f {
                Cow::Borrowed(b) => self
                    .macroexpand(b, sc)?
                    .map_or(Cow::Borrowed(b), Cow::Owned),
                Cow::Owned(o) => Cow::Owned(self.macroexpand(&o, sc)?.unwrap_or(o)),
            };
            let head = f.as_list().and_then(|l| self.head_keyword(l, sc));
            let pos = f.pos.clone();
            let parts = f.as_list().unwrap_or(&[]);
            match head {
                Some(syms::BEGIN) => match &f {
                    Cow::Borrowed(b) => {
                        let parts = b.as_list().unwrap_or(&[]);
                        queue.extend(parts[1..].iter().rev().map(Cow::Borrowed));
                    }
                    Cow::Owned(_) => queue.extend(parts[1..].iter().rev().cloned().map(Cow::Owned)),
                },
                Some(syms::DEFINE) => {
                    let (name, value) = desugar::define_parts(parts, &pos)?;
                    let s = self.intern(name.as_sym().unwrap_or("?"));
                    if let Some(scope) = sc.last_mut()
                        && !scope.contains(&s)
                    {
                        scope.push(s);
                    }
                    items.push((Some(s), Cow::Owned(value)));
                }
                Some(syms::DEFINE_RECORD_TYPE) => {
                    queue.push(Cow::Owned(desugar::record_type(parts, &pos)?));
                }
                Some(syms::DEFINE_VALUES) => {
                    queue.push(Cow::Owned(desugar::define_values(parts, &pos)?));
                }
                Some(syms::DEFINE_MACRO) => {
                    // defined now, as `define-syntax` is, so that the forms after it
                    // in the body can use it
                    let name = self.define_macro_now(parts, &pos)?;
                    items.push((
                        None,
                        Cow::Owned(list(vec![sym("quote", &pos), sym(&name, &pos)], &pos)),
                    ));
                }
                Some(syms::DEFINE_SYNTAX) => match parts {
                    [_, name, rules] if name.as_sym().is_some() => {
                        self.define_syntax(name.as_sym().unwrap_or("?"), rules)?;
                    }
                    _ => {
                        return Err(syntax_err(
                            &pos,
                            "define-syntax wants a name and (syntax-rules ...)",
                        ));
                    }
                },
                _ => items.push((None, f)),
            }
        }
        let mut nodes = Vec::with_capacity(items.len());
        for (target, form) in items {
            match target {
                Some(s) => {
                    let name = self.sym_name(s).to_string();
                    let v = self.compile_named(&form, &name, sc, level)?;
                    let Some((depth, i)) = Self::lookup_local(sc, s) else {
                        return Err(syntax_err(&form.pos, "internal definition lost its slot"));
                    };
                    nodes.push(Node::SetLocal(depth, i, Box::new(v)));
                }
                None => nodes.push(self.compile(&form, sc, level)?),
            }
        }
        if nodes.is_empty() {
            return Err(syntax_err(
                &forms.first().and_then(|f| f.pos.clone()),
                "a body needs at least one expression",
            ));
        }
        Ok(if nodes.len() == 1 {
            nodes.remove(0)
        } else {
            Node::Seq(nodes.into_boxed_slice())
        })
    }

    fn compile_cond(
        &mut self,
        clauses: &[Datum],
        sc: &mut Scopes,
        level: usize,
    ) -> Result<Node, Error> {
        let Some((first, rest)) = clauses.split_first() else {
            return Ok(Node::Const(Value::UNSPEC));
        };
        if level > MAX_COMPILE_DEPTH {
            return Err(syntax_err(&first.pos, "this cond has too many clauses"));
        }
        let Some(parts) = first.as_list().filter(|p| !p.is_empty()) else {
            return Err(syntax_err(
                &first.pos,
                "cond clauses look like (test expression ...)",
            ));
        };
        if parts[0].as_sym() == Some("else") && self.head_keyword(parts, sc).is_some() {
            if parts.len() == 1 {
                return Err(syntax_err(&first.pos, "an else clause needs an expression"));
            }
            return self.compile_seq(&parts[1..], sc, level);
        }
        let test = self.compile(&parts[0], sc, level)?;
        let otherwise = stacker::maybe_grow(64 * 1024, 1024 * 1024, || {
            self.compile_cond(rest, sc, level + 1)
        })?;
        if parts.len() >= 2 && parts[1].as_sym() == Some("=>") {
            if parts.len() != 3 {
                return Err(syntax_err(
                    &first.pos,
                    "a => clause wants exactly one receiver",
                ));
            }
            let receiver = self.compile(&parts[2], sc, level)?;
            let site = self.site(&first.pos, "=>");
            return Ok(Node::CondArrow(Box::new([test, receiver, otherwise]), site));
        }
        if parts.len() == 1 {
            return Ok(Node::Or(Box::new([test, otherwise])));
        }
        let body = self.compile_seq(&parts[1..], sc, level)?;
        Ok(Node::If(Box::new([test, body, otherwise])))
    }

    fn compile_case(
        &mut self,
        items: &[Datum],
        pos: &Option<Pos>,
        sc: &mut Scopes,
        level: usize,
    ) -> Result<Node, Error> {
        if items.len() < 2 {
            return Err(syntax_err(pos, "case wants a key and clauses"));
        }
        let key = self.compile(&items[1], sc, level)?;
        let mut clauses = Vec::new();
        let mut default = None;
        for c in &items[2..] {
            let Some(parts) = c.as_list().filter(|p| p.len() >= 2) else {
                return Err(syntax_err(
                    &c.pos,
                    "case clauses look like ((datum ...) expression ...)",
                ));
            };
            let arrow = parts[1].as_sym() == Some("=>");
            let body = if arrow {
                self.compile(&parts[2.min(parts.len() - 1)], sc, level)?
            } else {
                self.compile_seq(&parts[1..], sc, level)?
            };
            if parts[0].as_sym() == Some("else") {
                default = Some((body, arrow));
                continue;
            }
            let Some(data) = parts[0].as_list() else {
                return Err(syntax_err(
                    &c.pos,
                    "case clauses look like ((datum ...) expression ...)",
                ));
            };
            let mut vals = Vec::with_capacity(data.len());
            for datum in data {
                let v = self.from_datum(datum);
                self.keep_const(v);
                vals.push(v);
            }
            clauses.push((vals, body, arrow));
        }
        let site = self.site(pos, "case");
        Ok(Node::Case(Box::new(Case {
            key,
            clauses,
            default,
            site,
        })))
    }

    fn compile_define_macro(
        &mut self,
        items: &[Datum],
        pos: &Option<Pos>,
        sc: &mut Scopes,
        level: usize,
    ) -> Result<Node, Error> {
        let (name, value) = desugar::define_parts(items, pos)?;
        let name = name.as_sym().unwrap_or("?").to_string();
        let s = self.intern(&name);
        let v = self.compile_named(&value, &name, sc, level)?;
        let site = self.site(pos, &name);
        Ok(Node::DefMacro(s, Box::new(v), site))
    }

    /// A `define-macro` inside a body: its procedure is made at once (at top level:
    /// it cannot see the body's variables) and the macro is seen from there to the
    /// end of the body (as in s7, where it is bound in the body's environment).
    fn define_macro_now(&mut self, items: &[Datum], pos: &Option<Pos>) -> Result<String, Error> {
        let (name, value) = desugar::define_parts(items, pos)?;
        let name = name.as_sym().unwrap_or("?").to_string();
        let v = self
            .eval_nested(&value)
            .map_err(|c| self.ctrl_to_error(c))?;
        if !self.is_procedure_value(v) {
            return Err(syntax_err(pos, "define-macro wants a procedure"));
        }
        let s = self.intern(&name);
        self.local_macros.push((s, Macro::Proc(v)));
        Ok(name)
    }

    fn define_syntax(&mut self, name: &str, rules: &Datum) -> Result<(), Error> {
        let r = crate::syntax_rules::Rules::parse(rules, self)?;
        let s = self.intern(name);
        self.macros.insert(s, Macro::Rules(Rc::new(r)));
        Ok(())
    }
}

/// Whether `d` already has only the shapes [`normalized`] keeps (true for everything the
/// reader makes), so it can be compiled without a copy.
fn is_normal(d: &Datum, depth: usize) -> Result<bool, Error> {
    if depth > crate::reader::MAX_NESTING {
        return Err(syntax_err(&d.pos, "this expression is nested too deeply"));
    }
    let items = match &d.kind {
        DatumKind::List(items) | DatumKind::Vector(items) => items,
        DatumKind::Dotted(items, tail) => {
            if items.is_empty() || !is_normal(tail, depth + 1)? {
                return Ok(false);
            }
            items
        }
        _ => return Ok(true),
    };
    if matches!(d.kind, DatumKind::List(_)) && items.is_empty() {
        return Ok(false);
    }
    for i in items {
        if !is_normal(i, depth + 1)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The datum with the shapes the reader never makes (an empty `List`, a `Dotted`
/// without items) replaced by the ones it does, so the compiler can rely on them.
/// Data built by an embedder may be anything.
fn normalized(d: &Datum, depth: usize) -> Result<Datum, Error> {
    if depth > crate::reader::MAX_NESTING {
        return Err(syntax_err(&d.pos, "this expression is nested too deeply"));
    }
    let kind = match &d.kind {
        DatumKind::List(items) if items.is_empty() => DatumKind::Nil,
        DatumKind::List(items) => DatumKind::List(
            items
                .iter()
                .map(|i| normalized(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        DatumKind::Dotted(items, tail) if items.is_empty() => return normalized(tail, depth + 1),
        DatumKind::Dotted(items, tail) => DatumKind::Dotted(
            items
                .iter()
                .map(|i| normalized(i, depth + 1))
                .collect::<Result<_, _>>()?,
            Box::new(normalized(tail, depth + 1)?),
        ),
        DatumKind::Vector(items) => DatumKind::Vector(
            items
                .iter()
                .map(|i| normalized(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    };
    Ok(Datum::new(kind, d.pos.clone()))
}

/// The most data one macro expansion may produce (runaway macros stop here).
const MAX_EXPANSION_SIZE: usize = 1_000_000;

/// How many data `d` holds, counting no further than a little past `limit`.
fn datum_size(d: &Datum, limit: usize) -> usize {
    let mut count = 0;
    let mut work = vec![d];
    while let Some(d) = work.pop() {
        count += 1;
        if count > limit {
            break;
        }
        match &d.kind {
            DatumKind::List(items) | DatumKind::Vector(items) => work.extend(items),
            DatumKind::Dotted(items, tail) => {
                work.extend(items);
                work.push(tail);
            }
            _ => {}
        }
    }
    count
}

/// Gives every datum without a position the position of the macro use.
fn fill_positions(mut d: Datum, pos: &Option<Pos>) -> Datum {
    if d.pos.is_none() {
        d.pos.clone_from(pos);
    }
    d.kind = match d.kind {
        DatumKind::List(items) => {
            DatumKind::List(items.into_iter().map(|i| fill_positions(i, pos)).collect())
        }
        DatumKind::Dotted(items, tail) => DatumKind::Dotted(
            items.into_iter().map(|i| fill_positions(i, pos)).collect(),
            Box::new(fill_positions(*tail, pos)),
        ),
        other => other,
    };
    d
}
