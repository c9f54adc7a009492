//! The runtime context as compiled code and the compiler use it: zones and their warnings,
//! faults and their messages, text output, the heap across threads, the ABI table.

use crate::runtime::abi::{self, KIND_F64, KIND_I64, KIND_STR};
use crate::runtime::ctx::RuntimeError;
use crate::runtime::shadow::strip;
use crate::runtime::{
    Arena, AudioConfig, ControlConfig, Ctx, FaultCode, FaultDetail, MessageKind, Zone,
};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf8")
    }
}

struct Setup {
    arena: Arc<Arena>,
    ctx: Ctx,
    out: Captured,
    warnings: Captured,
}

fn control() -> Setup {
    let arena = Arena::new(1 << 32).expect("arena");
    let mut ctx = Ctx::control(&arena, &ControlConfig::default()).expect("control");
    let (out, warnings) = (Captured::default(), Captured::default());
    ctx.set_output(Box::new(out.clone()));
    ctx.set_warnings(Box::new(warnings.clone()));
    Setup {
        arena,
        ctx,
        out,
        warnings,
    }
}

fn literal(ctx: &mut Ctx, text: &str) -> u64 {
    let addr = ctx.zalloc(text.len() as u64 + 1, 1, 1, 0);
    // SAFETY: `addr` is text.len()+1 zeroed bytes of zone memory just handed out.
    unsafe { std::ptr::copy_nonoverlapping(text.as_ptr(), strip(addr) as *mut u8, text.len()) };
    addr
}

#[test]
fn a_closure_zone_that_overflows_warns_once_with_its_name() {
    let Setup {
        arena,
        mut ctx,
        warnings,
        ..
    } = control();
    let mut zone = Zone::new(&arena, 8192, "closure fill_buffer_closure_zone").expect("zone");
    let before = arena.live_blocks();
    ctx.with_zone(&mut zone, |ctx| {
        assert_ne!(ctx.zalloc(1000, 8, 8, 1), 0);
        assert_ne!(ctx.zalloc(24, 8, 8, 2), 0);
        assert_ne!(ctx.zalloc(4, 8, 8, 3), 0);
        assert_ne!(ctx.zalloc(4, 8, 8, 4), 0);
    });
    assert_eq!(ctx.take_fault(), None);
    let expected =
        "zone of 8192 bytes (closure fill_buffer_closure_zone) is full, overflowing by 32 bytes";
    assert_eq!(warnings.text(), format!("{expected}\n"));
    assert_eq!(ctx.take_warnings(), vec![expected.to_string()]);
    assert_eq!(ctx.zone_depth(), 1);
    assert_eq!(arena.live_blocks(), before + 2);
    drop(zone);
    assert_eq!(arena.live_blocks(), before - 1);
}

#[test]
fn a_closure_zone_that_fits_says_nothing() {
    let Setup {
        arena,
        mut ctx,
        warnings,
        ..
    } = control();
    let mut zone = Zone::new(&arena, 10_000, "closure fill_buffer_closure_zone2").expect("zone");
    ctx.with_zone(&mut zone, |ctx| {
        assert_ne!(ctx.zalloc(1000, 8, 8, 1), 0);
        assert_ne!(ctx.zalloc(4, 8, 8, 2), 0);
    });
    assert_eq!(warnings.text(), "");
    assert_eq!(zone.high_water(), 8032);
}

#[test]
fn an_overflowing_memzone_warns_and_frees_its_overflow_when_popped() {
    let Setup {
        arena,
        mut ctx,
        warnings,
        ..
    } = control();
    let before = arena.bytes_in_use();
    let mark = ctx.call_mark();
    assert_eq!(ctx.memzone_push(100_000, 1), 2);
    let buf = ctx.zalloc(1_000_000, 8, 8, 2);
    assert!(arena.contains(buf, 8_000_000));
    ctx.memzone_pop(3);
    assert_eq!(ctx.finish_call(mark), Ok(()));
    assert_eq!(
        warnings.text(),
        "zone of 100000 bytes (memzone) is full, overflowing by 8000000 bytes\n"
    );
    assert_eq!(arena.bytes_in_use(), before);
}

#[test]
fn a_memzone_overflowing_in_a_loop_warns_once_per_site() {
    let Setup {
        mut ctx, warnings, ..
    } = control();
    for site in [1, 1, 1, 2] {
        ctx.memzone_push(64, site);
        assert_ne!(ctx.zalloc(100, 1, 1, 9), 0);
        ctx.memzone_pop(site);
    }
    let line = "zone of 64 bytes (memzone) is full, overflowing by 100 bytes\n";
    assert_eq!(warnings.text(), format!("{line}{line}"));
}

