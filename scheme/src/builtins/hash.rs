//! SRFI-69 hash tables (`make-hash-table`, `hash-table-set!`, `hash-table-ref`,
//! `hash-table-ref/default`, `hash-table-delete!`, `hash-table-keys`, ...). A table
//! compares keys with `equal?` unless made with `eq?`, `eqv?` or `string=?`.

use std::hash::{DefaultHasher, Hash, Hasher};

use super::{PlainResult, ctl, plain, proc_arg, type_err};
use crate::error::{Error, ErrorKind};
use crate::hash::{Equiv, Table};
use crate::heap::PAIR_BYTES;
use crate::interp::{Ctrl, Interp, err};
use crate::value::{Obj, V, Value};

impl Interp {
    fn hash_of(&self, v: Value, equiv: Equiv, budget: &mut usize) -> u64 {
        let mut h = DefaultHasher::new();
        self.feed_hash(v, equiv, &mut h, budget);
        h.finish()
    }

    fn feed_hash(&self, v: Value, equiv: Equiv, h: &mut DefaultHasher, budget: &mut usize) {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        match v.get() {
            V::Int(i) => (1u8, i).hash(h),
            V::Float(f) => (2u8, f.to_bits()).hash(h),
            V::Char(c) => (3u8, c).hash(h),
            V::Sym(s) => (4u8, s).hash(h),
            V::Bool(b) => (5u8, b).hash(h),
            V::Prim(p) => (6u8, p).hash(h),
            V::Nil | V::Unspec | V::Eof | V::Undef => 7u8.hash(h),
            V::Pair(i) if equiv == Equiv::Equal => {
                if let Some(p) = self.heap.pair(v) {
                    8u8.hash(h);
                    self.feed_hash(p.car, equiv, h, budget);
                    self.feed_hash(p.cdr, equiv, h, budget);
                } else {
                    (9u8, i).hash(h);
                }
            }
            V::Pair(i) => (9u8, i).hash(h),
            V::Obj(i) => match self.heap.obj(v) {
                Some(Obj::Rat(n, d)) if equiv != Equiv::Eq => (13u8, n, d).hash(h),
                Some(Obj::Str(s)) if matches!(equiv, Equiv::Equal | Equiv::Str) => {
                    (10u8, s).hash(h)
                }
                Some(Obj::Vector(items)) if equiv == Equiv::Equal => {
                    11u8.hash(h);
                    for &x in items.iter().take(8) {
                        self.feed_hash(x, equiv, h, budget);
                    }
                }
                _ => (12u8, i).hash(h),
            },
        }
    }

    fn same_key(&self, a: Value, b: Value, equiv: Equiv) -> bool {
        match equiv {
            Equiv::Eq => a.eqv(b),
            Equiv::Eqv => self.eqv(a, b),
            Equiv::Equal => self.equal(a, b),
            Equiv::Str => match (self.str_of(a), self.str_of(b)) {
                (Some(x), Some(y)) => x == y,
                _ => a.eqv(b),
            },
        }
    }

