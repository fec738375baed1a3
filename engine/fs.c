/* fs: the few file-system calls Lua's io library lacks, for corral.launch.cgroup: directories, raw fds
 * (a cgroup directory fd for clone3, cgroup.events for the loop's epoll), reading a small file
 * from its start again and again, and writing a control file with the OS's error intact
 * (stdio would report a refused write only at fclose, and then without its errno); and for
 * corral.workflow.files and corral.loader, a file's modification time to the nanosecond. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir(path [, mode]) -> true | fail, message, errno (EEXIST included) */
static int l_mkdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  mode_t mode = (mode_t)luaL_optinteger(L, 2, 0755);
  if (mkdir(path, mode) < 0) return corral_oserror(L, path);
  lua_pushboolean(L, 1);
  return 1;
}

/* rmdir(path) -> true | fail, message, errno */
static int l_rmdir(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  if (rmdir(path) < 0) return corral_oserror(L, path);
  lua_pushboolean(L, 1);
  return 1;
}

/* open(path, "r" | "w" | "d") -> fd | fail, message, errno. Close-on-exec; "d": a directory. */
static int l_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *mode = luaL_checkstring(L, 2);
  int flags = O_CLOEXEC;
  switch (mode[0]) {
  case 'r': flags |= O_RDONLY; break;
  case 'w': flags |= O_WRONLY; break;
  case 'd': flags |= O_RDONLY | O_DIRECTORY; break;
  default: return luaL_argerror(L, 2, "\"r\", \"w\" or \"d\" expected");
  }
  int fd;
  do fd = open(path, flags);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return corral_oserror(L, path);
  lua_pushinteger(L, fd);
  return 1;
}

/* pread(fd [, max [, offset]]) -> up to max (default 4096) bytes of the file from offset
 * (default 0): one pread(2) | fail, message, errno */
static int l_pread(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  lua_Integer max = luaL_optinteger(L, 2, 4096);
  lua_Integer off = luaL_optinteger(L, 3, 0);
  luaL_argcheck(L, max > 0 && max <= (1 << 20), 2, "size out of range");
  luaL_argcheck(L, off >= 0, 3, "offset out of range");
  luaL_Buffer b;
  char *p = luaL_buffinitsize(L, &b, (size_t)max);
  ssize_t n;
  do n = pread(fd, p, (size_t)max, (off_t)off);
  while (n < 0 && errno == EINTR);
  if (n < 0) return corral_oserror(L, "pread");
  luaL_pushresultsize(&b, (size_t)n);
  return 1;
}

/* write_file(path, data) -> true | fail, message, errno: one write(2) of data to an existing
 * file (a cgroup control file takes one value per write). */
