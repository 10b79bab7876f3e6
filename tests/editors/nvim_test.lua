-- End-to-end test of biomed-lsp in a real editor: headless Neovim (0.11+) loads the plugin from
-- editors/nvim, opens a Markdown and a LaTeX manuscript and, through Neovim's own LSP client,
-- checks attach, model-load progress, diagnostics, completion, hover, code actions and a quick fix.
--
--   BIOMED_LSP_SERVER=target/debug/biomed-lsp nvim --headless -u NONE -l tests/editors/nvim_test.lua
--
-- Environment:
--   BIOMED_LSP_SERVER           the server binary (required)
--   BIOMED_LSP_TEST_MODE        "enable" (vim.lsp.enable + lsp/biomed_lsp.lua, default) or "setup"
--                               (require('biomed_lsp').setup, the path for older Neovim)
--   BIOMED_LSP_TEST_SKIP        comma-separated stage ids to skip (e.g. "diagnostics,code-actions")
--   BIOMED_LSP_TEST_TIMEOUT_MS  how long to wait for the server at each stage (default 60000)
--
-- Stage ids (for BIOMED_LSP_TEST_SKIP): config, attach, progress, diagnostics, completion,
-- completion-quality (the model proposes "infarction" after "inf"), hover, code-actions, quick-fix,
-- semantic-tokens (the entity tagger's disease mention in entities.md as a `disease` token, drawn
-- with the plugin's default highlight), document-symbols (the mention under "Disease"), commands
-- (biomedLsp.status through the plugin).
--
-- Each stage prints PASS, FAIL (with what was expected and what came) or SKIP; the exit status is
-- 1 when any stage failed.

local script_path = debug.getinfo(1, 'S').source:sub(2)
local repo_root = vim.fs.dirname(vim.fs.dirname(vim.fs.dirname(vim.fn.fnamemodify(script_path, ':p'))))
local fixtures = repo_root .. '/tests/editors/fixtures'

local server = os.getenv('BIOMED_LSP_SERVER')
local mode = os.getenv('BIOMED_LSP_TEST_MODE') or 'enable'
local timeout_ms = tonumber(os.getenv('BIOMED_LSP_TEST_TIMEOUT_MS') or '') or 60000
local skipped_ids = {}
for id in (os.getenv('BIOMED_LSP_TEST_SKIP') or ''):gmatch('[^,%s]+') do
  skipped_ids[id] = true
end

local results = {}
local workspace -- the scratch copy of the fixtures, set below

local function log(message)
  io.stdout:write(message .. '\n')
  io.stdout:flush()
end

local function finish()
  local failed, passed, skipped = 0, 0, 0
  log(('\n== biomed-lsp Neovim test (%s, mode %s) =='):format(tostring(vim.version()), mode))
  for _, result in ipairs(results) do
    log(('%-4s %s%s'):format(result.status, result.name, result.detail and (': ' .. result.detail) or ''))
    if result.status == 'FAIL' then
      failed = failed + 1
    elseif result.status == 'PASS' then
      passed = passed + 1
    else
      skipped = skipped + 1
    end
  end
  log(('%d passed, %d failed, %d skipped'):format(passed, failed, skipped))
  if failed > 0 then
    local log_path = vim.lsp.log.get_filename()
    log('\nNeovim LSP log (' .. log_path .. '), last lines:')
    local ok, lines = pcall(vim.fn.readfile, log_path)
    if ok then
      for index = math.max(1, #lines - 40), #lines do
        log('  ' .. lines[index])
      end
    end
  end
  for _, client in ipairs(vim.lsp.get_clients()) do
    client:stop()
  end
  vim.wait(2000, function()
    return #vim.lsp.get_clients() == 0
  end, 50)
  if failed > 0 then
    log('the workspace the test used is kept in ' .. workspace)
  else
    vim.fn.delete(workspace, 'rf')
  end
  os.exit(failed > 0 and 1 or 0)
end

--- Runs one stage. `id` selects it in BIOMED_LSP_TEST_SKIP; `body` raises with a message on failure.
local function stage(name, id, body, ...)
  if skipped_ids[id] then
    table.insert(results, { status = 'SKIP', name = name, detail = 'BIOMED_LSP_TEST_SKIP' })
    log('SKIP ' .. name)
    return false
  end
  local start = vim.uv.hrtime()
  local ok, err = xpcall(body, function(message)
    return tostring(message)
  end, ...)
  local elapsed = ('%.1f s'):format((vim.uv.hrtime() - start) / 1e9)
  if ok then
    table.insert(results, { status = 'PASS', name = name, detail = elapsed })
    log('PASS ' .. name .. ' (' .. elapsed .. ')')
  else
    table.insert(results, { status = 'FAIL', name = name, detail = err })
    log('FAIL ' .. name .. ': ' .. err)
  end
  return ok
end

local function fail(message, ...)
  error(message:format(...), 0)
end

local function wait_for(what, condition, timeout)
  local ok = vim.wait(timeout or timeout_ms, condition, 50)
  if not ok then
    fail('timed out after %d ms waiting for %s', timeout or timeout_ms, what)
  end
end

-- ---------------------------------------------------------------------------------------------
-- Setup

if not server or server == '' then
  log('FAIL setup: set BIOMED_LSP_SERVER to the biomed-lsp binary')
  os.exit(1)
end
if vim.fn.executable(server) ~= 1 then
  log('FAIL setup: BIOMED_LSP_SERVER=' .. server .. ' is not an executable file')
  os.exit(1)
end
if vim.fn.has('nvim-0.11') ~= 1 then
  log('FAIL setup: this test needs Neovim 0.11 or newer, got ' .. tostring(vim.version()))
  os.exit(1)
end

-- A scratch workspace: the fixtures are copied so that fixes and dictionaries write there.
workspace = assert(vim.uv.fs_mkdtemp((vim.uv.os_tmpdir() or '/tmp') .. '/biomed-lsp-nvim-XXXXXX'))
vim.fn.mkdir(workspace .. '/.biomed-lsp', 'p')
for _, name in ipairs({ 'manuscript.md', 'manuscript.tex', 'entities.md' }) do
  vim.fn.writefile(vim.fn.readfile(fixtures .. '/' .. name, 'b'), workspace .. '/' .. name, 'b')
end

vim.opt.runtimepath:prepend(repo_root .. '/editors/nvim')
vim.cmd('filetype on')
-- -u NONE loads no plugins: source the plugin's user commands as a plugin manager would.
vim.cmd.runtime('plugin/biomed_lsp.lua')
vim.o.swapfile = false
vim.lsp.log.set_level(vim.log.levels.WARN)

local messages = {}
vim.lsp.handlers['window/showMessage'] = function(_, params)
  table.insert(messages, params)
  log(('  [server message, type %d] %s'):format(params.type, params.message))
end

local progress = { began = false, ended = false, end_message = nil }
vim.api.nvim_create_autocmd('LspProgress', {
  callback = function(args)
    local value = args.data and args.data.params and args.data.params.value or {}
    if value.kind == 'begin' then
      progress.began = true
    elseif value.kind == 'end' then
      progress.ended = true
      progress.end_message = value.message
      log('  [progress end] ' .. tostring(value.message))
    end
  end,
})

local settings = {
  biomedLsp = {
    model = 'bundled',
    offline = true,
    -- The test is about the editor, not the model's calibration: keep every candidate.
    completion = { minProbability = 0 },
    dictionary = { userFile = workspace .. '/user-dictionary.txt' },
  },
}

if mode == 'enable' then
  stage('config/lsp/biomed_lsp.lua defaults', 'config', function()
    local config = vim.lsp.config['biomed_lsp']
    if not config then
      fail('vim.lsp.config has no biomed_lsp: lsp/biomed_lsp.lua is not on the runtimepath')
    end
    if not vim.deep_equal(config.cmd, { 'biomed-lsp' }) then
      fail('default cmd is %s, expected { "biomed-lsp" }', vim.inspect(config.cmd))
    end
    for _, filetype in ipairs({ 'tex', 'plaintex', 'markdown', 'text', 'quarto', 'rmd' }) do
      if not vim.tbl_contains(config.filetypes or {}, filetype) then
        fail('filetypes %s lack %s', vim.inspect(config.filetypes), filetype)
      end
    end
    for _, marker in ipairs({ '.git', '.biomed-lsp' }) do
      if not vim.tbl_contains(config.root_markers or {}, marker) then
        fail('root_markers %s lack %s', vim.inspect(config.root_markers), marker)
      end
    end
    if type(config.settings) ~= 'table' or config.settings.biomedLsp == nil then
      fail('settings %s have no biomedLsp section', vim.inspect(config.settings))
    end
  end)
  vim.lsp.config('biomed_lsp', { cmd = { server }, settings = settings })
  vim.lsp.enable('biomed_lsp')
elseif mode == 'setup' then
  require('biomed_lsp').setup({ cmd = { server }, settings = settings.biomedLsp })
else
  log('FAIL setup: BIOMED_LSP_TEST_MODE must be "enable" or "setup", got ' .. mode)
  os.exit(1)
end

-- ---------------------------------------------------------------------------------------------
-- Helpers over one document

local TERM = 'infraction'
local EXPECTED = 'infarction'

local function client_for(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = 'biomed_lsp' })[1]
end

--- The 0-based line and byte column of `needle` in the buffer.
local function find_text(bufnr, needle)
  for index, line in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)) do
    local column = line:find(needle, 1, true)
    if column then
      return index - 1, column - 1
    end
  end
  fail('the buffer does not contain %q', needle)
