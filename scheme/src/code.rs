//! What compiled code owns outside its node tree: the heap constants it quotes and
//! the call sites it reports errors at. Each top-level compilation makes one
//! [`Unit`]; every [`crate::compile::Lambda`] compiled in it holds the unit, and so
//! does the evaluation of the top-level form. The unit's constants are roots of the
//! collector while the unit lives, and when the last node tree holding it is dropped
//! (its closures collected, its evaluation over) its constants become garbage and
//! its sites are reused. A constant mutated to hold a closure of its own unit keeps
//! that unit alive (a cycle through Rust ownership); quoted data is immutable in
//! Scheme, so only programs that break that rule keep such code.

use std::cell::RefCell;
use std::rc::Rc;

use crate::error::Pos;
use crate::value::Value;

/// What a call site in compiled code remembers for error messages.
pub(crate) struct Site {
    pub pos: Option<Pos>,
    pub name: String,
}

/// The constants and sites of one compilation.
#[derive(Default)]
struct UnitSlot {
    consts: Vec<Value>,
    sites: Vec<u32>,
}

/// Every live unit's constants and every call site, shared by the interpreter and
/// the units (which release their entries when dropped).
#[derive(Default)]
pub(crate) struct CodeTable {
    units: Vec<UnitSlot>,
    unit_free: Vec<u32>,
    sites: Vec<Site>,
    site_free: Vec<u32>,
}

/// The constants and sites of one top-level compilation, released when dropped.
pub(crate) struct Unit {
    id: u32,
    table: Rc<RefCell<CodeTable>>,
}

impl Drop for Unit {
    fn drop(&mut self) {
        // the table is borrowed only for the length of a method below, none of
        // which drops a unit; were it borrowed, the entries would only leak
        if let Ok(mut t) = self.table.try_borrow_mut() {
            t.release(self.id);
        }
    }
}

impl CodeTable {
    /// A new, empty unit.
    pub(crate) fn new_unit(table: &Rc<RefCell<CodeTable>>) -> Rc<Unit> {
        let mut t = table.borrow_mut();
        let id = match t.unit_free.pop() {
            Some(id) => id,
            None => {
                t.units.push(UnitSlot::default());
                (t.units.len() - 1) as u32
            }
        };
        Rc::new(Unit {
            id,
            table: table.clone(),
        })
    }

    fn release(&mut self, id: u32) {
        let Some(slot) = self.units.get_mut(id as usize) else {
            return;
        };
        slot.consts.clear();
        for s in slot.sites.drain(..) {
            if let Some(site) = self.sites.get_mut(s as usize) {
                site.name = String::new();
                site.pos = None;
            }
            self.site_free.push(s);
        }
        slot.consts.shrink_to(4);
        slot.sites.shrink_to(4);
        self.unit_free.push(id);
    }

    /// Keeps `v` alive as long as `unit` lives.
    pub(crate) fn add_const(&mut self, unit: &Unit, v: Value) {
        if let Some(slot) = self.units.get_mut(unit.id as usize) {
            slot.consts.push(v);
        }
    }

    /// A call site, released with `unit` (kept for ever without one).
    pub(crate) fn add_site(&mut self, unit: Option<&Unit>, pos: Option<Pos>, name: String) -> u32 {
        let site = Site { pos, name };
        let i = match self.site_free.pop() {
            Some(i) => {
                self.sites[i as usize] = site;
                i
            }
            None => {
                self.sites.push(site);
                (self.sites.len() - 1) as u32
            }
        };
        if let Some(slot) = unit.and_then(|u| self.units.get_mut(u.id as usize)) {
            slot.sites.push(i);
        }
        i
    }

    pub(crate) fn site(&self, i: u32) -> Option<&Site> {
        self.sites.get(i as usize)
    }

    /// Every constant of every live unit.
    pub(crate) fn consts(&self) -> impl Iterator<Item = &Value> {
        self.units.iter().flat_map(|u| u.consts.iter())
    }

    /// How many units and call sites are live (for tests of long sessions).
    pub(crate) fn counts(&self) -> (usize, usize) {
        (
            self.units.len() - self.unit_free.len(),
            self.sites.len() - self.site_free.len(),
        )
    }
}
