/* wire: the lossless codec for Lua values between corral processes.
 *
 * A frame is a 4-byte little-endian body length, then one encoded value:
 *   'n' nil   'f' false   't' true
 *   'i' int8   'h' int16 LE   'w' int32 LE   'I' int64 LE   (integers stay integers; the
 *                                                           smallest that holds the value)
 *   'd' double, 8 raw bytes LE                (bit-exact: NaN payloads, -0.0, inf)
 *   's' varint length, bytes                  (binary safe)
 *   'T' varint narray, narray values (keys 1..narray), varint nhash, nhash key/value pairs
 *   'F' varint length, lua_dump bytecode      (functions whose only upvalue is _ENV)
 * Tables are written raw (no metamethods). Shared subtables are written once per reference;
 * a table that contains itself is refused, as are userdata, threads, C functions and
 * functions with upvalues, with the path of the bad value ("args[2].cb").
 *
 * The encoder reports errors by return code so that its malloc'd buffer is freed before the
 * error is raised. The decoder never raises on bad input: it returns nil, message. It loads
 * bytecode only when asked (opts.functions): Lua's undump is not safe against hostile input,
 * so only frames from a trusted peer (the parent) may carry functions. */
#include "core.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200
#define DEFAULT_MAX_SIZE ((size_t)256 << 20)  /* 256 MiB */

/* ---------- encoder ---------- */

typedef struct {
  char *p;                          /* small, until the frame outgrows it */
  size_t n, cap, max;
  char small[480];
  int depth;
  int keyidx[MAX_DEPTH + 1];        /* stack index of the key being written at each depth, */
  lua_Integer index[MAX_DEPTH + 1]; /* ... or 0 and the array index being written */
  const void *open[MAX_DEPTH + 1];  /* tables being written, for cycle detection */
  int functions;                    /* may functions be encoded? */
  const char *root;
  char err[512];
} Enc;

static int enc_grow(Enc *e, size_t need) {
  if (e->n + need > e->max + 4) {
    snprintf(e->err, sizeof e->err, "cannot encode: frame larger than %zu bytes", e->max);
    return -1;
  }
  if (e->n + need <= e->cap) return 0;
  size_t cap = e->cap ? e->cap : 256;
  while (cap < e->n + need) cap *= 2;
  char *p = e->p == e->small ? malloc(cap) : realloc(e->p, cap);
  if (!p) {
    snprintf(e->err, sizeof e->err, "out of memory");
    return -1;
  }
  if (e->p == e->small) memcpy(p, e->small, e->n);
  e->p = p;
  e->cap = cap;
  return 0;
}

static int put(Enc *e, const void *s, size_t len) {
  if (enc_grow(e, len)) return -1;
  memcpy(e->p + e->n, s, len);
  e->n += len;
  return 0;
}

static int put_byte(Enc *e, char c) { return put(e, &c, 1); }

/* v as a varint in b (7 bits a byte, low first); returns its length. */
static int varint(unsigned char b[10], uint64_t v) {
  int k = 0;
  do {
    b[k] = v & 0x7f;
    v >>= 7;
    if (v) b[k] |= 0x80;
    k++;
  } while (v);
  return k;
}

static int put_varint(Enc *e, uint64_t v) {
  unsigned char b[10];
  return put(e, b, (size_t)varint(b, v));
}

static void le64(unsigned char *b, uint64_t v) {
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static int is_identifier(const char *s, size_t len) {
  static const char *const reserved[] = {
      "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
      "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while", NULL};
  if (len == 0 || len > 64) return 0;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return 0;
    if (i == 0 && c >= '0' && c <= '9') return 0;
  }
  for (int i = 0; reserved[i]; i++)
    if (strlen(reserved[i]) == len && memcmp(reserved[i], s, len) == 0) return 0;
  return 1;
}

