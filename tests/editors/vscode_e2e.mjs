// The VS Code extension in a real VS Code (code-server) driven through Chromium as a person would:
// the model becomes ready, "infraction" is squiggled and listed in Problems, its hover shows the
// WordPiece split, the quick fix corrects it, completion finishes "Acute myocardial inf", typing
// "Serum trop" offers troponin without Ctrl+Space, a word added to the workspace dictionary loses
// its squiggle, and a disease the entity tagger finds (tests/editors/fixtures/entities.md, copied
// into the workspace) is drawn in a colour of its own from the server's semantic tokens, in the
// default theme and in Dark Modern, and is listed under Disease in the Outline. Screenshots go to
// SCREENSHOT_DIR (those of the entities: vscode-entities.png and vscode-entities-dark.png).
// With MODE `untrusted` (a workspace VS Code does not trust, whose settings name another server
// binary, model and inference server): the model is ready and the checks run in Restricted Mode;
// the calling script then checks that nothing the workspace named was run or reached.
//
//   node tests/editors/vscode_e2e.mjs URL WORKSPACE SCREENSHOT_DIR [trusted|untrusted]
//
// Needs playwright-core (NODE_PATH) and Chromium at $CHROMIUM (default /usr/bin/chromium). Every
// wait is on the page's state, with a deadline; a failure prints the page's console and the
// extension's output channel.
import { createRequire } from "node:module";
import * as fs from "node:fs";
import * as path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");
const [url, workspace, screenshots, mode = "trusted"] = process.argv.slice(2);
const manuscript = path.join(workspace, "manuscript.md");
const consoleLines = [];
// A disease mention the bundled entity tagger finds, in a file of its own (the checks of
// manuscript.md stay as they are).
const MENTION = "Duchenne muscular dystrophy";
if (mode === "trusted") {
  fs.copyFileSync(new URL("fixtures/entities.md", import.meta.url), path.join(workspace, "entities.md"));
}

