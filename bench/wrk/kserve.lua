-- wrk script for bench/serve.sh.
--
--   BODY=FILE [HDR_LEN=N] [CONTENT_TYPE=T] wrk -s bench/wrk/kserve.lua URL
--
-- With BODY set, every request is a POST of FILE's bytes with Content-Type (default
-- application/json) and, when HDR_LEN is set, Inference-Header-Content-Length: HDR_LEN (KServe
-- binary tensor extension). Without BODY, plain GETs.
-- At the end it prints one machine-readable line (latencies in microseconds):
--   WRK_RESULT requests=N duration_us=N rps=X p50_us=N p90_us=N p99_us=N mean_us=X non2xx=N
--              connect=N read=N write=N timeout=N
-- non2xx is wrk's errors.status (responses with status > 399); serve.sh fails the run when it is
-- not 0.

local body_file = os.getenv("BODY")
if body_file and body_file ~= "" then
   local f = assert(io.open(body_file, "rb"))
   wrk.body = f:read("*a")
   f:close()
   wrk.method = "POST"
   wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
   local hl = os.getenv("HDR_LEN")
   if hl and hl ~= "" then
      wrk.headers["Inference-Header-Content-Length"] = hl
   end
end

-- VARY=zipf:S:N or VARY=unique: the body file holds the placeholder @X@, replaced in each request by
-- a number: a Zipf(S)-distributed rank in 0..N-1 (a skewed stream of N distinct inputs), or a number
-- never sent before (every input unique). Used by the cache benchmark.
local vary = os.getenv("VARY")
if vary and vary ~= "" and wrk.body then
   local pre, post = wrk.body:match("^(.-)@X@(.*)$")
   assert(pre, "VARY needs the placeholder @X@ in the body")
   local cdf, n = nil, 0
   local s_, n_ = vary:match("^zipf:([%d.]+):(%d+)$")
   if s_ then
      n = tonumber(n_)
      cdf = {}
      local acc = 0
      for k = 1, n do acc = acc + 1 / (k ^ tonumber(s_)); cdf[k] = acc end
      for k = 1, n do cdf[k] = cdf[k] / acc end
   else
      assert(vary == "unique", "VARY is zipf:S:N or unique")
   end
   local counter = 0
   function init(args)
      math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
      -- below 2^22 so that x.5 is exact in float32: every value a distinct input
      counter = math.random(0, 3) * 1000000
   end
   function request()
      local x
      if cdf then
         local u, lo, hi = math.random(), 1, n
         while lo < hi do
            local mid = math.floor((lo + hi) / 2)
            if cdf[mid] < u then lo = mid + 1 else hi = mid end
         end
         x = lo - 1
      else
         counter = (counter + 1) % 4194304
         x = counter
      end
      return wrk.format(nil, nil, nil, pre .. x .. ".5" .. post)
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d mean_us=%.1f " ..
      "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
      e.status, e.connect, e.read, e.write, e.timeout))
end
