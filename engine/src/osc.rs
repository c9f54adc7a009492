//! Open Sound Control over UDP (`rosc`), with Extempore's vocabulary:
//!
//! - `(io:osc:start-server PORT "handler" [HOST])` receives on PORT (every interface,
//!   or HOST's) and calls `(handler TIME ADDRESS ARG...)` for every message, `(now)`
//!   reading TIME: the arrival's sample plus the input latency, or the sample of a
//!   bundle's time tag when that is later (a bundle that arrives late is handled like
//!   a lone message). `(io:osc:stop-server PORT)` stops it.
//! - `(io:osc:send TIME (HOST . PORT) ADDRESS ARG...)` sends at sample TIME (a time
//!   already past: at once). Integers travel as `i`, reals as `f` (64-bit `h`, `d` after
//!   `(io:osc:set-integer-64bit? #t)`, `(io:osc:set-real-64bit? #t)`), strings and
//!   symbols as `s`, booleans as `T`/`F`, lists as arrays.
//!
//! - `(io:osc:start-dirt [PORT])` receives what TidalCycles sends SuperDirt (on
//!   127.0.0.1, port 57120 by default): each `/dirt/play` calls `(dirt-play TIME
//!   PARAMS)` at its bundle's sample, PARAMS an association list
//!   `((s "bd") (n 3) ...)`.
//!
//! Received arguments become Scheme values: `i h` integers, `f d` reals, `s` strings,
//! `T F` booleans, `c` one-character strings, `b` blobs, `m` MIDI and `r` colours lists
//! of integers, `t` time tags reals (seconds since 1900), arrays lists, `N` `()`, `I`
//! `+inf.0`. Receiving runs on a thread per server; the audio thread never sees a
//! socket. A malformed packet is logged with its sender and dropped.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rosc::{OscArray, OscBundle, OscMessage, OscPacket, OscTime, OscType};
use zonal_scheme::{DatumKind, Error, ErrorKind, Interp, Value};

use crate::io::{Arg, Courier, Incoming, Io, SampleClock, TimedSender, monotonic_ns};

/// The largest datagram a server reads (UDP's own limit).
const MAX_PACKET: usize = 65_536;

/// How often a server thread looks at its stop flag.
const POLL: Duration = Duration::from_millis(50);

/// Seconds from the OSC (NTP) epoch, 1900, to the Unix epoch, 1970.
const NTP_UNIX_OFFSET: f64 = 2_208_988_800.0;

/// A session's OSC servers and its sender.
pub struct Osc {
    clock: SampleClock,
    servers: HashMap<u16, Server>,
    sender: Option<TimedSender<Outgoing>>,
    integer_64: bool,
    real_64: bool,
}

struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A packet on its way out: where to, and its bytes.
struct Outgoing {
    host: String,
    port: u16,
    bytes: Vec<u8>,
}

impl Osc {
    pub(crate) fn new(clock: SampleClock) -> Osc {
        Osc {
            clock,
            servers: HashMap::new(),
            sender: None,
            integer_64: false,
            real_64: false,
        }
    }

    /// Stops every server (the session is ending).
    pub(crate) fn stop_all(&mut self) {
        for (_, server) in self.servers.drain() {
            server.stop();
        }
        self.sender = None;
    }

