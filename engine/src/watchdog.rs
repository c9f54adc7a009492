//! The audio thread's watchdog: a thread of its own (`zonal-watchdog`) with its own
//! clock, so it keeps watching while the control thread is busy with a long evaluation
//! or compile, and in offline renders as well as live.
//!
//! It looks at the audio thread's progress ([`AudioStats::buffers`] and
//! [`AudioStats::running`]) a few times per patience period. When one call of the
//! process function has gone on for longer than the patience — [`Watchdog::FACTOR`]
//! buffers' worth of time, and never less than [`Watchdog::MIN_PATIENCE`] — DSP code is
//! stuck there (a loop that never ends, a recursion that never returns): the watchdog
//! raises the audio thread's interrupt flag, the next poll (at a loop's back-edge or a
//! function's entry) faults, and the entry closure is stopped and reported like any
//! other fault. When the audio thread moves on to another buffer the watchdog lowers the
//! flag again, so a stall that no poll saw (the machine paused the thread) leaves no
//! flag behind to stop the next closure that loops.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::audio::AudioStats;

/// A running watchdog; dropping it stops its thread.
pub struct Watchdog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// How many buffers' worth of time one buffer may take before it is stopped.
    pub const FACTOR: u32 = 20;
    /// The least patience, whatever the buffer size: a machine that pauses the audio
    /// thread for a moment must not cost the livecoder their closure.
    pub const MIN_PATIENCE: Duration = Duration::from_millis(250);

    /// How long one buffer of `frames` frames at `sample_rate` may take.
    pub fn patience(frames: usize, sample_rate: u32) -> Duration {
        let buffer = Duration::from_secs_f64(frames as f64 / f64::from(sample_rate.max(1)));
        (buffer * Self::FACTOR).max(Self::MIN_PATIENCE)
    }

    /// Starts watching the audio thread that publishes `stats`; `flag` is its interrupt
    /// flag.
    pub fn spawn(
        stats: Arc<AudioStats>,
        flag: Arc<AtomicBool>,
        patience: Duration,
    ) -> io::Result<Watchdog> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("zonal-watchdog".to_owned())
                .spawn(move || watch(&stats, &flag, patience, &stop))?
        };
        Ok(Watchdog {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

fn watch(stats: &AudioStats, flag: &AtomicBool, patience: Duration, stop: &AtomicBool) {
    let tick = (patience / 10).clamp(Duration::from_millis(1), Duration::from_millis(25));
    let mut last = stats.buffers.load(Ordering::Relaxed);
    let mut since = Instant::now();
    let mut raised = false;
    while !stop.load(Ordering::SeqCst) {
        thread::park_timeout(tick);
        let buffers = stats.buffers.load(Ordering::Relaxed);
        if buffers != last || !stats.running.load(Ordering::Relaxed) {
            if raised {
                flag.store(false, Ordering::Relaxed);
                raised = false;
            }
            last = buffers;
            since = Instant::now();
        } else if !raised && since.elapsed() > patience {
            flag.store(true, Ordering::Relaxed);
            raised = true;
        }
    }
    if raised {
        flag.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(what: impl Fn() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if what() {
                return true;
            }
            thread::sleep(Duration::from_millis(2));
        }
        false
    }

    #[test]
    fn a_stuck_buffer_raises_the_flag_and_moving_on_lowers_it() {
        let stats = Arc::new(AudioStats::default());
        let flag = Arc::new(AtomicBool::new(false));
        let patience = Duration::from_millis(40);
        let _dog = Watchdog::spawn(stats.clone(), flag.clone(), patience).unwrap();
        stats.running.store(true, Ordering::Relaxed);
        let stuck = Instant::now();
        assert!(wait_for(|| flag.load(Ordering::Relaxed)));
        assert!(stuck.elapsed() >= patience);
        stats.buffers.fetch_add(1, Ordering::Relaxed);
        assert!(wait_for(|| !flag.load(Ordering::Relaxed)));
    }

    #[test]
    fn an_idle_audio_thread_is_never_interrupted() {
        let stats = Arc::new(AudioStats::default());
        let flag = Arc::new(AtomicBool::new(false));
        let _dog = Watchdog::spawn(stats, flag.clone(), Duration::from_millis(5)).unwrap();
        thread::sleep(Duration::from_millis(100));
        assert!(!flag.load(Ordering::Relaxed));
    }

    #[test]
    fn patience_is_a_factor_of_the_buffer_with_a_floor() {
        assert_eq!(Watchdog::patience(64, 48_000), Watchdog::MIN_PATIENCE);
        assert_eq!(Watchdog::patience(4800, 48_000), Duration::from_secs(2));
    }
}
