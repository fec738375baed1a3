-- The docs point only inside the repository: every markdown link in docs/*.md and README.md is
-- relative, names a file that exists, and an anchor (#…) names a heading of that file (as
-- GitHub makes anchors); no doc names the session's notes or a path under /work.
local H = require "helpers"

local function docs()
  local p = assert(io.popen("cd " .. H.root .. " && ls docs/*.md README.md"))
  local list = {}
  for l in p:lines() do list[#list + 1] = l end
  p:close()
  return list
end

-- GitHub's anchors: lowercased, punctuation but `-` and `_` dropped, spaces to `-`; a repeated
-- one gets -1, -2, … Headings inside code fences do not count.
local function anchors(text)
  local set, seen, fence = {}, {}, false
  for line in text:gmatch("[^\n]*") do
    if line:match("^```") then fence = not fence end
    local h = not fence and line:match("^#+%s+(.-)%s*$")
    if h then
      local slug = h:lower():gsub("[^%w%s_-]", ""):gsub("%s", "-")
      local n = seen[slug]
      seen[slug] = (n or 0) + 1
      set[n and (slug .. "-" .. n) or slug] = true
    end
  end
  return set
end

describe("the docs", function()
  local cache = {}
  local function text_of(path)
    cache[path] = cache[path] or H.slurp(H.root .. "/" .. path)
    return cache[path]
  end

  it("link only to files of the repository and to headings that exist", function()
    local bad = {}
    for _, doc in ipairs(docs()) do
      local dir = doc:match("^(.*/)") or ""
      local text = text_of(doc):gsub("\n```.-\n```", "")         -- not inside code blocks
      for target in text:gmatch("%]%(([^)%s]+)%)") do
        local file, anchor = target:match("^([^#]*)#?(.*)$")
        local path = file == "" and doc or (dir .. file):gsub("[^/]+/%.%./", "")
        if target:match("^%a[%w+.-]*:") then
          -- a web address: fine (not a file of this machine)
        elseif file:match("^/") or file:match("^~") then
          bad[#bad + 1] = doc .. ": " .. target .. " (outside the repository)"
        elseif not io.open(H.root .. "/" .. path) then
          bad[#bad + 1] = doc .. ": " .. target .. " (no such file)"
        elseif anchor ~= "" and path:match("%.md$") and not anchors(text_of(path))[anchor] then
          bad[#bad + 1] = doc .. ": " .. target .. " (no such heading)"
        end
      end
    end
    assert.are.same({}, bad)
  end)

  it("name no file outside the repository (the session's notes, /work)", function()
    local bad = {}
    for _, doc in ipairs(docs()) do
      local n = 0
      for line in text_of(doc):gmatch("[^\n]*") do
        n = n + 1
        if line:find("/work/", 1, true) or line:match("%f[%w]notes/[%w_-]+%.md") then
          bad[#bad + 1] = ("%s:%d: %s"):format(doc, n, line)
        end
      end
    end
    assert.are.same({}, bad)
  end)
end)