end

local function position_params(bufnr, client, row, byte_column)
  vim.api.nvim_win_set_buf(0, bufnr)
  vim.api.nvim_win_set_cursor(0, { row + 1, byte_column })
  return vim.lsp.util.make_position_params(0, client.offset_encoding)
end

local function request(client, method, params, bufnr)
  local response, err = client:request_sync(method, params, timeout_ms, bufnr)
  if not response then
    fail('%s got no answer: %s', method, tostring(err))
  end
  if response.err then
    fail('%s answered an error: %s', method, vim.inspect(response.err))
  end
  return response.result
end

local function term_diagnostics(bufnr)
  local found = {}
  for _, diagnostic in ipairs(vim.diagnostic.get(bufnr)) do
    local line = vim.api.nvim_buf_get_lines(bufnr, diagnostic.lnum, diagnostic.lnum + 1, false)[1] or ''
    local text = line:sub(diagnostic.col + 1, diagnostic.end_col)
    if diagnostic.lnum == diagnostic.end_lnum and text:lower() == TERM then
      table.insert(found, diagnostic)
    end
  end
  return found
end

local function describe_diagnostics(bufnr)
  local parts = {}
  for _, diagnostic in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(parts, ('%d:%d-%d %s [%s/%s]'):format(diagnostic.lnum, diagnostic.col, diagnostic.end_col, diagnostic.message, tostring(diagnostic.source), tostring(diagnostic.code)))
  end
  return #parts == 0 and 'none' or table.concat(parts, '; ')
