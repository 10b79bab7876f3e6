// Pure functions behind the extension: server path resolution, the status model and its text,
// settings conversion. Nothing here imports `vscode`, so `npm test` runs without VS Code.

import * as path from "node:path";

export const SETTINGS_SECTION = "biomedLsp";
export const SERVER_BINARY = "biomed-lsp";

/** Client-only settings in the `biomedLsp` section, which the server does not read. */
export const CLIENT_ONLY_SETTINGS = ["serverPath", "trace.server", "completion.inline"];

// ---------------------------------------------------------------------------------------------
// Server path

export interface PathEnvironment {
  /** The first workspace folder, for relative paths and `${workspaceFolder}`. */
  workspaceFolder?: string;
  homeDir: string;
  env: Record<string, string | undefined>;
  platform: NodeJS.Platform;
  /** Whether a file exists and can be run (injected so tests need no real files). */
  isExecutable: (file: string) => boolean;
}

export interface ResolvedServer {
  /** The command to start: an absolute path, or the bare name when nothing was found. */
  command: string;
  /** Where the command came from, for messages. */
  source: "setting" | "environment" | "bundled" | "path" | "not-found";
  /** Whether the file was found (always true for found-on-PATH). */
  found: boolean;
}

/** Expands `~`, `${workspaceFolder}`, `${userHome}` and `${env:NAME}` and anchors relative paths. */
export function expandServerPath(configured: string, environment: PathEnvironment): string {
  let expanded = configured.trim();
  expanded = expanded.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => environment.env[name] ?? "");
  expanded = expanded.replace(/\$\{userHome\}/g, environment.homeDir);
  if (environment.workspaceFolder !== undefined) {
    expanded = expanded.replace(/\$\{workspaceFolder\}/g, environment.workspaceFolder);
  }
  if (expanded === "~" || expanded.startsWith("~/") || expanded.startsWith("~\\")) {
    expanded = environment.homeDir + expanded.slice(1);
  }
  const pathModule = environment.platform === "win32" ? path.win32 : path.posix;
  if (!pathModule.isAbsolute(expanded) && hasDirectoryPart(expanded) && environment.workspaceFolder !== undefined) {
    expanded = pathModule.join(environment.workspaceFolder, expanded);
  }
  return expanded;
}

function hasDirectoryPart(file: string): boolean {
  return file.includes("/") || file.includes("\\");
}

