/* jsonl: the journal's lines, JSON objects encoded straight into a C buffer and written with
 * one write(2). A workflow writes two lines a job; made as Lua strings (lua-cjson's result,
 * then joined) they were garbage the collector had to sweep through a heap of 100000 jobs,
 * the largest part of the journal's cost. Here a line allocates nothing in Lua.
 *
 *   core.jsonl() -> buffer
 *   buffer:object(t [, event [, keys [, more]]]) -> pending bytes | nil, why
 *       t's fields as one line "{...}\n", `"event":"<event>"` first when given (readers know an
 *       event line by its first bytes); with keys (a list of names) only those fields of t
 *       (raw: no __index), then every field of more, so a record goes out as it is, without
 *       being copied into a table of the journal's fields first. Nested tables: arrays (keys
 *       1..n) or objects (string and number keys, as lua-cjson: a number key becomes its
 *       text), at most 32 deep.
 *       Strings are escaped as JSON wants (quote, backslash, control bytes) and otherwise
 *       kept byte for byte, as lua-cjson does; numbers as lua-cjson writes them (integers in
 *       full, floats "%.14g"); a light userdata NULL (cjson.null) is null. Anything else
 *       (functions, userdata, NaN, infinities, a table too deep or holding itself, keys of
 *       other types) leaves the buffer as it was and returns nil and what it met: the caller
 *       encodes that line another way and adds it with raw().
 *   buffer:raw(s) -> pending bytes
 *   buffer:flush(file) -> true | nil, message, errno
 *       the pending bytes to the io file's descriptor (an unbuffered one: setvbuf "no"), all of
 *       them, in one write(2) when the kernel takes them; then the buffer is empty, also after
 *       an error (a journal that cannot be written is not kept growing in memory).
 *   #buffer -> pending bytes */
#include "core.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JSONL_MT "corral.jsonl"
#define MAX_DEPTH 32

typedef struct {
  char *p;
  size_t n, cap;
} Buf;

typedef struct {
  Buf *b;
  const char *why;          /* what could not be encoded */
} Enc;

static int reserve(Enc *e, size_t need) {
  Buf *b = e->b;
  if (b->n + need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->n + need) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) { e->why = "out of memory"; return -1; }
  b->p = p;
  b->cap = cap;
  return 0;
}

static int put(Enc *e, const char *s, size_t len) {
  if (reserve(e, len) < 0) return -1;
  memcpy(e->b->p + e->b->n, s, len);
  e->b->n += len;
  return 0;
}

static int put_string(Enc *e, const char *s, size_t len) {
  /* worst case: every byte a \u00XX */
  if (reserve(e, len * 6 + 2) < 0) return -1;
  char *o = e->b->p + e->b->n;
  static const char hex[] = "0123456789abcdef";
  *o++ = '"';
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') { *o++ = '\\'; *o++ = (char)c; }
    else if (c >= 0x20) *o++ = (char)c;
    else if (c == '\n') { *o++ = '\\'; *o++ = 'n'; }
    else if (c == '\t') { *o++ = '\\'; *o++ = 't'; }
    else if (c == '\r') { *o++ = '\\'; *o++ = 'r'; }
    else {
      memcpy(o, "\\u00", 4);
      o[4] = hex[c >> 4];
      o[5] = hex[c & 15];
      o += 6;
    }
  }
  *o++ = '"';
  e->b->n = (size_t)(o - e->b->p);
  return 0;
}

/* Integers in full; writes at most 20 characters to out, returns how many. */
static size_t fmt_integer(char *out, lua_Integer v) {
  char tmp[24];
  size_t k = 0;
  unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do { tmp[k++] = (char)('0' + u % 10); u /= 10; } while (u);
  size_t n = 0;
  if (v < 0) out[n++] = '-';
  while (k) out[n++] = tmp[--k];
  return n;
}

/* A double as "%.14g" writes it (lua-cjson's format). snprintf takes a third of a
 * microsecond for one; the start times and durations every line has (|d| in [1e-4, 1e14)) go
 * by a fast path: the 14 significant digits from one exact scaling and rounding (the last
 * digit may differ from printf's by one in a near tie: the precision is the same). */
