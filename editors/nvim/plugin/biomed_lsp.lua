-- User commands for biomed-lsp; they talk to the server attached to the current buffer.
-- Nothing starts here: use vim.lsp.enable('biomed_lsp') (0.11+) or require('biomed_lsp').setup{}.
if vim.g.loaded_biomed_lsp then
  return
end
vim.g.loaded_biomed_lsp = true

-- Default colours of the entity mentions (semantic tokens); `:colorscheme` clears them, so they
-- are set again after each one (a colorscheme that sets the groups wins).
require('biomed_lsp').set_highlights()
vim.api.nvim_create_autocmd('ColorScheme', {
  group = vim.api.nvim_create_augroup('biomed_lsp_highlights', { clear = true }),
  callback = function()
    require('biomed_lsp').set_highlights()
  end,
})

local function execute(command, arguments)
  require('biomed_lsp').execute(command, arguments)
end

vim.api.nvim_create_user_command('BiomedLspStatus', function()
  require('biomed_lsp').execute('biomedLsp.status', {}, function(err, result)
    if err then
      vim.notify('biomed-lsp: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif type(result) == 'table' then
      local entities = ''
      if type(result.entities) == 'table' then
        entities = ('; entities: %s (%s)'):format(tostring(result.entities.name),
          table.concat(result.entities.entity_types or {}, ', '))
      end
      vim.notify(('biomed-lsp: %s on %s%s, %s%s%s'):format(tostring(result.model), tostring(result.device),
        (result.precision and result.precision ~= '') and (' (' .. result.precision .. ')') or '', tostring(result.state),
        entities, (result.detail and result.detail ~= '') and ('\n' .. result.detail) or ''))
    end
  end)
end, { desc = 'biomed-lsp: model, device and state' })

vim.api.nvim_create_user_command('BiomedLspCheckWorkspace', function()
  execute('biomedLsp.checkWorkspace')
end, { desc = 'biomed-lsp: check every manuscript in the workspace' })

vim.api.nvim_create_user_command('BiomedLspFetchModel', function()
  execute('biomedLsp.fetchModel')
end, { desc = 'biomed-lsp: download the configured model' })

vim.api.nvim_create_user_command('BiomedLspAddWord', function(opts)
  local word = opts.fargs[1] or vim.fn.expand('<cword>')
  local scope = opts.fargs[2] or 'user'
  execute('biomedLsp.addToDictionary', { { word = word, scope = scope, uri = vim.uri_from_bufnr(0) } })
end, {
  nargs = '*',
  desc = 'biomed-lsp: add a word (default: the word under the cursor) to the user or workspace dictionary',
  complete = function(_, line)
    if #vim.split(line, '%s+') == 3 then
      return { 'user', 'workspace' }
    end
    return {}
  end,
})
