//! Numbers: arithmetic with exact 64-bit integers and rationals (see `rational.rs`)
//! that become flonums on overflow, comparisons, rounding, transcendental functions,
//! conversions, `random`.

use super::{PlainResult, alias, int_arg, plain, rational, str_arg, type_err};
use crate::datum::DatumKind;
use crate::error::{Error, ErrorKind};
use crate::interp::{Interp, err};
use crate::printer::format_float;
use crate::value::{Obj, V, Value};

#[derive(Clone, Copy)]
enum Num {
    I(i64),
    /// A rational in lowest terms, denominator at least 2.
    R(i64, i64),
    F(f64),
}

impl Num {
    fn f(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::R(n, d) => n as f64 / d as f64,
            Num::F(f) => f,
        }
    }

    /// The exact value as a 128-bit fraction, for flonums `None`.
    fn frac(self) -> Option<(i128, i128)> {
        match self {
            Num::I(i) => Some((i as i128, 1)),
            Num::R(n, d) => Some((n as i128, d as i128)),
            Num::F(_) => None,
        }
    }

    /// `n/d` in lowest terms (`d != 0`), or the flonum when a part overflows 64 bits.
    fn ratio(n: i128, d: i128) -> Num {
        match rational::normalize(n, d) {
            Some((n, 1)) => Num::I(n),
            Some((n, d)) => Num::R(n, d),
            None => Num::F(n as f64 / d as f64),
        }
    }

    fn val(self, it: &mut Interp) -> Value {
        match self {
            Num::I(i) => Value::new(V::Int(i)),
            Num::R(n, d) => it.alloc(Obj::Rat(n, d)),
            Num::F(f) => Value::new(V::Float(f)),
        }
    }
}

fn num(it: &Interp, who: &str, v: Value) -> Result<Num, Error> {
    match v.get() {
        V::Int(i) => Ok(Num::I(i)),
        V::Float(f) => Ok(Num::F(f)),
        _ => match rational::parts(it, v) {
            Some((n, d)) => Ok(Num::R(n, d)),
            None => Err(type_err(it, who, "a number", v)),
        },
    }
}

/// Whether `v` is a number (integer, rational or flonum).
pub(crate) fn is_number(it: &Interp, v: Value) -> bool {
    matches!(v.get(), V::Int(_) | V::Float(_)) || rational::parts(it, v).is_some()
}

fn float(it: &Interp, who: &str, v: Value) -> Result<f64, Error> {
    num(it, who, v).map(Num::f)
}

fn add(a: Num, b: Num) -> Num {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x.checked_add(y).map_or(Num::F(x as f64 + y as f64), Num::I),
        _ => match (a.frac(), b.frac()) {
            (Some((p, q)), Some((r, s))) => Num::ratio(p * s + r * q, q * s),
            _ => Num::F(a.f() + b.f()),
        },
    }
}

fn sub(a: Num, b: Num) -> Num {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x.checked_sub(y).map_or(Num::F(x as f64 - y as f64), Num::I),
        _ => match (a.frac(), b.frac()) {
            (Some((p, q)), Some((r, s))) => Num::ratio(p * s - r * q, q * s),
            _ => Num::F(a.f() - b.f()),
        },
    }
}

fn mul(a: Num, b: Num) -> Num {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x.checked_mul(y).map_or(Num::F(x as f64 * y as f64), Num::I),
        _ => match (a.frac(), b.frac()) {
            (Some((p, q)), Some((r, s))) => Num::ratio(p * r, q * s),
            _ => Num::F(a.f() * b.f()),
        },
    }
}

/// Exact division gives an exact result: `(/ 1 3)` is `1/3`, `(/ 6 3)` is `2`.
fn div(a: Num, b: Num) -> Result<Num, Error> {
    match (a.frac(), b.frac()) {
        (Some(_), Some((0, _))) => Err(err(
            ErrorKind::DivByZero,
            "/ cannot divide an exact number by 0",
        )),
        (Some((p, q)), Some((r, s))) => Ok(Num::ratio(p * s, q * r)),
        _ => Ok(Num::F(a.f() / b.f())),
    }
}

