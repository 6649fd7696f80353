-- One flooding client: reports as fast as it can, all from one address, so
-- that its quota refuses nearly all of them (429).
package.path = os.getenv("LOAD_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, done = c.setup, c.done

local category, subcategory

function init()
   c.init()
   category, subcategory = string.match(os.getenv("CATEGORIES") or "", "([^:;]+):([^;]+)")
end

function request()
   local lon, lat = c.point()
   local body = string.format(
      '{"kind":"anomaly","category":"%s","subcategory":"%s","description":"Flood","lon":%.6f,"lat":%.6f,"channel":"android"}',
      category, subcategory, lon, lat)
   return wrk.format("POST", "/api/v1/reports", {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. os.getenv("APP_KEY"),
      ["X-Forwarded-For"] = "203.0.113.66",
   }, body)
end
