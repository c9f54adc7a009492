//! The audio side: DSP entries run through `AudioCtx`, hot swaps through batches, and
//! differential tests — oscillator, one-pole, biquad and delay line compiled from xtlang
//! against the same algorithm in plain Rust, sample by sample.

mod common;
use common::{define, setup, swap};
use zonal_dsp::{AudioCtx, Dsp, DspConfig, DspErrorKind, DspValue, Entry, parse};

/// Runs `entry` over `input` one sample at a time (mono).
fn render(ctx: &mut AudioCtx, e: Entry, input: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(input.len());
    for (t, x) in input.iter().enumerate() {
        let mut o = [0.0f32];
        ctx.run_sample(e, &[*x], t as i64, &mut o)
            .expect("no fault");
        out.push(o[0]);
    }
    out
}

fn noise(n: usize) -> Vec<f32> {
    let mut s = 12345u32;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

fn assert_same(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-6 * w.abs().max(1.0),
            "{name}: sample {i}: xtlang {g}, Rust {w}"
        );
    }
}

#[test]
fn oscillator_matches_rust() {
    let (dsp, mut ctx) = setup(
        "(bind-func osc:DSP
           (let ((phase 0.0))
             (lambda (in time chan dat)
               (set! phase (+ phase (/ (* 2.0 3.141592653589793 440.0) 48000.0)))
               (dtof (* 0.5 (sin phase))))))",
    );
    let e = dsp.entry("osc").expect("a DSP entry");
    let got = render(&mut ctx, e, &[0.0; 1000]);
    let mut phase = 0.0f64;
    let want: Vec<f32> = (0..1000)
        .map(|_| {
            phase += 2.0 * std::f64::consts::PI * 440.0 / 48000.0;
            (0.5 * phase.sin()) as f32
        })
        .collect();
    assert_same("oscillator", &got, &want);
}

#[test]
fn one_pole_matches_rust() {
    let (dsp, mut ctx) = setup(
        "(bind-func lp:DSP
           (let ((y:float 0.0))
             (lambda (in time chan dat)
               (set! y (+ y (* 0.1 (- in y))))
               y)))",
    );
    let e = dsp.entry("lp").expect("a DSP entry");
    let input = noise(2000);
    let got = render(&mut ctx, e, &input);
    let mut y = 0.0f32;
    let want: Vec<f32> = input
        .iter()
        .map(|x| {
            y += 0.1 * (x - y);
            y
        })
        .collect();
    assert_same("one-pole", &got, &want);
}

#[test]
fn biquad_matches_rust() {
    let (dsp, mut ctx) = setup(
        "(bind-func bq:DSP
           (let ((x1 0.0) (x2 0.0) (y1 0.0) (y2 0.0)
                 (b0 0.2) (b1 0.4) (b2 0.2) (a1 -0.6) (a2 0.2))
             (lambda (in time chan dat)
               (let ((x (ftod in))
                     (y (- (+ (* b0 x) (* b1 x1) (* b2 x2)) (* a1 y1) (* a2 y2))))
                 (set! x2 x1) (set! x1 x) (set! y2 y1) (set! y1 y)
                 (dtof y)))))",
    );
    let e = dsp.entry("bq").expect("a DSP entry");
    let input = noise(2000);
    let got = render(&mut ctx, e, &input);
    let (mut x1, mut x2, mut y1, mut y2) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let want: Vec<f32> = input
        .iter()
        .map(|x| {
            let x = f64::from(*x);
            let y = 0.2 * x + 0.4 * x1 + 0.2 * x2 - -0.6 * y1 - 0.2 * y2;
            (x2, x1, y2, y1) = (x1, x, y1, y);
            y as f32
        })
        .collect();
    assert_same("biquad", &got, &want);
}

