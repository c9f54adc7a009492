//! Printed forms of values: `write` (machine-readable, strings quoted) and `display`
//! (human-readable). Circular data are printed with datum labels, as R7RS `write` does:
//! a list whose tail is itself prints `#0=(1 . #0#)`; only the places a cycle returns to
//! are labelled, shared but acyclic parts print in full. Nesting deeper than
//! [`MAX_PRINT_DEPTH`], and output past [`MAX_PRINT_ITEMS`] elements or past half the
//! room left under the heap limit, are cut with `...`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::interp::Interp;
use crate::value::{Obj, Promise, V, Value};

const MAX_PRINT_DEPTH: usize = 1000;
const MAX_PRINT_ITEMS: usize = 10_000_000;
/// What a printed text may always take, however full the heap is.
const MIN_PRINT_BYTES: usize = 1 << 16;

pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "+nan.0".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+inf.0".into()
        } else {
            "-inf.0".into()
        };
    }
    format!("{f:?}")
}

pub(crate) fn char_name(c: char) -> String {
    match c {
        ' ' => "space".into(),
        '\n' => "newline".into(),
        '\t' => "tab".into(),
        '\r' => "return".into(),
        '\0' => "null".into(),
        '\u{7}' => "alarm".into(),
        '\u{8}' => "backspace".into(),
        '\u{7f}' => "delete".into(),
        '\u{1b}' => "escape".into(),
        c if c.is_control() => format!("x{:x}", c as u32),
        c => c.to_string(),
    }
}

fn write_str_escaped(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A pair's or an object's identity (what `eq?` compares), for cycle searches.
pub(crate) fn identity(v: Value) -> Option<u64> {
    match v.get() {
        V::Pair(i) => Some(u64::from(i) << 1),
        V::Obj(i) => Some((u64::from(i) << 1) | 1),
        _ => None,
    }
}

/// Hashes a node identity with one multiplication (Fibonacci hashing): identities are
/// already distinct integers, and SipHash would cost more than the walks that use it.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by node identity.
pub(crate) type IdMap<T> = HashMap<u64, T, BuildHasherDefault<IdHasher>>;

/// How many nodes a plain walk visits before the cycle search is worth its hashing.
const PLAIN_WALK_LIMIT: usize = 10_000;

/// Whether a walk of `v` that follows every edge, without remembering where it has been,
/// ends within [`PLAIN_WALK_LIMIT`] nodes: then `v` is small and has no cycle.
fn small_and_acyclic(it: &Interp, v: Value) -> bool {
    let mut work = vec![v];
    let mut visited = 0;
    while let Some(x) = work.pop() {
        if identity(x).is_none() {
            continue;
        }
        visited += 1;
        if visited > PLAIN_WALK_LIMIT {
            return false;
        }
        children(it, x, &mut work);
    }
    true
}

/// Where the search for cycles has been.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    /// On the path from the root: reaching it again closes a cycle.
    OnPath,
    Done,
}

/// The values inside `v` that the printer would follow: a pair's car and cdr, the
/// elements of a vector or of multiple values, the fields of a record, the message and
/// irritants of an error object.
fn children(it: &Interp, v: Value, out: &mut Vec<Value>) {
    if let Some(p) = it.heap.pair(v) {
        out.push(p.cdr);
        out.push(p.car);
        return;
    }
    match it.heap.obj(v) {
        Some(Obj::Vector(items) | Obj::Record(_, items) | Obj::Values(items)) => {
            out.extend(items.iter().rev());
        }
        Some(Obj::Condition {
            message, irritants, ..
        }) => out.extend([*irritants, *message]),
        _ => {}
    }
}

/// The identities of the pairs and objects under `v` that a cycle comes back to (with
/// `shared`, also those reached twice): those that need a datum label. An iterative depth-first search, so deep lists cannot
/// overflow the native stack.
pub(crate) fn cycle_targets(it: &Interp, v: Value, shared: bool) -> IdMap<Option<usize>> {
    enum Step {
        Enter(Value),
        Leave(u64),
    }
    let mut labels = IdMap::default();
    if identity(v).is_none() || (!shared && small_and_acyclic(it, v)) {
        return labels;
    }
    let mut seen: IdMap<Visit> = IdMap::default();
    let mut work = vec![Step::Enter(v)];
    let mut kids = Vec::new();
    while let Some(step) = work.pop() {
        match step {
            Step::Leave(id) => {
                seen.insert(id, Visit::Done);
            }
            Step::Enter(x) => {
                let Some(id) = identity(x) else { continue };
                match seen.get(&id) {
                    Some(Visit::OnPath) => {
                        labels.insert(id, None);
                    }
                    Some(Visit::Done) => {
                        if shared {
                            labels.insert(id, None);
                        }
                    }
                    None => {
                        seen.insert(id, Visit::OnPath);
                        work.push(Step::Leave(id));
                        kids.clear();
                        children(it, x, &mut kids);
                        work.extend(kids.iter().map(|&k| Step::Enter(k)));
                    }
                }
            }
        }
    }
    labels
}

