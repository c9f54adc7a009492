//! Shared libraries and their C functions, with Extempore's names: `sys:open-dylib` and
//! `sys:close-dylib`, `bind-dylib` (opens a library, searching the places Extempore
//! searches, and names it), `bind-lib` (binds one of its C functions, see
//! [`zonal_dsp::foreign`]), `bind-lib-val` (one of its global variables holding a
//! number) and `bind-lib-func` (which in Extempore binds a closure an
//! ahead-of-time compiled library holds: zonal has none, and says so).
//!
//! A library is opened with `dlopen` on the control thread; its handle reaches Scheme as
//! an integer, as Extempore's C pointer does. A library a function was bound from is never
//! closed: compiled code keeps the function's address for the life of the process.

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::rc::Rc;

use zonal_scheme::{Datum, DatumKind, Error, ErrorKind, Interp, Value};

use crate::session::SessionHandle;

/// A library `dlopen` opened.
struct Library {
    handle: u64,
    path: String,
    /// How many C functions were bound from it (then it stays open).
    bound: usize,
}

/// The libraries opened so far.
#[derive(Default)]
struct Libraries(Vec<Library>);

/// Where `bind-dylib` looks for a library named by a bare file name, after the system's
/// own search (which `dlopen` does for a name without a `/`): `LD_LIBRARY_PATH`, then
/// the directories Extempore's `bind-dylib` tries.
const SEARCH_DIRS: [&str; 6] = [
    "/usr/local/lib",
    "/usr/lib",
    "/opt/local/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/opt/homebrew/lib",
];

/// The text of the last `dlopen`/`dlsym` error.
fn dl_error() -> String {
    // SAFETY: `dlerror` returns null or a NUL-terminated string valid until the next dl*
    // call on this thread; it is copied before any other.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        return "no reason given".to_string();
    }
    // SAFETY: non-null, NUL-terminated, as above.
    unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
}

/// Opens `path` with `dlopen` (symbols resolved at once, so a missing dependency is an
/// error now, and made global, as Extempore does): the handle, or why not.
fn open(path: &str) -> Result<u64, String> {
    let c = CString::new(path).map_err(|_| format!("{path:?} holds a NUL byte"))?;
    // SAFETY: `c` is a NUL-terminated path; dlopen runs the library's initialisers, which
    // is what loading a library the livecoder named means.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if h.is_null() {
        Err(dl_error())
    } else {
        Ok(h as u64)
    }
}

impl Libraries {
    fn find(&self, handle: u64) -> Option<&Library> {
        self.0.iter().find(|l| l.handle == handle)
    }

    /// Opens `path` (again: `dlopen` counts), noting it.
    fn open(&mut self, path: &str) -> Result<u64, String> {
        let handle = open(path)?;
        if self.find(handle).is_none() {
            self.0.push(Library {
                handle,
                path: path.to_string(),
                bound: 0,
            });
        }
        Ok(handle)
    }

    /// The places `bind-dylib` tries for `path`, in order.
    fn candidates(path: &str) -> Vec<String> {
        let mut out = vec![path.to_string()];
        if !path.contains('/') {
            let env = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
            let dirs = env.split(':').filter(|d| !d.is_empty());
            for d in dirs.chain(SEARCH_DIRS) {
                out.push(format!("{}/{path}", d.trim_end_matches('/')));
            }
        }
        out
    }

    /// Opens the first of `paths` found (each tried as [`Libraries::candidates`] says).
    /// A file that exists but does not open is an error at once, as in Extempore.
    fn search(&mut self, paths: &[String]) -> Result<(u64, String), String> {
        let mut first_error = None;
        for p in paths {
            for c in Self::candidates(p) {
                match self.open(&c) {
                    Ok(h) => return Ok((h, c)),
                    Err(e) if std::path::Path::new(&c).is_file() => {
                        return Err(format!("could not open {c}: {e}"));
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        let dirs: Vec<&str> = SEARCH_DIRS.to_vec();
        Err(format!(
            "no library {} found: tried the system's library path, LD_LIBRARY_PATH and {} ({})",
            paths.join(" or "),
            dirs.join(", "),
            first_error.unwrap_or_default()
        ))
    }
}

fn error(kind: ErrorKind, message: String, form: &Datum) -> Error {
    let e = Error::new(kind, message);
    match &form.pos {
        Some(p) => e.at(p.clone()),
        None => e,
    }
}

/// The items of a special form, or an error naming the form's shape.
fn items<'d>(form: &'d Datum, shape: &str) -> Result<&'d [Datum], Error> {
    match &form.kind {
        DatumKind::List(items) => Ok(items),
        _ => Err(error(ErrorKind::Syntax, shape.to_string(), form)),
    }
}

/// A short description of datum `d`, for messages.
fn show(d: &Datum) -> String {
    match &d.kind {
        DatumKind::Sym(s) => s.clone(),
        DatumKind::Str(s) => format!("{s:?}"),
        DatumKind::Int(i) => i.to_string(),
        DatumKind::Float(x) => x.to_string(),
        DatumKind::Bool(b) => if *b { "#t" } else { "#f" }.to_string(),
        _ => "a list".to_string(),
    }
}

/// The text of a symbol (a name or a type such as `[double,double]*`), or an error.
fn symbol<'d>(d: &'d Datum, what: &str, form: &Datum) -> Result<&'d str, Error> {
    match &d.kind {
        DatumKind::Sym(s) => Ok(s),
        _ => Err(error(
            ErrorKind::Syntax,
            format!("{what} must be a name, found {}", show(d)),
            form,
        )),
    }
}