/// The order of two numbers (exactly, unless one is a flonum; `None` with a NaN).
fn order(a: Num, b: Num) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(&y)),
        _ => match (a.frac(), b.frac()) {
            (Some((p, q)), Some((r, s))) => Some((p * s).cmp(&(r * q))),
            _ => a.f().partial_cmp(&b.f()),
        },
    }
}

fn plus(it: &mut Interp, args: &[Value]) -> PlainResult {
    if let [x, y] = args
        && let (V::Int(a), V::Int(b)) = (x.get(), y.get())
        && let Some(s) = a.checked_add(b)
    {
        return Ok(Value::new(V::Int(s)));
    }
    let mut acc = Num::I(0);
    for &a in args {
        acc = add(acc, num(it, "+", a)?);
    }
    Ok(acc.val(it))
}

fn minus(it: &mut Interp, args: &[Value]) -> PlainResult {
    if let [x, y] = args
        && let (V::Int(a), V::Int(b)) = (x.get(), y.get())
        && let Some(s) = a.checked_sub(b)
    {
        return Ok(Value::new(V::Int(s)));
    }
    let first = num(it, "-", args[0])?;
    if args.len() == 1 {
        return Ok(sub(Num::I(0), first).val(it));
    }
    let mut acc = first;
    for &a in &args[1..] {
        acc = sub(acc, num(it, "-", a)?);
    }
    Ok(acc.val(it))
}

fn times(it: &mut Interp, args: &[Value]) -> PlainResult {
    let mut acc = Num::I(1);
    for &a in args {
        acc = mul(acc, num(it, "*", a)?);
    }
    Ok(acc.val(it))
}

fn divide(it: &mut Interp, args: &[Value]) -> PlainResult {
    let first = num(it, "/", args[0])?;
    if args.len() == 1 {
        return Ok(div(Num::I(1), first)?.val(it));
    }
    let mut acc = first;
    for &a in &args[1..] {
        acc = div(acc, num(it, "/", a)?)?;
    }
    Ok(acc.val(it))
}

fn compare(
    it: &Interp,
    who: &str,
    args: &[Value],
    ok: fn(std::cmp::Ordering) -> bool,
) -> PlainResult {
    for w in args.windows(2) {
        let a = num(it, who, w[0])?;
        let b = num(it, who, w[1])?;
        let ord = order(a, b);
        if !ord.is_some_and(ok) {
            // still type-check the rest
            for &v in args {
                num(it, who, v)?;
            }
            return Ok(Value::FALSE);
        }
    }
    if args.len() == 1 {
        num(it, who, args[0])?;
    }
    Ok(Value::TRUE)
}

macro_rules! cmp_prim {
    ($name:ident, $who:expr, $op:tt, $ok:expr) => {
        fn $name(it: &mut Interp, args: &[Value]) -> PlainResult {
            if let [x, y] = args
                && let (V::Int(a), V::Int(b)) = (x.get(), y.get())
            {
                return Ok(Value::boolean(a $op b));
            }
            compare(it, $who, args, $ok)
        }
    };
}

cmp_prim!(num_eq, "=", ==, |o| o.is_eq());
cmp_prim!(num_lt, "<", <, |o| o.is_lt());
cmp_prim!(num_gt, ">", >, |o| o.is_gt());
cmp_prim!(num_le, "<=", <=, |o| o.is_le());
cmp_prim!(num_ge, ">=", >=, |o| o.is_ge());

/// `modulo` of beats, as Extempore's: with a rational argument the exact remainder
/// (`(modulo 7/2 2)` is 3/2), with a fractional flonum `a - b*floor(a/b)`
/// (`(modulo 2.5 1.0)` is 0.5); `None` for two integers or whole flonums, which
/// `int_div` does.
fn beat_modulo(it: &mut Interp, a: Value, b: Value) -> Result<Option<Value>, Box<Error>> {
    let x = num(it, "modulo", a)?;
    let y = num(it, "modulo", b)?;
    let whole = |n: Num| match n {
        Num::I(_) => true,
        Num::R(..) => false,
        Num::F(f) => f.fract() == 0.0,
    };
    if whole(x) && whole(y) {
        return Ok(None);
    }
    if y.f() == 0.0 {
        return Err(err(ErrorKind::DivByZero, "modulo cannot divide by 0").into());
    }
    let exact = |n: Num| match n {
        Num::I(i) => Some((i128::from(i), 1i128)),
        Num::R(n, d) => Some((i128::from(n), i128::from(d))),
        Num::F(_) => None,
    };
    Ok(Some(match (exact(x), exact(y)) {
        (Some((n1, d1)), Some((n2, d2))) => {
            // over the common denominator d1*d2: every product stays below 2^126
            let (p, q) = (n1 * d2, n2 * d1);
            let r = p.rem_euclid(q);
            let r = if q < 0 && r != 0 { r + q } else { r };
            rational::make(it, r, d1 * d2)
        }
        _ => {
            let (p, q) = (x.f(), y.f());
            Value::new(V::Float(p - q * (p / q).floor()))
        }
    }))
}

