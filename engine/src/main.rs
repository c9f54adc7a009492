//! The `zonal` command line.

fn main() {}
