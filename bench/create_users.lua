-- wrk script for bench/report: POST /scim/v2/Users with unique user names
-- bench.user.<i>@example.com for i in [FIRST, LAST).
-- Args (after `--`): TOKEN BASE_PATH FIRST LAST THREADS MARKER
-- Thread t of T creates FIRST+t, FIRST+t+T, ... and stops itself once all of its creates have
-- answered, so a run never creates more users than asked; it then writes the file MARKER.<t>.
-- wrk itself runs until its -d, so bench/report ends it (SIGINT, by PID) once every thread has
-- written its marker. The clock is read through LuaJIT's FFI (CLOCK_MONOTONIC), because wrk's
-- own duration includes that wait. done() prints one line for bench/report:
--   created=N failed=M first_s=.. last_s=.. p99_ms=..

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local token = args[1]
  base = args[2]
  local first = tonumber(args[3])
  last = tonumber(args[4])
  step = tonumber(args[5])
  marker = args[6]
  marked = false
  idx = first + tid
  share = 0
  if last > idx then share = math.floor((last - idx + step - 1) / step) end
  created, failed, answered = 0, 0, 0
  t_first, t_last = 0, 0
  -- wrk calls request() once in thread 0 right after init() only to check the request's syntax
  -- (script_verify_request) and discards it; that call must not use up a user name.
  verify_pending = (tid == 0)
  headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/scim+json",
    ["Accept"] = "application/scim+json",
  }
end

local function body_for(i)
  local name = string.format("bench.user.%d@example.com", i)
  return string.format(
    '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s",' ..
    '"externalId":"ext-%d","name":{"givenName":"Bench","familyName":"User%d"},' ..
    '"displayName":"Bench User %d","emails":[{"value":"%s","type":"work","primary":true}],' ..
    '"active":true}', name, i, i, i, name)
end

function request()
  if verify_pending then
    verify_pending = false
    return wrk.format("GET", "/healthz", {}, nil)
  end
  if idx < last then
    if t_first == 0 then t_first = now() end
    local i = idx
    idx = idx + step
    return wrk.format("POST", base .. "/Users", headers, body_for(i))
  end
  -- This thread's share is sent: keep the connection busy with a cheap probe until the
  -- outstanding creates have answered and response() stops the thread.
  return wrk.format("GET", "/healthz", {}, nil)
end

function response(status, hdrs, body)
  -- 200 is the /healthz probe (a create answers 201, or an error status).
  if status ~= 200 and answered < share then
    answered = answered + 1
    if status == 201 then
      created = created + 1
    else
      failed = failed + 1
      if failed <= 3 then
        io.stderr:write(string.format("create failed: %d %s\n", status, string.sub(body or "", 1, 300)))
      end
    end
    t_last = now()
  end
  if answered >= share then
    if marker and not marked then
      marked = true
      local f = io.open(marker .. "." .. tid, "w")
      if f then f:close() end
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local c, f, t0, t1 = 0, 0, math.huge, 0
  for _, t in ipairs(threads) do
    c = c + (t:get("created") or 0)
    f = f + (t:get("failed") or 0)
    local a, b = t:get("t_first") or 0, t:get("t_last") or 0
    if a > 0 and a < t0 then t0 = a end
    if b > t1 then t1 = b end
  end
  if t0 == math.huge then t0 = 0 end
  io.write(string.format("created=%d failed=%d first_s=%.6f last_s=%.6f p99_ms=%.2f\n",
    c, f, t0, t1, latency:percentile(99.0) / 1000))
end
