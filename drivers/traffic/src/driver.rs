//! The load loop: one request every `1/rate` seconds for the duration, at most `concurrency`
//! in flight, results folded into the current period's window and the run's total.
//!
//! The schedule is open-loop: a slow target does not slow the sender down. When every slot is
//! busy, the due request is *skipped* (and counted) rather than queued, so a stall never turns
//! into a burst afterwards; the same holds when the process itself falls behind.
//!
//! The driver takes the request as a closure, so the loop is tested on tokio's paused clock
//! with no network; the binary passes [`crate::client::Client::send`].

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::{Instant, MissedTickBehavior};

use crate::stats::{RequestOutcome, Window};

/// What the driver reports while it runs.
#[derive(Debug)]
pub enum Event<'a> {
    /// Every refresh interval: the current period so far and the run so far.
    Progress {
        /// 0-based index of the current period.
        index: u64,
        /// This period's results so far.
        period: &'a Window,
        /// Time into this period.
        period_elapsed: Duration,
        /// The whole run's results so far.
        total: &'a Window,
        /// Time since the start.
        elapsed: Duration,
    },
    /// A period closed: its results. The last one closes when the last answer is in (so it
    /// may be shorter, or longer by up to a timeout); it is sent if it saw any request, or if
    /// no period closed before.
    Period {
        /// 0-based.
        index: u64,
        /// The period's results.
        window: Window,
        /// How long it lasted.
        length: Duration,
        /// The whole run's results so far.
        total: &'a Window,
    },
}

/// How a run went, beyond its windows.
#[derive(Debug, Clone)]
pub struct Run {
    /// Every request's result.
    pub total: Window,
    /// Requests started.
    pub sent: u64,
    /// Requests due but not sent (all slots busy, or the loop fell behind).
    pub skipped: u64,
    /// Time spent sending (the duration, or less if nothing was due after the last send).
    pub sending: Duration,
    /// Sending plus waiting for the last answers.
    pub elapsed: Duration,
}

/// Rate, concurrency and timing of a run.
#[derive(Debug, Clone)]
pub struct Driver {
    /// Requests per second.
    pub rate: f64,
    /// In flight at most.
    pub concurrency: usize,
    /// Sending time.
    pub duration: Duration,
    /// Period length.
    pub period: Duration,
    /// How often to send [`Event::Progress`]; `None` for never.
    pub refresh: Option<Duration>,
}

#[derive(Default)]
struct Shared {
    period: Window,
    total: Window,
}

impl Driver {
    /// Runs to the end: sends for the duration, then waits for the requests in flight (each
    /// ends within its own timeout), reporting to `observe` along the way.
    pub async fn run<F, Fut>(&self, send: F, mut observe: impl FnMut(Event<'_>)) -> Run
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = RequestOutcome> + Send + 'static,
    {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let start = Instant::now();
        let send = Arc::new(send);

        let work = {
            let (shared, slots) = (shared.clone(), slots.clone());
            let this = self.clone();
            async move {
                let (sent, skipped, sending) = this.send_loop(start, send, shared, &slots).await;
                // Every slot back means every request has ended.
                let _all = slots.acquire_many(this.concurrency as u32).await;
                (sent, skipped, sending)
            }
        };
        tokio::pin!(work);

        let mut periods = tokio::time::interval_at(start + self.period, self.period);
        periods.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let far = Duration::from_secs(86_400 * 365);
        let mut refresh = tokio::time::interval_at(
            start + self.refresh.unwrap_or(far),
            self.refresh.unwrap_or(far),
        );
        refresh.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut index = 0;
        let mut period_start = start;
        let sending_end = start + self.duration;

        let (sent, skipped, sending) = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = periods.tick() => {
                    let now = Instant::now();
                    if now >= sending_end {
                        // Sending is over: the period closes when the last answers are in,
                        // not at the tick, which would leave them a sliver of a period.
                        continue;
                    }
                    let mut s = shared.lock().unwrap();
                    let window = std::mem::take(&mut s.period);
                    observe(Event::Period { index, window, length: now - period_start, total: &s.total });
                    index += 1;
                    period_start = now;
                }
                _ = refresh.tick(), if self.refresh.is_some() => {
                    let now = Instant::now();
                    let s = shared.lock().unwrap();
                    observe(Event::Progress {
                        index,
                        period: &s.period,
                        period_elapsed: now - period_start,
                        total: &s.total,
                        elapsed: now - start,
                    });
                }
            }
        };

        let end = Instant::now();
        let mut s = shared.lock().unwrap();
        if s.period.requests > 0 || index == 0 {
            let window = std::mem::take(&mut s.period);
            observe(Event::Period {
                index,
                window,
                length: end - period_start,
                total: &s.total,
            });
        }
        Run {
            total: s.total.clone(),
            sent,
            skipped,
            sending,
            elapsed: end - start,
        }
    }