#[test]
fn an_allocation_that_can_never_be_met_is_a_fault_and_the_context_goes_on() {
    let Setup { mut ctx, .. } = control();
    let mark = ctx.call_mark();
    assert_eq!(ctx.zalloc(1_000_000_000_000_000, 8, 8, 42), 0);
    let fault = ctx.finish_call(mark).expect_err("impossible");
    assert_eq!(fault.code, Some(FaultCode::ZoneExhausted));
    assert_eq!(fault.site, 42);
    assert_eq!(
        fault.to_string(),
        "cannot allocate 8000000000000000 bytes: the zone of 1048576 bytes is full and the DSP arena of 4294967296 bytes cannot hold the rest"
    );
    assert_eq!(ctx.zalloc(u64::MAX, 8, 8, 43), 0);
    let fault = ctx.take_fault().expect("overflowing count");
    assert_eq!(fault.code, Some(FaultCode::ZoneExhausted));
    assert!(
        fault
            .to_string()
            .starts_with("cannot allocate 18446744073709551615 bytes")
    );
    assert_ne!(ctx.zalloc(10, 8, 8, 44), 0);
    assert_eq!(ctx.take_fault(), None);
}

#[test]
fn the_first_fault_wins_and_codes_have_messages() {
    let Setup { mut ctx, .. } = control();
    let p: *mut Ctx = &mut ctx;
    // SAFETY: `p` points to `ctx`, used by nothing else during these calls.
    unsafe {
        abi::zonal_fault(p, FaultCode::DivByZero as u32, 7);
        abi::zonal_fault(p, FaultCode::OutOfRange as u32, 8);
    }
    let f = ctx.take_fault().expect("fault");
    assert_eq!((f.code, f.site), (Some(FaultCode::DivByZero), 7));
    assert_eq!(f.to_string(), "integer division by zero");
    // SAFETY: as above.
    unsafe { abi::zonal_fault(p, 77, 9) };
    let f = ctx.take_fault().expect("unknown fault");
    assert_eq!((f.code, f.raw), (None, 77));
    assert_eq!(f.to_string(), "unknown fault 77");
}

#[test]
fn memzone_misuse_faults() {
    let Setup { mut ctx, .. } = control();
    ctx.memzone_pop(5);
    let f = ctx.take_fault().expect("pop with none open");
    assert_eq!(f.code, Some(FaultCode::ZoneStack));
    assert_eq!(
        f.to_string(),
        "memzones nested too deeply, or closed with none open"
    );
    let mark = ctx.call_mark();
    while ctx.fault == 0 {
        ctx.memzone_push(16, 6);
    }
    assert_eq!(ctx.zone_depth(), crate::runtime::ctx::MAX_ZONE_DEPTH);
    let f = ctx.finish_call(mark).expect_err("too deep");
    assert_eq!(f.code, Some(FaultCode::ZoneStack));
    assert_eq!(ctx.zone_depth(), 1);
}

#[test]
fn salloc_stops_at_the_stack_limit() {
    let Setup { mut ctx, .. } = control();
    let mark = ctx.call_mark();
    let a = strip(ctx.salloc(2, 8, 8, 1));
    assert_eq!(ctx.sp, a + 16);
    assert_eq!(ctx.salloc(1 << 40, 8, 8, 2), 0);
    let f = ctx.finish_call(mark).expect_err("stack");
    assert_eq!(f.code, Some(FaultCode::StackExhausted));
    assert_eq!(f.to_string(), "salloc stack exhausted");
    assert_eq!(ctx.sp, a);
}

#[test]
fn printf_and_println_on_the_control_thread_write_to_the_output() {
    let Setup { mut ctx, out, .. } = control();
    let fmt = literal(&mut ctx, "a x b = %f\n");
    let p: *mut Ctx = &mut ctx;
    let args = [7.0f64.to_bits()];
    // SAFETY: `p` points to `ctx`; the arrays hold one element each.
    let n = unsafe { abi::zonal_printf(p, fmt, args.as_ptr(), [KIND_F64].as_ptr(), 1, 0) };
    assert_eq!(n, 17);
    let s = literal(&mut ctx, "tup*");
    let args = [s, 4, 8, 0.5f64.to_bits()];
    let kinds = [KIND_STR, KIND_I64, KIND_I64, KIND_F64];
    // SAFETY: `p` points to `ctx`; the arrays hold four elements each.
    unsafe { abi::zonal_println(p, args.as_ptr(), kinds.as_ptr(), 4) };
    let fmt = literal(&mut ctx, "%s via a pointer\n");
    assert_eq!(ctx.printf(fmt, &[s], &[abi::KIND_PTR], 0), 19);
    assert_eq!(
        out.text(),
        "a x b = 7.000000\ntup* 4 8 0.500000\ntup* via a pointer\n"
    );
}

