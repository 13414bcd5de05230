//! One endpoint's quota as the handlers ask it: "may this client make one
//! more request?" Decided in Redis when configured (shared by every
//! instance), else in this process; while Redis is unreachable,
//! `quota_fail_mode` decides. Refusals are counted in the metrics.

use std::sync::Arc;

use super::redis::{RedisQuotas, Shared};
use super::{Limits, Quotas, Rejection, Standing};
use crate::clock::Clock;
use crate::config::{QuotaConfig, QuotaFailMode};
use crate::metrics::Metrics;
use crate::shared::SharedRedis;

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Over a limit.
    Exceeded(Rejection),
    /// Redis is unreachable and `quota_fail_mode` is `closed`.
    Unreachable,
}

/// The quota of one endpoint (`api` or `token`): every client's counters.
#[derive(Debug)]
pub struct Quota {
    endpoint: &'static str,
    local: Quotas,
    shared: RedisQuotas,
    redis: Option<Arc<SharedRedis>>,
    fail_mode: QuotaFailMode,
    clock: Clock,
    metrics: Arc<Metrics>,
}

impl Quota {
    /// `endpoint` names it in metrics and Redis keys.
    pub fn new(
        endpoint: &'static str,
        config: &QuotaConfig,
        fail_mode: QuotaFailMode,
        redis: Option<Arc<SharedRedis>>,
        clock: Clock,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            endpoint,
            local: Quotas::new(config.burst),
            shared: RedisQuotas::new(config.burst, endpoint),
            redis,
            fail_mode,
            clock,
            metrics,
        }
    }

    /// Counts one request of `client_id` against `limits`.
    pub async fn admit(&self, client_id: &str, limits: Limits) -> Result<Standing, Refusal> {
        let decision = match &self.redis {
            None => self.local.decide(client_id, limits, self.clock.now_ms()),
            Some(redis) => match self.shared.decide(redis, client_id, limits).await {
                Shared::Decided(d) => d,
                Shared::Unreachable => return self.unreachable(),
            },
        };
        decision.map_err(|rejection| {
            let limit = rejection.exceeded.as_str();
            self.metrics.quota_rejected(self.endpoint, limit);
            Refusal::Exceeded(rejection)
        })
    }

    /// Where `client_id` stands against `limits`, without counting a
    /// request; `None` while Redis is unreachable.
    pub async fn peek(&self, client_id: &str, limits: Limits) -> Option<Standing> {
        match &self.redis {
            None => Some(self.local.peek(client_id, limits, self.clock.now_ms())),
            Some(redis) => match self.shared.peek(redis, client_id, limits).await {
                Shared::Decided(d) => d.ok(),
                Shared::Unreachable => None,
            },
        }
    }

    fn unreachable(&self) -> Result<Standing, Refusal> {
        self.metrics.quota_store_error();
        match self.fail_mode {
            QuotaFailMode::Open => {
                tracing::warn!("quota store unreachable: admitting (quota_fail_mode = open)");
                Ok(Standing::default())
            }
            QuotaFailMode::Closed => Err(Refusal::Unreachable),
        }
    }
}
