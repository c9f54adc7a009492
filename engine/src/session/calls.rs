//! Calls between Scheme and compiled code: `call-as-xtlang` (`$`), a closure called
//! from Scheme, computed `bind-val` initialisers, and the conversion of arguments and
//! results between Scheme values and DSP values.

use super::*;

/// Calls a compiled closure from Scheme.
/// `(call-as-xtlang body...)` (also `$`, `xtmX`, and `$$`): compiles the body as the
/// body of a function of no arguments, `xtlang_expression`, as Extempore does, calls it
/// on the control thread and gives its value to Scheme.
/// `(bind-val NAME TYPE EXPR)` whose value is an expression (a call, a name), not a
/// literal: the form without its value, the name and the expression.
pub(super) fn computed_val(form: &Datum) -> Option<(Datum, String, &Datum)> {
    let items = form.as_list()?;
    let [head, name, _, init] = items else {
        return None;
    };
    let (DatumKind::Sym(h), DatumKind::Sym(n)) = (&head.kind, &name.kind) else {
        return None;
    };
    let computed = match &init.kind {
        DatumKind::List(xs) => {
            !matches!(xs.first().map(|x| &x.kind), Some(DatumKind::Sym(q)) if q == "quote")
        }
        DatumKind::Sym(_) => true,
        _ => false,
    };
    (h == "bind-val" && computed).then(|| {
        (
            Datum::new(DatumKind::List(items[..3].to_vec()), form.pos.clone()),
            n.clone(),
            init,
        )
    })
}

/// Defines the global of `plain` (a `bind-val` without value), then sets it to `init`
/// evaluated as xtlang, as Extempore's `(bind-val synth INSTRUMENT (make_instrument ...))`.
pub(super) fn bind_val_computed(
    interp: &mut Interp,
    state: &Rc<RefCell<State>>,
    plain: &Datum,
    name: &str,
    init: &Datum,
) -> Result<Value, Error> {
    let defined = define(interp, state, plain)?;
    let at = |kind| Datum::new(kind, init.pos.clone());
    let set = at(DatumKind::List(vec![
        at(DatumKind::Sym("set!".into())),
        at(DatumKind::Sym(name.into())),
        init.clone(),
    ]));
    let run = at(DatumKind::List(vec![
        at(DatumKind::Sym("call-as-xtlang".into())),
        set,
    ]));
    call_as_xtlang(interp, state, &run).map_err(|e| {
        let message = format!("bind-val {name}: its value failed: {}", e.message);
        Error { message, ..e }
    })?;
    Ok(defined)
}

pub(super) fn call_as_xtlang(
    interp: &mut Interp,
    state: &Rc<RefCell<State>>,
    form: &Datum,
) -> Result<Value, Error> {
    let items = form.as_list().unwrap_or(&[]);
    if items.len() < 2 {
        let e = Error::new(
            ErrorKind::Syntax,
            "call-as-xtlang takes xtlang to run: (call-as-xtlang (+ 1 2))",
        );
        return Err(match &form.pos {
            Some(p) => e.at(p.clone()),
            None => e,
        });
    }
    let at = |kind| Datum::new(kind, form.pos.clone());
    let sym = |s: &str| at(DatumKind::Sym(s.into()));
    let mut lambda = vec![sym("lambda"), at(DatumKind::Nil)];
    lambda.extend(items[1..].iter().cloned());
    let def = at(DatumKind::List(vec![
        sym("bind-func"),
        sym("xtlang_expression"),
        at(DatumKind::List(lambda)),
    ]));
    define(interp, state, &def)?;
    call_dsp(interp, state, "xtlang_expression", &[])
}