#[test]
fn delay_line_matches_rust() {
    let (dsp, mut ctx) = setup(
        "(bind-func delay:DSP 100000
           (let ((len 4410) (buf:float* (zalloc len)) (pos 0))
             (lambda (in time chan dat)
               (let ((out (pref buf pos)))
                 (pset! buf pos (+ in (* 0.5 out)))
                 (set! pos (% (+ pos 1) len))
                 out))))",
    );
    let e = dsp.entry("delay").expect("a DSP entry");
    let input = noise(10000);
    let got = render(&mut ctx, e, &input);
    let mut buf = vec![0.0f32; 4410];
    let mut pos = 0;
    let want: Vec<f32> = input
        .iter()
        .map(|x| {
            let out = buf[pos];
            buf[pos] = x + 0.5 * out;
            pos = (pos + 1) % 4410;
            out
        })
        .collect();
    assert_same("delay", &got, &want);
}

#[test]
fn per_sample_and_per_buffer_rendering_agree() {
    let src = "(bind-func lp:DSP
                 (let ((y:float 0.0))
                   (lambda (in time chan dat)
                     (set! y (+ y (* 0.25 (- in y))))
                     y)))";
    let input = noise(512);
    let (dsp, mut ctx) = setup(src);
    let e = dsp.entry("lp").expect("entry");
    let by_sample = render(&mut ctx, e, &input);
    let (dsp, mut ctx) = setup(src);
    let e = dsp.entry("lp").expect("entry");
    let mut by_buffer = vec![0.0; 512];
    for (i, chunk) in by_buffer.chunks_mut(64).enumerate() {
        ctx.run_buffer(
            e,
            &input[i * 64..(i + 1) * 64],
            chunk,
            64,
            1,
            (i * 64) as i64,
        )
        .expect("no fault");
        ctx.end_buffer();
    }
    assert_eq!(by_sample, by_buffer);
}

#[test]
fn dspmc_entries_process_whole_buffers() {
    let (dsp, mut ctx) = setup(
        "(bind-func gain:DSPMC
           (lambda (in out time dat)
             (let ((i 0) (n (* FRAMES CHANNELS)))
               (dotimes (i n)
                 (pset! out i (* 2.0 (pref in i))))
               void)))",
    );
    let e = dsp.entry("gain").expect("a DSPMC entry");
    let input: Vec<f32> = (0..128).map(|i| i as f32).collect();
    let mut out = vec![0.0; 128];
    ctx.run_buffer(e, &input, &mut out, 64, 2, 0)
        .expect("no fault");
    assert_eq!(out[5], 10.0);
    assert_eq!(out[127], 254.0);
}

#[test]
fn entries_must_have_a_dsp_shape() {
    let (dsp, _ctx) = setup("(bind-func f (lambda (x:i64) x))");
    let e = dsp.entry("f").unwrap_err();
    assert_eq!(e.kind, DspErrorKind::Call);
    assert!(
        e.message.starts_with("f is [i64,i64]*, not a DSP closure"),
        "{}",
        e.message
    );
    assert_eq!(
        dsp.entry("nothing").unwrap_err().kind,
        DspErrorKind::Unbound
    );
}

#[test]
fn redefining_swaps_at_the_next_batch_and_frees_the_old_code() {
    let (mut dsp, mut ctx) = setup("(bind-func tone:DSP (lambda (in time chan dat) 0.25))");
    let e = dsp.entry("tone").expect("entry");
    let mut o = [0.0f32];
    ctx.run_sample(e, &[0.0], 0, &mut o).expect("runs");
    assert_eq!(o[0], 0.25);
    let before = dsp.live();
    define(
        &mut dsp,
        "(bind-func tone:DSP (lambda (in time chan dat) 0.5))",
    );
    // The control side has the new code; the audio side keeps the old until the swap.
    ctx.run_sample(e, &[0.0], 1, &mut o).expect("runs");
    assert_eq!(o[0], 0.25);
    assert_eq!(dsp.live().code_blocks, before.code_blocks + 1);
    swap(&mut dsp, &mut ctx);
    ctx.run_sample(e, &[0.0], 2, &mut o).expect("runs");
    assert_eq!(o[0], 0.5);
    assert_eq!(dsp.live(), before);
}

