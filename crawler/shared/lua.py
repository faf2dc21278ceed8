"""The Lua scripts of the Redis state: every multi-key update is one atomic script.

A script runs alone on the Redis server, so "check the owner, then move the request" can
never interleave with another worker's lease or ack: there is no read-modify-write race.
The keys of one crawl share a Cluster hash tag (``{crawl_id}``), so a script may touch them
all on one shard.

Time: ``ARGV[1]`` of the scripts that read the clock is the caller's time in seconds, or
``""`` to use the server's ``TIME`` (the one clock all workers share; the default).

A pending request is the compact JSON ``[url, depth, parent]``; the same string is the
member of ``leases`` (deadline) and ``owners`` (worker token). ``host()`` reads the host
from it for the per-host counters.
"""

from __future__ import annotations

from typing import Final

_PRELUDE: Final = """
local function clock(arg)
  local now = tonumber(arg)
  if now then return now end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function host(member)
  return string.lower(string.match(member, '^%["%a+://([^/?#"]+)') or '')
end
-- Admit the never-seen of n (fingerprint, member) pairs at ARGV[first...]; return their
-- 1-based positions. k: seen, pending, hosts_pending.
local function add(k_seen, k_pending, k_hosts, channel, first, n)
  local admitted = {}
  if n == 0 then return admitted end
  local fps = {}
  for i = 0, n - 1 do fps[#fps + 1] = ARGV[first + 2 * i] end
  local known = redis.call('SMISMEMBER', k_seen, unpack(fps))
  local fresh, new, members, hosts = {}, {}, {}, {}
  for i, seen in ipairs(known) do
    local fp = fps[i]
    if seen == 0 and not fresh[fp] then
      fresh[fp] = true
      new[#new + 1] = fp
      admitted[#admitted + 1] = i
      local member = ARGV[first + 2 * (i - 1) + 1]
      members[#members + 1] = member
      local h = host(member)
      hosts[h] = (hosts[h] or 0) + 1
    end
  end
  if #members == 0 then return admitted end
  redis.call('SADD', k_seen, unpack(new))
  redis.call('RPUSH', k_pending, unpack(members))
  for h, c in pairs(hosts) do redis.call('HINCRBY', k_hosts, h, c) end
  redis.call('PUBLISH', channel, 'add')
  return admitted
end
-- Mark member done, keep its snapshot (JSON, '' for none) and store the n record lines at
-- ARGV[first...], only if token still owns its lease; 1 if done, else 0.
local function ack(k, channel, member, token, err, snapshot, first, n)
  if redis.call('HGET', k.owners, member) ~= token then return 0 end
  redis.call('ZREM', k.leases, member)
  redis.call('HDEL', k.owners, member)
  redis.call('HINCRBY', k.meta, 'done', 1)
  if snapshot ~= '' then redis.call('HSET', k.snapshots, member, snapshot) end
  if n > 0 then redis.call('RPUSH', k.records, unpack(ARGV, first, first + n - 1)) end
  redis.call('HINCRBY', k.hosts_done, host(member), 1)
  if err ~= '' then redis.call('HINCRBY', k.errors, err, 1) end
  if redis.call('ZCARD', k.leases) == 0 then
    -- no lease left: the crawl may be complete, or its page budget spent
    redis.call('PUBLISH', channel, 'idle')
  end
  return 1
end
-- Free a politeness slot; a 429 doubles the origin's back-off (capped), a success halves
-- it: crawler.politeness.adapt_backoff, the one rule, transcribed (a test compares them).
-- A release is published only while a worker waits for a slot of the origin.
local function slot_release(k_slots, k_polite, k_wanted, channel, member, origin, status,
                            max_delay, min_backoff)
  redis.call('ZREM', k_slots, member)
  status = tonumber(status)
  if status then
    local v = redis.call('HMGET', k_polite, origin .. '|delay', origin .. '|backoff')
    local delay, backoff = tonumber(v[1] or '0'), tonumber(v[2] or '0')
    if status == 429 then
      backoff = math.min(max_delay, math.max(2 * math.max(delay, backoff), min_backoff))
      redis.call('HSET', k_polite, origin .. '|backoff', tostring(backoff))
    elseif status < 400 and backoff > 0 then
      if backoff / 2 < min_backoff then backoff = 0 else backoff = backoff / 2 end
      redis.call('HSET', k_polite, origin .. '|backoff', tostring(backoff))
    end
  end
  if redis.call('EXISTS', k_wanted) == 1 then
    redis.call('PUBLISH', channel, 'slot ' .. origin)
  end
end
"""