#[test]
fn printf_of_a_format_outside_dsp_memory_faults() {
    let Setup { mut ctx, out, .. } = control();
    let fmt = b"%d\0";
    assert_eq!(ctx.printf(fmt.as_ptr() as u64, &[1], &[KIND_I64], 3), -1);
    let f = ctx.take_fault().expect("fault");
    assert_eq!((f.code, f.site), (Some(FaultCode::OutOfRange), 3));
    assert_eq!(out.text(), "");
}

#[test]
fn free_refuses_what_halloc_did_not_give() {
    let Setup { mut ctx, .. } = control();
    ctx.free(0, 1);
    assert_eq!(ctx.take_fault(), None);
    let a = ctx.halloc(2, 8, 8, 1);
    ctx.free(a + 8, 2);
    let f = ctx.take_fault().expect("interior");
    assert_eq!(f.code, Some(FaultCode::BadFree));
    assert_eq!(
        f.to_string(),
        format!(
            "free of {:#x}, which halloc did not give or which was already freed",
            strip(a) + 8
        )
    );
    ctx.free(a, 3);
    assert_eq!(ctx.take_fault(), None);
    ctx.free(12345, 4);
    assert!(matches!(ctx.take_fault(), Some(f) if f.code == Some(FaultCode::BadFree)));
    assert_eq!(ctx.heap_live(), 0);
}

/// The control thread's heap holds what samplers load: a few minutes of stereo is more
/// than 64 MB (it held 64 MB before).
#[test]
fn the_control_heap_holds_a_sample_library_of_hundreds_of_megabytes() {
    let Setup { mut ctx, .. } = control();
    // samples of m minutes of 48 kHz stereo, 4 bytes each: 230 MB for five minutes
    let minutes = |m: u64| m * 60 * 48_000 * 2;
    let a = ctx.halloc(minutes(5), 4, 16, 9);
    let b = ctx.halloc(minutes(5), 4, 16, 9);
    assert!(a != 0 && b != 0, "{:?}", ctx.take_fault());
    assert_eq!(ctx.heap_live(), 2);
}

#[test]
fn halloc_beyond_the_pool_is_a_fault_with_a_message() {
    let Setup { mut ctx, .. } = control();
    assert_eq!(ctx.halloc(1 << 40, 8, 8, 9), 0);
    let f = ctx.take_fault().expect("fault");
    assert_eq!(f.code, Some(FaultCode::HeapExhausted));
    assert_eq!(
        f.to_string(),
        "halloc of 8796093022208 bytes could not be met: the real-time heap of 536870912 bytes is full"
    );
    assert!(matches!(f.detail, FaultDetail::Heap(_)));
    assert_eq!(ctx.halloc(1, 8, 32, 9), 0);
    assert_eq!(
        ctx.take_fault().map(|f| f.code),
        Some(Some(FaultCode::BadAlign))
    );
}

#[test]
fn the_audio_context_runs_on_its_own_thread_and_talks_through_the_ring() {
    let Setup { mut ctx, .. } = control();
    let mut audio = Ctx::audio(&mut ctx, &AudioConfig::default()).expect("audio");
    let from_control = ctx.halloc(4, 8, 8, 0);
    let (audio, from_audio) = std::thread::spawn(move || {
        let fmt = literal(&mut audio, "input: %lld, ");
        audio.printf(fmt, &[3], &[KIND_I64], 1);
        let fmt = literal(&mut audio, "output: <%lld,%lld>\n");
        audio.printf(fmt, &[3, 6], &[KIND_I64, KIND_I64], 2);
        audio.free(from_control, 3);
        let kept = audio.halloc(2, 8, 8, 4);
        audio.end_buffer();
        (audio, kept)
    })
    .join()
    .expect("audio thread");
    let mut texts = String::new();
    ctx.drain_messages(|kind, text| {
        assert_eq!(kind, MessageKind::Output);
        texts.push_str(text);
    });
    assert_eq!(texts, "input: 3, output: <3,6>\n");
    ctx.free(from_audio, 5);
    assert_eq!(ctx.take_fault(), None);
    let kept = ctx.zalloc(1, 8, 8, 6);
    ctx.after_call();
    assert_eq!(ctx.heap_live(), 0);
    assert_eq!(
        strip(ctx.zalloc(1, 8, 8, 7)),
        strip(kept) + 16,
        "the default zone keeps its contents (allocations take whole 16-byte granules)"
    );
    let mut audio = audio;
    audio.end_buffer();
    assert_eq!(audio.heap_live(), 0);
    assert_eq!(audio.heap_anomalies(), (0, 0));
}

