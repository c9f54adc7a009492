//! Redefinition without a click: when a swap replaces the DSP entry's closure, the old
//! one keeps playing beside the new one for a fade time and their outputs are mixed,
//! equal-power, sample by sample; a swap may also wait for a given sample (a beat of
//! `*metro*`, see `dsp:swap-on-beat` in `metro.scm`).
//!
//! Control side: [`SwapSettings`], the default fade and the next swap's own fade, time and
//! fresh start, set from Scheme (`dsp:fade-time`, `dsp:fade-next`, `dsp:swap-at`,
//! `dsp:fresh-next`) and stamped on each batch as a [`SwapTiming`] when it is sent.
//!
//! Audio side: [`Fader`] holds the outgoing closures ([`Outgoing`]) still sounding, oldest
//! first, at most [`MAX_VOICES`] (a swap beyond that is hard). A swap during a fade starts another voice: each voice
//! fades from what sounded before it into the voice after it (the last into the entry),
//! so the mix stays continuous however often the entry is redefined. A voice whose fade is
//! over goes back to the control thread (`Returned::FadeOver`), which lets its generation
//! be freed. The fade runs the old closure as well as the new one, so it costs a second
//! entry's CPU for its duration; it allocates nothing (two scratch buffers are made with
//! the processor). [`TimedSwaps`] holds swaps (and the entry sent after each) until their
//! samples, in order, where the processor splits the buffer as it does for events.

use std::cell::RefCell;
use std::f32::consts::FRAC_PI_2;
use std::rc::Rc;

use zonal_dsp::{AudioCtx, Entry, Outgoing, SwapBatch};
use zonal_scheme::{Error, ErrorKind, Interp, Value};

use crate::audio::{MAX_CHANNELS, MAX_FRAMES};

/// The fade of a session that was not told otherwise, in milliseconds.
pub const DEFAULT_FADE_MS: f64 = 30.0;
/// Outgoing closures sounding at once at most; a swap beyond that stops the closure it
/// replaces at once.
pub const MAX_VOICES: usize = 4;
/// The longest fade, in milliseconds.
const MAX_FADE_MS: f64 = 60_000.0;

/// How the old output gives way to the new during a fade.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Curve {
    /// cos and sin: the level stays even when old and new are unrelated (the default).
    #[default]
    EqualPower,
    /// 1 - x and x: the level stays even when old and new are alike (a tweak of a closure
    /// whose state was carried over), where equal power would swell by up to 3 dB.
    Linear,
}

/// When and how a swap batch takes effect on the audio side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwapTiming {
    /// The sample it takes effect at (`None`: the start of the next buffer).
    pub at: Option<i64>,
    /// Samples the outgoing entry keeps sounding, fading out (0: a hard swap).
    pub fade: u32,
    /// The closures installed start from their own `let`, carrying no state over.
    pub fresh: bool,
    pub curve: Curve,
}

/// The control side's fade settings.
#[derive(Clone, Debug)]
pub struct SwapSettings {
    sample_rate: u32,
    fade_ms: f64,
    next_fade_ms: Option<f64>,
    next_at: Option<i64>,
    next_fresh: bool,
    curve: Curve,
}

impl SwapSettings {
    pub fn new(sample_rate: u32) -> SwapSettings {
        SwapSettings {
            sample_rate,
            fade_ms: DEFAULT_FADE_MS,
            next_fade_ms: None,
            next_at: None,
            next_fresh: false,
            curve: Curve::EqualPower,
        }
    }

    /// The timing of the batch being sent; the next swap's own settings are used up.
    pub fn take(&mut self) -> SwapTiming {
        let ms = self.next_fade_ms.take().unwrap_or(self.fade_ms);
        SwapTiming {
            at: self.next_at.take(),
            fade: (ms * f64::from(self.sample_rate) / 1000.0).round() as u32,
            fresh: std::mem::take(&mut self.next_fresh),
            curve: self.curve,
        }
    }
}

