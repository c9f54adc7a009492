//! The editor server over real TCP, against a fake control thread (a test thread that
//! answers requests): greeting, framing, partial reads, several requests in one write,
//! oversized, binary and non-UTF-8 input, several clients, interrupting a runaway
//! evaluation, and stopping.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, unbounded};
use zonal_engine::request::{Reply, Request};
use zonal_engine::server::{GREETING, MAX_CONNECTIONS, ServerConfig, ServerHandle, spawn_server};

/// How long a test waits for anything before it fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// A fake control thread: `(spin)` runs until interrupted, `(slow)` takes 200 ms,
/// anything else is answered with `value of ` and its source.
fn fake_engine(interrupt: Arc<AtomicBool>) -> Sender<Request> {
    let (requests, incoming) = unbounded::<Request>();
    thread::spawn(move || {
        for request in incoming {
            let reply = match request.source.trim() {
                "(spin)" => {
                    let started = Instant::now();
                    while !interrupt.load(Ordering::SeqCst) && started.elapsed() < PATIENCE {
                        thread::sleep(Duration::from_millis(1));
                    }
                    interrupt.store(false, Ordering::SeqCst);
                    Reply::Error("evaluation interrupted".to_owned())
                }
                "(slow)" => {
                    thread::sleep(Duration::from_millis(200));
                    Reply::Value("slow done".to_owned())
                }
                "(origin)" => Reply::Value(request.origin.clone()),
                source => Reply::Value(format!("value of {source}")),
            };
            let _ = request.reply.send(reply);
        }
    });
    requests
}

fn local(max_message_bytes: usize) -> ServerConfig {
    ServerConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        max_message_bytes,
        token: None,
    }
}

fn start_with(max_message_bytes: usize) -> ServerHandle {
    let interrupt = Arc::new(AtomicBool::new(false));
    let requests = fake_engine(Arc::clone(&interrupt));
    spawn_server(local(max_message_bytes), requests, interrupt).expect("the server starts")
}

fn start() -> ServerHandle {
    start_with(1 << 20)
}

/// An editor connection.
struct Client {
    stream: TcpStream,
}

impl Client {
    /// Connects without reading the greeting.
    fn connect_raw(server: &ServerHandle) -> Client {
        let stream = TcpStream::connect(server.local_addr()).expect("connects");
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("sets a timeout");
        Client { stream }
    }

    /// Connects and checks the greeting.
    fn connect(server: &ServerHandle) -> Client {
        let mut client = Client::connect_raw(server);
        assert_eq!(client.reply(), "Welcome to extempore!");
        client
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("sends");
    }

    /// Reads one NUL-terminated reply.
    fn reply(&mut self) -> String {
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match self.stream.read(&mut byte) {
                Ok(0) => panic!("the server closed the connection"),
                Ok(_) if byte[0] == 0 => break,
                Ok(_) => reply.push(byte[0]),
                Err(e) => panic!("no reply: {e}"),
            }
        }
        String::from_utf8(reply).expect("replies are UTF-8")
    }

    /// Whether the server closed the connection.
    fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Err(e) => e.kind() == ErrorKind::ConnectionReset,
            Ok(_) => false,
        }
    }
}

#[test]
fn the_greeting_is_extempores() {
    let server = start();
    let mut client = Client::connect_raw(&server);
    let mut greeting = vec![0u8; GREETING.len()];
    client.stream.read_exact(&mut greeting).expect("greets");
    assert_eq!(greeting, b"Welcome to extempore!\0");
}

#[test]
fn a_request_ending_in_crlf_gets_the_value_and_a_nul() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send(b"(+ 1 2)\r\n");
    assert_eq!(client.reply(), "value of (+ 1 2)");
}

#[test]
fn the_origin_names_the_peer() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send(b"(origin)\r\n");
    let peer = client.stream.local_addr().expect("has an address");
    assert_eq!(client.reply(), format!("tcp {peer}"));
}

#[test]
fn a_request_split_across_writes_is_one_request() {
    let server = start();
    let mut client = Client::connect(&server);
    for piece in [&b"(+ 1"[..], b" 2)", b"\r", b"\n"] {
        client.send(piece);
        thread::sleep(Duration::from_millis(30));
    }
    assert_eq!(client.reply(), "value of (+ 1 2)");
}

#[test]
fn two_requests_in_one_write_get_two_replies_in_order() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send(b"(slow)\r\n(b)\r\n");
    assert_eq!(client.reply(), "slow done");
    assert_eq!(client.reply(), "value of (b)");
}

#[test]
fn line_ends_inside_a_form_continue_the_request() {
    // `nc -C` and telnet end every line with CRLF; the editors send `\n` inside a region.
    let server = start();
    let mut client = Client::connect(&server);
    client.send(b"(define (f x)\r\n  (* x 2))\r\n(f \"a\r\n)\")\r\n");
    assert_eq!(client.reply(), "value of (define (f x)\n  (* x 2))");
    assert_eq!(client.reply(), "value of (f \"a\n)\")");
    client.send(b"(g 1)\n(h 2)\r\n");
    assert_eq!(client.reply(), "value of (g 1)\n(h 2)");
}