/* Append one path segment for the key at stack index idx. */
static void path_key(lua_State *L, luaL_Buffer *b, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (is_identifier(s, len)) {
      luaL_addchar(b, '.');
      luaL_addlstring(b, s, len);
    } else {
      luaL_addstring(b, "[\"");
      for (size_t i = 0; i < len && i < 40; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 32 && c < 127 && c != '"' && c != '\\') luaL_addchar(b, c);
        else {
          char x[8];
          snprintf(x, sizeof x, "\\%u", c);
          luaL_addstring(b, x);
        }
      }
      luaL_addstring(b, len > 40 ? "...\"]" : "\"]");
    }
    break;
  }
  case LUA_TNUMBER:
    luaL_addchar(b, '[');
    lua_pushvalue(L, idx);  /* a copy: converting the key itself would confuse lua_next */
    luaL_addvalue(b);
    luaL_addchar(b, ']');
    break;
  case LUA_TBOOLEAN:
    luaL_addstring(b, lua_toboolean(L, idx) ? "[true]" : "[false]");
    break;
  default:
    luaL_addchar(b, '[');
    luaL_addstring(b, luaL_typename(L, idx));
    luaL_addchar(b, ']');
  }
}

/* Record "what at PATH" in e->err while the keys are still on the stack. */
static int fail_at(lua_State *L, Enc *e, const char *what) {
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, e->root);
  for (int d = 0; d < e->depth; d++) {
    if (e->depth > 16 && d == 8) {  /* keep deep paths readable: first 8 ... last 8 */
      luaL_addstring(&b, "...");
      d = e->depth - 8;
    }
    if (e->keyidx[d]) path_key(L, &b, e->keyidx[d]);
    else {
      char x[32];
      snprintf(x, sizeof x, "[%lld]", (long long)e->index[d]);
      luaL_addstring(&b, x);
    }
  }
  luaL_pushresult(&b);
  snprintf(e->err, sizeof e->err, "%s at %s", what, lua_tostring(L, -1));
  lua_pop(L, 1);
  return -1;
}

static int writer(lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  return put((Enc *)ud, p, sz);
}

static int enc_value(lua_State *L, Enc *e, int idx);

/* Registry keys: function -> its dump (weak keys); dump -> loaded function (weak values). */
static char dump_cache, load_cache;

static int enc_function(lua_State *L, Enc *e, int idx) {
  if (lua_iscfunction(L, idx)) return fail_at(L, e, "cannot encode C function");
  if (!e->functions) return fail_at(L, e, "cannot encode function");
  for (int i = 1;; i++) {
    const char *name = lua_getupvalue(L, idx, i);
    if (!name) break;
    lua_pop(L, 1);
    if (strcmp(name, "_ENV") != 0) {
      char what[160];
      snprintf(what, sizeof what, "cannot encode function with upvalue '%.100s'", *name ? name : "?");
      return fail_at(L, e, what);
    }
  }
  if (put_byte(e, 'F')) return -1;
  /* map submits one function thousands of times: its dump is cached (weak keys). */
  lua_rawgetp(L, LUA_REGISTRYINDEX, &dump_cache);
  lua_pushvalue(L, idx);
  if (lua_rawget(L, -2) == LUA_TSTRING) {
    size_t len;
    const char *code = lua_tolstring(L, -1, &len);
    int rc = put_varint(e, len) || put(e, code, len);
    lua_pop(L, 2);
    return rc ? -1 : 0;
  }
  lua_pop(L, 1);  /* the cache stays below, for the store */
  /* Dump into a scratch Enc, then length-prefix it. */
  Enc f;
  f.p = f.small;
  f.n = 0;
  f.cap = sizeof f.small;
  f.max = e->max;
  f.err[0] = 0;
  lua_pushvalue(L, idx);
  int rc = lua_dump(L, writer, &f, 0);
  lua_pop(L, 1);
  if (rc != 0) {
    lua_pop(L, 1);
    if (f.p != f.small) free(f.p);
    if (f.err[0]) memcpy(e->err, f.err, sizeof e->err);
    else snprintf(e->err, sizeof e->err, "cannot dump function");
    return -1;
  }
  rc = put_varint(e, f.n) || put(e, f.p, f.n);
  if (rc == 0) {
    lua_pushvalue(L, idx);
    lua_pushlstring(L, f.p, f.n);
    lua_rawset(L, -3);
  }
  lua_pop(L, 1);
  if (f.p != f.small) free(f.p);
  return rc ? -1 : 0;
}

