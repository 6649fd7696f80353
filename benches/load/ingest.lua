-- Residents' apps: new reports at random points of Paris, each from its own
-- address (X-Forwarded-For, the server trusting the load balancer on
-- 127.0.0.1), with a unique client id per request.
package.path = os.getenv("LOAD_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, done, delay = c.setup, c.done, c.delay

local sent = 0
local categories = {}

function init()
   c.init()
   for pair in string.gmatch(os.getenv("CATEGORIES") or "", "[^;]+") do
      local cat, sub = string.match(pair, "([^:]+):(.+)")
      table.insert(categories, { cat, sub })
   end
end

function request()
   sent = sent + 1
   local lon, lat = c.point()
   local pick = categories[math.random(#categories)]
   local body = string.format(
      '{"kind":"anomaly","category":"%s","subcategory":"%s","description":"Charge","lon":%.6f,"lat":%.6f,"client_id":"load-%s-%d-%d-%d","channel":"android"}',
      pick[1], pick[2], lon, lat, os.getenv("SEED") or "42", thread_no, sent, math.random(1e9))
   return wrk.format("POST", "/api/v1/reports", {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. os.getenv("APP_KEY"),
      ["X-Forwarded-For"] = string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255), math.random(1, 254)),
   }, body)
end
