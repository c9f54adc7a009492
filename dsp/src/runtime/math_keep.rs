//! The C-library math the inline math (`lower::math_ir`) calls out of line, behind
//! trampolines that keep every register: compiled code calls them with Cranelift's
//! `PreserveAll` convention, so a value live across the rare call (every constant and
//! accumulator of a loop in SIMD lanes, every double of a function calling `sin`) stays in
//! its register instead of being spilled for the whole loop or function.
//!
//! Each trampoline takes the double arguments in `xmm0` (and `xmm1`) and a pointer in
//! `rdi`, where it writes the result (`PreserveAll` has no return values); it saves the
//! registers the System V convention lets a callee change (`rax rcx rdx rsi rdi r8`–`r11`,
//! `xmm0`–`xmm15`), calls the `zonal_NAME` function of [`super::math`], stores its result
//! and restores them all. Compiled code uses only the low 128 bits of the vector registers
//! and no mask registers, so those are all the state it keeps in registers.

use super::math;

/// Defines `$name`, the trampoline to `$target`.
macro_rules! keep_all {
    ($($name:ident => $target:path),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($target), "` keeping every register; the result is written to `*rdi`.")]
            // SAFETY: naked: the body below is the whole function. On entry the stack is 8
            // past a 16-byte boundary (the return address); nine pushes and 256 bytes make
            // it aligned for the call. The callee may change only the registers saved here
            // (System V), and every one is restored before `ret`; `rdi` is read back from
            // its save slot (the callee may change the register).
            #[unsafe(naked)]
            pub extern "C" fn $name() {
                core::arch::naked_asm!(
                    "push rax", "push rcx", "push rdx", "push rsi", "push rdi",
                    "push r8", "push r9", "push r10", "push r11",
                    "sub rsp, 256",
                    "movdqu [rsp], xmm0", "movdqu [rsp + 16], xmm1",
                    "movdqu [rsp + 32], xmm2", "movdqu [rsp + 48], xmm3",
                    "movdqu [rsp + 64], xmm4", "movdqu [rsp + 80], xmm5",
                    "movdqu [rsp + 96], xmm6", "movdqu [rsp + 112], xmm7",
                    "movdqu [rsp + 128], xmm8", "movdqu [rsp + 144], xmm9",
                    "movdqu [rsp + 160], xmm10", "movdqu [rsp + 176], xmm11",
                    "movdqu [rsp + 192], xmm12", "movdqu [rsp + 208], xmm13",
                    "movdqu [rsp + 224], xmm14", "movdqu [rsp + 240], xmm15",
                    "call {f}",
                    "mov rax, [rsp + 288]",
                    "movsd [rax], xmm0",
                    "movdqu xmm0, [rsp]", "movdqu xmm1, [rsp + 16]",
                    "movdqu xmm2, [rsp + 32]", "movdqu xmm3, [rsp + 48]",
                    "movdqu xmm4, [rsp + 64]", "movdqu xmm5, [rsp + 80]",
                    "movdqu xmm6, [rsp + 96]", "movdqu xmm7, [rsp + 112]",
                    "movdqu xmm8, [rsp + 128]", "movdqu xmm9, [rsp + 144]",
                    "movdqu xmm10, [rsp + 160]", "movdqu xmm11, [rsp + 176]",
                    "movdqu xmm12, [rsp + 192]", "movdqu xmm13, [rsp + 208]",
                    "movdqu xmm14, [rsp + 224]", "movdqu xmm15, [rsp + 240]",
                    "add rsp, 256",
                    "pop r11", "pop r10", "pop r9", "pop r8",
                    "pop rdi", "pop rsi", "pop rdx", "pop rcx", "pop rax",
                    "ret",
                    f = sym $target,
                )
            }
        )*
    };
}

keep_all! {
    zonal_sin_keep => math::zonal_sin,
    zonal_cos_keep => math::zonal_cos,
    zonal_tan_keep => math::zonal_tan,
    zonal_exp_keep => math::zonal_exp,
    zonal_log_keep => math::zonal_log,
    zonal_fmod_keep => math::zonal_fmod,
    zonal_pow_keep => math::zonal_pow,
}
