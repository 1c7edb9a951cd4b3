-- wrk script: each request takes the next path of those given after `--`, in turn, with the
-- headers given by -H. Used for the token-auth scenario (several repositories).
local paths = {}
local i = 0

function init(args)
  for _, p in ipairs(args) do
    paths[#paths + 1] = p
  end
end

function request()
  i = i % #paths + 1
  return wrk.format(nil, paths[i])
end
