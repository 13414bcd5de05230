-- GET with Authorization: Bearer $BENCH_TOKEN (when set).
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end

-- With BENCH_DELAY_MS, each connection pauses before each request for a
-- random whole number of milliseconds averaging that value: a paced load
-- below the peak (wrk has no constant-rate mode). The randomness keeps the
-- connections from firing in step, which would make bursts of all of them.
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if delay_ms then
    local spread = math.floor(delay_ms / 2)
    function init(args)
        math.randomseed(os.time() + math.floor(os.clock() * 1000000))
    end
    function delay()
        return math.random(delay_ms - spread, delay_ms + spread)
    end
end