/// A fade time in milliseconds from Scheme.
fn fade_ms(interp: &Interp, who: &str, v: Value) -> Result<f64, Error> {
    match interp.as_f64(v) {
        Some(ms) if (0.0..=MAX_FADE_MS).contains(&ms) => Ok(ms),
        _ => Err(Error::new(
            ErrorKind::Type,
            format!(
                "{who} takes a fade time in milliseconds, from 0 (a hard swap) to {MAX_FADE_MS}"
            ),
        )
        .with_irritants(vec![interp.write_string(v)])),
    }
}

/// Registers `dsp:fade-time`, `dsp:fade-next`, `dsp:fade-curve`, `dsp:swap-at` and
/// `dsp:fresh-next`.
pub fn register(interp: &mut Interp, settings: &Rc<RefCell<SwapSettings>>) {
    let s = settings.clone();
    interp.register_native("dsp:fade-curve", move |interp, args| {
        let curve = match args {
            [] => Some(s.borrow().curve),
            [v] => match interp.as_symbol(*v).as_deref() {
                Some("equal-power") => Some(Curve::EqualPower),
                Some("linear") => Some(Curve::Linear),
                _ => None,
            },
            _ => None,
        };
        let Some(curve) = curve else {
            return Err(Error::new(
                ErrorKind::Type,
                "dsp:fade-curve takes 'equal-power (the default) or 'linear",
            )
            .with_irritants(args.iter().map(|v| interp.write_string(*v)).collect()));
        };
        s.borrow_mut().curve = curve;
        Ok(interp.symbol(match curve {
            Curve::EqualPower => "equal-power",
            Curve::Linear => "linear",
        }))
    });
    let s = settings.clone();
    interp.register_native("dsp:fresh-next", move |interp, args| {
        if !args.is_empty() {
            return Err(Error::new(
                ErrorKind::Arity,
                "dsp:fresh-next takes no argument: the closures of the next swap start from their own let",
            ));
        }
        s.borrow_mut().next_fresh = true;
        Ok(interp.unspecified())
    });
    let s = settings.clone();
    interp.register_native("dsp:fade-time", move |interp, args| match args {
        [] => Ok(interp.float(s.borrow().fade_ms)),
        [v] => {
            let ms = fade_ms(interp, "dsp:fade-time", *v)?;
            s.borrow_mut().fade_ms = ms;
            Ok(interp.float(ms))
        }
        _ => Err(Error::new(
            ErrorKind::Arity,
            "dsp:fade-time takes no argument (to read it) or the fade of every swap in ms, as in (dsp:fade-time 30)",
        )),
    });
    let s = settings.clone();
    interp.register_native("dsp:fade-next", move |interp, args| match args {
        [v] => {
            let ms = fade_ms(interp, "dsp:fade-next", *v)?;
            s.borrow_mut().next_fade_ms = Some(ms);
            Ok(interp.float(ms))
        }
        _ => Err(Error::new(
            ErrorKind::Arity,
            "dsp:fade-next takes the fade of the next swap only in ms, as in (dsp:fade-next 2000)",
        )),
    });
    let s = settings.clone();
    interp.register_native("dsp:swap-at", move |interp, args| {
        let time = match args {
            [v] => match (interp.as_int(*v), interp.as_f64(*v)) {
                (Some(t), _) => Some(t),
                (None, Some(t)) if t.is_finite() => Some(t.round() as i64),
                _ => None,
            },
            _ => None,
        };
        let Some(time) = time else {
            return Err(Error::new(
                ErrorKind::Type,
                "dsp:swap-at takes the sample time the next swap takes effect at, as in (dsp:swap-at (*metro* (*metro* 'get-beat 4)))",
            )
            .with_irritants(args.iter().map(|v| interp.write_string(*v)).collect()));
        };
        s.borrow_mut().next_at = Some(time);
        Ok(interp.int(time))
    });
}

/// An outgoing closure fading out.
#[derive(Clone, Copy, Debug)]
struct Voice {
    out: Outgoing,
    /// The entry it was, run as.
    entry: Entry,
    /// Samples of its fade done, and in all.
    pos: u64,
    len: u64,
    /// It faulted: it is dropped at the end of this segment.
    faulted: bool,
    curve: Curve,
}

