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

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d mean_us=%.1f " ..
      "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
      e.status, e.connect, e.read, e.write, e.timeout))
end
