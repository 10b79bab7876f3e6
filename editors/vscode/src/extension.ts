// The VS Code side of biomed-lsp: starts the server over stdio, forwards the `biomedLsp` settings,
// shows the model's state in the status bar and offers the commands. The logic lives in logic.ts.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  CompletionRequest,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  MessageType,
  ServerOptions,
  ShowMessageNotification,
  ShowMessageParams,
  StaticFeature,
  State,
  WorkDoneProgress,
  WorkDoneProgressBegin,
  WorkDoneProgressCreateParams,
  WorkDoneProgressCreateRequest,
  WorkDoneProgressEnd,
  WorkDoneProgressReport,
} from "vscode-languageclient/node";
import {
  applyProgress,
  applyServerMessage,
  applyStatusResult,
  formatStatusDetails,
  formatStatusText,
  initialStatus,
  inlineCompletion,
  isModelLoadProgress,
  resolveServerPath,
  serverNotFoundMessage,
  serverSettings,
  ServerStatus,
  SETTINGS_SECTION,
  StatusCommandResult,
  typedPrefix,
  wordAt,
} from "./logic";

const LANGUAGES = ["latex", "tex", "markdown", "quarto", "rmd", "plaintext"];

/** Server commands (workspace/executeCommand). */
const SERVER_COMMANDS = {
  addToDictionary: "biomedLsp.addToDictionary",
  checkWorkspace: "biomedLsp.checkWorkspace",
  fetchModel: "biomedLsp.fetchModel",
  status: "biomedLsp.status",
};

let client: LanguageClient | undefined;
let status: ServerStatus = initialStatus;
let statusItem: vscode.StatusBarItem;
let outputChannel: vscode.OutputChannel;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  outputChannel = vscode.window.createOutputChannel("biomed-lsp");
  statusItem = vscode.window.createStatusBarItem("biomedLsp.status", vscode.StatusBarAlignment.Right, 100);
  statusItem.name = "biomed-lsp";
  statusItem.command = "biomed-lsp.showStatus";
  context.subscriptions.push(outputChannel, statusItem);

  context.subscriptions.push(
    vscode.commands.registerCommand("biomed-lsp.restartServer", () => restartServer(context)),
    vscode.commands.registerCommand("biomed-lsp.fetchModel", fetchModel),
    vscode.commands.registerCommand("biomed-lsp.checkWorkspace", checkWorkspace),
    vscode.commands.registerCommand("biomed-lsp.addWordToDictionary", addWordToDictionary),
    vscode.commands.registerCommand("biomed-lsp.showStatus", showStatus),
    vscode.languages.registerInlineCompletionItemProvider(
      LANGUAGES.flatMap((language) => [
        { scheme: "file", language },
        { scheme: "untitled", language },
      ]),
      { provideInlineCompletionItems },
    ),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(`${SETTINGS_SECTION}.serverPath`)) {
        void restartServer(context);
      }
    }),
  );
  await startServer(context);
}

/**
 * Ghost text: the server's best completion for the word being typed, shown inline and accepted
 * with Tab. The same request as the suggestion list, so it shows the same first word.
 */
async function provideInlineCompletionItems(
  document: vscode.TextDocument,
  position: vscode.Position,
  _context: vscode.InlineCompletionContext,
  token: vscode.CancellationToken,
): Promise<vscode.InlineCompletionItem[]> {
  if (client === undefined || !client.isRunning() || !vscode.workspace.getConfiguration(SETTINGS_SECTION, document).get<boolean>("completion.inline", true)) {
    return [];
  }
  const line = document.lineAt(position.line).text;
  const typed = typedPrefix(line, position.character);
  if ([...typed].length < 2) {
    return [];
  }
  const params = client.code2ProtocolConverter.asCompletionParams(document, position, {
    triggerKind: vscode.CompletionTriggerKind.TriggerForIncompleteCompletions,
    triggerCharacter: undefined,
  });
  try {
    const result = await client.sendRequest(CompletionRequest.type, params, token);
    const items = Array.isArray(result) ? result : (result?.items ?? []);
    const word = inlineCompletion(
      items.map((item) => item.label),
      typed,
    );
    if (word === undefined) {
      return [];
    }
    const start = position.translate(0, -typed.length);
    return [new vscode.InlineCompletionItem(word, new vscode.Range(start, position))];
  } catch {
    // A cancelled or failed request shows no ghost text; the suggestion list is unaffected.
    return [];
  }
}

export async function deactivate(): Promise<void> {
  if (client !== undefined) {
    await client.stop();
    client = undefined;
  }
}

function setStatus(next: ServerStatus): void {
  status = next;
  statusItem.text = formatStatusText(status);
  statusItem.tooltip = `${formatStatusDetails(status)}\n\nClick for details.`;
  statusItem.backgroundColor =
    status.phase === "error"
      ? new vscode.ThemeColor("statusBarItem.errorBackground")
      : status.phase === "fallback"
        ? new vscode.ThemeColor("statusBarItem.warningBackground")
        : undefined;
  statusItem.show();
}

