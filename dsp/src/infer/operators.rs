//! Arithmetic and comparison on the program's own types, as Extempore overloads them.
//!
//! `(+ a b)` whose operands are not both numbers is a call of the bind-func
//! `xtm_addition` of the operands' types, if one is defined; likewise `-`
//! (`xtm_subtraction`), `*` (`xtm_multiplication`), `/` (`xtm_division`), `%`
//! (`xtm_modulo`), `=` (`xtm_equal`), `<>` (`xtm_notequal`), `<` (`xtm_lessthan`) and `>`
//! (`xtm_greaterthan`). `libs/core/rational.xtm` and `math.xtm` define them for
//! `Rational`, `Complexd` and `Complexf`. Numbers, and operands that no overload takes
//! (two pointers compared), keep the builtin operator. Only two-operand calls overload.
//! `(print x)` is likewise the bind-func `print` of `x`'s type where one is defined
//! (`(bind-func print:[void,Point*]* ...)`), else the builtin print.

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
        Builtin::Print => "print",
        _ => return None,
    })
}

/// What an operator's call is, once its overloads are looked at.
pub(super) enum OpCall {
    /// A call of the overload chosen (or to be chosen) by the operands: its result type.
    Overload(Type),
    /// The builtin operator, on operands whose types are already inferred.
    Builtin(Vec<Type>),
    /// The operator has no overloads, or is not called with two operands: the builtin
    /// types the call as usual.
    NoOverloads,
}

impl Cx<'_> {
    /// `(op a b)` when `op` has overloads: the overload the operands choose, or the
    /// builtin operator when they are numbers (or vectors), or, for `=` and `<>`, when
    /// no overload takes them.
    pub(super) fn operator_call(
        &mut self,
        e: &Expr,
        b: Builtin,
        op: &str,
        args: &[Expr],
    ) -> Result<OpCall> {
        let Some(name) = overload_name(b) else {
            return Ok(OpCall::NoOverloads);
        };
        let arity = if b == Builtin::Print { 1 } else { 2 };
        if args.len() != arity || args.iter().any(|a| matches!(a.kind, ExprKind::Lambda(_))) {
            return Ok(OpCall::NoOverloads);
        }
        // the definition being inferred is a candidate once its type is known (an
        // overload that uses its operator on other types does not mean itself)
        let mut cands = self.definitions(name, true);
        if matches!(self.shallow(&self.self_ty), Type::Var(_)) {
            cands.retain(|c| c.target != Target::Own);
        }
        if cands.is_empty() {
            return Ok(OpCall::NoOverloads);
        }
        let sp = e.span.as_ref();
        let what = format!("({op} ...)");
        let mut ats = Vec::new();
        for a in args {
            ats.push(self.expr(a, None)?);
        }
        // a value whose type is not known yet may still be one a `print` overload takes
        let open = |k: Kind| k == Kind::Ptr || b == Builtin::Print && k == Kind::Any;
        let numbers = ats.iter().all(|t| match self.shallow(t) {
            Type::Var(v) => !open(self.subst[v as usize].1),
            t => t.is_numeric() || t.vector_lanes().is_some(),
        });
        if numbers {
            return Ok(OpCall::Builtin(ats));
        }
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
                or_builtin: b == Builtin::Print,
            });
            self.progress(false)?;
            return Ok(OpCall::Overload(ret));
        }
        if matches!(
            b,
            Builtin::Compare(Compare::Eq | Compare::Ne) | Builtin::Print
        ) {
            // equality of anything else (two pointers, say), and printing a value no
            // `print` overload takes, are the builtin's
            return Ok(OpCall::Builtin(ats));
        }
        let given: Vec<String> = ats.iter().map(|t| self.show(t)).collect();
        let mut has: Vec<String> = cands.iter().take(4).map(|c| c.ty.to_string()).collect();
        if cands.len() > 4 {
            has.push(format!("and {} more", cands.len() - 4));
        }
        Err(type_err(
            format!(
                "{what} of {}: no definition of {name} takes these (it has {})",
                given.join(" and "),
                has.join(", ")
            ),
            sp,
        ))
    }
}
