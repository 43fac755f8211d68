//! What each plugin call cost — attempts, failures, linear memory at its
//! peak, fuel when metered — gathered per call site while a batch runs, for
//! the web UI's batch detail.
//!
//! Every call records itself here when it ends ([`CostBook::record`]), the
//! executor takes a site's costs right after the call and its retries
//! ([`CostBook::take`]), and the scheduler forgets what nobody took when its
//! batch ends ([`CostBook::forget_batch`]), so the book only ever holds the
//! calls of the batches under way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::error::{CallSite, Phase};
use crate::time::BatchTime;

/// What the calls at one site cost, over their attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallCosts {
    /// Calls made (1 + retries).
    pub attempts: u32,
    /// Calls that failed.
    pub failures: u32,
    /// The most linear memory one of them held, in bytes.
    pub memory_peak: u64,
    /// Fuel they burnt, when fuel is metered.
    pub fuel: Option<u64>,
}

/// One call's cost.
#[derive(Clone, Copy, Debug)]
pub struct CallCost {
    /// Whether it failed.
    pub failed: bool,
    /// The most linear memory it held, in bytes.
    pub memory_peak: u64,
    /// Fuel it burnt, when fuel is metered.
    pub fuel: Option<u64>,
}

/// Where a call was made.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct SiteKey {
    batch_time: i64,
    stream: String,
    partition: usize,
    phase: Phase,
    shadow: bool,
}

impl SiteKey {
    fn of(site: &CallSite) -> Self {
        SiteKey {
            batch_time: site.batch_time.0,
            stream: site.stream.clone(),
            partition: site.partition,
            phase: site.phase,
            shadow: site.shadow,
        }
    }
}

/// The costs of the calls under way, by site.
#[derive(Default)]
pub struct CostBook {
    /// Whether anyone reads them (the web UI runs); off by default.
    enabled: AtomicBool,
    sites: Mutex<HashMap<SiteKey, CallCosts>>,
}

impl CostBook {
    /// Starts (or stops) keeping costs.
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Adds one call's cost to its site's (when costs are kept).
    pub fn record(&self, site: &CallSite, cost: CallCost) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let mut sites = self.sites.lock().unwrap_or_else(PoisonError::into_inner);
        let costs = sites.entry(SiteKey::of(site)).or_default();
        costs.attempts += 1;
        costs.failures += u32::from(cost.failed);
        costs.memory_peak = costs.memory_peak.max(cost.memory_peak);
        costs.fuel = match (costs.fuel, cost.fuel) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        };
    }

    /// The costs of the calls at `site` (every attempt, not the shadow's),
    /// removed from the book; zero when none was made.
    pub fn take(&self, site: &CallSite) -> CallCosts {
        self.sites
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&SiteKey::of(site))
            .unwrap_or_default()
    }

    /// Drops what is left of batch `batch_time`'s calls.
    pub fn forget_batch(&self, batch_time: BatchTime) {
        self.sites
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|key, _| key.batch_time != batch_time.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(partition: usize, attempt: u32) -> CallSite {
        CallSite {
            pipeline: "p".into(),
            stream: "words".into(),
            plugin: "split".into(),
            hash: "ab".into(),
            batch_time: BatchTime(1_000),
            partition,
            phase: Phase::Only,
            shadow: false,
            attempt,
        }
    }

    #[test]
    fn attempts_add_up_per_site_and_are_taken_once() {
        let book = CostBook::default();
        book.set_enabled(true);
        let failed = CallCost {
            failed: true,
            memory_peak: 2 << 20,
            fuel: Some(10),
        };
        let ok = CallCost {
            failed: false,
            memory_peak: 1 << 20,
            fuel: Some(5),
        };
        book.record(&site(0, 1), failed);
        book.record(&site(0, 2), ok);
        book.record(&site(1, 1), ok);
        assert_eq!(
            book.take(&site(0, 1)),
            CallCosts {
                attempts: 2,
                failures: 1,
                memory_peak: 2 << 20,
                fuel: Some(15),
            }
        );
        assert_eq!(book.take(&site(0, 1)), CallCosts::default());
        book.forget_batch(BatchTime(1_000));
        assert_eq!(book.take(&site(1, 1)), CallCosts::default());
    }
}
