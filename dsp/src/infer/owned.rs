//! Captured variables a single closure owns: kept in that closure's environment slot
//! instead of a shared cell.
//!
//! A captured variable that is `set!` is a shared cell: its binder and every closure that
//! captures it read and write it through the cell's address, which each closure checks
//! when it is entered (see [`crate::lower`]). When one lambda alone captures the variable
//! and that lambda is made in tail position of the variable's scope (the last expression
//! of the `let` or parameter body, through nested `let`s, `begin`s and `if` arms), nothing
//! else touches the variable once the closure exists: the binder reads and writes it as a
//! local before, the closure record takes its value, and from then on the closure's own
//! environment slot is the variable. Its accesses are then covered by the one check of the
//! environment at the closure's entry, with no cell to allocate, load or check.
//!
//! `(let ((phase 0.0)) (lambda () (set! phase (+ phase 0.01)) phase))` is the common shape
//! (every oscillator and voice of the library). A lambda in a loop of the scope is never in
//! its tail position, so the closure is made at most once per binding.

use super::Typed;
use crate::syntax::{Expr, ExprKind, Lambda};
use std::collections::HashMap;

/// Marks in `typed` ([`super::VarInfo::owner`]) each shared variable of the definition
/// whose init code is `init` that one closure owns.
pub fn assign(init: &Lambda, typed: &mut Typed) {
    let mut capturers: HashMap<usize, Vec<usize>> = HashMap::new();
    for (l, caps) in &typed.captures {
        for v in caps {
            capturers.entry(*v).or_default().push(*l);
        }
    }
    let mut found = Vec::new();
    scope(
        init.index,
        &init.body,
        typed,
        &capturers,
        &mut found,
        |t, _| t.params.get(&init.index).cloned().unwrap_or_default(),
    );
    for (v, l) in found {
        typed.vars[v].owner = Some(l);
    }
}

/// Looks at the variables a scope binds (`vars` of `typed`), whose body is `body`, then
/// at every scope inside `body`.
fn scope(
    id: usize,
    body: &[Expr],
    typed: &Typed,
    capturers: &HashMap<usize, Vec<usize>>,
    found: &mut Vec<(usize, usize)>,
    vars: impl Fn(&Typed, usize) -> Vec<usize>,
) {
    let mut tails = Vec::new();
    tail_lambdas(body, &mut tails);
    for v in vars(typed, id) {
        let info = &typed.vars[v];
        // an aggregate's slot holds the address of its bytes, as a cell's does
        if !(info.mutated && info.captured) || info.ty.is_aggregate() {
            continue;
        }
        if let Some([l]) = capturers.get(&v).map(Vec::as_slice)
            && tails.contains(l)
        {
            found.push((v, *l));
        }
    }
    for e in body {
        walk(e, typed, capturers, found);
    }
}

fn walk(
    e: &Expr,
    typed: &Typed,
    capturers: &HashMap<usize, Vec<usize>>,
    found: &mut Vec<(usize, usize)>,
) {
    match &e.kind {
        ExprKind::Let(binds, body) => {
            for (_, x) in binds {
                walk(x, typed, capturers, found);
            }
            scope(e.id, body, typed, capturers, found, |t, id| {
                t.let_vars.get(&id).cloned().unwrap_or_default()
            });
        }
        ExprKind::Lambda(l) => {
            scope(l.index, &l.body, typed, capturers, found, |t, id| {
                t.params.get(&id).cloned().unwrap_or_default()
            });
        }
        _ => {
            for c in e.children() {
                walk(c, typed, capturers, found);
            }
        }
    }
}

/// The lambdas whose closure is the value of `body` (its last expression, through `let`,
/// `begin` and `if`).
fn tail_lambdas(body: &[Expr], out: &mut Vec<usize>) {
    let Some(last) = body.last() else {
        return;
    };
    match &last.kind {
        ExprKind::Lambda(l) => out.push(l.index),
        ExprKind::Let(_, b) | ExprKind::Begin(b) => tail_lambdas(b, out),
        ExprKind::If(_, t, f) => {
            tail_lambdas(std::slice::from_ref(&**t), out);
            if let Some(f) = f {
                tail_lambdas(std::slice::from_ref(&**f), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::typed_source;

    /// The variables of the definition `src` kept in a closure's slot, and those in a
    /// shared cell, by name.
    fn kinds(src: &str) -> (Vec<String>, Vec<String>) {
        let (typed, _) = typed_source(src);
        let names = |keep: &dyn Fn(&super::super::VarInfo) -> bool| {
            let mut v: Vec<String> = typed
                .vars
                .iter()
                .filter(|i| keep(i))
                .map(|i| i.name.clone())
                .collect();
            v.sort();
            v
        };
        (names(&|i| i.owner.is_some()), names(&|i| i.is_cell()))
    }

    #[test]
    fn a_voice_state_is_owned_by_its_closure() {
        let (owned, cells) = kinds(
            "(let ((phase 0.0) (n 0) (gain 0.5))
               (set! n 1)
               (lambda (f:double) (set! phase (+ phase f)) (set! n (+ n 1)) (* gain phase)))",
        );
        assert_eq!(owned, ["n", "phase"]);
        assert!(cells.is_empty());
    }

    #[test]
    fn a_parameter_set_by_the_closure_it_returns_is_owned() {
        let (owned, _) = kinds("(lambda (p:double) (lambda () (set! p (+ p 1.0)) p))");
        assert_eq!(owned, ["p"]);
    }

    #[test]
    fn a_variable_two_closures_share_stays_a_cell() {
        let (owned, cells) = kinds(
            "(let ((n 0)
                   (get (lambda () n)))
               (lambda () (set! n (+ n 1)) (get)))",
        );
        assert!(owned.is_empty());
        assert_eq!(cells, ["n"]);
    }

    #[test]
    fn a_variable_its_binder_uses_after_the_closure_stays_a_cell() {
        let (owned, cells) = kinds(
            "(let ((n 0)
                   (inc (lambda () (set! n (+ n 1)) n)))
               (inc)
               n)",
        );
        assert!(owned.is_empty());
        assert_eq!(cells, ["n"]);
    }

    #[test]
    fn a_closure_made_in_a_loop_shares_a_cell() {
        let (owned, cells) = kinds(
            "(let ((n 0) (f (lambda () 0)) (i 0))
               (dotimes (i 3) (set! f (lambda () (set! n (+ n 1)) n)))
               f)",
        );
        assert!(owned.is_empty());
        assert_eq!(cells, ["n"]);
    }

    #[test]
    fn a_closure_nested_in_the_owner_keeps_the_cell() {
        let (owned, cells) = kinds(
            "(let ((n 0))
               (lambda () (set! n (+ n 1)) (lambda () n)))",
        );
        assert!(owned.is_empty());
        assert_eq!(cells, ["n"]);
    }
}
