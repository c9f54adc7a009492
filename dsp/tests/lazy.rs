//! Native code made at a definition's first use: a bind-func nothing runs is type-checked
//! and lowered but never compiled; a call, a caller being compiled, or a variable set from
//! outside compiles it then; a redefinition before that replaces it without compiling.

mod common;
use common::{call, define};
use zonal_dsp::{CompileCounts, Dsp, DspConfig, DspErrorKind, DspValue, parse};

fn counts(dsp: &Dsp) -> CompileCounts {
    dsp.compile_counts()
}

fn lazy_dsp() -> Dsp {
    Dsp::new(DspConfig {
        lazy: true,
        ..DspConfig::default()
    })
    .expect("a Dsp")
}

#[test]
fn a_definition_never_called_is_never_compiled_and_one_called_later_works() {
    let mut dsp = lazy_dsp();
    let start = counts(&dsp);
    define(
        &mut dsp,
        "(bind-func never (lambda (x:i64) (* x 7)))
         (bind-func later (let ((n 0)) (lambda (x:i64) (set! n (+ n x)) n)))",
    );
    assert_eq!(
        counts(&dsp),
        CompileCounts {
            compiled: start.compiled,
            pending: start.pending + 2
        }
    );
    assert_eq!(dsp.live().code_blocks, 0, "no code was made");
    assert_eq!(
        call(&mut dsp, "later", &[DspValue::I64(5)]),
        DspValue::I64(5)
    );
    assert_eq!(
        call(&mut dsp, "later", &[DspValue::I64(3)]),
        DspValue::I64(8)
    );
    assert_eq!(
        counts(&dsp),
        CompileCounts {
            compiled: start.compiled + 1,
            pending: start.pending + 1
        },
        "only `later` was compiled"
    );
}

#[test]
fn a_caller_compiles_the_uncompiled_functions_it_calls_first() {
    let mut dsp = lazy_dsp();
    define(
        &mut dsp,
        "(bind-func sq (lambda (x:i64) (* x x)))
         (bind-func cube (lambda (x:i64) (* x (sq x))))
         (bind-func sum_powers (lambda (x:i64) (+ (sq x) (cube x))))",
    );
    let before = counts(&dsp);
    assert_eq!(
        call(&mut dsp, "sum_powers", &[DspValue::I64(3)]),
        DspValue::I64(36)
    );
    let after = counts(&dsp);
    assert_eq!(after.compiled, before.compiled + 3);
    assert_eq!(after.pending, before.pending - 3);
    // a definition compiled at once (its init code reads a global) compiles what it calls
    define(
        &mut dsp,
        "(bind-func halve (lambda (x:i64) (/ x 2)))
         (bind-val start i64 10)
         (bind-func from_start (let ((n start)) (lambda () (halve n))))",
    );
    assert_eq!(counts(&dsp).pending, after.pending);
    assert_eq!(counts(&dsp).compiled, after.compiled + 2);
    assert_eq!(call(&mut dsp, "from_start", &[]), DspValue::I64(5));
}

#[test]
fn redefining_an_uncompiled_function_replaces_it_without_compiling_it() {
    let mut dsp = lazy_dsp();
    define(&mut dsp, "(bind-func scale (lambda (x:i64) (* x 2)))");
    let once = counts(&dsp);
    define(&mut dsp, "(bind-func scale (lambda (x:i64) (* x 3)))");
    assert_eq!(counts(&dsp), once, "the first one is dropped, not compiled");
    define(
        &mut dsp,
        "(bind-func use_scale (lambda (x:i64) (+ 1 (scale x))))",
    );
    // another type: the i64 one is set aside as an overload, which use_scale still calls
    define(&mut dsp, "(bind-func scale (lambda (x:double) (* x 10.0)))");
    assert_eq!(
        call(&mut dsp, "use_scale", &[DspValue::I64(4)]),
        DspValue::I64(13)
    );
    assert_eq!(
        call(&mut dsp, "scale", &[DspValue::Double(1.5)]),
        DspValue::Double(15.0)
    );
    // once compiled, a redefinition compiles at once and callers see it
    let compiled = counts(&dsp);
    define(
        &mut dsp,
        "(bind-func scale (lambda (x:double) (* x 100.0)))",
    );
    assert_eq!(counts(&dsp).compiled, compiled.compiled + 1);
    assert_eq!(
        call(&mut dsp, "scale", &[DspValue::Double(1.5)]),
        DspValue::Double(150.0)
    );
    assert_eq!(dsp.live().closures, dsp.live().code_blocks);
}