/* Write v as a varint at offset `at`, where one byte was reserved for it. */
static int put_varint_at(Enc *e, size_t at, uint64_t v) {
  unsigned char b[10];
  int k = varint(b, v);
  if (k > 1) {
    if (enc_grow(e, (size_t)k - 1)) return -1;
    memmove(e->p + at + k, e->p + at + 1, e->n - at - 1);
    e->n += (size_t)k - 1;
  }
  memcpy(e->p + at, b, (size_t)k);
  return 0;
}

static int enc_table(lua_State *L, Enc *e, int idx) {
  const void *t = lua_topointer(L, idx);
  for (int d = 0; d < e->depth; d++)
    if (e->open[d] == t) return fail_at(L, e, "cannot encode a table that contains itself");
  if (e->depth >= MAX_DEPTH) {
    char what[64];
    snprintf(what, sizeof what, "cannot encode tables nested deeper than %d", MAX_DEPTH);
    return fail_at(L, e, what);
  }
  if (!lua_checkstack(L, 8)) return fail_at(L, e, "cannot encode: Lua stack exhausted");
  e->open[e->depth] = t;
  int d = e->depth++;
  /* The array part is keys 1..narr, narr a border (t[narr] ~= nil, t[narr + 1] == nil) as
   * lua_rawlen finds it without a scan; a hole below it is written as nil. */
  lua_Integer narr = (lua_Integer)lua_rawlen(L, idx);
  e->keyidx[d] = 0;
  if (put_byte(e, 'T') || put_varint(e, (uint64_t)narr)) return -1;
  for (lua_Integer i = 1; i <= narr; i++) {
    lua_rawgeti(L, idx, i);
    e->index[d] = i;
    if (enc_value(L, e, lua_gettop(L))) return -1;
    lua_pop(L, 1);
  }
  /* The pairs outside 1..narr, counted as they are written: the count goes before them. */
  size_t at = e->n;
  if (put_byte(e, 0)) return -1;
  uint64_t nhash = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int k = lua_gettop(L) - 1;
    if (lua_isinteger(L, k)) {
      lua_Integer key = lua_tointeger(L, k);
      if (key >= 1 && key <= narr) {
        lua_pop(L, 1);
        continue;
      }
    }
    e->keyidx[d] = k;  /* a bad key is reported at its own path: t[userdata] */
    if (enc_value(L, e, k) || enc_value(L, e, k + 1)) return -1;
    lua_pop(L, 1);
    nhash++;
  }
  if (put_varint_at(e, at, nhash)) return -1;
  e->depth = d;
  return 0;
}

static int enc_value(lua_State *L, Enc *e, int idx) {
  unsigned char b[9];
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return put_byte(e, 'n');
  case LUA_TBOOLEAN:
    return put_byte(e, lua_toboolean(L, idx) ? 't' : 'f');
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      lua_Integer v = lua_tointeger(L, idx);
      if (v >= -128 && v <= 127) {
        b[0] = 'i';
        b[1] = (unsigned char)(int8_t)v;
        return put(e, b, 2);
      }
      if (v >= INT16_MIN && v <= INT16_MAX) {
        b[0] = 'h';
        b[1] = (unsigned char)((uint16_t)v & 0xff);
        b[2] = (unsigned char)((uint16_t)v >> 8);
        return put(e, b, 3);
      }
      if (v >= INT32_MIN && v <= INT32_MAX) {
        b[0] = 'w';
        for (int i = 0; i < 4; i++) b[1 + i] = (unsigned char)((uint32_t)v >> (8 * i));
        return put(e, b, 5);
      }
      b[0] = 'I';
      le64(b + 1, (uint64_t)v);
      return put(e, b, 9);
    } else {
      lua_Number x = lua_tonumber(L, idx);
      uint64_t bits;
      memcpy(&bits, &x, 8);
      b[0] = 'd';
      le64(b + 1, bits);
      return put(e, b, 9);
    }
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (put_byte(e, 's') || put_varint(e, len)) return -1;
    return put(e, s, len);
  }
  case LUA_TTABLE:
    return enc_table(L, e, idx);
  case LUA_TFUNCTION:
    return enc_function(L, e, idx);
  default: {
    char what[64];
    snprintf(what, sizeof what, "cannot encode %s", luaL_typename(L, idx));
    return fail_at(L, e, what);
  }
  }
}

