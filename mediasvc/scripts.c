#include "scripts.h"

/* Voice connections of the members of `room`, skipping user `skip`, as a
 * flat list gateway, connection, ... A member whose voice hash names another
 * room (membership changing right now) is not in this room any more. */
#define LUA_CONNS                                                                                    \
	"local function conns(room, skip, out)\n"                                                    \
	"  for _, m in ipairs(redis.call('SMEMBERS', 'room:' .. room .. ':members')) do\n"           \
	"    if m ~= skip then\n"                                                                    \
	"      local v = redis.call('HMGET', 'user:' .. m .. ':voice', 'room', 'gateway', 'conn')\n" \
	"      if v[1] == room and v[2] and v[3] and v[2] ~= '' and v[3] ~= '' then\n"               \
	"        out[#out + 1] = v[2]\n"                                                             \
	"        out[#out + 1] = v[3]\n"                                                             \
	"      end\n"                                                                                \
	"    end\n"                                                                                  \
	"  end\n"                                                                                    \
	"  return out\n"                                                                             \
	"end\n"

/* Every change of what the lists show (talking as announced, live, label,
 * mute) runs bump(): roomsvc stamps its lists with the version it read,
 * and `talking`/`servermute` carry the one their change set, so a gateway
 * can tell a list composed before a broadcast it already sent from one
 * composed after it (DESIGN.md, "Lists and the broadcasts they overtake").
 * Like roomsvc's state:version, a missing counter (first start, a Redis
 * that lost its data) starts from the Redis clock in microseconds, never
 * from 0: gateways remember the versions they have seen. */
#define LUA_BUMP                                                                                   \
	"local function bump()\n"                                                                  \
	"  if redis.call('EXISTS', 'mediasvc:version') == 0 then\n"                                \
	"    local t = redis.call('TIME')\n"                                                       \
	"    redis.call('SET', 'mediasvc:version', t[1]..string.rep('0', 6 - #t[2])..t[2])\n"      \
	"  end\n"                                                                                  \
	"  return redis.call('INCR', 'mediasvc:version')\n"                                        \
	"end\n"

const char script_room_set[] = LUA_CONNS LUA_BUMP
	"local room = redis.call('HGET', 'user:' .. ARGV[1] .. ':voice', 'room')\n"
	"if not room or room == '' then return {} end\n"
	"local kv = {}\n"
	"for i = 2, #ARGV do kv[#kv + 1] = ARGV[i] end\n"
	"redis.call('HSET', 'media:' .. ARGV[1], unpack(kv))\n"
	"bump()\n"
	"return conns(room, nil, {room})\n";

const char script_mute[] =
	LUA_BUMP "if ARGV[2] == '1' then redis.call('SET', 'mute:' .. ARGV[1], '1')\n"
		 "else redis.call('DEL', 'mute:' .. ARGV[1]) end\n"
		 "return bump()\n";

/* The talking shaper's memory lives in media:<uid> next to the value, so
 * that every instance of mediasvc (one user's requests are spread over
 * them) shapes alike: talking_sent is the value clients were last sent
 * (the one the lists show), talking_dirty "1" while a change has not been
 * announced, talking_tokens and talking_at (ms, Redis' clock: the one clock
 * all instances share) the user's token bucket. An announcement takes a
 * token; a user without one waits for the next (the bucket refills at
 * `rate` per second, up to `burst`). A change back to what clients were
 * sent needs no announcement: they, and the lists, show it already. */
#define LUA_FLUSH                                                                                          \
	"local function flush(key, burst, rate)\n"                                                         \
	"  local f = redis.call('HMGET', key, 'talking', 'talking_sent', 'talking_dirty',\n"               \
	"                       'talking_tokens', 'talking_at')\n"                                         \
	"  if f[3] ~= '1' then return {0, 0} end\n"                                                        \
	"  local cur, sent = f[1] or '0', f[2] or '0'\n"                                                   \
	"  if cur == sent then\n"                                                                          \
	"    redis.call('HSET', key, 'talking_dirty', '0')\n"                                              \
	"    return {0, 0}\n"                                                                              \
	"  end\n"                                                                                          \
	"  if rate > 0 then\n"                                                                             \
	"    local t = redis.call('TIME')\n"                                                               \
	"    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                      \
	"    local at = tonumber(f[5] or '') or now\n"                                                     \
	"    local tokens = math.min(burst, (tonumber(f[4] or '') or burst) + (now - at) * rate / 1000)\n" \
	"    if tokens < 1 then\n"                                                                         \
	"      redis.call('HSET', key, 'talking_tokens', string.format('%.3f', tokens),\n"                 \
	"                 'talking_at', string.format('%d', now))\n"                                       \
	"      return {2, math.ceil((1 - tokens) * 1000 / rate)}\n"                                        \
	"    end\n"                                                                                        \
	"    redis.call('HSET', key, 'talking_tokens', string.format('%.3f', tokens - 1),\n"               \
	"               'talking_at', string.format('%d', now))\n"                                         \
	"  end\n"                                                                                          \
	"  redis.call('HSET', key, 'talking_sent', cur, 'talking_dirty', '0')\n"                           \
	"  return {1, tonumber(cur), bump()}\n"                                                            \
	"end\n"

const char script_talking_set[] =
	LUA_BUMP LUA_FLUSH "local key = 'media:' .. ARGV[1]\n"
			   "local old = redis.call('HGET', key, 'talking') or '0'\n"
			   "if old == ARGV[2] then return {0, 0} end\n"
			   "redis.call('HSET', key, 'talking', ARGV[2], 'talking_dirty', '1')\n"
			   "return flush(key, tonumber(ARGV[3]), tonumber(ARGV[4]))\n";

const char script_talking_flush[] = LUA_BUMP LUA_FLUSH
	"return flush('media:' .. ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))\n";

const char script_leave[] = LUA_CONNS LUA_BUMP
	"local key = 'media:' .. ARGV[1]\n"
	"local f = redis.call('HMGET', key, 'live', 'talking_sent')\n"
	"local live = f[1] == '1' and 1 or 0\n"
	"local shown = f[2] == '1' and 1 or 0\n"
	"redis.call('HSET', key, 'talking', '0', 'talking_sent', '0', 'talking_dirty', '0',\n"
	"           'live', '0', 'label', '', 'video', '0', 'audio', '0')\n"
	"local v = 0\n"
	"if live == 1 or shown == 1 then v = bump() end\n"
	"if live == 0 then return {live, shown, v} end\n"
	"return conns(ARGV[2], ARGV[1], {live, shown, v})\n";
