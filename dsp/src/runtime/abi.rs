//! The ABI between compiled DSP code and the runtime: context field offsets, argument
//! kinds, and the `extern "C"` functions compiled code calls.
//!
//! Context fields compiled code uses directly (`CTX_*` are byte offsets into [`Ctx`]):
//! `fault: u32`, `fault_site: u32`, `depth: u32`, `max_depth: u32`, `sp: u64`,
//! `sp_limit: u64`, `slots: *const u64`, `stack_floor: u64`.
//!
//! Functions (every `ctx` is the `*mut Ctx` the code was called with; a `site` is the
//! compiler's number for the form, stored with a fault; after each call the code tests
//! `fault` and returns if it is nonzero):
//!
//! | symbol | signature | does |
//! | --- | --- | --- |
//! | `zonal_zalloc` | `(ctx, count: u64, size: u64, align: u64, site: u32) -> u64` | `count*size` zeroed bytes from the top zone; 0 + fault |
//! | `zonal_closure` | `(ctx, bytes: u64, maker: u64, site: u32) -> u64` | a closure record of `bytes` zeroed bytes from the top zone, made by generation `maker` (see [`Ctx::closure_alloc`]); 0 + fault |
//! | `zonal_halloc` | `(ctx, count: u64, size: u64, align: u64, site: u32) -> u64` | zeroed bytes from the real-time heap (align ≤ 16); 0 + fault |
//! | `zonal_salloc` | `(ctx, count: u64, size: u64, align: u64, site: u32) -> u64` | zeroed bytes at `sp` (bumps `sp`; the caller restores it on return); 0 + fault |
//! | `zonal_free` | `(ctx, ptr: u64, site: u32)` | `free`; 0 is a no-op; a pointer `halloc` did not give faults |
//! | `zonal_memzone_push` | `(ctx, bytes: u64, site: u32) -> u32` | opens a memzone; returns the zone depth, 0 + fault |
//! | `zonal_memzone_pop` | `(ctx, site: u32)` | closes the innermost memzone |
//! | `zonal_printf` | `(ctx, fmt: u64, args: *const u64, kinds: *const u8, n: u32, site: u32) -> i32` | C printf; `fmt` is an arena address |
//! | `zonal_println` | `(ctx, args: *const u64, kinds: *const u8, n: u32)` | xtlang println |
//! | `zonal_print` | `(ctx, args: *const u64, kinds: *const u8, n: u32)` | xtlang's builtin `print`: as println, without the spaces and the newline |
//! | `zonal_fault` | `(ctx, code: u32, site: u32)` | records a fault (first one wins) |
//! | `zonal_access_fault` | `(ctx, ptr: u64, size: u64, write: u32, site: u32)` | records the fault of an access that failed its check, with what the shadow says of it |
//! | `zonal_index_fault` | `(ctx, index: i64, size: u64, site: u32)` | records the fault of an index whose offset does not fit in an address |
//! | `zonal_salloc_release` | `(ctx, sp: u64)` | gives back the `salloc` stack above `sp` and marks it dead (a function that `salloc`s calls it when it returns) |
//! | `zonal_env_var` | `(ctx, table: u64, env: u64, name: u64, type_id: u64, site: u32) -> u64` | address of the value of captured variable `name` (an arena C string) in the environment `env`, from the closure's variable table (see [`crate::runtime::vars`]); 0 + fault when it has no such variable of that type |
//! | `zonal_callback` | `(ctx, time: i64, tramp: u64, slot: u32, closure: u64, args: *const u64, n: u32, site: u32)` | xtlang `callback`: schedules the call of bind-func slot `slot` (or, when it is `NO_SLOT`, of the closure record `closure`) through the trampoline `tramp` with the `n` ≤ 8 argument words at `args`, at sample `time` (see [`crate::runtime::scheduled`]); a fault when too many are scheduled |
//! | `zonal_zone_cleanup` | `(ctx, closure: u64, site: u32)` | `zone_cleanup`: keeps a closure of type `[void]*` to call when the current memzone ends; a fault when 64 wait |
//! | `zonal_take_cleanup` | `(ctx) -> u64` | the newest cleanup closure of the current zone, taken off the list, or 0 (the end of a memzone calls each) |
//! | `zonal_random` | `(ctx) -> f64` | xtlang `random`: uniform in [0, 1), reproducible per context |
//! | `zonal_sin` … | see [`crate::runtime::math`] | math without a Cranelift instruction |
//!
//! `args` holds each argument's bits in a `u64` (doubles as `f64::to_bits`, floats widened
//! to double, i1/i8/i32 sign-extended) and `kinds[i]` says what it is: [`KIND_I64`],
//! [`KIND_F64`], [`KIND_PTR`], [`KIND_STR`] (an `i8*`), [`KIND_I1`], [`KIND_I32`]. Those
//! arrays may live on the native stack: only the runtime reads them.
//!
//! The `salloc` stack grows upward: `sp` is the next free byte; an allocation whose end
//! passes `sp_limit` faults with `StackExhausted`; a function gives its `salloc`s back on
//! return with `zonal_salloc_release`.
//!
//! Pointers that allocators return carry a tag (see [`crate::runtime::shadow`]): compiled
//! code checks an access against the shadow entry of its granule and strips the tag before
//! it dereferences (`p & shadow::ADDR_MASK`).
//!
//! On the Rust side, wrap each entry into compiled code with [`Ctx::call_mark`] and
//! [`Ctx::finish_call`], run a bind-func's outer `let` inside [`Ctx::with_zone`], and call
//! [`Ctx::after_call`] after each top-level call on the control thread, [`Ctx::end_buffer`]
//! after each buffer on the audio thread.

