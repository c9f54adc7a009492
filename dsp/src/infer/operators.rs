//! Arithmetic and comparison on the program's own types, as Extempore overloads them.
//!
//! `(+ a b)` whose operands are not both numbers is a call of the bind-func
//! `xtm_addition` of the operands' types, if one is defined; likewise `-`
//! (`xtm_subtraction`), `*` (`xtm_multiplication`), `/` (`xtm_division`), `%`
//! (`xtm_modulo`), `=` (`xtm_equal`), `<>` (`xtm_notequal`), `<` (`xtm_lessthan`) and `>`
//! (`xtm_greaterthan`). `libs/core/rational.xtm` and `math.xtm` define them for
//! `Rational`, `Complexd` and `Complexf`. Numbers, and operands that no overload takes
//! (two pointers compared), keep the builtin operator. Only two-operand calls overload.

use super::poly::Pending;
use super::{Cx, Kind, Target};
use crate::builtin::{Arith, Builtin, Compare};
use crate::error::Result;
use crate::syntax::{Expr, ExprKind, type_err};
use crate::types::Type;

/// The bind-func an operator means on operands that are not numbers.
pub fn overload_name(b: Builtin) -> Option<&'static str> {
    Some(match b {
        Builtin::Arith(Arith::Add) => "xtm_addition",
        Builtin::Arith(Arith::Sub) => "xtm_subtraction",
        Builtin::Arith(Arith::Mul) => "xtm_multiplication",
        Builtin::Arith(Arith::Div) => "xtm_division",
        Builtin::Arith(Arith::Rem) => "xtm_modulo",
        Builtin::Compare(Compare::Eq) => "xtm_equal",
        Builtin::Compare(Compare::Ne) => "xtm_notequal",
        Builtin::Compare(Compare::Lt) => "xtm_lessthan",
        Builtin::Compare(Compare::Gt) => "xtm_greaterthan",
        _ => return None,
    })
}

impl Cx<'_> {
    /// `(op a b)`, builtin `b`, when `op` has overloads: the overload the operands
    /// choose, or the builtin's type (noted as the call's builtin) when they are numbers
    /// or no overload takes them. `None` when `op` has no overloads or is not called with
    /// two operands (then the builtin types the call as usual).
    pub(super) fn operator_call(
        &mut self,
        e: &Expr,
        b: Builtin,
        op: &str,
        args: &[Expr],
    ) -> Result<Option<Type>> {
        let Some(name) = overload_name(b) else {
            return Ok(None);
        };
        if args.len() != 2 || args.iter().any(|a| matches!(a.kind, ExprKind::Lambda(_))) {
            return Ok(None);
        }
        // the definition being inferred is a candidate once its type is known (an
        // overload that uses its operator on other types does not mean itself)
        let mut cands = self.definitions(name, true);
        if matches!(self.shallow(&self.self_ty), Type::Var(_)) {
            cands.retain(|c| c.target != Target::Own);
        }
        if cands.is_empty() {
            return Ok(None);
        }
        let sp = e.span.as_ref();
        let what = format!("({op} ...)");
        let mut ats = Vec::new();
        for a in args {
            ats.push(self.expr(a, None)?);
        }
        let numbers = ats.iter().all(|t| match self.shallow(t) {
            Type::Var(v) => self.subst[v as usize].1 != Kind::Ptr,
            t => t.is_numeric(),
        });
        let equality = matches!(b, Builtin::Compare(Compare::Eq | Compare::Ne));
        if !numbers {
            let ret = self.fresh(Kind::Any);
            let want = Type::Closure(Box::new(ret.clone()), ats.clone());
            let fit: Vec<_> = cands
                .iter()
                .filter(|c| self.trial(&c.ty, &want))
                .cloned()
                .collect();
            if !fit.is_empty() {
                self.pending.push(Pending {
                    id: e.id,
                    name: name.to_string(),
                    cands: fit,
                    want,
                    span: e.span.clone(),
                    what,
                });
                self.progress(false)?;
                return Ok(Some(ret));
            }
            if !equality {
                let given: Vec<String> = ats.iter().map(|t| self.show(t)).collect();
                let mut has: Vec<String> = cands.iter().take(4).map(|c| c.ty.to_string()).collect();
                if cands.len() > 4 {
                    has.push(format!("and {} more", cands.len() - 4));
                }
                return Err(type_err(
                    format!(
                        "{what} of {}: no definition of {name} takes these (it has {})",
                        given.join(" and "),
                        has.join(", ")
                    ),
                    sp,
                ));
            }
        }
        // the builtin: arithmetic on numbers of one type; comparison of two values of one
        // type (numbers, or for = and <> anything), giving i1
        self.out.builtins.insert(e.id, b);
        let compare = matches!(b, Builtin::Compare(_));
        let kind = if equality { Kind::Any } else { Kind::Num };
        let r = self.fresh(kind);
        for (a, t) in args.iter().zip(&ats) {
            self.unify(&r, t, &what, a.span.as_ref().or(sp))?;
        }
        Ok(Some(if compare { Type::I1 } else { r }))
    }
}
