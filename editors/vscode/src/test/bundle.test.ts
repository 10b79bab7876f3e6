// The esbuild bundle that ships in the .vsix (dist/extension.js, from `npm run compile`) activates
// and starts the server, like the tsc output in extension.test.ts.

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { activateWith, extensionRoot, fakeServer, loadExtension } from "./harness";

const bundle = path.join(extensionRoot, "dist", "extension.js");

test("the bundle activates and follows the model load", { skip: !fs.existsSync(bundle) ? "no dist/extension.js: run npm run compile" : false }, async () => {
  const { text } = await activateWith(loadExtension(bundle), fakeServer);
  assert.equal(text, "$(check) biomed-lsp bundled · CPU");
});
