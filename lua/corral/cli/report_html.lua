-- corral.cli.report_html: a run (corral.cli.report) drawn as one self-contained HTML file: inline CSS
-- and SVG, no script, nothing fetched. A timeline with a row per slot and a bar per attempt
-- (a <title> for the hover, data-* attributes for tools), the summary, the concurrency over
-- time, the slowest attempts, every failure with the tail of its stderr, and a workflow's
-- critical path. Past MAX_BARS attempts the timeline is aggregated into cells of a bounded
-- grid, so the file's size does not grow with the journal.
local report = require "corral.cli.report"

local M = {}

M.MAX_BARS = 3000        -- more attempts than this: the timeline is drawn as a grid of cells
M.MAX_CELLS = 24000      -- rows x columns of that grid (bounds the rects drawn)
M.MAX_ROWS = 120         -- more slots than this share rows
M.MAX_FAILURES = 200     -- failures listed in full; the rest are counted
local WIDTH, LABEL, PLOT = 1160, 64, 1080

M.COLOURS = { ok = "#43a047", failed = "#e53935", signaled = "#8e24aa", timeout = "#fb8c00",
              cancelled = "#9e9e9e", lost = "#6d4c41", error = "#d81b60", skipped = "#b0bec5",
              running = "#1e88e5" }
local OTHER = "#455a64"

local ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }
local function esc(s)
  return (tostring(s):gsub("[&<>\"']", ESC):gsub("[%z\1-\8\11\12\14-\31]", "?"))
end

local function cut(s, n)
  s = tostring(s or "")
  if #s > n then return s:sub(1, n - 3) .. "..." end
  return s
end

local int = report.text

