//! What the Scheme test binaries share: a watchdog that interrupts an evaluation which
//! has made no progress for a while, so generated or mistaken infinite loops end as
//! `Interrupted` errors instead of hanging the test.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Raises an interpreter's interrupt flag when [`Watchdog::tick`] has not been called
/// for `limit`.
pub struct Watchdog {
    progress: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(interrupt: Arc<AtomicBool>, limit: Duration) -> Watchdog {
        let progress = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (progress.clone(), stop.clone());
        let poll = (limit / 50).clamp(Duration::from_millis(1), Duration::from_millis(50));
        let thread = std::thread::spawn(move || {
            let mut seen = p.load(Ordering::Relaxed);
            let mut since = Instant::now();
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(poll);
                let now = p.load(Ordering::Relaxed);
                if now != seen {
                    seen = now;
                    since = Instant::now();
                } else if since.elapsed() > limit {
                    interrupt.store(true, Ordering::Relaxed);
                    since = Instant::now();
                }
            }
        });
        Watchdog {
            progress,
            stop,
            thread: Some(thread),
        }
    }

    /// Reports progress: the next evaluation gets a fresh `limit`.
    pub fn tick(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
