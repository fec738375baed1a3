---@meta corral
-- LuaCATS definitions of corral's public API (docs/api.md), for lua-language-server and other
-- editors that read LuaCATS annotations. Nothing here runs: add this directory to LuaLS's
-- `workspace.library` (e.g. in .luarc.json: { "workspace.library": ["path/to/corral/types"] })
-- and `require "corral"` gets completion, signatures and type checks.
--
-- spec/meta_spec.lua checks that every name `require "corral"` exports and every method of a
-- pool, future, workflow and loop is annotated here, and nothing else, and that docs/api.md
-- documents exactly what is annotated here (functions, methods, options, record fields):
-- annotate and document what you add. corral/workflow/progress.lua: the progress lines.

---@alias corral.Status
---| "pending"   # not started yet (futures only)
---| "running"   # started (futures only)
---| "ok"        # exited with code 0 / the function returned
---| "failed"    # non-zero exit code, or the function raised
---| "signaled"  # killed by a signal (`signal` names it)
---| "timeout"   # ended by the pool after its timeout
---| "cancelled" # cancel(), terminate(), an interrupt, a failing map, or a workflow's halt
---| "error"     # could not start (`error` holds the OS message)
---| "lost"      # lua pools: the worker died under the task
---| "skipped"   # workflows: a dependency did not end "ok"

---A signal by name ("TERM", "SIGTERM") or number.
---@alias corral.Signal string|integer

---"capture" (into the record), "inherit", "null", a file path, or an open fd.
---@alias corral.Stdio "capture"|"inherit"|"null"|string|integer

---A command: a string run by `/bin/sh -c` (shell pools) or an argv table (exec pools).
---@alias corral.Command string|(string|integer)[]

---A Lua task: a function whose only upvalue is `_ENV`, or a "module.fn" name.
---@alias corral.LuaFunction function|string

---@class corral.PoolOptions
---@field executor? "shell"|"exec"|"lua" what a task is (default "shell")
---@field launcher? "local"|"slurm" where tasks run: here, or as steps of one Slurm allocation (docs/slurm.md)
---@field slurm? corral.SlurmOptions launcher "slurm": salloc's options, or the allocation to use
---@field size? integer tasks running at once (default: number of CPUs)
---@field timeout? number seconds per task; then the termination sequence, status "timeout"
---@field termseq? string how a group is ended: signal, ms to wait, signal, … (default "TERM,200,KILL")
---@field on_interrupt? "cancel"|"drain"|"forward" what Ctrl-C does (default "cancel")
---@field retries? integer runs again after failed, signaled, timeout or lost (default 0)
---@field stdout? corral.Stdio default "capture" ("inherit" for lua pools)
---@field stderr? corral.Stdio default "capture" ("inherit" for lua pools)
---@field stdin? "null"|"inherit"|string|integer default "null"
---@field cwd? string working directory of each task
---@field env? table<string, string|number|false> merged over the environment (false removes)
---@field clearenv? boolean start from an empty environment
---@field linger? boolean leave what a task leaves running in its group alone
---@field setsid? boolean start each task in a new session
---@field cgroup? boolean|"auto" command pools: each task in its own cgroup v2 (escapees are ended too); "auto": where possible
---@field limits? corral.Limits command pools: per-task resource limits
---@field signals? boolean false: never catch signals for this pool (embedding hosts)
---@field joblog? string path of a JSON-lines journal, one record per attempt
---@field start? "spawn"|"fork"|"forkserver" lua pools: how workers start (default "spawn")
---@field interpreter? string lua pools: the program spawn workers and the fork server run (default "lua5.4")
---@field preload? string[] lua pools with start = "forkserver": modules the fork server requires
---@field init? string lua pools: "module.fn" run once in each new worker
---@field maxtasks? integer lua pools: a worker exits after that many tasks

---`slurm = { … }` of a pool with launcher = "slurm" (docs/api.md, "Slurm options").
---@class corral.SlurmOptions
---@field partition? string salloc --partition
---@field time? integer|string minutes, or a Slurm time string ("1:00:00")
---@field account? string salloc --account
---@field extra? string[] more salloc arguments
---@field srun_extra? string[] more srun arguments
---@field jobid? integer|string use this existing allocation (left alone at close)
---@field agents? boolean true (default): one corral agent per node; false: a job step per task
---@field nodes? integer salloc --nodes=N
---@field heartbeat? number seconds between an agent's signs of life (default 2); every 5 of them the pool asks sinfo whether its nodes are drained or down

