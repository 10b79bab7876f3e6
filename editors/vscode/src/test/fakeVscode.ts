// A stand-in for the `vscode` module, enough for the extension and vscode-languageclient to start
// the real server, shake hands, follow the model load and stop, without VS Code. Whatever is not
// modelled here is an "anything" proxy: callable, constructible, every property another proxy.
/* eslint-disable @typescript-eslint/no-explicit-any */

import Module from "node:module";

function anything(name: string): any {
  const cache = new Map<PropertyKey, any>();
  const target = function () {
    /* a callable target */
  };
  return new Proxy(target, {
    get(_target, property) {
      if (property === "then") {
        return undefined;
      }
      if (property === Symbol.iterator) {
        return function* () {
          /* empty */
        };
      }
      if (property === Symbol.toPrimitive) {
        return () => name;
      }
      if (property === "dispose") {
        return () => undefined;
      }
      if (!cache.has(property)) {
        cache.set(property, anything(`${name}.${String(property)}`));
      }
      return cache.get(property);
    },
    apply() {
      return anything(`${name}()`);
    },
    construct(_target, args) {
      return { args, dispose: () => undefined };
    },
  });
}

class Disposable {
  constructor(private readonly callback: () => void = () => undefined) {}
  static from(...items: Array<{ dispose(): unknown }>): Disposable {
    return new Disposable(() => items.forEach((item) => item.dispose()));
  }
  dispose(): void {
    this.callback();
  }
}

class EventEmitter<T> {
  private listeners: Array<(value: T) => void> = [];
  event = (listener: (value: T) => void): Disposable => {
    this.listeners.push(listener);
    return new Disposable(() => {
      this.listeners = this.listeners.filter((other) => other !== listener);
    });
  };
  fire(value: T): void {
    this.listeners.forEach((listener) => listener(value));
  }
  dispose(): void {
    this.listeners = [];
  }
}

