//! The reader: source text to [`Datum`]s with `file:line:col` on every datum.
//!
//! Beyond R7RS-small, xtlang type annotations read as plain symbols so that DSP code
//! passes through untouched: `[`, `]`, `|`, `<`, `>`, `*` are ordinary symbol characters
//! (square brackets are *not* list brackets), and `,` continues a symbol whose text so
//! far contains `:` or starts with `<`, `[`, `|` or `/` and a digit (`tup:<i64,i64>*`,
//! `<i64,i64>`, `[SAMPLE,i64]*`, `|4,float|`, as `bind-alias` and `bind-type` take them,
//! and `/4,float/*`, as `cast` does). Anywhere else
//! `,` is `unquote`. Integers that do not fit in 64 bits read as flonums; there are no
//! rationals: `6/3` reads as `2` and `1/4` as `0.25`.
//!
//! Datum labels (`#0=(a . #0#)`, R7RS 2.4) are kept in the datum as the lists
//! `(" datum-label" 0 datum)` and `(" datum-ref" 0)`, whose first symbols cannot be typed;
//! `from_datum` turns them into shared and circular structure. Labels are scoped to one
//! outermost datum.

use std::collections::HashSet;
use std::sync::Arc;

use crate::datum::{Datum, DatumKind};
use crate::error::{Error, ErrorKind, Pos};

/// How deeply lists and vectors may nest in source text.
pub(crate) const MAX_NESTING: usize = 1000;

/// The head of the list a datum label `#n=datum` reads as.
pub(crate) const DATUM_LABEL: &str = " datum-label";
/// The head of the list a label reference `#n#` reads as.
pub(crate) const DATUM_REF: &str = " datum-ref";

pub(crate) struct Reader {
    chars: Vec<char>,
    at: usize,
    line: u32,
    col: u32,
    file: Arc<str>,
    depth: usize,
    /// The datum labels defined so far in the outermost datum being read.
    labels: HashSet<u64>,
}

/// Reads every datum of `src`.
pub fn read_all(src: &str, file: &str) -> Result<Vec<Datum>, Error> {
    let mut r = Reader::new(src, file);
    let mut out = Vec::new();
    while let Some(d) = r.next_datum()? {
        out.push(d);
    }
    Ok(out)
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"' | ';' | '\'' | '`')
}

impl Reader {
    pub(crate) fn new(src: &str, file: &str) -> Reader {
        Reader {
            chars: src.chars().collect(),
            at: 0,
            line: 1,
            col: 1,
            file: Arc::from(file),
            depth: 0,
            labels: HashSet::new(),
        }
    }

    /// How many characters have been consumed.
    pub(crate) fn offset(&self) -> usize {
        self.at
    }

    fn pos(&self) -> Pos {
        Pos {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.at + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn err(&self, pos: Pos, msg: impl Into<String>) -> Error {
        Error::new(ErrorKind::Read, msg).at(pos)
    }

    /// Skips whitespace and comments (`;`, `#| |#` nested, `#;` datum comments).
    fn skip_atmosphere(&mut self) -> Result<(), Error> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some(';') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('#') if self.peek_at(1) == Some('|') => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    let mut level = 1;
                    while level > 0 {
                        match self.bump() {
                            None => {
                                return Err(self.err(start, "this block comment is never closed"));
                            }
                            Some('|') if self.peek() == Some('#') => {
                                self.bump();
                                level -= 1;
                            }
                            Some('#') if self.peek() == Some('|') => {
                                self.bump();
                                level += 1;
                            }
                            Some(_) => {}
                        }
                    }
                }
                Some('#') if self.peek_at(1) == Some(';') => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    if self.next_datum()?.is_none() {
                        return Err(self.err(start, "#; must be followed by a datum"));
                    }
                }
                Some('#') if self.peek_at(1) == Some('!') => {
                    // `#!fold-case`, `#!eof` and script lines are directives: skip the line
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next datum, or `None` at the end of the text.
    pub(crate) fn next_datum(&mut self) -> Result<Option<Datum>, Error> {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.next_datum_inner())
    }