ADD: Final = """
-- KEYS: seen pending hosts_pending   ARGV: channel, then (fingerprint, member) pairs
-- Returns the 1-based positions of the pairs admitted (never seen before).
return add(KEYS[1], KEYS[2], KEYS[3], ARGV[1], 2, (#ARGV - 1) / 2)
"""

LEASE: Final = """
-- KEYS: pending leases owners meta hosts_pending snapshots
-- ARGV: now, lease_seconds, limit, token, max_pages (-1: none)
-- Expired leases go back to the front of pending first; returns {the members leased,
-- their snapshots (false where none)}.
local now = clock(ARGV[1])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for i = #expired, 1, -1 do
  local m = expired[i]
  redis.call('ZREM', KEYS[2], m)
  redis.call('HDEL', KEYS[3], m)
  redis.call('LPUSH', KEYS[1], m)
  redis.call('HINCRBY', KEYS[5], host(m), 1)
end
local limit = tonumber(ARGV[3])
local max_pages = tonumber(ARGV[5])
if max_pages >= 0 then
  local done = tonumber(redis.call('HGET', KEYS[4], 'done') or '0')
  limit = math.min(limit, max_pages - done - redis.call('ZCARD', KEYS[2]))
end
if limit <= 0 then return {{}, {}} end
local batch = redis.call('LPOP', KEYS[1], limit)
if not batch then return {{}, {}} end
local deadline = now + tonumber(ARGV[2])
local scored, owned = {}, {}
for _, m in ipairs(batch) do
  scored[#scored + 1] = deadline
  scored[#scored + 1] = m
  owned[#owned + 1] = m
  owned[#owned + 1] = ARGV[4]
  redis.call('HINCRBY', KEYS[5], host(m), -1)
end
redis.call('ZADD', KEYS[2], unpack(scored))
redis.call('HSET', KEYS[3], unpack(owned))
return {batch, redis.call('HMGET', KEYS[6], unpack(batch))}
"""

RENEW: Final = """
-- KEYS: leases owners   ARGV: now, lease_seconds, token, members...
-- Pushes the deadline of the leases this token still owns; returns how many.
local deadline = clock(ARGV[1]) + tonumber(ARGV[2])
local members = {}
for i = 4, #ARGV do members[#members + 1] = ARGV[i] end
local owners = redis.call('HMGET', KEYS[2], unpack(members))
local scored = {}
for i, owner in ipairs(owners) do
  if owner == ARGV[3] then
    scored[#scored + 1] = deadline
    scored[#scored + 1] = members[i]
  end
end
if #scored > 0 then redis.call('ZADD', KEYS[1], 'XX', unpack(scored)) end
return #scored / 2
"""

ACK: Final = """
-- KEYS: leases owners meta records hosts_done errors snapshots
-- ARGV: channel, member, token, error ('' for none), snapshot ('' for none), record lines...
-- Done and its records stored in one step, only if the token still owns the lease.
local k = {leases = KEYS[1], owners = KEYS[2], meta = KEYS[3], records = KEYS[4],
           hosts_done = KEYS[5], errors = KEYS[6], snapshots = KEYS[7]}
return ack(k, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], 6, #ARGV - 5)
"""

COMPLETE: Final = """
-- The end of a page in one round trip: add its links, ack it with its records, free its
-- politeness slot.
-- KEYS: seen pending hosts leases owners meta records hosts_done errors slots polite wanted
--       snapshots
-- ARGV: channel, member, token, error, n_links, n_records, slot ('' for none), origin,
--       status, max_delay, min_backoff, snapshot ('' for none), then n_links (fingerprint,
--       member) pairs, then n_records record lines.
-- Returns {acked (0 or 1), positions of the links admitted...}.
local n_links, n_records = tonumber(ARGV[5]), tonumber(ARGV[6])
local admitted = add(KEYS[1], KEYS[2], KEYS[3], ARGV[1], 13, n_links)
local k = {leases = KEYS[4], owners = KEYS[5], meta = KEYS[6], records = KEYS[7],
           hosts_done = KEYS[8], errors = KEYS[9], snapshots = KEYS[13]}
local acked = ack(k, ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[12], 13 + 2 * n_links,
                  n_records)
if ARGV[7] ~= '' then
  slot_release(KEYS[10], KEYS[11], KEYS[12], ARGV[1], ARGV[7], ARGV[8], ARGV[9],
               tonumber(ARGV[10]), tonumber(ARGV[11]))
end
table.insert(admitted, 1, acked)
return admitted
"""

