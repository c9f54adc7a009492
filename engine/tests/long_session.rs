//! A long editor session must stay flat: evaluations of the forms a livecoder
//! types (definitions, lambdas, macros, string building, hash tables, errors
//! caught and uncaught, bind-funcs) keep live heap, resident memory, collector
//! pauses and evaluation speed the same from the first tenth to the last.
//!
//! CI runs [`DEFAULT_EVALS`] evaluations; `ZONAL_SESSION_EVALS=100000 cargo test
//! --release -p zonal-engine --test long_session -- --nocapture` runs the long
//! session by hand and prints each tenth's figures.

use std::time::{Duration, Instant};

use zonal_engine::session::{Session, SessionConfig};

/// Evaluations in CI (debug build, well under 20 s).
const DEFAULT_EVALS: usize = 12_000;
/// One evaluation in this many is a bind-func (they compile native code).
const BIND_FUNC_EVERY: usize = 60;

/// The `i`th form of the session: a rotation of what a livecoder types, with names
/// that are redefined over and over and literals that change each time.
fn form(i: usize) -> String {
    // one rotation of twelve forms shares its names
    let k = (i / 12) % 40;
    if i.is_multiple_of(BIND_FUNC_EVERY) {
        return format!(
            "(bind-func gain{} (lambda (x:double) (* x {}.5)))",
            k % 4,
            i % 1000
        );
    }
    match i % 12 {
        0 => format!("(define x{k} (list {i} \"s{i}\" 'a '(1 2 3 4 5 6 7 8)))"),
        1 => format!("(define (f{k} a b) (+ a b {i}))"),
        2 => format!("(f{k} 1 2)"),
        3 => format!("(define-macro (m{k} x) `(list ,x '(q {i}) \"{i}\"))"),
        4 => format!("(m{k} 5)"),
        5 => format!(
            "(let loop ((s \"\") (n 0)) (if (< n 20) (loop (string-append s \"ab{i}\") (+ n 1)) (string-length s)))"
        ),
        6 => format!(
            "(begin (define h{} (make-hash-table)) (hash-table-set! h{} 'k{k} (vector {i} \"v\")) (hash-table-count h{}))",
            k % 8,
            k % 8,
            k % 8
        ),
        7 => format!("(guard (e (#t (list 'caught {i}))) (error \"boom\" {i}))"),
        8 => format!("(car {i})"),
        9 => format!("(map (lambda (x) (* x {i})) '(1 2 3))"),
        10 => "'(1 2 3 4 5 6 7 8)".to_string(),
        _ => format!(
            "(case {} ((0 1) \"low\") ((2 3) 'mid) (else (list 'hi {i})))",
            i % 5
        ),
    }
}

/// The value of `key` in `(sys:gc-stats)`.
fn gc_stat(s: &mut Session, key: &str) -> f64 {
    let text = s
        .eval_source(&format!("(cdr (assq '{key} (sys:gc-stats)))"), "probe")
        .unwrap();
    text.parse().unwrap()
}

/// Resident memory of this process in bytes (Linux), 0 elsewhere.
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|t| t.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// What one tenth of the session measured.
#[derive(Debug)]
struct Tenth {
    live: f64,
    rss: usize,
    mean_pause_ms: f64,
    elapsed: Duration,
}

#[test]
fn a_long_editor_session_keeps_memory_pauses_and_speed_flat() {
    let evals: usize = std::env::var("ZONAL_SESSION_EVALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_EVALS);
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    let tenth = evals / 10;
    let mut tenths = Vec::new();
    let mut failures = 0;
    let (mut pauses, mut collections) = (0.0, 0.0);
    for t in 0..10 {
        let start = Instant::now();
        for i in t * tenth..(t + 1) * tenth {
            if let Err(e) = s.eval_source(&form(i), "live.xtm") {
                assert!(i % 12 == 8, "{}: {e}", form(i));
                failures += 1;
            }
        }
        let elapsed = start.elapsed();
        s.eval_source("(collect-garbage)", "probe").unwrap();
        let live = gc_stat(&mut s, "live-bytes");
        let (p, c) = (
            gc_stat(&mut s, "total-pause-ms"),
            gc_stat(&mut s, "collections"),
        );
        let mean_pause_ms = (p - pauses) / (c - collections).max(1.0);
        (pauses, collections) = (p, c);
        let m = Tenth {
            live,
            rss: rss(),
            mean_pause_ms,
            elapsed,
        };
        println!("tenth {t}: {m:?}");
        tenths.push(m);
    }
    // the uncaught `(car i)` of each rotation, and nothing else
    let expected = (0..evals - evals % 10)
        .filter(|i| !i.is_multiple_of(BIND_FUNC_EVERY) && i % 12 == 8)
        .count();
    assert_eq!(failures, expected);
    let (first, last) = (&tenths[0], &tenths[9]);
    assert!(
        last.live < first.live * 1.1 + 256.0 * 1024.0,
        "live heap grew: {first:?} -> {last:?}"
    );
    if first.rss > 0 {
        assert!(
            last.rss < first.rss + first.rss / 4 + (16 << 20),
            "resident memory grew: {first:?} -> {last:?}"
        );
    }
    // a pause stretched by another process lands in one tenth; growth shows in all
    let early = tenths[..3]
        .iter()
        .map(|t| t.mean_pause_ms)
        .fold(0.0, f64::max);
    let late = tenths[7..]
        .iter()
        .map(|t| t.mean_pause_ms)
        .fold(f64::MAX, f64::min);
    assert!(
        late < early * 2.0 + 1.0,
        "collector pauses grew: {early} ms -> {late} ms"
    );
    assert!(
        last.elapsed < first.elapsed * 2 + Duration::from_millis(500),
        "evaluations slowed: {first:?} -> {last:?}"
    );
    let v = s
        .eval_source("(list (f1 1 2) (m3 1) (gain1 2.0))", "live.xtm")
        .unwrap();
    assert!(v.starts_with('('), "{v}");
}
