//! The table of a closure's environment variables, which backs xtlang's `closure.var`
//! access (`(osc.phase)`, `(osc.phase:double 0.5)`).
//!
//! One table per compiled lambda that captures variables, written into its definition's
//! closure zone after the outer `let` ran, and found through the code table
//! ([`crate::registry::CodeMem::vars`]). Layout (little-endian, offsets relative to the
//! table's first byte, strings NUL-terminated):
//!
//! | bytes | field |
//! | --- | --- |
//! | 0..4 | magic [`MAGIC`] |
//! | 4..8 | number of entries |
//! | 8..12 | size of the whole table in bytes |
//! | 12..16 | offset of the definition's name |
//! | 16.. | entries of [`ENTRY_BYTES`]: name offset `u32`, type text offset `u32`, byte offset of the variable's slot in the environment `u32`, flags `u32` ([`FLAG_CELL`]: the slot holds the address of a shared cell), type id `u64` |
//! | after | the strings |
//!
//! The table lives in DSP memory, so DSP code can overwrite it: every read here is checked
//! against the arena and a table that does not parse is treated as no table.

use super::arena::Arena;

/// First word of every table: "ZVAR".
pub const MAGIC: u32 = 0x5241_565a;
/// Bytes of the header.
pub const HEADER_BYTES: usize = 16;
/// Bytes of one entry.
pub const ENTRY_BYTES: usize = 24;
/// Entry flag: the environment slot holds the address of the variable's shared cell (a
/// captured variable that is `set!`), not the value itself.
pub const FLAG_CELL: u32 = 1;
/// Entry flag: the variable holds a closure (the middle of a `clo.inner.var` path may be
/// a closure of any type).
pub const FLAG_CLOSURE: u32 = 2;
/// The type id a lookup gives to accept a variable of any closure type.
pub const ANY_CLOSURE: u64 = u64::MAX;
/// Longest variable or type name read back from a table.
const MAX_NAME: usize = 256;
/// Most entries a table holds. The table lives in memory DSP code can overwrite, and the
/// audio thread scans it by name: a damaged count must not make that scan long.
pub const MAX_VARS: usize = 1024;

/// One captured variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarEntry {
    pub name: String,
    /// Its type in xtlang syntax.
    pub ty: String,
    /// The compiler's id of the type (equal types, equal ids).
    pub type_id: u64,
    /// Byte offset of its slot in the closure's environment.
    pub offset: u32,
    /// The slot holds the address of a shared cell.
    pub cell: bool,
    /// The variable holds a closure.
    pub closure: bool,
}

impl VarEntry {
    /// The entry as a lookup reads it.
    pub fn slot(&self) -> Slot {
        Slot {
            type_id: self.type_id,
            offset: self.offset,
            cell: self.cell,
            closure: self.closure,
        }
    }
}

/// The table of the closure of definition `closure` with `vars`, as bytes.
pub fn encode(closure: &str, vars: &[VarEntry]) -> Vec<u8> {
    let mut strings = Vec::new();
    let mut string = |s: &str| -> u32 {
        let at = HEADER_BYTES + vars.len() * ENTRY_BYTES + strings.len();
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
        at as u32
    };
    let own = string(closure);
    let mut entries = Vec::with_capacity(vars.len() * ENTRY_BYTES);
    for v in vars {
        entries.extend_from_slice(&string(&v.name).to_le_bytes());
        entries.extend_from_slice(&string(&v.ty).to_le_bytes());
        entries.extend_from_slice(&v.offset.to_le_bytes());
        let flags = (u32::from(v.cell) * FLAG_CELL) | (u32::from(v.closure) * FLAG_CLOSURE);
        entries.extend_from_slice(&flags.to_le_bytes());
        entries.extend_from_slice(&v.type_id.to_le_bytes());
    }
    let total = HEADER_BYTES + entries.len() + strings.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&(vars.len() as u32).to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&own.to_le_bytes());
    out.extend_from_slice(&entries);
    out.extend_from_slice(&strings);
    out
}

/// An entry as the lookup reads it, without its strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub type_id: u64,
    pub offset: u32,
    pub cell: bool,
    pub closure: bool,
}