function contributedKeys(context: vscode.ExtensionContext): string[] {
  const packageJson = context.extension.packageJSON as { contributes?: { configuration?: { properties?: object } } };
  return Object.keys(packageJson.contributes?.configuration?.properties ?? {});
}

async function startServer(context: vscode.ExtensionContext): Promise<void> {
  setStatus(initialStatus);
  const configuration = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  const bundled = path.join(context.extensionPath, "server", process.platform === "win32" ? "biomed-lsp.exe" : "biomed-lsp");
  const resolved = resolveServerPath(configuration.get<string>("serverPath"), {
    workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    homeDir: os.homedir(),
    env: process.env,
    platform: process.platform,
    isExecutable: (file) => {
      try {
        fs.accessSync(file, process.platform === "win32" ? fs.constants.F_OK : fs.constants.X_OK);
        return fs.statSync(file).isFile();
      } catch {
        return false;
      }
    },
  }, bundled);
  if (!resolved.found) {
    const message = serverNotFoundMessage(resolved);
    setStatus({ phase: "error", detail: message });
    outputChannel.appendLine(message);
    const choice = await vscode.window.showErrorMessage(message, "Open Settings");
    if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", `${SETTINGS_SECTION}.serverPath`);
    }
    return;
  }
  outputChannel.appendLine(`starting ${resolved.command} serve (from ${resolved.source})`);

  // No `transport`: with TransportKind.stdio vscode-languageclient appends a `--stdio` argument,
  // which biomed-lsp does not take; stdio is the default anyway.
  const serverOptions: ServerOptions = {
    command: resolved.command,
    args: ["serve"],
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: LANGUAGES.flatMap((language) => [
      { scheme: "file", language },
      { scheme: "untitled", language },
    ]),
    synchronize: { configurationSection: SETTINGS_SECTION },
    initializationOptions: serverSettings(contributedKeys(context), (key) => configuration.get(key)),
    outputChannel,
    traceOutputChannel: outputChannel,
  };
  client = new LanguageClient("biomedLsp", "biomed-lsp", serverOptions, clientOptions);
  client.registerFeature(new StatusFeature(client));
  client.onDidChangeState((event) => {
    if (event.newState === State.Stopped) {
      setStatus({ ...status, phase: "stopped", percentage: undefined });
    }
  });
  try {
    await client.start();
  } catch (error) {
    const message = `biomed-lsp: the server failed to start: ${String(error)}`;
    setStatus({ phase: "error", detail: message });
    outputChannel.appendLine(message);
    void vscode.window.showErrorMessage(message);
    return;
  }
  setStatus({ ...status, phase: status.phase === "starting" ? "loading" : status.phase });
  void refreshStatusFromServer();
}

/**
 * Follows the model load: replaces the client's default handlers for progress creation and
 * `window/showMessage` (registered after the built-in features, so before the server can send
 * either) to feed the status bar, and still shows the messages.
 */
class StatusFeature implements StaticFeature {
  constructor(private readonly languageClient: LanguageClient) {}

  getState(): { kind: "static" } {
    return { kind: "static" };
  }

  fillClientCapabilities(): void {
    // The built-in progress feature already announces window.workDoneProgress.
  }

  initialize(): void {
    this.languageClient.onRequest(WorkDoneProgressCreateRequest.type, (params: WorkDoneProgressCreateParams) => {
      this.followProgress(params.token);
    });
    this.languageClient.onNotification(ShowMessageNotification.type, (params: ShowMessageParams) => {
      showServerMessage(params);
    });
  }

  private followProgress(token: string | number): void {
    let resolveDone: () => void = () => undefined;
    let report: ((value: { message?: string; increment?: number }) => void) | undefined;
    let lastPercentage = 0;
    let isModelLoad = false;
    const disposable = this.languageClient.onProgress(WorkDoneProgress.type, token, (value) => {
      const typed = value as WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;
      if (typed.kind === "begin") {
        isModelLoad = isModelLoadProgress(typed);
      }
      if (isModelLoad) {
        setStatus(applyProgress(status, typed));
      }
      if (typed.kind === "begin") {
        void vscode.window.withProgress(
          { location: vscode.ProgressLocation.Window, title: typed.title },
          (progress) => {
            report = (update) => progress.report(update);
            return new Promise<void>((resolve) => {
              resolveDone = resolve;
            });
          },
        );
      }
      if ((typed.kind === "begin" || typed.kind === "report") && report !== undefined) {
        const increment = typed.percentage !== undefined ? Math.max(0, typed.percentage - lastPercentage) : undefined;
        lastPercentage = typed.percentage ?? lastPercentage;
        report({ message: typed.message, increment });
      }
      if (typed.kind === "end") {
        if (typed.message !== undefined) {
          outputChannel.appendLine(typed.message);
        }
        disposable.dispose();
        resolveDone();
        if (isModelLoad) {
          void refreshStatusFromServer();
        }
      }
    });
  }

