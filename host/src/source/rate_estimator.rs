//! Backpressure: Spark Streaming's PID rate estimator
//! (`org.apache.spark.streaming.scheduler.rate.PIDRateEstimator`), which
//! sets the rate a receiver may take in from how fast the batches were
//! processed, so that a source never takes in more than the pipeline can
//! process in a batch interval and batches do not fall further behind.
//!
//! After each batch, with `n` records processed in `p` ms and a scheduling
//! delay of `s` ms: the processing rate is `n / p`; the error is the last
//! rate minus the processing rate; the *historical error* is the backlog
//! the scheduling delay stands for, `s × rate / interval`; and the new rate
//! is `last − kp·error − ki·historical − kd·d(error)/dt`, at least the
//! minimum rate. Spark's defaults: `kp = 1`, `ki = 0.2`, `kd = 0`, minimum
//! 100 records a second.

use std::time::Duration;

/// Spark's `spark.streaming.backpressure.pid.proportional`.
pub const PROPORTIONAL: f64 = 1.0;
/// Spark's `…pid.integral`.
pub const INTEGRAL: f64 = 0.2;
/// Spark's `…pid.derived`.
pub const DERIVATIVE: f64 = 0.0;
/// Spark's `…pid.minRate`: records a second.
pub const MIN_RATE: f64 = 100.0;

/// The estimator's memory between batches.
#[derive(Debug)]
pub struct RateEstimator {
    interval: Duration,
    first: bool,
    latest_time: i64,
    latest_rate: f64,
    latest_error: f64,
}

impl RateEstimator {
    /// An estimator for batches every `interval`.
    pub fn new(interval: Duration) -> Self {
        RateEstimator {
            interval,
            first: true,
            latest_time: -1,
            latest_rate: -1.0,
            latest_error: -1.0,
        }
    }

    /// The rate (records a second) to take in after the batch at `time`
    /// (ms) that processed `records` in `processing` and waited
    /// `scheduling` to start; `None` when there is nothing to learn from
    /// it (an empty batch, the first one).
    pub fn compute(
        &mut self,
        time: i64,
        records: u64,
        processing: Duration,
        scheduling: Duration,
    ) -> Option<f64> {
        let processing_ms = processing.as_secs_f64() * 1000.0;
        if time <= self.latest_time || records == 0 || processing_ms <= 0.0 {
            return None;
        }
        let since_update = (time - self.latest_time) as f64 / 1000.0;
        let processing_rate = records as f64 / processing_ms * 1000.0;
        let error = self.latest_rate - processing_rate;
        let interval_ms = (self.interval.as_secs_f64() * 1000.0).max(1.0);
        let historical_error = scheduling.as_secs_f64() * 1000.0 * processing_rate / interval_ms;
        let d_error = (error - self.latest_error) / since_update;
        let new_rate = (self.latest_rate
            - PROPORTIONAL * error
            - INTEGRAL * historical_error
            - DERIVATIVE * d_error)
            .max(MIN_RATE);
        self.latest_time = time;
        if self.first {
            self.latest_rate = processing_rate;
            self.latest_error = 0.0;
            self.first = false;
            return None;
        }
        self.latest_rate = new_rate;
        self.latest_error = error;
        Some(new_rate)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RateEstimator;

    #[test]
    fn the_rate_follows_the_processing_rate_and_falls_with_a_backlog() {
        let mut estimator = RateEstimator::new(Duration::from_secs(1));
        let ms = Duration::from_millis;
        // The first batch only sets the processing rate: 10 000 records/s.
        assert_eq!(estimator.compute(1000, 10_000, ms(1000), ms(0)), None);
        // Steady at that rate, no delay: the rate stays.
        let rate = estimator.compute(2000, 10_000, ms(1000), ms(0)).unwrap();
        assert!((rate - 10_000.0).abs() < 1e-6, "{rate}");
        // Processing halves (5 000/s) and batches wait 1 s: proportional
        // (10 000 - 5 000) and integral (0.2 × 1 000 ms × 5 000/s / 1 000 ms)
        // terms: 10 000 - 5 000 - 1 000.
        let rate = estimator.compute(3000, 5_000, ms(1000), ms(1000)).unwrap();
        assert!((rate - 4_000.0).abs() < 1e-6, "{rate}");
        // Empty batches and stale times teach nothing.
        assert_eq!(estimator.compute(4000, 0, ms(10), ms(0)), None);
        assert_eq!(estimator.compute(3000, 10, ms(10), ms(0)), None);
        // Never below the minimum.
        let rate = estimator.compute(5000, 1, ms(10_000), ms(100_000)).unwrap();
        assert_eq!(rate, super::MIN_RATE);
    }
}
