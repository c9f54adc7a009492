//! Sexp → the syntax tree of one definition: special forms recognised, annotations read,
//! every node numbered (the numbers index the inference results). Errors name the form and
//! its line:col.

use crate::error::{Result, syntax};
use crate::sexp::{Sexp, SexpKind, Span};
use crate::types::{Type, TypeNames};
use std::rc::Rc;

/// One expression, numbered for [`crate::infer`].
#[derive(Debug)]
pub struct Expr {
    pub id: usize,
    pub kind: ExprKind,
    pub span: Option<Span>,
}

/// A parameter or a `let` binding's name, with its annotation if it had one.
#[derive(Debug, Clone)]
pub struct Binder {
    pub name: String,
    pub ty: Option<Type>,
    pub span: Option<Span>,
}

#[derive(Debug)]
pub struct Lambda {
    /// Numbers the lambda among those of its definition (0 is the definition's init code).
    pub index: usize,
    pub params: Vec<Binder>,
    pub body: Vec<Expr>,
}

/// Which allocator an allocation form uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocKind {
    Stack,
    Zone,
    Heap,
}

#[derive(Debug)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Null,
    Void,
    Var(String),
    Let(Vec<(Binder, Expr)>, Vec<Expr>),
    Lambda(Rc<Lambda>),
    If(Box<Expr>, Box<Expr>, Option<Box<Expr>>),
    Begin(Vec<Expr>),
    Set(String, Box<Expr>),
    /// `dotimes`/`doloop`: variable, count, body.
    Dotimes(Binder, Box<Expr>, Vec<Expr>),
    While(Box<Expr>, Vec<Expr>),
    Memzone(Box<Expr>, Vec<Expr>),
    Alloc(AllocKind, Option<Box<Expr>>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// A call: a builtin, a bind-func or a closure held in a variable (decided by inference).
    App(String, Vec<Expr>),
    /// A call of a computed closure, `((f) x)`.
    CallValue(Box<Expr>, Vec<Expr>),
    /// `(clo.var[:TYPE] [value])`: reads, or with a value sets, the captured variable `var`
    /// of the closure `clo` (a bind-func or a local closure).
    EnvVar(EnvVar),
}

/// The parts of a `closure.var` access, or of `closure.inner.var`, a variable of a
/// closure held in a variable of `closure` (as deep as the path goes).
#[derive(Debug)]
pub struct EnvVar {
    pub closure: String,
    /// The closure variables between `closure` and `var`, outermost first.
    pub path: Vec<String>,
    pub var: String,
    pub ty: Option<Type>,
    pub value: Option<Box<Expr>>,
}

impl Expr {
    /// The expressions directly inside this one (a lambda's body included).
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Let(binds, body) => binds.iter().map(|(_, v)| v).chain(body).collect(),
            ExprKind::Lambda(l) => l.body.iter().collect(),
            ExprKind::If(c, t, f) => [Some(&**c), Some(&**t), f.as_deref()]
                .into_iter()
                .flatten()
                .collect(),
            ExprKind::Begin(b) | ExprKind::And(b) | ExprKind::Or(b) | ExprKind::App(_, b) => {
                b.iter().collect()
            }
            ExprKind::Set(_, v) => vec![&**v],
            ExprKind::Dotimes(_, n, b) | ExprKind::While(n, b) | ExprKind::Memzone(n, b) => {
                std::iter::once(&**n).chain(b).collect()
            }
            ExprKind::Alloc(_, c) => c.iter().map(|c| &**c).collect(),
            ExprKind::CallValue(f, args) => std::iter::once(&**f).chain(args).collect(),
            ExprKind::EnvVar(v) => v.value.iter().map(|x| &**x).collect(),
            _ => Vec::new(),
        }
    }
}

/// Turns forms into expressions, numbering nodes and lambdas.
pub struct Parser<'a> {
    pub names: &'a TypeNames,
    pub next_id: usize,
    pub next_lambda: usize,
    depth: usize,
}

/// Expressions nest this deep at most: deeper code is an error, never a stack overflow in
/// the passes that walk the tree.
pub const MAX_NESTING: usize = 64;