    fn next_datum_inner(&mut self) -> Result<Option<Datum>, Error> {
        if self.depth == 0 {
            self.labels.clear();
        }
        self.skip_atmosphere()?;
        let pos = self.pos();
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let kind = match c {
            '(' => {
                self.bump();
                return self.read_list(pos).map(Some);
            }
            ')' => {
                self.bump();
                return Err(self.err(pos, "there is a ')' without a matching '('"));
            }
            '\'' => return self.read_prefixed(pos, "quote", 1),
            '`' => return self.read_prefixed(pos, "quasiquote", 1),
            ',' => {
                if self.peek_at(1) == Some('@') {
                    return self.read_prefixed(pos, "unquote-splicing", 2);
                }
                return self.read_prefixed(pos, "unquote", 1);
            }
            '"' => {
                self.bump();
                DatumKind::Str(self.read_string(pos.clone())?)
            }
            '#' => match self.peek_at(1) {
                Some('(') => {
                    self.bump();
                    self.bump();
                    let list = self.read_list(pos.clone())?;
                    match list.kind {
                        DatumKind::Nil => DatumKind::Vector(Vec::new()),
                        DatumKind::List(items) => DatumKind::Vector(items),
                        _ => return Err(self.err(pos, "a vector cannot have a dot in it")),
                    }
                }
                Some('\\') => {
                    self.bump();
                    self.bump();
                    DatumKind::Char(self.read_char(pos.clone())?)
                }
                Some(d) if d.is_ascii_digit() => return self.read_label(pos).map(Some),
                _ => {
                    let tok = self.read_token();
                    self.hash_token(&tok, pos.clone())?
                }
            },
            _ => {
                let tok = self.read_token();
                if tok == "." {
                    return Err(self.err(
                        pos,
                        "a dot on its own must sit inside a list, between two data, as in (a . b)",
                    ));
                }
                atom(&tok)
            }
        };
        Ok(Some(Datum::new(kind, Some(pos))))
    }