/// Integer division family: `kind` 0 quotient, 1 remainder, 2 modulo.
fn int_div(it: &Interp, who: &str, a: Value, b: Value, kind: u8) -> PlainResult {
    let x = num(it, who, a)?;
    let y = num(it, who, b)?;
    match (x, y) {
        (Num::I(_), Num::I(0)) => {
            Err(err(ErrorKind::DivByZero, format!("{who} cannot divide by 0")).into())
        }
        (Num::I(p), Num::I(q)) => {
            let r = match kind {
                0 => p.checked_div(q),
                1 => p.checked_rem(q),
                _ => p.checked_rem(q).map(|r| {
                    if r != 0 && ((r < 0) != (q < 0)) {
                        r + q
                    } else {
                        r
                    }
                }),
            };
            Ok(r.map_or(
                Value::new(V::Float(if kind == 0 { -(p as f64) } else { 0.0 })),
                |r| Value::new(V::Int(r)),
            ))
        }
        _ => {
            let (p, q) = (x.f(), y.f());
            if p.fract() != 0.0 || q.fract() != 0.0 {
                return Err(
                    type_err(it, who, "integers", if p.fract() != 0.0 { a } else { b }).into(),
                );
            }
            if q == 0.0 {
                return Err(err(ErrorKind::DivByZero, format!("{who} cannot divide by 0")).into());
            }
            let r = match kind {
                0 => (p / q).trunc(),
                1 => p % q,
                _ => {
                    let r = p % q;
                    if r != 0.0 && ((r < 0.0) != (q < 0.0)) {
                        r + q
                    } else {
                        r
                    }
                }
            };
            Ok(Value::new(V::Float(r)))
        }
    }
}

fn gcd_i(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    i64::try_from(a).unwrap_or(i64::MAX)
}

fn round_even(f: f64) -> f64 {
    let r = f.round();
    if (f - f.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - f.signum()
    } else {
        r
    }
}

/// `floor`, `ceiling`, `round`, `truncate`: an exact argument gives an exact integer.
fn rounding(it: &mut Interp, args: &[Value], who: &str, op: fn(f64) -> f64) -> PlainResult {
    match num(it, who, args[0])? {
        Num::I(i) => Ok(Value::new(V::Int(i))),
        Num::R(n, d) => {
            let (q, r) = (n.div_euclid(d), n.rem_euclid(d));
            // the floor, then the step up that the operation takes from it
            let up = match who {
                "floor" => 0,
                "ceiling" => 1,
                "truncate" => i64::from(n < 0),
                _ => {
                    let twice = 2 * r as i128;
                    let half_up = twice > d as i128 || (twice == d as i128 && q % 2 != 0);
                    i64::from(half_up)
                }
            };
            Ok(Value::new(V::Int(q + up)))
        }
        Num::F(f) => Ok(Value::new(V::Float(op(f)))),
    }
}

fn to_exact(it: &mut Interp, v: Value) -> PlainResult {
    match num(it, "exact", v)? {
        Num::I(_) | Num::R(..) => Ok(v),
        Num::F(f) => {
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.2e18 {
                Ok(Value::new(V::Int(f as i64)))
            } else if let Some((n, d)) = rational::from_float_exactly(f) {
                Ok(rational::make(it, n, d))
            } else if f.is_finite() {
                let r = f.round();
                if r.abs() < 9.2e18 {
                    Ok(Value::new(V::Int(r as i64)))
                } else {
                    Err(err(
                        ErrorKind::Range,
                        "exact: this number is too large for an exact integer",
                    )
                    .with_irritants(vec![format_float(f)])
                    .into())
                }
            } else {
                Err(err(
                    ErrorKind::Range,
                    "exact: infinities and NaN have no exact value",
                )
                .with_irritants(vec![format_float(f)])
                .into())
            }
        }
    }
}