---Per-task options of `pool:submit` (command pools).
---@class corral.TaskOptions
---@field name? string the record's name (default: the command text)
---@field timeout? number
---@field termseq? string
---@field retries? integer
---@field stdout? corral.Stdio
---@field stderr? corral.Stdio
---@field stdin? "null"|"inherit"|string|integer
---@field cwd? string
---@field env? table<string, string|number|false>
---@field clearenv? boolean
---@field linger? boolean
---@field setsid? boolean
---@field cgroup? boolean|"auto"
---@field limits? corral.Limits merged key by key over the pool's
---@field cpus? integer launcher "slurm" only: the task's CPUs (steps: srun -c; agents: placement)

---Resource limits of a command task (docs/api.md, "Cgroup mode and resource limits").
---@class corral.Limits
---@field memory? number bytes, through a memory cgroup (v2 memory.max, or v1 on hybrid systems)
---@field cpu? number CPU seconds per process (RLIMIT_CPU: XCPU, then KILL a second later)
---@field nofile? integer open files per process (RLIMIT_NOFILE)
---@field as? number bytes of address space per process (RLIMIT_AS)

---@class corral.Rusage
---@field utime number user CPU seconds
---@field stime number system CPU seconds
---@field maxrss integer KiB

---The outcome record of one task (one attempt, in a journal).
---@class corral.Record
---@field id integer the task's number in its pool
---@field name? string
---@field status corral.Status
---@field code? integer exit code
---@field signal? string the killing signal's name ("TERM", "KILL", …)
---@field values { n: integer, [integer]: any } lua tasks: every return value
---@field error? string|table why it failed, was cancelled, could not start, was lost (or the table a lua task raised)
---@field traceback? string lua tasks that raised a table: the worker's traceback
---@field stdout? string when captured
---@field stderr? string when captured
---@field pid? integer
---@field host string
---@field attempt integer 1, 2, … (0: never started)
---@field start number wall-clock epoch seconds
---@field duration number seconds until the main process exited
---@field rusage? corral.Rusage
---@field interrupted? string the signal of an interrupt that cancelled it
---@field oom? boolean the OOM killer ended a process of the task (limits.memory); error says so
---@field resumed? boolean workflows: taken from the journal, not run again
---@field uptodate? boolean workflows: its outputs were up to date, it did not run
---@field removed? string[] workflows: the outputs removed after the job did not succeed
---@field hash? string workflows (journal records): digest of what the job runs
---@field after? string[] workflows (journal records): the job's dependencies, when it has any
---@field cpus? integer workflows (journal records): the CPUs the job held of the budget
---@field memory? integer workflows (journal records): the bytes of memory it held (when not 0)

---A journal line that is an event, not an outcome (readers of outcomes skip it).
---@class corral.JournalEvent
---@field event "start"|"run" start: an attempt started; run: a workflow's run() began
---@field id? integer start: the task's number in its pool
---@field name? string start: the task's (job's) name
---@field attempt? integer start: 1, 2, …
---@field start number wall-clock epoch seconds
---@field pid? integer start: the command's (or lua worker's) pid; run: the script's
---@field host string
---@field hash? string start, workflows: digest of what the job runs
---@field total? integer run: jobs this run has left to end
---@field jobs? integer run: the workflow's jobs option

---@class corral.PoolStats
---@field size integer
---@field submitted integer
---@field pending integer
---@field running integer
---@field done integer
---@field ok? integer
---@field failed? integer
---@field signaled? integer
---@field timeout? integer
---@field cancelled? integer
---@field lost? integer
---@field error? integer

---The value corral raises when a task did not end "ok" and its values were asked for.
---`getmetatable(e) == corral.Error`.
---@class corral.TaskError
---@field record corral.Record
---@field status corral.Status
---@field message string

---The value corral raises after an interrupt that cancelled the work waited for.
---`getmetatable(e) == corral.Interrupted`.
---@class corral.InterruptedError
---@field signal "INT"|"TERM"|"HUP"
---@field message string

---A pool: tasks running at once, a queue, and the policy around them.
---Use as `local pool <close> = corral.pool{…}`: join() on a normal exit, terminate() on an error.
---@class corral.Pool
local Pool = {}

---Submits a task. Command pools: a string (shell) or an argv table (exec), then options.
---Lua pools: a function (only upvalue `_ENV`) or "module.fn", then its arguments.
---Raises on a closed pool and on a malformed task.
---@param task corral.Command|corral.LuaFunction
---@param ... corral.TaskOptions|any options (command pools) or arguments (lua pools)
---@return corral.Future
function Pool:submit(task, ...) end

---Submits every task and returns their records in order (lua pools: `fn(x)`'s first value for
---each x). On the first one not "ok": cancels the rest, waits for them, raises corral.Error.
---@param tasks corral.Command[]
---@return corral.Record[]
---@overload fun(self: corral.Pool, fn: corral.LuaFunction, list: any[], opts?: corral.MapOptions): any[]
function Pool:map(tasks) end

