//! The live control loop: evaluates what editors and the REPL send, runs due
//! callbacks a little ahead of the audio clock, and frees what the audio thread
//! gives back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::diagnostic::report;
use crate::request::{Reply, Request};
use crate::session::Session;
use zonal_scheme::ErrorKind;

/// How often the loop wakes when nothing arrives.
const TICK: Duration = Duration::from_millis(2);

/// Serves requests until `quit` is set, every sender is gone, or the program asks to
/// end (`(quit)`, `(exit n)`: see [`Session::exit_requested`]).
///
/// Callbacks run `lookahead` samples before their time: their Scheme code runs early,
/// and the DSP calls they make travel to the audio thread stamped with their exact
/// sample time.
pub fn serve(
    session: &mut Session,
    requests: &Receiver<Request>,
    quit: &AtomicBool,
    lookahead: i64,
) {
    let stats = session.stats();
    let interrupt = session.interrupt_handle();
    while !quit.load(Ordering::Relaxed) && session.exit_requested().is_none() {
        match requests.recv_timeout(TICK) {
            Ok(req) => {
                // An interrupt sent while nothing ran must not stop this evaluation.
                interrupt.store(false, Ordering::Relaxed);
                let notices = req.notices.clone();
                let reply = match session.eval_source_with(&req.source, &req.origin, notices) {
                    Ok(value) => Reply::Value(value),
                    Err(e) if matches!(e.kind, ErrorKind::Exit(_)) => {
                        Reply::Value(format!("zonal is quitting: {}", e.message))
                    }
                    Err(e) => Reply::Error(report(&e, Some(&req.source))),
                };
                // A client that hung up does not need its answer.
                let _ = req.reply.send(reply);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        session.poll();
        let now = stats.clock.load(Ordering::Acquire);
        session.run_callbacks_before(now + lookahead);
        session.take_failures();
    }
}