impl<'a> Parser<'a> {
    pub fn new(names: &'a TypeNames) -> Parser<'a> {
        Parser {
            names,
            next_id: 0,
            next_lambda: 1,
            depth: 0,
        }
    }

    fn node(&mut self, kind: ExprKind, span: &Option<Span>) -> Expr {
        let id = self.next_id;
        self.next_id += 1;
        Expr {
            id,
            kind,
            span: span.clone(),
        }
    }

    /// Reads `name` or `name:TYPE`.
    pub fn binder(&self, s: &Sexp) -> Result<Binder> {
        let Some(text) = s.sym() else {
            return syntax(format!("expected a name, found `{s}`"), s.span.as_ref());
        };
        let (name, ty) = match text.split_once(':') {
            Some((n, t)) => match self.names.parse(t) {
                Ok(t) => (n, Some(t)),
                Err(e) => return Err(type_err(e, s.span.as_ref())),
            },
            None => (text, None),
        };
        if name.is_empty() {
            return syntax(
                format!("`{text}` has no name before its type"),
                s.span.as_ref(),
            );
        }
        Ok(Binder {
            name: name.to_string(),
            ty,
            span: s.span.clone(),
        })
    }

    /// `(dotimes (i start count) body...)`: `count` passes with `i` from `start` up, as
    /// `(let ((s start)) (dotimes (k count) (let ((i (+ s k))) body...)))` with names no
    /// program can spell. `i` is a variable of the loop's own: setting it in the body
    /// does not change the passes.
    fn dotimes_from(
        &mut self,
        v: &Sexp,
        start: &Sexp,
        n: &Sexp,
        body: &[Sexp],
        whole: &Sexp,
        name: &str,
    ) -> Result<ExprKind> {
        let sp = &whole.span;
        let var = self.binder(v)?;
        let first = Binder {
            name: format!("{name} start"),
            ty: var.ty.clone(),
            span: start.span.clone(),
        };
        let pass = Binder {
            name: format!("{name} pass"),
            ty: var.ty.clone(),
            span: n.span.clone(),
        };
        let start = self.expr(start)?;
        let n = self.expr(n)?;
        let from = self.node(ExprKind::Var(first.name.clone()), sp);
        let k = self.node(ExprKind::Var(pass.name.clone()), sp);
        let at = self.node(ExprKind::App("+".into(), vec![from, k]), sp);
        let inner = ExprKind::Let(vec![(var, at)], self.body(body, whole, name)?);
        let inner = self.node(inner, sp);
        let each = self.node(ExprKind::Dotimes(pass, Box::new(n), vec![inner]), sp);
        Ok(ExprKind::Let(vec![(first, start)], vec![each]))
    }

    fn body(&mut self, forms: &[Sexp], whole: &Sexp, what: &str) -> Result<Vec<Expr>> {
        if forms.is_empty() {
            return syntax(
                format!("{what} needs a body, in `{whole}`"),
                whole.span.as_ref(),
            );
        }
        forms.iter().map(|f| self.expr(f)).collect()
    }

    pub fn lambda(&mut self, s: &Sexp, items: &[Sexp]) -> Result<Rc<Lambda>> {
        let Some(params) = items.get(1).and_then(Sexp::list) else {
            return syntax(
                "lambda takes a parameter list, as in (lambda (a:i64 b) ...)",
                s.span.as_ref(),
            );
        };
        let params = params
            .iter()
            .map(|p| self.binder(p))
            .collect::<Result<Vec<_>>>()?;
        let index = self.next_lambda;
        self.next_lambda += 1;
        let body = self.body(&items[2..], s, "lambda")?;
        Ok(Rc::new(Lambda {
            index,
            params,
            body,
        }))
    }

    pub fn expr(&mut self, s: &Sexp) -> Result<Expr> {
        if self.depth >= MAX_NESTING {
            return syntax(
                format!("expressions nest more than {MAX_NESTING} deep here"),
                s.span.as_ref(),
            );
        }
        self.depth += 1;
        let e = self.expr_inner(s);
        self.depth -= 1;
        e
    }

    fn expr_inner(&mut self, s: &Sexp) -> Result<Expr> {
        let sp = &s.span;
        let kind = match &s.kind {
            SexpKind::Int(i) => ExprKind::Int(*i),
            SexpKind::Float(x) => ExprKind::Float(*x),
            SexpKind::Bool(b) => ExprKind::Bool(*b),
            SexpKind::Str(t) => ExprKind::Str(t.clone()),
            SexpKind::Sym(n) => match n.as_str() {
                "null" => ExprKind::Null,
                "void" => ExprKind::Void,
                "true" => ExprKind::Bool(true),
                "false" => ExprKind::Bool(false),
                _ if n.contains(':') => {
                    if let Some(e) = self.typed_literal(n, sp)? {
                        return Ok(e);
                    }
                    if let Some(e) = self.typed_name(n, sp) {
                        return Ok(e);
                    }
                    return syntax(
                        format!("`{n}`: a type annotation belongs on a binding"),
                        sp.as_ref(),
                    );
                }
                _ => match rational_or_complex(n) {
                    Some((ctor, a, b)) => {
                        let args = vec![self.node(a, sp), self.node(b, sp)];
                        ExprKind::App(ctor.to_string(), args)
                    }
                    None => ExprKind::Var(n.clone()),
                },
            },
            SexpKind::List(items) => return self.list(s, items),
        };
        Ok(self.node(kind, sp))
    }

    fn list(&mut self, s: &Sexp, items: &[Sexp]) -> Result<Expr> {
        let sp = &s.span;
        let Some(head) = items.first() else {
            return syntax("`()` is not an expression", sp.as_ref());
        };
        let Some(name) = head.sym() else {
            let f = self.expr(head)?;
            let args = items[1..]
                .iter()
                .map(|a| self.expr(a))
                .collect::<Result<_>>()?;
            return Ok(self.node(ExprKind::CallValue(Box::new(f), args), sp));
        };
        let name = canonical(name);
        if let Some(e) = self.sugar(name, items, sp)? {
            return Ok(e);
        }
        if let Some(kind) = self.statements(name, s, items)? {
            return Ok(self.node(kind, sp));
        }
        if let Some(e) = self.special(name, s, items)? {
            return Ok(e);
        }
        let kind = if env_var_parts(name).is_some() {
            self.env_var(s, items)?
        } else {
            let args = items[1..]
                .iter()
                .map(|a| self.expr(a))
                .collect::<Result<_>>()?;
            ExprKind::App(name.to_string(), args)
        };
        Ok(self.node(kind, sp))
    }

    /// The special forms (`lambda`, `let`, `if`, `set!`, `dotimes`...), or `None` for a
    /// call. Kept out of [`Parser::list`], through which every call nests, because its
    /// frame is large.
    #[inline(never)]
    fn special(&mut self, name: &str, s: &Sexp, items: &[Sexp]) -> Result<Option<Expr>> {
        let sp = &s.span;
        let arity = |n: usize, shape: &str| -> Result<()> {
            if items.len() == n {
                Ok(())
            } else {
                syntax(
                    format!("{name} takes the shape {shape}, found `{s}`"),
                    sp.as_ref(),
                )
            }
        };
        let kind = match name {
            "lambda" => ExprKind::Lambda(self.lambda(s, items)?),
            // xtlang's let binds in order, each binding seeing the ones before
            "let" | "let*" => {
                let Some(binds) = items.get(1).and_then(Sexp::list) else {
                    return syntax(
                        format!("let takes a list of bindings, in `{s}`"),
                        sp.as_ref(),
                    );
                };
                return self.let_bindings(s, binds, &items[2..]).map(Some);
            }
            "if" => {
                if items.len() != 3 && items.len() != 4 {
                    return syntax(
                        format!("if takes (if test then [else]), found `{s}`"),
                        sp.as_ref(),
                    );
                }
                let c = self.expr(&items[1])?;
                let t = self.expr(&items[2])?;
                let e = match items.get(3) {
                    Some(e) => Some(Box::new(self.expr(e)?)),
                    None => None,
                };
                ExprKind::If(Box::new(c), Box::new(t), e)
            }
            "cond" => return self.cond(s, &items[1..]).map(Some),
            "begin" => ExprKind::Begin(self.body(&items[1..], s, "begin")?),
            "set!" => {
                arity(3, "(set! name value)")?;
                let Some(n) = items[1].sym() else {
                    return syntax(
                        format!("set! takes a variable name, found `{}`", items[1]),
                        sp.as_ref(),
                    );
                };
                ExprKind::Set(n.to_string(), Box::new(self.expr(&items[2])?))
            }
            "dotimes" | "doloop" => match items.get(1).and_then(Sexp::list) {
                Some([v, n]) => {
                    let b = self.binder(v)?;
                    let n = self.expr(n)?;
                    ExprKind::Dotimes(b, Box::new(n), self.body(&items[2..], s, name)?)
                }
                Some([v, start, n]) => self.dotimes_from(v, start, n, &items[2..], s, name)?,
                _ => {
                    return syntax(
                        format!(
                            "{name} takes ({name} (i count) body...) or ({name} (i start count) body...), found `{s}`"
                        ),
                        sp.as_ref(),
                    );
                }
            },
            "while" => {
                if items.len() < 2 {
                    return syntax(
                        format!("while takes (while test body...), found `{s}`"),
                        sp.as_ref(),
                    );
                }
                let c = self.expr(&items[1])?;
                let body = items[2..]
                    .iter()
                    .map(|f| self.expr(f))
                    .collect::<Result<_>>()?;
                ExprKind::While(Box::new(c), body)
            }
            "memzone" => {
                if items.len() < 3 {
                    return syntax(
                        format!("memzone takes (memzone bytes body...), found `{s}`"),
                        sp.as_ref(),
                    );
                }
                let size = self.expr(&items[1])?;
                ExprKind::Memzone(Box::new(size), self.body(&items[2..], s, "memzone")?)
            }
            "salloc" | "zalloc" | "alloc" | "halloc" => {
                let kind = match name {
                    "salloc" => AllocKind::Stack,
                    "halloc" => AllocKind::Heap,
                    _ => AllocKind::Zone,
                };
                if items.len() > 2 {
                    return syntax(
                        format!("{name} takes at most a count, found `{s}`"),
                        sp.as_ref(),
                    );
                }
                let count = match items.get(1) {
                    Some(c) => Some(Box::new(self.expr(c)?)),
                    None => None,
                };
                ExprKind::Alloc(kind, count)
            }
            "and" | "or" => {
                let args = items[1..]
                    .iter()
                    .map(|a| self.expr(a))
                    .collect::<Result<Vec<_>>>()?;
                if name == "and" {
                    ExprKind::And(args)
                } else {
                    ExprKind::Or(args)
                }
            }
            "bind-func" | "bind-val" | "bind-type" | "bind-alias" => {
                return syntax(
                    format!("{name} belongs at the top level, not inside `{s}`"),
                    sp.as_ref(),
                );
            }
            // a quoted symbol is its name, as a string (what println shows)
            "quote" => match items.get(1).and_then(Sexp::sym) {
                Some(sym) if items.len() == 2 => ExprKind::Str(sym.to_string()),
                _ => {
                    return syntax(
                        format!("quoted data is Scheme, not DSP code: `{s}`"),
                        sp.as_ref(),
                    );
                }
            },
            // a let (or a begin) in a zone of its own, 4 KiB unless a size is given
            "letz" | "beginz" => {
                let (size, rest) = match items.get(1).map(|i| &i.kind) {
                    Some(SexpKind::Int(_)) if name == "letz" => {
                        (self.expr(&items[1])?, &items[2..])
                    }
                    _ => (self.node(ExprKind::Int(4096), sp), &items[1..]),
                };
                let body = if name == "letz" {
                    let mut form = vec![Sexp {
                        kind: SexpKind::Sym("let".into()),
                        span: sp.clone(),
                    }];
                    form.extend(rest.iter().cloned());
                    vec![self.list(s, &form)?]
                } else {
                    self.body(rest, s, name)?
                };
                ExprKind::Memzone(Box::new(size), body)
            }
            _ => return Ok(None),
        };
        Ok(Some(self.node(kind, sp)))
    }

    /// `zone_cleanup`, `pfill!` and `tbind`, which become a closure or a sequence of
    /// `pset!`s or `set!`s. Kept out of [`Parser::list`] so that its frame stays small
    /// (expressions nest through it).
    #[inline(never)]
    fn statements(&mut self, name: &str, s: &Sexp, items: &[Sexp]) -> Result<Option<ExprKind>> {
        let sp = &s.span;
        Ok(Some(match name {
            // (zone_cleanup body...): body runs when the zone that is current now ends
            "zone_cleanup" => {
                if items.len() < 2 {
                    return syntax(
                        format!("zone_cleanup takes (zone_cleanup body...), found `{s}`"),
                        sp.as_ref(),
                    );
                }
                let sym = |t: &str| Sexp {
                    kind: SexpKind::Sym(t.into()),
                    span: sp.clone(),
                };
                let mut form = vec![
                    sym("lambda"),
                    Sexp {
                        kind: SexpKind::List(Vec::new()),
                        span: sp.clone(),
                    },
                ];
                form.extend(items[1..].iter().cloned());
                form.push(sym("void"));
                let lambda = Sexp {
                    kind: SexpKind::List(form.clone()),
                    span: sp.clone(),
                };
                let lam = self.lambda(&lambda, &form)?;
                let lam = self.node(ExprKind::Lambda(lam), sp);
                ExprKind::App("zone_cleanup".into(), vec![lam])
            }
            // (pfill! p a b c) sets p[0] p[1] p[2]; afill! and tfill! are builtins
            "pfill!" => {
                let Some(target) = items.get(1) else {
                    return syntax(
                        format!("pfill! takes (pfill! pointer value...), found `{s}`"),
                        sp.as_ref(),
                    );
                };
                let mut sets = Vec::new();
                for (i, v) in items[2..].iter().enumerate() {
                    let args = vec![
                        self.expr(target)?,
                        self.node(ExprKind::Int(i as i64), &v.span),
                        self.expr(v)?,
                    ];
                    sets.push(self.node(ExprKind::App("pset!".into(), args), &v.span));
                }
                sets.push(self.node(ExprKind::Void, sp));
                ExprKind::Begin(sets)
            }
            // (tbind t a b _ c) sets a b c to fields 0 1 3 of the tuple t; `_` skips one
            "tbind" => {
                let Some(target) = items.get(1) else {
                    return syntax(
                        format!("tbind takes (tbind tuple name...), found `{s}`"),
                        sp.as_ref(),
                    );
                };
                let mut sets = Vec::new();
                for (i, v) in items[2..].iter().enumerate() {
                    let Some(var) = v.sym() else {
                        return syntax(
                            format!("tbind sets variables, found `{v}` in `{s}`"),
                            v.span.as_ref(),
                        );
                    };
                    if var == "_" {
                        continue;
                    }
                    let args = vec![
                        self.expr(target)?,
                        self.node(ExprKind::Int(i as i64), &v.span),
                    ];
                    let field = self.node(ExprKind::App("tref".into(), args), &v.span);
                    sets.push(self.node(ExprKind::Set(var.to_string(), Box::new(field)), &v.span));
                }
                sets.push(self.node(ExprKind::Void, sp));
                ExprKind::Begin(sets)
            }
            _ => return Ok(None),
        }))
    }

    /// `(list a b c)`, which is `(cons a (cons b (cons c null)))` (adt.xtm's `cons` chooses
    /// the list's type), and `(null? p)`, which is `(= p null)`. Kept out of
    /// [`Parser::list`] so that its frame stays small (expressions nest through it).
    fn sugar(&mut self, name: &str, items: &[Sexp], sp: &Option<Span>) -> Result<Option<Expr>> {
        match name {
            "list" => {
                let mut tail = self.node(ExprKind::Null, sp);
                for item in items[1..].iter().rev() {
                    let head = self.expr(item)?;
                    tail = self.node(ExprKind::App("cons".into(), vec![head, tail]), &item.span);
                }
                Ok(Some(tail))
            }
            // (printout a b ..): each value by `print`, chosen by its type, nothing between
            "printout" => {
                let mut body = Vec::with_capacity(items.len());
                for item in &items[1..] {
                    let x = self.expr(item)?;
                    body.push(self.node(ExprKind::App("print".into(), vec![x]), &item.span));
                }
                body.push(self.node(ExprKind::Void, sp));
                Ok(Some(self.node(ExprKind::Begin(body), sp)))
            }
            // (println a b ..): each value by `print` (so a `print` overload of its type
            // prints it), a space between them, then the newline of a bare `(println)`
            "println" if items.len() > 1 => {
                let mut body = Vec::with_capacity(2 * items.len());
                for (i, item) in items[1..].iter().enumerate() {
                    if i > 0 {
                        let space = self.node(ExprKind::Str(" ".into()), &item.span);
                        body.push(
                            self.node(ExprKind::App("print".into(), vec![space]), &item.span),
                        );
                    }
                    let x = self.expr(item)?;
                    body.push(self.node(ExprKind::App("print".into(), vec![x]), &item.span));
                }
                body.push(self.node(ExprKind::App("println".into(), Vec::new()), sp));
                Ok(Some(self.node(ExprKind::Begin(body), sp)))
            }
            "null?" => {
                let [_, p] = items else {
                    return syntax(
                        format!(
                            "null? takes the shape (null? pointer), found {} argument(s)",
                            items.len() - 1
                        ),
                        sp.as_ref(),
                    );
                };
                let p = self.expr(p)?;
                let null = self.node(ExprKind::Null, sp);
                Ok(Some(
                    self.node(ExprKind::App("=".into(), vec![p, null]), sp),
                ))
            }
            // a field of a tuple element, `(tref (pref p i) k)`: read in place, as
            // `(tref (pref-ptr p i) k)` (a tuple is not held by value)
            "tref" => {
                let [_, elem, k] = items else {
                    return Ok(None);
                };
                let Some([head, p, i]) = elem.list() else {
                    return Ok(None);
                };
                let by_ptr = match head.sym().map(canonical) {
                    Some("pref") => "pref-ptr",
                    Some("aref") => "aref-ptr",
                    _ => return Ok(None),
                };
                let at = vec![self.expr(p)?, self.expr(i)?];
                let at = self.node(ExprKind::App(by_ptr.into(), at), &elem.span);
                let k = self.expr(k)?;
                Ok(Some(
                    self.node(ExprKind::App("tref".into(), vec![at, k]), sp),
                ))
            }
            // (convert x TYPE): a binding of that type holding (convert x), whose type
            // is otherwise what its use wants
            "convert" => {
                let (x, ty) = match items {
                    [_, x] => (x, None),
                    [_, x, t] => match t.sym().map(|t| self.names.parse(t)) {
                        Some(Ok(ty)) => (x, Some(ty)),
                        _ => {
                            return syntax(
                                format!("convert's second argument must be a type, found `{t}`"),
                                t.span.as_ref(),
                            );
                        }
                    },
                    _ => {
                        return syntax(
                            "convert takes the shape (convert value [type])",
                            sp.as_ref(),
                        );
                    }
                };
                let x = self.expr(x)?;
                let call = self.node(ExprKind::App("convert".into(), vec![x]), sp);
                let Some(ty) = ty else {
                    return Ok(Some(call));
                };
                let name = format!("convert:{}", call.id);
                let binder = Binder {
                    name: name.clone(),
                    ty: Some(ty),
                    span: sp.clone(),
                };
                let var = self.node(ExprKind::Var(name), sp);
                Ok(Some(
                    self.node(ExprKind::Let(vec![(binder, call)], vec![var]), sp),
                ))
            }
            _ => Ok(None),
        }
    }

    /// A literal with its type, `5:i64`, `1.0:f`, `2.0:d`: a binding of that type
    /// holding the literal, so the literal takes the type as in any typed binding.
    /// `None` when the text before the colon is not a number.
    fn typed_literal(&mut self, text: &str, sp: &Option<Span>) -> Result<Option<Expr>> {
        let Some((lit, ty)) = text.split_once(':') else {
            return Ok(None);
        };
        let value = if let Ok(i) = lit.parse::<i64>() {
            ExprKind::Int(i)
        } else if let Ok(x) = lit.parse::<f64>()
            && lit.chars().any(|c| c.is_ascii_digit())
        {
            ExprKind::Float(x)
        } else {
            return Ok(None);
        };
        let ty = match ty {
            "f" => Type::Float,
            "d" => Type::Double,
            t => self.names.parse(t).map_err(|e| type_err(e, sp.as_ref()))?,
        };
        let name = format!("literal:{text}");
        let binder = Binder {
            name: name.clone(),
            ty: Some(ty),
            span: sp.clone(),
        };
        let value = self.node(value, sp);
        let var = self.node(ExprKind::Var(name), sp);
        Ok(Some(
            self.node(ExprKind::Let(vec![(binder, value)], vec![var]), sp),
        ))
    }

    /// `name:TYPE` as a value, Extempore's way to pick one definition of a name by its
    /// type (`Maybe:[Maybe{i64}*,i64]*`): a binding of that type holding the name; and
    /// `name:$[T,U]*`, a generic at the types of its variables. `None` when the text after
    /// the colon is not a type.
    fn typed_name(&mut self, text: &str, sp: &Option<Span>) -> Option<Expr> {
        let (name, ty) = text.split_once(':')?;
        if name.is_empty() {
            return None;
        }
        // `name:$[T,U]*`: the generic's type variables given in order, resolved by
        // inference (which knows the generic)
        if let Some(vars) = ty.strip_prefix('$') {
            self.names.parse(vars).ok()?;
            return Some(self.node(ExprKind::Var(text.to_string()), sp));
        }
        let ty = self.names.parse(ty).ok()?;
        let tmp = format!("typed:{text}");
        let binder = Binder {
            name: tmp.clone(),
            ty: Some(ty),
            span: sp.clone(),
        };
        let value = self.node(ExprKind::Var(name.to_string()), sp);
        let var = self.node(ExprKind::Var(tmp), sp);
        Some(self.node(ExprKind::Let(vec![(binder, value)], vec![var]), sp))
    }

    /// The bindings of a `let` in order, then its body. A lambda that names the variable
    /// it is bound to calls itself: the variable is bound to `null` first and set to the
    /// lambda before the next binding (so it is a shared cell the lambda captures, as
    /// Extempore's let-bound recursive closures).
    fn let_bindings(&mut self, s: &Sexp, binds: &[Sexp], body: &[Sexp]) -> Result<Expr> {
        let mut out = Vec::new();
        for (i, b) in binds.iter().enumerate() {
            let Some([n, v]) = b.list() else {
                return syntax(
                    format!("a let binding is (name value), found `{b}`"),
                    b.span.as_ref(),
                );
            };
            let binder = self.binder(n)?;
            let is_lambda = v
                .list()
                .and_then(|l| l.first())
                .and_then(Sexp::sym)
                .is_some_and(|h| h == "lambda");
            if !(is_lambda && mentions(v, &binder.name)) {
                out.push((binder, self.expr(v)?));
                continue;
            }
            let name = binder.name.clone();
            out.push((binder, self.node(ExprKind::Null, &v.span)));
            let lambda = self.expr(v)?;
            let mut rest = vec![self.node(ExprKind::Set(name, Box::new(lambda)), &v.span)];
            if i + 1 < binds.len() {
                rest.push(self.let_bindings(s, &binds[i + 1..], body)?);
            } else {
                rest.extend(self.body(body, s, "let")?);
            }
            return Ok(self.node(ExprKind::Let(out, rest), &s.span));
        }
        let body = self.body(body, s, "let")?;
        Ok(self.node(ExprKind::Let(out, body), &s.span))
    }

    /// `(clo.var[:TYPE])` or `(clo.var[:TYPE] value)`.
    fn env_var(&mut self, s: &Sexp, items: &[Sexp]) -> Result<ExprKind> {
        let head = self.binder(&items[0])?;
        let Some((closure, path, var)) = env_var_parts(&head.name) else {
            return syntax(
                format!("`{}` is not closure.variable", head.name),
                s.span.as_ref(),
            );
        };
        let value = match items {
            [_] => None,
            [_, v] => Some(Box::new(self.expr(v)?)),
            _ => {
                return syntax(
                    format!(
                        "{} takes no value (to read it) or one (to set it), found `{s}`",
                        head.name
                    ),
                    s.span.as_ref(),
                );
            }
        };
        Ok(ExprKind::EnvVar(EnvVar {
            closure: closure.to_string(),
            path: path.into_iter().map(str::to_string).collect(),
            var: var.to_string(),
            ty: head.ty,
            value,
        }))
    }

    fn cond(&mut self, s: &Sexp, clauses: &[Sexp]) -> Result<Expr> {
        let Some((first, rest)) = clauses.split_first() else {
            return Ok(self.node(ExprKind::Void, &s.span));
        };
        let Some(parts) = first.list().filter(|p| !p.is_empty()) else {
            return syntax(
                format!("a cond clause is (test body...), found `{first}`"),
                first.span.as_ref(),
            );
        };
        if parts[0].sym() == Some("else") {
            let body = self.body(&parts[1..], first, "else")?;
            return Ok(self.node(ExprKind::Begin(body), &first.span));
        }
        let test = self.expr(&parts[0])?;
        let body = self.body(&parts[1..], first, "a cond clause")?;
        let then = self.node(ExprKind::Begin(body), &first.span);
        let other = if rest.is_empty() {
            None
        } else {
            Some(Box::new(self.cond(s, rest)?))
        };
        Ok(self.node(
            ExprKind::If(Box::new(test), Box::new(then), other),
            &first.span,
        ))
    }
}

/// The name zonal's compiler knows a form by, for Extempore's other spellings of it
/// (`tuple-ref` is `tref`, `zone-alloc` is `zalloc`, ...).
/// Extempore's number literals that xtlang reads as calls: an exact rational `3/4` is
/// `(Rat 3 4)` (`libs/core/rational.xtm`), a complex `1+2i` or `0.5-1.5i` is
/// `(Cpxd 1.0 2.0)` (`libs/core/math.xtm`). `None` for any other symbol.
pub fn rational_or_complex(text: &str) -> Option<(&'static str, ExprKind, ExprKind)> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((n, d)) = text.split_once('/') {
        let num = n.strip_prefix('-').unwrap_or(n);
        if !digits(num) || !digits(d) {
            return None;
        }
        let (n, d) = (n.parse::<i64>().ok()?, d.parse::<i64>().ok()?);
        return (d != 0).then_some(("Rat", ExprKind::Int(n), ExprKind::Int(d)));
    }
    let body = text.strip_suffix('i')?;
    let split = body.rfind(['+', '-']).filter(|i| *i > 0)?;
    let (re, im) = body.split_at(split);
    let real = |s: &str| {
        let unsigned = s.trim_start_matches(['+', '-']);
        let ok = unsigned.bytes().any(|b| b.is_ascii_digit())
            && unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && s.len() - unsigned.len() <= 1;
        ok.then(|| s.parse::<f64>().ok()).flatten()
    };
    Some((
        "Cpxd",
        ExprKind::Float(real(re)?),
        ExprKind::Float(real(im)?),
    ))
}

