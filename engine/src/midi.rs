//! MIDI through `midir` (ALSA's sequencer on Linux), with Extempore's handler names.
//!
//! Devices: `(midi:inputs)` and `(midi:outputs)` list the ports' names;
//! `(midi:open-input PORT)` and `(midi:open-output PORT)` (an index, or a name or part
//! of one) open a port and return a device number; `(midi:virtual-input NAME)` and
//! `(midi:virtual-output NAME)` make a port other programs connect to;
//! `(midi:close DEVICE)` closes it.
//!
//! Input: every message from an open input calls the handler of its kind, if it is
//! defined, as Extempore's `midi.xtm` does: `(midi-note-on TIME PITCH VELOCITY
//! CHANNEL)` (a note-on of velocity 0 is a `midi-note-off`), `(midi-note-off ...)`,
//! `(midi-cc TIME CONTROLLER VALUE CHANNEL)`, `(midi-clock TIME)`, `(midi-start TIME)`,
//! `(midi-continue TIME)`, `(midi-stop TIME)`, and for anything else `(midi-msg TIME
//! TYPE A B CHANNEL)`. TIME is the arrival's sample plus the input latency, and
//! `(now)` reads it (see [`crate::io`]). Channels count from 0. Active sensing and
//! system exclusive messages are ignored.
//!
//! Output, at a sample time: `(play-midi-note TIME DEVICE PITCH VELOCITY DURATION
//! CHANNEL)` sends the note-on at TIME and its note-off DURATION samples later;
//! `(send-midi-cc TIME DEVICE CC VALUE CHANNEL)`; `(midi:send TIME DEVICE STATUS A [B])`
//! any message. A thread of its own sends each at its moment; the audio thread never
//! touches a port.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use midir::{Ignore, MidiInput, MidiInputConnection, MidiOutput, MidiOutputConnection};
use zonal_scheme::{Error, ErrorKind, Interp, Value};

use crate::io::{Arg, Courier, Incoming, Io, SampleClock, TimedSender, monotonic_ns};

/// The name zonal's ports carry in the sequencer.
const CLIENT: &str = "zonal";

/// Where MIDI output goes: a port, or (in tests) a recorder.
pub trait MidiSink: Send {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String>;
}

impl MidiSink for MidiOutputConnection {
    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        MidiOutputConnection::send(self, bytes).map_err(|e| e.to_string())
    }
}

type Outputs = Arc<Mutex<HashMap<i64, Box<dyn MidiSink>>>>;

/// A session's open MIDI devices.
pub struct Midi {
    clock: SampleClock,
    inputs: HashMap<i64, MidiInputConnection<()>>,
    outputs: Outputs,
    sender: Option<TimedSender<(i64, Vec<u8>)>>,
    next_id: i64,
}

impl Midi {
    pub(crate) fn new(clock: SampleClock) -> Midi {
        Midi {
            clock,
            inputs: HashMap::new(),
            outputs: Arc::default(),
            sender: None,
            next_id: 1,
        }
    }

    /// Closes every device (the session is ending).
    pub(crate) fn close_all(&mut self) {
        for (_, input) in self.inputs.drain() {
            input.close();
        }
        self.sender = None;
        if let Ok(mut outputs) = self.outputs.lock() {
            outputs.clear();
        }
    }

