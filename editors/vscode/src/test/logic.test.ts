// Unit tests of the pure parts of the extension (no VS Code needed).

import * as assert from "node:assert/strict";
import { test } from "node:test";
import {
  applyProgress,
  applyServerMessage,
  applyStatusResult,
  deviceLabel,
  expandServerPath,
  formatStatusDetails,
  formatStatusText,
  inlineCompletion,
  initialStatus,
  isModelLoadProgress,
  parseReadyMessage,
  PathEnvironment,
  resolveServerPath,
  serverNotFoundMessage,
  ServerStatus,
  serverSettings,
  typedPrefix,
  wordAt,
} from "../logic";

function environment(executables: string[], overrides: Partial<PathEnvironment> = {}): PathEnvironment {
  const files = new Set(executables);
  return {
    workspaceFolder: "/home/ada/paper",
    homeDir: "/home/ada",
    env: { PATH: "/usr/local/bin:/usr/bin" },
    platform: "linux",
    isExecutable: (file) => files.has(file),
    ...overrides,
  };
}

test("server path: the setting wins, with ~ and ${workspaceFolder} expanded", () => {
  const env = environment(["/home/ada/src/biomed-lsp/target/release/biomed-lsp", "/usr/bin/biomed-lsp"]);
  assert.deepEqual(resolveServerPath("~/src/biomed-lsp/target/release/biomed-lsp", env), {
    command: "/home/ada/src/biomed-lsp/target/release/biomed-lsp",
    source: "setting",
    found: true,
  });
  assert.equal(expandServerPath("${workspaceFolder}/bin/biomed-lsp", env), "/home/ada/paper/bin/biomed-lsp");
  assert.equal(expandServerPath("${env:HOME}/x", environment([], { env: { HOME: "/h" } })), "/h/x");
});

test("server path: a relative path is taken from the workspace folder", () => {
  const env = environment(["/home/ada/paper/tools/biomed-lsp"]);
  assert.deepEqual(resolveServerPath("tools/biomed-lsp", env), { command: "/home/ada/paper/tools/biomed-lsp", source: "setting", found: true });
});

test("server path: a missing configured file is reported, not replaced by PATH", () => {
  const env = environment(["/usr/bin/biomed-lsp"]);
  const resolved = resolveServerPath("/opt/nothing/biomed-lsp", env);
  assert.deepEqual(resolved, { command: "/opt/nothing/biomed-lsp", source: "setting", found: false });
  assert.match(serverNotFoundMessage(resolved), /biomedLsp\.serverPath/);
});

test("server path: BIOMED_LSP_SERVER, then biomed-lsp on PATH", () => {
  const onPath = environment(["/usr/bin/biomed-lsp"]);
  assert.deepEqual(resolveServerPath("", onPath), { command: "/usr/bin/biomed-lsp", source: "path", found: true });
  assert.deepEqual(resolveServerPath(undefined, onPath), { command: "/usr/bin/biomed-lsp", source: "path", found: true });
  const fromEnv = environment(["/ci/biomed-lsp", "/usr/bin/biomed-lsp"], { env: { PATH: "/usr/bin", BIOMED_LSP_SERVER: "/ci/biomed-lsp" } });
  assert.deepEqual(resolveServerPath("  ", fromEnv), { command: "/ci/biomed-lsp", source: "environment", found: true });
  const nowhere = environment([]);
  const resolved = resolveServerPath("", nowhere);
  assert.deepEqual(resolved, { command: "biomed-lsp", source: "not-found", found: false });
  assert.match(serverNotFoundMessage(resolved), /PATH/);
});

test("server path: the setting, then BIOMED_LSP_SERVER, then the bundled server, then PATH", () => {
  const bundled = "/ext/biomed-lsp-0.1.0-linux-x64/server/biomed-lsp";
  const everywhere = environment([bundled, "/usr/bin/biomed-lsp", "/opt/mine/biomed-lsp"]);
  assert.deepEqual(resolveServerPath("/opt/mine/biomed-lsp", everywhere, bundled), {
    command: "/opt/mine/biomed-lsp",
    source: "setting",
    found: true,
  });
  assert.deepEqual(resolveServerPath("", everywhere, bundled), { command: bundled, source: "bundled", found: true });
  // A universal package has no server: PATH.
  const universal = environment(["/usr/bin/biomed-lsp"]);
  assert.deepEqual(resolveServerPath("", universal, bundled), { command: "/usr/bin/biomed-lsp", source: "path", found: true });
  const nowhere = serverNotFoundMessage(resolveServerPath("", environment([]), bundled));
  assert.match(nowhere, /--install-extension/);
  assert.match(nowhere, /cargo install/);
  assert.match(nowhere, /biomedLsp\.serverPath/);
});

