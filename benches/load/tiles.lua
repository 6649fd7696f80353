-- Map viewers: uncached-or-cached point and hexagon tiles at z12–z16 over
-- Paris, drawn at random with a fixed seed.
package.path = os.getenv("LOAD_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, init, delay, done = c.setup, c.init, c.delay, c.done

local layers = { "reports", "reports", "reports,projects", "districts" }

function request()
   local lon, lat = c.point()
   local z = math.random(12, 16)
   local n = 2 ^ z
   local x = math.floor((lon + 180) / 360 * n)
   local r = math.rad(lat)
   local y = math.floor((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
   local layer = layers[math.random(#layers)]
   return wrk.format("GET", string.format("/tiles/%s/%d/%d/%d.mvt", layer, z, x, y),
      { ["Accept-Encoding"] = "gzip" })
end
