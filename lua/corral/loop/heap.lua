-- corral.loop.heap: a binary min-heap in a plain array, ordered by a less(a, b) function: the
-- loop's timers and the report's free slots.
local M = {}

-- push(h, v, less): add v.
function M.push(h, v, less)
  local i = #h + 1
  h[i] = v
  while i > 1 do
    local p = i // 2
    if not less(h[i], h[p]) then break end
    h[i], h[p] = h[p], h[i]
    i = p
  end
end

-- pop(h, less) -> the least element, removed (nil when h is empty).
function M.pop(h, less)
  local n = #h
  local top = h[1]
  h[1] = h[n]; h[n] = nil; n = n - 1
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and less(h[l], h[m]) then m = l end
    if r <= n and less(h[r], h[m]) then m = r end
    if m == i then break end
    h[i], h[m] = h[m], h[i]
    i = m
  end
  return top
end

return M
