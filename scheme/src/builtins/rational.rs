//! Exact rationals with 64-bit numerator and denominator, as Extempore's beats are
//! (`1/4`, `(*metro* 'dur 1/3)`). A rational lives in the heap as `Obj::Rat(n, d)` in
//! lowest terms with `d >= 2` (a whole result is an integer). Arithmetic is done in
//! 128 bits and normalised; a result whose parts do not fit in 64 bits becomes a
//! flonum, as an overflowing integer does.

use crate::interp::Interp;
use crate::value::{Obj, V, Value};

/// A number in lowest terms from a 128-bit fraction (`d != 0`): an integer when
/// `d` divides `n`, `None` when a part does not fit in 64 bits.
pub(crate) fn normalize(n: i128, d: i128) -> Option<(i64, i64)> {
    let (mut n, mut d) = if d < 0 { (-n, -d) } else { (n, d) };
    let g = gcd(n.unsigned_abs(), d.unsigned_abs());
    if g > 1 {
        n /= g as i128;
        d /= g as i128;
    }
    Some((i64::try_from(n).ok()?, i64::try_from(d).ok()?))
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `n/d` in lowest terms as a value: an integer, a rational, or (parts too large)
/// the nearest flonum.
pub(crate) fn make(it: &mut Interp, n: i128, d: i128) -> Value {
    match normalize(n, d) {
        Some((n, 1)) => Value::new(V::Int(n)),
        Some((n, d)) => it.alloc(Obj::Rat(n, d)),
        None => Value::new(V::Float(n as f64 / d as f64)),
    }
}

/// The parts of rational `v`, if it is one.
pub(crate) fn parts(it: &Interp, v: Value) -> Option<(i64, i64)> {
    match it.heap.obj(v) {
        Some(Obj::Rat(n, d)) => Some((*n, *d)),
        _ => None,
    }
}

/// The rational a reader token `n/d` names (`None` when it is not one or `d` is 0).
pub(crate) fn parse(tok: &str) -> Option<(i128, i128)> {
    let (n, d) = tok.split_once('/')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = n.strip_prefix(['-', '+']).unwrap_or(n);
    if !digits(unsigned) || !digits(d) {
        return None;
    }
    let n: i128 = n.parse().ok()?;
    let d: i128 = d.parse().ok()?;
    (d != 0).then_some((n, d))
}

/// Extempore's `real->rational`: the flonum to seven decimal places, as a fraction
/// over 10^7 in lowest terms.
pub(crate) fn from_real(f: f64) -> Option<(i128, i128)> {
    const SCALE: f64 = 10_000_000.0;
    let whole = f.trunc();
    let scaled = whole * SCALE + ((f - whole) * SCALE).trunc();
    (scaled.is_finite() && scaled.abs() < 1.0e30).then_some((scaled as i128, SCALE as i128))
}

/// The exact value of a finite flonum when its parts fit in 64 bits: a binary
/// fraction (`(exact 0.375)` is `3/8`).
pub(crate) fn from_float_exactly(f: f64) -> Option<(i128, i128)> {
    let (mut n, mut d) = (f, 1i128);
    while n.fract() != 0.0 {
        n *= 2.0;
        d = d.checked_mul(2)?;
        if d > i64::MAX as i128 {
            return None;
        }
    }
    (n.abs() < 9.2e18).then_some((n as i128, d))
}
