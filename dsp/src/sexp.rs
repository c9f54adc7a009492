//! The compiler's input: s-expressions with source positions, and a small reader for
//! tests and tools (the engine builds [`Sexp`]s from Scheme data instead).
//!
//! An xtlang type annotation such as `a:i64`, `t:<i64,i64>*`, `b:|4,double|*` or
//! `f:[double,double]*` reads as one symbol: inside a symbol, `<`…`>`, `|`…`|` and `[`…`]`
//! nest and may hold commas.

use crate::error::{DspError, DspErrorKind, Result};
use std::fmt;
use std::sync::Arc;

/// Where a form starts: file, line and column (both from 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One datum and where it was read.
#[derive(Clone, Debug, PartialEq)]
pub struct Sexp {
    pub kind: SexpKind,
    pub span: Option<Span>,
}

/// The data a form is made of.
#[derive(Clone, Debug, PartialEq)]
pub enum SexpKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Sym(String),
    List(Vec<Sexp>),
}

impl Sexp {
    /// The symbol's name, if this is a symbol.
    pub fn sym(&self) -> Option<&str> {
        match &self.kind {
            SexpKind::Sym(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if this is a list.
    pub fn list(&self) -> Option<&[Sexp]> {
        match &self.kind {
            SexpKind::List(l) => Some(l),
            _ => None,
        }
    }

    /// The head symbol of a list form, e.g. `bind-func`.
    pub fn head(&self) -> Option<&str> {
        self.list().and_then(|l| l.first()).and_then(Sexp::sym)
    }
}

impl fmt::Display for Sexp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SexpKind::Int(i) => write!(f, "{i}"),
            SexpKind::Float(x) => write!(f, "{x:?}"),
            SexpKind::Bool(b) => f.write_str(if *b { "#t" } else { "#f" }),
            SexpKind::Str(s) => write!(f, "{s:?}"),
            SexpKind::Sym(s) => f.write_str(s),
            SexpKind::List(items) => {
                f.write_str("(")?;
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Reads every datum in `src`; `file` names the source in spans.
pub fn parse(src: &str, file: &str) -> Result<Vec<Sexp>> {
    let mut r = Reader {
        chars: src.chars().collect(),
        pos: 0,
        line: 1,
        col: 1,
        file: file.into(),
    };
    let mut out = Vec::new();
    loop {
        r.skip_blank();
        if r.pos >= r.chars.len() {
            return Ok(out);
        }
        out.push(r.datum(0)?);
    }
}

/// Lists nest this deep at most (deeper input is an error, not a stack overflow).
const MAX_DEPTH: usize = 512;

struct Reader {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    col: u32,
    file: Arc<str>,
}

impl Reader {
    fn span(&self) -> Span {
        Span {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            if c == ';' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else if c.is_whitespace() {
                self.bump();
            } else {
                break;
            }
        }
    }

    fn err<T>(&self, message: impl Into<String>, span: Span) -> Result<T> {
        Err(DspError::new(DspErrorKind::Syntax, message, Some(&span)))
    }

    fn datum(&mut self, depth: usize) -> Result<Sexp> {
        let span = self.span();
        if depth > MAX_DEPTH {
            return self.err("forms are nested too deeply", span);
        }
        match self.peek() {
            Some('(') => {
                self.bump();
                let mut items = Vec::new();
                loop {
                    self.skip_blank();
                    match self.peek() {
                        None => return self.err("this list is never closed", span),
                        Some(')') => {
                            self.bump();
                            return Ok(Sexp {
                                kind: SexpKind::List(items),
                                span: Some(span),
                            });
                        }
                        Some(_) => items.push(self.datum(depth + 1)?),
                    }
                }
            }
            Some(')') => self.err("unexpected `)`", span),
            Some('"') => self.string(span),
            Some('\'') => {
                self.bump();
                let quoted = self.datum(depth + 1)?;
                let q = Sexp {
                    kind: SexpKind::Sym("quote".into()),
                    span: Some(span.clone()),
                };
                Ok(Sexp {
                    kind: SexpKind::List(vec![q, quoted]),
                    span: Some(span),
                })
            }
            _ => self.atom(span),
        }
    }

    fn string(&mut self, span: Span) -> Result<Sexp> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return self.err("this string is never closed", span),
                Some('"') => {
                    return Ok(Sexp {
                        kind: SexpKind::Str(s),
                        span: Some(span),
                    });
                }
                Some('\\') => match self.bump() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('0') => s.push('\0'),
                    Some(c) => s.push(c),
                    None => return self.err("this string is never closed", span),
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn atom(&mut self, span: Span) -> Result<Sexp> {
        let mut text = String::new();
        let mut nest: Vec<char> = Vec::new();
        while let Some(c) = self.peek() {
            let open = match c {
                '<' if text.ends_with(':') || text.ends_with(',') || !nest.is_empty() => Some('>'),
                '[' => Some(']'),
                '|' if nest.last() != Some(&'|') => Some('|'),
                _ => None,
            };
            if let Some(close) = open {
                nest.push(close);
            } else if nest.last() == Some(&c) {
                nest.pop();
            } else if nest.is_empty() && (c.is_whitespace() || c == '(' || c == ')' || c == ';') {
                break;
            }
            text.push(c);
            self.bump();
        }
        if !nest.is_empty() {
            return self.err(format!("the type in `{text}` is never closed"), span);
        }
        let kind = if text == "#t" || text == "#true" {
            SexpKind::Bool(true)
        } else if text == "#f" || text == "#false" {
            SexpKind::Bool(false)
        } else if let Ok(i) = text.parse::<i64>() {
            SexpKind::Int(i)
        } else if looks_numeric(&text)
            && !text.contains(':')
            && crate::syntax::rational_or_complex(&text).is_none()
        {
            match text.parse::<f64>() {
                Ok(x) => SexpKind::Float(x),
                Err(_) => return self.err(format!("`{text}` is not a number"), span),
            }
        } else {
            SexpKind::Sym(text)
        };
        Ok(Sexp {
            kind,
            span: Some(span),
        })
    }
}

fn looks_numeric(t: &str) -> bool {
    let t = t.strip_prefix(['-', '+']).unwrap_or(t);
    t.starts_with(|c: char| c.is_ascii_digit())
        || (t.starts_with('.') && t[1..].starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_annotations_as_one_symbol() {
        let f = parse(
            "(lambda (a:i64 t:<i64,i64>* b:|4,double|* f:[double,double]*) (< a 2))",
            "t",
        )
        .unwrap();
        assert_eq!(
            f[0].to_string(),
            "(lambda (a:i64 t:<i64,i64>* b:|4,double|* f:[double,double]*) (< a 2))"
        );
        let l = f[0].list().unwrap()[1].list().unwrap();
        assert_eq!(l[1].sym(), Some("t:<i64,i64>*"));
        assert_eq!(l[3].sym(), Some("f:[double,double]*"));
    }

    #[test]
    fn keeps_positions_and_reads_numbers_and_strings() {
        let f = parse("; hi\n (f 2.5 -3 \"a\\n\" #t)", "x.xtm").unwrap();
        let items = f[0].list().unwrap();
        assert_eq!(f[0].span.as_ref().unwrap().to_string(), "x.xtm:2:2");
        assert_eq!(items[1].kind, SexpKind::Float(2.5));
        assert_eq!(items[2].kind, SexpKind::Int(-3));
        assert_eq!(items[3].kind, SexpKind::Str("a\n".into()));
        assert_eq!(items[4].kind, SexpKind::Bool(true));
        assert_eq!(items[2].span.as_ref().unwrap().col, 9);
    }

    #[test]
    fn errors_render_the_offending_line_with_a_caret() {
        let src = "(f 1)\n  (g (h 2)";
        let e = parse(src, "x").unwrap_err();
        assert_eq!(
            e.render(src),
            "x:2:3: this list is never closed\n  (g (h 2)\n  ^"
        );
    }

    #[test]
    fn unclosed_input_is_an_error_with_a_position() {
        let e = parse("\n  (f (g 1)", "x").unwrap_err();
        assert_eq!(e.kind, DspErrorKind::Syntax);
        assert_eq!(e.to_string(), "x:2:3: this list is never closed");
        let e = parse(")", "x").unwrap_err();
        assert_eq!(e.message, "unexpected `)`");
    }
}
