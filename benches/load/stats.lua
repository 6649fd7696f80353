-- Analysts: per-district statistics, hexagon counts, series and equity,
-- with an analyst key (no per-address quota, unsuppressed counts).
package.path = os.getenv("LOAD_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, init, delay, done = c.setup, c.init, c.delay, c.done

local queries = {
   "/api/v1/stats/districts?layer=quartier&kind=anomaly",
   "/api/v1/stats/districts?layer=arrondissement",
   "/api/v1/stats/districts?layer=quartier&from=2024-01-01&to=2024-07-01",
   "/api/v1/stats/h3?res=9",
   "/api/v1/stats/series?interval=month&district=arrondissement:2021:75118",
   "/api/v1/stats/equity",
}

function request()
   return wrk.format("GET", queries[math.random(#queries)],
      { ["Authorization"] = "Bearer " .. os.getenv("ANALYST_KEY") })
end
