//! Extempore's inter-process calls between named Scheme processes: `ipc:new`,
//! `ipc:define`, `ipc:call`, `ipc:call-async`, `ipc:eval-string`,
//! `ipc:get-process-name`.
//!
//! As in Extempore, a process is a Scheme interpreter of its own, with its own
//! globals, running on its own thread, and the calls carry text: arguments are written
//! (lists, vectors and symbols quoted, a procedure as its `(lambda ...)` source, without
//! the variables it captured) and the callee evaluates `(name arg ...)`; `ipc:call`
//! waits for the value, written back the same way. Here the processes are threads of
//! this engine reached through channels, so `ipc:new`'s port is checked but no socket is
//! opened, and `ipc:connect` to another machine is not offered. The interpreter that
//! calls `ipc:new` is "primary" unless it was made by `ipc:new`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::{PlainResult, ctl, plain, str_arg, sym_arg, type_err};
use crate::error::{Error, ErrorKind};
use crate::interp::{Ctrl, Interp, err};
use crate::value::{Obj, V, Value};

/// The hidden global holding the name of the process an interpreter is.
const OWN_NAME: &str = " ipc-name";

/// The stack of a process's thread (its evaluator recurses deeply).
const PROCESS_STACK: usize = 64 * 1024 * 1024;

/// What a process is asked: text to evaluate, and where its value goes (written, or
/// the error's text) when the caller waits for it.
struct Request {
    text: String,
    reply: Option<Sender<Result<String, String>>>,
}

/// The processes made by `ipc:new` in this OS process, by name.
fn processes() -> &'static Mutex<HashMap<String, Sender<Request>>> {
    static PROCESSES: OnceLock<Mutex<HashMap<String, Sender<Request>>>> = OnceLock::new();
    PROCESSES.get_or_init(|| Mutex::new(HashMap::new()))
}

fn own_name(it: &mut Interp) -> String {
    let v = super::hidden(it, OWN_NAME);
    it.str_of(v).unwrap_or("primary").to_string()
}

/// `(ipc:new "name" port)`: starts process `name`; gives the name. A name already
/// running is kept as it is (re-evaluating a file does not start a second one).
fn new_process(it: &mut Interp, a: &[Value]) -> PlainResult {
    let name = str_arg(it, "ipc:new", a[0])?.to_string();
    match a[1].get() {
        V::Int(p) if (1..=65_535).contains(&p) => {}
        _ => return Err(type_err(it, "ipc:new", "a port number (1 to 65535)", a[1]).into()),
    }
    let mut table = processes().lock().unwrap_or_else(|p| p.into_inner());
    if !table.contains_key(&name) && name != own_name(it) {
        let (tx, rx) = mpsc::channel::<Request>();
        let thread_name = name.clone();
        std::thread::Builder::new()
            .name(format!("zonal-ipc-{name}"))
            .stack_size(PROCESS_STACK)
            .spawn(move || serve(&thread_name, rx))
            .map_err(|e| {
                err(
                    ErrorKind::Native,
                    format!("ipc:new could not start {name}: {e}"),
                )
            })?;
        table.insert(name.clone(), tx);
    }
    Ok(it.new_string(name))
}

/// A process's thread: evaluates what it is sent, in order, until the engine ends.
fn serve(name: &str, rx: mpsc::Receiver<Request>) {
    let mut it = Interp::new();
    let s = it.intern(OWN_NAME);
    it.globals[s as usize] = it.new_string(name.to_string());
    let file = format!("ipc:{name}");
    for req in rx {
        let result = it
            .eval_str(&req.text, &file)
            .and_then(|v| written(&mut it, v))
            .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string());
        match req.reply {
            Some(reply) => {
                // the caller may have been interrupted and gone: nothing to tell
                let _ = reply.send(result);
            }
            None => {
                if let Err(e) = result {
                    eprintln!("ipc process {name}: {e}");
                }
            }
        }
    }
}

/// `v` as text the other process reads back as an equal value: a procedure as its
/// `(lambda ...)` source; what has no readable form is an error naming it.
fn written(it: &mut Interp, v: Value) -> Result<String, Error> {
    if let Some(Obj::Closure(lam, _)) = it.heap.obj(v)
        && let Some(source) = lam.source.clone()
    {
        let d = it.from_datum(&source);
        return Ok(it.print_to(d, true));
    }
    let text = it.print_to(v, true);
    if text.contains("#<") {
        return Err(err(
            ErrorKind::Type,
            format!(
                "ipc cannot send {text}: only data and procedures written in Scheme travel between processes"
            ),
        ));
    }
    Ok(text)
}

