-- One flooding client: reports as fast as it can, all from one address, so
-- that its quota refuses nearly all of them (429).
package.path = os.getenv("LOAD_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, init, done = c.setup, c.init, c.done

function request()
   local lon, lat = c.point()
   local body = string.format(
      '{"kind":"anomaly","category":"proprete","description":"Flood","lon":%.6f,"lat":%.6f,"channel":"android"}',
      lon, lat)
   return wrk.format("POST", "/api/v1/reports", {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. os.getenv("APP_KEY"),
      ["X-Forwarded-For"] = "203.0.113.66",
   }, body)
end
