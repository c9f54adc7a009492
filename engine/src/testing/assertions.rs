//! Extempore's `xtmtest-*` assertions, with their meanings, recorded with the place
//! they were written.
//!
//! Each assertion is a macro written in Rust: it sees the form with its positions and
//! expands, in the lexical scope of its use, into Scheme that evaluates the call under
//! `guard` and hands the outcome to a recording procedure. So a failing or raising
//! assertion never stops the file, and every result knows its `file:line:col`.
//!
//! - `(xtmtest-result CALL EXPECTED [LABEL])`: passes when CALL's value equals
//!   EXPECTED (numbers with `=`, so 4 and 4.0 agree; everything else with `equal?`).
//! - `(xtmtest-runs CALL [LABEL])`: passes when CALL returns without an error.
//! - `(xtmtest-compile FORM)` / `(xtmtest-compile-fails FORM)`: FORM (a `bind-func`,
//!   `bind-type`...) compiles / does not.
//! - `(xtmtest-with-fixture NAME FIXTURE TEST...)`: FIXTURE, then the TESTs, in which
//!   `(is? CALL EXPECTED [LABEL])` is an `xtmtest-result` named `NAME.LABEL` (or
//!   `NAME.is?`); an error escaping the fixture is a `fixture-error`.
//!
//! The audio assertions (`audiotest_assert_*`, see [`super::audio`]) expand the same
//! way: their arguments are evaluated under `guard`, then checked in Rust.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

use zonal_scheme::{Datum, DatumKind, Error, ErrorKind, Interp, Pos, Value};

/// How one assertion ended (Extempore's vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The call ran and its value matched.
    Pass,
    /// The call ran but its value did not match (or the sound was not as asserted).
    Fail,
    /// Evaluating the call raised an error.
    RuntimeError,
    /// A form that should compile did not.
    CompileError,
    /// A form that should compile did.
    CompileOk,
    /// A fixture's setup raised an error.
    FixtureError,
    /// A form outside any assertion raised an error, or the file could not be read.
    Error,
}

impl Outcome {
    pub fn passed(self) -> bool {
        matches!(self, Outcome::Pass | Outcome::CompileOk)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::RuntimeError => "runtime-error",
            Outcome::CompileError => "compile-error",
            Outcome::CompileOk => "compile-ok",
            Outcome::FixtureError => "fixture-error",
            Outcome::Error => "error",
        })
    }
}

/// One recorded assertion.
#[derive(Clone, Debug)]
pub struct Assertion {
    /// `file:line:col` of the assertion.
    pub place: String,
    pub name: String,
    pub outcome: Outcome,
    /// What was asserted on, as written (the call, or the form that should compile).
    pub call: String,
    pub expected: String,
    pub got: String,
}

impl Assertion {
    /// The one-line report: place, outcome, name, and for a failure what was expected
    /// and what came instead.
    pub fn line(&self) -> String {
        if self.outcome.passed() {
            format!("{}: PASS {}", self.place, self.name)
        } else {
            let call = if self.call.is_empty() {
                String::new()
            } else {
                format!("{} ", self.call)
            };
            let got = self.got.lines().next().unwrap_or("");
            format!(
                "{}: FAIL {} ({}): {call}expected {}, got {got}",
                self.place, self.name, self.outcome, self.expected
            )
        }
    }
}

/// What a file's assertions recorded, shared by the macros' procedures.
#[derive(Default)]
pub struct Recorder {
    pub results: Vec<Assertion>,
    /// Assertions left out by `--filter`.
    pub skipped: usize,
    filter: Option<String>,
}

impl Recorder {
    pub fn new(filter: Option<String>) -> Rc<RefCell<Recorder>> {
        Rc::new(RefCell::new(Recorder {
            filter,
            ..Recorder::default()
        }))
    }

    pub fn record(&mut self, a: Assertion) {
        self.results.push(a);
    }

    pub(crate) fn selected(&self, name: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| name.contains(f))
    }
}

/// Scheme the expansions call: `(%test:describe e)` turns what was raised into text.
const PRELUDE: &str = r#"
(define (%test:describe e)
  (let ((p (open-output-string)))
    (if (error-object? e)
        (begin
          (display (error-object-message e) p)
          (for-each (lambda (i) (display " " p) (write i p)) (error-object-irritants e)))
        (write e p))
    (get-output-string p)))
"#;