/// Registers the library procedures and forms in `interp`.
pub(crate) fn register(interp: &mut Interp, session: &SessionHandle) {
    let libs = Rc::new(RefCell::new(Libraries::default()));
    let l = libs.clone();
    interp.register_native("sys:open-dylib", move |interp, args| {
        let Some(path) = args.first().and_then(|a| interp.as_string(*a)) else {
            return Err(Error::new(
                ErrorKind::Type,
                "sys:open-dylib takes the path of a library (a string)".to_string(),
            ));
        };
        let say = args.get(1).is_some_and(|v| interp.is_true(*v));
        let opened = l.borrow_mut().open(&path);
        match opened {
            Ok(h) => Ok(interp.int(h as i64)),
            Err(e) => {
                if say {
                    eprintln!("sys:open-dylib {path}: {e}");
                }
                Ok(interp.bool(false))
            }
        }
    });
    let l = libs.clone();
    interp.register_native("sys:close-dylib", move |interp, args| {
        let h = args.first().and_then(|a| interp.as_int(*a)).unwrap_or(0) as u64;
        let mut libs = l.borrow_mut();
        let Some(i) = libs.0.iter().position(|x| x.handle == h) else {
            return Err(Error::new(
                ErrorKind::Type,
                "sys:close-dylib takes a library sys:open-dylib or bind-dylib opened".to_string(),
            ));
        };
        let lib = &libs.0[i];
        if lib.bound > 0 {
            return Err(Error::new(
                ErrorKind::Native,
                format!(
                    "sys:close-dylib: {} stays open: {} C function(s) were bound from it and compiled code may call them",
                    lib.path, lib.bound
                ),
            ));
        }
        // SAFETY: `h` is a handle dlopen returned that no bound function refers to.
        unsafe { libc::dlclose(h as *mut libc::c_void) };
        libs.0.remove(i);
        Ok(interp.bool(true))
    });
    let l = libs.clone();
    interp.register_special_form("bind-dylib", move |interp, form| {
        bind_dylib(interp, &l, form)
    });
    let (l, s) = (libs.clone(), session.clone());
    interp.register_special_form("bind-lib", move |interp, form| {
        bind_lib(interp, &l, &s, form, Binding::Function)
    });
    let session = session.clone();
    interp.register_special_form("bind-lib-val", move |interp, form| {
        bind_lib(interp, &libs, &session, form, Binding::Value)
    });
    interp.register_special_form("bind-lib-func", |_, form| {
        Err(error(
            ErrorKind::Syntax,
            "bind-lib-func binds a closure that Extempore's ahead-of-time compiler put in a library; zonal compiles every bind-func from its source: load the library's .xtm file instead, and bind C functions with bind-lib".to_string(),
            form,
        ))
    });
}

/// `(bind-dylib NAME PATHS [AOT-NAME])`: opens the first library of `PATHS` (a string or
/// a list of strings, evaluated) that is found and defines `NAME` as its handle.
fn bind_dylib(
    interp: &mut Interp,
    libs: &Rc<RefCell<Libraries>>,
    form: &Datum,
) -> Result<Value, Error> {
    let shape =
        "bind-dylib takes (bind-dylib name \"library-file\"), e.g. (bind-dylib libm \"libm.so.6\")";
    let items = items(form, shape)?;
    let (Some(name), Some(paths)) = (items.get(1), items.get(2)) else {
        return Err(error(ErrorKind::Syntax, shape.to_string(), form));
    };
    let name = symbol(name, "bind-dylib's library name", form)?.to_string();
    let v = interp.eval_datum(paths)?;
    let paths: Vec<String> = match interp.as_string(v) {
        Some(p) => vec![p],
        None => interp
            .list_items(v)
            .map(|vs| vs.iter().filter_map(|v| interp.as_string(*v)).collect())
            .unwrap_or_default(),
    };
    if paths.is_empty() {
        return Err(error(
            ErrorKind::Type,
            format!(
                "bind-dylib {name}: the library must be a file name or a list of them, found {}",
                interp.write_string(v)
            ),
            form,
        ));
    }
    let found = libs.borrow_mut().search(&paths);
    match found {
        Ok((h, _)) => {
            let hv = interp.int(h as i64);
            interp.define(&name, hv);
            Ok(interp.bool(true))
        }
        Err(e) => Err(error(
            ErrorKind::Native,
            format!("bind-dylib {name}: {e}"),
            form,
        )),
    }
}

