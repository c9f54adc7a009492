//! Audio input: what the `in` argument of the DSP closure carries (and a DSPMC
//! closure's input buffer). The process function asks an [`InputSource`] for each
//! buffer's input before it renders; without one, `in` is silence.
//!
//! Two sources:
//! - [`FileInput`] (`zonal render --input FILE.wav`): the whole file is decoded, and its
//!   channels mapped, on the control thread before the render starts, so the audio
//!   thread only copies; frame `n` of the file is the input of sample `n`, exactly.
//! - [`RingInput`] (`zonal play --input-device`): a capture stream opened with cpal
//!   ([`start_input_device`]) pushes what the device hears into a lock-free ring from
//!   its own callback thread; the process function pops it. cpal has no duplex
//!   streams, so capture and playback are two streams whose callbacks come at their
//!   own times: the ring absorbs the difference, and when more than
//!   [`RingInput::max_backlog`] frames wait (the capture clock runs faster than the
//!   playback clock) the oldest are dropped, so the input's latency stays bounded.
//!   When too few wait (at the start, or the capture clock runs slower) the missing
//!   frames are silence. Both are counted ([`InputCounters`]).
//!
//! Channel mapping, for both: input channel `c` feeds DSP channel `c`; a mono input
//! feeds every channel; DSP channels beyond the input's get silence and input channels
//! beyond the DSP's are not heard.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{
    BufferSize, FromSample, I24, InputCallbackInfo, SampleFormat, SizedSample, StreamConfig,
};
use rtrb::{Consumer, Producer, RingBuffer};

use crate::device::{DeviceError, DeviceErrorKind, SystemMessages, device_error, device_id};

/// Where the DSP closure's input comes from. Called on the audio thread: an
/// implementation must not allocate, lock, block or print.
pub trait InputSource: Send {
    /// Fills `dest`, interleaved frames of `channels` channels, with the next input.
    fn read(&mut self, dest: &mut [f32], channels: usize);
}

/// Writes one input frame of any width into a DSP frame, by the module's mapping.
fn map_frame(src: &[f32], dst: &mut [f32]) {
    match src {
        [mono] => dst.fill(*mono),
        _ => {
            for (c, d) in dst.iter_mut().enumerate() {
                *d = src.get(c).copied().unwrap_or(0.0);
            }
        }
    }
}

/// A WAV file as input, decoded and mapped to the DSP's channels ahead of time.
pub struct FileInput {
    samples: Vec<f32>,
    channels: usize,
    pos: usize,
}

/// The most samples a file given as input may hold once decoded (4 GiB of `f32`).
const MAX_FILE_SAMPLES: usize = 1 << 30;

impl FileInput {
    /// Decodes the WAV file at `path` for a render at `sample_rate` with `channels`
    /// channels. A file at another rate is refused (zonal does not resample): the
    /// message says how to make one that fits.
    pub fn open(path: &Path, sample_rate: u32, channels: usize) -> anyhow::Result<FileInput> {
        let shown = path.display();
        let reader = hound::WavReader::open(path)
            .with_context(|| format!("--input {shown}: cannot read it as a WAV file"))?;
        let spec = reader.spec();
        if spec.sample_rate != sample_rate {
            anyhow::bail!(
                "--input {shown} is sampled at {} Hz but the render runs at {sample_rate} Hz; \
                 zonal does not resample: render with --sample-rate {}, or convert the file \
                 (sox {shown} -r {sample_rate} out.wav)",
                spec.sample_rate,
                spec.sample_rate
            );
        }
        let file_channels = usize::from(spec.channels.max(1));
        let frames = reader.duration() as usize;
        if frames.saturating_mul(channels.max(file_channels)) > MAX_FILE_SAMPLES {
            anyhow::bail!(
                "--input {shown} holds {frames} frames, more than zonal decodes into memory \
                 ({MAX_FILE_SAMPLES} samples): cut it shorter"
            );
        }
        let decoded = decode(reader).with_context(|| format!("--input {shown}"))?;
        let channels = channels.max(1);
        let mut samples = vec![0.0; decoded.len() / file_channels * channels];
        for (src, dst) in decoded
            .chunks_exact(file_channels)
            .zip(samples.chunks_exact_mut(channels))
        {
            map_frame(src, dst);
        }
        Ok(FileInput {
            samples,
            channels,
            pos: 0,
        })
    }

    /// Frames in the file.
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels
    }
}

