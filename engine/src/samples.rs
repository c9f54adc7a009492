//! Sound files for the sampler (`libs/core/instruments/sampler.xtm`): decoding WAV and
//! FLAC on the control thread and copying the frames into DSP memory.
//!
//! The Scheme procedures registered here:
//!
//! - `(sys:audio-file-read PATH [OFFSET [LENGTH]])` decodes the file (with `symphonia`)
//!   to interleaved 32-bit floats, keeps frames OFFSET.. (LENGTH of them; 0 or none:
//!   to the end) as the *pending* file, and returns `(FRAMES CHANNELS SAMPLE-RATE)`;
//! - `(sys:audio-file-copy POINTER)` copies the pending file's samples to DSP memory at
//!   POINTER — which must be a live allocation (the sampler's `halloc`) of at least
//!   `FRAMES * CHANNELS` floats — and forgets them;
//! - `(sys:directory-list PATH)` lists a directory's entries by name, sorted, as
//!   Extempore's does.
//!
//! The audio thread never decodes or allocates: the sampler hands it a pointer to
//! frames already in place.

use std::cell::RefCell;
use std::fs::File;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
use symphonia::core::errors::Error as DecodeError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use zonal_dsp::runtime::arena::Arena;
use zonal_scheme::{Error, ErrorKind, Interp, Value};

/// A decoded file: interleaved samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub samples: Vec<f32>,
    pub channels: usize,
    pub sample_rate: u32,
}

impl Decoded {
    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1)
    }
}

/// Decodes a WAV or FLAC file (any format symphonia was built with) to floats.
pub fn decode(path: &Path) -> Result<Decoded, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| format!("not a sound file zonal reads (WAV, FLAC): {e}"))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or("the file has no audio track")?;
    let track_id = track.id;
    let sample_rate = track
        .codec_params
        .sample_rate
        .ok_or("the file does not say its sample rate")?;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| format!("cannot decode its audio: {e}"))?;
    let mut samples = Vec::new();
    let mut channels = track.codec_params.channels.map_or(0, |c| c.count());
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(DecodeError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break;
            }
            Err(e) => return Err(format!("reading it failed: {e}")),
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                let spec = *buf.spec();
                channels = spec.channels.count();
                let mut out = SampleBuffer::<f32>::new(buf.capacity() as u64, spec);
                out.copy_interleaved_ref(buf);
                samples.extend_from_slice(out.samples());
            }
            // a damaged packet is skipped, as players do
            Err(DecodeError::DecodeError(_)) => continue,
            Err(e) => return Err(format!("decoding it failed: {e}")),
        }
    }
    if channels == 0 {
        return Err("the file has no channels".into());
    }
    Ok(Decoded {
        samples,
        channels,
        sample_rate,
    })
}

/// Registers the procedures; `arena` is the DSP memory `sys:audio-file-copy` writes.
pub(crate) fn register(interp: &mut Interp, arena: Arc<Arena>) {
    let pending: Rc<RefCell<Option<Decoded>>> = Rc::default();
    let read = pending.clone();
    interp.register_native("sys:audio-file-read", move |interp, args| {
        let decoded = read_file(interp, args)?;
        let (frames, channels, rate) = (
            decoded.frames() as i64,
            decoded.channels as i64,
            i64::from(decoded.sample_rate),
        );
        *read.borrow_mut() = Some(decoded);
        let items = [interp.int(frames), interp.int(channels), interp.int(rate)];
        Ok(interp.list(&items))
    });
    interp.register_native("sys:audio-file-copy", move |interp, args| {
        let [ptr] = args else {
            return Err(Error::new(
                ErrorKind::Arity,
                "sys:audio-file-copy takes the pointer to copy the pending file's samples to",
            ));
        };
        let Some(ptr) = interp.as_int(*ptr) else {
            return Err(Error::new(
                ErrorKind::Type,
                "sys:audio-file-copy: the destination must be a DSP pointer (an integer)",
            )
            .with_irritants(vec![interp.write_string(*ptr)]));
        };
        let Some(decoded) = pending.borrow_mut().take() else {
            return Err(Error::new(
                ErrorKind::Native,
                "sys:audio-file-copy: no file is pending (call sys:audio-file-read first)",
            ));
        };
        let bytes: Vec<u8> = decoded
            .samples
            .iter()
            .flat_map(|s| s.to_ne_bytes())
            .collect();
        if !arena.owns(ptr as u64, bytes.len() as u64) || !arena.write(ptr as u64, &bytes) {
            return Err(Error::new(
                ErrorKind::Range,
                format!(
                    "sys:audio-file-copy: the destination is not a live allocation of {} bytes",
                    bytes.len()
                ),
            ));
        }
        Ok(interp.int(decoded.frames() as i64))
    });
    interp.register_native("sys:directory-list", |interp, args| {
        let path = match args {
            [p] => interp.as_string(*p),
            _ => None,
        };
        let Some(path) = path else {
            return Err(Error::new(
                ErrorKind::Type,
                "sys:directory-list takes a directory's path, a string",
            ));
        };
        let entries = std::fs::read_dir(&path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("sys:directory-list: cannot read {path}: {e}"),
            )
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let items: Vec<Value> = names.iter().map(|n| interp.string(n)).collect();
        Ok(interp.list(&items))
    });
}

/// `(sys:audio-file-read PATH [OFFSET [LENGTH]])`: the file decoded and cut.
fn read_file(interp: &Interp, args: &[Value]) -> Result<Decoded, Error> {
    let usage = "sys:audio-file-read takes a file's path and optionally a first frame and a frame count: (sys:audio-file-read \"kick.wav\" 0 0)";
    let (Some(path), true) = (
        args.first().and_then(|p| interp.as_string(*p)),
        (1..=3).contains(&args.len()),
    ) else {
        return Err(Error::new(ErrorKind::Type, usage));
    };
    let number = |i: usize| -> Result<usize, Error> {
        match args.get(i) {
            None => Ok(0),
            Some(v) => match interp.as_int(*v) {
                Some(n) if n >= 0 => Ok(n as usize),
                _ => Err(Error::new(ErrorKind::Type, usage)
                    .with_irritants(vec![interp.write_string(*v)])),
            },
        }
    };
    let (offset, length) = (number(1)?, number(2)?);
    let mut decoded = decode(Path::new(&path)).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("sys:audio-file-read: cannot read {path}: {e}"),
        )
    })?;
    let frames = decoded.frames();
    let first = offset.min(frames);
    let last = if length == 0 {
        frames
    } else {
        (first + length).min(frames)
    };
    if first > 0 || last < frames {
        let c = decoded.channels;
        decoded.samples = decoded.samples[first * c..last * c].to_vec();
    }
    Ok(decoded)
}