async function until(what, condition, timeoutMs = 60000) {
  const start = Date.now();
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
const stages = [];
async function stage(name, body) {
  const started = Date.now();
  await body();
  stages.push(name);
  console.log(`PASS ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
// The editor's text as shown (Monaco draws spaces as no-break spaces).
const editorText = async () => (await page.locator(".monaco-editor .view-lines").first().innerText()).replace(/\u00a0/g, " ");

try {
  await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`);
  await page.waitForSelector(".monaco-workbench", { timeout: 120000 });
  await stage("the model is ready (status bar)", async () => {
    await page.locator(".explorer-folders-view .monaco-list-row", { hasText: "manuscript.md" }).click();
    await page.waitForSelector(".monaco-editor .view-lines", { timeout: 30000 });
    await until("the status bar to show the bundled model in use (offline, it stands in for BiomedBERT)", async () => {
      const texts = await page.locator(".statusbar-item").allInnerTexts();
      return texts.some((text) => /biomed-lsp:? mini model/.test(text));
    });
    // The precision and, for 8-bit weights, the integer kernel that runs (`q8 · avx2`).
    await until("the status bar to name the precision and its kernel", async () => {
      const texts = await page.locator(".statusbar-item").allInnerTexts();
      return texts.some((text) => /mini model · CPU · (q8 · [a-z0-9-]+|f32)/.test(text));
    });
  });

  await stage("a squiggle on infraction and the entry in Problems", async () => {
    await until("a squiggle in the editor", async () => (await page.locator(".squiggly-warning, .squiggly-info").count()) > 0);
    await page.keyboard.press("Control+Shift+M");
    await until("infraction in the Problems panel", async () => {
      const panel = await page.locator(".markers-panel").allInnerTexts().catch(() => []);
      return panel.join(" ").includes('"infraction" is improbable here');
    });
    await page.screenshot({ path: path.join(screenshots, "vscode-diagnostic.png") });
  });

  if (mode === "untrusted") {
    await stage("the workspace is in Restricted Mode", async () => {
      await until("the Restricted Mode indicator", async () => (await page.locator(".statusbar-item", { hasText: "Restricted Mode" }).count()) > 0);
    });
    console.log(`${stages.length} passed, 0 failed`);
    await browser.close();
    process.exit(0);
  }

  // A word's squiggle: the decoration drawn over it, on the line that holds the text.
  async function squiggleOn(lineText) {
    const line = await until(`the line with "${lineText}"`, async () => page.locator(".view-line", { hasText: lineText }).first().boundingBox());
    return until(`a squiggle on the line with "${lineText}"`, async () => {
      for (const squiggle of await page.locator(".squiggly-warning, .squiggly-info").all()) {
        const box = await squiggle.boundingBox();
        if (box && Math.abs(box.y + box.height / 2 - (line.y + line.height / 2)) < line.height) return box;
      }
      return undefined;
    });
  }
  const centre = (box) => [box.x + box.width / 2, box.y + box.height / 2];

  await stage("the hover shows the WordPiece split", async () => {
    const box = await squiggleOn("Acute myocardial infraction");
    await page.mouse.move(...centre(box));
    await until("the hover widget with the pieces", async () => {
      const hover = (await page.locator(".monaco-hover").allInnerTexts().catch(() => [])).join(" ");
      return hover.includes("infraction") && hover.includes("##ct");
    }, 30000);
    await page.screenshot({ path: path.join(screenshots, "vscode-hover.png") });
    await page.keyboard.press("Escape");
  });

  await stage("the quick fix writes infarction", async () => {
    const box = await squiggleOn("Acute myocardial infraction");
    await page.mouse.click(...centre(box));
    await page.keyboard.press("Control+.");
    const fix = page.locator(".action-widget .monaco-list-row", { hasText: 'Replace with "infarction"' });
    await fix.first().click({ timeout: 30000 });
    await until("the editor to say infarction", async () => (await editorText()).includes("Acute myocardial infarction remains"));
  });

  await stage("completion finishes Acute myocardial inf", async () => {
    await page.keyboard.press("Control+End");
    await page.keyboard.press("Enter");
    await page.keyboard.type("Acute myocardial inf", { delay: 40 });
    await page.keyboard.press("Control+Space");
    const item = page.locator(".suggest-widget .monaco-list-row", { hasText: "infarction" }).first();
    await item.waitFor({ timeout: 30000 });
    await page.screenshot({ path: path.join(screenshots, "vscode-completion.png") });
    await item.click();
    await until("the new line to say infarction", async () => /^Acute myocardial infarction\s*$/m.test(await editorText()));
  });

  await stage("typing Serum trop offers troponin without Ctrl+Space", async () => {
    await page.keyboard.press("Escape");
    await page.keyboard.press("End");
    await page.keyboard.press("Enter");
    await page.keyboard.type("Serum trop", { delay: 80 });
    // The suggestion list opens by itself (quick suggestions are on for Markdown), or the ghost text shows the word.
    await until("troponin in the suggestion list or as ghost text", async () => {
      const rows = await page.locator(".suggest-widget .monaco-list-row", { hasText: "troponin" }).count();
      const ghost = (await page.locator(".ghost-text, .ghost-text-decoration").allInnerTexts().catch(() => [])).join("");
      return rows > 0 || ghost.includes("ponin");
    }, 30000);
    await page.screenshot({ path: path.join(screenshots, "vscode-completion-typing.png") });
    await page.keyboard.press("Escape");
    await page.keyboard.press("Escape");
  });

  await stage("a word added to the workspace dictionary loses its squiggle", async () => {
    await page.mouse.click(...centre(await squiggleOn("prostrate cancer")));
    await page.keyboard.press("Control+.");
    await page.locator(".action-widget .monaco-list-row", { hasText: 'Add "prostrate" to workspace dictionary' }).first().click({ timeout: 30000 });
    await until("prostrate in .biomed-lsp/dictionary.txt", async () => {
      try {
        return fs.readFileSync(path.join(workspace, ".biomed-lsp", "dictionary.txt"), "utf8").includes("prostrate");
      } catch {
        return false;
      }
    });
    await until("the Problems panel without prostrate", async () => {
      const panel = (await page.locator(".markers-panel").allInnerTexts().catch(() => [])).join(" ");
      return !panel.includes('"prostrate"');
    });
  });

  await stage("an abbreviation defined twice is reported", async () => {
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+End");
    await page.keyboard.press("Enter");
    await page.keyboard.press("Enter");
    // Inserted at once: typed letter by letter, suggestions would open on the way.
    await page.keyboard.insertText(
      "Left ventricular ejection fraction (LVEF) was measured by echocardiography. Median LVEF was " +
        "lower after infarction, and left ventricular ejection fraction (LVEF) fell further at one year.",
    );
    await page.keyboard.press("Escape");
    await until("the second definition of LVEF in the Problems panel", async () => {
      const panel = (await page.locator(".markers-panel").allInnerTexts().catch(() => [])).join(" ");
      return panel.includes("LVEF is defined again here");
    });
    await page.screenshot({ path: path.join(screenshots, "vscode-abbreviation.png") });
  });

  // The colours of the mention's text and of the text around it on its line, as drawn: the
  // server's semantic tokens are in when the mention has a colour of its own.
  const mentionColours = () =>
    page.evaluate((mention) => {
      for (const line of document.querySelectorAll(".monaco-editor .view-line")) {
        const text = (line.textContent ?? "").replace(/\u00a0/g, " ");
        const start = text.indexOf(mention);
        if (start < 0) continue;
        const end = start + mention.length;
        const inside = new Set();
        const outside = new Set();
        let offset = 0;
        for (const span of line.querySelectorAll("span")) {
          if (span.children.length > 0) continue;
          const from = offset;
          offset += (span.textContent ?? "").length;
          if ((span.textContent ?? "").trim() === "") continue;
          const colour = getComputedStyle(span).color;
          if (from >= start && offset <= end) inside.add(colour);
          else if (offset <= start || from >= end) outside.add(colour);
          else return { inside: [], outside: [colour] }; // one span across the mention's edge: no token yet
        }
        return { inside: [...inside], outside: [...outside] };
      }
      return undefined;
    }, MENTION);
  const colouredApart = async () => {
    const colours = await mentionColours();
    return colours && colours.inside.length === 1 && colours.outside.length > 0 && !colours.outside.includes(colours.inside[0])
      ? colours
      : undefined;
  };

  let defaultColour;
  await stage("a disease mention is drawn in its semantic token colour (default theme)", async () => {
    await page.keyboard.press("Escape");
    await page.locator(".explorer-folders-view .monaco-list-row", { hasText: "entities.md" }).click();
    await until(`the line with "${MENTION}"`, async () => (await editorText()).includes(MENTION), 30000);
    const colours = await until(`"${MENTION}" in a colour of its own (a semantic token of type disease)`, colouredApart);
    defaultColour = colours.inside[0];
    console.log(`    ${MENTION}: ${defaultColour}, the text around it: ${colours.outside.join(", ")}`);
    // The document symbols: the Outline lists the mention under Disease.
    await page.locator(".pane-header", { hasText: "Outline" }).first().click();
    await until("Disease and the mention in the Outline", async () => {
      const rows = await page.locator(".monaco-list-row").allInnerTexts();
      return rows.some((row) => row.startsWith("Disease")) && rows.some((row) => row.startsWith(MENTION));
    }, 30000);
    await page.screenshot({ path: path.join(screenshots, "vscode-entities.png") });
  });

  await stage("the mention has a colour of its own in Dark Modern too", async () => {
    await page.keyboard.press("F1");
    await page.keyboard.type("Preferences: Color Theme", { delay: 20 });
    // Clicked, not Enter: "Browse Color Themes in Marketplace" may come first.
    await page.locator(".quick-input-widget .monaco-list-row", { hasText: "Preferences: Color Theme" }).first().click({ timeout: 10000 });
    await page.locator(".quick-input-widget .monaco-list-row", { hasText: "Dark Modern" }).first().click({ timeout: 10000 });
    await until("the dark theme", async () => (await page.locator(".monaco-workbench.vs-dark").count()) > 0, 10000);
    const colours = await until(`"${MENTION}" in a colour of its own in Dark Modern`, async () => {
      const found = await colouredApart();
      return found && found.inside[0] !== defaultColour ? found : undefined;
    });
    console.log(`    ${MENTION}: ${colours.inside[0]}, the text around it: ${colours.outside.join(", ")}`);
    await page.screenshot({ path: path.join(screenshots, "vscode-entities-dark.png") });
  });
  console.log(`${stages.length} passed, 0 failed`);
} catch (error) {
  console.log(`FAIL after ${stages.length} stages: ${error.message}`);
  await page.screenshot({ path: path.join(screenshots, "vscode-failure.png") }).catch(() => {});
  const output = await page.locator(".output-view, .monaco-editor").allInnerTexts().catch(() => []);
  console.log("--- page console (last 40) ---\n" + consoleLines.slice(-40).join("\n"));
  console.log("--- panels ---\n" + output.join("\n").slice(-3000));
  console.log(`${stages.length} passed, 1 failed`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
