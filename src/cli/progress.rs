//! Progress of a long command (`scan`, `delete`): a bar on a terminal
//! (indicatif: rooms done of total, rate, time left), and where stderr is
//! not a terminal (systemd, CI, a pipe) plain log lines, at the start, every
//! 10 s and at the end, so a large server's scan shows signs of life either
//! way. The lines go through the log (target `oldrooms::progress`, shown by
//! default), so `--log-format json` keeps one object per line.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tracing::info;

use crate::plain::ago;

/// Between two progress lines when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    what: &'static str,
    started: Instant,
    shown: Shown,
}

enum Shown {
    Bar(ProgressBar),
    Lines(Mutex<Lines>),
}

#[derive(Default)]
struct Lines {
    last: Option<Instant>,
    latest: Option<(u64, u64)>,
    /// The first count and when it came: the rate is measured from there,
    /// not from the listing before it.
    first: Option<(Instant, u64)>,
}

impl Progress {
    /// `what` names the work in lines: "scan", "deletion".
    pub fn new(what: &'static str) -> Self {
        let shown = if std::io::stderr().is_terminal() {
            Shown::Bar(ProgressBar::new_spinner())
        } else {
            Shown::Lines(Mutex::new(Lines::default()))
        };
        Self {
            what,
            started: Instant::now(),
            shown,
        }
    }

    /// Before the total is known: a count ("listed 1200 rooms").
    pub fn counting(&self, text: String) {
        if let Shown::Bar(bar) = &self.shown {
            bar.set_message(text);
            bar.tick();
        }
    }

    /// `done` of `total` rooms; `detail` is shown beside the bar.
    pub fn update(&self, done: u64, total: u64, detail: impl FnOnce() -> String) {
        match &self.shown {
            Shown::Bar(bar) => {
                if bar.length() != Some(total) {
                    bar.set_length(total);
                    bar.set_style(bar_style());
                }
                bar.set_message(detail());
                bar.set_position(done);
            }
            Shown::Lines(lines) => {
                let mut lines = lines.lock().unwrap_or_else(|e| e.into_inner());
                lines.latest = Some((done, total));
                let (since, from) = *lines.first.get_or_insert((Instant::now(), done));
                let due = lines.last.is_none_or(|t| t.elapsed() >= LINE_EVERY);
                if due {
                    lines.last = Some(Instant::now());
                    drop(lines);
                    let rate = rate(done.saturating_sub(from), since.elapsed());
                    self.line(done, total, rate, &detail());
                }
            }
        }
    }

    /// Leaves the final state on screen, or logs the last line.
    pub fn finish(&self) {
        match &self.shown {
            Shown::Bar(bar) => bar.finish(),
            Shown::Lines(lines) => {
                let latest = lines.lock().unwrap_or_else(|e| e.into_inner()).latest;
                if let Some((done, total)) = latest {
                    info!(target: "oldrooms::progress", "{}: {done} of {} in {}",
                        self.what, crate::plain::rooms(total), ago(self.started.elapsed()));
                }
            }
        }
    }

    fn line(&self, done: u64, total: u64, rate: f64, detail: &str) {
        let left = if rate > 0.0 && done < total {
            format!(
                ", about {} left",
                ago(Duration::from_secs_f64((total - done) as f64 / rate))
            )
        } else {
            String::new()
        };
        let speed = if rate > 0.0 {
            format!(" ({rate:.0}/s{left})")
        } else {
            String::new()
        };
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!("; {detail}")
        };
        let total = crate::plain::rooms(total);
        info!(target: "oldrooms::progress", "{}: {done} of {total}{speed}{detail}", self.what);
    }
}

/// Rooms per second; zero until there is something to measure.
fn rate(rooms: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if rooms == 0 || secs <= 0.0 {
        0.0
    } else {
        rooms as f64 / secs
    }
}

fn bar_style() -> ProgressStyle {
    // The template is a constant: it parses, or the default style does.
    ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {pos}/{len} rooms, {rate}, {eta} left {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key(
        "rate",
        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0}/s", state.per_sec());
        },
    )
    .progress_chars("=> ")
}
