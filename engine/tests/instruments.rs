//! The instruments of `libs/core/instruments.xtm`, played as a livecoder plays them
//! and listened to: Extempore's first session, notes on their exact sample with the
//! right pitch, release times, polyphony and voice stealing, the drum kit's onsets,
//! `play` on the beat clock, and the sampler's files (WAV and FLAC, both generated
//! here) shifted in pitch by resampling.

mod common;

use std::path::{Path, PathBuf};

use common::{RATE, channel, onsets, render_source, rms};
use zonal_engine::offline::OfflineSession;
use zonal_engine::session::{Session, SessionConfig};
use zonal_engine::testing::analysis::peak_frequency;
use zonal_scheme::ErrorKind;

#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

const FS: f64 = RATE as f64;

/// A test instrument as a livecoder would define one: each voice a constant
/// `amplitude` (so a note's start and end are exact steps), no attack, a release of
/// the `release` parameter, and an effect kernel that passes the voices through.
const PROBE: &str = r#"(sys:load "libs/core/instruments.xtm")
(define-instrument-params 'probe '(release . 100.0))
(bind-func probe_note_c
  (lambda ()
    (let ((env (note_adsr_c)))
      (lambda (data:NoteData* time:i64 chan:i64)
        (* (note_amplitude data) (env data chan 0.0 0.0 1.0 (note_param data 0)))))))
(bind-func probe_fx
  (lambda ()
    (lambda (in:SAMPLE time:i64 chan:i64 params:SAMPLE*) in)))
(make-instrument probe probe)
(bind-func dsp:DSP (lambda (in time chan dat) (probe in time chan dat)))
(dsp:set! dsp)
"#;

/// Extempore's loudness curve, as play-note applies it to a velocity.
fn amplitude(vol: f64) -> f64 {
    (vol / 26.222).exp() / 127.0
}

fn left(src: &str, seconds: f64) -> Vec<f32> {
    let r = render_source(src, seconds);
    assert_eq!(r.summary.failures, 0, "the render reported failures");
    channel(&r.samples, 2, 0)
}

fn first_sound(x: &[f32], from: usize) -> Option<usize> {
    x[from..]
        .iter()
        .position(|v| v.abs() > 1e-6)
        .map(|i| i + from)
}

fn pitch(x: &[f32], from: f64, to: f64) -> f64 {
    let seg: Vec<f64> = x[(from * FS) as usize..(to * FS) as usize]
        .iter()
        .map(|v| f64::from(*v))
        .collect();
    peak_frequency(&seg, FS).expect("a pitch")
}

/// What every Extempore session starts with must work as it is written there.
#[test]
fn extempore_first_session_plays_a_synth_note() {
    let x = left(
        r#"(sys:load "libs/core/instruments.xtm")
(make-instrument synth synth)
(bind-func dsp:DSP (lambda (in time chan dat) (synth in time chan dat)))
(dsp:set! dsp)
(play-note (now) synth 60 80 44100)"#,
        2.0,
    );
    let f = pitch(&x, 0.05, 0.45);
    assert!((f - 261.63).abs() < 2.0, "middle C sounds at {f:.2} Hz");
    assert!(rms(&x, 4800, 24000) > 0.02, "the note is audible");
}

#[test]
fn notes_land_on_their_exact_sample() {
    // one from the top level, one from a callback long before it, one from a
    // callback at the note's own time; none on a buffer boundary
    let x = left(
        &format!(
            "{PROBE}
(play-note 12345 probe 60 127 1000)
(callback 100 (lambda () (play-note 30001 probe 60 127 1000)))
(callback 50007 (lambda () (play-note (now) probe 60 127 1000)))"
        ),
        1.2,
    );
    let mut from = 0;
    for expected in [12345, 30001, 50007] {
        let at = first_sound(&x, from).expect("the note sounds");
        assert_eq!(at, expected, "a note lands on its sample");
        assert!((f64::from(x[at]) - amplitude(127.0)).abs() < 1e-4);
        from = at + 6000;
    }
}

/// Pitch 0 (a rest in Extempore's note lists) sounded as a DC thump of a voice at
/// 0 Hz; Extempore plays nothing for a note of 10 Hz or less.
#[test]
fn a_note_at_pitch_zero_is_a_rest() {
    let x = left(
        &format!("{PROBE}(play-note 100 probe 0 127 1000)\n(play-note 2000 probe 60 127 1000)"),
        0.1,
    );
    assert_eq!(first_sound(&x, 0), Some(2000));
}

