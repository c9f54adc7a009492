//! Procedures Extempore's Scheme has that R7RS does not, with Extempore's meaning:
//! `sys:eval-string`, `sys:platform`, `sys:sleep`, `sys:cmdarg`, `string-position`,
//! `keyword?`, `macro?`, `macroexpand`, `real->integer`, `integer->real`,
//! `atom->string`, `sexpr->string`, `random-seed` and `set-current-error-port`, and
//! those of s7 (Extempore's Scheme) that its programs use: `*s7*`, `char-position`,
//! `symbol->value`, `keyword->symbol`, `symbol->keyword`, `sys:apply-top-level`.
//! The ones written in Scheme (`put`/`get`, `define*`, `dotimes`, `rotate`, `cosr`,
//! `sinr`, `print-with-colors`) are in `prelude.scm`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{PlainResult, ctl, plain, str_arg, sym_arg, type_err};
use crate::error::ErrorKind;
use crate::interp::{Ctrl, Interp, err};
use crate::value::{Obj, V, Value};

/// The hidden global holding what `(current-error-port)` returns.
const ERROR_PORT: &str = " error-port";

/// The longest `sys:sleep`, so that a mistaken duration cannot stall the session for
/// hours (the interrupt also stops it).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// `(sys:eval-string text)`: reads and evaluates every form of `text` at top level, as
/// an editor's evaluation is, and gives the value of the last one. As in Extempore, an
/// error does not escape: it is reported on the current error port (see
/// [`report_error`]), the evaluator's stacks are unwound to where they were, and the
/// next form runs (the value is then the error's tag, as [`error_tag`] names it); a
/// read error ends the text. An interrupt, or a continuation called from outside,
/// still leaves.
fn eval_string(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    let text = str_arg(it, "sys:eval-string", a[0])?.to_string();
    let mut reader = crate::reader::Reader::new(&text, "sys:eval-string");
    let mut last = Value::UNSPEC;
    loop {
        let mark = it.mark();
        let (result, form) = match reader.next_datum() {
            Ok(None) => break,
            Ok(Some(form)) => (it.eval_nested(&form), Some(form)),
            Err(e) => (Err(Ctrl::from(e)), None),
        };
        match result {
            Ok(v) => last = v,
            Err(c) => {
                let e = caught(it, c, mark)?;
                let echo = form.map(|f| {
                    let v = it.from_datum(&f);
                    it.print_to(v, true)
                });
                report_error(it, &e, echo.as_deref())?;
                last = error_tag(it, &e);
                if e.kind == ErrorKind::Read {
                    break;
                }
            }
        }
    }
    Ok(last)
}

/// `(sys:apply-top-level proc args)`: `(apply proc args)` as Extempore's scheduler
/// calls a callback: an error is reported like [`eval_string`]'s, with the call
/// echoed, the stacks unwound, and its tag given as the value.
fn apply_top_level(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    let f = super::proc_arg(it, "sys:apply-top-level", a[0])?;
    let Some(args) = it.list_vec(a[1]) else {
        return Err(type_err(it, "sys:apply-top-level", "a list of arguments", a[1]).into());
    };
    let mark = it.mark();
    match it.apply_values(f, &args) {
        Ok(v) => Ok(v),
        Err(c) => {
            let e = caught(it, c, mark)?;
            // the call as written: a named procedure by its name
            let proc = it.print_to(f, true);
            let name = proc
                .strip_prefix("#<procedure ")
                .and_then(|p| p.strip_suffix('>'))
                .unwrap_or(&proc);
            let mut call = format!("({name}");
            for &x in &args {
                call.push(' ');
                call.push_str(&it.print_to(x, true));
            }
            call.push(')');
            report_error(it, &e, Some(&call))?;
            Ok(error_tag(it, &e))
        }
    }
}

