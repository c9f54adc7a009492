//! Frame loops: a second function compiled for a lambda of a per-sample DSP closure's type
//! (`[float,float,i64,i64,float*]*` or its double twin), which the audio context calls once
//! for a stretch of frames instead of once for every frame and channel. Extempore's
//! `dsp` is written this way, so what each call costs besides its body (the call itself,
//! saving registers, checking the environment and the call depth) was paid 96,000 times a
//! second of stereo.
//!
//! The entry `(ctx, env, input, output, frames, channels, time, frame)` runs, for each
//! frame `f` and channel `c`, what one call of the lambda with `(input[f·channels + c],
//! time + f, c, frame)` does, and writes its result to `output[f·channels + c]`: before a
//! frame's calls it copies the frame's input samples to the DSP-visible `frame` (as
//! doubles for the double type), and before each call it sets `(now)`, polls the interrupt
//! flag (a lambda that calls something) and binds the captured variables; after it, it
//! releases what the call took with `salloc`. The environment is checked, and the call
//! depth counted, once for the stretch. A fault ends the stretch, as it ends the call:
//! `(now)` is the time of the call that faulted. The calls are one loop, frame by frame
//! and channel by channel, so that what the body computes from the captured values alone
//! leaves the loop (see [`FnCx::stretch`]).
//!
//! A lambda that calls nothing and sets no closure's variable (`(clo.var value)`, which
//! could be its own) reads its captured values once for the stretch: nothing else runs
//! while it does, so nothing can change them. Its pointers are then the same
//! values in every call, and in a lambda that frees nothing the shadow reads of their
//! checks are pure (see [`FnCx::shadow_word`]), so they are made once, before the loop;
//! each call only compares.

use super::checks::any_in;
use super::{FnCx, Lowering, internal};
use crate::error::Result;
use crate::infer::{Ref, Typed};
use crate::interop::EntryKind;
use crate::runtime::abi::CTX_NOW;
use crate::syntax::{Expr, ExprKind, Lambda};
use crate::types::Type;
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{AbiParam, Block, InstBuilder, MemFlagsData, Signature, Value, types};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::{FunctionBuilder, Variable};

/// The most input samples of a frame the DSP-visible frame holds (as the audio context's
/// I/O block).
const FRAME_SAMPLES: i64 = crate::interop::IO_SAMPLES as i64;

/// The signature of a frame loop: `(ctx, env, input, output, frames, channels, time,
/// frame)`, all 64-bit words.
pub fn frames_signature(cc: CallConv) -> Signature {
    let mut sig = Signature::new(cc);
    for _ in 0..8 {
        sig.params.push(AbiParam::new(types::I64));
    }
    sig
}

/// Whether a lambda of type `t` gets a frame loop: `Some(double)` for the per-sample DSP
/// types (float or double samples).
pub fn frame_loop_of(t: &Type) -> Option<bool> {
    match EntryKind::of(t)? {
        EntryKind::Sample => Some(false),
        EntryKind::SampleDouble => Some(true),
        EntryKind::Buffer | EntryKind::Mixer => None,
    }
}

