// The extension, as VS Code would run it, against a real server process, with a fake `vscode`
// module (no VS Code download is possible here): activation starts the server, the status bar
// follows the model load, the commands exist, deactivation stops the server.
//
// Runs against tests/editors/fake_server.py (a scripted server) always, and against the real
// biomed-lsp when BIOMED_LSP_SERVER names it.

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { test } from "node:test";
import { activateWith, fakeServer, loadExtension } from "./harness";

const extension = loadExtension("../extension");

test("with the scripted server: starts, follows the model load, offers the server's commands", { skip: !fs.existsSync(fakeServer) }, async () => {
  const { text, commands } = await activateWith(extension, fakeServer);
  assert.equal(text, "$(check) biomed-lsp bundled · CPU");
  // vscode-languageclient registers the server's commands, so code actions can run them.
  for (const command of ["biomedLsp.addToDictionary", "biomedLsp.checkWorkspace", "biomedLsp.fetchModel", "biomedLsp.status"]) {
    assert.ok(commands.includes(command), `the server command ${command} is registered`);
  }
});

const realServer = process.env.BIOMED_LSP_SERVER;
test("with the real server (BIOMED_LSP_SERVER)", { skip: realServer === undefined || realServer === "" ? "BIOMED_LSP_SERVER is not set" : false }, async (t) => {
  const { text } = await activateWith(extension, realServer as string);
  t.diagnostic(`status bar: ${text}`);
  assert.match(text, /^\$\((check|warning)\) biomed-lsp/);
  assert.match(text, /CPU|GPU/);
});
