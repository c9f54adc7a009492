//! Every example of the Extempore memory-management seed, run with `zonal run`.
//!
//! Each `seed/NAME.xtm` runs headless; its stdout must equal `NAME.out`. When
//! `NAME.err` exists, each of its lines must appear in stderr, except that a line
//! `status: N` gives the expected exit status and a line `not: TEXT` text that must
//! not appear; without it, stderr must be empty and the exit status 0.

use std::path::Path;
use std::process::Command;

fn check(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seed");
    let src = dir.join(format!("{name}.xtm"));
    let expected_out = std::fs::read_to_string(dir.join(format!("{name}.out"))).unwrap();
    let expected_err = std::fs::read_to_string(dir.join(format!("{name}.err"))).ok();
    let output = Command::new(env!("CARGO_BIN_EXE_zonal"))
        .arg("run")
        .arg(&src)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stdout, expected_out,
        "stdout of {name}; stderr was:\n{stderr}"
    );
    let mut status = 0;
    match expected_err {
        Some(lines) => {
            for line in lines.lines().filter(|l| !l.is_empty()) {
                if let Some(n) = line.strip_prefix("status: ") {
                    status = n.parse().unwrap();
                } else if let Some(text) = line.strip_prefix("not: ") {
                    assert!(
                        !stderr.contains(text),
                        "stderr of {name} has {text:?}:\n{stderr}"
                    );
                } else {
                    assert!(
                        stderr.contains(line),
                        "stderr of {name} lacks {line:?}:\n{stderr}"
                    );
                }
            }
        }
        None => assert_eq!(stderr, "", "stderr of {name}"),
    }
    assert_eq!(output.status.code(), Some(status), "exit status of {name}");
}

#[test]
fn scheme_define() {
    check("scheme_define");
}

#[test]
fn simple_stack_alloc() {
    check("simple_stack_alloc");
}

#[test]
fn double_tuple_warns_of_its_dangling_salloc_and_its_use_faults() {
    check("double_tuple");
}

#[test]
fn fill_buffer_memzone_overflows_only_the_second_zone() {
    check("fill_buffer_memzone");
}

#[test]
fn closure_zone_full_only_at_default_size() {
    check("closure_zone");
}

#[test]
fn double_tuple_halloc() {
    check("double_tuple_halloc");
}

#[test]
fn fill_massive_buffer_is_an_error_not_a_crash() {
    check("fill_massive_buffer");
}

#[test]
fn closure_var_reads_and_sets_from_scheme_and_xtlang() {
    check("closure_var");
}

/// Runs `src` with `zonal run` from a file of its own: (stdout, stderr, exit status).
fn run_source(name: &str, src: &str) -> (String, String, Option<i32>) {
    let dir = std::env::temp_dir().join(format!("zonal-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.xtm"));
    std::fs::write(&path, src).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_zonal"))
        .arg("run")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir(&dir);
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.status.code(),
    )
}

#[test]
fn closure_var_errors_name_the_variable_and_both_types() {
    let osc =
        "(bind-func osc (let ((phase:double 0.0)) (lambda () (set! phase (+ phase 0.1)) phase)))\n";
    let cases = [
        (
            "(osc.phase:i64)",
            "type clash in osc.phase: the variable is double, not i64",
        ),
        (
            "(osc.phase \"loud\")",
            "argument 1 of osc.phase must be a number (double)",
        ),
        (
            "(osc.phase 1 2)",
            "osc.phase takes no argument (to read it) or one (to set it), got 2",
        ),
        (
            "(bind-func bad (lambda () (osc.freq)))",
            "osc has no variable freq: its variables are phase",
        ),
        (
            "(bind-func bad (lambda () (osc.phase:i32)))",
            "type clash in osc.phase: the variable is double, not i32",
        ),
        (
            "(bind-func osc (let ((gain:i64 0)) (lambda () gain)))\n(osc.phase 1.0)",
            "osc has no variable phase: its variables are gain",
        ),
        (
            "(bind-func bad (lambda () (osc.phase 1.5 2.5)))",
            "osc.phase takes no value (to read it) or one (to set it)",
        ),
    ];
    for (i, (form, message)) in cases.iter().enumerate() {
        let src = format!("{osc}{form}\n");
        let (stdout, stderr, status) = run_source(&format!("closure_var_error_{i}"), &src);
        assert!(stderr.contains(message), "{form}: stderr is {stderr:?}");
        assert_eq!(stdout, "", "{form}");
        assert_eq!(status, Some(1), "{form}");
    }
}