test("server path: a bare name in the setting is looked up on PATH", () => {
  const env = environment(["/usr/local/bin/biomed-lsp-cuda"]);
  assert.deepEqual(resolveServerPath("biomed-lsp-cuda", env), { command: "/usr/local/bin/biomed-lsp-cuda", source: "setting", found: true });
});

test("server path: Windows PATH and PATHEXT", () => {
  const env = environment(["C:\\tools\\biomed-lsp.exe"], {
    platform: "win32",
    homeDir: "C:\\Users\\ada",
    workspaceFolder: "C:\\paper",
    env: { Path: "C:\\Windows;C:\\tools", PATHEXT: ".COM;.EXE" },
  });
  assert.deepEqual(resolveServerPath("", env), { command: "C:\\tools\\biomed-lsp.exe", source: "path", found: true });
  assert.equal(expandServerPath("bin\\biomed-lsp.exe", env), "C:\\paper\\bin\\biomed-lsp.exe");
});

test("device labels say CPU or GPU", () => {
  assert.equal(deviceLabel("cpu"), "CPU");
  assert.equal(deviceLabel("cuda:0"), "GPU (cuda:0)");
  assert.equal(deviceLabel("metal"), "GPU (metal)");
  assert.equal(deviceLabel(""), undefined);
  assert.equal(deviceLabel(undefined), undefined);
});

test("status text for each state", () => {
  assert.equal(formatStatusText(initialStatus), "$(loading~spin) biomed-lsp: starting");
  assert.equal(formatStatusText({ phase: "loading", percentage: 41.6 }), "$(loading~spin) biomed-lsp: loading 42%");
  assert.equal(formatStatusText({ phase: "loading" }), "$(loading~spin) biomed-lsp: loading");
  assert.equal(
    formatStatusText({ phase: "ready", model: "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract", device: "cuda:0" }),
    "$(check) biomed-lsp BiomedNLP-BiomedBERT-base-uncased-abstract · GPU (cuda:0)",
  );
  assert.equal(formatStatusText({ phase: "ready", model: "/models/my-bert/", device: "cpu" }), "$(check) biomed-lsp my-bert · CPU");
  assert.equal(
    formatStatusText({ phase: "ready", model: "/models/my-bert/", device: "cpu", precision: "q8 · avx512-vnni" }),
    "$(check) biomed-lsp my-bert · CPU · q8 · avx512-vnni",
  );
  assert.equal(formatStatusText({ phase: "fallback", model: "bundled", device: "cpu" }), "$(warning) biomed-lsp: mini model · CPU");
  assert.equal(
    formatStatusText({ phase: "fallback", model: "bundled", device: "cpu", precision: "q8 · avx2" }),
    "$(warning) biomed-lsp: mini model · CPU · q8 · avx2",
  );
  assert.equal(formatStatusText({ phase: "error", detail: "boom" }), "$(error) biomed-lsp: error");
  assert.equal(formatStatusText({ phase: "stopped" }), "$(circle-slash) biomed-lsp: stopped");
});

test("status details list state, model, device, progress and the detail", () => {
  const details = formatStatusDetails({ phase: "loading", model: "m", device: "cpu", percentage: 10, message: "downloading model.safetensors: 44 of 440 MB" });
  assert.equal(details, "State: loading the model\nModel: m\nDevice: CPU\nProgress: 10%\ndownloading model.safetensors: 44 of 440 MB");
  assert.match(formatStatusDetails({ phase: "fallback", detail: "offline and not cached" }), /mini model[\s\S]*offline and not cached/);
});

test("model-load progress drives the status", () => {
  let status: ServerStatus = initialStatus;
  status = applyProgress(status, { kind: "begin", title: "biomed-lsp", message: "loading the model…" });
  assert.equal(status.phase, "loading");
  status = applyProgress(status, { kind: "report", message: "downloading model.safetensors: 220 of 440 MB", percentage: 50 });
  assert.equal(formatStatusText(status), "$(loading~spin) biomed-lsp: loading 50%");
  status = applyProgress(status, { kind: "end", message: "BiomedBERT-base-uncased-abstract ready on cuda:0 (f16)" });
  assert.deepEqual(
    { phase: status.phase, model: status.model, device: status.device, precision: status.precision, percentage: status.percentage },
    { phase: "ready", model: "BiomedBERT-base-uncased-abstract", device: "cuda:0", precision: "f16", percentage: undefined },
  );
  assert.match(formatStatusDetails(status), /Device: GPU \(cuda:0\)\nPrecision: f16/);
});