static size_t opt_size(lua_State *L, int opts, const char *field, size_t def) {
  if (lua_type(L, opts) != LUA_TTABLE) return def;
  lua_getfield(L, opts, field);
  size_t v = def;
  if (!lua_isnil(L, -1)) {
    lua_Integer i = lua_tointeger(L, -1);
    if (i <= 0 || i > 0xffffffffLL) luaL_error(L, "bad option '%s' (integer 1..2^32-1 expected)", field);
    v = (size_t)i;
  }
  lua_pop(L, 1);
  return v;
}

static int opt_bool(lua_State *L, int opts, const char *field, int def) {
  if (lua_type(L, opts) != LUA_TTABLE) return def;
  lua_getfield(L, opts, field);
  int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* An encoder with room for the frame's 4-byte length, written by enc_finish. */
static void enc_init(Enc *e, const char *root, int functions, size_t max) {
  e->p = e->small;
  e->cap = sizeof e->small;
  memset(e->small, 0, 4);
  e->n = 4;
  e->depth = 0;
  e->err[0] = 0;
  e->root = root;
  e->functions = functions;
  e->max = max;
}

/* The frame (its length filled in) or the encoder's error, raised; the buffer is freed. */
static int enc_finish(lua_State *L, Enc *e, int rc) {
  if (e->p != e->small && rc) free(e->p);
  if (rc) {
    lua_pushstring(L, e->err);
    return lua_error(L);
  }
  size_t body = e->n - 4;
  for (int i = 0; i < 4; i++) e->p[i] = (char)(body >> (8 * i));
  lua_pushlstring(L, e->p, e->n);  /* may raise (memory): free first would lose the frame */
  if (e->p != e->small) free(e->p);
  return 1;
}

/* encode(value [, root [, opts]]) -> frame. opts: functions (default true), max_size. */
static int l_encode(lua_State *L) {
  luaL_checkany(L, 1);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  Enc enc;
  Enc *e = &enc;
  enc_init(e, luaL_optstring(L, 2, "value"), opt_bool(L, 3, "functions", 1),
           opt_size(L, 3, "max_size", DEFAULT_MAX_SIZE));
  int top = lua_gettop(L);
  int rc = enc_value(L, e, 1);
  lua_settop(L, top);
  return enc_finish(L, e, rc);
}

/* encode_pack(root, ...) -> frame: what encode(table.pack(...), root) gives, without making
 * the table (a lua task is sent as table.pack(fn, args...): one per task of a map). */
static int l_encode_pack(lua_State *L) {
  const char *root = luaL_checkstring(L, 1);
  int n = lua_gettop(L) - 1;
  luaL_checkstack(L, 8, "too many values to encode");
  Enc enc;
  Enc *e = &enc;
  enc_init(e, root, 1, DEFAULT_MAX_SIZE);
  e->depth = 1;
  e->open[0] = NULL;  /* the pack is no table of the caller's: it cannot be met again */
  int narr = 0;
  while (narr < n && !lua_isnil(L, 2 + narr)) narr++;
  uint64_t nhash = 1;  /* "n" */
  for (int i = narr + 1; i <= n; i++)
    if (!lua_isnil(L, 1 + i)) nhash++;
  int top = lua_gettop(L);
  int rc = put_byte(e, 'T') || put_varint(e, (uint64_t)narr);
  for (int i = 1; rc == 0 && i <= narr; i++) {
    lua_pushinteger(L, i);
    e->keyidx[0] = lua_gettop(L);
    rc = enc_value(L, e, 1 + i);
    lua_settop(L, top);
  }
  if (rc == 0) rc = put_varint(e, nhash);
  for (int i = narr + 1; rc == 0 && i <= n; i++) {
    if (lua_isnil(L, 1 + i)) continue;
    lua_pushinteger(L, i);
    e->keyidx[0] = lua_gettop(L);
    rc = enc_value(L, e, e->keyidx[0]) || enc_value(L, e, 1 + i);
    lua_settop(L, top);
  }
  if (rc == 0) {
    lua_pushliteral(L, "n");
    lua_pushinteger(L, n);
    e->keyidx[0] = top + 1;
    rc = enc_value(L, e, top + 1) || enc_value(L, e, top + 2);
    lua_settop(L, top);
  }
  return enc_finish(L, e, rc);
}

/* encode_chunk(fn, list, first, last [, all]) -> frame: what encode({ fn, m = { list[first],
 * ..., list[last] }, n = last - first + 1, all = all or nil }, "task") gives, without making
 * the slice (a map cuts its list into chunks, one frame each). A nil item is written as nil:
 * n says how many there are. */
static int l_encode_chunk(lua_State *L) {
  luaL_checkany(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer first = luaL_checkinteger(L, 3), last = luaL_checkinteger(L, 4);
  luaL_argcheck(L, first >= 1, 3, "index out of range");
  luaL_argcheck(L, last >= first - 1 && last - first < (1 << 30), 4, "bad range");
  int all = lua_toboolean(L, 5);
  lua_settop(L, 5);
  luaL_checkstack(L, 8, "cannot encode: Lua stack exhausted");
  lua_pushinteger(L, 1);
  lua_pushliteral(L, "m");
  int top = lua_gettop(L);  /* top - 1: the key 1 (fn), top: the key "m" */
  Enc enc;
  Enc *e = &enc;
  enc_init(e, "task", 1, DEFAULT_MAX_SIZE);
  e->depth = 1;
  e->open[0] = NULL;  /* the message is no table of the caller's */
  e->keyidx[0] = top - 1;
  int rc = put_byte(e, 'T') || put_varint(e, 1) || enc_value(L, e, 1) || put_varint(e, all ? 3 : 2);
  if (rc == 0) {
    e->keyidx[0] = top;
    rc = enc_value(L, e, top) || put_byte(e, 'T') || put_varint(e, (uint64_t)(last - first + 1));
  }
  if (rc == 0) {
    e->depth = 2;
    e->open[1] = NULL;
    e->keyidx[1] = 0;
    for (lua_Integer i = first; rc == 0 && i <= last; i++) {
      lua_rawgeti(L, 2, i);
      e->index[1] = i - first + 1;
      rc = enc_value(L, e, top + 1);
      lua_settop(L, top);
    }
    e->depth = 1;
    rc = rc || put_varint(e, 0);
  }
  if (rc == 0) {
    lua_pushliteral(L, "n");
    lua_pushinteger(L, last - first + 1);
    rc = enc_value(L, e, top + 1) || enc_value(L, e, top + 2);
    lua_settop(L, top);
  }
  if (rc == 0 && all) {
    lua_pushliteral(L, "all");
    rc = enc_value(L, e, top + 1) || put_byte(e, 't');
    lua_settop(L, top);
  }
  return enc_finish(L, e, rc);
}

/* ---------- decoder ---------- */

typedef struct {
  const unsigned char *p, *end;
  int depth;
  int functions;
  const char *err;
} Dec;

static int get_varint(Dec *d, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (d->p >= d->end) return d->err = "truncated varint", -1;
    unsigned char c = *d->p++;
    v |= (uint64_t)(c & 0x7f) << shift;
    if (!(c & 0x80)) {
      *out = v;
      return 0;
    }
  }
  return d->err = "varint too long", -1;
}

static uint64_t rd64(const unsigned char *b) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | b[i];
  return v;
}

