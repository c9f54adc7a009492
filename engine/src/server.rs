//! The editor connection: a TCP eval server that speaks the protocol of Extempore's editor
//! plugins, so Emacs `extempore-mode`, the VS Code Extempore extension and a plain
//! `nc -C` can send code to the running engine unchanged.
//!
//! The protocol: on connect the server sends `Welcome to extempore!` and a NUL byte. A
//! request is source text ending in `\r\n`; the reply is the printed value of its last
//! form, or an error's text, followed by a NUL byte. Replies come back in the order the
//! requests arrived.
//!
//! Framing: both editor plugins send a region with `\n` line ends and append one `\r\n`
//! (VS Code first turns `\r\n` inside the text into `\n`), but `nc -C` or telnet end every
//! line with `\r\n`, and TCP may split one request across reads or join several in one.
//! So a `\r\n` ends a request only where every form before it is closed (a
//! [`FormScanner`] follows strings and comments); at a `\r\n` inside an open form the
//! request goes on, and if nothing more arrives for [`QUIET_PERIOD`] the text is answered
//! with an "unbalanced" error. A request longer than `max_message_bytes`, one holding
//! binary bytes, one that is not UTF-8 or one with unbalanced parentheses gets an error
//! reply and the connection goes on serving; the rest of a request that was too long is
//! dropped up to the `\r\n` that closes its forms, so no fragment of it is evaluated.
//!
//! Threads: one accepts connections (`zonal-server`); each connection has a reader
//! (`zonal-conn-read`) that frames requests, and a writer (`zonal-conn-write`) that hands
//! them one at a time to the control thread over the crossbeam channel and writes each
//! reply. The reader recognises [`INTERRUPT_COMMAND`] itself and raises the interrupt flag
//! at once, even while this or another connection waits for a runaway evaluation.
//!
//! Notices: an error in a callback that a request of this connection scheduled (or in
//! the callbacks that one schedules) is sent to this connection too, as a message of its
//! own ending in NUL, written between replies or while a request is evaluated, never
//! inside a reply; Extempore's editor plugins show it like any reply.
//!
//! Web pages: a page open in the livecoder's browser can make the browser connect here
//! (`fetch("http://127.0.0.1:7099", {method: "POST", body: ...})`, a WebSocket). What it
//! sends starts with an HTTP request line and header lines, never with what an editor
//! sends, so the reader checks every line that starts outside a form: a request line
//! (`POST / HTTP/1.1`) or a browser header (`Host:`, `Origin:`, `Upgrade:`, ...) closes
//! the connection before anything it sent is evaluated, and the event is logged on
//! stderr (Redis defends its port the same way). With [`ServerConfig::token`] set, the
//! first request of every connection must also be [`TOKEN_COMMAND`] with that token.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::request::{Balance, FormScanner, INTERRUPT_COMMAND, Reply, Request};

/// The port Extempore's editor plugins connect to.
pub const DEFAULT_PORT: u16 = 7099;

/// The largest request accepted by default: 1 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 20;

/// What the server sends first on every connection.
pub const GREETING: &[u8] = b"Welcome to extempore!\0";

/// How long a request that ended a line inside an open form waits for more text before
/// it is answered as unbalanced.
pub const QUIET_PERIOD: Duration = Duration::from_millis(300);

/// How many editor connections may be open at once.
pub const MAX_CONNECTIONS: usize = 32;

/// How many requests one connection may have waiting for their replies.
const PENDING_PER_CONNECTION: usize = 256;

/// How many notices (callback errors) may wait for one connection's writer; more are
/// left to the engine's stderr.
const NOTICES_PER_CONNECTION: usize = 64;

/// The head of the request that opens a connection when the server wants a token:
/// `(zonal:token "the token")`.
pub const TOKEN_COMMAND: &str = "zonal:token";

/// Header names a browser sends (lower case); a line at the top level starting with one
/// and a `:` is HTTP, not code.
const HTTP_HEADERS: [&str; 20] = [
    "host",
    "origin",
    "upgrade",
    "connection",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "content-type",
    "content-length",
    "transfer-encoding",
    "referer",
    "cookie",
    "cache-control",
    "pragma",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-fetch-mode",
    "sec-fetch-site",
    "sec-fetch-dest",
];

