-- corral.workflow.files: the files a workflow job reads (`inputs`) and writes (`outputs`).
--
-- make's rule with the journal's hash: a job whose outputs all exist, none older than any of
-- its inputs, whose last journal record (when the workflow has a journal) is "ok" with the
-- same definition, and none of whose dependencies will run, is up to date and does not run.
-- An "ok" job that did not leave its outputs is "failed" ("missing output x"); a job that
-- failed, timed out, was killed, lost or cancelled has its outputs removed (Snakemake's rule)
-- unless `keep_partial = true`. A job that lists as an input another job's output runs after
-- it (an implied `after`).
--
-- Paths are strings, relative to the job's `cwd` when it has one (its command writes there),
-- else to the script's working directory; two jobs name the same file when their paths are
-- equal after that join and after "./" and repeated slashes are dropped (no symbolic link or
-- ".." is resolved). Times are stat(2)'s to the nanosecond (corral.core.mtime).
--
-- Not for: directories as outputs (removing a failed job's partial output removes a file, or
-- an empty directory), patterns or wildcards (a job lists its own paths; wf:each makes many).
local core = require "corral.core"
local errors = require "corral.errors"
local joblog = require "corral.joblog"

local M = {}
local EMPTY = {}

local function normal(path)
  if not path:find("//", 1, true) and not path:find("./", 1, true) and path:sub(-2) ~= "/." then
    return path                          -- the usual case, without three gsubs
  end
  path = path:gsub("/+", "/")
  repeat local n; path, n = path:gsub("/%./", "/") until n == 0
  path = path:gsub("^%./", ""):gsub("/%.$", "")
  return path
end

-- The job's list of paths under `key`, checked and joined with its cwd; nil when absent.
local function paths(spec, key, name, fname)
  local list = spec[key]
  if list == nil then return nil end
  local base = spec.cwd
  local out = {}
  for i = 1, #list do
    local p = list[i]
    if type(p) ~= "string" or p == "" then
      errors.raise(("bad argument to '%s' (job '%s': %s[%d] is not a path (%s))"):format(
        fname, name, key, i, p == "" and "empty string" or type(p)))
    end
    if base and p:sub(1, 1) ~= "/" then p = base .. "/" .. p end
    out[i] = normal(p)
  end
  for k in pairs(list) do
    if math.type(k) ~= "integer" or k < 1 or k > #out then
      errors.raise(("bad argument to '%s' (job '%s': %s must be a list of paths, has key %s)"):format(
        fname, name, key, tostring(k)))
    end
  end
  return out
end

-- define(job, spec, fname): a new job's inputs, outputs and keep_partial, checked (errors
-- raised at the script's line, naming the job). Returns true when the job names any file.
function M.define(job, spec, fname)
  local outputs = spec.outputs and spec.outputs[1] ~= nil
  if spec.keep_partial ~= nil and not outputs then
    errors.raise(("bad argument to '%s' (job '%s': keep_partial goes with outputs)"):format(fname, job.name))
  end
  if spec.inputs == nil and spec.outputs == nil then return false end
  job.inputs = paths(spec, "inputs", job.name, fname)
  job.outputs = paths(spec, "outputs", job.name, fname)
  if job.outputs and not job.outputs[1] then job.outputs = nil end
  job.keep_partial = spec.keep_partial
  job.own_after = job.after            -- the names as written (link adds the implied ones)
  return true
end

-- link(order): before anything runs or is planned: every output made by one job only,
-- every input made by some job or already there, and each job's `declared` dependencies
-- completed with the jobs that make its inputs. Raises naming the job(s) and the path.
function M.link(order)
  local maker = {}
  for _, job in ipairs(order) do
    for _, p in ipairs(job.outputs or EMPTY) do
      local other = maker[p]
      if other and other ~= job then
        errors.raise(("workflow: jobs '%s' and '%s' both list output '%s'"):format(other.name, job.name, p))
      end
      maker[p] = job
    end
  end
  for _, job in ipairs(order) do
    local own = job.own_after
    if own then
      local declared, named = own, nil
      for _, p in ipairs(job.inputs or EMPTY) do
        local m = maker[p]
        if m == job then
          errors.raise(("workflow: job '%s' lists '%s' as an input and as an output"):format(job.name, p))
        elseif m then
          if not named then
            named = {}
            for _, d in ipairs(own) do named[d] = true end
          end
          if not named[m.name] then
            if declared == own then declared = table.move(own, 1, #own, 1, {}) end
            declared[#declared + 1] = m.name
            named[m.name] = true
          end
        elseif not core.mtime(p) then
          errors.raise(("workflow: job '%s': input '%s' does not exist and no job lists it as an output"):format(job.name, p))
        end
      end
      job.declared = declared
    end
  end
end

-- decide(job, last, deps_run) -> action, reason for a job with outputs. last: its last
-- journal record or nil; deps_run: a dependency will run.
function M.decide(job, last, deps_run)
  local oldest
  for _, p in ipairs(job.outputs) do
    local t = core.mtime(p)
    if not t then return "run", "outputs missing" end
    if not oldest or t < oldest then oldest = t end
  end
  if last and last.hash ~= job.hash then return "run", "definition changed" end
  if last and last.status ~= "ok" then return "run", "last run " .. tostring(last.status) end
  if deps_run then return "run", "dependency will run" end
  for _, p in ipairs(job.inputs or EMPTY) do
    local t = core.mtime(p)
    if not t then return "run", ("input %s missing"):format(p) end
    if t > oldest then return "run", ("input %s newer"):format(p) end
  end
  return "skip", "up to date"
end

-- uptodate(job, last) -> the record of a job that is up to date: status "ok", `uptodate =
-- true`, attempt 0, not journalled (as a resumed job's); its values are those of its last
-- journal record (an "ok" with the same definition, or the job would run), else none.
function M.uptodate(job, last)
  return { id = 0, name = job.name, status = "ok", uptodate = true,
           values = last and joblog.values(last) or { n = 0 }, attempt = 0,
           start = core.time(), duration = 0 }
end

-- ended(job, r): an attempt's record before it is journalled: "ok" without every output is
-- "failed"; a failed attempt's outputs are removed (r.removed lists them) unless keep_partial.
local REMOVE = { failed = true, signaled = true, timeout = true, cancelled = true, lost = true }
function M.ended(job, r)
  if r.status == "ok" then
    local missing
    for _, p in ipairs(job.outputs) do
      if not core.mtime(p) then missing = missing or {}; missing[#missing + 1] = p end
    end
    if missing then r.status, r.error = "failed", "missing output " .. table.concat(missing, ", ") end
  end
  if REMOVE[r.status] and not job.keep_partial then
    local removed
    for _, p in ipairs(job.outputs) do
      if os.remove(p) then removed = removed or {}; removed[#removed + 1] = p end
    end
    r.removed = removed
  end
end

return M