#[test]
fn type_errors_of_a_deferred_definition_are_reported_when_it_is_defined() {
    let mut dsp = lazy_dsp();
    let forms = parse(
        "(bind-func bad (lambda (x:i64) (let ((s:i8* \"text\")) (+ x s))))",
        "test.xtm",
    )
    .expect("parses");
    let before = counts(&dsp);
    let e = dsp.define(&forms[0]).expect_err("a type error");
    assert_eq!(e.kind, DspErrorKind::Type, "{e}");
    assert!(e.span.is_some(), "{e}");
    assert_eq!(counts(&dsp), before, "nothing left behind");
}

#[test]
fn init_code_with_effects_runs_when_the_function_is_defined() {
    let mut dsp = lazy_dsp();
    define(&mut dsp, "(bind-val hits i64 0)");
    let before = counts(&dsp);
    define(
        &mut dsp,
        "(bind-func noted (let ((x (set! hits (+ hits 1)))) (lambda () x)))",
    );
    assert_eq!(counts(&dsp).compiled, before.compiled + 1);
    define(&mut dsp, "(bind-func read_hits (lambda () hits))");
    assert_eq!(call(&mut dsp, "read_hits", &[]), DspValue::I64(1));
}

#[test]
fn an_uncompiled_closure_lists_its_variables_and_setting_one_compiles_it() {
    let mut dsp = lazy_dsp();
    define(
        &mut dsp,
        "(bind-func acc (let ((total:i64 100) (scale 2.0)) (lambda (x:i64) (set! total (+ total x)) (* scale (i64tod total)))))",
    );
    let before = counts(&dsp);
    let vars = dsp.closure_vars("acc").expect("a bind-func");
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["total", "scale"]);
    assert_eq!(counts(&dsp), before, "listing them compiles nothing");
    // xtlang reads them by name through the closure, compiling it first
    define(&mut dsp, "(bind-func peek (lambda () (acc.total:i64)))");
    assert_eq!(counts(&dsp).compiled, before.compiled);
    dsp.set_var("acc", "total", None, &DspValue::I64(40))
        .expect("sets");
    assert_eq!(counts(&dsp).compiled, before.compiled + 1);
    assert_eq!(call(&mut dsp, "peek", &[]), DspValue::I64(40));
    assert_eq!(
        call(&mut dsp, "acc", &[DspValue::I64(2)]),
        DspValue::Double(84.0)
    );
}

#[test]
fn an_entry_is_compiled_before_it_is_named_and_reaches_the_audio_side_in_the_next_swap() {
    let mut dsp = lazy_dsp();
    let mut ctx = dsp.audio_ctx().expect("an audio context");
    define(
        &mut dsp,
        "(bind-func level (lambda () 0.25))
         (bind-func tone:DSP (lambda (in time chan dat) (dtof (level))))",
    );
    assert!(
        dsp.take_swap().is_none(),
        "nothing compiled, nothing to swap"
    );
    let e = dsp.entry("tone").expect_err("not compiled yet");
    assert!(e.message.contains("tone is not compiled yet"), "{e}");
    dsp.compile("tone").expect("compiles");
    let mut batch = dsp.take_swap().expect("tone and level");
    ctx.apply(&mut batch);
    dsp.retire(batch);
    let entry = dsp.entry("tone").expect("a DSP entry");
    let mut out = [0.0f32];
    ctx.run_sample(entry, &[0.0], 0, &mut out).expect("runs");
    assert_eq!(out[0], 0.25);
}

#[test]
fn without_the_lazy_setting_every_definition_is_compiled_at_once() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    let before = counts(&dsp);
    define(&mut dsp, "(bind-func unused (lambda (x:i64) x))");
    assert_eq!(counts(&dsp).compiled, before.compiled + 1);
    assert_eq!(counts(&dsp).pending, 0);
}
