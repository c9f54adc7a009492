//! `zonal play` as a headless service: no terminal, no sound card (PulseAudio made
//! unreachable, so ALSA's `default` cannot open), a log file, a recording. It goes on
//! on the clock, serves an editor, and at SIGTERM exits 0 with the WAV finished.

use std::f32::consts::TAU;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zonal-headless-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Waits up to 20 s for the log to hold `text` and the rest of its line (a line may be
/// read while it is being written); returns the log.
fn wait_for_log(path: &Path, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        if log.find(text).is_some_and(|at| log[at..].contains('\n')) {
            return log;
        }
        assert!(Instant::now() < deadline, "not in the log: {text}\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn reply(s: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut b = [0u8; 1];
    loop {
        s.read_exact(&mut b).unwrap();
        if b[0] == 0 {
            return String::from_utf8(bytes).unwrap();
        }
        bytes.push(b[0]);
    }
}

/// The power of `samples` at `hz` (Goertzel).
fn power_at(samples: &[f32], hz: f32, rate: f32) -> f32 {
    let coeff = 2.0 * (TAU * hz / rate).cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

#[test]
fn sigterm_ends_a_headless_play_with_its_recording_finished_and_logged() {
    let (wav, log) = (scratch("take.wav"), scratch("zonal.log"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zonal"))
        .current_dir(&root)
        .args(["play", "examples/sine.xtm", "--port", "0", "--record"])
        .arg(&wav)
        .arg("--log")
        .arg(&log)
        // no sound server to reach: ALSA's default device (PulseAudio's plugin, where
        // installed) cannot open, as on a machine without a sound card
        .env("PULSE_SERVER", "unix:/nonexistent/zonal-test")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text = wait_for_log(&log, "editor server on ");
    let addr = text
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in the log:\n{text}"))
        .to_owned();
    let mut editor = TcpStream::connect(&addr).unwrap();
    editor
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(reply(&mut editor), "Welcome to extempore!");
    editor.write_all(b"(* 6 7)\r\n").unwrap();
    assert_eq!(reply(&mut editor), "42");
    std::thread::sleep(Duration::from_millis(1500));

    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: `kill` with a real child's pid and a valid signal number has no memory
    // effects in this process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "SIGTERM did not end zonal play");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{status}\n{log}");
    // everything went to the log: nothing on the terminal's streams
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
    assert!(log.contains("recorded "), "{log}");
    assert!(!log.contains("panicked"), "{log}");

    // the header is complete: hound reads exactly the frames it says it holds
    let reader = hound::WavReader::open(&wav).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 48_000));
    let frames = reader.duration() as usize;
    let samples: Vec<f32> = reader.into_samples::<f32>().map(Result::unwrap).collect();
    assert_eq!(samples.len(), frames * 2);
    assert!(frames >= 48_000, "{frames} frames recorded in 1.5 s");
    let left: Vec<f32> = samples.iter().step_by(2).copied().collect();
    let window = &left[frames - 24_000..];
    let tone = power_at(window, 440.0, 48_000.0);
    let off = power_at(window, 1000.0, 48_000.0);
    assert!(tone > 1000.0 * off, "440 Hz {tone}, 1 kHz {off}");
    let rms = (window.iter().map(|x| x * x).sum::<f32>() / window.len() as f32).sqrt();
    assert!((rms - 0.3 / 2f32.sqrt()).abs() < 0.01, "RMS {rms}");
}

fn eval(editor: &mut TcpStream, src: &str) -> String {
    editor.write_all(format!("{src}\r\n").as_bytes()).unwrap();
    reply(editor)
}

#[test]
fn audio_load_in_a_live_no_audio_session_counts_the_clock() {
    let log = scratch("load.log");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_zonal"))
        .current_dir(&root)
        .args(["play", "--no-audio", "examples/sine.xtm", "--port", "0"])
        .arg("--log")
        .arg(&log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let text = wait_for_log(&log, "editor server on ");
    let addr = text
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .unwrap()
        .to_owned();
    let mut editor = TcpStream::connect(&addr).unwrap();
    editor
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    assert_eq!(reply(&mut editor), "Welcome to extempore!");
    eval(&mut editor, "(sys:audio-report)");
    std::thread::sleep(Duration::from_secs(1));
    eval(&mut editor, "(define r (sys:audio-report))");
    let number = |editor: &mut TcpStream, src: &str| -> f64 {
        let text = eval(editor, src);
        text.parse().unwrap_or_else(|_| panic!("{src} gave {text}"))
    };
    let seconds = number(&mut editor, "(cadr (assq 'seconds r))");
    assert!((0.8..1.6).contains(&seconds), "{seconds} s in a second");
    let load = number(&mut editor, "(cadr (assq 'load r))");
    assert!(load > 0.0 && load < 1.0, "load {load}");
    // the clock counts its late buffers as xruns
    let xruns = number(&mut editor, "(cadr (assq 'xruns r))");
    assert!(xruns >= 0.0 && xruns.fract() == 0.0, "{xruns}");
    assert_eq!(
        eval(&mut editor, "(car (cadr (assq 'closures r)))"),
        "\"dsp\""
    );
    let peak = number(&mut editor, "(car (cadr (assq 'channels r)))");
    assert!((peak - 0.3).abs() < 1e-3, "peak {peak}");
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: `kill` with a real child's pid and a valid signal number has no memory
    // effects in this process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}
