-- wrk script for bench/scim.sh: GET /scim/v2/Users?filter=userName eq "<existing name>",
-- percent-encoded, cycling through pre-generated random names among the seeded users.
-- Args (after `--`): TOKEN BASE_PATH USERS [CHECK]
-- With CHECK=check, every response body is checked for exactly one result (a validation run;
-- the measured run leaves response() undefined so that wrk does not hand bodies to Lua).
-- done() prints one line: requests=N duration_s=D rps=R p50_ms=.. p99_ms=.. errors=E mismatches=M

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local token = args[1]
  local base = args[2]
  local users = tonumber(args[3])
  math.randomseed(12345 + tid * 7919)
  local headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/scim+json" }
  reqs = {}
  for i = 1, 4096 do
    local n = math.random(0, users - 1)
    local path = string.format(
      "%s/Users?filter=userName%%20eq%%20%%22bench.user.%d%%40example.com%%22", base, n)
    reqs[i] = wrk.format("GET", path, headers, nil)
  end
  pos = 0
  mismatches = 0
  if args[4] == "check" then
    response = function(status, hdrs, body)
      if status ~= 200 or not string.find(body, '"totalResults"%s*:%s*1[,}%s]') then
        mismatches = mismatches + 1
        if mismatches <= 3 then io.stderr:write("unexpected response: " .. status .. " " .. string.sub(body or "", 1, 300) .. "\n") end
      end
    end
  end
end

function request()
  pos = pos % #reqs + 1
  return reqs[pos]
end

function done(summary, latency, requests)
  local m = 0
  for _, t in ipairs(threads) do m = m + (t:get("mismatches") or 0) end
  local e = summary.errors
  local dur = summary.duration / 1e6
  io.write(string.format(
    "requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%d mismatches=%d\n",
    summary.requests, dur, summary.requests / dur, latency:percentile(50.0) / 1000,
    latency:percentile(99.0) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.status + e.timeout, m))
end
