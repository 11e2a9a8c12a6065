-- wrk script for bench/report: one kind of SCIM request, repeated.
-- Args (after `--`): TOKEN BASE_PATH MODE DATA [check]
--   MODE filter-hit   GET /Users?filter=userName eq "<a stored name>"   (DATA: ids file)
--        filter-miss  GET /Users?filter=userName eq "<a name nobody has>"
--        get          GET /Users/<id>                                    (DATA: ids file)
--        put          PUT /Users/<id>, the seeded body with a new displayName (DATA: ids file)
--        patch        PATCH /Users/<id>, replace displayName            (DATA: ids file)
--        group        GET /Groups/<id>                                   (DATA: the group id)
--        group-lean   GET /Groups/<id>?excludedAttributes=members        (DATA: the group id)
--   The ids file has one "ID USERNAME" line per stored user (bench/report writes it).
-- With `check`, every answer is checked (status, and for reads the body: one result for a hit,
-- none for a miss, members present or absent); the measured run leaves response() undefined so
-- that wrk does not hand bodies to Lua. PUT and PATCH change the displayName on every request
-- (a counter), so that no write is a no-op.
-- done() prints one line for bench/report:
--   requests=N duration_s=D rps=R p50_ms=.. p99_ms=.. max_ms=.. errors=E mismatches=M

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function expect(status, body)
  if mode == "put" or mode == "patch" then
    return status == 200 or status == 204
  end
  if status ~= 200 then return false end
  if mode == "filter-hit" then return string.find(body, '"totalResults"%s*:%s*1[,}%s]') ~= nil end
  if mode == "filter-miss" then return string.find(body, '"totalResults"%s*:%s*0[,}%s]') ~= nil end
  if mode == "get" then return string.find(body, '"userName"', 1, true) ~= nil end
  if mode == "group" then return string.find(body, '"members"', 1, true) ~= nil end
  if mode == "group-lean" then return string.find(body, '"members"', 1, true) == nil end
  return false
end

function init(args)
  local token = args[1]
  base = args[2]
  mode = args[3]
  local data = args[4]
  math.randomseed(12345 + tid * 7919)
  read_headers = { ["Authorization"] = "Bearer " .. token, ["Accept"] = "application/scim+json" }
  write_headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Accept"] = "application/scim+json",
    ["Content-Type"] = "application/scim+json",
  }
  users = {}
  if mode ~= "filter-miss" and mode ~= "group" and mode ~= "group-lean" then
    for line in io.lines(data) do
      local id, name = string.match(line, "^(%S+) (%S+)$")
      if id then users[#users + 1] = { id, name, tonumber(string.match(name, "%.(%d+)@")) or 0 } end
    end
    if #users == 0 then error("no users in " .. data) end
  end
  -- Reads cycle through 4,096 requests built here; writes build each body in request().
  reqs = {}
  for i = 1, 4096 do
    local u = users[math.random(1, math.max(#users, 1))]
    if mode == "filter-hit" then
      reqs[i] = wrk.format("GET", string.format("%s/Users?filter=userName%%20eq%%20%%22%s%%22", base,
        string.gsub(u[2], "@", "%%40")), read_headers, nil)
    elseif mode == "filter-miss" then
      reqs[i] = wrk.format("GET", string.format(
        "%s/Users?filter=userName%%20eq%%20%%22bench.absent.%d.%d%%40example.com%%22", base, tid,
        math.random(0, 999999999)), read_headers, nil)
    elseif mode == "get" then
      reqs[i] = wrk.format("GET", base .. "/Users/" .. u[1], read_headers, nil)
    elseif mode == "group" then
      reqs[i] = wrk.format("GET", base .. "/Groups/" .. data, read_headers, nil)
    elseif mode == "group-lean" then
      reqs[i] = wrk.format("GET", base .. "/Groups/" .. data .. "?excludedAttributes=members", read_headers, nil)
    end
  end
  pos = 0
  n = 0
  mismatches = 0
  if args[5] == "check" then
    response = function(status, hdrs, body)
      if not expect(status, body or "") then
        mismatches = mismatches + 1
        if mismatches <= 3 then
          io.stderr:write("unexpected response: " .. status .. " " .. string.sub(body or "", 1, 300) .. "\n")
        end
      end
    end
  end
end

local function put_body(u, label)
  local i = u[3]
  return string.format(
    '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"%s",' ..
    '"externalId":"ext-%d","name":{"givenName":"Bench","familyName":"User%d"},' ..
    '"displayName":"%s","emails":[{"value":"%s","type":"work","primary":true}],' ..
    '"active":true}', u[2], i, i, label, u[2])
end

function request()
  if mode == "put" or mode == "patch" then
    n = n + 1
    local u = users[math.random(1, #users)]
    local label = string.format("Bench User %d v%d.%d", u[3], tid, n)
    if mode == "put" then
      return wrk.format("PUT", base .. "/Users/" .. u[1], write_headers, put_body(u, label))
    end
    return wrk.format("PATCH", base .. "/Users/" .. u[1], write_headers, string.format(
      '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],' ..
      '"Operations":[{"op":"replace","path":"displayName","value":"%s"}]}', label))
  end
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