/// `v` as an argument in the text of a call: data that would be evaluated is quoted.
fn argument(it: &mut Interp, v: Value) -> Result<String, Error> {
    let quote = matches!(v.get(), V::Sym(_) | V::Nil | V::Pair(_))
        || matches!(it.heap.obj(v), Some(Obj::Vector(_)));
    let text = written(it, v)?;
    Ok(if quote { format!("'{text}") } else { text })
}

/// The text `(name arg ...)` of a call with `args`.
fn call_text(it: &mut Interp, who: &str, name: Value, args: &[Value]) -> Result<String, Error> {
    let f = sym_arg(it, who, name)?;
    let mut text = format!("({}", it.sym_name(f));
    for &a in args {
        text.push(' ');
        text.push_str(&argument(it, a)?);
    }
    text.push(')');
    Ok(text)
}

/// Sends `text` to process `name`; `Ok(None)` when it is this interpreter itself.
fn send(it: &mut Interp, who: &str, name: Value, req: Request) -> Result<Option<()>, Error> {
    let name = str_arg(it, who, name)?.to_string();
    if name == own_name(it) {
        return Ok(None);
    }
    let table = processes().lock().unwrap_or_else(|p| p.into_inner());
    let Some(tx) = table.get(&name) else {
        let mut known: Vec<&str> = table.keys().map(String::as_str).collect();
        known.sort_unstable();
        return Err(err(
            ErrorKind::Range,
            format!(
                "{who}: no process named {name} (start one with (ipc:new \"{name}\" 7099); running: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    };
    tx.send(req).map_err(|_| {
        err(
            ErrorKind::Native,
            format!("{who}: process {name} has stopped"),
        )
    })?;
    Ok(Some(()))
}

/// Sends `text` without waiting; evaluates it here when `name` is this process.
fn send_async(it: &mut Interp, who: &str, name: Value, text: String) -> Result<Value, Ctrl> {
    let req = Request {
        text: text.clone(),
        reply: None,
    };
    if send(it, who, name, req)?.is_none() {
        it.eval_str(&text, who)?;
    }
    Ok(Value::TRUE)
}

/// `(ipc:call "name" 'f arg ...)`: `(f arg ...)` in process `name`, waited for; its
/// value, or its error raised here.
fn call(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    let text = call_text(it, "ipc:call", a[1], &a[2..])?;
    let (tx, rx) = mpsc::channel();
    let req = Request {
        text: text.clone(),
        reply: Some(tx),
    };
    if send(it, "ipc:call", a[0], req)?.is_none() {
        return Ok(it.eval_str(&text, "ipc:call")?);
    }
    let reply = loop {
        if it.interrupt.load(Ordering::Relaxed) {
            it.interrupt.store(false, Ordering::Relaxed);
            return Err(err(ErrorKind::Interrupted, "evaluation interrupted").into());
        }
        match rx.recv_timeout(Duration::from_millis(10)) {
            Ok(r) => break r,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(err(
                    ErrorKind::Native,
                    "ipc:call: the process stopped before answering",
                )
                .into());
            }
        }
    };
    let name = it.print_to(a[0], false);
    match reply {
        Ok(text) => {
            let forms = Interp::read_all(&text, "ipc:call")?;
            Ok(forms.first().map_or(Value::UNSPEC, |d| it.from_datum(d)))
        }
        Err(e) => Err(err(
            ErrorKind::User,
            format!("ipc:call {text} in process {name} failed: {e}"),
        )
        .into()),
    }
}

pub(super) fn install(it: &mut Interp) {
    plain(it, "ipc:new", 2, Some(2), new_process);
    ctl(it, "ipc:call", 2, None, call);
    ctl(it, "ipc:call-async", 2, None, |it, a| {
        let text = call_text(it, "ipc:call-async", a[1], &a[2..])?;
        send_async(it, "ipc:call-async", a[0], text)
    });
    ctl(it, "ipc:define", 3, Some(3), |it, a| {
        let s = sym_arg(it, "ipc:define", a[1])?;
        let value = argument(it, a[2])?;
        let text = format!("(define {} {value})", it.sym_name(s));
        send_async(it, "ipc:define", a[0], text)
    });
    ctl(it, "ipc:eval-string", 2, Some(2), |it, a| {
        let text = str_arg(it, "ipc:eval-string", a[1])?.to_string();
        send_async(it, "ipc:eval-string", a[0], text)
    });
    plain(it, "ipc:get-process-name", 0, Some(0), |it, _| {
        let name = own_name(it);
        Ok(it.new_string(name))
    });
}