use super::ctx::Ctx;
use super::fault::{FaultCode, FaultDetail};
pub use super::printf::{KIND_F64, KIND_I1, KIND_I32, KIND_I64, KIND_PTR, KIND_STR};
use super::scheduled::{MAX_CALLBACK_ARGS, Scheduled};
use std::mem::offset_of;

/// Byte offset of [`Ctx::fault`].
pub const CTX_FAULT: i32 = offset_of!(Ctx, fault) as i32;
/// Byte offset of [`Ctx::fault_site`].
pub const CTX_FAULT_SITE: i32 = offset_of!(Ctx, fault_site) as i32;
/// Byte offset of [`Ctx::depth`].
pub const CTX_DEPTH: i32 = offset_of!(Ctx, depth) as i32;
/// Byte offset of [`Ctx::max_depth`].
pub const CTX_MAX_DEPTH: i32 = offset_of!(Ctx, max_depth) as i32;
/// Byte offset of [`Ctx::sp`].
pub const CTX_SP: i32 = offset_of!(Ctx, sp) as i32;
/// Byte offset of [`Ctx::sp_limit`].
// Only the runtime's tests use this; the compiler does not.
#[cfg(test)]
pub const CTX_SP_LIMIT: i32 = offset_of!(Ctx, sp_limit) as i32;
/// Byte offset of [`Ctx::slots`].
pub const CTX_SLOTS: i32 = offset_of!(Ctx, slots) as i32;
/// Byte offset of [`Ctx::stack_floor`].
pub const CTX_STACK_FLOOR: i32 = offset_of!(Ctx, stack_floor) as i32;
/// Byte offset of [`Ctx::now`].
pub const CTX_NOW: i32 = offset_of!(Ctx, now) as i32;
/// Byte offset of [`Ctx::span_end`].
pub const CTX_SPAN_END: i32 = offset_of!(Ctx, span_end) as i32;

/// `zalloc`/`alloc`.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_zalloc(
    ctx: *mut Ctx,
    count: u64,
    size: u64,
    align: u64,
    site: u32,
) -> u64 {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return 0;
    };
    ctx.zalloc(count, size, align, site)
}

/// A closure record (`lambda`).
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_closure(ctx: *mut Ctx, bytes: u64, maker: u64, site: u32) -> u64 {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return 0;
    };
    ctx.closure_alloc(bytes, maker, site)
}

/// `halloc`.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_halloc(
    ctx: *mut Ctx,
    count: u64,
    size: u64,
    align: u64,
    site: u32,
) -> u64 {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return 0;
    };
    ctx.halloc(count, size, align, site)
}

