-- wrk script for the soak: a mix of GET /health, status reads, sync and async invokes, with
-- a count of responses by status class printed at the end (wrk's own count lumps 429 in).
local paths = {
  {"GET", "/health", nil},
  {"GET", "/executions?limit=5", nil},
  {"POST", "/functions/echo/invoke", "soak input"},
  {"POST", "/functions/echo/invoke?mode=async", "soak async"},
  {"GET", "/functions", nil},
}
local counter = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok, limited, bad = 0, 0, 0
end

function request()
  counter = counter + 1
  local p = paths[(counter % #paths) + 1]
  return wrk.format(p[1], p[3] and p[2] or p[2], nil, p[3])
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  elseif status == 429 then
    limited = limited + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local o, l, b = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    l = l + t:get("limited")
    b = b + t:get("bad")
  end
  io.write(string.format("SOAK_COUNTS ok=%d limited=%d bad=%d p99_us=%d\n", o, l, b,
                         latency:percentile(99)))
end
