//! Tests of the runtime through its internal API (contexts, the ABI functions, the
//! allocators), which the crate does not export: the context's fields are the ABI that
//! compiled code trusts, so only the crate may touch them.
//!
//! The test binary's allocator is `assert_no_alloc`'s: inside `assert_no_alloc`, any
//! allocation through the global allocator aborts the binary, which is how the audio
//! paths are proven allocation-free.

#[global_allocator]
static A: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

mod ctx;
mod jit;
mod model;
mod no_alloc;
