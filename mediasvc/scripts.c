#include "scripts.h"

/* Voice connections of the members of `room`, skipping user `skip`, as a
 * flat list gateway, connection, ... A member whose voice hash names another
 * room (membership changing right now) is not in this room any more. */
#define LUA_CONNS                                                                   \
	"local function conns(room, skip, out)\n"                                   \
	"  for _, m in ipairs(redis.call('SMEMBERS', 'room:' .. room .. ':members')) do\n" \
	"    if m ~= skip then\n"                                                   \
	"      local v = redis.call('HMGET', 'user:' .. m .. ':voice', 'room', 'gateway', 'conn')\n" \
	"      if v[1] == room and v[2] and v[3] and v[2] ~= '' and v[3] ~= '' then\n" \
	"        out[#out + 1] = v[2]\n"                                              \
	"        out[#out + 1] = v[3]\n"                                              \
	"      end\n"                                                                 \
	"    end\n"                                                                   \
	"  end\n"                                                                     \
	"  return out\n"                                                              \
	"end\n"

const char script_room_set[] =
	LUA_CONNS
	"local room = redis.call('HGET', 'user:' .. ARGV[1] .. ':voice', 'room')\n"
	"if not room or room == '' then return {} end\n"
	"local kv = {}\n"
	"for i = 2, #ARGV do kv[#kv + 1] = ARGV[i] end\n"
	"redis.call('HSET', 'media:' .. ARGV[1], unpack(kv))\n"
	"return conns(room, nil, {room})\n";

/* The throttle's memory lives in media:<uid> next to the value, so that
 * every instance of mediasvc (one user's requests are spread over them)
 * keeps the same limit: talking_sent is the value clients were last sent,
 * talking_at when the last announcement went out (Redis' clock, the one
 * clock all instances share), talking_dirty "1" while a change has not been
 * announced yet. An announcement is a `talking` broadcast when the value
 * differs from what clients were sent, and in any case a media.changed, so
 * that roomsvc's lists are re-read after the last change even when the
 * value went back to what clients already show. */
#define LUA_FLUSH                                                                   \
	"local function flush(key, min)\n"                                          \
	"  local f = redis.call('HMGET', key, 'talking', 'talking_sent', 'talking_at', 'talking_dirty')\n" \
	"  if f[4] ~= '1' then return {0, 0} end\n"                                 \
	"  local cur, sent, at = f[1] or '0', f[2] or '0', tonumber(f[3] or '0') or 0\n" \
	"  local t = redis.call('TIME')\n"                                          \
	"  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
	"  if now - at < min then return {2, at + min - now} end\n"                 \
	"  redis.call('HSET', key, 'talking_sent', cur, 'talking_at', string.format('%d', now),\n" \
	"             'talking_dirty', '0')\n"                                      \
	"  if cur == sent then return {3, 0} end\n"                                 \
	"  return {1, tonumber(cur)}\n"                                             \
	"end\n"

const char script_talking_set[] =
	LUA_FLUSH
	"local key = 'media:' .. ARGV[1]\n"
	"local old = redis.call('HGET', key, 'talking') or '0'\n"
	"if old == ARGV[2] then return {0, 0} end\n"
	"redis.call('HSET', key, 'talking', ARGV[2], 'talking_dirty', '1')\n"
	"return flush(key, tonumber(ARGV[3]))\n";

const char script_talking_flush[] =
	LUA_FLUSH
	"return flush('media:' .. ARGV[1], tonumber(ARGV[2]))\n";

const char script_leave[] =
	LUA_CONNS
	"local key = 'media:' .. ARGV[1]\n"
	"local f = redis.call('HMGET', key, 'live', 'talking_sent')\n"
	"local live = f[1] == '1' and 1 or 0\n"
	"local shown = f[2] == '1' and 1 or 0\n"
	"redis.call('HSET', key, 'talking', '0', 'talking_sent', '0', 'talking_dirty', '0',\n"
	"           'live', '0', 'label', '', 'video', '0', 'audio', '0')\n"
	"if live == 0 then return {live, shown} end\n"
	"return conns(ARGV[2], ARGV[1], {live, shown})\n";
