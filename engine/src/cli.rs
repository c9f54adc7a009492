//! The `zonal` command line: `run`, `render`, `play` and `repl`.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory as _, Parser, Subcommand};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use anyhow::Context as _;

use crate::device::{self, DeviceConfig};
use crate::diagnostic::report;
use crate::render::{RenderConfig, SampleFormat, render_files_to_wav};
use crate::server::{self, ServerConfig};
use crate::session::{Session, SessionConfig};
use crate::{clock, control, record, repl};

/// zonal — a real-time audio livecoding engine: Scheme on the control thread,
/// xtlang-compatible DSP compiled to native code on the audio thread.
#[derive(Parser)]
#[command(name = "zonal", version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Most memory the Scheme heap may hold, in bytes or with a K, M or G suffix
    /// (default: half the physical memory, at most 8G); past it an evaluation
    /// fails with an out-of-memory error and the session goes on
    #[arg(long, global = true, value_parser = parse_size)]
    heap_limit: Option<usize>,
    /// The control thread's halloc heap for DSP code (where a sampler keeps the files it
    /// loads), in bytes or with a K, M or G suffix (default 512M; reserved, committed as
    /// it is used)
    #[arg(long, global = true, value_parser = parse_size)]
    dsp_heap: Option<usize>,
    /// The halloc heap of the audio thread and of each lane (default 8M)
    #[arg(long, global = true, value_parser = parse_size)]
    audio_heap: Option<usize>,
    #[command(flatten)]
    play: PlayArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate files headless (no audio device): program output on stdout, errors
    /// on stderr, exit status 1 at the first uncaught error
    Run {
        /// Scheme / xtlang files, evaluated in order
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Render files offline to a WAV file, deterministically
    Render(RenderArgs),
    /// Run test files: xtmtest-* and audiotest_* assertions on code and on sound
    /// rendered in process; exit status 1 if any fails
    Test(TestArgs),
    /// Play through the sound device, with a REPL on stdin and the editor server
    /// (the default command)
    Play(PlayArgs),
    /// A REPL and the editor server, without an audio device or files
    Repl(LiveArgs),
    /// Draw a WAV file's waveform and spectrogram into a PNG
    Plot {
        /// The WAV file to draw
        input: PathBuf,
        /// The PNG file to write
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Args)]
struct LiveArgs {
    /// Port of the editor eval server (Extempore's protocol)
    #[arg(long, default_value_t = 7099)]
    port: u16,
    /// Address the editor server binds; it executes whatever it receives, so it
    /// listens on this machine only unless told otherwise
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// A shared secret editors must send first, as (zonal:token "SECRET"); also read
    /// from ZONAL_TOKEN. Without one, Extempore's editor plugins connect unchanged
    #[arg(long)]
    token: Option<String>,
    /// Frames per second, 8000 to 384000
    #[arg(long, default_value_t = 48_000, value_parser = clap::value_parser!(u32).range(8_000..=384_000))]
    sample_rate: u32,
    #[arg(long, default_value_t = 2)]
    channels: usize,
    /// Frames per device buffer (PulseAudio plays without underruns from about 1024)
    #[arg(long, default_value_t = 1024)]
    buffer: u32,
    /// Read forms from stdin even when it is not a terminal (a script piped in); the
    /// engine stops at its end. By default the REPL runs only on a terminal
    #[arg(long, overrides_with = "no_repl")]
    repl: bool,
    /// No REPL, even on a terminal: serve editors until SIGINT (Ctrl-C) or SIGTERM
    #[arg(long, overrides_with = "repl")]
    no_repl: bool,
    /// Worker threads for the closures of (dsp:set! a b ...), beside the audio thread
    /// (default: one per further core)
    #[arg(long)]
    workers: Option<usize>,
    /// Append what zonal reports (stderr, and stdout when there is no REPL) to this file
    #[arg(long)]
    log: Option<PathBuf>,
}

impl LiveArgs {
    /// Whether stdin is read as a REPL: asked for, or by default on a terminal.
    fn wants_repl(&self) -> bool {
        self.repl || (!self.no_repl && std::io::stdin().is_terminal())
    }
}

