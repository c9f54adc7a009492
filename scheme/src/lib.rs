//! zonal's Scheme: the language of the control thread.
//!
//! Reader (data with source positions) → values and the garbage-collected heap →
//! compiler (forms to nodes with lexical addresses) → evaluator → builtins, plus the
//! embedding API through which `engine/` registers native procedures and special
//! forms. This crate knows nothing of audio or DSP.
//!
//! Contract:
//! - No input makes the interpreter panic: bad programs give an [`Error`] with a
//!   kind, a message, irritants, `file:line:col` and a short backtrace.
//! - Tail calls run in constant space; non-tail recursion may nest 100,000 deep and
//!   runaway recursion raises [`ErrorKind::StackOverflow`].
//! - Integers are 64-bit; an integer result that does not fit is promoted to a
//!   flonum. Rationals are exact with 64-bit parts (`(/ 1 2)` is `1/2`, `(/ 6 3)`
//!   is `2`) and become flonums when a part overflows.
//! - The collector is precise, non-moving and incremental (snapshot-at-the-beginning
//!   marking with a write barrier, then sweeping), paced by allocation so that each
//!   step is short. It runs only at the evaluator's safe points, never while a native
//!   procedure or a special-form handler executes; a [`Value`] kept beyond that must
//!   be a [`Root`]. `(collect-garbage)` asks for a whole collection at the next call.
//! - The heap has a limit (`Interp::set_heap_limit`, `(sys:heap-limit bytes)`,
//!   `zonal --heap-limit`; by default half the physical memory, at most 8 GiB).
//!   Every allocation whose size the program chooses is checked against it first,
//!   after a collection if need be; past it the program gets an
//!   [`ErrorKind::Memory`] error it can catch, and the interpreter stays usable.
//! - `(sys:gc-stats)` returns an association list with the keys `collections`,
//!   `total-pause-ms`, `max-pause-ms` (the longest single step), `live-bytes` and
//!   `heap-bytes`.
//! - Symbols are never collected. Quoted constants and call sites belong to the
//!   code that uses them: they are collected once no closure made by that code is
//!   reachable and its top-level form has finished (see `code.rs`); a replaced
//!   `define-macro` procedure is garbage too.
//! - `[`, `]`, `|` are symbol characters: xtlang types such as `f:[double,double]*`
//!   read as symbols, and square brackets are not list brackets.
//! - `call/cc` continuations escape (upwards); calling one after its `call/cc` has
//!   returned is an error. `syntax-rules` renames only the variables a template binds.

mod autoload;
mod builtins;
mod code;
mod compile;
mod convert;
mod datum;
mod desugar;
mod embed;
mod error;
mod eval;
mod hash;
mod heap;
mod interp;
mod printer;
mod reader;
mod syms;
mod syntax_rules;
mod value;

#[cfg(test)]
mod eval_tests;

pub use datum::{Datum, DatumKind};
pub use embed::{Forms, Root};
pub use error::{Error, ErrorKind, Pos};
pub use heap::{GcStats, set_default_heap_limit};
pub use interp::Interp;
pub use value::Value;
