//! Control: `apply`, `values`, `call/cc` (escaping), `dynamic-wind`, exceptions
//! (`raise`, `error`, `guard`'s helper, `with-exception-handler`, error objects),
//! promises, `eval`, records, `(sys:gc-stats)`, `(sys:heap-limit [bytes])`.

use std::rc::Rc;

use super::{
    PlainResult, PrimFn, ctl, def, int_arg, list_arg, plain, proc_arg, str_arg, sym_arg, type_err,
};
use crate::error::{Error, ErrorKind};
use crate::interp::{Ctrl, Interp, Thrown, err};
use crate::value::{Obj, Promise, RecordType, V, Value};

fn values(it: &mut Interp, a: &[Value]) -> PlainResult {
    Ok(if a.len() == 1 {
        a[0]
    } else {
        it.alloc(Obj::Values(a.to_vec()))
    })
}

fn call_with_values(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    proc_arg(it, "call-with-values", a[0])?;
    proc_arg(it, "call-with-values", a[1])?;
    let v = it.apply_values(a[0], &[])?;
    let args = match it.heap.obj(v) {
        Some(Obj::Values(items)) => items.clone(),
        _ => vec![v],
    };
    it.apply_values(a[1], &args)
}

fn call_cc(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    proc_arg(it, "call/cc", a[0])?;
    let id = it.next_cont;
    it.next_cont += 1;
    let k = it.alloc(Obj::Cont(id));
    let mark = it.mark();
    it.stack.push(k);
    let r = it.apply_values(a[0], &[k]);
    match r {
        Err(Ctrl::Escape(eid, v)) if eid == id => {
            it.unwind_to(mark);
            Ok(v)
        }
        other => {
            if other.is_ok() {
                it.unwind_to(mark);
            }
            other
        }
    }
}

fn in_flight(c: &Ctrl) -> Option<Value> {
    match c {
        Ctrl::Throw(t) => t.payload,
        Ctrl::Escape(_, v) => Some(*v),
    }
}

fn dynamic_wind(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    for &f in a {
        proc_arg(it, "dynamic-wind", f)?;
    }
    it.apply_values(a[0], &[])?;
    let mark = it.mark();
    let r = it.apply_values(a[1], &[]);
    let keep = match &r {
        Ok(v) => Some(*v),
        Err(c) => {
            it.unwind_to(mark);
            in_flight(c)
        }
    };
    if let Some(v) = keep {
        it.stack.push(v);
    }
    let after = it.apply_values(a[2], &[]);
    it.unwind_to(mark);
    after?;
    r
}

fn raise_value(it: &Interp, obj: Value, continuable: bool) -> Ctrl {
    let e = match it.heap.obj(obj) {
        Some(Obj::Condition {
            kind,
            message,
            irritants,
        }) => {
            let msg = it
                .str_of(*message)
                .map_or_else(|| it.print_to(*message, false), str::to_string);
            let irr = it
                .list_vec(*irritants)
                .unwrap_or_default()
                .into_iter()
                .map(|v| it.print_to(v, true))
                .collect();
            err(*kind, msg).with_irritants(irr)
        }
        _ => err(
            ErrorKind::User,
            if continuable {
                "uncaught raise-continuable"
            } else {
                "uncaught exception"
            },
        )
        .with_irritants(vec![it.print_to(obj, true)]),
    };
    Ctrl::Throw(Box::new(Thrown {
        err: e,
        payload: Some(obj),
    }))
}

fn raise(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    Err(raise_value(it, a[0], false))
}

fn raise_continuable(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    let Some(h) = it.handlers.pop() else {
        return Err(raise_value(it, a[0], true));
    };
    let mark = it.mark();
    it.stack.push(h);
    let r = it.apply_values(h, &[a[0]]);
    it.unwind_to(mark);
    it.handlers.push(h);
    r
}

fn error(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    let message = match it.heap.obj(a[0]) {
        Some(Obj::Str(_)) => a[0],
        _ => {
            let text = it.print_to(a[0], true);
            it.new_string(text)
        }
    };
    let irritants = it.list_from(&a[1..]);
    let obj = it.alloc(Obj::Condition {
        kind: ErrorKind::User,
        message,
        irritants,
    });
    Err(raise_value(it, obj, false))
}