impl Default for LiveArgs {
    fn default() -> Self {
        LiveArgs {
            port: server::DEFAULT_PORT,
            bind: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            token: None,
            sample_rate: 48_000,
            channels: 2,
            buffer: 1024,
            repl: false,
            no_repl: false,
            workers: None,
            log: None,
        }
    }
}

#[derive(Args, Default)]
struct PlayArgs {
    /// Files evaluated in order before the REPL starts
    files: Vec<PathBuf>,
    /// List the output devices and exit
    #[arg(long)]
    list_devices: bool,
    /// Output device (a name from --list-devices)
    #[arg(long)]
    device: Option<String>,
    /// Also write what plays to this WAV file
    #[arg(long)]
    record: Option<PathBuf>,
    /// No sound device: the same engine on a real-time clock (headless livecoding)
    #[arg(long)]
    no_audio: bool,
    /// Capture from this input device (a name from --list-devices, or `default`): the
    /// DSP closure's `in` carries what it hears
    #[arg(long)]
    input_device: Option<String>,
    /// Channels captured (default: --channels); a mono input feeds every channel
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    input_channels: Option<u16>,
    #[command(flatten)]
    live: LiveArgs,
}

#[derive(Args)]
struct RenderArgs {
    /// Files evaluated in order, as a live session would (an error is reported and
    /// the session goes on)
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The WAV file to write
    #[arg(short, long)]
    output: PathBuf,
    /// Length of the render, in seconds
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Frames per second, 8000 to 384000
    #[arg(long, default_value_t = 48_000, value_parser = clap::value_parser!(u32).range(8_000..=384_000))]
    sample_rate: u32,
    #[arg(long, default_value_t = 2)]
    channels: usize,
    /// Frames per buffer (the swap and event granularity)
    #[arg(long, default_value_t = 64)]
    buffer: usize,
    #[arg(long, value_enum, default_value_t = SampleFormat::F32)]
    format: SampleFormat,
    /// Worker threads for the closures of (dsp:set! a b ...) (default: one per further
    /// core); the output is the same with any number
    #[arg(long)]
    workers: Option<usize>,
    /// Feed this WAV file through the DSP closure's `in`, frame n at sample n; its rate
    /// must be the render's, and a mono file feeds every channel
    #[arg(long)]
    input: Option<PathBuf>,
    /// Also draw the render's waveform and spectrogram into this PNG
    #[arg(long)]
    plot: Option<PathBuf>,
}

#[derive(Args)]
struct TestArgs {
    /// Test files, each evaluated as its own session
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Run only the assertions whose name contains this text
    #[arg(long)]
    filter: Option<String>,
    /// Also write the results as JUnit XML to this file
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write golden WAV files (audiotest_assert_golden) instead of comparing with them
    #[arg(long)]
    bless: bool,
    /// Print every assertion and every file's output, not only failures
    #[arg(short, long)]
    verbose: bool,
    /// Files run at once (default: one per core)
    #[arg(short, long)]
    jobs: Option<usize>,
    /// Where render-for writes its takes (default: a folder in the system's temp dir)
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Frames per second, 8000 to 384000
    #[arg(long, default_value_t = 48_000, value_parser = clap::value_parser!(u32).range(8_000..=384_000))]
    sample_rate: u32,
    #[arg(long, default_value_t = 2)]
    channels: usize,
}