#[test]
fn synth_notes_sound_at_their_pitch() {
    let x = left(
        r#"(sys:load "libs/core/instruments.xtm")
(make-instrument synth synth)
(set-instrument-param synth 'detune 0.0)
(set-instrument-param synth 'delay-mix 0.0)
(bind-func dsp:DSP (lambda (in time chan dat) (synth in time chan dat)))
(dsp:set! dsp)
(play-note 0 synth 69 100 48000)
(play-note 72000 synth 76 100 48000)"#,
        2.6,
    );
    let a = pitch(&x, 0.1, 0.9);
    let e = pitch(&x, 1.6, 2.4);
    assert!((a - 440.0).abs() < 0.5, "A4 at {a:.2} Hz");
    assert!((e - 659.26).abs() < 0.7, "E5 at {e:.2} Hz");
}

#[test]
fn fmsynth_and_analogue_sound_at_their_pitch() {
    let x = left(
        r#"(sys:load "libs/core/instruments.xtm")
(make-instrument fm fmsynth)
(make-instrument an analogue)
(set-instrument-param fm 'delay-mix 0.0)
(bind-func dsp:DSP (lambda (in time chan dat) (+ (fm in time chan dat) (an in time chan dat))))
(dsp:set! dsp)
(play-note 0 fm 57 100 48000 0.3 1.0)
(play-note 72000 an 45 100 48000)"#,
        2.6,
    );
    let fm = pitch(&x, 0.1, 0.9);
    assert!((fm - 220.0).abs() < 0.7, "fmsynth's A3 at {fm:.2} Hz");
    let an = pitch(&x, 1.6, 2.4);
    assert!((an - 110.0).abs() < 0.7, "analogue's A2 at {an:.2} Hz");
}

#[test]
fn note_off_starts_the_release_of_its_length() {
    let x = left(
        &format!(
            "{PROBE}
(set-instrument-param probe 'release 100.0)
(play-note 10000 probe 60 127 4800)
(define held (start-note 30000 probe 64 127))
(stop-note 40000 held)"
        ),
        1.0,
    );
    let a = amplitude(127.0) as f32;
    // the gate closes dur samples after the start, then 100 ms (4,800 samples) fall
    // linearly to silence
    assert!((x[14799] - a).abs() < 1e-5, "held until the note's end");
    assert!(
        (x[14800 + 2400] - a / 2.0).abs() < 0.01 * a,
        "half-way down"
    );
    assert_eq!(
        first_sound(&x, 14800 + 4801),
        Some(30000),
        "silent after the release"
    );
    assert!(
        (x[39999] - a).abs() < 1e-5,
        "start-note holds until stop-note"
    );
    assert!((x[40000 + 2400] - a / 2.0).abs() < 0.01 * a);
    assert!(x[44802..].iter().all(|v| v.abs() < 1e-6), "released");
}

/// make-instrument inside a procedure defined its Scheme instrument locally, so the
/// global name was left as the bare xtlang closure and set-instrument-param refused it.
#[test]
fn make_instrument_again_from_a_callback_keeps_the_instrument_playable() {
    let x = left(
        r#"(sys:load "libs/core/instruments.xtm")
(make-instrument synth synth)
(bind-func dsp:DSP (lambda (in time chan dat) (synth in time chan dat)))
(dsp:set! dsp)
(play-note 0 synth 60 100 96000)
(callback 24000 (lambda () (make-instrument synth synth) (play-note (now) synth 67 100 24000)))
(callback 48000 (lambda () (set-instrument-param synth 'delay-mix 0.0)
                           (play-note (now) synth 69 100 24000)))"#,
        1.6,
    );
    for at in [12000, 36000, 60000] {
        assert!(rms(&x, at, 4800) > 0.02, "sounding at {at}");
    }
}

#[test]
fn polyphony_is_limited_and_the_oldest_voice_is_stolen() {
    // six notes of distinct velocities on 4 voices: notes 5 and 6 take the voices
    // of notes 1 and 2 (quiet, so that the sums stay below full scale)
    let vols = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0];
    let plays: String = vols
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "(play-note {} probe {} {v} 48000)\n",
                1000 + i * 1000,
                60 + i
            )
        })
        .collect();
    let x = left(
        &format!("{PROBE}(set-instrument-polyphony probe 4)\n{plays}"),
        0.2,
    );
    let level = |n: usize| -> f64 {
        let first = n.saturating_sub(4);
        vols[first..n].iter().map(|v| amplitude(*v)).sum()
    };
    for n in 1..=6 {
        let at = 1000 * n + 500;
        assert!(
            (f64::from(x[at]) - level(n)).abs() < 1e-4,
            "after {n} notes the sum of the last four: {} vs {}",
            x[at],
            level(n)
        );
    }
}

/// A kernel whose voices differ per channel (Extempore's convention) is called on
/// every channel: this one sounds half as loud on the right.
#[test]
fn voices_that_differ_per_channel_are_called_on_every_channel() {
    let src = format!(
        "{PROBE}(bind-func wide_note_c
  (lambda ()
    (lambda (data:NoteData* time:i64 chan:i64)
      (* (note_amplitude data) (if (= chan 0) 1.0 0.5)))))
(bind-func wide_fx (lambda () (lambda (in:SAMPLE time:i64 chan:i64 params:SAMPLE*) in)))
(bind-instrument wide wide_note_c wide_fx)
(bind-func dsp:DSP (lambda (in time chan dat) (wide in time chan dat)))
(play-note 100 wide 60 100 4800)\n"
    );
    let r = render_source(&src, 0.05);
    assert_eq!(r.summary.failures, 0, "the render reported failures");
    let (l, rt) = (channel(&r.samples, 2, 0), channel(&r.samples, 2, 1));
    let a = amplitude(100.0);
    assert!((f64::from(l[1000]) - a).abs() < 1e-5, "left {}", l[1000]);
    assert!(
        (f64::from(rt[1000]) - 0.5 * a).abs() < 1e-5,
        "right {}",
        rt[1000]
    );
}