fn with_exception_handler(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    proc_arg(it, "with-exception-handler", a[0])?;
    proc_arg(it, "with-exception-handler", a[1])?;
    let mark = it.mark();
    it.handlers.push(a[0]);
    let r = it.apply_values(a[1], &[]);
    match r {
        Err(Ctrl::Throw(t)) if t.err.kind.is_catchable() => {
            it.unwind_to(mark);
            let obj = it.thrown_value(&t);
            it.stack.push(obj);
            it.apply_values(a[0], &[obj])?;
            // R7RS: a handler that returns from `raise` raises a secondary exception
            let raised = it.print_to(obj, true);
            it.unwind_to(mark);
            let mut e = t.err;
            e.message = "the exception handler returned from a raise that cannot continue \
                         (raise-continuable can); it raised"
                .into();
            e.irritants = vec![raised];
            Err(Ctrl::Throw(Box::new(Thrown {
                err: e,
                payload: None,
            })))
        }
        other => {
            it.unwind_to(mark);
            other
        }
    }
}

fn guard(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    let mark = it.mark();
    match it.apply_values(a[0], &[]) {
        Err(Ctrl::Throw(mut t)) if t.err.kind.is_catchable() => {
            it.unwind_to(mark);
            let obj = it.thrown_value(&t);
            t.payload = Some(obj);
            it.stack.push(obj);
            let r = it.apply_values(a[1], &[obj]);
            it.unwind_to(mark);
            match r {
                Ok(v) if v.is_undef() => Err(Ctrl::Throw(t)),
                other => other,
            }
        }
        other => other,
    }
}

/// `(exit)`, `(exit status)`, and Extempore's `(quit status)`: ends the program with
/// `status` (0 when absent or `#t`, 1 for `#f`), unwinding every handler on the way (see
/// [`ErrorKind::Exit`]).
fn exit(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    let status = match a.first().map(|v| (v.get(), *v)) {
        None | Some((V::Bool(true), _)) => 0,
        Some((V::Bool(false), _)) => 1,
        Some((_, v)) => {
            let n = int_arg(it, "exit", v)?;
            i32::try_from(n).unwrap_or(if n < 0 { i32::MIN } else { i32::MAX })
        }
    };
    let message = format!("the program asked to end with status {status}");
    Err(err(ErrorKind::Exit(status), message).into())
}

fn error_parts(it: &Interp, who: &str, v: Value) -> Result<(Value, Value), Error> {
    match it.heap.obj(v) {
        Some(Obj::Condition {
            message, irritants, ..
        }) => Ok((*message, *irritants)),
        _ => Err(type_err(it, who, "an error object", v)),
    }
}

/// The hidden global holding the one environment `eval` accepts.
const ENVIRONMENT: &str = " environment";

/// The global environment as a value (`#<environment>`): what `interaction-environment`,
/// `scheme-report-environment`, `null-environment` and `environment` return.
fn the_environment(it: &mut Interp) -> Value {
    super::hidden(it, ENVIRONMENT)
}

fn eval(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    if let Some(&env) = a.get(1)
        && !env.eqv(the_environment(it))
    {
        return Err(type_err(
            it,
            "eval",
            "an environment such as (interaction-environment) as its second argument",
            env,
        )
        .into());
    }
    let d = it.to_datum(a[0]);
    it.eval_nested(&d)
}

fn load(it: &mut Interp, a: &[Value]) -> Result<Value, Ctrl> {
    let path = str_arg(it, "load", a[0])?.to_string();
    let src = it.read_text_file(&path, "read")?;
    let mut reader = crate::reader::Reader::new(&src, &path);
    let mut last = Value::UNSPEC;
    while let Some(form) = reader.next_datum()? {
        last = it.eval_nested(&form)?;
    }
    Ok(last)
}

fn record_check(it: &Interp, who: &str, o: Value, rtd: Value) -> Result<(), Error> {
    match (it.heap.obj(o), rtd.get()) {
        (Some(Obj::Record(t, _)), V::Obj(r)) if *t == r => Ok(()),
        _ => {
            let tname = match it.heap.obj(rtd) {
                Some(Obj::RecordType(rt)) => rt.name.clone(),
                _ => "record".into(),
            };
            Err(type_err(it, who, &format!("a {tname} record"), o))
        }
    }
}