typedef struct {
  const char *p;
  size_t n;
} Chunk;

static const char *reader(lua_State *L, void *ud, size_t *size) {
  (void)L;
  Chunk *c = ud;
  *size = c->n;
  c->n = 0;
  return *size ? c->p : NULL;
}

static int dec_value(lua_State *L, Dec *d);

static int dec_table(lua_State *L, Dec *d) {
  uint64_t narr, nhash;
  if (d->depth >= MAX_DEPTH) return d->err = "tables nested too deep", -1;
  if (!lua_checkstack(L, 6)) return d->err = "Lua stack exhausted", -1;
  if (get_varint(d, &narr)) return -1;
  /* Every element takes at least one byte: bounds allocation by the frame's size. */
  if (narr > (uint64_t)(d->end - d->p)) return d->err = "table larger than frame", -1;
  lua_createtable(L, narr > (1 << 24) ? (1 << 24) : (int)narr, 0);
  int t = lua_gettop(L);
  d->depth++;
  for (uint64_t i = 1; i <= narr; i++) {
    if (dec_value(L, d)) return -1;
    lua_rawseti(L, t, (lua_Integer)i);
  }
  if (get_varint(d, &nhash)) return -1;
  if (nhash > (uint64_t)(d->end - d->p) / 2) return d->err = "table larger than frame", -1;
  for (uint64_t i = 0; i < nhash; i++) {
    if (dec_value(L, d)) return -1;
    int kt = lua_type(L, -1);
    if (kt == LUA_TNIL) return d->err = "nil table key", -1;
    if (kt == LUA_TNUMBER && !lua_isinteger(L, -1)) {
      lua_Number x = lua_tonumber(L, -1);
      if (x != x) return d->err = "NaN table key", -1;
    }
    if (dec_value(L, d)) return -1;
    lua_rawset(L, t);
  }
  d->depth--;
  return 0;
}

