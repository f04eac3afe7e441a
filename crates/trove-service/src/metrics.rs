//! Request counters kept by every listener: a few relaxed atomic adds per request, no lock, no
//! allocation. They feed `/metrics` (Prometheus text), the dashboard and its requests plot.
//! They count since start (Prometheus computes rates; the plot shows the last hour).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (seconds) of the request-duration histogram buckets.
pub const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];
/// Minutes kept for the requests-over-time plot.
pub const MINUTES: usize = 60;

pub struct Metrics {
    started: std::time::Instant,
    started_unix_ms: i64,
    /// By status class: index 0 = 1xx ... 4 = 5xx.
    by_class: [AtomicU64; 5],
    /// Cumulative-by-construction is done at render time; these are per-bucket counts, the
    /// last one is "above every bound".
    buckets: [AtomicU64; BUCKETS.len() + 1],
    duration_micros: AtomicU64,
    /// Requests the client abandoned mid-body (an aborted upload): a client event, counted
    /// apart from server errors.
    client_aborts: AtomicU64,
    /// Ring of per-minute counts: slot = minute % MINUTES, stamped with the minute it counts.
    minute_counts: [AtomicU64; MINUTES],
    minute_stamps: [AtomicU64; MINUTES],
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MetricsSnapshot {
    pub uptime_seconds: u64,
    pub started: i64,
    pub requests_total: u64,
    /// `(class, count)`: `("2xx", 10)`.
    pub by_class: Vec<(String, u64)>,
    /// `(upper bound in seconds, cumulative count)`; the last bound is `+Inf`.
    pub duration_buckets: Vec<(f64, u64)>,
    pub duration_seconds_sum: f64,
    pub client_aborts: u64,
    /// Requests per minute for the last [`MINUTES`] minutes, oldest first (`(unix minute,
    /// count)`).
    pub per_minute: Vec<(u64, u64)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: std::time::Instant::now(),
            started_unix_ms: trove_core::now_millis(),
            by_class: Default::default(),
            buckets: Default::default(),
            duration_micros: AtomicU64::new(0),
            client_aborts: AtomicU64::new(0),
            minute_counts: std::array::from_fn(|_| AtomicU64::new(0)),
            minute_stamps: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

fn unix_minute() -> u64 {
    (trove_core::now_millis() / 60_000) as u64
}

impl Metrics {
    /// Counts one finished request; `aborted` when the client went away mid-body.
    pub fn record(&self, status: u16, elapsed: Duration, aborted: bool) {
        if aborted {
            self.client_aborts.fetch_add(1, Relaxed);
        }
        self.record_answer(status, elapsed);
    }

    fn record_answer(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Relaxed);
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.duration_micros
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
        let minute = unix_minute();
        let slot = (minute % MINUTES as u64) as usize;
        // A slot last used an hour (or more) ago starts over. Two requests racing at a minute
        // boundary may lose a count between them: fine for a plot.
        if self.minute_stamps[slot].swap(minute, Relaxed) != minute {
            self.minute_counts[slot].store(0, Relaxed);
        }
        self.minute_counts[slot].fetch_add(1, Relaxed);
    }

    /// A copy of the counters now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let by_class: Vec<(String, u64)> = self
            .by_class
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("{}xx", i + 1), c.load(Relaxed)))
            .collect();
        let mut cumulative = 0;
        let duration_buckets = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                cumulative += b.load(Relaxed);
                (BUCKETS.get(i).copied().unwrap_or(f64::INFINITY), cumulative)
            })
            .collect();
        let now = unix_minute();
        let per_minute = (0..MINUTES as u64)
            .rev()
            .map(|ago| {
                let minute = now - ago;
                let slot = (minute % MINUTES as u64) as usize;
                let count = if self.minute_stamps[slot].load(Relaxed) == minute {
                    self.minute_counts[slot].load(Relaxed)
                } else {
                    0
                };
                (minute, count)
            })
            .collect();
        MetricsSnapshot {
            uptime_seconds: self.started.elapsed().as_secs(),
            started: self.started_unix_ms,
            requests_total: by_class.iter().map(|(_, c)| c).sum(),
            by_class,
            duration_buckets,
            duration_seconds_sum: self.duration_micros.load(Relaxed) as f64 / 1e6,
            client_aborts: self.client_aborts.load(Relaxed),
            per_minute,
        }
    }
}

