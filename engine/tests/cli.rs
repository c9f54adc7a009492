//! The `zonal` binary from the outside: `run`'s output and exit status, `render`'s WAV
//! and summary (also when a form fails), and a live session (`repl --port 0`) driven
//! over the editor protocol, with an interrupt from a second connection.

mod live;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use live::{Live, eval, reply};

fn zonal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zonal"))
}

fn scratch(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zonal-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

#[test]
fn run_prints_program_output_and_exits_0() {
    let f = scratch("ok.xtm", "(println 'a '= (+ 2 3))\n(display \"done\")\n");
    let out = zonal().arg("run").arg(&f).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a = 5\ndone");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn run_prints_a_rational_as_numerator_over_denominator_through_its_print() {
    let f = scratch(
        "rational.xtm",
        "(sys:load \"libs/core/rational.xtm\")\n\
         (bind-func rat_show (lambda () (println \"sum\" (+ 3/4 (Rat 1 6)) 2) (printout 3/4 \"\\n\") 0))\n\
         (rat_show)\n",
    );
    let out = zonal().arg("run").arg(&f).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "sum 11/12 2\n3/4\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn run_prints_the_definitions_of_an_overloaded_name() {
    let f = scratch(
        "poly.xtm",
        "(bind-func twice_or_fifth (lambda (x:i64) (* x 2)))\n\
         (bind-func twice_or_fifth (lambda (x:double) (/ x 5.0)))\n\
         (xtc:cache:polyfunc-pretty-print \"twice_or_fifth\")\n\
         (xtc:cache:polyfunc-pretty-print 'unknown_name)\n",
    );
    let out = zonal().arg("run").arg(&f).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "twice_or_fifth:[double,double]*\ntwice_or_fifth:[i64,i64]*\nunknown_name has no xtlang definition\n"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn run_with_a_heap_limit_turns_a_runaway_string_into_an_error_and_goes_on() {
    let f = scratch(
        "doubling.scm",
        "(println (sys:heap-limit))\n(define s \"x\")\n\
         (guard (e (#t (println (error-object-message e))))\n\
           (let loop () (set! s (string-append s s)) (loop)))\n\
         (set! s #f)\n(println 'alive)\n\
         (let loop () (set! s (string-append (or s \"y\") (or s \"y\"))) (loop))\n",
    );
    let out = zonal()
        .args(["run", "--heap-limit", "64M"])
        .arg(&f)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.starts_with("67108864\n"), "{stdout}");
    assert!(
        stdout.contains("over the heap limit of 67108864 bytes"),
        "{stdout}"
    );
    assert!(stdout.ends_with("alive\n"), "{stdout}");
    // uncaught, it is reported like any error: no abort
    assert!(stderr.starts_with("out of memory: "), "{stderr}");
    assert_eq!(out.status.code(), Some(1));
    let bad = zonal()
        .args(["run", "--heap-limit", "12Q"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("the unit must be K, M or G"));
}

#[test]
fn run_stops_at_the_first_error_with_its_place() {
    let f = scratch(
        "bad.xtm",
        "(println 'before)\n(define (f x) (car x))\n(f 5)\n(println 'after)\n",
    );
    let out = zonal().arg("run").arg(&f).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "before\n");
    assert!(
        stderr.starts_with("type error: car wants a pair 5"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.xtm:2:15"), "{stderr}");
    assert!(stderr.contains("in f"), "{stderr}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn run_reports_a_dsp_type_error_with_its_place() {
    let f = scratch("clash.xtm", "(bind-func bad (lambda (x:i64) (+ x 1.5)))\n");
    let out = zonal().arg("run").arg(&f).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("type error: type clash"), "{stderr}");
    assert!(stderr.contains("clash.xtm:1:"), "{stderr}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn run_names_a_missing_file() {
    let out = zonal().args(["run", "/no/such/file.xtm"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot read /no/such/file.xtm"), "{stderr}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn run_reports_unbalanced_source_with_its_place_after_the_forms_before_it() {
    let f = scratch("open.xtm", "(println 1)\n(define (f x)\n  (+ x 1)\n");
    let out = zonal().arg("run").arg(&f).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("read error"), "{stderr}");
    assert!(stderr.contains("open.xtm:2:1"), "{stderr}");
    assert_eq!(out.status.code(), Some(1));
    // forms are read one at a time: the one before the unreadable form has run
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
}

fn read_wav(path: &Path) -> (hound::WavSpec, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    (spec, r.samples::<f32>().map(Result::unwrap).collect())
}

#[test]
fn render_writes_the_wav_and_a_summary() {
    let out_wav = scratch("sine.wav", "");
    let out = zonal()
        .args(["render", "--seconds", "0.5", "-o"])
        .arg(&out_wav)
        .arg(example("sine.xtm"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("x real time"), "{stderr}");
    assert!(stderr.contains("peak 0.300"), "{stderr}");
    assert!(stderr.contains("0 clipped"), "{stderr}");
    let (spec, samples) = read_wav(&out_wav);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 48_000, 32)
    );
    assert_eq!(samples.len(), 48_000);
    let again = scratch("sine2.wav", "");
    zonal()
        .args(["render", "--seconds", "0.5", "-o"])
        .arg(&again)
        .arg(example("sine.xtm"))
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read(&out_wav).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

#[test]
fn render_goes_on_after_an_error_and_exits_1() {
    let broken = scratch(
        "broken.xtm",
        "(bind-func dsp:DSP (lambda (in time chan dat) (+ 1 \"no\")))\n(dsp:set! dsp)\n",
    );
    let out_wav = scratch("broken.wav", "");
    let out = zonal()
        .args(["render", "--seconds", "0.2", "--format", "i16", "-o"])
        .arg(&out_wav)
        .arg(example("sine.xtm"))
        .arg(&broken)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("broken.xtm:1:"), "{stderr}");
    // The sine defined before the error keeps playing.
    let mut r = hound::WavReader::open(&out_wav).unwrap();
    assert_eq!(r.spec().bits_per_sample, 16);
    let peak = r.samples::<i16>().map(|s| s.unwrap().unsigned_abs()).max();
    assert!(peak > Some(9000), "{peak:?}");
}

/// Extempore's scripts end with `(quit 0)`, which reported an unbound variable after
/// the script had run.
#[test]
fn run_ends_at_quit_with_its_status() {
    let f = scratch(
        "quits.xtm",
        "(display \"a\")\n(guard (e (#t (display \"caught\"))) (quit 3))\n(display \"b\")\n",
    );
    let out = zonal().arg("run").arg(&f).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(out.status.code(), Some(3));
}

/// A piece can end its own render: a callback that quits ends it where it was due.
#[test]
fn render_ends_where_a_callback_quits() {
    let quits = scratch("ends.xtm", "(callback (+ (now) 12000) 'quit 0)\n");
    let out_wav = scratch("ends.wav", "");
    let out = zonal()
        .args(["render", "--seconds", "2", "-o"])
        .arg(&out_wav)
        .arg(example("sine.xtm"))
        .arg(&quits)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("ended the render at 0.250 s with (exit 0)"),
        "{stderr}"
    );
    let (spec, samples) = read_wav(&out_wav);
    assert_eq!(samples.len(), 12_000 * usize::from(spec.channels));
    // the sine plays up to the end
    let last = &samples[samples.len() - 2 * 480..];
    assert!(last.iter().any(|s| s.abs() > 0.2), "silent at the end");
    // asked while the files load, the render ends at its start, with the status
    let at_once = scratch("at_once.xtm", "(exit 2)\n(display \"not reached\")\n");
    let out = zonal()
        .args(["render", "--seconds", "2", "-o"])
        .arg(&out_wav)
        .arg(&at_once)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    assert_eq!(read_wav(&out_wav).1.len(), 0);
}

#[test]
fn an_editor_can_end_the_engine_with_exit() {
    let mut live = Live::start(&["play", "--no-audio", "--port", "0"]);
    let mut editor = live.connect();
    assert_eq!(eval(&mut editor, "(* 6 7)"), "42");
    let said = eval(&mut editor, "(exit 4)");
    assert!(said.contains("quitting"), "{said}");
    let status = live.wait_exit();
    assert_eq!(status.and_then(|s| s.code()), Some(4), "{}", live.log());
}

/// The DSP heaps' sizes are options: a sampler's files need a big control heap, a
/// patch that `halloc`s on the audio thread a big audio heap.
#[test]
fn the_dsp_heaps_are_sized_on_the_command_line() {
    let f = scratch(
        "heaps.xtm",
        "(bind-func big_alloc (lambda (n:i64) (let ((p:i8* (halloc n))) (free p) 1)))
         (println (big_alloc 20000000))\n",
    );
    let out = zonal().arg("run").arg(&f).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    let out = zonal()
        .args(["run", "--dsp-heap", "16M"])
        .arg(&f)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("halloc of 20000000 bytes could not be met")
            && stderr.contains("heap of 16777216 bytes is full"),
        "{stderr}"
    );
    // on the audio thread: 16 MB does not fit the default 8 MB heap
    let dsp = scratch(
        "audio_heap.xtm",
        "(bind-func dsp:DSP
           (let ((p:float* null))
             (lambda (in time chan dat)
               (if (null? p) (set! p (halloc 4000000)))
               (pset! p 0 0.25)
               (pref p 0))))
         (dsp:set! dsp)\n",
    );
    let wav = scratch("audio_heap.wav", "");
    // the options `before` the subcommand and `after` it
    let render = |before: &[&str], after: &[&str]| {
        zonal()
            .args(before)
            .args(["render", "--seconds", "0.1"])
            .args(after)
            .arg("-o")
            .arg(&wav)
            .arg(&dsp)
            .output()
            .unwrap()
    };
    let out = render(&[], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could not be met"), "{stderr}");
    // After the subcommand, before it, and before it in the `=` form.
    let heap = ["--audio-heap", "32M"];
    for (before, after) in [
        (&[][..], &heap[..]),
        (&heap, &[]),
        (&["--audio-heap=32M"], &[]),
    ] {
        let out = render(before, after);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{before:?} {after:?}: {stderr}");
        assert!(
            stderr.contains("peak 0.250"),
            "{before:?} {after:?}: {stderr}"
        );
    }
}

#[test]
fn without_a_terminal_the_engine_serves_until_sigterm() {
    for args in [
        &["repl", "--port", "0"][..],
        &["play", "--no-audio", "--port", "0"],
    ] {
        let mut live = Live::start(args);
        std::thread::sleep(Duration::from_secs(1));
        assert!(live.running(), "{args:?} quit");
        let mut editor = live.connect();
        assert_eq!(eval(&mut editor, "(* 6 7)"), "42", "{args:?}");
        let status = live.terminate();
        assert!(
            status.is_some_and(|s| s.success()),
            "{args:?} did not stop cleanly on SIGTERM: {status:?}"
        );
        let log = live.log();
        assert!(!log.contains("panicked"), "{log}");
    }
}

#[test]
fn with_repl_a_piped_script_is_evaluated_and_ends_the_engine() {
    let mut child = zonal()
        .args(["repl", "--port", "0", "--repl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"(define x 6)\n(* x 7)\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x\n42\n");
    assert!(out.status.success());
}

#[test]
fn an_editor_evaluates_scheme_and_dsp_and_errors_lose_nothing() {
    let live = Live::start(&["repl", "--port", "0"]);
    let mut editor = live.connect();
    assert_eq!(eval(&mut editor, "(define x 41)"), "x");
    assert_eq!(eval(&mut editor, "(+ x 1)"), "42");
    assert_eq!(
        eval(&mut editor, "(bind-func dbl (lambda (a:i64) (* a 2)))"),
        "dbl"
    );
    assert_eq!(eval(&mut editor, "(dbl 21)"), "42");
    let err = eval(&mut editor, "(car x)");
    assert!(err.starts_with("type error: car wants a pair 41"), "{err}");
    assert_eq!(eval(&mut editor, "(dbl x)"), "82");
    let playing = eval(
        &mut editor,
        &std::fs::read_to_string(example("sine.xtm")).unwrap(),
    );
    assert_eq!(playing, "dsp");
    let now = eval(&mut editor, "(now)").parse::<i64>().unwrap();
    assert!(now >= 0);
}

#[test]
fn a_second_connection_interrupts_a_runaway_loop() {
    let live = Live::start(&["repl", "--port", "0"]);
    let mut looping = live.connect();
    let mut other = live.connect();
    assert_eq!(eval(&mut looping, "(define kept 7)"), "kept");
    looping
        .write_all(b"(let loop ((i 0)) (loop (+ i 1)))\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(eval(&mut other, "(zonal:interrupt)"), "interrupted");
    let stopped = reply(&mut looping);
    assert!(stopped.starts_with("interrupted"), "{stopped}");
    assert_eq!(eval(&mut looping, "kept"), "7");
    assert_eq!(eval(&mut other, "(* kept 6)"), "42");
}

#[test]
fn a_runaway_dsp_loop_called_from_scheme_is_interrupted_too() {
    let live = Live::start(&["repl", "--port", "0"]);
    let mut looping = live.connect();
    let mut other = live.connect();
    let defined = eval(
        &mut looping,
        "(bind-func spin (lambda () (let ((n:i64 0)) (while (>= n 0) (set! n (+ n 1))) n)))",
    );
    assert_eq!(defined, "spin");
    looping.write_all(b"(spin)\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(eval(&mut other, "(zonal:interrupt)"), "interrupted");
    let stopped = reply(&mut looping);
    assert!(stopped.contains("interrupted"), "{stopped}");
    assert_eq!(eval(&mut looping, "(+ 40 2)"), "42");
}

#[test]
fn a_web_pages_post_cannot_write_a_file() {
    let live = Live::start(&["repl", "--port", "0"]);
    let target = scratch("written-by-a-web-page.txt", "");
    std::fs::remove_file(&target).unwrap();
    let body = format!(
        "(call-with-output-file {:?} (lambda (port) (display \"pwned\" port)))\r\n",
        target.to_str().unwrap()
    );
    let mut page = live.connect();
    let post = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nOrigin: https://example.com\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        live.addr(),
        body.len()
    );
    page.write_all(post.as_bytes()).unwrap();
    let mut rest = Vec::new();
    // The server closes the connection (a reset also ends the read).
    let _ = page.read_to_end(&mut rest);
    assert_eq!(String::from_utf8_lossy(&rest), "");
    let mut editor = live.connect();
    assert_eq!(eval(&mut editor, "(+ 1 2)"), "3");
    assert!(!target.exists(), "the web page wrote {}", target.display());
    assert!(live.logged("it sent HTTP (\"POST / HTTP/1.1\")"));
    assert!(live.logged("closed the editor connection from tcp 127.0.0.1:"));
}

#[test]
fn live_a_zero_time_callback_loop_is_stopped_and_its_editor_is_told() {
    let live = Live::start(&["repl", "--port", "0"]);
    let mut editor = live.connect();
    let mut other = live.connect();
    assert_eq!(eval(&mut editor, "(define (f) (callback (now) 'f))"), "f");
    assert_eq!(eval(&mut editor, "(callback (now) 'f)"), "");
    let notice = reply(&mut editor);
    assert!(
        notice.starts_with("error in callback `f` at sample ")
            && notice.contains("callback to `f` stopped: time does not advance"),
        "{notice}"
    );
    assert_eq!(eval(&mut editor, "(+ 1 2)"), "3");
    assert_eq!(
        eval(&mut editor, "(callback (+ (now) 4800) (lambda () (car 5)))"),
        ""
    );
    let notice = reply(&mut editor);
    assert!(notice.contains("car wants a pair 5"), "{notice}");
    // The other connection scheduled nothing and was told nothing.
    assert_eq!(eval(&mut other, "(* 2 21)"), "42");
    assert!(live.logged("callback to `f` stopped"));
}

#[test]
fn live_a_dsp_fault_is_told_to_the_editor_that_defined_it() {
    let live = Live::start(&["repl", "--port", "0"]);
    let mut editor = live.connect();
    let mut other = live.connect();
    let dsp = "(bind-func dsp:DSP (lambda (in time chan dat) (if (> time 0) (i64tof (/ 1 (- time time))) 0.0)))";
    assert_eq!(eval(&mut editor, dsp), "dsp");
    assert_eq!(eval(&mut editor, "(dsp:set! dsp)"), "dsp");
    let notice = reply(&mut editor);
    assert!(
        notice.starts_with("dsp faulted: integer division by zero")
            && notice.contains("the DSP entry was stopped until the next definition"),
        "{notice}"
    );
    // The other connection defined nothing and was told nothing.
    assert_eq!(eval(&mut other, "(* 2 21)"), "42");
    assert!(live.logged("dsp faulted: integer division by zero"));
}

const FIB_DSP: &str =
    "(bind-func fib (lambda (n:i64) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2))))))
(bind-func dsp:DSP
  (lambda (in time chan dat)
    (if (> time 4800) (dtof (* 0.0 (i64tod (fib 60)))) (dtof 0.25))))
(dsp:set! dsp)
";

#[test]
fn render_stops_a_runaway_recursion_with_a_fault_and_finishes() {
    let f = scratch("fib60.xtm", FIB_DSP);
    let out_wav = scratch("fib60.wav", "");
    let mut child = zonal()
        .args(["render", "--seconds", "0.5", "-o"])
        .arg(&out_wav)
        .arg(&f)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the render of fib 60 did not end");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("dsp faulted: interrupted") && stderr.contains("the DSP entry was stopped"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let (_, samples) = read_wav(&out_wav);
    assert_eq!(samples.len(), 48_000);
    assert!(samples[..9600].iter().all(|s| *s == 0.25));
    assert!(samples[9602 + 2 * 4096..].iter().all(|s| *s == 0.0));
}

#[test]
fn live_a_runaway_recursion_is_stopped_on_the_audio_thread_and_from_an_editor() {
    let live = Live::start(&["play", "--no-audio", "--port", "0"]);
    let mut editor = live.connect();
    let mut other = live.connect();
    assert_eq!(eval(&mut editor, FIB_DSP), "dsp");
    assert!(live.logged("dsp faulted: interrupted"));
    assert!(live.logged("the DSP entry was stopped"));
    // the editor that defined dsp is told too, before its next reply
    let notice = reply(&mut editor);
    assert!(notice.starts_with("dsp faulted: interrupted"), "{notice}");
    let before = eval(&mut editor, "(now)").parse::<i64>().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let after = eval(&mut editor, "(now)").parse::<i64>().unwrap();
    assert!(after > before, "the audio clock stands at {after}");
    // The same recursion called from Scheme runs on the control thread: an interrupt
    // from another connection stops it.
    editor.write_all(b"(fib 60)\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(eval(&mut other, "(zonal:interrupt)"), "interrupted");
    let stopped = reply(&mut editor);
    assert!(stopped.contains("interrupted"), "{stopped}");
    assert_eq!(eval(&mut editor, "(fib 20)"), "6765");
}

#[test]
fn run_explains_how_scheme_passes_a_closure() {
    let f = scratch(
        "closure_arg.xtm",
        "(bind-func hof (lambda (f:[i64,i64]* x) (f (f x))))\n(bind-func inc (lambda (x:i64) (+ x 1)))\n(println (hof ($ inc) 5))\n(hof inc 5)\n",
    );
    let out = zonal().arg("run").arg(&f).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim(), "7", "a bind-func's own closure, as ($ inc)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "type error: argument 1 of hof is a Scheme procedure, not a closure ([i64,i64]*): pass a closure a bind-func returned, or a bind-func's own as ($ NAME)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("closure_arg.xtm:4:1"), "{stderr}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn render_refuses_impossible_settings_with_a_message() {
    let unused = scratch("unused.wav", "");
    let unused = unused.to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--sample-rate", "0", "--seconds", "0.1", "-o", unused],
            "0 is not in 8000..=384000",
        ),
        (
            &["--seconds", "1e9", "-o", unused],
            "render a shorter stretch",
        ),
        (
            &["--seconds", "0.1", "-o", "/no/such/dir/out.wav"],
            "cannot create /no/such/dir/out.wav",
        ),
    ];
    for (args, expected) in cases {
        let out = zonal()
            .arg("render")
            .args(args)
            .arg(example("sine.xtm"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(out.status.code().is_some(), "{args:?} crashed");
    }
}