#[test]
fn callers_see_a_redefinition_at_once_and_another_type_is_an_overload() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    define(
        &mut dsp,
        "(bind-func foo (lambda (x:i64) (* x 2))) (bind-func bar (lambda (x:i64) (+ 1 (foo x))))",
    );
    assert_eq!(
        dsp.call("bar", &[DspValue::I64(5)]).expect("runs"),
        DspValue::I64(11)
    );
    define(&mut dsp, "(bind-func foo (lambda (x:i64) (* x 3)))");
    assert_eq!(
        dsp.call("bar", &[DspValue::I64(5)]).expect("runs"),
        DspValue::I64(16)
    );
    // Another type is an overload, as in Extempore: bar keeps calling the i64 foo, a
    // new caller chooses by type, and a call from outside by its arguments.
    define(&mut dsp, "(bind-func foo (lambda (x:double) (* x 0.5)))");
    assert_eq!(
        dsp.call("bar", &[DspValue::I64(5)]).expect("runs"),
        DspValue::I64(16)
    );
    define(
        &mut dsp,
        "(bind-func baz (lambda (x:i64) (+ (foo x) (dtoi64 (foo (i64tod x))))))",
    );
    assert_eq!(
        dsp.call("baz", &[DspValue::I64(5)]).expect("runs"),
        DspValue::I64(17)
    );
    assert_eq!(
        dsp.call("foo", &[DspValue::Double(5.0)]).expect("runs"),
        DspValue::Double(2.5)
    );
    assert_eq!(
        dsp.call("foo", &[DspValue::I64(5)]).expect("runs"),
        DspValue::I64(15)
    );
    // The i64 foo redefined takes its slot back: bar sees it at once.
    define(&mut dsp, "(bind-func foo (lambda (x:i64) (* x 4)))");
    assert_eq!(
        dsp.call("bar", &[DspValue::I64(5)]).expect("runs"),
        DspValue::I64(21)
    );
}

#[test]
fn old_code_lives_while_a_live_definition_holds_its_closures() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    let mut ctx = dsp.audio_ctx().expect("audio");
    define(
        &mut dsp,
        "(bind-func osc_c (lambda (step:float) (let ((p:float 0.0)) (lambda () (set! p (+ p step)) p))))
         (bind-func dsp:DSP (let ((o (osc_c 0.25))) (lambda (in time chan dat) (o))))",
    );
    swap(&mut dsp, &mut ctx);
    let e = dsp.entry("dsp").expect("entry");
    let base = dsp.live();
    // osc_c is replaced, but dsp holds an oscillator made by the old osc_c.
    define(
        &mut dsp,
        "(bind-func osc_c (lambda (step:float) (let ((p:float 0.0)) (lambda () (set! p (- p step)) p))))",
    );
    swap(&mut dsp, &mut ctx);
    assert_eq!(dsp.live().code_blocks, base.code_blocks + 1);
    let mut o = [0.0f32];
    ctx.run_sample(e, &[0.0], 0, &mut o)
        .expect("old oscillator still runs");
    ctx.run_sample(e, &[0.0], 1, &mut o)
        .expect("old oscillator still runs");
    assert_eq!(o[0], 0.5);
    // Re-evaluating dsp lets the old osc_c go.
    define(
        &mut dsp,
        "(bind-func dsp:DSP (let ((o (osc_c 0.25))) (lambda (in time chan dat) (o))))",
    );
    swap(&mut dsp, &mut ctx);
    assert_eq!(dsp.live(), base);
    ctx.run_sample(e, &[0.0], 2, &mut o)
        .expect("new oscillator runs");
    // the new osc_c's code (the old one would give 0.75), from the phase the old
    // oscillator had reached: the redefinition carried it over
    assert_eq!(o[0], 0.25);
}

#[test]
fn audio_faults_stop_the_call_and_are_described() {
    let (dsp, mut ctx) =
        setup("(bind-func bad:DSP (lambda (in time chan dat) (let ((p:float* null)) (pref p 3))))");
    let e = dsp.entry("bad").expect("entry");
    let mut o = [0.0f32];
    let f = ctx.run_sample(e, &[0.0], 0, &mut o).unwrap_err();
    let text = dsp.describe_fault(f);
    assert!(
        text.starts_with(
            "dsp faulted: out-of-range memory access: read of 4 bytes at 0xc, outside DSP memory (pref) at test.xtm:1:"
        ),
        "{text}"
    );
    assert!(text.ends_with("in closure bad"), "{text}");
}