    /// `#n=datum` or `#n#`, the `#` next.
    fn read_label(&mut self, pos: Pos) -> Result<Datum, Error> {
        self.bump();
        let mut digits = String::new();
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            digits.push(c);
            self.bump();
        }
        let mark = self.peek().filter(|c| matches!(c, '=' | '#'));
        let Some(n) = digits.parse::<u64>().ok().filter(|_| mark.is_some()) else {
            let tok = format!("#{digits}{}", self.read_token());
            return Err(self.err(
                pos,
                format!(
                    "{tok} is not a datum label: write #0= before a datum and #0# to refer to it"
                ),
            ));
        };
        self.bump();
        let number = Datum::new(DatumKind::Int(n as i64), Some(pos.clone()));
        if mark == Some('#') {
            return match self.labels.contains(&n) {
                true => Ok(Datum::list(
                    vec![Datum::sym(DATUM_REF, Some(pos.clone())), number],
                    Some(pos),
                )),
                false => Err(self.err(
                    pos,
                    format!("#{n}# refers to a label that #{n}= did not define before it"),
                )),
            };
        }
        if !self.labels.insert(n) {
            return Err(self.err(pos, format!("the datum label #{n}= is defined twice")));
        }
        self.skip_atmosphere()?;
        let labelled = if self.peek() == Some(')') {
            None
        } else {
            self.enter(&pos)?;
            let labelled = self.next_datum();
            self.depth -= 1;
            labelled?
        };
        let Some(labelled) = labelled else {
            return Err(self.err(pos, format!("#{n}= must be followed by a datum")));
        };
        if labelled
            .as_list()
            .and_then(|l| l.first())
            .and_then(Datum::as_sym)
            == Some(DATUM_REF)
        {
            return Err(self.err(pos, format!("#{n}= must label a datum, not a reference")));
        }
        Ok(Datum::list(
            vec![Datum::sym(DATUM_LABEL, Some(pos.clone())), number, labelled],
            Some(pos),
        ))
    }

    fn read_prefixed(&mut self, pos: Pos, name: &str, skip: usize) -> Result<Option<Datum>, Error> {
        for _ in 0..skip {
            self.bump();
        }
        self.enter(&pos)?;
        let inner = self.next_datum();
        self.depth -= 1;
        match inner? {
            Some(d) => Ok(Some(Datum::list(
                vec![Datum::sym(name, Some(pos.clone())), d],
                Some(pos),
            ))),
            None => Err(self.err(pos, format!("{name} must be followed by a datum"))),
        }
    }

    fn enter(&mut self, pos: &Pos) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            self.depth -= 1;
            return Err(self.err(
                pos.clone(),
                format!("the data is nested more than {MAX_NESTING} levels deep"),
            ));
        }
        Ok(())
    }

    fn read_list(&mut self, pos: Pos) -> Result<Datum, Error> {
        self.enter(&pos)?;
        let r = self.read_list_items(pos);
        self.depth -= 1;
        r
    }

    fn read_list_items(&mut self, pos: Pos) -> Result<Datum, Error> {
        let mut items = Vec::new();
        loop {
            self.skip_atmosphere()?;
            match self.peek() {
                None => return Err(self.err(pos, "this list is never closed: a ')' is missing")),
                Some(')') => {
                    self.bump();
                    return Ok(Datum::list(items, Some(pos)));
                }
                Some('.') if self.peek_at(1).is_none_or(is_delimiter) => {
                    let dot = self.pos();
                    self.bump();
                    if items.is_empty() {
                        return Err(self.err(dot, "a dot must follow at least one datum"));
                    }
                    self.skip_atmosphere()?;
                    if self.peek() == Some(')') {
                        return Err(self.err(
                            dot,
                            "a datum must follow the dot before the ')', as in (a . b)",
                        ));
                    }
                    let Some(tail) = self.next_datum()? else {
                        return Err(self.err(pos, "this list is never closed: a ')' is missing"));
                    };
                    self.skip_atmosphere()?;
                    if self.peek() != Some(')') {
                        return Err(self.err(dot, "exactly one datum must follow a dot"));
                    }
                    self.bump();
                    return Ok(match tail.kind {
                        // a labelled tail stays one datum
                        DatumKind::List(_) if is_label(&tail) => {
                            Datum::new(DatumKind::Dotted(items, Box::new(tail)), Some(pos))
                        }
                        DatumKind::Nil => Datum::list(items, Some(pos)),
                        DatumKind::List(rest) => {
                            items.extend(rest);
                            Datum::list(items, Some(pos))
                        }
                        DatumKind::Dotted(rest, last) => {
                            items.extend(rest);
                            Datum::new(DatumKind::Dotted(items, last), Some(pos))
                        }
                        _ => Datum::new(DatumKind::Dotted(items, Box::new(tail)), Some(pos)),
                    });
                }
                Some(_) => {
                    if let Some(d) = self.next_datum()? {
                        items.push(d);
                    }
                }
            }
        }
    }

    fn read_string(&mut self, pos: Pos) -> Result<String, Error> {
        let mut s = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.err(pos, "this string is never closed: a '\"' is missing"));
            };
            match c {
                '"' => return Ok(s),
                '\\' => {
                    let epos = self.pos();
                    let Some(e) = self.bump() else {
                        return Err(self.err(pos, "this string is never closed: a '\"' is missing"));
                    };
                    match e {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        'a' => s.push('\u{7}'),
                        'b' => s.push('\u{8}'),
                        '0' => s.push('\0'),
                        '\\' => s.push('\\'),
                        '"' => s.push('"'),
                        'x' | 'X' => {
                            let mut hex = String::new();
                            loop {
                                match self.bump() {
                                    Some(';') => break,
                                    Some(h) if h.is_ascii_hexdigit() && hex.len() < 8 => {
                                        hex.push(h)
                                    }
                                    _ => {
                                        return Err(self
                                            .err(epos, "a \\x escape needs hex digits and a ';'"));
                                    }
                                }
                            }
                            match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                                Some(ch) => s.push(ch),
                                None => {
                                    return Err(
                                        self.err(epos, format!("\\x{hex}; is not a character"))
                                    );
                                }
                            }
                        }
                        c if c.is_whitespace() => {
                            // line continuation: skip to the end of the line and the next indentation
                            let mut seen_newline = c == '\n';
                            while let Some(w) = self.peek() {
                                if w == '\n' && !seen_newline {
                                    seen_newline = true;
                                } else if !(w.is_whitespace() && w != '\n') {
                                    break;
                                }
                                self.bump();
                            }
                        }
                        other => {
                            return Err(self.err(epos, format!("unknown string escape \\{other}")));
                        }
                    }
                }
                c => s.push(c),
            }
        }
    }

    fn read_char(&mut self, pos: Pos) -> Result<char, Error> {
        let Some(first) = self.bump() else {
            return Err(self.err(pos, "#\\ must be followed by a character"));
        };
        let mut name = String::from(first);
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            name.push(c);
            self.bump();
        }
        if name.chars().count() == 1 {
            return Ok(first);
        }
        let named = match name.as_str() {
            "space" => Some(' '),
            "newline" | "linefeed" | "nl" => Some('\n'),
            "tab" => Some('\t'),
            "return" => Some('\r'),
            "nul" | "null" => Some('\0'),
            "alarm" => Some('\u{7}'),
            "backspace" => Some('\u{8}'),
            "delete" | "rubout" => Some('\u{7f}'),
            "escape" | "altmode" => Some('\u{1b}'),
            _ => None,
        };
        if let Some(c) = named {
            return Ok(c);
        }
        if let Some(hex) = name.strip_prefix('x').or_else(|| name.strip_prefix('U'))
            && let Some(c) = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
        {
            return Ok(c);
        }
        Err(self.err(pos, format!("#\\{name} is not a character name")))
    }

    /// A symbol or number token. `,` continues it after a `:`, a leading `<`, `[` or `|`,
    /// or a leading `/` and digit (xtlang's types: `<i64,double>`, `/4,float/*`).
    fn read_token(&mut self) -> String {
        let mut tok = String::new();
        while let Some(c) = self.peek() {
            if is_delimiter(c) {
                break;
            }
            let vector = tok.starts_with('/') && tok[1..].starts_with(|d: char| d.is_ascii_digit());
            if c == ',' && !(vector || tok.contains(':') || tok.starts_with(['<', '[', '|'])) {
                break;
            }
            tok.push(c);
            self.bump();
        }
        tok
    }

    fn hash_token(&self, tok: &str, pos: Pos) -> Result<DatumKind, Error> {
        match tok {
            "#t" | "#true" => return Ok(DatumKind::Bool(true)),
            "#f" | "#false" => return Ok(DatumKind::Bool(false)),
            _ => {}
        }
        let lower = tok.to_ascii_lowercase();
        let (radix, digits) = match lower.get(..2) {
            Some("#x") => (16, &lower[2..]),
            Some("#b") => (2, &lower[2..]),
            Some("#o") => (8, &lower[2..]),
            Some("#d") => (10, &lower[2..]),
            Some("#e") => {
                return match atom(&lower[2..]) {
                    DatumKind::Int(i) => Ok(DatumKind::Int(i)),
                    DatumKind::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => {
                        Ok(DatumKind::Int(f as i64))
                    }
                    _ => Err(self.err(pos, format!("{tok} is not an exact number"))),
                };
            }
            Some("#i") => {
                return match atom(&lower[2..]) {
                    DatumKind::Int(i) => Ok(DatumKind::Float(i as f64)),
                    DatumKind::Float(f) => Ok(DatumKind::Float(f)),
                    _ => Err(self.err(pos, format!("{tok} is not a number"))),
                };
            }
            _ => return Err(self.err(pos, format!("{tok} is not something the reader knows"))),
        };
        match parse_radix(digits, radix) {
            Some(k) => Ok(k),
            None => Err(self.err(pos, format!("{tok} is not a number"))),
        }
    }
}

