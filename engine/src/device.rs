//! The live sound device backend: opens an output stream with cpal and calls the one
//! process function from the device's callback thread, converting its interleaved `f32`
//! output to whatever sample format the device takes, without allocating.
//!
//! [`Stream`] is also what the device-less real-time clock ([`crate::clock`]) returns,
//! so `zonal play` holds one kind of stream whichever backend runs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{
    BufferSize, FromSample, I24, OutputCallbackInfo, Sample, SampleFormat, SizedSample,
    StreamConfig, SupportedBufferSize,
};

use crate::clock::ClockThread;

/// What the engine asks of the sound device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The device's id (as `--list-devices` prints it) or name; `None` for the default.
    pub device: Option<String>,
    pub sample_rate: u32,
    pub channels: u16,
    /// Frames per callback asked of the device; it may choose another size, and the
    /// process function must take any whole number of frames.
    pub buffer_frames: u32,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            device: None,
            sample_rate: 48_000,
            channels: 2,
            buffer_frames: 64,
        }
    }
}

/// Why the sound device could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceErrorKind {
    /// There is no usable sound device (no sound card, no sound server).
    NoDevice,
    /// No device has the name that was asked for.
    NotFound,
    /// The device cannot play the sample rate or channel count asked for.
    UnsupportedConfig,
    /// Another program holds the device.
    Busy,
    /// Anything else the audio system reported.
    Other,
}

/// A sound device problem, with a one-line message for the musician.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceError {
    kind: DeviceErrorKind,
    message: String,
}

impl DeviceError {
    pub(crate) fn new(kind: DeviceErrorKind, message: String) -> Self {
        DeviceError { kind, message }
    }

    pub fn kind(&self) -> DeviceErrorKind {
        self.kind
    }
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeviceError {}

/// The advice given whenever no device can play.
const NO_DEVICE_ADVICE: &str = "try `zonal render` to write a WAV, or `zonal play --no-audio`";

/// Turns a cpal error met while opening `device` into a [`DeviceError`]; `said` is what
/// the audio system itself reported, if anything.
pub(crate) fn device_error(
    host: &str,
    device: &str,
    cfg: &DeviceConfig,
    e: &cpal::Error,
    said: Option<String>,
) -> DeviceError {
    let text = e
        .message()
        .map(|message| message.trim_end_matches('.').to_owned())
        .or(said)
        .unwrap_or_else(|| kind_words(e.kind()).to_owned());
    // The message is one line, whatever the audio system said.
    let text = text.lines().map(str::trim).collect::<Vec<_>>().join("; ");
    match e.kind() {
        cpal::ErrorKind::DeviceNotAvailable
        | cpal::ErrorKind::HostUnavailable
        | cpal::ErrorKind::PermissionDenied => DeviceError::new(
            DeviceErrorKind::NoDevice,
            format!(
                "no sound device available ({host}: cannot open `{device}`: {text}); \
                 {NO_DEVICE_ADVICE}"
            ),
        ),
        cpal::ErrorKind::DeviceBusy => DeviceError::new(
            DeviceErrorKind::Busy,
            format!(
                "the sound device `{device}` is busy ({host}: {text}); close the program using \
                 it, or {NO_DEVICE_ADVICE}"
            ),
        ),
        cpal::ErrorKind::UnsupportedConfig | cpal::ErrorKind::InvalidInput => DeviceError::new(
            DeviceErrorKind::UnsupportedConfig,
            format!(
                "the sound device `{device}` cannot play {} channels at {} Hz ({host}: {text})",
                cfg.channels, cfg.sample_rate
            ),
        ),
        _ => DeviceError::new(
            DeviceErrorKind::Other,
            format!("the sound device `{device}` failed ({host}: {text}); {NO_DEVICE_ADVICE}"),
        ),
    }
}

/// Catches what the audio system prints to stderr while a device is opened on this
/// thread (alsa-lib prints several lines when there is no sound card), so the musician
/// sees one line, and its last message can go into that line.
pub(crate) struct SystemMessages {
    #[cfg(target_os = "linux")]
    alsa: Option<std::rc::Rc<std::cell::RefCell<alsa::Output>>>,
}

impl SystemMessages {
    pub(crate) fn capture() -> Self {
        SystemMessages {
            #[cfg(target_os = "linux")]
            alsa: alsa::Output::local_error_handler().ok(),
        }
    }

