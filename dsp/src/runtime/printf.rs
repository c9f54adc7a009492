//! C `printf` formatting for DSP code, into caller-provided output, without allocating.
//!
//! Conversions `d i u x X o c s p f F e E g G %` with flags `- + space # 0`, width and
//! precision (numbers or `*`), and length modifiers `hh h l ll q j z t L` (parsed; `hh` and
//! `h` truncate as in C). Arguments arrive typed ([`Arg`]), so a conversion is never
//! misread: an integer conversion without a length modifier prints a 64-bit argument in
//! full (C would print its low 32 bits), a 32-bit argument as C would. A conversion whose
//! argument is missing, or that is unknown (`%n`, `%a`), is printed as written. `%s` reads
//! the string at a pointer argument through a caller-given lookup (the arena's, bounded), so
//! an `i8*` passed as a plain pointer prints too. Floats are
//! formatted by `core::fmt` (exact, correctly rounded), so `%f %e %g` agree with glibc; the
//! float precision is capped at [`MAX_FLOAT_PRECISION`].

use std::fmt::Write as _;

/// Argument kinds, as compiled code passes them in the `kinds` array.
pub const KIND_I64: u8 = 0;
/// A `double` (or a `float` widened to `double`), as its bits.
pub const KIND_F64: u8 = 1;
/// A pointer that is not a string.
pub const KIND_PTR: u8 = 2;
/// An `i8*`: the arena address of a NUL-terminated string.
pub const KIND_STR: u8 = 3;
/// An `i1`, as 0 or 1.
pub const KIND_I1: u8 = 4;
/// An `i32` (or `i8`) sign-extended to 64 bits.
pub const KIND_I32: u8 = 5;

/// Float precision beyond this is clamped (a fixed buffer holds the digits).
pub const MAX_FLOAT_PRECISION: usize = 700;

/// Widths and integer precisions beyond this are clamped.
const MAX_WIDTH: usize = 1 << 16;

/// One typed printf argument.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg {
    Int(i64),
    Int32(i32),
    Bool(bool),
    Float(f64),
    Ptr(u64),
    /// The address of a NUL-terminated string.
    Str(u64),
}

/// Finds the bytes (up to the NUL) of the string at an address, or `None` when the address
/// is not in DSP memory.
pub type Strings<'s> = dyn Fn(u64) -> Option<&'s [u8]> + 's;

/// Counts what goes to the output.
struct Out<'o> {
    sink: &'o mut dyn FnMut(&[u8]),
    count: usize,
}

impl Out<'_> {
    fn put(&mut self, b: &[u8]) {
        if !b.is_empty() {
            (self.sink)(b);
            self.count += b.len();
        }
    }

    fn repeat(&mut self, byte: u8, mut n: usize) {
        let chunk = [byte; 64];
        while n > 0 {
            let k = n.min(chunk.len());
            self.put(&chunk[..k]);
            n -= k;
        }
    }
}

/// A fixed buffer that `core::fmt` writes into; what does not fit is cut off.
pub(crate) struct Buf<const N: usize> {
    b: [u8; N],
    len: usize,
}

impl<const N: usize> Buf<N> {
    pub(crate) fn new() -> Self {
        Buf { b: [0; N], len: 0 }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.b[..self.len]
    }

    fn push(&mut self, byte: u8) {
        if self.len < N {
            self.b[self.len] = byte;
            self.len += 1;
        }
    }
}