#[test]
fn frees_across_threads_under_load_are_applied_or_counted() {
    let Setup { mut ctx, .. } = control();
    let mut audio = Ctx::audio(&mut ctx, &AudioConfig::default()).expect("audio");
    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(64);
    let worker = std::thread::spawn(move || {
        for i in 0..20_000u64 {
            let p = audio.halloc(1 + i % 16, 8, 8, 1);
            assert_ne!(p, 0, "allocation {i}");
            tx.send(p).expect("send");
            if i % 64 == 0 {
                audio.end_buffer();
            }
        }
        audio
    });
    for p in rx {
        ctx.free(p, 2);
        assert_eq!(ctx.take_fault(), None);
    }
    let mut audio = worker.join().expect("audio thread");
    audio.end_buffer();
    let (lost, bad) = ctx.heap_anomalies();
    assert_eq!(bad, 0);
    assert_eq!(audio.heap_live() as u64, lost);
}

#[test]
fn an_audio_context_is_made_from_the_control_context_only() {
    let Setup { mut ctx, .. } = control();
    let mut audio = Ctx::audio(&mut ctx, &AudioConfig::default()).expect("audio");
    let err = Ctx::audio(&mut audio, &AudioConfig::default()).expect_err("not control");
    assert_eq!(err, RuntimeError::NotControl);
    assert_eq!(
        err.to_string(),
        "an audio context can only be made from the control context"
    );
    assert!(audio.is_audio() && !ctx.is_audio());
}

#[test]
fn a_dropped_audio_context_returns_its_memory_to_the_arena() {
    let Setup { arena, mut ctx, .. } = control();
    let before = arena.bytes_in_use();
    let audio = Ctx::audio(&mut ctx, &AudioConfig::default()).expect("audio");
    assert!(arena.bytes_in_use() > before);
    drop(audio);
    assert_eq!(arena.bytes_in_use(), before);
    ctx.drain_messages(|_, _| {});
}

/// Pages of `[start, end)` in memory now.
#[cfg(not(miri))]
fn resident_pages((start, end): (u64, u64)) -> usize {
    let page = crate::runtime::arena::PAGE;
    let len = (end - start) as usize;
    let mut pages = vec![0u8; len.div_ceil(page)];
    // SAFETY: [start, end) is a page-aligned range of the arena's mapping, which the
    // context holding it keeps mapped; `pages` has one byte per page of it.
    let rc = unsafe { libc::mincore(start as *mut libc::c_void, len, pages.as_mut_ptr().cast()) };
    assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    pages.iter().filter(|&&p| p & 1 != 0).count()
}

// mincore is a system call Miri does not model.
#[cfg(not(miri))]
#[test]
fn an_audio_context_commits_its_heap_and_stack_up_front_only_when_asked() {
    let Setup { mut ctx, .. } = control();
    let live = Ctx::audio(&mut ctx, &AudioConfig::default()).expect("audio");
    for range in live.heap_and_stack() {
        let pages = ((range.1 - range.0) as usize).div_ceil(crate::runtime::arena::PAGE);
        assert_eq!(
            resident_pages(range),
            pages,
            "a device's context: all committed"
        );
    }
    let offline = AudioConfig {
        commit: false,
        ..AudioConfig::default()
    };
    let mut lazy = Ctx::audio(&mut ctx, &offline).expect("audio");
    for range in lazy.heap_and_stack() {
        assert_eq!(resident_pages(range), 0, "an offline context: nothing yet");
    }
    // its memory works all the same, committed as it is used
    let p = strip(lazy.halloc(1 << 20, 1, 16, 0));
    assert_ne!(p, 0);
    // SAFETY: `p` is a live 1 MiB allocation of `lazy`'s heap.
    unsafe { (p as *mut u8).add((1 << 20) - 1).write(7) };
    assert!(resident_pages(lazy.heap_and_stack()[0]) >= 1);
    drop((live, lazy));
    ctx.drain_messages(|_, _| {});
}