impl Slot {
    /// The variable is of type id `type_id`, or holds a closure and `type_id` is
    /// [`ANY_CLOSURE`].
    pub fn is(&self, type_id: u64) -> bool {
        self.type_id == type_id || (type_id == ANY_CLOSURE && self.closure)
    }
}

/// The header of the table at `table`: (entries, total bytes, own-name offset).
fn header(arena: &Arena, table: u64) -> Option<(u32, u32, u32)> {
    let mut h = [0u8; HEADER_BYTES];
    if table == 0 || !arena.read(table, &mut h) {
        return None;
    }
    let word = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let (count, total) = (word(4), word(8));
    let fits = count as usize <= MAX_VARS
        && HEADER_BYTES as u64 + u64::from(count) * ENTRY_BYTES as u64 <= u64::from(total);
    (word(0) == MAGIC && fits && arena.contains(table, u64::from(total))).then_some((
        count,
        total,
        word(12),
    ))
}

/// Entry `i` of a table whose header parsed: (name offset, type offset, slot).
fn entry(arena: &Arena, table: u64, i: u32) -> Option<(u32, u32, Slot)> {
    let mut e = [0u8; ENTRY_BYTES];
    if !arena.read(
        table + HEADER_BYTES as u64 + u64::from(i) * ENTRY_BYTES as u64,
        &mut e,
    ) {
        return None;
    }
    let word = |i: usize| u32::from_le_bytes([e[i], e[i + 1], e[i + 2], e[i + 3]]);
    let mut id = [0u8; 8];
    id.copy_from_slice(&e[16..24]);
    Some((
        word(0),
        word(4),
        Slot {
            type_id: u64::from_le_bytes(id),
            offset: word(8),
            cell: word(12) & FLAG_CELL != 0,
            closure: word(12) & FLAG_CLOSURE != 0,
        },
    ))
}

/// The string at offset `off` of a table of `total` bytes.
fn text(arena: &Arena, table: u64, total: u32, off: u32) -> Option<&[u8]> {
    if off >= total {
        return None;
    }
    let room = (total - off) as usize;
    arena.c_str(table + u64::from(off), room.min(MAX_NAME))
}

/// Finds variable `name` in the table at `table` (`None` when there is no valid table or
/// no such variable). Allocates nothing: the audio thread may call it.
pub fn lookup(arena: &Arena, table: u64, name: &[u8]) -> Option<Slot> {
    let (count, total, _) = header(arena, table)?;
    (0..count).find_map(|i| {
        let (n, _, slot) = entry(arena, table, i)?;
        (text(arena, table, total, n)? == name).then_some(slot)
    })
}

/// The address of the variable's value: its environment slot, or the cell the slot points
/// to. `None` when that lies outside the arena.
pub fn value_addr(arena: &Arena, env: u64, slot: Slot) -> Option<u64> {
    let at = env.checked_add(u64::from(slot.offset))?;
    if !arena.contains(at, 8) {
        return None;
    }
    if !slot.cell {
        return Some(at);
    }
    let mut w = [0u8; 8];
    arena.read(at, &mut w);
    let cell = u64::from_le_bytes(w);
    arena.contains(cell, 8).then_some(cell)
}

