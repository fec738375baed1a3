-- corral.cli.parallel.template: a `corral parallel` command with replacement strings, turned
-- into one shell command line per job exactly as GNU parallel 20221122 builds it.
--
-- Arguments are quoted with GNU's shell_quote_scalar_default (so `it's` -> 'it'"'"'s'),
-- except when the command's first word holds a replacement string (`parallel {}`, `{2}`):
-- then nothing is quoted, as GNU does. -q quotes each word of the result instead.
local M = {}

local SPC = {}               -- a word boundary: one unquoted space in the command line

-- quote(s): GNU parallel's quoting for Bourne shells.
function M.quote(s)
  if s == "" then return "''" end
  if not s:find("[^%-_.+a-zA-Z0-9/]") then return s end
  local q = "'" .. s:gsub("'", [['"'"']]) .. "'"
  if q:sub(1, 2) == "''" then q = q:sub(3) end
  if q:sub(-2) == "''" then q = q:sub(1, -3) end
  return q
end
local quote = M.quote

-- The values of the replacement strings, as GNU's perl expressions compute them. Perl's `.`
-- does not match a newline, which matters for inputs read with -0.
local function basename(s)           -- s:.*/::  (the first line holding a '/')
  local pos = 1
  while true do
    local nl = s:find("\n", pos, true)
    local line_end = nl and nl - 1 or #s
    local last
    for k = line_end, pos, -1 do
      if s:byte(k) == 47 then last = k; break end
    end
    if last then return s:sub(1, pos - 1) .. s:sub(last + 1) end
    if not nl then return s end
    pos = nl + 1
  end
end

local function noext(s)              -- s:\.[^/.]*$::
  local i = s:find("%.[^/.]*$")
  if i then return s:sub(1, i - 1) end
  return s
end

local function strip_sep(p)          -- s{(.)/*\z}{$1}s
  local t = p:gsub("/+$", "")
  if t == "" and p ~= "" then t = p:sub(1, 1) end
  return t
end

local function fileparse(p)          -- m{^(.*/)?(.*)}s; dir defaults to ./
  local dir, base = p:match("^(.*/)(.*)$")
  if not dir then return "./", p end
  return dir, base
end

local function dirname(s)            -- File::Basename::dirname on Unix
  local dir, base = fileparse(s)
  dir = strip_sep(dir)
  if base == "" then
    dir = fileparse(dir)
    dir = strip_sep(dir)
  end
  return dir
end

local FN = {
  [""] = function(s) return s end,
  ["."] = noext,
  ["/"] = basename,
  ["//"] = dirname,
  ["/."] = function(s) return noext(basename(s)) end,
}
M.value = FN

-- One word into pieces: literal strings and replacement tokens
-- { fn = , pos = N | nil } or { seq = true } / { slot = true }. Returns whether it had any.
-- opts.replace: -I's string, which stands for {} (then "{}" itself is text); opts.names:
-- --header's {name} -> position.
local function parse_word(w, pieces, opts)
  local i, found = 1, false
  local lit = {}
  local rep = opts.replace
  while i <= #w do
    local open = w:find("{", i, true)
    local at = rep and w:find(rep, i, true)
    if at and (not open or at <= open) then open = at end
    if not open then lit[#lit + 1] = w:sub(i); break end
    lit[#lit + 1] = w:sub(i, open - 1)
    local tok, after
    local special = w:match("^{([#%%])}", open)
    if rep and open == at then
      tok, after = { fn = FN[""] }, open + #rep
    elseif special then
      tok, after = special == "#" and { seq = true } or { slot = true }, open + 3
    else
      local num, suffix, close = w:match("^{(%-?%d*)([./]*)}()", open)
      if num and FN[suffix] and num ~= "-" and num ~= "0" and num ~= "-0"
         and not (rep and num == "" and suffix == "") then
        tok, after = { fn = FN[suffix], pos = tonumber(num) }, close
      elseif opts.names then
        local inner, nclose = w:match("^{([^{}]+)}()", open)
        -- {name} and {name.} {name/} {name//} {name/.}: the exact name first, as GNU does.
        for _, suffix in ipairs({ "", "/.", "//", "/", "." }) do
          local name = inner and (suffix == "" and inner or inner:sub(-#suffix) == suffix and inner:sub(1, -#suffix - 1))
          if name and opts.names[name] then
            tok, after = { fn = FN[suffix], pos = opts.names[name] }, nclose
            break
          end
        end
      end
    end
    if tok then
      local s = table.concat(lit)
      if s ~= "" then pieces[#pieces + 1] = s end
      lit = {}
      pieces[#pieces + 1] = tok
      found = true
      i = after
    else
      lit[#lit + 1] = "{"
      i = open + 1
    end
  end
  local s = table.concat(lit)
  if s ~= "" then pieces[#pieces + 1] = s end
  return found
end

-- compile(words, opts) -> template | nil, message. words: the command's words (empty: each
-- input is the command). opts: quote_all (-q), replace (-I), names ({name}), context (-X:
-- a word holding {} is repeated for each argument), bare (--tagstring: nothing quoted or
-- appended), no_append (--pipe: no {} added).
function M.compile(words, opts)
  opts = opts or {}
  if #words == 0 then words = { opts.replace or "{}" } end
  if table.concat(words, " "):find("{=.-=}") then      -- GNU reads them across words
    return nil, "perl expressions {= =} are not supported"
  end
  local pieces, any = {}, false
  for k, w in ipairs(words) do
    if k > 1 then pieces[#pieces + 1] = SPC end
    any = parse_word(w, pieces, opts) or any
  end
  if not any and not opts.bare and not opts.no_append then  -- GNU appends {} to a command without any
    pieces[#pieces + 1] = SPC
    pieces[#pieces + 1] = { fn = FN[""] }
  end
  -- A replacement string in the first word, before any blank or '=': nothing is quoted.
  local quote_args = not opts.bare
  for k = 1, #pieces do
    local p = pieces[k]
    if p == SPC then break end
    if type(p) == "string" and p:find("[ \t\n=]") then break end
    if type(p) == "table" then quote_args = false; break end
  end
  return { pieces = pieces, quote_all = opts.quote_all and true or false,
           quote_args = quote_args and not opts.quote_all, context = opts.context }
end

-- The pieces of one word (pieces[i] up to the next boundary) -> the index after it.
local function word_end(pieces, i)
  while pieces[i] and pieces[i] ~= SPC do i = i + 1 end
  return i
end

-- expand(t, out, n, pieces, i, j, args, seq, slot) -> n: pieces i..j-1 into out.
local function expand(t, out, n, pieces, i, j, args, seq, slot)
  local q = t.quote_args
  for k = i, j - 1 do
    local p = pieces[k]
    if type(p) == "string" then
      n = n + 1; out[n] = p
    elseif p.seq then
      n = n + 1; out[n] = tostring(seq)
    elseif p.slot then
      n = n + 1; out[n] = tostring(slot)
    elseif p.pos then
      local a = args[p.pos > 0 and p.pos or #args + 1 + p.pos]
      local v = a and p.fn(a) or ""
      n = n + 1; out[n] = (q and a) and quote(v) or v
    else
      -- {} and friends stand for every argument of the job, one word each (none: empty).
      for m = 1, #args do
        if m > 1 then n = n + 1; out[n] = SPC end
        local v = p.fn(args[m])
        n = n + 1; out[n] = q and quote(v) or v
      end
    end
  end
  return n
end

local function has_all(pieces, i, j)
  for k = i, j - 1 do
    local p = pieces[k]
    if type(p) == "table" and p.fn and not p.pos then return true end
  end
  return false
end

-- line(template, args, seq, slot) -> the shell command line of one job. args: the job's
-- arguments, one list (with -n, -X, several sources or columns: all of them in order).
function M.line(t, args, seq, slot)
  local out, n = {}, 0
  local pieces = t.pieces
  local i = 1
  while pieces[i] do
    if pieces[i] == SPC then
      n = n + 1; out[n] = SPC; i = i + 1
    else
      local j = word_end(pieces, i)
      if t.context and #args > 1 and has_all(pieces, i, j) then
        for m = 1, #args do          -- -X: the whole word once per argument
          if m > 1 then n = n + 1; out[n] = SPC end
          n = expand(t, out, n, pieces, i, j, { args[m] }, seq, slot)
        end
      else
        n = expand(t, out, n, pieces, i, j, args, seq, slot)
      end
      i = j
    end
  end
  if not t.quote_all then
    for k = 1, n do if out[k] == SPC then out[k] = " " end end
    return table.concat(out, "", 1, n)
  end
  -- -q: each word (a run between boundaries) is quoted on its own.
  local words, cur = {}, {}
  for k = 1, n + 1 do
    local p = out[k]
    if p == SPC or k == n + 1 then
      if #cur > 0 then words[#words + 1] = quote(table.concat(cur)) end
      cur = {}
    else
      cur[#cur + 1] = p
    end
  end
  return table.concat(words, " ")
end

-- tag(args): what --tag puts before each output line (the arguments, unquoted, and a TAB).
function M.tag(args)
  return table.concat(args, " ") .. "\t"
end

return M