    fn add_output(&mut self, sink: Box<dyn MidiSink>) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        if let Ok(mut outputs) = self.outputs.lock() {
            outputs.insert(id, sink);
        }
        id
    }

    fn add_input(&mut self, connection: MidiInputConnection<()>) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        self.inputs.insert(id, connection);
        id
    }

    fn close(&mut self, id: i64) -> bool {
        if let Some(input) = self.inputs.remove(&id) {
            input.close();
            return true;
        }
        self.outputs
            .lock()
            .map(|mut outputs| outputs.remove(&id).is_some())
            .unwrap_or(false)
    }

    /// Queues `bytes` for output device `id` at sample `time`.
    fn send_at(&mut self, time: i64, id: i64, bytes: Vec<u8>) -> Result<(), String> {
        let known = self
            .outputs
            .lock()
            .map(|outputs| outputs.contains_key(&id))
            .unwrap_or(false);
        if !known {
            return Err(format!(
                "{id} is not an open MIDI output; (midi:open-output PORT) opens one"
            ));
        }
        if self.sender.is_none() {
            let outputs = self.outputs.clone();
            let sender =
                TimedSender::spawn("zonal-midi-send", move |(id, bytes): (i64, Vec<u8>)| {
                    let Ok(mut outputs) = outputs.lock() else {
                        return;
                    };
                    if let Some(sink) = outputs.get_mut(&id)
                        && let Err(e) = sink.send(&bytes)
                    {
                        eprintln!("zonal: MIDI output {id}: {e}");
                    }
                })
                .map_err(|e| format!("cannot start the MIDI sending thread: {e}"))?;
            self.sender = Some(sender);
        }
        let at = self.clock.ns_at(time);
        if let Some(sender) = &self.sender {
            sender.send_at(at, (id, bytes));
        }
        Ok(())
    }
}

