//! What every client of the control thread (an editor connection, the REPL) sends it: a
//! [`Request`] carrying source text and a channel for the [`Reply`]; and the
//! [`FormScanner`] both clients use to tell when source text holds only whole forms.

use crossbeam_channel::Sender;

/// Source text to evaluate on the control thread, with where it came from and where the
/// answer goes.
#[derive(Debug)]
pub struct Request {
    /// The text of zero or more forms; the reply is the printed value of the last one.
    pub source: String,
    /// Who sent it, for messages: `"repl"`, `"tcp 127.0.0.1:40312"`.
    pub origin: String,
    /// Where the control thread sends the one reply to this request.
    pub reply: Sender<Reply>,
    /// Where what this request starts says later, on its own (an error in a callback it
    /// scheduled, or in the callbacks those schedule), goes: the editor connection that
    /// sent it. `None` (the REPL, files) leaves it on the engine's stderr.
    pub notices: Option<Sender<String>>,
}

/// The control thread's answer to one [`Request`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The printed value of the last form.
    Value(String),
    /// What went wrong, in words for the musician.
    Error(String),
}

/// The whole text of a request that interrupts the evaluation running on the control
/// thread. Clients recognise it themselves (the control thread is busy) and raise the
/// interrupt flag; the control thread stops its evaluation at the next check of the flag
/// and clears it before starting the next one.
pub const INTERRUPT_COMMAND: &str = "(zonal:interrupt)";

/// Where a [`FormScanner`] is inside the text it has been fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Mode {
    #[default]
    Code,
    /// Just after `#`: `#\` starts a character, `#|` a block comment, `#(` a vector.
    AfterHash,
    /// Just after `#\`: the next byte is a character, whatever it is.
    CharLiteral,
    String,
    StringEscape,
    LineComment,
    /// Inside `#| ... |#` comments, nested this deep.
    BlockComment(u32),
    BlockCommentBar(u32),
    BlockCommentHash(u32),
}

/// Follows Scheme source byte by byte and keeps the nesting depth of parentheses,
/// ignoring those inside strings, character literals (`#\(`) and comments (`;` to the end
/// of the line, nested `#| |#`). Works on bytes, so it can follow text arriving in pieces
/// (UTF-8 continuation bytes never look like the ASCII delimiters it watches).
#[derive(Debug, Clone, Default)]
pub struct FormScanner {
    mode: Mode,
    depth: u64,
    /// Line (from 1) and column (from 1) of the first `)` that closed nothing.
    stray_close: Option<(u32, u32)>,
    line: u32,
    column: u32,
}

/// Whether the text a [`FormScanner`] has seen is whole forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// Every form is closed (or there is no form at all).
    Complete,
    /// This many `(` are still open.
    Open(u64),
    /// A string is not closed.
    OpenString,
    /// A `#|` comment is not closed.
    OpenComment,
    /// A `)` at this line and column (from 1) closes nothing.
    StrayClose { line: u32, column: u32 },
}

impl Balance {
    /// The message for a request whose text is not whole forms, or `None` when it is.
    pub fn problem(self) -> Option<String> {
        match self {
            Balance::Complete => None,
            Balance::Open(1) => Some("unbalanced parentheses: 1 `(` is not closed".to_owned()),
            Balance::Open(n) => Some(format!("unbalanced parentheses: {n} `(` are not closed")),
            Balance::OpenString => Some("a string is not closed (missing `\"`)".to_owned()),
            Balance::OpenComment => Some("a `#|` comment is not closed (missing `|#`)".to_owned()),
            Balance::StrayClose { line, column } => Some(format!(
                "unbalanced parentheses: the `)` at line {line}, column {column} closes nothing"
            )),
        }
    }
}

impl FormScanner {
    /// A scanner at the start of a text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Follows one more byte of the text.
    pub fn feed(&mut self, byte: u8) {
        self.advance_position(byte);
        self.mode = match self.mode {
            Mode::Code => self.code(byte),
            Mode::AfterHash => match byte {
                b'\\' => Mode::CharLiteral,
                b'|' => Mode::BlockComment(1),
                // `#;` comments out the next datum, whose parentheses still count.
                b';' => Mode::Code,
                _ => self.code(byte),
            },
            Mode::CharLiteral => Mode::Code,
            Mode::String => match byte {
                b'\\' => Mode::StringEscape,
                b'"' => Mode::Code,
                _ => Mode::String,
            },
            Mode::StringEscape => Mode::String,
            Mode::LineComment => match byte {
                b'\n' => Mode::Code,
                _ => Mode::LineComment,
            },
            Mode::BlockComment(n) => match byte {
                b'|' => Mode::BlockCommentBar(n),
                b'#' => Mode::BlockCommentHash(n),
                _ => Mode::BlockComment(n),
            },
            Mode::BlockCommentBar(n) => match byte {
                b'#' if n == 1 => Mode::Code,
                b'#' => Mode::BlockComment(n - 1),
                b'|' => Mode::BlockCommentBar(n),
                _ => Mode::BlockComment(n),
            },
            Mode::BlockCommentHash(n) => match byte {
                b'|' => Mode::BlockComment(n + 1),
                b'#' => Mode::BlockCommentHash(n),
                _ => Mode::BlockComment(n),
            },
        };
    }

