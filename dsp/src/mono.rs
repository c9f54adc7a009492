//! Monomorphisation: the stage between inference and lowering that turns calls of generic
//! functions into calls of concrete bind-funcs.
//!
//! Before a definition is compiled, it is inferred once to learn which generic instances
//! it calls ([`crate::infer::Instance`]: a template and a concrete type). Each instance not
//! compiled yet is compiled as a bind-func of its own, named `name:TYPE` (its body's own
//! instances first, the same way), from the template's source at that type; then the
//! definition is compiled, its calls linked to the instances by name like any bind-func
//! call. Lowering never sees a type variable. An instance is compiled once and kept; a
//! template redefined compiles its instances again ([`Compiler::template`]). Instances
//! that need instances nest [`MAX_DEPTH`] deep at most (a generic calling itself at an
//! ever larger type is an error, not a hang).

use crate::compile::{Compiler, How, Output, RegGlobals};
use crate::error::{DspError, DspErrorKind, Result};
use crate::generic::{Template, key};
use crate::infer::{self, Instance, SelfDef};
use crate::sexp::Sexp;
use crate::syntax::{Lambda, Parser, type_err};
use crate::types::Type;
use std::cell::Cell;

/// Generic instances nest this deep at most.
pub const MAX_DEPTH: usize = 16;
/// An instance's type is at most this long as text (a type that doubles at each
/// level of a recursion grows past it long before [`MAX_DEPTH`]).
pub const MAX_KEY: usize = 4096;

thread_local! {
    /// How deep [`template_ret`] runs inside itself on this thread.
    static NESTED: Cell<usize> = const { Cell::new(0) };
}

fn too_deep(what: &str) -> DspError {
    type_err(
        format!(
            "instances of generic {what} nest too deep (more than {MAX_DEPTH} levels or a type of over {MAX_KEY} characters): does it call itself at an ever larger type?"
        ),
        None,
    )
}

/// Infers template `template` of `name` at `ty` (a closure type whose parts may be
/// left open as type variables) and returns the definition's closure type.
fn infer_template(g: &RegGlobals, name: &str, template: usize, ty: &Type) -> Result<Type> {
    let Some(t) = g.3.template(name, template) else {
        return Err(DspError::new(
            DspErrorKind::Internal,
            format!("{name} has no template {template}"),
            None,
        ));
    };
    let mut parser = Parser::new(g.2);
    let body = parser.expr(&t.body)?;
    let init = Lambda {
        index: 0,
        params: Vec::new(),
        body: vec![body],
    };
    let me = SelfDef {
        name,
        key: key(name, ty),
        ty: Some(t.sig.clone()),
        concrete: Some(ty.clone()),
    };
    infer::infer(&init, parser.next_id, g, &me).map(|(_, t)| t)
}

/// The result type of template `template` of `name` called with the parameter types of
/// `ty` (whose result is a type variable): what its body makes of them.
pub fn template_ret(g: &RegGlobals, name: &str, template: usize, ty: &Type) -> Result<Type> {
    let depth = NESTED.get();
    if depth >= MAX_DEPTH {
        return Err(too_deep(name));
    }
    NESTED.set(depth + 1);
    let r = infer_template(g, name, template, ty);
    NESTED.set(depth);
    match r? {
        Type::Closure(ret, _) => Ok(*ret),
        other => Err(type_err(
            format!("{name} must make a closure, but its value is {other}"),
            None,
        )),
    }
}

impl Compiler<'_> {
    /// `(bind-func name:TYPE body)` where TYPE has type variables: kept as a template
    /// (its syntax checked now, its types at each instance); the instances made from the
    /// template it replaces are compiled again from it.
    pub(crate) fn template(
        &mut self,
        form: &Sexp,
        name: &str,
        sig: Type,
        zone_bytes: u64,
        expr: &Sexp,
    ) -> Result<Output> {
        Parser::new(self.names).expr(expr)?;
        if !matches!(sig, Type::Closure(..)) {
            return Err(DspError::new(
                DspErrorKind::Type,
                format!("bind-func {name} must have a closure type, not {sig}"),
                form.span.as_ref(),
            ));
        }
        let i = self.generics.add_template(
            name,
            Template {
                sig: sig.clone(),
                body: expr.clone(),
                zone_bytes,
                instances: Vec::new(),
                ctor: false,
            },
        );
        let again = self
            .generics
            .template(name, i)
            .map(|t| t.instances.clone())
            .unwrap_or_default();
        for (key, ty) in again {
            let inst = Instance {
                name: name.to_string(),
                template: i,
                ty,
                key,
            };
            self.specialize(&inst, 0, true)?;
        }
        Ok(Output {
            name: name.to_string(),
            signature: sig.to_string(),
            warnings: Vec::new(),
        })
    }

    /// Compiles the generic instances that the definition `me` (made by `expr`) calls and
    /// that are not compiled yet. Its own errors are left to its compilation.
    pub(crate) fn instances(&mut self, me: &SelfDef, expr: &Sexp, depth: usize) -> Result<()> {
        if self.generics.no_templates() {
            return Ok(());
        }
        let found = {
            let mut parser = Parser::new(self.names);
            let Ok(body) = parser.expr(expr) else {
                return Ok(());
            };
            let init = Lambda {
                index: 0,
                params: Vec::new(),
                body: vec![body],
            };
            let g = RegGlobals(self.reg, self.arena, self.names, self.generics);
            match infer::infer(&init, parser.next_id, &g, me) {
                Ok((typed, _)) => typed.instances,
                Err(_) => return Ok(()),
            }
        };
        for inst in found {
            if inst.key != me.key {
                self.specialize(&inst, depth + 1, false)?;
            }
        }
        Ok(())
    }

    /// Compiles one instance (unless it is compiled already and `again` is false).
    fn specialize(&mut self, inst: &Instance, depth: usize, again: bool) -> Result<()> {
        if !again
            && self
                .reg
                .funcs
                .get(&inst.key)
                .is_some_and(|f| f.ty == inst.ty)
        {
            return Ok(());
        }
        if depth > MAX_DEPTH || inst.key.len() > MAX_KEY {
            return Err(too_deep(&inst.name));
        }
        let Some(t) = self.generics.template(&inst.name, inst.template).cloned() else {
            return Err(DspError::new(
                DspErrorKind::Internal,
                format!("{} has no template {}", inst.name, inst.template),
                None,
            ));
        };
        let me = SelfDef {
            name: &inst.name,
            key: inst.key.clone(),
            ty: Some(t.sig.clone()),
            concrete: Some(inst.ty.clone()),
        };
        self.instances(&me, &t.body, depth)?;
        let zone = if t.zone_bytes == 0 {
            self.default_zone
        } else {
            t.zone_bytes
        };
        self.define_func(
            &t.body,
            &inst.key,
            &me,
            How {
                zone_bytes: zone,
                fresh: false,
            },
            &t.body,
        )
        .map_err(|e| DspError {
            message: format!("{} at {}: {}", inst.name, inst.ty, e.message),
            ..e
        })?;
        self.generics
            .note_instance(&inst.name, inst.template, &inst.key, &inst.ty);
        Ok(())
    }
}
