//! What a name with several definitions has: generic templates, overloads, constructors.
//!
//! - A `bind-func` whose declared type holds type variables (`(bind-func car:[!a,List{!a}*]*
//!   ...)`) is a template: kept as source, compiled only at the concrete types its callers
//!   use ([`crate::mono`]), each instance a bind-func of its own named by [`key`]
//!   (`car:[i64,List{i64}*]*`). A template redefined with the same type replaces the old
//!   one, and the instances already made are compiled again from it.
//! - A concrete `bind-func` of a name that has a definition of another type is an
//!   overload: the plain name is the newest definition (what Scheme, `dsp:set!` and
//!   `name.var` see), the earlier one stays under `name:TYPE` with its slot, so callers
//!   compiled against it keep calling it. A definition of a type a name already had takes
//!   that overload's slot back (callers see the redefinition at once, as always).
//!   `(bind-poly name other)` adds the bind-func `other` to the definitions of `name`.
//! - `bind-type` of a tuple makes its constructors `Name`, `Name_h` (heap) and `Name_z`
//!   (zone), templates whose parameters are the fields.
//!
//! Inference chooses among a name's definitions by type ([`crate::infer`]'s `poly`).

use crate::error::{DspError, DspErrorKind, Result};
use crate::infer::{Candidate, Target};
use crate::registry::Registry;
use crate::sexp::{Sexp, parse};
use crate::types::{Type, TypeNames};
use std::collections::HashMap;

/// The name of the bind-func that is `name` at type `ty`.
pub fn key(name: &str, ty: &Type) -> String {
    format!("{name}:{ty}")
}

/// A generic function kept as source.
#[derive(Clone, Debug)]
pub struct Template {
    /// The declared type, with type variables.
    pub sig: Type,
    /// The expression that makes the closure (a lambda, or a `let` around one).
    pub body: Sexp,
    pub zone_bytes: u64,
    /// The instances compiled so far: (bind-func name, type).
    pub instances: Vec<(String, Type)>,
    /// A type's constructor (a type redefined replaces it whatever its type).
    pub ctor: bool,
}

/// The templates and overloads of every name.
#[derive(Default)]
pub struct Generics {
    templates: HashMap<String, Vec<Template>>,
    /// The other bind-funcs a name may mean: its earlier overloads and `bind-poly`s.
    overloads: HashMap<String, Vec<String>>,
}

impl Generics {
    /// Adds a template of `name`, replacing one of the same type; returns its number.
    pub fn add_template(&mut self, name: &str, t: Template) -> usize {
        let list = self.templates.entry(name.to_string()).or_default();
        match list.iter().position(|o| o.sig == t.sig || o.ctor && t.ctor) {
            Some(i) => {
                // the instances made so far are compiled again if the type is the same
                let instances = if list[i].sig == t.sig {
                    std::mem::take(&mut list[i].instances)
                } else {
                    Vec::new()
                };
                list[i] = Template { instances, ..t };
                i
            }
            None => {
                list.push(t);
                list.len() - 1
            }
        }
    }

    /// True when no generic template exists yet (then no definition has instances).
    pub fn no_templates(&self) -> bool {
        self.templates.is_empty()
    }

    pub fn template(&self, name: &str, i: usize) -> Option<&Template> {
        self.templates.get(name)?.get(i)
    }

    /// Notes that instance `key` of template `i` of `name` was compiled at `ty`.
    pub fn note_instance(&mut self, name: &str, i: usize, key: &str, ty: &Type) {
        if let Some(t) = self.templates.get_mut(name).and_then(|l| l.get_mut(i))
            && !t.instances.iter().any(|(k, _)| k == key)
        {
            t.instances.push((key.to_string(), ty.clone()));
        }
    }

    /// The other bind-funcs `name` may mean.
    pub fn overloads(&self, name: &str) -> &[String] {
        self.overloads.get(name).map_or(&[], Vec::as_slice)
    }

    /// `(bind-poly name other)`: `name` may also mean the bind-func `other`.
    pub fn add_overload(&mut self, name: &str, other: &str) {
        let list = self.overloads.entry(name.to_string()).or_default();
        if !list.iter().any(|k| k == other) {
            list.push(other.to_string());
        }
    }

    fn remove_overload(&mut self, name: &str, other: &str) {
        if let Some(list) = self.overloads.get_mut(name) {
            list.retain(|k| k != other);
        }
    }

