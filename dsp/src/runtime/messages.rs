//! The message ring: how `printf`/`println` output and warnings leave the audio thread.
//!
//! A bounded, lock-free SPSC ring of bytes (`rtrb`). Each record is a kind byte, a
//! little-endian `u32` length and the text, committed in one step, so the reader sees whole
//! records only. A record that does not fit is dropped and counted; the reader reports the
//! count as a warning. Writing never allocates, locks or blocks.

use rtrb::{Consumer, Producer, RingBuffer};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const HEADER: usize = 5;

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// Exactly what `printf`/`println` printed (newlines included).
    Output,
    /// One line, without a newline (zone-full warnings, dropped-message counts).
    Warning,
}

/// The audio thread's end of the ring.
#[derive(Debug)]
pub struct MessageWriter {
    producer: Producer<u8>,
    dropped: Arc<AtomicU64>,
}

/// The control thread's end of the ring.
#[derive(Debug)]
pub struct MessageReader {
    consumer: Consumer<u8>,
    dropped: Arc<AtomicU64>,
    scratch: Vec<u8>,
}

/// A ring of `bytes` bytes (at least one header and one byte of text).
pub fn message_ring(bytes: usize) -> (MessageWriter, MessageReader) {
    let (producer, consumer) = RingBuffer::new(bytes.max(HEADER + 1));
    let dropped = Arc::new(AtomicU64::new(0));
    (
        MessageWriter {
            producer,
            dropped: Arc::clone(&dropped),
        },
        MessageReader {
            consumer,
            dropped,
            scratch: Vec::new(),
        },
    )
}

impl MessageWriter {
    /// Sends one record made of `text`; returns false (and counts it) when the ring is full.
    pub fn send(&mut self, kind: MessageKind, text: &[u8]) -> bool {
        let Ok(len) = u32::try_from(text.len()) else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let Ok(mut chunk) = self.producer.write_chunk(HEADER + text.len()) else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        let mut header = [0u8; HEADER];
        header[0] = match kind {
            MessageKind::Output => 0,
            MessageKind::Warning => 1,
        };
        header[1..].copy_from_slice(&len.to_le_bytes());
        let (a, b) = chunk.as_mut_slices();
        for (slot, byte) in a
            .iter_mut()
            .chain(b.iter_mut())
            .zip(header.iter().chain(text))
        {
            *slot = *byte;
        }
        chunk.commit_all();
        true
    }

    /// Records dropped so far and not yet reported by the reader.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl MessageReader {
    /// Hands every waiting record to `f`, then a warning if records were dropped.
    pub fn drain(&mut self, mut f: impl FnMut(MessageKind, &str)) {
        while self.consumer.slots() >= HEADER {
            let mut header = [0u8; HEADER];
            if self.consumer.pop_entire_slice(&mut header).is_err() {
                break;
            }
            let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
            self.scratch.resize(len, 0);
            if self.consumer.pop_entire_slice(&mut self.scratch).is_err() {
                break;
            }
            let kind = if header[0] == 0 {
                MessageKind::Output
            } else {
                MessageKind::Warning
            };
            f(kind, &String::from_utf8_lossy(&self.scratch));
        }
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            let s = if dropped == 1 { "" } else { "s" };
            f(
                MessageKind::Warning,
                &format!(
                    "{dropped} message{s} from the audio thread dropped: the message ring was full"
                ),
            );
        }
    }

    /// True once the writer (its audio context) is gone and everything was read.
    pub fn is_finished(&self) -> bool {
        self.consumer.is_abandoned() && self.consumer.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(r: &mut MessageReader) -> Vec<(MessageKind, String)> {
        let mut got = Vec::new();
        r.drain(|k, s| got.push((k, s.to_string())));
        got
    }

    #[test]
    fn records_arrive_whole_and_in_order() {
        let (mut w, mut r) = message_ring(64);
        assert!(w.send(MessageKind::Output, b"a x b = 7.000000\n"));
        assert!(w.send(MessageKind::Warning, b"zone full"));
        assert_eq!(
            drain(&mut r),
            vec![
                (MessageKind::Output, "a x b = 7.000000\n".to_string()),
                (MessageKind::Warning, "zone full".to_string())
            ]
        );
        assert!(drain(&mut r).is_empty());
    }

    #[test]
    fn a_full_ring_drops_with_a_count() {
        let (mut w, mut r) = message_ring(32);
        assert!(w.send(MessageKind::Output, b"0123456789"));
        assert!(!w.send(MessageKind::Output, b"0123456789abcdefghij"));
        assert!(!w.send(MessageKind::Output, b"0123456789abcdefghij"));
        assert_eq!(w.dropped(), 2);
        assert_eq!(
            drain(&mut r),
            vec![
                (MessageKind::Output, "0123456789".to_string()),
                (
                    MessageKind::Warning,
                    "2 messages from the audio thread dropped: the message ring was full"
                        .to_string()
                )
            ]
        );
        assert!(w.send(MessageKind::Output, b"again"));
        assert_eq!(
            drain(&mut r),
            vec![(MessageKind::Output, "again".to_string())]
        );
    }

    #[test]
    fn records_wrap_around_the_ring() {
        let (mut w, mut r) = message_ring(20);
        for i in 0..10 {
            let text = format!("msg{i}");
            assert!(w.send(MessageKind::Output, text.as_bytes()));
            assert_eq!(drain(&mut r), vec![(MessageKind::Output, text)]);
        }
    }
}