static size_t fmt_double(char *out, double d) {
  static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                                  1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17 };
  double a = fabs(d);
  if (!(a >= 1e-4 && a < 1e14)) return (size_t)snprintf(out, 32, "%.14g", d);
  int e = (int)floor(log10(a));
  if (e < -4) e = -4;
  if (e > 13) e = 13;
  unsigned long long q = (unsigned long long)(a * pow10[13 - e] + 0.5);
  if (q >= 100000000000000ULL) {           /* rounded up to the next power of ten */
    if (e == 13) return (size_t)snprintf(out, 32, "%.14g", d);
    e++;
    q = (unsigned long long)(a * pow10[13 - e] + 0.5);
  } else if (q < 10000000000000ULL) {     /* log10 said one too many */
    if (e == -4) return (size_t)snprintf(out, 32, "%.14g", d);
    e--;
    q = (unsigned long long)(a * pow10[13 - e] + 0.5);
  }
  if (q < 10000000000000ULL || q >= 100000000000000ULL) return (size_t)snprintf(out, 32, "%.14g", d);
  char dig[14];
  for (int i = 13; i >= 0; i--) { dig[i] = (char)('0' + q % 10); q /= 10; }
  int last = 13;                           /* %g drops the fraction's trailing zeros */
  while (last > e && last > 0 && dig[last] == '0') last--;
  size_t n = 0;
  if (d < 0) out[n++] = '-';
  if (e >= 0) {
    for (int i = 0; i <= e; i++) out[n++] = dig[i];
    if (last > e) {
      out[n++] = '.';
      for (int i = e + 1; i <= last; i++) out[n++] = dig[i];
    }
  } else {
    out[n++] = '0';
    out[n++] = '.';
    for (int i = -1; i > e; i--) out[n++] = '0';
    for (int i = 0; i <= last; i++) out[n++] = dig[i];
  }
  return n;
}

static int put_number(Enc *e, lua_State *L, int idx) {
  if (reserve(e, 32) < 0) return -1;
  char *o = e->b->p + e->b->n;
  if (lua_isinteger(L, idx)) {
    e->b->n += fmt_integer(o, lua_tointeger(L, idx));
    return 0;
  }
  double d = (double)lua_tonumber(L, idx);
  if (!isfinite(d)) { e->why = "a number JSON cannot hold (NaN or infinite)"; return -1; }
  e->b->n += fmt_double(o, d);
  return 0;
}

static int put_value(Enc *e, lua_State *L, int idx, int depth);

/* Is the table at idx an array (keys exactly 1..n, n > 0)? */
static int is_array(lua_State *L, int idx, lua_Integer *n) {
  lua_Integer count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) { lua_pop(L, 1); return 0; }
    lua_Integer k = lua_tointeger(L, -1);
    if (k > max) max = k;
    count++;
  }
  *n = max;
  return count > 0 && count == max;
}

/* The fields of the table at idx as an object's, "k":v separated by commas (one before the
 * first unless *first); keys are strings or numbers (a number's text, as lua-cjson). */
static int put_fields(Enc *e, lua_State *L, int idx, int depth, int *first) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int kt = lua_type(L, -2);
    int r = 0;
    if (!*first) r = put(e, ",", 1);
    *first = 0;
    if (r == 0 && kt == LUA_TSTRING) {
      size_t len;
      const char *k = lua_tolstring(L, -2, &len);
      r = put_string(e, k, len);
    } else if (r == 0 && kt == LUA_TNUMBER) {
      r = put(e, "\"", 1);
      if (r == 0) r = put_number(e, L, lua_gettop(L) - 1);
      if (r == 0) r = put(e, "\"", 1);
    } else if (r == 0) {
      e->why = "a table key that is neither a string nor a number";
      r = -1;
    }
    if (r == 0) r = put(e, ":", 1);
    if (r == 0) r = put_value(e, L, lua_gettop(L), depth + 1);
    lua_pop(L, 1);
    if (r < 0) { lua_pop(L, 1); return -1; }
  }
  return 0;
}

static int put_table(Enc *e, lua_State *L, int idx, int depth) {
  if (depth > MAX_DEPTH) { e->why = "tables nested too deep (or a table holding itself)"; return -1; }
  if (!lua_checkstack(L, 4)) { e->why = "no Lua stack left"; return -1; }
  lua_Integer n;
  if (is_array(L, idx, &n)) {
    if (put(e, "[", 1) < 0) return -1;
    for (lua_Integer i = 1; i <= n; i++) {
      if (i > 1 && put(e, ",", 1) < 0) return -1;
      lua_rawgeti(L, idx, i);
      int r = put_value(e, L, lua_gettop(L), depth + 1);
      lua_pop(L, 1);
      if (r < 0) return -1;
    }
    return put(e, "]", 1);
  }
  int first = 1;
  if (put(e, "{", 1) < 0 || put_fields(e, L, idx, depth, &first) < 0) return -1;
  return put(e, "}", 1);
}

