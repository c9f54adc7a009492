//! The Scheme conformance suite: runs every `tests/conformance/*.scm` file through the embedding
//! API and compares what it prints with the expectation file next to it.
//!
//! Format
//! - `NAME.scm` is a program; `NAME.out` is everything it must print. Each line of a `.out` file
//!   is one check; the total is printed and must be at least [`MIN_CHECKS`].
//! - Top-level forms are evaluated one by one, like a REPL: a form that fails prints one line
//!   `!! KIND at FILE:LINE:COL: MESSAGE IRRITANT...` (irritants in written form, `?` when the
//!   error has no position) and the next form still runs, with every earlier definition intact.
//! - A line that is exactly `;;; ---` splits a file into chunks that are read separately (each
//!   keeps the line numbers of the whole file), so one reader error stops only its own chunk.
//! - Files are read and reported as `NAME.scm`; the working directory is the crate root
//!   (cargo's rule), which is what `load` paths in the programs are relative to.
//! - `tests/conformance/known_failures/*.scm` hold cases the interpreter gets wrong today, with
//!   the correct expectation. They run and are reported, but do not fail the test.
//! - `UPDATE_EXPECT=1 cargo test --test conformance` rewrites the `.out` files from what the
//!   interpreter prints (never those of `known_failures/`). Every expectation was checked by hand against R7RS-small / Extempore,
//!   and the portable files against Guile 3 (`tests/crosscheck/guile.sh`): review the diff.
//! - A form that runs for more than [`FORM_TIME_LIMIT`] is interrupted through
//!   `interrupt_handle()`, so a hang shows up as an `Interrupted` line rather than a stuck test.

mod common;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::Watchdog;
use zonal_scheme::{Error, Interp};

/// The suite must keep at least this many checks (expected output lines).
const MIN_CHECKS: usize = 300;
/// Longest a single top-level form may run before the watchdog interrupts it.
const FORM_TIME_LIMIT: Duration = Duration::from_secs(60);
/// The line that separates independently read chunks of one file.
const CHUNK_SEPARATOR: &str = ";;; ---";

/// Output sink shared between the interpreter (through `set_output`) and the runner.
#[derive(Clone, Default)]
struct Capture(Rc<RefCell<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The one line an uncaught error prints in the suite's output.
fn error_line(e: &Error) -> String {
    let pos = e
        .pos
        .as_ref()
        .map_or_else(|| "?".to_string(), |p| p.to_string());
    let mut line = format!("!! {:?} at {pos}: {}", e.kind, e.message);
    for irritant in &e.irritants {
        let _ = write!(line, " {irritant}");
    }
    line.push('\n');
    line
}

/// Chunks of `src` split at [`CHUNK_SEPARATOR`] lines, each padded with newlines so that its
/// positions are those of the whole file.
fn chunks(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for (number, line) in src.lines().enumerate() {
        if line.trim_end() == CHUNK_SEPARATOR {
            out.push(std::mem::take(&mut current));
            current = "\n".repeat(number + 1);
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    out.push(current);
    out
}

/// Runs one program the way the suite does and returns everything it printed.
fn run_program(src: &str, name: &str) -> String {
    let capture = Capture::default();
    let mut interp = Interp::new();
    interp.set_output(Box::new(capture.clone()));
    let watchdog = Watchdog::start(interp.interrupt_handle(), FORM_TIME_LIMIT);
    for chunk in chunks(src) {
        match Interp::read_all(&chunk, name) {
            Err(e) => capture
                .0
                .borrow_mut()
                .extend_from_slice(error_line(&e).as_bytes()),
            Ok(forms) => {
                for form in &forms {
                    let result = interp.eval_datum(form);
                    watchdog.tick();
                    if let Err(e) = result {
                        capture
                            .0
                            .borrow_mut()
                            .extend_from_slice(error_line(&e).as_bytes());
                    }
                }
            }
        }
    }
    drop(watchdog);
    drop(interp);
    String::from_utf8_lossy(&capture.0.borrow()).into_owned()
}

/// What comparing one file found.
struct Outcome {
    name: String,
    checks: usize,
    mismatch: Option<String>,
}

/// Runs `path` and compares with its `.out` file, which `update` first rewrites.
fn check(path: &Path, update: bool) -> Outcome {
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
    let expect_path = path.with_extension("out");
    let got = run_program(&src, &name);
    if update {
        std::fs::write(&expect_path, &got)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", expect_path.display()));
    }
    let expected = std::fs::read_to_string(&expect_path).unwrap_or_default();
    let checks = expected.lines().count();
    let mismatch = (got != expected).then(|| describe_mismatch(&name, &expected, &got));
    Outcome {
        name,
        checks,
        mismatch,
    }
}

/// A short, line-by-line account of where `got` differs from `expected`.
fn describe_mismatch(name: &str, expected: &str, got: &str) -> String {
    let (e, g): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), got.lines().collect());
    let mut report = String::new();
    let mut shown = 0;
    for i in 0..e.len().max(g.len()) {
        let (want, have) = (e.get(i).copied(), g.get(i).copied());
        if want != have {
            let _ = writeln!(
                report,
                "  {name}.out line {}:\n    expected: {}\n    got:      {}",
                i + 1,
                want.unwrap_or("<nothing>"),
                have.unwrap_or("<nothing>")
            );
            shown += 1;
            if shown == 8 {
                let _ = writeln!(report, "  ... (further differences not shown)");
                break;
            }
        }
    }
    report
}

fn scm_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "scm"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn conformance() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let files = scm_files(&root);
    assert!(
        !files.is_empty(),
        "no conformance files under {}",
        root.display()
    );
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1");
    let mut checks = 0;
    let mut failures = Vec::new();
    for file in &files {
        let start = Instant::now();
        let outcome = check(file, update);
        println!(
            "{}: {} checks, {:.2?}",
            outcome.name,
            outcome.checks,
            start.elapsed()
        );
        checks += outcome.checks;
        if let Some(diff) = outcome.mismatch {
            failures.push(format!("{}:\n{diff}", outcome.name));
        }
    }
    let known = scm_files(&root.join("known_failures"));
    let mut known_checks = 0;
    let mut still_failing = Vec::new();
    for file in &known {
        // Known failures keep their hand-written expectations: never rewritten.
        let outcome = check(file, false);
        known_checks += outcome.checks;
        match outcome.mismatch {
            Some(diff) => still_failing.push(format!("{}:\n{diff}", outcome.name)),
            None => still_failing.push(format!("{}: now passes; move it back", outcome.name)),
        }
    }
    println!(
        "conformance: {} files, {checks} checks, {} failing files; known failures: {} files, \
         {known_checks} checks",
        files.len(),
        failures.len(),
        known.len()
    );
    for report in &still_failing {
        println!("known failure {report}");
    }
    assert!(
        failures.is_empty(),
        "conformance mismatches:\n{}",
        failures.join("\n")
    );
    assert!(
        checks >= MIN_CHECKS,
        "only {checks} checks; the suite needs at least {MIN_CHECKS}"
    );
}