class CancellationTokenSource {
  private readonly emitter = new EventEmitter<void>();
  token = { isCancellationRequested: false, onCancellationRequested: this.emitter.event };
  cancel(): void {
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

function uriFromPath(path: string): any {
  return { scheme: "file", fsPath: path, path, toString: () => `file://${path}`, toJSON: () => `file://${path}` };
}

const noEvent = () => new Disposable();

export interface FakeStatusItem {
  text: string;
  tooltip?: string;
  shown: boolean;
}

/** What the extension did to the fake VS Code, for assertions. */
export interface FakeVscodeRecord {
  settings: Record<string, unknown>;
  commands: Map<string, (...args: unknown[]) => unknown>;
  statusItems: FakeStatusItem[];
  output: string[];
  messages: Array<{ kind: string; message: string }>;
}

export function installFakeVscode(settings: Record<string, unknown>): FakeVscodeRecord {
  const record: FakeVscodeRecord = { settings, commands: new Map(), statusItems: [], output: [], messages: [] };

  const configuration = (section?: string) => {
    const prefix = section === undefined || section === "" ? "" : `${section}.`;
    const get = (key: string, fallback?: unknown) => {
      const full = prefix + key;
      if (full in settings) {
        return settings[full];
      }
      // A section asked as a whole: the nested object of its keys.
      const nested: Record<string, unknown> = {};
      let found = false;
      for (const [name, value] of Object.entries(settings)) {
        if (name.startsWith(`${full}.`)) {
          found = true;
          let target = nested;
          const parts = name.slice(full.length + 1).split(".");
          for (const part of parts.slice(0, -1)) {
            target = (target[part] ??= {}) as Record<string, unknown>;
          }
          target[parts[parts.length - 1]] = value;
        }
      }
      return found ? nested : fallback;
    };
    return { get, has: (key: string) => get(key) !== undefined, inspect: () => undefined, update: async () => undefined };
  };

  const message = (kind: string) => async (text: string) => {
    record.messages.push({ kind, message: text });
    return undefined;
  };

  const vscode: any = new Proxy(
    {
      version: "1.90.0",
      env: { appName: "fake-vscode", language: "en", machineId: "test", sessionId: "test", openExternal: async () => true },
      Uri: { file: uriFromPath, parse: (text: string) => uriFromPath(text.replace(/^file:\/\//, "")) },
      Disposable,
      EventEmitter,
      CancellationTokenSource,
      CancellationError: class CancellationError extends Error {},
      ThemeColor: class ThemeColor {
        constructor(readonly id: string) {}
      },
      ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
      StatusBarAlignment: { Left: 1, Right: 2 },
      QuickPickItemKind: { Separator: -1, Default: 0 },
      workspace: new Proxy(
        {
          textDocuments: [],
          workspaceFolders: undefined,
          getConfiguration: configuration,
          onDidChangeConfiguration: noEvent,
          onDidOpenTextDocument: noEvent,
          onDidCloseTextDocument: noEvent,
          onDidChangeTextDocument: noEvent,
          onDidSaveTextDocument: noEvent,
          onWillSaveTextDocument: noEvent,
          onDidChangeWorkspaceFolders: noEvent,
          createFileSystemWatcher: () => ({ onDidCreate: noEvent, onDidChange: noEvent, onDidDelete: noEvent, dispose: () => undefined }),
        },
        { get: (target: any, property) => (property in target ? target[property] : anything(`workspace.${String(property)}`)) },
      ),
      window: new Proxy(
        {
          activeTextEditor: undefined,
          visibleTextEditors: [],
          tabGroups: { all: [], onDidChangeTabs: noEvent, onDidChangeTabGroups: noEvent },
          onDidChangeActiveTextEditor: noEvent,
          onDidChangeVisibleTextEditors: noEvent,
          createOutputChannel: (name: string) => ({
            name,
            append: (text: string) => record.output.push(text),
            appendLine: (text: string) => record.output.push(text),
            replace: () => undefined,
            clear: () => undefined,
            show: () => undefined,
            hide: () => undefined,
            dispose: () => undefined,
          }),
          createStatusBarItem: () => {
            const item: any = { text: "", shown: false, show: () => (item.shown = true), hide: () => (item.shown = false), dispose: () => undefined };
            record.statusItems.push(item);
            return item;
          },
          showErrorMessage: message("error"),
          showWarningMessage: message("warning"),
          showInformationMessage: message("info"),
          withProgress: async (_options: unknown, task: (progress: unknown, token: unknown) => Promise<unknown>) =>
            task({ report: () => undefined }, new CancellationTokenSource().token),
        },
        { get: (target: any, property) => (property in target ? target[property] : anything(`window.${String(property)}`)) },
      ),
      languages: new Proxy(
        {
          match: () => 0,
          createDiagnosticCollection: () => ({
            set: () => undefined,
            delete: () => undefined,
            clear: () => undefined,
            forEach: () => undefined,
            get: () => [],
            has: () => false,
            dispose: () => undefined,
          }),
        },
        // Every languages.registerXProvider returns a disposable.
        { get: (target: any, property) => (property in target ? target[property] : () => new Disposable()) },
      ),
      commands: {
        registerCommand: (id: string, callback: (...args: unknown[]) => unknown) => {
          if (record.commands.has(id)) {
            throw new Error(`command '${id}' already exists`);
          }
          record.commands.set(id, callback);
          return new Disposable(() => record.commands.delete(id));
        },
        executeCommand: async (id: string, ...args: unknown[]) => record.commands.get(id)?.(...args),
        getCommands: async () => [...record.commands.keys()],
      },
    },
    { get: (target: any, property) => (property in target ? target[property] : anything(String(property))) },
  );

  const moduleWithLoad = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const originalLoad = moduleWithLoad._load;
  moduleWithLoad._load = function (request: string, ...rest: unknown[]) {
    if (request === "vscode") {
      return vscode;
    }
    return originalLoad.call(this, request, ...rest);
  };
  return record;
}