/// All the samples of a WAV file as `f32` in -1..1, interleaved.
pub(crate) fn decode(
    reader: hound::WavReader<std::io::BufReader<std::fs::File>>,
) -> anyhow::Result<Vec<f32>> {
    let spec = reader.spec();
    let samples: Result<Vec<f32>, hound::Error> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|s| s as f32 * scale))
                .collect()
        }
    };
    samples.context("the file is damaged")
}

impl InputSource for FileInput {
    fn read(&mut self, dest: &mut [f32], channels: usize) {
        if channels != self.channels {
            dest.fill(0.0);
            return;
        }
        let rest = self.samples.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(dest.len());
        dest[..n].copy_from_slice(&rest[..n]);
        dest[n..].fill(0.0);
        self.pos = (self.pos + n).min(self.samples.len());
    }
}

/// What a live input has counted, shared with the control thread.
#[derive(Debug, Default)]
pub struct InputCounters {
    /// Frames the process function wanted and the ring did not have (heard as silence).
    pub missing_frames: AtomicU64,
    /// Frames dropped because more than the backlog waited.
    pub dropped_frames: AtomicU64,
    /// Frames the capture callback could not push because the ring was full.
    pub overflow_frames: AtomicU64,
    /// Capture callbacks so far.
    pub callbacks: AtomicU64,
}

/// The audio thread's end of a live input: pops what the capture stream pushed.
pub struct RingInput {
    ring: Consumer<f32>,
    device_channels: usize,
    max_backlog: usize,
    counters: Arc<InputCounters>,
}

impl RingInput {
    /// Most frames that may wait in the ring after a read before the oldest are dropped.
    pub fn max_backlog(&self) -> usize {
        self.max_backlog
    }
}

/// A ring for `device_channels`-channel input holding `capacity_frames` frames: the
/// capture side's [`Producer`] (feed it with [`push_input`]) and the audio side's
/// [`RingInput`], which keeps at most `max_backlog` frames waiting.
pub fn input_ring(
    device_channels: usize,
    capacity_frames: usize,
    max_backlog: usize,
) -> (Producer<f32>, RingInput, Arc<InputCounters>) {
    let device_channels = device_channels.max(1);
    let (producer, consumer) = RingBuffer::new(capacity_frames.max(1) * device_channels);
    let counters = Arc::new(InputCounters::default());
    let input = RingInput {
        ring: consumer,
        device_channels,
        max_backlog: max_backlog.min(capacity_frames),
        counters: Arc::clone(&counters),
    };
    (producer, input, counters)
}

/// Pushes whole frames of captured audio into the ring, counting the frames that do
/// not fit. Allocates nothing.
pub fn push_input(
    ring: &mut Producer<f32>,
    samples: impl ExactSizeIterator<Item = f32>,
    device_channels: usize,
    counters: &InputCounters,
) {
    let frame = device_channels.max(1);
    let total = samples.len() / frame * frame;
    let room = ring.slots().min(total) / frame * frame;
    if let Ok(chunk) = ring.write_chunk_uninit(room) {
        chunk.fill_from_iter(samples.take(room));
    }
    if room < total {
        counters
            .overflow_frames
            .fetch_add(((total - room) / frame) as u64, Ordering::Relaxed);
    }
}

impl InputSource for RingInput {
    fn read(&mut self, dest: &mut [f32], channels: usize) {
        let dc = self.device_channels;
        let channels = channels.max(1);
        let wanted = dest.len() / channels;
        let waiting = self.ring.slots() / dc;
        let excess = waiting.saturating_sub(wanted + self.max_backlog);
        if excess > 0 {
            if let Ok(chunk) = self.ring.read_chunk(excess * dc) {
                chunk.commit_all();
            }
            self.counters
                .dropped_frames
                .fetch_add(excess as u64, Ordering::Relaxed);
        }
        let n = wanted.min(waiting - excess);
        let mut frame = [0.0f32; crate::audio::MAX_CHANNELS];
        let width = dc.min(frame.len());
        if let Ok(chunk) = self.ring.read_chunk(n * dc) {
            let (first, second) = chunk.as_slices();
            let mut samples = first.iter().chain(second).copied();
            for dst in dest[..n * channels].chunks_exact_mut(channels) {
                for slot in frame.iter_mut().take(width) {
                    *slot = samples.next().unwrap_or(0.0);
                }
                for _ in width..dc {
                    samples.next();
                }
                map_frame(&frame[..width], dst);
            }
            chunk.commit_all();
        }
        dest[n * channels..].fill(0.0);
        if n < wanted {
            self.counters
                .missing_frames
                .fetch_add((wanted - n) as u64, Ordering::Relaxed);
        }
    }
}

