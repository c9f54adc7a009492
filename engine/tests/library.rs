//! zonal's libraries (`libs/`), loaded as a livecoder loads them and listened to:
//! `sys:load` resolution, and every DSP unit of `libs/core/audio_dsp.xtm` rendered
//! through a session and analysed — oscillator spectra and aliasing, filter
//! responses against the analytic ones, envelope times, echo offsets, reverb decay.

mod common;

use std::f64::consts::PI;

use common::{RATE, channel, magnitude, render_source, rms};
use zonal_engine::session::{Session, SessionConfig};
use zonal_scheme::ErrorKind;

const FS: f64 = RATE as f64;

#[global_allocator]
static ALLOC: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

/// Renders a DSP closure built on the library: `setup` are bindings of the outer
/// let (units), `body` the per-sample code, returning the sample for `chan`.
fn render_body(setup: &str, body: &str, seconds: f64) -> (Vec<f32>, Vec<f32>) {
    let src = format!(
        r#"(sys:load "libs/core/audio_dsp.xtm")
(bind-func dsp:DSP 8000000
  (let ({setup} (l:SAMPLE 0.0) (r:SAMPLE 0.0))
    (lambda (in:SAMPLE time:i64 chan:i64 dat:SAMPLE*)
      {body})))
(dsp:set! dsp)"#
    );
    let rendered = render_source(&src, seconds);
    assert_eq!(rendered.summary.failures, 0, "the render reported failures");
    (
        channel(&rendered.samples, 2, 0),
        channel(&rendered.samples, 2, 1),
    )
}

/// The same value on every channel: `expr`, computed once per frame.
fn render_mono(setup: &str, expr: &str, seconds: f64) -> Vec<f32> {
    render_body(
        setup,
        &format!("(if (= chan 0) (set! l {expr})) l"),
        seconds,
    )
    .0
}

/// An impulse of height 1 at sample 0, as xtlang.
const IMPULSE: &str = "(if (= time 0) 1.0 0.0)";

fn db(x: f64) -> f64 {
    20.0 * x.max(1e-12).log10()
}

/// `x` through a Hann window, for measuring weak components next to strong ones
/// with [`magnitude`] (which then gives half a sine's amplitude).
fn hann_windowed(x: &[f32]) -> Vec<f32> {
    let n = x.len() as f64;
    x.iter()
        .enumerate()
        .map(|(i, v)| (f64::from(*v) * (0.5 - 0.5 * (2.0 * PI * i as f64 / n).cos())) as f32)
        .collect()
}

// ---------------------------------------------------------------------------
// loading

fn session() -> Session {
    Session::headless(&SessionConfig::default()).expect("session")
}

#[test]
fn sys_load_finds_the_embedded_library_from_any_directory() {
    let mut s = session();
    // The test runs in engine/, where there is no libs/ directory.
    assert!(!std::path::Path::new("libs/core/audio_dsp.xtm").exists());
    let loaded = s
        .eval_source(r#"(sys:load "libs/core/audio_dsp.xtm")"#, "t.xtm")
        .expect("loads");
    assert_eq!(loaded, "#t");
    let v = s
        .eval_source(
            "(list (midi2frq 69.0) (frq2midi 880.0) *second* c4 eb4)",
            "t.xtm",
        )
        .expect("defined");
    assert_eq!(v, "(440.0 81.0 48000 60 63)");
}

/// Loading the instruments compiles almost nothing: each definition waits for its first
/// use, and `dsp:set!` of an instrument compiles what it runs and no more.
#[test]
fn loading_the_library_leaves_its_definitions_uncompiled_until_they_are_used() {
    let mut s = session();
    s.eval_source(r#"(sys:load "libs/core/instruments.xtm")"#, "t.xtm")
        .expect("loads");
    let loaded = s.dsp_compile_counts();
    assert!(
        loaded.pending > 4 * loaded.compiled as usize,
        "most definitions wait: {loaded:?}"
    );
    s.eval_source(
        "(make-instrument synth synth) (dsp:set! synth) (play-note (now) synth 69 90 24000)",
        "t.xtm",
    )
    .expect("plays");
    let playing = s.dsp_compile_counts();
    assert!(playing.compiled > loaded.compiled, "{playing:?}");
    assert!(
        playing.pending > 4 * playing.compiled as usize,
        "the rest of the library still waits: {playing:?}"
    );
}

/// Extempore has base.xtm in every session, so its examples name `STWOPI` and `SRf`
/// without loading anything: zonal loads base.xtm at the first definition that needs it.
#[test]
fn base_library_loads_itself_when_a_definition_names_it() {
    let r = render_source(
        "(bind-func dsp:DSP (lambda (in:SAMPLE time:i64 channel:i64 data:SAMPLE*)
           (* 0.5 (sin (* STWOPI 330.0 (/ (i64tof time) SRf))))))
         (dsp:set! dsp)",
        1.0,
    );
    let left = channel(&r.samples, 2, 0);
    assert!((magnitude(&left, 330.0) - 0.5).abs() < 0.01);
    // a name no library defines is still an error, after the one load
    let mut s = session();
    let e = s
        .eval_source("(bind-func g (lambda () (* 2.0 not_a_name)))", "t.xtm")
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unbound, "{e}");
    assert!(e.message.contains("not_a_name"), "{e}");
    assert_eq!(
        s.eval_source("*xtmlib-base-loaded*", "t.xtm").unwrap(),
        "#t"
    );
}

