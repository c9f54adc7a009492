//! Criterion benchmarks of zonal's Scheme: the portable programs in `benches/scheme/*.scm`
//! (the same files `benches/scheme/compare.sh` times under TinyScheme and Guile), each run from
//! a fresh interpreter through the embedding API, and a GC pause measurement with a ~10 MB live
//! heap whose median and max pauses are printed.
//!
//! `cargo bench -p zonal-scheme --bench scheme`; `cargo test -p zonal-scheme --benches` runs each
//! once as a smoke test.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use zonal_scheme::Interp;

/// The programs and what each prints; a wrong answer stops the bench instead of timing it.
const PROGRAMS: &[(&str, &str)] = &[
    ("fib", "196418\n"),
    ("tak", "7\n"),
    ("nqueens", "92\n"),
    ("gc_churn", "10000000\n"),
    ("strings", "1389000\n6890\n"),
    ("closures", "500000500000\n200001\n"),
];

/// Live heap the pause measurement builds before it starts collecting.
const LIVE_TARGET_BYTES: usize = 10 * 1024 * 1024;
/// Full collections timed one by one for the median/max of explicit collections.
const TIMED_COLLECTIONS: usize = 21;

/// Output sink that keeps what the program printed, to check its answer.
#[derive(Clone, Default)]
struct Capture(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn program_source(name: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "benches",
        "scheme",
        &format!("{name}.scm"),
    ]
    .iter()
    .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Runs `src` in a fresh interpreter and returns what it printed.
fn run(src: &str, file: &str) -> String {
    let capture = Capture::default();
    let mut interp = Interp::new();
    interp.set_output(Box::new(capture.clone()));
    if let Err(e) = interp.eval_str(src, file) {
        panic!("{file} failed:\n{e}");
    }
    drop(interp);
    String::from_utf8_lossy(&capture.0.borrow()).into_owned()
}

fn programs(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheme");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for &(name, expected) in PROGRAMS {
        let src = program_source(name);
        let file = format!("{name}.scm");
        assert_eq!(run(&src, &file), expected, "{file} printed a wrong answer");
        group.bench_function(name, |b| b.iter(|| run(&src, &file)));
    }
    group.finish();
}

fn median(sorted: &[Duration]) -> Duration {
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

/// Builds a live heap of about [`LIVE_TARGET_BYTES`], then measures pauses two ways: explicit
/// full collections timed one by one, and the collector's own statistics while a loop churns
/// short-lived pairs on top of the live heap. Printed, not asserted: the number to watch is the
/// max pause (issue 2 aims under 1 ms).
fn gc_pauses(c: &mut Criterion) {
    let mut interp = Interp::new();
    interp.set_output(Box::new(Capture::default()));
    let setup = "(define live '())
                 (define (grow! k)
                   (if (> k 0)
                       (begin (set! live (cons (vector k (number->string k) (list k k)) live))
                              (grow! (- k 1)))))
                 (define (churn k acc)
                   (if (= k 0) (length acc)
                       (churn (- k 1) (if (= (remainder k 100) 0) '() (cons k acc)))))";
    interp
        .eval_str(setup, "gc_pauses.scm")
        .expect("gc pause setup failed");
    interp.collect();
    while interp.gc_stats().live_bytes < LIVE_TARGET_BYTES {
        interp
            .eval_str("(grow! 2000)", "gc_pauses.scm")
            .expect("growing the live heap failed");
        interp.collect();
    }
    let live = interp.gc_stats().live_bytes;

    let mut explicit: Vec<Duration> = (0..TIMED_COLLECTIONS)
        .map(|_| {
            let start = Instant::now();
            interp.collect();
            start.elapsed()
        })
        .collect();
    explicit.sort();

    interp.reset_gc_stats();
    interp.record_pauses(true);
    interp
        .eval_str("(churn 3000000 '())", "gc_pauses.scm")
        .expect("churn failed");
    let after = interp.gc_stats();
    let mut steps = interp.take_pauses();
    steps.sort();
    println!(
        "gc pauses, live heap {:.1} MB (heap {:.1} MB): explicit collect() x{TIMED_COLLECTIONS} \
         median {:?} max {:?}; while a loop churns pairs: {} incremental pauses over {} \
         collections, median {:?}, p99 {:?}, max {:?}",
        live as f64 / 1e6,
        after.heap_bytes as f64 / 1e6,
        median(&explicit),
        explicit.last().copied().unwrap_or_default(),
        steps.len(),
        after.collections,
        median(&steps),
        steps
            .get(steps.len().saturating_sub(1) * 99 / 100)
            .copied()
            .unwrap_or_default(),
        steps.last().copied().unwrap_or_default(),
    );

    c.bench_function("gc_full_collect_10mb_live", |b| b.iter(|| interp.collect()));
}

criterion_group!(benches, programs, gc_pauses);
criterion_main!(benches);