RELEASE: Final = """
-- KEYS: pending leases owners hosts_pending   ARGV: channel, token, members...
-- Returns the leases this token owns to the front of pending, in the given order.
local n = 0
for i = #ARGV, 3, -1 do
  local m = ARGV[i]
  if redis.call('HGET', KEYS[3], m) == ARGV[2] then
    redis.call('ZREM', KEYS[2], m)
    redis.call('HDEL', KEYS[3], m)
    redis.call('LPUSH', KEYS[1], m)
    redis.call('HINCRBY', KEYS[4], host(m), 1)
    n = n + 1
  end
end
if n > 0 then redis.call('PUBLISH', ARGV[1], 'add') end
return n
"""

BIND: Final = """
-- KEYS: meta   ARGV: identity, force ('1' or '0')
-- Returns 0 for a new crawl, 1 for the same one, 2 for another one re-bound by force,
-- -1 for another one refused.
local current = redis.call('HGET', KEYS[1], 'identity')
if not current then
  redis.call('HSET', KEYS[1], 'identity', ARGV[1])
  return 0
end
if current == ARGV[1] then return 1 end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'identity', ARGV[1])
  return 2
end
return -1
"""

HEARTBEAT: Final = """
-- KEYS: workers seeders   ARGV: now, lease_seconds, token
-- Marks the worker alive until now + lease_seconds (and its seeding, if it seeds).
local deadline = clock(ARGV[1]) + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], deadline, ARGV[3])
redis.call('ZADD', KEYS[2], 'XX', deadline, ARGV[3])
return 1
"""

SEEDING: Final = """
-- KEYS: seeders meta   ARGV: channel, now, lease_seconds, token, started ('1' or '0')
-- A seeder registers while it seeds; when it is done the crawl is marked seeded.
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[1], clock(ARGV[2]) + tonumber(ARGV[3]), ARGV[4])
  return 1
end
redis.call('ZREM', KEYS[1], ARGV[4])
redis.call('HSET', KEYS[2], 'seeded', '1')
redis.call('PUBLISH', ARGV[1], 'seeded')
return 1
"""

PROGRESS: Final = """
-- KEYS: pending leases meta seeders workers owners hosts_pending   ARGV: now, channel
-- Returns {seeded, seeders alive, pending, leased, done, seconds to the earliest lease
-- deadline ('' if none), live workers}. Dead seeders and workers are forgotten first, and
-- the leases of a dead worker (no heartbeat) go back to the front of pending at once:
-- failover in a heartbeat, not a lease.
local now = clock(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
local owners = redis.call('HGETALL', KEYS[6])
local reclaimed = 0
for i = 1, #owners, 2 do
  local member, token = owners[i], owners[i + 1]
  if not redis.call('ZSCORE', KEYS[5], token) then
    redis.call('ZREM', KEYS[2], member)
    redis.call('HDEL', KEYS[6], member)
    redis.call('LPUSH', KEYS[1], member)
    redis.call('HINCRBY', KEYS[7], host(member), 1)
    reclaimed = reclaimed + 1
  end
end
if reclaimed > 0 then redis.call('PUBLISH', ARGV[2], 'add') end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local wait = ''
if #first > 0 then wait = tostring(math.max(0, tonumber(first[2]) - now)) end
return {
  redis.call('HGET', KEYS[3], 'seeded') or '0',
  redis.call('ZCARD', KEYS[4]),
  redis.call('LLEN', KEYS[1]),
  redis.call('ZCARD', KEYS[2]),
  redis.call('HGET', KEYS[3], 'done') or '0',
  wait,
  redis.call('ZCARD', KEYS[5]),
  redis.call('HEXISTS', KEYS[3], 'identity'),
}
"""