    async fn send_loop<F, Fut>(
        &self,
        start: Instant,
        send: Arc<F>,
        shared: Arc<Mutex<Shared>>,
        slots: &Arc<Semaphore>,
    ) -> (u64, u64, Duration)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = RequestOutcome> + Send + 'static,
    {
        let interval = Duration::from_secs_f64(1.0 / self.rate);
        let end = start + self.duration;
        // Timers fire late by up to a millisecond or so; only a real stall counts as behind.
        let lag = (interval * 2).max(Duration::from_millis(50));
        let (mut sent, mut skipped) = (0u64, 0u64);
        let mut due = start;
        let mut last = start;
        while due < end {
            tokio::time::sleep_until(due).await;
            match slots.clone().try_acquire_owned() {
                Ok(slot) => {
                    let (send, shared) = (send.clone(), shared.clone());
                    tokio::spawn(async move {
                        let outcome = send().await;
                        let mut s = shared.lock().unwrap();
                        s.period.record(outcome);
                        s.total.record(outcome);
                        drop(slot);
                    });
                    sent += 1;
                }
                Err(_) => skipped += 1,
            }
            last = due;
            due += interval;
            let now = Instant::now();
            if now > due + lag {
                let behind = ((now - due).as_secs_f64() * self.rate).floor() as u64;
                skipped += behind;
                due += interval.mul_f64(behind as f64);
            }
        }
        // Sending time: up to the end of the last request's slot in the schedule.
        let sending = ((last + interval).min(end) - start).max(interval.min(self.duration));
        (sent, skipped, sending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_after(
        ms: u64,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = RequestOutcome> + Send>> {
        move || {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                RequestOutcome::Status {
                    code: 200,
                    ok: true,
                    latency: Duration::from_millis(ms),
                }
            })
        }
    }

    fn driver(rate: f64, concurrency: usize, secs: u64, period: u64) -> Driver {
        Driver {
            rate,
            concurrency,
            duration: Duration::from_secs(secs),
            period: Duration::from_secs(period),
            refresh: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn sends_rate_times_duration_and_closes_every_period() {
        let mut periods = vec![];
        let run = driver(20.0, 4, 3, 1)
            .run(ok_after(10), |e| {
                if let Event::Period { index, window, .. } = e {
                    periods.push((index, window.requests));
                }
            })
            .await;
        assert_eq!((run.sent, run.skipped), (60, 0));
        assert_eq!(run.total.requests, 60);
        assert_eq!(run.total.success_rate(), Some(100.0));
        assert_eq!(periods, vec![(0, 20), (1, 20), (2, 20)]);
        assert_eq!(run.sending, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn answers_arriving_after_the_last_tick_join_the_last_period() {
        // Regression: a request sent just before the end answered after the period tick and
        // was published alone as a third, 1-request "period" with an absurd rate.
        let mut periods = vec![];
        let run = driver(10.0, 4, 2, 1)
            .run(ok_after(150), |e| {
                if let Event::Period { index, window, .. } = e {
                    periods.push((index, window.requests));
                }
            })
            .await;
        assert_eq!(run.total.requests, 20);
        assert_eq!(periods, vec![(0, 9), (1, 11)]);
    }

    #[tokio::test(start_paused = true)]
    async fn busy_slots_skip_instead_of_queueing() {
        // 10 req/s into a target that takes 250ms, with one slot: every 3rd can go.
        let run = driver(10.0, 1, 3, 60).run(ok_after(250), |_| {}).await;
        assert_eq!(run.sent + run.skipped, 30);
        assert_eq!(run.sent, 10);
        assert_eq!(run.total.requests, 10, "the last request was awaited");
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_run_still_reports_one_period_and_progress_when_asked() {
        let (mut periods, mut progress) = (0, 0);
        let d = Driver {
            refresh: Some(Duration::from_millis(100)),
            ..driver(2.0, 2, 1, 60)
        };
        let run = d
            .run(ok_after(1), |e| match e {
                Event::Period { window, .. } => {
                    periods += 1;
                    assert_eq!(window.requests, 2);
                }
                Event::Progress { .. } => progress += 1,
            })
            .await;
        assert_eq!((run.sent, periods), (2, 1));
        assert!(progress >= 5, "{progress}");
    }
}
