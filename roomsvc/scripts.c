/* Lua for Redis 7 (see scripts.h). HMGET gives Lua `false` for a missing
 * field or key, which is how "absent" is tested below. */
#include "scripts.h"

/* Every script that changes what the lists show calls bump(). When
 * state:version is missing (first start, or a Redis that lost its data
 * while gateways kept the last version they forwarded) it starts from the
 * Redis clock in microseconds, not from 0: gateways drop lists older than
 * the last one they forwarded, so a counter restarting at 1 would silence
 * the lists until it caught up. TIME's parts are strings; they are joined
 * as text because Lua's numbers would print 16 digits in exponent form. */
#define BUMP                                                                                       \
	"local function bump()\n"                                                                  \
	"  if redis.call('EXISTS', 'state:version') == 0 then\n"                                   \
	"    local t = redis.call('TIME')\n"                                                       \
	"    redis.call('SET', 'state:version', t[1]..string.rep('0', 6 - #t[2])..t[2])\n"         \
	"  end\n"                                                                                  \
	"  return redis.call('INCR', 'state:version')\n"                                           \
	"end\n"

/* ARGV: marker key, then id, name, type of each first-start room (its
 * position is its index). Creates them only if the marker was not there:
 * SET NX decides between instances starting together.
 * Reply: 1 created, 0 already done. */
const char script_bootstrap[] = BUMP
	"if not redis.call('SET', ARGV[1], '1', 'NX') then return 0 end\n"
	"local pos = 0\n"
	"for i = 2, #ARGV, 3 do\n"
	"  redis.call('HSET', 'room:'..ARGV[i], 'name', ARGV[i+1], 'type', ARGV[i+2], 'position', pos)\n"
	"  redis.call('ZADD', 'rooms', pos, ARGV[i])\n"
	"  pos = pos + 1\n"
	"end\n"
	"bump()\n"
	"return 1\n";

/* ARGV: request id ('' for none), room id, name, type, position ('' for
 * after the last). A request id seen before makes it a no-op: the gateway
 * retries a timed-out request with the same id.
 * Reply: {'dup'} or {'ok', position}. */
const char script_room_create[] = BUMP
	"local req = 'roomsvc:req:'..ARGV[1]\n"
	"if ARGV[1] ~= '' and redis.call('EXISTS', req) == 1 then return {'dup'} end\n"
	"local pos = tonumber(ARGV[5])\n"
	"if not pos then\n"
	"  local last = redis.call('ZREVRANGE', 'rooms', 0, 0, 'WITHSCORES')\n"
	"  pos = 0\n"
	"  if #last > 0 then pos = tonumber(last[2]) + 1 end\n"
	"end\n"
	"redis.call('HSET', 'room:'..ARGV[2], 'name', ARGV[3], 'type', ARGV[4], 'position', pos)\n"
	"redis.call('ZADD', 'rooms', pos, ARGV[2])\n"
	"bump()\n"
	"if ARGV[1] ~= '' then redis.call('SET', req, '1', 'EX', " REQUEST_TTL_S ") end\n"
	"return {'ok', pos}\n";

/* ARGV: room id, name, position ('' to keep it). Renaming twice is
 * harmless, so no request id.
 * Reply: {'missing'} or {'ok', type, position}. */
const char script_room_update[] =
	BUMP "local key = 'room:'..ARGV[1]\n"
	     "if redis.call('EXISTS', key) == 0 then return {'missing'} end\n"
	     "redis.call('HSET', key, 'name', ARGV[2])\n"
	     "local pos = tonumber(ARGV[3])\n"
	     "if pos then\n"
	     "  redis.call('HSET', key, 'position', pos)\n"
	     "  redis.call('ZADD', 'rooms', pos, ARGV[1])\n"
	     "end\n"
	     "bump()\n"
	     "local r = redis.call('HMGET', key, 'type', 'position')\n"
	     "return {'ok', r[1] or '', tonumber(r[2]) or 0}\n";

/* ARGV: request id, room id. Deletes the room and its member set and the
 * voice state of members that were in it.
 * Reply: {'dup'}, {'missing'} or {'ok', name, type, position,
 * then uid, gateway, conn of each member}. */
const char script_room_remove[] =
	BUMP "local req = 'roomsvc:req:'..ARGV[1]\n"
	     "if ARGV[1] ~= '' and redis.call('EXISTS', req) == 1 then return {'dup'} end\n"
	     "local key = 'room:'..ARGV[2]\n"
	     "local r = redis.call('HMGET', key, 'name', 'type', 'position')\n"
	     "if not r[1] then return {'missing'} end\n"
	     "local out = {'ok', r[1], r[2] or '', tonumber(r[3]) or 0}\n"
	     "for _, uid in ipairs(redis.call('SMEMBERS', key..':members')) do\n"
	     "  local vk = 'user:'..uid..':voice'\n"
	     "  local v = redis.call('HMGET', vk, 'room', 'gateway', 'conn')\n"
	     "  if v[1] == ARGV[2] then redis.call('DEL', vk) end\n"
	     "  out[#out+1] = uid; out[#out+1] = v[2] or ''; out[#out+1] = v[3] or ''\n"
	     "end\n"
	     "redis.call('DEL', key, key..':members')\n"
	     "redis.call('ZREM', 'rooms', ARGV[2])\n"
	     "bump()\n"
	     "if ARGV[1] ~= '' then redis.call('SET', req, '1', 'EX', " REQUEST_TTL_S ") end\n"
	     "return out\n";

