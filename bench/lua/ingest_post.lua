-- POST a JSON form submission to the public endpoint, half new emails and half repeats:
-- odd requests of a thread use a new address "<tag>-t<thread>-<n>@bench.example.com"
-- (<tag> is the harness's run tag, the first argument after "--"), even ones repeat one
-- of the thread's earlier addresses, picked at random and written in upper case (the
-- lead is found by lower(email), as in real life) with other field values, so a repeat
-- updates the lead through the upsert's ON CONFLICT path.
local thread_count = 0

function setup(thread)
   thread_count = thread_count + 1
   thread:set("thread_id", thread_count)
end

function init(args)
   tag = args[1] or tostring(os.time())
   counter = 0
   fresh = 0
   math.randomseed(os.time() * 1000 + thread_id)
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

local companies = {"Acme", "Globex", "Initech", "Umbrella", "Hooli"}

function request()
   counter = counter + 1
   local email
   if counter % 2 == 1 or fresh == 0 then
      fresh = fresh + 1
      email = string.format("%s-t%d-%d@bench.example.com", tag, thread_id, fresh)
   else
      email = string.upper(string.format("%s-t%d-%d@bench.example.com",
                                         tag, thread_id, math.random(fresh)))
   end
   local body = string.format(
      '{"email": "%s", "first_name": "Ann", "last_name": "Lee", "company": "%s"}',
      email, companies[counter % #companies + 1])
   -- headers nil: keep wrk.headers (which hold any -H the harness passed)
   return wrk.format(nil, nil, nil, body)
end