/// The error `c` stands for, with the stacks unwound to `mark`; an interrupt, a request
/// to exit or the escape of a continuation taken outside goes on unwinding.
fn caught(it: &mut Interp, c: Ctrl, mark: crate::interp::Mark) -> Result<crate::Error, Ctrl> {
    if matches!(c, Ctrl::Escape(..)) {
        return Err(c);
    }
    it.unwind_to(mark);
    let e = it.ctrl_to_error(c);
    if !e.kind.is_catchable() {
        return Err(e.into());
    }
    Ok(e)
}

/// The symbol s7 (and so Extempore) gives as an error's tag, the value of a form that
/// failed in `sys:eval-string` or `sys:apply-top-level`.
fn error_tag(it: &mut Interp, e: &crate::Error) -> Value {
    let tag = match e.kind {
        ErrorKind::Read => "read-error",
        ErrorKind::Syntax => "syntax-error",
        ErrorKind::Unbound => "unbound-variable",
        ErrorKind::Type => "wrong-type-arg",
        ErrorKind::Arity => "wrong-number-of-args",
        ErrorKind::Range => "out-of-range",
        ErrorKind::DivByZero => "division-by-zero",
        ErrorKind::StackOverflow => "stack-too-deep",
        ErrorKind::Io => "io-error",
        ErrorKind::Memory => "out-of-memory",
        ErrorKind::User | ErrorKind::Native | ErrorKind::Interrupted | ErrorKind::Exit(_) => {
            "error"
        }
    };
    let s = it.intern(tag);
    Value::new(V::Sym(s))
}

/// The longest echo of the failing form in a report.
const ECHO_LIMIT: usize = 200;

/// Reports `e` on the current error port as Extempore's editor evaluation does: comment
/// lines only, the message, the failing form (`echo`, shortened past [`ECHO_LIMIT`]
/// characters), then where it failed; no backtrace, so reports do not pile up.
fn report_error(it: &mut Interp, e: &crate::Error, echo: Option<&str>) -> Result<(), Ctrl> {
    let mut text = format!(";; error: {}: {}", e.kind.name(), e.message);
    for irritant in &e.irritants {
        text.push(' ');
        text.push_str(irritant);
    }
    text.push('\n');
    if let Some(form) = echo {
        let mut form: String = form.replace('\n', " ");
        if let Some((cut, _)) = form.char_indices().nth(ECHO_LIMIT) {
            form.truncate(cut);
            form.push_str(" ...");
        }
        text.push_str(&format!(";;     {form}\n"));
    }
    if let Some(pos) = &e.pos {
        text.push_str(&format!(";;     at {pos}\n"));
    }
    write_error_port(it, &text)
}

/// Writes `text` to the current error port (a string port, or the console's stderr).
fn write_error_port(it: &mut Interp, text: &str) -> Result<(), Ctrl> {
    let port = super::hidden(it, ERROR_PORT);
    if let Some(Obj::OutPort(buf)) = it.heap.obj(port) {
        let grown = super::io::grown_by(buf, text.len());
        it.room_for(grown)?;
        if let Some(Obj::OutPort(buf)) = it.heap.obj_mut(port) {
            buf.push_str(text);
        }
        it.heap.grew(grown);
    } else {
        eprint!("{text}");
    }
    Ok(())
}

/// The operating system as Extempore names it.
fn platform() -> &'static str {
    if cfg!(target_os = "macos") {
        "OSX"
    } else if cfg!(target_os = "linux") {
        "Linux"
    } else if cfg!(target_os = "windows") {
        "Windows"
    } else {
        "unknown"
    }
}

