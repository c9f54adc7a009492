//! The ABI as native code sees it: Cranelift-compiled functions call the runtime through
//! `symbols()`, read the fault cell and the stack pointer at the `CTX_*` offsets, and pass
//! printf arguments in stack slots — on the audio context without allocating.

use crate::runtime::abi::{self, KIND_F64};
use crate::runtime::shadow::ADDR_MASK;
use crate::runtime::{Arena, AudioConfig, ControlConfig, Ctx, FaultCode, MessageKind};
use assert_no_alloc::assert_no_alloc;
use cranelift_codegen::Context;
use cranelift_codegen::ir::{
    AbiParam, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, UserFuncName, types,
};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

type Probe = unsafe extern "C" fn(*mut Ctx, i64) -> i64;
type Hello = unsafe extern "C" fn(*mut Ctx, u64, f64) -> i32;

struct Jit {
    module: JITModule,
    probe: FuncId,
    hello: FuncId,
}

fn import(
    module: &mut JITModule,
    name: &str,
    params: &[types::Type],
    ret: Option<types::Type>,
) -> FuncId {
    let mut sig = module.make_signature();
    sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
    sig.returns.extend(ret.map(AbiParam::new));
    module
        .declare_function(name, Linkage::Import, &sig)
        .expect("import")
}

/// `probe(ctx, count)`: zalloc `count` i64s at site 7; -1 if that faulted, else store 123
/// in the first one and return it read back plus the stack pointer's distance to its limit
/// being positive (1).
fn define_probe(module: &mut JITModule, fctx: &mut FunctionBuilderContext) -> FuncId {
    let ptr = module.target_config().pointer_type();
    let zalloc = import(
        module,
        "zonal_zalloc",
        &[ptr, types::I64, types::I64, types::I64, types::I32],
        Some(types::I64),
    );
    let mut sig = module.make_signature();
    sig.params.push(AbiParam::new(ptr));
    sig.params.push(AbiParam::new(types::I64));
    sig.returns.push(AbiParam::new(types::I64));
    let id = module
        .declare_function("probe", Linkage::Local, &sig)
        .expect("declare");
    let mut ctx = Context::new();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, id.as_u32());
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, fctx);
        let (entry, ok, faulted) = (b.create_block(), b.create_block(), b.create_block());
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let (c, count) = (b.block_params(entry)[0], b.block_params(entry)[1]);
        let f = module.declare_func_in_func(zalloc, b.func);
        let size = b.ins().iconst(types::I64, 8);
        let site = b.ins().iconst(types::I32, 7);
        let call = b.ins().call(f, &[c, count, size, size, site]);
        let p = b.inst_results(call)[0];
        let fault = b
            .ins()
            .load(types::I32, MemFlagsData::trusted(), c, abi::CTX_FAULT);
        b.ins().brif(fault, faulted, &[], ok, &[]);
        b.switch_to_block(ok);
        // Pointers carry a tag in their high bits: strip it before dereferencing.
        let p = b.ins().band_imm_s(p, ADDR_MASK as i64);
        let v = b.ins().iconst(types::I64, 123);
        b.ins().store(MemFlagsData::trusted(), v, p, 0);
        let back = b.ins().load(types::I64, MemFlagsData::trusted(), p, 0);
        let sp = b
            .ins()
            .load(types::I64, MemFlagsData::trusted(), c, abi::CTX_SP);
        let limit = b
            .ins()
            .load(types::I64, MemFlagsData::trusted(), c, abi::CTX_SP_LIMIT);
        let room = b.ins().icmp(
            cranelift_codegen::ir::condcodes::IntCC::UnsignedLessThan,
            sp,
            limit,
        );
        let room = b.ins().uextend(types::I64, room);
        let r = b.ins().iadd(back, room);
        b.ins().return_(&[r]);
        b.switch_to_block(faulted);
        let minus = b.ins().iconst(types::I64, -1);
        b.ins().return_(&[minus]);
        b.seal_all_blocks();
        b.finalize(module.target_config());
    }
    module.define_function(id, &mut ctx).expect("define");
    id
}