/// Registers the `xtmtest-*` macros and their recording procedures.
pub fn register(interp: &mut Interp, rec: &Rc<RefCell<Recorder>>) -> Result<(), Error> {
    interp.eval_str(PRELUDE, "<zonal test>")?;
    // outside a fixture, `is?` is an xtmtest-result too
    for head in ["xtmtest-result", "is?"] {
        let r = rec.clone();
        interp.register_macro(head, move |form| {
            let shape = format!("({head} CALL EXPECTED [LABEL])");
            let items = args(form, 2, 3, &shape)?;
            let label = items.get(2);
            Ok(result_expansion(
                form, &items[0], &items[1], label, None, &r,
            ))
        });
    }
    let r = rec.clone();
    interp.register_macro("xtmtest-runs", move |form| {
        let items = args(form, 1, 2, "(xtmtest-runs CALL [LABEL])")?;
        let name = name_of(&items[0], items.get(1), None);
        if !r.borrow().selected(&name.0) {
            return Ok(skipped());
        }
        Ok(template(
            "(%test:runs PLACE NAME (quote CALL) (guard (%e (#t (list 'error (%test:describe %e)))) (list 'ok CALL)))",
            &[
                ("PLACE", place(form)),
                ("NAME", name.1),
                ("CALL", items[0].clone()),
            ],
        ))
    });
    for (head, should) in [("xtmtest-compile", true), ("xtmtest-compile-fails", false)] {
        let r = rec.clone();
        interp.register_macro(head, move |form| {
            let items = args(form, 1, 1, &format!("({head} FORM)"))?;
            let name = items[0]
                .as_list()
                .and_then(|l| l.get(1))
                .and_then(|d| d.as_sym().map(str::to_string))
                .unwrap_or_else(|| head.to_string());
            if !r.borrow().selected(&name) {
                return Ok(skipped());
            }
            Ok(template(
                "(%test:compile PLACE (quote NAME) SHOULD (quote FORM) (guard (%e (#t (list 'error (%test:describe %e)))) FORM (list 'ok #t)))",
                &[
                    ("PLACE", place(form)),
                    ("NAME", Datum::new(DatumKind::Sym(name), None)),
                    ("SHOULD", Datum::new(DatumKind::Bool(should), None)),
                    ("FORM", items[0].clone()),
                ],
            ))
        });
    }
    let r = rec.clone();
    interp.register_macro("xtmtest-with-fixture", move |form| {
        let items = form.as_list().unwrap_or(&[]);
        if items.len() < 3 {
            return Err(usage(form, "(xtmtest-with-fixture NAME FIXTURE TEST...)"));
        }
        let suite = match &items[1].kind {
            DatumKind::Sym(s) | DatumKind::Str(s) => s.clone(),
            _ => return Err(usage(form, "(xtmtest-with-fixture NAME FIXTURE TEST...)")),
        };
        let tests: Vec<Datum> = items[3..]
            .iter()
            .map(|t| rewrite_is(t, &suite, &r))
            .collect();
        let mut body = vec![items[2].clone()];
        body.extend(tests);
        Ok(template(
            "(guard (%e (#t (%test:fixture-error PLACE (quote SUITE) (%test:describe %e)))) . BODY)",
            &[
                ("PLACE", place(form)),
                ("SUITE", Datum::new(DatumKind::Sym(suite), None)),
                ("BODY", Datum::new(DatumKind::List(body), None)),
            ],
        ))
    });
    register_recorders(interp, rec);
    Ok(())
}