impl<const N: usize> std::fmt::Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for &byte in s.as_bytes() {
            self.push(byte);
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Spec {
    left: bool,
    plus: bool,
    space: bool,
    alt: bool,
    zero: bool,
    width: usize,
    prec: Option<usize>,
    bits: Option<u32>,
    conv: u8,
}

/// Formats `fmt` with `args` into `sink`, reading `%s` strings through `strings`; returns
/// the number of bytes written.
pub fn format(
    fmt: &[u8],
    args: &mut dyn Iterator<Item = Arg>,
    strings: &Strings<'_>,
    sink: &mut dyn FnMut(&[u8]),
) -> usize {
    let mut out = Out { sink, count: 0 };
    let mut i = 0;
    while i < fmt.len() {
        let Some(pct) = fmt[i..].iter().position(|&c| c == b'%') else {
            out.put(&fmt[i..]);
            break;
        };
        out.put(&fmt[i..i + pct]);
        let start = i + pct;
        let (spec, end, missing) = parse(fmt, start + 1, args);
        i = end;
        let text = &fmt[start..end];
        if spec.conv == b'%' {
            out.put(b"%");
            continue;
        }
        if missing || !b"diuxXocspfFeEgG".contains(&spec.conv) {
            out.put(text);
            continue;
        }
        match args.next() {
            Some(arg) => convert(&mut out, spec, arg, strings),
            None => out.put(text),
        }
    }
    out.count
}

/// Parses one conversion after its `%`; returns the spec, the index after it and whether a
/// `*` found no argument.
fn parse(fmt: &[u8], mut i: usize, args: &mut dyn Iterator<Item = Arg>) -> (Spec, usize, bool) {
    let mut s = Spec::default();
    let mut missing = false;
    while let Some(&c) = fmt.get(i) {
        match c {
            b'-' => s.left = true,
            b'+' => s.plus = true,
            b' ' => s.space = true,
            b'#' => s.alt = true,
            b'0' => s.zero = true,
            _ => break,
        }
        i += 1;
    }
    if fmt.get(i) == Some(&b'*') {
        i += 1;
        match args.next().map(int_of) {
            Some(w) if w < 0 => {
                s.left = true;
                s.width = (w.unsigned_abs() as usize).min(MAX_WIDTH);
            }
            Some(w) => s.width = (w as usize).min(MAX_WIDTH),
            None => missing = true,
        }
    } else {
        let (n, next) = number(fmt, i);
        s.width = n.min(MAX_WIDTH);
        i = next;
    }
    if fmt.get(i) == Some(&b'.') {
        i += 1;
        if fmt.get(i) == Some(&b'*') {
            i += 1;
            match args.next().map(int_of) {
                Some(p) if p < 0 => s.prec = None,
                Some(p) => s.prec = Some((p as usize).min(MAX_WIDTH)),
                None => missing = true,
            }
        } else {
            let (n, next) = number(fmt, i);
            s.prec = Some(n.min(MAX_WIDTH));
            i = next;
        }
    }
    loop {
        match fmt.get(i) {
            Some(b'h') if fmt.get(i + 1) == Some(&b'h') => {
                s.bits = Some(8);
                i += 2;
            }
            Some(b'h') => {
                s.bits = Some(16);
                i += 1;
            }
            Some(b'l' | b'q' | b'j' | b'z' | b't' | b'L') => {
                s.bits = Some(64);
                i += 1;
            }
            _ => break,
        }
    }
    match fmt.get(i) {
        Some(&c) => {
            s.conv = c;
            (s, i + 1, missing)
        }
        None => (s, i, true),
    }
}

fn number(fmt: &[u8], mut i: usize) -> (usize, usize) {
    let mut n: usize = 0;
    while let Some(&c @ b'0'..=b'9') = fmt.get(i) {
        n = n.saturating_mul(10).saturating_add(usize::from(c - b'0'));
        i += 1;
    }
    (n, i)
}

fn int_of(arg: Arg) -> i64 {
    match arg {
        Arg::Int(v) => v,
        Arg::Int32(v) => i64::from(v),
        Arg::Bool(b) => i64::from(b),
        Arg::Float(x) => x as i64,
        Arg::Ptr(p) | Arg::Str(p) => p as i64,
    }
}

fn float_of(arg: Arg) -> f64 {
    match arg {
        Arg::Float(x) => x,
        other => int_of(other) as f64,
    }
}

fn convert(out: &mut Out<'_>, spec: Spec, arg: Arg, strings: &Strings<'_>) {
    match spec.conv {
        b'd' | b'i' | b'u' | b'x' | b'X' | b'o' => integer(out, spec, arg),
        b'c' => {
            let byte = match arg {
                Arg::Str(p) => strings(p).and_then(|s| s.first().copied()).unwrap_or(0),
                other => int_of(other) as u8,
            };
            pad(out, spec, b"", 0, &[byte], false);
        }
        b's' => string(out, spec, arg, strings),
        b'p' => {
            // The address a pointer names, without its tag.
            let addr = super::shadow::strip(int_of(arg) as u64);
            if addr == 0 {
                pad(out, spec, b"", 0, b"(nil)", false);
            } else {
                let mut digits = [0u8; 16];
                let d = to_base(addr, 16, false, &mut digits);
                pad(out, spec, b"0x", 0, d, false);
            }
        }
        _ => float(out, spec, float_of(arg)),
    }
}

fn to_base(mut v: u64, base: u64, upper: bool, buf: &mut [u8]) -> &[u8] {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = digits[(v % base) as usize];
        v /= base;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

fn integer(out: &mut Out<'_>, spec: Spec, arg: Arg) {
    let bits = spec
        .bits
        .unwrap_or(if matches!(arg, Arg::Int32(_)) { 32 } else { 64 });
    let raw = int_of(arg);
    let signed = matches!(spec.conv, b'd' | b'i');
    let (negative, magnitude) = if signed {
        let v = match bits {
            8 => i64::from(raw as i8),
            16 => i64::from(raw as i16),
            32 => i64::from(raw as i32),
            _ => raw,
        };
        (v < 0, v.unsigned_abs())
    } else {
        let v = raw as u64;
        let v = if bits < 64 {
            v & ((1u64 << bits) - 1)
        } else {
            v
        };
        (false, v)
    };
    let (base, upper) = match spec.conv {
        b'x' => (16, false),
        b'X' => (16, true),
        b'o' => (8, false),
        _ => (10, false),
    };
    let mut buf = [0u8; 24];
    let digits: &[u8] = if spec.prec == Some(0) && magnitude == 0 {
        &[]
    } else {
        to_base(magnitude, base, upper, &mut buf)
    };
    let mut zeros = spec.prec.unwrap_or(0).saturating_sub(digits.len());
    let mut prefix = Buf::<2>::new();
    if negative {
        prefix.push(b'-');
    } else if signed && spec.plus {
        prefix.push(b'+');
    } else if signed && spec.space {
        prefix.push(b' ');
    }
    if spec.alt && magnitude != 0 && base == 16 {
        prefix.push(b'0');
        prefix.push(spec.conv);
    }
    if spec.alt && base == 8 && zeros == 0 && digits.first() != Some(&b'0') {
        zeros = 1;
    }
    pad(
        out,
        spec,
        prefix.as_bytes(),
        zeros,
        digits,
        spec.prec.is_none(),
    );
}

fn string(out: &mut Out<'_>, spec: Spec, arg: Arg, strings: &Strings<'_>) {
    let limit = |s: &[u8]| -> usize { spec.prec.map_or(s.len(), |p| p.min(s.len())) };
    let text: &[u8] = match arg {
        Arg::Str(p) | Arg::Ptr(p) => match strings(p) {
            Some(s) => s,
            None if p == 0 => b"(null)",
            None => b"(not in DSP memory)",
        },
        Arg::Float(x) => {
            return float(
                out,
                Spec {
                    conv: b'g',
                    prec: None,
                    ..spec
                },
                x,
            );
        }
        other => {
            return integer(
                out,
                Spec {
                    conv: b'd',
                    prec: None,
                    ..spec
                },
                other,
            );
        }
    };
    pad(out, spec, b"", 0, &text[..limit(text)], false);
}

/// Writes `prefix`, `zeros` zeros and `body`, padded to the width. `zero_ok` says whether the
/// `0` flag may pad with zeros (not with a precision on integers, not for inf/nan).
fn pad(out: &mut Out<'_>, spec: Spec, prefix: &[u8], zeros: usize, body: &[u8], zero_ok: bool) {
    let len = prefix.len() + zeros + body.len();
    let fill = spec.width.saturating_sub(len);
    if spec.left {
        out.put(prefix);
        out.repeat(b'0', zeros);
        out.put(body);
        out.repeat(b' ', fill);
    } else if spec.zero && zero_ok {
        out.put(prefix);
        out.repeat(b'0', zeros + fill);
        out.put(body);
    } else {
        out.repeat(b' ', fill);
        out.put(prefix);
        out.repeat(b'0', zeros);
        out.put(body);
    }
}

const FLOAT_BUF: usize = 1100;

fn float(out: &mut Out<'_>, spec: Spec, x: f64) {
    let upper = spec.conv.is_ascii_uppercase();
    let mut prefix = Buf::<1>::new();
    if x.is_sign_negative() {
        prefix.push(b'-');
    } else if spec.plus {
        prefix.push(b'+');
    } else if spec.space {
        prefix.push(b' ');
    }
    if !x.is_finite() {
        let body: &[u8] = match (x.is_nan(), upper) {
            (true, false) => b"nan",
            (true, true) => b"NAN",
            (false, false) => b"inf",
            (false, true) => b"INF",
        };
        pad(out, spec, prefix.as_bytes(), 0, body, false);
        return;
    }
    let x = x.abs();
    let prec = spec.prec.unwrap_or(6).min(MAX_FLOAT_PRECISION);
    let mut body = Buf::<FLOAT_BUF>::new();
    match spec.conv.to_ascii_lowercase() {
        b'f' => fixed(&mut body, x, prec, spec.alt),
        b'e' => exponent(&mut body, x, prec, spec.alt, upper, false),
        _ => {
            let p = prec.max(1);
            let x_exp = if x == 0.0 {
                0
            } else {
                decimal_exponent(x, p - 1)
            };
            if (p as i64) > x_exp && x_exp >= -4 {
                fixed(&mut body, x, (p as i64 - 1 - x_exp) as usize, spec.alt);
                if !spec.alt {
                    strip_zeros(&mut body);
                }
            } else {
                exponent(&mut body, x, p - 1, spec.alt, upper, !spec.alt);
            }
        }
    }
    pad(out, spec, prefix.as_bytes(), 0, body.as_bytes(), true);
}

fn fixed<const N: usize>(body: &mut Buf<N>, x: f64, prec: usize, alt: bool) {
    // Writing into a Buf never fails: it truncates, and FLOAT_BUF holds 309 integer digits
    // plus MAX_FLOAT_PRECISION fraction digits.
    let _ = write!(body, "{x:.prec$}");
    if alt && prec == 0 {
        body.push(b'.');
    }
}

/// The decimal exponent of `x` once rounded to `prec` fraction digits in `%e` style.
fn decimal_exponent(x: f64, prec: usize) -> i64 {
    let mut tmp = Buf::<FLOAT_BUF>::new();
    let _ = write!(tmp, "{x:.prec$e}");
    let s = tmp.as_bytes();
    let e = s.iter().position(|&c| c == b'e').unwrap_or(s.len());
    parse_exp(&s[(e + 1).min(s.len())..])
}

fn parse_exp(s: &[u8]) -> i64 {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let v = digits
        .iter()
        .fold(0i64, |v, &c| v * 10 + i64::from(c.wrapping_sub(b'0')));
    if neg { -v } else { v }
}

fn exponent<const N: usize>(
    body: &mut Buf<N>,
    x: f64,
    prec: usize,
    alt: bool,
    upper: bool,
    strip: bool,
) {
    let mut tmp = Buf::<FLOAT_BUF>::new();
    let _ = write!(tmp, "{x:.prec$e}");
    let s = tmp.as_bytes();
    let e = s.iter().position(|&c| c == b'e').unwrap_or(s.len());
    for &c in &s[..e] {
        body.push(c);
    }
    if strip {
        strip_zeros(body);
    }
    if alt && prec == 0 {
        body.push(b'.');
    }
    let exp = parse_exp(&s[(e + 1).min(s.len())..]);
    body.push(if upper { b'E' } else { b'e' });
    body.push(if exp < 0 { b'-' } else { b'+' });
    let mut digits = [0u8; 24];
    let d = to_base(exp.unsigned_abs(), 10, false, &mut digits);
    if d.len() < 2 {
        body.push(b'0');
    }
    for &c in d {
        body.push(c);
    }
}

/// Removes trailing fraction zeros and a trailing decimal point (`%g` without `#`).
fn strip_zeros<const N: usize>(body: &mut Buf<N>) {
    if !body.as_bytes().contains(&b'.') {
        return;
    }
    while body.len > 0 && body.b[body.len - 1] == b'0' {
        body.len -= 1;
    }
    if body.len > 0 && body.b[body.len - 1] == b'.' {
        body.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(addr: u64) -> Option<&'static [u8]> {
        match addr {
            1 => Some(b"hello"),
            2 => Some(b""),
            _ => None,
        }
    }

    fn fmt(f: &str, args: &[Arg]) -> String {
        let mut s = Vec::new();
        let n = format(
            f.as_bytes(),
            &mut args.iter().copied(),
            &strings,
            &mut |b| s.extend_from_slice(b),
        );
        assert_eq!(n, s.len());
        String::from_utf8(s).expect("utf8")
    }

    #[test]
    fn the_seed_formats() {
        assert_eq!(
            fmt("a x b = %f\n", &[Arg::Float(7.0)]),
            "a x b = 7.000000\n"
        );
        assert_eq!(
            fmt("output: <%lld,%lld>\n", &[Arg::Int(3), Arg::Int(6)]),
            "output: <3,6>\n"
        );
        assert_eq!(
            fmt("int_buf[366] = %lld\n", &[Arg::Int(366)]),
            "int_buf[366] = 366\n"
        );
    }

    #[test]
    fn missing_and_unknown_conversions_print_as_written() {
        assert_eq!(fmt("%d and %d", &[Arg::Int(1)]), "1 and %d");
        assert_eq!(fmt("%n%a|%", &[Arg::Int(1)]), "%n%a|%");
        assert_eq!(fmt("100%%", &[]), "100%");
    }

    #[test]
    fn strings_and_pointers() {
        assert_eq!(fmt("[%s]", &[Arg::Str(1)]), "[hello]");
        assert_eq!(fmt("[%-8.3s]", &[Arg::Str(1)]), "[hel     ]");
        assert_eq!(fmt("[%s|%c]", &[Arg::Ptr(1), Arg::Str(1)]), "[hello|h]");
        assert_eq!(fmt("[%s]", &[Arg::Str(2)]), "[]");
        assert_eq!(fmt("[%s]", &[Arg::Str(0)]), "[(null)]");
        assert_eq!(fmt("[%s]", &[Arg::Str(8)]), "[(not in DSP memory)]");
        assert_eq!(fmt("[%s]", &[Arg::Int(42)]), "[42]");
        assert_eq!(
            fmt("%p %p", &[Arg::Ptr(0), Arg::Ptr(0xbeef)]),
            "(nil) 0xbeef"
        );
        assert_eq!(fmt("%d", &[Arg::Bool(true)]), "1");
    }

    #[test]
    fn integers_keep_their_width() {
        assert_eq!(fmt("%d", &[Arg::Int(5_000_000_000)]), "5000000000");
        assert_eq!(fmt("%x", &[Arg::Int32(-1)]), "ffffffff");
        assert_eq!(fmt("%x", &[Arg::Int(-1)]), "ffffffffffffffff");
        assert_eq!(fmt("%hhd", &[Arg::Int(300)]), "44");
        assert_eq!(fmt("%f", &[Arg::Int(2)]), "2.000000");
        assert_eq!(fmt("%d", &[Arg::Float(2.9)]), "2");
    }
}
