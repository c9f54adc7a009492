//! Errors of the reader and the evaluator: a kind, a message, the irritants, the
//! `file:line:col` of the failing form and a short Scheme backtrace.

use std::fmt;
use std::sync::Arc;

/// A place in a source text: file name, 1-based line and column.
#[derive(Clone, Debug, PartialEq)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// What went wrong, broadly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text could not be read as data.
    Read,
    /// A special form is malformed.
    Syntax,
    /// A variable has no binding.
    Unbound,
    /// A value of the wrong type was given.
    Type,
    /// A procedure got the wrong number of arguments.
    Arity,
    /// An index or a number is out of range.
    Range,
    /// Integer division by zero.
    DivByZero,
    /// Raised by the program with `error` or `raise`.
    User,
    /// The evaluation was stopped through the interrupt flag.
    Interrupted,
    /// Recursion went deeper than the interpreter allows.
    StackOverflow,
    /// Reading or writing a file failed.
    Io,
    /// Returned by a native procedure registered by the embedder.
    Native,
    /// The heap would grow past its limit (`Interp::set_heap_limit`,
    /// `(sys:heap-limit)`).
    Memory,
    /// The program asked to end with this exit status (`(quit)`, `(exit 3)`). Like an
    /// interrupt, no handler catches it: it unwinds to the embedder, which decides
    /// what ending means.
    Exit(i32),
}

impl ErrorKind {
    /// The short name printed in front of the message.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Read => "read error",
            ErrorKind::Syntax => "syntax error",
            ErrorKind::Unbound => "unbound variable",
            ErrorKind::Type => "type error",
            ErrorKind::Arity => "wrong number of arguments",
            ErrorKind::Range => "out of range",
            ErrorKind::DivByZero => "division by zero",
            ErrorKind::User => "error",
            ErrorKind::Interrupted => "interrupted",
            ErrorKind::StackOverflow => "stack overflow",
            ErrorKind::Io => "i/o error",
            ErrorKind::Native => "error",
            ErrorKind::Memory => "out of memory",
            ErrorKind::Exit(_) => "exit",
        }
    }

    /// False for what a program's handlers (`guard`, `with-exception-handler`,
    /// `sys:eval-string`) must let through: an interrupt and a request to exit.
    pub fn is_catchable(self) -> bool {
        !matches!(self, ErrorKind::Interrupted | ErrorKind::Exit(_))
    }
}

/// An error with everything a livecoder needs to find its cause.
#[derive(Clone, Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// The irritants in written form.
    pub irritants: Vec<String>,
    pub pos: Option<Pos>,
    /// Innermost call first: `name at file:line:col`.
    pub backtrace: Vec<String>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            irritants: Vec::new(),
            pos: None,
            backtrace: Vec::new(),
        }
    }

    pub fn with_irritants(mut self, irritants: Vec<String>) -> Error {
        self.irritants = irritants;
        self
    }

    pub fn at(mut self, pos: Pos) -> Error {
        self.pos = Some(pos);
        self
    }
}

/// The longest backtrace kept.
pub(crate) const BACKTRACE_LIMIT: usize = 12;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)?;
        for irritant in &self.irritants {
            write!(f, " {irritant}")?;
        }
        if let Some(pos) = &self.pos {
            write!(f, "\n  at {pos}")?;
        }
        if !self.backtrace.is_empty() {
            write!(f, "\n  backtrace:")?;
            for line in &self.backtrace {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_kind_message_irritants_position_and_backtrace() {
        let mut e = Error::new(ErrorKind::Type, "car wants a pair")
            .with_irritants(vec!["5".into()])
            .at(Pos {
                file: "live.scm".into(),
                line: 3,
                col: 7,
            });
        e.backtrace.push("f at live.scm:9:1".into());
        assert_eq!(
            e.to_string(),
            "type error: car wants a pair 5\n  at live.scm:3:7\n  backtrace:\n    f at live.scm:9:1"
        );
    }
}
