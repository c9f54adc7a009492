//! The read-eval-print loop on stdin (`zonal repl`, and after `zonal play` has started).
//!
//! On a terminal it edits lines with rustyline: history kept in the user's data directory
//! (`$XDG_DATA_HOME/zonal/history`, `~/.local/share/zonal/history`, else
//! `~/.zonal_history`), input that goes on over several lines until its parentheses
//! balance (those in strings and comments do not count), Ctrl-C to interrupt a running
//! evaluation or clear the line, Ctrl-D or `(quit)` to leave. When stdin is not a
//! terminal it reads forms from it and prints each result, so it can be scripted: values
//! on stdout, errors on stderr.
//!
//! What the engine says on its own (DSP `printf`, warnings, scheduler output) should go
//! through [`print_line`], which prints above the line being edited instead of through it.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_channel::{Sender, bounded};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Editor, ExternalPrinter, Helper};

use crate::request::{FormScanner, Reply, Request, balance};

/// What the musician types to leave the REPL.
pub const QUIT_COMMAND: &str = "(quit)";

const PROMPT: &str = "zonal> ";

/// REPL commands: what the musician types on a line of its own, and the form it stands for.
pub const COMMANDS: [(&str, &str); 1] = [(",load", "(sys:print-audio-load)")];

/// The form a REPL command stands for; any other source as it is.
fn expand_command(source: String) -> String {
    match COMMANDS
        .iter()
        .find(|(command, _)| source.trim() == *command)
    {
        Some((_, form)) => (*form).to_owned(),
        None => source,
    }
}

/// Runs the REPL until end of input or `(quit)`, sending every form to the control
/// thread over `requests`. Ctrl-C while an evaluation runs stores `true` into
/// `interrupt`.
pub fn run_repl(requests: Sender<Request>, interrupt: Arc<AtomicBool>) -> anyhow::Result<()> {
    if io::stdin().is_terminal() {
        interactive(&requests, &interrupt)
    } else {
        // Unlocked handles: the control thread prints on stdout while a form runs.
        scripted(
            io::stdin().lock(),
            &mut io::stdout(),
            &mut io::stderr(),
            &requests,
        )
    }
}

/// Where [`print_line`] prints while the REPL edits a terminal.
static PRINTER: Mutex<Option<Box<dyn ExternalPrinter + Send>>> = Mutex::new(None);

/// Prints one line on stdout for the musician, from any thread, without garbling the REPL:
/// while it edits a terminal the line appears above the line being typed, which is then
/// redrawn. Output that cannot be written (stdout closed) is dropped.
pub fn print_line(text: &str) {
    let mut printer = PRINTER.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(printer) = printer.as_mut()
        && printer.print(format!("{text}\n")).is_ok()
    {
        return;
    }
    drop(printer);
    let _ = writeln!(io::stdout().lock(), "{text}");
}

/// Sends `source` to the control thread and waits for its reply.
fn evaluate(requests: &Sender<Request>, source: String) -> Reply {
    let (reply, replied) = bounded(1);
    let request = Request {
        source,
        origin: "repl".to_owned(),
        reply,
        notices: None,
    };
    if requests.send(request).is_err() {
        return Reply::Error("the engine is not running".to_owned());
    }
    replied
        .recv()
        .unwrap_or_else(|_| Reply::Error("the engine stopped before answering".to_owned()))
}

/// Prints a reply: a value (unless empty) on `out`, an error on `err`.
fn print_reply(reply: &Reply, out: &mut impl Write, err: &mut impl Write) -> io::Result<()> {
    match reply {
        Reply::Value(value) if value.is_empty() => Ok(()),
        Reply::Value(value) => writeln!(out, "{value}"),
        Reply::Error(message) => writeln!(err, "{message}"),
    }
}