/// What a received message calls: the handler's name and its arguments after the
/// time; `None` for what is ignored (active sensing, system exclusive).
pub fn parse(bytes: &[u8]) -> Result<Option<(&'static str, Vec<Arg>)>, String> {
    let Some((&status, data)) = bytes.split_first() else {
        return Err("an empty MIDI message".to_owned());
    };
    if status < 0x80 {
        return Err(format!(
            "a MIDI message starts with a status byte (0x80 to 0xFF), not 0x{status:02X}"
        ));
    }
    if status == 0xF0 || status == 0xFE {
        return Ok(None);
    }
    if let Some(bad) = data.iter().find(|&&b| b >= 0x80) {
        return Err(format!(
            "the data byte 0x{bad:02X} of MIDI message {} has its top bit set",
            hex(bytes)
        ));
    }
    let kind = status & 0xF0;
    let channel = i64::from(status & 0x0F);
    let (name, len) = match (kind, status) {
        (0x80, _) => ("a note-off", 3),
        (0x90, _) => ("a note-on", 3),
        (0xA0, _) => ("a poly aftertouch", 3),
        (0xB0, _) => ("a control change", 3),
        (0xC0, _) => ("a program change", 2),
        (0xD0, _) => ("a channel aftertouch", 2),
        (0xE0, _) => ("a pitch bend", 3),
        (_, 0xF2) => ("a song position", 3),
        (_, 0xF1 | 0xF3) => ("a system common message", 2),
        _ => ("a system real-time", 1),
    };
    if bytes.len() != len {
        return Err(format!(
            "{name} message is {len} byte{} long, this one is {}: {}",
            if len == 1 { "" } else { "s" },
            bytes.len(),
            hex(bytes)
        ));
    }
    let a = i64::from(data.first().copied().unwrap_or(0));
    let b = i64::from(data.get(1).copied().unwrap_or(0));
    Ok(Some(match (kind, status) {
        (0x90, _) if b > 0 => (
            "midi-note-on",
            vec![Arg::Int(a), Arg::Int(b), Arg::Int(channel)],
        ),
        (0x90 | 0x80, _) => (
            "midi-note-off",
            vec![Arg::Int(a), Arg::Int(b), Arg::Int(channel)],
        ),
        (0xB0, _) => ("midi-cc", vec![Arg::Int(a), Arg::Int(b), Arg::Int(channel)]),
        (_, 0xF8) => ("midi-clock", vec![]),
        (_, 0xFA) => ("midi-start", vec![]),
        (_, 0xFB) => ("midi-continue", vec![]),
        (_, 0xFC) => ("midi-stop", vec![]),
        (0xF0, _) => (
            "midi-msg",
            vec![
                Arg::Int(i64::from(status)),
                Arg::Int(a),
                Arg::Int(b),
                Arg::Int(0),
            ],
        ),
        _ => (
            "midi-msg",
            vec![
                Arg::Int(i64::from(kind)),
                Arg::Int(a),
                Arg::Int(b),
                Arg::Int(channel),
            ],
        ),
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What an input port's thread does with a message that arrived at monotonic time
/// `arrived_ns`: posts it for its handler, or logs what is wrong with it.
pub fn receive(courier: &Courier, device: i64, bytes: &[u8], arrived_ns: u64) {
    match parse(bytes) {
        Ok(Some((handler, args))) => courier.post(Incoming {
            time: courier.arrival_time(arrived_ns),
            handler: handler.to_owned(),
            args,
            optional: true,
        }),
        Ok(None) => {}
        Err(e) => courier.problem(&format!("MIDI input {device}: {e}")),
    }
}

/// Why MIDI cannot be used here, in words.
fn unavailable(e: impl std::fmt::Display) -> Error {
    let why = if cfg!(target_os = "linux") && !std::path::Path::new("/dev/snd/seq").exists() {
        "this machine has no ALSA sequencer (/dev/snd/seq is missing; the snd-seq kernel \
         module provides it)"
            .to_owned()
    } else {
        e.to_string()
    };
    Error::new(ErrorKind::Io, format!("MIDI is not available: {why}"))
}

fn midi_input() -> Result<MidiInput, Error> {
    let mut input = MidiInput::new(CLIENT).map_err(unavailable)?;
    input.ignore(Ignore::None);
    Ok(input)
}

fn midi_output() -> Result<MidiOutput, Error> {
    MidiOutput::new(CLIENT).map_err(unavailable)
}

/// Finds a port by index or by (part of) its name among `names`.
fn choose_port(interp: &Interp, names: &[String], v: Value, what: &str) -> Result<usize, Error> {
    let listed = || {
        if names.is_empty() {
            "there are none".to_owned()
        } else {
            format!("there are {}", names.join(", "))
        }
    };
    if let Some(i) = interp.as_int(v) {
        return usize::try_from(i)
            .ok()
            .filter(|&i| i < names.len())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Native,
                    format!("{what}: there is no port {i}; {}", listed()),
                )
            });
    }
    let Some(name) = interp.as_string(v) else {
        return Err(Error::new(
            ErrorKind::Type,
            format!("{what} takes a port's index or name"),
        )
        .with_irritants(vec![interp.write_string(v)]));
    };
    if let Some(i) = names.iter().position(|n| *n == name) {
        return Ok(i);
    }
    let matching: Vec<usize> = (0..names.len())
        .filter(|&i| names[i].contains(&name))
        .collect();
    match matching[..] {
        [i] => Ok(i),
        [] => Err(Error::new(
            ErrorKind::Native,
            format!("{what}: no port is named {name:?}; {}", listed()),
        )),
        _ => Err(Error::new(
            ErrorKind::Native,
            format!("{what}: several ports match {name:?}; {}", listed()),
        )),
    }
}

/// An integer argument in `range`, or an error naming it.
fn int_in(
    interp: &Interp,
    v: Value,
    range: std::ops::RangeInclusive<i64>,
    what: &str,
    name: &str,
) -> Result<i64, Error> {
    let n = interp.as_int(v).or_else(|| {
        interp
            .as_f64(v)
            .filter(|f| f.fract() == 0.0)
            .map(|f| f as i64)
    });
    n.filter(|n| range.contains(n)).ok_or_else(|| {
        Error::new(
            ErrorKind::Type,
            format!(
                "{what}: the {name} is a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )
        .with_irritants(vec![interp.write_string(v)])
    })
}

fn sequencer_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, format!("{what}: {e}"))
}

/// Registers the MIDI procedures (see the module's documentation).
pub(crate) fn register(interp: &mut Interp, io: &Rc<Io>) {
    for (name, value) in [
        ("*midi-note-off*", 0x80),
        ("*midi-note-on*", 0x90),
        ("*midi-poly-aftertouch*", 0xA0),
        ("*midi-cc*", 0xB0),
        ("*midi-control-change*", 0xB0),
        ("*midi-program-change*", 0xC0),
        ("*midi-channel-aftertouch*", 0xD0),
        ("*midi-pitch-bend*", 0xE0),
    ] {
        let v = interp.int(value);
        interp.define(name, v);
    }
    interp.register_native("midi:inputs", |interp, _args| {
        let input = midi_input()?;
        let names: Vec<Value> = input
            .ports()
            .iter()
            .map(|p| input.port_name(p).unwrap_or_default())
            .map(|n| interp.string(&n))
            .collect();
        Ok(interp.list(&names))
    });
    interp.register_native("midi:outputs", |interp, _args| {
        let output = midi_output()?;
        let names: Vec<Value> = output
            .ports()
            .iter()
            .map(|p| output.port_name(p).unwrap_or_default())
            .map(|n| interp.string(&n))
            .collect();
        Ok(interp.list(&names))
    });
    let it = io.clone();
    interp.register_native("midi:open-input", move |interp, args| {
        let what = "midi:open-input";
        let [port] = args else {
            return Err(Error::new(
                ErrorKind::Arity,
                "midi:open-input takes a port's index or name: (midi:open-input 0)",
            ));
        };
        let input = midi_input()?;
        let ports = input.ports();
        let names: Vec<String> = ports
            .iter()
            .map(|p| input.port_name(p).unwrap_or_default())
            .collect();
        let i = choose_port(interp, &names, *port, what)?;
        let courier = it.courier(what)?;
        let device = it.midi.borrow().next_id;
        let connection = input
            .connect(
                &ports[i],
                "zonal-in",
                move |_, bytes, _| receive(&courier, device, bytes, monotonic_ns()),
                (),
            )
            .map_err(|e| sequencer_error(what, e))?;
        Ok(interp.int(it.midi.borrow_mut().add_input(connection)))
    });
    let it = io.clone();
    interp.register_native("midi:open-output", move |interp, args| {
        let what = "midi:open-output";
        let [port] = args else {
            return Err(Error::new(
                ErrorKind::Arity,
                "midi:open-output takes a port's index or name: (midi:open-output 0)",
            ));
        };
        let output = midi_output()?;
        let ports = output.ports();
        let names: Vec<String> = ports
            .iter()
            .map(|p| output.port_name(p).unwrap_or_default())
            .collect();
        let i = choose_port(interp, &names, *port, what)?;
        let connection = output
            .connect(&ports[i], "zonal-out")
            .map_err(|e| sequencer_error(what, e))?;
        Ok(interp.int(it.midi.borrow_mut().add_output(Box::new(connection))))
    });
    register_virtual(interp, io);
    let it = io.clone();
    interp.register_native("midi:close", move |interp, args| {
        let Some(id) = args.first().and_then(|v| interp.as_int(*v)) else {
            return Err(Error::new(
                ErrorKind::Type,
                "midi:close takes a device number from midi:open-input or midi:open-output",
            ));
        };
        Ok(interp.bool(it.midi.borrow_mut().close(id)))
    });
    let it = io.clone();
    interp.register_native("midi:send", move |interp, args| {
        let what = "midi:send";
        if !(4..=5).contains(&args.len()) {
            return Err(Error::new(
                ErrorKind::Arity,
                "midi:send takes a time, a device, a status byte and one or two data bytes: \
                 (midi:send (now) dev #x90 60 100)",
            ));
        }
        let time = crate::io::sample_time(interp, args[0], what)?;
        let device = int_in(interp, args[1], 0..=i64::MAX, what, "device")?;
        let mut bytes = vec![int_in(interp, args[2], 0x80..=0xFF, what, "status byte")? as u8];
        for &v in &args[3..] {
            bytes.push(int_in(interp, v, 0..=127, what, "data byte")? as u8);
        }
        parse(&bytes).map_err(|m| Error::new(ErrorKind::Type, format!("{what}: {m}")))?;
        it.midi
            .borrow_mut()
            .send_at(time, device, bytes)
            .map_err(|m| Error::new(ErrorKind::Native, format!("{what}: {m}")))?;
        Ok(interp.unspecified())
    });
    let it = io.clone();
    interp.register_native("play-midi-note", move |interp, args| {
        let what = "play-midi-note";
        let [time, device, pitch, velocity, duration, channel] = args else {
            return Err(Error::new(
                ErrorKind::Arity,
                "play-midi-note takes a time, a device, a pitch, a velocity, a duration and a \
                 channel: (play-midi-note (now) dev 60 100 *second* 0)",
            ));
        };
        let time = crate::io::sample_time(interp, *time, what)?;
        let device = int_in(interp, *device, 0..=i64::MAX, what, "device")?;
        let pitch = int_in(interp, *pitch, 0..=127, what, "pitch")? as u8;
        let velocity = int_in(interp, *velocity, 0..=127, what, "velocity")? as u8;
        let duration = crate::io::sample_time(interp, *duration, what)?;
        if duration < 0 {
            return Err(Error::new(
                ErrorKind::Type,
                format!("{what}: the duration is a number of samples, 0 or more"),
            )
            .with_irritants(vec![duration.to_string()]));
        }
        let channel = int_in(interp, *channel, 0..=15, what, "channel")? as u8;
        let mut midi = it.midi.borrow_mut();
        let err = |m| Error::new(ErrorKind::Native, format!("{what}: {m}"));
        midi.send_at(time, device, vec![0x90 | channel, pitch, velocity])
            .map_err(err)?;
        midi.send_at(time + duration, device, vec![0x80 | channel, pitch, 0])
            .map_err(err)?;
        Ok(interp.unspecified())
    });
    let it = io.clone();
    interp.register_native("send-midi-cc", move |interp, args| {
        let what = "send-midi-cc";
        let [time, device, cc, value, channel] = args else {
            return Err(Error::new(
                ErrorKind::Arity,
                "send-midi-cc takes a time, a device, a controller, a value and a channel: \
                 (send-midi-cc (now) dev 74 64 0)",
            ));
        };
        let time = crate::io::sample_time(interp, *time, what)?;
        let device = int_in(interp, *device, 0..=i64::MAX, what, "device")?;
        let cc = int_in(interp, *cc, 0..=127, what, "controller")? as u8;
        let value = int_in(interp, *value, 0..=127, what, "value")? as u8;
        let channel = int_in(interp, *channel, 0..=15, what, "channel")? as u8;
        it.midi
            .borrow_mut()
            .send_at(time, device, vec![0xB0 | channel, cc, value])
            .map_err(|m| Error::new(ErrorKind::Native, format!("{what}: {m}")))?;
        Ok(interp.unspecified())
    });
}

/// `midi:virtual-input` and `midi:virtual-output`: ports of zonal's own that other
/// programs connect to.
#[cfg(unix)]
fn register_virtual(interp: &mut Interp, io: &Rc<Io>) {
    use midir::os::unix::{VirtualInput, VirtualOutput};

    let it = io.clone();
    interp.register_native("midi:virtual-input", move |interp, args| {
        let what = "midi:virtual-input";
        let Some(name) = args.first().and_then(|v| interp.as_string(*v)) else {
            return Err(Error::new(
                ErrorKind::Type,
                "midi:virtual-input takes the port's name: (midi:virtual-input \"zonal in\")",
            ));
        };
        let input = midi_input()?;
        let courier = it.courier(what)?;
        let device = it.midi.borrow().next_id;
        let connection = input
            .create_virtual(
                &name,
                move |_, bytes, _| receive(&courier, device, bytes, monotonic_ns()),
                (),
            )
            .map_err(|e| sequencer_error(what, e))?;
        Ok(interp.int(it.midi.borrow_mut().add_input(connection)))
    });
    let it = io.clone();
    interp.register_native("midi:virtual-output", move |interp, args| {
        let what = "midi:virtual-output";
        let Some(name) = args.first().and_then(|v| interp.as_string(*v)) else {
            return Err(Error::new(
                ErrorKind::Type,
                "midi:virtual-output takes the port's name: (midi:virtual-output \"zonal out\")",
            ));
        };
        let output = midi_output()?;
        let connection = output
            .create_virtual(&name)
            .map_err(|e| sequencer_error(what, e))?;
        Ok(interp.int(it.midi.borrow_mut().add_output(Box::new(connection))))
    });
}

#[cfg(not(unix))]
fn register_virtual(_interp: &mut Interp, _io: &Rc<Io>) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Session, SessionConfig};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    /// A session whose I/O hands its requests to the returned receiver, as a live
    /// engine's would be handed to its control loop (buffers of 64 frames).
    fn session_with_io() -> (
        Session,
        Rc<Io>,
        crossbeam_channel::Receiver<crate::request::Request>,
    ) {
        let mut session = Session::headless(&SessionConfig::default()).unwrap();
        let stats = session.stats();
        let io = crate::io::register(session.interp_mut(), stats, 48_000);
        let (tx, rx) = crossbeam_channel::unbounded();
        io.connect(tx, 64);
        (session, io, rx)
    }

    /// Evaluates what the I/O threads asked for, then the callbacks it scheduled.
    fn serve(session: &mut Session, rx: &crossbeam_channel::Receiver<crate::request::Request>) {
        for req in rx.try_iter() {
            session.eval_source(&req.source, &req.origin).unwrap();
        }
        session.run_callbacks_before(i64::MAX);
    }

    #[test]
    fn a_note_on_calls_midi_note_on_at_its_arrival_sample_plus_the_latency() {
        let (mut session, io, rx) = session_with_io();
        session
            .eval_source(
                "(define got '()) \
                 (define (midi-note-on time pitch vel chan) \
                   (set! got (list time pitch vel chan (now))))",
                "test",
            )
            .unwrap();
        // The audio clock published sample 48000 just now.
        let stats = session.stats();
        stats.clock.store(48_000, Ordering::SeqCst);
        stats.clock_at_ns.store(monotonic_ns(), Ordering::SeqCst);
        let courier = io.courier("test").unwrap();
        let arrived = stats.clock_at_ns.load(Ordering::SeqCst);
        receive(&courier, 1, &[0x92, 60, 100], arrived);
        serve(&mut session, &rx);
        // Two 64-frame buffers and a millisecond after the arrival.
        let latency = 2 * 64 + 48;
        assert_eq!(
            session.eval_source("got", "test").unwrap(),
            format!("({t} 60 100 2 {t})", t = 48_000 + latency)
        );
    }

    #[test]
    fn a_message_delivered_after_its_sample_is_counted_late() {
        let (mut session, io, rx) = session_with_io();
        session
            .eval_source(
                "(define n 0) (define (midi-stop t) (set! n (+ n 1)))",
                "test",
            )
            .unwrap();
        let courier = io.courier("test").unwrap();
        let stats = session.stats();
        let arrived = monotonic_ns();
        stats.clock_at_ns.store(arrived, Ordering::SeqCst);
        receive(&courier, 1, &[0xFC], arrived);
        // The audio thread played a second before the control thread got to it.
        stats.clock.store(48_000, Ordering::SeqCst);
        stats.clock_at_ns.store(monotonic_ns(), Ordering::SeqCst);
        serve(&mut session, &rx);
        assert_eq!(courier.late(), 1);
        assert_eq!(session.eval_source("n", "test").unwrap(), "1");
        receive(&courier, 1, &[0xFC], monotonic_ns());
        serve(&mut session, &rx);
        assert_eq!(courier.late(), 1, "in time again");
    }

    #[test]
    fn messages_without_a_handler_are_skipped_and_bad_ones_do_not_stop_the_rest() {
        let (mut session, io, rx) = session_with_io();
        session
            .eval_source(
                "(define ccs '()) (define (midi-cc t cc v ch) (set! ccs (cons v ccs)))",
                "test",
            )
            .unwrap();
        let courier = io.courier("test").unwrap();
        for bytes in [
            &[0x90, 60, 1][..],
            &[0xB0, 7],
            &[0xB0, 7, 99],
            &[0xF8],
            &[0xB0, 7, 100],
        ] {
            receive(&courier, 1, bytes, monotonic_ns());
        }
        serve(&mut session, &rx);
        assert_eq!(session.eval_source("ccs", "test").unwrap(), "(100 99)");
        assert_eq!(session.take_failures(), 0);
    }

    #[test]
    fn a_flood_wakes_the_control_thread_once_and_drops_what_does_not_fit() {
        let (mut session, io, rx) = session_with_io();
        session
            .eval_source(
                "(define n 0) (define (midi-clock t) (set! n (+ n 1)))",
                "test",
            )
            .unwrap();
        let courier = io.courier("test").unwrap();
        let sent = crate::io::INBOX_CAPACITY + 100;
        for _ in 0..sent {
            receive(&courier, 1, &[0xF8], monotonic_ns());
        }
        assert_eq!(rx.len(), 1, "one request wakes the control thread");
        assert_eq!(courier.dropped(), 100);
        serve(&mut session, &rx);
        assert_eq!(
            session.eval_source("n", "test").unwrap(),
            crate::io::INBOX_CAPACITY.to_string()
        );
        // Once drained, the next message wakes it again.
        receive(&courier, 1, &[0xF8], monotonic_ns());
        assert_eq!(rx.len(), 1);
    }

    /// What a [`Recorder`] saw: each message and when (monotonic ns).
    type Sent = Arc<Mutex<Vec<(Vec<u8>, u64)>>>;

    /// Records what is sent and when.
    struct Recorder(Sent);

    impl MidiSink for Recorder {
        fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
            self.0
                .lock()
                .unwrap()
                .push((bytes.to_vec(), monotonic_ns()));
            Ok(())
        }
    }

    #[test]
    fn play_midi_note_sends_the_note_on_at_its_time_and_the_note_off_after_its_duration() {
        let (mut session, io, _rx) = session_with_io();
        let sent = Sent::default();
        let device = io
            .midi
            .borrow_mut()
            .add_output(Box::new(Recorder(sent.clone())));
        let start = monotonic_ns();
        // 100 ms from now, for 50 ms, on channel 3; a controller at once.
        session
            .eval_source(
                &format!(
                    "(play-midi-note (+ (io:clock) 4800) {device} 60 100 2400 3) \
                     (send-midi-cc (io:clock) {device} 74 64 0)"
                ),
                "test",
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        let sent = sent.lock().unwrap().clone();
        let bytes: Vec<&[u8]> = sent.iter().map(|(b, _)| &b[..]).collect();
        assert_eq!(
            bytes,
            [&[0xB0, 74, 64][..], &[0x93, 60, 100], &[0x83, 60, 0]]
        );
        let ms = |i: usize| (sent[i].1 - start) as f64 / 1e6;
        // Never early; late only by how late the sending thread wakes (the machine
        // may be busy).
        assert!((100.0..200.0).contains(&ms(1)), "note-on at {} ms", ms(1));
        assert!((150.0..250.0).contains(&ms(2)), "note-off at {} ms", ms(2));
    }

    #[test]
    fn bad_midi_output_arguments_are_clear_errors() {
        let (mut session, io, _rx) = session_with_io();
        let device = io
            .midi
            .borrow_mut()
            .add_output(Box::new(Recorder(Arc::default())));
        let e = |session: &mut Session, src: &str| {
            session.eval_source(src, "test").unwrap_err().to_string()
        };
        let m = e(
            &mut session,
            &format!("(play-midi-note (now) {device} 128 100 10 0)"),
        );
        assert!(
            m.contains("play-midi-note: the pitch is a whole number from 0 to 127"),
            "{m}"
        );
        let m = e(
            &mut session,
            &format!("(play-midi-note (now) {device} 60 100 10 16)"),
        );
        assert!(
            m.contains("the channel is a whole number from 0 to 15"),
            "{m}"
        );
        let m = e(&mut session, "(play-midi-note (now) 99 60 100 10 0)");
        assert!(m.contains("99 is not an open MIDI output"), "{m}");
        let m = e(&mut session, &format!("(midi:send (now) {device} #x90 60)"));
        assert!(
            m.contains("a note-on message is 3 bytes long, this one is 2"),
            "{m}"
        );
        let m = e(
            &mut session,
            &format!("(play-midi-note \"soon\" {device} 60 100 10 0)"),
        );
        assert!(m.contains("the time must be a sample time"), "{m}");
    }

    fn ints(v: &[i64]) -> Vec<Arg> {
        v.iter().map(|&i| Arg::Int(i)).collect()
    }

    #[test]
    fn channel_messages_call_extempores_handlers() {
        assert_eq!(
            parse(&[0x93, 60, 100]).unwrap(),
            Some(("midi-note-on", ints(&[60, 100, 3])))
        );
        assert_eq!(
            parse(&[0x90, 60, 0]).unwrap(),
            Some(("midi-note-off", ints(&[60, 0, 0])))
        );
        assert_eq!(
            parse(&[0x8F, 61, 40]).unwrap(),
            Some(("midi-note-off", ints(&[61, 40, 15])))
        );
        assert_eq!(
            parse(&[0xB1, 74, 127]).unwrap(),
            Some(("midi-cc", ints(&[74, 127, 1])))
        );
        assert_eq!(
            parse(&[0xE2, 0, 64]).unwrap(),
            Some(("midi-msg", ints(&[0xE0, 0, 64, 2])))
        );
        assert_eq!(
            parse(&[0xC0, 5]).unwrap(),
            Some(("midi-msg", ints(&[0xC0, 5, 0, 0])))
        );
    }

    #[test]
    fn clock_messages_call_the_clock_handlers() {
        assert_eq!(parse(&[0xF8]).unwrap(), Some(("midi-clock", vec![])));
        assert_eq!(parse(&[0xFA]).unwrap(), Some(("midi-start", vec![])));
        assert_eq!(parse(&[0xFB]).unwrap(), Some(("midi-continue", vec![])));
        assert_eq!(parse(&[0xFC]).unwrap(), Some(("midi-stop", vec![])));
        assert_eq!(parse(&[0xFE]).unwrap(), None);
        assert_eq!(parse(&[0xF0, 1, 2, 0xF7]).unwrap(), None);
    }

    #[test]
    fn malformed_messages_say_what_is_wrong() {
        assert_eq!(parse(&[]).unwrap_err(), "an empty MIDI message");
        assert_eq!(
            parse(&[0x40, 1]).unwrap_err(),
            "a MIDI message starts with a status byte (0x80 to 0xFF), not 0x40"
        );
        assert_eq!(
            parse(&[0x90, 60]).unwrap_err(),
            "a note-on message is 3 bytes long, this one is 2: 90 3C"
        );
        assert_eq!(
            parse(&[0x90, 0x80, 1]).unwrap_err(),
            "the data byte 0x80 of MIDI message 90 80 01 has its top bit set"
        );
        assert_eq!(
            parse(&[0xF8, 1]).unwrap_err(),
            "a system real-time message is 1 byte long, this one is 2: F8 01"
        );
    }

    #[test]
    fn every_short_message_parses_or_is_refused_without_panicking() {
        for status in 0..=255u8 {
            for a in [0u8, 1, 127, 128, 255] {
                let _ = parse(&[status]);
                let _ = parse(&[status, a]);
                let _ = parse(&[status, a, a]);
                let _ = parse(&[status, a, a, a]);
            }
        }
    }
}