/// The whole table: the definition's name and every entry (control thread).
pub fn decode(arena: &Arena, table: u64) -> Option<(String, Vec<VarEntry>)> {
    let (count, total, own) = header(arena, table)?;
    let string = |off| text(arena, table, total, off).map(|b| String::from_utf8_lossy(b).into());
    let closure = string(own)?;
    let mut vars = Vec::with_capacity(count as usize);
    for i in 0..count {
        let (n, t, slot) = entry(arena, table, i)?;
        vars.push(VarEntry {
            name: string(n)?,
            ty: string(t)?,
            type_id: slot.type_id,
            offset: slot.offset,
            cell: slot.cell,
            closure: slot.closure,
        });
    }
    Some((closure, vars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<VarEntry> {
        vec![
            VarEntry {
                name: "region_length".into(),
                ty: "i64".into(),
                type_id: 3,
                offset: 0,
                cell: false,
                closure: false,
            },
            VarEntry {
                name: "i".into(),
                ty: "i64".into(),
                type_id: 3,
                offset: 8,
                cell: true,
                closure: false,
            },
        ]
    }

    #[test]
    fn encodes_header_entries_and_strings() {
        let t = encode("fill", &entries());
        assert_eq!(&t[0..4], &MAGIC.to_le_bytes());
        assert_eq!(u32::from_le_bytes(t[4..8].try_into().unwrap()), 2);
        assert_eq!(
            u32::from_le_bytes(t[8..12].try_into().unwrap()) as usize,
            t.len()
        );
        let strings = b"fill\0region_length\0i64\0i\0i64\0";
        assert_eq!(t.len(), HEADER_BYTES + 2 * ENTRY_BYTES + strings.len());
        assert_eq!(&t[HEADER_BYTES + 2 * ENTRY_BYTES..], strings);
    }

    #[test]
    fn a_closure_variable_matches_any_closure_type_and_others_only_their_own() {
        let arena = Arena::new(1 << 20).expect("arena");
        let table = arena.alloc_block(4096).expect("block").addr();
        let mut vars = entries();
        vars.push(VarEntry {
            name: "voice".into(),
            ty: "[float,i64]*".into(),
            type_id: 9,
            offset: 16,
            cell: false,
            closure: true,
        });
        assert!(arena.write(table, &encode("synth", &vars)));
        assert_eq!(decode(&arena, table), Some(("synth".into(), vars)));
        let voice = lookup(&arena, table, b"voice").expect("voice");
        assert!(voice.is(9) && voice.is(ANY_CLOSURE) && !voice.is(3));
        let i = lookup(&arena, table, b"i").expect("i");
        assert!(i.is(3) && !i.is(ANY_CLOSURE));
    }

    #[test]
    fn reads_back_what_was_written_and_rejects_damage() {
        let arena = Arena::new(1 << 20).expect("arena");
        let block = arena.alloc_block(4096).expect("block");
        let table = block.addr();
        let bytes = encode("fill", &entries());
        assert!(arena.write(table, &bytes));
        assert_eq!(decode(&arena, table), Some(("fill".into(), entries())));
        assert_eq!(
            lookup(&arena, table, b"i"),
            Some(Slot {
                type_id: 3,
                offset: 8,
                cell: true,
                closure: false,
            })
        );
        assert_eq!(lookup(&arena, table, b"j"), None);
        assert_eq!(lookup(&arena, 0, b"i"), None);
        // A cell slot is followed to the cell; a wild cell address is refused.
        let env = table + 2048;
        let cell = table + 3072;
        assert!(arena.write(env + 8, &cell.to_le_bytes()));
        let slot = lookup(&arena, table, b"i").expect("i");
        assert_eq!(value_addr(&arena, env, slot), Some(cell));
        assert!(arena.write(env + 8, &7u64.to_le_bytes()));
        assert_eq!(value_addr(&arena, env, slot), None);
        // A count past the table's size, or a broken magic, is no table.
        assert!(arena.write(table + 4, &1000u32.to_le_bytes()));
        assert_eq!(lookup(&arena, table, b"i"), None);
        // So is a count past MAX_VARS, even when the claimed size would hold it (a lookup
        // on the audio thread never scans more than MAX_VARS entries).
        let big = (HEADER_BYTES + (MAX_VARS + 1) * ENTRY_BYTES) as u32;
        assert!(arena.write(table + 4, &(MAX_VARS as u32 + 1).to_le_bytes()));
        assert!(arena.write(table + 8, &big.to_le_bytes()));
        assert_eq!(lookup(&arena, table, b"i"), None);
        assert!(arena.write(table + 8, &(bytes.len() as u32).to_le_bytes()));
        assert!(arena.write(table + 4, &2u32.to_le_bytes()));
        assert_eq!(lookup(&arena, table, b"j"), None);
        assert!(arena.write(table, &0u32.to_le_bytes()));
        assert_eq!(decode(&arena, table), None);
    }
}