static int l_write_file(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  int fd;
  do fd = open(path, O_WRONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return corral_oserror(L, path);
  ssize_t n;
  do n = write(fd, data, len);
  while (n < 0 && errno == EINTR);
  int e = errno;
  close(fd);
  if (n >= 0 && (size_t)n != len) e = EIO;
  if (n < 0 || (size_t)n != len) {
    errno = e;
    return corral_oserror(L, path);
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* mtime(path) -> modification time in integer nanoseconds since the epoch, size in bytes |
 * fail, message, errno. stat(2), so a symbolic link gives its target's time (as make does). An integer, not
 * a float: a double holds today's times only to about 0.2 µs, and two writes a few hundred ns
 * apart must still compare in order. */
static int l_mtime(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  struct stat st;
  if (stat(path, &st) < 0) return corral_oserror(L, path);
  lua_pushinteger(L, (lua_Integer)st.st_mtim.tv_sec * 1000000000 + (lua_Integer)st.st_mtim.tv_nsec);
  lua_pushinteger(L, (lua_Integer)st.st_size);
  return 2;
}

/* loadpacked(fd, offset, length, source, was) -> function | fail, message
 * The precompiled chunk at offset (length bytes) of the pack fd (corral.loader), loaded as if
 * compiled from `source` (the chunk name its functions report, "@path"): the main function's
 * source name in the dump is replaced on the way into lua_load, without a copy of the dump as
 * a Lua string. Fails, loading nothing, when the name in the dump is not `was` (the pack's
 * record of which source it was compiled from) or the bytes are not this Lua's bytecode. */
#define DUMP_PREFIX 32            /* Lua 5.4's dump header (31 bytes) and the upvalue count */

struct pieces { const char *p[3]; size_t n[3]; int i; };

static const char *pieces_reader(lua_State *L, void *ud, size_t *size) {
  (void)L;
  struct pieces *r = ud;
  while (r->i < 3 && r->n[r->i] == 0) r->i++;
  if (r->i == 3) { *size = 0; return NULL; }
  *size = r->n[r->i];
  return r->p[r->i++];
}

static int l_loadpacked(lua_State *L) {
  int fd = (int)luaL_checkinteger(L, 1);
  lua_Integer off = luaL_checkinteger(L, 2), len = luaL_checkinteger(L, 3);
  size_t nsrc, nwas;
  const char *src = luaL_checklstring(L, 4, &nsrc);
  const char *was = luaL_checklstring(L, 5, &nwas);
  luaL_argcheck(L, off >= 0, 2, "offset out of range");
  luaL_argcheck(L, len > DUMP_PREFIX && len <= (1 << 24), 3, "length out of range");
  char *buf = lua_newuserdatauv(L, (size_t)len, 0);    /* collected with the call's stack */
  size_t got = 0;
  while (got < (size_t)len) {
    ssize_t n = pread(fd, buf + got, (size_t)len - got, (off_t)off + (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return corral_oserror(L, "pread");
    if (n == 0) { luaL_pushfail(L); lua_pushliteral(L, "pack: short read"); return 2; }
    got += (size_t)n;
  }
  /* the old name: Lua's size varint (7 bits a byte, the last byte has 0x80), size + 1 bytes */
  size_t i = DUMP_PREFIX, old = 0;
  for (;;) {
    if (i >= (size_t)len || old > ((size_t)1 << 24)) { luaL_pushfail(L); lua_pushliteral(L, "pack: bad dump"); return 2; }
    unsigned char b = (unsigned char)buf[i++];
    old = (old << 7) | (b & 0x7f);
    if (b & 0x80) break;
  }
  size_t oldlen = old > 0 ? old - 1 : 0;
  if (oldlen != nwas || i + oldlen > (size_t)len || memcmp(buf + i, was, nwas) != 0) {
    luaL_pushfail(L);
    lua_pushliteral(L, "pack: compiled from another source");
    return 2;
  }
  /* the new name: its varint, then the bytes */
  char name[16 + 4096];
  if (nsrc > 4096) return luaL_argerror(L, 4, "name too long");
  unsigned char v[16];
  size_t nv = 0, x = nsrc + 1;
  do { v[nv++] = x & 0x7f; x >>= 7; } while (x > 0);
  size_t k = 0;
  while (nv > 1) name[k++] = (char)v[--nv];     /* the high groups first */
  name[k++] = (char)(v[0] | 0x80);               /* the last one marked */
  memcpy(name + k, src, nsrc);
  struct pieces r = { { buf, name, buf + i + oldlen }, { DUMP_PREFIX, k + nsrc, (size_t)len - i - oldlen }, 0 };
  if (lua_load(L, pieces_reader, &r, src, "b") != LUA_OK) {
    luaL_pushfail(L);
    lua_insert(L, -2);
    return 2;
  }
  return 1;
}

static const luaL_Reg fs_funcs[] = {
  {"mkdir", l_mkdir}, {"rmdir", l_rmdir}, {"open", l_open}, {"pread", l_pread},
  {"write_file", l_write_file}, {"mtime", l_mtime}, {"loadpacked", l_loadpacked},
  {NULL, NULL}
};

void corral_open_fs(lua_State *L) {
  luaL_setfuncs(L, fs_funcs, 0);
}
