//! Differential fuzzing of the DSP compiler with well-typed programs.
//!
//! A generator builds random xtlang definitions that type-check by construction —
//! integer and floating arithmetic, comparisons, `if`, `let`, `dotimes` with an
//! accumulator, let-bound closures that capture, stack and zone arrays written and read
//! at random indices — together with the arguments of one call. A small evaluator in this
//! file computes what the call must give, with zonal's documented meanings (integers wrap;
//! `/` and `%` of the smallest integer by -1 wrap; division by zero faults; `dtoi64`
//! saturates and takes NaN to 0; an access outside its allocation faults). The test
//! compiles each program, calls it and compares: a compile error of a well-typed program,
//! a wrong value, a missing or unexpected fault, or a crash fails.
//!
//! CI runs a short budget; `ZONAL_FUZZ_PROGRAMS=200000 ZONAL_FUZZ_SEED=7 cargo test
//! --release -p zonal-dsp --test fuzz_typed` runs at length by hand.

use std::fmt::Write as _;

mod rng;
use rng::Rng;
use zonal_dsp::{Dsp, DspConfig, DspErrorKind, DspValue, parse};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Ty {
    I,
    D,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::I => "i64",
            Ty::D => "double",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Val {
    I(i64),
    D(f64),
}

/// Why an evaluation stopped (shown when the compiled code did not fault too).
struct Fault(&'static str);

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a fault ({})", self.0)
    }
}

type Out = Result<Val, Fault>;

/// Where an array lives.
#[derive(Clone, Copy, Debug)]
enum Alloc {
    Stack,
    Zone,
    /// `halloc`, freed after the read.
    Heap,
    /// `halloc`, read after it was freed: a use after free.
    Freed,
    /// `zalloc` inside a `memzone`, read after the memzone ended.
    Escaped,
}