/// Runs the command line and returns the process's exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse_from(subcommand_first(std::env::args_os().collect()));
    if let Some(bytes) = cli.heap_limit {
        zonal_scheme::set_default_heap_limit(bytes);
    }
    let _ = HEAPS.set((cli.dsp_heap, cli.audio_heap));
    let result = match cli.command {
        Some(Command::Run { files }) => run(&files),
        Some(Command::Render(args)) => render(args),
        Some(Command::Test(args)) => test(args),
        Some(Command::Play(args)) => play(args),
        Some(Command::Repl(live)) => play(PlayArgs {
            no_audio: true,
            live,
            ..PlayArgs::default()
        }),
        Some(Command::Plot { input, output }) => plot(&input, &output),
        None => play(cli.play),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zonal: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The command line with a subcommand that follows global options moved before them:
/// `zonal --audio-heap 32M render f.xtm` is read as `zonal render --audio-heap 32M f.xtm`.
/// (clap, which plays the files of a command line without a subcommand, would take
/// `render` for a file once an option came first.) A file of that name in the current
/// directory keeps the command line as it is.
fn subcommand_first(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let cmd = Cli::command();
    let globals: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    let mut i = 1;
    while let Some(a) = args.get(i).and_then(|a| a.to_str()) {
        if globals.iter().any(|g| g == a) {
            i += 2;
        } else if globals.iter().any(|g| a.starts_with(&format!("{g}="))) {
            i += 1;
        } else {
            break;
        }
    }
    let named = args.get(i).and_then(|a| a.to_str()).is_some_and(|a| {
        cmd.get_subcommands().any(|c| c.get_name() == a) && !std::path::Path::new(a).exists()
    });
    if i > 1 && named {
        let sub = args.remove(i);
        args.insert(1, sub);
    }
    args
}

/// The process's exit status for the status a program asked for with `(exit n)`: its
/// low eight bits, as a shell sees them.
fn exit_code(status: i32) -> ExitCode {
    ExitCode::from(status as u8)
}

/// `--dsp-heap` and `--audio-heap`, as given.
static HEAPS: std::sync::OnceLock<(Option<usize>, Option<usize>)> = std::sync::OnceLock::new();

/// The session's defaults with the heap sizes of the command line.
fn session_defaults() -> SessionConfig {
    let mut cfg = SessionConfig::default();
    let (control, audio) = HEAPS.get().copied().unwrap_or_default();
    let dsp = &mut cfg.dsp;
    if let Some(bytes) = control {
        dsp.control_heap_bytes = bytes;
    }
    if let Some(bytes) = audio {
        dsp.audio_heap_bytes = bytes;
    }
    if control.is_some() || audio.is_some() {
        // The arena holds every DSP allocation (reserved, committed as it is used): the
        // default's room, plus the heaps asked for, the control thread's and one for each
        // audio context there can be (the audio thread's and a lane's per closure).
        let contexts = zonal_dsp::MAX_LANES + 1;
        dsp.arena_bytes = dsp
            .arena_bytes
            .saturating_add(dsp.control_heap_bytes)
            .saturating_add(dsp.audio_heap_bytes.saturating_mul(contexts));
    }
    cfg
}

/// A size in bytes: digits, optionally followed by K, M or G (powers of 1024).
fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => return Err(format!("{text}: the unit must be K, M or G")),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("{text}: expected a number of bytes such as 512M or 2G"))?;
    let bytes = n
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text}: too large"))?;
    if bytes < 1 << 20 {
        return Err(format!("{text}: the heap limit must be at least 1M"));
    }
    Ok(bytes)
}

