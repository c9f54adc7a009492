//! Plays through the real cpal path on a paced device: PulseAudio with a null sink
//! behind ALSA's `default` device, which consumes audio at a true 48 kHz without sound
//! hardware. Checks the callback rate, the `zonal-audio` thread name and, through the
//! recorder, that what played is the sine the process function wrote.
//!
//! Runs where PulseAudio is installed (Debian `pulseaudio`, `pulseaudio-utils` and
//! `libasound2-plugins`): it uses a running server, or starts one with a null sink and
//! stops it afterwards. Where there is none, or ALSA does not route its `default` device
//! to it, it prints a note and checks nothing.

use std::f32::consts::TAU;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use zonal_engine::device::{DeviceConfig, start_device};
use zonal_engine::record::recording;

const RATE: u32 = 48_000;
const TONE_HZ: f32 = 440.0;

/// Whether a PulseAudio server answers.
fn pulse_answers() -> bool {
    Command::new("pactl")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A PulseAudio server this test started, stopped when dropped.
struct StartedPulse;

impl Drop for StartedPulse {
    fn drop(&mut self) {
        let _ = Command::new("pulseaudio")
            .arg("--kill")
            .stderr(Stdio::null())
            .status();
    }
}

/// Makes sure a server runs: `Ok(None)` if one already did, `Ok(Some(_))` if this test
/// started it, `Err(why)` if there is none to be had.
fn ensure_pulse() -> Result<Option<StartedPulse>, String> {
    if pulse_answers() {
        return Ok(None);
    }
    let started = Command::new("pulseaudio")
        .args([
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "-n",
            "--load=module-null-sink sink_name=zonal_test",
            "--load=module-native-protocol-unix",
        ])
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("pulseaudio cannot be run ({e})"))?;
    if !started.success() {
        return Err(format!("pulseaudio did not start ({started})"));
    }
    let guard = StartedPulse;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pulse_answers() {
        if Instant::now() > deadline {
            return Err("pulseaudio started but does not answer".to_owned());
        }
        thread::sleep(Duration::from_millis(100));
    }
    Ok(Some(guard))
}

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

/// The power of `samples` at `hz` (Goertzel).
fn power_at(samples: &[f32], hz: f32) -> f32 {
    let coeff = 2.0 * (TAU * hz / RATE as f32).cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

#[test]
fn pulseaudio_plays_in_real_time_and_the_recording_holds_the_tone() {
    let _pulse = match ensure_pulse() {
        Ok(pulse) => pulse,
        Err(why) => {
            eprintln!("note: no PulseAudio here: {why}; the paced-device test checks nothing");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("zonal-pulse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("makes a temp dir");
    let path = dir.join("played.wav");

    let frames = Arc::new(AtomicU64::new(0));
    let named = Arc::new(AtomicBool::new(true));
    let (counted, checked) = (Arc::clone(&frames), Arc::clone(&named));
    let mut phase = 0.0f32;
    let sine = move |buffer: &mut [f32]| {
        if os_thread_name() != *b"zonal-audio\0\0\0\0\0" {
            checked.store(false, Ordering::Relaxed);
        }
        for frame in buffer.chunks_mut(2) {
            let sample = 0.5 * (TAU * phase).sin();
            frame.fill(sample);
            phase = (phase + TONE_HZ / RATE as f32).fract();
        }
        counted.fetch_add(buffer.len() as u64 / 2, Ordering::Relaxed);
    };
    let (tap, recorder) = recording(&path, RATE, 2, sine).expect("starts recording");
    let cfg = DeviceConfig {
        device: None,
        sample_rate: RATE,
        channels: 2,
        buffer_frames: 1024,
    };
    let stream = match start_device(&cfg, tap) {
        Ok(stream) => stream,
        Err(e) => {
            // PulseAudio runs but ALSA does not route `default` to it (no
            // libasound2-plugins): not the setup this test is for.
            eprintln!("note: PulseAudio runs but ALSA's default device does not reach it: {e}");
            return;
        }
    };

    // The first ~2 s are slow while the plugin fills PulseAudio's buffer, and an
    // under-run costs another such pause; so sample the frame count and judge the best
    // one-second window: a paced device plays about 48,000 frames in it, an unpaced one
    // (like ALSA's `null`) hundreds of times more.
    let began = Instant::now();
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    let mut best = 0.0f64;
    let mut fastest = 0.0f64;
    while began.elapsed() < Duration::from_secs(8) {
        thread::sleep(Duration::from_millis(50));
        let now = (began.elapsed(), frames.load(Ordering::Relaxed));
        samples.push(now);
        for &(then, count) in &samples {
            let span = (now.0 - then).as_secs_f64();
            if (1.0..1.1).contains(&span) {
                let rate = (now.1 - count) as f64 / span;
                best = best.max(rate);
                fastest = fastest.max(rate);
            }
        }
        if best >= 47_000.0 && began.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    let (lost, xruns, errors) = (stream.is_lost(), stream.xruns(), stream.errors());
    stream.stop();
    let summary = recorder.finish().expect("finishes the recording");

    assert!(
        !lost,
        "the stream was lost ({xruns} under-runs, {errors} errors)"
    );
    assert!(
        named.load(Ordering::Relaxed),
        "the callback runs on zonal-audio"
    );
    assert!(
        (45_600.0..=50_400.0).contains(&best) && fastest <= 50_400.0,
        "the best second played {best:.0} frames, the fastest {fastest:.0}, not about 48,000 \
         ({xruns} under-runs, {errors} errors)"
    );
    assert_eq!(summary.dropped_samples, 0);
    assert_eq!(summary.frames, frames.load(Ordering::Relaxed));

    let reader = hound::WavReader::open(&path).expect("the recording opens");
    let left: Vec<f32> = reader
        .into_samples::<f32>()
        .step_by(2)
        .map(|s| s.expect("a sample"))
        .collect();
    let window = &left[left.len() / 2..left.len() / 2 + 4800];
    let tone = power_at(window, TONE_HZ);
    let off = power_at(window, 1000.0);
    assert!(tone > 1000.0 * off, "440 Hz {tone}, 1 kHz {off}");
    let rms = (window.iter().map(|x| x * x).sum::<f32>() / window.len() as f32).sqrt();
    assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.01, "RMS {rms}");
    let _ = std::fs::remove_dir_all(&dir);
}