/// Where the server listens and how much it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The address to bind; `127.0.0.1:7099` by default, because the server executes
    /// whatever it receives.
    pub addr: SocketAddr,
    /// The longest request, in bytes, not counting its `\r\n`.
    pub max_message_bytes: usize,
    /// A shared secret: when set, the first request of every connection must be
    /// `(zonal:token "SECRET")`, or the connection is told so and closed. `None` (the
    /// default) keeps Extempore's protocol unchanged for its editor plugins.
    pub token: Option<String>,
}

impl ServerConfig {
    /// Listens on `127.0.0.1` at `port`, with the default size limit.
    pub fn localhost(port: u16) -> Self {
        ServerConfig {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            token: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::localhost(DEFAULT_PORT)
    }
}

/// A running server. Dropping it (or [`ServerHandle::stop`]) stops accepting and closes
/// every connection.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    next_id: AtomicU64,
    /// A clone of every open connection's socket, to shut it down on stop.
    connections: Mutex<HashMap<u64, TcpStream>>,
}

impl Shared {
    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<u64, TcpStream>> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl ServerHandle {
    /// The address the server listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many editor connections are open.
    pub fn connection_count(&self) -> usize {
        self.shared.connections().len()
    }

    /// Stops accepting, closes every connection and waits for the accepting thread.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accepting thread with a connection of our own; it sees the flag and
        // returns. If the connect fails the listener is already gone.
        let _ = TcpStream::connect_timeout(&wake_address(self.local_addr), Duration::from_secs(1));
        let _ = accept.join();
        for stream in self.shared.connections().values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// The address to connect to in order to reach a listener bound to `addr`.
fn wake_address(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// Binds `cfg.addr` and serves editor connections on their own threads, sending every
/// request to the control thread over `requests`. A request whose whole text is
/// [`INTERRUPT_COMMAND`] stores `true` into `interrupt` instead and is answered
/// `interrupted`.
pub fn spawn_server(
    cfg: ServerConfig,
    requests: Sender<Request>,
    interrupt: Arc<AtomicBool>,
) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(cfg.addr).map_err(|e| bind_error(cfg.addr, e))?;
    let local_addr = listener.local_addr()?;
    let shared = Arc::new(Shared::default());
    let accept = {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("zonal-server".to_owned())
            .spawn(move || accept_loop(&listener, &shared, &requests, &interrupt, cfg))?
    };
    Ok(ServerHandle {
        local_addr,
        shared,
        accept: Some(accept),
    })
}

fn bind_error(addr: SocketAddr, e: io::Error) -> io::Error {
    let message = match e.kind() {
        io::ErrorKind::AddrInUse => format!(
            "cannot listen for editors on {addr}: the port is in use (is another zonal or \
             Extempore running? choose another with --port)"
        ),
        io::ErrorKind::PermissionDenied => format!(
            "cannot listen for editors on {addr}: permission denied (choose a port above 1023 \
             with --port)"
        ),
        _ => format!("cannot listen for editors on {addr}: {e}"),
    };
    io::Error::new(e.kind(), message)
}

fn accept_loop(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    requests: &Sender<Request>,
    interrupt: &Arc<AtomicBool>,
    cfg: ServerConfig,
) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else {
            // A connection that failed before it was accepted (reset by the peer, or
            // out of file descriptors): back off briefly and keep serving the others.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        if shared.connections().len() >= MAX_CONNECTIONS {
            let message = format!(
                "too many editor connections ({MAX_CONNECTIONS} are open); close one and reconnect\0"
            );
            let _ = stream.write_all(message.as_bytes());
            continue;
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let Ok(registered) = stream.try_clone() else {
            continue;
        };
        shared.connections().insert(id, registered);
        let connection = Connection {
            id,
            stream,
            shared: Arc::clone(shared),
            requests: requests.clone(),
            interrupt: Arc::clone(interrupt),
            max_message_bytes: cfg.max_message_bytes,
            token: cfg.token.clone(),
            refused: Arc::new(AtomicBool::new(false)),
        };
        let spawned = thread::Builder::new()
            .name("zonal-conn-read".to_owned())
            .spawn(move || connection.serve());
        if spawned.is_err()
            && let Some(stream) = shared.connections().remove(&id)
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// One editor connection, served by its reader thread.
struct Connection {
    id: u64,
    stream: TcpStream,
    shared: Arc<Shared>,
    requests: Sender<Request>,
    interrupt: Arc<AtomicBool>,
    max_message_bytes: usize,
    token: Option<String>,
    /// Set when the connection turned out to be a web page's: the writer sends nothing
    /// more to the control thread.
    refused: Arc<AtomicBool>,
}

/// A reply the writer owes the client, in request order.
enum Pending {
    /// Send this request to the control thread, then write its reply.
    Eval(Request, Receiver<Reply>),
    /// Write this reply (a framing error, or the answer to an interrupt).
    Ready(Reply),
}

impl Connection {
    fn serve(self) {
        let origin = match self.stream.peer_addr() {
            Ok(peer) => format!("tcp {peer}"),
            Err(_) => "tcp".to_owned(),
        };
        let mut stream = &self.stream;
        if stream.write_all(GREETING).is_ok()
            && let Ok(writer_stream) = self.stream.try_clone()
        {
            let (pending_tx, pending_rx) = bounded(PENDING_PER_CONNECTION);
            let (notices_tx, notices_rx) = bounded(NOTICES_PER_CONNECTION);
            let mut writer = Writer {
                stream: writer_stream,
                requests: self.requests.clone(),
                refused: Arc::clone(&self.refused),
                notices: notices_rx,
                notices_open: true,
            };
            let writer = thread::Builder::new()
                .name("zonal-conn-write".to_owned())
                .spawn(move || writer.run(&pending_rx));
            if let Ok(writer) = writer {
                self.read_requests(&origin, &pending_tx, &notices_tx);
                drop(pending_tx);
                drop(notices_tx);
                let _ = writer.join();
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        self.shared.connections().remove(&self.id);
    }

    /// Frames requests until the client hangs up, the server stops or the writer fails.
    fn read_requests(&self, origin: &str, pending: &Sender<Pending>, notices: &Sender<String>) {
        let mut framer = Framer::new(self.max_message_bytes);
        let mut chunk = [0u8; 16 * 1024];
        let mut stream = &self.stream;
        let mut authorised = self.token.is_none();
        loop {
            while let Some(frame) = framer.next_frame() {
                if let Frame::Http(line) = &frame {
                    self.refuse_http(origin, line);
                    return;
                }
                if !authorised {
                    let (reply, accepted) = self.check_token(&frame);
                    if pending.send(Pending::Ready(reply)).is_err() || !accepted {
                        if !accepted {
                            eprintln!(
                                "zonal: closed the editor connection from {origin}: its first \
                                 request was not ({TOKEN_COMMAND} \"...\") with the right token"
                            );
                        }
                        return;
                    }
                    authorised = true;
                    continue;
                }
                if pending.send(self.answer(frame, origin, notices)).is_err() {
                    return;
                }
            }
            let timeout = framer.awaits_quiet().then_some(QUIET_PERIOD);
            if stream.set_read_timeout(timeout).is_err() {
                return;
            }
            match stream.read(&mut chunk) {
                Ok(0) => {
                    // The client finished sending: answer a request it left open.
                    if let Some(frame) = framer.flush_open() {
                        let _ = pending.send(self.answer(frame, origin, notices));
                    }
                    return;
                }
                Ok(n) => framer.push(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if let Some(frame) = framer.flush_open()
                        && pending.send(self.answer(frame, origin, notices)).is_err()
                    {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
            if self.shared.stop.load(Ordering::SeqCst) {
                return;
            }
        }
    }

    /// Closes a connection that sent HTTP: nothing it sent is evaluated.
    fn refuse_http(&self, origin: &str, line: &str) {
        self.refused.store(true, Ordering::SeqCst);
        let _ = self.stream.shutdown(Shutdown::Both);
        eprintln!(
            "zonal: closed the editor connection from {origin}: it sent HTTP ({line:?}), as a \
             web page in a browser can; nothing it sent was evaluated"
        );
    }

    /// The reply to the first request of a connection that must send the token, and
    /// whether the token was right.
    fn check_token(&self, frame: &Frame) -> (Reply, bool) {
        let expected = self.token.as_deref().unwrap_or_default();
        let sent = match frame {
            Frame::Message(bytes) => std::str::from_utf8(bytes).ok().and_then(token_of),
            Frame::TooLong | Frame::Http(_) => None,
        };
        if sent.is_some_and(|sent| same_secret(sent.as_bytes(), expected.as_bytes())) {
            (Reply::Value("token accepted".to_owned()), true)
        } else {
            let message = format!(
                "this zonal wants a token: send ({TOKEN_COMMAND} \"...\") with the token it was \
                 started with (--token or ZONAL_TOKEN) as the first request; closing"
            );
            (Reply::Error(message), false)
        }
    }

    /// What to do with one framed request.
    fn answer(&self, frame: Frame, origin: &str, notices: &Sender<String>) -> Pending {
        let source = match frame {
            Frame::Http(line) => {
                return Pending::Ready(Reply::Error(format!(
                    "HTTP is not the editor protocol ({line:?})"
                )));
            }
            Frame::TooLong => {
                return Pending::Ready(Reply::Error(too_long(self.max_message_bytes)));
            }
            Frame::Message(bytes) => match check_message(&bytes, self.max_message_bytes) {
                Ok(source) => source,
                Err(message) => return Pending::Ready(Reply::Error(message)),
            },
        };
        let text = source.trim();
        if text == INTERRUPT_COMMAND {
            self.interrupt.store(true, Ordering::SeqCst);
            return Pending::Ready(Reply::Value("interrupted".to_owned()));
        }
        if text.is_empty() {
            return Pending::Ready(Reply::Value(String::new()));
        }
        let (reply, replied) = bounded(1);
        Pending::Eval(
            Request {
                source,
                origin: origin.to_owned(),
                reply,
                notices: Some(notices.clone()),
            },
            replied,
        )
    }
}

/// The writing half of a connection: hands each request to the control thread in turn
/// and writes the replies in order; between them, and while a request is evaluated, it
/// writes the notices that arrive (errors of callbacks this connection scheduled), each
/// as a message of its own ending in NUL, so a reply is never split.
struct Writer {
    stream: TcpStream,
    requests: Sender<Request>,
    refused: Arc<AtomicBool>,
    notices: Receiver<String>,
    /// False once every sender of notices is gone (then only replies are waited for).
    notices_open: bool,
}

impl Writer {
    fn run(&mut self, pending: &Receiver<Pending>) {
        loop {
            let notices = self.notices_receiver();
            let item = crossbeam_channel::select_biased! {
                recv(pending) -> item => match item {
                    Ok(item) => item,
                    Err(_) => return,
                },
                recv(notices) -> notice => {
                    if self.forward(notice).is_err() {
                        return;
                    }
                    continue;
                }
            };
            if self.refused.load(Ordering::SeqCst) {
                return;
            }
            let reply = match item {
                Pending::Ready(reply) => Some(reply),
                Pending::Eval(request, replied) => match self.requests.send(request) {
                    Ok(()) => self.await_reply(&replied),
                    Err(_) => Some(Reply::Error("the engine is not running".to_owned())),
                },
            };
            let written = match &reply {
                Some(reply) => write_reply(&mut self.stream, reply),
                None => Err(io::ErrorKind::BrokenPipe.into()),
            };
            if written.is_err() {
                let _ = self.stream.shutdown(Shutdown::Both);
                return;
            }
        }
    }

    /// Waits for the reply to the request being evaluated, writing notices meanwhile;
    /// `None` if a notice could not be written (the client is gone).
    fn await_reply(&mut self, replied: &Receiver<Reply>) -> Option<Reply> {
        loop {
            let notices = self.notices_receiver();
            // The reply first: a notice about a callback this request scheduled follows it.
            crossbeam_channel::select_biased! {
                recv(replied) -> reply => {
                    return Some(reply.unwrap_or_else(|_| {
                        Reply::Error("the engine stopped before answering".to_owned())
                    }));
                }
                recv(notices) -> notice => {
                    if self.forward(notice).is_err() {
                        return None;
                    }
                }
            }
        }
    }

    /// The notices, or a channel that never delivers once they are closed.
    fn notices_receiver(&self) -> Receiver<String> {
        if self.notices_open {
            self.notices.clone()
        } else {
            crossbeam_channel::never()
        }
    }

    fn forward(&mut self, notice: Result<String, crossbeam_channel::RecvError>) -> io::Result<()> {
        match notice {
            Ok(text) => write_reply(&mut self.stream, &Reply::Error(text)),
            Err(_) => {
                self.notices_open = false;
                Ok(())
            }
        }
    }
}

/// Writes one reply: its text without NUL bytes (they end a reply), then a NUL.
fn write_reply(stream: &mut TcpStream, reply: &Reply) -> io::Result<()> {
    let text = match reply {
        Reply::Value(text) | Reply::Error(text) => text,
    };
    let mut bytes: Vec<u8> = text.bytes().filter(|&b| b != 0).collect();
    bytes.push(0);
    stream.write_all(&bytes)
}

/// The token in `(zonal:token "TOKEN")`, if `text` is that.
fn token_of(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?.trim();
    let quoted = inner.strip_prefix(TOKEN_COMMAND)?.trim();
    let token = quoted.strip_prefix('"')?.strip_suffix('"')?;
    (!token.contains(['"', '\\'])).then_some(token)
}

/// Compares two secrets in time that depends only on their lengths.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether one line (without its line end) is HTTP: a request line (`POST /x HTTP/1.1`)
/// or a header a browser sends (`Host: ...`), as opposed to source code.
fn is_http_line(line: &[u8]) -> bool {
    let Ok(line) = std::str::from_utf8(line) else {
        return false;
    };
    let mut words = line.split(' ');
    if let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
        && !method.is_empty()
        && method.bytes().all(|b| b.is_ascii_uppercase())
        && !target.is_empty()
        && version
            .strip_prefix("HTTP/")
            .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()))
    {
        return true;
    }
    line.split_once(':').is_some_and(|(name, _)| {
        HTTP_HEADERS
            .iter()
            .any(|header| header.eq_ignore_ascii_case(name))
    })
}

fn too_long(max: usize) -> String {
    format!("the message is longer than the limit of {max} bytes; it was discarded")
}

/// Turns the bytes of one request into source text, or says why they are not.
fn check_message(bytes: &[u8], max: usize) -> Result<String, String> {
    if bytes.len() > max {
        return Err(too_long(max));
    }
    if let Some(offset) = bytes
        .iter()
        .position(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C)) || b == 0x7F)
    {
        return Err(format!(
            "the message holds binary data (byte 0x{:02x} at offset {offset}), not source text",
            bytes[offset]
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let offset = e.valid_up_to();
        format!(
            "the message is not UTF-8 text (byte 0x{:02x} at offset {offset}); send source as UTF-8",
            bytes[offset]
        )
    })?;
    let source = text.replace("\r\n", "\n");
    if let Some(problem) = crate::request::balance(&source).problem() {
        return Err(problem);
    }
    Ok(source)
}

/// One request cut from the byte stream of a connection.
#[derive(Debug, PartialEq, Eq)]
enum Frame {
    /// The bytes of a request, without its final `\r\n`.
    Message(Vec<u8>),
    /// A request that grew past the limit; its bytes up to the end of its forms are
    /// dropped.
    TooLong,
    /// A line of HTTP (a request line or a browser's header), which ends the connection.
    Http(String),
}

/// Cuts a connection's byte stream into requests (see the module docs).
#[derive(Debug)]
struct Framer {
    buf: Vec<u8>,
    /// How many bytes of `buf` the scanner has seen.
    scanned: usize,
    scanner: FormScanner,
    /// Whether the last byte seen was `\r`.
    after_cr: bool,
    /// The end of the last `\r\n` in `buf` that fell inside an open form.
    open_crlf_end: Option<usize>,
    /// Where the line being scanned starts, if it starts outside every form (only such
    /// lines are checked for HTTP).
    line_start: Option<usize>,
    /// An HTTP line was seen: nothing more is framed.
    spoke_http: bool,
    /// Dropping the rest of a request that was too long, up to the `\r\n` at which its
    /// forms are closed.
    discarding: bool,
    max: usize,
}

impl Framer {
    fn new(max: usize) -> Self {
        Framer {
            buf: Vec::new(),
            scanned: 0,
            scanner: FormScanner::new(),
            after_cr: false,
            open_crlf_end: None,
            line_start: Some(0),
            spoke_http: false,
            discarding: false,
            max,
        }
    }

    fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole request in what has arrived, if any.
    fn next_frame(&mut self) -> Option<Frame> {
        if self.spoke_http {
            return None;
        }
        while self.scanned < self.buf.len() {
            let byte = self.buf[self.scanned];
            self.scanner.feed(byte);
            self.scanned += 1;
            let line_end = self.after_cr && byte == b'\n';
            self.after_cr = byte == b'\r';
            if byte == b'\n' && !self.discarding {
                if let Some(start) = self.line_start {
                    let line = &self.buf[start..self.scanned - 1];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if is_http_line(line) {
                        let line = String::from_utf8_lossy(line).into_owned();
                        self.buf.clear();
                        self.restart();
                        self.spoke_http = true;
                        return Some(Frame::Http(line));
                    }
                }
                self.line_start =
                    (self.scanner.balance() == Balance::Complete).then_some(self.scanned);
            }
            if line_end {
                if !self.scanner.wants_more() {
                    if self.discarding {
                        // The end of the request that was too long: framing starts over.
                        self.buf.drain(..self.scanned);
                        self.discarding = false;
                        self.restart();
                        continue;
                    }
                    return Some(self.take(self.scanned));
                }
                self.open_crlf_end = Some(self.scanned);
            }
        }
        if self.discarding {
            self.drop_scanned();
        } else if self.buf.len() > self.max.saturating_add(2) {
            // Everything in `buf` is scanned: the scanner goes on following the forms,
            // so the rest of this request is dropped up to its end, not evaluated.
            self.drop_scanned();
            self.discarding = true;
            return Some(Frame::TooLong);
        }
        None
    }

    /// Drops the bytes scanned so far (all of `buf`), keeping the scanner's state.
    fn drop_scanned(&mut self) {
        let open_crlf_at_end = self.open_crlf_end == Some(self.buf.len());
        self.buf.clear();
        self.scanned = 0;
        self.open_crlf_end = open_crlf_at_end.then_some(0);
        self.line_start = None;
    }

    /// Whether everything that arrived ends with a `\r\n` inside an open form, so the
    /// reader should wait only [`QUIET_PERIOD`] for more.
    fn awaits_quiet(&self) -> bool {
        self.open_crlf_end.is_some_and(|end| end == self.buf.len())
    }

    /// After a quiet period: the text up to its last `\r\n`, answered as it stands (or,
    /// for a request that was too long, the end of it: it was answered already).
    fn flush_open(&mut self) -> Option<Frame> {
        if !self.awaits_quiet() {
            return None;
        }
        if self.discarding {
            self.discarding = false;
            self.buf.clear();
            self.restart();
            return None;
        }
        Some(self.take(self.buf.len()))
    }

    /// Removes the request ending (with its `\r\n`) at `end` from the buffer.
    fn take(&mut self, end: usize) -> Frame {
        let message: Vec<u8> = self.buf[..end - 2].to_vec();
        self.buf.drain(..end);
        self.restart();
        if message.len() > self.max {
            Frame::TooLong
        } else {
            Frame::Message(message)
        }
    }

    fn restart(&mut self) {
        self.scanned = 0;
        self.scanner = FormScanner::new();
        self.after_cr = false;
        self.open_crlf_end = None;
        self.line_start = Some(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framer: &mut Framer) -> Vec<Frame> {
        std::iter::from_fn(|| framer.next_frame()).collect()
    }

    fn message(text: &str) -> Frame {
        Frame::Message(text.as_bytes().to_vec())
    }

    #[test]
    fn a_request_spans_line_ends_inside_an_open_form() {
        let mut framer = Framer::new(100);
        framer.push(b"(define (f x)\r\n  (* x 2))\r\n(f 3)\r\n");
        assert_eq!(
            frames(&mut framer),
            [message("(define (f x)\r\n  (* x 2))"), message("(f 3)")]
        );
    }

    #[test]
    fn a_line_end_split_across_reads_still_ends_the_request() {
        let mut framer = Framer::new(100);
        framer.push(b"(+ 1 2)\r");
        assert_eq!(frames(&mut framer), []);
        framer.push(b"\n");
        assert_eq!(frames(&mut framer), [message("(+ 1 2)")]);
    }

    #[test]
    fn an_open_form_at_the_end_of_the_data_waits_for_quiet() {
        let mut framer = Framer::new(100);
        framer.push(b"(f 1\r\n");
        assert_eq!(frames(&mut framer), []);
        assert!(framer.awaits_quiet());
        assert_eq!(framer.flush_open(), Some(message("(f 1")));
        assert!(!framer.awaits_quiet());
    }

    #[test]
    fn a_too_long_request_is_dropped_up_to_the_end_of_its_forms() {
        let mut framer = Framer::new(8);
        framer.push(b"(aaaaaaaaaaaa");
        assert_eq!(frames(&mut framer), [Frame::TooLong]);
        framer.push(b"aaaa\r\n(c)\r\n\"(\r\n\")\r");
        assert_eq!(frames(&mut framer), []);
        framer.push(b"\n(b)\r\n");
        assert_eq!(frames(&mut framer), [message("(b)")]);
    }

    #[test]
    fn a_too_long_request_left_open_ends_after_a_quiet_period() {
        let mut framer = Framer::new(8);
        framer.push(b"(aaaaaaaaaaaa\r\n(b)\r\n");
        assert_eq!(frames(&mut framer), [Frame::TooLong]);
        assert!(framer.awaits_quiet());
        assert_eq!(framer.flush_open(), None);
        framer.push(b"(c)\r\n");
        assert_eq!(frames(&mut framer), [message("(c)")]);
    }

    #[test]
    fn framing_does_not_depend_on_where_reads_split_the_stream() {
        let stream: &[u8] = b"(a)\r\n(define (f x)\r\n  \"s\r\n)\" ; c (\r\n x)\r\n#| ( |# (b)\r\n";
        let mut whole = Framer::new(100);
        whole.push(stream);
        let expected = frames(&mut whole);
        assert_eq!(expected.len(), 3);
        for split in 0..=stream.len() {
            let mut framer = Framer::new(100);
            framer.push(&stream[..split]);
            let mut found = frames(&mut framer);
            framer.push(&stream[split..]);
            found.extend(frames(&mut framer));
            assert_eq!(found, expected, "split at {split}");
        }
    }

    #[test]
    fn http_lines_outside_forms_end_the_stream() {
        let mut framer = Framer::new(1000);
        framer.push(b"(ok)\r\nPOST / HTTP/1.1\r\nHost: 127.0.0.1:7099\r\n\r\n(evil)\r\n");
        assert_eq!(
            frames(&mut framer),
            [message("(ok)"), Frame::Http("POST / HTTP/1.1".to_owned())]
        );
        for line in [
            &b"GET /chat HTTP/1.1"[..],
            b"OPTIONS * HTTP/2",
            b"Origin: https://example.com",
            b"upgrade: websocket",
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ] {
            let mut framer = Framer::new(1000);
            framer.push(line);
            framer.push(b"\r\n");
            assert_eq!(
                frames(&mut framer),
                [Frame::Http(String::from_utf8_lossy(line).into_owned())]
            );
        }
    }

    #[test]
    fn code_that_mentions_http_is_not_http() {
        let mut framer = Framer::new(1000);
        let code = b"(define req \"\r\nPOST / HTTP/1.1\r\nHost: x\r\n\")\r\n(f\r\nHost: 1)\r\n(get host:i64)\r\n";
        framer.push(code);
        assert_eq!(frames(&mut framer).len(), 3);
        assert!(!is_http_line(b"GET"));
        assert!(!is_http_line(b"(GET / HTTP/1.1)"));
        assert!(!is_http_line(b"hostname: 1"));
    }

    #[test]
    fn the_token_request_is_read_exactly() {
        assert_eq!(token_of("(zonal:token \"s3cret\")"), Some("s3cret"));
        assert_eq!(token_of("  ( zonal:token   \"a b\" )  "), Some("a b"));
        assert_eq!(token_of("(zonal:token s3cret)"), None);
        assert_eq!(token_of("(zonal:tokens \"x\")"), None);
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }

    #[test]
    fn check_message_names_each_problem() {
        assert_eq!(check_message(b"(f 1)", 100), Ok("(f 1)".to_owned()));
        assert_eq!(check_message(b"(f\r\n 1)", 100), Ok("(f\n 1)".to_owned()));
        assert_eq!(
            check_message(b"(f \x00)", 100),
            Err(
                "the message holds binary data (byte 0x00 at offset 3), not source text".to_owned()
            )
        );
        assert_eq!(
            check_message(b"(f \xe9)", 100),
            Err(
                "the message is not UTF-8 text (byte 0xe9 at offset 3); send source as UTF-8"
                    .to_owned()
            )
        );
        assert_eq!(
            check_message(b"(f))", 100),
            Err("unbalanced parentheses: the `)` at line 1, column 4 closes nothing".to_owned())
        );
    }
}
