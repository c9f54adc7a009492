//! Helpers shared by the DSP compiler's integration tests: defining source text in a
//! fresh `Dsp`, handing its closures to an audio context, calling its functions and
//! reading the machine code it compiled. Each test binary uses some of them.

#![allow(dead_code)]

use zonal_dsp::{AudioCtx, Dsp, DspConfig, DspValue, parse};

/// Defines every form of `src` in `dsp`; a definition that fails fails the test with its
/// message.
pub fn define(dsp: &mut Dsp, src: &str) {
    for f in parse(src, "test.xtm").expect("parses") {
        if let Err(e) = dsp.define(&f) {
            panic!("{e}");
        }
    }
}

/// A `Dsp` with `src` defined.
pub fn dsp(src: &str) -> Dsp {
    let mut d = Dsp::new(DspConfig::default()).expect("a Dsp");
    define(&mut d, src);
    d
}

/// Hands what `dsp` defined since the last swap to `ctx`, as the engine does between
/// buffers.
pub fn swap(dsp: &mut Dsp, ctx: &mut AudioCtx) {
    if let Some(mut b) = dsp.take_swap() {
        ctx.apply(&mut b);
        dsp.retire(b);
    }
}

/// A `Dsp` with `src` defined and an audio context that has its closures; with
/// `machine_code`, the `Dsp` keeps the machine code it compiles (see
/// [`Dsp::machine_code`]).
pub fn setup_with(src: &str, machine_code: bool) -> (Dsp, AudioCtx) {
    let mut d = Dsp::new(DspConfig::default()).expect("a Dsp");
    if machine_code {
        d.keep_machine_code();
    }
    let mut ctx = d.audio_ctx().expect("an audio context");
    define(&mut d, src);
    swap(&mut d, &mut ctx);
    (d, ctx)
}

/// [`setup_with`] without the machine code.
pub fn setup(src: &str) -> (Dsp, AudioCtx) {
    setup_with(src, false)
}

/// The machine code of `name` (compiled now if it was not yet) and of everything
/// compiled with it, from `src`.
pub fn listing(src: &str, name: &str) -> String {
    let mut d = Dsp::new(DspConfig::default()).expect("a Dsp");
    d.keep_machine_code();
    define(&mut d, src);
    d.compile(name).expect("compiles");
    d.machine_code().to_string()
}

/// `name` called from the control thread with `args`; an error fails the test.
pub fn call(dsp: &mut Dsp, name: &str, args: &[DspValue]) -> DspValue {
    dsp.call(name, args)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}
