//! The `blockstore` binary: the command line, nothing else.

fn main() -> std::process::ExitCode {
    // Like every Unix filter, die quietly when the reader of our stdout goes
    // away (`blockstore log x | head`) instead of panicking on EPIPE.
    sigpipe::reset();
    blockstore::cli::run()
}
