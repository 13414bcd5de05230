-- POST a form body with optional Basic and api-key headers, from the environment:
-- BENCH_BODY, BENCH_AUTH (full Authorization value), BENCH_API_KEY.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or ""
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
local key = os.getenv("BENCH_API_KEY")
if key and key ~= "" then wrk.headers["api-key"] = key end
