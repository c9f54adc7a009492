//! Native code: the Cranelift target and one `JITModule` per definition.
//!
//! A [`CodeBlock`] owns a definition's module and frees its pages with `free_memory()`
//! when dropped (dropping a bare `JITModule` would leak them); the registry drops it only
//! once no thread can run the code any more (see `registry`'s header).

use crate::error::{DspError, DspErrorKind, Result};
use cranelift_codegen::Context;
use cranelift_codegen::ir::{Function, Signature, UserFuncName};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Module, default_libcall_names};

/// The host target, made once per [`crate::Dsp`].
pub struct Jit {
    isa: OwnedTargetIsa,
    fctx: FunctionBuilderContext,
    /// `ZONAL_DISASM` is set: each function's machine code is printed to stderr when it is
    /// compiled (for profiling by hand; `perf` names the functions from the map file
    /// Cranelift writes).
    disasm: bool,
    /// The machine code of every function compiled since [`Jit::keep_listing`], for tests
    /// of code generation.
    listing: Option<String>,
}

fn internal(e: impl std::fmt::Display) -> DspError {
    DspError::new(
        DspErrorKind::Internal,
        format!("code generation failed: {e}"),
        None,
    )
}

impl Jit {
    /// The host ISA; the Cranelift verifier is on in debug builds (a verifier error is a
    /// compiler bug, reported as [`DspErrorKind::Internal`]).
    pub fn new() -> Result<Jit> {
        let mut flags = settings::builder();
        let verify = if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        };
        for (k, v) in [
            ("opt_level", "speed"),
            ("enable_verifier", verify),
            ("is_pic", "false"),
        ] {
            flags.set(k, v).map_err(internal)?;
        }
        let isa = cranelift_native::builder()
            .map_err(internal)?
            .finish(settings::Flags::new(flags))
            .map_err(internal)?;
        Ok(Jit {
            isa,
            fctx: FunctionBuilderContext::new(),
            disasm: std::env::var_os("ZONAL_DISASM").is_some(),
            listing: None,
        })
    }

    /// From now on, keeps the machine code of each function compiled (see
    /// [`Jit::listing`]).
    pub fn keep_listing(&mut self) {
        self.listing.get_or_insert_with(String::new);
    }

    /// The machine code kept since [`Jit::keep_listing`] (empty before it).
    pub fn listing(&self) -> &str {
        self.listing.as_deref().unwrap_or("")
    }

    /// True when the target fuses a multiply and an add in one instruction (x86-64 with
    /// FMA3 and AVX, as Cranelift lowers `fma`; AArch64 always): otherwise `fma` would be a
    /// call of the C library's.
    pub fn has_fma(&self) -> bool {
        let flag = |name: &str| {
            self.isa
                .isa_flags()
                .iter()
                .any(|f| f.name == name && f.as_bool() == Some(true))
        };
        match self.isa.name() {
            "x64" => flag("has_fma") && flag("has_avx"),
            "aarch64" => true,
            _ => false,
        }
    }

    pub fn frontend(&self) -> cranelift_codegen::isa::TargetFrontendConfig {
        self.isa.frontend_config()
    }

    pub fn call_conv(&self) -> CallConv {
        self.isa.default_call_conv()
    }

    /// A fresh module for one definition.
    pub fn module(&self) -> CodeBlock {
        let builder = JITBuilder::with_isa(self.isa.clone(), default_libcall_names());
        CodeBlock {
            module: Some(JITModule::new(builder)),
        }
    }

    /// Builds one function with `build` and adds it to `code`.
    pub fn function(
        &mut self,
        code: &mut CodeBlock,
        sig: Signature,
        build: impl FnOnce(FunctionBuilder<'_>) -> Result<()>,
    ) -> Result<FuncId> {
        let func = self.lower(sig, build)?;
        self.define(code, &func)
    }

    /// Builds one function's IR with `build` (no native code yet).
    pub fn lower(
        &mut self,
        sig: Signature,
        build: impl FnOnce(FunctionBuilder<'_>) -> Result<()>,
    ) -> Result<Function> {
        let mut func = Function::with_name_signature(UserFuncName::default(), sig);
        if let Err(e) = build(FunctionBuilder::new(&mut func, &mut self.fctx)) {
            // A function left half-built keeps its SSA state in the builder context
            // (cleared only by `finalize`); the next function built with it would be
            // miscompiled, so a failed definition gets a fresh context.
            self.fctx = FunctionBuilderContext::new();
            return Err(e);
        }
        Ok(func)
    }

    /// Compiles `func` to native code in `code` (Cranelift's code generation and register
    /// allocation: the costly part).
    pub fn define(&mut self, code: &mut CodeBlock, func: &Function) -> Result<FuncId> {
        self.define_as(code, func, "")
    }

    /// [`Jit::define`], the function's listing headed `; function N` and `what`.
    pub fn define_as(
        &mut self,
        code: &mut CodeBlock,
        func: &Function,
        what: &str,
    ) -> Result<FuncId> {
        let module = code
            .module
            .as_mut()
            .ok_or_else(|| internal("module already freed"))?;
        let mut ctx: Context = module.make_context();
        ctx.func = func.clone();
        ctx.set_disasm(self.disasm || self.listing.is_some());
        let id = module
            .declare_anonymous_function(&ctx.func.signature)
            .map_err(internal)?;
        module
            .define_function(id, &mut ctx)
            .map_err(|e| internal(format!("{e:?}")))?;
        if let Some(text) = ctx.compiled_code().and_then(|c| c.vcode.as_ref()) {
            match &mut self.listing {
                Some(l) => *l += &format!("; function {id}{what}\n{text}\n"),
                None => eprintln!("; function {id}{what}\n{text}"),
            }
        }
        module.clear_context(&mut ctx);
        Ok(id)
    }
}

/// One definition's compiled code.
pub struct CodeBlock {
    module: Option<JITModule>,
}

// SAFETY: a code block is built and used by the control thread only; the one other thing
// done with it is dropping it (`free_memory` unmaps its pages), which may happen on the
// thread that drops the last audio context after the `Dsp` is gone (see `CodeKeeper`).
unsafe impl Send for CodeBlock {}

/// Code still alive when the `Dsp` is dropped: kept until the last audio context that may
/// run it is dropped too.
#[derive(Default)]
pub struct CodeKeeper {
    blocks: std::sync::Mutex<Vec<CodeBlock>>,
}

impl CodeKeeper {
    /// Keeps `blocks` alive as long as this keeper.
    pub fn keep(&self, blocks: impl IntoIterator<Item = CodeBlock>) {
        if let Ok(mut v) = self.blocks.lock() {
            v.extend(blocks);
        }
    }
}

impl CodeBlock {
    /// Makes the code callable; afterwards [`CodeBlock::address`] gives entry points.
    pub fn finalize(&mut self) -> Result<()> {
        let module = self
            .module
            .as_mut()
            .ok_or_else(|| internal("module already freed"))?;
        module.finalize_definitions().map_err(internal)
    }

    pub fn address(&self, id: FuncId) -> u64 {
        self.module
            .as_ref()
            .map_or(0, |m| m.get_finalized_function(id) as u64)
    }
}

impl Drop for CodeBlock {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: the registry drops a code block only when (1) no slot of either
            // thread, batch in flight, audio fallback, live definition naming it, or live
            // zone holding one of its closure records refers to its generation, so no valid
            // path leads here; (2) the code-table stamps of its lambdas were cleared first,
            // so a call that starts later through a record that outlived it (a pointer kept
            // in memory the registry does not track) fails the stamp check and faults
            // before jumping; and (3) every audio context that was inside a buffer when
            // those stamps were cleared has ended that buffer, so a call that passed the
            // check before has returned. Trampolines are dropped with the `Dsp`, or with
            // the last audio context (`CodeKeeper`).
            unsafe { m.free_memory() };
        }
    }
}
