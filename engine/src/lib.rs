//! zonal's engine: wires the Scheme interpreter (`zonal-scheme`) and the DSP compiler
//! (`zonal-dsp`) into a running system of a control thread and an audio thread, and
//! ships the `zonal` binary.
//!
//! Contract: the audio thread runs only [`audio::Processor::process`], which never
//! allocates, locks, blocks or prints; everything it lets go returns to the control
//! thread over a ring ([`commands`]). Live devices and the offline renderer call the
//! same process function, so a render sounds exactly like the live output.

pub mod audio;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod control;
pub mod convert;
pub mod denormals;
pub mod device;
pub mod diagnostic;
pub mod dylib;
pub mod events;
pub mod fade;
pub mod input;
pub mod io;
pub mod lanes;
pub mod libs;
#[cfg(feature = "link")]
pub mod link;
pub mod load_meter;
pub mod midi;
pub mod offline;
pub mod osc;
pub mod plot;
pub mod record;
pub mod render;
pub mod repl;
pub mod request;
pub mod samples;
pub mod scheduler;
pub mod server;
pub mod session;
pub mod testing;
pub mod watchdog;
pub mod wav;
pub mod workers;
pub mod xtmacro;
