//! OSC through a live engine (`zonal play --no-audio`) and real UDP clients on
//! 127.0.0.1: messages and bundles reach their handler with their arguments at their
//! sample, `io:osc:send` reaches a client at its time, malformed packets are logged and
//! change nothing, and the round trip through a handler is measured.

mod live;

use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime};

use live::{Live, eval, eval_until};
use rosc::{OscBundle, OscMessage, OscPacket, OscTime, OscType};

fn message(addr: &str, args: Vec<OscType>) -> OscPacket {
    OscPacket::Message(OscMessage {
        addr: addr.to_owned(),
        args,
    })
}

fn send(packet: &OscPacket, port: u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(&rosc::encoder::encode(packet).unwrap(), ("127.0.0.1", port))
        .unwrap();
}

/// A live engine with an OSC server on a free port calling `osc-in`, which keeps
/// `(time address args now)` of each message in `got`, newest first.
fn engine_with_server() -> (Live, std::net::TcpStream, u16) {
    let live = Live::start(&["play", "--no-audio", "--port", "0", "--buffer", "64"]);
    let mut editor = live.connect();
    eval(
        &mut editor,
        "(define got '()) \
         (define (osc-in time addr . args) (set! got (cons (list time addr args (now)) got))) \
         (define (time-of addr) \
           (let loop ((g got)) (if (equal? (cadr (car g)) addr) (car (car g)) (loop (cdr g)))))",
    );
    let port = eval(
        &mut editor,
        "(io:osc:start-server 0 \"osc-in\" \"127.0.0.1\")",
    );
    let port: u16 = port.parse().unwrap_or_else(|_| panic!("no port: {port}"));
    (live, editor, port)
}

#[test]
fn a_message_from_a_client_calls_the_handler_with_its_arguments() {
    let (_live, mut editor, port) = engine_with_server();
    send(
        &message(
            "/test/msg",
            vec![
                OscType::String("Hello".into()),
                OscType::Int(500),
                OscType::Float(6.5),
                OscType::Bool(true),
            ],
        ),
        port,
    );
    let got = eval_until(&mut editor, "(length got)", |r| r == "1");
    assert_eq!(got, "1");
    assert_eq!(eval(&mut editor, "(cadr (car got))"), "\"/test/msg\"");
    assert_eq!(
        eval(&mut editor, "(caddr (car got))"),
        "(\"Hello\" 500 6.5 #t)"
    );
    // The time given is the time `(now)` reads in the handler.
    assert_eq!(
        eval(&mut editor, "(= (car (car got)) (cadddr (car got)))"),
        "#t"
    );
}

#[test]
fn a_bundles_time_tag_schedules_its_messages_at_their_sample() {
    let (_live, mut editor, port) = engine_with_server();
    let in_half_a_second = SystemTime::now() + Duration::from_millis(500);
    let bundle = OscPacket::Bundle(OscBundle {
        timetag: OscTime::try_from(in_half_a_second).unwrap(),
        content: vec![message("/later", vec![OscType::Int(2)])],
    });
    send(&message("/now", vec![OscType::Int(1)]), port);
    send(&bundle, port);
    eval_until(&mut editor, "(length got)", |r| r == "2");
    let later = eval(&mut editor, "(time-of \"/later\")");
    let now = eval(&mut editor, "(time-of \"/now\")");
    let (later, now): (i64, i64) = (later.parse().unwrap(), now.parse().unwrap());
    // Half a second at 48 kHz apart, give or take the time between the two sends and
    // the first one's reception (it has no time tag: it runs when it arrives, which on a
    // loaded machine may be some milliseconds late); a bundle's tag ignored would give 0.
    let apart = later - now;
    assert!((24_000 - 2_400..=24_000 + 480).contains(&apart), "{apart}");
}