/// `salloc`.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_salloc(
    ctx: *mut Ctx,
    count: u64,
    size: u64,
    align: u64,
    site: u32,
) -> u64 {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return 0;
    };
    ctx.salloc(count, size, align, site)
}

/// `free`.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_free(ctx: *mut Ctx, ptr: u64, site: u32) {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    if let Some(ctx) = unsafe { ctx.as_mut() } {
        ctx.free(ptr, site);
    }
}

/// Opens a memzone.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_memzone_push(ctx: *mut Ctx, bytes: u64, site: u32) -> u32 {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return 0;
    };
    ctx.memzone_push(bytes, site)
}

/// Closes the innermost memzone.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_memzone_pop(ctx: *mut Ctx, site: u32) {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    if let Some(ctx) = unsafe { ctx.as_mut() } {
        ctx.memzone_pop(site);
    }
}

/// Builds the argument slices; null arrays or `n == 0` give empty slices.
///
/// # Safety
/// Non-null `args` and `kinds` point to `n` readable elements each.
unsafe fn arrays<'a>(args: *const u64, kinds: *const u8, n: u32) -> (&'a [u64], &'a [u8]) {
    if args.is_null() || kinds.is_null() || n == 0 {
        return (&[], &[]);
    }
    // SAFETY: both arrays hold `n` elements, as the caller guarantees.
    unsafe {
        (
            std::slice::from_raw_parts(args, n as usize),
            std::slice::from_raw_parts(kinds, n as usize),
        )
    }
}

/// C `printf`.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call;
/// non-null `args` and `kinds` point to `n` elements each.
pub unsafe extern "C" fn zonal_printf(
    ctx: *mut Ctx,
    fmt: u64,
    args: *const u64,
    kinds: *const u8,
    n: u32,
    site: u32,
) -> i32 {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return -1;
    };
    // SAFETY: the caller passes arrays of `n` elements.
    let (args, kinds) = unsafe { arrays(args, kinds, n) };
    ctx.printf(fmt, args, kinds, site)
}

/// xtlang `println`.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call;
/// non-null `args` and `kinds` point to `n` elements each.
pub unsafe extern "C" fn zonal_println(ctx: *mut Ctx, args: *const u64, kinds: *const u8, n: u32) {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return;
    };
    // SAFETY: the caller passes arrays of `n` elements.
    let (args, kinds) = unsafe { arrays(args, kinds, n) };
    ctx.println(args, kinds);
}

/// xtlang's builtin `print`: the values as `println` writes them, with no space between
/// them and no newline.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call;
/// non-null `args` and `kinds` point to `n` elements each.
pub unsafe extern "C" fn zonal_print(ctx: *mut Ctx, args: *const u64, kinds: *const u8, n: u32) {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return;
    };
    // SAFETY: the caller passes arrays of `n` elements.
    let (args, kinds) = unsafe { arrays(args, kinds, n) };
    ctx.print(args, kinds);
}

/// Records a fault (the first one wins). Unknown codes are kept as they are.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
// Only the runtime's tests use this; the compiler does not.
#[cfg(test)]
pub unsafe extern "C" fn zonal_fault(ctx: *mut Ctx, code: u32, site: u32) {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return;
    };
    match FaultCode::from_u32(code) {
        Some(c) => ctx.raise(c, site, FaultDetail::None),
        None if ctx.fault == 0 && code != 0 => {
            ctx.fault = code;
            ctx.fault_site = site;
        }
        None => {}
    }
}

/// Records the fault of a compiled access of `size` bytes at `ptr` that failed its check.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_access_fault(
    ctx: *mut Ctx,
    ptr: u64,
    size: u64,
    write: u32,
    site: u32,
) {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    if let Some(ctx) = unsafe { ctx.as_mut() } {
        ctx.access_fault(ptr, size, write != 0, site);
    }
}

/// Records the fault of an index `index` of elements of `size` bytes whose offset does not
/// fit in an address.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_index_fault(ctx: *mut Ctx, index: i64, size: u64, site: u32) {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    if let Some(ctx) = unsafe { ctx.as_mut() } {
        ctx.raise(
            FaultCode::OutOfRange,
            site,
            FaultDetail::Index { index, size },
        );
    }
}