/// The outgoing closures still sounding, and the buffers to mix them.
pub struct Fader {
    /// Oldest first; `count` of them are `Some`.
    voices: [Option<Voice>; MAX_VOICES],
    count: usize,
    /// Voices whose fade is over, to give back.
    finished: [Option<Outgoing>; MAX_VOICES + 1],
    acc: Box<[f32]>,
    next: Box<[f32]>,
}

impl Default for Fader {
    fn default() -> Self {
        Fader {
            voices: [None; MAX_VOICES],
            count: 0,
            finished: [None; MAX_VOICES + 1],
            acc: vec![0.0; MAX_FRAMES * MAX_CHANNELS].into_boxed_slice(),
            next: vec![0.0; MAX_FRAMES * MAX_CHANNELS].into_boxed_slice(),
        }
    }
}

/// (old, new) gains at `x` in 0..=1 of a fade.
fn gains(x: f32, curve: Curve) -> (f32, f32) {
    let x = x.clamp(0.0, 1.0);
    match curve {
        Curve::EqualPower => {
            let a = x * FRAC_PI_2;
            (a.cos(), a.sin())
        }
        Curve::Linear => (1.0 - x, x),
    }
}

impl Fader {
    /// True while an outgoing closure sounds.
    pub fn active(&self) -> bool {
        self.count > 0
    }

    /// Starts fading `out` (which played as `entry`) out over `fade` samples along
    /// `curve`; false when [`MAX_VOICES`] sound already. Then `out` stops at once: it had
    /// been fading in for less than the newest fade so far, so it weighs less in the mix
    /// than any older voice, whose cut would jump more.
    pub fn start(&mut self, out: Outgoing, entry: Entry, (fade, curve): (u32, Curve)) -> bool {
        if self.count == MAX_VOICES {
            return false;
        }
        self.voices[self.count] = Some(Voice {
            out,
            entry,
            pos: 0,
            len: u64::from(fade.max(1)),
            faulted: false,
            curve,
        });
        self.count += 1;
        true
    }

    /// Stops every outgoing closure at once (the entry fell back to the last of them).
    pub fn cut(&mut self) {
        if self.count > 0 {
            self.drop_through(self.count - 1);
        }
    }

    /// The next outgoing closure whose fade is over.
    pub fn finished(&mut self) -> Option<Outgoing> {
        self.finished.iter_mut().find_map(Option::take)
    }

    /// Gives back voices `0..=last` (everything older than a voice that is over is
    /// inaudible) and moves the rest to the front.
    fn drop_through(&mut self, last: usize) {
        for i in 0..=last {
            if let Some(v) = self.voices[i].take()
                && let Some(free) = self.finished.iter_mut().find(|f| f.is_none())
            {
                *free = Some(v.out);
            }
        }
        self.voices.rotate_left(last + 1);
        self.count -= last + 1;
    }

    /// Runs voice `i`'s closure over the segment into `buf`; a fault leaves silence and
    /// marks the voice to be dropped.
    fn run(
        v: &mut Voice,
        ctx: &mut AudioCtx,
        input: &[f32],
        buf: &mut [f32],
        channels: usize,
        t: i64,
    ) {
        if ctx
            .run_outgoing(v.entry, &v.out, input, buf, channels, t)
            .is_err()
        {
            buf.fill(0.0);
            v.faulted = true;
        }
    }

    /// Mixes the outgoing closures into `out`, the entry's output for the segment starting
    /// at sample `t` (`input` is the segment's input).
    pub fn mix(
        &mut self,
        ctx: &mut AudioCtx,
        input: &[f32],
        out: &mut [f32],
        channels: usize,
        t: i64,
    ) {
        let n = self.count;
        let len = out.len();
        if n == 0 || len == 0 || len > self.acc.len() {
            return;
        }
        let frames = len / channels;
        let acc = &mut self.acc[..len];
        if let Some(v) = self.voices[0].as_mut() {
            Self::run(v, ctx, input, acc, channels, t);
        }
        for i in 0..n {
            let next: &[f32] = if i + 1 < n {
                let buf = &mut self.next[..len];
                if let Some(v) = self.voices[i + 1].as_mut() {
                    Self::run(v, ctx, input, buf, channels, t);
                }
                buf
            } else {
                out
            };
            let Some(v) = self.voices[i] else { continue };
            for f in 0..frames {
                let (g_old, g_new) = gains((v.pos + f as u64) as f32 / v.len as f32, v.curve);
                for k in f * channels..(f + 1) * channels {
                    acc[k] = acc[k] * g_old + next[k] * g_new;
                }
            }
        }
        out.copy_from_slice(acc);
        let mut over = None;
        for (i, slot) in self.voices[..n].iter_mut().enumerate() {
            if let Some(v) = slot {
                v.pos += frames as u64;
                if v.pos >= v.len || v.faulted {
                    over = Some(i);
                }
            }
        }
        if let Some(last) = over {
            self.drop_through(last);
        }
    }
}