#[derive(Debug)]
enum Expr {
    Int(i64),
    Real(f64),
    Var(usize),
    Arith(&'static str, Ty, Box<Expr>, Box<Expr>),
    If(&'static str, Ty, Box<Expr>, Box<Expr>, Box<Expr>, Box<Expr>),
    Let(Ty, Box<Expr>, Box<Expr>),
    ToReal(Box<Expr>),
    ToInt(Box<Expr>),
    Math(&'static str, Box<Expr>),
    /// `(let ((acc init)) (dotimes (k n) (set! acc step)) acc)`: `step` sees acc and k.
    Loop(Ty, u32, Box<Expr>, Box<Expr>),
    /// `((lambda (z) body) arg)` through a let-bound closure that captures.
    Closure(Ty, Ty, Box<Expr>, Box<Expr>),
    /// An array of `len` elements, filled with `fill`'s index pattern, written at
    /// `writes`, then read at `read` (or summed over `sum` elements).
    Array {
        ty: Ty,
        alloc: Alloc,
        len: u32,
        writes: Vec<(i64, Expr)>,
        read: Read,
    },
}

#[derive(Debug)]
enum Read {
    At(i64),
    Sum(i64),
}

/// Variables in scope while generating: their types, innermost last.
struct Gen<'r> {
    rng: &'r mut Rng,
    scope: Vec<Ty>,
}

const INT_EDGES: [i64; 8] = [0, 1, -1, 2, 7, i64::MAX, i64::MIN, 1 << 40];
const REAL_LITS: [f64; 7] = [0.0, 1.0, -1.0, 0.5, 2.25, -3.75, 1000.125];

impl Gen<'_> {
    fn expr(&mut self, ty: Ty, depth: u32) -> Expr {
        if depth == 0 || self.rng.chance(20) {
            return self.leaf(ty);
        }
        let d = depth - 1;
        match (ty, self.rng.below(9)) {
            (_, 0..=2) => {
                let ops: &[&str] = match ty {
                    Ty::I => &[
                        "+",
                        "-",
                        "*",
                        "/",
                        "%",
                        "bitwise-and",
                        "bitwise-or",
                        "bitwise-xor",
                    ],
                    Ty::D => &["+", "-", "*", "/"],
                };
                let op = self.rng.pick(ops);
                Expr::Arith(
                    op,
                    ty,
                    Box::new(self.expr(ty, d)),
                    Box::new(self.expr(ty, d)),
                )
            }
            (_, 3) => {
                let cty = if self.rng.chance(50) { Ty::I } else { Ty::D };
                let op = self.rng.pick(&["<", ">", "=", "<=", ">=", "<>"]);
                Expr::If(
                    op,
                    cty,
                    Box::new(self.expr(cty, d)),
                    Box::new(self.expr(cty, d)),
                    Box::new(self.expr(ty, d)),
                    Box::new(self.expr(ty, d)),
                )
            }
            (_, 4) => {
                let vty = if self.rng.chance(50) { Ty::I } else { Ty::D };
                let init = self.expr(vty, d);
                self.scope.push(vty);
                let body = self.expr(ty, d);
                self.scope.pop();
                Expr::Let(vty, Box::new(init), Box::new(body))
            }
            (Ty::D, 5) => Expr::ToReal(Box::new(self.expr(Ty::I, d))),
            (Ty::I, 5) => Expr::ToInt(Box::new(self.expr(Ty::D, d))),
            (Ty::D, 6) => {
                let f = self.rng.pick(&["fabs", "sqrt", "floor", "sin", "cos"]);
                Expr::Math(f, Box::new(self.expr(Ty::D, d)))
            }
            (_, 6) | (_, 7) if depth >= 2 => {
                if self.rng.chance(50) {
                    let init = self.expr(ty, d);
                    self.scope.push(ty);
                    self.scope.push(Ty::I);
                    let step = self.expr(ty, d.min(2));
                    self.scope.truncate(self.scope.len() - 2);
                    Expr::Loop(ty, self.rng.below(6) as u32, Box::new(init), Box::new(step))
                } else {
                    let pty = if self.rng.chance(50) { Ty::I } else { Ty::D };
                    self.scope.push(pty);
                    let body = self.expr(ty, d);
                    self.scope.pop();
                    Expr::Closure(pty, ty, Box::new(body), Box::new(self.expr(pty, d)))
                }
            }
            _ => self.array(ty, d),
        }
    }

    fn array(&mut self, ty: Ty, d: u32) -> Expr {
        let len = 1 + self.rng.below(8) as u32;
        let alloc = match self.rng.below(100) {
            0..=39 => Alloc::Stack,
            40..=79 => Alloc::Zone,
            80..=93 => Alloc::Heap,
            94..=96 => Alloc::Freed,
            _ => Alloc::Escaped,
        };
        // mostly in bounds; else just outside, far outside, or an offset that wraps
        let index = |rng: &mut Rng| -> i64 {
            if rng.chance(90) {
                rng.below(u64::from(len)) as i64
            } else {
                rng.pick(&[
                    -1,
                    len as i64,
                    len as i64 + 1,
                    1 << 20,
                    i64::MIN / 8,
                    1 << 62,
                ])
            }
        };
        let mut writes = Vec::new();
        for _ in 0..self.rng.below(3) {
            let i = index(self.rng);
            writes.push((i, self.expr(ty, d.min(1))));
        }
        let read = if self.rng.chance(70) {
            Read::At(index(self.rng))
        } else if self.rng.chance(90) {
            Read::Sum(i64::from(len))
        } else {
            Read::Sum(i64::from(len) + 1 + self.rng.below(3) as i64)
        };
        Expr::Array {
            ty,
            alloc,
            len,
            writes,
            read,
        }
    }

    fn leaf(&mut self, ty: Ty) -> Expr {
        let vars: Vec<usize> = (0..self.scope.len())
            .filter(|&i| self.scope[i] == ty)
            .collect();
        if !vars.is_empty() && self.rng.chance(60) {
            return Expr::Var(self.rng.pick(&vars));
        }
        match ty {
            Ty::I if self.rng.chance(30) => Expr::Int(self.rng.pick(&INT_EDGES)),
            Ty::I => Expr::Int(self.rng.below(2001) as i64 - 1000),
            Ty::D => Expr::Real(self.rng.pick(&REAL_LITS)),
        }
    }
}

/// Prints `e` as xtlang; variable `i` is named `v{i}`.
fn print(e: &Expr, depth: usize, out: &mut String) {
    match e {
        Expr::Int(i) => write!(out, "{i}").unwrap(),
        Expr::Real(x) => write!(out, "{x:?}").unwrap(),
        Expr::Var(i) => write!(out, "v{i}").unwrap(),
        Expr::Arith(op, _, a, b) => {
            write!(out, "({op} ").unwrap();
            print(a, depth, out);
            out.push(' ');
            print(b, depth, out);
            out.push(')');
        }
        Expr::If(op, _, a, b, t, f) => {
            write!(out, "(if ({op} ").unwrap();
            print(a, depth, out);
            out.push(' ');
            print(b, depth, out);
            out.push_str(") ");
            print(t, depth, out);
            out.push(' ');
            print(f, depth, out);
            out.push(')');
        }
        Expr::Let(ty, init, body) => {
            write!(out, "(let ((v{depth}:{} ", ty.name()).unwrap();
            print(init, depth, out);
            out.push_str(")) ");
            print(body, depth + 1, out);
            out.push(')');
        }
        Expr::ToReal(a) | Expr::ToInt(a) | Expr::Math(_, a) => {
            let f = match e {
                Expr::ToReal(_) => "i64tod",
                Expr::ToInt(_) => "dtoi64",
                Expr::Math(f, _) => f,
                _ => unreachable!(),
            };
            write!(out, "({f} ").unwrap();
            print(a, depth, out);
            out.push(')');
        }
        Expr::Loop(ty, n, init, step) => {
            let (acc, k) = (depth, depth + 1);
            write!(out, "(let ((v{acc}:{} ", ty.name()).unwrap();
            print(init, depth, out);
            write!(out, ")) (dotimes (v{k} {n}) (set! v{acc} ").unwrap();
            print(step, depth + 2, out);
            write!(out, ")) v{acc})").unwrap();
        }
        Expr::Closure(pty, rty, body, arg) => {
            write!(out, "(let ((f{depth} (lambda (v{depth}:{}) ", pty.name()).unwrap();
            let mut b = String::new();
            print(body, depth + 1, &mut b);
            write!(out, "(let ((r:{} {b})) r)))) (f{depth} ", rty.name()).unwrap();
            print(arg, depth, out);
            out.push_str("))");
        }
        Expr::Array {
            ty,
            alloc,
            len,
            writes,
            read,
        } => {
            let (t, a) = (ty.name(), format!("a{depth}"));
            let zero = if *ty == Ty::I { "0" } else { "0.0" };
            let fill = if *ty == Ty::I { "k" } else { "(i64tod k)" };
            let make = match alloc {
                Alloc::Stack => format!("(salloc {len})"),
                Alloc::Zone => format!("(zalloc {len})"),
                Alloc::Heap | Alloc::Freed => format!("(halloc {len})"),
                Alloc::Escaped => "null".to_string(),
            };
            write!(out, "(let (({a}:{t}* {make}) (k 0) (s:{t} {zero})) ").unwrap();
            let mut setup = format!("(dotimes (k {len}) (pset! {a} k {fill}))");
            for (i, v) in writes {
                write!(setup, " (pset! {a} {i} ").unwrap();
                print(v, depth, &mut setup);
                setup.push(')');
            }
            let read = match read {
                Read::At(i) => format!("(pref {a} {i})"),
                // A sum of integers runs in SIMD lanes; one of doubles there would add in
                // another order than the evaluator (its last bits may differ, as
                // documented), so its `(* 1.0 ...)`, exact, keeps it one at a time.
                Read::Sum(n) if *ty == Ty::I => {
                    format!("(begin (dotimes (k {n}) (set! s (+ s (pref {a} k)))) s)")
                }
                Read::Sum(n) => {
                    format!("(begin (dotimes (k {n}) (set! s (* 1.0 (+ s (pref {a} k))))) s)")
                }
            };
            match alloc {
                Alloc::Stack | Alloc::Zone => write!(out, "{setup} {read})"),
                Alloc::Heap => write!(
                    out,
                    "{setup} (let ((r{depth}:{t} {read})) (free {a}) r{depth}))"
                ),
                Alloc::Freed => write!(out, "{setup} (free {a}) {read})"),
                Alloc::Escaped => write!(
                    out,
                    "(memzone 1024 (set! {a} (zalloc {len})) {setup}) {read})"
                ),
            }
            .unwrap();
        }
    }
}

fn int(v: Val) -> i64 {
    match v {
        Val::I(i) => i,
        Val::D(_) => unreachable!("the generator keeps types apart"),
    }
}

fn real(v: Val) -> f64 {
    match v {
        Val::D(x) => x,
        Val::I(_) => unreachable!("the generator keeps types apart"),
    }
}

/// What the call must give. `env[i]` is the value of `v{i}`.
fn eval(e: &Expr, env: &mut Vec<Val>) -> Out {
    Ok(match e {
        Expr::Int(i) => Val::I(*i),
        Expr::Real(x) => Val::D(*x),
        Expr::Var(i) => env[*i],
        Expr::Arith(op, Ty::I, a, b) => {
            let (a, b) = (int(eval(a, env)?), int(eval(b, env)?));
            Val::I(match *op {
                "+" => a.wrapping_add(b),
                "-" => a.wrapping_sub(b),
                "*" => a.wrapping_mul(b),
                "/" if b == 0 => return Err(Fault("division by zero")),
                "%" if b == 0 => return Err(Fault("division by zero")),
                "/" => a.wrapping_div(b),
                "%" => a.wrapping_rem(b),
                "bitwise-and" => a & b,
                "bitwise-or" => a | b,
                "bitwise-xor" => a ^ b,
                _ => unreachable!(),
            })
        }
        Expr::Arith(op, Ty::D, a, b) => {
            let (a, b) = (real(eval(a, env)?), real(eval(b, env)?));
            Val::D(match *op {
                "+" => a + b,
                "-" => a - b,
                "*" => a * b,
                "/" => a / b,
                _ => unreachable!(),
            })
        }
        Expr::If(op, cty, a, b, t, f) => {
            let (a, b) = (eval(a, env)?, eval(b, env)?);
            let ord = match cty {
                Ty::I => int(a).partial_cmp(&int(b)),
                Ty::D => real(a).partial_cmp(&real(b)),
            };
            use std::cmp::Ordering::*;
            // `<>` is true of unordered (NaN) operands, the others false
            let c = matches!(
                (*op, ord),
                ("<", Some(Less))
                    | (">", Some(Greater))
                    | ("=", Some(Equal))
                    | ("<=", Some(Less | Equal))
                    | (">=", Some(Greater | Equal))
                    | ("<>", Some(Less | Greater) | None)
            );
            eval(if c { t } else { f }, env)?
        }
        Expr::Let(_, init, body) => {
            let v = eval(init, env)?;
            env.push(v);
            let r = eval(body, env);
            env.pop();
            r?
        }
        Expr::ToReal(a) => Val::D(int(eval(a, env)?) as f64),
        Expr::ToInt(a) => Val::I(real(eval(a, env)?) as i64),
        Expr::Math(f, a) => {
            let x = real(eval(a, env)?);
            Val::D(match *f {
                "fabs" => x.abs(),
                "sqrt" => x.sqrt(),
                "floor" => x.floor(),
                "sin" => x.sin(),
                "cos" => x.cos(),
                _ => unreachable!(),
            })
        }
        Expr::Loop(_, n, init, step) => {
            let mut acc = eval(init, env)?;
            for k in 0..*n {
                env.push(acc);
                env.push(Val::I(i64::from(k)));
                let r = eval(step, env);
                env.truncate(env.len() - 2);
                acc = r?;
            }
            acc
        }
        Expr::Closure(_, _, body, arg) => {
            let a = eval(arg, env)?;
            env.push(a);
            let r = eval(body, env);
            env.pop();
            r?
        }
        Expr::Array {
            ty,
            alloc,
            len,
            writes,
            read,
        } => {
            let len = i64::from(*len);
            let mut cells: Vec<Val> = (0..len)
                .map(|k| match ty {
                    Ty::I => Val::I(k),
                    Ty::D => Val::D(k as f64),
                })
                .collect();
            let outside = |i: i64| !(0..len).contains(&i);
            for (i, v) in writes {
                let v = eval(v, env)?;
                if outside(*i) {
                    return Err(Fault("write outside the array"));
                }
                cells[*i as usize] = v;
            }
            if matches!(alloc, Alloc::Freed | Alloc::Escaped) {
                return Err(Fault("read after the allocation ended"));
            }
            match read {
                Read::At(i) if outside(*i) => return Err(Fault("read outside the array")),
                Read::At(i) => cells[*i as usize],
                Read::Sum(n) if *n > len => return Err(Fault("sum past the array's end")),
                Read::Sum(_) => match ty {
                    Ty::I => Val::I(cells.iter().fold(0i64, |s, v| s.wrapping_add(int(*v)))),
                    Ty::D => Val::D(cells.iter().fold(0.0, |s, v| s + real(*v))),
                },
            }
        }
    })
}

/// Equal as the language promises: integers exactly, reals bit for bit (NaNs alike)
/// except the libm functions, which may differ in the last place.
fn same(got: &DspValue, want: Val, inexact: bool) -> bool {
    match (got, want) {
        (DspValue::I64(g), Val::I(w)) => *g == w,
        (DspValue::Double(g), Val::D(w)) if g.is_nan() || w.is_nan() => g.is_nan() && w.is_nan(),
        (DspValue::Double(g), Val::D(w)) if inexact => {
            *g == w || (g - w).abs() <= 1e-12 * w.abs().max(1.0)
        }
        (DspValue::Double(g), Val::D(w)) => g.to_bits() == w.to_bits() || (*g == 0.0 && w == 0.0),
        _ => false,
    }
}

fn uses_libm(e: &Expr) -> bool {
    match e {
        Expr::Math(f, a) => matches!(*f, "sin" | "cos") || uses_libm(a),
        Expr::Int(_) | Expr::Real(_) | Expr::Var(_) => false,
        Expr::ToReal(a) | Expr::ToInt(a) => uses_libm(a),
        Expr::Arith(_, _, a, b) => uses_libm(a) || uses_libm(b),
        Expr::If(_, _, a, b, t, f) => uses_libm(a) || uses_libm(b) || uses_libm(t) || uses_libm(f),
        Expr::Let(_, a, b) | Expr::Loop(_, _, a, b) | Expr::Closure(_, _, a, b) => {
            uses_libm(a) || uses_libm(b)
        }
        Expr::Array { writes, .. } => writes.iter().any(|(_, v)| uses_libm(v)),
    }
}

/// One program: generates it with its arguments, compiles, calls and compares. Returns
/// whether it faulted (as it had to), or a description of the disagreement.
fn run_one(dsp: &mut Dsp, rng: &mut Rng, n: u64) -> Result<bool, String> {
    let rty = if rng.chance(50) { Ty::I } else { Ty::D };
    let mut g = Gen {
        rng,
        scope: vec![Ty::I, Ty::I, Ty::D, Ty::D],
    };
    let body = g.expr(rty, 5);
    let ints = [g.rng.pick(&INT_EDGES), g.rng.below(200) as i64 - 100];
    let reals = [
        g.rng
            .pick(&[0.5, -2.0, 1e300, f64::NAN, f64::INFINITY, -0.0, 3.0]),
        g.rng.below(1000) as f64 / 8.0,
    ];
    let mut text = String::new();
    print(&body, 4, &mut text);
    let name = format!("fz{n}");
    let src = format!(
        "(bind-func {name} (lambda (v0:i64 v1:i64 v2:double v3:double) (let ((out:{} {text})) out)))",
        rty.name()
    );
    let mut env = vec![
        Val::I(ints[0]),
        Val::I(ints[1]),
        Val::D(reals[0]),
        Val::D(reals[1]),
    ];
    let want = eval(&body, &mut env);
    let forms = match parse(&src, "fuzz.xtm") {
        Ok(f) => f,
        Err(e) => return Err(format!("{src}\ndoes not read: {e}")),
    };
    if let Err(e) = dsp.define(&forms[0]) {
        return Err(format!("{src}\nis well typed but did not compile: {e}"));
    }
    let args = [
        DspValue::I64(ints[0]),
        DspValue::I64(ints[1]),
        DspValue::Double(reals[0]),
        DspValue::Double(reals[1]),
    ];
    let got = dsp.call(&name, &args);
    let call = format!(
        "({name} {} {} {:?} {:?})",
        ints[0], ints[1], reals[0], reals[1]
    );
    match (&got, &want) {
        (Ok(g), Ok(w)) if same(g, *w, uses_libm(&body)) => Ok(false),
        (Err(e), Err(_)) if e.kind == DspErrorKind::Fault && !e.message.is_empty() => Ok(true),
        _ => Err(format!("{src}\n{call}\ngave {got:?}, expected {want:?}")),
    }
}

fn budget(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn well_typed_programs_compile_and_agree_with_the_evaluator() {
    let programs = budget("ZONAL_FUZZ_PROGRAMS", 400);
    let mut rng = Rng(budget("ZONAL_FUZZ_SEED", 0x5eed));
    let fresh = || {
        let mut dsp = Dsp::new(DspConfig::default()).expect("a Dsp");
        dsp.set_output(Box::new(std::io::sink()));
        dsp.set_warnings(Box::new(std::io::sink()));
        dsp
    };
    let mut dsp = fresh();
    let mut failures = Vec::new();
    let mut faulted = 0;
    for n in 0..programs {
        // A closure a call from the control thread makes lives in its default zone, which is
        // never emptied, and keeps the code that made it: a run at length starts a new
        // `Dsp` now and then, or the code table (65,536 lambdas) fills after some 30,000
        // programs.
        if n > 0 && n % 5000 == 0 {
            dsp = fresh();
        }
        match run_one(&mut dsp, &mut rng, n % 64) {
            Ok(f) => faulted += u64::from(f),
            Err(f) => failures.push(f),
        }
        if failures.len() >= 5 {
            break;
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreement(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // both outcomes were exercised: values compared, and faults where they belong
    assert!(
        faulted > programs / 50 && faulted < programs / 2,
        "{faulted} of {programs} programs faulted"
    );
}