pub fn canonical(head: &str) -> &str {
    match head {
        "bitwise-eor" => "bitwise-xor",
        "tuple-ref" => "tref",
        "tuple-set!" => "tset!",
        "tuple-ref-ptr" => "tref-ptr",
        "tuple-fill!" => "tfill!",
        "array-ref" => "aref",
        "array-set!" => "aset!",
        "array-ref-ptr" => "aref-ptr",
        "array-fill!" => "afill!",
        "pointer-ref" => "pref",
        "pointer-set!" => "pset!",
        "pointer-ref-ptr" => "pref-ptr",
        "stack-alloc" => "salloc",
        "zone-alloc" => "zalloc",
        "heap-alloc" => "halloc",
        // Extempore's libraries cast pointers with `cast`: the same as `convert`
        "cast" => "convert",
        // Extempore's old names of its random number builtins (libs/base/base.xtm)
        "imp_randf" => "xtc_randf",
        "imp_randd" => "xtc_randd",
        "imp_rand1_i64" => "xtc_rand1_i64",
        "imp_rand2_i64" => "xtc_rand2_i64",
        "imp_rand1_i32" => "xtc_rand1_i32",
        "imp_rand2_i32" => "xtc_rand2_i32",
        "imp_rand1_d" => "xtc_rand1_d",
        "imp_rand2_d" => "xtc_rand2_d",
        "imp_rand1_f" => "xtc_rand1_f",
        "imp_rand2_f" => "xtc_rand2_f",
        other => other,
    }
}

