//! C functions of shared libraries (Extempore's `bind-lib`): their signatures, the table
//! inference resolves calls against, [`Dsp::bind_c_value`] (`bind-lib-val`: a C global
//! holding a number, as an xtlang global), and [`Dsp::bind_c_function`], which makes one
//! callable by name from xtlang (a direct call, see `lower/foreign.rs`) and, through a
//! bind-func of the same name and type that calls it, from Scheme and as a closure value.
//!
//! What crosses the call is checked as follows (the rule `README.md` states for the
//! livecoder):
//! - a pointer argument is null, or points into a live allocation of DSP memory with
//!   room for at least one element of its type where it points (the check every load
//!   makes: tag, liveness, bounds), or is a pointer a C function returned that lies
//!   outside DSP memory ([`FOREIGN_TAG`]); anything else (stale, freed, out of bounds, a
//!   number made into a pointer) faults before the call. The tag is stripped: C gets the
//!   plain address. How far C reads or writes from there is not checked (`memset` of more
//!   bytes than the allocation holds overruns it, as in C);
//! - a pointer result that lies in a live allocation of DSP memory gets that allocation's
//!   tag back (`memset`'s and `strchr`'s results are checked like the pointer given), one
//!   outside DSP memory gets [`FOREIGN_TAG`]: xtlang may compare it, keep it and pass it
//!   to C functions, but a load or store through it faults (zonal knows nothing of that
//!   memory).

use crate::error::{DspError, DspErrorKind, Result};
use crate::types::Type;
use crate::{Defined, DefinedKind, Dsp};
use std::collections::HashMap;
use std::sync::Arc;

pub use crate::runtime::shadow::FOREIGN_TAG;

/// A C function bound by name: its address and its signature in xtlang's types.
#[derive(Debug, PartialEq)]
pub struct CFunction {
    pub name: String,
    /// The function's address (for the process's life: its library is never unloaded).
    pub addr: u64,
    pub ret: Type,
    pub params: Vec<Type>,
}

/// The C functions bound so far, by name.
#[derive(Default)]
pub struct CFunctions(HashMap<String, Arc<CFunction>>);

impl CFunctions {
    pub fn get(&self, name: &str) -> Option<Arc<CFunction>> {
        self.0.get(name).cloned()
    }

    fn set(&mut self, name: &str, f: Option<Arc<CFunction>>) -> Option<Arc<CFunction>> {
        match f {
            Some(f) => self.0.insert(name.to_string(), f),
            None => self.0.remove(name),
        }
    }
}

fn type_err(message: String) -> DspError {
    DspError::new(DspErrorKind::Type, message, None)
}

/// Why `t` cannot be a parameter (`result` false) or the result of a C function, if it
/// cannot: numbers and pointers pass as C passes them; closures and values held by value
/// (tuples, arrays, vectors) do not.
fn unfit(t: &Type, result: bool) -> Option<String> {
    match t {
        Type::Void if result => None,
        Type::Void => Some("void is not a parameter type".to_string()),
        t if t.is_int() || t.is_real() => None,
        Type::Ptr(_) => None,
        Type::Closure(..) => Some(format!(
            "{t} is an xtlang closure, which C cannot call (zonal makes no C function pointers)"
        )),
        t if t.is_aggregate() => Some(format!(
            "{t} is passed by value, which zonal does not do with C: pass a pointer to it"
        )),
        t => Some(format!("{t} is not a type C functions take")),
    }
}