#[test]
fn random_is_uniform_and_reproducible() {
    let Setup { mut ctx, .. } = control();
    let p: *mut Ctx = &mut ctx;
    // SAFETY: `p` points to `ctx`, used by nothing else during these calls.
    let first: Vec<f64> = (0..10_000)
        .map(|_| unsafe { abi::zonal_random(p) })
        .collect();
    assert!(first.iter().all(|x| (0.0..1.0).contains(x)));
    let mean = first.iter().sum::<f64>() / first.len() as f64;
    assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
    let Setup { ctx: mut again, .. } = control();
    assert_eq!(again.random(), first[0]);
    again.seed_random(7);
    let a = again.random();
    again.seed_random(7);
    assert_eq!(again.random(), a);
}

#[test]
fn the_abi_table_is_complete_and_the_offsets_are_fixed() {
    assert_eq!(abi::CTX_FAULT, 0);
    assert_eq!(abi::CTX_FAULT_SITE, 4);
    assert_eq!(abi::CTX_DEPTH, 8);
    assert_eq!(abi::CTX_MAX_DEPTH, 12);
    assert_eq!(abi::CTX_SP, 16);
    assert_eq!(abi::CTX_SP_LIMIT, 24);
    assert_eq!(abi::CTX_SLOTS, 32);
    let symbols = crate::runtime::abi::symbols();
    let mut names: Vec<_> = symbols.iter().map(|(n, _)| *n).collect();
    for name in [
        "zonal_zalloc",
        "zonal_halloc",
        "zonal_salloc",
        "zonal_free",
        "zonal_memzone_push",
        "zonal_memzone_pop",
        "zonal_printf",
        "zonal_println",
        "zonal_fault",
        "zonal_random",
        "zonal_pow",
        "zonal_fmodf",
    ] {
        assert!(names.contains(&name), "{name}");
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), symbols.len());
    assert!(symbols.iter().all(|(_, p)| !p.is_null()));
}

#[test]
fn memory_freed_by_the_other_thread_faults_at_once_and_cannot_be_freed_twice() {
    let Setup { arena, mut ctx, .. } = control();
    let mut audio = Ctx::audio(&mut ctx, &AudioConfig::default()).expect("audio");
    let p = ctx.halloc(4, 8, 8, 0);
    audio.free(p, 1);
    assert_eq!(audio.take_fault(), None);
    assert!(
        matches!(arena.probe(p, 8), crate::runtime::Verdict::Freed(a) if a.len == 32),
        "dead before the owner drains its ring"
    );
    audio.free(p, 2);
    let f = audio.take_fault().expect("second free");
    assert_eq!((f.code, f.site), (Some(FaultCode::BadFree), 2));
    assert_eq!(ctx.heap_live(), 1);
    ctx.after_call();
    assert_eq!(ctx.heap_live(), 0, "the owner gave it back to its heap");
    assert_eq!(ctx.heap_anomalies(), (0, 0));
}

/// `println` of several values is a `print` of each (and of the spaces between them):
/// each used to send its own message, so one line of n values filled the audio thread's
/// ring 2n times faster than it needs to.
#[test]
fn a_line_printed_in_pieces_on_the_audio_thread_is_one_message() {
    let Setup { mut ctx, .. } = control();
    let mut audio = Ctx::audio(&mut ctx, &AudioConfig::default()).expect("audio");
    let audio = std::thread::spawn(move || {
        for x in [1u64, 2, 3] {
            audio.print(&[x], &[KIND_I64]);
            let space = literal(&mut audio, " ");
            audio.print(&[space], &[KIND_STR]);
        }
        audio.println(&[4], &[KIND_I64]);
        // a piece with no newline waits for the end of the buffer
        audio.print(&[5], &[KIND_I64]);
        audio
    })
    .join()
    .expect("audio thread");
    let mut messages = Vec::new();
    ctx.drain_messages(|kind, text| messages.push((kind, text.to_string())));
    assert_eq!(messages, [(MessageKind::Output, "1 2 3 4\n".to_string())]);
    let mut audio = audio;
    audio.end_buffer();
    let mut messages = Vec::new();
    ctx.drain_messages(|_, text| messages.push(text.to_string()));
    assert_eq!(messages, ["5"]);
}