/// `(sys:sleep samples)`: waits that long (at `*samplerate*`, 48 kHz if it is not
/// set) on the calling thread. Extempore's yields to other callbacks while it waits;
/// this one blocks the control thread, so it suits short waits in scripts.
fn sleep(it: &mut Interp, a: &[Value]) -> PlainResult {
    let samples = match a[0].get() {
        V::Int(i) => i as f64,
        V::Float(f) => f,
        _ => return Err(type_err(it, "sys:sleep", "a number of samples", a[0]).into()),
    };
    let s = it.intern("*samplerate*");
    let rate = match it.globals[s as usize].get() {
        V::Int(r) if r > 0 => r as f64,
        V::Float(r) if r > 0.0 => r,
        _ => 48_000.0,
    };
    let secs = (samples / rate).max(0.0);
    let wait = if secs.is_finite() {
        Duration::from_secs_f64(secs.min(MAX_SLEEP.as_secs_f64()))
    } else {
        MAX_SLEEP
    };
    let end = Instant::now() + wait;
    loop {
        if it.interrupt.load(Ordering::Relaxed) {
            it.interrupt.store(false, Ordering::Relaxed);
            return Err(err(ErrorKind::Interrupted, "evaluation interrupted").into());
        }
        let now = Instant::now();
        if now >= end {
            return Ok(Value::TRUE);
        }
        std::thread::sleep((end - now).min(Duration::from_millis(10)));
    }
}

/// `(sys:cmdarg "name")`: the value given as `--name=value` on the command line, or #f.
fn cmdarg(it: &mut Interp, a: &[Value]) -> PlainResult {
    let name = str_arg(it, "sys:cmdarg", a[0])?;
    let prefix = format!("--{name}=");
    let found = std::env::args().find_map(|arg| arg.strip_prefix(&prefix).map(str::to_string));
    Ok(match found {
        Some(v) => it.new_string(v),
        None => Value::FALSE,
    })
}

/// `(string-position needle haystack [start])`: the character index of the first
/// `needle` in `haystack` at or after `start`, or #f.
fn string_position(it: &mut Interp, a: &[Value]) -> PlainResult {
    let needle = str_arg(it, "string-position", a[0])?;
    let hay = str_arg(it, "string-position", a[1])?;
    let start = match a.get(2) {
        Some(&v) => super::index_arg(it, "string-position", v)?,
        None => 0,
    };
    let Some((from, _)) = hay
        .char_indices()
        .chain(std::iter::once((hay.len(), ' ')))
        .nth(start)
    else {
        return Ok(Value::FALSE);
    };
    Ok(match hay[from..].find(needle) {
        Some(b) => Value::new(V::Int((start + hay[from..from + b].chars().count()) as i64)),
        None => Value::FALSE,
    })
}

/// Whether symbol name `name` is a keyword, which evaluates to itself: as in
/// Extempore's s7, a colon at either end next to a letter (`:name`, `name:`), so that
/// operator names such as `:>` and `:|` stay ordinary symbols a macro can bind.
pub(crate) fn is_keyword(name: &str) -> bool {
    let mut chars = name.chars();
    let (first, second) = (chars.next(), chars.next());
    let mut back = name.chars().rev();
    let (last, before_last) = (back.next(), back.next());
    (first == Some(':') && second.is_some_and(char::is_alphabetic))
        || (last == Some(':') && before_last.is_some_and(char::is_alphabetic))
}

/// The symbol keyword `name` stands for, its colon taken off (`:b` and `b:` are `b`).
pub(crate) fn keyword_name(name: &str) -> &str {
    name.strip_prefix(':')
        .filter(|rest| rest.starts_with(char::is_alphabetic))
        .unwrap_or_else(|| name.strip_suffix(':').unwrap_or(name))
}

/// `(atom->string x)`: a number, symbol, string, character or boolean as text
/// (strings and characters without quotes).
fn atom_to_string(it: &mut Interp, a: &[Value]) -> PlainResult {
    let text = match a[0].get() {
        V::Int(_) | V::Float(_) | V::Sym(_) | V::Char(_) | V::Bool(_) => it.print_to(a[0], false),
        _ => match it.heap.obj(a[0]) {
            Some(Obj::Str(s)) => s.clone(),
            Some(Obj::Rat(..)) => it.print_to(a[0], false),
            _ => return Err(type_err(it, "atom->string", "an atom", a[0]).into()),
        },
    };
    Ok(it.new_string(text))
}

