//! The `zonal` command line (see `cli.rs`).

fn main() -> std::process::ExitCode {
    zonal_engine::cli::main()
}
