//! The runtime's printf agrees with the C library's `snprintf`, format by format.

use std::ffi::{CString, c_char, c_double, c_int, c_longlong};
use zonal_dsp::runtime::printf::{Arg, format};

/// Strings live at fake addresses: address i+1 is STRINGS[i].
const STRINGS: [&str; 3] = ["", "hello", "a x b = "];

fn strings(addr: u64) -> Option<&'static [u8]> {
    let i = usize::try_from(addr).ok()?.checked_sub(1)?;
    STRINGS.get(i).map(|s| s.as_bytes())
}

fn ours(fmt: &str, args: &[Arg]) -> String {
    let mut out = Vec::new();
    let n = format(
        fmt.as_bytes(),
        &mut args.iter().copied(),
        &strings,
        &mut |b| out.extend_from_slice(b),
    );
    assert_eq!(n, out.len(), "returned count for {fmt:?}");
    String::from_utf8(out).expect("utf8")
}

fn c_buf(f: impl FnOnce(*mut c_char, usize) -> c_int) -> String {
    let mut buf = vec![0u8; 4096];
    let n = f(buf.as_mut_ptr().cast(), buf.len());
    buf.truncate(usize::try_from(n).expect("snprintf failed"));
    String::from_utf8(buf).expect("utf8")
}

fn c_ll(fmt: &str, v: i64) -> String {
    let f = CString::new(fmt).expect("fmt");
    // SAFETY: the buffer holds `len` bytes, the format takes exactly one long long.
    c_buf(|p, len| unsafe { libc::snprintf(p, len, f.as_ptr(), v as c_longlong) })
}

fn c_int(fmt: &str, v: i32) -> String {
    let f = CString::new(fmt).expect("fmt");
    // SAFETY: the buffer holds `len` bytes, the format takes exactly one int.
    c_buf(|p, len| unsafe { libc::snprintf(p, len, f.as_ptr(), v as c_int) })
}

fn c_double(fmt: &str, v: f64) -> String {
    let f = CString::new(fmt).expect("fmt");
    // SAFETY: the buffer holds `len` bytes, the format takes exactly one double.
    c_buf(|p, len| unsafe { libc::snprintf(p, len, f.as_ptr(), v as c_double) })
}

fn c_str(fmt: &str, s: &str) -> String {
    let f = CString::new(fmt).expect("fmt");
    let s = CString::new(s).expect("s");
    // SAFETY: the buffer holds `len` bytes, the format takes exactly one string.
    c_buf(|p, len| unsafe { libc::snprintf(p, len, f.as_ptr(), s.as_ptr()) })
}

const INT_SPECS: &[&str] = &[
    "d", "5d", "-5d", "05d", "+d", " d", ".3d", "8.3d", "-8.3d", ".0d", "+.0d", "x", "X", "#x",
    "#X", "08x", "#010x", "o", "#o", "#.0o", "u", "10u", "-+6d", "0-6d", "+06d", "#.5o",
];

const LONG_VALUES: &[i64] = &[
    0,
    1,
    -1,
    7,
    42,
    -42,
    255,
    366,
    1000,
    65535,
    -2147483648,
    2147483647,
    5_000_000_000,
    i64::MAX,
    i64::MIN,
];

#[test]
fn long_long_conversions_match_snprintf() {
    for spec in INT_SPECS {
        for &v in LONG_VALUES {
            let (flags, conv) = spec.split_at(spec.len() - 1);
            let fmt = format!("[%{flags}ll{conv}]");
            assert_eq!(ours(&fmt, &[Arg::Int(v)]), c_ll(&fmt, v), "{fmt} of {v}");
        }
    }
}

#[test]
fn int_conversions_match_snprintf() {
    for spec in INT_SPECS {
        for &v in LONG_VALUES {
            let v = v as i32;
            let fmt = format!("[%{spec}]");
            assert_eq!(ours(&fmt, &[Arg::Int32(v)]), c_int(&fmt, v), "{fmt} of {v}");
        }
    }
    for fmt in ["%hhd", "%hd", "%hhu", "%hx"] {
        for v in [300, -129, 70000, -1] {
            assert_eq!(ours(fmt, &[Arg::Int32(v)]), c_int(fmt, v), "{fmt} of {v}");
        }
    }
}