-- 0.042 s, 3.27 s, 1:02:03
local function dur(s)
  s = tonumber(s) or 0
  if s < 10 then return ("%.3f s"):format(s) end
  if s < 600 then return ("%.1f s"):format(s) end
  s = math.floor(s + 0.5)
  return ("%d:%02d:%02d"):format(s // 3600, s // 60 % 60, s % 60)
end

-- 512 MiB, 1.5 GiB: a job's memory share
local function bytes(n)
  local units = { "KiB", "MiB", "GiB", "TiB" }
  local v, u = n, "bytes"
  for _, name in ipairs(units) do
    if v < 1024 then break end
    v, u = v / 1024, name
  end
  return u == "bytes" and ("%d bytes"):format(n) or ("%.4g %s"):format(v, u)
end

local function how(a)
  local parts = {}
  if type(a.code) == "number" then parts[#parts + 1] = "exit " .. int(a.code) end
  if type(a.signal) == "string" or type(a.signal) == "number" then
    parts[#parts + 1] = "signal " .. int(a.signal)
  end
  if type(a.error) == "string" then parts[#parts + 1] = cut(a.error:match("[^\n]*"), 160) end
  return table.concat(parts, ", ")
end

local function colour(status) return M.COLOURS[status] or OTHER end
local function class(status) return M.COLOURS[status] and ("s-" .. status) or "s-other" end

local function label(a)
  local n = a.name
  if n == nil or n == report.NULL then n = "#" .. int(a.id) end
  return tostring(n)
end

-- the last lines of a captured stream, at most `bytes`
local function tail(s, lines, bytes)
  if type(s) ~= "string" or s == "" then return nil end
  if #s > bytes then s = s:sub(-bytes) end
  local t = {}
  for l in s:gmatch("[^\n]*") do t[#t + 1] = l end
  while t[#t] == "" do t[#t] = nil end
  local from = math.max(1, #t - lines + 1)
  return table.concat(t, "\n", from)
end

-- A tick step of 1, 2 or 5 times a power of ten, about `n` ticks over `span`.
local function tick_step(span, n)
  local raw = span / n
  local p = 10 ^ math.floor(math.log(raw, 10))
  for _, m in ipairs { 1, 2, 5, 10 } do
    if m * p >= raw then return m * p end
  end
  return 10 * p
end

local function tick_label(t, step)
  if step >= 60 then
    local s = math.floor(t + 0.5)
    return ("%d:%02d"):format(s // 60, s % 60)
  end
  local dec = step >= 1 and 0 or math.min(3, math.ceil(-math.log(step, 10)))
  return ("%." .. dec .. "fs"):format(t)
end

local CSS = [[
body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 6px}
.sub{color:#666;margin-bottom:12px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:110px}
.card b{display:block;font-size:18px}
.chip{display:inline-block;margin:2px 10px 2px 0}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:4px;vertical-align:-1px}
table{border-collapse:collapse}td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}
th{color:#555;font-weight:600;border-bottom:1px solid #ddd}
td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{margin:2px 0 8px;padding:4px 8px;background:#f6f6f6;border-left:3px solid #e53935;max-width:1100px;overflow:auto;font-size:12px}
svg text{font:11px system-ui,sans-serif;fill:#555}
rect.b:hover{stroke:#000;stroke-width:1}
rect.crit{stroke:#000;stroke-width:1.5}
.crit-path{font-weight:600}
]]

local function css()
  local t = { CSS }
  for s, c in pairs(M.COLOURS) do t[#t + 1] = (".s-%s{fill:%s}"):format(s, c) end
  t[#t + 1] = (".s-other{fill:%s}"):format(OTHER)
  table.sort(t, function(a, b) return a < b end)
  return table.concat(t, "\n")
end

-- The timeline: rows of slots, a bar per attempt (or, when there are many, a grid of cells
-- each coloured by its most severe status).
local function timeline(out, s)
  local bars, nlanes = s.bars, math.max(1, s.nlanes)
  local nrows = math.min(nlanes, M.MAX_ROWS)
  local rowh = math.max(3, math.min(18, math.floor(600 / nrows)))
  local top, span = 22, math.max(s.wall, 1e-6)
  local height = top + nrows * rowh + 8
  local aggregated = #bars > M.MAX_BARS
  local function row_of(lane) return (lane - 1) * nrows // nlanes end
  local function x_of(t) return LABEL + (t - s.t0) / span * PLOT end
  out[#out + 1] = ('<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
    .. 'data-bars="%d" data-rows="%d" data-slots="%d" data-aggregated="%s">')
    :format(WIDTH, height, #bars, nrows, nlanes, aggregated and "true" or "false")
  -- time axis
  local step = tick_step(span, 10)
  local t = 0
  while t <= span + step * 1e-9 do
    local x = x_of(s.t0 + t)
    out[#out + 1] = ('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/><text x="%.1f" y="14" text-anchor="middle">%s</text>')
      :format(x, top - 4, x, height - 4, x, tick_label(t, step))
    t = t + step
  end
  for r = 0, nrows - 1 do
    if nrows <= 40 or r % math.ceil(nrows / 40) == 0 then
      local lo = r * nlanes // nrows + 1
      out[#out + 1] = ('<text x="%d" y="%.1f" text-anchor="end">%s</text>')
        :format(LABEL - 6, top + r * rowh + rowh * 0.75,
          nrows == nlanes and ("slot " .. (r + 1)) or ("slots " .. lo .. "+"))
    end
  end
  local h = math.max(2, rowh - 2)
  local function bar(a, extra)
    local x0, x1 = x_of(a.start), x_of(a.finish)
    local crit = s.on_critical[a.name] and " crit" or ""
    local tip = ("%s — attempt %s — %s — %s"):format(cut(label(a), 200), int(a.attempt or "?"),
      a.status, dur(a.duration))
    local hw = how(a)
    if hw ~= "" then tip = tip .. " (" .. hw .. ")" end
    if type(a.cpus) == "number" then tip = tip .. (" — %g CPU%s"):format(a.cpus, a.cpus == 1 and "" or "s") end
    if type(a.memory) == "number" and a.memory > 0 then tip = tip .. ", " .. bytes(a.memory) end
    out[#out + 1] = ('<rect class="b %s%s" x="%.1f" y="%.1f" width="%.1f" height="%d" data-id="%s" '
      .. 'data-name="%s" data-attempt="%s" data-status="%s"%s><title>%s</title></rect>')
      :format(class(a.status), crit, x0, top + row_of(a.lane) * rowh + 1, math.max(2, x1 - x0), h,
        esc(int(a.id)), esc(label(a)), esc(int(a.attempt)), esc(a.status), extra or "", esc(tip))
  end
  if not aggregated then
    for _, a in ipairs(bars) do bar(a) end
  else
    local cols = math.max(1, math.min(PLOT, M.MAX_CELLS // nrows))
    local cw = PLOT / cols
    local worst, starts = {}, {}          -- [row][col] -> severity; [row][col] -> {status=n}
    for r = 0, nrows - 1 do worst[r], starts[r] = {}, {} end
    local function col_of(tm) return math.min(cols, math.floor((tm - s.t0) / span * cols) + 1) end
    for _, a in ipairs(bars) do
      local r = row_of(a.lane)
      local c0, c1 = col_of(a.start), col_of(a.finish)
      local sev = report.SEVERITY[a.status] or 10
      local w = worst[r]
      for c = c0, c1 do
        if (w[c] or 0) < sev then w[c] = sev end
      end
      local st = starts[r][c0]
      if not st then st = {}; starts[r][c0] = st end
      st[a.status] = (st[a.status] or 0) + 1
    end
    local by_sev = {}
    for name, v in pairs(report.SEVERITY) do by_sev[v] = name end
    for r = 0, nrows - 1 do
      local w, st = worst[r], starts[r]
      local c = 1
      while c <= cols do
        local sev = w[c]
        if not sev then c = c + 1 else
          local c1, counts = c, {}
          while c1 <= cols and w[c1] == sev do
            for k, n in pairs(st[c1] or {}) do counts[k] = (counts[k] or 0) + n end
            c1 = c1 + 1
          end
          local parts, total = {}, 0
          for _, k in ipairs(report.ORDER) do
            if counts[k] then parts[#parts + 1] = k .. " " .. counts[k]; total = total + counts[k] end
          end
          for k, n in pairs(counts) do
            if not report.SEVERITY[k] then parts[#parts + 1] = k .. " " .. n; total = total + n end
          end
          local status = by_sev[sev] or "other"
          out[#out + 1] = ('<rect class="c %s" x="%.1f" y="%.1f" width="%.1f" height="%d"><title>%s attempts started here: %s</title></rect>')
            :format(class(status), LABEL + (c - 1) * cw, top + r * rowh + 1, (c1 - c) * cw, h,
              total, esc(table.concat(parts, ", ")))
          c = c1
        end
      end
    end
    for _, a in ipairs(bars) do                 -- the critical path stays visible, bar by bar
      if s.on_critical[a.name] then bar(a) end
    end
  end
  out[#out + 1] = "</svg>"
  if aggregated then
    out[#out + 1] = ('<p class="sub">%d attempts: drawn as a grid of %d columns per row, each cell in the colour of the most severe status in it (hover for the counts).</p>')
      :format(#bars, math.max(1, math.min(PLOT, M.MAX_CELLS // nrows)))
  end
end

local function concurrency(out, s)
  local h, top = 90, 6
  local n = #s.concurrency
  local max = math.max(1, s.max_concurrency)
  local pts = { ("M%d,%d"):format(LABEL, top + h) }
  for i, v in ipairs(s.concurrency) do
    local x0 = LABEL + (i - 1) / n * PLOT
    local x1 = LABEL + i / n * PLOT
    local y = top + h - v / max * h
    pts[#pts + 1] = ("L%.1f,%.1fL%.1f,%.1f"):format(x0, y, x1, y)
  end
  pts[#pts + 1] = ("L%d,%dZ"):format(LABEL + PLOT, top + h)
  out[#out + 1] = ('<svg id="concurrency" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d">'
    .. '<text x="%d" y="%d" text-anchor="end">%d</text><text x="%d" y="%d" text-anchor="end">0</text>'
    .. '<path d="%s" fill="#90caf9" stroke="#1e88e5" stroke-width="1"/></svg>')
    :format(WIDTH, h + top + 4, LABEL - 6, top + 10, s.max_concurrency, LABEL - 6, top + h,
      table.concat(pts))
end

-- render(run, summary) -> the HTML document as a string
function M.render(run, s)
  local out = {}
  local function add(...) for i = 1, select("#", ...) do out[#out + 1] = select(i, ...) end end
  add('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
      "<title>corral report: ", esc(run.path), "</title><style>", css(), "</style></head><body>\n")
  add("<h1>corral report</h1><div class=\"sub\">", esc(run.path), " — ",
      run.workflow and "workflow journal" or "pool journal",
      s.nattempts > 0 and (", started " .. os.date("!%Y-%m-%d %H:%M:%S UTC", math.floor(s.t0))) or "",
      "</div>\n")
  -- summary cards
  add('<div class="cards">')
  local function card(title, value) add('<div class="card">', esc(title), "<b>", esc(value), "</b></div>") end
  card("jobs", tostring(s.njobs))
  card("attempts", ("%d (%d retried)"):format(s.nattempts, s.retries))
  card("wall time", dur(s.wall))
  card("total CPU", dur(s.cpu))
  card("CPU / wall", s.wall > 0 and ("%.2f"):format(s.cpu / s.wall) or "-")
  card("max concurrency", tostring(s.max_concurrency))
  if s.max_cpus then card("CPUs held at most", ("%g"):format(s.max_cpus)) end
  if s.max_memory then card("memory held at most", bytes(s.max_memory)) end
  if #s.running > 0 then card("still running", tostring(#s.running)) end
  add("</div>\n<p>")
  local seen = {}
  for _, st in ipairs(report.ORDER) do
    if s.counts[st] then
      seen[st] = true
      add('<span class="chip"><span class="sw" style="background:', colour(st), '"></span>',
          esc(st), " <b>", tostring(s.counts[st]), "</b></span>")
    end
  end
  for st, n in pairs(s.counts) do
    if not seen[st] then
      add('<span class="chip"><span class="sw" style="background:', OTHER, '"></span>',
          esc(st), " <b>", tostring(n), "</b></span>")
    end
  end
  add("</p>\n")
  if s.critical then
    local names = {}
    for i, n in ipairs(s.critical) do names[i] = esc(n) end
    add('<h2>Critical path</h2><p class="crit-path" id="critical-path">',
        table.concat(names, " → "), "</p><p class=\"sub\">", dur(s.critical_time),
        " of job time along dependencies (outlined in the timeline); the run took ", dur(s.wall), ".</p>\n")
  end
  add("<h2>Timeline</h2>\n")
  timeline(out, s)
  add("\n<h2>Concurrency</h2>\n")
  concurrency(out, s)
  add("\n<h2>Slowest attempts</h2><table><tr><th>duration</th><th>job</th><th>attempt</th><th>status</th></tr>")
  for _, a in ipairs(s.slowest) do
    add('<tr><td class="n">', dur(a.duration), "</td><td>", esc(cut(label(a), 120)), '</td><td class="n">',
        esc(int(a.attempt)), "</td><td>", esc(a.status), "</td></tr>")
  end
  add("</table>\n")
  add("<h2>Failures (", tostring(#s.failures), ")</h2>\n")
  if #s.failures == 0 then add("<p>none</p>\n") end
  for i, a in ipairs(s.failures) do
    if i > M.MAX_FAILURES then
      add(("<p>… and %d more failed attempts (see <code>corral joblog</code>).</p>\n"):format(#s.failures - M.MAX_FAILURES))
      break
    end
    local hw = how(a)
    add('<div class="failure" data-name="', esc(label(a)), '" data-attempt="', esc(int(a.attempt)), '"><b>',
        esc(cut(label(a), 200)), "</b> attempt ", esc(int(a.attempt)), " — ", esc(a.status),
        hw ~= "" and (" — " .. esc(hw)) or "", " — ", dur(a.duration))
    local err = tail(a.stderr, 15, 2000)
    if err then add("<pre>", esc(err), "</pre>") end
    add("</div>\n")
  end
  if #s.running > 0 then
    add("<h2>Running when the journal was read (", tostring(#s.running), ")</h2><table>")
    for _, ev in ipairs(s.running) do
      add("<tr><td>", esc(cut(label(ev), 120)), "</td><td>attempt ", esc(int(ev.attempt)),
          "</td><td>pid ", esc(int(ev.pid)), "</td></tr>")
    end
    add("</table>\n")
  end
  if s.torn then add('<p class="sub">A torn last line (a crash mid-write) was skipped.</p>\n') end
  if s.bad > 0 then add(('<p class="sub">%d unreadable lines were skipped.</p>\n'):format(s.bad)) end
  add("</body></html>\n")
  return table.concat(out)
end

local USAGE = [[
usage: corral report JOURNAL [-o FILE]
Draws a corral journal (a pool's or a workflow's joblog) as one self-contained HTML file:
a timeline of every attempt by slot, counts, wall and CPU time, concurrency, the slowest
attempts, every failure with its stderr, a workflow's critical path.
  -o FILE   where to write it (default: JOURNAL without .jsonl/.json, plus .html; - for stdout)]]

local function usage_error(msg)
  io.stderr:write("corral report: ", msg, "\n", "try 'corral report --help'\n")
  os.exit(2)
end

-- main(argv): `corral report`. Exit 0 when written, 2 on a usage error or a journal that
-- cannot be read, 1 when the output cannot be written.
function M.main(argv)
  local path, output
  local i = 1
  while argv[i] do
    local a = argv[i]
    if a == "-h" or a == "--help" then print(USAGE); os.exit(0)
    elseif a == "-o" or a == "--output" then
      output = argv[i + 1]
      if not output then usage_error("option '" .. a .. "' needs a FILE") end
      i = i + 1
    elseif a:match("^%-%-output=") then output = a:sub(10)
    elseif a:sub(1, 1) == "-" and a ~= "-" then usage_error("unknown option '" .. a .. "'")
    elseif path then usage_error("one JOURNAL expected, got '" .. path .. "' and '" .. a .. "'")
    else path = a end
    i = i + 1
  end
  if not path then usage_error("missing JOURNAL") end
  local run, err = report.load(path == "-" and "/dev/stdin" or path)
  if not run then
    io.stderr:write("corral report: ", err, "\n")
    os.exit(2)
  end
  local html = M.render(run, report.summarize(run))
  output = output or (path == "-" and "-" or (path:gsub("%.jsonl?$", "") .. ".html"))
  if output == "-" then io.stdout:write(html); os.exit(0) end
  local fh, werr = io.open(output, "wb")
  local ok = fh and fh:write(html)
  if fh then ok = fh:close() and ok end
  if not ok then
    io.stderr:write("corral report: cannot write ", werr or output, "\n")
    os.exit(1)
  end
  io.stdout:write(("%s: %d attempts of %d jobs -> %s (%d KB)\n")
    :format(path, #run.attempts, #report.jobs(run), output, (#html + 1023) // 1024))
  os.exit(0)
end

return M