fn gc_stats(it: &mut Interp, _: &[Value]) -> PlainResult {
    let s = it.gc_stats();
    let fields = [
        ("collections", Value::new(V::Int(s.collections as i64))),
        (
            "total-pause-ms",
            Value::new(V::Float(s.total_pause.as_secs_f64() * 1000.0)),
        ),
        (
            "max-pause-ms",
            Value::new(V::Float(s.max_pause.as_secs_f64() * 1000.0)),
        ),
        ("live-bytes", Value::new(V::Int(s.live_bytes as i64))),
        ("heap-bytes", Value::new(V::Int(s.heap_bytes as i64))),
    ];
    let mut items = Vec::new();
    for (k, v) in fields {
        let key = it.sym(k);
        items.push(it.cons(key, v));
    }
    Ok(it.list_from(&items))
}

pub(super) fn install(it: &mut Interp) {
    def(it, "apply", 2, None, PrimFn::Apply);
    plain(it, "values", 0, None, values);
    ctl(it, "call-with-values", 2, Some(2), call_with_values);
    ctl(it, "call/cc", 1, Some(1), call_cc);
    super::alias(it, "call-with-current-continuation", "call/cc");
    super::alias(it, "call-with-escape-continuation", "call/cc");
    // s7's name for an escaping continuation
    super::alias(it, "call-with-exit", "call/cc");
    ctl(it, "dynamic-wind", 3, Some(3), dynamic_wind);
    ctl(it, "raise", 1, Some(1), raise);
    ctl(it, "raise-continuable", 1, Some(1), raise_continuable);
    ctl(it, "error", 1, None, error);
    ctl(
        it,
        "with-exception-handler",
        2,
        Some(2),
        with_exception_handler,
    );
    ctl(it, " guard", 2, Some(2), guard);
    ctl(it, "exit", 0, Some(1), exit);
    super::alias(it, "quit", "exit");
    plain(it, " guard-reraise", 0, Some(0), |_, _| Ok(Value::UNDEF));
    plain(it, "error-object?", 1, Some(1), |it, a| {
        Ok(Value::boolean(matches!(
            it.heap.obj(a[0]),
            Some(Obj::Condition { .. })
        )))
    });
    plain(it, "error-object-message", 1, Some(1), |it, a| {
        Ok(error_parts(it, "error-object-message", a[0])?.0)
    });
    plain(it, "error-object-irritants", 1, Some(1), |it, a| {
        Ok(error_parts(it, "error-object-irritants", a[0])?.1)
    });
    plain(it, "error-irritants", 1, Some(1), |it, a| {
        Ok(error_parts(it, "error-irritants", a[0])?.1)
    });
    plain(it, "error-message", 1, Some(1), |it, a| {
        Ok(error_parts(it, "error-message", a[0])?.0)
    });
    plain(it, "read-error?", 1, Some(1), |it, a| {
        Ok(Value::boolean(matches!(
            it.heap.obj(a[0]),
            Some(Obj::Condition {
                kind: ErrorKind::Read,
                ..
            })
        )))
    });
    plain(it, "file-error?", 1, Some(1), |it, a| {
        Ok(Value::boolean(matches!(
            it.heap.obj(a[0]),
            Some(Obj::Condition {
                kind: ErrorKind::Io,
                ..
            })
        )))
    });
    ctl(it, "force", 1, Some(1), |it, a| it.force(a[0]));
    plain(it, "make-promise", 1, Some(1), |it, a| {
        Ok(match it.heap.obj(a[0]) {
            Some(Obj::Promise(_)) => a[0],
            _ => it.alloc(Obj::Promise(Promise::Done(a[0]))),
        })
    });
    ctl(it, "eval", 1, Some(2), eval);
    super::singleton(it, ENVIRONMENT, "environment");
    // there is one global environment: every way of naming one gives it
    plain(it, "interaction-environment", 0, Some(0), |it, _| {
        Ok(the_environment(it))
    });
    plain(it, "scheme-report-environment", 0, Some(1), |it, _| {
        Ok(the_environment(it))
    });
    super::alias(it, "null-environment", "scheme-report-environment");
    plain(it, "environment", 0, None, |it, _| Ok(the_environment(it)));
    ctl(it, "load", 1, Some(2), load);
    // R7RS syntax-error, for syntax-rules templates: raised when the expansion runs
    plain(it, "syntax-error", 1, None, |it, a| {
        let message = it
            .str_of(a[0])
            .map_or_else(|| it.print_to(a[0], false), str::to_string);
        let irritants = a[1..].iter().map(|&v| it.print_to(v, true)).collect();
        Err(err(ErrorKind::Syntax, message)
            .with_irritants(irritants)
            .into())
    });
    // datum labels in code outside quoted data: `#0=expr` is `expr`, `#0#` is refused
    plain(it, crate::reader::DATUM_LABEL, 2, Some(2), |_, a| Ok(a[1]));
    plain(it, crate::reader::DATUM_REF, 1, Some(1), |it, a| {
        let n = it.print_to(a[0], false);
        Err(err(
            ErrorKind::Syntax,
            format!("#{n}# refers to a datum label, which only works inside quoted data"),
        )
        .into())
    });
    plain(it, "defined?", 1, Some(2), |it, a| {
        let s = sym_arg(it, "defined?", a[0])?;
        Ok(Value::boolean(!it.globals[s as usize].is_undef()))
    });
    plain(it, "sys:gc-stats", 0, Some(0), gc_stats);
    plain(it, "collect-garbage", 0, Some(0), |it, _| {
        // the collector may not run inside a builtin: it runs at the next call
        it.heap.full_requested = true;
        Ok(Value::UNSPEC)
    });
    super::alias(it, "sys:gc", "collect-garbage");
    plain(it, "sys:heap-limit", 0, Some(1), |it, a| {
        if let Some(&v) = a.first() {
            let n = int_arg(it, "sys:heap-limit", v)?;
            match usize::try_from(n) {
                Ok(n) if n >= crate::heap::MIN_LIMIT => it.set_heap_limit(n),
                _ => {
                    return Err(err(
                        ErrorKind::Range,
                        format!(
                            "sys:heap-limit wants a number of bytes, at least {}",
                            crate::heap::MIN_LIMIT
                        ),
                    )
                    .with_irritants(vec![n.to_string()])
                    .into());
                }
            }
        }
        Ok(Value::new(V::Int(
            i64::try_from(it.heap_limit()).unwrap_or(i64::MAX),
        )))
    });
    plain(it, " unspecified", 0, Some(0), |_, _| Ok(Value::UNSPEC));
    plain(it, " arity-error", 2, Some(2), |it, a| {
        let name = str_arg(it, "case-lambda", a[0])?.to_string();
        let n = int_arg(it, "case-lambda", a[1])?;
        Err(err(
            ErrorKind::Arity,
            format!("{name}: no clause takes {n} arguments"),
        )
        .into())
    });
    plain(it, " make-record-type", 2, Some(2), |it, a| {
        let name = it.print_to(a[0], false);
        let fields = list_arg(it, "define-record-type", a[1])?
            .into_iter()
            .map(|f| it.print_to(f, false))
            .collect();
        Ok(it.alloc(Obj::RecordType(Rc::new(RecordType { name, fields }))))
    });
    plain(it, " make-record", 1, None, |it, a| match a[0].get() {
        V::Obj(r) if matches!(it.heap.obj(a[0]), Some(Obj::RecordType(_))) => {
            Ok(it.alloc(Obj::Record(r, a[1..].to_vec())))
        }
        _ => Err(type_err(it, "define-record-type", "a record type", a[0]).into()),
    });
    plain(it, " record?", 2, Some(2), |it, a| {
        Ok(Value::boolean(
            record_check(it, "record?", a[0], a[1]).is_ok(),
        ))
    });
    plain(it, " record-ref", 4, Some(4), |it, a| {
        let who = it.print_to(a[3], false);
        record_check(it, &who, a[0], a[1])?;
        let i = int_arg(it, &who, a[2])? as usize;
        match it.heap.obj(a[0]) {
            Some(Obj::Record(_, fields)) => Ok(fields.get(i).copied().unwrap_or(Value::UNSPEC)),
            _ => Ok(Value::UNSPEC),
        }
    });
    plain(it, " record-set!", 5, Some(5), |it, a| {
        let who = it.print_to(a[4], false);
        record_check(it, &who, a[0], a[1])?;
        let i = int_arg(it, &who, a[2])? as usize;
        if let Some(Obj::Record(_, fields)) = it.heap.obj_mut(a[0])
            && let Some(slot) = fields.get_mut(i)
        {
            let old = std::mem::replace(slot, a[3]);
            it.heap.barrier(old);
        }
        Ok(Value::UNSPEC)
    });
}
