//! Procedures Extempore's Scheme has that R7RS does not, with Extempore's meaning:
//! `sys:eval-string`, `sys:platform`, `sys:sleep`, `sys:cmdarg`, `string-position`,
//! `keyword?`, `macro?`, `macroexpand`, `real->integer`, `integer->real`,
//! `atom->string`, `sexpr->string`, `random-seed` and `set-current-error-port`.
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
/// error does not escape: it is reported on the current error port as comment lines
/// (`;; error: ...`) and the next form runs (the value is then `#f`); a read error ends
/// the text. An interrupt still stops it.
fn eval_string(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    let text = str_arg(it, "sys:eval-string", a[0])?.to_string();
    let mut reader = crate::reader::Reader::new(&text, "sys:eval-string");
    let mut last = Value::UNSPEC;
    loop {
        let result = match reader.next_datum() {
            Ok(None) => break,
            Ok(Some(form)) => it.eval_nested(&form),
            Err(e) => Err(Ctrl::from(e)),
        };
        match result {
            Ok(v) => last = v,
            Err(c) => {
                let e = it.ctrl_to_error(c);
                if e.kind == ErrorKind::Interrupted {
                    return Err(e.into());
                }
                let report: String = e
                    .to_string()
                    .lines()
                    .map(|l| {
                        format!(
                            ";; {}{l}\n",
                            if l.starts_with(' ') { "" } else { "error: " }
                        )
                    })
                    .collect();
                report_error(it, &report)?;
                last = Value::new(V::Bool(false));
                if e.kind == ErrorKind::Read {
                    break;
                }
            }
        }
    }
    Ok(last)
}

/// Writes `text` to the current error port (a string port, or the console's stderr).
fn report_error(it: &mut Interp, text: &str) -> Result<(), Ctrl> {
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

/// Whether symbol name `name` is a keyword (`:name`), which evaluates to itself.
pub(crate) fn is_keyword(name: &str) -> bool {
    name.len() > 1 && name.starts_with(':')
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

/// `(macroexpand '(form ...))`: the form with macro uses at its head expanded until it
/// is something else (the form itself when it is not a macro use).
fn macroexpand(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    let d = it.to_datum(a[0]);
    let expanded = it.macroexpand(&d, &Vec::new())?;
    Ok(match expanded {
        Some(e) => it.from_datum(&e),
        None => a[0],
    })
}

pub(super) fn install(it: &mut Interp) {
    ctl(it, "sys:eval-string", 1, Some(1), eval_string);
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
    plain(it, "macro?", 1, Some(1), |it, a| {
        let s = sym_arg(it, "macro?", a[0])?;
        Ok(Value::boolean(it.macros.contains_key(&s)))
    });
    ctl(it, "macroexpand", 1, Some(1), macroexpand);
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