  clear(): void {
    // Nothing to release: the handlers go with the client's connection.
  }
}

function showServerMessage(params: ShowMessageParams): void {
  const kinds: Record<number, "error" | "warning" | "info" | "log"> = {
    [MessageType.Error]: "error",
    [MessageType.Warning]: "warning",
    [MessageType.Info]: "info",
    [MessageType.Log]: "log",
  };
  const kind = kinds[params.type] ?? "info";
  setStatus(applyServerMessage(status, kind, params.message));
  outputChannel.appendLine(`[${kind}] ${params.message}`);
  switch (kind) {
    case "error":
      void vscode.window.showErrorMessage(params.message);
      break;
    case "warning":
      void vscode.window.showWarningMessage(params.message);
      break;
    case "info":
      void vscode.window.showInformationMessage(params.message);
      break;
    default:
      break;
  }
}

function serverSupports(command: string): boolean {
  const commands = client?.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
  return commands.includes(command);
}

async function executeServerCommand(command: string, args: unknown[] = []): Promise<unknown> {
  if (client === undefined || !client.isRunning()) {
    throw new Error("the biomed-lsp server is not running");
  }
  if (!serverSupports(command)) {
    throw new Error(`this biomed-lsp server does not offer the command ${command}`);
  }
  return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
}

async function refreshStatusFromServer(): Promise<void> {
  if (!serverSupports(SERVER_COMMANDS.status)) {
    return;
  }
  try {
    const result = (await executeServerCommand(SERVER_COMMANDS.status)) as StatusCommandResult | null;
    setStatus(applyStatusResult(status, result));
  } catch (error) {
    outputChannel.appendLine(`biomedLsp.status failed: ${String(error)}`);
  }
}

async function restartServer(context: vscode.ExtensionContext): Promise<void> {
  if (client !== undefined) {
    try {
      await client.stop();
    } catch (error) {
      outputChannel.appendLine(`stopping the server failed: ${String(error)}`);
    }
    client = undefined;
  }
  await startServer(context);
}

async function runReportingErrors(title: string, action: () => Promise<unknown>): Promise<unknown> {
  try {
    return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, action);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    void vscode.window.showErrorMessage(`biomed-lsp: ${message}`);
    return undefined;
  }
}

async function fetchModel(): Promise<void> {
  await runReportingErrors("biomed-lsp: fetching the model", () => executeServerCommand(SERVER_COMMANDS.fetchModel));
  await refreshStatusFromServer();
}

async function checkWorkspace(): Promise<void> {
  await runReportingErrors("biomed-lsp: checking the workspace", () => executeServerCommand(SERVER_COMMANDS.checkWorkspace));
}

async function addWordToDictionary(): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  let initial: string | undefined;
  if (editor !== undefined) {
    const selection = editor.selection;
    initial = selection.isEmpty
      ? wordAt(editor.document.lineAt(selection.active.line).text, selection.active.character)
      : editor.document.getText(selection).trim();
  }
  const word = await vscode.window.showInputBox({ title: "biomed-lsp: add a word to the dictionary", value: initial, prompt: "Word" });
  if (word === undefined || word.trim() === "") {
    return;
  }
  const scope = await vscode.window.showQuickPick(
    [
      { label: "User dictionary", description: "every project", scope: "user" },
      { label: "Workspace dictionary", description: ".biomed-lsp/dictionary.txt", scope: "workspace" },
    ],
    { title: `Add "${word.trim()}" to…` },
  );
  if (scope === undefined) {
    return;
  }
  await runReportingErrors(`biomed-lsp: adding "${word.trim()}"`, () =>
    executeServerCommand(SERVER_COMMANDS.addToDictionary, [
      { word: word.trim(), scope: scope.scope, uri: editor?.document.uri.toString() },
    ]),
  );
}

async function showStatus(): Promise<void> {
  await refreshStatusFromServer();
  const pick = await vscode.window.showQuickPick(
    [
      ...formatStatusDetails(status)
        .split("\n")
        .map((line) => ({ label: line, action: undefined as string | undefined })),
      { label: "", kind: vscode.QuickPickItemKind.Separator, action: undefined },
      { label: "$(output) Show the server log", action: "log" },
      { label: "$(cloud-download) Fetch the model", action: "biomed-lsp.fetchModel" },
      { label: "$(debug-restart) Restart the server", action: "biomed-lsp.restartServer" },
      { label: "$(gear) Settings", action: "settings" },
    ],
    { title: "biomed-lsp" },
  );
  if (pick?.action === "log") {
    outputChannel.show();
  } else if (pick?.action === "settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", SETTINGS_SECTION);
  } else if (pick?.action !== undefined) {
    await vscode.commands.executeCommand(pick.action);
  }
}