end

local function check_document(label, file_name, expected_filetypes, fix)
  local bufnr
  local client

  local attached = stage(label .. '/attach', 'attach', function()
    vim.cmd.edit(vim.fn.fnameescape(workspace .. '/' .. file_name))
    bufnr = vim.api.nvim_get_current_buf()
    if not vim.tbl_contains(expected_filetypes, vim.bo[bufnr].filetype) then
      fail('filetype is %q, expected one of %s', vim.bo[bufnr].filetype, table.concat(expected_filetypes, ', '))
    end
    wait_for('the biomed_lsp client to attach', function()
      client = client_for(bufnr)
      return client ~= nil and client.initialized == true
    end, 20000)
    if client.root_dir ~= workspace and vim.fn.resolve(client.root_dir or '') ~= vim.fn.resolve(workspace) then
      fail('root_dir is %s, expected the folder holding .biomed-lsp (%s)', tostring(client.root_dir), workspace)
    end
  end)
  if not attached then
    return
  end

  if progress.checked then
    goto after_progress
  end
  progress.checked = true
  stage('model/load progress', 'progress', function()
    wait_for('$/progress end of the model load', function()
      return progress.ended
    end)
    if not (progress.end_message or ''):find('ready') then
      fail('the model load ended with %q, expected "… ready on …"', tostring(progress.end_message))
    end
  end)
  ::after_progress::

  stage(label .. '/diagnostics', 'diagnostics', function()
    local found = vim.wait(timeout_ms, function()
      return #term_diagnostics(bufnr) > 0
    end, 50)
    if not found then
      fail('no diagnostic on %q within %d ms; diagnostics in the buffer: %s', TERM, timeout_ms, describe_diagnostics(bufnr))
    end
    local diagnostic = term_diagnostics(bufnr)[1]
    if diagnostic.source ~= 'biomed-lsp' then
      fail('source is %q, expected "biomed-lsp"', tostring(diagnostic.source))
    end
    -- A word outside the model's lexicon is reported as unknown-term, a known one as
    -- improbable-term; both carry the model's suggestions.
    if diagnostic.code ~= 'improbable-term' and diagnostic.code ~= 'unknown-term' then
      fail('code is %q, expected "improbable-term" or "unknown-term"', tostring(diagnostic.code))
    end
    if not diagnostic.message:find(TERM, 1, true) then
      fail('message %q does not mention %q', diagnostic.message, TERM)
    end
    local lsp_diagnostic = diagnostic.user_data and diagnostic.user_data.lsp or {}
    local suggestions = (lsp_diagnostic.data or {}).suggestions or {}
    if not vim.tbl_contains(suggestions, EXPECTED) then
      fail('the suggestions %s do not include %q', vim.inspect(suggestions), EXPECTED)
    end
  end)

  local completion_labels
  stage(label .. '/completion', 'completion', function()
    local row, column = find_text(bufnr, TERM)
    -- The cursor after "inf": the word prefix the server completes.
    local params = position_params(bufnr, client, row, column + 3)
    params.context = { triggerKind = 1 }
    local labels = {}
    -- The server answers an empty, incomplete list while the model loads.
    wait_for('completion items', function()
      local result = request(client, 'textDocument/completion', params, bufnr)
      local items = result and (result.items or result) or {}
      labels = vim.tbl_map(function(item)
        return item.label
      end, items)
      return #labels > 0
    end)
    for _, item_label in ipairs(labels) do
      if item_label:lower():sub(1, 3) ~= 'inf' then
        fail('completion %q after the prefix "inf" does not start with it; all: %s', item_label, table.concat(labels, ', '))
      end
    end
    completion_labels = labels
  end)

  -- Depends on the model as much as on the editor: skip with BIOMED_LSP_TEST_SKIP=completion-quality.
  stage(label .. '/completion proposes ' .. EXPECTED, 'completion-quality', function()
    if not completion_labels then
      fail('needs the completion stage')
    end
    local lowered = vim.tbl_map(string.lower, completion_labels)
    if not vim.tbl_contains(lowered, EXPECTED) then
      fail('%q is not among the completions after "inf": %s', EXPECTED, table.concat(completion_labels, ', '))
    end
  end)

  stage(label .. '/hover', 'hover', function()
    local row, column = find_text(bufnr, TERM)
    local params = position_params(bufnr, client, row, column + 2)
    local result = request(client, 'textDocument/hover', params, bufnr)
    if not result or not result.contents then
      fail('no hover on %q', TERM)
    end
    local contents = result.contents
    local text = type(contents) == 'string' and contents or contents.value or vim.inspect(contents)
    if not text:lower():find(TERM, 1, true) then
      fail('the hover does not mention %q: %s', TERM, text)
    end
  end)

  local actions = {}
  local actions_ok = stage(label .. '/code-actions', 'code-actions', function()
    if not client.server_capabilities.codeActionProvider then
      fail('the server does not advertise codeActionProvider')
    end
    local diagnostic = term_diagnostics(bufnr)[1]
    if not diagnostic then
      fail('no diagnostic on %q to ask code actions for', TERM)
    end
    local lsp_diagnostic = diagnostic.user_data and diagnostic.user_data.lsp
    local params = {
      textDocument = { uri = vim.uri_from_bufnr(bufnr) },
      range = lsp_diagnostic.range,
      context = { diagnostics = { lsp_diagnostic }, only = { 'quickfix' } },
    }
    actions = request(client, 'textDocument/codeAction', params, bufnr) or {}
    local titles = vim.tbl_map(function(action)
      return action.title
    end, actions)
    local expected = {
      ('Replace with "%s"'):format(EXPECTED), -- among the replacements, not necessarily first
      ('Add "%s" to user dictionary'):format(TERM),
      ('Add "%s" to workspace dictionary'):format(TERM),
      ('Ignore "%s" in this document'):format(TERM),
    }
    for _, title in ipairs(expected) do
      if not vim.tbl_contains(titles, title) then
        fail('no code action titled %q; got: %s', title, table.concat(titles, ' | '))
      end
    end
    -- The first replacement is the model's best suggestion and the preferred fix.
    local first_replace
    for _, action in ipairs(actions) do
      if action.title:find('^Replace with') then
        first_replace = first_replace or action
        if action ~= first_replace and action.isPreferred then
          fail('%q is preferred but is not the first replacement', action.title)
        end
      end
    end
    if not (first_replace and first_replace.isPreferred) then
      fail('the first replacement is not isPreferred')
    end
  end)

  if fix == 'replace' then
    stage(label .. '/quick-fix replaces the term', 'quick-fix', function()
      if not actions_ok then
        fail('needs the code-actions stage')
      end
      local row = find_text(bufnr, TERM)
      local before = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1]
      local preferred
      for _, action in ipairs(actions) do
        if action.isPreferred then
          preferred = action
        end
      end
      local uri = vim.uri_from_bufnr(bufnr)
      local new_text = preferred.edit.changes[uri][1].newText
      local expected_line = before:gsub(TERM, new_text, 1)
      local diagnostic = term_diagnostics(bufnr)[1]
      vim.api.nvim_win_set_cursor(0, { diagnostic.lnum + 1, diagnostic.col })
      -- The path a user takes: vim.lsp.buf.code_action, applying the preferred quick fix.
      vim.lsp.buf.code_action({
        context = { only = { 'quickfix' }, diagnostics = { diagnostic.user_data.lsp } },
        filter = function(action)
          return action.isPreferred == true
        end,
        apply = true,
      })
      wait_for('the quick fix to change the line', function()
        return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] ~= before
      end, 10000)
      local after = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1]
      if after ~= expected_line then
        fail('after the fix the line is %q, expected %q', after, expected_line)
      end
      wait_for('the diagnostic on the fixed term to go', function()
        return #term_diagnostics(bufnr) == 0
      end)
    end)
  else
    stage(label .. '/quick-fix adds the term to the workspace dictionary', 'quick-fix', function()
      if not actions_ok then
        fail('needs the code-actions stage')
      end
      local title = ('Add "%s" to workspace dictionary'):format(TERM)
      local diagnostic = term_diagnostics(bufnr)[1]
      local before = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n')
      vim.api.nvim_win_set_cursor(0, { diagnostic.lnum + 1, diagnostic.col })
      vim.lsp.buf.code_action({
        context = { only = { 'quickfix' }, diagnostics = { diagnostic.user_data.lsp } },
        filter = function(action)
          return action.title == title
        end,
        apply = true,
      })
      local dictionary = workspace .. '/.biomed-lsp/dictionary.txt'
      wait_for(dictionary .. ' to list ' .. TERM, function()
        local ok, lines = pcall(vim.fn.readfile, dictionary)
        return ok and vim.tbl_contains(vim.tbl_map(vim.trim, lines), TERM)
      end, 10000)
      wait_for('the diagnostic on the dictionary word to go', function()
        return #term_diagnostics(bufnr) == 0
      end)
      if table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n') ~= before then
        fail('adding to the dictionary changed the buffer')
      end
    end)
  end