#[test]
fn printf_on_the_audio_thread_goes_through_the_message_ring() {
    let (mut dsp, mut ctx) =
        setup("(bind-func talk:DSP (lambda (in time chan dat) (printf \"t=%lld\\n\" time) 0.0))");
    let e = dsp.entry("talk").expect("entry");
    let mut o = [0.0f32];
    ctx.run_sample(e, &[0.0], 7, &mut o).expect("runs");
    let mut text = String::new();
    dsp.drain_messages(|m| text.push_str(m));
    assert_eq!(text, "t=7\n");
}

#[test]
fn prepared_calls_run_on_the_audio_context() {
    let (mut dsp, mut ctx) = setup(
        "(bind-val level double 0.0)
         (bind-func set_level (lambda (x:double) (set! level x) void))
         (bind-func get_level (lambda () level))",
    );
    let c = dsp
        .prepare_call("set_level", &[DspValue::Double(0.75)])
        .expect("prepared");
    ctx.run_call(&c, 0).expect("runs");
    assert_eq!(
        dsp.call("get_level", &[]).expect("runs"),
        DspValue::Double(0.75)
    );
    let e = dsp
        .prepare_call("set_level", &[DspValue::I64(1)])
        .unwrap_err();
    assert_eq!(e.kind, DspErrorKind::Call);
    assert_eq!(
        e.message,
        "argument 1 of set_level must be a double, given I64(1)"
    );
    assert_eq!(dsp.live().closures, 2);
}

/// xtlang's `(now)` reads the sample the engine runs DSP code for: an event's sample,
/// the time of a sample or buffer call, the control thread's clock as set.
#[test]
fn now_reads_the_sample_of_the_event_or_buffer_that_runs() {
    let (mut dsp, mut ctx) = setup(
        "(bind-val seen i64 -1)
         (bind-func mark (lambda () (set! seen (now)) void))
         (bind-func seen_now (lambda () seen))
         (bind-func clock:DSP (lambda (in time chan dat) (set! seen (now)) 0.0))",
    );
    let c = dsp.prepare_call("mark", &[]).expect("prepared");
    ctx.run_call(&c, 12_345).expect("runs");
    assert_eq!(
        dsp.call("seen_now", &[]).expect("runs"),
        DspValue::I64(12_345)
    );
    let e = dsp.entry("clock").expect("entry");
    let mut o = [0.0f32];
    ctx.run_sample(e, &[0.0], 777, &mut o).expect("runs");
    assert_eq!(dsp.call("seen_now", &[]).expect("runs"), DspValue::I64(777));
    dsp.set_now(4_800);
    dsp.call("mark", &[]).expect("runs");
    assert_eq!(
        dsp.call("seen_now", &[]).expect("runs"),
        DspValue::I64(4_800)
    );
}

/// The strings of control-thread calls live as long as the call: 100,000 calls with a
/// string argument leave the DSP memory in use where it was (it used to grow by the
/// strings: r-string-args-leaked).
#[test]
fn string_arguments_live_for_the_call_and_do_not_leak() {
    let (mut dsp, _ctx) = setup(
        "(bind-func count_chars
           (lambda (s:i8*)
             (let ((n 0))
               (while (<> (pref s n) 0) (set! n (+ n 1)))
               n)))",
    );
    let text = "a string argument of forty-two characters";
    let arg = [DspValue::Str(text.into())];
    assert_eq!(
        dsp.call("count_chars", &arg).expect("runs"),
        DspValue::I64(text.len() as i64)
    );
    let before = dsp.memory_in_use();
    for _ in 0..100_000 {
        dsp.call("count_chars", &arg).expect("runs");
    }
    assert_eq!(dsp.memory_in_use(), before);
}

