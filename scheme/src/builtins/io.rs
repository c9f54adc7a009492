//! Output (`display`, `write`, `write-shared`, `write-simple`, `newline`, Extempore's
//! `print`/`println`), string ports (`open-input-string`, `read`, `read-char`,
//! `read-line`, `open-output-string`, `with-output-to-string`), the console port, files
//! (`open-input-file`, `file-exists?`, `delete-file`; `call-with-output-file` and
//! `with-output-to-file` are in the prelude: they write the file when they return).
//!
//! The console port (`(current-output-port)`, `(current-error-port)`) is one value that
//! writes to the interpreter's output: errors and output go to the same place, the
//! livecoder's editor or terminal. `(current-input-port)` is an empty input port: a
//! program reads from string ports or files, not from the console.

use super::{PlainResult, char_arg, ctl, plain, proc_arg, str_arg, type_err};
use crate::error::{Error, ErrorKind};
use crate::heap::PAIR_BYTES;
use crate::interp::{Ctrl, Interp, err};
use crate::printer::Labels;
use crate::reader::Reader;
use crate::value::{InPort, Obj, V, Value};

/// The hidden global holding the console port.
const CONSOLE: &str = " console";

/// Whether `p` stands for the console: the console port, or `#t` as Extempore passes it.
fn is_console(it: &mut Interp, p: Value) -> bool {
    matches!(p.get(), V::Bool(true) | V::Unspec) || p.eqv(super::hidden(it, CONSOLE))
}

/// Writes `text` to the optional port argument, or to the current output.
fn out(it: &mut Interp, who: &str, port: Option<Value>, text: &str) -> PlainResult {
    match port {
        None => it.emit(text)?,
        Some(p) => match it.heap.obj(p) {
            Some(Obj::OutPort(buf)) => {
                let grown = grown_by(buf, text.len());
                it.room_for(grown)?;
                if let Some(Obj::OutPort(buf)) = it.heap.obj_mut(p) {
                    buf.push_str(text);
                }
                it.heap.grew(grown);
            }
            _ => {
                if !is_console(it, p) {
                    return Err(type_err(it, who, "an output port", p).into());
                }
                it.emit(text)?;
            }
        },
    }
    Ok(Value::UNSPEC)
}

/// The bytes a string's buffer grows by when `n` more are pushed onto it.
pub(crate) fn grown_by(buf: &String, n: usize) -> usize {
    let need = buf.len().saturating_add(n);
    if need <= buf.capacity() {
        0
    } else {
        need.max(buf.capacity().saturating_mul(2)) - buf.capacity()
    }
}

/// `write`, `write-shared`, `write-simple`, `display`: `labels` says which parts of the
/// data get datum labels.
fn print_out(it: &mut Interp, who: &str, a: &[Value], write: bool, labels: Labels) -> PlainResult {
    let s = it.print_labelled(a[0], write, labels);
    out(it, who, a.get(1).copied(), &s)
}

fn is_output_port(it: &mut Interp, p: Value) -> bool {
    matches!(it.heap.obj(p), Some(Obj::OutPort(_))) || is_console(it, p)
}

fn call_with_port(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    if !matches!(it.heap.obj(a[0]), Some(Obj::InPort(_))) && !is_output_port(it, a[0]) {
        return Err(type_err(it, "call-with-port", "a port", a[0]).into());
    }
    proc_arg(it, "call-with-port", a[1])?;
    it.apply_values(a[1], &[a[0]])
}

fn joined(it: &Interp, a: &[Value]) -> String {
    a.iter()
        .map(|&v| it.print_to(v, false))
        .collect::<Vec<_>>()
        .join(" ")
}

fn in_port<'a>(it: &'a mut Interp, who: &str, p: Value) -> Result<&'a mut InPort, Error> {
    let msg = type_err(it, who, "an input port", p);
    match it.heap.obj_mut(p) {
        Some(Obj::InPort(port)) => Ok(port),
        _ => Err(msg),
    }
}

fn read(it: &mut Interp, a: &[Value]) -> PlainResult {
    let Some(&p) = a.first() else {
        return Ok(Value::new(V::Eof));
    };
    let port = in_port(it, "read", p)?;
    let left = port.text.len() - port.at;
    it.room_for(left)?;
    let port = in_port(it, "read", p)?;
    let rest = port.text[port.at..].to_string();
    let mut r = Reader::new(&rest, "string port");
    let d = r.next_datum()?;
    let consumed: usize = rest.chars().take(r.offset()).map(char::len_utf8).sum();
    // a datum's values take at most a pair and a slot per character of its text
    it.room_for_items(consumed, PAIR_BYTES)?;
    let port = in_port(it, "read", p)?;
    port.at += consumed;
    Ok(match d {
        Some(d) => it.from_datum(&d),
        None => Value::new(V::Eof),
    })
}

