// Rewrites contributes.configuration in package.json from ../settings.json, the single source of
// truth for the server settings. `npm test` fails when the two disagree; run `npm run sync-settings`
// after editing ../settings.json.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const packagePath = join(here, "..", "package.json");
const settingsPath = join(here, "..", "..", "settings.json");

const { section, settings } = JSON.parse(readFileSync(settingsPath, "utf8"));
const packageJson = JSON.parse(readFileSync(packagePath, "utf8"));

// Fields of a settings.json entry that VS Code's configuration schema understands as they are.
const passThrough = ["type", "default", "enum", "enumDescriptions", "minimum", "maximum", "items", "scope"];

const properties = {};
properties[`${section}.serverPath`] = {
  type: "string",
  default: "",
  // What runs: the user's choice only, never a workspace's.
  scope: "machine",
  order: 0,
  markdownDescription:
    "Path of the `biomed-lsp` executable (for example `/path/to/biomed-lsp/target/release/biomed-lsp`). Empty: `biomed-lsp` on the `PATH`. A relative path is taken from the first workspace folder. The server restarts when this changes. User settings only: a workspace cannot set it.",
};
properties[`${section}.trace.server`] = {
  type: "string",
  default: "off",
  enum: ["off", "messages", "verbose"],
  order: 1,
  description: "Traces the JSON-RPC messages between VS Code and the server in the biomed-lsp output channel.",
};
// The extension's own: ghost text from the server's completions (the server never sees it).
properties[`${section}.completion.inline`] = {
  type: "boolean",
  default: true,
  order: settings.length + 2,
  markdownDescription:
    "**Completion: ghost text.** Show the best word as inline ghost text after two letters, accepted with Tab (VS Code's inline suggestions; `editor.inlineSuggest.enabled` must be on, as it is by default).",
};
settings.forEach((setting, index) => {
  const property = {};
  for (const field of passThrough) {
    if (setting[field] !== undefined) {
      property[field] = setting[field];
    }
  }
  property.markdownDescription = `**${setting.title}.** ${setting.description}`;
  property.order = index + 2;
  properties[`${section}.${setting.key}`] = property;
});

packageJson.contributes.configuration = { title: "biomed-lsp", properties };
// In a workspace VS Code does not trust, the extension runs (the checks read text, nothing more),
// and VS Code takes none of the settings that choose what runs, what is loaded or where text goes
// from the workspace. Machine-scoped settings are never read from a workspace anyway.
const restricted = Object.keys(properties).filter((key) => properties[key].scope === "machine");
packageJson.capabilities = {
  ...packageJson.capabilities,
  untrustedWorkspaces: {
    supported: "limited",
    description:
      "In an untrusted workspace biomed-lsp checks and completes as usual; the settings that choose the server binary, the model, the inference server and the user dictionary are taken from your user settings only.",
    restrictedConfigurations: restricted,
  },
};
writeFileSync(packagePath, JSON.stringify(packageJson, null, 2) + "\n");
console.log(`wrote ${Object.keys(properties).length} settings to ${packagePath}`);