/// The procedures the expansions call to record outcomes.
fn register_recorders(interp: &mut Interp, rec: &Rc<RefCell<Recorder>>) {
    let r = rec.clone();
    interp.register_native("%test:result", move |it, a| {
        arity(a, 5, "%test:result")?;
        let (place, name, call) = (text(it, a[0]), text(it, a[1]), it.write_string(a[2]));
        let got = tagged(it, a[3]);
        let expected = tagged(it, a[4]);
        let (outcome, expected, got) = match (expected, got) {
            (Ok(e), Ok(g)) => {
                let same = match (it.as_f64(e), it.as_f64(g)) {
                    (Some(x), Some(y)) => x == y,
                    _ => it.write_string(e) == it.write_string(g),
                };
                let o = if same { Outcome::Pass } else { Outcome::Fail };
                (o, it.write_string(e), it.write_string(g))
            }
            (Err(e), _) => (
                Outcome::RuntimeError,
                format!("(an error: {e})"),
                "-".into(),
            ),
            (_, Err(g)) => (
                Outcome::RuntimeError,
                "a value".into(),
                format!("an error: {g}"),
            ),
        };
        r.borrow_mut().record(Assertion {
            place,
            name,
            outcome,
            call,
            expected,
            got,
        });
        Ok(it.unspecified())
    });
    let r = rec.clone();
    interp.register_native("%test:runs", move |it, a| {
        arity(a, 4, "%test:runs")?;
        let (place, name, call) = (text(it, a[0]), text(it, a[1]), it.write_string(a[2]));
        let (outcome, got) = match tagged(it, a[3]) {
            Ok(v) => (Outcome::Pass, it.write_string(v)),
            Err(e) => (Outcome::RuntimeError, format!("an error: {e}")),
        };
        r.borrow_mut().record(Assertion {
            place,
            name,
            outcome,
            call,
            expected: "no error".into(),
            got,
        });
        Ok(it.unspecified())
    });
    let r = rec.clone();
    interp.register_native("%test:compile", move |it, a| {
        arity(a, 5, "%test:compile")?;
        let (place, name) = (text(it, a[0]), text(it, a[1]));
        let should = it.is_true(a[2]);
        let call = first_line(&it.write_string(a[3]));
        let compiled = tagged(it, a[4]);
        let (outcome, expected, got) = match (should, compiled) {
            (true, Ok(_)) => (Outcome::CompileOk, "to compile", "compiled".to_string()),
            (true, Err(e)) => (
                Outcome::CompileError,
                "to compile",
                format!("a compile error: {e}"),
            ),
            (false, Ok(_)) => (Outcome::Fail, "a compile error", "compiled".to_string()),
            (false, Err(e)) => (Outcome::Pass, "a compile error", e),
        };
        r.borrow_mut().record(Assertion {
            place,
            name,
            outcome,
            call,
            expected: expected.into(),
            got,
        });
        Ok(it.unspecified())
    });
    let r = rec.clone();
    interp.register_native("%test:fixture-error", move |it, a| {
        arity(a, 3, "%test:fixture-error")?;
        r.borrow_mut().record(Assertion {
            place: text(it, a[0]),
            name: text(it, a[1]),
            outcome: Outcome::FixtureError,
            call: "the fixture".into(),
            expected: "no error".into(),
            got: format!("an error: {}", text(it, a[2])),
        });
        Ok(it.unspecified())
    });
    let r = rec.clone();
    interp.register_native("%test:skipped", move |it, _| {
        r.borrow_mut().skipped += 1;
        Ok(it.unspecified())
    });
}

/// The recording procedures are called by the expansions with `n` arguments; called by
/// hand with others, they say so rather than read past their arguments.
pub(crate) fn arity(a: &[Value], n: usize, name: &str) -> Result<(), Error> {
    if a.len() == n {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::Arity,
            format!(
                "{name} is called by zonal test's assertions, with {n} arguments, not {}",
                a.len()
            ),
        ))
    }
}

/// The operands of `form`, between `min` and `max` of them.
fn args(form: &Datum, min: usize, max: usize, shape: &str) -> Result<Vec<Datum>, Error> {
    let items = form.as_list().unwrap_or(&[]);
    let n = items.len().saturating_sub(1);
    if n < min || n > max {
        return Err(usage(form, shape));
    }
    Ok(items[1..].to_vec())
}

pub(crate) fn usage(form: &Datum, shape: &str) -> Error {
    let mut e = Error::new(
        ErrorKind::Syntax,
        format!("this assertion is written {shape}"),
    );
    e.pos = form.pos.clone();
    e
}

/// The assertion's place as a string datum.
pub(crate) fn place(form: &Datum) -> Datum {
    let text = form
        .pos
        .as_ref()
        .map_or_else(|| "?".to_string(), Pos::to_string);
    Datum::new(DatumKind::Str(text), None)
}

/// The name an assertion records (as text, and as the datum that evaluates to it): the
/// label when it is a string, else the call's head, prefixed by a fixture's name.
fn name_of(call: &Datum, label: Option<&Datum>, suite: Option<&str>) -> (String, Datum) {
    let base = match label.map(|l| &l.kind) {
        Some(DatumKind::Str(s)) => s.clone(),
        Some(DatumKind::Sym(s)) => s.clone(),
        _ if suite.is_some() => "is?".to_string(),
        _ => match &call.kind {
            DatumKind::List(items) => items
                .first()
                .and_then(|h| h.as_sym().map(str::to_string))
                .unwrap_or_else(|| "xtmtest-result".into()),
            DatumKind::Sym(s) => s.clone(),
            _ => "xtmtest-result".into(),
        },
    };
    let name = match suite {
        Some(s) => format!("{s}.{base}"),
        None => base,
    };
    (name.clone(), Datum::new(DatumKind::Str(name), None))
}

