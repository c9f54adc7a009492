//! Scheme data → the DSP compiler's syntax tree.
//!
//! `bind-func` and friends reach the engine as Scheme data (a `Datum`, with source
//! positions when the form was read from a file or a connection). The DSP compiler
//! takes its own `Sexp`; this module is the one bridge between the two crates.

use zonal_dsp::{Sexp, SexpKind, Span};
use zonal_scheme::{Datum, DatumKind, Pos};

/// A piece of Scheme data that has no meaning in DSP code.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertError {
    pub message: String,
    pub pos: Option<Pos>,
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pos {
            Some(pos) => write!(f, "{pos}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConvertError {}

fn span(pos: &Option<Pos>) -> Option<Span> {
    pos.as_ref().map(|p| Span {
        file: p.file.clone(),
        line: p.line,
        col: p.col,
    })
}

/// `(bind-type Name <...> "doc" (printer? . #f))` without Extempore's docstring and
/// options after the type, which zonal does not use (an option is a dotted pair, which
/// DSP code cannot hold), but for zonal's own `(by-reference . #t)`, kept as the list
/// `(by-reference #t)` (the bare name then reads as a pointer to the type).
pub fn without_type_options(d: &Datum) -> Datum {
    match &d.kind {
        DatumKind::List(items)
            if items.len() > 3
                && matches!(&items[0].kind, DatumKind::Sym(h) if h == "bind-type") =>
        {
            let mut kept = items[..3].to_vec();
            for o in &items[3..] {
                if let DatumKind::Dotted(head, tail) = &o.kind
                    && matches!(head.as_slice(), [k] if matches!(&k.kind, DatumKind::Sym(s) if s == "by-reference"))
                {
                    kept.push(Datum {
                        kind: DatumKind::List(vec![head[0].clone(), (**tail).clone()]),
                        ..o.clone()
                    });
                }
            }
            Datum {
                kind: DatumKind::List(kept),
                ..d.clone()
            }
        }
        _ => d.clone(),
    }
}

/// Converts a Scheme datum (a DSP definition form) to the DSP compiler's input.
pub fn to_sexp(d: &Datum) -> Result<Sexp, ConvertError> {
    let kind = match &d.kind {
        DatumKind::Int(i) => SexpKind::Int(*i),
        DatumKind::Float(x) => SexpKind::Float(*x),
        DatumKind::Bool(b) => SexpKind::Bool(*b),
        DatumKind::Str(s) => SexpKind::Str(s.clone()),
        DatumKind::Sym(s) => SexpKind::Sym(s.clone()),
        DatumKind::Nil => SexpKind::List(Vec::new()),
        DatumKind::List(items) => {
            SexpKind::List(items.iter().map(to_sexp).collect::<Result<_, _>>()?)
        }
        DatumKind::Char(c) => SexpKind::Int(i64::from(u32::from(*c))),
        DatumKind::Dotted(..) => return Err(unsupported(d, "a dotted pair")),
        DatumKind::Vector(..) => return Err(unsupported(d, "a Scheme vector")),
        // an exact rational, `3/4`: the DSP compiler reads it as Extempore's xtlang does,
        // `(Rat 3 4)` of `libs/core/rational.xtm`
        DatumKind::Other(text) if is_rational(text) => SexpKind::Sym(text.clone()),
        DatumKind::Other(text) => return Err(unsupported(d, text)),
    };
    Ok(Sexp {
        kind,
        span: span(&d.pos),
    })
}

/// True for the printed form of an exact rational: `n/d`, `-n/d`.
fn is_rational(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match text.trim_start_matches('-').split_once('/') {
        Some((n, d)) => digits(n) && digits(d),
        None => false,
    }
}

fn unsupported(d: &Datum, what: &str) -> ConvertError {
    ConvertError {
        message: format!("{what} cannot appear in DSP code"),
        pos: d.pos.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zonal_scheme::Interp;

    #[test]
    fn positions_and_annotations_survive() {
        let forms = Interp::read_all("(bind-func f (lambda (a:i64) (* a 2)))", "t.xtm").unwrap();
        let sexp = to_sexp(&forms[0]).unwrap();
        let SexpKind::List(items) = &sexp.kind else {
            panic!("expected a list, got {sexp:?}")
        };
        assert_eq!(items[0].kind, SexpKind::Sym("bind-func".into()));
        let span = sexp.span.unwrap();
        assert_eq!((&*span.file, span.line, span.col), ("t.xtm", 1, 1));
        let SexpKind::List(lambda) = &items[2].kind else {
            panic!("expected the lambda")
        };
        let SexpKind::List(params) = &lambda[1].kind else {
            panic!("expected the parameter list")
        };
        assert_eq!(params[0].kind, SexpKind::Sym("a:i64".into()));
    }

    #[test]
    fn vectors_are_rejected_with_their_position() {
        let forms = Interp::read_all("(bind-func f #(1 2))", "v.xtm").unwrap();
        let err = to_sexp(&forms[0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "v.xtm:1:14: a Scheme vector cannot appear in DSP code"
        );
    }

    #[test]
    fn rationals_reach_the_dsp_compiler_as_their_text() {
        let forms = Interp::read_all("(f 3/6 -2/12)", "r.xtm").unwrap();
        let SexpKind::List(items) = to_sexp(&forms[0]).unwrap().kind else {
            panic!("expected a list")
        };
        assert_eq!(items[1].kind, SexpKind::Sym("1/2".into()));
        assert_eq!(items[2].kind, SexpKind::Sym("-1/6".into()));
    }
}
