//! `--record OUT.wav`: writes what plays to a WAV file. [`recording`] wraps a process
//! function so that what it writes is also pushed into a lock-free ring (no allocation,
//! no lock, no system call on the audio thread), and a writer thread named
//! `zonal-record` drains the ring into a 32-bit float WAV with hound.
//!
//! If the writer falls behind (a slow disk) and the ring fills, the audio thread drops
//! whole frames rather than wait, and counts the samples it dropped; the
//! [`RecordSummary`] reports them.

use std::fmt;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::Context;
use rtrb::{Consumer, RingBuffer};

/// Seconds of audio the ring between the audio thread and the writer holds.
pub const RING_SECONDS: usize = 2;

/// How long the writer sleeps when the ring is empty.
const WRITER_NAP: Duration = Duration::from_millis(10);

#[derive(Debug, Default)]
struct Shared {
    dropped: AtomicU64,
    stop: AtomicBool,
}

/// The writing side of a recording; [`Recorder::finish`] completes the file.
#[derive(Debug)]
pub struct Recorder {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<anyhow::Result<u64>>>,
    path: PathBuf,
    sample_rate: u32,
    channels: u16,
}

/// What a finished recording holds.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSummary {
    pub path: PathBuf,
    /// Frames written to the file.
    pub frames: u64,
    pub sample_rate: u32,
    /// Samples the audio thread dropped because the ring was full.
    pub dropped_samples: u64,
}

impl fmt::Display for RecordSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.frames as f64 / f64::from(self.sample_rate.max(1));
        write!(f, "recorded {seconds:.2} s to {}", self.path.display())?;
        if self.dropped_samples > 0 {
            write!(
                f,
                " ({} samples were dropped: the disk could not keep up)",
                self.dropped_samples
            )?;
        }
        Ok(())
    }
}

impl Recorder {
    /// Samples dropped so far because the ring was full.
    pub fn dropped_samples(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Writes what is still in the ring, completes the WAV header and closes the file.
    /// Whatever the wrapped process function writes after this is not recorded.
    pub fn finish(mut self) -> anyhow::Result<RecordSummary> {
        let frames = self.stop_writer()?;
        Ok(RecordSummary {
            path: self.path.clone(),
            frames,
            sample_rate: self.sample_rate,
            dropped_samples: self.dropped_samples(),
        })
    }

    fn stop_writer(&mut self) -> anyhow::Result<u64> {
        self.shared.stop.store(true, Ordering::Relaxed);
        let Some(writer) = self.writer.take() else {
            return Ok(0);
        };
        let samples = writer
            .join()
            .map_err(|_| anyhow::anyhow!("the recording thread failed"))??;
        Ok(samples / u64::from(self.channels.max(1)))
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.stop_writer();
    }
}

/// Wraps `process` so that everything it writes is also recorded to a 32-bit float WAV
/// at `path` (created now). Returns the wrapped process function, which allocates,
/// locks and blocks no more than `process` does, and the [`Recorder`].
pub fn recording(
    path: &Path,
    sample_rate: u32,
    channels: u16,
    mut process: impl FnMut(&mut [f32]) + Send + 'static,
) -> anyhow::Result<(impl FnMut(&mut [f32]) + Send + 'static, Recorder)> {
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let wav = hound::WavWriter::create(path, spec)
        .map_err(|e| anyhow::anyhow!("cannot record to {}: {e}", path.display()))?;
    let frame = usize::from(channels.max(1));
    let capacity = (sample_rate as usize).max(1) * frame * RING_SECONDS;
    let (mut producer, consumer) = RingBuffer::<f32>::new(capacity);
    let shared = Arc::new(Shared::default());
    let writer = {
        let shared = Arc::clone(&shared);
        let path = path.to_owned();
        thread::Builder::new()
            .name("zonal-record".to_owned())
            .spawn(move || write_wav(wav, consumer, &shared, &path))
            .context("cannot start the recording thread")?
    };
    let tap_shared = Arc::clone(&shared);
    let tap = move |buffer: &mut [f32]| {
        process(buffer);
        let room = producer.slots().min(buffer.len()) / frame * frame;
        let _ = producer.push_partial_slice(&buffer[..room]);
        let dropped = buffer.len() - room;
        if dropped > 0 {
            tap_shared
                .dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
    };
    let recorder = Recorder {
        shared,
        writer: Some(writer),
        path: path.to_owned(),
        sample_rate,
        channels,
    };
    Ok((tap, recorder))
}

/// The writer thread: drains the ring into the WAV until told to stop or the audio side
/// is gone, then finalizes the file. Returns the number of samples written.
fn write_wav(
    mut wav: hound::WavWriter<BufWriter<File>>,
    mut ring: Consumer<f32>,
    shared: &Shared,
    path: &Path,
) -> anyhow::Result<u64> {
    let mut written: u64 = 0;
    let failed = |e: hound::Error| anyhow::anyhow!("cannot record to {}: {e}", path.display());
    loop {
        // Read the flags before draining, so nothing pushed before they were set is
        // missed; once they are, drain what is there and stop, even if audio goes on.
        let finished = shared.stop.load(Ordering::Relaxed) || ring.is_abandoned();
        let available = ring.slots();
        if let Ok(chunk) = ring.read_chunk(available) {
            let (first, second) = chunk.as_slices();
            for &sample in first.iter().chain(second) {
                wav.write_sample(sample).map_err(failed)?;
            }
            written += available as u64;
            chunk.commit_all();
        }
        if finished {
            break;
        }
        if available == 0 {
            thread::sleep(WRITER_NAP);
        }
    }
    wav.finalize().map_err(failed)?;
    Ok(written)
}