    /// Every definition of `name`: its bind-funcs, then its templates.
    pub fn candidates(&self, reg: &Registry, name: &str) -> Vec<Candidate> {
        let mut out = Vec::new();
        let keys = std::iter::once(name).chain(self.overloads(name).iter().map(String::as_str));
        for k in keys {
            if let Some(f) = reg.funcs.get(k)
                && !out.iter().any(|c: &Candidate| c.ty == f.ty)
            {
                out.push(Candidate {
                    ty: f.ty.clone(),
                    target: Target::Func(k.to_string()),
                });
            }
        }
        if let Some(list) = self.templates.get(name) {
            for (i, t) in list.iter().enumerate() {
                out.push(Candidate {
                    ty: t.sig.clone(),
                    target: Target::Template(i),
                });
            }
        }
        out
    }

    /// Makes room for a new definition of `name` at type `ty` before it takes its slot: a
    /// current definition of another type moves to its overload name, and an overload of
    /// type `ty` comes back to the plain name (its slot is reused). Returns the renames
    /// made, for [`Generics::undo`] if the definition fails.
    pub fn place(&mut self, reg: &mut Registry, name: &str, ty: &Type) -> Vec<(String, String)> {
        let mut renames = Vec::new();
        let Some(old) = reg.funcs.get(name).map(|f| f.ty.clone()) else {
            return renames;
        };
        if old == *ty {
            return renames;
        }
        let aside = key(name, &old);
        reg.rename(name, &aside);
        self.add_overload(name, &aside);
        renames.push((name.to_string(), aside));
        let mine = key(name, ty);
        if reg.funcs.get(&mine).is_some_and(|f| f.ty == *ty) {
            reg.rename(&mine, name);
            self.remove_overload(name, &mine);
            renames.push((mine, name.to_string()));
        }
        renames
    }

    /// Undoes [`Generics::place`] (its renames, newest first).
    pub fn undo(&mut self, reg: &mut Registry, name: &str, renames: Vec<(String, String)>) {
        for (from, to) in renames.into_iter().rev() {
            reg.rename(&to, &from);
            if to == name {
                self.add_overload(name, &from);
            } else {
                self.remove_overload(name, &to);
            }
        }
    }
}

/// The constructors of tuple type `name` (`ty` as stored by [`TypeNames::define`]):
/// `Name` and `Name_z` allocate in the current zone, `Name_h` on the heap; each takes the
/// fields in order and returns the pointer.
pub fn constructors(names: &TypeNames, name: &str, ty: &Type) -> Result<Vec<(String, Template)>> {
    let Type::Tuple(fields) = ty else {
        return Ok(Vec::new());
    };
    let lookup = |n: &str, args: &[Type]| names.instance(n, args);
    let params: Vec<Type> = fields.iter().map(|f| f.unfold(&lookup)).collect();
    let sig = Type::Closure(Box::new(Type::ptr(ty.clone())), params);
    let args: Vec<String> = (0..fields.len()).map(|i| format!("field{i}")).collect();
    let mut out = Vec::new();
    for (suffix, alloc) in [("", "zalloc"), ("_z", "zalloc"), ("_h", "halloc")] {
        let text = format!(
            "(lambda ({a}) (let ((made:{name}* ({alloc}))) (tfill! made {a}) made))",
            a = args.join(" ")
        );
        let mut forms = parse(&text, &format!("constructor {name}{suffix}"))?;
        let Some(body) = forms.pop() else {
            return Err(DspError::new(DspErrorKind::Internal, "constructor", None));
        };
        out.push((
            format!("{name}{suffix}"),
            Template {
                sig: sig.clone(),
                body,
                zone_bytes: 0,
                instances: Vec::new(),
                ctor: true,
            },
        ));
    }
    Ok(out)
}

impl crate::compile::Compiler<'_> {
    /// `(bind-poly name other)`: calls of `name` may mean the bind-func `other` (chosen by
    /// type among `name`'s definitions).
    pub fn bind_poly(&mut self, form: &Sexp, items: &[Sexp]) -> Result<crate::compile::Output> {
        let sp = form.span.as_ref();
        let (Some(name), Some(other), 3) = (
            items.get(1).and_then(Sexp::sym),
            items.get(2).and_then(Sexp::sym),
            items.len(),
        ) else {
            return crate::error::syntax(
                format!("bind-poly takes (bind-poly name bind-func), found `{form}`"),
                sp,
            );
        };
        let Some(f) = self.reg.funcs.get(other) else {
            return Err(DspError::new(
                DspErrorKind::Unbound,
                format!("bind-poly {name} {other}: {other} is not a bind-func"),
                sp,
            ));
        };
        let signature = f.ty.to_string();
        self.generics.add_overload(name, other);
        Ok(crate::compile::Output {
            name: name.to_string(),
            signature,
            warnings: Vec::new(),
        })
    }
}
