--- biomed-lsp for Neovim: BiomedBERT completion, hover and terminology checks for manuscripts.
---
--- Neovim 0.11+: `vim.lsp.enable('biomed_lsp')` (the config is in lsp/biomed_lsp.lua, override
--- with `vim.lsp.config('biomed_lsp', {...})`). Any version from 0.8: `require('biomed_lsp').setup{...}`,
--- which starts the server with `vim.lsp.start` from a FileType autocmd.
local M = {}

M.filetypes = { 'tex', 'plaintex', 'markdown', 'text', 'quarto', 'rmd' }
M.root_markers = { '.biomed-lsp', '.git' }

--- Server settings go under `settings.biomedLsp` (e.g. `{ diagnostics = { minMargin = 6 } }`);
--- only the keys you set are sent, the server fills in the rest. Every key, its default and its
--- meaning: editors/settings.json and the settings table of the README.

--- Sends the `biomedLsp` settings as initializationOptions too, so the first model load already
--- uses them (the server also pulls them with workspace/configuration).
local function before_init(params, config)
  local settings = config.settings or {}
  params.initializationOptions = vim.tbl_deep_extend('force', params.initializationOptions or {}, settings.biomedLsp or {})
end

--- The client config (the table `lsp/biomed_lsp.lua` returns), merged with `overrides`.
---@param overrides table|nil
---@return table
function M.config(overrides)
  local config = {
    cmd = { 'biomed-lsp' },
    filetypes = vim.deepcopy(M.filetypes),
    root_markers = vim.deepcopy(M.root_markers),
    settings = { biomedLsp = vim.empty_dict() },
    before_init = before_init,
  }
  return vim.tbl_deep_extend('force', config, overrides or {})
end

--- Entity mentions come as LSP semantic tokens of these types (the server's legend); Neovim draws
--- a token of type `disease` with the groups `@lsp.type.disease.<filetype>` and
--- `@lsp.type.disease`. By default each group links to a group of the colour the VS Code
--- extension uses for that type where Neovim has one (a disease in green, never the red of an
--- error); a colorscheme or your config that sets a group wins.
M.semantic_token_links = {
  disease = '@string',
  chemical = '@function',
  gene = '@type',
  species = '@tag',
  cellLine = '@keyword',
  cellType = '@constant',
  mutation = '@number',
  entity = '@property',
}

--- Links the `@lsp.type.<type>` groups of the entity types to their defaults (`default = true`:
--- a group already set is left as it is). Called at startup and after each `:colorscheme`.
function M.set_highlights()
  for token_type, target in pairs(M.semantic_token_links) do
    vim.api.nvim_set_hl(0, '@lsp.type.' .. token_type, { link = target, default = true })
  end
end

local function find_root(bufnr, markers)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if vim.fs.root then
    return vim.fs.root(bufnr, markers)
  end
  local start = name ~= '' and vim.fs.dirname(name) or vim.loop.cwd()
  local found = vim.fs.find(markers, { path = start, upward = true })[1]
  return found and vim.fs.dirname(found) or nil
end

--- Starts (or reuses) the server for buffers of the configured filetypes.
---@param opts table|nil cmd, settings, filetypes, root_markers, on_attach, capabilities, …
function M.setup(opts)
  opts = opts or {}
  M.set_highlights()
  local config = M.config(opts)
  -- Settings may be given flat ({ model = 'bundled' }) or under biomedLsp.
  local settings = opts.settings or {}
  if settings.biomedLsp == nil then
    settings = { biomedLsp = settings }
  end
  config.settings = settings
  local group = vim.api.nvim_create_augroup('biomed_lsp', { clear = true })
  local function start(bufnr)
    if vim.bo[bufnr].buftype ~= '' then
      return
    end
    local root = find_root(bufnr, config.root_markers)
    local name = vim.api.nvim_buf_get_name(bufnr)
    vim.lsp.start({
      name = 'biomed_lsp',
      cmd = config.cmd,
      root_dir = root or (name ~= '' and vim.fs.dirname(name) or nil),
      settings = config.settings,
      init_options = vim.deepcopy((config.settings or {}).biomedLsp or {}),
      capabilities = config.capabilities,
      on_attach = config.on_attach,
      handlers = config.handlers,
      cmd_env = config.cmd_env,
    }, { bufnr = bufnr })
  end
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = config.filetypes,
    callback = function(args)
      start(args.buf)
    end,
  })
  -- Buffers already open when setup runs.
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(config.filetypes, vim.bo[bufnr].filetype) then
      start(bufnr)
    end
  end
end

--- Runs a server command (workspace/executeCommand) with the biomed-lsp client of `bufnr`.
---@param command string e.g. 'biomedLsp.status', 'biomedLsp.checkWorkspace', 'biomedLsp.fetchModel'
---@param arguments table|nil
---@param handler fun(err, result)|nil
function M.execute(command, arguments, handler, bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local client = (vim.lsp.get_clients or vim.lsp.get_active_clients)({ name = 'biomed_lsp', bufnr = bufnr })[1]
  if not client then
    vim.notify('biomed-lsp: no server attached to this buffer', vim.log.levels.WARN)
    return
  end
  local params = { command = command, arguments = arguments or {} }
  local function on_result(err, result)
    if handler then
      handler(err, result)
    elseif err then
      vim.notify(('biomed-lsp: %s failed: %s'):format(command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
    else
      vim.notify(('biomed-lsp: %s\n%s'):format(command, vim.inspect(result)), vim.log.levels.INFO)
    end
  end
  if vim.fn.has('nvim-0.11') == 1 then
    client:request('workspace/executeCommand', params, on_result, bufnr)
  else
    client.request('workspace/executeCommand', params, on_result, bufnr)
  end
end

return M
