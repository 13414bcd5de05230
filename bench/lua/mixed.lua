-- A mixed load for bench/soak: each connection cycles through the requests
-- people and attackers make (tokens, introspection, API calls, the gateway,
-- wrong secrets, unknown and malformed paths, a password grant now and
-- then), and the run prints one line, "statuses: 2xx=N 4xx=N 5xx=N other=N".
-- Environment: SOAK_AUTH (Basic value), SOAK_ID, SOAK_TOKEN.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    local auth = os.getenv("SOAK_AUTH")
    local id = os.getenv("SOAK_ID")
    local token = os.getenv("SOAK_TOKEN")
    local form = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth }
    local introspect = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = auth, ["api-key"] = id }
    local bearer = { ["Authorization"] = "Bearer " .. token }
    local wrong = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = "Basic " .. "bm8tc3VjaDp3cm9uZw==" }
    local cc = wrk.format("POST", "/oauth2/token.oauth2", form, "grant_type=client_credentials&scope=locations:read")
    local pw = wrk.format("POST", "/oauth2/token.oauth2", form, "grant_type=password&username=soak&password=soak-password")
    local api = wrk.format("GET", "/locations", bearer)
    local up = wrk.format("GET", "/up/items?x=1", bearer)
    reqs = {
        cc, api, up, api,
        wrk.format("POST", "/oauth2/introspect.oauth2", introspect, "token=" .. token),
        cc, api, up,
        wrk.format("POST", "/oauth2/token.oauth2", wrong, "grant_type=client_credentials"),
        wrk.format("GET", "/no/such/route", bearer),
        wrk.format("GET", "/up/a/%2f/b", bearer),
        wrk.format("GET", "/locations", { ["Authorization"] = "Bearer not-a-token" }),
    }
    n = 0
    c2, c4, c5, other = 0, 0, 0, 0
    pw_req = pw
end

function request()
    n = n + 1
    if n % 200 == 0 then return pw_req end
    return reqs[(n % #reqs) + 1]
end

function response(status, headers, body)
    if status >= 500 then c5 = c5 + 1
    elseif status >= 400 then c4 = c4 + 1
    elseif status >= 200 and status < 300 then c2 = c2 + 1
    else other = other + 1 end
end

function done(summary, latency, requests)
    local t2, t4, t5, to = 0, 0, 0, 0
    for _, t in ipairs(threads) do
        t2 = t2 + t:get("c2"); t4 = t4 + t:get("c4"); t5 = t5 + t:get("c5"); to = to + t:get("other")
    end
    io.write(string.format("statuses: 2xx=%d 4xx=%d 5xx=%d other=%d\n", t2, t4, t5, to))
end
