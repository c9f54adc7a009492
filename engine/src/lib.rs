//! zonal's engine: wires the Scheme interpreter and the DSP compiler into a running
//! system of a control thread and an audio thread.