---`for i, record in pool:imap(tasks)`: in submission order; raises like map.
---@param tasks corral.Command[]
---@return fun(): integer?, corral.Record
---@overload fun(self: corral.Pool, fn: corral.LuaFunction, list: any[], opts?: corral.MapOptions): fun(): integer?, any
function Pool:imap(tasks) end

---`for i, record in pool:imap_unordered(tasks)`: as tasks end; raises like map.
---@param tasks corral.Command[]
---@return fun(): integer?, corral.Record
---@overload fun(self: corral.Pool, fn: corral.LuaFunction, list: any[], opts?: corral.MapOptions): fun(): integer?, any
function Pool:imap_unordered(tasks) end

---Options of a lua pool's map, imap and imap_unordered (docs/api.md, "chunks").
---@class corral.MapOptions
---@field chunksize? integer|"auto" items per task; "auto" (default): about 2 ms of work each

---`for f in pool:as_completed(futures)`: each future once, as it ends.
---@param futures corral.Future[]
---@return fun(): corral.Future?
function Pool:as_completed(futures) end

---Waits until every submitted task has its final record; false when `seconds` passed first.
---Raises corral.Interrupted after an interrupt that cancelled the pool's work.
---@param seconds? number
---@return boolean
function Pool:join(seconds) end

---No more submits (they raise). Running and pending tasks go on.
function Pool:close() end

---Closes the pool, cancels pending tasks, ends every running group with the termination
---sequence, and returns once every task has its record and no process of it is left.
---@return true
function Pool:terminate() end

---Counts: size, submitted, pending, running, done, and each final status once non-zero.
---@return corral.PoolStats
function Pool:stats() end

---The handle of one submitted task.
---@class corral.Future
---@field id integer the task's number
---@field name? string its name
---@field pid? integer its main process, once running
---@field pgid? integer its process group, once running
---@field record? corral.Record the final record, once done
local Future = {}

---"pending", "running", or a final status.
---@return corral.Status
function Future:status() end

---True once the task has its final record.
---@return boolean
function Future:done() end

---The outcome record; `nil, "timeout"` when the wait timed out (the task goes on). Never raises
---for a failed task; raises corral.Interrupted when an interrupt cancelled it.
---@param seconds? number
---@return corral.Record? record
---@return "timeout"? err
function Future:wait(seconds) end

---When "ok": the record (command pools) or the task's return values (lua pools); otherwise
---raises corral.Error.
---@param seconds? number
---@return any ...
function Future:result(seconds) end

---Pending: it never starts; running: the termination sequence to its group. True when it had an
---effect, false when the task had already ended. Never raises.
---@return boolean
function Future:cancel() end

---One signal (default "KILL") to the task's group; false when it is not running.
---@param sig? corral.Signal
---@return boolean
function Future:kill(sig) end

---The pool's call that gives a future its final record: not for users.
---@private
---@param record corral.Record
function Future:settle(record) end

---@class corral.WorkflowOptions
---@field jobs? integer jobs running at once, all kinds together (default: the cpus budget)
---@field cpus? integer the CPU budget of the running jobs (default: number of CPUs)
---@field memory? integer|string the memory budget: bytes or "512M", "8G" (default: MemTotal; Slurm: none)
---@field cgroup? boolean|"auto" command jobs in cgroup mode; then a job's memory is its limit
---@field launcher? "local"|"slurm" where the jobs run (default "local")
---@field slurm? corral.SlurmOptions launcher "slurm": the workflow's one allocation
---@field joblog? string JSON-lines journal, one record per attempt
---@field resume? boolean skip a job whose last journal record is "ok" with the same hash
---@field retries? integer default retries per job
---@field halt? string|integer GNU parallel's --halt: "now,fail=1", "soon,success=50%", 2, …
---@field progress? boolean one updating line on stderr when it is a terminal
---@field keep_order? boolean report.list in definition order
---@field timeout? number passed to the pools
---@field termseq? string passed to the pools
---@field on_interrupt? "cancel"|"drain"|"forward" passed to the pools
---@field start? "spawn"|"fork"|"forkserver" passed to the lua pool
---@field signals? boolean passed to the pools

---Exactly one of cmd, shell, fn.
---@class corral.JobSpec
---@field cmd? (string|integer)[] an argv, run without a shell
---@field shell? string a line run by /bin/sh -c
---@field fn? corral.LuaFunction a Lua function (no upvalues) or "module.fn"
---@field args? any[] fn's arguments
---@field after? string[] jobs (or each() groups: all their members) that must end "ok" first
---@field timeout? number
---@field retries? integer
---@field cwd? string commands only
---@field env? table<string, string|number|false> commands only
---@field inputs? string[] files it reads: a job that lists another's output runs after it; must exist or be made
---@field outputs? string[] files it writes: all there and newer than its inputs = up to date, not run; missing after "ok" = "failed"
---@field keep_partial? boolean keep the outputs of a failed, timed-out or cancelled run (default: removed)
---@field cpus? integer CPUs the job holds of the workflow's budget (default 1)
---@field memory? integer|string memory it holds: bytes or "512M", "2G" (default 0)

