//! Plain Rust data for Scheme source: what the reader produces, what special-form
//! handlers receive and what `to_datum`/`from_datum` convert.

use crate::error::Pos;

/// One datum with the position it was read from, if it was read from source.
#[derive(Clone, Debug, PartialEq)]
pub struct Datum {
    pub kind: DatumKind,
    pub pos: Option<Pos>,
}

/// The shape of a datum.
#[derive(Clone, Debug, PartialEq)]
pub enum DatumKind {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Char(char),
    Str(String),
    Sym(String),
    List(Vec<Datum>),
    Dotted(Vec<Datum>, Box<Datum>),
    Vector(Vec<Datum>),
    /// Anything else (procedure, hash table, ...) as its printed form.
    Other(String),
}

impl Datum {
    pub fn new(kind: DatumKind, pos: Option<Pos>) -> Datum {
        Datum { kind, pos }
    }

    pub(crate) fn sym(name: &str, pos: Option<Pos>) -> Datum {
        Datum::new(DatumKind::Sym(name.to_string()), pos)
    }

    pub(crate) fn list(items: Vec<Datum>, pos: Option<Pos>) -> Datum {
        if items.is_empty() {
            Datum::new(DatumKind::Nil, pos)
        } else {
            Datum::new(DatumKind::List(items), pos)
        }
    }

    /// The symbol's name, if this is a symbol.
    pub fn as_sym(&self) -> Option<&str> {
        match &self.kind {
            DatumKind::Sym(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a proper list (the empty list has none).
    pub fn as_list(&self) -> Option<&[Datum]> {
        match &self.kind {
            DatumKind::List(items) => Some(items),
            DatumKind::Nil => Some(&[]),
            _ => None,
        }
    }
}