#[test]
fn an_unbalanced_request_gets_an_error_after_a_quiet_moment() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send(b"(f 1\r\n");
    assert_eq!(
        client.reply(),
        "unbalanced parentheses: 1 `(` is not closed"
    );
    client.send(b"(f 1))\r\n");
    assert_eq!(
        client.reply(),
        "unbalanced parentheses: the `)` at line 1, column 6 closes nothing"
    );
    client.send(b"(ok)\r\n");
    assert_eq!(client.reply(), "value of (ok)");
}

#[test]
fn a_request_left_open_when_the_client_stops_sending_is_answered() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send(b"(f 1\r\n");
    client
        .stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-closes");
    assert_eq!(
        client.reply(),
        "unbalanced parentheses: 1 `(` is not closed"
    );
}

#[test]
fn an_oversized_request_gets_an_error_and_the_server_goes_on() {
    let server = start_with(1024);
    let mut client = Client::connect(&server);
    let mut big = b"(display \"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 5000));
    big.extend_from_slice(b"\")\r\n(ok)\r\n");
    client.send(&big);
    assert_eq!(
        client.reply(),
        "the message is longer than the limit of 1024 bytes; it was discarded"
    );
    assert_eq!(client.reply(), "value of (ok)");
}

#[test]
fn an_oversized_form_over_many_lines_gets_one_error_and_no_fragment_is_evaluated() {
    let interrupt = Arc::new(AtomicBool::new(false));
    let (requests, seen) = recording_engine();
    let server = spawn_server(local(1024), requests, interrupt).expect("the server starts");
    let mut client = Client::connect(&server);
    let mut big = b"(begin\r\n".to_vec();
    for i in 0..2000 {
        big.extend_from_slice(format!("  (display {i})\r\n").as_bytes());
    }
    big.extend_from_slice(b")\r\n(after)\r\n");
    client.send(&big);
    assert_eq!(
        client.reply(),
        "the message is longer than the limit of 1024 bytes; it was discarded"
    );
    assert_eq!(client.reply(), "ok");
    assert_eq!(*seen.lock().unwrap(), ["(after)"]);
}

#[test]
fn binary_and_non_utf8_requests_get_errors_and_the_server_goes_on() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send(b"(f \x00\x01\x02)\r\n");
    assert_eq!(
        client.reply(),
        "the message holds binary data (byte 0x00 at offset 3), not source text"
    );
    client.send(b"(f \"caf\xe9\")\r\n");
    assert_eq!(
        client.reply(),
        "the message is not UTF-8 text (byte 0xe9 at offset 7); send source as UTF-8"
    );
    client.send("(f \"café\")\r\n".as_bytes());
    assert_eq!(client.reply(), "value of (f \"café\")");
}

#[test]
fn random_bytes_never_stop_the_server() {
    let server = start_with(4096);
    let mut client = Client::connect(&server);
    let mut state: u32 = 12345;
    let noise: Vec<u8> = (0..20_000)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (state >> 16) as u8
        })
        .collect();
    client.send(&noise);
    client.send(b"\r\n");
    // Whatever the noise framed into, a fresh connection is served.
    let mut fresh = Client::connect(&server);
    fresh.send(b"(ok)\r\n");
    assert_eq!(fresh.reply(), "value of (ok)");
}

#[test]
fn an_empty_request_gets_an_empty_reply() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send(b"  \r\n");
    assert_eq!(client.reply(), "");
}

#[test]
fn two_clients_are_served_at_once() {
    let server = start();
    let mut first = Client::connect(&server);
    let mut second = Client::connect(&server);
    first.send(b"(slow)\r\n");
    second.send(b"(second)\r\n");
    first.send(b"(first)\r\n");
    assert_eq!(second.reply(), "value of (second)");
    assert_eq!(first.reply(), "slow done");
    assert_eq!(first.reply(), "value of (first)");
    assert_eq!(server.connection_count(), 2);
}

#[test]
fn connections_past_the_limit_are_told_and_closed() {
    let server = start();
    let clients: Vec<Client> = (0..MAX_CONNECTIONS)
        .map(|_| Client::connect(&server))
        .collect();
    let mut extra = Client::connect_raw(&server);
    assert_eq!(
        extra.reply(),
        "too many editor connections (32 are open); close one and reconnect"
    );
    assert!(extra.closed());
    drop(clients);
    let deadline = Instant::now() + PATIENCE;
    while server.connection_count() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let mut again = Client::connect(&server);
    again.send(b"(ok)\r\n");
    assert_eq!(again.reply(), "value of (ok)");
}

#[test]
fn another_connection_interrupts_a_runaway_evaluation() {
    let server = start();
    let mut runaway = Client::connect(&server);
    let mut rescuer = Client::connect(&server);
    runaway.send(b"(spin)\r\n");
    thread::sleep(Duration::from_millis(50));
    let asked = Instant::now();
    rescuer.send(b"(zonal:interrupt)\r\n");
    assert_eq!(rescuer.reply(), "interrupted");
    assert_eq!(runaway.reply(), "evaluation interrupted");
    assert!(asked.elapsed() < Duration::from_secs(2));
    runaway.send(b"(after)\r\n");
    assert_eq!(runaway.reply(), "value of (after)");
}

