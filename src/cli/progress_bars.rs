//! Progress bars on a terminal, drawn from the library's progress events
//! ([`tagkeeper::progress`]): one bar per running phase (reading manifests, listing
//! directories, deleting files…), removed when the phase ends. Installed only when stderr is a
//! terminal and neither `--json` nor `-q` was given, so logs, pipes and scripts never see one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// How long a phase runs before its bar appears: quick phases (most, on small tables) draw
/// nothing. `TAGKEEPER_PROGRESS_DELAY_MS` changes it (0 shows every phase).
const DEFAULT_DELAY: Duration = Duration::from_millis(500);

/// Draws the progress events.
pub(crate) struct ProgressBars {
    multi: MultiProgress,
    delay: Duration,
    bars: Mutex<HashMap<String, Running>>,
}

/// A phase under way: its bar, shown once the phase has run for the delay.
struct Running {
    bar: ProgressBar,
    started: Instant,
    shown: bool,
}

impl ProgressBars {
    pub(crate) fn new() -> Self {
        let delay = std::env::var("TAGKEEPER_PROGRESS_DELAY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(DEFAULT_DELAY, Duration::from_millis);
        // Ten frames a second; with no delay (every phase shown, for debugging and tests)
        // every frame, else a phase of a quick run may end between two frames and never show.
        let target = if delay.is_zero() {
            ProgressDrawTarget::term_like(Box::new(console::Term::stderr()))
        } else {
            ProgressDrawTarget::stderr_with_hz(10)
        };
        ProgressBars {
            multi: MultiProgress::with_draw_target(target),
            delay,
            bars: Mutex::new(HashMap::new()),
        }
    }

    /// A bar for a phase of `total` steps, not yet drawn.
    fn bar(phase: &str, total: u64) -> ProgressBar {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        if let Ok(style) =
            ProgressStyle::with_template("{msg:>24} [{bar:30}] {pos}/{len} ({per_sec}, {eta} left)")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(phase.to_string());
        bar
    }
}

/// The fields of one progress event.
#[derive(Default)]
struct Step {
    phase: String,
    done: u64,
    total: u64,
    finished: bool,
}

impl Visit for Step {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "phase" {
            self.phase = value.to_string();
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "done" => self.done = value,
            "total" => self.total = value,
            _ => {}
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "finished" {
            self.finished = value;
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for ProgressBars {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != tagkeeper::progress::TARGET {
            return;
        }
        let mut step = Step::default();
        event.record(&mut step);
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        if step.finished {
            if let Some(r) = bars.remove(&step.phase) {
                if r.shown {
                    r.bar.finish_and_clear();
                    self.multi.remove(&r.bar);
                }
            }
            return;
        }
        // An empty phase has nothing to show.
        if step.total == 0 {
            return;
        }
        let r = bars.entry(step.phase.clone()).or_insert_with(|| Running {
            bar: Self::bar(&step.phase, step.total),
            started: Instant::now(),
            shown: false,
        });
        r.bar.set_position(step.done);
        if !r.shown && r.started.elapsed() >= self.delay {
            r.bar = self.multi.add(r.bar.clone());
            r.shown = true;
        }
    }
}