/// Whether `d` is a datum label or a reference to one, as the reader writes them.
fn is_label(d: &Datum) -> bool {
    d.as_list()
        .and_then(|items| items.first())
        .and_then(Datum::as_sym)
        .is_some_and(|s| s == DATUM_LABEL || s == DATUM_REF)
}

fn parse_radix(digits: &str, radix: u32) -> Option<DatumKind> {
    let (neg, body) = match digits.as_bytes().first() {
        Some(b'-') => (true, &digits[1..]),
        Some(b'+') => (false, &digits[1..]),
        _ => (false, digits),
    };
    if body.is_empty() {
        return None;
    }
    if radix == 10 {
        return match atom(digits) {
            k @ (DatumKind::Int(_) | DatumKind::Float(_)) => Some(k),
            _ => None,
        };
    }
    let mag = i128::from_str_radix(body, radix).ok()?;
    let v = if neg { mag.checked_neg()? } else { mag };
    Some(match i64::try_from(v) {
        Ok(i) => DatumKind::Int(i),
        Err(_) => DatumKind::Float(v as f64),
    })
}

/// Parses a number token; anything that is not a number is a symbol.
pub(crate) fn parse_number(tok: &str) -> Option<DatumKind> {
    match tok {
        "+inf.0" => return Some(DatumKind::Float(f64::INFINITY)),
        "-inf.0" => return Some(DatumKind::Float(f64::NEG_INFINITY)),
        "+nan.0" | "-nan.0" => return Some(DatumKind::Float(f64::NAN)),
        _ => {}
    }
    if tok.contains('/') {
        // an exact rational: an integer when whole; others are carried as their text
        // (`Other`), which `from_datum` makes a rational and the DSP side refuses
        let (n, d) = crate::builtins::rational::parse(tok)?;
        return Some(match crate::builtins::rational::normalize(n, d) {
            Some((n, 1)) => DatumKind::Int(n),
            Some((n, d)) => DatumKind::Other(format!("{n}/{d}")),
            None => DatumKind::Float(n as f64 / d as f64),
        });
    }
    let body = tok.strip_prefix(['+', '-']).unwrap_or(tok);
    let starts_ok = body.starts_with(|c: char| c.is_ascii_digit())
        || (body.starts_with('.') && body[1..].starts_with(|c: char| c.is_ascii_digit()));
    if !starts_ok {
        return None;
    }
    if body.bytes().all(|b| b.is_ascii_digit()) {
        return Some(match tok.parse::<i64>() {
            Ok(i) => DatumKind::Int(i),
            Err(_) => DatumKind::Float(tok.parse::<f64>().ok()?),
        });
    }
    if !body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    tok.parse::<f64>().ok().map(DatumKind::Float)
}