#[test]
fn sys_load_of_a_loaded_library_stops_at_its_preload_check() {
    let mut s = session();
    s.eval_source(r#"(sys:load "libs/core/audio_dsp.xtm")"#, "t.xtm")
        .expect("loads");
    s.eval_source("(define midi2frq 'mine)", "t.xtm").unwrap();
    let again = s
        .eval_source(r#"(sys:load "libs/core/audio_dsp.xtm")"#, "t.xtm")
        .expect("loads again");
    assert_eq!(again, "#f");
    // It stopped before redefining anything.
    assert_eq!(s.eval_source("midi2frq", "t.xtm").unwrap(), "mine");
    assert_eq!(s.take_failures(), 0);
}

#[test]
fn sys_load_of_a_missing_library_names_the_libraries_there_are() {
    let mut s = session();
    let e = s
        .eval_source(r#"(sys:load "libs/core/instrumentz.xtm")"#, "t.xtm")
        .expect_err("missing");
    assert_eq!(e.kind, ErrorKind::Io);
    assert!(
        e.message
            .starts_with("sys:load: there is no file libs/core/instrumentz.xtm")
            && e.message.contains("libs/core/audio_dsp.xtm")
            && e.message.contains("libs/base/base.xtm"),
        "{}",
        e.message
    );
}

#[test]
fn sys_load_of_a_file_runs_it_and_reports_a_failing_form_by_its_line() {
    let dir = std::env::temp_dir().join(format!("zonal-sysload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inner = dir.join("inner.xtm");
    std::fs::write(&inner, "(define inner-value 7)\n").unwrap();
    let outer = dir.join("outer.xtm");
    std::fs::write(
        &outer,
        format!(
            "(sys:load \"{}\")\n(define outer-value (* 2 inner-value))\n(car '())\n(define after 1)\n",
            inner.display()
        ),
    )
    .unwrap();
    let mut s = session();
    let e = s
        .eval_source(&format!("(sys:load \"{}\")", outer.display()), "t.xtm")
        .expect_err("one form fails");
    // The editor that sent the load sees which form failed, where and why.
    let head = format!(
        "sys:load: 1 form of {} failed; the first:\n",
        outer.display()
    );
    assert!(e.message.starts_with(&head), "{}", e.message);
    assert!(e.message.contains("outer.xtm:3:1"), "{}", e.message);
    assert!(e.message.contains("(car '())"), "{}", e.message);
    // The forms after the failing one ran, and the nested load too.
    let v = s.eval_source("(list outer-value after)", "t.xtm").unwrap();
    assert_eq!(v, "(14 1)");
    assert_eq!(s.take_failures(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sys_load_preload_check_outside_a_load_is_an_error_and_leaves_loads_alone() {
    let mut s = session();
    s.eval_source(r#"(sys:load "libs/base/base.xtm")"#, "t.xtm")
        .unwrap();
    let e = s
        .eval_source("(sys:load-preload-check 'base)", "t.xtm")
        .expect_err("already loaded");
    assert_eq!(e.message, "base already loaded");
    // A later load is not stopped by it.
    let v = s
        .eval_source(r#"(sys:load "libs/core/audio_dsp.xtm")"#, "t.xtm")
        .unwrap();
    assert_eq!(v, "#t");
}

// ---------------------------------------------------------------------------
// oscillators

// osc_c's level and purity: examples/tests/library_units.xtm (zonal test)

/// Harmonic amplitudes of the naive and band-limited waveforms at 220 Hz, each
/// against its Fourier series (tolerance 2 % of the fundamental).
#[test]
fn saw_pulse_and_tri_have_their_harmonic_series() {
    let a = 0.5;
    let saw = |k: u32| 2.0 * a / (PI * f64::from(k));
    let square = |k: u32| {
        if k % 2 == 1 {
            4.0 * a / (PI * f64::from(k))
        } else {
            0.0
        }
    };
    let pulse25 = |k: u32| 4.0 * a / (PI * f64::from(k)) * (PI * f64::from(k) * 0.25).sin().abs();
    let tri = |k: u32| {
        if k % 2 == 1 {
            8.0 * a / (PI * PI * f64::from(k * k))
        } else {
            0.0
        }
    };
    type Series<'a> = &'a dyn Fn(u32) -> f64;
    let cases: [(&str, &str, Series); 8] = [
        ("(o (saw_c 0.0))", "(o 0.5 220.0)", &saw),
        ("(o (blsaw_c 0.0))", "(o 0.5 220.0)", &saw),
        ("(o (pulse_c 0.0))", "(o 0.5 220.0 0.5)", &square),
        ("(o (blpulse_c 0.0))", "(o 0.5 220.0 0.5)", &square),
        ("(o (pulse_c 0.0))", "(o 0.5 220.0 0.25)", &pulse25),
        ("(o (blpulse_c 0.0))", "(o 0.5 220.0 0.25)", &pulse25),
        ("(o (tri_c 0.0))", "(o 0.5 220.0)", &tri),
        ("(o (bltri_c 0.0))", "(o 0.5 220.0)", &tri),
    ];
    for (setup, expr, series) in cases {
        let x = render_mono(setup, expr, 0.5);
        for k in 1..=7u32 {
            let got = magnitude(&x, 220.0 * f64::from(k));
            let want = series(k);
            assert!(
                (got - want).abs() < 0.02 * series(1),
                "{expr} from {setup}: harmonic {k} is {got:.4}, want {want:.4}"
            );
        }
    }
}

/// The strongest component that is not a harmonic, in dB under the fundamental,
/// for a 3,100 Hz tone at 48 kHz (3,100 does not divide 48,000, so aliases fall
/// between harmonics; at 3,000 they would land on them).
fn worst_alias_db(x: &[f32], f0: f64, below: f64) -> f64 {
    let x = hann_windowed(x);
    let fundamental = magnitude(&x, f0);
    let mut worst: f64 = 0.0;
    for k in 1..=200 {
        let f = (f0 * f64::from(k)) % FS;
        let folded = if f > FS / 2.0 { FS - f } else { f };
        if f0 * f64::from(k) < FS / 2.0 || folded < 20.0 || folded > below {
            continue;
        }
        worst = worst.max(magnitude(&x, folded));
    }
    db(worst / fundamental)
}

/// Measured (worst alias under the fundamental, below 10 kHz / anywhere): saw_c
/// -22 / -18 dB, blsaw_c -52 / -26 dB; pulse_c -22 / -19, blpulse_c -52 / -30;
/// tri_c -45 / -38, bltri_c -74 / -49. Two-point residuals leave the aliases that
/// fold from just above Nyquist (near 20 kHz) strongest.
#[test]
fn band_limited_oscillators_alias_at_least_20_db_less_than_the_naive_ones() {
    let pairs = [
        ("saw_c", "blsaw_c", "(o 0.5 3100.0)", -45.0),
        ("tri_c", "bltri_c", "(o 0.5 3100.0)", -65.0),
        ("pulse_c", "blpulse_c", "(o 0.5 3100.0 0.5)", -45.0),
    ];
    for (naive, limited, expr, ceiling) in pairs {
        let n = render_mono(&format!("(o ({naive} 0.0))"), expr, 0.5);
        let b = render_mono(&format!("(o ({limited} 0.0))"), expr, 0.5);
        let (an, ab) = (
            worst_alias_db(&n[2400..], 3100.0, 24_000.0),
            worst_alias_db(&b[2400..], 3100.0, 24_000.0),
        );
        let (an10, ab10) = (
            worst_alias_db(&n[2400..], 3100.0, 10_000.0),
            worst_alias_db(&b[2400..], 3100.0, 10_000.0),
        );
        assert!(
            ab10 < ceiling && ab10 < an10 - 20.0 && ab < an - 5.0,
            "{limited}: worst alias {ab10:.1} dB below 10 kHz, {ab:.1} dB in all ({naive}: {an10:.1} dB, {an:.1} dB)"
        );
    }
}

#[test]
fn white_noise_is_flat_and_pink_noise_falls_3_db_per_octave() {
    let white = render_mono("(n (white_c))", "(n)", 2.0);
    let pink = render_mono("(n (pink_c))", "(n)", 2.0);
    // Mean power per Hz over 200 bins around f.
    let band = |x: &[f32], f: f64| -> f64 {
        (0..200)
            .map(|i| magnitude(x, f + f64::from(i) * 0.5).powi(2))
            .sum::<f64>()
            / 200.0
    };
    let w = rms(&white, 0, white.len());
    assert!((w - 0.33).abs() < 0.02, "white RMS {w}");
    let tilt = db(band(&white, 8000.0).sqrt() / band(&white, 500.0).sqrt());
    assert!(tilt.abs() < 1.5, "white tilt {tilt:.2} dB");
    // 500 Hz to 8 kHz is four octaves: -12 dB of power per Hz.
    let p = rms(&pink, 0, pink.len());
    assert!((p - 0.19).abs() < 0.03, "pink RMS {p}");
    assert!(pink.iter().all(|v| v.abs() < 0.95), "pink noise clips");
    let tilt = db(band(&pink, 8000.0).sqrt() / band(&pink, 500.0).sqrt());
    assert!((tilt + 12.0).abs() < 2.0, "pink tilt {tilt:.2} dB");
}

// ---------------------------------------------------------------------------
// filters: three sines through the filter, each measured against |H(f)|

#[derive(Clone, Copy)]
struct C(f64, f64);

impl C {
    fn add(self, o: C) -> C {
        C(self.0 + o.0, self.1 + o.1)
    }
    fn mul(self, o: C) -> C {
        C(self.0 * o.0 - self.1 * o.1, self.0 * o.1 + self.1 * o.0)
    }
    fn div(self, o: C) -> C {
        let d = o.0 * o.0 + o.1 * o.1;
        C(
            (self.0 * o.0 + self.1 * o.1) / d,
            (self.1 * o.0 - self.0 * o.1) / d,
        )
    }
    fn scale(self, k: f64) -> C {
        C(self.0 * k, self.1 * k)
    }
    fn abs(self) -> f64 {
        self.0.hypot(self.1)
    }
}

/// s = jΩ of a trapezoidal (bilinear) filter whose cutoff is `fc`: the analog
/// frequency axis warped as the digital filter warps it.
fn warped_s(f: f64, fc: f64) -> C {
    C(0.0, (PI * f / FS).tan() / (PI * fc / FS).tan())
}

const TEST_FREQS: [f64; 3] = [200.0, 1000.0, 6000.0];

/// Renders `unit` (a constructor) on the sum of three sines of 0.1 and checks the
/// gain at each against `h`, within 0.3 dB (or both below -50 dB).
fn check_response(setup: &str, call: &str, h: &dyn Fn(f64) -> f64) {
    let input = TEST_FREQS
        .iter()
        .map(|f| format!("(* 0.1 (sin (* STWOPI (/ (* {f:.1} (i64tof (% time 48000))) SRf))))"))
        .collect::<Vec<_>>()
        .join(" ");
    let x = render_mono(setup, &call.replace("IN", &format!("(+ {input})")), 0.6);
    let tail = &x[4800..4800 + 24_000];
    for f in TEST_FREQS {
        let got = magnitude(tail, f) / 0.1;
        let want = h(f);
        let ok = (db(got) - db(want)).abs() < 0.3 || (db(got) < -50.0 && db(want) < -50.0);
        assert!(
            ok,
            "{call} from {setup} at {f} Hz: {:.2} dB, analytic {:.2} dB",
            db(got),
            db(want)
        );
    }
}

#[test]
fn svf_filters_match_their_analytic_responses() {
    let fc = 1000.0;
    let res = 0.6;
    let k = 2.0 - 2.0 * res;
    let d = move |s: C| s.mul(s).add(s.scale(k)).add(C(1.0, 0.0));
    let one = C(1.0, 0.0);
    type H = Box<dyn Fn(C) -> C>;
    let cases: Vec<(&str, H)> = vec![
        ("lpf_c", Box::new(move |s| one.div(d(s)))),
        ("hpf_c", Box::new(move |s| s.mul(s).div(d(s)))),
        ("bpf_c", Box::new(move |s| s.scale(k).div(d(s)))),
        ("notch_c", Box::new(move |s| s.mul(s).add(one).div(d(s)))),
        (
            "peak_c",
            Box::new(move |s| s.mul(s).add(C(-1.0, 0.0)).div(d(s))),
        ),
        ("apf_c", Box::new(move |_| one)),
    ];
    for (unit, h) in cases {
        check_response(
            &format!("(f ({unit}))"),
            &format!("(f IN {fc:.1} {res})"),
            &|f| h(warped_s(f, fc)).abs(),
        );
    }
}

#[test]
fn svf_c_writes_its_six_outputs() {
    // The low output through svf_c is lpf_c's.
    let fc = 1000.0;
    let k = 2.0 - 2.0 * 0.6;
    check_response(
        "(f (svf_c)) (o:|6,SAMPLE|* (zalloc))",
        &format!("(aref (f IN {fc:.1} 0.6 o) 0)"),
        &|f| {
            let s = warped_s(f, fc);
            C(1.0, 0.0)
                .div(s.mul(s).add(s.scale(k)).add(C(1.0, 0.0)))
                .abs()
        },
    );
}

/// The response of a biquad with the RBJ cookbook's coefficients at `f`.
fn rbj(kind: u8, fc: f64, q_or_bw: f64, f: f64) -> f64 {
    let w = 2.0 * PI * fc / FS;
    let (sn, cs) = (w.sin(), w.cos());
    let alpha = if kind < 2 {
        sn / (2.0 * q_or_bw)
    } else {
        sn * ((2f64.ln() / 2.0) * q_or_bw * w / sn).sinh()
    };
    let (b, a) = match kind {
        0 => (
            [(1.0 - cs) / 2.0, 1.0 - cs, (1.0 - cs) / 2.0],
            [1.0 + alpha, -2.0 * cs, 1.0 - alpha],
        ),
        1 => (
            [(1.0 + cs) / 2.0, -(1.0 + cs), (1.0 + cs) / 2.0],
            [1.0 + alpha, -2.0 * cs, 1.0 - alpha],
        ),
        2 => ([alpha, 0.0, -alpha], [1.0 + alpha, -2.0 * cs, 1.0 - alpha]),
        _ => ([1.0, -2.0 * cs, 1.0], [1.0 + alpha, -2.0 * cs, 1.0 - alpha]),
    };
    let z1 = C((2.0 * PI * f / FS).cos(), -(2.0 * PI * f / FS).sin());
    let z2 = z1.mul(z1);
    let poly = |c: [f64; 3]| C(c[0], 0.0).add(z1.scale(c[1])).add(z2.scale(c[2]));
    poly(b).div(poly(a)).abs()
}

#[test]
fn biquads_match_the_cookbook_responses() {
    for (unit, kind, p) in [
        ("lpfbq_c", 0u8, 2.0),
        ("hpfbq_c", 1, 0.707),
        ("bpfbq_c", 2, 1.0),
        ("notchbq_c", 3, 1.0),
    ] {
        let fc = 1000.0;
        check_response(
            &format!("(f ({unit}))"),
            &format!("(f IN {fc:.1} {p})"),
            &|f| rbj(kind, fc, p, f),
        );
    }
}

#[test]
fn shelves_and_bell_match_their_analytic_responses() {
    let (fc, gain, q) = (1000.0, 6.0, 0.707);
    let a: f64 = 10f64.powf(gain / 40.0);
    // (m0, m1, m2, g scale of tan, k) as the SVF forms them.
    let shapes = [
        (
            "lshelf_c",
            (1.0, (a - 1.0) / q, a * a - 1.0, 1.0 / a.sqrt(), 1.0 / q),
        ),
        (
            "hshelf_c",
            (a * a, (1.0 - a) * a / q, 1.0 - a * a, a.sqrt(), 1.0 / q),
        ),
        (
            "bell_c",
            (1.0, (a * a - 1.0) / (q * a), 0.0, 1.0, 1.0 / (q * a)),
        ),
    ];
    // What each is for, in dB at 20 Hz, at the corner and at 20 kHz.
    let shapes_in_db = [(6.0, 3.0, 0.0), (0.0, 3.0, 6.0), (0.0, 6.0, 0.0)];
    for ((unit, (m0, m1, m2, gs, k)), want) in shapes.into_iter().zip(shapes_in_db) {
        let h = move |f: f64| {
            let g = (PI * fc / FS).tan() * gs;
            let s = C(0.0, (PI * f / FS).tan() / g);
            let d = s.mul(s).add(s.scale(k)).add(C(1.0, 0.0));
            C(m0, 0.0).add(s.scale(m1).add(C(m2, 0.0)).div(d)).abs()
        };
        let shape = (db(h(20.0)), db(h(fc)), db(h(20_000.0)));
        assert!(
            (shape.0 - want.0).abs() < 0.3
                && (shape.1 - want.1).abs() < 0.3
                && (shape.2 - want.2).abs() < 0.6,
            "{unit}: {shape:?}"
        );
        check_response(
            &format!("(f ({unit}))"),
            &format!("(f IN {fc:.1} {gain:.1} {q})"),
            &h,
        );
    }
}

#[test]
fn ladder_filters_match_the_four_pole_response() {
    let (fc, res) = (1000.0, 0.5);
    let k = 4.0 * res;
    let lp4 = move |f: f64| {
        let l = C(1.0, 0.0).div(C(1.0, 0.0).add(warped_s(f, fc)));
        let l4 = l.mul(l).mul(l).mul(l);
        l4.div(C(1.0, 0.0).add(l4.scale(k))).abs()
    };
    // Quiet input keeps the soft clip linear; the check uses 0.1 * IN.
    for setup in ["(f (moog_ladder 2))", "(f (vcf_c 0))"] {
        let x = |f: f64| lp4(f);
        check_response(
            setup,
            &format!("(* 100.0 (f (* 0.01 IN) {fc:.1} {res}))"),
            &x,
        );
    }
}

#[test]
fn lpf_1p_c_is_a_one_pole_lowpass() {
    let g: f64 = 0.9;
    check_response("(f (lpf_1p_c))", "(f IN 0.9)", &|f| {
        let z1 = C((2.0 * PI * f / FS).cos(), -(2.0 * PI * f / FS).sin());
        C(1.0 - g, 0.0).div(C(1.0, 0.0).add(z1.scale(-g))).abs()
    });
}

#[test]
fn allpasses_pass_every_frequency_at_unity_gain() {
    check_response("(a (delay_apf_c 113))", "(a IN 0.6)", &|_| 1.0);
    // At a whole number of samples; a fractional delay is read through linear
    // interpolation, which dulls the highs (-0.5 dB at 6 kHz at half a sample).
    check_response("(a (comb_apf_c 500))", "(a IN 113.0 0.6)", &|_| 1.0);
}

// ---------------------------------------------------------------------------
// delays

fn peaks(x: &[f32], threshold: f32) -> Vec<(usize, f32)> {
    x.iter()
        .enumerate()
        .filter(|(_, v)| v.abs() > threshold)
        .map(|(i, v)| (i, *v))
        .collect()
}

// delay_c's echoes: examples/tests/library_units.xtm (zonal test)

#[test]
fn delay_st_c_delays_each_channel_by_its_own_time() {
    let (l, r) = render_body(
        "(d (delay_st_c 1000 3000))",
        &format!("(d chan {IMPULSE} 1.0 0.5)"),
        0.3,
    );
    assert_eq!(
        peaks(&l, 0.01),
        vec![
            (0, 1.0),
            (1000, 0.5),
            (2000, 0.25),
            (3000, 0.125),
            (4000, 0.0625),
            (5000, 0.03125),
            (6000, 0.015625)
        ]
    );
    assert_eq!(
        peaks(&r, 0.05),
        vec![
            (0, 1.0),
            (3000, 0.5),
            (6000, 0.25),
            (9000, 0.125),
            (12_000, 0.0625)
        ]
    );
}

#[test]
fn tap_delay_c_mixes_its_taps_at_their_delays() {
    let x = render_mono(
        "(t (tap_delay_c 48000 2)) (set1 (pset! (t.taps:i64*) 0 1000)) (set2 (pset! (t.taps:i64*) 1 3000))",
        &format!("(t {IMPULSE})"),
        0.2,
    );
    assert_eq!(peaks(&x, 0.01), vec![(1000, 0.5), (3000, 0.5)]);
}

#[test]
fn comb_c_recirculates_at_its_fractional_delay() {
    let x = render_mono(
        "(c (comb_c 4000))",
        &format!("(c {IMPULSE} 1000.5 1.0 1.0 0.5)"),
        0.2,
    );
    // Half a sample of delay splits each echo over two samples, the next over three.
    let p = peaks(&x, 0.001);
    assert_eq!(
        &p[..5],
        &[
            (1000, 0.5),
            (1001, 0.5),
            (2000, 0.125),
            (2001, 0.25),
            (2002, 0.125)
        ]
    );
}

#[test]
fn reverb_c_decays_by_60_db_in_five_seconds_times_its_size() {
    // size 0.2 is an RT60 of 1 s. Energy in 20 ms windows, from -5 dB to -35 dB (T30).
    let (l, r) = render_body(
        "(rev (reverb_c))",
        &format!("(rev chan {IMPULSE} 0.2 0.0 0.0 1.0)"),
        2.0,
    );
    for (name, x) in [("left", &l), ("right", &r)] {
        let win = 960;
        let levels: Vec<f64> = (0..x.len() / win)
            .map(|i| db(rms(x, i * win, win)))
            .collect();
        let top = levels.iter().cloned().fold(f64::MIN, f64::max);
        let t5 = levels.iter().rposition(|v| *v > top - 5.0).unwrap();
        let t35 = levels.iter().rposition(|v| *v > top - 35.0).unwrap();
        let rt60 = (t35 - t5) as f64 * win as f64 / FS * 2.0;
        assert!((0.8..1.2).contains(&rt60), "{name}: RT60 {rt60:.2} s");
    }
    // The two channels are decorrelated.
    let corr: f64 = l.iter().zip(&r).map(|(a, b)| f64::from(a * b)).sum::<f64>()
        / (rms(&l, 0, l.len()) * rms(&r, 0, r.len()) * l.len() as f64);
    assert!(corr.abs() < 0.5, "correlation {corr}");
}

#[test]
fn reverb_predelay_and_mix() {
    let (l, _) = render_body(
        "(rev (reverb_st_c))",
        &format!("(rev chan {IMPULSE} 0.2 100.0 0.5 0.5)"),
        0.5,
    );
    // The dry half at once, nothing more until the predelay (4,800 samples) and
    // the shortest comb (1,116 samples at 44.1 kHz: 1,214) have passed.
    assert_eq!(l[0], 0.5);
    assert!(l[1..4800 + 1214].iter().all(|v| *v == 0.0));
    assert!(rms(&l, 4800 + 1214, 4800) > 1e-4);
}

#[test]
fn chorus_and_flanger_delay_within_their_ranges() {
    // flanger: delay 2 ms, range 1 ms: the impulse comes back 2-3 ms later.
    let x = render_mono(
        "(f (flanger_c))",
        &format!("(f {IMPULSE} 1.0 1.0 2.0 1.0 0.5 0.0)"),
        0.1,
    );
    let p = peaks(&x, 0.05);
    assert!(p.iter().all(|(i, _)| (96..=145).contains(i)), "{p:?}");
    assert!(!p.is_empty());
    // chorus: three voices between 10 and 25 ms, a third each.
    let x = render_mono(
        "(c (chorus_c 0.0))",
        &format!("(c {IMPULSE} 1.0 1.0 0.0)"),
        0.1,
    );
    let total: f32 = x.iter().sum();
    assert!((total - 1.0).abs() < 1e-3, "sum {total}");
    assert!(x[..480].iter().all(|v| *v == 0.0) && x[1200..].iter().all(|v| *v == 0.0));
}

// ---------------------------------------------------------------------------
// envelopes

#[test]
fn adsr_c_takes_its_attack_decay_and_release_times() {
    // a 10 ms, d 100 ms, s 0.5, r 200 ms; gate on for 0.5 s.
    let x = render_mono(
        "(e (adsr_c))",
        "(e chan (if (< time 24000) 1.0 0.0) 10.0 100.0 0.5 200.0)",
        1.0,
    );
    let at = |ms: f64| f64::from(x[(ms * 48.0) as usize]);
    assert!((at(5.0) - 0.5).abs() < 0.01, "half way up {}", at(5.0));
    let top = x.iter().position(|v| *v >= 1.0).unwrap();
    assert!((479..=481).contains(&top), "peak at {top}");
    assert!((at(10.0 + 100.0) - 0.5).abs() < 0.01, "{}", at(110.0));
    assert!(at(60.0) > 0.51 && at(60.0) < 0.9, "{}", at(60.0));
    assert_eq!(at(400.0), 0.5);
    assert!(at(500.0 + 50.0) < 0.5 && at(500.0 + 50.0) > 0.01);
    assert_eq!(at(500.0 + 201.0), 0.0);
}

#[test]
fn ad_c_rises_and_falls_in_its_times() {
    let x = render_mono("(e (ad_c))", "(e chan 1.0 10.0 50.0 0.0 0.0)", 0.2);
    assert!((f64::from(x[240]) - 0.5).abs() < 0.01);
    assert!(f64::from(x[479]) > 0.99);
    assert!((f64::from(x[480 + 1200]) - 0.5).abs() < 0.01);
    assert!(x[480 + 2400..].iter().all(|v| *v == 0.0));
}

#[test]
fn line_c_and_env_follow_c() {
    let x = render_mono(
        "(ln (line_c 0.0 0.0 48000.0 1.0))",
        "(ln (i64tof time))",
        0.5,
    );
    assert!((f64::from(x[12_000]) - 0.25).abs() < 1e-6);
    // A sine of 0.5 from silence: the follower tends to its mean level 0.5 * 2 / pi
    // with a time constant of 10 ms.
    let x = render_mono(
        "(e (env_follow_c 10.0)) (o (osc_c 0.0))",
        "(e (if (> time 4800) (o 0.5 1000.0) 0.0))",
        0.3,
    );
    let mean = 1.0 / PI;
    let settled = rms(&x, 4800 + 4800, 4800);
    assert!((settled - mean).abs() < 0.02 * mean, "settled {settled}");
    let early = f64::from(x[4800 + 480]);
    assert!(
        (early / mean - 0.632).abs() < 0.05,
        "after 10 ms {}",
        early / mean
    );
}

// ---------------------------------------------------------------------------
// panning, mixing, distortion

#[test]
fn panning_and_mixing_weigh_the_channels() {
    let (l, r) = render_body("(p (panner_c 2))", "(p chan 0.8 0.5)", 0.01);
    assert!((f64::from(l[0]) - 0.8 * (PI / 4.0).cos()).abs() < 1e-6);
    assert!((f64::from(r[0]) - 0.8 * (PI / 4.0).sin()).abs() < 1e-6);
    let (l, r) = render_body("(p (pan_c 2))", "(p chan 0.8 1.0 0.25)", 0.01);
    assert!((f64::from(l[0]) - 0.6).abs() < 1e-6 && (f64::from(r[0]) - 0.2).abs() < 1e-6);
    let (l, r) = render_body("(z 0)", "(mix2 chan 0.5 0.2 0.6)", 0.01);
    assert!((f64::from(l[0]) - 0.1).abs() < 1e-6 && (f64::from(r[0]) - 0.3).abs() < 1e-6);
    let (l, r) = render_body("(z 0)", "(* 0.5 (panner chan 0.25))", 0.01);
    assert!((f64::from(l[0]) - 0.375).abs() < 1e-6 && (f64::from(r[0]) - 0.125).abs() < 1e-6);
    let (l, r) = render_body("(z 0)", "(mix4 chan 0.5 0.2 0.6 0.7 0.8)", 0.01);
    assert!((f64::from(l[0]) - 0.1).abs() < 1e-6 && (f64::from(r[0]) - 0.3).abs() < 1e-6);
    let (l, r) = render_body(
        "(z 0)",
        "(mix8 chan 0.5 0.2 0.6 0.7 0.8 0.1 0.1 0.1 0.1)",
        0.01,
    );
    assert!((f64::from(l[0]) - 0.1).abs() < 1e-6 && (f64::from(r[0]) - 0.3).abs() < 1e-6);
}

/// Decibels and amplitudes, both ways, in xtlang (a sample's gain) and in Scheme.
#[test]
fn db2amp_and_amp2db_convert_both_ways() {
    // -6.0206 dB is half the amplitude; 0.1 is -20 dB
    let x = render_mono("(z 0)", "(* (db2amp -6.0206) (/ (amp2db 0.1) -20.0))", 0.01);
    assert!((f64::from(x[0]) - 0.5).abs() < 1e-4, "{}", x[0]);
    let mut s = Session::headless(&SessionConfig::default()).unwrap();
    let v = s
        .eval_source(
            r#"(sys:load "libs/core/audio_dsp.xtm")
(list (< (abs (- (db2amp 20.0) 10.0)) 1e-12) (< (abs (- (amp2db 0.01) -40.0)) 1e-12))"#,
            "test.xtm",
        )
        .unwrap();
    assert_eq!(v, "(#t #t)");
}

#[test]
fn distortion_units_shape_a_sine() {
    let sine = "(o (osc_c 0.0))";
    let x = render_mono(
        &format!("{sine} (d (distort_c 4.0))"),
        "(d (o 0.5 100.0))",
        0.5,
    );
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert_eq!(peak, 0.5);
    assert!(
        magnitude(&x, 300.0) > 0.05,
        "hard clipping makes odd harmonics"
    );
    let x = render_mono(
        &format!("{sine} (s (saturation_c))"),
        "(s (o 0.5 100.0) 0.5 0.5)",
        0.5,
    );
    let tail = &x[4800..];
    assert!(tail.iter().all(|v| v.abs() < 1.0));
    assert!(
        magnitude(tail, 200.0) > 0.01,
        "the bias makes even harmonics"
    );
    assert!(magnitude(tail, 300.0) > 0.01);
    let x = render_mono(
        &format!("{sine} (v (overdrive_c))"),
        "(v (o 1.0 100.0) 0.8)",
        0.5,
    );
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        (peak - 1.0).abs() < 1e-3,
        "full scale stays full scale: {peak}"
    );
    assert!(
        magnitude(&x, 300.0) > 0.02 && magnitude(&x, 200.0) < 1e-4,
        "odd harmonics only"
    );
    let x = render_mono(
        &format!("{sine} (c (crusher_c))"),
        "(c (o 0.5 100.0) 3.0)",
        0.1,
    );
    assert!(
        x.iter().all(|v| (v * 8.0).fract() == 0.0),
        "on the grid of 1/8"
    );
    let x = render_mono(
        &format!("{sine} (m (ringmod_c))"),
        "(m (o 0.5 1000.0) 300.0 1.0)",
        0.5,
    );
    assert!(
        (magnitude(&x, 700.0) - 0.25).abs() < 0.005 && (magnitude(&x, 1300.0) - 0.25).abs() < 0.005
    );
    assert!(magnitude(&x, 1000.0) < 0.001);
}

#[test]
fn hann_windows_rise_and_fall() {
    let x = render_mono("(h (hann_c))", "(h 4801)", 0.2);
    assert_eq!(x[0], 0.0);
    assert!((f64::from(x[2400]) - 1.0).abs() < 1e-4);
    assert!(x[4800].abs() < 1e-4);
    let x = render_mono("(z 0)", "(hann time 4800 2)", 0.3);
    assert!((f64::from(x[2400]) - 1.0).abs() < 1e-4 && x[7000] == 0.0);
}

#[test]
fn mc_forms_keep_one_state_per_channel() {
    let (l, r) = render_body(
        "(f (lpf_mc_c 2)) (o (osc_mc_c 0.0))",
        "(f chan (* (if (= chan 0) 1.0 0.0) (o chan 0.5 300.0)) 5000.0 0.0)",
        0.3,
    );
    assert!(rms(&l, 4800, 4800) > 0.005);
    assert!(r.iter().all(|v| *v == 0.0));
}

#[test]
fn a_chain_of_units_runs_without_allocating_on_the_audio_thread() {
    let (l, r) = render_body(
        "(o (blsaw_c 0.0)) (n (pink_c)) (f (lpf_c)) (m (moog_ladder 2)) (q (bpfbq_c)) (sh (lshelf_c))
         (t (tap_delay_c 48000 2)) (fl (flanger_c)) (ch (chorus_c 0.0)) (sat (saturation_c))
         (d (delay_st_c 12000 18000)) (e (adsr_c)) (rev (reverb_st_c)) (p (pan_c 2)) (x:SAMPLE 0.0)",
        "(if (= chan 0)
             (let ((a (f (+ (n) (o 0.3 220.0)) 2000.0 0.5))
                   (b (q (sh (m a 1000.0 0.5) 200.0 6.0 0.7) 500.0 1.0))
                   (c (ch (fl (t b) 1.0 1.0 2.0 1.0 0.3 0.2) 1.0 0.5 0.1)))
               (set! x (sat c 0.3 0.5))))
         (rev chan (p chan (d chan (* x (e chan (if (< (% time 24000) 12000) 1.0 0.0) 10.0 100.0 0.5 200.0)) 0.5 0.5) 1.0 0.5)
              0.3 20.0 0.3 0.3)",
        1.0,
    );
    assert_eq!(assert_no_alloc::violation_count(), 0);
    assert!(rms(&l, 0, l.len()) > 0.001 && rms(&r, 0, r.len()) > 0.001);
}