fn expt(it: &mut Interp, args: &[Value]) -> PlainResult {
    let b = num(it, "expt", args[0])?;
    let e = num(it, "expt", args[1])?;
    Ok(match (b, e) {
        (Num::I(x), Num::I(y)) if y >= 0 => {
            match u32::try_from(y).ok().and_then(|y| x.checked_pow(y)) {
                Some(r) => Value::new(V::Int(r)),
                None => Value::new(V::Float((x as f64).powf(y as f64))),
            }
        }
        _ => Value::new(V::Float(b.f().powf(e.f()))),
    })
}

fn sqrt(it: &mut Interp, args: &[Value]) -> PlainResult {
    match num(it, "sqrt", args[0])? {
        Num::I(i) if i >= 0 => {
            let r = (i as f64).sqrt().round() as i64;
            if r.checked_mul(r) == Some(i) {
                Ok(Value::new(V::Int(r)))
            } else {
                Ok(Value::new(V::Float((i as f64).sqrt())))
            }
        }
        n => Ok(Value::new(V::Float(n.f().sqrt()))),
    }
}

fn float_fn(it: &mut Interp, args: &[Value], who: &str, f: fn(f64) -> f64) -> PlainResult {
    Ok(Value::new(V::Float(f(float(it, who, args[0])?))))
}

fn number_to_string(it: &mut Interp, args: &[Value]) -> PlainResult {
    let radix = match args.get(1) {
        Some(&r) => int_arg(it, "number->string", r)?,
        None => 10,
    };
    let s = match (num(it, "number->string", args[0])?, radix) {
        (Num::I(i), 10) => i.to_string(),
        (Num::I(i), 16) => fmt_radix(i, 16),
        (Num::I(i), 2) => fmt_radix(i, 2),
        (Num::I(i), 8) => fmt_radix(i, 8),
        (Num::F(f), 10) => format_float(f),
        (Num::R(n, d), 10) => format!("{n}/{d}"),
        _ => {
            return Err(err(
                ErrorKind::Range,
                "number->string supports radix 2, 8, 10 and 16 (floats: 10)",
            )
            .into());
        }
    };
    Ok(it.new_string(s))
}

fn fmt_radix(i: i64, radix: u32) -> String {
    let sign = if i < 0 { "-" } else { "" };
    let m = i.unsigned_abs();
    let body = match radix {
        16 => format!("{m:x}"),
        8 => format!("{m:o}"),
        _ => format!("{m:b}"),
    };
    format!("{sign}{body}")
}

fn string_to_number(it: &mut Interp, args: &[Value]) -> PlainResult {
    let s = str_arg(it, "string->number", args[0])?.to_string();
    let radix = match args.get(1) {
        Some(&r) => int_arg(it, "string->number", r)?,
        None => 10,
    };
    if radix != 10 {
        let r = u32::try_from(radix).ok().filter(|r| (2..=36).contains(r));
        return Ok(match r.and_then(|r| i64::from_str_radix(&s, r).ok()) {
            Some(i) => Value::new(V::Int(i)),
            None => Value::FALSE,
        });
    }
    let parsed = match crate::reader::read_all(&s, "string->number") {
        Ok(ds) if ds.len() == 1 => match &ds[0].kind {
            DatumKind::Int(i) => Some(Value::new(V::Int(*i))),
            DatumKind::Float(f) => Some(Value::new(V::Float(*f))),
            DatumKind::Other(text) => rational::parse(text).map(|(n, d)| rational::make(it, n, d)),
            _ => None,
        },
        _ => None,
    };
    Ok(parsed.unwrap_or(Value::FALSE))
}