/// A timed call carries its strings inline and copies them into the audio zone when it
/// runs: they last until the end of that buffer, and the audio zone is empty after it.
#[test]
fn timed_calls_copy_their_strings_into_the_audio_zone() {
    let (mut dsp, mut ctx) =
        setup("(bind-func say (lambda (who:i8* n:i64) (printf \"%s %lld\\n\" who n) void))");
    let c = dsp
        .prepare_call("say", &[DspValue::Str("hello".into()), DspValue::I64(3)])
        .expect("prepared");
    for _ in 0..10_000 {
        ctx.run_call(&c, 0).expect("runs");
        assert!(ctx.audio_zone_used() > 0);
        ctx.end_buffer();
        assert_eq!(ctx.audio_zone_used(), 0);
        dsp.drain_messages(|m| assert_eq!(m, "hello 3\n"));
    }
    let long = "x".repeat(zonal_dsp::PREPARED_TEXT);
    let e = dsp
        .prepare_call("say", &[DspValue::Str(long), DspValue::I64(1)])
        .unwrap_err();
    assert_eq!(e.kind, DspErrorKind::Call);
    assert!(
        e.message
            .ends_with("the strings of a timed call hold 255 bytes at most"),
        "{}",
        e.message
    );
}

#[test]
fn deeply_nested_code_is_an_error_or_compiles_without_overflowing_the_stack() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    let nest = |n: usize| {
        format!(
            "(bind-func deep (lambda (x:i64) {}x{}))",
            "(+ 1 ".repeat(n),
            ")".repeat(n)
        )
    };
    define(&mut dsp, &nest(60));
    assert_eq!(
        dsp.call("deep", &[DspValue::I64(1)]).expect("runs"),
        DspValue::I64(61)
    );
    let f = parse(&nest(400), "deep.xtm").expect("parses").remove(0);
    let e = dsp.define(&f).unwrap_err();
    assert_eq!(e.kind, DspErrorKind::Syntax);
    assert_eq!(e.message, "expressions nest more than 64 deep here");
}

#[test]
fn double_per_sample_entries_are_converted_at_the_boundary() {
    let (dsp, mut ctx) = setup(
        "(bind-func half (lambda (in:double time:i64 chan:i64 dat:double*) (* 0.5 (+ in (pref dat 1)))))",
    );
    let e = dsp.entry("half").expect("a per-sample entry");
    let mut o = [0.0f32; 2];
    ctx.run_sample(e, &[1.0, 3.0], 0, &mut o).expect("runs");
    assert_eq!(o, [2.0, 3.0]);
}

#[test]
fn a_rebuilt_closure_gets_a_fresh_zone_and_the_old_one_is_freed() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    let src = "(bind-func keep 100000 (let ((buf:i64* (zalloc 1000))) (lambda (i:i64) (pset! buf i (+ 1 (pref buf i))))))";
    define(&mut dsp, src);
    let base = dsp.live();
    assert_eq!(
        dsp.call("keep", &[DspValue::I64(3)]).expect("runs"),
        DspValue::I64(1)
    );
    assert_eq!(
        dsp.call("keep", &[DspValue::I64(3)]).expect("runs"),
        DspValue::I64(2)
    );
    define(&mut dsp, src);
    // A new zone, zeroed: the count starts again; the old zone and code are gone.
    assert_eq!(
        dsp.call("keep", &[DspValue::I64(3)]).expect("runs"),
        DspValue::I64(1)
    );
    assert_eq!(dsp.live(), base);
}

#[test]
fn a_loop_that_would_run_off_the_arena_faults_before_it_starts() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    define(
        &mut dsp,
        "(bind-func off_end (lambda () (let ((p:i64* (zalloc 4)) (i 0)) (printf \"before\\n\") (dotimes (i 1000000000000) (pset! p i 1)) 0)))",
    );
    let e = dsp.call("off_end", &[]).unwrap_err();
    assert_eq!(e.kind, DspErrorKind::Fault);
    assert!(
        e.message.starts_with(
            "dsp faulted: out-of-bounds write of 8000000000000 bytes at offset 0 of an allocation of 32 bytes, allocated by zalloc at test.xtm:1:"
        ),
        "{}",
        e.message
    );
}