/// What TidalCycles sends SuperDirt: bundles stamped a little ahead, each holding a
/// `/dirt/play` of name-value pairs.
#[test]
fn tidal_dirt_play_bundles_call_dirt_play_at_their_sample() {
    let live = Live::start(&["play", "--no-audio", "--port", "0", "--buffer", "64"]);
    let mut editor = live.connect();
    eval(
        &mut editor,
        "(define got '()) (define (dirt-play time params) (set! got (cons (list time params) got)))",
    );
    let port: u16 = eval(&mut editor, "(io:osc:start-dirt 0)").parse().unwrap();
    let play = |s: &str, n: f32| {
        message(
            "/dirt/play",
            vec![
                OscType::String("s".into()),
                OscType::String(s.into()),
                OscType::String("n".into()),
                OscType::Float(n),
                OscType::String("cps".into()),
                OscType::Float(0.5),
            ],
        )
    };
    let now = SystemTime::now();
    for (s, n, ms) in [("bd", 0.0, 300), ("sn", 2.0, 550)] {
        send(
            &OscPacket::Bundle(OscBundle {
                timetag: OscTime::try_from(now + Duration::from_millis(ms)).unwrap(),
                content: vec![play(s, n)],
            }),
            port,
        );
    }
    // Not /dirt/play: ignored.
    send(&message("/dirt/handshake", vec![]), port);
    eval_until(&mut editor, "(length got)", |r| r == "2");
    assert_eq!(
        eval(&mut editor, "(map cadr (reverse got))"),
        "(((s \"bd\") (n 0.0) (cps 0.5)) ((s \"sn\") (n 2.0) (cps 0.5)))"
    );
    let apart: i64 = eval(&mut editor, "(- (car (car got)) (car (cadr got)))")
        .parse()
        .unwrap();
    // 250 ms at 48 kHz as stamped, give or take how the two arrivals were mapped to
    // samples (half a millisecond).
    assert!((12_000 - 24..=12_000 + 24).contains(&apart), "{apart}");
    let e = eval(&mut editor, "(io:osc:start-dirt 1 2)");
    assert!(e.contains("io:osc:start-dirt takes at most a port"), "{e}");
}

#[test]
fn a_malformed_packet_is_logged_and_the_server_goes_on() {
    let (live, mut editor, port) = engine_with_server();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(b"/abc\0\0\0\0,i\0\0\x01", ("127.0.0.1", port))
        .unwrap();
    socket.send_to(b"", ("127.0.0.1", port)).unwrap();
    assert!(live.logged("osc: a malformed packet of 13 bytes was dropped"));
    send(&message("/fine", vec![]), port);
    assert_eq!(eval_until(&mut editor, "(length got)", |r| r == "1"), "1");
    assert!(!live.log().contains("panicked"));
}

#[test]
fn bad_arguments_to_the_osc_procedures_are_clear_errors() {
    let live = Live::start(&["play", "--no-audio", "--port", "0"]);
    let mut editor = live.connect();
    let e = eval(&mut editor, "(io:osc:send (now) \"localhost\" \"/x\")");
    assert!(
        e.contains("io:osc:send takes a time, a (host . port) pair"),
        "{e}"
    );
    let e = eval(
        &mut editor,
        "(io:osc:send (now) (cons \"localhost\" 7) \"x\")",
    );
    assert!(e.contains("an OSC address starts with `/`"), "{e}");
    let e = eval(
        &mut editor,
        "(io:osc:send (now) (cons \"localhost\" 7) \"/x\" (lambda () 1))",
    );
    assert!(e.contains("argument 1 cannot be sent"), "{e}");
    let e = eval(&mut editor, "(io:osc:start-server 70000 \"h\")");
    assert!(e.contains("a port is a number from 0 to 65535"), "{e}");
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let e = eval(
        &mut editor,
        &format!("(io:osc:start-server {port} \"h\" \"127.0.0.1\")"),
    );
    assert!(
        e.contains(&format!("cannot receive OSC on 127.0.0.1:{port}")),
        "{e}"
    );
}

#[test]
fn io_osc_send_reaches_a_client_at_its_time() {
    let live = Live::start(&["play", "--no-audio", "--port", "0", "--buffer", "64"]);
    let mut editor = live.connect();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = client.local_addr().unwrap().port();
    let asked = Instant::now();
    eval(
        &mut editor,
        &format!(
            "(io:osc:send (+ (io:clock) (* *second* 0.3)) (cons \"127.0.0.1\" {port}) \
             \"/from/zonal\" 1 2.5 \"hi\" 'sym (list 1 2))"
        ),
    );
    let mut buf = [0u8; 1024];
    let (n, _) = client.recv_from(&mut buf).unwrap();
    let waited = asked.elapsed();
    let (_, packet) = rosc::decoder::decode_udp(&buf[..n]).unwrap();
    let OscPacket::Message(m) = packet else {
        panic!("not a message: {packet:?}");
    };
    assert_eq!(m.addr, "/from/zonal");
    assert_eq!(
        m.args,
        [
            OscType::Int(1),
            OscType::Float(2.5),
            OscType::String("hi".into()),
            OscType::String("sym".into()),
            OscType::Array(rosc::OscArray {
                content: vec![OscType::Int(1), OscType::Int(2)]
            }),
        ]
    );
    assert!(
        waited >= Duration::from_millis(280) && waited < Duration::from_millis(600),
        "{waited:?}"
    );
}

