//! Live audio input through a real capture stream: `zonal play --input-device default`
//! plays a click train on channel 0 into a PulseAudio null sink of its own, captures
//! that sink's monitor, and plays what it hears on channel 1. The recording then holds
//! every click twice: as played, and as heard one round trip later.
//!
//! Runs where PulseAudio is installed (Debian `pulseaudio`, `pulseaudio-utils` and
//! `libasound2-plugins`): it uses a running server, or starts one and stops it
//! afterwards. Where there is none it prints a note and checks nothing.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RATE: usize = 48_000;
/// The sink this test plays into, so that other sound on the server is not heard.
const SINK: &str = "zonal_input_test";

fn pactl(args: &[&str]) -> Option<String> {
    let out = Command::new("pactl")
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A PulseAudio server this test started, and the sink module it loaded; both go when
/// dropped.
struct Pulse {
    started: bool,
    module: String,
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = pactl(&["unload-module", &self.module]);
        if self.started {
            let _ = Command::new("pulseaudio")
                .arg("--kill")
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn pulse_with_sink() -> Result<Pulse, String> {
    let mut started = false;
    if pactl(&["info"]).is_none() {
        let status = Command::new("pulseaudio")
            .args([
                "--daemonize=yes",
                "--exit-idle-time=-1",
                "-n",
                "--load=module-native-protocol-unix",
            ])
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("pulseaudio cannot be run ({e})"))?;
        if !status.success() {
            return Err(format!("pulseaudio did not start ({status})"));
        }
        started = true;
        let deadline = Instant::now() + Duration::from_secs(5);
        while pactl(&["info"]).is_none() {
            if Instant::now() > deadline {
                return Err("pulseaudio started but does not answer".to_owned());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let module = pactl(&[
        "load-module",
        "module-null-sink",
        &format!("sink_name={SINK}"),
        "rate=48000",
    ])
    .ok_or("the null sink cannot be loaded")?;
    Ok(Pulse { started, module })
}

/// Samples where `x` rises through 0.25.
fn onsets(x: &[f32]) -> Vec<usize> {
    (1..x.len())
        .filter(|&k| x[k] > 0.25 && x[k - 1] <= 0.25)
        .collect()
}

#[test]
fn play_hears_its_own_clicks_through_a_pulseaudio_monitor() {
    let _pulse = match pulse_with_sink() {
        Ok(pulse) => pulse,
        Err(why) => {
            eprintln!("note: no PulseAudio here: {why}; the live input test checks nothing");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("zonal-pulse-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (program, take) = (dir.join("loop.xtm"), dir.join("take.wav"));
    // channel 0: a 5 ms click every half second; channel 1: what channel 0 of the input
    // hears (held from the frame's first channel, so nothing feeds back)
    std::fs::write(
        &program,
        "(bind-func dsp:DSP (let ((held:SAMPLE 0.0)) (lambda (in time chan dat)\n\
           (if (= chan 0)\n\
               (begin (set! held in) (if (< (% time 24000) 240) (dtof 0.5) (dtof 0.0)))\n\
               held))))\n\
         (dsp:set! dsp)\n",
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_zonal"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .arg("play")
        .arg(&program)
        .args(["--port", "0", "--input-device", "default", "--record"])
        .arg(&take)
        .env("PULSE_SINK", SINK)
        .env("PULSE_SOURCE", format!("{SINK}.monitor"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: `kill` with a real child's pid and a valid signal number has no memory
    // effects in this process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    if log.contains("going on without sound") || log.contains("no input device") {
        eprintln!("note: ALSA's default device does not reach PulseAudio here:\n{log}");
        return;
    }
    assert!(out.status.success(), "{log}");
    assert!(log.contains("listening to default (2 channels)"), "{log}");

    let reader = hound::WavReader::open(&take).unwrap();
    let samples: Vec<f32> = reader.into_samples::<f32>().map(Result::unwrap).collect();
    let (played, heard): (Vec<f32>, Vec<f32>) =
        samples.chunks_exact(2).map(|f| (f[0], f[1])).unzip();
    let played_at = onsets(&played);
    let heard_at = onsets(&heard);
    assert!(played_at.len() >= 6, "{played_at:?}");
    assert!(played_at.iter().all(|t| t % 24_000 == 0), "{played_at:?}");
    // every click after the first second is heard once, a round trip later
    let mut latencies = Vec::new();
    for &t in played_at.iter().filter(|&&t| t >= RATE) {
        let after: Vec<usize> = heard_at
            .iter()
            .filter(|&&h| h > t && h < t + 24_000)
            .map(|&h| h - t)
            .collect();
        if t + 24_000 < played.len() {
            assert_eq!(
                after.len(),
                1,
                "click at {t} heard at +{after:?} ({heard_at:?})"
            );
            latencies.extend(after);
        }
    }
    assert!(!latencies.is_empty(), "{played_at:?} {heard_at:?}");
    let ms: Vec<f64> = latencies
        .iter()
        .map(|&l| l as f64 * 1000.0 / RATE as f64)
        .collect();
    eprintln!("round trip through PulseAudio's null sink and its monitor: {ms:.1?} ms");
    assert!(ms.iter().all(|&m| m < 300.0), "{ms:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