/* ARGV: user id, room id, gateway id, connection id. Moves the user into
 * the room with this connection as the voice connection. A connection
 * already closed (its tombstone is there: the close overtook the join)
 * does not join.
 * Reply: {'missing'}, {'text', name}, {'same'}, {'closed'} or
 * {'ok', previous room, its gateway, its conn ('' when none), version}. */
const char script_voice_join[] = BUMP
	"local key = 'room:'..ARGV[2]\n"
	"local r = redis.call('HMGET', key, 'name', 'type')\n"
	"if not r[1] then return {'missing'} end\n"
	"if r[2] ~= 'voice' then return {'text', r[1]} end\n"
	"local vk = 'user:'..ARGV[1]..':voice'\n"
	"local v = redis.call('HMGET', vk, 'room', 'gateway', 'conn')\n"
	"if v[1] == ARGV[2] then return {'same'} end\n"
	"if redis.call('EXISTS', 'gw:'..ARGV[3]..':closed:'..ARGV[4]) == 1 then return {'closed'} end\n"
	"if v[1] then redis.call('SREM', 'room:'..v[1]..':members', ARGV[1]) end\n"
	"redis.call('SADD', key..':members', ARGV[1])\n"
	"redis.call('DEL', vk)\n"
	"redis.call('HSET', vk, 'room', ARGV[2], 'gateway', ARGV[3], 'conn', ARGV[4])\n"
	"return {'ok', v[1] or '', v[2] or '', v[3] or '', bump()}\n";

/* ARGV: user id. Takes the user out of their voice room.
 * Reply: {} when not in one, else {room, gateway, conn, version}. */
const char script_voice_leave[] =
	BUMP "local vk = 'user:'..ARGV[1]..':voice'\n"
	     "local v = redis.call('HMGET', vk, 'room', 'gateway', 'conn')\n"
	     "if not v[1] then return {} end\n"
	     "redis.call('SREM', 'room:'..v[1]..':members', ARGV[1])\n"
	     "redis.call('DEL', vk)\n"
	     "return {v[1], v[2] or '', v[3] or '', bump()}\n";

/* ARGV: gateway id, connection id, user id, lease ms. A connection event
 * proves the gateway alive: it gets a lease if it has none yet (its first
 * heartbeat may not have been stored). A connection already closed (the
 * close overtook the open) or already counted is not counted again.
 * Reply: 1 counted, 0 not. */
const char script_conn_open[] =
	BUMP "local gw = 'gw:'..ARGV[1]\n"
	     "redis.call('SADD', 'gateways', ARGV[1])\n"
	     "redis.call('SET', gw..':lease', '1', 'PX', ARGV[4], 'NX')\n"
	     "if redis.call('EXISTS', gw..':closed:'..ARGV[2]) == 1 then return 0 end\n"
	     "if redis.call('HSETNX', gw..':conns', ARGV[2], ARGV[3]) == 0 then return 0 end\n"
	     "redis.call('HINCRBY', 'online', ARGV[3], 1)\n"
	     "bump()\n"
	     "return 1\n";

/* ARGV: gateway id, connection id. Leaves a tombstone (see above), then
 * removes the connection; whoever removes it is the one that announces it,
 * so a second close (another instance sweeping, a repeated event) is a
 * no-op. The user leaves their voice room when this was their voice
 * connection.
 * Reply: {} when the connection was not there, else {user id, room left
 * or ''}. */
const char script_conn_close[] = BUMP
	"local gw = 'gw:'..ARGV[1]\n"
	"redis.call('SET', gw..':closed:'..ARGV[2], '1', 'PX', " TOMBSTONE_MS ")\n"
	"local uid = redis.call('HGET', gw..':conns', ARGV[2])\n"
	"if not uid then return {} end\n"
	"redis.call('HDEL', gw..':conns', ARGV[2])\n"
	"if redis.call('HINCRBY', 'online', uid, -1) <= 0 then redis.call('HDEL', 'online', uid) end\n"
	"local out = {uid, ''}\n"
	"local vk = 'user:'..uid..':voice'\n"
	"local v = redis.call('HMGET', vk, 'room', 'gateway', 'conn')\n"
	"if v[1] and v[2] == ARGV[1] and v[3] == ARGV[2] then\n"
	"  redis.call('SREM', 'room:'..v[1]..':members', uid)\n"
	"  redis.call('DEL', vk)\n"
	"  out[2] = v[1]\n"
	"end\n"
	"bump()\n"
	"return out\n";

/* ARGV: gateway id. Forgets a swept gateway unless it came back (lease) or
 * got connections after the sweep listed them (the next sweep takes those).
 * Reply: 1 forgotten, 0 kept. */
const char script_gw_drop[] = "local gw = 'gw:'..ARGV[1]\n"
			      "if redis.call('EXISTS', gw..':lease') == 1 then return 0 end\n"
			      "if redis.call('HLEN', gw..':conns') > 0 then return 0 end\n"
			      "redis.call('SREM', 'gateways', ARGV[1])\n"
			      "return 1\n";

/* ARGV: gateway id, instance id. Releases a sweep lock if it is still ours
 * (it may have expired and been taken by another instance meanwhile). */
const char script_sweep_unlock[] =
	"local k = 'gw:'..ARGV[1]..':sweep'\n"
	"if redis.call('GET', k) == ARGV[2] then redis.call('DEL', k) end\n"
	"return 0\n";
