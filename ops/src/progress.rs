//! Progress bars on stderr. indicatif draws nothing when stderr is not a
//! terminal, so logs in CI stay clean.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use perfkit_archive::progress::Progress;

/// Inputs smaller than this finish too fast for a bar to help.
const MIN_BYTES_FOR_BAR: u64 = 16 * 1024 * 1024;

/// A byte-count bar for one phase at a time.
pub struct Bar {
    bar: ProgressBar,
    /// Whether the input is large enough to show phases without a total.
    large: AtomicBool,
}

impl Bar {
    pub fn new() -> Self {
        Self {
            bar: ProgressBar::hidden(),
            large: AtomicBool::new(false),
        }
    }
}

impl Progress for Bar {
    fn start(&self, what: &str, total: Option<u64>) {
        match total {
            None if self.large.load(Ordering::Relaxed) => {
                self.bar.set_draw_target(ProgressDrawTarget::stderr());
                self.bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                self.bar.set_message(what.to_string());
                self.bar.enable_steady_tick(Duration::from_millis(120));
            }
            Some(total) if total >= MIN_BYTES_FOR_BAR => {
                self.large.store(true, Ordering::Relaxed);
                self.bar.set_draw_target(ProgressDrawTarget::stderr());
                self.bar.set_length(total);
                self.bar.set_position(0);
                self.bar.set_style(
                    ProgressStyle::with_template(
                        "{msg:>9} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                self.bar.set_message(what.to_string());
            }
            Some(_) => {
                self.large.store(false, Ordering::Relaxed);
                self.bar.set_draw_target(ProgressDrawTarget::hidden());
            }
            None => self.bar.set_draw_target(ProgressDrawTarget::hidden()),
        }
    }

    fn set(&self, position: u64) {
        self.bar.set_position(position);
    }

    fn finish(&self) {
        self.bar.disable_steady_tick();
        self.bar.finish_and_clear();
    }
}

/// Items (builds, pages) below this finish too fast for a bar to help.
const MIN_ITEMS_FOR_BAR: u64 = 200;

/// A count bar ("reading builds 1200/10000") for one phase at a time.
pub struct Counter {
    bar: ProgressBar,
}

impl Counter {
    pub fn new() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }
}

impl Progress for Counter {
    fn start(&self, what: &str, total: Option<u64>) {
        match total {
            Some(total) if total >= MIN_ITEMS_FOR_BAR => {
                self.bar.set_draw_target(ProgressDrawTarget::stderr());
                self.bar.set_length(total);
                self.bar.set_position(0);
                self.bar.set_style(
                    ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                self.bar.set_message(what.to_string());
            }
            _ => self.bar.set_draw_target(ProgressDrawTarget::hidden()),
        }
    }

    fn set(&self, position: u64) {
        self.bar.set_position(position);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A bar over a run of items (builds of `perfkit collect`): a spinner while
/// the total is unknown, then a count. Lines printed through it do not tear
/// it; like every bar here it draws only on a terminal.
pub struct Items {
    bar: ProgressBar,
}

impl Items {
    /// A spinner showing `what`.
    pub fn spinner(what: &str) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar }
    }

    pub fn set_message(&self, what: String) {
        self.bar.set_message(what);
    }

    /// Switches to counting `total` items.
    pub fn count(&self, what: &str, total: u64) {
        self.bar.disable_steady_tick();
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        self.bar.set_message(what.to_string());
    }

    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// Prints a line on stdout above the bar.
    pub fn println(&self, line: &str) {
        self.bar.suspend(|| println!("{line}"));
    }

    /// Prints a line on stderr above the bar.
    pub fn eprintln(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    pub fn finish(&self) {
        self.bar.disable_steady_tick();
        self.bar.finish_and_clear();
    }
}
