// package.json must contribute exactly the server settings of ../settings.json (the single source
// of truth), with the same type, default, enum and bounds. Fix with `npm run sync-settings`.

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { CLIENT_ONLY_SETTINGS, SETTINGS_SECTION, serverSettings } from "../logic";

interface SettingEntry {
  key: string;
  type: string;
  default: unknown;
  enum?: string[];
  minimum?: number;
  maximum?: number;
  items?: unknown;
  title: string;
  description: string;
}

const extensionRoot = path.join(__dirname, "..", "..");
const packageJson = JSON.parse(fs.readFileSync(path.join(extensionRoot, "package.json"), "utf8"));
const settingsFile = JSON.parse(fs.readFileSync(path.join(extensionRoot, "..", "settings.json"), "utf8")) as {
  section: string;
  settings: SettingEntry[];
};
const properties = packageJson.contributes.configuration.properties as Record<string, Record<string, unknown>>;

test("settings.json names the section the extension uses", () => {
  assert.equal(settingsFile.section, SETTINGS_SECTION);
});

test("every server setting is contributed with the same type, default, enum and bounds", () => {
  for (const setting of settingsFile.settings) {
    const fullKey = `${SETTINGS_SECTION}.${setting.key}`;
    const property = properties[fullKey];
    assert.ok(property !== undefined, `package.json does not contribute ${fullKey}; run npm run sync-settings`);
    assert.equal(property.type, setting.type, `type of ${fullKey}`);
    assert.deepEqual(property.default, setting.default, `default of ${fullKey}`);
    assert.deepEqual(property.enum, setting.enum, `enum of ${fullKey}`);
    assert.equal(property.minimum, setting.minimum, `minimum of ${fullKey}`);
    assert.equal(property.maximum, setting.maximum, `maximum of ${fullKey}`);
    assert.deepEqual(property.items, setting.items, `items of ${fullKey}`);
    const description = String(property.markdownDescription ?? property.description ?? "");
    assert.ok(description.includes(setting.title), `the description of ${fullKey} names its title "${setting.title}"`);
    assert.ok(description.includes(setting.description), `the description of ${fullKey} is the one in settings.json`);
  }
});

test("package.json contributes no setting that settings.json lacks (besides the client's own)", () => {
  const known = new Set([
    ...settingsFile.settings.map((setting) => `${SETTINGS_SECTION}.${setting.key}`),
    ...CLIENT_ONLY_SETTINGS.map((key) => `${SETTINGS_SECTION}.${key}`),
  ]);
  for (const key of Object.keys(properties)) {
    assert.ok(known.has(key), `package.json contributes ${key}, which editors/settings.json does not list`);
  }
});

test("each setting in settings.json is well-formed", () => {
  const types = new Set(["string", "boolean", "integer", "number", "array"]);
  for (const setting of settingsFile.settings) {
    assert.ok(types.has(setting.type), `type of ${setting.key}`);
    assert.ok(setting.title.length > 0 && setting.description.length > 0, `title and description of ${setting.key}`);
    if (setting.enum !== undefined) {
      assert.ok(setting.enum.includes(setting.default as string), `the default of ${setting.key} is one of its enum`);
    }
    const defaultType = Array.isArray(setting.default) ? "array" : typeof setting.default;
    const expected = setting.type === "integer" ? "number" : setting.type;
    assert.equal(defaultType, expected, `the default of ${setting.key} has type ${setting.type}`);
  }
});

test("the defaults sent as initializationOptions are settings.json's, nested", () => {
  const defaults = new Map(settingsFile.settings.map((setting) => [setting.key, setting.default]));
  const nested = serverSettings(Object.keys(properties), (key) => defaults.get(key)) as Record<string, Record<string, unknown>>;
  assert.equal(nested.model, "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract");
  assert.equal(nested.completion.topK, 10);
  const marginDefault = settingsFile.settings.find((setting) => setting.key === "diagnostics.minMargin")?.default;
  assert.equal(typeof marginDefault, "number");
  assert.equal(nested.diagnostics.minMargin, marginDefault);
  assert.deepEqual(nested.dictionary.words, []);
  assert.equal((nested as Record<string, unknown>).serverPath, undefined);
});

test("the activation languages and the contributed commands are there", () => {
  const languages = (packageJson.activationEvents as string[]).map((event) => event.replace("onLanguage:", ""));
  for (const language of ["latex", "tex", "markdown", "quarto", "rmd", "plaintext"]) {
    assert.ok(languages.includes(language), `activates for ${language}`);
  }
  const commands = (packageJson.contributes.commands as Array<{ command: string }>).map((command) => command.command);
  for (const command of ["restartServer", "fetchModel", "checkWorkspace", "addWordToDictionary"]) {
    assert.ok(commands.includes(`biomed-lsp.${command}`), `contributes biomed-lsp.${command}`);
  }
  // Server commands are registered by vscode-languageclient under their own ids; the extension's
  // commands must not collide with them.
  assert.ok(commands.every((command) => !command.startsWith(`${SETTINGS_SECTION}.`)));
});
