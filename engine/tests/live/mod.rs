//! A live engine in a child process (`zonal play --no-audio ...`) for tests that talk
//! to it over the network: its editor server, and what it logged on stderr.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `zonal` and its editor server's address.
pub struct Live {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Live {
    /// Starts `zonal ARGS` (which must open the editor server) with stdin at /dev/null.
    pub fn start(args: &[&str]) -> Live {
        Live::start_with_env(args, &[])
    }

    /// [`Live::start`] with environment variables set.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Live {
        Live::spawn(args, env, Stdio::null())
    }

    /// [`Live::start`] with stdin a pipe the test closes by [`Live::close_stdin`]
    /// (for `--repl`, which reads stdin and ends at its end).
    pub fn start_piped(args: &[&str]) -> Live {
        Live::spawn(args, &[], Stdio::piped())
    }

    fn spawn(args: &[&str], env: &[(&str, &str)], stdin: Stdio) -> Live {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zonal"))
            .args(args)
            .envs(env.iter().copied())
            .stdin(stdin)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let banner = lines.next().unwrap().unwrap();
        let addr = banner
            .split_whitespace()
            .find(|w| w.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {banner:?}"))
            .to_owned();
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Live { child, addr, log }
    }

    /// Whether the engine is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Closes the engine's stdin (a [`Live::start_piped`] one) and waits for it to end.
    pub fn close_stdin(&mut self) -> std::process::ExitStatus {
        drop(self.child.stdin.take());
        self.child.wait().unwrap()
    }

    /// The editor server's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// An editor connection, past the greeting.
    pub fn connect(&self) -> TcpStream {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        assert_eq!(reply(&mut s), "Welcome to extempore!");
        s
    }

    /// What the engine printed on stderr after its banner.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Whether the engine logged a line holding `text` (waiting up to 10 s).
    pub fn logged(&self, text: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(text) {
                return true;
            }
            if Instant::now() > deadline {
                eprintln!("not in the log: {text}\n{log}");
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Live {
    /// Waits (at most 20 s) for the engine to end by itself.
    pub fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends SIGTERM and waits (at most 20 s) for the engine to finish, as a service
    /// manager would stop it: it finalises its recording.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: `kill` with a real child's pid and a valid signal number has no
        // memory effects in this process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        self.wait_exit()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads up to the next NUL.
pub fn reply(s: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut b = [0u8; 1];
    loop {
        s.read_exact(&mut b).unwrap();
        if b[0] == 0 {
            return String::from_utf8(bytes).unwrap();
        }
        bytes.push(b[0]);
    }
}

/// Evaluates `src` and returns the reply.
pub fn eval(s: &mut TcpStream, src: &str) -> String {
    s.write_all(format!("{src}\r\n").as_bytes()).unwrap();
    reply(s)
}

/// Evaluates `src` until `done` accepts the reply (up to 10 s); returns the last reply.
pub fn eval_until(s: &mut TcpStream, src: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = eval(s, src);
        if done(&r) || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
