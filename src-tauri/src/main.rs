//! Desktop shell for the Blockstore appliance.
//!
//! The Tauri v2 window arrives with the UI issue ("The browser UI and the desktop
//! window"); until then this member only proves the workspace shape and that the
//! shell can link the library. It holds no model logic and never will.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "blockstore-desktop {}: the desktop window is not built yet; \
         use `blockstore` (the CLI) meanwhile.",
        blockstore::VERSION
    );
    ExitCode::from(2)
}