#[test]
fn runaway_loops_stop_when_interrupted() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    let flag = Arc::new(AtomicBool::new(false));
    dsp.set_interrupt(flag.clone());
    define(&mut dsp, "(bind-func spin (lambda () (while #t 1) 0))");
    let setter = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            flag.store(true, Ordering::Relaxed);
        })
    };
    let e = dsp.call("spin", &[]).unwrap_err();
    setter.join().expect("setter");
    assert_eq!(e.kind, DspErrorKind::Fault);
    assert!(
        e.message.starts_with(
            "dsp faulted: interrupted: it ran too long and was stopped (while) at test.xtm:1:"
        ),
        "{}",
        e.message
    );
    assert!(
        !flag.load(Ordering::Relaxed),
        "the flag is cleared once reported"
    );

    let mut ctx = dsp.audio_ctx().expect("audio");
    define(
        &mut dsp,
        "(bind-func hang:DSP (lambda (in time chan dat) (let ((i 0)) (dotimes (i 1000000000000) (set! in (+ in 1.0))) in)))",
    );
    swap(&mut dsp, &mut ctx);
    let entry = dsp.entry("hang").expect("entry");
    let handle = ctx.interrupt_handle();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        handle.store(true, Ordering::Relaxed);
    });
    let mut o = [0.0f32];
    let f = ctx.run_sample(entry, &[0.0], 0, &mut o).unwrap_err();
    setter.join().expect("setter");
    assert!(f.interrupted());
    assert!(dsp.describe_fault(f).contains("in closure hang"));
    assert!(!ctx.interrupt_handle().load(Ordering::Relaxed));
}

#[test]
fn the_audio_context_keeps_running_after_the_dsp_is_dropped() {
    let (dsp, mut ctx) = setup("(bind-func tone:DSP (lambda (in time chan dat) 0.25))");
    let e = dsp.entry("tone").expect("entry");
    drop(dsp);
    let mut o = [0.0f32];
    ctx.run_sample(e, &[0.0], 0, &mut o)
        .expect("the code is still alive");
    assert_eq!(o[0], 0.25);
}

/// `alias_sum` below, in plain Rust: `q = p + off` may overlap `p`.
fn alias_sum_model(n: usize, off: usize) -> f64 {
    let mut m: Vec<f64> = (0..n + off).map(|k| 0.5 * k as f64).collect();
    let mut s = 0.0;
    for i in 0..n {
        m[i] = m[i + off] + 1.0;
        m[i + off] = m[i] * 2.0;
        s = s + m[i] + m[i + off];
    }
    s
}

#[test]
fn loops_that_remember_element_values_see_stores_through_overlapping_pointers() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    define(
        &mut dsp,
        "(bind-func alias_sum
           (lambda (n:i64 off:i64)
             (let ((p:double* (zalloc (+ n off)))
                   (q:double* (pref-ptr p off))
                   (i:i64 0)
                   (s:double 0.0))
               (dotimes (i (+ n off)) (pset! p i (* 0.5 (i64tod i))))
               (dotimes (i n)
                 (pset! p i (+ (pref q i) 1.0))
                 (pset! q i (* (pref p i) 2.0))
                 (set! s (+ s (pref p i) (if (> i 3) (pref q i) (pref q i)))))
               s)))",
    );
    // Same pointer, partial overlap, disjoint, and longer than a fast loop may run.
    for (n, off) in [
        (64, 0),
        (64, 1),
        (64, 64),
        (64, 100),
        (70_000, 3),
        (70_000, 70_000),
    ] {
        let got = dsp
            .call("alias_sum", &[DspValue::I64(n), DspValue::I64(off)])
            .expect("runs");
        let want = alias_sum_model(n as usize, off as usize);
        assert_eq!(got, DspValue::Double(want), "n {n}, off {off}");
    }
}