/// A kernel that declares mono voices (instrument_mono_voice, as synth's does) has its
/// voices called on channel 0 only, and their sum serves every channel: this voice
/// gives 0 on channel 1, so a right channel as loud as the left shows it was not
/// called there.
#[test]
fn mono_voices_are_called_on_channel_zero_only_and_their_sum_serves_every_channel() {
    let src = format!(
        "{PROBE}(bind-func mono_note_c
  (lambda ()
    (instrument_mono_voice)
    (lambda (data:NoteData* time:i64 chan:i64)
      (if (= chan 0) (note_amplitude data) 0.0))))
(bind-func mono_fx (lambda () (lambda (in:SAMPLE time:i64 chan:i64 params:SAMPLE*) in)))
(bind-instrument mono mono_note_c mono_fx)
(bind-func dsp:DSP (lambda (in time chan dat) (mono in time chan dat)))
(play-note 100 mono 60 100 4800)
(play-note 200 mono 64 50 4800)\n"
    );
    let r = render_source(&src, 0.05);
    assert_eq!(r.summary.failures, 0, "the render reported failures");
    let (l, rt) = (channel(&r.samples, 2, 0), channel(&r.samples, 2, 1));
    let a = amplitude(100.0) + amplitude(50.0);
    for (name, x) in [("left", &l), ("right", &rt)] {
        assert!(x[50].abs() < 1e-9, "{name} is silent before the notes");
        assert!((f64::from(x[1000]) - a).abs() < 1e-5, "{name} {}", x[1000]);
    }
}

