// Entity mentions come from the server as semantic tokens whose types are the server's legend
// (ENTITY_KINDS in src/analysis/entities.rs). VS Code colours a token type only when an extension
// declares it: package.json must declare each one, with a standard super type and TextMate scopes
// the default themes colour, and switch semantic highlighting on for the languages it serves.

import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";

const extensionRoot = path.join(__dirname, "..", "..");
const repositoryRoot = path.join(extensionRoot, "..", "..");
const packageJson = JSON.parse(fs.readFileSync(path.join(extensionRoot, "package.json"), "utf8"));
const contributes = packageJson.contributes as {
  configurationDefaults: Record<string, Record<string, unknown>>;
  semanticTokenTypes: Array<{ id: string; superType?: string; description: string }>;
  semanticTokenScopes: Array<{ language?: string; scopes: Record<string, string[]> }>;
};

/** The token types of the server's legend, read from its source. */
function serverLegend(): string[] {
  const source = fs.readFileSync(path.join(repositoryRoot, "src", "analysis", "entities.rs"), "utf8");
  const match = /pub const ENTITY_KINDS: \[&str; \d+\] = \[([^\]]*)\]/.exec(source);
  assert.ok(match, "src/analysis/entities.rs defines ENTITY_KINDS");
  return [...match[1].matchAll(/"([^"]+)"/g)].map((kind) => kind[1]);
}

// The standard semantic token types of VS Code: a super type must be one of them.
const STANDARD_TYPES = new Set([
  "namespace", "class", "enum", "interface", "struct", "typeParameter", "type", "parameter", "variable",
  "property", "enumMember", "decorator", "event", "function", "method", "macro", "label", "comment",
  "string", "keyword", "number", "regexp", "operator",
]);

test("every token type of the server's legend is declared, with a standard super type", () => {
  const legend = serverLegend();
  assert.equal(legend.length, 8);
  const declared = new Map(contributes.semanticTokenTypes.map((type) => [type.id, type]));
  assert.deepEqual([...declared.keys()], legend, "semanticTokenTypes in the legend's order");
  for (const kind of legend) {
    const type = declared.get(kind)!;
    assert.ok(type.description.length > 0, `a description for ${kind}`);
    assert.ok(type.superType !== undefined && STANDARD_TYPES.has(type.superType), `a standard super type for ${kind}`);
  }
  // Kinds of one colour could not be told apart: each inherits a different standard type.
  assert.equal(new Set(contributes.semanticTokenTypes.map((type) => type.superType)).size, legend.length);
});

test("every token type maps to TextMate scopes, each kind to a different first scope", () => {
  const legend = serverLegend();
  const scopes = contributes.semanticTokenScopes.find((entry) => entry.language === undefined)?.scopes ?? {};
  for (const kind of legend) {
    assert.ok(Array.isArray(scopes[kind]) && scopes[kind].length > 0, `scopes for ${kind}`);
  }
  assert.deepEqual(Object.keys(scopes).sort(), [...legend].sort(), "no scopes for types the server does not send");
  assert.equal(new Set(legend.map((kind) => scopes[kind][0])).size, legend.length);
});

test("semantic highlighting is on for the languages the extension serves", () => {
  for (const language of ["markdown", "latex", "plaintext", "quarto", "rmd"]) {
    const defaults = contributes.configurationDefaults[`[${language}]`];
    assert.equal(defaults?.["editor.semanticHighlighting.enabled"], true, `[${language}]`);
  }
});
