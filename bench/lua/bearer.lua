-- GET with Authorization: Bearer $BENCH_TOKEN (when set).
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end

-- With BENCH_DELAY_MS, each connection waits that long before each request:
-- a paced load below the peak, since wrk has no constant-rate mode.
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if delay_ms then
    function delay() return delay_ms end
end
