//! WAV files written a stretch at a time: `zonal render`'s output.
//!
//! A [`WavWriter`] converts each stretch of interleaved `f32` samples to the file's
//! sample format in one reused byte buffer and hands it to the file in one write (32-bit
//! float samples on a little-endian machine go as they are, unconverted), then
//! fills in the RIFF and data sizes when it finishes. The header is the one `hound`
//! writes for the same format (the plain PCM format chunk for 16-bit samples in at most
//! two channels, WAVE_FORMAT_EXTENSIBLE otherwise), so a file reads the same in every
//! program that read hound's, byte for byte.

use std::io::{Seek, SeekFrom, Write};

use crate::render::SampleFormat;

/// `KSDATAFORMAT_SUBTYPE_PCM`: the extensible format's GUID for integer samples.
const SUBTYPE_PCM: [u8; 16] = [
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
];

/// `KSDATAFORMAT_SUBTYPE_IEEE_FLOAT`: the extensible format's GUID for float samples.
const SUBTYPE_FLOAT: [u8; 16] = [
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
];

/// A WAV file being written; [`WavWriter::finish`] completes it.
pub struct WavWriter<W: Write + Seek> {
    out: W,
    format: SampleFormat,
    /// Where the data chunk's size is, in the header.
    data_size_at: u64,
    data_bytes: u64,
    /// The converted samples of the stretch being written (kept between writes).
    bytes: Vec<u8>,
}

impl<W: Write + Seek> WavWriter<W> {
    /// Writes the header of a file of `channels` channels at `sample_rate` Hz to `out`
    /// (at its start), its sizes left for [`WavWriter::finish`].
    pub fn new(
        mut out: W,
        format: SampleFormat,
        channels: u16,
        sample_rate: u32,
    ) -> std::io::Result<Self> {
        let header = header(format, channels, sample_rate);
        out.write_all(&header)?;
        Ok(WavWriter {
            out,
            format,
            data_size_at: header.len() as u64 - 4,
            data_bytes: 0,
            bytes: Vec::new(),
        })
    }

    /// Appends interleaved samples (in [-1, 1]: integer formats scale them to full
    /// scale and round to the nearest step).
    pub fn write(&mut self, samples: &[f32]) -> std::io::Result<()> {
        if self.format == SampleFormat::F32 && cfg!(target_endian = "little") {
            // SAFETY: the bytes are those of `samples`, borrowed for this call: an `f32` is
            // four initialised bytes without padding, any of which is a valid `u8`, and
            // `u8` needs no alignment. On a little-endian machine they are already the
            // file's encoding.
            let bytes = unsafe {
                std::slice::from_raw_parts(samples.as_ptr().cast::<u8>(), size_of_val(samples))
            };
            self.out.write_all(bytes)?;
            self.data_bytes += bytes.len() as u64;
            return Ok(());
        }
        // every byte is written below: a stretch of another length only resizes it
        self.bytes.resize(samples.len() * self.format.bytes(), 0);
        let bytes = &mut self.bytes;
        match self.format {
            SampleFormat::F32 => {
                for (b, &s) in bytes.chunks_exact_mut(4).zip(samples) {
                    b.copy_from_slice(&s.to_le_bytes());
                }
            }
            SampleFormat::I16 => {
                for (b, &s) in bytes.chunks_exact_mut(2).zip(samples) {
                    b.copy_from_slice(&((s * 32767.0).round() as i16).to_le_bytes());
                }
            }
            SampleFormat::I24 => {
                for (b, &s) in bytes.chunks_exact_mut(3).zip(samples) {
                    b.copy_from_slice(&((s * 8_388_607.0).round() as i32).to_le_bytes()[..3]);
                }
            }
        }
        self.out.write_all(&self.bytes)?;
        self.data_bytes += self.bytes.len() as u64;
        Ok(())
    }

