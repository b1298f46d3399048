-- HAProxy 2.6+ (Lua, core.httpclient): ask Portcullis for a verdict on every request.
-- Calls the decision endpoint with the client's headers plus X-Forwarded-Method/-Uri/-Host/-Proto
-- (the Traefik/Caddy dialect), then:
--   200  -> client-sent identity headers (X-Auth-*) removed, the verdict's identity headers and
--           (where the route mints one) its Authorization set on the request, the client's DPoP removed;
--           txn.portcullis_status 200
--   else -> txn.portcullis_status, _challenge, _body, _retry_after for haproxy.cfg to answer with.
--   both -> txn.portcullis_dpop_nonce when Portcullis sent one (a use_dpop_nonce 401, a fresh nonce on a 200):
--           haproxy.cfg's http-after-response hands it to the client (RFC 9449 §8).
-- Portcullis unreachable -> status 503. No verdict is cached: a cached 200 would outlive a revocation.
-- Settings (haproxy.cfg global): setenv PORTCULLIS_DECISION_URL http://127.0.0.1:8080/_portcullis/auth

local decision_url = os.getenv("PORTCULLIS_DECISION_URL") or "http://127.0.0.1:8080/_portcullis/auth"
local identity_prefix = "x-auth-"
-- verdict headers set on the request besides X-Auth-*: the internal token, and a route's identity_headers
-- name outside X-Auth-* (add it here, e.g. ["x-forwarded-user"] = true for X-Forwarded-User: sub;
-- haproxy.cfg removes the client's copy before the check)
local copied = { ["authorization"] = true }
-- the call's own framing and the dialect headers are set here, never copied from the client
local not_copied = {
  ["host"] = true, ["content-length"] = true, ["transfer-encoding"] = true, ["connection"] = true,
  ["x-forwarded-method"] = true, ["x-forwarded-uri"] = true, ["x-forwarded-host"] = true,
  ["x-forwarded-proto"] = true, ["x-original-uri"] = true, ["x-original-method"] = true, ["expect"] = true,
  ["x-forwarded-for"] = true,
}

local function first(values)
  if values == nil then return nil end
  return values[0] or values[1]
end

core.register_action("portcullis_auth", { "http-req" }, function(txn)
  local headers = {}
  for name, values in pairs(txn.http:req_get_headers()) do
    local lname = string.lower(name)
    if not not_copied[lname] and not string.find(lname, identity_prefix, 1, true) then
      local list, i = {}, 0
      while values[i] ~= nil do list[#list + 1] = values[i]; i = i + 1 end
      headers[lname] = list
    end
  end
  local host = first(txn.http:req_get_headers()["host"]) or ""
  headers["x-forwarded-method"] = { txn.sf:method() }
  headers["x-forwarded-uri"] = { txn.sf:pathq() }
  headers["x-forwarded-host"] = { host }
  local tls = txn.sf:ssl_fc() -- a boolean or 0/1 depending on the build: 0 is true in Lua
  headers["x-forwarded-proto"] = { (tls == true or tls == 1) and "https" or "http" }
  -- the client HAProxy saw, appended to the chain: the decision line's client with server.trust_forwarded
  local xff = {}
  local sent = txn.http:req_get_headers()["x-forwarded-for"]
  if sent ~= nil then local i = 0; while sent[i] ~= nil do xff[#xff + 1] = sent[i]; i = i + 1 end end
  xff[#xff + 1] = txn.sf:src()
  headers["x-forwarded-for"] = { table.concat(xff, ", ") }

  local client = core.httpclient()
  local ok, res = pcall(function()
    return client:get({ url = decision_url, headers = headers, timeout = 5000 })
  end)
  -- client-sent identity headers never pass, whatever the verdict
  for name, _ in pairs(txn.http:req_get_headers()) do
    if string.find(string.lower(name), identity_prefix, 1, true) == 1 then txn.http:req_del_header(name) end
  end
  -- Portcullis answers in JSON; anything else (HAProxy's own 503 when it cannot connect) is "unreachable"
  local ctype = ok and res ~= nil and res.headers ~= nil and first(res.headers["content-type"]) or nil
  if not ok or res == nil or res.status == nil or res.status == 0
    or (res.status ~= 200 and (ctype == nil or string.find(ctype, "application/json", 1, true) ~= 1)) then
    txn:set_var("txn.portcullis_status", 503)
    txn:set_var("txn.portcullis_body", '{"error":"temporarily_unavailable","code":"PORTCULLIS_ERR_AUTH_UNAVAILABLE","message":"authorization service unavailable"}')
    txn:set_var("txn.portcullis_retry_after", "1")
    return
  end
  txn:set_var("txn.portcullis_status", res.status)
  local rh = res.headers or {}
  -- set only when present: haproxy.cfg adds the header when the variable exists
  local nonce = first(rh["dpop-nonce"])
  if nonce ~= nil and nonce ~= "" then txn:set_var("txn.portcullis_dpop_nonce", nonce) end
  if res.status == 200 then
    for name, values in pairs(rh) do
      local lname = string.lower(name)
      if string.find(lname, identity_prefix, 1, true) == 1 or copied[lname] then
        -- an internal token replaces the client's: its DPoP proof goes with it (as in proxy mode)
        if lname == "authorization" then txn.http:req_del_header("dpop") end
        txn.http:req_set_header(lname, first(values))
      end
    end
    return
  end
  local challenge = first(rh["www-authenticate"])
  if challenge ~= nil and challenge ~= "" then txn:set_var("txn.portcullis_challenge", challenge) end
  txn:set_var("txn.portcullis_retry_after", first(rh["retry-after"]) or "")
  txn:set_var("txn.portcullis_body", res.body or "")
end, 0)
