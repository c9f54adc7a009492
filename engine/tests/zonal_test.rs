//! `zonal test` end to end: the binary runs test files (`tests/zonal_test/*.xtm`) and
//! reports each assertion with its place, a summary, JUnit XML and its exit status;
//! bad input is a failed assertion and the run goes on. Also the Rust API,
//! `testing::render_source`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use zonal_engine::testing::{analysis, render_source};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/zonal_test")
        .join(name)
}

fn zonal_test(args: &[&str], out_dir: &Path) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zonal"))
        .arg("test")
        .arg("--out-dir")
        .arg(out_dir)
        .args(args)
        .output()
        .expect("zonal runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, text)
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zonal-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_passing_file_exits_0_with_its_summary() {
    let dir = scratch("pass");
    let f = fixture("passing.xtm");
    let (out, text) = zonal_test(&[f.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{text}");
    assert!(text.ends_with("20 passed, 0 failed in 1 file\n"), "{text}");
    // the takes are there to listen to
    assert!(dir.join("passing-1.wav").exists() && dir.join("passing-3.wav").exists());
}

#[test]
fn failures_name_their_place_expected_and_got_and_the_file_runs_to_its_end() {
    let dir = scratch("fail");
    let f = fixture("failing.xtm");
    let (out, text) = zonal_test(&[f.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(1));
    let place = |line: u32| format!("{}:{line}:", f.display());
    for (line, needle) in [
        (
            3,
            "FAIL wrong value (fail): (add_two 2 3) expected 6, got 5",
        ),
        (
            4,
            "FAIL car (runtime-error): (car '()) expected no error, got an error: car wants a pair ()",
        ),
        (5, "FAIL fine (fail)"),
        (6, "FAIL broken (compile-error)"),
        (7, "FAIL bad-setup (fixture-error)"),
        (10, "unbound variable: this-is-unbound is not defined"),
        (
            11,
            "this assertion is written (xtmtest-result CALL EXPECTED [LABEL])",
        ),
        (12, "cannot read /nonexistent/take.wav"),
        (
            15,
            "FAIL audiotest_assert_sine (fail): expected a sine of 880 Hz",
        ),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&place(line)) && l.contains(needle)),
            "line {line}: no `{needle}` in\n{text}"
        );
    }
    assert!(text.contains("1 passed, 12 failed in 1 file"), "{text}");
}

#[test]
fn an_unreadable_file_is_a_failure_and_the_other_files_still_run() {
    let dir = scratch("unreadable");
    let (a, b, c) = (
        fixture("unreadable.xtm"),
        fixture("passing.xtm"),
        fixture("missing.xtm"),
    );
    let junit = dir.join("results.xml");
    let (out, text) = zonal_test(
        &[
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            c.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("FAIL reading the file (error)"), "{text}");
    assert!(text.contains("cannot read"), "{text}");
    assert!(text.contains("21 passed, 2 failed in 3 files"), "{text}");
    let xml = std::fs::read_to_string(junit).unwrap();
    assert!(xml.contains("<testsuites name=\"zonal test\" tests=\"23\" failures=\"2\">"));
    assert_eq!(xml.matches("<testcase ").count(), 23);
    assert_eq!(xml.matches("<failure ").count(), 2);
}

#[test]
fn filter_runs_only_matching_assertions_and_bless_writes_goldens() {
    let dir = scratch("golden");
    let file = dir.join("golden.xtm");
    std::fs::write(
        &file,
        "(bind-func dsp:DSP (lambda (in time chan dat) (dtof (* 0.25 (sin (* 0.1 (i64tod time)))))))\n\
         (dsp:set! dsp)\n\
         (define take (render-for 0.25))\n\
         (audiotest_assert_golden take \"goldens/sine.wav\" 0.0)\n\
         (xtmtest-result (+ 1 1) 3 \"not selected\")\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let (out, text) = zonal_test(&[f, "--filter", "golden"], &dir);
    assert_eq!(out.status.code(), Some(1), "no golden yet: {text}");
    assert!(text.contains("run with --bless to write it"), "{text}");
    assert!(text.contains("1 skipped"), "{text}");
    let (out, text) = zonal_test(&[f, "--filter", "golden", "--bless"], &dir);
    assert!(out.status.success(), "{text}");
    assert!(dir.join("goldens/sine.wav").exists());
    let (out, text) = zonal_test(&[f, "--filter", "golden"], &dir);
    assert!(
        out.status.success(),
        "the render matches its golden: {text}"
    );
    // a changed sound no longer matches
    let changed = std::fs::read_to_string(&file)
        .unwrap()
        .replace("0.25 (sin", "0.26 (sin");
    std::fs::write(&file, changed).unwrap();
    let (out, text) = zonal_test(&[f, "--filter", "golden"], &dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("a difference of"), "{text}");
}

#[test]
fn render_source_gives_samples_output_and_errors() {
    let take = render_source(
        "(display \"hello\") (newline)\n\
         (this-is-unbound)\n\
         (bind-func dsp:DSP (lambda (in time chan dat) (dtof (* 0.5 (sin (* 0.05759586531581287 (i64tod time)))))))\n\
         (dsp:set! dsp)",
        0.5,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(take.printed, "hello\n");
    assert_eq!(take.errors.len(), 1);
    assert!(
        take.errors[0].contains("this-is-unbound"),
        "{:?}",
        take.errors
    );
    assert_eq!((take.channels, take.sample_rate), (2, 48_000));
    assert_eq!(take.samples.len(), 48_000);
    let left = take.channel(0);
    let f = analysis::peak_frequency(&left, 48_000.0).unwrap();
    assert!((f - 440.0).abs() < 0.5, "{f}");
    assert!((analysis::amplitude_at(&left, 48_000.0, 440.0) - 0.5).abs() < 0.01);
}

#[test]
fn quit_ends_a_test_file_and_a_status_other_than_0_fails_it() {
    let dir = scratch("quits");
    let f = fixture("quits.xtm");
    let (out, text) = zonal_test(&[f.to_str().unwrap()], &dir);
    assert!(out.status.success(), "{text}");
    assert!(text.ends_with("1 passed, 0 failed in 1 file\n"), "{text}");
    let f = fixture("quits_failing.xtm");
    let (out, text) = zonal_test(&[f.to_str().unwrap()], &dir);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the file asked to end with status 1"),
        "{text}"
    );
}