SLOT_ACQUIRE: Final = """
-- KEYS: slots polite wanted (of the origin) workers
-- ARGV: now, member, limit, delay, lease_seconds, origin
-- Takes a slot of the origin if fewer than limit are held (a dead worker's expire) and its
-- next start time has come, then sets the next start time. Returns {0, 0} when taken,
-- {1, seconds} to wait for the next start time, {2, seconds} when full (seconds: until the
-- earliest slot expires; a release is published before that, as the origin is now marked
-- wanted for lease_seconds).
local now = clock(ARGV[1])
local origin = ARGV[6]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
-- asked again after a lost answer (an outage): the slot is already ours
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then return {0, '0'} end
for _, held in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  -- a slot is "worker#n": a dead worker's slot frees at once, not at its deadline
  local worker = string.match(held, '^(.*)#%d+$')
  if worker and not redis.call('ZSCORE', KEYS[4], worker) then redis.call('ZREM', KEYS[1], held) end
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[3], '1', 'PX', math.ceil(tonumber(ARGV[5]) * 1000))
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {2, tostring(math.max(0, tonumber(first[2]) - now))}
end
local v = redis.call('HMGET', KEYS[2], origin .. '|next', origin .. '|delay', origin .. '|backoff')
local next_start = tonumber(v[1] or '0')
if next_start > now then return {1, tostring(next_start - now)} end
local delay = math.max(tonumber(ARGV[4]), tonumber(v[2] or '0'), tonumber(v[3] or '0'))
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[2])
redis.call('HSET', KEYS[2], origin .. '|next', tostring(now + delay))
return {0, '0'}
"""

SLOT_RELEASE: Final = """
-- KEYS: slots polite wanted   ARGV: channel, member, origin, status, max_delay, min_backoff
slot_release(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
             tonumber(ARGV[5]), tonumber(ARGV[6]))
return 1
"""

SLOT_PAUSE: Final = """
-- KEYS: polite   ARGV: now, origin, seconds
-- No worker starts a request to the origin before now + seconds (Retry-After).
local until_ = clock(ARGV[1]) + tonumber(ARGV[3])
local field = ARGV[2] .. '|next'
if until_ > tonumber(redis.call('HGET', KEYS[1], field) or '0') then
  redis.call('HSET', KEYS[1], field, tostring(until_))
end
return 1
"""

SLOT_RENEW: Final = """
-- KEYS: one slots key per member   ARGV: now, lease_seconds, members...
local deadline = clock(ARGV[1]) + tonumber(ARGV[2])
for i, key in ipairs(KEYS) do redis.call('ZADD', key, 'XX', deadline, ARGV[i + 2]) end
return #KEYS
"""

CLAIM: Final = """
-- KEYS: seen claims   ARGV: fingerprint, owner fingerprint ('' for none)
-- Returns 1 if the key was new (it is then owned by the owner), or already the owner's.
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
  return 1
end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then return 1 end
return 0
"""

BEGIN_GENERATION: Final = """
-- KEYS: meta snapshots pending hosts_pending hosts_done errors records   ARGV: channel
-- If the crawl's generation completed, start the next: every member kept with a snapshot
-- is pending again (the done count, the per-host and error counts and the stored records
-- start anew); returns how many, or -1 when the current generation goes on. Atomic: of
-- many workers started with --recrawl, one starts the generation, the others join it.
if redis.call('HGET', KEYS[1], 'finished') ~= '1' then return -1 end
local cursor, n = '0', 0
repeat
  local page = redis.call('HSCAN', KEYS[2], cursor, 'COUNT', 1000)
  cursor = page[1]
  local members, hosts = {}, {}
  for i = 1, #page[2], 2 do
    local m = page[2][i]
    members[#members + 1] = m
    hosts[host(m)] = (hosts[host(m)] or 0) + 1
  end
  if #members > 0 then redis.call('RPUSH', KEYS[3], unpack(members)) end
  for h, c in pairs(hosts) do redis.call('HINCRBY', KEYS[4], h, c) end
  n = n + #members
until cursor == '0'
redis.call('DEL', KEYS[5], KEYS[6], KEYS[7])
redis.call('HSET', KEYS[1], 'done', '0', 'finished', '0')
redis.call('PUBLISH', ARGV[1], 'add')
return n
"""

NOW: Final = """
return tostring(clock(ARGV[1]))
"""

SCRIPTS: Final = {
    "add": ADD,
    "lease": LEASE,
    "renew": RENEW,
    "ack": ACK,
    "complete": COMPLETE,
    "release": RELEASE,
    "bind": BIND,
    "heartbeat": HEARTBEAT,
    "seeding": SEEDING,
    "progress": PROGRESS,
    "slot_acquire": SLOT_ACQUIRE,
    "slot_release": SLOT_RELEASE,
    "slot_pause": SLOT_PAUSE,
    "slot_renew": SLOT_RENEW,
    "now": NOW,
    "begin_generation": BEGIN_GENERATION,
    "claim": CLAIM,
}
"""Script name → body without the prelude; ``script()`` returns the runnable text."""


def script(name: str) -> str:
    """Return the runnable Lua text of the script called ``name`` (prelude included)."""
    return _PRELUDE + SCRIPTS[name]