/// What the engine asks of the capture device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputConfig {
    /// The device's id (as `--list-devices` prints it) or name; `None` for the default.
    pub device: Option<String>,
    pub sample_rate: u32,
    pub channels: u16,
    /// The playback buffer, in frames: the ring keeps a few of them waiting at most.
    pub buffer_frames: u32,
}

impl InputConfig {
    /// Frames that may wait in the ring: four playback buffers, and at least 50 ms.
    pub fn max_backlog(&self) -> usize {
        (4 * self.buffer_frames as usize).max(self.sample_rate as usize / 20)
    }
}

/// A running capture stream; dropping it stops capture (the process function then
/// hears silence).
pub struct InputStream {
    _stream: cpal::Stream,
    name: String,
    counters: Arc<InputCounters>,
    lost: Arc<AtomicBool>,
}

impl InputStream {
    /// The capture device's id.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the input has counted.
    pub fn counters(&self) -> &InputCounters {
        &self.counters
    }

    /// Whether the capture device stopped (unplugged, or the sound server went away).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// One line for the musician: what was heard, and what was not.
    pub fn summary(&self) -> String {
        let c = &self.counters;
        let count = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let mut s = format!(
            "input from {}: {} capture callbacks; {} frames missing (silence), {} dropped \
             (backlog), {} overflowed",
            self.name,
            count(&c.callbacks),
            count(&c.missing_frames),
            count(&c.dropped_frames),
            count(&c.overflow_frames)
        );
        if self.is_lost() {
            s.push_str("; the device was lost");
        }
        s
    }
}

/// The capture device `name` (an id or a description), or the default one.
fn pick_input_device(host: &cpal::Host, name: Option<&str>) -> Result<cpal::Device, DeviceError> {
    let Some(name) = name.filter(|name| *name != "default") else {
        return host.default_input_device().ok_or_else(|| {
            DeviceError::new(
                DeviceErrorKind::NoDevice,
                format!(
                    "no input device available ({}: no default input); drop --input-device, \
                     or render with --input FILE.wav",
                    host.id().name()
                ),
            )
        });
    };
    let not_found = || {
        DeviceError::new(
            DeviceErrorKind::NotFound,
            format!("no input device named `{name}` (`zonal play --list-devices` lists them)"),
        )
    };
    let devices = host.input_devices().map_err(|_| not_found())?;
    crate::device::named(devices, name).ok_or_else(not_found)
}

/// Sample formats zonal reads, in the order they are preferred.
const FORMATS: [SampleFormat; 5] = [
    SampleFormat::F32,
    SampleFormat::I32,
    SampleFormat::I24,
    SampleFormat::I16,
    SampleFormat::U16,
];

