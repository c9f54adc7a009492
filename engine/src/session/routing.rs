//! `dsp:set!`: which compiled closures the audio thread runs — one entry, or several
//! summed or mixed on worker lanes — resolved by name and sent as one command.

use super::*;

/// `(dsp:set! name)`: make the named closure the audio entry point at the next swap.
pub(super) fn set_entry(
    interp: &mut Interp,
    state: &Rc<RefCell<State>>,
    form: &Datum,
) -> Result<Value, Error> {
    let at = |err: Error| match &form.pos {
        Some(p) => err.at(p.clone()),
        None => err,
    };
    let names: Option<Vec<String>> = match &form.kind {
        DatumKind::List(items) if items.len() >= 2 => items[1..].iter().map(entry_name).collect(),
        _ => None,
    };
    let Some(names) = names else {
        return Err(at(Error::new(
            ErrorKind::Syntax,
            "dsp:set! takes the names of bind-func'd DSP closures, as in (dsp:set! dsp), \
             (dsp:set! dsp1 dsp2) or (dsp:set! mixer dsp1 dsp2)",
        )));
    };
    let mut st = state.borrow_mut();
    let route = resolve_route(&mut st.dsp, &names).map_err(|e| at(dsp_error(e)))?;
    st.route = Some(route);
    st.route_names = names.clone();
    if st.notices.is_some() {
        st.fault_notices = st.notices.clone();
    }
    Ok(interp.symbol(&names[0]))
}

/// The name in one argument of `dsp:set!`: a symbol, or a quoted one.
pub(super) fn entry_name(d: &Datum) -> Option<String> {
    match &d.kind {
        DatumKind::Sym(s) => Some(s.clone()),
        DatumKind::List(q) if q.len() == 2 && q[0].kind == DatumKind::Sym("quote".into()) => {
            match &q[1].kind {
                DatumKind::Sym(s) => Some(s.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// What `dsp:set!` of `names` plays: one entry, or lanes summed or mixed by a `DSPMT`
/// closure named first.
pub(super) fn resolve_route(dsp: &mut Dsp, names: &[String]) -> Result<Route, DspError> {
    for n in names {
        dsp.compile(n)?;
    }
    let entries = names
        .iter()
        .map(|n| dsp.entry(n))
        .collect::<Result<Vec<_>, _>>()?;
    let problem = |message: String| Err(DspError::new(DspErrorKind::Call, message, None));
    let (mixer, lanes) = match entries.split_first() {
        Some((first, rest)) if first.is_mixer() => (Some(*first), rest),
        _ => (None, &entries[..]),
    };
    if lanes.is_empty() {
        return problem(format!(
            "{} is a DSPMT closure, which mixes lanes: name the closures it mixes after it, \
             as in (dsp:set! {} dsp1 dsp2)",
            names[0], names[0]
        ));
    }
    if let Some(i) = lanes.iter().position(|e| e.is_mixer()) {
        let name = &names[i + usize::from(mixer.is_some())];
        return problem(format!(
            "{name} is a DSPMT closure: only the first closure given to dsp:set! may mix the others"
        ));
    }
    if lanes.len() > MAX_LANES {
        return problem(format!(
            "dsp:set! runs at most {MAX_LANES} closures side by side; {} were given",
            lanes.len()
        ));
    }
    Ok(match (mixer, lanes) {
        (None, [single]) => Route::Single(Some(*single)),
        _ => Route::Lanes(Routing::new(mixer, lanes)),
    })
}

/// Lane contexts for a routing of `count` lanes, beyond those sent already.
pub(super) fn new_lanes(st: &mut State, count: usize) -> Vec<AudioCtx> {
    let Some(interrupt) = st.audio_interrupt.clone() else {
        return Vec::new();
    };
    let mut made = Vec::new();
    while st.lanes_sent < count.min(MAX_LANES) {
        match st.dsp.audio_lane(interrupt.clone()) {
            Ok(ctx) => {
                made.push(ctx);
                st.lanes_sent += 1;
            }
            Err(e) => {
                eprintln!("cannot make a lane: {e}");
                st.failures += 1;
                break;
            }
        }
    }
    made
}

/// What a `dsp:set!` sends to the audio thread.
pub(super) enum Route {
    Single(Option<Entry>),
    Lanes(Routing),
}

/// Worker threads by default: one per core beside the audio thread's.
pub(super) fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .min(crate::workers::MAX_WORKERS)
}