    /// Follows every byte of `text`.
    pub fn feed_all(&mut self, text: &[u8]) {
        for &byte in text {
            self.feed(byte);
        }
    }

    /// Whether the text seen so far is whole forms.
    pub fn balance(&self) -> Balance {
        if let Some((line, column)) = self.stray_close {
            return Balance::StrayClose { line, column };
        }
        match self.mode {
            Mode::String | Mode::StringEscape => Balance::OpenString,
            Mode::BlockComment(_) | Mode::BlockCommentBar(_) | Mode::BlockCommentHash(_) => {
                Balance::OpenComment
            }
            _ if self.depth > 0 => Balance::Open(self.depth),
            _ => Balance::Complete,
        }
    }

    /// Whether more text could still complete what was seen: a `(`, a string or a
    /// comment is open and nothing closed too early.
    pub fn wants_more(&self) -> bool {
        matches!(
            self.balance(),
            Balance::Open(_) | Balance::OpenString | Balance::OpenComment
        )
    }

    fn code(&mut self, byte: u8) -> Mode {
        match byte {
            b'(' => {
                self.depth += 1;
                Mode::Code
            }
            b')' => {
                if self.depth == 0 {
                    self.stray_close.get_or_insert((self.line, self.column));
                } else {
                    self.depth -= 1;
                }
                Mode::Code
            }
            b'"' => Mode::String,
            b';' => Mode::LineComment,
            b'#' => Mode::AfterHash,
            _ => Mode::Code,
        }
    }

    fn advance_position(&mut self, byte: u8) {
        if self.line == 0 {
            self.line = 1;
        }
        if byte == b'\n' {
            self.line += 1;
            self.column = 0;
        } else if byte & 0xC0 != 0x80 {
            // Count characters, not UTF-8 continuation bytes.
            self.column += 1;
        }
    }
}

/// Whether `text` is whole forms (see [`FormScanner`]).
pub fn balance(text: &str) -> Balance {
    let mut scanner = FormScanner::new();
    scanner.feed_all(text.as_bytes());
    scanner.balance()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_forms_are_complete() {
        assert_eq!(balance("(+ 1 2)"), Balance::Complete);
        assert_eq!(
            balance("(define (f x)\n  (* x 2)) (f 3)"),
            Balance::Complete
        );
        assert_eq!(balance(""), Balance::Complete);
        assert_eq!(balance("42"), Balance::Complete);
    }

    #[test]
    fn open_forms_count_their_parentheses() {
        assert_eq!(balance("(define (f x)"), Balance::Open(1));
        assert_eq!(balance("((("), Balance::Open(3));
        assert_eq!(
            Balance::Open(3).problem().as_deref(),
            Some("unbalanced parentheses: 3 `(` are not closed")
        );
    }

    #[test]
    fn parentheses_in_strings_characters_and_comments_do_not_count() {
        assert_eq!(balance(r#"(display "(((")"#), Balance::Complete);
        assert_eq!(balance(r#"(display "a \" (")"#), Balance::Complete);
        assert_eq!(balance("(list #\\( #\\))"), Balance::Complete);
        assert_eq!(balance("(f ; a comment (\n 1)"), Balance::Complete);
        assert_eq!(balance("(f #| ( #| nested ) |# ( |# 1)"), Balance::Complete);
        assert_eq!(balance("#(1 2 3)"), Balance::Complete);
        assert_eq!(balance("(f #;(g 1) 2)"), Balance::Complete);
    }

    #[test]
    fn open_strings_and_comments_are_reported() {
        assert_eq!(balance("(display \"abc)"), Balance::OpenString);
        assert_eq!(balance("#| (f)"), Balance::OpenComment);
        assert_eq!(
            Balance::OpenString.problem().as_deref(),
            Some("a string is not closed (missing `\"`)")
        );
    }

    #[test]
    fn a_stray_close_names_its_place() {
        let found = balance("(f 1)\n  (g 2))");
        assert_eq!(found, Balance::StrayClose { line: 2, column: 8 });
        assert_eq!(
            found.problem().as_deref(),
            Some("unbalanced parentheses: the `)` at line 2, column 8 closes nothing")
        );
        let mut scanner = FormScanner::new();
        scanner.feed_all(b")(");
        assert!(!scanner.wants_more());
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(balance("(é))"), Balance::StrayClose { line: 1, column: 4 });
    }
}
