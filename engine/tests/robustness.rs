//! Bad input never takes the engine down: every example and seed program, mangled
//! token by token (a token dropped, two swapped, a form cut short), is evaluated in a
//! headless session. Each must give a value or an error, never a panic or a crash,
//! and the session must still evaluate Scheme and DSP code afterwards.

use std::path::Path;

use zonal_engine::session::{Session, SessionConfig};

/// Splits source into tokens (parentheses, strings, atoms), keeping their text.
fn tokens(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = src.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == ';' {
            while chars.next_if(|c| *c != '\n').is_some() {}
        } else if c == '(' || c == ')' || c == '\'' {
            out.push(c.to_string());
            chars.next();
        } else if c == '"' {
            let mut s = String::from(chars.next().unwrap_or('"'));
            while let Some(c) = chars.next() {
                s.push(c);
                if c == '\\' {
                    s.extend(chars.next());
                } else if c == '"' {
                    break;
                }
            }
            out.push(s);
        } else {
            let mut s = String::new();
            while let Some(c) = chars.next_if(|c| !c.is_whitespace() && !"()';\"".contains(*c)) {
                s.push(c);
            }
            out.push(s);
        }
    }
    out
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn mangle(toks: &[String], rng: &mut Rng) -> String {
    let mut t = toks.to_vec();
    match rng.below(3) {
        0 => {
            t.remove(rng.below(t.len()));
        }
        1 => {
            let (a, b) = (rng.below(t.len()), rng.below(t.len()));
            t.swap(a, b);
        }
        _ => t.truncate(rng.below(t.len())),
    }
    t.join(" ")
}

#[test]
fn mangled_programs_give_errors_not_crashes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    for dir in [root.join("../examples"), root.join("tests/seed")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            // 10^15 i64 stays out: a mangled copy could loop over it unguarded.
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.extension().is_some_and(|e| e == "xtm") && !name.contains("massive") {
                sources.push(std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let cases: usize = std::env::var("ZONAL_MANGLE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut session = Session::headless(&SessionConfig::default()).unwrap();
    let mut errors = 0;
    for case in 0..cases {
        let toks = tokens(&sources[case % sources.len()]);
        let src = mangle(&toks, &mut rng);
        if session.eval_source(&src, "mangled.xtm").is_err() {
            errors += 1;
        }
        assert_eq!(
            session.eval_source("(+ 1 2)", "check.scm").unwrap(),
            "3",
            "after case {case}:\n{src}"
        );
    }
    let dsp = session
        .eval_source(
            "(bind-func still_alive (lambda (x:i64) (* x 3))) (still_alive 14)",
            "check.xtm",
        )
        .unwrap();
    assert_eq!(dsp, "42");
    assert!(
        errors > cases / 4,
        "only {errors} of {cases} mangled programs failed"
    );
}
