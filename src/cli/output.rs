//! Output for humans and machines, and progress bars only on a terminal.

use crate::store::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::{IsTerminal, Write};

/// How a command prints.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    /// Prints `value` as pretty JSON on stdout.
    pub(crate) fn json<T: Serialize>(&self, value: &T) -> crate::Result<()> {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, value)?;
        writeln!(stdout).map_err(|e| crate::Error::io("writing to stdout", e))
    }

    /// One compact JSON document on a line of its own, flushed: what a
    /// long-running command (`sync`) prints per notice, so a reader can take
    /// it line by line as it comes.
    pub(crate) fn json_line<T: Serialize>(&self, value: &T) -> crate::Result<()> {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer(&mut stdout, value)?;
        writeln!(stdout)
            .and_then(|()| stdout.flush())
            .map_err(|e| crate::Error::io("writing to stdout", e))
    }

    /// A progress sink: a bar on stderr when it is a terminal and not `--json`,
    /// nothing otherwise.
    pub(crate) fn progress(&self) -> Bar {
        let visible = !self.json && std::io::stderr().is_terminal();
        let bar = ProgressBar::with_draw_target(
            None,
            if visible {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            },
        );
        Bar {
            bar,
            timings: std::env::var_os("BLOCKSTORE_TIMINGS").is_some(),
            current: std::sync::Mutex::new(None),
        }
    }
}

/// An indicatif bar as a [`Progress`] sink.
pub(crate) struct Bar {
    bar: ProgressBar,
    /// With `BLOCKSTORE_TIMINGS` set, each phase's wall time goes to stderr.
    timings: bool,
    current: std::sync::Mutex<Option<(String, std::time::Instant)>>,
}

impl Bar {
    fn end_phase(&self) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((name, start)) = current.take() {
            if self.timings {
                eprintln!("timing: {name}: {:.3} s", start.elapsed().as_secs_f64());
            }
        }
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.end_phase();
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((name.to_string(), std::time::Instant::now()));
        self.bar.reset();
        match total {
            Some(total) => {
                self.bar.set_length(total);
                self.bar.set_style(
                    ProgressStyle::with_template(
                        "{msg:>10} [{bar:30}] {pos}/{len} ({per_sec}, {eta})",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
            }
            None => self.bar.set_style(
                ProgressStyle::with_template("{msg:>10} {spinner} {pos}")
                    .expect("a valid template"),
            ),
        }
        self.bar.set_message(name.to_string());
    }
    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.end_phase();
        self.bar.finish_and_clear();
    }
}

/// Bytes for humans.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `1 blob`, `2 blobs`: a count with its noun in the right number (every
/// noun the CLI counts takes `s`).
pub(crate) fn plural(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod plural_tests {
    #[test]
    fn counts_take_the_right_number() {
        assert_eq!(super::plural(1u64, "blob"), "1 blob");
        assert_eq!(super::plural(0u64, "blob"), "0 blobs");
        assert_eq!(super::plural(2u64, "orphan"), "2 orphans");
    }
}
