//! zonal's Scheme: the language of the control thread.
//!
//! Reader (data with source positions) → values and the garbage-collected heap →
//! evaluator → builtins, plus the embedding API through which `engine/` registers
//! native procedures and special forms. This crate knows nothing of audio or DSP.
