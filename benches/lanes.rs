//! Lanes on worker threads (criterion): `(dsp:set! a b)` of two closures, each summing
//! 32 sines per sample, rendered through the real process function in 256-frame buffers,
//! with 0 workers (the audio thread renders both lanes), with 1 (a worker renders one
//! lane while the audio thread renders the other) and with 2 (more threads than cores
//! on a 2-core machine). The ratio of the two is the speed-up
//! a second core gives; the single closure of 64 sines is the baseline without lanes.
//!
//! Run with `cargo bench -p zonal-engine --bench lanes`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use zonal_engine::session::{Session, SessionConfig};

const FRAMES: usize = 256;
const BUFFERS: usize = 40;

/// A `DSP` closure named `name` summing `partials` sines from `first` Hz up.
fn bank(name: &str, first: usize, partials: usize) -> String {
    format!(
        "(bind-func {name}:DSP
           (lambda (in time chan dat)
             (let ((t (/ (i64tod time) 48000.0)) (s 0.0))
               (dotimes (k {partials})
                 (set! s (+ s (sin (* 6.283185307179586 (i64tod (+ {first} (* 7 k))) t)))))
               (dtof (* 0.01 s)))))\n"
    )
}

fn lanes(c: &mut Criterion) {
    let mut group = c.benchmark_group("lanes");
    group.sample_size(20);
    group.throughput(Throughput::Elements((FRAMES * BUFFERS) as u64));
    let pair = format!(
        "{}{}(dsp:set! low high)",
        bank("low", 100, 32),
        bank("high", 324, 32)
    );
    let cases = [
        (
            "one closure of 64 sines",
            0,
            format!("{}(dsp:set! whole)", bank("whole", 100, 64)),
        ),
        ("two lanes of 32 sines, 0 workers", 0, pair.clone()),
        ("two lanes of 32 sines, 1 worker", 1, pair.clone()),
        ("two lanes of 32 sines, 2 workers", 2, pair),
    ];
    for (name, workers, src) in cases {
        let cfg = SessionConfig {
            workers,
            ..SessionConfig::default()
        };
        let (mut session, mut processor) = Session::with_audio(&cfg).unwrap();
        session.eval_source(&src, "bench.xtm").unwrap();
        let mut out = vec![0.0f32; FRAMES * 2];
        processor.process(&mut out);
        group.bench_function(name, |b| {
            b.iter(|| {
                for _ in 0..BUFFERS {
                    processor.process(&mut out);
                }
            })
        });
        session.poll();
    }
    group.finish();
}

criterion_group!(benches, lanes);
criterion_main!(benches);
