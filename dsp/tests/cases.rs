//! Data-driven tests: each `cases/NAME.xtm` is evaluated form by form through [`Dsp`]
//! (definitions with `define`, other forms as calls with literal arguments) and the
//! transcript — printed output, warnings, errors, returned values — must equal
//! `cases/NAME.out`. Run with `UPDATE_EXPECT=1` to rewrite the `.out` files.

use std::io::Write;
use std::sync::{Arc, Mutex};
use zonal_dsp::{Dsp, DspConfig, DspValue, SexpKind, Type, parse};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_or(Ok(buf.len()), |mut v| {
            v.extend_from_slice(buf);
            Ok(buf.len())
        })
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn take(&self) -> String {
        self.0
            .lock()
            .map(|mut v| String::from_utf8_lossy(&std::mem::take(&mut *v)).into_owned())
            .unwrap_or_default()
    }
}

/// Evaluates `src` and returns its transcript.
fn transcript(src: &str, file: &str) -> String {
    let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
    let out = Capture::default();
    let warn = Capture::default();
    dsp.set_output(Box::new(out.clone()));
    dsp.set_warnings(Box::new(warn.clone()));
    let mut t = String::new();
    let forms = match parse(src, file) {
        Ok(f) => f,
        Err(e) => return format!("error: {e}\n"),
    };
    for form in &forms {
        let head = form.head().unwrap_or("");
        if Dsp::is_definition(head) {
            match dsp.define(form) {
                Ok(d) => t.push_str(&format!("defined {} : {}\n", d.name, d.signature)),
                Err(e) => t.push_str(&format!("error ({:?}): {e}\n", e.kind)),
            }
        } else {
            let items = form.list().unwrap_or(&[]);
            let params = dsp.signature(head).map(|s| s.params).unwrap_or_default();
            let args: Vec<DspValue> = items[1..]
                .iter()
                .enumerate()
                .map(|(i, a)| match (&a.kind, params.get(i)) {
                    (SexpKind::Int(i), Some(Type::I32)) => DspValue::I32(*i as i32),
                    (SexpKind::Int(i), Some(Type::I16)) => DspValue::I16(*i as i16),
                    (SexpKind::Int(i), _) => DspValue::I64(*i),
                    (SexpKind::Float(x), Some(Type::Float)) => DspValue::Float(*x as f32),
                    (SexpKind::Float(x), _) => DspValue::Double(*x),
                    (SexpKind::Str(s), _) => DspValue::Str(s.clone()),
                    (SexpKind::Bool(b), _) => DspValue::I1(*b),
                    _ => DspValue::Void,
                })
                .collect();
            match dsp.call(head, &args) {
                Ok(DspValue::Void) => {}
                Ok(DspValue::Ptr(_)) => t.push_str("=> a pointer\n"),
                Ok(v) => t.push_str(&format!("=> {v:?}\n")),
                Err(e) => t.push_str(&format!("error ({:?}): {e}\n", e.kind)),
            }
        }
        for line in warn.take().lines() {
            t.push_str(&format!("warning: {line}\n"));
        }
        t.push_str(&out.take());
    }
    t
}

fn check(name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let src = std::fs::read_to_string(dir.join(format!("{name}.xtm"))).expect("case file");
    let got = transcript(&src, &format!("{name}.xtm"));
    let expect_path = dir.join(format!("{name}.out"));
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&expect_path, &got).expect("write expectation");
        return;
    }
    let want = std::fs::read_to_string(&expect_path).unwrap_or_default();
    assert_eq!(
        got, want,
        "transcript of {name}.xtm differs from {name}.out (UPDATE_EXPECT=1 rewrites it)"
    );
}

#[test]
fn seed_memory() {
    check("seed_memory");
}

#[test]
fn closures() {
    check("closures");
}

#[test]
fn forms() {
    check("forms");
}

#[test]
fn errors() {
    check("errors");
}

#[test]
fn closure_vars() {
    check("closure_vars");
}

#[test]
fn memory_checks() {
    check("memory_checks");
}

#[test]
fn recursive_types() {
    check("recursive_types");
}

#[test]
fn generics() {
    check("generics");
}

#[test]
fn extempore_spellings() {
    check("extempore_spellings");
}

#[test]
fn vectors() {
    check("vectors");
}

#[test]
fn operators() {
    check("operators");
}

#[test]
fn aggregates() {
    check("aggregates");
}

#[test]
fn i16() {
    check("i16");
}

#[test]
fn zone_cleanup() {
    check("zone_cleanup");
}

#[test]
fn narrow_conversions() {
    check("narrow_conversions");
}

#[test]
fn printout_chooses_print_by_type() {
    check("printout");
}

#[test]
fn overload_chosen_before_number_defaults() {
    check("overload_results");
}
