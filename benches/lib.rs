//! Shared fixtures for zonal's benchmarks: the programs the benches time.