/// `(macroexpand (mac arg ...))`, a special form as in s7: the macro use, not
/// evaluated, expanded once (the form itself when it is not a macro use). A quoted
/// form, `(macroexpand '(mac arg ...))`, as older Extempore code writes it, is
/// expanded the same way.
fn macroexpand(it: &mut Interp, form: &crate::Datum) -> Result<Value, crate::Error> {
    let items = form.as_list().unwrap_or(&[]);
    let [_, arg] = items else {
        return Err(err(
            ErrorKind::Syntax,
            "macroexpand wants one form: (macroexpand (mac arg ...))",
        ));
    };
    let target = match arg.as_list() {
        Some([q, quoted]) if q.as_sym() == Some("quote") => quoted,
        _ => arg,
    };
    let expanded = it.expand_once(target)?;
    Ok(it.from_datum(expanded.as_ref().unwrap_or(target)))
}

/// `(char-position c text [start])`, s7's: the index of the first `c` (or, when `c`
/// is a string, of any of its characters) in `text` at or after `start`, or #f.
fn char_position(it: &mut Interp, a: &[Value]) -> PlainResult {
    let wanted: Vec<char> = match a[0].get() {
        V::Char(c) => vec![c],
        _ => match it.str_of(a[0]) {
            Some(s) => s.chars().collect(),
            None => {
                return Err(type_err(it, "char-position", "a character or a string", a[0]).into());
            }
        },
    };
    let text = str_arg(it, "char-position", a[1])?;
    let start = match a.get(2) {
        Some(&v) => super::index_arg(it, "char-position", v)?,
        None => 0,
    };
    Ok(text
        .chars()
        .enumerate()
        .skip(start)
        .find(|(_, c)| wanted.contains(c))
        .map_or(Value::FALSE, |(i, _)| Value::new(V::Int(i as i64))))
}

/// `(symbol->value sym)`: the global value of `sym`; the macro it names (a value
/// `macro?` is true of) when it names a macro and no variable.
fn symbol_to_value(it: &mut Interp, a: &[Value]) -> PlainResult {
    let s = sym_arg(it, "symbol->value", a[0])?;
    let v = it.globals[s as usize];
    if !v.is_undef() {
        return Ok(v);
    }
    if it.macros.contains_key(&s) {
        return Ok(it.alloc(Obj::Macro(s)));
    }
    Err(err(
        ErrorKind::Unbound,
        format!("{} is not defined", it.sym_name(s)),
    )
    .into())
}

/// `(*s7* 'field)`: the few of s7's interpreter fields Extempore's programs read.
/// `stack-top` is how many calls, handlers and output captures are in progress (the
/// same wherever it is read in one body, and not grown by caught errors),
/// `print-length` how many characters of a form an error report echoes, `heap-size`
/// the bytes the heap holds.
fn s7_field(it: &mut Interp, a: &[Value]) -> PlainResult {
    let s = sym_arg(it, "*s7*", a[0])?;
    let n = match it.sym_name(s) {
        "stack-top" => it.depth + it.handlers.len() + it.captures.len(),
        "print-length" => ECHO_LIMIT,
        "heap-size" => it.heap.used,
        other => {
            return Err(err(
                ErrorKind::Range,
                format!(
                    "*s7* has no field {other}: it knows stack-top, print-length and heap-size"
                ),
            )
            .into());
        }
    };
    Ok(Value::new(V::Int(n as i64)))
}