static int put_value(Enc *e, lua_State *L, int idx, int depth) {
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    return put_string(e, s, len);
  }
  case LUA_TNUMBER: return put_number(e, L, idx);
  case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? put(e, "true", 4) : put(e, "false", 5);
  case LUA_TTABLE: return put_table(e, L, idx, depth);
  case LUA_TNIL: return put(e, "null", 4);
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) return put(e, "null", 4);   /* cjson.null */
    /* fall through */
  default:
    e->why = lua_typename(L, lua_type(L, idx));
    return -1;
  }
}

static Buf *checkbuf(lua_State *L) { return luaL_checkudata(L, 1, JSONL_MT); }

static int l_jsonl(lua_State *L) {
  Buf *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->p = NULL;
  b->n = b->cap = 0;
  luaL_setmetatable(L, JSONL_MT);
  return 1;
}

static int l_object(lua_State *L) {
  Buf *b = checkbuf(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  size_t nev = 0;
  const char *ev = luaL_optlstring(L, 3, NULL, &nev);
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  if (!lua_isnoneornil(L, 5)) luaL_checktype(L, 5, LUA_TTABLE);
  lua_settop(L, 5);
  Enc e = { b, NULL };
  size_t start = b->n;
  int first = 1;
  int r = put(&e, "{", 1);
  if (r == 0 && ev) {
    r = put(&e, "\"event\":", 8);
    if (r == 0) r = put_string(&e, ev, nev);
    first = 0;
  }
  if (r == 0 && lua_istable(L, 4)) {        /* only these fields of t, in this order */
    lua_Integer nk = (lua_Integer)lua_rawlen(L, 4);
    for (lua_Integer i = 1; r == 0 && i <= nk; i++) {
      if (lua_rawgeti(L, 4, i) != LUA_TSTRING) {
        b->n = start;                       /* nothing of the line stays */
        return luaL_argerror(L, 4, "field names expected");
      }
      size_t len;
      const char *k = lua_tolstring(L, -1, &len);
      lua_pushvalue(L, -1);
      if (lua_rawget(L, 2) != LUA_TNIL) {
        if (!first) r = put(&e, ",", 1);
        first = 0;
        if (r == 0) r = put_string(&e, k, len);
        if (r == 0) r = put(&e, ":", 1);
        if (r == 0) r = put_value(&e, L, lua_gettop(L), 1);
      }
      lua_pop(L, 2);
    }
  } else if (r == 0) {
    lua_Integer n;
    if (is_array(L, 2, &n)) { e.why = "an array, not an object"; r = -1; }
    else r = put_fields(&e, L, 2, 1, &first);
  }
  if (r == 0 && lua_istable(L, 5)) r = put_fields(&e, L, 5, 1, &first);   /* then all of more */
  if (r == 0) r = put(&e, "}\n", 2);
  if (r < 0) {
    b->n = start;
    luaL_pushfail(L);
    lua_pushstring(L, e.why ? e.why : "cannot encode");
    return 2;
  }
  lua_pushinteger(L, (lua_Integer)b->n);
  return 1;
}

static int l_raw(lua_State *L) {
  Buf *b = checkbuf(L);
  size_t len;
  const char *s = luaL_checklstring(L, 2, &len);
  Enc e = { b, NULL };
  if (put(&e, s, len) < 0) return luaL_error(L, "jsonl: out of memory");
  lua_pushinteger(L, (lua_Integer)b->n);
  return 1;
}

static int l_flush(lua_State *L) {
  Buf *b = checkbuf(L);
  luaL_Stream *fh = luaL_checkudata(L, 2, LUA_FILEHANDLE);
  if (fh->closef == NULL) return luaL_argerror(L, 2, "file is closed");
  int fd = fileno(fh->f);
  size_t off = 0;
  while (off < b->n) {
    ssize_t w = write(fd, b->p + off, b->n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) { b->n = 0; return corral_oserror(L, "jsonl: write"); }
    off += (size_t)w;
  }
  b->n = 0;
  lua_pushboolean(L, 1);
  return 1;
}

static int l_len(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)checkbuf(L)->n);
  return 1;
}

static int l_gc(lua_State *L) {
  Buf *b = checkbuf(L);
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
  return 0;
}

static const luaL_Reg jsonl_methods[] = {
  {"object", l_object}, {"raw", l_raw}, {"flush", l_flush}, {NULL, NULL}
};

void corral_open_jsonl(lua_State *L) {
  if (luaL_newmetatable(L, JSONL_MT)) {
    luaL_newlib(L, jsonl_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  lua_pushcfunction(L, l_jsonl);
  lua_setfield(L, -2, "jsonl");
}
