-- POST a JSON lead with an email no other request of this run used:
-- "<tag>-t<thread>-<n>@bench.example.com", where <tag> is the harness's run tag (the
-- first argument after "--"), <thread> the wrk thread and <n> a per-thread counter.
-- Mixed case in the domain, so the lower(email) index does its work.
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_id", thread_count)
end

function init(args)
   tag = args[1] or tostring(os.time())
   counter = 0
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   counter = counter + 1
   local body = string.format(
      '{"email": "%s-t%d-%d@Bench.Example.com", "first_name": "Ann", ' ..
      '"last_name": "Lee", "company": "Acme", "source": "bench"}',
      tag, thread_id, counter)
   -- headers nil: keep wrk.headers (which hold any -H the harness passed)
   return wrk.format(nil, nil, nil, body)
end
