//! Rendering on the calling thread, a stretch at a time, with the session usable in
//! between: the backend of `zonal test`'s `render-for` and of Rust tests that script a
//! session ([`OfflineSession`]).
//!
//! Each buffer is rendered as the offline renderer does it: first the session's
//! returned garbage and messages are handled and the callbacks due before the buffer's
//! end run (their timed events land on their exact sample), then the process function
//! renders the buffer. So a stretch rendered here is the same audio `zonal render`
//! gives, and the clock continues from one stretch to the next.

use std::sync::atomic::Ordering;
use std::time::Instant;

use zonal_scheme::{Error, Interp};

use crate::audio::Processor;
use crate::session::{Session, SessionConfig, SessionHandle};

/// What one stretch gave besides its samples.
#[derive(Clone, Debug, Default)]
pub struct Stretch {
    /// For each buffer, the share of its duration the process function took.
    pub deadline_shares: Vec<f64>,
    /// Output samples that were NaN or infinite (the output guard made them 0).
    pub non_finite: u64,
}

/// Renders `out.len() / channels` frames of `session`'s output through `processor`,
/// `buffer` frames at a time, from inside an evaluation (`interp` is the session's).
pub(crate) fn render_inline(
    interp: &mut Interp,
    session: &SessionHandle,
    processor: &mut Processor,
    buffer: usize,
    sample_rate: u32,
    out: &mut [f32],
) -> Stretch {
    let channels = processor.channels();
    let buffer = buffer.clamp(1, crate::audio::MAX_FRAMES);
    let total = out.len() / channels;
    let stats = session.stats();
    let non_finite_before = stats.non_finite.load(Ordering::Relaxed);
    let start = stats.clock.load(Ordering::Acquire);
    let mut shares = Vec::with_capacity(total / buffer + 1);
    session.flush();
    let mut done = 0;
    while done < total {
        session.poll();
        let n = buffer.min(total - done);
        session.run_callbacks_before(interp, start + (done + n) as i64);
        let began = Instant::now();
        processor.process(&mut out[done * channels..(done + n) * channels]);
        shares.push(began.elapsed().as_secs_f64() * f64::from(sample_rate) / n as f64);
        done += n;
    }
    session.poll();
    Stretch {
        deadline_shares: shares,
        non_finite: stats.non_finite.load(Ordering::Relaxed) - non_finite_before,
    }
}

/// A session rendered offline a stretch at a time, on the calling thread, for tests
/// that script a performance: evaluate, render, look at the session, evaluate more.
///
/// ```
/// use zonal_engine::offline::OfflineSession;
/// let mut s = OfflineSession::new(&Default::default()).unwrap();
/// s.eval("(bind-func dsp:DSP (lambda (in time chan dat) 0.25)) (dsp:set! dsp)").unwrap();
/// let (samples, _) = s.render(0.01);
/// assert_eq!(samples.len(), 480 * 2);
/// assert!(samples.iter().all(|&v| v == 0.25));
/// ```
pub struct OfflineSession {
    session: Session,
    processor: Processor,
    buffer: usize,
    sample_rate: u32,
}

impl OfflineSession {
    /// A fresh session rendering 64-frame buffers.
    pub fn new(cfg: &SessionConfig) -> Result<OfflineSession, zonal_dsp::DspError> {
        let (session, processor) = Session::offline(cfg)?;
        Ok(OfflineSession {
            session,
            processor,
            buffer: 64,
            sample_rate: cfg.sample_rate,
        })
    }

    /// Evaluates source text as one evaluation ([`Session::eval_source`]).
    pub fn eval(&mut self, src: &str) -> Result<String, Error> {
        self.session.eval_source(src, "offline")
    }

    /// Renders the next `seconds` of output: interleaved samples, and what the
    /// stretch measured.
    pub fn render(&mut self, seconds: f64) -> (Vec<f32>, Stretch) {
        let frames = (seconds.max(0.0) * f64::from(self.sample_rate)).round() as usize;
        let mut out = vec![0.0; frames * self.processor.channels()];
        let handle = self.session.handle();
        let stretch = render_inline(
            self.session.interp_mut(),
            &handle,
            &mut self.processor,
            self.buffer,
            self.sample_rate,
            &mut out,
        );
        (out, stretch)
    }

    /// The session, to look at between stretches (its statistics, live DSP objects,
    /// the interpreter's heap).
    pub fn session(&mut self) -> &mut Session {
        &mut self.session
    }
}