    fn table<'a>(&'a self, who: &str, t: Value) -> Result<&'a Table, Error> {
        match self.heap.obj(t) {
            Some(Obj::Table(tb)) => Ok(tb),
            _ => Err(type_err(self, who, "a hash table", t)),
        }
    }

    fn table_mut(&mut self, t: Value) -> Option<&mut Table> {
        match self.heap.obj_mut(t) {
            Some(Obj::Table(tb)) => Some(tb),
            _ => None,
        }
    }

    pub(crate) fn table_get(&self, who: &str, t: Value, k: Value) -> Result<Option<Value>, Error> {
        let tb = self.table(who, t)?;
        let h = self.hash_of(k, tb.equiv, &mut 64);
        Ok(tb
            .buckets
            .get(&h)
            .and_then(|b| b.iter().find(|(key, _)| self.same_key(*key, k, tb.equiv)))
            .map(|(_, v)| *v))
    }

    pub(crate) fn table_set(
        &mut self,
        who: &str,
        t: Value,
        k: Value,
        v: Value,
    ) -> Result<(), Error> {
        let equiv = self.table(who, t)?.equiv;
        let h = self.hash_of(k, equiv, &mut 64);
        let pos = self
            .table(who, t)?
            .buckets
            .get(&h)
            .and_then(|b| b.iter().position(|(key, _)| self.same_key(*key, k, equiv)));
        if pos.is_none() {
            // a new entry, and the bucket map's growth when it is full
            let tb = self.table(who, t)?;
            let full = tb.buckets.len() == tb.buckets.capacity();
            let grown = ENTRY_BYTES
                + if full {
                    tb.buckets.capacity() * ENTRY_BYTES
                } else {
                    0
                };
            if !self.heap.room_for(grown) {
                return Err(self.memory_error(grown));
            }
            self.heap.grew(ENTRY_BYTES);
        }
        let mut replaced = None;
        if let Some(tb) = self.table_mut(t) {
            let bucket = tb.buckets.entry(h).or_default();
            match pos {
                Some(i) => replaced = Some(std::mem::replace(&mut bucket[i].1, v)),
                None => {
                    bucket.push((k, v));
                    tb.count += 1;
                }
            }
        }
        if let Some(old) = replaced {
            self.heap.barrier(old);
        }
        Ok(())
    }

    fn table_delete(&mut self, t: Value, k: Value) -> Result<(), Error> {
        let equiv = self.table("hash-table-delete!", t)?.equiv;
        let h = self.hash_of(k, equiv, &mut 64);
        let pos = self
            .table("hash-table-delete!", t)?
            .buckets
            .get(&h)
            .and_then(|b| b.iter().position(|(key, _)| self.same_key(*key, k, equiv)));
        let mut removed = None;
        if let (Some(i), Some(tb)) = (pos, self.table_mut(t))
            && let Some(bucket) = tb.buckets.get_mut(&h)
        {
            removed = Some(bucket.swap_remove(i));
            tb.count -= 1;
            if bucket.is_empty() {
                tb.buckets.remove(&h);
            }
        }
        if let Some((old_k, old_v)) = removed {
            self.heap.barrier(old_k);
            self.heap.barrier(old_v);
        }
        Ok(())
    }
}

/// What an entry costs, as `Obj::payload_bytes` counts it.
const ENTRY_BYTES: usize = 48;

fn make_table(it: &mut Interp, a: &[Value]) -> PlainResult {
    let equiv = match a.first().map(|v| v.get()) {
        None | Some(V::Int(_)) => Equiv::Equal,
        Some(V::Prim(p)) => match it.prims.get(p as usize).map(|p| p.name) {
            Some("eq?") => Equiv::Eq,
            Some("eqv?" | "=") => Equiv::Eqv,
            Some("string=?") => Equiv::Str,
            _ => Equiv::Equal,
        },
        Some(_) => Equiv::Equal,
    };
    Ok(it.alloc(Obj::Table(Box::new(Table::new(equiv)))))
}

fn table_ref(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    match it.table_get("hash-table-ref", a[0], a[1])? {
        Some(v) => match a.get(3) {
            Some(&succeed) => {
                proc_arg(it, "hash-table-ref", succeed)?;
                it.apply_values(succeed, &[v])
            }
            None => Ok(v),
        },
        None => match a.get(2) {
            Some(&fail) => {
                proc_arg(it, "hash-table-ref", fail)?;
                it.apply_values(fail, &[])
            }
            None => Err(err(
                ErrorKind::Range,
                "hash-table-ref: the key is not in the table",
            )
            .with_irritants(vec![it.print_to(a[1], true)])
            .into()),
        },
    }
}