/// Whether `name` can name a C symbol: letters, digits and `_`, not starting with a digit.
fn c_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Dsp {
    /// `(bind-lib LIB NAME TYPE)` once the engine found `NAME` in the library: from now
    /// on `(NAME args..)` in xtlang calls the C function at `addr` directly, with the
    /// checks of the module header at the boundary, and a bind-func `NAME` of `TYPE` that
    /// calls it is defined (so Scheme calls it and code can take it as a closure). A later
    /// `bind-func NAME` replaces it. A builtin's name (`sin`, `free`, `printf`) keeps
    /// meaning the builtin in xtlang; the bind-func, and so Scheme, calls the C function.
    ///
    /// # Safety
    /// `addr` must be a function of the host's C calling convention whose parameters and
    /// result are `ty`'s, read as C types (`i8`..`i64` as `int8_t`..`int64_t`, `i1` as
    /// `bool`, `float`, `double`, any pointer as a pointer), callable for the rest of the
    /// process's life (compiled code keeps its address).
    pub unsafe fn bind_c_function(&mut self, name: &str, ty: &str, addr: u64) -> Result<Defined> {
        if !c_identifier(name) {
            return Err(DspError::new(
                DspErrorKind::Syntax,
                format!("bind-lib: `{name}` is not the name of a C function"),
                None,
            ));
        }
        let t = self
            .names
            .parse(ty)
            .map_err(|e| type_err(format!("bind-lib {name}: {e}")))?;
        let Type::Closure(ret, params) = &t else {
            return Err(type_err(format!(
                "bind-lib {name}: {ty} is not a function type: write it as [result,arguments...]*, e.g. [double,double]*"
            )));
        };
        let why = unfit(ret, true).or_else(|| params.iter().find_map(|p| unfit(p, false)));
        if let Some(why) = why {
            return Err(type_err(format!("bind-lib {name} {ty}: {why}")));
        }
        let f = CFunction {
            name: name.to_string(),
            addr,
            ret: (**ret).clone(),
            params: params.clone(),
        };
        let before = self.reg.c_functions.set(name, Some(Arc::new(f)));
        let vars: Vec<String> = (0..params.len()).map(|i| format!("a{i}")).collect();
        let src = format!(
            "(bind-func {name}:{t} 256 (lambda ({vars}) ({name} {vars})))",
            vars = vars.join(" ")
        );
        let defined = crate::sexp::parse(&src, "bind-lib")
            .and_then(|forms| match forms.first() {
                Some(form) => self.define_form(form),
                None => Err(DspError::new(DspErrorKind::Internal, "bind-lib", None)),
            })
            .inspect_err(|_| {
                self.reg.c_functions.set(name, before);
            })?;
        Ok(Defined {
            kind: DefinedKind::Func,
            ..defined
        })
    }

    /// `(bind-lib-val LIB NAME TYPE)` once the engine found `NAME` in the library: the C
    /// global variable at `addr` becomes the xtlang global `NAME`, read and `set!` in place
    /// like a `bind-val`. Only numbers: a pointer C keeps in a global is memory zonal
    /// knows nothing of, and a tuple or array would be reached through a pointer outside
    /// DSP memory, which DSP code never dereferences.
    ///
    /// # Safety
    /// `addr` must be a C global of `ty`'s type, read as a C type, that stays at that
    /// address for the rest of the process's life; writes to it from other threads are the
    /// library's business, as in C.
    pub unsafe fn bind_c_value(&mut self, name: &str, ty: &str, addr: u64) -> Result<Defined> {
        if !c_identifier(name) {
            return Err(DspError::new(
                DspErrorKind::Syntax,
                format!("bind-lib-val: `{name}` is not the name of a C variable"),
                None,
            ));
        }
        let t = self
            .names
            .parse(ty)
            .map_err(|e| type_err(format!("bind-lib-val {name}: {e}")))?;
        if !(t.is_int() || t.is_real()) {
            return Err(type_err(format!(
                "bind-lib-val {name} {ty}: zonal binds C variables that hold numbers only (i1 to i64, float, double)"
            )));
        }
        let signature = t.to_string();
        self.reg
            .vals
            .insert(name.to_string(), crate::registry::ValDef { ty: t, addr });
        Ok(Defined {
            name: name.to_string(),
            kind: DefinedKind::Val,
            signature,
            warnings: Vec::new(),
        })
    }

    /// The C function named `name`, if `bind-lib` bound one and no bind-func replaced it.
    pub fn c_function(&self, name: &str) -> Option<Arc<CFunction>> {
        self.reg.c_functions.get(name)
    }

    /// Takes `name` off the C functions while `f` defines it with a `bind-func`; puts it
    /// back if `f` fails, so a failed definition leaves the C function as it was.
    pub(crate) fn replacing_c_function<T>(
        &mut self,
        name: &str,
        f: impl FnOnce(&mut Dsp) -> Result<T>,
    ) -> Result<T> {
        let before = self.reg.c_functions.set(name, None);
        let r = f(self);
        if r.is_err() && before.is_some() {
            self.reg.c_functions.set(name, before);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numbers_and_pointers_cross_to_c() {
        assert!(unfit(&Type::Double, false).is_none());
        assert!(unfit(&Type::ptr(Type::I8), false).is_none());
        assert!(unfit(&Type::Void, true).is_none());
        assert!(unfit(&Type::Void, false).is_some());
        let clo = Type::Closure(Box::new(Type::Void), vec![]);
        assert!(unfit(&clo, false).is_some_and(|m| m.contains("closure")));
        let tuple = Type::Tuple(vec![Type::I64, Type::Double]);
        assert!(unfit(&tuple, true).is_some_and(|m| m.contains("pointer to it")));
    }

    #[test]
    fn c_names_are_identifiers() {
        assert!(c_identifier("cbrt"));
        assert!(c_identifier("_exit2"));
        assert!(!c_identifier("2x"));
        assert!(!c_identifier("a.b"));
        assert!(!c_identifier(""));
    }
}