fn result_expansion(
    form: &Datum,
    call: &Datum,
    expected: &Datum,
    label: Option<&Datum>,
    suite: Option<&str>,
    rec: &Rc<RefCell<Recorder>>,
) -> Datum {
    let name = name_of(call, label, suite);
    if !rec.borrow().selected(&name.0) {
        return skipped();
    }
    template(
        "(%test:result PLACE NAME (quote CALL) \
           (guard (%e (#t (list 'error (%test:describe %e)))) (list 'ok CALL)) \
           (guard (%e (#t (list 'error (%test:describe %e)))) (list 'ok EXPECTED)))",
        &[
            ("PLACE", place(form)),
            ("NAME", name.1),
            ("CALL", call.clone()),
            ("EXPECTED", expected.clone()),
        ],
    )
}

/// The expansion of an assertion that `--filter` leaves out: it only counts.
pub(crate) fn skipped() -> Datum {
    template("(%test:skipped)", &[])
}

/// `t` with every `(is? ...)` inside it (but not inside quoted data) turned into the
/// assertion it stands for in the fixture `suite`.
fn rewrite_is(t: &Datum, suite: &str, rec: &Rc<RefCell<Recorder>>) -> Datum {
    let DatumKind::List(items) = &t.kind else {
        return t.clone();
    };
    match items.first().and_then(Datum::as_sym) {
        Some("quote") | Some("quasiquote") => t.clone(),
        Some("is?") if (3..=4).contains(&items.len()) => {
            result_expansion(t, &items[1], &items[2], items.get(3), Some(suite), rec)
        }
        _ => Datum::new(
            DatumKind::List(items.iter().map(|i| rewrite_is(i, suite, rec)).collect()),
            t.pos.clone(),
        ),
    }
}

/// Reads `text` (trusted template text) and puts each placeholder's datum in place
/// of the symbol of that name; a placeholder in a dotted tail splices a list. Parts
/// of the template carry no position, so they take the assertion's.
pub(crate) fn template(text: &str, subs: &[(&str, Datum)]) -> Datum {
    let mut forms = Interp::read_all(text, "<zonal test>").unwrap_or_default();
    let form = forms
        .pop()
        .unwrap_or_else(|| Datum::new(DatumKind::Nil, None));
    substitute(form, subs)
}

fn substitute(d: Datum, subs: &[(&str, Datum)]) -> Datum {
    match d.kind {
        DatumKind::Sym(ref s) => subs
            .iter()
            .find(|(k, _)| k == s)
            .map_or(Datum::new(d.kind.clone(), None), |(_, v)| v.clone()),
        DatumKind::List(items) => Datum::new(
            DatumKind::List(items.into_iter().map(|i| substitute(i, subs)).collect()),
            None,
        ),
        DatumKind::Dotted(items, tail) => {
            let mut items: Vec<Datum> = items.into_iter().map(|i| substitute(i, subs)).collect();
            match substitute(*tail, subs) {
                Datum {
                    kind: DatumKind::List(rest),
                    ..
                } => {
                    items.extend(rest);
                    Datum::new(DatumKind::List(items), None)
                }
                Datum {
                    kind: DatumKind::Nil,
                    ..
                } => Datum::new(DatumKind::List(items), None),
                tail => Datum::new(DatumKind::Dotted(items, Box::new(tail)), None),
            }
        }
        kind => Datum::new(kind, None),
    }
}

/// A string argument as text (anything else as written).
pub(crate) fn text(it: &Interp, v: Value) -> String {
    it.as_string(v).unwrap_or_else(|| it.display_string(v))
}

/// `(ok VALUE)` → the value; `(error TEXT)` → the text.
pub fn tagged(it: &Interp, v: Value) -> Result<Value, String> {
    let items = it.list_items(v).unwrap_or_default();
    match (
        items.first().and_then(|t| it.as_symbol(*t)).as_deref(),
        items.get(1),
    ) {
        (Some("ok"), Some(v)) => Ok(*v),
        (Some("error"), Some(e)) => Err(text(it, *e)),
        _ => Err(format!("an unexpected outcome {}", it.write_string(v))),
    }
}

/// The first line of `s`, with an ellipsis when there was more.
fn first_line(s: &str) -> String {
    const MAX: usize = 80;
    let line = s.lines().next().unwrap_or("");
    if line.len() > MAX || s.lines().nth(1).is_some() {
        let cut: String = line.chars().take(MAX).collect();
        format!("{cut} ...")
    } else {
        line.to_string()
    }
}
