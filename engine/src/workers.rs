//! Worker threads that render lanes (see `zonal_dsp::lanes`) beside the audio thread.
//!
//! The audio thread publishes a batch of lane jobs and runs jobs itself while the
//! workers take the others; it then spins until every job has finished. Nothing on that
//! path allocates, locks or makes a system call: jobs are claimed with atomics, and a
//! worker spins between batches for about two batch intervals (at least 1 ms, at most
//! 50 ms) before it parks, so while audio runs it is always spinning when the next batch
//! comes; only a batch after a pause wakes a parked worker (one `futex` wake).
//!
//! A job is claimed by storing its batch number into the job's `claimed` word with
//! `fetch_max`: whoever moves it up runs the job, so a job runs once however late a
//! worker looks, and the batch number and job count are published together in one word.
//! Which thread runs a lane does not change what it computes (each lane has its own
//! context), so renders are the same with any number of workers.
//!
//! Workers are pinned one per core, starting with the second, and ask for real-time
//! priority (`SCHED_FIFO`) when the engine plays live; a refusal (no privilege) is
//! reported once and they run at normal priority.

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use zonal_dsp::{AudioCtx, Entry, Fault, MAX_LANES, SlotTable};

/// Most worker threads a pool runs.
pub const MAX_WORKERS: usize = 7;

/// Real-time priority asked for live workers (below the usual audio-callback priority).
const WORKER_PRIORITY: i32 = 60;

/// One lane's share of a buffer segment.
pub struct LaneJob {
    pub lane: *mut AudioCtx,
    pub entry: Entry,
    pub table: SlotTable,
    pub input: *const f32,
    pub input_len: usize,
    pub output: *mut f32,
    pub output_len: usize,
    pub frames: usize,
    pub channels: usize,
    pub time: i64,
    pub result: Result<(), Fault>,
    /// The lane's index in its routing.
    pub index: usize,
}

// SAFETY: a job's pointers are dereferenced only by `run_job`, under `Pool::run`'s
// contract (valid, unshared for the batch); `Lanes` builds jobs and consumes them within
// one render, so a job moved to another thread is either run there under that contract
// or never dereferenced.
unsafe impl Send for LaneJob {}

struct Shared {
    jobs: [UnsafeCell<Option<LaneJob>>; MAX_LANES],
    /// The batch number of the last batch whose job `i` was claimed.
    claimed: [AtomicU64; MAX_LANES],
    /// `batch << 8 | job count`, published after the jobs are written.
    dispatch: AtomicU64,
    /// Jobs of the current batch not finished yet.
    remaining: AtomicUsize,
    sleeping: Box<[AtomicBool]>,
    quit: AtomicBool,
}

// SAFETY: a job cell is written by the audio thread only while no batch is running
// (`remaining` is 0 and nothing can claim its index), and read or written by the one
// thread that claimed it while its batch runs; the claim (`fetch_max`, AcqRel) and
// `remaining` (Release/Acquire) order those accesses. The raw pointers in a job point to
// the audio thread's lanes and buffers, which it does not touch until the batch ends.
unsafe impl Sync for Shared {}
// SAFETY: as above; the jobs' pointers are only used under that protocol.
unsafe impl Send for Shared {}

/// The worker threads and what they share with the audio thread.
pub struct Pool {
    shared: Arc<Shared>,
    threads: Vec<Thread>,
    handles: Vec<JoinHandle<()>>,
    batch: u64,
}

/// What starting a pool found out about the workers' priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Priority {
    /// Normal scheduling was asked for (offline renders, tests).
    Normal,
    /// Every worker runs at real-time priority.
    Realtime,
    /// Real-time priority was refused; the workers run at normal priority.
    Refused(String),
}