/** Looks a bare command name up on PATH (with PATHEXT on Windows). */
export function findOnPath(name: string, environment: PathEnvironment): string | undefined {
  const isWindows = environment.platform === "win32";
  const pathModule = isWindows ? path.win32 : path.posix;
  const pathVariable = environment.env.PATH ?? environment.env.Path ?? "";
  const separator = isWindows ? ";" : ":";
  const extensions = isWindows
    ? ["", ...(environment.env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";").map((extension) => extension.toLowerCase())]
    : [""];
  for (const directory of pathVariable.split(separator)) {
    if (directory === "") {
      continue;
    }
    for (const extension of extensions) {
      const candidate = pathModule.join(directory, name + extension);
      if (environment.isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/**
 * The server command: the `biomedLsp.serverPath` setting when set, else `BIOMED_LSP_SERVER` from
 * the environment, else the server bundled in a platform-specific package of the extension
 * (`bundled`, when that file exists), else `biomed-lsp` on PATH.
 */
export function resolveServerPath(configured: string | undefined, environment: PathEnvironment, bundled?: string): ResolvedServer {
  const candidates: Array<[string | undefined, "setting" | "environment"]> = [
    [configured, "setting"],
    [environment.env.BIOMED_LSP_SERVER, "environment"],
  ];
  for (const [value, source] of candidates) {
    if (value === undefined || value.trim() === "") {
      continue;
    }
    const expanded = expandServerPath(value, environment);
    if (!hasDirectoryPart(expanded)) {
      // A bare name such as "biomed-lsp-cuda": look it up on PATH.
      const onPath = findOnPath(expanded, environment);
      return { command: onPath ?? expanded, source, found: onPath !== undefined };
    }
    return { command: expanded, source, found: environment.isExecutable(expanded) };
  }
  if (bundled !== undefined && environment.isExecutable(bundled)) {
    return { command: bundled, source: "bundled", found: true };
  }
  const onPath = findOnPath(SERVER_BINARY, environment);
  if (onPath !== undefined) {
    return { command: onPath, source: "path", found: true };
  }
  return { command: SERVER_BINARY, source: "not-found", found: false };
}

/** The message shown when the server binary cannot be found. */
export function serverNotFoundMessage(resolved: ResolvedServer): string {
  switch (resolved.source) {
    case "setting":
      return `biomed-lsp: the server ${resolved.command} (setting biomedLsp.serverPath) does not exist or is not executable.`;
    case "environment":
      return `biomed-lsp: the server ${resolved.command} (environment variable BIOMED_LSP_SERVER) does not exist or is not executable.`;
    default:
      return "biomed-lsp: this installation of the extension has no server for this platform and there is no biomed-lsp on PATH. Install the extension's package for your platform (code --install-extension biomed-lsp-<platform>.vsix), or the server with cargo install --locked biomed-lsp, or set biomedLsp.serverPath to a server binary.";
  }
}

// ---------------------------------------------------------------------------------------------
// Status

export type ServerPhase = "starting" | "loading" | "ready" | "fallback" | "error" | "stopped";

export interface ServerStatus {
  phase: ServerPhase;
  model?: string;
  /** As the server reports it: "cpu", "cuda:0", "metal"… */
  device?: string;
  /** How the weights are held and, for 8-bit ones, the integer kernel: "q8 · avx512-vnni", "f16"… */
  precision?: string;
  /** Model loading progress, 0..100, when known. */
  percentage?: number;
  /** The latest progress or state message. */
  message?: string;
  /** Longer explanation (the fallback warning, the error). */
  detail?: string;
  /** The entity tagger and the types it finds: "bundled disease tagger (Disease)". */
  entities?: string;
}

/** The answer of the server command `biomedLsp.status`. */
export interface StatusCommandResult {
  model?: string;
  device?: string;
  precision?: string;
  state?: string;
  detail?: string;
  /** The entity tagger, or null when none is loaded. */
  entities?: { name?: string; entity_types?: string[]; shares_encoder?: boolean } | null;
}

/** "bundled disease tagger (Disease)", or "none" for a null tagger. */
export function describeEntities(entities: StatusCommandResult["entities"]): string | undefined {
  if (entities === undefined) {
    return undefined;
  }
  if (entities === null || typeof entities !== "object") {
    return "none";
  }
  const types = Array.isArray(entities.entity_types) ? entities.entity_types.join(", ") : "";
  const name = entities.name ?? "entity model";
  return types === "" ? name : `${name} (${types})`;
}

export const initialStatus: ServerStatus = { phase: "starting" };

/** "CPU", or "GPU (cuda:0)" for GPUs, or the device as given. */
export function deviceLabel(device: string | undefined): string | undefined {
  if (device === undefined || device === "") {
    return undefined;
  }
  const lower = device.toLowerCase();
  if (lower === "cpu") {
    return "CPU";
  }
  if (lower.startsWith("cuda") || lower.startsWith("metal") || lower.startsWith("gpu")) {
    return `GPU (${device})`;
  }
  return device;
}

/** A short model name for the status bar: the last path or repo component. */
export function shortModelName(model: string | undefined): string | undefined {
  if (model === undefined || model === "") {
    return undefined;
  }
  const parts = model.split(/[\\/]/).filter((part) => part !== "");
  return parts.length > 0 ? parts[parts.length - 1] : model;
}

/** The status bar text, with a codicon. */
export function formatStatusText(status: ServerStatus): string {
  const model = shortModelName(status.model);
  const device = deviceLabel(status.device);
  const where = [model, device, status.precision].filter((part) => part !== undefined && part !== "").join(" · ");
  const suffix = where === "" ? "" : ` ${where}`;
  switch (status.phase) {
    case "starting":
      return "$(loading~spin) biomed-lsp: starting";
    case "loading": {
      const percentage = status.percentage === undefined ? "" : ` ${Math.round(status.percentage)}%`;
      return `$(loading~spin) biomed-lsp: loading${percentage}${suffix}`;
    }
    case "ready":
      return `$(check) biomed-lsp${suffix}`;
    case "fallback":
      return `$(warning) biomed-lsp: ${["mini model", device, status.precision].filter((part) => part !== undefined && part !== "").join(" · ")}`;
    case "error":
      return "$(error) biomed-lsp: error";
    case "stopped":
      return "$(circle-slash) biomed-lsp: stopped";
  }
}

/** The status bar tooltip and the body of the details view. */
export function formatStatusDetails(status: ServerStatus): string {
  const lines = [`State: ${describePhase(status.phase)}`];
  if (status.model !== undefined) {
    lines.push(`Model: ${status.model}`);
  }
  const device = deviceLabel(status.device);
  if (device !== undefined) {
    lines.push(`Device: ${device}`);
  }
  if (status.precision !== undefined && status.precision !== "") {
    lines.push(`Precision: ${status.precision}`);
  }
  if (status.entities !== undefined) {
    lines.push(`Entities: ${status.entities}`);
  }
  if (status.phase === "loading" && status.percentage !== undefined) {
    lines.push(`Progress: ${Math.round(status.percentage)}%`);
  }
  if (status.message !== undefined && status.message !== "") {
    lines.push(status.message);
  }
  if (status.detail !== undefined && status.detail !== "" && status.detail !== status.message) {
    lines.push(status.detail);
  }
  return lines.join("\n");
}

function describePhase(phase: ServerPhase): string {
  switch (phase) {
    case "starting":
      return "starting the server";
    case "loading":
      return "loading the model";
    case "ready":
      return "ready";
    case "fallback":
      return "ready with the bundled mini model (the configured model could not be loaded)";
    case "error":
      return "error";
    case "stopped":
      return "stopped";
  }
}

/** Applies the answer of `biomedLsp.status`. */
export function applyStatusResult(status: ServerStatus, result: StatusCommandResult | null | undefined): ServerStatus {
  if (result === null || result === undefined || typeof result !== "object") {
    return status;
  }
  const phases: Record<string, ServerPhase> = { loading: "loading", ready: "ready", fallback: "fallback", error: "error" };
  const phase = result.state !== undefined ? phases[result.state] ?? status.phase : status.phase;
  const entities = describeEntities(result.entities) ?? status.entities;
  return {
    ...status,
    ...(entities === undefined ? {} : { entities }),
    phase,
    model: result.model ?? status.model,
    device: result.device ?? status.device,
    precision: result.precision ?? status.precision,
    detail: result.detail ?? status.detail,
    percentage: phase === "loading" ? status.percentage : undefined,
  };
}

/** A `$/progress` value of kind begin, report or end (the model load). */
export interface ProgressValue {
  kind: "begin" | "report" | "end";
  title?: string;
  message?: string;
  percentage?: number;
}

/**
 * Whether a progress that begins with `value` is a model load (which drives the status bar), as
 * opposed to other work such as checking the workspace.
 */
export function isModelLoadProgress(value: ProgressValue): boolean {
  return /model|download|load/i.test(`${value.title ?? ""} ${value.message ?? ""}`);
}

/** Applies a model-load progress notification. */
export function applyProgress(status: ServerStatus, value: ProgressValue): ServerStatus {
  switch (value.kind) {
    case "begin":
      return { ...status, phase: "loading", percentage: value.percentage, message: value.message ?? value.title, detail: undefined };
    case "report":
      return {
        ...status,
        phase: status.phase === "starting" ? "loading" : status.phase,
        percentage: value.percentage ?? status.percentage,
        message: value.message ?? status.message,
      };
    case "end": {
      const message = value.message ?? "";
      const parsed = parseReadyMessage(message);
      if (parsed !== undefined) {
        // Keep a fallback phase set by the warning that came before the end of the load.
        const phase = status.phase === "fallback" || isBundledModel(parsed.model) ? "fallback" : "ready";
        return { ...status, phase, model: parsed.model, device: parsed.device, precision: parsed.precision, percentage: undefined, message };
      }
      if (/fail|error|cannot/i.test(message)) {
        return { ...status, phase: "error", percentage: undefined, message, detail: message };
      }
      return { ...status, phase: status.phase === "fallback" ? "fallback" : "ready", percentage: undefined, message };
    }
  }
}

/** Parses the server's end-of-load message "<model> ready on <device> (<precision>)". */
export function parseReadyMessage(message: string): { model: string; device: string; precision?: string } | undefined {
  const match = /^(.+?) ready on (\S+)(?: \((.+)\))?/.exec(message.trim());
  if (match === null) {
    return undefined;
  }
  return { model: match[1], device: match[2], precision: match[3] };
}

function isBundledModel(model: string): boolean {
  return /bundled|biomed-mini/i.test(model);
}

/** Applies a `window/showMessage` from the server: the fallback warning and load errors. */
export function applyServerMessage(status: ServerStatus, type: "error" | "warning" | "info" | "log", message: string): ServerStatus {
  if (type === "warning" && /mini model|bundled/i.test(message)) {
    return { ...status, phase: "fallback", detail: message };
  }
  if (type === "error" && /model/i.test(message)) {
    return { ...status, phase: "error", percentage: undefined, detail: message };
  }
  return status;
}

// ---------------------------------------------------------------------------------------------
// Settings

/**
 * The server's settings as the nested object it expects (`{completion: {topK: 10}}`), from the
 * keys contributed in package.json (`biomedLsp.completion.topK`) and a getter of the current value.
 */
export function serverSettings(contributedKeys: string[], get: (key: string) => unknown): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  const prefix = `${SETTINGS_SECTION}.`;
  for (const fullKey of contributedKeys) {
    if (!fullKey.startsWith(prefix)) {
      continue;
    }
    const key = fullKey.slice(prefix.length);
    if (CLIENT_ONLY_SETTINGS.includes(key)) {
      continue;
    }
    const value = get(key);
    if (value === undefined) {
      continue;
    }
    let target = result;
    const parts = key.split(".");
    for (const part of parts.slice(0, -1)) {
      if (typeof target[part] !== "object" || target[part] === null) {
        target[part] = {};
      }
      target = target[part] as Record<string, unknown>;
    }
    target[parts[parts.length - 1]] = value;
  }
  return result;
}

/** The word at `offset` in `line` (letters, digits, hyphens and apostrophes inside a word). */
export function wordAt(line: string, offset: number): string | undefined {
  const isWordCharacter = (character: string) => /[\p{L}\p{N}'’-]/u.test(character);
  let start = offset;
  while (start > 0 && isWordCharacter(line[start - 1])) {
    start -= 1;
  }
  let end = offset;
  while (end < line.length && isWordCharacter(line[end])) {
    end += 1;
  }
  const word = line.slice(start, end).replace(/^['’-]+|['’-]+$/g, "");
  return word === "" ? undefined : word;
}

/** The letters of the word before `offset` in `line` (what the writer has typed of it so far). */
export function typedPrefix(line: string, offset: number): string {
  let start = offset;
  while (start > 0 && /[\p{L}\p{N}'’-]/u.test(line[start - 1])) {
    start -= 1;
  }
  return line.slice(start, offset).replace(/^['’-]+/, "");
}

/**
 * The ghost text for a word being typed: the rest of the first completion item that continues the
 * typed letters (compared ignoring case, as the suggestion list filters), once two letters are
 * typed; undefined when none does.
 */
export function inlineCompletion(labels: string[], typed: string): string | undefined {
  if ([...typed].length < 2) {
    return undefined;
  }
  const lower = typed.toLowerCase();
  const label = labels.find((candidate) => candidate.length > typed.length && candidate.toLowerCase().startsWith(lower));
  return label === undefined ? undefined : typed + label.slice(typed.length);
}
