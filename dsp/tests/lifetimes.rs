//! How long what a definition makes lives: a failed definition leaves nothing behind,
//! code lives as long as a closure that can call it, and a closure that outlived its code
//! faults with a message instead of running freed or reused code.

mod common;
use common::{call, define};
use zonal_dsp::{Dsp, DspConfig, DspError, DspErrorKind, DspValue, parse};

fn define_err(dsp: &mut Dsp, src: &str) -> DspError {
    let forms = parse(src, "test.xtm").expect("parses");
    assert_eq!(forms.len(), 1);
    dsp.define(&forms[0]).expect_err("the definition fails")
}

/// Issue 8's `arp5`: a legal access through `aref-ptr`; it returns 19.
const ARP5: &str =
    "(bind-func arp5 (lambda () (let ((arr:|32,i64|* (alloc)) (off (aref-ptr arr 16)))
                             (dotimes (i 32) (aset! arr i i)) (pref off 3))))";

#[test]
fn setting_a_captured_closure_variable_to_a_lambda_compiles_and_arp5_still_gives_19() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    define(
        &mut dsp,
        "(bind-func mk5 (lambda () (let ((f (lambda (x:i64) x))) (lambda (z) (f z)))))
         (bind-func use6 (lambda () (let ((t1 (mk5))) (t1.f:[i64,i64]* (lambda (x:i64) (* x x))) void)))
         (bind-func use7 (lambda (n:i64) (let ((t1 (mk5))) (t1.f:[i64,i64]* (lambda (x:i64) (* x x))) (t1 n))))",
    );
    define(&mut dsp, ARP5);
    assert_eq!(call(&mut dsp, "use6", &[]), DspValue::Void);
    assert_eq!(
        call(&mut dsp, "use7", &[DspValue::I64(5)]),
        DspValue::I64(25)
    );
    assert_eq!(call(&mut dsp, "arp5", &[]), DspValue::I64(19));
}

#[test]
fn a_definition_that_fails_while_lowering_leaves_the_compiler_as_it_was() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    define(&mut dsp, "(bind-func warm (lambda () 1))");
    let before = (dsp.live(), dsp.memory_in_use());
    // Inference accepts it; lowering gives up half-way through the function.
    let e = define_err(
        &mut dsp,
        "(bind-func bad (lambda (x:i64) (let ((y:void* null)) (pref y 0))))",
    );
    assert!(!e.message.is_empty());
    assert_eq!((dsp.live(), dsp.memory_in_use()), before);
    assert!(dsp.signature("bad").is_none());
    define(&mut dsp, ARP5);
    assert_eq!(call(&mut dsp, "arp5", &[]), DspValue::I64(19));
}

#[test]
fn definitions_whose_init_code_faults_use_up_nothing() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    dsp.set_warnings(Box::new(std::io::sink()));
    define(&mut dsp, ARP5);
    let before = (dsp.live(), dsp.memory_in_use());
    // Every failed name would have kept a slot: 4,200 of them are more than there are.
    for i in 0..4200 {
        let e = define_err(
            &mut dsp,
            &format!(
                "(bind-func bad{i} 1000 (let ((buf:i64* (zalloc 2000)) (p:i64* null)) (pref p 1) (lambda () (pref buf 0))))"
            ),
        );
        assert_eq!(e.kind, DspErrorKind::Fault, "{e}");
    }
    assert_eq!((dsp.live(), dsp.memory_in_use()), before);
    define(&mut dsp, "(bind-func fine (lambda () 7))");
    assert_eq!(call(&mut dsp, "fine", &[]), DspValue::I64(7));
    assert_eq!(call(&mut dsp, "arp5", &[]), DspValue::I64(19));
}

#[test]
fn redefinitions_with_no_audio_running_forget_the_fault_sites_of_the_code_they_replace() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    let def = |i: i64| format!("(bind-func stepper (lambda (p:i64* k:i64) (+ {i} (pref p k))))");
    define(&mut dsp, &def(0));
    let before = dsp.live();
    assert!(before.fault_sites > 0, "{before:?}");
    for i in 1..50 {
        define(&mut dsp, &def(i));
    }
    assert_eq!(dsp.live(), before);
}

/// Issue 8's item 1, called from the control thread: `setg` stores a closure made by `mk`
/// (in the default zone) into `holder`'s variable; then `setg` and `mk` are redefined.
#[test]
fn a_closure_kept_in_a_variable_keeps_its_code_when_its_maker_is_redefined() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    define(
        &mut dsp,
        "(bind-func holder (let ((f:[i64,i64]* null)) (lambda () f)))
         (bind-func mk (lambda () (lambda (x:i64) (+ x 1000))))
         (bind-func setg (lambda () (holder.f (mk)) 0))
         (bind-func use (lambda (x:i64) (let ((f (holder))) (f x))))",
    );
    call(&mut dsp, "setg", &[]);
    assert_eq!(
        call(&mut dsp, "use", &[DspValue::I64(1)]),
        DspValue::I64(1001)
    );
    define(
        &mut dsp,
        "(bind-func setg (lambda () 0))
         (bind-func mk (lambda () (lambda (x:i64) x)))",
    );
    // More code of the same type, which would take a freed code-table index.
    for i in 0..20 {
        define(
            &mut dsp,
            &format!("(bind-func other{i} (lambda (x:i64) (* x {i})))"),
        );
    }
    assert_eq!(
        call(&mut dsp, "use", &[DspValue::I64(1)]),
        DspValue::I64(1001)
    );
}

#[test]
fn unlinked_code_is_freed_only_after_the_buffer_that_was_running_ends() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    let mut ctx = dsp.audio_ctx().expect("an audio context");
    define(
        &mut dsp,
        "(bind-func tone:DSP (lambda (in time chan dat) 0.25))",
    );
    let swap = |dsp: &mut Dsp, ctx: &mut zonal_dsp::AudioCtx| {
        if let Some(mut b) = dsp.take_swap() {
            ctx.apply(&mut b);
            dsp.retire(b);
        }
    };
    swap(&mut dsp, &mut ctx);
    let e = dsp.entry("tone").expect("entry");
    let before = dsp.live();
    ctx.begin_buffer();
    let mut o = [0.0f32];
    ctx.run_sample(e, &[0.0], 0, &mut o).expect("runs");
    define(
        &mut dsp,
        "(bind-func tone:DSP (lambda (in time chan dat) 0.5))",
    );
    swap(&mut dsp, &mut ctx);
    dsp.reclaim();
    // Unlinked, but the audio thread is inside a buffer: the old code stays mapped.
    assert_eq!(dsp.live().code_blocks, before.code_blocks + 1);
    ctx.run_sample(e, &[0.0], 1, &mut o).expect("runs");
    assert_eq!(o[0], 0.5);
    ctx.end_buffer();
    dsp.reclaim();
    assert_eq!(dsp.live(), before);
}
