//! The audio path allocates nothing: DSP entries per sample and per buffer (one with its
//! sines gathered for the wide kernels, one calling 64 closures through their batch
//! entry), swaps, prepared calls, printf into the ring and the end-of-buffer reset all run under
//! `assert_no_alloc`; any allocation through the global allocator aborts this test binary.

use assert_no_alloc::{AllocDisabler, assert_no_alloc};
use zonal_dsp::{Dsp, DspConfig, DspValue, parse};

#[global_allocator]
static A: AllocDisabler = AllocDisabler;

#[test]
fn the_audio_path_allocates_nothing() {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    let mut ctx = dsp.audio_ctx().expect("an audio context");
    let src = "(bind-func osc_c (lambda (step:double) (let ((p 0.0)) (lambda () (set! p (+ p step)) (sin p)))))
               (bind-func dsp:DSP 100000
                 (let ((o (osc_c 0.01)) (buf:float* (zalloc 1000)) (pos 0) (y:float 0.0))
                   (lambda (in time chan dat)
                     (let ((tmp:double* (zalloc 4)) (t:<i64,double>* (salloc)))
                       (tset! t 1 (o))
                       (memzone 1024 (pset! (zalloc 8) 0 (tref t 1)))
                       (set! y (+ y (* 0.1 (- (dtof (tref t 1)) y))))
                       (pset! buf pos (+ y (* 0.5 (pref buf pos))))
                       (set! pos (% (+ pos 1) 1000))
                       (if (= time 100) (printf \"at %lld\\n\" time))
                       (pref buf pos)))))
               (bind-func mc:DSPMC (lambda (in out time dat) (let ((i 0)) (dotimes (i (* FRAMES CHANNELS)) (pset! out i (pref in i))) void)))
               (bind-func sines:DSP 4096
                 (let ((ph:double* (zalloc 64)) (k 0) (s 0.0))
                   (lambda (in time chan dat)
                     (set! s 0.0)
                     (dotimes (k 64)
                       (set! s (+ s (+ (sin (pref ph k)) (cos (* 2.0 (pref ph k))))))
                       (pset! ph k (+ (pref ph k) 0.01)))
                     (dtof (* 0.01 s)))))
               (bind-func bosc (lambda (f:double) (let ((p 0.0)) (lambda (amp:double) (set! p (+ p f)) (* amp (sin p))))))
               (bind-func bank:DSP 8192
                 (let ((oscs:[double,double]** (zalloc 64)) (k 0) (s 0.0))
                   (dotimes (k 64) (pset! oscs k (bosc (* 0.001 (i64tod (+ k 1))))))
                   (lambda (in time chan dat)
                     (set! s 0.0)
                     (dotimes (k 64) (set! s (+ s ((pref oscs k) 0.01))))
                     (dtof s))))
               (bind-func poke (lambda (x:i64) (let ((p:i64* (halloc 4))) (pset! p 0 x) (free p)) void))";
    for f in parse(src, "t.xtm").expect("parses") {
        dsp.define(&f).expect("defines");
    }
    let mut batch = dsp.take_swap().expect("a batch");
    let e = dsp.entry("dsp").expect("entry");
    let mc = dsp.entry("mc").expect("entry");
    // Its sines gathered for the wide kernels where the CPU has them.
    let sines = dsp.entry("sines").expect("entry");
    // Its closures called 64 at a time through their batch entry.
    let bank = dsp.entry("bank").expect("entry");
    let call = dsp
        .prepare_call("poke", &[DspValue::I64(3)])
        .expect("prepared");
    let input = [0.1f32; 256];
    let mut out = [0.0f32; 256];
    let ok = assert_no_alloc(|| {
        ctx.apply(&mut batch);
        let mut ok = true;
        for b in 0..8 {
            let t = b * 128;
            ok &= ctx.run_buffer(e, &input, &mut out, 128, 2, t).is_ok();
            ok &= ctx.run_buffer(mc, &input, &mut out, 128, 2, t).is_ok();
            ok &= ctx.run_buffer(sines, &input, &mut out, 128, 2, t).is_ok();
            ok &= ctx.run_buffer(bank, &input, &mut out, 128, 2, t).is_ok();
            let mut frame = [0.0f32; 2];
            ok &= ctx.run_sample(e, &input[..2], t, &mut frame).is_ok();
            ok &= ctx.run_call(&call, t).is_ok();
            ctx.end_buffer();
        }
        ok
    });
    dsp.retire(batch);
    assert!(ok, "no call faulted");
    let mut text = String::new();
    dsp.drain_messages(|m| text.push_str(m));
    assert!(text.contains("at 100\n"), "{text}");
}
