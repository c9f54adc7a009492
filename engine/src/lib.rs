//! zonal's engine: wires the Scheme interpreter and the DSP compiler into a running
//! system of a control thread and an audio thread.

pub mod clock;
pub mod device;
pub mod record;
pub mod repl;
pub mod request;
pub mod server;