fn read_char(it: &mut Interp, a: &[Value], peek: bool) -> PlainResult {
    let Some(&p) = a.first() else {
        return Ok(Value::new(V::Eof));
    };
    let port = in_port(it, "read-char", p)?;
    let c = port.text[port.at..].chars().next();
    Ok(match c {
        Some(c) => {
            if !peek {
                port.at += c.len_utf8();
            }
            Value::new(V::Char(c))
        }
        None => Value::new(V::Eof),
    })
}

fn read_line(it: &mut Interp, a: &[Value]) -> PlainResult {
    let Some(&p) = a.first() else {
        return Ok(Value::new(V::Eof));
    };
    let port = in_port(it, "read-line", p)?;
    let rest = &port.text[port.at..];
    if rest.is_empty() {
        return Ok(Value::new(V::Eof));
    }
    let (line, used) = match rest.find('\n') {
        Some(i) => (rest[..i].to_string(), i + 1),
        None => (rest.to_string(), rest.len()),
    };
    port.at += used;
    Ok(it.new_string(line))
}

fn read_string(it: &mut Interp, a: &[Value]) -> PlainResult {
    let k = super::index_arg(it, "read-string", a[0])?;
    let Some(&p) = a.get(1) else {
        return Ok(Value::new(V::Eof));
    };
    let port = in_port(it, "read-string", p)?;
    let rest = &port.text[port.at..];
    if rest.is_empty() {
        return Ok(Value::new(V::Eof));
    }
    let taken: String = rest.chars().take(k).collect();
    port.at += taken.len();
    Ok(it.new_string(taken))
}

fn open_input_file(it: &mut Interp, a: &[Value]) -> PlainResult {
    let path = str_arg(it, "open-input-file", a[0])?.to_string();
    let text = it.read_text_file(&path, "open")?;
    Ok(it.alloc(Obj::InPort(InPort { text, at: 0 })))
}

fn with_output_to_string(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    proc_arg(it, "with-output-to-string", a[0])?;
    it.captures.push(String::new());
    let depth = it.captures.len();
    let r = it.apply_values(a[0], &[]);
    let text = if it.captures.len() == depth {
        it.captures.pop().unwrap_or_default()
    } else {
        String::new()
    };
    r?;
    Ok(it.new_string(text))
}

fn call_with_output_string(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    proc_arg(it, "call-with-output-string", a[0])?;
    let port = it.alloc(Obj::OutPort(String::new()));
    it.stack.push(port);
    let r = it.apply_values(a[0], &[port]);
    it.stack.pop();
    r?;
    let text = match it.heap.obj(port) {
        Some(Obj::OutPort(s)) => s.clone(),
        _ => String::new(),
    };
    Ok(it.new_string(text))
}

