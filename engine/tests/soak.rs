//! Soak: a scripted livecoding session rendered for many minutes — `dsp` redefined
//! every few seconds, a melody by temporal recursion, deliberate mistakes of each kind
//! (type errors, a fault on the audio thread, an out-of-range access, an impossible
//! allocation, an error inside a callback, Scheme garbage) — and what it holds
//! measured minute by minute: live DSP closures, zones and compiled code, the Scheme
//! heap, the process's resident memory, GC pauses. From the first minute to the last
//! they stay flat, and the sound keeps playing.
//!
//! CI renders 6 minutes; `ZONAL_SOAK_MINUTES=60 cargo test --release -p zonal-engine
//! --test soak -- --nocapture` renders the hour and prints the table.

use zonal_engine::offline::OfflineSession;

const SCRIPT: &str = r#"
(bind-func voice_c
  (lambda ()
    (let ((ph 0.0) (freq 220.0))
      (lambda (amp:double)
        (set! ph (+ ph (* 6.283185307179586 (/ freq 48000.0))))
        (if (> ph 6.283185307179586) (set! ph (- ph 6.283185307179586)))
        (* amp (sin ph))))))

(define *gen* 0)

;; a new dsp every few seconds, each with its own zone and buffers
(define (dsp-source gen)
  (let ((amp (+ 0.1 (* 0.01 (modulo gen 10))))
        (taps (+ 64 (* 16 (modulo gen 8)))))
    `(bind-func dsp:DSP 16384
       (let ((v (voice_c)) (line:double* (zalloc ,taps)) (pos 0) (out 0.0))
         (lambda (in time chan dat)
           (if (= chan 0)
               (begin
                 (set! out (+ (v ,amp) (* 0.3 (pref line pos))))
                 (pset! line pos out)
                 (set! pos (modulo (+ pos 1) ,taps))))
           (dtof out))))))

(define (mistake gen)
  (case (modulo gen 6)
    ;; a type error: the compile fails, the last dsp keeps playing
    ((0) (guard (e (#t 'caught)) (eval '(bind-func oops (lambda (x:i64) (+ x "s"))))))
    ;; a closure that faults on the audio thread (integer division by zero)
    ((1) (eval '(bind-func dsp:DSP (lambda (in time chan dat) (dtof (i64tod (/ 1 (- time time))))))))
    ;; an out-of-range access from Scheme
    ((2) (guard (e (#t 'caught))
           (eval '(bind-func reach (lambda () (let ((p:i64* (salloc 4))) (pref p 100000000)))))
           (reach)))
    ;; an allocation that can never be met
    ((3) (guard (e (#t 'caught))
           (eval '(bind-func huge (lambda () (let ((p:i64* (zalloc 1000000000000000))) (pref p 0)))))
           (huge)))
    ;; an error inside a callback (the chain it ends is its own)
    ((4) (callback (+ (now) 100) 'car 5))
    ;; Scheme garbage: strings, lists, a hash table
    (else (let ((h (make-hash-table)))
            (do ((i 0 (+ i 1))) ((= i 2000)) (hash-table-set! h i (list->string (list #\a #\b))))
            (hash-table-count h)))))

(define *caught* 0)

(define (livecode t)
  (set! *gen* (+ *gen* 1))
  (guard (e (#t (set! *caught* (+ *caught* 1)))) (mistake *gen*))
  (eval (dsp-source *gen*))
  (callback (+ t (* 3 48000)) 'livecode (+ t (* 3 48000))))

;; the melody: a note every quarter second, on the voice dsp holds
(define (melody t i)
  (guard (e (#t #f)) (dsp.v.freq (* 110.0 (+ 2 (modulo (* i 7) 5)))))
  (callback (+ t 12000) 'melody (+ t 12000) (+ i 1)))

(eval (dsp-source 0))
(dsp:set! dsp)
(livecode 0)
(melody 0 0)
"#;

/// The process's resident memory, in bytes.
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

#[derive(Debug, Clone, Copy)]
struct Minute {
    closures: usize,
    zones: usize,
    code: usize,
    heap_live: usize,
    rss: usize,
    max_pause_us: u128,
    rms: f64,
}

#[test]
fn an_hour_of_livecoding_keeps_memory_and_pauses_flat() {
    let minutes: usize = std::env::var("ZONAL_SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(6)
        .max(3);
    let mut s = OfflineSession::new(&Default::default()).unwrap();
    s.eval(SCRIPT).unwrap();
    s.session().interp_mut().record_pauses(true);
    let mut table = Vec::new();
    for _ in 0..minutes {
        let (samples, _) = s.render(60.0);
        let rms = (samples.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>()
            / samples.len() as f64)
            .sqrt();
        let session = s.session();
        let pauses = session.interp_mut().take_pauses();
        // a full collection, so live bytes are what is reachable; its pause is not
        // one the livecoder meets (they are incremental), so it is left out
        session.interp_mut().collect();
        session.interp_mut().take_pauses();
        let live = session.dsp_live();
        table.push(Minute {
            closures: live.closures,
            zones: live.zones,
            code: live.code_blocks,
            heap_live: session.gc_stats().live_bytes,
            rss: rss(),
            max_pause_us: pauses.iter().max().map_or(0, |d| d.as_micros()),
            rms,
        });
    }
    for (i, m) in table.iter().enumerate() {
        println!("minute {:3}: {m:?}", i + 1);
    }
    let generations: usize = s.eval("*gen*").unwrap().parse().unwrap();
    assert_eq!(
        generations,
        minutes * 20,
        "the livecoding went on to the end"
    );
    assert_eq!(
        s.eval("*caught*").unwrap(),
        "0",
        "no mistake escaped its guard"
    );
    // minute 1 warms up (the first collections, the allocator's arenas); from minute 2
    let (first, last) = (table[1], table[minutes - 1]);
    assert!(last.closures <= first.closures + 8, "{first:?} -> {last:?}");
    assert!(last.zones <= first.zones + 8, "{first:?} -> {last:?}");
    assert!(last.code <= first.code + 8, "{first:?} -> {last:?}");
    assert!(
        last.heap_live <= first.heap_live + first.heap_live / 4 + 65_536,
        "{first:?} -> {last:?}"
    );
    assert!(last.rss <= first.rss + (16 << 20), "{first:?} -> {last:?}");
    assert!(
        last.max_pause_us <= 4 * first.max_pause_us.max(1_000),
        "{first:?} -> {last:?}"
    );
    // the sound kept playing through every mistake
    for (i, m) in table.iter().enumerate() {
        assert!(m.rms > 0.02, "minute {} was silent: {m:?}", i + 1);
    }
}