/// What `bind-lib` and `bind-lib-val` bind: `(FORM LIBRARY NAME TYPE ...)`.
enum Binding {
    Function,
    Value,
}

/// `(bind-lib LIBRARY NAME TYPE [CALLING-CONVENTION] [DOCSTRING])`: binds C function
/// `NAME` of the library `LIBRARY` names, of xtlang type `TYPE` (`[double,double]*`);
/// `(bind-lib-val LIBRARY NAME TYPE [DOCSTRING])`: C global variable `NAME`, a number.
fn bind_lib(
    interp: &mut Interp,
    libs: &Rc<RefCell<Libraries>>,
    session: &SessionHandle,
    form: &Datum,
    what: Binding,
) -> Result<Value, Error> {
    let head = match what {
        Binding::Function => "bind-lib",
        Binding::Value => "bind-lib-val",
    };
    let shape = match what {
        Binding::Function => {
            "bind-lib takes (bind-lib library name type), e.g. (bind-lib libm cbrt [double,double]*)"
        }
        Binding::Value => {
            "bind-lib-val takes (bind-lib-val library name type), e.g. (bind-lib-val libc daylight i32)"
        }
    };
    let items = items(form, shape)?;
    let (Some(lib), Some(name), Some(ty)) = (items.get(1), items.get(2), items.get(3)) else {
        return Err(error(ErrorKind::Syntax, shape.to_string(), form));
    };
    let lib = symbol(lib, &format!("{head}'s library"), form)?;
    let name = symbol(name, &format!("{head}'s name"), form)?;
    let ty = symbol(ty, &format!("{head}'s type"), form)?;
    if let Some(extra) = items.get(4..).and_then(|rest| {
        rest.iter()
            .find(|d| !matches!(d.kind, DatumKind::Str(_) | DatumKind::Int(0)))
    }) {
        return Err(error(
            ErrorKind::Syntax,
            format!(
                "{head} {name}: zonal calls C functions with the C calling convention only, found {}",
                show(extra)
            ),
            form,
        ));
    }
    let not_loaded = || {
        error(
            ErrorKind::Native,
            format!(
                "{head} {name}: {lib} is not a library that was loaded: load it first, e.g. (bind-dylib {lib} \"{lib}.so\")"
            ),
            form,
        )
    };
    let handle = interp
        .lookup(lib)
        .and_then(|v| interp.as_int(v))
        .ok_or_else(not_loaded)? as u64;
    let path = libs
        .borrow()
        .find(handle)
        .map(|l| l.path.clone())
        .ok_or_else(not_loaded)?;
    let c = CString::new(name).map_err(|_| not_loaded())?;
    // SAFETY: `handle` is a live handle from dlopen (it is in the table and was not
    // closed) and `c` a NUL-terminated name; dlerror is cleared first so a null symbol can
    // be told from a missing one.
    let addr = unsafe {
        libc::dlerror();
        libc::dlsym(handle as *mut libc::c_void, c.as_ptr())
    };
    if addr.is_null() {
        let thing = match what {
            Binding::Function => "function",
            Binding::Value => "variable",
        };
        return Err(error(
            ErrorKind::Native,
            format!(
                "{head}: {lib} ({path}) has no {thing} {name}: {}",
                dl_error()
            ),
            form,
        ));
    }
    // SAFETY: the livecoder declared `name`'s C type as `ty`, which is what bind-lib and
    // bind-lib-val mean (as in Extempore, zonal cannot read a C declaration); the library
    // stays open for the process's life once something was bound from it (`bound` below).
    let r = unsafe {
        match what {
            Binding::Function => session.bind_c_function(interp, name, ty, addr as u64),
            Binding::Value => session.bind_c_value(interp, name, ty, addr as u64),
        }
    };
    let r = r.map_err(|e| match (&e.pos, &form.pos) {
        (None, Some(p)) => e.at(p.clone()),
        _ => e,
    })?;
    if let Some(l) = libs.borrow_mut().0.iter_mut().find(|l| l.handle == handle) {
        l.bound += 1;
    }
    Ok(r)
}
