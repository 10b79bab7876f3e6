// Activates the extension (the tsc output or the esbuild bundle) inside the fake `vscode` module
// against a server process and returns what the status bar shows once the model is loaded.

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { installFakeVscode } from "./fakeVscode";

export const extensionRoot = path.join(__dirname, "..", "..");
const repoRoot = path.join(extensionRoot, "..", "..");
const packageJson = JSON.parse(fs.readFileSync(path.join(extensionRoot, "package.json"), "utf8"));
export const fakeServer = path.join(repoRoot, "tests", "editors", "fake_server.py");

const settings: Record<string, unknown> = { "biomedLsp.model": "bundled", "biomedLsp.offline": true };
const record = installFakeVscode(settings);

interface ExtensionModule {
  activate(context: never): Promise<void>;
  deactivate(): Promise<void>;
}

/** Loads the extension after the fake is installed (it and vscode-languageclient require "vscode"). */
export function loadExtension(modulePath: string): ExtensionModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(modulePath) as ExtensionModule;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 60000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function activateWith(extension: ExtensionModule, server: string): Promise<{ text: string; commands: string[] }> {
  settings["biomedLsp.serverPath"] = server;
  record.output.length = 0;
  // The extension's own folder (no server/ in it: the setting names the server).
  const extensionPath = path.join(__dirname, "..", "..");
  const context = { subscriptions: [] as Array<{ dispose(): unknown }>, extension: { packageJSON: packageJson }, extensionPath };
  await extension.activate(context as never);
  const statusItem = record.statusItems[record.statusItems.length - 1];
  await waitFor(`the status bar to show a loaded model (now "${statusItem.text}"; output: ${record.output.join(" | ")})`, () =>
    /\$\((check|warning)\)/.test(statusItem.text),
  );
  const text = statusItem.text;
  const commands = [...record.commands.keys()];
  for (const command of ["restartServer", "fetchModel", "checkWorkspace", "addWordToDictionary", "showStatus"]) {
    assert.ok(record.commands.has(`biomed-lsp.${command}`), `registers biomed-lsp.${command}`);
  }
  assert.ok(record.output.some((line) => line.includes(`starting ${server}`)), "logs the server it starts");
  await extension.deactivate();
  for (const disposable of context.subscriptions) {
    disposable.dispose();
  }
  return { text, commands };
}

