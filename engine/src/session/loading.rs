//! `sys:load` and `sys:load-preload-check`: a library or a file read form by form
//! into the session, zonal's embedded libraries first (see [`crate::libs`]).

use super::*;

/// `(sys:load path [quiet])`, as Extempore's: evaluates the forms of a library or a
/// file. A path naming one of zonal's libraries ([`crate::libs`]) loads zonal's
/// version; any other is read from the file system. As in Extempore, a form that
/// fails is reported and the next one runs; then the load is an error naming how
/// many failed. A library that is already loaded stops at its
/// `(sys:load-preload-check 'name)` and the load returns `#f`; otherwise `#t`.
pub(super) fn sys_load(
    interp: &mut Interp,
    state: &Rc<RefCell<State>>,
    args: &[Value],
) -> Result<Value, Error> {
    let usage =
        "sys:load takes a path and, optionally, 'quiet: (sys:load \"libs/core/audio_dsp.xtm\")";
    let (Some(&arg), true) = (args.first(), args.len() <= 2) else {
        return Err(Error::new(ErrorKind::Arity, usage));
    };
    let Some(path) = interp.as_string(arg) else {
        return Err(
            Error::new(ErrorKind::Type, usage).with_irritants(vec![interp.write_string(arg)])
        );
    };
    let read;
    let src = match crate::libs::embedded(&path) {
        Some(text) => text,
        None => match std::fs::read_to_string(&path) {
            Ok(text) => {
                read = text;
                read.as_str()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "sys:load: there is no file {path}, nor a library of zonal's by that name; zonal's libraries are {}",
                        crate::libs::names()
                    ),
                ));
            }
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("sys:load: cannot read {path}: {e}"),
                ));
            }
        },
    };
    state.borrow_mut().loading += 1;
    let result = load_forms(interp, state, src, &path);
    let mut st = state.borrow_mut();
    st.loading -= 1;
    let escaped = std::mem::take(&mut st.preload_escape);
    drop(st);
    match result {
        Ok((0, _)) => Ok(interp.bool(true)),
        Ok(_) if escaped => Ok(interp.bool(false)),
        Ok((failed, first)) => Err(Error::new(
            ErrorKind::Native,
            format!(
                "sys:load: {failed} form{} of {path} failed; the first:\n{}",
                if failed == 1 { "" } else { "s" },
                first.unwrap_or_default()
            ),
        )),
        Err(e) => Err(e),
    }
}

/// Evaluates the forms of `src` for [`sys_load`]; how many failed, and the report of the
/// first failure. Stops after a read error (what follows an unbalanced parenthesis cannot
/// be trusted), at an escape from `sys:load-preload-check`, and at an interrupt, which it
/// returns.
pub(super) fn load_forms(
    interp: &mut Interp,
    state: &Rc<RefCell<State>>,
    src: &str,
    path: &str,
) -> Result<(usize, Option<String>), Error> {
    let mut failed = 0;
    let mut first = None;
    for form in Interp::forms(src, path) {
        let read_error = form.is_err();
        let Err(e) = form.and_then(|form| interp.eval_datum(&form)) else {
            continue;
        };
        if !e.kind.is_catchable() {
            return Err(e);
        }
        if state.borrow().preload_escape {
            return Ok((failed.max(1), first));
        }
        let report = crate::diagnostic::report(&e, Some(src));
        eprintln!("{report}");
        first.get_or_insert(report);
        state.borrow_mut().failures += 1;
        failed += 1;
        if read_error {
            break;
        }
    }
    Ok((failed, first))
}

/// `(sys:load-preload-check 'name)`: inside a `sys:load`, stops the load (which then
/// returns `#f`) when the library `name` is already loaded, that is when
/// `*xtmlib-name-loaded*` is defined, as the library defines it after this check.
pub(super) fn preload_check(
    interp: &mut Interp,
    state: &Rc<RefCell<State>>,
    args: &[Value],
) -> Result<Value, Error> {
    let name = match args {
        [v] => interp.as_symbol(*v).or_else(|| interp.as_string(*v)),
        _ => None,
    };
    let Some(name) = name else {
        return Err(Error::new(
            ErrorKind::Type,
            "sys:load-preload-check takes a library's name, a symbol or a string: (sys:load-preload-check 'audio_dsp)",
        ));
    };
    if interp.lookup(&format!("*xtmlib-{name}-loaded*")).is_none() {
        return Ok(interp.bool(true));
    }
    let mut st = state.borrow_mut();
    if st.loading > 0 {
        st.preload_escape = true;
    }
    Err(Error::new(
        ErrorKind::Native,
        format!("{name} already loaded"),
    ))
}