test("the status names the entity tagger the server reports", () => {
  const ready = applyStatusResult(initialStatus, {
    model: "mini model", device: "cpu", precision: "q8 · avx2", state: "ready",
    entities: { name: "bundled disease tagger", entity_types: ["Disease"], shares_encoder: false },
  });
  assert.equal(ready.entities, "bundled disease tagger (Disease)");
  assert.match(formatStatusDetails(ready), /Precision: q8 · avx2\nEntities: bundled disease tagger \(Disease\)/);
  assert.equal(applyStatusResult(ready, { state: "ready", entities: null }).entities, "none");
  // An older server says nothing about entities: nothing is shown.
  assert.equal(applyStatusResult(initialStatus, { state: "ready" }).entities, undefined);
  assert.doesNotMatch(formatStatusDetails(applyStatusResult(initialStatus, { state: "ready" })), /Entities/);
});

test("only the model load drives the status bar", () => {
  assert.equal(isModelLoadProgress({ kind: "begin", title: "biomed-lsp", message: "loading the model…" }), true);
  assert.equal(isModelLoadProgress({ kind: "begin", title: "Downloading BiomedBERT" }), true);
  assert.equal(isModelLoadProgress({ kind: "begin", title: "Checking the workspace", message: "3 of 12 files" }), false);
});

test("the fallback warning and load errors change the state", () => {
  let status: ServerStatus = { phase: "loading" };
  status = applyServerMessage(status, "warning", "model microsoft/x is not cached and offline is set; the bundled mini model stands in");
  assert.equal(status.phase, "fallback");
  status = applyProgress(status, { kind: "end", message: "biomed-mini (bundled) ready on cpu" });
  assert.equal(status.phase, "fallback");
  assert.equal(applyServerMessage({ phase: "ready" }, "warning", "invalid setting biomedLsp.completion.topK").phase, "ready");
  assert.equal(applyServerMessage({ phase: "loading" }, "error", "model /x failed to load: no config.json").phase, "error");
  assert.equal(applyProgress({ phase: "loading" }, { kind: "end", message: "model /x failed to load: no config.json" }).phase, "error");
});

test("the biomedLsp.status answer sets the state", () => {
  const status = applyStatusResult(
    { phase: "loading", percentage: 30 },
    { model: "bundled", device: "cpu", precision: "q8 · avx2", state: "fallback", detail: "why" },
  );
  assert.deepEqual(status, { phase: "fallback", model: "bundled", device: "cpu", precision: "q8 · avx2", detail: "why", percentage: undefined });
  assert.equal(applyStatusResult({ phase: "ready" }, null).phase, "ready");
  assert.equal(applyStatusResult({ phase: "ready" }, { state: "nonsense" }).phase, "ready");
});

test("ready messages parse", () => {
  assert.deepEqual(parseReadyMessage("biomed-mini ready on cpu"), { model: "biomed-mini", device: "cpu", precision: undefined });
  assert.deepEqual(parseReadyMessage("mini model ready on cpu (q8 · avx512-vnni)"), {
    model: "mini model",
    device: "cpu",
    precision: "q8 · avx512-vnni",
  });
  assert.equal(parseReadyMessage("loading"), undefined);
});

test("settings nest for the server and skip client-only keys", () => {
  const values: Record<string, unknown> = { model: "bundled", "completion.topK": 5, serverPath: "/x", "trace.server": "off" };
  const nested = serverSettings(
    ["biomedLsp.model", "biomedLsp.completion.topK", "biomedLsp.serverPath", "biomedLsp.trace.server", "biomedLsp.offline", "other.key"],
    (key) => values[key],
  );
  assert.deepEqual(nested, { model: "bundled", completion: { topK: 5 } });
});

test("word at the cursor", () => {
  assert.equal(wordAt("Acute myocardial infraction was", 20), "infraction");
  assert.equal(wordAt("Acute myocardial infraction was", 17), "infraction");
  assert.equal(wordAt("anti-TNF therapy", 3), "anti-TNF");
  assert.equal(wordAt("  ", 1), undefined);
  assert.equal(wordAt("'quoted' word", 3), "quoted");
});

test("the ghost text continues the typed letters with the first item that does", () => {
  assert.equal(inlineCompletion(["troponin", "tropical"], "tro"), "troponin");
  // The writer's own letters stay as typed.
  assert.equal(inlineCompletion(["Troponin"], "tRo"), "tRoponin");
  assert.equal(inlineCompletion(["tropical", "troponin"], "tropo"), "troponin");
  assert.equal(inlineCompletion(["troponin"], "t"), undefined, "one letter is too early");
  assert.equal(inlineCompletion(["trop"], "trop"), undefined, "nothing left to add");
  assert.equal(inlineCompletion([], "trop"), undefined);
  assert.equal(typedPrefix("Serum trop", 10), "trop");
  assert.equal(typedPrefix("rose in IL-6", 12), "IL-6");
  assert.equal(typedPrefix("Serum ", 6), "");
});
