//! Quotas kept in Redis, so the limits hold across every instance. Each
//! decision is one Lua script (atomic in Redis; never read-then-write from
//! the server) running the same GCRA and day counter as the local limiter.

use redis::Script;

use super::{rejection, standing, Exceeded, Limits, Rejection, Standing, DAY_MS};
use crate::shared::SharedRedis;

/// KEYS[1] the client's key; ARGV: now µs, interval µs (0: no per-second
/// limit), tolerance µs, per-day limit (0: none), day number, key TTL ms.
/// Returns {admitted, exceeded (0, 1 per-second, 2 per-day), tat µs, count}.
const SCRIPT: &str = r#"
local v = redis.call('HMGET', KEYS[1], 'tat', 'day', 'count')
local now, interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local per_day, day = tonumber(ARGV[4]), tonumber(ARGV[5])
local tat = tonumber(v[1]) or 0
local count = tonumber(v[3]) or 0
if tonumber(v[2]) ~= day then count = 0 end
if per_day > 0 and count >= per_day then return {0, 2, tat, count} end
if interval > 0 then
  local t = math.max(tat, now)
  if t - tolerance > now then return {0, 1, tat, count} end
  tat = t + interval
end
count = count + 1
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat), 'day', string.format('%.0f', day), 'count', count)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {1, 0, tat, count}
"#;

/// What a shared decision came to.
#[derive(Debug)]
pub enum Shared {
    Decided(Result<Standing, Rejection>),
    /// Redis could not be asked.
    Unreachable,
}

#[derive(Debug)]
pub struct RedisQuotas {
    burst: u64,
    namespace: &'static str,
    script: Script,
}

impl RedisQuotas {
    pub fn new(burst: u64, namespace: &'static str) -> Self {
        Self {
            burst,
            namespace,
            script: Script::new(SCRIPT),
        }
    }

    pub async fn decide(&self, redis: &SharedRedis, key: &str, lim: Limits, now_ms: i64) -> Shared {
        if lim.is_unlimited() {
            return Shared::Decided(Ok(Standing::default()));
        }
        let Some(mut conn) = redis.conn().await else {
            return Shared::Unreachable;
        };
        let (interval, tolerance) = super::gcra(lim, self.burst).unwrap_or((0, 0));
        let day = now_ms.div_euclid(DAY_MS);
        let ttl_ms = (day + 1) * DAY_MS - now_ms + 60_000;
        let reply: Result<Vec<i64>, _> = self
            .script
            .key(format!("tollgate:quota:{}:{key}", self.namespace))
            .arg(now_ms.saturating_mul(1000))
            .arg(interval)
            .arg(tolerance)
            .arg(lim.per_day)
            .arg(day)
            .arg(ttl_ms)
            .invoke_async(&mut conn)
            .await;
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "redis quota decision failed");
                return Shared::Unreachable;
            }
        };
        let Ok([admitted, exceeded, tat, count]) = <[i64; 4]>::try_from(reply) else {
            tracing::warn!("redis quota script answered in an unexpected shape");
            return Shared::Unreachable;
        };
        let count = u64::try_from(count).unwrap_or(0);
        Shared::Decided(match (admitted, exceeded) {
            (1, _) => Ok(standing(lim, self.burst, tat, count, now_ms)),
            (_, 2) => Err(rejection(
                Exceeded::PerDay,
                lim,
                self.burst,
                tat,
                count,
                now_ms,
            )),
            _ => Err(rejection(
                Exceeded::PerSecond,
                lim,
                self.burst,
                tat,
                count,
                now_ms,
            )),
        })
    }
}
