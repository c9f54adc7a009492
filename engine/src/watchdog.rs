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
//!
//! The patience is counted in the audio thread's own CPU time where its clock is known
//! ([`ThreadClock`]): a loop that never ends uses the CPU all the while, but a thread the
//! machine does not run (a loaded CI machine rendering offline) is not stuck, and is
//! stopped only after [`Watchdog::STALL_FACTOR`] times the patience of wall time, which
//! also ends a buffer waiting on a lane whose closure loops.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::audio::AudioStats;

/// The CPU-time clock of the thread that last ran the process function, published by
/// that thread for the watchdog to read.
pub struct ThreadClock(AtomicI64);

impl Default for ThreadClock {
    fn default() -> Self {
        ThreadClock(AtomicI64::new(ThreadClock::UNKNOWN))
    }
}

impl ThreadClock {
    /// No thread has published its clock.
    const UNKNOWN: i64 = i64::MIN;

    /// Publishes the calling thread's CPU clock (no allocation, no system call: the audio
    /// thread calls it). Elsewhere than Linux there is none, and the watchdog counts
    /// wall time.
    #[cfg(target_os = "linux")]
    pub fn publish(&self) {
        let mut id: libc::clockid_t = 0;
        // SAFETY: `pthread_self` is always valid for the calling thread, and `id` is a
        // valid place for the clock id.
        if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) } == 0 {
            self.0.store(i64::from(id), Ordering::Relaxed);
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn publish(&self) {}

    /// The CPU time the publishing thread has used, or `None` when no thread published
    /// its clock or the clock cannot be read (the thread is gone).
    #[cfg(target_os = "linux")]
    pub fn read(&self) -> Option<Duration> {
        let id = self.0.load(Ordering::Relaxed);
        let id = libc::clockid_t::try_from(id)
            .ok()
            .filter(|_| id != Self::UNKNOWN)?;
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid place for the time; an id that names no clock (any more)
        // makes the call fail, which is checked.
        if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
            return None;
        }
        let secs = u64::try_from(ts.tv_sec).ok()?;
        let nanos = u32::try_from(ts.tv_nsec).ok()?;
        Some(Duration::new(secs, nanos))
    }

    #[cfg(not(target_os = "linux"))]
    pub fn read(&self) -> Option<Duration> {
        None
    }
}

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
    /// How many patiences of wall time a buffer may take when its thread's CPU time shows
    /// it was not running its code (or waits on another thread's).
    pub const STALL_FACTOR: u32 = 8;

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
    let mut since = (Instant::now(), stats.cpu_clock.read());
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
            since = (Instant::now(), stats.cpu_clock.read());
        } else if !raised {
            let wall = since.0.elapsed();
            let busy = match (since.1, stats.cpu_clock.read()) {
                (Some(then), Some(now)) => now.saturating_sub(then),
                // published since the buffer began (the thread's first): counted from here
                (None, Some(now)) => {
                    since.1 = Some(now);
                    Duration::ZERO
                }
                _ => wall,
            };
            if busy > patience || wall > patience * Watchdog::STALL_FACTOR {
                flag.store(true, Ordering::Relaxed);
                raised = true;
            }
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

    /// A buffer whose thread does not run (a loaded machine) waits out the stall factor;
    /// one whose thread runs all the while is stopped after the patience.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_patience_is_counted_in_the_audio_threads_cpu_time() {
        let stats = Arc::new(AudioStats::default());
        let flag = Arc::new(AtomicBool::new(false));
        let patience = Duration::from_millis(40);
        let _dog = Watchdog::spawn(stats.clone(), flag.clone(), patience).unwrap();
        let audio = {
            let (stats, flag) = (stats.clone(), flag.clone());
            thread::spawn(move || {
                stats.cpu_clock.publish();
                stats.running.store(true, Ordering::Relaxed);
                let stuck = Instant::now();
                // asleep: its CPU time stands still
                while !flag.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(2));
                }
                let asleep = stuck.elapsed();
                stats.buffers.fetch_add(1, Ordering::Relaxed);
                while flag.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(1));
                }
                // spinning: its CPU time runs
                let cpu = stats.cpu_clock.read().unwrap();
                while !flag.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
                (asleep, stats.cpu_clock.read().unwrap() - cpu)
            })
        };
        let (asleep, spun) = audio.join().unwrap();
        assert!(
            asleep >= patience * Watchdog::STALL_FACTOR,
            "asleep {asleep:?}"
        );
        // stopped once it had used the patience, long before the stall factor's wall time
        // (a thread that spins uses the CPU as fast as the machine lets it)
        assert!(
            spun >= patience * 9 / 10 && spun < patience * 4,
            "spun {spun:?} of CPU"
        );
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