struct Printer<'a> {
    it: &'a Interp,
    write: bool,
    out: String,
    items: usize,
    /// The most bytes the text may take: what fits under the heap limit.
    max_bytes: usize,
    /// Values that need a datum label, with the number given when first printed.
    labels: IdMap<Option<usize>>,
    next_label: usize,
}

impl Printer<'_> {
    /// Prints `#n#` if `v` was labelled and printed already (true), else `#n=` the first
    /// time a labelled value is printed (false).
    fn label(&mut self, v: Value) -> bool {
        let Some(id) = identity(v) else { return false };
        match self.labels.get_mut(&id) {
            Some(Some(n)) => {
                self.out.push_str(&format!("#{n}#"));
                true
            }
            Some(slot) => {
                *slot = Some(self.next_label);
                self.out.push_str(&format!("#{}=", self.next_label));
                self.next_label += 1;
                false
            }
            None => false,
        }
    }

    fn labelled(&self, v: Value) -> bool {
        identity(v).is_some_and(|id| self.labels.contains_key(&id))
    }

    fn budget_left(&mut self) -> bool {
        self.items += 1;
        self.items < MAX_PRINT_ITEMS && self.out.len() < self.max_bytes
    }

    fn print(&mut self, v: Value, depth: usize) {
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.print_inner(v, depth));
    }

    fn print_inner(&mut self, v: Value, depth: usize) {
        if depth > MAX_PRINT_DEPTH || !self.budget_left() {
            self.out.push_str("...");
            return;
        }
        match v.get() {
            V::Nil => self.out.push_str("()"),
            V::Unspec => self.out.push_str("#<unspecified>"),
            V::Eof => self.out.push_str("#<eof>"),
            V::Undef => self.out.push_str("#<undefined>"),
            V::Bool(true) => self.out.push_str("#t"),
            V::Bool(false) => self.out.push_str("#f"),
            V::Int(i) => self.out.push_str(&i.to_string()),
            V::Float(f) => self.out.push_str(&format_float(f)),
            V::Char(c) => {
                if self.write {
                    self.out.push_str("#\\");
                    self.out.push_str(&char_name(c));
                } else {
                    self.out.push(c);
                }
            }
            V::Sym(s) => self.out.push_str(self.it.sym_name(s)),
            V::Prim(p) => {
                let name = self.it.prims.get(p as usize).map_or("?", |p| p.name);
                self.out
                    .push_str(&format!("#<procedure {}>", name.trim_start()));
            }
            V::Pair(_) => {
                if !self.label(v) {
                    self.print_list(v, depth);
                }
            }
            V::Obj(_) => {
                if !self.label(v) {
                    self.print_obj(v, depth);
                }
            }
        }
    }

    fn print_list(&mut self, v: Value, depth: usize) {
        let heap = &self.it.heap;
        if let Some(p) = heap.pair(v)
            && let (V::Sym(s), Some(rest)) = (p.car.get(), heap.pair(p.cdr))
            && matches!(rest.cdr.get(), V::Nil)
            && !self.labelled(p.cdr)
        {
            let prefix = match self.it.sym_name(s) {
                "quote" => Some("'"),
                "quasiquote" => Some("`"),
                "unquote" => Some(","),
                "unquote-splicing" => Some(",@"),
                _ => None,
            };
            if let Some(prefix) = prefix {
                self.out.push_str(prefix);
                self.print(rest.car, depth + 1);
                return;
            }
        }
        self.out.push('(');
        let mut cur = v;
        let mut first = true;
        loop {
            match heap.pair(cur) {
                Some(_) if !first && self.labelled(cur) => {
                    // the rest of the list is labelled: print it as a dotted tail
                    self.out.push_str(" . ");
                    self.print(cur, depth + 1);
                    break;
                }
                Some(p) => {
                    if !first {
                        self.out.push(' ');
                    }
                    first = false;
                    if !self.budget_left() {
                        self.out.push_str("...");
                        break;
                    }
                    self.print(p.car, depth + 1);
                    cur = p.cdr;
                }
                None => {
                    if !matches!(cur.get(), V::Nil) {
                        self.out.push_str(" . ");
                        self.print(cur, depth + 1);
                    }
                    break;
                }
            }
        }
        self.out.push(')');
    }

    fn print_seq(&mut self, items: &[Value], depth: usize) {
        for (i, &x) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(' ');
            }
            self.print(x, depth + 1);
        }
    }

    fn print_obj(&mut self, v: Value, depth: usize) {
        let it = self.it;
        match it.heap.obj(v) {
            None | Some(Obj::Free) => self.out.push_str("#<freed object>"),
            Some(Obj::Rat(n, d)) => self.out.push_str(&format!("{n}/{d}")),
            Some(Obj::Str(s)) => {
                if self.write {
                    write_str_escaped(s, &mut self.out);
                } else {
                    self.out.push_str(s);
                }
            }
            Some(Obj::Vector(items)) => {
                self.out.push_str("#(");
                self.print_seq(items, depth);
                self.out.push(')');
            }
            Some(Obj::Values(items)) => self.print_seq(items, depth),
            Some(Obj::Closure(lam, _)) => {
                if lam.name == "lambda" {
                    self.out.push_str("#<procedure>");
                } else {
                    self.out.push_str(&format!("#<procedure {}>", lam.name));
                }
            }
            Some(Obj::Native(n)) => self.out.push_str(&format!("#<procedure {}>", n.name)),
            Some(Obj::Table(_)) => self.out.push_str("#<hash-table>"),
            Some(Obj::RecordType(rt)) => self.out.push_str(&format!("#<record-type {}>", rt.name)),
            Some(Obj::Record(rtd, fields)) => {
                let rt = match it.heap.objs.get(*rtd as usize) {
                    Some(Obj::RecordType(rt)) => Some(rt.clone()),
                    _ => None,
                };
                match rt {
                    Some(rt) => {
                        self.out.push_str(&format!("#<{}", rt.name));
                        for (name, &f) in rt.fields.iter().zip(fields.iter()) {
                            self.out.push_str(&format!(" {name}: "));
                            self.print(f, depth + 1);
                        }
                        self.out.push('>');
                    }
                    None => self.out.push_str("#<record>"),
                }
            }
            Some(Obj::Promise(p)) => self.out.push_str(match p {
                Promise::Done(_) => "#<promise (forced)>",
                Promise::Delayed(..) => "#<promise>",
            }),
            Some(Obj::Condition {
                message, irritants, ..
            }) => {
                let (m, irr) = (*message, *irritants);
                self.out.push_str("#<error ");
                let w = self.write;
                self.write = true;
                self.print(m, depth + 1);
                if let Some(items) = it.list_vec(irr) {
                    for x in items {
                        self.out.push(' ');
                        self.print(x, depth + 1);
                    }
                }
                self.write = w;
                self.out.push('>');
            }
            Some(Obj::Cont(_)) => self.out.push_str("#<continuation>"),
            Some(Obj::InPort(_)) => self.out.push_str("#<input-port>"),
            Some(Obj::OutPort(_)) => self.out.push_str("#<output-port>"),
            Some(Obj::Macro(s)) => {
                self.out.push_str("#<macro ");
                self.out.push_str(it.sym_name(*s));
                self.out.push('>');
            }
        }
    }
}

/// Which parts of the data get datum labels.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Labels {
    /// Where a cycle comes back to (`write`, `display`).
    Cycles,
    /// Every pair and object reached more than once (`write-shared`).
    Shared,
    /// None (`write-simple`): circular data are cut off at the printing limits.
    Never,
}

impl Interp {
    pub(crate) fn print_to(&self, v: Value, write: bool) -> String {
        self.print_labelled(v, write, Labels::Cycles)
    }

    pub(crate) fn print_labelled(&self, v: Value, write: bool, labels: Labels) -> String {
        let mut p = Printer {
            it: self,
            write,
            out: String::new(),
            items: 0,
            max_bytes: (self.heap.limit.saturating_sub(self.heap.used) / 2).max(MIN_PRINT_BYTES),
            labels: match labels {
                Labels::Never => IdMap::default(),
                _ => cycle_targets(self, v, labels == Labels::Shared),
            },
            next_label: 0,
        };
        p.print(v, 0);
        p.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_scheme() {
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(1000.0), "1000.0");
        assert_eq!(format_float(f64::INFINITY), "+inf.0");
        assert_eq!(format_float(f64::NAN), "+nan.0");
    }
}