pub(super) fn install(it: &mut Interp) {
    ctl(it, "sys:eval-string", 1, Some(1), eval_string);
    ctl(it, "sys:apply-top-level", 2, Some(2), apply_top_level);
    plain(it, "char-position", 2, Some(3), char_position);
    plain(it, "symbol->value", 1, Some(1), symbol_to_value);
    plain(it, "*s7*", 1, Some(1), s7_field);
    plain(it, "keyword->symbol", 1, Some(1), |it, a| {
        let s = sym_arg(it, "keyword->symbol", a[0])?;
        let name = it.sym_name(s);
        if !is_keyword(name) {
            return Err(type_err(it, "keyword->symbol", "a keyword", a[0]).into());
        }
        let plain = keyword_name(name).to_string();
        let s = it.intern(&plain);
        Ok(Value::new(V::Sym(s)))
    });
    plain(it, "symbol->keyword", 1, Some(1), |it, a| {
        let s = sym_arg(it, "symbol->keyword", a[0])?;
        let name = format!(":{}", it.sym_name(s));
        let s = it.intern(&name);
        Ok(Value::new(V::Sym(s)))
    });
    plain(it, "sys:platform", 0, Some(0), |it, _| {
        Ok(it.new_string(platform().to_string()))
    });
    plain(it, "sys:sleep", 1, Some(1), sleep);
    plain(it, "sys:cmdarg", 1, Some(1), cmdarg);
    plain(it, "string-position", 2, Some(3), string_position);
    plain(it, "keyword?", 1, Some(1), |it, a| {
        Ok(Value::boolean(match a[0].get() {
            V::Sym(s) => is_keyword(it.sym_name(s)),
            _ => false,
        }))
    });
    // a macro's name (Extempore's older meaning) or the macro itself (s7's)
    plain(it, "macro?", 1, Some(1), |it, a| {
        Ok(Value::boolean(match a[0].get() {
            V::Sym(s) => it.macros.contains_key(&s),
            _ => matches!(it.heap.obj(a[0]), Some(Obj::Macro(_))),
        }))
    });
    it.register_special_form("macroexpand", macroexpand);
    plain(it, "real->integer", 1, Some(1), |it, a| match a[0].get() {
        V::Int(_) => Ok(a[0]),
        V::Float(f) if f.is_finite() && f.abs() < 9.2e18 => Ok(Value::new(V::Int(f as i64))),
        _ => match super::rational::parts(it, a[0]) {
            Some((n, d)) => Ok(Value::new(V::Int(n / d))),
            None => Err(type_err(it, "real->integer", "a finite number", a[0]).into()),
        },
    });
    plain(it, "integer->real", 1, Some(1), |it, a| {
        match it.as_f64(a[0]) {
            Some(f) => Ok(Value::new(V::Float(f))),
            None => Err(type_err(it, "integer->real", "a number", a[0]).into()),
        }
    });
    plain(it, "atom->string", 1, Some(1), atom_to_string);
    plain(it, "sexpr->string", 1, Some(1), |it, a| {
        let text = it.print_to(a[0], true);
        Ok(it.new_string(text))
    });
    plain(it, "random-seed", 1, Some(1), |it, a| {
        let seed = super::int_arg(it, "random-seed", a[0])?;
        // xorshift needs a state that is not zero
        it.rng = (seed as u64) ^ 0x2545_f491_4f6c_dd1d;
        if it.rng == 0 {
            it.rng = 0x2545_f491_4f6c_dd1d;
        }
        Ok(Value::UNSPEC)
    });
    let console = super::hidden(it, " console");
    let s = it.intern(ERROR_PORT);
    it.globals[s as usize] = console;
    plain(it, "current-error-port", 0, Some(0), |it, _| {
        Ok(super::hidden(it, ERROR_PORT))
    });
    plain(it, "set-current-error-port", 1, Some(1), |it, a| {
        let console = super::hidden(it, " console");
        let ok = matches!(it.heap.obj(a[0]), Some(Obj::OutPort(_))) || a[0].eqv(console);
        if !ok {
            return Err(type_err(it, "set-current-error-port", "an output port", a[0]).into());
        }
        // the port it replaces, so that a caller can put it back (as Extempore's does)
        let old = super::hidden(it, ERROR_PORT);
        let s = it.intern(ERROR_PORT);
        it.globals[s as usize] = a[0];
        Ok(old)
    });
}
