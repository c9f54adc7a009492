//! Issue 8's lifetime reproducers through the `zonal` binary and the session: a closure
//! that can still be called keeps its code, live and offline; a failed definition leaves
//! nothing behind.

mod common;
mod live;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::channel;
use live::{Live, eval};
use zonal_engine::render::render_session;
use zonal_engine::session::Session;

fn zonal() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zonal"))
}

fn scratch(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zonal-lifetimes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

const ARP5: &str =
    "(bind-func arp5 (lambda () (let ((arr:|32,i64|* (alloc)) (off (aref-ptr arr 16)))
                             (dotimes (i 32) (aset! arr i i)) (pref off 3))))
(println (arp5))
";

#[test]
fn issue_8_item_10_reproducer_prints_19() {
    let src = format!(
        "(bind-func mk5 (lambda () (let ((f (lambda (x:i64) x))) (lambda (z) (f z)))))
(bind-func use6 (lambda () (let ((t1 (mk5))) (t1.f:[i64,i64]* (lambda (x:i64) (* x x))) void)))
{ARP5}"
    );
    let f = scratch("item10.xtm", &src);
    let out = zonal().arg("run").arg(&f).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "19\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_definition_that_failed_half_compiled_does_not_break_the_next_one() {
    let src = format!("(bind-func bad (lambda (x:i64) (let ((y:void* null)) (pref y 0))))\n{ARP5}");
    let f = scratch("half.xtm", &src);
    let wav = f.with_extension("wav");
    let out = zonal()
        .args(["render", "--seconds", "0.01", "-o"])
        .arg(&wav)
        .arg(&f)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("half.xtm:1:1"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("faulted"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "19\n");
}

/// Issue 8's item 1: `dsp` reaches a closure made by `mk` only through `holder`'s variable.
/// `dsp` plays 0.01 times what the closure returns (30.0 from the first `mk`, 1.0 from the
/// second) and keeps it in `out`.
const HELD: &str = "
(bind-val out double 0.0)
(bind-func holder (let ((f:[double,double]* null)) (lambda () f)))
(bind-func mk (lambda () (lambda (x:double) (let ((s 0.0)) (dotimes (i 30) (set! s (+ s x))) s))))
(bind-func setg (lambda () (holder.f (mk)) 0))
(setg)
(bind-func dsp:DSP (lambda (in time chan dat)
  (let ((f (holder)))
    (let ((y (f 1.0)))
      (set! out y)
      (dtof (* 0.01 y))))))
(dsp:set! dsp)
(bind-func getout (lambda () out))
";

/// The second part, and more code of the same type (which would reuse a freed index).
const REDEFINE: &str = "
(bind-func setg (lambda () 0))
(bind-func mk (lambda () (lambda (x:double) x)))
(bind-func other1 (lambda (x:double) (* x 5.0)))
(bind-func other2 (lambda (x:double) (* x 7.0)))
";

#[test]
fn a_closure_held_in_a_variable_keeps_playing_when_its_maker_is_redefined_offline() {
    for run in 0..50 {
        let at = 700 + 97 * run;
        let cfg = common::config(0.1);
        let (mut session, processor) = Session::with_audio(&cfg.session).unwrap();
        // The redefinitions in one evaluation, and code of the same type again in a later
        // one, once the first mk could have been freed.
        let src = format!(
            "{HELD}
(define (part2) (eval '(begin {REDEFINE})) (callback (+ (now) 300) 'part3))
(define (part3) (eval '(begin {REDEFINE})))
(callback {at} 'part2)"
        );
        session.eval_source(&src, "held.xtm").unwrap();
        let r = render_session(&mut session, processor, &cfg).unwrap();
        assert_eq!(r.summary.failures, 0, "run {run}");
        let left = channel(&r.samples, 2, 0);
        let wrong = left.iter().position(|s| (*s - 0.3).abs() > 1e-6);
        assert_eq!(wrong, None, "run {run}: redefined at {at}");
    }
}

#[test]
fn a_closure_held_in_a_variable_keeps_playing_when_its_maker_is_redefined_live() {
    // --repl: the engine reads its stdin, and ends when the test closes it
    let mut live = Live::start_piped(&["repl", "--repl", "--port", "0"]);
    let mut editor = live.connect();
    for form in HELD.split("\n(").filter(|f| !f.trim().is_empty()) {
        let form = if form.starts_with('(') {
            form.to_string()
        } else {
            format!("({form}")
        };
        let r = eval(&mut editor, &form);
        assert!(!r.contains("error"), "{form}: {r}");
    }
    // The audio thread runs the closure from now on; redefine its maker while it plays,
    // then again and again.
    std::thread::sleep(Duration::from_millis(500));
    for round in 0..10 {
        for form in REDEFINE.split("\n(").filter(|f| !f.trim().is_empty()) {
            let form = if form.starts_with('(') {
                form.to_string()
            } else {
                format!("({form}")
            };
            let r = eval(&mut editor, &form);
            assert!(!r.contains("error"), "round {round}: {form}: {r}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let out = eval(&mut editor, "(getout)");
    assert_eq!(out.parse::<f64>().ok(), Some(30.0), "{out}");
    drop(editor);
    let status = live.close_stdin();
    assert!(status.success(), "{status:?}");
    let stderr = live.log();
    assert!(!stderr.contains("faulted"), "{stderr}");
}