end

check_document('markdown', 'manuscript.md', { 'markdown' }, 'replace')
check_document('latex', 'manuscript.tex', { 'tex' }, 'workspace-dictionary')

-- Entity mentions: the bundled disease tagger finds MENTION in entities.md.
local MENTION = 'Duchenne muscular dystrophy'

local function check_entities()
  local bufnr, client
  local attached = stage('entities/attach', 'attach', function()
    vim.cmd.edit(vim.fn.fnameescape(workspace .. '/entities.md'))
    bufnr = vim.api.nvim_get_current_buf()
    wait_for('the biomed_lsp client to attach', function()
      client = client_for(bufnr)
      return client ~= nil and client.initialized == true
    end, 20000)
  end)
  if not attached then
    return
  end

  stage('entities/semantic tokens: the mention is a disease token', 'semantic-tokens', function()
    local provider = client.server_capabilities.semanticTokensProvider
    if not provider then
      fail('the server does not advertise semanticTokensProvider')
    end
    if not vim.tbl_contains(provider.legend.tokenTypes, 'disease') then
      fail('the legend %s lacks disease', vim.inspect(provider.legend.tokenTypes))
    end
    local row, column = find_text(bufnr, MENTION)
    local seen = {}
    -- The tokens come after the check (the server asks for a refresh when it is done).
    local found = vim.wait(timeout_ms, function()
      seen = vim.lsp.semantic_tokens.get_at_pos(bufnr, row, column + 1) or {}
      for _, token in ipairs(seen) do
        if token.type == 'disease' and token.start_col == column and token.end_col == column + #MENTION then
          return true
        end
      end
      return false
    end, 50)
    if not found then
      local tokens = vim.tbl_map(function(token)
        return ('%s %d:%d-%d'):format(token.type, token.line, token.start_col, token.end_col)
      end, seen)
      fail('no disease token over %q (%d:%d-%d) within %d ms; tokens there: %s', MENTION, row, column, column + #MENTION, timeout_ms, #tokens == 0 and 'none' or table.concat(tokens, ', '))
    end
    -- The highlight Neovim draws with: the plugin links @lsp.type.disease to a colour.
    local group = vim.api.nvim_get_hl(0, { name = '@lsp.type.disease', link = false })
    if not group.fg then
      fail('@lsp.type.disease has no colour: %s (link %s)', vim.inspect(group), tostring(vim.api.nvim_get_hl(0, { name = '@lsp.type.disease' }).link))
    end
    -- :colorscheme clears the groups; the plugin sets them again.
    vim.cmd.colorscheme('default')
    if vim.api.nvim_get_hl(0, { name = '@lsp.type.disease' }).link == nil then
      fail('after :colorscheme the plugin did not link @lsp.type.disease again')
    end
    -- Drawn: the extmark in the client's semantic tokens namespace (set when the window redraws).
    local namespace = vim.api.nvim_get_namespaces()['nvim.lsp.semantic_tokens:' .. client.id]
    if not namespace then
      fail('no semantic tokens namespace for the client (nvim.lsp.semantic_tokens:%d)', client.id)
    end
    wait_for('the @lsp.type.disease.markdown highlight on the mention', function()
      vim.cmd.redraw()
      for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(bufnr, namespace, { row, column }, { row, column }, { details = true })) do
        if mark[4].hl_group == '@lsp.type.disease.markdown' and mark[4].end_col == column + #MENTION then
          return true
        end
      end
      return false
    end, 10000)
  end)

  stage('entities/document symbols: the mention under Disease', 'document-symbols', function()
    if not client.server_capabilities.documentSymbolProvider then
      fail('the server does not advertise documentSymbolProvider')
    end
    local params = { textDocument = { uri = vim.uri_from_bufnr(bufnr) } }
    local disease
    wait_for('a Disease symbol', function()
      for _, symbol in ipairs(request(client, 'textDocument/documentSymbol', params, bufnr) or {}) do
        if symbol.name == 'Disease' then
          disease = symbol
        end
      end
      return disease ~= nil
    end)
    local names = vim.tbl_map(function(child)
      return child.name
    end, disease.children or {})
    if not vim.tbl_contains(names, MENTION) then
      fail('the Disease symbol (%s) does not list %q: %s', tostring(disease.detail), MENTION, vim.inspect(names))
    end
    if not (disease.detail or ''):find('1 mention') then
      fail('the Disease symbol\'s detail is %q, expected "1 mention, 1 term"', tostring(disease.detail))
    end
  end)
