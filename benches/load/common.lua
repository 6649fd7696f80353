-- Shared by the load scripts of benches/load.sh (wrk's Lua API): a fixed
-- seed per thread, pacing, and one machine-readable result line.
--
-- Environment: SEED (random seed), DELAY_MS (pause of each connection
-- between two requests: rate = connections * 1000 / DELAY_MS), NAME (label).

local M = {}
local threads = {}
local counter = 0

function M.setup(thread)
   thread:set("thread_no", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function M.init()
   math.randomseed(tonumber(os.getenv("SEED") or "42") * 1000 + thread_no)
end

function M.delay()
   return tonumber(os.getenv("DELAY_MS") or "0")
end

-- A point in Paris (its bounding box, a little inside).
function M.point()
   return 2.255 + math.random() * 0.16, 48.818 + math.random() * 0.08
end

function M.done(summary, latency)
   local errors = summary.errors
   io.write(string.format(
      "RESULT %s requests=%d seconds=%.1f rate=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d\n",
      os.getenv("NAME") or "load", summary.requests, summary.duration / 1e6,
      summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, errors.status,
      errors.connect + errors.read + errors.write + errors.timeout))
end

return M