pub(super) fn call_dsp(
    interp: &mut Interp,
    state: &Rc<RefCell<State>>,
    name: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let mut st = state.borrow_mut();
    let Some(sig) = st.dsp.signature(name) else {
        return Err(Error::new(
            ErrorKind::Unbound,
            format!("{name} is no longer a compiled closure"),
        ));
    };
    let wanted = sig.params.len();
    let args = if args.len() > wanted {
        // Extempore's Scheme stub of a closure reads the arguments it takes and ignores
        // the rest; zonal does the same, and says so
        eprintln!(
            "warning: {name} takes {wanted} argument{}, got {}: the last {} ignored",
            if wanted == 1 { "" } else { "s" },
            args.len(),
            match args.len() - wanted {
                1 => "one is".to_string(),
                n => format!("{n} are"),
            }
        );
        &args[..wanted]
    } else {
        args
    };
    if sig.params.len() != args.len() {
        return Err(Error::new(
            ErrorKind::Arity,
            format!(
                "{name} takes {} argument{}, got {}",
                sig.params.len(),
                if sig.params.len() == 1 { "" } else { "s" },
                args.len()
            ),
        ));
    }
    let mut values = Vec::with_capacity(args.len());
    for (i, (ty, v)) in sig.params.iter().zip(args).enumerate() {
        values.push(to_dsp_value(interp, name, i, &ty.to_string(), *v)?);
    }
    let ret = sig.ret.to_string();
    if let (Some(time), true, AudioLink::Rings(_)) = (st.callback_time, ret == "void", &st.link) {
        let call = st.dsp.prepare_call(name, &values).map_err(dsp_error)?;
        st.events.push((time, call));
        return Ok(interp.unspecified());
    }
    let now = st
        .callback_time
        .unwrap_or_else(|| st.stats.clock.load(Ordering::Acquire));
    st.dsp.set_now(now);
    let result = st.dsp.call(name, &values);
    collect_scheduled(&mut st);
    let result = result.map_err(dsp_error)?;
    drop(st);
    Ok(from_dsp_value(interp, result))
}

/// The callbacks DSP code scheduled (xtlang's `callback`) while running on the control
/// thread: sent to the audio thread with the next flush, as events at their times
/// (without an audio thread, nothing runs them).
pub(super) fn collect_scheduled(st: &mut State) {
    let calls = st.dsp.take_scheduled();
    if matches!(st.link, AudioLink::Rings(_)) {
        st.events.extend(calls);
    }
}

pub(super) fn to_dsp_value(
    interp: &Interp,
    name: &str,
    index: usize,
    ty: &str,
    v: Value,
) -> Result<DspValue, Error> {
    let bad = |what: &str| {
        Error::new(
            ErrorKind::Type,
            format!("argument {} of {name} must be {what} ({ty})", index + 1),
        )
        .with_irritants(vec![interp.write_string(v)])
    };
    let int = || interp.as_int(v).ok_or_else(|| bad("an integer"));
    let real = || interp.as_f64(v).ok_or_else(|| bad("a number"));
    Ok(match ty {
        // 0 and #f are false, as in Extempore
        "i1" => DspValue::I1(
            interp
                .as_int(v)
                .map_or_else(|| interp.is_true(v), |i| i != 0),
        ),
        "i8" => DspValue::I8(int()? as i8),
        "i16" => DspValue::I16(int()? as i16),
        "i32" => DspValue::I32(int()? as i32),
        "i64" => DspValue::I64(int()?),
        "float" => DspValue::Float(real()? as f32),
        "double" => DspValue::Double(real()?),
        "i8*" if interp.as_string(v).is_some() => {
            DspValue::Str(interp.as_string(v).unwrap_or_default())
        }
        // A closure is its record's address, as a closure returned to Scheme is; the
        // call through it checks the record's memory, stamp and type (a number that is
        // not a live closure of this type faults, it never runs).
        t if t.starts_with('[') => match interp.as_int(v) {
            Some(p) => DspValue::Ptr(p as u64),
            None if interp.is_procedure(v) => {
                return Err(Error::new(
                    ErrorKind::Type,
                    format!(
                        "argument {} of {name} is a Scheme procedure, not a closure ({ty}): pass a closure a bind-func returned, or a bind-func's own as ($ NAME)",
                        index + 1
                    ),
                )
                .with_irritants(vec![interp.write_string(v)]));
            }
            None => return Err(bad("a closure returned by a bind-func")),
        },
        t if t.ends_with('*') => DspValue::Ptr(int()? as u64),
        _ => return Err(bad("a value Scheme can pass")),
    })
}

pub(super) fn from_dsp_value(interp: &mut Interp, v: DspValue) -> Value {
    match v {
        // an i1 reaches Scheme as 1 or 0, as in Extempore
        DspValue::I1(b) => interp.int(i64::from(b)),
        DspValue::I8(i) => interp.int(i64::from(i)),
        DspValue::I16(i) => interp.int(i64::from(i)),
        DspValue::I32(i) => interp.int(i64::from(i)),
        DspValue::I64(i) => interp.int(i),
        DspValue::Float(x) => interp.float(f64::from(x)),
        DspValue::Double(x) => interp.float(x),
        DspValue::Ptr(p) => interp.int(p as i64),
        DspValue::Str(s) => interp.string(&s),
        DspValue::Void => interp.unspecified(),
    }
}