    /// The last message caught, without the name of the C function that reported it:
    /// `Unknown PCM default`.
    pub(crate) fn last(&self) -> Option<String> {
        #[cfg(target_os = "linux")]
        {
            let text = self.alsa.as_ref()?.borrow().to_string();
            let line = text.lines().rev().find(|line| !line.trim().is_empty())?;
            let message = line.split_once(": ").map_or(line, |(_, message)| message);
            Some(message.trim().to_owned())
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }
}

/// A few words for a cpal error kind that came without a message.
fn kind_words(kind: cpal::ErrorKind) -> &'static str {
    match kind {
        cpal::ErrorKind::DeviceNotAvailable => "the device cannot be opened",
        cpal::ErrorKind::HostUnavailable => "the audio system is not running",
        cpal::ErrorKind::PermissionDenied => "permission denied",
        cpal::ErrorKind::DeviceBusy => "the device is in use",
        cpal::ErrorKind::UnsupportedConfig => "the configuration is not supported",
        cpal::ErrorKind::InvalidInput => "the configuration is invalid",
        _ => "an unexpected error",
    }
}

/// The output devices of the default audio host, one line each: the id to pass as
/// `--device`, then the device's description.
pub fn list_devices() -> Result<Vec<String>, DeviceError> {
    let messages = SystemMessages::capture();
    let host = cpal::default_host();
    let devices = host.output_devices().map_err(|e| {
        let cfg = DeviceConfig::default();
        device_error(host.id().name(), "(all)", &cfg, &e, messages.last())
    })?;
    Ok(devices
        .map(|device| {
            let id = device_id(&device);
            match device.description() {
                Ok(description) if description.name() != id => {
                    format!("{id} — {}", description.name())
                }
                _ => id,
            }
        })
        .collect())
}

/// The id a device is chosen by: ALSA's PCM name (`default`, `null`, `hw:CARD=0,DEV=0`).
pub(crate) fn device_id(device: &cpal::Device) -> String {
    match device.id() {
        Ok(id) => id.id().to_owned(),
        Err(_) => device.to_string(),
    }
}

/// The device `name` (an id or a description), or the host's default for `None` or
/// `default`.
fn pick_device(host: &cpal::Host, name: Option<&str>) -> Result<cpal::Device, DeviceError> {
    let host_name = host.id().name();
    let Some(name) = name.filter(|name| *name != "default") else {
        return host.default_output_device().ok_or_else(|| {
            DeviceError::new(
                DeviceErrorKind::NoDevice,
                format!(
                    "no sound device available ({host_name}: no default output); {NO_DEVICE_ADVICE}"
                ),
            )
        });
    };
    let not_found = || {
        DeviceError::new(
            DeviceErrorKind::NotFound,
            format!("no sound device named `{name}` (`zonal play --list-devices` lists them)"),
        )
    };
    let devices = host.output_devices().map_err(|_| not_found())?;
    named(devices, name).ok_or_else(not_found)
}

/// The device called `name`: by its id first, then by its description's name.
pub(crate) fn named(
    devices: impl Iterator<Item = cpal::Device>,
    name: &str,
) -> Option<cpal::Device> {
    let devices: Vec<cpal::Device> = devices.collect();
    devices
        .iter()
        .find(|device| device_id(device) == name)
        .or_else(|| {
            devices.iter().find(|device| {
                device
                    .description()
                    .is_ok_and(|description| description.name() == name)
            })
        })
        .cloned()
}

/// Sample formats in the order they are preferred: `f32` needs no conversion.
const FORMAT_PREFERENCE: [SampleFormat; 6] = [
    SampleFormat::F32,
    SampleFormat::I32,
    SampleFormat::I24,
    SampleFormat::I16,
    SampleFormat::F64,
    SampleFormat::U16,
];

/// The sample format and buffer size to open `device` with for `cfg`.
fn choose_config(
    device: &cpal::Device,
    cfg: &DeviceConfig,
    id: &str,
    host_name: &str,
    messages: &SystemMessages,
) -> Result<(SampleFormat, BufferSize), DeviceError> {
    let ranges: Vec<cpal::SupportedStreamConfigRange> = device
        .supported_output_configs()
        .map_err(|e| device_error(host_name, id, cfg, &e, messages.last()))?
        .filter(|range| {
            range.channels() == cfg.channels
                && (range.min_sample_rate()..=range.max_sample_rate()).contains(&cfg.sample_rate)
        })
        .collect();
    let chosen = FORMAT_PREFERENCE
        .iter()
        .find_map(|format| ranges.iter().find(|range| range.sample_format() == *format))
        .ok_or_else(|| {
            DeviceError::new(
                DeviceErrorKind::UnsupportedConfig,
                format!(
                    "the sound device `{id}` cannot play {} channels at {} Hz in a sample format \
                     zonal writes (f32, i32, i24, i16, f64, u16)",
                    cfg.channels, cfg.sample_rate
                ),
            )
        })?;
    let buffer = match chosen.buffer_size() {
        SupportedBufferSize::Range { min, max } if (*min..=*max).contains(&cfg.buffer_frames) => {
            BufferSize::Fixed(cfg.buffer_frames)
        }
        _ => BufferSize::Default,
    };
    Ok((chosen.sample_format(), buffer))
}

/// Opens the output device of `cfg` and starts calling `process` from its callback
/// thread, which is named `zonal-audio` on its first call. `process` fills an
/// interleaved `f32` buffer of any whole number of frames.
pub fn start_device(
    cfg: &DeviceConfig,
    process: impl FnMut(&mut [f32]) + Send + 'static,
) -> Result<Stream, DeviceError> {
    let messages = SystemMessages::capture();
    let host = cpal::default_host();
    let host_name = host.id().name();
    let device = pick_device(&host, cfg.device.as_deref())?;
    let id = device_id(&device);
    let (format, buffer_size) = choose_config(&device, cfg, &id, host_name, &messages)?;
    let config = StreamConfig {
        channels: cfg.channels,
        sample_rate: cfg.sample_rate,
        buffer_size,
    };
    let status = Arc::new(DeviceStatus::default());
    let callback_status = Arc::clone(&status);
    let mut adapter = OutputAdapter::new(cfg.channels, process);
    let mut named = false;
    let data_callback = move |data: &mut cpal::Data, _: &OutputCallbackInfo| {
        if !named {
            name_audio_thread();
            named = true;
        }
        adapter.fill_data(data);
        callback_status.callbacks.fetch_add(1, Ordering::Relaxed);
    };
    let error_status = Arc::clone(&status);
    let error_callback = move |e: cpal::Error| error_status.record(e.kind());
    let stream = device
        .build_output_stream_raw(
            config,
            format,
            data_callback,
            error_callback,
            Some(Duration::from_secs(5)),
        )
        .map_err(|e| device_error(host_name, &id, cfg, &e, messages.last()))?;
    stream
        .play()
        .map_err(|e| device_error(host_name, &id, cfg, &e, messages.last()))?;
    Ok(Stream {
        name: id,
        sample_rate: cfg.sample_rate,
        channels: cfg.channels,
        sample_format: format.to_string(),
        backend: Backend::Device { stream, status },
    })
}

/// What the device's callbacks have reported, in atomics the callback thread can set
/// without allocating or locking.
#[derive(Debug, Default)]
pub(crate) struct DeviceStatus {
    callbacks: AtomicU64,
    xruns: AtomicU64,
    errors: AtomicU64,
    lost: AtomicBool,
}

impl DeviceStatus {
    fn record(&self, kind: cpal::ErrorKind) {
        match kind {
            cpal::ErrorKind::Xrun => {
                self.xruns.fetch_add(1, Ordering::Relaxed);
            }
            cpal::ErrorKind::DeviceChanged | cpal::ErrorKind::RealtimeDenied => {}
            cpal::ErrorKind::DeviceNotAvailable
            | cpal::ErrorKind::StreamInvalidated
            | cpal::ErrorKind::HostUnavailable
            | cpal::ErrorKind::PermissionDenied => self.lost.store(true, Ordering::Relaxed),
            // ALSA's PulseAudio plugin reports bursts of I/O errors around an under-run
            // and then plays on: count them, the stream is not lost.
            _ => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Names the calling thread `zonal-audio` for `top -H`, debuggers and profilers, without
/// allocating (cpal's callback threads cannot be named when they are made).
fn name_audio_thread() {
    #[cfg(target_os = "linux")]
    {
        const NAME: &[u8] = b"zonal-audio\0";
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes from the
        // pointer, and NAME is a static, NUL-terminated 12-byte string.
        unsafe {
            libc::prctl(libc::PR_SET_NAME, NAME.as_ptr() as libc::c_ulong, 0, 0, 0);
        }
    }
}

/// A running audio stream: a sound device, or the device-less real-time clock. Dropping
/// it stops the stream; the process function is dropped with it.
pub struct Stream {
    pub(crate) name: String,
    pub(crate) sample_rate: u32,
    pub(crate) channels: u16,
    pub(crate) sample_format: String,
    pub(crate) backend: Backend,
}

pub(crate) enum Backend {
    Device {
        stream: cpal::Stream,
        status: Arc<DeviceStatus>,
    },
    Clock(ClockThread),
}

impl Stream {
    /// The device's id, or `no audio` for the real-time clock.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// The device's sample format (`f32`, `i16`, ...), converted to from `f32`.
    pub fn sample_format(&self) -> &str {
        &self.sample_format
    }

    /// How many times the process function has been called.
    pub fn callbacks(&self) -> u64 {
        match &self.backend {
            Backend::Device { status, .. } => status.callbacks.load(Ordering::Relaxed),
            Backend::Clock(clock) => clock.buffers(),
        }
    }

    /// How many times audio came too late: device under-runs, or buffers the clock
    /// started more than a buffer behind their deadline.
    pub fn xruns(&self) -> u64 {
        match &self.backend {
            Backend::Device { status, .. } => status.xruns.load(Ordering::Relaxed),
            Backend::Clock(clock) => clock.late_buffers(),
        }
    }

    /// A counter of [`Stream::xruns`] that outlives the borrow of the stream.
    pub fn xrun_counter(&self) -> Box<dyn Fn() -> u64 + Send> {
        match &self.backend {
            Backend::Device { status, .. } => {
                let status = Arc::clone(status);
                Box::new(move || status.xruns.load(Ordering::Relaxed))
            }
            Backend::Clock(clock) => {
                let counters = clock.counters();
                Box::new(move || counters.late_buffers())
            }
        }
    }

    /// How many other errors the device reported and played on after (the ALSA
    /// PulseAudio plugin reports bursts of them around an under-run).
    pub fn errors(&self) -> u64 {
        match &self.backend {
            Backend::Device { status, .. } => status.errors.load(Ordering::Relaxed),
            Backend::Clock(_) => 0,
        }
    }

    /// Whether the device stopped playing (unplugged, or the sound server went away).
    pub fn is_lost(&self) -> bool {
        match &self.backend {
            Backend::Device { status, .. } => status.lost.load(Ordering::Relaxed),
            Backend::Clock(_) => false,
        }
    }

    /// A one-line description for the musician: `null: 48000 Hz, 2 channels, f32`.
    pub fn describe(&self) -> String {
        format!(
            "{}: {} Hz, {} channels, {}",
            self.name, self.sample_rate, self.channels, self.sample_format
        )
    }

    /// Stops the stream and drops the process function.
    pub fn stop(self) {
        drop(self);
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("name", &self.name)
            .field("sample_rate", &self.sample_rate)
            .field("channels", &self.channels)
            .field("sample_format", &self.sample_format)
            .finish_non_exhaustive()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        match &self.backend {
            Backend::Device { stream, .. } => {
                let _ = stream.pause();
            }
            Backend::Clock(clock) => clock.request_stop(),
        }
    }
}

/// Frames converted per call of the process function when the device does not take
/// `f32`: its output goes through a scratch buffer of this many frames, allocated once.
pub const SCRATCH_FRAMES: usize = 1024;

/// Fills device buffers of any sample format from an `f32` process function, without
/// allocating: `f32` buffers are handed to it as they are; others are filled through a
/// scratch buffer, a chunk at a time, with NaN made silent and samples clamped to
/// `-1.0..=1.0` before conversion.
pub struct OutputAdapter<P> {
    process: P,
    scratch: Box<[f32]>,
}

impl<P: FnMut(&mut [f32])> OutputAdapter<P> {
    pub fn new(channels: u16, process: P) -> Self {
        let channels = usize::from(channels.max(1));
        OutputAdapter {
            process,
            scratch: vec![0.0; SCRATCH_FRAMES * channels].into_boxed_slice(),
        }
    }

    /// Fills an `f32` buffer: the process function writes it directly.
    pub fn fill_f32(&mut self, out: &mut [f32]) {
        (self.process)(out);
    }

    /// Fills a buffer of another sample type through the scratch buffer.
    pub fn fill<T: Sample + FromSample<f32>>(&mut self, out: &mut [T]) {
        let step = self.scratch.len();
        for chunk in out.chunks_mut(step) {
            let scratch = &mut self.scratch[..chunk.len()];
            scratch.fill(0.0);
            (self.process)(scratch);
            for (out, &sample) in chunk.iter_mut().zip(scratch.iter()) {
                *out = T::from_sample(playable(sample));
            }
        }
    }

    /// Fills a cpal buffer in whichever format it holds. A format zonal does not write
    /// (never chosen by [`start_device`]) is left as cpal filled it: silent.
    pub fn fill_data(&mut self, data: &mut cpal::Data) {
        match data.sample_format() {
            SampleFormat::F32 => self.fill_slice_f32(data),
            SampleFormat::I32 => self.fill_slice::<i32>(data),
            SampleFormat::I24 => self.fill_slice::<I24>(data),
            SampleFormat::I16 => self.fill_slice::<i16>(data),
            SampleFormat::F64 => self.fill_slice::<f64>(data),
            SampleFormat::U16 => self.fill_slice::<u16>(data),
            _ => {}
        }
    }

    fn fill_slice_f32(&mut self, data: &mut cpal::Data) {
        if let Some(out) = data.as_slice_mut::<f32>() {
            self.fill_f32(out);
        }
    }

    fn fill_slice<T: SizedSample + FromSample<f32>>(&mut self, data: &mut cpal::Data) {
        if let Some(out) = data.as_slice_mut::<T>() {
            self.fill(out);
        }
    }
}

/// A sample the converters can take: NaN becomes silence, the rest is clamped.
fn playable(sample: f32) -> f32 {
    if sample.is_nan() {
        0.0
    } else {
        sample.clamp(-1.0, 1.0)
    }
}