end

check_entities()

stage('server/biomedLsp.status command', 'commands', function()
  if vim.fn.exists(':BiomedLspStatus') ~= 2 then
    fail('the plugin did not define :BiomedLspStatus')
  end
  local client = vim.lsp.get_clients({ name = 'biomed_lsp' })[1]
  if not client then
    fail('no biomed_lsp client')
  end
  local commands = (client.server_capabilities.executeCommandProvider or {}).commands or {}
  for _, command in ipairs({ 'biomedLsp.addToDictionary', 'biomedLsp.checkWorkspace', 'biomedLsp.fetchModel', 'biomedLsp.status' }) do
    if not vim.tbl_contains(commands, command) then
      fail('the server does not advertise the command %s (executeCommandProvider: %s)', command, vim.inspect(commands))
    end
  end
  local answer
  require('biomed_lsp').execute('biomedLsp.status', {}, function(err, result)
    answer = { err = err, result = result }
  end)
  wait_for('the answer of biomedLsp.status', function()
    return answer ~= nil
  end, 10000)
  if answer.err then
    fail('biomedLsp.status answered an error: %s', vim.inspect(answer.err))
  end
  local result = answer.result or {}
  if not vim.tbl_contains({ 'loading', 'ready', 'fallback', 'error' }, result.state) or not result.model or not result.device then
    fail('biomedLsp.status answered %s, expected {model, device, state, detail}', vim.inspect(answer.result))
  end
  if result.state ~= 'ready' and result.state ~= 'fallback' then
    fail('the bundled model is %s, expected ready', tostring(result.state))
  end
  -- :BiomedLspStatus says it, the entity tagger included.
  local notified = {}
  local notify = vim.notify
  vim.notify = function(message)
    table.insert(notified, message)
  end
  vim.cmd('BiomedLspStatus')
  local waited, problem = pcall(wait_for, ':BiomedLspStatus to say the status', function()
    return #notified > 0
  end, 10000)
  vim.notify = notify
  if not waited then
    error(problem, 0)
  end
  local message = notified[1] or ''
  if not message:find('entities: bundled disease tagger (Disease)', 1, true) then
    fail(':BiomedLspStatus said %s, expected the model and "entities: bundled disease tagger (Disease)"', vim.inspect(message))
  end
end)

stage('server/one client for both documents', 'attach', function()
  local clients = vim.lsp.get_clients({ name = 'biomed_lsp' })
  if #clients ~= 1 then
    fail('%d biomed_lsp clients, expected one shared by both buffers', #clients)
  end
end)

finish()
