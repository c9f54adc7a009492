//! Proof that the audio thread's runtime paths allocate nothing: every path runs inside
//! `assert_no_alloc`, and any allocation through the global allocator aborts this test
//! binary.

use crate::runtime::abi::{
    KIND_F64, KIND_I64, KIND_STR, zonal_free, zonal_halloc, zonal_memzone_pop, zonal_memzone_push,
    zonal_printf, zonal_println, zonal_salloc, zonal_zalloc,
};
use crate::runtime::{
    Arena, AudioConfig, ControlConfig, Ctx, FaultCode, MessageKind, ZoneErrorKind,
};
use assert_no_alloc::assert_no_alloc;
use std::sync::Arc;

fn contexts() -> (Arc<Arena>, Ctx, Ctx) {
    let arena = Arena::new(1 << 30).expect("arena");
    let mut control = Ctx::control(&arena, &ControlConfig::default()).expect("control");
    control.set_output(Box::new(std::io::sink()));
    control.set_warnings(Box::new(std::io::sink()));
    let cfg = AudioConfig {
        zone_bytes: 64 << 10,
        reserve_bytes: 1 << 20,
        ..AudioConfig::default()
    };
    let audio = Ctx::audio(&mut control, &cfg).expect("audio");
    (arena, control, audio)
}

/// A NUL-terminated string in DSP memory, as the compiler would place a literal.
fn literal(ctx: &mut Ctx, text: &str) -> u64 {
    let addr = ctx.zalloc(text.len() as u64 + 1, 1, 1, 0);
    // SAFETY: `addr` is text.len()+1 zeroed bytes of zone memory just handed out.
    unsafe {
        std::ptr::copy_nonoverlapping(
            text.as_ptr(),
            crate::runtime::shadow::strip(addr) as *mut u8,
            text.len(),
        )
    };
    addr
}

#[test]
fn audio_paths_allocate_nothing() {
    let (arena, mut control, mut audio) = contexts();
    let mut globals = crate::runtime::Zone::new(&arena, 4096, "globals").expect("zone");
    let (fmt, name) = control.with_zone(&mut globals, |c| {
        (
            literal(c, "frame %lld: %s = %f %e %g|%5.2f|%-8d|\n"),
            literal(c, "gain"),
        )
    });
    let control_block = control.halloc(4, 8, 8, 0);
    let ctx: *mut Ctx = &mut audio;

    assert_no_alloc(|| {
        for frame in 0..200u64 {
            let mark = audio.call_mark();
            // SAFETY: `ctx` points to `audio`, used by nothing else during these calls.
            unsafe {
                let buf = zonal_zalloc(ctx, 256, 8, 8, 1);
                assert_ne!(buf, 0);
                assert_eq!(zonal_memzone_push(ctx, 10_000, 2), 2);
                let inner = zonal_zalloc(ctx, 100, 8, 8, 3);
                assert_ne!(inner, 0);
                if frame == 0 {
                    let over = zonal_zalloc(ctx, 10_000, 8, 8, 4);
                    assert_ne!(over, 0, "memzone overflow comes from the reserve");
                }
                zonal_memzone_pop(ctx, 5);
                let h = zonal_halloc(ctx, 64, 8, 8, 6);
                assert_ne!(h, 0);
                let s = zonal_salloc(ctx, 2, 8, 8, 7);
                assert_ne!(s, 0);
                zonal_free(ctx, h, 8);
                if frame % 50 == 0 {
                    let args = [
                        frame,
                        name,
                        0.5f64.to_bits(),
                        1e-3f64.to_bits(),
                        2.5f64.to_bits(),
                        1.23456f64.to_bits(),
                        7,
                    ];
                    let kinds = [
                        KIND_I64, KIND_STR, KIND_F64, KIND_F64, KIND_F64, KIND_F64, KIND_I64,
                    ];
                    assert!(zonal_printf(ctx, fmt, args.as_ptr(), kinds.as_ptr(), 7, 9) > 0);
                    let args = [frame, 0.25f64.to_bits()];
                    zonal_println(ctx, args.as_ptr(), [KIND_I64, KIND_F64].as_ptr(), 2);
                }
            }
            assert_eq!(audio.finish_call(mark), Ok(()));
            audio.end_buffer();
        }
        // The audio zone fills up: one warning into the ring, then a fault, still no allocation.
        let mark = audio.call_mark();
        assert_ne!(audio.zalloc(70_000, 1, 8, 10), 0);
        assert_eq!(audio.zalloc(2 << 20, 1, 8, 11), 0);
        let fault = audio.finish_call(mark).expect_err("reserve exhausted");
        assert_eq!(fault.code, Some(FaultCode::ZoneExhausted));
        assert!(
            matches!(fault.detail, crate::runtime::FaultDetail::Zone(z) if z.kind == ZoneErrorKind::ReserveFull)
        );
        // A memzone left open by a fault is popped by finish_call.
        let mark = audio.call_mark();
        audio.memzone_push(100, 12);
        audio.raise(FaultCode::DivByZero, 13, crate::runtime::FaultDetail::None);
        assert!(audio.finish_call(mark).is_err());
        assert_eq!(audio.zone_depth(), 1);
        // Freeing the control thread's memory goes through the deferred-free ring.
        audio.free(control_block, 14);
        assert_eq!(audio.take_fault(), None);
        audio.end_buffer();
    });

    assert_eq!(audio.heap_live(), 0);
    assert_eq!(control.heap_live(), 1);
    control.halloc(1, 8, 8, 0);
    assert_eq!(
        control.heap_live(),
        1,
        "the audio thread's free was applied"
    );
    let mut texts = Vec::new();
    control.drain_messages(|kind, text| texts.push((kind, text.to_string())));
    assert!(texts.contains(&(
        MessageKind::Output,
        "frame 0: gain = 0.500000 1.000000e-03 2.5| 1.23|7       |\n".to_string()
    )));
    assert!(texts.contains(&(MessageKind::Output, "150 0.250000\n".to_string())));
    assert!(texts.contains(&(
        MessageKind::Warning,
        "zone of 10000 bytes (memzone) is full, overflowing by 80000 bytes".to_string()
    )));
    assert!(texts.contains(&(
        MessageKind::Warning,
        "zone of 65536 bytes (audio zone) is full, overflowing by 70000 bytes".to_string()
    )));
}