#[test]
fn a_pointer_kept_past_the_audio_buffer_faults_on_read_and_write() {
    let (dsp, mut ctx) = setup(
        "(bind-val kept i64* 0)
         (bind-func keep:DSP
           (lambda (in time chan dat)
             (if (= time 0)
                 (let ((p:i64* (zalloc 2))) (pset! p 1 5) (set! kept p)))
             (if (< time 2) (i64tof (pref kept 1)) (begin (pset! kept 1 6) 0.0))))",
    );
    let e = dsp.entry("keep").expect("entry");
    let mut o = [0.0f32];
    ctx.run_sample(e, &[0.0], 0, &mut o).expect("same buffer");
    assert_eq!(o[0], 5.0);
    ctx.end_buffer();
    for (time, access) in [(1, "read"), (2, "write")] {
        let f = ctx.run_sample(e, &[0.0], time, &mut o).unwrap_err();
        let text = dsp.describe_fault(f);
        assert!(
            text.starts_with(&format!(
                "dsp faulted: {access} of 8 bytes at offset 8 of an allocation of 16 bytes that was freed"
            )),
            "{text}"
        );
        assert!(
            text.contains(", allocated by zalloc at test.xtm:5:32 in keep ("),
            "{text}"
        );
        assert!(text.ends_with("in closure keep"), "{text}");
        ctx.end_buffer();
    }
}

/// A counter and a buffer of the last values, as `dsp`: `(n)` starts at `start`.
fn counting(start: i64, len: i64, fresh: &str) -> String {
    format!(
        "(bind-func dsp:DSP {fresh}
           (let ((n {start}) (hist:float* (zalloc {len})))
             (lambda (in time chan dat)
               (set! n (+ n 1))
               (pset! hist (% n {len}) (i64tof n))
               (+ (i64tof n) (* 0.001 (pref hist 0))))))"
    )
}

#[test]
fn a_redefinition_carries_counters_and_buffers_over_at_the_swap_unless_fresh() {
    let (mut dsp, mut ctx) = setup(&counting(0, 4, ""));
    let e = dsp.entry("dsp").expect("entry");
    let mut o = [0.0f32];
    for t in 0..8 {
        ctx.run_sample(e, &[0.0], t, &mut o).expect("runs");
    }
    assert_eq!(o[0], 8.0 + 0.008);
    // compiled now, applied at the swap: the samples run in between are carried too
    define(&mut dsp, &counting(0, 4, ""));
    ctx.run_sample(e, &[0.0], 8, &mut o).expect("runs");
    swap(&mut dsp, &mut ctx);
    ctx.run_sample(e, &[0.0], 9, &mut o).expect("runs");
    assert_eq!(o[0], 10.0 + 0.008);
    // a changed starting value is the new one's; a resized buffer keeps its first bytes
    // and the counter beside it starts again
    let resized = parse(&counting(100, 8, ""), "test.xtm").expect("parses");
    let defined = dsp.define(&resized[0]).expect("defines");
    assert_eq!(
        defined.warnings,
        vec![
            "dsp.hist changed size from 16 to 32 bytes: its first 16 bytes carried over, the numbers beside it start afresh"
        ]
    );
    swap(&mut dsp, &mut ctx);
    ctx.run_sample(e, &[0.0], 10, &mut o).expect("runs");
    assert_eq!(o[0], 101.0 + 0.008);
    define(&mut dsp, &counting(100, 8, ":fresh"));
    swap(&mut dsp, &mut ctx);
    ctx.run_sample(e, &[0.0], 11, &mut o).expect("runs");
    assert_eq!(o[0], 101.0);
}

#[test]
fn a_buffer_of_pointers_is_not_carried_so_no_pointer_leads_into_a_freed_zone() {
    let src = "(bind-func dsp:DSP
       (let ((a:float* (zalloc 4)) (ptrs:float** (zalloc 1)))
         (pset! ptrs 0 a)
         (lambda (in time chan dat)
           (let ((p (pref ptrs 0)))
             (pset! p 0 (+ (pref p 0) 1.0))
             (pref p 0)))))";
    let (mut dsp, mut ctx) = setup(src);
    let e = dsp.entry("dsp").expect("entry");
    let base = dsp.live();
    let mut o = [0.0f32];
    for t in 0..3 {
        ctx.run_sample(e, &[0.0], t, &mut o).expect("runs");
    }
    // twice, so the first closure and its zone are freed
    for t in [3, 4] {
        define(&mut dsp, src);
        swap(&mut dsp, &mut ctx);
        ctx.run_sample(e, &[0.0], t, &mut o)
            .expect("reads its own buffer");
    }
    // `a` is reached only through `ptrs` (not captured): nothing of it is carried
    assert_eq!(o[0], 1.0);
    assert_eq!(dsp.live(), base);
}