/// The entries of table `t`, when the lists made of them fit under the heap limit.
fn entries(it: &Interp, who: &str, t: Value) -> Result<Vec<(Value, Value)>, Box<Error>> {
    let tb = it.table(who, t)?;
    it.room_for_items(tb.len(), 2 * PAIR_BYTES)?;
    Ok(tb.entries().collect())
}

pub(super) fn install(it: &mut Interp) {
    plain(it, "make-hash-table", 0, Some(2), make_table);
    super::alias(it, "make-equal-hash-table", "make-hash-table");
    plain(it, "make-eq-hash-table", 0, Some(1), |it, _| {
        Ok(it.alloc(Obj::Table(Box::new(Table::new(Equiv::Eq)))))
    });
    plain(it, "make-eqv-hash-table", 0, Some(1), |it, _| {
        Ok(it.alloc(Obj::Table(Box::new(Table::new(Equiv::Eqv)))))
    });
    plain(it, "make-string-hash-table", 0, Some(1), |it, _| {
        Ok(it.alloc(Obj::Table(Box::new(Table::new(Equiv::Str)))))
    });
    plain(it, "hash-table-set!", 3, Some(3), |it, a| {
        it.table_set("hash-table-set!", a[0], a[1], a[2])?;
        Ok(Value::UNSPEC)
    });
    ctl(it, "hash-table-ref", 2, Some(4), table_ref);
    plain(it, "hash-table-ref/default", 3, Some(3), |it, a| {
        Ok(it
            .table_get("hash-table-ref/default", a[0], a[1])?
            .unwrap_or(a[2]))
    });
    plain(it, "hash-table-delete!", 2, Some(2), |it, a| {
        it.table_delete(a[0], a[1])?;
        Ok(Value::UNSPEC)
    });
    plain(it, "hash-table-contains?", 2, Some(2), |it, a| {
        Ok(Value::boolean(
            it.table_get("hash-table-contains?", a[0], a[1])?.is_some(),
        ))
    });
    super::alias(it, "hash-table-exists?", "hash-table-contains?");
    plain(it, "hash-table-count", 1, Some(1), |it, a| {
        Ok(Value::new(V::Int(
            it.table("hash-table-count", a[0])?.len() as i64,
        )))
    });
    super::alias(it, "hash-table-size", "hash-table-count");
    plain(it, "hash-table-keys", 1, Some(1), |it, a| {
        let keys: Vec<Value> = entries(it, "hash-table-keys", a[0])?
            .into_iter()
            .map(|e| e.0)
            .collect();
        Ok(it.list_from(&keys))
    });
    plain(it, "hash-table-values", 1, Some(1), |it, a| {
        let vals: Vec<Value> = entries(it, "hash-table-values", a[0])?
            .into_iter()
            .map(|e| e.1)
            .collect();
        Ok(it.list_from(&vals))
    });
    plain(it, "hash-table->alist", 1, Some(1), |it, a| {
        let es = entries(it, "hash-table->alist", a[0])?;
        let pairs: Vec<Value> = es.into_iter().map(|(k, v)| it.cons(k, v)).collect();
        Ok(it.list_from(&pairs))
    });
    plain(it, "hash-table-clear!", 1, Some(1), |it, a| {
        let tb = it.table("hash-table-clear!", a[0])?;
        let equiv = tb.equiv;
        let old: Vec<(Value, Value)> = tb.entries().collect();
        for (k, v) in old {
            it.heap.barrier(k);
            it.heap.barrier(v);
        }
        if let Some(tb) = it.table_mut(a[0]) {
            *tb = Table::new(equiv);
        }
        Ok(Value::UNSPEC)
    });
    plain(it, "hash-table-copy", 1, Some(2), |it, a| {
        let tb = it.table("hash-table-copy", a[0])?;
        it.room_for_items(tb.len(), ENTRY_BYTES)?;
        let copy = Table {
            equiv: tb.equiv,
            buckets: tb.buckets.clone(),
            count: tb.count,
        };
        Ok(it.alloc(Obj::Table(Box::new(copy))))
    });
}