fn atom(tok: &str) -> DatumKind {
    parse_number(tok).unwrap_or_else(|| DatumKind::Sym(tok.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> DatumKind {
        let mut all = read_all(src, "t.scm").expect("reads");
        assert_eq!(all.len(), 1, "{src}");
        all.remove(0).kind
    }

    fn sym(s: &str) -> DatumKind {
        DatumKind::Sym(s.into())
    }

    #[test]
    fn numbers() {
        assert_eq!(one("42"), DatumKind::Int(42));
        assert_eq!(one("-17"), DatumKind::Int(-17));
        assert_eq!(one("+5"), DatumKind::Int(5));
        assert_eq!(one(".5"), DatumKind::Float(0.5));
        assert_eq!(one("1e3"), DatumKind::Float(1000.0));
        assert_eq!(one("1."), DatumKind::Float(1.0));
        assert_eq!(one("+inf.0"), DatumKind::Float(f64::INFINITY));
        assert_eq!(one("#xff"), DatumKind::Int(255));
        assert_eq!(one("#b-101"), DatumKind::Int(-5));
        assert_eq!(one("99999999999999999999"), DatumKind::Float(1e20));
        assert_eq!(one("-"), sym("-"));
        assert_eq!(one("..."), sym("..."));
        assert_eq!(one("inf"), sym("inf"));
        assert_eq!(one("1+"), sym("1+"));
        assert_eq!(one("6/3"), DatumKind::Int(2));
        assert_eq!(one("-2/8"), DatumKind::Other("-1/4".into()));
        assert_eq!(one("1/-4"), sym("1/-4"));
        assert_eq!(one("a/b"), sym("a/b"));
        assert_eq!(one("1/0"), sym("1/0"));
    }

    #[test]
    fn xtlang_annotations_are_symbols() {
        for s in [
            "a:i64",
            "tup:<i64,i64>*",
            "buf:|4,double|*",
            "f:[double,double]*",
            "dsp:DSP",
            "<i64,i64>",
            "g:[[double,i64]*,i64]*",
        ] {
            assert_eq!(one(s), sym(s));
        }
    }

    /// `(bind-alias INSTRUMENT [SAMPLE,SAMPLE,i64,i64,SAMPLE*]*)`, from Extempore's
    /// instruments.xtm, read its type as `[SAMPLE` and three unquotes.
    #[test]
    fn bare_closure_and_array_types_are_symbols() {
        for s in [
            "[SAMPLE,SAMPLE,i64,i64,SAMPLE*]*",
            "|4,float|",
            "|2,[i64,i64]*|*",
            "/4,float/*",
        ] {
            assert_eq!(one(s), sym(s));
        }
        let DatumKind::List(items) = one("`(a ,b ,@c)") else {
            panic!("not a list")
        };
        assert_eq!(items[0].kind, sym("quasiquote"));
    }

    #[test]
    fn unquote_splits_plain_symbols() {
        let DatumKind::List(items) = one("(a,b)") else {
            panic!("not a list")
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].kind, sym("a"));
        let DatumKind::List(items) = one("(/ 4 ,x)") else {
            panic!("not a list")
        };
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn positions_are_line_and_column() {
        let all = read_all("; c\n  (a\n   b)", "f.scm").expect("reads");
        let pos = all[0].pos.clone().expect("pos");
        assert_eq!((pos.line, pos.col), (2, 3));
        let DatumKind::List(items) = &all[0].kind else {
            panic!("not a list")
        };
        let b = items[1].pos.clone().expect("pos");
        assert_eq!((b.line, b.col), (3, 4));
        assert_eq!(b.to_string(), "f.scm:3:4");
    }

    #[test]
    fn comments_strings_and_chars() {
        assert_eq!(
            read_all("#| a #| b |# c |# #;(x y) 7", "t")
                .expect("reads")
                .len(),
            1
        );
        assert_eq!(one(r#""a\nb\x41;\"""#), DatumKind::Str("a\nbA\"".into()));
        assert_eq!(one("#\\space"), DatumKind::Char(' '));
        assert_eq!(one("#\\x41"), DatumKind::Char('A'));
        assert_eq!(one("#\\("), DatumKind::Char('('));
        assert_eq!(one("#\\λ"), DatumKind::Char('λ'));
        assert_eq!(one("#true"), DatumKind::Bool(true));
        let DatumKind::Dotted(items, tail) = one("(1 . 2)") else {
            panic!("not dotted")
        };
        assert_eq!((items.len(), &tail.kind), (1, &DatumKind::Int(2)));
    }

    #[test]
    fn errors_are_read_errors_with_positions() {
        let e = read_all("(a b", "t.scm").expect_err("unclosed");
        assert_eq!(e.kind, ErrorKind::Read);
        assert_eq!(e.message, "this list is never closed: a ')' is missing");
        assert_eq!(e.pos.map(|p| p.to_string()), Some("t.scm:1:1".into()));
        let e = read_all(")", "t.scm").expect_err("stray");
        assert_eq!(e.message, "there is a ')' without a matching '('");
        let e = read_all(&"(".repeat(5000), "t.scm").expect_err("deep");
        assert_eq!(e.message, "the data is nested more than 1000 levels deep");
        let e = read_all("(1 .)", "t.scm").expect_err("nothing after the dot");
        assert_eq!(e.pos.map(|p| p.to_string()), Some("t.scm:1:4".into()));
        let e = read_all("(display 1) .", "t.scm").expect_err("lone dot");
        assert_eq!(
            (e.message.as_str(), e.pos.map(|p| p.to_string())),
            (
                "a dot on its own must sit inside a list, between two data, as in (a . b)",
                Some("t.scm:1:13".into())
            )
        );
        let e = read_all("#\\bogus", "t.scm").expect_err("char");
        assert_eq!(e.message, "#\\bogus is not a character name");
    }
}
