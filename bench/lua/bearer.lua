-- GET with Authorization: Bearer $BENCH_TOKEN (when set).
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
