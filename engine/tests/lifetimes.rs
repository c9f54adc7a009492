//! Issue 8's lifetime reproducers through the `zonal` binary and the session: a failed
//! definition leaves nothing behind.

use std::path::PathBuf;
use std::process::Command;

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
