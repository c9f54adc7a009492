//! The compiler's error type: a kind, a message a musician understands, and where.

use crate::sexp::Span;
use std::fmt;

/// What sort of problem a [`DspError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DspErrorKind {
    /// The form is not shaped as the language expects.
    Syntax,
    /// Two types clash, or a type cannot be known.
    Type,
    /// A name that nothing defines.
    Unbound,
    /// A zone could not be made or filled.
    Zone,
    /// Memory could not be had (arena, heap, stack).
    Alloc,
    /// Compiled code stopped with a fault.
    Fault,
    /// A call from Rust with the wrong arguments, or to something that is not callable.
    Call,
    /// A bug in the compiler (a verifier error, say): not the livecoder's fault.
    Internal,
}

/// An error from the DSP compiler or from running compiled code.
#[derive(Debug, Clone, PartialEq)]
pub struct DspError {
    pub kind: DspErrorKind,
    pub message: String,
    pub span: Option<Span>,
}

impl DspError {
    pub fn new(kind: DspErrorKind, message: impl Into<String>, span: Option<&Span>) -> DspError {
        DspError {
            kind,
            message: message.into(),
            span: span.cloned(),
        }
    }
}

impl DspError {
    /// The error, then the offending line of `src` (the source the span points into) with
    /// a caret under the column.
    pub fn render(&self, src: &str) -> String {
        let mut out = self.to_string();
        if let Some(s) = &self.span
            && let Some(line) = src.lines().nth(s.line.saturating_sub(1) as usize)
        {
            let pad = " ".repeat(s.col.saturating_sub(1) as usize);
            out.push_str(&format!("\n{line}\n{pad}^"));
        }
        out
    }
}

impl fmt::Display for DspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.span {
            Some(s) => write!(f, "{}:{}:{}: {}", s.file, s.line, s.col, self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DspError {}

/// Shorthand for the compiler's results.
pub type Result<T> = std::result::Result<T, DspError>;

/// A syntax error at `span`.
pub fn syntax<T>(message: impl Into<String>, span: Option<&Span>) -> Result<T> {
    Err(DspError::new(DspErrorKind::Syntax, message, span))
}
