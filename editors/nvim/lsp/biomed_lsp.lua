-- Neovim 0.11+ config for biomed-lsp: `vim.lsp.enable('biomed_lsp')`.
-- Override any field with vim.lsp.config('biomed_lsp', { cmd = {...}, settings = { biomedLsp = {...} } }).
return require('biomed_lsp').config()