#[test]
fn char_conversions_match_snprintf() {
    for fmt in ["%c", "[%3c]", "[%-3c]"] {
        assert_eq!(ours(fmt, &[Arg::Int32(65)]), c_int(fmt, 65), "{fmt}");
    }
}

const FLOAT_SPECS: &[&str] = &[
    "f", ".0f", ".1f", ".2f", ".3f", ".10f", "10.3f", "-10.3f", "010.3f", "+f", " f", "#.0f", "e",
    ".0e", ".2e", "12.4e", "E", "#.0e", "+.3e", "g", ".0g", ".1g", ".2g", ".3g", ".10g", "#g",
    "#.3g", "10g", "-10g", "010g", "G", "+g", "F", ".17g", ".20f",
];

const DOUBLE_VALUES: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    7.0,
    0.5,
    0.125,
    0.375,
    2.5,
    1.5,
    0.1,
    1.0 / 3.0,
    -2.0 / 3.0,
    123.456,
    1e-5,
    1.2345e-5,
    0.0001,
    0.00012345,
    99999.95,
    999999.5,
    123456789.0,
    1e15,
    1e21,
    1.7976931348623157e308,
    5e-324,
    2.2250738585072014e-308,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    9.5,
    0.05,
    1e100,
    6.02214076e23,
];

#[test]
fn double_conversions_match_snprintf() {
    for spec in FLOAT_SPECS {
        for &v in DOUBLE_VALUES {
            let fmt = format!("[%{spec}]");
            if spec.starts_with('#') && v == 999999.5 {
                continue;
            }
            assert_eq!(
                ours(&fmt, &[Arg::Float(v)]),
                c_double(&fmt, v),
                "{fmt} of {v:e}"
            );
        }
    }
}

/// glibc prints `1.e+06` here, dropping the zeros `#` must keep once rounding carries into
/// a new power of ten; C99 7.19.6.1 asks for `1.00000e+06`.
#[test]
fn alternate_g_keeps_its_zeros_after_a_carry() {
    assert_eq!(ours("%#g", &[Arg::Float(999999.5)]), "1.00000e+06");
    assert_eq!(
        ours("%g", &[Arg::Float(999999.5)]),
        c_double("%g", 999999.5)
    );
}

#[test]
fn string_conversions_match_snprintf() {
    for fmt in ["[%s]", "[%10s]", "[%-10s]", "[%.3s]", "[%10.2s]", "[%.0s]"] {
        for (i, s) in STRINGS.iter().enumerate() {
            let arg = Arg::Str(i as u64 + 1);
            assert_eq!(ours(fmt, &[arg]), c_str(fmt, s), "{fmt} of {s:?}");
        }
    }
}

#[test]
fn star_width_and_precision_match_snprintf() {
    let f = CString::new("[%*.*f|%-*d]").expect("fmt");
    // SAFETY: the buffer holds `len` bytes and the arguments match the format.
    let c = c_buf(|p, len| unsafe {
        libc::snprintf(
            p,
            len,
            f.as_ptr(),
            10 as c_int,
            2 as c_int,
            1.23456 as c_double,
            -6,
            42,
        )
    });
    let args = [
        Arg::Int(10),
        Arg::Int(2),
        Arg::Float(1.23456),
        Arg::Int(-6),
        Arg::Int(42),
    ];
    assert_eq!(ours("[%*.*f|%-*d]", &args), c);
}

#[test]
fn pointers_match_snprintf() {
    let f = CString::new("%p %p").expect("fmt");
    let p = 0x7f00_1234_5678usize as *const u8;
    // SAFETY: the buffer holds `len` bytes; %p takes pointers, which are only printed.
    let c =
        c_buf(|b, len| unsafe { libc::snprintf(b, len, f.as_ptr(), p, std::ptr::null::<u8>()) });
    assert_eq!(ours("%p %p", &[Arg::Ptr(p as u64), Arg::Ptr(0)]), c);
}