impl<'a, 'b> FnCx<'a, 'b> {
    /// Lowers the frame loop of `lam`, whose type [`frame_loop_of`] accepts (`double`: its
    /// samples are doubles), into the function the builder holds.
    pub fn lower_frames(
        b: FunctionBuilder<'b>,
        lam: &'a Lambda,
        lowering: Lowering<'a>,
        double: bool,
    ) -> Result<()> {
        let typed = lowering.typed;
        let (mut cx, p) = FnCx::open(b, lowering, None);
        let [ctx, env, input, output, frames, channels, time, frame] = p[..] else {
            return Err(internal("frame loop parameters"));
        };
        cx.shadow_fixed = !cx.may_free(&lam.body);
        let (site, leaf) = cx.enter(lam);
        let env_at = cx.enter_env(lam, env, site);
        // (a `clo.var` set may write this closure's own environment; one in a closure the
        // body makes runs only when called, and a body that calls is not a leaf)
        let once = leaf
            && !any_in(
                &lam.body,
                &|e| matches!(&e.kind, ExprKind::EnvVar(v) if v.value.is_some()),
            );
        if once {
            cx.bind_captures(lam, env_at, site)?;
        }
        let trusted = MemFlagsData::trusted();
        let width = if double { 8 } else { 4 };
        let frame_at = cx.strip(frame);
        let put = {
            let most = cx.b.ins().iconst(types::I64, FRAME_SAMPLES);
            cx.b.ins().umin(channels, most)
        };
        // One loop over the stretch's calls, frame by frame and channel by channel, not a
        // loop of channels in a loop of frames: Cranelift hoists an operation on a constant
        // at most one loop out (as it does the constant), so in nested loops the body's
        // checks of captured pointers were made again for every frame.
        let stretch = cx.stretch(frames, channels, time);
        let (k, c, t) = (stretch.sample, stretch.channel, stretch.time);
        // The frame's input samples, to the DSP-visible frame before its first call, unless
        // the body calls nothing and cannot reach it (a function it calls might read the
        // frame through a pointer an earlier call kept).
        let pvars = typed.params.get(&lam.index).map_or(&[][..], Vec::as_slice);
        if !leaf || pvars.get(3).is_none_or(|&v| reaches(typed, &lam.body, v)) {
            let (copy, call) = (cx.b.create_block(), cx.b.create_block());
            let first = cx.b.ins().icmp_imm_s(IntCC::Equal, c, 0);
            cx.b.ins().brif(first, copy, &[], call, &[]);
            cx.b.seal_block(copy);
            cx.b.switch_to_block(copy);
            let put_loop = cx.count_up(put);
            let i = put_loop.i;
            let at = cx.b.ins().iadd(k, i);
            let (x, _) = cx.input_sample(input, at, double);
            let to = cx.b.ins().imul_imm_s(i, width);
            let to = cx.b.ins().iadd(frame_at, to);
            cx.b.ins().store(trusted, x, to, 0);
            cx.count_next(put_loop);
            cx.b.ins().jump(call, &[]);
            cx.b.seal_block(call);
            cx.b.switch_to_block(call);
        }
        cx.b.ins().store(trusted, t, ctx, CTX_NOW);
        if !leaf {
            cx.poll_interrupt(site);
        }
        if !once {
            cx.bind_captures(lam, env_at, site)?;
        }
        let (x, at) = cx.input_sample(input, k, double);
        let saved = cx.scope();
        cx.bind_params(lam, &[x, t, c, frame], site)?;
        let y = cx
            .body(&lam.body)?
            .ok_or_else(|| internal("a sample lambda ended in void"))?;
        cx.unscope(saved);
        cx.release_salloc();
        let y = if double {
            cx.b.ins().fdemote(types::F32, y)
        } else {
            y
        };
        let to = cx.b.ins().iadd(output, at);
        cx.b.ins().store(trusted, y, to, 0);
        cx.stretch_next(stretch, channels);
        cx.restore_depth();
        cx.finish_void();
        Ok(())
    }

    /// Sample `k` of the float buffer `input` (as a double when `double`), and its byte
    /// offset.
    fn input_sample(&mut self, input: Value, k: Value, double: bool) -> (Value, Value) {
        let at = self.b.ins().imul_imm_s(k, 4);
        let from = self.b.ins().iadd(input, at);
        // (nothing writes the input while the loop runs: a sample no call reads is not
        // loaded)
        let pure = MemFlagsData::trusted().with_readonly().with_can_move();
        let x = self.b.ins().load(types::F32, pure, from, 0);
        let x = if double {
            self.b.ins().fpromote(types::F64, x)
        } else {
            x
        };
        (x, at)
    }

    /// Opens a loop whose counter runs from 0 while it is below `n`; the builder is then
    /// in its body.
    fn count_up(&mut self, n: Value) -> Counted {
        let var = self.zeroed_var(types::I64);
        let ([i], top, exit) = self.open_loop([var], n);
        Counted { i, var, top, exit }
    }

    /// Ends the body of the loop `l` opened: the builder is then after the loop.
    fn count_next(&mut self, l: Counted) {
        let i1 = self.b.ins().iadd_imm_s(l.i, 1);
        self.b.def_var(l.var, i1);
        self.close_loop(l.top, l.exit);
    }

