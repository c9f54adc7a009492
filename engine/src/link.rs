//! Ableton Link (the `rusty_link` crate, which builds Ableton's Link SDK), behind the
//! cargo feature `link`: Link is GPL-2.0-or-later, so a `zonal` built with it is
//! distributed under the GPL; the default build has none of it.
//!
//! The natives here convert between the session's sample clock and Link's host clock
//! (the monotonic clock in microseconds) through [`SampleClock`]; `link.scm` makes
//! `*metro*` follow the session: `(link:join [QUANTUM])`, `(link:leave)`,
//! `(link:peers)`, `(link:tempo)`, `(link:set-tempo BPM)`. Everything runs on the
//! control thread; Link's own threads do the networking.

use std::cell::RefCell;
use std::rc::Rc;

use rusty_link::{AblLink, SessionState};
use zonal_scheme::{Error, ErrorKind, Interp, Value};

use crate::io::{SampleClock, monotonic_ns};

/// The tempo a new Link instance proposes before it hears a peer.
const START_TEMPO: f64 = 120.0;

struct Link {
    link: AblLink,
    quantum: f64,
}

/// Where the session's sample clock is on Link's host clock now: (sample, host µs).
fn now_pair(link: &AblLink, clock: &SampleClock) -> (i64, i64) {
    let host = link.clock_micros();
    let sample = clock.sample_at(monotonic_ns());
    (sample, host)
}

fn host_at(link: &AblLink, clock: &SampleClock, sample: f64) -> i64 {
    let (now, host) = now_pair(link, clock);
    host + ((sample - now as f64) * 1e6 / f64::from(clock.sample_rate())).round() as i64
}

fn sample_at(link: &AblLink, clock: &SampleClock, host_us: i64) -> i64 {
    let (now, host) = now_pair(link, clock);
    now + ((host_us - host) as f64 * f64::from(clock.sample_rate()) / 1e6).round() as i64
}

fn number(interp: &Interp, args: &[Value], what: &str, usage: &str) -> Result<f64, Error> {
    match args {
        [v] => interp.as_f64(*v).filter(|f| f.is_finite()).ok_or_else(|| {
            Error::new(ErrorKind::Type, format!("{what} takes a number: {usage}"))
                .with_irritants(vec![interp.write_string(*v)])
        }),
        _ => Err(Error::new(
            ErrorKind::Arity,
            format!("{what} takes one number: {usage}"),
        )),
    }
}

fn not_joined(what: &str) -> Error {
    Error::new(
        ErrorKind::Native,
        format!("{what}: not in a Link session; (link:join) joins one"),
    )
}

/// Registers the Link natives and evaluates `link.scm`.
pub(crate) fn register(interp: &mut Interp, clock: &SampleClock) {
    let state: Rc<RefCell<Option<Link>>> = Rc::default();
    let st = state.clone();
    interp.register_native("link:enable!", move |interp, args| {
        let quantum = number(interp, args, "link:enable!", "(link:enable! 4)")?;
        if quantum <= 0.0 {
            return Err(Error::new(
                ErrorKind::Type,
                "link:join: the quantum is a number of beats, more than 0",
            ));
        }
        let mut st = st.borrow_mut();
        let link = st.get_or_insert_with(|| Link {
            link: AblLink::new(START_TEMPO),
            quantum,
        });
        link.quantum = quantum;
        link.link.enable(true);
        Ok(interp.unspecified())
    });
    let st = state.clone();
    interp.register_native("link:disable!", move |interp, _args| {
        if let Some(link) = st.borrow_mut().take() {
            link.link.enable(false);
        }
        Ok(interp.unspecified())
    });
    let st = state.clone();
    interp.register_native("link:enabled?", move |interp, _args| {
        Ok(interp.bool(st.borrow().as_ref().is_some_and(|l| l.link.is_enabled())))
    });
    let st = state.clone();
    interp.register_native("link:peers", move |interp, _args| {
        let peers = st.borrow().as_ref().map_or(0, |l| l.link.num_peers());
        Ok(interp.int(i64::try_from(peers).unwrap_or(i64::MAX)))
    });
    let st = state.clone();
    interp.register_native("link:tempo", move |interp, _args| {
        let st = st.borrow();
        let link = st.as_ref().ok_or_else(|| not_joined("link:tempo"))?;
        let mut session = SessionState::new();
        link.link.capture_app_session_state(&mut session);
        Ok(interp.float(session.tempo()))
    });
    let st = state.clone();
    interp.register_native("link:set-tempo", move |interp, args| {
        let bpm = number(interp, args, "link:set-tempo", "(link:set-tempo 128)")?;
        if !(20.0..=999.0).contains(&bpm) {
            return Err(Error::new(
                ErrorKind::Type,
                "link:set-tempo: Link's tempo is from 20 to 999 BPM",
            )
            .with_irritants(vec![bpm.to_string()]));
        }
        let st = st.borrow();
        let link = st.as_ref().ok_or_else(|| not_joined("link:set-tempo"))?;
        let mut session = SessionState::new();
        link.link.capture_app_session_state(&mut session);
        session.set_tempo(bpm, link.link.clock_micros());
        link.link.commit_app_session_state(&session);
        Ok(interp.float(bpm))
    });
    let (st, ck) = (state.clone(), clock.clone());
    interp.register_native("link:beat-at-time", move |interp, args| {
        let time = number(
            interp,
            args,
            "link:beat-at-time",
            "(link:beat-at-time (now))",
        )?;
        let st = st.borrow();
        let link = st.as_ref().ok_or_else(|| not_joined("link:beat-at-time"))?;
        let mut session = SessionState::new();
        link.link.capture_app_session_state(&mut session);
        let host = host_at(&link.link, &ck, time);
        Ok(interp.float(session.beat_at_time(host, link.quantum)))
    });
    // The tempo and the sample of a beat from one capture of the session, so that a
    // tempo change arriving between two captures cannot pair the new tempo with a
    // time on the old timeline.
    let (st, ck) = (state, clock.clone());
    interp.register_native("link:anchor", move |interp, args| {
        let beat = number(interp, args, "link:anchor", "(link:anchor 16)")?;
        let st = st.borrow();
        let link = st.as_ref().ok_or_else(|| not_joined("link:anchor"))?;
        let mut session = SessionState::new();
        link.link.capture_app_session_state(&mut session);
        let host = session.time_at_beat(beat, link.quantum);
        let tempo = interp.float(session.tempo());
        let sample = interp.int(sample_at(&link.link, &ck, host));
        Ok(interp.list(&[tempo, sample]))
    });
    if let Err(e) = interp.eval_str(LINK, "link.scm") {
        eprintln!("{}", crate::diagnostic::report(&e, Some(LINK)));
    }
}

/// `*metro*`'s side of Link, in Scheme.
const LINK: &str = include_str!("link.scm");
