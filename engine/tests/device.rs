//! The live backends: the sample format adapter, the real-time clock and the recorder
//! tap run without allocating (driven directly under `assert_no_alloc`); the clock keeps
//! real time on a thread named `zonal-audio`; the recorder writes what played; a real
//! cpal stream on ALSA's `null` device calls the process function on a thread it names
//! `zonal-audio`; and a missing device is one clear line.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use assert_no_alloc::{AllocDisabler, assert_no_alloc, violation_count};
use zonal_engine::clock::{Clock, start_clock};
use zonal_engine::device::{
    DeviceConfig, DeviceErrorKind, OutputAdapter, list_devices, start_device,
};
use zonal_engine::record::recording;

#[global_allocator]
static ALLOCATOR: AllocDisabler = AllocDisabler;

/// The kernel's name for the calling thread (what `top -H` shows), read without
/// allocating.
fn os_thread_name() -> [u8; 16] {
    let mut name = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL included, into the buffer.
    unsafe {
        libc::prctl(
            libc::PR_GET_NAME,
            name.as_mut_ptr() as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    name
}

const AUDIO_THREAD_NAME: [u8; 16] = *b"zonal-audio\0\0\0\0\0";

fn config(buffer_frames: u32) -> DeviceConfig {
    DeviceConfig {
        device: None,
        sample_rate: 48_000,
        channels: 2,
        buffer_frames,
    }
}

#[test]
fn the_adapter_converts_every_format_without_allocating() {
    let values = [0.5f32, -0.25, f32::NAN, 2.0, -3.0, 0.0];
    let mut adapter = OutputAdapter::new(2, move |buffer: &mut [f32]| {
        for (i, sample) in buffer.iter_mut().enumerate() {
            *sample = values[i % values.len()];
        }
    });
    let mut float = vec![9.0f32; 6];
    let mut short = vec![7i16; 3000];
    let mut wide = vec![7i32; 6];
    let mut unsigned = vec![7u16; 6];
    let before = violation_count();
    assert_no_alloc(|| {
        adapter.fill_f32(&mut float);
        adapter.fill(&mut short);
        adapter.fill(&mut wide);
        adapter.fill(&mut unsigned);
    });
    assert_eq!(violation_count(), before, "the adapter allocated");
    assert_eq!(float[..2], [0.5, -0.25]);
    assert!(
        float[2].is_nan(),
        "f32 output is the process function's own"
    );
    assert_eq!(short[..6], [16384, -8192, 0, 32767, -32768, 0]);
    // Longer than the scratch buffer: filled a chunk at a time, the pattern continuing
    // within each chunk.
    assert_eq!(short[2048..2054], [16384, -8192, 0, 32767, -32768, 0]);
    assert_eq!(short[2999], 32767);
    assert_eq!(wide[..2], [1 << 30, -(1 << 29)]);
    assert_eq!(wide[3], i32::MAX);
    assert_eq!(unsigned[..4], [49152, 24576, 32768, 65535]);
}

#[test]
fn the_clock_keeps_real_time_without_allocating() {
    let calls = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&calls);
    let mut clock = Clock::new(&config(64), move |buffer: &mut [f32]| {
        assert_eq!(buffer.len(), 128);
        seen.fetch_add(1, Ordering::Relaxed);
    });
    let counters = clock.counters();
    let started = Instant::now();
    let before = violation_count();
    assert_no_alloc(|| {
        for _ in 0..76 {
            clock.tick();
        }
    });
    let elapsed = started.elapsed();
    assert_eq!(violation_count(), before, "the clock loop allocated");
    assert_eq!(calls.load(Ordering::Relaxed), 76);
    assert_eq!(counters.buffers(), 76);
    // 75 buffers of 64 frames at 48 kHz after the first: 100 ms.
    assert!(
        elapsed >= Duration::from_millis(99) && elapsed < Duration::from_millis(400),
        "76 buffers took {elapsed:?}"
    );
}

#[test]
fn a_stalled_clock_counts_a_late_buffer_and_does_not_rush_to_catch_up() {
    let mut stall = true;
    let mut clock = Clock::new(&config(64), move |_: &mut [f32]| {
        if stall {
            thread::sleep(Duration::from_millis(150));
            stall = false;
        }
    });
    let counters = clock.counters();
    clock.tick();
    let resumed = Instant::now();
    for _ in 0..11 {
        clock.tick();
    }
    // The first buffer after the stall is late and restarts the schedule; the next ten
    // are paced again (13.3 ms) instead of played back to back. (On a loaded machine one
    // of those ten may itself miss its 1.3 ms deadline: that is counted too, not caught up.)
    let late = counters.late_buffers();
    assert!((1..=3).contains(&late), "{late} late buffers");
    assert!(
        resumed.elapsed() >= Duration::from_millis(13),
        "{:?}",
        resumed.elapsed()
    );
}

#[test]
fn the_clock_thread_is_named_and_paced() {
    let frames = Arc::new(AtomicU64::new(0));
    let named = Arc::new(AtomicBool::new(true));
    let (counted, checked) = (Arc::clone(&frames), Arc::clone(&named));
    let stream = start_clock(&config(256), move |buffer: &mut [f32]| {
        if os_thread_name() != AUDIO_THREAD_NAME {
            checked.store(false, Ordering::Relaxed);
        }
        counted.fetch_add(buffer.len() as u64 / 2, Ordering::Relaxed);
    })
    .expect("the clock starts");
    assert_eq!(stream.describe(), "no audio: 48000 Hz, 2 channels, f32");
    thread::sleep(Duration::from_millis(500));
    let played = frames.load(Ordering::Relaxed);
    let callbacks = stream.callbacks();
    stream.stop();
    assert!(
        named.load(Ordering::Relaxed),
        "the clock thread is zonal-audio"
    );
    // Half a second at 48 kHz is 24,000 frames; allow for a slow, shared machine.
    assert!(
        (16_000..=26_000).contains(&played),
        "played {played} frames in 0.5 s"
    );
    assert_eq!(played, callbacks * 256);
}

#[test]
fn the_recorder_tap_writes_what_played_without_allocating() {
    let dir = std::env::temp_dir().join(format!("zonal-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("makes a temp dir");
    let path = dir.join("tap.wav");
    let mut next = 0u32;
    let process = move |buffer: &mut [f32]| {
        for sample in buffer.iter_mut() {
            *sample = (next % 1000) as f32 / 1000.0;
            next += 1;
        }
    };
    let (mut tap, recorder) = recording(&path, 48_000, 2, process).expect("starts recording");
    let mut buffer = vec![0.0f32; 128];
    let before = violation_count();
    assert_no_alloc(|| {
        for _ in 0..100 {
            tap(&mut buffer);
        }
    });
    assert_eq!(violation_count(), before, "the recorder tap allocated");
    assert_eq!(buffer[127], (12_799 % 1000) as f32 / 1000.0);
    let summary = recorder.finish().expect("finishes the file");
    assert_eq!(summary.frames, 6400);
    assert_eq!(summary.dropped_samples, 0);
    assert_eq!(
        summary.to_string(),
        format!("recorded 0.13 s to {}", path.display())
    );
    let mut reader = hound::WavReader::open(&path).expect("the WAV opens");
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 48_000));
    let samples: Vec<f32> = reader
        .samples::<f32>()
        .map(|s| s.expect("a sample"))
        .collect();
    assert_eq!(samples.len(), 12_800);
    assert!(
        samples
            .iter()
            .enumerate()
            .all(|(i, &s)| s == (i % 1000) as f32 / 1000.0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_recording_ring_drops_whole_frames_and_says_so() {
    let dir = std::env::temp_dir().join(format!("zonal-drop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("makes a temp dir");
    let path = dir.join("drop.wav");
    // 50 Hz stereo: the ring holds 2 s, 200 samples.
    let (mut tap, recorder) =
        recording(&path, 50, 2, |buffer: &mut [f32]| buffer.fill(0.25)).expect("records");
    let mut buffer = vec![0.0f32; 1001];
    tap(&mut buffer);
    let dropped = recorder.dropped_samples();
    assert_eq!(dropped, 801);
    let summary = recorder.finish().expect("finishes the file");
    assert_eq!(summary.frames * 2 + summary.dropped_samples, 1001);
    assert!(
        summary
            .to_string()
            .ends_with("samples were dropped: the disk could not keep up)")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn recording_to_a_missing_directory_is_a_clear_error() {
    let path = std::path::Path::new("/nonexistent-zonal-dir/out.wav");
    let err = recording(path, 48_000, 2, |_: &mut [f32]| {})
        .err()
        .expect("cannot record there");
    assert_eq!(
        err.to_string(),
        "cannot record to /nonexistent-zonal-dir/out.wav: No such file or directory (os error 2)"
    );
}

#[test]
fn the_null_device_runs_the_real_callback_on_zonal_audio() {
    let frames = Arc::new(AtomicU64::new(0));
    let names: Arc<Mutex<Option<[u8; 16]>>> = Arc::new(Mutex::new(None));
    let (counted, name) = (Arc::clone(&frames), Arc::clone(&names));
    let mut first = true;
    let cfg = DeviceConfig {
        device: Some("null".to_owned()),
        ..config(64)
    };
    let stream = start_device(&cfg, move |buffer: &mut [f32]| {
        if first {
            // The test's own bookkeeping, once: the engine's process function would
            // never lock.
            *name.lock().expect("not poisoned") = Some(os_thread_name());
            first = false;
        }
        buffer.fill(0.1);
        counted.fetch_add(buffer.len() as u64 / 2, Ordering::Relaxed);
    })
    .expect("ALSA's null device opens");
    assert!(
        stream
            .describe()
            .starts_with("null: 48000 Hz, 2 channels, ")
    );
    thread::sleep(Duration::from_millis(200));
    let played = frames.load(Ordering::Relaxed);
    let callbacks = stream.callbacks();
    assert!(!stream.is_lost());
    stream.stop();
    assert!(callbacks > 0, "the callback never ran");
    // The null device is not paced: it plays far faster than real time.
    assert!(played >= 48_000 / 5, "played only {played} frames in 0.2 s");
    assert_eq!(
        *names.lock().expect("not poisoned"),
        Some(AUDIO_THREAD_NAME),
        "the callback thread is named zonal-audio"
    );
}

#[test]
fn the_device_list_includes_null() {
    let devices = list_devices().expect("ALSA lists its devices");
    assert!(
        devices.iter().any(|line| line.starts_with("null")),
        "{devices:?}"
    );
}

#[test]
fn an_unknown_device_name_is_a_clear_error() {
    let cfg = DeviceConfig {
        device: Some("no-such-device".to_owned()),
        ..config(64)
    };
    let err = start_device(&cfg, |_: &mut [f32]| {}).expect_err("there is no such device");
    assert_eq!(err.kind(), DeviceErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        "no sound device named `no-such-device` (`zonal play --list-devices` lists them)"
    );
}

#[test]
fn no_sound_card_is_one_line_with_advice() {
    let named_default = DeviceConfig {
        device: Some("default".to_owned()),
        ..config(64)
    };
    for cfg in [config(64), named_default] {
        check_default_device(&cfg);
    }
}

/// The default device plays, or says in one line that there is none.
fn check_default_device(cfg: &DeviceConfig) {
    match start_device(cfg, |_: &mut [f32]| {}) {
        Ok(stream) => eprintln!(
            "note: this machine has a default sound device ({}); the no-device message is \
             checked only where there is none",
            stream.describe()
        ),
        Err(err) => {
            assert_eq!(err.kind(), DeviceErrorKind::NoDevice, "{err}");
            let message = err.to_string();
            assert!(
                message.starts_with("no sound device available (ALSA: cannot open `default`: "),
                "{message}"
            );
            assert!(
                message
                    .ends_with("); try `zonal render` to write a WAV, or `zonal play --no-audio`"),
                "{message}"
            );
            assert!(!message.contains('\n'), "{message}");
        }
    }
}
