/* slots: an array of int32 in a memfd, shared with another process without syscalls.
 *
 * The lifeline keeps the pgids this process must not leave behind here: setting a slot is a
 * store into shared memory, so registering a task costs nothing and wakes nobody. The
 * watchdog holds the memfd and reads it (slots_read) only once the owner is gone; the page
 * cache keeps every store the owner made, however it died. */
#include "core.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOTS_MT "corral.Slots"

typedef struct {
  int fd;
  int32_t *map;
  size_t n;
} Slots;

static Slots *check_slots(lua_State *L) {
  Slots *s = luaL_checkudata(L, 1, SLOTS_MT);
  if (s->fd < 0) luaL_error(L, "slots are closed");
  return s;
}

static size_t check_count(lua_State *L, int arg) {
  lua_Integer n = luaL_checkinteger(L, arg);
  luaL_argcheck(L, n >= 1 && n <= (1 << 24), arg, "slot count out of range (1..2^24)");
  return (size_t)n;
}

/* slots(n) -> Slots | nil, message, errno: n zeroed slots in a new close-on-exec memfd. */
static int l_slots(lua_State *L) {
  size_t n = check_count(L, 1);
  Slots *s = lua_newuserdatauv(L, sizeof *s, 0);
  s->fd = -1;
  s->map = NULL;
  s->n = 0;
  luaL_setmetatable(L, SLOTS_MT);
  int fd = memfd_create("corral-slots", MFD_CLOEXEC);
  if (fd < 0) return corral_oserror(L, "memfd_create");
  if (ftruncate(fd, (off_t)(n * sizeof(int32_t))) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return corral_oserror(L, "ftruncate");
  }
  void *m = mmap(NULL, n * sizeof(int32_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) {
    int e = errno;
    close(fd);
    errno = e;
    return corral_oserror(L, "mmap");
  }
  s->fd = fd;
  s->map = m;
  s->n = n;
  return 1;
}

/* s:set(i, v): slot i (1-based) = v (0 = empty). */
static int s_set(lua_State *L) {
  Slots *s = check_slots(L);
  lua_Integer i = luaL_checkinteger(L, 2);
  lua_Integer v = luaL_checkinteger(L, 3);
  luaL_argcheck(L, i >= 1 && (size_t)i <= s->n, 2, "slot index out of range");
  luaL_argcheck(L, v >= INT32_MIN && v <= INT32_MAX, 3, "value out of int32 range");
  __atomic_store_n(&s->map[i - 1], (int32_t)v, __ATOMIC_RELEASE);
  return 0;
}

/* s:grow(n) -> true | nil, message, errno: at least n slots, the new ones zero. */
static int s_grow(lua_State *L) {
  Slots *s = check_slots(L);
  size_t n = check_count(L, 2);
  if (n > s->n) {
    if (ftruncate(s->fd, (off_t)(n * sizeof(int32_t))) < 0) return corral_oserror(L, "ftruncate");
    void *m = mremap(s->map, s->n * sizeof(int32_t), n * sizeof(int32_t), MREMAP_MAYMOVE);
    if (m == MAP_FAILED) return corral_oserror(L, "mremap");
    s->map = m;
    s->n = n;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int s_fd(lua_State *L) {
  lua_pushinteger(L, check_slots(L)->fd);
  return 1;
}

static int s_count(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)check_slots(L)->n);
  return 1;
}

static int s_close(lua_State *L) {
  Slots *s = luaL_checkudata(L, 1, SLOTS_MT);
  if (s->map) munmap(s->map, s->n * sizeof(int32_t));
  if (s->fd >= 0) close(s->fd);
  s->map = NULL;
  s->fd = -1;
  return 0;
}

/* slots_read(fd) -> { nonzero values } | nil, message, errno: what a Slots memfd holds now. */
static int l_slots_read(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  struct stat st;
  if (fstat(fd, &st) < 0) return corral_oserror(L, "fstat");
  size_t size = (size_t)st.st_size;
  lua_createtable(L, 0, 0);
  int32_t *buf = malloc(size ? size : 1);
  if (!buf) return luaL_error(L, "slots_read: out of memory");
  size_t got = 0;
  while (got < size) {
    ssize_t r = pread(fd, (char *)buf + got, size - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;  /* shrunk under us (cannot happen: only the owner grows it) */
    got += (size_t)r;
  }
  lua_Integer k = 0;
  for (size_t i = 0; i < got / sizeof(int32_t); i++) {
    if (buf[i] != 0) {
      lua_pushinteger(L, buf[i]);
      lua_rawseti(L, -2, ++k);
    }
  }
  free(buf);
  return 1;
}

void corral_open_slots(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"set", s_set}, {"grow", s_grow}, {"fd", s_fd}, {"count", s_count}, {"close", s_close},
      {NULL, NULL}};
  if (luaL_newmetatable(L, SLOTS_MT)) {
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, s_close);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {{"slots", l_slots}, {"slots_read", l_slots_read}, {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
}