/// A swap waiting for its sample, and the entry sent after it.
pub struct TimedSwap {
    pub batch: Box<SwapBatch>,
    pub at: i64,
    pub fade: (u32, Curve),
    /// A `SetEntry` that arrived after the swap: it takes effect with it.
    pub entry: Option<Option<Entry>>,
}

/// Swaps waiting on the audio side at most; one more makes the first take effect early.
pub const MAX_TIMED: usize = 16;

/// The swaps waiting for their samples, in the order they were sent (a fixed ring: no
/// allocation). A swap sent after one that waits takes effect with it or later, never
/// before, so swaps keep their order.
pub struct TimedSwaps {
    items: [Option<TimedSwap>; MAX_TIMED],
    head: usize,
    len: usize,
}

impl Default for TimedSwaps {
    fn default() -> Self {
        TimedSwaps {
            items: std::array::from_fn(|_| None),
            head: 0,
            len: 0,
        }
    }
}

impl TimedSwaps {
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sample the first waiting swap takes effect at.
    pub fn next_time(&self) -> Option<i64> {
        self.items[self.head].as_ref().map(|s| s.at)
    }

    /// The sample a swap sent now for `at` (`None`: at once) takes effect at, after the ones
    /// waiting.
    pub fn time_for(&self, at: Option<i64>) -> Option<i64> {
        let last = self.last().map(|s| s.at);
        match (at, last) {
            (Some(a), Some(l)) => Some(a.max(l)),
            (a, l) => a.or(l),
        }
    }

    fn last(&self) -> Option<&TimedSwap> {
        let i = (self.head + self.len + MAX_TIMED - 1) % MAX_TIMED;
        self.items[i].as_ref().filter(|_| self.len > 0)
    }

    /// The swap sent last, to attach the entry sent after it.
    pub fn last_mut(&mut self) -> Option<&mut TimedSwap> {
        let i = (self.head + self.len + MAX_TIMED - 1) % MAX_TIMED;
        if self.len == 0 {
            return None;
        }
        self.items[i].as_mut()
    }

    /// Queues `s`; when [`MAX_TIMED`] wait already, gives back the first, to take effect now.
    pub fn push(&mut self, s: TimedSwap) -> Option<TimedSwap> {
        let early = if self.len == MAX_TIMED {
            self.pop()
        } else {
            None
        };
        self.items[(self.head + self.len) % MAX_TIMED] = Some(s);
        self.len += 1;
        early
    }

    /// The first waiting swap if it is due at sample `t`.
    pub fn pop_due(&mut self, t: i64) -> Option<TimedSwap> {
        if self.next_time()? <= t {
            self.pop()
        } else {
            None
        }
    }

    fn pop(&mut self) -> Option<TimedSwap> {
        let s = self.items[self.head].take()?;
        self.head = (self.head + 1) % MAX_TIMED;
        self.len -= 1;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_swaps_settings_are_used_once_and_the_default_stays() {
        let mut s = SwapSettings::new(48_000);
        s.fade_ms = 20.0;
        s.next_fade_ms = Some(1000.0);
        s.next_at = Some(777);
        s.next_fresh = true;
        let once = SwapTiming {
            at: Some(777),
            fade: 48_000,
            fresh: true,
            curve: Curve::EqualPower,
        };
        assert_eq!(s.take(), once);
        let after = SwapTiming {
            at: None,
            fade: 960,
            fresh: false,
            curve: Curve::EqualPower,
        };
        assert_eq!(s.take(), after);
    }
}
