//! The storage of SRFI-69 hash tables: buckets keyed by a 64-bit hash, each holding
//! the entries whose keys hash alike. Hashing and key comparison need the heap and
//! live with the builtins (`builtins/hash.rs`).

use std::collections::HashMap;

use crate::value::Value;

/// Which keys a table considers the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Equiv {
    Eq,
    Eqv,
    Equal,
    Str,
}

pub(crate) struct Table {
    pub equiv: Equiv,
    pub buckets: HashMap<u64, Vec<(Value, Value)>>,
    pub count: usize,
}

impl Table {
    pub(crate) fn new(equiv: Equiv) -> Table {
        Table {
            equiv,
            buckets: HashMap::new(),
            count: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Every key and value, in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (Value, Value)> + '_ {
        self.buckets.values().flat_map(|b| b.iter().copied())
    }
}
