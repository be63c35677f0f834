"""The Lua scripts behind the bulk reads and writes: one round trip, no per-key reply to parse."""
LUA = {
    "write_quotes": """
for i, k in ipairs(KEYS) do
  local a = (i - 1) * 6
  redis.call('HSET', k, 'price', ARGV[a + 1], 'currency', ARGV[a + 2], 'as_of', ARGV[a + 3],
             'source', ARGV[a + 4], 'fetched_at', ARGV[a + 5], 'prev', ARGV[a + 6])
end
-- every written price is dirty until a recompute has valued its holders with it (a trailing
-- '0': a full revaluation's own prices, healed from the database, are not)
if #KEYS > 0 and ARGV[#KEYS * 6 + 1] ~= '0' then
  local dirty = string.gsub(KEYS[1], 'quote:[^:]*$', 'valuation:dirty')
  for _, k in ipairs(KEYS) do redis.call('SADD', dirty, string.match(k, 'quote:([^:]*)$')) end
end
return #KEYS
""",
    "read_quotes": """
local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('HMGET', k, 'price', 'currency', 'as_of', 'source', 'prev')
  if v[1] and v[2] and v[3] and v[4] then
    out[i] = v[1] .. '|' .. v[2] .. '|' .. v[3] .. '|' .. v[4] .. '|' .. (v[5] or '')
  else
    out[i] = false
  end
end
return out
""",
    # KEYS: positions, version, cycle; ARGV: the quote key prefix. Returns the three values,
    # then "symbol|price|currency|as_of|source" for each cached quote of the positions.
    "read_live": """
local pos = redis.call('GET', KEYS[1])
local out = {pos, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3])}
if not pos then return out end
local doc = cjson.decode(string.sub(pos, string.find(pos, '\\n', 1, true) + 1))
local seen = {}
for _, h in ipairs(doc.holdings) do
  local symbol = h[4]
  if not seen[symbol] then
    seen[symbol] = true
    local q = redis.call('HMGET', ARGV[1] .. symbol, 'price', 'currency', 'as_of', 'source', 'prev')
    if q[1] and q[2] and q[3] and q[4] then
      out[#out + 1] = symbol .. '|' .. q[1] .. '|' .. q[2] .. '|' .. q[3] .. '|' .. q[4] .. '|' .. (q[5] or '')
    end
  end
end
return out
""",
    "read_prices": """
local out = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('HMGET', k, 'price', 'currency')
  out[i] = (v[1] and v[2]) and (v[1] .. '|' .. v[2]) or ''
end
return table.concat(out, '\\n')
""",
    # ARGV: prefix, version, pending field, records. A record: id, summary, worthy, fingerprint,
    # positions ('' = keep), valuation epoch ('' = none: not in sync with the valued prices),
    # expected epoch ('' = write anyway), currency sums ('' = none), split by \x1f; records by
    # \x1e. Returns one status digit per record (8: skipped, the epoch was not the expected
    # one); the summaries whose snapshot is due go under the pending field.
    "write_portfolios": """
local prefix, version, field, data = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local out, due = {}, {}
local epochs, sums_key = prefix .. 'valuation:users', prefix .. 'valuation:sums'
for uid, summary, worthy, fp, positions, epoch, expect, sums in
    string.gmatch(data, '([^\\31\\30]*)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\31]*)\\31([^\\30]*)') do
 if expect ~= '' and redis.call('HGET', epochs, uid) ~= expect then
  out[#out + 1] = '8'
 else
  local base = prefix .. 'portfolio:' .. uid
  local status = 0
  if epoch == '' then redis.call('HDEL', epochs, uid) else redis.call('HSET', epochs, uid, epoch) end
  if sums == '' then redis.call('HDEL', sums_key, uid) else redis.call('HSET', sums_key, uid, sums) end
  local old = redis.call('GET', base)
  if old ~= summary then
    redis.call('SET', base, summary)
    status = 1
    if worthy == '1' then
      -- no earlier summary, or one that was not fully priced: Redis cannot tell whether the
      -- total moved since the last snapshot; the database can ("check")
      if not old or string.match(old, '"pending":(%d+)') ~= '0' or string.match(old, '"holdings":(%d+)') == '0' then
        status = 3
        due[#due + 1] = uid .. '\\31check\\31' .. summary
      elseif string.match(old, '^{"total":"([^"]*)"') ~= string.match(summary, '^{"total":"([^"]*)"') then
        status = 2
        due[#due + 1] = uid .. '\\31new\\31' .. summary
      end
    end
  end
  if positions ~= '' then
    if redis.call('GET', base .. ':positions') ~= positions then
      redis.call('SET', base .. ':positions', positions)
      if status == 0 then status = 1 end
    end
  elseif redis.call('GETRANGE', base .. ':positions', 0, #fp) ~= fp .. '\\n' then
    redis.call('DEL', base .. ':positions')
    status = status + 4
  end
  if status % 4 ~= 0 then redis.call('SET', base .. ':v', version) end
  out[#out + 1] = tostring(status)
 end
end
if #due > 0 then redis.call('HSET', prefix .. 'snapshots:pending', field, table.concat(due, '\\30')) end
return table.concat(out)
""",
    # KEYS: version, cycle, fragment; ARGV: token, fragment, ttl. The fragment is stored only if the
    # token it was rendered for is still the user's current one: a render that lost a race with a
    # newer version never replaces the newer fragment (and would never be served anyway).
    "store_fragment_if_current": """
local v = redis.call('GET', KEYS[1]) or '0'
local c = redis.call('GET', KEYS[2]) or '0'
if v .. '.' .. c ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[3], ARGV[1] .. '\\n' .. ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
""",
    # ARGV: the key prefix, then user ids. Returns the ids whose cached fragment is not the one
    # of their current token (none, or an older version or cycle): who needs a render.
    "outdated_fragments": """
local prefix = ARGV[1]
local cycle = redis.call('GET', prefix .. 'cycle') or '0'
local out = {}
for i = 2, #ARGV do
  local p = prefix .. 'portfolio:' .. ARGV[i]
  local want = (redis.call('GET', p .. ':v') or '0') .. '.' .. cycle .. '\\n'
  if redis.call('GETRANGE', p .. ':html', 0, #want - 1) ~= want then out[#out + 1] = ARGV[i] end
end
return out
""",
}