/// True when the symbol `name` occurs anywhere in `s`.
fn mentions(s: &Sexp, name: &str) -> bool {
    match &s.kind {
        SexpKind::Sym(x) => x == name,
        SexpKind::List(items) => items.iter().any(|i| mentions(i, name)),
        _ => false,
    }
}

/// `("osc", [], "phase")` for `osc.phase` or `osc.phase:double`, `("dsp", ["inst"],
/// "freq")` for `dsp.inst.freq`: names joined by dots.
pub fn env_var_parts(head: &str) -> Option<(&str, Vec<&str>, &str)> {
    let name = head.split_once(':').map_or(head, |(n, _)| n);
    let mut parts: Vec<&str> = name.split('.').collect();
    let ident = |p: &&str| p.chars().next().is_some_and(|c| !c.is_ascii_digit());
    if parts.len() < 2 || !parts.iter().all(ident) {
        return None;
    }
    let var = parts.pop()?;
    let closure = parts.remove(0);
    Some((closure, parts, var))
}

/// A type error at `span`.
pub fn type_err(message: impl Into<String>, span: Option<&Span>) -> crate::error::DspError {
    crate::error::DspError::new(crate::error::DspErrorKind::Type, message, span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Option<(&'static str, String, String)> {
        rational_or_complex(text).map(|(c, a, b)| (c, format!("{a:?}"), format!("{b:?}")))
    }

    #[test]
    fn rational_and_complex_literals_read_as_extempores_constructors() {
        let rat = |n: i64, d: i64| Some(("Rat", format!("Int({n})"), format!("Int({d})")));
        let cpx = |a: f64, b: f64| Some(("Cpxd", format!("Float({a:?})"), format!("Float({b:?})")));
        assert_eq!(read("3/4"), rat(3, 4));
        assert_eq!(read("-1/6"), rat(-1, 6));
        assert_eq!(read("1+1i"), cpx(1.0, 1.0));
        assert_eq!(read("0+1i"), cpx(0.0, 1.0));
        assert_eq!(read("-1.5-.25i"), cpx(-1.5, -0.25));
        for other in [
            "x/y", "1/0", "a+bi", "+i", "1+i", "pi", "1/2/3", "--1+1i", "1e5+1i",
        ] {
            assert_eq!(read(other), None, "{other}");
        }
    }
}