    /// Opens the loop over a stretch's calls: frame 0 channel 0, frame 0 channel 1, ...,
    /// `frames × channels` of them; the builder is then in its body, where the loop's
    /// sample index, channel and time are the call's.
    fn stretch(&mut self, frames: Value, channels: Value, time: Value) -> Stretch {
        let k_var = self.zeroed_var(types::I64);
        let c_var = self.zeroed_var(types::I64);
        let t_var = self.b.declare_var(types::I64);
        self.b.def_var(t_var, time);
        let n = self.b.ins().imul(frames, channels);
        let ([sample, channel, time], top, exit) = self.open_loop([k_var, c_var, t_var], n);
        Stretch {
            sample,
            channel,
            time,
            vars: [k_var, c_var, t_var],
            top,
            exit,
        }
    }

    /// Ends the body of the loop [`FnCx::stretch`] opened: the next sample, and the next
    /// channel or the next frame's first (then the time moves on); the builder is then
    /// after the loop.
    fn stretch_next(&mut self, s: Stretch, channels: Value) {
        let [k_var, c_var, t_var] = s.vars;
        let k1 = self.b.ins().iadd_imm_s(s.sample, 1);
        let c1 = self.b.ins().iadd_imm_s(s.channel, 1);
        self.b.def_var(k_var, k1);
        self.b.def_var(c_var, c1);
        let wrap = self.b.ins().icmp(IntCC::Equal, c1, channels);
        let next_frame = self.b.create_block();
        self.b.ins().brif(wrap, next_frame, &[], s.top, &[]);
        self.b.seal_block(next_frame);
        self.b.switch_to_block(next_frame);
        let zero = self.b.ins().iconst(types::I64, 0);
        let t1 = self.b.ins().iadd_imm_s(s.time, 1);
        self.b.def_var(c_var, zero);
        self.b.def_var(t_var, t1);
        self.close_loop(s.top, s.exit);
    }

    /// Opens a loop that runs while the first of `vars` is below `bound`: the builder is
    /// then in its body, and the variables' values there, the loop's top and the block
    /// after it are returned.
    fn open_loop<const N: usize>(
        &mut self,
        vars: [Variable; N],
        bound: Value,
    ) -> ([Value; N], Block, Block) {
        let (top, body, exit) = (
            self.b.create_block(),
            self.b.create_block(),
            self.b.create_block(),
        );
        self.b.ins().jump(top, &[]);
        self.b.switch_to_block(top);
        let values = vars.map(|v| self.b.use_var(v));
        // The exit named first: Cranelift 0.135 hoists nothing out of a loop whose exit it
        // visits before the body (see `FnCx::shadow_word`). With it, the shadow reads of
        // the checks of captured pointers leave the loop: 437 M instructions against 443 M
        // for 10 s of `w1_rotation.xtm` (callgrind).
        let done = self
            .b
            .ins()
            .icmp(IntCC::SignedGreaterThanOrEqual, values[0], bound);
        self.b.ins().brif(done, exit, &[], body, &[]);
        self.b.seal_block(body);
        self.b.seal_block(exit);
        self.b.switch_to_block(body);
        (values, top, exit)
    }

    /// Closes a loop [`FnCx::open_loop`] opened, whose variables the body has set for the
    /// next round: the builder is then after it.
    fn close_loop(&mut self, top: Block, exit: Block) {
        self.b.ins().jump(top, &[]);
        self.b.seal_block(top);
        self.b.switch_to_block(exit);
    }
}

/// Whether `body` may reach local variable `v`: it names it, or it makes a closure (which
/// may capture it).
fn reaches(typed: &Typed, body: &[Expr], v: usize) -> bool {
    fn walk(typed: &Typed, e: &Expr, v: usize) -> bool {
        matches!(e.kind, ExprKind::Lambda(_))
            || typed.refs.get(&e.id) == Some(&Ref::Local(v))
            || e.children().into_iter().any(|c| walk(typed, c, v))
    }
    body.iter().any(|e| walk(typed, e, v))
}

/// A loop [`FnCx::count_up`] opened: its counter (in the body), the counter's variable,
/// its top and the block after it.
struct Counted {
    i: Value,
    var: Variable,
    top: Block,
    exit: Block,
}

/// The loop [`FnCx::stretch`] opened: the sample index, channel and time of the call (in
/// the body), their variables, its top and the block after it.
struct Stretch {
    sample: Value,
    channel: Value,
    time: Value,
    vars: [Variable; 3],
    top: Block,
    exit: Block,
}
