//! The prelude, compiled on demand. Every `(define (name ...) ...)` of
//! `prelude.scm` becomes a stub that compiles the real definition the first time
//! `name` is called, so that starting an interpreter costs a scan of the text
//! rather than reading and compiling some seventy procedures most programs never
//! call (that was two thirds of `zonal run`'s start-up). Other forms (macros,
//! variables) are evaluated at once, after the stubs exist.
//!
//! A definition compiled late is compiled as it would have been at start-up: with
//! the macros and special forms that existed then, not the livecoder's later ones.
//! If the livecoder has redefined `name` in the meantime, the stub still runs the
//! prelude's procedure and leaves the livecoder's definition in place.

use std::rc::Rc;

use rustc_hash::FxHashMap;

use crate::compile::{GlobalCall, Lambda, Node};
use crate::datum::Datum;
use crate::error::{Error, ErrorKind};
use crate::heap::NO_FRAME;
use crate::interp::{Interp, Macro, Special};
use crate::value::{Obj, V, Value};

/// The hidden native that compiles a prelude definition and returns its procedure
/// (a name with a space cannot be typed).
const AUTOLOAD: &str = " autoload";

/// A prelude definition, compiled or not yet.
struct Lazy {
    text: &'static str,
    /// What the global held once the stubs were made.
    stub: Value,
    compiled: Option<Value>,
}

/// What compiling a prelude form sees: the macros and special forms of start-up.
struct StartupSyntax {
    macros: FxHashMap<u32, Macro>,
    specials: FxHashMap<u32, Rc<Special>>,
}

