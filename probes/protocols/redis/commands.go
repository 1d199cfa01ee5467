package redis

import (
	"bytes"
	"strconv"
	"strings"
)

// known are Redis command names (7.x, plus a few common module ones).
// Known names are upper-cased; others are kept as sent, escaped.
var known = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(`
ACL APPEND ASKING AUTH BGREWRITEAOF BGSAVE BITCOUNT BITFIELD BITFIELD_RO BITOP BITPOS
BLMOVE BLMPOP BLPOP BRPOP BRPOPLPUSH BZMPOP BZPOPMAX BZPOPMIN CLIENT CLUSTER COMMAND
CONFIG COPY DBSIZE DEBUG DECR DECRBY DEL DISCARD DUMP ECHO EVAL EVALSHA EVALSHA_RO EVAL_RO
EXEC EXISTS EXPIRE EXPIREAT EXPIRETIME FAILOVER FCALL FCALL_RO FLUSHALL FLUSHDB FUNCTION
GEOADD GEODIST GEOHASH GEOPOS GEORADIUS GEORADIUSBYMEMBER GEORADIUSBYMEMBER_RO GEORADIUS_RO
GEOSEARCH GEOSEARCHSTORE GET GETBIT GETDEL GETEX GETRANGE GETSET HDEL HELLO HEXISTS HGET
HGETALL HINCRBY HINCRBYFLOAT HKEYS HLEN HMGET HMSET HRANDFIELD HSCAN HSET HSETNX HSTRLEN
HVALS INCR INCRBY INCRBYFLOAT INFO KEYS LASTSAVE LATENCY LCS LINDEX LINSERT LLEN LMOVE
LMPOP LOLWUT LPOP LPOS LPUSH LPUSHX LRANGE LREM LSET LTRIM MEMORY MGET MIGRATE MODULE
MONITOR MOVE MSET MSETNX MULTI OBJECT PERSIST PEXPIRE PEXPIREAT PEXPIRETIME PFADD PFCOUNT
PFDEBUG PFMERGE PFSELFTEST PING PSETEX PSUBSCRIBE PSYNC PTTL PUBLISH PUBSUB PUNSUBSCRIBE
QUIT RANDOMKEY READONLY READWRITE RENAME RENAMENX REPLCONF REPLICAOF RESET RESTORE
RESTORE-ASKING ROLE RPOP RPOPLPUSH RPUSH RPUSHX SADD SAVE SCAN SCARD SCRIPT SDIFF
SDIFFSTORE SELECT SET SETBIT SETEX SETNX SETRANGE SHUTDOWN SINTER SINTERCARD SINTERSTORE
SISMEMBER SLAVEOF SLOWLOG SMEMBERS SMISMEMBER SMOVE SORT SORT_RO SPOP SPUBLISH SRANDMEMBER
SREM SSCAN SSUBSCRIBE STRLEN SUBSCRIBE SUBSTR SUNION SUNIONSTORE SUNSUBSCRIBE SWAPDB SYNC
TIME TOUCH TTL TYPE UNLINK UNSUBSCRIBE UNWATCH WAIT WAITAOF WATCH XACK XADD XAUTOCLAIM
XCLAIM XDEL XGROUP XINFO XLEN XPENDING XRANGE XREAD XREADGROUP XREVRANGE XSETID XTRIM
ZADD ZCARD ZCOUNT ZDIFF ZDIFFSTORE ZINCRBY ZINTER ZINTERCARD ZINTERSTORE ZLEXCOUNT ZMPOP
ZMSCORE ZPOPMAX ZPOPMIN ZRANDMEMBER ZRANGE ZRANGEBYLEX ZRANGEBYSCORE ZRANGESTORE ZRANK
ZREM ZREMRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREVRANGE ZREVRANGEBYLEX
ZREVRANGEBYSCORE ZREVRANK ZSCAN ZSCORE ZUNION ZUNIONSTORE`) {
		m[c] = true
	}
	return m
}()

// containers are commands whose first argument is a subcommand, shown
// with them ("CONFIG GET", "CLIENT SETNAME").
var containers = map[string]bool{
	"ACL": true, "CLIENT": true, "CLUSTER": true, "COMMAND": true, "CONFIG": true,
	"FUNCTION": true, "LATENCY": true, "MEMORY": true, "MODULE": true, "OBJECT": true,
	"PUBSUB": true, "SCRIPT": true, "SLOWLOG": true, "XGROUP": true, "XINFO": true,
}

// commandName is the endpoint of a command: a known name upper-cased,
// anything else as sent, escaped and bounded (n is its full length).
func commandName(v []byte, n int64) string {
	if u := upperWord(v); u != "" && known[u] {
		return u
	}
	s := strconv.QuoteToASCII(string(v))
	s = s[1 : len(s)-1]
	if n > int64(len(v)) {
		s += "…"
	}
	if s == "" {
		s = `""`
	}
	return s
}

// upperWord upper-cases v when it is a plain word (letters, digits, _ -|.)
// of at most 32 bytes, else returns "".
func upperWord(v []byte) string {
	if len(v) == 0 || len(v) > 32 {
		return ""
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '|' || c == '.') {
			return ""
		}
	}
	return string(bytes.ToUpper(v))
}

// secretFrom returns, when element i (value v) of the command shows that
// credentials follow, the index from which every element is redacted even
// with full data; else 0.
func secretFrom(cmd, sub string, i int, v []byte) int {
	switch cmd {
	case "AUTH":
		return i
	case "HELLO", "MIGRATE":
		// HELLO 3 AUTH user pass; MIGRATE ... AUTH pass / AUTH2 user pass
		if i > 1 && (bytes.EqualFold(v, []byte("AUTH")) || bytes.EqualFold(v, []byte("AUTH2"))) {
			return i + 1
		}
	case "CONFIG":
		// CONFIG SET requirepass x / masterauth x: the value follows the name.
		if sub == "SET" && i >= 2 && (bytes.EqualFold(v, []byte("requirepass")) || bytes.EqualFold(v, []byte("masterauth"))) {
			return i + 1
		}
	case "ACL":
		if sub == "SETUSER" && i > 2 { // rules hold >password and #hash
			return i
		}
	}
	return 0
}