    /// Fills in the file's sizes and flushes it; gives the output back.
    pub fn finish(mut self) -> std::io::Result<W> {
        let data = u32::try_from(self.data_bytes).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "more audio than a WAV file can hold (4 GiB)",
            )
        })?;
        let riff = data
            .checked_add(self.data_size_at as u32 + 4 - 8)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "more audio than a WAV file can hold (4 GiB)",
                )
            })?;
        self.out.seek(SeekFrom::Start(4))?;
        self.out.write_all(&riff.to_le_bytes())?;
        self.out.seek(SeekFrom::Start(self.data_size_at))?;
        self.out.write_all(&data.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The RIFF header, format chunk and data chunk header, sizes 0.
fn header(format: SampleFormat, channels: u16, sample_rate: u32) -> Vec<u8> {
    let bytes_per_sample = format.bytes() as u16;
    let bits = bytes_per_sample * 8;
    let float = format == SampleFormat::F32;
    let extensible = channels > 2 || bits > 16;
    let bytes_per_second = sample_rate
        .wrapping_mul(u32::from(bytes_per_sample))
        .wrapping_mul(u32::from(channels));
    let block_align = bytes_per_second.checked_div(sample_rate).unwrap_or(0) as u16;
    let mut h = Vec::with_capacity(68);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&0u32.to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&(if extensible { 40u32 } else { 16 }).to_le_bytes());
    let tag: u16 = match (extensible, float) {
        (true, _) => 0xfffe,
        (false, true) => 3,
        (false, false) => 1,
    };
    h.extend_from_slice(&tag.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&sample_rate.to_le_bytes());
    h.extend_from_slice(&bytes_per_second.to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    if extensible {
        // cbSize, valid bits, the speaker mask (one bit per channel, at most 18)
        h.extend_from_slice(&22u16.to_le_bytes());
        h.extend_from_slice(&bits.to_le_bytes());
        let mask = (1u32 << channels.min(18)) - 1;
        h.extend_from_slice(&mask.to_le_bytes());
        h.extend_from_slice(if float { &SUBTYPE_FLOAT } else { &SUBTYPE_PCM });
    }
    h.extend_from_slice(b"data");
    h.extend_from_slice(&0u32.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// What hound writes for the same samples, one `write_sample` at a time.
    fn hound_bytes(format: SampleFormat, channels: u16, rate: u32, samples: &[f32]) -> Vec<u8> {
        let (bits, sample_format) = match format {
            SampleFormat::F32 => (32, hound::SampleFormat::Float),
            SampleFormat::I16 => (16, hound::SampleFormat::Int),
            SampleFormat::I24 => (24, hound::SampleFormat::Int),
        };
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format,
        };
        let mut out = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for &s in samples {
            match format {
                SampleFormat::F32 => w.write_sample(s),
                SampleFormat::I16 => w.write_sample((s * 32767.0).round() as i16),
                SampleFormat::I24 => w.write_sample((s * 8_388_607.0).round() as i32),
            }
            .unwrap();
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_wav_written_a_stretch_at_a_time_has_the_bytes_hound_writes_sample_by_sample() {
        for format in [SampleFormat::F32, SampleFormat::I16, SampleFormat::I24] {
            for channels in [1u16, 2, 3, 8, 20] {
                let frames = 1000;
                let samples: Vec<f32> = (0..frames * channels as usize)
                    .map(|i| ((i as f32 * 0.37).sin() * 1.2).clamp(-1.0, 1.0))
                    .collect();
                let mut w =
                    WavWriter::new(Cursor::new(Vec::new()), format, channels, 44_100).unwrap();
                for stretch in samples.chunks(333 * channels as usize) {
                    w.write(stretch).unwrap();
                }
                let ours = w.finish().unwrap().into_inner();
                let theirs = hound_bytes(format, channels, 44_100, &samples);
                assert!(
                    ours == theirs,
                    "{format:?}, {channels} channels: {} bytes against hound's {}; first difference at byte {:?}",
                    ours.len(),
                    theirs.len(),
                    ours.iter().zip(&theirs).position(|(a, b)| a != b)
                );
            }
        }
    }

    #[test]
    fn an_empty_wav_has_hounds_header() {
        let ours = WavWriter::new(Cursor::new(Vec::new()), SampleFormat::F32, 2, 48_000)
            .unwrap()
            .finish()
            .unwrap()
            .into_inner();
        assert_eq!(ours, hound_bytes(SampleFormat::F32, 2, 48_000, &[]));
    }
}