/// Gives back the `salloc` stack above `sp`, marking it dead.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_salloc_release(ctx: *mut Ctx, sp: u64) {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    if let Some(ctx) = unsafe { ctx.as_mut() } {
        ctx.salloc_release(sp);
    }
}

/// xtlang `callback`.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call;
/// non-null `args` points to `n` readable words.
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn zonal_callback(
    ctx: *mut Ctx,
    time: i64,
    tramp: u64,
    slot: u32,
    closure: u64,
    args: *const u64,
    n: u32,
    site: u32,
) {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return;
    };
    let mut words = [0u64; MAX_CALLBACK_ARGS];
    let n = (n as usize).min(MAX_CALLBACK_ARGS);
    if !args.is_null() && n > 0 {
        // SAFETY: the caller passes `n` readable words at `args`.
        words[..n].copy_from_slice(unsafe { std::slice::from_raw_parts(args, n) });
    }
    let s = Scheduled {
        time,
        tramp,
        slot,
        closure,
        args: words,
    };
    ctx.schedule(s, site);
}

/// `zone_cleanup`.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_zone_cleanup(ctx: *mut Ctx, closure: u64, site: u32) {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    if let Some(ctx) = unsafe { ctx.as_mut() } {
        ctx.zone_cleanup(closure, site);
    }
}

/// The next cleanup closure of the current zone, or 0.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_take_cleanup(ctx: *mut Ctx) -> u64 {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    unsafe { ctx.as_mut() }.map_or(0, Ctx::take_cleanup)
}

/// xtlang `random`: uniform in [0, 1) from the context's own reproducible sequence.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
// Only the runtime's tests use this; the compiler does not.
#[cfg(test)]
pub unsafe extern "C" fn zonal_random(ctx: *mut Ctx) -> f64 {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    unsafe { ctx.as_mut() }.map_or(0.0, Ctx::random)
}

/// `closure.var`: where the variable's value is.
///
/// # Safety
/// `ctx` is null or points to a live context no one else is using during the call.
pub unsafe extern "C" fn zonal_env_var(
    ctx: *mut Ctx,
    table: u64,
    env: u64,
    name: u64,
    type_id: u64,
    site: u32,
) -> u64 {
    // SAFETY: the caller passes the context it was itself called with, exclusively.
    let Some(ctx) = (unsafe { ctx.as_mut() }) else {
        return 0;
    };
    ctx.env_var(table, env, name, type_id, site)
}

/// Every runtime function compiled code may call, by symbol name, for `JITBuilder::symbol`
/// (the runtime's tests link native code against them; the compiler embeds addresses).
#[cfg(test)]
pub fn symbols() -> Vec<(&'static str, *const u8)> {
    let mut v: Vec<(&'static str, *const u8)> = vec![
        ("zonal_zalloc", zonal_zalloc as *const u8),
        ("zonal_closure", zonal_closure as *const u8),
        ("zonal_halloc", zonal_halloc as *const u8),
        ("zonal_salloc", zonal_salloc as *const u8),
        ("zonal_free", zonal_free as *const u8),
        ("zonal_memzone_push", zonal_memzone_push as *const u8),
        ("zonal_memzone_pop", zonal_memzone_pop as *const u8),
        ("zonal_printf", zonal_printf as *const u8),
        ("zonal_println", zonal_println as *const u8),
        ("zonal_fault", zonal_fault as *const u8),
        ("zonal_access_fault", zonal_access_fault as *const u8),
        ("zonal_index_fault", zonal_index_fault as *const u8),
        ("zonal_salloc_release", zonal_salloc_release as *const u8),
        ("zonal_random", zonal_random as *const u8),
        ("zonal_callback", zonal_callback as *const u8),
        ("zonal_zone_cleanup", zonal_zone_cleanup as *const u8),
        ("zonal_take_cleanup", zonal_take_cleanup as *const u8),
        ("zonal_env_var", zonal_env_var as *const u8),
    ];
    v.extend(super::math::symbols());
    v
}