/// `hello(ctx, fmt, x)`: printf(fmt, x) with the argument and its kind in stack slots.
fn define_hello(module: &mut JITModule, fctx: &mut FunctionBuilderContext) -> FuncId {
    let ptr = module.target_config().pointer_type();
    let printf = import(
        module,
        "zonal_printf",
        &[ptr, types::I64, ptr, ptr, types::I32, types::I32],
        Some(types::I32),
    );
    let mut sig = module.make_signature();
    sig.params.extend([
        AbiParam::new(ptr),
        AbiParam::new(types::I64),
        AbiParam::new(types::F64),
    ]);
    sig.returns.push(AbiParam::new(types::I32));
    let id = module
        .declare_function("hello", Linkage::Local, &sig)
        .expect("declare");
    let mut ctx = Context::new();
    ctx.func.signature = sig;
    ctx.func.name = UserFuncName::user(0, id.as_u32());
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let (c, fmt, x) = (
            b.block_params(entry)[0],
            b.block_params(entry)[1],
            b.block_params(entry)[2],
        );
        let args = b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 8, 3));
        let kinds =
            b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 1, 0));
        b.ins().stack_store(ptr, x, args, 0);
        let kind = b.ins().iconst(types::I8, i64::from(KIND_F64));
        b.ins().stack_store(ptr, kind, kinds, 0);
        let args_p = b.ins().stack_addr(ptr, args, 0);
        let kinds_p = b.ins().stack_addr(ptr, kinds, 0);
        let n = b.ins().iconst(types::I32, 1);
        let site = b.ins().iconst(types::I32, 9);
        let f = module.declare_func_in_func(printf, b.func);
        let call = b.ins().call(f, &[c, fmt, args_p, kinds_p, n, site]);
        let r = b.inst_results(call)[0];
        b.ins().return_(&[r]);
        b.seal_all_blocks();
        b.finalize(module.target_config());
    }
    module.define_function(id, &mut ctx).expect("define");
    id
}

fn jit() -> Jit {
    let mut flags = settings::builder();
    flags.set("use_colocated_libcalls", "false").expect("flag");
    flags.set("is_pic", "false").expect("flag");
    let isa = cranelift_native::builder()
        .expect("host")
        .finish(settings::Flags::new(flags))
        .expect("isa");
    let mut jb = JITBuilder::with_isa(isa, default_libcall_names());
    for (name, p) in crate::runtime::abi::symbols() {
        jb.symbol(name, p);
    }
    let mut module = JITModule::new(jb);
    let mut fctx = FunctionBuilderContext::new();
    let probe = define_probe(&mut module, &mut fctx);
    let hello = define_hello(&mut module, &mut fctx);
    module.finalize_definitions().expect("finalize");
    Jit {
        module,
        probe,
        hello,
    }
}

#[test]
fn compiled_code_calls_the_runtime_and_sees_its_faults() {
    let j = jit();
    // SAFETY: both functions were compiled with exactly these signatures.
    let (probe, hello) = unsafe {
        (
            std::mem::transmute::<*const u8, Probe>(j.module.get_finalized_function(j.probe)),
            std::mem::transmute::<*const u8, Hello>(j.module.get_finalized_function(j.hello)),
        )
    };
    let arena = Arena::new(1 << 32).expect("arena");
    let mut control = Ctx::control(&arena, &ControlConfig::default()).expect("control");
    let mut audio = Ctx::audio(&mut control, &AudioConfig::default()).expect("audio");
    let mut literals = crate::runtime::Zone::new(&arena, 4096, "literals").expect("zone");
    let fmt = literals.alloc_c_str(b"x = %f\n").expect("fmt");

    let c: *mut Ctx = &mut control;
    let mark = control.call_mark();
    // SAFETY: `c` points to `control`, used by nothing else during the call.
    assert_eq!(unsafe { probe(c, 4) }, 124);
    assert_eq!(control.finish_call(mark), Ok(()));
    let mark = control.call_mark();
    // SAFETY: as above.
    assert_eq!(unsafe { probe(c, 1_000_000_000_000_000) }, -1);
    let fault = control.finish_call(mark).expect_err("fault");
    assert_eq!(
        (fault.code, fault.site),
        (Some(FaultCode::ZoneExhausted), 7)
    );

    let a: *mut Ctx = &mut audio;
    let printed = assert_no_alloc(|| {
        let mark = audio.call_mark();
        // SAFETY: `a` points to `audio`, used by nothing else during the calls.
        let r = unsafe { (probe(a, 16), hello(a, fmt, 0.25)) };
        let done = audio.finish_call(mark);
        audio.end_buffer();
        (r, done)
    });
    assert_eq!(printed, ((124, 13), Ok(())));
    let mut texts = Vec::new();
    control.drain_messages(|kind, text| texts.push((kind, text.to_string())));
    assert_eq!(
        texts,
        vec![(MessageKind::Output, "x = 0.250000\n".to_string())]
    );
    // SAFETY: no function of the module runs any more and no pointer to its code is used.
    unsafe { j.module.free_memory() };
}