    fn start(
        &mut self,
        port: u16,
        host: &str,
        handler: Handler,
        courier: Arc<Courier>,
    ) -> Result<u16, String> {
        if self.servers.contains_key(&port) && port != 0 {
            return Err(format!(
                "an OSC server is already running on port {port}; stop it first with (io:osc:stop-server {port})"
            ));
        }
        let socket = UdpSocket::bind((host, port))
            .map_err(|e| format!("cannot receive OSC on {host}:{port}: {e}"))?;
        let bound = socket
            .local_addr()
            .map_err(|e| format!("cannot receive OSC on {host}:{port}: {e}"))?
            .port();
        socket
            .set_read_timeout(Some(POLL))
            .map_err(|e| format!("cannot receive OSC on {host}:{port}: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("zonal-osc-{bound}"))
            .spawn(move || serve(&socket, &handler, &courier, &flag))
            .map_err(|e| format!("cannot start the OSC thread: {e}"))?;
        self.servers.insert(
            bound,
            Server {
                stop,
                thread: Some(thread),
            },
        );
        Ok(bound)
    }

    fn send(&mut self, time: i64, host: String, port: u16, bytes: Vec<u8>) -> Result<(), String> {
        if self.sender.is_none() {
            let socket = UdpSocket::bind(("0.0.0.0", 0))
                .map_err(|e| format!("cannot open a socket to send OSC: {e}"))?;
            let mut resolved: HashMap<(String, u16), SocketAddr> = HashMap::new();
            let sender = TimedSender::spawn("zonal-osc-send", move |out: Outgoing| {
                let key = (out.host, out.port);
                let addr = match resolved.get(&key) {
                    Some(addr) => *addr,
                    None => match key
                        .to_socket_addrs()
                        .map(|mut a| a.find(SocketAddr::is_ipv4))
                    {
                        Ok(Some(addr)) => {
                            resolved.insert(key, addr);
                            addr
                        }
                        Ok(None) | Err(_) => {
                            eprintln!(
                                "zonal: io:osc:send: cannot find the host {}:{}",
                                key.0, key.1
                            );
                            return;
                        }
                    },
                };
                if let Err(e) = socket.send_to(&out.bytes, addr) {
                    eprintln!("zonal: io:osc:send to {addr}: {e}");
                }
            })
            .map_err(|e| format!("cannot start the OSC sending thread: {e}"))?;
            self.sender = Some(sender);
        }
        let at = self.clock.ns_at(time);
        if let Some(sender) = &self.sender {
            sender.send_at(at, Outgoing { host, port, bytes });
        }
        Ok(())
    }
}

impl Server {
    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A server thread: receives until `stop`, posting each message for `handler`.
fn serve(socket: &UdpSocket, handler: &Handler, courier: &Courier, stop: &AtomicBool) {
    let mut buf = vec![0u8; MAX_PACKET];
    while !stop.load(Ordering::Relaxed) {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                courier.problem(&format!("osc: receiving failed: {e}"));
                std::thread::sleep(POLL);
                continue;
            }
        };
        let arrived = monotonic_ns();
        let arrived_unix = unix_seconds();
        match incoming(&buf[..n], handler, courier, arrived, arrived_unix) {
            Ok(messages) => {
                for m in messages {
                    courier.post(m);
                }
            }
            Err(e) => courier.problem(&format!("osc: {e} (from {from})")),
        }
    }
}

/// Who a server hands its messages to.
#[derive(Debug, Clone, PartialEq)]
pub enum Handler {
    /// Extempore's convention: `(NAME TIME ADDRESS ARG...)` for every message.
    Named(String),
    /// SuperDirt's: `/dirt/play` messages (pairs of a parameter's name and its value,
    /// as TidalCycles sends them) become `(dirt-play TIME PARAMS)`, PARAMS an
    /// association list such as `((s "bd") (n 3) (gain 1.2))`; other addresses are
    /// ignored.
    Dirt,
}

/// The wall clock, in seconds since 1970 (what OSC time tags count, from 1900).
fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The messages a datagram that arrived at monotonic time `arrived_ns` (wall time
/// `arrived_unix`, read at the same moment) holds, each stamped for its handler; or
/// what is wrong with it. A lone message is handled at the arrival's sample plus the
/// input latency; a bundle at the sample of its time tag, or as a lone message if that
/// is earlier.
pub fn incoming(
    packet: &[u8],
    handler: &Handler,
    courier: &Courier,
    arrived_ns: u64,
    arrived_unix: f64,
) -> Result<Vec<Incoming>, String> {
    let decoded = decode(packet)?;
    let arrival = courier.arrival_time(arrived_ns);
    let arrival_sample = courier.clock().sample_at(arrived_ns);
    let rate = f64::from(courier.clock().sample_rate());
    let mut out = Vec::new();
    let mut problem = None;
    flatten(&decoded, None, &mut |message, tag| {
        let time = match tag {
            Some(tag) => {
                let ahead = ((tag_unix_seconds(tag) - arrived_unix) * rate).round() as i64;
                let at = arrival_sample + ahead;
                at.max(arrival)
            }
            None => arrival,
        };
        let (name, args) = match handler {
            Handler::Named(name) => {
                let mut args = vec![Arg::Str(message.addr.clone())];
                args.extend(message.args.iter().map(to_arg));
                (name.as_str(), args)
            }
            Handler::Dirt if message.addr == "/dirt/play" => match dirt_params(&message.args) {
                Ok(params) => ("dirt-play", vec![params]),
                Err(e) => {
                    problem.get_or_insert(e);
                    return;
                }
            },
            Handler::Dirt => return,
        };
        out.push(Incoming {
            time,
            handler: name.to_owned(),
            args,
            optional: false,
        });
    });
    match problem {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Decodes one datagram, or says what is wrong with it.
pub fn decode(packet: &[u8]) -> Result<OscPacket, String> {
    if packet.is_empty() {
        return Err("an empty packet is not OSC".to_owned());
    }
    match rosc::decoder::decode_udp(packet) {
        Ok((_, packet)) => Ok(packet),
        Err(e) => Err(format!(
            "a malformed packet of {} bytes was dropped: {e}",
            packet.len()
        )),
    }
}

/// Calls `each` for every message of `packet`, with the time tag of its innermost
/// bundle (`None` for a lone message or a bundle to run "immediately").
fn flatten(
    packet: &OscPacket,
    tag: Option<OscTime>,
    each: &mut dyn FnMut(&OscMessage, Option<OscTime>),
) {
    match packet {
        OscPacket::Message(m) => each(m, tag),
        OscPacket::Bundle(b) => {
            let tag = if (b.timetag.seconds, b.timetag.fractional) == (0, 1) {
                tag
            } else {
                Some(b.timetag)
            };
            for p in &b.content {
                flatten(p, tag, each);
            }
        }
    }
}

/// The parameters of a `/dirt/play` message, as an association list.
fn dirt_params(args: &[OscType]) -> Result<Arg, String> {
    if !args.len().is_multiple_of(2) {
        return Err(format!(
            "a /dirt/play message holds pairs of a name and a value, not {} arguments",
            args.len()
        ));
    }
    args.chunks(2)
        .map(|pair| match &pair[0] {
            OscType::String(name) => Ok(Arg::List(vec![Arg::Sym(name.clone()), to_arg(&pair[1])])),
            other => Err(format!(
                "a /dirt/play parameter's name is a string, not {other:?}"
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Arg::List)
}

/// A time tag as seconds since 1970.
fn tag_unix_seconds(tag: OscTime) -> f64 {
    f64::from(tag.seconds) - NTP_UNIX_OFFSET + f64::from(tag.fractional) / 4_294_967_296.0
}

/// A received argument as handler data.
fn to_arg(t: &OscType) -> Arg {
    match t {
        OscType::Int(i) => Arg::Int(i64::from(*i)),
        OscType::Long(i) => Arg::Int(*i),
        OscType::Float(f) => Arg::Float(f64::from(*f)),
        OscType::Double(f) => Arg::Float(*f),
        OscType::String(s) => Arg::Str(s.clone()),
        OscType::Bool(b) => Arg::Bool(*b),
        OscType::Char(c) => Arg::Str(c.to_string()),
        OscType::Blob(bytes) => Arg::List(bytes.iter().map(|b| Arg::Int(i64::from(*b))).collect()),
        OscType::Time(tag) => {
            Arg::Float(f64::from(tag.seconds) + f64::from(tag.fractional) / 4_294_967_296.0)
        }
        OscType::Midi(m) => Arg::List(
            [m.port, m.status, m.data1, m.data2]
                .iter()
                .map(|b| Arg::Int(i64::from(*b)))
                .collect(),
        ),
        OscType::Color(c) => Arg::List(
            [c.red, c.green, c.blue, c.alpha]
                .iter()
                .map(|b| Arg::Int(i64::from(*b)))
                .collect(),
        ),
        OscType::Array(a) => Arg::List(a.content.iter().map(to_arg).collect()),
        OscType::Nil => Arg::List(Vec::new()),
        OscType::Inf => Arg::Float(f64::INFINITY),
    }
}

/// A Scheme value as an OSC argument, or what cannot be sent.
fn to_osc(interp: &Interp, v: Value, integer_64: bool, real_64: bool) -> Result<OscType, String> {
    if let Some(f) = interp.as_f64(v).filter(|_| interp.as_int(v).is_none()) {
        return Ok(if real_64 {
            OscType::Double(f)
        } else {
            OscType::Float(f as f32)
        });
    }
    datum_to_osc(&interp.to_datum(v).kind, integer_64, real_64)
}

fn datum_to_osc(d: &DatumKind, integer_64: bool, real_64: bool) -> Result<OscType, String> {
    Ok(match d {
        DatumKind::Int(i) if integer_64 => OscType::Long(*i),
        DatumKind::Int(i) => match i32::try_from(*i) {
            Ok(i) => OscType::Int(i),
            Err(_) => {
                return Err(format!(
                    "{i} does not fit in OSC's 32-bit integer; (io:osc:set-integer-64bit? #t) sends 64-bit ones"
                ));
            }
        },
        DatumKind::Float(f) if real_64 => OscType::Double(*f),
        DatumKind::Float(f) => OscType::Float(*f as f32),
        DatumKind::Str(s) | DatumKind::Sym(s) => OscType::String(s.clone()),
        DatumKind::Bool(b) => OscType::Bool(*b),
        DatumKind::Char(c) => OscType::Char(*c),
        DatumKind::Nil => OscType::Nil,
        DatumKind::List(items) | DatumKind::Vector(items) => OscType::Array(OscArray {
            content: items
                .iter()
                .map(|d| datum_to_osc(&d.kind, integer_64, real_64))
                .collect::<Result<_, _>>()?,
        }),
        DatumKind::Dotted(..) | DatumKind::Other(_) => {
            return Err("OSC carries numbers, strings, symbols, booleans and lists".to_owned());
        }
    })
}

/// Encodes one message, or a bundle of them, into a datagram.
pub fn encode_message(addr: &str, args: Vec<OscType>) -> Result<Vec<u8>, String> {
    if !addr.starts_with('/') {
        return Err(format!("an OSC address starts with `/`, not {addr:?}"));
    }
    rosc::encoder::encode(&OscPacket::Message(OscMessage {
        addr: addr.to_owned(),
        args,
    }))
    .map_err(|e| format!("cannot encode the message: {e}"))
}

/// Encodes messages as one bundle with time tag `tag`.
pub fn encode_bundle(tag: OscTime, messages: Vec<OscMessage>) -> Result<Vec<u8>, String> {
    rosc::encoder::encode(&OscPacket::Bundle(OscBundle {
        timetag: tag,
        content: messages.into_iter().map(OscPacket::Message).collect(),
    }))
    .map_err(|e| format!("cannot encode the bundle: {e}"))
}

fn native_error(kind: ErrorKind, message: String) -> Error {
    Error::new(kind, message)
}

/// A port number from a Scheme value.
fn port_of(interp: &Interp, v: Value, what: &str) -> Result<u16, Error> {
    interp
        .as_int(v)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Type,
                format!("{what}: a port is a number from 0 to 65535"),
            )
            .with_irritants(vec![interp.write_string(v)])
        })
}

/// Registers `io:osc:start-server`, `io:osc:start-dirt`, `io:osc:stop-server`,
/// `io:osc:send`, `io:osc:set-integer-64bit?` and `io:osc:set-real-64bit?`.
pub(crate) fn register(interp: &mut Interp, io: &Rc<Io>) {
    let it = io.clone();
    interp.register_native("io:osc:start-server", move |interp, args| {
        let usage = "io:osc:start-server takes a port and the name of a handler: \
                     (io:osc:start-server 7009 \"osc-receive-7009\")";
        if !(2..=3).contains(&args.len()) {
            return Err(Error::new(ErrorKind::Arity, usage));
        }
        let port = port_of(interp, args[0], "io:osc:start-server")?;
        let Some(handler) = interp
            .as_string(args[1])
            .or_else(|| interp.as_symbol(args[1]))
        else {
            return Err(Error::new(ErrorKind::Type, usage)
                .with_irritants(vec![interp.write_string(args[1])]));
        };
        let host = match args.get(2) {
            Some(&h) => interp.as_string(h).ok_or_else(|| {
                Error::new(
                    ErrorKind::Type,
                    "io:osc:start-server: the host to listen on is a string, such as \"127.0.0.1\"",
                )
                .with_irritants(vec![interp.write_string(h)])
            })?,
            None => "0.0.0.0".to_owned(),
        };
        let courier = it.courier("io:osc:start-server")?;
        let bound = it
            .osc
            .borrow_mut()
            .start(port, &host, Handler::Named(handler), courier)
            .map_err(|m| native_error(ErrorKind::Io, format!("io:osc:start-server: {m}")))?;
        Ok(interp.int(i64::from(bound)))
    });
    let it = io.clone();
    interp.register_native("io:osc:start-dirt", move |interp, args| {
        let port = match args {
            [] => 57_120,
            [port] => port_of(interp, *port, "io:osc:start-dirt")?,
            _ => {
                return Err(Error::new(
                    ErrorKind::Arity,
                    "io:osc:start-dirt takes at most a port (SuperDirt's is 57120)",
                ));
            }
        };
        let courier = it.courier("io:osc:start-dirt")?;
        let bound = it
            .osc
            .borrow_mut()
            .start(port, "127.0.0.1", Handler::Dirt, courier)
            .map_err(|m| native_error(ErrorKind::Io, format!("io:osc:start-dirt: {m}")))?;
        Ok(interp.int(i64::from(bound)))
    });
    let it = io.clone();
    interp.register_native("io:osc:stop-server", move |interp, args| {
        let [port] = args else {
            return Err(Error::new(
                ErrorKind::Arity,
                "io:osc:stop-server takes the port of a server: (io:osc:stop-server 7009)",
            ));
        };
        let port = port_of(interp, *port, "io:osc:stop-server")?;
        let server = it.osc.borrow_mut().servers.remove(&port);
        match server {
            Some(server) => {
                server.stop();
                Ok(interp.bool(true))
            }
            None => Ok(interp.bool(false)),
        }
    });
    let it = io.clone();
    interp.register_native("io:osc:send", move |interp, args| {
        let usage = "io:osc:send takes a time, a (host . port) pair, an address and arguments: \
                     (io:osc:send (now) (cons \"localhost\" 7009) \"/test\" 1 2.5 \"hi\")";
        if args.len() < 3 {
            return Err(Error::new(ErrorKind::Arity, usage));
        }
        let time = crate::io::sample_time(interp, args[0], "io:osc:send")?;
        let (host, port) = match interp.to_datum(args[1]).kind {
            DatumKind::Dotted(head, tail) if head.len() == 1 => match (&head[0].kind, &tail.kind) {
                (DatumKind::Str(h), DatumKind::Int(p)) => match u16::try_from(*p) {
                    Ok(p) => (h.clone(), p),
                    Err(_) => {
                        return Err(Error::new(
                            ErrorKind::Type,
                            "io:osc:send: a port is a number from 0 to 65535",
                        )
                        .with_irritants(vec![interp.write_string(args[1])]));
                    }
                },
                _ => {
                    return Err(Error::new(ErrorKind::Type, usage)
                        .with_irritants(vec![interp.write_string(args[1])]));
                }
            },
            _ => {
                return Err(Error::new(ErrorKind::Type, usage)
                    .with_irritants(vec![interp.write_string(args[1])]));
            }
        };
        let Some(addr) = interp.as_string(args[2]) else {
            return Err(Error::new(ErrorKind::Type, usage)
                .with_irritants(vec![interp.write_string(args[2])]));
        };
        let (integer_64, real_64) = {
            let osc = it.osc.borrow();
            (osc.integer_64, osc.real_64)
        };
        let mut osc_args = Vec::with_capacity(args.len() - 3);
        for (i, &v) in args[3..].iter().enumerate() {
            let arg = to_osc(interp, v, integer_64, real_64).map_err(|m| {
                Error::new(
                    ErrorKind::Type,
                    format!("io:osc:send: argument {} cannot be sent: {m}", i + 1),
                )
                .with_irritants(vec![interp.write_string(v)])
            })?;
            osc_args.push(arg);
        }
        let bytes = encode_message(&addr, osc_args)
            .map_err(|m| Error::new(ErrorKind::Type, format!("io:osc:send: {m}")))?;
        it.osc
            .borrow_mut()
            .send(time, host, port, bytes)
            .map_err(|m| native_error(ErrorKind::Io, format!("io:osc:send: {m}")))?;
        Ok(interp.unspecified())
    });
    for (name, is_real) in [
        ("io:osc:set-integer-64bit?", false),
        ("io:osc:set-real-64bit?", true),
    ] {
        let it = io.clone();
        interp.register_native(name, move |interp, args| {
            let Some(on) = args.first().and_then(|v| interp.as_bool(*v)) else {
                return Err(Error::new(
                    ErrorKind::Type,
                    format!("{name} takes #t or #f"),
                ));
            };
            let mut osc = it.osc.borrow_mut();
            if is_real {
                osc.real_64 = on;
            } else {
                osc.integer_64 = on;
            }
            Ok(interp.bool(on))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_decodes_into_the_handlers_arguments() {
        let bytes = encode_message(
            "/test/msg",
            vec![
                OscType::String("Hello".into()),
                OscType::Int(500),
                OscType::Float(6.5),
                OscType::Bool(true),
                OscType::Array(OscArray {
                    content: vec![OscType::Long(1 << 40), OscType::Nil],
                }),
            ],
        )
        .unwrap();
        let OscPacket::Message(m) = decode(&bytes).unwrap() else {
            panic!("not a message");
        };
        let args: Vec<Arg> = m.args.iter().map(to_arg).collect();
        assert_eq!(
            args,
            [
                Arg::Str("Hello".into()),
                Arg::Int(500),
                Arg::Float(6.5),
                Arg::Bool(true),
                Arg::List(vec![Arg::Int(1 << 40), Arg::List(vec![])]),
            ]
        );
    }

    #[test]
    fn malformed_packets_are_errors_that_say_so() {
        assert_eq!(decode(&[]).unwrap_err(), "an empty packet is not OSC");
        let e = decode(b"/abc\0\0\0\0,i\0\0\x01").unwrap_err();
        assert!(
            e.starts_with("a malformed packet of 13 bytes was dropped: "),
            "{e}"
        );
        let e = decode(b"#bundle\0\0\0").unwrap_err();
        assert!(e.starts_with("a malformed packet of 10 bytes"), "{e}");
    }

    #[test]
    fn random_bytes_never_panic_the_decoder() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..2000usize {
            let bytes: Vec<u8> = (0..len % 97)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let mut framed = bytes.clone();
            if len % 3 == 0 {
                framed.splice(0..0, b"/a\0\0,".iter().copied());
            } else if len % 3 == 1 {
                framed.splice(0..0, b"#bundle\0".iter().copied());
            }
            let _ = decode(&framed);
        }
    }

    #[test]
    fn sending_checks_its_address_and_arguments() {
        assert_eq!(
            encode_message("test", vec![]).unwrap_err(),
            "an OSC address starts with `/`, not \"test\""
        );
        assert_eq!(
            datum_to_osc(&DatumKind::Int(1 << 40), false, false).unwrap_err(),
            "1099511627776 does not fit in OSC's 32-bit integer; (io:osc:set-integer-64bit? #t) sends 64-bit ones"
        );
        assert_eq!(
            datum_to_osc(&DatumKind::Int(1 << 40), true, false).unwrap(),
            OscType::Long(1 << 40)
        );
        assert_eq!(
            datum_to_osc(&DatumKind::Sym("bd".into()), false, false).unwrap(),
            OscType::String("bd".into())
        );
    }

    #[test]
    fn dirt_play_parameters_become_an_association_list_or_a_clear_error() {
        let params = dirt_params(&[
            OscType::String("s".into()),
            OscType::String("bd".into()),
            OscType::String("n".into()),
            OscType::Float(3.0),
        ])
        .unwrap();
        assert_eq!(
            params,
            Arg::List(vec![
                Arg::List(vec![Arg::Sym("s".into()), Arg::Str("bd".into())]),
                Arg::List(vec![Arg::Sym("n".into()), Arg::Float(3.0)]),
            ])
        );
        assert_eq!(
            dirt_params(&[OscType::String("s".into())]).unwrap_err(),
            "a /dirt/play message holds pairs of a name and a value, not 1 arguments"
        );
        assert_eq!(
            dirt_params(&[OscType::Int(1), OscType::Int(2)]).unwrap_err(),
            "a /dirt/play parameter's name is a string, not Int(1)"
        );
    }

    #[test]
    fn a_time_tag_is_seconds_since_1970() {
        let tag = OscTime {
            seconds: 2_208_988_800 + 10,
            fractional: 1 << 31,
        };
        assert_eq!(tag_unix_seconds(tag), 10.5);
    }
}