/// The round trip a livecoder's controller sees: a message to zonal, whose handler
/// answers at once (time 0 is "now"). Prints the median and the worst of 200.
#[test]
fn osc_round_trip_through_a_handler() {
    let live = Live::start(&["play", "--no-audio", "--port", "0", "--buffer", "64"]);
    let mut editor = live.connect();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let reply_port = client.local_addr().unwrap().port();
    eval(
        &mut editor,
        &format!(
            "(define (ping time addr n) (io:osc:send 0 (cons \"127.0.0.1\" {reply_port}) \"/pong\" n))"
        ),
    );
    let port: u16 = eval(
        &mut editor,
        "(io:osc:start-server 0 \"ping\" \"127.0.0.1\")",
    )
    .parse()
    .unwrap();
    let mut times = Vec::new();
    let mut buf = [0u8; 256];
    for i in 0..200 {
        let packet = rosc::encoder::encode(&message("/ping", vec![OscType::Int(i)])).unwrap();
        let start = Instant::now();
        client.send_to(&packet, ("127.0.0.1", port)).unwrap();
        let (n, _) = client.recv_from(&mut buf).unwrap();
        times.push(start.elapsed());
        let (_, reply) = rosc::decoder::decode_udp(&buf[..n]).unwrap();
        assert_eq!(reply, message("/pong", vec![OscType::Int(i)]));
    }
    times.sort();
    let median = times[times.len() / 2];
    let worst = times[times.len() - 1];
    eprintln!("OSC round trip through a handler: median {median:?}, worst {worst:?} (200 pings)");
    assert!(median < Duration::from_millis(20), "{median:?}");
}

/// Input to sound: a handler runs at the sample its message arrived at plus
/// `(io:latency)` (two 64-frame buffers and a millisecond here: 176 samples,
/// 3.7 ms), so what it plays sounds exactly that long after the arrival as long as
/// the handler has run before the audio thread renders that sample. This measures
/// by how much it is ahead: `(now)` minus where the audio clock is when the handler
/// runs, over 200 messages 5 ms apart.
#[test]
fn at_a_64_frame_buffer_handlers_run_ahead_of_their_sample() {
    let (_live, mut editor, port) = engine_with_server();
    assert_eq!(eval(&mut editor, "(io:latency)"), "176");
    eval(
        &mut editor,
        "(define slack '()) (define (osc-in time addr) (set! slack (cons (- (now) (io:clock)) slack)))",
    );
    for _ in 0..200 {
        send(&message("/note", vec![]), port);
        std::thread::sleep(Duration::from_millis(5));
    }
    let all = eval_until(&mut editor, "(length slack)", |r| r == "200");
    assert_eq!(all, "200");
    let mut slack: Vec<i64> = eval(&mut editor, "slack")
        .trim_matches(|c| c == '(' || c == ')')
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    slack.sort();
    let (min, median) = (slack[0], slack[slack.len() / 2]);
    eprintln!(
        "input to sound at a 64-frame buffer: 176 samples (3.67 ms); handlers ran with \
         {median} samples to spare (median), {min} at worst, of 200"
    );
    assert!(median > 64, "{slack:?}");
}

/// The sound a handler plays starts at the handler's sample exactly: a void DSP call
/// made in the handler travels to the audio thread as an event at `(now)`, and the
/// recording of the live output has its click on that very frame.
#[test]
fn a_handlers_sound_starts_exactly_at_its_sample() {
    let dir = std::env::temp_dir().join(format!("zonal-osc-click-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join("live.wav");
    let mut live = Live::start(&[
        "play",
        "--no-audio",
        "--port",
        "0",
        "--buffer",
        "64",
        "--record",
        wav.to_str().unwrap(),
    ]);
    let mut editor = live.connect();
    for form in [
        "(bind-val clicks i64 0)",
        "(bind-func click (lambda () (set! clicks 1) void))",
        "(bind-func dsp:DSP (lambda (in time chan dat) \
           (if (= clicks 1) (begin (if (= chan 1) (set! clicks 0)) (dtof 0.9)) (dtof 0.0))))",
        "(dsp:set! dsp)",
        "(define got #f) (define (osc-in time addr) (set! got time) (click))",
        // Room for a busy machine: what is checked is the sample, not the latency.
        "(io:latency 4800)",
    ] {
        let r = eval(&mut editor, form);
        assert!(!r.contains("error"), "{form}: {r}");
    }
    let port: u16 = eval(
        &mut editor,
        "(io:osc:start-server 0 \"osc-in\" \"127.0.0.1\")",
    )
    .parse()
    .unwrap();
    send(&message("/click", vec![]), port);
    let time: usize = eval_until(&mut editor, "got", |r| r != "#f")
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(live.terminate().is_some_and(|s| s.success()));
    let mut reader = hound::WavReader::open(&wav).unwrap();
    let samples: Vec<f32> = reader.samples::<f32>().map(Result::unwrap).collect();
    let _ = std::fs::remove_dir_all(&dir);
    let onsets: Vec<usize> = samples
        .chunks(2)
        .enumerate()
        .filter(|(_, frame)| frame[0] > 0.5)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(onsets, [time], "the click is on the handler's sample");
}