impl Pool {
    /// Starts `workers` threads (at most [`MAX_WORKERS`]); `realtime` asks for real-time
    /// priority. The threads park until the first batch.
    pub fn new(workers: usize, realtime: bool) -> std::io::Result<(Pool, Priority)> {
        let workers = workers.min(MAX_WORKERS);
        let shared = Arc::new(Shared {
            jobs: std::array::from_fn(|_| UnsafeCell::new(None)),
            claimed: std::array::from_fn(|_| AtomicU64::new(0)),
            dispatch: AtomicU64::new(0),
            remaining: AtomicUsize::new(0),
            sleeping: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            quit: AtomicBool::new(false),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let shared = shared.clone();
            let tx = tx.clone();
            let h = std::thread::Builder::new()
                .name(format!("zonal-worker-{}", i + 1))
                .spawn(move || {
                    let _ = tx.send(prepare_thread(i + 1, realtime));
                    drop(tx);
                    work(&shared, i);
                })?;
            handles.push(h);
        }
        drop(tx);
        let refusals: Vec<String> = rx.iter().filter_map(|r| r.err()).collect();
        let priority = match (realtime, refusals.first()) {
            (false, _) => Priority::Normal,
            (true, None) => Priority::Realtime,
            (true, Some(why)) => Priority::Refused(why.clone()),
        };
        let threads = handles.iter().map(|h| h.thread().clone()).collect();
        Ok((
            Pool {
                shared,
                threads,
                handles,
                batch: 0,
            },
            priority,
        ))
    }

    /// Worker threads in the pool.
    pub fn workers(&self) -> usize {
        self.threads.len()
    }

    /// Runs every job, on the workers and on the calling thread, and returns when all
    /// have finished (their results are in `jobs`).
    ///
    /// # Safety
    /// Each job's pointers must be valid for the job's run (lane contexts distinct from
    /// each other, buffers of the lengths given, outputs not overlapping anything else
    /// used during the call) and `table` must stay unchanged until this returns.
    pub unsafe fn run(&mut self, jobs: &mut [Option<LaneJob>]) {
        let n = jobs.len().min(MAX_LANES);
        if n == 0 {
            return;
        }
        let shared = &*self.shared;
        for (cell, job) in shared.jobs.iter().zip(jobs.iter_mut()).take(n) {
            // SAFETY: no batch runs (the previous one ended with `remaining` at 0), so no
            // other thread can claim, read or write a job cell now.
            unsafe { *cell.get() = job.take() };
        }
        self.batch += 1;
        let batch = self.batch;
        shared.remaining.store(n, Ordering::Relaxed);
        shared
            .dispatch
            .store(batch << 8 | n as u64, Ordering::Release);
        for (i, t) in self.threads.iter().enumerate() {
            if shared.sleeping[i].swap(false, Ordering::SeqCst) {
                t.unpark();
            }
        }
        run_claimable(shared, batch, n);
        while shared.remaining.load(Ordering::Acquire) != 0 {
            std::hint::spin_loop();
        }
        for (cell, job) in shared.jobs.iter().zip(jobs.iter_mut()).take(n) {
            // SAFETY: every job of the batch has finished (`remaining` is 0, read with
            // Acquire after each runner's Release), so no other thread touches the cells.
            *job = unsafe { (*cell.get()).take() };
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.quit.store(true, Ordering::SeqCst);
        for t in &self.threads {
            t.unpark();
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Claims and runs the jobs of `batch` that nobody has claimed yet.
fn run_claimable(shared: &Shared, batch: u64, n: usize) {
    for i in 0..n {
        if shared.claimed[i].fetch_max(batch, Ordering::AcqRel) >= batch {
            continue;
        }
        // SAFETY: this thread moved the job's claim to `batch`, so it alone uses the cell
        // until it counts the job finished; the audio thread wrote it before publishing
        // `dispatch` (Release), which this thread read (Acquire) before claiming.
        let job = unsafe { &mut *shared.jobs[i].get() };
        if let Some(job) = job.as_mut() {
            run_job(job);
        }
        shared.remaining.fetch_sub(1, Ordering::Release);
    }
}

/// Runs one job on the calling thread.
pub(crate) fn run_job(job: &mut LaneJob) {
    // SAFETY: `Pool::run`'s caller guarantees the lane, the buffers and the slot table are
    // valid and unshared for the batch, which lasts until this job is counted finished.
    job.result = unsafe {
        let lane = &mut *job.lane;
        let input = std::slice::from_raw_parts(job.input, job.input_len);
        let output = std::slice::from_raw_parts_mut(job.output, job.output_len);
        lane.run_lane(
            job.table,
            job.entry,
            input,
            output,
            job.frames,
            job.channels,
            job.time,
        )
    };
}

/// A worker: waits for batches (spinning, then parked) and runs what it can claim.
fn work(shared: &Shared, index: usize) {
    let _flush = crate::denormals::FlushDenormals::new();
    let mut seen = shared.dispatch.load(Ordering::Acquire);
    let mut last = Instant::now();
    // before the first batch there is no interval to spin for: park at once (a render
    // without lanes never wakes its workers)
    let mut spin = Duration::ZERO;
    loop {
        let waited = Instant::now();
        let mut spins = 0u32;
        let dispatch = loop {
            if shared.quit.load(Ordering::Relaxed) {
                return;
            }
            let d = shared.dispatch.load(Ordering::Acquire);
            if d != seen {
                break d;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1024) && waited.elapsed() > spin {
                shared.sleeping[index].store(true, Ordering::SeqCst);
                if shared.dispatch.load(Ordering::SeqCst) == seen
                    && !shared.quit.load(Ordering::SeqCst)
                {
                    std::thread::park();
                }
                shared.sleeping[index].store(false, Ordering::SeqCst);
            }
            std::hint::spin_loop();
        };
        seen = dispatch;
        let now = Instant::now();
        spin = ((now - last) * 2).clamp(Duration::from_millis(1), Duration::from_millis(50));
        last = now;
        let (batch, n) = (dispatch >> 8, (dispatch & 0xff) as usize);
        assert_no_alloc::assert_no_alloc(|| run_claimable(shared, batch, n));
    }
}

/// Pins the calling worker to core `core` (modulo the cores there are) and, if asked,
/// raises it to real-time priority; the error says why that was refused.
fn prepare_thread(core: usize, realtime: bool) -> Result<(), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `set` is a plain bit set on this stack; sched_setaffinity(0, ...) applies
        // to the calling thread and reads `size_of::<cpu_set_t>()` bytes of it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(core % cores, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (core, cores);
    if !realtime {
        return Ok(());
    }
    let param = libc::sched_param {
        sched_priority: WORKER_PRIORITY,
    };
    // SAFETY: pthread_self() is the calling thread; `param` is a valid sched_param.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "real-time priority for DSP workers refused ({}); they run at normal priority",
            std::io::Error::from_raw_os_error(rc)
        ))
    }
}