/// The storage lifecycle's counters since start, per task type (`gc`, `cleanup`,
/// `upload-expiry`): every run counts, dry runs apart. A node that runs no task has none.
#[derive(Default)]
pub struct LifecycleMetrics {
    inner: std::sync::Mutex<std::collections::BTreeMap<(String, bool, String), TaskCounters>>,
    gc_bytes_freed: AtomicU64,
}

/// The counters of one (task type, dry run, outcome).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TaskCounters {
    pub runs: u64,
    pub deleted: u64,
    pub bytes_freed: u64,
    pub duration_seconds_sum: f64,
}

/// A copy of [`LifecycleMetrics`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LifecycleSnapshot {
    /// Bytes real garbage collection runs removed from the blob store.
    pub gc_bytes_freed: u64,
    /// `(task type, dry run, outcome)` → counters.
    pub tasks: Vec<((String, bool, String), TaskCounters)>,
}

impl LifecycleMetrics {
    /// Counts one finished run.
    pub fn record(
        &self,
        kind: &str,
        dry_run: bool,
        ok: bool,
        deleted: u64,
        bytes_freed: u64,
        took: Duration,
    ) {
        if kind == "gc" && !dry_run {
            self.gc_bytes_freed.fetch_add(bytes_freed, Relaxed);
        }
        let outcome = if ok { "ok" } else { "failed" };
        let mut m = self.inner.lock().expect("lifecycle metrics lock");
        let c = m
            .entry((kind.to_owned(), dry_run, outcome.to_owned()))
            .or_default();
        c.runs += 1;
        c.deleted += deleted;
        c.bytes_freed += bytes_freed;
        c.duration_seconds_sum += took.as_secs_f64();
    }

    pub fn snapshot(&self) -> LifecycleSnapshot {
        let m = self.inner.lock().expect("lifecycle metrics lock");
        LifecycleSnapshot {
            gc_bytes_freed: self.gc_bytes_freed.load(Relaxed),
            tasks: m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_runs_are_counted_by_type_kind_and_outcome() {
        let m = LifecycleMetrics::default();
        m.record("gc", false, true, 3, 300, Duration::from_millis(1500));
        m.record("gc", true, true, 3, 300, Duration::from_millis(10));
        m.record("gc", false, false, 0, 0, Duration::from_millis(5));
        let s = m.snapshot();
        assert_eq!(s.gc_bytes_freed, 300, "dry runs free nothing");
        let ok = &s
            .tasks
            .iter()
            .find(|(k, _)| k == &("gc".into(), false, "ok".into()))
            .unwrap()
            .1;
        assert_eq!((ok.runs, ok.deleted, ok.bytes_freed), (1, 3, 300));
        assert!((ok.duration_seconds_sum - 1.5).abs() < 1e-9);
        assert_eq!(s.tasks.len(), 3);
    }

    #[test]
    fn counts_classes_buckets_and_minutes() {
        let m = Metrics::default();
        m.record(200, Duration::from_micros(500), false);
        m.record(404, Duration::from_millis(30), false);
        m.record(503, Duration::from_secs(9), false);
        m.record(400, Duration::from_secs(0), true);
        let s = m.snapshot();
        assert_eq!(s.requests_total, 4);
        assert_eq!(s.client_aborts, 1);
        assert_eq!(s.by_class[1], ("2xx".into(), 1));
        assert_eq!(s.by_class[3], ("4xx".into(), 2));
        assert_eq!(s.by_class[4], ("5xx".into(), 1));
        // Cumulative: 1 request within 1 ms, 2 within 50 ms, 3 in +Inf.
        assert_eq!(s.duration_buckets[0], (0.001, 2));
        assert_eq!(s.duration_buckets[5], (0.05, 3));
        assert_eq!(s.duration_buckets.last().unwrap().1, 4);
        assert!(s.duration_buckets.last().unwrap().0.is_infinite());
        assert_eq!(s.per_minute.len(), MINUTES);
        assert_eq!(s.per_minute.last().unwrap().1, 4);
        assert!((s.duration_seconds_sum - 9.0305).abs() < 1e-6);
    }
}