---@class corral.WorkflowReport
---@field ok boolean every job ended "ok"
---@field counts table<corral.Status, integer>
---@field records table<string, corral.Record> by job name
---@field list corral.Record[] completion order (definition order with keep_order)
---@field duration number seconds

---A DAG of named jobs with a resumable journal.
---@class corral.Workflow
local Workflow = {}

---Adds a job. Malformed definitions raise naming the job.
---@param name string
---@param spec corral.JobSpec
---@return corral.Workflow self
function Workflow:job(name, spec) end

---Fan-out: one job per item, make(item, i) -> its spec, named `name[i]` (or the spec's
---`name`). `after = { name }` waits for all of them; an fn job after the group gets, after its
---args, the list of the members' first values in item order.
---@param name string
---@param items any[]
---@param make fun(item: any, i: integer): (corral.JobSpec|{ name: string? })
---@return corral.Workflow self
function Workflow:each(name, items, make) end

---@class corral.PlanEntry
---@field name string
---@field action "run"|"skip"
---@field reason string "up to date", "resumed", "outputs missing", "definition changed", "last run <status>", "dependency will run", "input <path> newer", "input <path> missing" or "never ran"

---What run() would do, job by job in definition order, without running anything. Checks the
---graph first, as run() does.
---@return corral.PlanEntry[]
function Workflow:plan() end

---Checks the graph (unknown dependency, cycle: raises), then runs every job. Raises
---corral.Interrupted after Ctrl-C (with on_interrupt = "cancel"); yields inside corral.go.
---Under `corral run --dry-run` it prints the plan and returns { ok = true, dry_run = true,
---plan = <plan()>, counts = {}, records = {}, list = {}, duration = 0 } without running a job.
---@return corral.WorkflowReport
function Workflow:run() end

---The handle through which a host with its own event loop drives corral.
---@class corral.Loop
local Loop = {}

---An epoll fd that is readable when corral has work, timers included.
---@return integer fd
function Loop:pollfd() end

---Seconds until corral's next timer, or nil.
---@return number?
function Loop:timeout() end

---Runs what is ready; blocks at most `seconds` (default 0).
---@param seconds? number
function Loop:step(seconds) end

---@class corral
local corral = {}

---"corral X.Y.Z", as `corral --version` prints it.
corral._VERSION = "corral 0.1.0"

---The metatable of corral.TaskError values: `getmetatable(e) == corral.Error`.
---@type table
corral.Error = {}

---The metatable of corral.InterruptedError values: `getmetatable(e) == corral.Interrupted`.
---@type table
corral.Interrupted = {}

---A new pool. Unknown options and bad values raise naming the option.
---@param options? corral.PoolOptions
---@return corral.Pool
function corral.pool(options) end

---A new workflow.
---@param options? corral.WorkflowOptions
---@return corral.Workflow
function corral.workflow(options) end

---`for f in corral.as_completed(futures)`: each future once, as it ends.
---@param futures corral.Future[]
---@return fun(): corral.Future?
function corral.as_completed(futures) end

---Runs `fn(...)` in a coroutine at once; inside it waits yield to corral's loop instead of
---blocking. An error in it is raised again from the code that resumed it.
---@param fn function
---@param ... any
---@return thread
function corral.go(fn, ...) end

---Sleeps while the pools keep working: timeouts, retries, refills and records happen meanwhile.
---Inside `corral.go` it yields, so other coroutines run.
---@param seconds number
function corral.sleep(seconds) end

---The handle of corral's event loop, for hosts with their own loop.
---@return corral.Loop
function corral.loop() end

---`corral.signals(false)`: corral never catches signals in this process.
---@param on boolean
function corral.signals(on) end

---@return integer
function corral.getpid() end

---@return integer
function corral.getppid() end

---@param pid? integer default: this process
---@return integer? pgid
---@return string? message
---@return integer? errno
function corral.getpgid(pid) end

---Raises on an unknown signal name; an OS failure returns nil, message, errno.
---@param pid integer
---@param sig corral.Signal
---@return true? ok
---@return string? message
---@return integer? errno
function corral.kill(pid, sig) end

---Raises on an unknown signal name; an OS failure returns nil, message, errno.
---@param pgid integer
---@param sig corral.Signal
---@return true? ok
---@return string? message
---@return integer? errno
function corral.killpg(pgid, sig) end

---The signal ("INT", "TERM", "HUP") of an interrupt that cancelled work, or nil.
---@return "INT"|"TERM"|"HUP"|nil
function corral.interrupted() end

return corral
