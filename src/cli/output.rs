//! Output for humans and machines, and progress bars only on a terminal.

use crate::store::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::{IsTerminal, Write};

/// How a command prints.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) json: bool,
    pub(crate) date: DateStyle,
}

/// How times print in text (`--date`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DateStyle {
    /// "3 minutes ago", "yesterday"-like ages; older than 30 days, the date.
    Relative,
    /// The stored RFC 3339 time, UTC.
    Iso,
}

impl Output {
    /// A stored time (RFC 3339) as the user asked (`--date`).
    pub(crate) fn when(&self, rfc3339: &str) -> String {
        match self.date {
            DateStyle::Iso => rfc3339.to_owned(),
            DateStyle::Relative => relative(rfc3339, time::OffsetDateTime::now_utc()),
        }
    }

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

/// A stored time relative to `now`: "just now", "3 minutes ago", "2 days
/// ago", and past 30 days the date. Unparsable text is shown as it is.
pub(crate) fn relative(rfc3339: &str, now: time::OffsetDateTime) -> String {
    let Ok(then) =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
    else {
        return rfc3339.to_owned();
    };
    let seconds = (now - then).whole_seconds();
    if seconds < 0 {
        return rfc3339.to_owned();
    }
    let seconds = seconds as u64;
    match seconds {
        0..=9 => "just now".to_owned(),
        10..=59 => format!("{} ago", plural(seconds, "second")),
        60..=3_599 => format!("{} ago", plural(seconds / 60, "minute")),
        3_600..=86_399 => format!("{} ago", plural(seconds / 3_600, "hour")),
        86_400..=2_591_999 => format!("{} ago", plural(seconds / 86_400, "day")),
        _ => format!(
            "on {:04}-{:02}-{:02}",
            then.year(),
            u8::from(then.month()),
            then.day()
        ),
    }
}

pub(crate) use crate::store::plural;

#[cfg(test)]
mod plural_tests {
    #[test]
    fn times_read_as_ages() {
        let now = time::macros::datetime!(2026-12-03 10:00:00 UTC);
        let r = |t: &str| super::relative(t, now);
        assert_eq!(r("2026-12-03T09:59:58.000000Z"), "just now");
        assert_eq!(r("2026-12-03T09:57:00.000000Z"), "3 minutes ago");
        assert_eq!(r("2026-12-03T08:59:00.000000Z"), "1 hour ago");
        assert_eq!(r("2026-12-01T10:00:00.000000Z"), "2 days ago");
        assert_eq!(r("2026-01-01T10:00:00.000000Z"), "on 2026-01-01");
        assert_eq!(r("garbage"), "garbage", "shown as it is");
    }

    #[test]
    fn counts_take_the_right_number() {
        assert_eq!(super::plural(1u64, "blob"), "1 blob");
        assert_eq!(super::plural(0u64, "blob"), "0 blobs");
        assert_eq!(super::plural(2u64, "orphan"), "2 orphans");
    }
}
