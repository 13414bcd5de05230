//! Quotas kept in Redis, so the limits hold across every instance. Each
//! decision is one Lua script (atomic in Redis; never read-then-write from
//! the server) running the same GCRA and day counter as the local limiter.

use redis::Script;

use super::{rejection, standing, Exceeded, Limits, Rejection, Standing};
use crate::shared::SharedRedis;

/// KEYS[1] the client's key; ARGV: interval µs (0: no per-second limit),
/// tolerance µs, per-day limit (0: none), 1 to only read where the client
/// stands (nothing is counted or written). Time is Redis's own (`TIME`), so
/// every instance decides on one clock, and a decision that reaches Redis
/// late cannot carry an old "now" that makes later ones look early.
/// Returns {admitted, exceeded (0, 1 per-second, 2 per-day), tat µs, count, now µs}.
const SCRIPT: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local day = math.floor(now / 86400000000)
local ttl = math.floor(((day + 1) * 86400000000 - now) / 1000) + 60000
local v = redis.call('HMGET', KEYS[1], 'tat', 'day', 'count')
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local per_day = tonumber(ARGV[3])
local tat = tonumber(v[1]) or 0
local count = tonumber(v[3]) or 0
if tonumber(v[2]) ~= day then count = 0 end
if ARGV[4] == '1' then return {1, 0, tat, count, now} end
if per_day > 0 and count >= per_day then return {0, 2, tat, count, now} end
if interval > 0 then
  local next = math.max(tat, now)
  if next - tolerance > now then return {0, 1, tat, count, now} end
  tat = next + interval
end
count = count + 1
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat), 'day', string.format('%.0f', day), 'count', count)
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, 0, tat, count, now}
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

    pub async fn decide(&self, redis: &SharedRedis, key: &str, lim: Limits) -> Shared {
        self.run(redis, key, lim, false).await
    }

    /// Where `key` stands, without counting a request.
    pub async fn peek(&self, redis: &SharedRedis, key: &str, lim: Limits) -> Shared {
        self.run(redis, key, lim, true).await
    }

    async fn run(&self, redis: &SharedRedis, key: &str, lim: Limits, peek: bool) -> Shared {
        if lim.is_unlimited() {
            return Shared::Decided(Ok(Standing::default()));
        }
        let Some(mut conn) = redis.conn() else {
            return Shared::Unreachable;
        };
        let (interval, tolerance) = super::gcra(lim, self.burst).unwrap_or((0, 0));
        let reply: Result<Vec<i64>, _> = self
            .script
            .key(format!("tollgate:quota:{}:{key}", self.namespace))
            .arg(interval)
            .arg(tolerance)
            .arg(lim.per_day)
            .arg(u8::from(peek))
            .invoke_async(&mut conn)
            .await;
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                redis.failed(&e);
                return Shared::Unreachable;
            }
        };
        let Ok([admitted, exceeded, tat, count, now_us]) = <[i64; 5]>::try_from(reply) else {
            tracing::warn!("redis quota script answered in an unexpected shape");
            return Shared::Unreachable;
        };
        let count = u64::try_from(count).unwrap_or(0);
        let now_ms = now_us / 1000;
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
