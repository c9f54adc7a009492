//! zonal's DSP language: xtlang-compatible typed closures compiled to native code.
//!
//! Syntax → types → IR → native code (Cranelift), and the runtime that compiled code
//! calls: the arena, zones, the real-time heap and the message sink. This crate knows
//! nothing of Scheme values or audio devices.

pub mod runtime;