/// A score of everything a voice can see change: notes with durations (their gates
/// close, their releases run), held notes and note-offs, voice stealing, a parameter
/// change, polyphony lowered while notes sound, and a note from xtlang at an event's
/// `(now)`, all off the 64-frame buffer boundaries.
const VOICE_SCORE: &str = r#"(make-instrument s0 synth)
(make-instrument s1 synth)
(play-note 1001 s0 60 90 7000)
(play-note 1003 s0 64 80 12345)
(play-note 5077 s0 67 70 3000)
(play-note 20011 s0 72 100 4441)
(define h1 (start-note 2000 s1 48 100))
(define h2 (start-note 2017 s1 55 90))
(stop-note 25017 h1)
(stop-note 31113 h2)
(set-instrument-polyphony s1 4)
(play-note 40001 s1 50 80 9000)
(play-note 40503 s1 52 80 9000)
(play-note 41005 s1 54 80 9000)
(play-note 41507 s1 56 80 9000)
(play-note 42009 s1 58 80 9000)
(play-note 42511 s1 60 80 9000)
(callback 15011 (lambda () (set-instrument-param s0 'cutoff 1200.0) (set-instrument-param s0 'release 50.0)))
(play-note 15500 s0 62 90 9000)
(play-note 50003 s0 40 90 48000)
(play-note 50003 s0 43 90 48000)
(callback 55007 (lambda () (set-instrument-polyphony s0 1)))
(callback 60001 (lambda () (s0_note_on (now) 440.0 0.3 5000 0 0.0 0.0 0.0)))
"#;

/// The score played through `dsp` (a definition of `dsp` calling `s0` and `s1`) with
/// synth's voices as they are and with their block form taken away (the instrument then
/// calls them a sample at a time): both renders, checked to have run without failures.
fn block_and_sample_renders(dsp: &str) -> (Vec<f32>, Vec<f32>) {
    let lib = "(sys:load \"libs/core/instruments.xtm\")\n";
    let per_sample = "(bind-func instrument_block_voice
  (lambda (block:VOICE_BLOCK) (set! instrument_voices_mono #t) void))\n";
    let score = format!("{VOICE_SCORE}{dsp}\n(dsp:set! dsp)\n");
    let blocks = render_source(&format!("{lib}{score}"), 1.4);
    let samples = render_source(&format!("{lib}{per_sample}{score}"), 1.4);
    assert_eq!(blocks.summary.failures, 0, "the block render failed");
    assert_eq!(samples.summary.failures, 0, "the per-sample render failed");
    assert_eq!(blocks.samples.len(), samples.samples.len());
    (blocks.samples, samples.samples)
}

fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// synth's voices render stretches of samples (instrument_block_voice); with that
/// declaration taken away, the instrument calls the same voices a sample at a time.
/// Both renders of a score of notes, note-offs, stealing, a parameter change and
/// lowered polyphony must agree sample for sample, onsets on the same samples.
#[test]
fn block_voices_render_what_voices_called_a_sample_at_a_time_render() {
    let (blocks, samples) = block_and_sample_renders(
        "(bind-func dsp:DSP 100000
  (lambda (in time chan dat) (+ (s0 in time chan dat) (s1 in time chan dat))))",
    );
    let worst = largest_difference(&blocks, &samples);
    assert!(worst < 1e-6, "the renders differ by up to {worst}");
    let left = channel(&blocks, 2, 0);
    assert!(rms(&left, 0, left.len()) > 0.01, "the score sounds");
    // the saws' first sample is 0 (each at its step, corrected by poly_blep)
    let first = first_sound(&left, 0).expect("the first note sounds");
    assert!(
        (1001..1004).contains(&first),
        "the first note at {first}, played at 1001"
    );
    let found = onsets(&left, 1e-6, 1000);
    assert_eq!(found, onsets(&channel(&samples, 2, 0), 1e-6, 1000));
}

/// A dsp that calls an instrument on some samples only passes times that do not follow
/// on from the last stretch: the instrument renders its block voices a sample a call, as
/// it calls per-sample voices, rather than handing out samples rendered ahead for times
/// that were skipped.
#[test]
fn a_dsp_that_skips_samples_gets_its_block_voices_a_sample_a_call() {
    let (blocks, samples) = block_and_sample_renders(
        "(bind-func dsp:DSP 100000
  (lambda (in time chan dat)
    (if (= (% time 3) 0) (+ (s0 in time chan dat) (s1 in time chan dat)) 0.0)))",
    );
    let worst = largest_difference(&blocks, &samples);
    assert!(worst < 1e-6, "the renders differ by up to {worst}");
    assert!(
        rms(&channel(&blocks, 2, 0), 0, 60000) > 0.005,
        "the score sounds"
    );
}

#[test]
fn at_most_maxpolyphony_voices_sound() {
    let plays: String = (0..40)
        .map(|i| format!("(play-note {} probe 60 1 48000)\n", 100 + i * 10))
        .collect();
    let x = left(&format!("{PROBE}{plays}"), 0.1);
    let a = amplitude(1.0);
    assert!((f64::from(x[100 + 31 * 10 + 5]) - 32.0 * a).abs() < 1e-3);
    assert!(
        (f64::from(x[100 + 39 * 10 + 5]) - 32.0 * a).abs() < 1e-3,
        "32 voices"
    );
}

