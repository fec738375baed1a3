-- corral.workflow.graph: a workflow's dependency graph checked and indexed in linear time.
--
-- check(jobs, order) raises on an unknown dependency or a cycle (naming it) and gives each job
-- that has any `dependents`, the list of jobs that name it in `after` (once per mention; read
-- only: one list may be several jobs'), which
-- the scheduler walks as a job ends instead of scanning every job. No recursion: a chain of
-- 100 000 jobs is as deep as the graph gets.
local errors = require "corral.errors"

local M = {}
local EMPTY = {}

-- The cycle reached from `start`, a job left over by Kahn's algorithm: every such job has a
-- dependency left over too, so following the first one from each job must come back around.
-- The names match what a depth-first search in definition order reports.
local function cycle_from(jobs, left, start)
  local path, at = {}, {}
  local job = start
  while not at[job] do
    path[#path + 1] = job
    at[job] = #path
    local nxt
    for _, dep in ipairs(job.after) do
      local d = jobs[dep]
      if left[d] then nxt = d; break end
    end
    job = nxt
  end
  local names = {}
  for i = at[job], #path do names[#names + 1] = path[i].name end
  names[#names + 1] = job.name
  return table.concat(names, " -> ")
end

-- A job's `after` as run: its `declared` names (kept only when they differ from `after`:
-- files added some, or a group is among them) with each group (wf:each) replaced by the
-- group's members; `gathers` lists those groups' member lists, in the order they are named.
local function expand(job, groups)
  local declared = job.declared or job.after
  local after, gathers = declared, nil
  for i = 1, #declared do
    local members = groups[declared[i]]
    if members then
      if not gathers then
        gathers, after = {}, table.move(declared, 1, i - 1, 1, {})
      end
      gathers[#gathers + 1] = members
      table.move(members, 1, #members, #after + 1, after)
    elseif gathers then
      after[#after + 1] = declared[i]
    end
  end
  if gathers then job.declared = declared end   -- for the next check (plan, then run)
  job.after, job.gathers = after, gathers
end

-- check(jobs, order, groups) -> the jobs in a topological order. jobs by name, order the
-- definition list (order[i].index == i), groups the each() groups by name (member names in
-- item order). Errors are raised at the script's line (corral.errors.raise).
function M.check(jobs, order, groups)
  for _, job in ipairs(order) do
    job.dependents = nil                 -- made for the jobs that have some: most have none
    if job.declared or job.after[1] then expand(job, groups or EMPTY) end
  end
  -- in-degrees by the jobs' index, in an array: not a table keyed by 100 000 jobs, nor a
  -- ninth field on every job.
  local indeg = {}
  -- A job's first dependent is one list { job } shared by every job it is the first dependent
  -- of (a gather after 100 000 jobs: one list, not 100 000), copied when a second one comes.
  -- (a list of one may be shared, a longer one is its job's own)
  for _, job in ipairs(order) do
    local after = job.after
    local one = nil
    for i = 1, #after do
      local d = jobs[after[i]]
      if not d then
        errors.raise(("workflow: job '%s' depends on unknown job '%s'"):format(job.name, after[i]))
      end
      local ds = d.dependents
      if not ds then
        one = one or { job }
        d.dependents = one
      elseif #ds == 1 then
        d.dependents = { ds[1], job }
      else
        ds[#ds + 1] = job
      end
    end
    indeg[job.index] = #after
  end
  -- Kahn: peel the jobs whose dependencies are all peeled; whatever stays is on or behind a cycle.
  local queue, n = {}, 0
  for _, job in ipairs(order) do
    if indeg[job.index] == 0 then n = n + 1; queue[n] = job end
  end
  local i = 1
  while i <= n do
    local ds = queue[i].dependents or EMPTY
    for k = 1, #ds do
      local d = ds[k]
      local left = indeg[d.index] - 1
      indeg[d.index] = left
      if left == 0 then n = n + 1; queue[n] = d end
    end
    i = i + 1
  end
  if n == #order then return queue end   -- a topological order
  local left = {}
  for _, job in ipairs(order) do if indeg[job.index] > 0 then left[job] = true end end
  for _, job in ipairs(order) do
    if left[job] then errors.raise("workflow: dependency cycle: " .. cycle_from(jobs, left, job)) end
  end
end

return M