static int dec_value(lua_State *L, Dec *d) {
  if (d->p >= d->end) return d->err = "truncated value", -1;
  if (!lua_checkstack(L, 2)) return d->err = "Lua stack exhausted", -1;
  unsigned char tag = *d->p++;
  uint64_t n;
  switch (tag) {
  case 'n': lua_pushnil(L); return 0;
  case 'f': lua_pushboolean(L, 0); return 0;
  case 't': lua_pushboolean(L, 1); return 0;
  case 'i':
    if (d->p >= d->end) return d->err = "truncated integer", -1;
    lua_pushinteger(L, (int8_t)*d->p++);
    return 0;
  case 'h':
    if (d->end - d->p < 2) return d->err = "truncated integer", -1;
    lua_pushinteger(L, (int16_t)(uint16_t)(d->p[0] | (d->p[1] << 8)));
    d->p += 2;
    return 0;
  case 'w':
    if (d->end - d->p < 4) return d->err = "truncated integer", -1;
    lua_pushinteger(L, (int32_t)((uint32_t)d->p[0] | ((uint32_t)d->p[1] << 8) |
                                 ((uint32_t)d->p[2] << 16) | ((uint32_t)d->p[3] << 24)));
    d->p += 4;
    return 0;
  case 'I':
    if (d->end - d->p < 8) return d->err = "truncated integer", -1;
    lua_pushinteger(L, (lua_Integer)rd64(d->p));
    d->p += 8;
    return 0;
  case 'd': {
    if (d->end - d->p < 8) return d->err = "truncated float", -1;
    uint64_t bits = rd64(d->p);
    lua_Number x;
    memcpy(&x, &bits, 8);
    lua_pushnumber(L, x);
    d->p += 8;
    return 0;
  }
  case 's':
    if (get_varint(d, &n)) return -1;
    if (n > (uint64_t)(d->end - d->p)) return d->err = "truncated string", -1;
    lua_pushlstring(L, (const char *)d->p, (size_t)n);
    d->p += n;
    return 0;
  case 'T':
    return dec_table(L, d);
  case 'F': {
    if (!d->functions) return d->err = "function not allowed in this frame", -1;
    if (get_varint(d, &n)) return -1;
    if (n > (uint64_t)(d->end - d->p)) return d->err = "truncated function", -1;
    Chunk c = {(const char *)d->p, (size_t)n};
    d->p += n;
    /* The same task function arrives over and over: reuse what was loaded (weak values). */
    if (!lua_checkstack(L, 4)) return d->err = "Lua stack exhausted", -1;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &load_cache);
    lua_pushlstring(L, c.p, c.n);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TFUNCTION) {
      lua_replace(L, -3);
      lua_pop(L, 1);
      return 0;
    }
    lua_pop(L, 1);
    /* lua_load sets the first upvalue (_ENV, the only one allowed) to the globals. */
    if (lua_load(L, reader, &c, "=task", "b") != LUA_OK) {
      lua_pop(L, 3);
      return d->err = "bad function bytecode", -1;
    }
    lua_pushvalue(L, -1);
    lua_insert(L, -3);       /* cache, fn, code, fn */
    lua_rawset(L, -4);       /* cache[code] = fn */
    lua_remove(L, -2);       /* fn */
    return 0;
  }
  default:
    return d->err = "unknown tag", -1;
  }
}