pub(super) fn install(it: &mut Interp) {
    plain(it, "display", 1, Some(2), |it, a| {
        print_out(it, "display", a, false, Labels::Cycles)
    });
    plain(it, "write", 1, Some(2), |it, a| {
        print_out(it, "write", a, true, Labels::Cycles)
    });
    plain(it, "write-shared", 1, Some(2), |it, a| {
        print_out(it, "write-shared", a, true, Labels::Shared)
    });
    plain(it, "write-simple", 1, Some(2), |it, a| {
        print_out(it, "write-simple", a, true, Labels::Never)
    });
    plain(it, "write-string", 1, Some(4), |it, a| {
        let s = str_arg(it, "write-string", a[0])?;
        let (start, end) = super::string::span(it, "write-string", s, a.get(2..).unwrap_or(&[]))?;
        let piece = super::string::sub(s, start, end);
        out(it, "write-string", a.get(1).copied(), &piece)
    });
    plain(it, "write-char", 1, Some(2), |it, a| {
        let c = char_arg(it, "write-char", a[0])?;
        out(it, "write-char", a.get(1).copied(), &c.to_string())
    });
    plain(it, "newline", 0, Some(1), |it, a| {
        out(it, "newline", a.first().copied(), "\n")
    });
    plain(it, "print", 0, None, |it, a| {
        let s = joined(it, a);
        out(it, "print", None, &s)
    });
    plain(it, "println", 0, None, |it, a| {
        // Extempore's println writes its arguments (strings keep their quotes)
        let s = a
            .iter()
            .map(|&v| it.print_to(v, true))
            .collect::<Vec<_>>()
            .join(" ")
            + "\n";
        out(it, "println", None, &s)
    });
    plain(it, "flush-output", 0, Some(1), |it, _| {
        it.flush_output();
        Ok(Value::UNSPEC)
    });
    super::alias(it, "flush-output-port", "flush-output");
    plain(it, "open-input-string", 1, Some(1), |it, a| {
        let text = str_arg(it, "open-input-string", a[0])?.to_string();
        Ok(it.alloc(Obj::InPort(InPort { text, at: 0 })))
    });
    plain(it, "open-output-string", 0, Some(0), |it, _| {
        Ok(it.alloc(Obj::OutPort(String::new())))
    });
    plain(it, "get-output-string", 1, Some(1), |it, a| {
        match it.heap.obj(a[0]) {
            Some(Obj::OutPort(s)) => {
                let s = s.clone();
                Ok(it.new_string(s))
            }
            _ => Err(type_err(it, "get-output-string", "an output string port", a[0]).into()),
        }
    });
    plain(it, "read", 0, Some(1), read);
    plain(it, "read-char", 0, Some(1), |it, a| read_char(it, a, false));
    plain(it, "peek-char", 0, Some(1), |it, a| read_char(it, a, true));
    plain(it, "read-line", 0, Some(1), read_line);
    plain(it, "read-string", 1, Some(2), read_string);
    plain(it, "open-input-file", 1, Some(1), open_input_file);
    plain(it, "char-ready?", 0, Some(1), |_, _| Ok(Value::TRUE));
    plain(it, "eof-object", 0, Some(0), |_, _| Ok(Value::new(V::Eof)));
    plain(it, "input-port?", 1, Some(1), |it, a| {
        Ok(Value::boolean(matches!(
            it.heap.obj(a[0]),
            Some(Obj::InPort(_))
        )))
    });
    plain(it, "output-port?", 1, Some(1), |it, a| {
        Ok(Value::boolean(is_output_port(it, a[0])))
    });
    plain(it, "textual-port?", 1, Some(1), |it, a| {
        let input = matches!(it.heap.obj(a[0]), Some(Obj::InPort(_)));
        Ok(Value::boolean(input || is_output_port(it, a[0])))
    });
    super::alias(it, "port?", "textual-port?");
    // ports are never closed for good: close-port does nothing, so they stay open
    super::alias(it, "input-port-open?", "input-port?");
    super::alias(it, "output-port-open?", "output-port?");
    super::singleton(it, CONSOLE, "console-port");
    plain(it, "current-output-port", 0, Some(0), |it, _| {
        Ok(super::hidden(it, CONSOLE))
    });
    plain(it, "current-input-port", 0, Some(0), |it, _| {
        Ok(it.alloc(Obj::InPort(InPort {
            text: String::new(),
            at: 0,
        })))
    });
    ctl(it, "call-with-port", 2, Some(2), call_with_port);
    plain(it, "file-exists?", 1, Some(1), |it, a| {
        let path = str_arg(it, "file-exists?", a[0])?;
        Ok(Value::boolean(std::path::Path::new(path).exists()))
    });
    plain(it, "%write-file", 2, Some(2), |it, a| {
        let path = str_arg(it, "%write-file", a[0])?.to_string();
        let text = str_arg(it, "%write-file", a[1])?;
        std::fs::write(&path, text)
            .map_err(|e| err(ErrorKind::Io, format!("cannot write {path}: {e}")))?;
        Ok(Value::UNSPEC)
    });
    plain(it, "delete-file", 1, Some(1), |it, a| {
        let path = str_arg(it, "delete-file", a[0])?.to_string();
        std::fs::remove_file(&path)
            .map_err(|e| err(ErrorKind::Io, format!("cannot delete {path}: {e}")))?;
        Ok(Value::UNSPEC)
    });
    plain(it, "close-port", 1, Some(1), |_, _| Ok(Value::UNSPEC));
    super::alias(it, "close-input-port", "close-port");
    super::alias(it, "close-output-port", "close-port");
    ctl(
        it,
        "with-output-to-string",
        1,
        Some(1),
        with_output_to_string,
    );
    ctl(
        it,
        "call-with-output-string",
        1,
        Some(1),
        call_with_output_string,
    );
}