/// Opens the capture device of `cfg` and starts pushing what it hears into a ring;
/// returns the stream and the audio side's end, for [`crate::audio::Processor::set_input`].
pub fn start_input_device(cfg: &InputConfig) -> Result<(InputStream, RingInput), DeviceError> {
    let messages = SystemMessages::capture();
    let host = cpal::default_host();
    let host_name = host.id().name();
    let device = pick_input_device(&host, cfg.device.as_deref())?;
    let id = device_id(&device);
    let as_output = crate::device::DeviceConfig {
        device: cfg.device.clone(),
        sample_rate: cfg.sample_rate,
        channels: cfg.channels,
        buffer_frames: cfg.buffer_frames,
    };
    let format = device
        .supported_input_configs()
        .map_err(|e| device_error(host_name, &id, &as_output, &e, messages.last()))?
        .filter(|range| {
            range.channels() == cfg.channels
                && (range.min_sample_rate()..=range.max_sample_rate()).contains(&cfg.sample_rate)
        })
        .map(|range| range.sample_format())
        .min_by_key(|format| {
            FORMATS
                .iter()
                .position(|f| f == format)
                .unwrap_or(usize::MAX)
        })
        .filter(|format| FORMATS.contains(format))
        .ok_or_else(|| {
            DeviceError::new(
                DeviceErrorKind::UnsupportedConfig,
                format!(
                    "the input device `{id}` cannot capture {} channels at {} Hz in a sample \
                     format zonal reads (f32, i32, i24, i16, u16); try another --input-channels",
                    cfg.channels, cfg.sample_rate
                ),
            )
        })?;
    let channels = usize::from(cfg.channels.max(1));
    let (mut producer, ring, counters) =
        input_ring(channels, cfg.sample_rate as usize / 2, cfg.max_backlog());
    let callback_counters = Arc::clone(&counters);
    let data_callback = move |data: &cpal::Data, _: &InputCallbackInfo| {
        let c = &callback_counters;
        match data.sample_format() {
            SampleFormat::F32 => push_as::<f32>(&mut producer, data, channels, c),
            SampleFormat::I32 => push_as::<i32>(&mut producer, data, channels, c),
            SampleFormat::I24 => push_as::<I24>(&mut producer, data, channels, c),
            SampleFormat::I16 => push_as::<i16>(&mut producer, data, channels, c),
            SampleFormat::U16 => push_as::<u16>(&mut producer, data, channels, c),
            _ => {}
        }
        c.callbacks.fetch_add(1, Ordering::Relaxed);
    };
    let lost = Arc::new(AtomicBool::new(false));
    let error_lost = Arc::clone(&lost);
    let error_callback = move |e: cpal::Error| {
        if matches!(
            e.kind(),
            cpal::ErrorKind::DeviceNotAvailable
                | cpal::ErrorKind::StreamInvalidated
                | cpal::ErrorKind::HostUnavailable
        ) {
            error_lost.store(true, Ordering::Relaxed);
        }
    };
    let config = StreamConfig {
        channels: cfg.channels,
        sample_rate: cfg.sample_rate,
        buffer_size: BufferSize::Default,
    };
    let stream = device
        .build_input_stream_raw(
            config,
            format,
            data_callback,
            error_callback,
            Some(Duration::from_secs(5)),
        )
        .map_err(|e| device_error(host_name, &id, &as_output, &e, messages.last()))?;
    stream
        .play()
        .map_err(|e| device_error(host_name, &id, &as_output, &e, messages.last()))?;
    Ok((
        InputStream {
            _stream: stream,
            name: id,
            counters,
            lost,
        },
        ring,
    ))
}

/// Pushes a capture buffer of sample type `T`, converted to `f32`.
fn push_as<T: SizedSample>(
    ring: &mut Producer<f32>,
    data: &cpal::Data,
    channels: usize,
    counters: &InputCounters,
) where
    f32: FromSample<T>,
{
    if let Some(samples) = data.as_slice::<T>() {
        push_input(
            ring,
            samples.iter().map(|&s| f32::from_sample_(s)),
            channels,
            counters,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mono_frame_feeds_every_channel_and_missing_channels_are_silent() {
        let mut dst = [9.0; 3];
        map_frame(&[0.5], &mut dst);
        assert_eq!(dst, [0.5; 3]);
        map_frame(&[0.1, 0.2], &mut dst);
        assert_eq!(dst, [0.1, 0.2, 0.0]);
        let mut two = [0.0; 2];
        map_frame(&[0.1, 0.2, 0.3], &mut two);
        assert_eq!(two, [0.1, 0.2]);
    }

    #[test]
    fn the_ring_hands_frames_over_in_order_and_counts_what_is_missing() {
        let (mut producer, mut input, counters) = input_ring(1, 1000, 100);
        push_input(&mut producer, (0..10).map(|i| i as f32), 1, &counters);
        let mut dest = [0.0; 16];
        input.read(&mut dest, 2);
        assert_eq!(
            dest,
            [
                0., 0., 1., 1., 2., 2., 3., 3., 4., 4., 5., 5., 6., 6., 7., 7.
            ]
        );
        input.read(&mut dest, 2);
        assert_eq!(&dest[..4], &[8., 8., 9., 9.]);
        assert!(dest[4..].iter().all(|&s| s == 0.0));
        assert_eq!(counters.missing_frames.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn a_backlog_past_the_limit_drops_the_oldest_frames() {
        let (mut producer, mut input, counters) = input_ring(2, 1000, 4);
        push_input(&mut producer, (0..40).map(|i| i as f32), 2, &counters);
        let mut dest = [0.0; 4];
        input.read(&mut dest, 2);
        // 20 frames waited, 2 were wanted and 4 may stay: the 14 oldest went
        assert_eq!(counters.dropped_frames.load(Ordering::Relaxed), 14);
        assert_eq!(dest, [28., 29., 30., 31.]);
    }

    #[test]
    fn a_full_ring_counts_the_frames_it_could_not_take() {
        let (mut producer, _input, counters) = input_ring(2, 3, 3);
        push_input(&mut producer, (0..10).map(|i| i as f32), 2, &counters);
        assert_eq!(counters.overflow_frames.load(Ordering::Relaxed), 2);
    }
}
