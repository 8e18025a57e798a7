import type { BucketSettings } from './limiter-bucket.js';

/**
 * The shared bucket in Lua: `limiter-bucket.ts` and `rate-controller.ts` line for line (same names,
 * same order of operations), run atomically in Redis on one key, so one hash per AWS account and
 * region works on Redis Cluster. The clock is Redis's TIME: workers on different machines agree on
 * it. Tests may pass a clock in ARGV[2] to check this script against the TypeScript model; production
 * passes ''.
 *
 * KEYS[1]: the bucket. ARGV: op (acquire | poll | cancel | throttle | read), clock override, then
 * the settings in {@link scriptSettings} order, then the op's own: flow, ticket and priority, or sentAt.
 * Replies (strings): acquire/poll/cancel {granted 0|1, ticket, waitMs, rate, now}; throttle {cut 0|1,
 * rate, now}; read {now, field, value, field, value, …}.
 */
export const LIMITER_SCRIPT = `
local op = ARGV[1]
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local raw = redis.call('HGETALL', KEYS[1])
if op == 'read' then
  local reply = {string.format('%.17g', now)}
  for i = 1, #raw do reply[#reply + 1] = raw[i] end
  return reply
end
local S = {
  maxRps = tonumber(ARGV[3]), minRps = tonumber(ARGV[4]), decrease = tonumber(ARGV[5]), reset = tonumber(ARGV[6]),
  tolerance = tonumber(ARGV[7]), settle = tonumber(ARGV[8]), probe = tonumber(ARGV[9]), inFlightMs = tonumber(ARGV[10]),
  catchUpMs = tonumber(ARGV[11]), flowIdleMs = tonumber(ARGV[12]),
}
local F = {}
for i = 1, #raw, 2 do F[raw[i]] = tonumber(raw[i + 1]) end
local deleted = {}
local function get(name) return F[name] or 0 end
local function del(name) F[name] = nil; deleted[#deleted + 1] = name end
local MINUTE_MS = 60000

-- rate-controller.ts
local function controlledRate(st)
  if st.cutAt == 0 then return S.maxRps end
  local seconds = math.max(0, now - st.cutAt) / 1000
  local plateau = (math.max(0, st.target - st.floor) / S.probe) ^ (1 / 3)
  local d = seconds - plateau
  local rate = st.target + S.probe * (d * d * d)
  return math.min(S.maxRps, math.max(S.minRps, rate))
end
local function afterThrottle(st, sentAt)
  if st.cutAt ~= 0 and sentAt < st.cutAt then
    if sentAt < st.cutAt - S.inFlightMs then return nil end
    local floor = math.max(S.minRps, S.reset * st.floor)
    return {ceiling = st.ceiling, cutAt = st.cutAt, floor = floor, target = floor}
  end
  local hit = controlledRate(st)
  local function floorOf(share) return math.max(S.minRps, share * hit) end
  if st.ceiling > 0 and math.abs(hit - st.ceiling) <= S.tolerance * st.ceiling then
    return {ceiling = hit, cutAt = now, floor = floorOf(S.decrease), target = math.max(floorOf(S.decrease), S.settle * hit)}
  end
  return {ceiling = hit, cutAt = now, floor = floorOf(S.reset), target = floorOf(S.reset)}
end

-- limiter-bucket.ts
local function controllerState()
  return {ceiling = get('ceiling'), cutAt = get('cut_at'), floor = get('floor'), target = get('target')}
end
local function bucketFlows()
  local flows = {}
  for name, _ in pairs(F) do
    if string.sub(name, 1, 2) == 'i:' then flows[#flows + 1] = string.sub(name, 3) end
  end
  table.sort(flows)
  return flows
end
local function waitingTickets(flow) return get('i:' .. flow) - get('g:' .. flow) - get('c:' .. flow) end
local function before(flow, other)
  local mine, theirs = get('p:' .. flow), get('p:' .. other)
  if mine ~= theirs then return mine > theirs end
  return get('s:' .. flow) < get('s:' .. other)
end
local function dispatch()
  local interval = 1000 / controlledRate(controllerState())
  local nextSlot = math.max(get('next'), now - S.catchUpMs)
  local flows = bucketFlows()
  while nextSlot <= now do
    local best = nil
    for _, flow in ipairs(flows) do
      if waitingTickets(flow) > 0 and (best == nil or before(flow, best)) then best = flow end
    end
    if best == nil then
      nextSlot = now
      break
    end
    local ticket = get('g:' .. best) + 1
    while F['x:' .. best .. ':' .. ticket] ~= nil do
      del('x:' .. best .. ':' .. ticket)
      F['c:' .. best] = get('c:' .. best) - 1
      ticket = ticket + 1
    end
    F['g:' .. best] = ticket
    F['s:' .. best] = nextSlot
    nextSlot = nextSlot + interval
  end
  F['next'] = nextSlot
end
local function cancel(flow, ticket)
  local issued = get('i:' .. flow)
  if ticket <= get('g:' .. flow) or ticket > issued then return end
  if ticket < issued then
    F['x:' .. flow .. ':' .. ticket] = 1
    F['c:' .. flow] = get('c:' .. flow) + 1
    return
  end
  issued = issued - 1
  while issued > get('g:' .. flow) and F['x:' .. flow .. ':' .. issued] ~= nil do
    del('x:' .. flow .. ':' .. issued)
    F['c:' .. flow] = get('c:' .. flow) - 1
    issued = issued - 1
  end
  F['i:' .. flow] = issued
end
local function estimateGrant(flow, ahead, rate)
  local slots = ahead
  local served = get('s:' .. flow)
  local priority = get('p:' .. flow)
  for _, other in ipairs(bucketFlows()) do
    if other ~= flow then
      local waiting = waitingTickets(other)
      local theirs = get('p:' .. other)
      if theirs > priority then slots = slots + math.max(0, waiting) end
      if theirs == priority then
        slots = slots + math.min(waiting, ahead - 1)
        if waiting >= ahead and get('s:' .. other) < served then slots = slots + 1 end
      end
    end
  end
  return get('next') + ((slots - 1) * 1000) / rate
end
local function forgetIdleFlows()
  for _, flow in ipairs(bucketFlows()) do
    if waitingTickets(flow) <= 0 and get('a:' .. flow) < now - S.flowIdleMs then
      for _, part in ipairs({'i', 'g', 'c', 's', 'a', 'p'}) do del(part .. ':' .. flow) end
      local marker = 'x:' .. flow .. ':'
      for name, _ in pairs(F) do
        if string.sub(name, 1, #marker) == marker then del(name) end
      end
    end
  end
end
local function throttle(sentAt)
  local window = math.floor(now / MINUTE_MS)
  local stored = get('tw')
  if stored ~= window then
    if stored == window - 1 then F['tp'] = get('tc') else F['tp'] = 0 end
    F['tc'] = 0
    F['tw'] = window
  end
  F['tc'] = get('tc') + 1
  local st = controllerState()
  local before = controlledRate(st)
  local cut = afterThrottle(st, sentAt)
  if cut == nil then return {0, before} end
  F['ceiling'] = cut.ceiling
  F['cut_at'] = cut.cutAt
  F['floor'] = cut.floor
  F['target'] = cut.target
  local after = controlledRate(cut)
  local nextSlot = get('next')
  if nextSlot > now then F['next'] = now + ((nextSlot - now) * before) / after end
  return {1, after}
end
local function slot(flow, ticketIn, priority)
  forgetIdleFlows()
  dispatch()
  if op == 'cancel' then
    cancel(flow, ticketIn)
    return {0, 0, 0, controlledRate(controllerState())}
  end
  local ticket = ticketIn
  if ticket == 0 or ticket > get('i:' .. flow) then
    ticket = get('i:' .. flow) + 1
    F['i:' .. flow] = ticket
    for _, part in ipairs({'g', 'c', 's'}) do F[part .. ':' .. flow] = get(part .. ':' .. flow) end
    F['p:' .. flow] = priority
    dispatch()
  end
  F['a:' .. flow] = now
  F['p:' .. flow] = priority
  local rate = controlledRate(controllerState())
  local granted = get('g:' .. flow)
  if ticket <= granted then return {1, ticket, 0, rate} end
  return {0, ticket, math.max(0, estimateGrant(flow, ticket - granted, rate) - now), rate}
end

F['max'] = S.maxRps
F['min'] = S.minRps
F['probe'] = S.probe
local reply
if op == 'throttle' then
  reply = throttle(tonumber(ARGV[13]))
elseif op == 'acquire' then
  reply = slot(ARGV[13], 0, tonumber(ARGV[15]) or 0)
else
  reply = slot(ARGV[13], tonumber(ARGV[14]), tonumber(ARGV[15]) or 0)
end
local pairsOut = {}
for name, value in pairs(F) do
  pairsOut[#pairsOut + 1] = name
  pairsOut[#pairsOut + 1] = string.format('%.17g', value)
end
if #deleted > 0 then redis.call('HDEL', KEYS[1], unpack(deleted)) end
redis.call('HSET', KEYS[1], unpack(pairsOut))
redis.call('PEXPIRE', KEYS[1], 3600000)
local out = {}
for i = 1, #reply do out[i] = string.format('%.17g', reply[i]) end
out[#out + 1] = string.format('%.17g', now)
return out`;

/** The settings as the script reads them, ARGV[3] to ARGV[12]. */
export function scriptSettings(settings: BucketSettings): number[] {
  return [
    settings.maxRps,
    settings.minRps,
    settings.decrease,
    settings.reset,
    settings.tolerance,
    settings.settle,
    settings.probe,
    settings.inFlightMs,
    settings.catchUpMs,
    settings.flowIdleMs,
  ];
}