/* decode(buf [, pos [, opts]]) -> value, nextpos | false, need | nil, message.
 * false: the frame at pos is incomplete; need is the total length it will have.
 * opts: functions (default false), max_size. Never raises on bad input. */
static int l_decode(lua_State *L) {
  size_t len;
  const char *buf = luaL_checklstring(L, 1, &len);
  lua_Integer pos = luaL_optinteger(L, 2, 1);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  size_t max = opt_size(L, 3, "max_size", DEFAULT_MAX_SIZE);
  int functions = opt_bool(L, 3, "functions", 0);
  luaL_argcheck(L, pos >= 1 && (size_t)pos <= len + 1, 2, "position out of range");
  size_t off = (size_t)pos - 1, avail = len - off;
  if (avail < 4) {
    lua_pushboolean(L, 0);
    lua_pushinteger(L, 4);
    return 2;
  }
  const unsigned char *h = (const unsigned char *)buf + off;
  size_t body = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24;
  if (body > max) {
    lua_pushnil(L);
    lua_pushfstring(L, "malformed frame: body of %I bytes exceeds the limit of %I",
                    (lua_Integer)body, (lua_Integer)max);
    return 2;
  }
  if (avail - 4 < body) {
    lua_pushboolean(L, 0);
    lua_pushinteger(L, (lua_Integer)(body + 4));
    return 2;
  }
  Dec d = {h + 4, h + 4 + body, 0, functions, NULL};
  int top = lua_gettop(L);
  if (body == 0) d.err = "empty frame";
  else if (dec_value(L, &d) == 0 && d.p != d.end) d.err = "trailing bytes after the value";
  if (d.err) {
    lua_settop(L, top);
    lua_pushnil(L);
    lua_pushfstring(L, "malformed frame: %s", d.err);
    return 2;
  }
  lua_pushinteger(L, pos + 4 + (lua_Integer)body);
  return 2;
}

static void weak_table(lua_State *L, void *key, const char *mode) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushstring(L, mode);
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
}

void corral_open_wire(lua_State *L) {
  weak_table(L, &dump_cache, "k");
  weak_table(L, &load_cache, "v");
  static const luaL_Reg fns[] = {{"encode", l_encode}, {"encode_pack", l_encode_pack},
                                 {"encode_chunk", l_encode_chunk},
                                 {"decode", l_decode}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
