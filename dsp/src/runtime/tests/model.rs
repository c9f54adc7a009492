//! A randomized model test of the audio context's memory: thousands of zalloc, memzone,
//! halloc, free and end-of-buffer steps, checking after each that every live allocation lies
//! in the arena, was zeroed when handed out, overlaps no other live allocation and still
//! holds what was written into it.

use crate::runtime::shadow::strip;
use crate::runtime::{Arena, AudioConfig, ControlConfig, Ctx, FaultCode};

/// xorshift64*: a small reproducible generator for the steps.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug)]
struct Live {
    addr: u64,
    len: u64,
    fill: u8,
}

fn bytes(a: &Live) -> &'static [u8] {
    // SAFETY: every Live range was handed out by the runtime inside the arena, which the
    // test keeps alive, and is still live (not reset, popped or freed).
    unsafe { std::slice::from_raw_parts(strip(a.addr) as *const u8, a.len as usize) }
}

fn write(a: &Live) {
    // SAFETY: as in `bytes`; the range is owned by the test's model of DSP code.
    unsafe { std::ptr::write_bytes(strip(a.addr) as *mut u8, a.fill, a.len as usize) };
}

struct Model {
    zones: Vec<Vec<Live>>,
    heap: Vec<Live>,
    next_fill: u8,
}

impl Model {
    fn all(&self) -> impl Iterator<Item = &Live> {
        self.zones.iter().flatten().chain(&self.heap)
    }

    fn admit(&mut self, arena: &Arena, addr: u64, len: u64) -> Live {
        assert!(
            arena.contains(addr, len),
            "{addr:#x}+{len} outside the arena"
        );
        let a = Live {
            addr,
            len,
            fill: self.next_fill,
        };
        self.next_fill = self.next_fill.wrapping_add(1).max(1);
        assert!(bytes(&a).iter().all(|&b| b == 0), "not zeroed: {a:?}");
        for b in self.all() {
            let disjoint = a.addr + a.len <= b.addr || b.addr + b.len <= a.addr;
            assert!(disjoint || a.len == 0 || b.len == 0, "{a:?} overlaps {b:?}");
        }
        write(&a);
        a
    }

    fn check(&self) {
        for a in self.all() {
            assert!(
                bytes(a).iter().all(|&b| b == a.fill),
                "{a:?} was overwritten"
            );
        }
    }
}

#[test]
fn the_audio_memory_model_holds_over_random_steps() {
    let arena = Arena::new(1 << 30).expect("arena");
    let mut control = Ctx::control(&arena, &ControlConfig::default()).expect("control");
    let cfg = AudioConfig {
        zone_bytes: 16 << 10,
        reserve_bytes: 256 << 10,
        heap_bytes: 256 << 10,
        ..AudioConfig::default()
    };
    let mut audio = Ctx::audio(&mut control, &cfg).expect("audio");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut m = Model {
        zones: vec![Vec::new()],
        heap: Vec::new(),
        next_fill: 1,
    };
    let (mut faults, mut overflows) = (0, 0);
    for step in 0..6_000 {
        match rng.below(10) {
            0..=3 => {
                let len = rng.below(3000);
                let align = 1 << rng.below(7);
                let addr = audio.zalloc(len, 1, align, 1);
                if addr == 0 {
                    let f = audio.take_fault().expect("a failed zalloc faults");
                    assert_eq!(f.code, Some(FaultCode::ZoneExhausted), "step {step}");
                    faults += 1;
                } else {
                    assert_eq!(addr % align, 0);
                    let a = m.admit(&arena, addr, len);
                    m.zones.last_mut().expect("zone").push(a);
                }
            }
            4 => {
                if audio.memzone_push(rng.below(20_000), 2) == 0 {
                    assert!(audio.take_fault().is_some());
                    faults += 1;
                } else {
                    m.zones.push(Vec::new());
                }
            }
            5 if m.zones.len() > 1 => {
                m.check();
                audio.memzone_pop(3);
                assert_eq!(audio.take_fault(), None);
                m.zones.pop();
            }
            6 => {
                let len = 1 + rng.below(4000);
                let addr = audio.halloc(len, 1, 8, 4);
                if addr == 0 {
                    let f = audio.take_fault().expect("a failed halloc faults");
                    assert_eq!(f.code, Some(FaultCode::HeapExhausted));
                    faults += 1;
                } else {
                    let a = m.admit(&arena, addr, len);
                    m.heap.push(a);
                }
            }
            7 if !m.heap.is_empty() => {
                let i = rng.below(m.heap.len() as u64) as usize;
                let a = m.heap.swap_remove(i);
                audio.free(a.addr, 5);
                assert_eq!(audio.take_fault(), None);
            }
            8 if m.zones.len() == 1 => {
                m.check();
                overflows += usize::from(audio.base_zone().used() > cfg.zone_bytes);
                audio.end_buffer();
                m.zones[0].clear();
            }
            _ => m.check(),
        }
        assert_eq!(audio.zone_depth(), m.zones.len(), "step {step}");
        assert_eq!(audio.heap_live(), m.heap.len(), "step {step}");
    }
    m.check();
    assert!(
        faults > 0 && overflows > 0,
        "the steps reached the limits ({faults}, {overflows})"
    );
}
