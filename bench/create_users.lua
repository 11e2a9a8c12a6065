-- wrk script: POST /scim/v2/Users with unique user names bench.user.<i>@example.com.
-- Args (after `--`): TOKEN BASE_PATH FIRST_INDEX LAST_INDEX_EXCLUSIVE
-- Thread t of T creates the indices FIRST+t, FIRST+t+T, ... below LAST; once its share is done
-- it stops itself, so the run never creates more users than asked. done() prints one line
-- `created=N failed=M duration_s=D` for bench/scim.sh to parse.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  base = args[2]
  first = tonumber(args[3])
  last = tonumber(args[4])
  nthreads = next_id_total or 0
  idx = first + tid
  created = 0
  failed = 0
  sent_last = false
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
  if idx < last then
    local i = idx
    idx = idx + step
    return wrk.format("POST", base .. "/Users", headers, body_for(i))
  end
  -- This thread's share is sent; keep the connection busy with a cheap probe until the
  -- outstanding creates have answered and response() stops the thread.
  return wrk.format("GET", "/healthz", nil, nil)
end

function response(status, hdrs, body)
  if status == 201 then
    created = created + 1
  elseif status ~= 200 then
    failed = failed + 1
  end
  if idx >= last and (created + failed) >= share then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local c, f = 0, 0
  for _, t in ipairs(threads) do
    c = c + (t:get("created") or 0)
    f = f + (t:get("failed") or 0)
  end
  io.write(string.format("created=%d failed=%d duration_s=%.3f p99_ms=%.2f\n",
    c, f, summary.duration / 1e6, latency:percentile(99.0) / 1000))
end
