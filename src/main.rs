//! The `blockstore` binary: the command line, nothing else.

fn main() -> std::process::ExitCode {
    blockstore::cli::run()
}