/// Loads `src` (the prelude): stubs for its procedure definitions, its other forms
/// evaluated in order. Positions are dropped by `prepare` on every datum read.
pub(crate) fn load(
    it: &mut Interp,
    src: &'static str,
    prepare: fn(&mut Datum),
) -> Result<(), Error> {
    let Some(forms) = top_level_forms(src) else {
        // not a text the scanner understands: read and evaluate all of it now
        return eval_text(it, src, prepare);
    };
    let mut lazy: Vec<(&str, &'static str)> = Vec::new();
    let mut eager = Vec::new();
    for text in forms {
        match defined_procedure(text) {
            Some(name) => lazy.push((name, text)),
            None => eager.push(text),
        }
    }
    let mut table: FxHashMap<u32, Lazy> = FxHashMap::default();
    for (name, text) in lazy {
        let stub = make_stub(it, name);
        let s = it.intern(name);
        table.insert(
            s,
            Lazy {
                text,
                stub,
                compiled: None,
            },
        );
    }
    for text in eager {
        eval_text(it, text, prepare)?;
    }
    // a later redefinition must not free what compiling a prelude definition needs
    for m in it.macros.values() {
        if let Macro::Proc(v) = m {
            it.pinned.push(*v);
        }
    }
    let syntax = StartupSyntax {
        macros: it.macros.clone(),
        specials: it.specials.clone(),
    };
    it.register_native(AUTOLOAD, move |it, args| {
        let s = match args.first().map(|v| v.get()) {
            Some(V::Sym(s)) => s,
            _ => return Err(Error::new(ErrorKind::Native, "autoload wants a symbol")),
        };
        let Some(entry) = table.get_mut(&s) else {
            return Err(Error::new(
                ErrorKind::Native,
                format!("{} is not a procedure of the prelude", it.sym_name(s)),
            ));
        };
        if let Some(v) = entry.compiled {
            return Ok(v);
        }
        let before = it.globals[s as usize];
        let macros = std::mem::replace(&mut it.macros, syntax.macros.clone());
        let specials = std::mem::replace(&mut it.specials, syntax.specials.clone());
        let local = std::mem::take(&mut it.local_macros);
        let r = eval_text(it, entry.text, prepare);
        it.local_macros = local;
        it.macros = macros;
        it.specials = specials;
        r?;
        let v = it.globals[s as usize];
        if !before.eqv(entry.stub) {
            // the livecoder's own definition of the name stays
            it.globals[s as usize] = before;
        }
        it.pinned.push(v);
        entry.compiled = Some(v);
        Ok(v)
    });
    Ok(())
}

/// Defines `name` as `(lambda args (apply (autoload 'name) args))`, built as a
/// compiled tree directly (compiling seventy stubs from text cost as much as half
/// the prelude).
fn make_stub(it: &mut Interp, name: &str) -> Value {
    let s = it.intern(name);
    let apply = it.intern(" apply");
    let autoload = it.intern(AUTOLOAD);
    let site = it.add_site(None, name.to_string());
    let call = |sym, args: Vec<Node>| {
        Node::GlobalCall(Box::new(GlobalCall {
            sym,
            sym_site: site,
            simple: args
                .iter()
                .all(|a| matches!(a, Node::Const(_) | Node::Local(_))),
            args: args.into_boxed_slice(),
            site,
        }))
    };
    let find = call(autoload, vec![Node::Const(Value::new(V::Sym(s)))]);
    let lambda = Lambda {
        name: name.to_string(),
        nreq: 0,
        rest: true,
        extra: 0,
        stack_frame: true,
        body: call(apply, vec![find, Node::Local(0)]),
        pos: None,
        source: None,
        unit: None,
    };
    let stub = it.alloc(Obj::Closure(Rc::new(lambda), NO_FRAME));
    it.globals[s as usize] = stub;
    stub
}

fn eval_text(it: &mut Interp, text: &str, prepare: fn(&mut Datum)) -> Result<(), Error> {
    let mut forms = Interp::read_all(text, "prelude.scm")?;
    forms.iter_mut().for_each(prepare);
    it.on_big_stack(|it| forms.iter().try_for_each(|f| it.eval_datum(f).map(drop)))
}

/// The name a top-level `(define (name ...) ...)` defines.
fn defined_procedure(form: &str) -> Option<&str> {
    let rest = form.strip_prefix("(define (")?;
    let end = rest.find(|c: char| c.is_whitespace() || c == ')')?;
    let name = &rest[..end];
    (!name.is_empty() && !name.starts_with('(')).then_some(name)
}

/// Splits Scheme text into the texts of its top-level forms without reading them,
/// skipping comments and whitespace between forms and honouring strings, `#\x`
/// characters and block comments inside them. `None` when the text holds anything
/// else at top level (then the caller reads it properly).
fn top_level_forms(src: &str) -> Option<Vec<&str>> {
    let bytes = src.as_bytes();
    let mut forms = Vec::new();
    let mut i = 0;
    let mut depth = 0usize;
    let mut start = 0;
    while i < bytes.len() {
        match bytes[i] {
            b';' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'#' if bytes.get(i + 1) == Some(&b'|') => {
                let close = src[i + 2..].find("|#")?;
                i += close + 4;
                continue;
            }
            b'#' if bytes.get(i + 1) == Some(&b'\\') && depth > 0 => i += 2,
            b'"' if depth > 0 => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' => {
                if depth == 0 {
                    start = i;
                }
                depth += 1;
            }
            b')' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    forms.push(&src[start..=i]);
                }
            }
            c if depth == 0 && !c.is_ascii_whitespace() => return None,
            _ => {}
        }
        i += 1;
    }
    (depth == 0).then_some(forms)
}

/// Compiles every prelude definition not yet compiled (tests: the prelude must have
/// no error hiding in a procedure nobody called).
#[cfg(test)]
pub(crate) fn compile_all(it: &mut Interp, src: &'static str) -> Result<usize, Error> {
    let names: Vec<&str> = top_level_forms(src)
        .unwrap_or_default()
        .into_iter()
        .filter_map(defined_procedure)
        .collect();
    let s = it.intern(AUTOLOAD);
    let autoload = it.globals[s as usize];
    for name in &names {
        let s = it.sym(name);
        it.apply(autoload, &[s])?;
    }
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scanner_splits_forms_and_finds_their_names() {
        let src = "; a comment\n(define (f x) \"a ) string\" #\\) x)\n#| block ( |#\n(define v 1)\n(define (g . r) r)";
        let forms = top_level_forms(src).expect("scans");
        assert_eq!(forms.len(), 3);
        assert_eq!(defined_procedure(forms[0]), Some("f"));
        assert_eq!(defined_procedure(forms[1]), None);
        assert_eq!(defined_procedure(forms[2]), Some("g"));
        assert!(top_level_forms("(a))").is_none());
        assert!(top_level_forms("x (a)").is_none());
    }
}