#[test]
fn the_same_connection_interrupts_its_own_runaway_evaluation() {
    let server = start();
    let mut client = Client::connect(&server);
    client.send(b"(spin)\r\n");
    thread::sleep(Duration::from_millis(50));
    client.send(b"  (zonal:interrupt)  \r\n");
    assert_eq!(client.reply(), "evaluation interrupted");
    assert_eq!(client.reply(), "interrupted");
}

#[test]
fn a_stopped_engine_is_an_error_reply() {
    let interrupt = Arc::new(AtomicBool::new(false));
    let (requests, incoming) = unbounded::<Request>();
    drop(incoming);
    let server = spawn_server(local(1024), requests, interrupt).expect("the server starts");
    let mut client = Client::connect(&server);
    client.send(b"(a)\r\n");
    assert_eq!(client.reply(), "the engine is not running");
}

#[test]
fn stopping_closes_connections_and_the_port() {
    let server = start();
    let addr = server.local_addr();
    let mut client = Client::connect(&server);
    server.stop();
    assert!(client.closed());
    assert_eq!(
        TcpStream::connect_timeout(&addr, PATIENCE)
            .map_err(|e| e.kind())
            .err(),
        Some(ErrorKind::ConnectionRefused)
    );
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let server = start();
    let interrupt = Arc::new(AtomicBool::new(false));
    let cfg = ServerConfig {
        addr: server.local_addr(),
        max_message_bytes: 1024,
        token: None,
    };
    let err = spawn_server(cfg, fake_engine(Arc::clone(&interrupt)), interrupt)
        .expect_err("the port is taken");
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    assert_eq!(
        err.to_string(),
        format!(
            "cannot listen for editors on {}: the port is in use (is another zonal or \
             Extempore running? choose another with --port)",
            server.local_addr()
        )
    );
}

#[test]
fn the_default_config_is_localhost_7099() {
    let cfg = ServerConfig::default();
    assert_eq!(cfg.addr, SocketAddr::from(([127, 0, 0, 1], 7099)));
    assert_eq!(cfg.max_message_bytes, 1 << 20);
    assert_eq!(cfg.token, None);
}

/// A fake control thread that answers every request and records its source.
fn recording_engine() -> (Sender<Request>, Arc<std::sync::Mutex<Vec<String>>>) {
    let (requests, incoming) = unbounded::<Request>();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    thread::spawn(move || {
        for request in incoming {
            log.lock().unwrap().push(request.source.clone());
            let _ = request.reply.send(Reply::Value("ok".to_owned()));
        }
    });
    (requests, seen)
}

/// What a browser sends for `fetch("http://127.0.0.1:7099", {method: "POST", mode:
/// "no-cors", body})`.
fn browser_post(addr: SocketAddr, body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: keep-alive\r\nContent-Length: {}\r\n\
         Origin: https://example.com\r\nContent-Type: text/plain;charset=UTF-8\r\n\
         Accept: */*\r\nSec-Fetch-Mode: no-cors\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn a_web_pages_post_is_closed_and_nothing_it_sent_is_evaluated() {
    let interrupt = Arc::new(AtomicBool::new(false));
    let (requests, seen) = recording_engine();
    let server = spawn_server(local(1 << 20), requests, interrupt).expect("the server starts");
    let mut page = Client::connect(&server);
    page.send(&browser_post(server.local_addr(), "(evil)\r\n"));
    assert!(page.closed());
    let mut socket = Client::connect_raw(&server);
    socket.send(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(socket.reply(), "Welcome to extempore!");
    assert!(socket.closed());
    let mut editor = Client::connect(&server);
    editor.send(b"(fine)\r\n");
    assert_eq!(editor.reply(), "ok");
    assert_eq!(*seen.lock().unwrap(), ["(fine)"]);
}

#[test]
fn with_a_token_the_first_request_must_carry_it() {
    let interrupt = Arc::new(AtomicBool::new(false));
    let (requests, seen) = recording_engine();
    let cfg = ServerConfig {
        token: Some("s3cret".to_owned()),
        ..local(1 << 20)
    };
    let server = spawn_server(cfg, requests, interrupt).expect("the server starts");
    let mut stranger = Client::connect(&server);
    stranger.send(b"(display 1)\r\n(display 2)\r\n");
    assert!(stranger.reply().starts_with("this zonal wants a token"));
    assert!(stranger.closed());
    let mut wrong = Client::connect(&server);
    wrong.send(b"(zonal:token \"guess\")\r\n(display 3)\r\n");
    assert!(wrong.reply().starts_with("this zonal wants a token"));
    assert!(wrong.closed());
    let mut editor = Client::connect(&server);
    editor.send(b"(zonal:token \"s3cret\")\r\n(display 4)\r\n");
    assert_eq!(editor.reply(), "token accepted");
    assert_eq!(editor.reply(), "ok");
    assert_eq!(*seen.lock().unwrap(), ["(display 4)"]);
}
