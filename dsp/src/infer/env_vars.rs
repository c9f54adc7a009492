//! `closure.var` and `closure.inner.var` in xtlang: the type of a captured variable
//! read or set from outside its closure, from the bind-func's variable table, the
//! annotation or the value.

use super::{Cx, Kind, Ref};
use crate::error::{DspError, Result};
use crate::syntax::{EnvVar, Expr, type_err};
use crate::types::Type;

/// The type of variable `var` among the captured variables `vars` of closure `clo`,
/// checked against the type the code gave, if any.
pub fn find_var(
    clo: &str,
    var: &str,
    vars: &[(String, Type)],
    given: Option<&Type>,
) -> Result<Type> {
    let Some((_, t)) = vars.iter().find(|(n, _)| n == var) else {
        let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
        let has = if names.is_empty() {
            "it captures no variables".to_string()
        } else {
            format!("its variables are {}", names.join(", "))
        };
        return Err(DspError::new(
            crate::error::DspErrorKind::Unbound,
            format!("{clo} has no variable {var}: {has}"),
            None,
        ));
    };
    match given {
        Some(g) if g != t => Err(type_err(
            format!("type clash in {clo}.{var}: the variable is {t}, not {g}"),
            None,
        )),
        _ => Ok(t.clone()),
    }
}

impl Cx<'_> {
    /// `(clo.var[:TYPE] [value])`: the variable's type, from the bind-func's table or, for a
    /// local closure, from the annotation. `(clo.inner.var ...)`: `inner` is a closure held
    /// in a variable of `clo`, found by name when the access runs, as `var` is, whose type
    /// is the one given or the value's.
    pub(super) fn env_var(&mut self, e: &Expr, ev: &EnvVar) -> Result<Type> {
        let sp = e.span.as_ref();
        let clo = &ev.closure;
        let mut whole = clo.clone();
        for p in ev.path.iter().chain([&ev.var]) {
            whole.push('.');
            whole.push_str(p);
        }
        // the first name after the closure: the variable, or the closure a path goes on in
        let next = ev.path.first().unwrap_or(&ev.var);
        let unbound = |m: String| DspError::new(crate::error::DspErrorKind::Unbound, m, sp);
        let local = self.lookup(clo);
        let outer = if let Some(v) = local {
            self.out.refs.insert(e.id, Ref::Local(v));
            let ct = self.out.vars[v].ty.clone();
            if !matches!(self.shallow(&ct), Type::Closure(..)) {
                return Err(type_err(
                    format!("{whole}: {clo} is {}, not a closure", self.show(&ct)),
                    sp,
                ));
            }
            None
        } else if clo == self.self_name {
            return Err(unbound(format!(
                "{whole}: {clo} is being defined here; inside it, use {next} by name"
            )));
        } else if let Some(gt) = self.globals.val(clo) {
            // a bind-val holding a closure (`(bind-val bs1 [void]* (beat_scheduler ...))`),
            // read when the access runs
            if !matches!(gt, Type::Closure(..)) {
                return Err(type_err(
                    format!("{whole}: {clo} is {gt}, not a closure"),
                    sp,
                ));
            }
            self.out.refs.insert(e.id, Ref::Global(clo.clone()));
            None
        } else if let Some(vars) = self.globals.closure_vars(clo) {
            self.out.refs.insert(e.id, Ref::Func(clo.clone()));
            Some(vars)
        } else {
            return Err(unbound(format!("{whole}: {clo} is not defined")));
        };
        let at_var = |vars: &[(String, Type)], given| {
            find_var(clo, next, vars, given).map_err(|e| DspError {
                span: sp.cloned(),
                ..e
            })
        };
        let ty = match (&outer, ev.path.is_empty()) {
            // a bind-func's own variable: its table gives the type
            (Some(vars), true) => at_var(vars, ev.ty.as_ref())?,
            // a local closure's: the type must be given
            (None, true) if local.is_some() => {
                ev.ty.clone().ok_or_else(|| {
                    type_err(
                        format!(
                            "{whole}: {clo} is a local closure, so give the variable's type, e.g. ({whole}:i64)"
                        ),
                        sp,
                    )
                })?
            }
            // a bind-val's closure's, or one at the end of a path: the type given, or
            // what the value or the use makes it (the closure's table checks it when the
            // access runs); a path's last variable is read only with its type given
            (outer, path) => {
                if let Some(vars) = outer.as_ref().filter(|_| !path) {
                    let t = at_var(vars, None)?;
                    if !matches!(t, Type::Closure(..)) {
                        return Err(type_err(
                            format!("{whole}: {clo}.{next} is {t}, not a closure"),
                            sp,
                        ));
                    }
                }
                match &ev.ty {
                    Some(t) => t.clone(),
                    None if !path && ev.value.is_none() => {
                        return Err(type_err(
                            format!("{whole}: give the variable's type, e.g. ({whole}:double)"),
                            sp,
                        ));
                    }
                    None => self.fresh(Kind::Any),
                }
            }
        };
        if let Some(v) = &ev.value {
            let vt = self.expr(v, Some(&ty))?;
            self.unify(&ty, &vt, &format!("({whole} value)"), sp)?;
        }
        Ok(ty)
    }
}