fn run(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut session = Session::headless(&session_defaults())
        .map_err(|e| anyhow::anyhow!("cannot start the DSP compiler: {e}"))?;
    for file in files {
        if let Err(e) = session.eval_file(file, false) {
            if let Some(status) = session.exit_requested() {
                return Ok(exit_code(status));
            }
            eprintln!("{}", report(&e, None));
            return Ok(ExitCode::FAILURE);
        }
    }
    if session.pending_callbacks() > 0 {
        eprintln!(
            "note: {} scheduled callback(s) did not run: `zonal run` has no clock; use `zonal render` or `zonal play`",
            session.pending_callbacks()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn render(args: RenderArgs) -> anyhow::Result<ExitCode> {
    if !(args.seconds.is_finite() && args.seconds >= 0.0) {
        anyhow::bail!("--seconds must be a length of time, got {}", args.seconds);
    }
    if !(1..=crate::audio::MAX_CHANNELS).contains(&args.channels) {
        anyhow::bail!(
            "--channels must be between 1 and {}, got {}",
            crate::audio::MAX_CHANNELS,
            args.channels
        );
    }
    let cfg = RenderConfig {
        session: SessionConfig {
            sample_rate: args.sample_rate,
            channels: args.channels,
            workers: args.workers.unwrap_or(SessionConfig::default().workers),
            ..session_defaults()
        },
        buffer_frames: args.buffer,
        seconds: args.seconds,
        format: args.format,
        progress: std::io::stderr().is_terminal(),
    };
    // the input is decoded before anything is evaluated; the WAV is created first (a
    // path that cannot be written is found out at once) and the audio streams into it
    let input = match &args.input {
        Some(path) => Some(Box::new(crate::input::FileInput::open(
            path,
            args.sample_rate,
            args.channels,
        )?) as Box<dyn crate::input::InputSource>),
        None => None,
    };
    let summary = render_files_to_wav(&args.files, &cfg, &args.output, input)?;
    eprintln!("{}: {}", args.output.display(), summary);
    if let Some(png) = &args.plot {
        plot(&args.output, png)?;
    }
    if let Some(status) = summary.exit {
        eprintln!(
            "zonal: the program ended the render at {:.3} s with (exit {status})",
            summary.frames as f64 / f64::from(summary.sample_rate)
        );
        return Ok(exit_code(status));
    }
    Ok(if summary.failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn plot(input: &std::path::Path, output: &std::path::Path) -> anyhow::Result<ExitCode> {
    let drawn = crate::plot::plot_wav(input, output)?;
    eprintln!(
        "{}: {}x{} pixels, {:.2} s, 0 to {:.0} Hz",
        output.display(),
        drawn.width,
        drawn.height,
        drawn.seconds,
        drawn.nyquist
    );
    Ok(ExitCode::SUCCESS)
}

fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    use crate::testing::{TestOptions, report, run_files};
    if !(1..=crate::audio::MAX_CHANNELS).contains(&args.channels) {
        anyhow::bail!(
            "--channels must be between 1 and {}, got {}",
            crate::audio::MAX_CHANNELS,
            args.channels
        );
    }
    let defaults = TestOptions::default();
    let opts = TestOptions {
        filter: args.filter,
        bless: args.bless,
        jobs: args.jobs.unwrap_or(defaults.jobs).max(1),
        out_dir: args.out_dir.unwrap_or(defaults.out_dir),
        session: SessionConfig {
            sample_rate: args.sample_rate,
            channels: args.channels,
            ..session_defaults()
        },
        buffer_frames: defaults.buffer_frames,
    };
    let verbose = args.verbose;
    let out = std::sync::Mutex::new(());
    let reports = run_files(&args.files, &opts, &|r| {
        let _held = out.lock();
        print!("{}", report::file_lines(r, verbose));
    });
    println!("{}", report::summary(&reports));
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&reports))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let failed = reports.iter().any(|r| r.failed() > 0);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints what DSP code printed on the audio thread above the REPL's prompt.
fn print_above_prompt(text: &str) {
    repl::print_line(text.trim_end_matches('\n'));
}

/// Set to end a live session: by the REPL at its end, or by SIGINT / SIGTERM.
static QUIT: AtomicBool = AtomicBool::new(false);

/// The interpreter's interrupt flag, raised by the same signals so that an evaluation
/// running when one arrives stops too; null until [`stop_on_signals`].
static STOP_INTERRUPTS: AtomicPtr<AtomicBool> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    QUIT.store(true, Ordering::SeqCst);
    let flag = STOP_INTERRUPTS.load(Ordering::SeqCst);
    if !flag.is_null() {
        // SAFETY: a non-null pointer came from `Arc::into_raw` in `stop_on_signals` and
        // is never released, so it points to a live flag; an atomic store is
        // async-signal-safe.
        unsafe { (*flag).store(true, Ordering::SeqCst) };
    }
}

/// Makes SIGINT and SIGTERM end the live session cleanly (the control loop sees
/// [`QUIT`] within a tick) instead of killing the process. The REPL puts its own
/// Ctrl-C handler in place while an evaluation runs, and restores this one after.
fn stop_on_signals(interrupt: &Arc<AtomicBool>) {
    // Kept for the life of the process (the handler may run at any time); only the
    // first session of a process gets it.
    let flag = Arc::into_raw(Arc::clone(interrupt)).cast_mut();
    let published = STOP_INTERRUPTS.compare_exchange(
        std::ptr::null_mut(),
        flag,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    if published.is_err() {
        // SAFETY: `flag` came from `Arc::into_raw` just above and was not published.
        drop(unsafe { Arc::from_raw(flag) });
    }
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: an all-zero `sigaction` is a valid value (no flags, empty mask).
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_stop_signal as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action` is a live `sigaction`, and the handler only performs an
        // atomic store, which is async-signal-safe.
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            eprintln!(
                "zonal: cannot catch signal {signal}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Sends what zonal writes on stderr — and on stdout too when `stdout_too` — to the end
/// of the file at `path` from now on (`--log`).
fn log_to(path: &std::path::Path, stdout_too: bool) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd as _;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("--log {}: cannot open it for writing", path.display()))?;
    let targets: &[libc::c_int] = if stdout_too {
        &[libc::STDERR_FILENO, libc::STDOUT_FILENO]
    } else {
        &[libc::STDERR_FILENO]
    };
    for &target in targets {
        // SAFETY: `file` is an open descriptor for the duration of the call; dup2 makes
        // `target` another descriptor of the same file, which outlives `file`.
        if unsafe { libc::dup2(file.as_raw_fd(), target) } < 0 {
            anyhow::bail!(
                "--log {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

/// The process function as the backends take it.
type ProcessFn = dyn FnMut(&mut [f32]) + Send;

/// Opens the sound device with `process`, or hands `process` back with the error, so
/// that it can run on the clock instead. The device's callback plays silence until the
/// stream is open and `process` reaches it over a one-slot ring (a pointer moves; no
/// allocation or lock on the audio thread).
fn start_device_or_keep(
    cfg: &DeviceConfig,
    process: Box<ProcessFn>,
) -> Result<device::Stream, (device::DeviceError, Box<ProcessFn>)> {
    let (mut hand, mut take) = rtrb::RingBuffer::<Box<ProcessFn>>::new(1);
    let mut running: Option<Box<ProcessFn>> = None;
    let callback = move |out: &mut [f32]| {
        if running.is_none() {
            running = take.pop().ok();
        }
        match running.as_mut() {
            Some(process) => process(out),
            None => out.fill(0.0),
        }
    };
    match device::start_device(cfg, callback) {
        Ok(stream) => {
            // a new one-slot ring always has room
            let _ = hand.push(process);
            Ok(stream)
        }
        Err(e) => Err((e, process)),
    }
}

fn play(args: PlayArgs) -> anyhow::Result<ExitCode> {
    if args.list_devices {
        for name in device::list_devices()? {
            println!("{name}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let live = &args.live;
    if let Some(path) = &live.log {
        log_to(path, !live.wants_repl())?;
    }
    let cfg = SessionConfig {
        sample_rate: live.sample_rate,
        channels: live.channels,
        workers: live.workers.unwrap_or(SessionConfig::default().workers),
        realtime_workers: !args.no_audio,
        ..session_defaults()
    };
    let (mut session, mut processor) = Session::with_audio(&cfg)
        .map_err(|e| anyhow::anyhow!("cannot start the DSP compiler: {e}"))?;
    let device_cfg = DeviceConfig {
        device: args.device.clone(),
        sample_rate: live.sample_rate,
        channels: u16::try_from(live.channels).context("too many channels")?,
        buffer_frames: live.buffer,
    };
    let input = if args.input_device.is_some() || args.input_channels.is_some() {
        let input_cfg = crate::input::InputConfig {
            device: args.input_device.clone(),
            sample_rate: live.sample_rate,
            channels: args.input_channels.unwrap_or(device_cfg.channels),
            buffer_frames: live.buffer,
        };
        match crate::input::start_input_device(&input_cfg) {
            Ok((stream, ring)) => {
                processor.set_input(Box::new(ring));
                eprintln!(
                    "zonal: listening to {} ({} channels)",
                    stream.name(),
                    input_cfg.channels
                );
                Some(stream)
            }
            Err(e) => {
                eprintln!("zonal: {e}");
                return Ok(ExitCode::FAILURE);
            }
        }
    } else {
        None
    };
    let process = move |out: &mut [f32]| processor.process(out);
    let (process, recorder): (Box<ProcessFn>, _) = match &args.record {
        Some(path) => {
            let (tap, recorder) =
                record::recording(path, live.sample_rate, device_cfg.channels, process)?;
            (Box::new(tap), Some(recorder))
        }
        None => (Box::new(process), None),
    };
    let (stream, no_audio) = if args.no_audio {
        (clock::start_clock(&device_cfg, process)?, true)
    } else {
        match start_device_or_keep(&device_cfg, process) {
            Ok(stream) => (stream, false),
            Err((e, process)) if e.kind() == device::DeviceErrorKind::NoDevice => {
                // a headless machine: keep serving editors (and recording) on the clock
                eprintln!("zonal: {e}; going on without sound, as with --no-audio");
                (clock::start_clock(&device_cfg, process)?, true)
            }
            Err((e, _)) => {
                eprintln!("zonal: {e}");
                return Ok(ExitCode::FAILURE);
            }
        }
    };
    let _watchdog = session
        .start_watchdog(live.buffer as usize)
        .context("cannot start the watchdog thread")?;
    session.stats().load.watch_xruns(stream.xrun_counter());
    session.set_printer(print_above_prompt);
    for file in &args.files {
        if let Err(e) = session.eval_file(file, true) {
            if session.exit_requested().is_some() {
                break;
            }
            eprintln!("{}", report(&e, None));
        }
    }
    if session.exit_requested().is_none() {
        serve_editors(&mut session, live, no_audio)?;
    }
    stream.stop();
    if let Some(input) = input {
        eprintln!("zonal: {}", input.summary());
    }
    if let Some(recorder) = recorder {
        eprintln!("zonal: {}", recorder.finish()?);
    }
    Ok(session
        .exit_requested()
        .map_or(ExitCode::SUCCESS, exit_code))
}

/// Opens the editor server (and the REPL on a terminal) and serves them until the
/// user quits, a signal comes, or the program asks to end.
fn serve_editors(session: &mut Session, live: &LiveArgs, no_audio: bool) -> anyhow::Result<()> {
    let (requests_tx, requests) = crossbeam_channel::unbounded();
    session.connect_io(requests_tx.clone(), live.buffer);
    let interrupt = session.interrupt_handle();
    let server = server::spawn_server(
        ServerConfig {
            addr: std::net::SocketAddr::new(live.bind, live.port),
            max_message_bytes: server::DEFAULT_MAX_MESSAGE_BYTES,
            token: live
                .token
                .clone()
                .or_else(|| std::env::var("ZONAL_TOKEN").ok())
                .filter(|token| !token.is_empty()),
        },
        requests_tx.clone(),
        interrupt.clone(),
    )
    .with_context(|| {
        format!(
            "cannot open the editor server on {}:{}",
            live.bind, live.port
        )
    })?;
    let with_repl = live.wants_repl();
    eprintln!(
        "zonal: editor server on {} ({}); {}",
        server.local_addr(),
        if no_audio {
            "no audio device"
        } else {
            "playing"
        },
        if with_repl {
            "type Scheme below, Ctrl-D to quit"
        } else {
            "no REPL (stdin is not a terminal, or --no-repl): Ctrl-C or SIGTERM stops it"
        }
    );
    stop_on_signals(&interrupt);
    if with_repl {
        // The REPL thread is not joined: at a signal it may be blocked reading stdin,
        // and the process ends with the main thread.
        std::thread::Builder::new()
            .name("zonal-repl".into())
            .spawn(move || {
                if let Err(e) = repl::run_repl(requests_tx, interrupt) {
                    eprintln!("zonal: {e:#}");
                }
                QUIT.store(true, Ordering::SeqCst);
            })?;
    } else {
        drop(requests_tx);
    }
    let lookahead = i64::from(live.sample_rate / 20);
    control::serve(session, &requests, &QUIT, lookahead);
    drop(server);
    Ok(())
}