/// Reads forms from `input` (not a terminal) until it ends or says `(quit)`.
fn scripted(
    input: impl BufRead,
    out: &mut impl Write,
    err: &mut impl Write,
    requests: &Sender<Request>,
) -> anyhow::Result<()> {
    let mut pending = String::new();
    let mut scanner = FormScanner::new();
    for line in input.lines() {
        let line = line?;
        scanner.feed_all(line.as_bytes());
        scanner.feed(b'\n');
        pending.push_str(&line);
        pending.push('\n');
        if scanner.wants_more() {
            continue;
        }
        let source = std::mem::take(&mut pending);
        scanner = FormScanner::new();
        if source.trim().is_empty() {
            continue;
        }
        if source.trim() == QUIT_COMMAND {
            return Ok(());
        }
        let reply = match balance(&source).problem() {
            Some(problem) => Reply::Error(problem),
            None => evaluate(requests, expand_command(source)),
        };
        print_reply(&reply, out, err)?;
        out.flush()?;
    }
    if let Some(problem) = balance(&pending).problem() {
        writeln!(err, "{problem} at the end of the input")?;
    }
    Ok(())
}

/// Line editing on a terminal.
fn interactive(requests: &Sender<Request>, interrupt: &Arc<AtomicBool>) -> anyhow::Result<()> {
    let mut editor: Editor<FormsHelper, DefaultHistory> = Editor::new()?;
    editor.set_helper(Some(FormsHelper));
    let history = history_path();
    if let Some(path) = &history {
        // No history yet is the usual first run, not an error.
        let _ = editor.load_history(path);
    }
    if let Ok(printer) = editor.create_external_printer() {
        *PRINTER.lock().unwrap_or_else(PoisonError::into_inner) = Some(Box::new(printer));
    }
    let result = edit_loop(&mut editor, requests, interrupt);
    *PRINTER.lock().unwrap_or_else(PoisonError::into_inner) = None;
    if let Some(path) = &history
        && let Err(e) = editor.save_history(path)
    {
        eprintln!("cannot save the REPL history to {}: {e}", path.display());
    }
    result
}

fn edit_loop(
    editor: &mut Editor<FormsHelper, DefaultHistory>,
    requests: &Sender<Request>,
    interrupt: &Arc<AtomicBool>,
) -> anyhow::Result<()> {
    loop {
        let source = match editor.readline(PROMPT) {
            Ok(source) => source,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if source.trim().is_empty() {
            continue;
        }
        editor.add_history_entry(source.as_str())?;
        if source.trim() == QUIT_COMMAND {
            return Ok(());
        }
        let reply = {
            let _ctrl_c = CtrlCInterrupts::install(interrupt);
            evaluate(requests, expand_command(source))
        };
        print_reply(&reply, &mut io::stdout().lock(), &mut io::stderr().lock())?;
    }
}

/// The history file: in the user's data directory when there is one, else
/// `~/.zonal_history`.
fn history_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from);
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|home| home.join(".local/share")))
        .filter(|dir| dir.is_dir());
    if let Some(data) = data {
        let dir = data.join("zonal");
        if std::fs::create_dir_all(&dir).is_ok() {
            return Some(dir.join("history"));
        }
    }
    home.map(|home| home.join(".zonal_history"))
}

/// Lets rustyline go on to a new line while the input's forms are open.
struct FormsHelper;