/// The next 64 random bits (xorshift64*).
fn next_random(it: &mut Interp) -> u64 {
    let mut x = it.rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    it.rng = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// A random flonum in [0, 1).
fn unit_random(it: &mut Interp) -> f64 {
    (next_random(it) >> 11) as f64 / (1u64 << 53) as f64
}

/// Extempore's `random`: `(random)` a flonum in [0, 1); `(random n)` an integer in
/// [0, n) (a flonum in [0, n) for a flonum n); `(random a b)` a number in [a, b),
/// an integer when both are; `(random list)` one of its elements; `(random (w . x)
/// ...)` one of the `x`s, chosen with weight `w`.
fn random(it: &mut Interp, args: &[Value]) -> PlainResult {
    let Some(&first) = args.first() else {
        return Ok(Value::new(V::Float(unit_random(it))));
    };
    if matches!(first.get(), V::Pair(_) | V::Nil) {
        if let Some(items) = it.list_vec(first)
            && args.len() == 1
        {
            if items.is_empty() {
                return Err(type_err(it, "random", "a non-empty list", first).into());
            }
            let k = (next_random(it) % items.len() as u64) as usize;
            return Ok(items[k]);
        }
        return weighted(it, args);
    }
    if args.len() > 2 {
        return Err(err(
            ErrorKind::Arity,
            "random wants 0 to 2 numbers, a list, or weighted pairs",
        )
        .into());
    }
    let (lo, hi) = match args.get(1) {
        Some(&b) => (num(it, "random", first)?, num(it, "random", b)?),
        None => (Num::I(0), num(it, "random", first)?),
    };
    match (lo, hi) {
        (Num::I(a), Num::I(b)) if b > a => {
            let span = (b as i128 - a as i128) as u128;
            let k = (next_random(it) as u128 % span) as i128;
            Ok(Value::new(V::Int((a as i128 + k) as i64)))
        }
        (a, b) if b.f() > a.f() && (b.f() - a.f()).is_finite() => {
            let (a, b) = (a.f(), b.f());
            Ok(Value::new(V::Float(a + unit_random(it) * (b - a))))
        }
        _ => Err(type_err(
            it,
            "random",
            "a range with its upper bound above its lower one",
            *args.last().unwrap_or(&first),
        )
        .into()),
    }
}

/// `(random (w . x) ...)`: one of the `x`s, each chosen with probability proportional
/// to its weight `w`.
fn weighted(it: &mut Interp, args: &[Value]) -> PlainResult {
    let mut choices = Vec::with_capacity(args.len());
    for &a in args {
        let weight = it
            .heap
            .pair(a)
            .and_then(|p| match p.car.get() {
                V::Int(w) => Some((w as f64, p.cdr)),
                V::Float(w) => Some((w, p.cdr)),
                _ => None,
            })
            .filter(|(w, _)| *w >= 0.0 && w.is_finite());
        match weight {
            Some(c) => choices.push(c),
            None => return Err(type_err(it, "random", "(weight . value) pairs", a).into()),
        }
    }
    let total: f64 = choices.iter().map(|c| c.0).sum();
    let mut at = unit_random(it) * total;
    for &(w, v) in &choices {
        if at < w {
            return Ok(v);
        }
        at -= w;
    }
    Ok(choices.last().map_or(Value::FALSE, |c| c.1))
}

fn pred(it: &mut Interp, args: &[Value], who: &str, f: fn(Num) -> bool) -> PlainResult {
    Ok(Value::boolean(f(num(it, who, args[0])?)))
}

fn int_pred(it: &mut Interp, args: &[Value], who: &str, f: fn(i64) -> bool) -> PlainResult {
    Ok(Value::boolean(f(int_arg(it, who, args[0])?)))
}

fn minmax(it: &mut Interp, args: &[Value], who: &str, want_max: bool) -> PlainResult {
    let mut best = num(it, who, args[0])?;
    let mut inexact = matches!(best, Num::F(_));
    for &a in &args[1..] {
        let n = num(it, who, a)?;
        inexact |= matches!(n, Num::F(_));
        let better = match (n, best) {
            (Num::F(_), _) | (_, Num::F(_)) => {
                (if want_max {
                    n.f() > best.f()
                } else {
                    n.f() < best.f()
                }) || n.f().is_nan()
            }
            _ => {
                order(n, best)
                    == Some(if want_max {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Less
                    })
            }
        };
        if better {
            best = n;
        }
    }
    Ok(if inexact {
        Value::new(V::Float(best.f()))
    } else {
        best.val(it)
    })
}

/// `numerator` (`want_numerator`) or `denominator` of a number as a fraction in lowest
/// terms: an integer is its own numerator over 1; a flonum is a binary fraction, so
/// `(denominator 0.75)` is `4.0` (the results stay inexact, as R7RS asks).
fn fraction_part(it: &mut Interp, args: &[Value], who: &str, want_numerator: bool) -> PlainResult {
    Ok(match num(it, who, args[0])? {
        Num::I(i) => Value::new(V::Int(if want_numerator { i } else { 1 })),
        Num::R(n, d) => Value::new(V::Int(if want_numerator { n } else { d })),
        Num::F(f) if !f.is_finite() => {
            return Err(type_err(it, who, "a finite number", args[0]).into());
        }
        Num::F(f) => {
            let (mut n, mut d) = (f, 1.0f64);
            while n.fract() != 0.0 {
                n *= 2.0;
                d *= 2.0;
            }
            Value::new(V::Float(if want_numerator { n } else { d }))
        }
    })
}

fn atan(it: &mut Interp, args: &[Value]) -> PlainResult {
    let y = float(it, "atan", args[0])?;
    Ok(Value::new(V::Float(match args.get(1) {
        Some(&x) => y.atan2(float(it, "atan", x)?),
        None => y.atan(),
    })))
}

fn log(it: &mut Interp, args: &[Value]) -> PlainResult {
    let x = float(it, "log", args[0])?;
    Ok(Value::new(V::Float(match args.get(1) {
        Some(&b) => x.ln() / float(it, "log", b)?.ln(),
        None => x.ln(),
    })))
}

pub(super) fn install(it: &mut Interp) {
    plain(it, "+", 0, None, plus);
    plain(it, "-", 1, None, minus);
    plain(it, "*", 0, None, times);
    plain(it, "/", 1, None, divide);
    plain(it, "=", 1, None, num_eq);
    plain(it, "<", 1, None, num_lt);
    plain(it, ">", 1, None, num_gt);
    plain(it, "<=", 1, None, num_le);
    plain(it, ">=", 1, None, num_ge);
    plain(it, "quotient", 2, Some(2), |it, a| {
        int_div(it, "quotient", a[0], a[1], 0)
    });
    plain(it, "remainder", 2, Some(2), |it, a| {
        int_div(it, "remainder", a[0], a[1], 1)
    });
    plain(it, "modulo", 2, Some(2), |it, a| {
        match beat_modulo(it, a[0], a[1])? {
            Some(r) => Ok(r),
            None => int_div(it, "modulo", a[0], a[1], 2),
        }
    });
    plain(it, "truncate-quotient", 2, Some(2), |it, a| {
        int_div(it, "truncate-quotient", a[0], a[1], 0)
    });
    plain(it, "truncate-remainder", 2, Some(2), |it, a| {
        int_div(it, "truncate-remainder", a[0], a[1], 1)
    });
    plain(it, "floor-remainder", 2, Some(2), |it, a| {
        int_div(it, "floor-remainder", a[0], a[1], 2)
    });
    plain(it, "floor-quotient", 2, Some(2), |it, a| {
        let q = int_div(it, "floor-quotient", a[0], a[1], 0)?;
        let m = int_div(it, "floor-quotient", a[0], a[1], 1)?;
        let (Some(x), Some(y)) = (it.as_f64(a[0]), it.as_f64(a[1])) else {
            return Ok(q);
        };
        let adjust = it.as_f64(m).is_some_and(|m| m != 0.0) && ((x < 0.0) != (y < 0.0));
        Ok(match (q.get(), adjust) {
            (V::Int(q), true) => Value::new(V::Int(q - 1)),
            (V::Float(q), true) => Value::new(V::Float(q - 1.0)),
            _ => q,
        })
    });
    plain(it, "abs", 1, Some(1), |it, a| {
        Ok(match num(it, "abs", a[0])? {
            Num::I(i) => i
                .checked_abs()
                .map_or(Value::new(V::Float((i as f64).abs())), |v| {
                    Value::new(V::Int(v))
                }),
            Num::R(n, d) => match n.checked_abs() {
                Some(n) => it.alloc(Obj::Rat(n, d)),
                None => Value::new(V::Float((n as f64 / d as f64).abs())),
            },
            Num::F(f) => Value::new(V::Float(f.abs())),
        })
    });
    plain(it, "min", 1, None, |it, a| minmax(it, a, "min", false));
    plain(it, "max", 1, None, |it, a| minmax(it, a, "max", true));
    plain(it, "gcd", 0, None, |it, a| {
        let mut g = 0;
        for &v in a {
            g = gcd_i(g, int_arg(it, "gcd", v)?);
        }
        Ok(Value::new(V::Int(g)))
    });
    plain(it, "lcm", 0, None, |it, a| {
        let mut l: i64 = 1;
        for &v in a {
            let x = int_arg(it, "lcm", v)?;
            if x == 0 {
                return Ok(Value::new(V::Int(0)));
            }
            let g = gcd_i(l, x);
            l = x
                .checked_abs()
                .and_then(|a| (l / g).checked_mul(a))
                .ok_or_else(|| err(ErrorKind::Range, "lcm is too large for 64 bits"))?;
        }
        Ok(Value::new(V::Int(l)))
    });
    plain(it, "numerator", 1, Some(1), |it, a| {
        fraction_part(it, a, "numerator", true)
    });
    plain(it, "denominator", 1, Some(1), |it, a| {
        fraction_part(it, a, "denominator", false)
    });
    plain(it, "expt", 2, Some(2), expt);
    plain(it, "sqrt", 1, Some(1), sqrt);
    plain(it, "exact-integer-sqrt", 1, Some(1), |it, a| {
        let n = int_arg(it, "exact-integer-sqrt", a[0])?;
        if n < 0 {
            return Err(type_err(it, "exact-integer-sqrt", "a non-negative integer", a[0]).into());
        }
        let mut r = (n as f64).sqrt() as i64;
        while r.checked_mul(r).is_none_or(|s| s > n) {
            r -= 1;
        }
        while (r + 1).checked_mul(r + 1).is_some_and(|s| s <= n) {
            r += 1;
        }
        let vals = vec![Value::new(V::Int(r)), Value::new(V::Int(n - r * r))];
        Ok(it.alloc(crate::value::Obj::Values(vals)))
    });
    plain(it, "exp", 1, Some(1), |it, a| {
        float_fn(it, a, "exp", f64::exp)
    });
    plain(it, "log", 1, Some(2), log);
    plain(it, "sin", 1, Some(1), |it, a| {
        float_fn(it, a, "sin", f64::sin)
    });
    plain(it, "cos", 1, Some(1), |it, a| {
        float_fn(it, a, "cos", f64::cos)
    });
    plain(it, "tan", 1, Some(1), |it, a| {
        float_fn(it, a, "tan", f64::tan)
    });
    plain(it, "asin", 1, Some(1), |it, a| {
        float_fn(it, a, "asin", f64::asin)
    });
    plain(it, "acos", 1, Some(1), |it, a| {
        float_fn(it, a, "acos", f64::acos)
    });
    plain(it, "atan", 1, Some(2), atan);
    plain(it, "floor", 1, Some(1), |it, a| {
        rounding(it, a, "floor", f64::floor)
    });
    plain(it, "ceiling", 1, Some(1), |it, a| {
        rounding(it, a, "ceiling", f64::ceil)
    });
    plain(it, "round", 1, Some(1), |it, a| {
        rounding(it, a, "round", round_even)
    });
    plain(it, "truncate", 1, Some(1), |it, a| {
        rounding(it, a, "truncate", f64::trunc)
    });
    plain(it, "exact", 1, Some(1), |it, a| to_exact(it, a[0]));
    plain(it, "inexact->exact", 1, Some(1), |it, a| to_exact(it, a[0]));
    plain(it, "inexact", 1, Some(1), |it, a| {
        Ok(Value::new(V::Float(float(it, "inexact", a[0])?)))
    });
    plain(it, "exact->inexact", 1, Some(1), |it, a| {
        Ok(Value::new(V::Float(float(it, "exact->inexact", a[0])?)))
    });
    plain(it, "number->string", 1, Some(2), number_to_string);
    plain(it, "string->number", 1, Some(2), string_to_number);
    plain(it, "random", 0, None, random);
    plain(it, "square", 1, Some(1), |it, a| {
        let n = num(it, "square", a[0])?;
        Ok(mul(n, n).val(it))
    });
    plain(it, "number?", 1, Some(1), |it, a| {
        Ok(Value::boolean(is_number(it, a[0])))
    });
    plain(it, "real->rational", 1, Some(1), |it, a| {
        match num(it, "real->rational", a[0])? {
            Num::I(_) | Num::R(..) => Ok(a[0]),
            Num::F(f) => match rational::from_real(f) {
                Some((n, d)) => Ok(rational::make(it, n, d)),
                None => Err(type_err(it, "real->rational", "a finite number", a[0]).into()),
            },
        }
    });
    plain(it, "rational->real", 1, Some(1), |it, a| {
        Ok(Value::new(V::Float(float(it, "rational->real", a[0])?)))
    });
    alias(it, "complex?", "number?");
    alias(it, "real?", "number?");
    plain(it, "rational?", 1, Some(1), |it, a| {
        Ok(Value::boolean(match a[0].get() {
            V::Int(_) => true,
            V::Obj(_) => rational::parts(it, a[0]).is_some(),
            V::Float(f) => f.is_finite(),
            _ => false,
        }))
    });
    plain(it, "integer?", 1, Some(1), |_, a| {
        Ok(Value::boolean(match a[0].get() {
            V::Int(_) => true,
            V::Float(f) => f.is_finite() && f.fract() == 0.0,
            _ => false,
        }))
    });
    plain(it, "exact?", 1, Some(1), |it, a| {
        pred(it, a, "exact?", |n| matches!(n, Num::I(_) | Num::R(..)))
    });
    plain(it, "inexact?", 1, Some(1), |it, a| {
        pred(it, a, "inexact?", |n| matches!(n, Num::F(_)))
    });
    plain(it, "exact-integer?", 1, Some(1), |_, a| {
        Ok(Value::boolean(matches!(a[0].get(), V::Int(_))))
    });
    plain(it, "nan?", 1, Some(1), |it, a| {
        pred(it, a, "nan?", |n| n.f().is_nan())
    });
    plain(it, "infinite?", 1, Some(1), |it, a| {
        pred(it, a, "infinite?", |n| n.f().is_infinite())
    });
    plain(it, "finite?", 1, Some(1), |it, a| {
        pred(it, a, "finite?", |n| n.f().is_finite())
    });
    plain(it, "zero?", 1, Some(1), |it, a| {
        pred(it, a, "zero?", |n| n.f() == 0.0)
    });
    plain(it, "positive?", 1, Some(1), |it, a| {
        pred(it, a, "positive?", |n| n.f() > 0.0)
    });
    plain(it, "negative?", 1, Some(1), |it, a| {
        pred(it, a, "negative?", |n| n.f() < 0.0)
    });
    plain(it, "odd?", 1, Some(1), |it, a| {
        int_pred(it, a, "odd?", |i| i % 2 != 0)
    });
    plain(it, "even?", 1, Some(1), |it, a| {
        int_pred(it, a, "even?", |i| i % 2 == 0)
    });
    plain(it, "bitwise-and", 0, None, |it, a| {
        bitfold(it, a, "bitwise-and", -1, |x, y| x & y)
    });
    plain(it, "bitwise-or", 0, None, |it, a| {
        bitfold(it, a, "bitwise-or", 0, |x, y| x | y)
    });
    plain(it, "bitwise-xor", 0, None, |it, a| {
        bitfold(it, a, "bitwise-xor", 0, |x, y| x ^ y)
    });
    plain(it, "bitwise-not", 1, Some(1), |it, a| {
        Ok(Value::new(V::Int(!int_arg(it, "bitwise-not", a[0])?)))
    });
    plain(it, "arithmetic-shift", 2, Some(2), |it, a| {
        let x = int_arg(it, "arithmetic-shift", a[0])?;
        let s = int_arg(it, "arithmetic-shift", a[1])?;
        let r = if s >= 0 {
            u32::try_from(s)
                .ok()
                .and_then(|s| x.checked_shl(s))
                .filter(|r| r >> s.min(63) == x)
        } else {
            Some(x >> s.unsigned_abs().min(63))
        };
        r.map(|r| Value::new(V::Int(r)))
            .ok_or_else(|| err(ErrorKind::Range, "arithmetic-shift overflows 64 bits").into())
    });
}

fn bitfold(
    it: &mut Interp,
    args: &[Value],
    who: &str,
    init: i64,
    f: fn(i64, i64) -> i64,
) -> PlainResult {
    let mut acc = init;
    for &v in args {
        acc = f(acc, int_arg(it, who, v)?);
    }
    Ok(Value::new(V::Int(acc)))
}