#[test]
fn play_is_relative_to_the_beat_clock() {
    // 120 BPM: a beat is 24,000 samples
    let x = left(
        &format!(
            "{PROBE}
(define (at beat)
  (play probe 60 127 1/4)
  (play 1/2 probe 60 127 1/4))
(at 2)"
        ),
        3.0,
    );
    assert_eq!(first_sound(&x, 0), Some(48000));
    assert!(x[48000 + 5999].abs() > 0.5 && x[48000 + 6000 + 4801].abs() < 1e-6);
    assert_eq!(first_sound(&x, 58900), Some(60000));
}

/// Extempore's playp (its instruments-scm.xtm has it commented out; synth.xtm calls
/// it): a cycle of 4 beats, one element a beat, a list sharing its element's beat, `__`
/// a rest, and synth.xtm's `(repeat LIST N)`.
#[test]
fn playp_spreads_its_pitches_over_its_cycle() {
    // 120 BPM: a beat is 24,000 samples
    let x = left(
        &format!(
            "{PROBE}
(set-instrument-param probe 'release 10.0)
(if (not (equal? (repeat '(1 2) 2) '((1 2) (1 2)))) (error \"repeat\" (repeat '(1 2) 2)))
(define (at beat dur) (playp 4 0 probe (repeat '(60 __ (62 64) 65) 1) 127 1/4))
(at 4 4)"
        ),
        4.0,
    );
    // a note of a quarter beat and 10 ms of release from each start
    let gone = 6000 + 480 + 10;
    assert_eq!(first_sound(&x, 0), Some(96000));
    assert_eq!(first_sound(&x, 96000 + gone), Some(144000), "beat 5 rests");
    assert_eq!(first_sound(&x, 144000 + gone), Some(156000));
    assert_eq!(first_sound(&x, 156000 + gone), Some(168000));
    assert_eq!(first_sound(&x, 168000 + gone), None);
}

/// Extempore's onbeat?, which covers.xtm's loop calls: its first beat of every 4.
#[test]
fn onbeat_takes_the_nth_beat_of_every_group() {
    let r = render_source(
        &format!(
            "{PROBE}
(define (hit? beat) (onbeat? 1 4 'yes 'no))
(define got (map hit? '(0 1 2 3 4 9/2 8)))
(if (not (equal? got '(yes no no no yes no yes))) (error \"onbeat?\" got))
(define (third? beat) (onbeat? 3 4 #t))
(if (not (third? 6)) (error \"beat 6 is the third of 4\"))"
        ),
        0.1,
    );
    assert_eq!(r.summary.failures, 0);
}

#[test]
fn drum_hits_start_on_their_samples() {
    let x = left(
        r#"(sys:load "libs/core/instruments.xtm")
(make-instrument kit drums)
(bind-func dsp:DSP (lambda (in time chan dat) (kit in time chan dat)))
(dsp:set! dsp)
(play-note 4800 kit *gm-kick* 110 100)
(play-note 28800 kit *gm-snare* 110 100)
(play-note 48000 kit *gm-closed-hi-hat* 110 100)
(play-note 60000 kit *gm-open-hi-hat* 110 100)"#,
        1.6,
    );
    let found = onsets(&x, 0.005, 4000);
    assert_eq!(found.len(), 4, "{found:?}");
    for (got, want) in found.iter().zip([4800, 28800, 48000, 60000]) {
        assert!(got.abs_diff(want) <= 16, "onset at {got}, hit at {want}");
    }
    // the kick is low, the hats are high
    let kick = pitch(&x, 0.15, 0.45);
    assert!((40.0..80.0).contains(&kick), "kick at {kick:.1} Hz");
    let hat = pitch(&x, 1.0, 1.05);
    assert!(hat > 5000.0, "closed hat centred at {hat:.0} Hz");
    let closed_hat_end = rms(&x, 48000 + 9600, 2400);
    assert!(
        closed_hat_end < 0.002,
        "a closed hat is short: {closed_hat_end}"
    );
}

// ---------------------------------------------------------------------------
// the sampler

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zonal-instruments-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A 16-bit WAV of a sine at `freq`.
fn write_wav(path: &Path, freq: f64, rate: u32, channels: u16, seconds: f64) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(seconds * f64::from(rate)) as usize {
        let v = (0.5 * (std::f64::consts::TAU * freq * i as f64 / f64::from(rate)).sin() * 32767.0)
            as i16;
        for _ in 0..channels {
            w.write_sample(v).unwrap();
        }
    }
    w.finalize().unwrap();
}

#[test]
fn sampler_plays_a_wav_an_octave_up_at_twice_the_frequency() {
    let dir = scratch("wav");
    write_wav(&dir.join("69.wav"), 440.0, RATE, 1, 2.0);
    std::fs::write(dir.join("notes.txt"), "not a sample").unwrap();
    let x = left(
        &format!(
            r#"(sys:load "libs/core/instruments.xtm")
(make-instrument samp sampler)
(if (not (= (load-sampler samp "{}") 1)) (error "one file loads"))
(bind-func dsp:DSP (lambda (in time chan dat) (samp in time chan dat)))
(dsp:set! dsp)
(play-note 0 samp 69 127 48000)
(play-note 72000 samp 81 127 48000)
(play-note 144000 samp 64 127 48000)"#,
            dir.display()
        ),
        4.1,
    );
    let a4 = pitch(&x, 0.1, 0.9);
    let a5 = pitch(&x, 1.6, 2.4);
    let e4 = pitch(&x, 3.1, 3.9);
    assert!((a4 - 440.0).abs() < 0.5, "the sample's own pitch: {a4:.2}");
    assert!(
        (a5 / a4 - 2.0).abs() < 0.002,
        "an octave up doubles: {a5:.2}"
    );
    assert!((e4 - 329.63).abs() < 0.5, "five semitones down: {e4:.2}");
    // an octave up plays the 2 s file in 1 s
    assert!(rms(&x, 72000 + 40000, 4000) > 0.1);
    assert!(rms(&x, 72000 + 49000, 4000) < 1e-4, "the file has ended");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sampler_reads_flac_at_its_own_sample_rate() {
    let dir = scratch("flac");
    let path = dir.join("a4.flac");
    // a 440 Hz stereo sine sampled at 24 kHz: the sampler steps through it at half
    // speed to keep its pitch
    let rate = 24_000;
    let frames: Vec<[i16; 2]> = (0..rate as usize)
        .map(|i| {
            let v = (0.5
                * (std::f64::consts::TAU * 440.0 * i as f64 / f64::from(rate)).sin()
                * 32767.0) as i16;
            [v, v / 2]
        })
        .collect();
    std::fs::write(&path, flac::encode(&frames, rate)).unwrap();
    let r = render_source(
        &format!(
            r#"(sys:load "libs/core/instruments.xtm")
(make-instrument samp sampler)
(load-sample samp "{}" 69 1)
(bind-func dsp:DSP (lambda (in time chan dat) (samp in time chan dat)))
(dsp:set! dsp)
(play-note 0 samp 69 127 48000 1)
(play-note 72000 samp 57 127 48000 1)"#,
            path.display()
        ),
        2.6,
    );
    assert_eq!(r.summary.failures, 0);
    let (l, rt) = (channel(&r.samples, 2, 0), channel(&r.samples, 2, 1));
    let a4 = pitch(&l, 0.1, 0.9);
    assert!((a4 - 440.0).abs() < 0.5, "at its pitch: {a4:.2}");
    let a3 = pitch(&l, 1.6, 2.4);
    assert!((a3 - 220.0).abs() < 0.5, "an octave down: {a3:.2}");
    // a stereo file keeps its channels
    let ratio = rms(&rt, 4800, 24000) / rms(&l, 4800, 24000);
    assert!(
        (ratio - 0.5).abs() < 0.01,
        "right at half the left: {ratio}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Loading a shorter file into the slot a note is playing: the slot changes between
/// two samples on the audio thread (load-sample sends it as a timed call), so the
/// voice never reads the new frames with the old length, which would fault.
#[test]
fn reloading_a_playing_slot_with_a_shorter_file_does_not_fault() {
    let dir = scratch("reload");
    write_wav(&dir.join("long.wav"), 440.0, RATE, 1, 2.0);
    write_wav(&dir.join("short.wav"), 880.0, RATE, 1, 0.2);
    let x = left(
        &format!(
            r#"(sys:load "libs/core/instruments.xtm")
(make-instrument samp sampler)
(load-sample samp "{long}" 69)
(bind-func dsp:DSP (lambda (in time chan dat) (samp in time chan dat)))
(dsp:set! dsp)
(play-note 0 samp 69 127 96000)
(callback 24000 (lambda () (load-sample samp "{short}" 69)))
(play-note 48000 samp 69 127 96000)"#,
            long = dir.join("long.wav").display(),
            short = dir.join("short.wav").display()
        ),
        1.5,
    );
    assert!(rms(&x, 4800, 9600) > 0.1, "the long file plays");
    // the first note was past the short file's end when it changed: it stops
    assert!(rms(&x, 30000, 9600) < 1e-4);
    let f = pitch(&x, 1.01, 1.19);
    assert!(
        (f - 880.0).abs() < 3.0,
        "the new note plays the new file: {f:.1}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A slot loaded again, or cleared, frees the frames it held once the audio thread
/// has moved on to the new ones: reading the old frames afterwards is a use after
/// free, which the memory checks turn into an error.
#[test]
fn a_replaced_or_cleared_slot_frees_its_frames() {
    let dir = scratch("free");
    write_wav(&dir.join("a.wav"), 440.0, RATE, 1, 0.2);
    write_wav(&dir.join("b.wav"), 880.0, RATE, 1, 0.2);
    let mut s = OfflineSession::new(&SessionConfig::default()).unwrap();
    s.eval(&format!(
        r#"(sys:load "libs/core/instruments.xtm")
(make-instrument samp sampler)
(bind-func dsp:DSP (lambda (in time chan dat) (samp in time chan dat)))
(dsp:set! dsp)
(bind-func peek (lambda (p:SAMPLE*) (pref p 100)))
(load-sample samp "{}" 69)"#,
        dir.join("a.wav").display()
    ))
    .unwrap();
    s.render(0.1);
    s.eval("(define first (samp_slot_data 69))").unwrap();
    s.eval("(peek first)").unwrap();
    s.eval(&format!(
        r#"(load-sample samp "{}" 69)"#,
        dir.join("b.wav").display()
    ))
    .unwrap();
    // still in use until the audio thread has the new frames
    s.eval("(peek first)").unwrap();
    s.render(0.2);
    let e = s.eval("(peek first)").unwrap_err();
    assert!(e.to_string().contains("free"), "{e}");
    s.eval("(define second (samp_slot_data 69))").unwrap();
    s.eval("(peek second)").unwrap();
    s.eval("(clear-sample samp 69)").unwrap();
    s.render(0.2);
    assert!(s.eval("(peek second)").is_err());
    assert_eq!(s.eval("(samp_slot_data 69)").unwrap(), "0");
    assert_eq!(s.eval("(samp_slot_frames 69)").unwrap(), "0");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sampler_parses_midi_numbers_and_pitch_names() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    s.eval_source(r#"(sys:load "libs/core/instruments.xtm")"#, "t.xtm")
        .unwrap();
    let v = s
        .eval_source(
            r#"(map (lambda (f) (let ((p (sampler-parse-filename f))) (and p (cadr p))))
                  '("60.wav" "C4.flac" "Eb3.wav" "piano-f#2-soft.WAV" "notes.txt" ".69.wav" "kick.wav"))"#,
            "t.xtm",
        )
        .unwrap();
    assert_eq!(v, "(60 60 51 42 #f #f #f)");
}

/// base.xtm's xtlang `random` (a bind-func, so also a Scheme procedure of that name)
/// replaced Scheme's: `(random '(60 63 67))`, in every Extempore melody, failed with
/// "random takes 0 arguments" once a library was loaded.
#[test]
fn scheme_random_of_a_list_survives_the_base_library() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    s.eval_source(r#"(sys:load "libs/core/instruments.xtm")"#, "t.xtm")
        .unwrap();
    let v = s
        .eval_source(
            "(list (and (memv (random '(60 63 67)) '(60 63 67)) #t) (< -1 (random 10) 10))",
            "t.xtm",
        )
        .unwrap();
    assert_eq!(v, "(#t #t)");
    // xtlang code still has its own
    s.eval_source("(bind-func r2 (lambda () (* 2.0 (random))))", "t.xtm")
        .unwrap();
    let r: f64 = s.eval_source("(r2)", "t.xtm").unwrap().parse().unwrap();
    assert!((0.0..2.0).contains(&r));
}

#[test]
fn mistakes_say_what_is_wrong() {
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    s.eval_source(
        r#"(sys:load "libs/core/instruments.xtm") (make-instrument synth synth)"#,
        "t.xtm",
    )
    .unwrap();
    let e = s
        .eval_source("(play-note (now) 'nothing 60 80 1000)", "t.xtm")
        .unwrap_err();
    assert!(e.message.contains("play-note: not an instrument"), "{e}");
    let e = s
        .eval_source("(set-instrument-param synth 'wobble 1.0)", "t.xtm")
        .unwrap_err();
    assert!(e.message.contains("synth has no parameter wobble"), "{e}");
    assert!(e.message.contains("cutoff"), "it lists the parameters: {e}");
    let e = s
        .eval_source(r#"(load-sample synth "/no/such/file.wav" 60)"#, "t.xtm")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io, "{e}");
    assert!(e.message.contains("/no/such/file.wav"), "{e}");
    let junk = scratch("junk").join("junk.wav");
    std::fs::write(&junk, "RIFF but not really").unwrap();
    let e = s
        .eval_source(
            &format!(r#"(load-sample synth "{}" 60)"#, junk.display()),
            "t.xtm",
        )
        .unwrap_err();
    assert!(e.message.contains("cannot read"), "{e}");
    let e = s
        .eval_source("(sys:audio-file-copy 12345)", "t.xtm")
        .unwrap_err();
    assert!(e.message.contains("no file is pending"), "{e}");
    assert_eq!(
        s.eval_source("(get-instrument-param synth 'cutoff)", "t.xtm")
            .unwrap(),
        "5000.0"
    );
    std::fs::remove_dir_all(junk.parent().unwrap()).unwrap();
}

/// A FLAC encoder of the simplest kind (every subframe VERBATIM), enough to make a
/// valid file for the decoder to read: STREAMINFO, then frames of 4,096 samples
/// with their CRC-8 header and CRC-16 footer, as the FLAC format specifies.
mod flac {
    const BLOCK: usize = 4096;

    fn crc8(bytes: &[u8]) -> u8 {
        let mut crc = 0u8;
        for &b in bytes {
            crc ^= b;
            for _ in 0..8 {
                crc = if crc & 0x80 != 0 {
                    (crc << 1) ^ 0x07
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    fn crc16(bytes: &[u8]) -> u16 {
        let mut crc = 0u16;
        for &b in bytes {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x8005
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    pub fn encode(frames: &[[i16; 2]], rate: u32) -> Vec<u8> {
        let mut out = b"fLaC".to_vec();
        // the last metadata block, STREAMINFO, 34 bytes
        out.extend([0x80, 0, 0, 34]);
        out.extend((BLOCK as u16).to_be_bytes());
        out.extend((BLOCK as u16).to_be_bytes());
        out.extend([0; 6]); // frame sizes unknown
        let total = frames.len() as u64;
        // rate (20 bits), channels - 1 (3), bits - 1 (5), total samples (36)
        let packed: u64 = (u64::from(rate) << 44) | (1 << 41) | (15 << 36) | total;
        out.extend(packed.to_be_bytes());
        out.extend([0; 16]); // no MD5
        for (n, block) in frames.chunks(BLOCK).enumerate() {
            assert!(n < 128, "frame numbers past 127 need a longer UTF-8 code");
            let start = out.len();
            // sync, fixed block size; block size in 16 bits at the end, rate from
            // STREAMINFO; two independent channels, 16 bits
            out.extend([0xFF, 0xF8, 0x70, 0x18, n as u8]);
            out.extend(((block.len() - 1) as u16).to_be_bytes());
            out.push(crc8(&out[start..]));
            for ch in 0..2 {
                out.push(0x02); // VERBATIM, no wasted bits
                for f in block {
                    out.extend(f[ch].to_be_bytes());
                }
            }
            out.extend(crc16(&out[start..]).to_be_bytes());
        }
        out
    }
}