impl Validator for FormsHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let mut scanner = FormScanner::new();
        scanner.feed_all(ctx.input().as_bytes());
        Ok(if scanner.wants_more() {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Completer for FormsHelper {
    type Candidate = String;
}

impl Hinter for FormsHelper {
    type Hint = String;
}

impl Highlighter for FormsHelper {}

impl Helper for FormsHelper {}

/// The flag Ctrl-C raises while an evaluation runs; null when none runs.
static CTRL_C_FLAG: AtomicPtr<AtomicBool> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_ctrl_c(_signal: libc::c_int) {
    let flag = CTRL_C_FLAG.load(Ordering::SeqCst);
    if !flag.is_null() {
        // SAFETY: CTRL_C_FLAG is non-null only while a `CtrlCInterrupts` guard lives, and
        // the guard holds an `Arc` to the flag it points to; an atomic store is
        // async-signal-safe.
        unsafe { (*flag).store(true, Ordering::SeqCst) };
    }
}

/// While it lives, Ctrl-C (SIGINT) raises the interrupt flag instead of ending the
/// process; dropping it restores what Ctrl-C did before.
struct CtrlCInterrupts {
    /// Keeps the flag the handler points to alive while the handler is installed.
    _flag: Arc<AtomicBool>,
    previous: libc::sigaction,
}

impl CtrlCInterrupts {
    fn install(flag: &Arc<AtomicBool>) -> Option<Self> {
        let flag = Arc::clone(flag);
        CTRL_C_FLAG.store(Arc::as_ptr(&flag).cast_mut(), Ordering::SeqCst);
        // SAFETY: an all-zero `sigaction` is a valid value (no flags, empty mask).
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_ctrl_c as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: an all-zero `sigaction` is a valid value to be overwritten.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to live `sigaction` values, and the handler only
        // performs an atomic load and an atomic store.
        let installed = unsafe { libc::sigaction(libc::SIGINT, &action, &mut previous) };
        if installed != 0 {
            CTRL_C_FLAG.store(std::ptr::null_mut(), Ordering::SeqCst);
            return None;
        }
        Some(CtrlCInterrupts {
            _flag: flag,
            previous,
        })
    }
}

impl Drop for CtrlCInterrupts {
    fn drop(&mut self) {
        // SAFETY: `previous` is the action `install` replaced, valid to reinstate.
        unsafe { libc::sigaction(libc::SIGINT, &self.previous, std::ptr::null_mut()) };
        CTRL_C_FLAG.store(std::ptr::null_mut(), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// A control thread that answers every request with its source, trimmed, or with an
    /// error for `(fail)`; it ends when the REPL's sender is dropped.
    fn echo_engine() -> (Sender<Request>, thread::JoinHandle<Vec<String>>) {
        let (requests, incoming) = crossbeam_channel::unbounded::<Request>();
        let engine = thread::spawn(move || {
            let mut seen = Vec::new();
            for request in incoming {
                let text = request.source.trim().to_owned();
                let reply = if text == "(fail)" {
                    Reply::Error("error: fail is not defined".to_owned())
                } else {
                    Reply::Value(format!("=> {text}"))
                };
                seen.push(request.origin.clone());
                let _ = request.reply.send(reply);
            }
            seen
        });
        (requests, engine)
    }

    fn run(input: &str) -> (String, String, Vec<String>) {
        let (requests, engine) = echo_engine();
        let mut out = Vec::new();
        let mut err = Vec::new();
        scripted(input.as_bytes(), &mut out, &mut err, &requests).expect("the script runs");
        drop(requests);
        let origins = engine.join().expect("the engine thread ends");
        (
            String::from_utf8(out).expect("utf-8"),
            String::from_utf8(err).expect("utf-8"),
            origins,
        )
    }

    #[test]
    fn a_script_sends_each_form_once_it_is_closed() {
        let (out, err, origins) = run("(+ 1 2)\n(define (f x)\n  (* x \")\" 2))\n\n(f 3)\n");
        assert_eq!(
            out,
            "=> (+ 1 2)\n=> (define (f x)\n  (* x \")\" 2))\n=> (f 3)\n"
        );
        assert_eq!(err, "");
        assert_eq!(origins, ["repl", "repl", "repl"]);
    }

    #[test]
    fn the_load_command_asks_for_the_audio_load() {
        let (out, _, _) = run(",load\n(f ,load)\n");
        assert_eq!(out, "=> (sys:print-audio-load)\n=> (f ,load)\n");
    }

    #[test]
    fn errors_go_to_stderr_and_the_script_goes_on() {
        let (out, err, _) = run("(fail)\n(ok) ; done\n");
        assert_eq!(out, "=> (ok) ; done\n");
        assert_eq!(err, "error: fail is not defined\n");
    }

    #[test]
    fn quit_ends_the_script() {
        let (out, _, origins) = run("(a)\n(quit)\n(b)\n");
        assert_eq!(out, "=> (a)\n");
        assert_eq!(origins.len(), 1);
    }

    #[test]
    fn unbalanced_input_is_reported_not_sent() {
        let (out, err, origins) = run("(a))\n(b\n");
        assert_eq!(out, "");
        assert_eq!(
            err,
            "unbalanced parentheses: the `)` at line 1, column 4 closes nothing\n\
             unbalanced parentheses: 1 `(` is not closed at the end of the input\n"
        );
        assert!(origins.is_empty());
    }

    #[test]
    fn a_stopped_engine_is_an_error_reply() {
        let (requests, incoming) = crossbeam_channel::unbounded::<Request>();
        drop(incoming);
        assert_eq!(
            evaluate(&requests, "(a)".to_owned()),
            Reply::Error("the engine is not running".to_owned())
        );
    }
}
