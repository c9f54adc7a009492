//! Audio input offline: `zonal render --input FILE.wav` feeds a file through the DSP
//! closure's `in`, frame n at sample n, through the real process function and without
//! allocating on the audio thread; files that do not fit are refused with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use zonal_engine::input::FileInput;
use zonal_engine::render::{RenderConfig, SampleFormat, render_session};
use zonal_engine::session::{Session, SessionConfig};

#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

const RATE: u32 = 48_000;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zonal-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn write_wav(path: &Path, channels: u16, rate: u32, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

fn read_wav(path: &Path) -> (u16, Vec<f32>) {
    let reader = hound::WavReader::open(path).unwrap();
    let channels = reader.spec().channels;
    let samples = reader.into_samples::<f32>().map(Result::unwrap).collect();
    (channels, samples)
}

fn render_delay(input: Option<&Path>, out: &Path) -> String {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/delay.xtm");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zonal"));
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .arg("render")
        .arg(&example)
        .arg("-o")
        .arg(out)
        .args(["--seconds", "2"]);
    if let Some(input) = input {
        cmd.arg("--input").arg(input);
    }
    let done = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr).into_owned();
    assert!(done.status.success(), "{stderr}");
    stderr
}

#[test]
fn a_click_through_delay_xtm_echoes_at_the_exact_samples() {
    let click_at = 30_011;
    let mut click = vec![0.0f32; 2 * RATE as usize];
    click[click_at] = 0.8;
    let click_wav = scratch("click.wav");
    write_wav(&click_wav, 1, RATE, &click);
    let (with, without) = (scratch("with.wav"), scratch("without.wav"));
    render_delay(Some(&click_wav), &with);
    render_delay(None, &without);
    let (channels, a) = read_wav(&with);
    let (_, b) = read_wav(&without);
    assert_eq!(channels, 2);
    assert_eq!(a.len(), b.len());
    // the delay is linear: what the click added is the difference of the two renders
    for c in 0..2 {
        let added: Vec<f32> = a
            .iter()
            .zip(&b)
            .skip(c)
            .step_by(2)
            .map(|(x, y)| x - y)
            .collect();
        let hits: Vec<usize> = (0..added.len())
            .filter(|&i| added[i].abs() > 1e-3)
            .collect();
        let expected: Vec<usize> = (0..6).map(|k| click_at + 12_000 * k).collect();
        assert_eq!(hits, expected, "channel {c}");
        for (k, &i) in hits.iter().enumerate() {
            // 0.5 × 0.8 dry, then each echo at half the last
            let level = 0.4 / f32::powi(2.0, k as i32);
            assert!((added[i] - level).abs() < 1e-4, "echo {k}: {}", added[i]);
        }
    }
}

#[test]
fn an_input_file_reaches_in_frame_by_frame_without_allocation() {
    // a stereo file whose samples count up: the output must be the file itself, from a
    // per-sample closure's `in` and from a per-buffer closure's input buffer alike
    let frames = 10_000;
    let samples: Vec<f32> = (0..frames * 2).map(|i| i as f32 / 100_000.0).collect();
    let path = scratch("ramp.wav");
    write_wav(&path, 2, RATE, &samples);
    let cfg = RenderConfig {
        session: SessionConfig {
            sample_rate: RATE,
            channels: 2,
            ..SessionConfig::default()
        },
        buffer_frames: 100,
        seconds: 12_000.0 / f64::from(RATE),
        format: SampleFormat::F32,
        progress: false,
    };
    let per_sample = "(bind-func dsp:DSP (lambda (in time chan dat) in))";
    let per_buffer = "(bind-func dsp:DSPMC (lambda (in out time dat)\n\
           (dotimes (i (* FRAMES CHANNELS)) (pset! out i (pref in i))) void))";
    for entry in [per_sample, per_buffer] {
        let (mut session, mut processor) = Session::with_audio(&cfg.session).unwrap();
        // an event at sample 333 splits a buffer: the input must stay in step
        let events = "(dsp:set! dsp) (bind-val hits i64 0)\n\
             (bind-func pip (lambda () (set! hits (+ hits 1)) void)) (callback 333 'pip)\n\
             (bind-func hits_now (lambda () hits))";
        session
            .eval_source(&format!("{entry}\n{events}"), "test.xtm")
            .unwrap();
        let input = FileInput::open(&path, RATE, 2).unwrap();
        assert_eq!(input.frames(), frames);
        processor.set_input(Box::new(input));
        let rendered = render_session(&mut session, processor, &cfg).unwrap();
        assert_eq!(&rendered.samples[..frames * 2], &samples[..], "{entry}");
        assert!(rendered.samples[frames * 2..].iter().all(|&s| s == 0.0));
        assert_eq!(session.eval_source("(hits_now)", "test.xtm").unwrap(), "1");
    }
    assert_eq!(assert_no_alloc::violation_count(), 0);
}

#[test]
fn a_mono_input_feeds_every_channel_and_extra_channels_are_silent() {
    let path = scratch("mono.wav");
    write_wav(&path, 1, RATE, &[0.25, -0.5]);
    let mut three = FileInput::open(&path, RATE, 3).unwrap();
    let mut dest = [9.0; 9];
    zonal_engine::input::InputSource::read(&mut three, &mut dest, 3);
    assert_eq!(dest, [0.25, 0.25, 0.25, -0.5, -0.5, -0.5, 0.0, 0.0, 0.0]);
    let stereo = scratch("stereo.wav");
    write_wav(&stereo, 2, RATE, &[0.1, 0.2]);
    let mut four = FileInput::open(&stereo, RATE, 4).unwrap();
    let mut dest = [9.0; 4];
    zonal_engine::input::InputSource::read(&mut four, &mut dest, 4);
    assert_eq!(dest, [0.1, 0.2, 0.0, 0.0]);
}

#[test]
fn an_input_at_another_rate_is_refused_with_the_way_out() {
    let path = scratch("cd.wav");
    write_wav(&path, 2, 44_100, &[0.0; 200]);
    let out = scratch("refused.wav");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/delay.xtm");
    let done = Command::new(env!("CARGO_BIN_EXE_zonal"))
        .arg("render")
        .arg(&example)
        .arg("-o")
        .arg(&out)
        .arg("--input")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(1));
    assert!(
        stderr.contains("cd.wav is sampled at 44100 Hz but the render runs at 48000 Hz")
            && stderr.contains("render with --sample-rate 44100"),
        "{stderr}"
    );
}

#[test]
fn an_input_that_is_not_a_wav_is_refused() {
    let path = scratch("notes.txt");
    std::fs::write(&path, "not audio").unwrap();
    let Err(e) = FileInput::open(&path, RATE, 2) else {
        panic!("a text file was taken as audio");
    };
    let message = format!("{e:#}");
    assert!(
        message.contains("notes.txt: cannot read it as a WAV file"),
        "{message}"
    );
}
