#!/usr/bin/env python3
"""A scripted stand-in for biomed-lsp that speaks just enough LSP to check the editor tests
themselves: it flags every "infraction" with the diagnostic and the code actions the real server
publishes (see editors/README.md), answers completion and hover, reports a model load, and gives
every "Duchenne muscular dystrophy" as a `disease` semantic token and under a "Disease" document
symbol, as the real server's entity tagger does.

    BIOMED_LSP_SERVER=tests/editors/fake_server.py nvim --headless -u NONE -l tests/editors/nvim_test.lua

`scripts/test-editors --self-test` runs the Neovim test against it, so a failure of the real
server can be told from a broken test. No model, no dependencies beyond Python 3.
"""

import json
import os
import re
import sys
import urllib.parse

documents = {}
dictionary = set()
workspace_root = None
TERM = re.compile(r"\binfraction\b", re.IGNORECASE)
COMMANDS = ["biomedLsp.addToDictionary", "biomedLsp.checkWorkspace", "biomedLsp.fetchModel", "biomedLsp.status"]
# The real server's legend; the fake finds one disease.
TOKEN_TYPES = ["disease", "chemical", "gene", "species", "cellLine", "cellType", "mutation", "entity"]
DISEASE = re.compile(r"\bDuchenne muscular dystrophy\b")


def read_message():
    headers = {}
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return None
        line = line.decode("ascii").strip()
        if not line:
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = sys.stdin.buffer.read(int(headers["content-length"]))
    return json.loads(body)


def send(message):
    message["jsonrpc"] = "2.0"
    body = json.dumps(message).encode("utf-8")
    sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    sys.stdout.buffer.flush()


def findings(text):
    for row, line in enumerate(text.split("\n")):
        for match in TERM.finditer(line):
            if match.group(0).lower() in dictionary:
                continue
            yield {
                "range": {"start": {"line": row, "character": match.start()}, "end": {"line": row, "character": match.end()}},
                "severity": 2,
                "source": "biomed-lsp",
                "code": "improbable-term",
                "message": '"%s" is improbable here; "infarction" is far more probable' % match.group(0),
                "data": {"word": match.group(0), "suggestions": ["infarction"]},
            }


def publish(uri):
    send({"method": "textDocument/publishDiagnostics", "params": {"uri": uri, "diagnostics": list(findings(documents[uri]))}})


def add_to_dictionary(argument):
    """biomedLsp.addToDictionary {word, scope, uri}: the workspace scope writes
    .biomed-lsp/dictionary.txt in the workspace root, like the real server."""
    word = argument["word"]
    dictionary.add(word.lower())
    if argument.get("scope") == "workspace" and workspace_root is not None:
        folder = os.path.join(workspace_root, ".biomed-lsp")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "dictionary.txt"), "a", encoding="utf-8") as file:
            file.write(word + "\n")
    for uri in documents:
        publish(uri)


def word_at(uri, position):
    line = documents[uri].split("\n")[position["line"]]
    start = end = position["character"]
    while start > 0 and line[start - 1].isalpha():
        start -= 1
    while end < len(line) and line[end].isalpha():
        end += 1
    return line[start:end], start, end


def mentions(uri):
    """(line, start, end) of each disease mention, in UTF-16 units (ASCII text here)."""
    for row, line in enumerate(documents[uri].split("\n")):
        for match in DISEASE.finditer(line):
            yield row, match.start(), match.end()


def semantic_tokens(uri):
    """textDocument/semanticTokens/full: relative (line, start, length, type, modifiers) quintuples."""
    data, previous_row, previous_start = [], 0, 0
    for row, start, end in mentions(uri):
        delta_start = start - previous_start if row == previous_row else start
        data += [row - previous_row, delta_start, end - start, TOKEN_TYPES.index("disease"), 0]
        previous_row, previous_start = row, start
    return {"data": data}


def document_symbols(uri):
    """The mentions grouped by type, then by term, as the real server's outline."""
    found = list(mentions(uri))
    if not found:
        return []
    def span(row, start, end):
        return {"start": {"line": row, "character": start}, "end": {"line": row, "character": end}}
    terms = {}
    for row, start, end in found:
        terms.setdefault(documents[uri].split("\n")[row][start:end], []).append(span(row, start, end))
    children = [
        {"name": term, "detail": "%d mention%s" % (len(ranges), "" if len(ranges) == 1 else "s"), "kind": 20,
         "range": ranges[0], "selectionRange": ranges[0]}
        for term, ranges in terms.items()
    ]
    first = span(*found[0])
    return [{
        "name": "Disease",
        "detail": "%d mention%s, %d term%s" % (len(found), "" if len(found) == 1 else "s", len(terms), "" if len(terms) == 1 else "s"),
        "kind": 3, "range": first, "selectionRange": first, "children": children,
    }]


def code_actions(params):
    uri = params["textDocument"]["uri"]
    actions = []
    for diagnostic in params["context"].get("diagnostics", []):
        if diagnostic.get("source") != "biomed-lsp":
            continue
        word = diagnostic["data"]["word"]
        actions.append({
            "title": 'Replace with "infarction"',
            "kind": "quickfix",
            "isPreferred": True,
            "diagnostics": [diagnostic],
            "edit": {"changes": {uri: [{"range": diagnostic["range"], "newText": "infarction"}]}},
        })
        for scope in ("user", "workspace"):
            actions.append({
                "title": 'Add "%s" to %s dictionary' % (word, scope),
                "kind": "quickfix",
                "diagnostics": [diagnostic],
                "command": {"title": "Add", "command": "biomedLsp.addToDictionary", "arguments": [{"word": word, "scope": scope, "uri": uri}]},
            })
        actions.append({
            "title": 'Ignore "%s" in this document' % word,
            "kind": "quickfix",
            "diagnostics": [diagnostic],
            "command": {"title": "Ignore", "command": "biomedLsp.addToDictionary", "arguments": [{"word": word, "scope": "document", "uri": uri}]},
        })
    return actions


def main():
    next_id = 1000
    while True:
        message = read_message()
        if message is None:
            return
        method = message.get("method")
        params = message.get("params") or {}
        result = None
        if method == "initialize":
            global workspace_root
            root_uri = params.get("rootUri")
            if root_uri and root_uri.startswith("file://"):
                workspace_root = urllib.parse.unquote(root_uri[len("file://"):])
            result = {
                "capabilities": {
                    "textDocumentSync": 1,
                    "completionProvider": {},
                    "hoverProvider": True,
                    "codeActionProvider": {"codeActionKinds": ["quickfix"]},
                    "executeCommandProvider": {"commands": COMMANDS},
                    "semanticTokensProvider": {"legend": {"tokenTypes": TOKEN_TYPES, "tokenModifiers": []}, "full": True},
                    "documentSymbolProvider": True,
                },
                "serverInfo": {"name": "biomed-lsp (fake)"},
            }
        elif method == "initialized":
            send({"id": next_id, "method": "window/workDoneProgress/create", "params": {"token": "load"}})
            next_id += 1
            send({"method": "$/progress", "params": {"token": "load", "value": {"kind": "begin", "title": "biomed-lsp", "message": "loading the model…"}}})
            send({"method": "$/progress", "params": {"token": "load", "value": {"kind": "end", "message": "biomed-mini ready on cpu"}}})
        elif method == "textDocument/didOpen":
            documents[params["textDocument"]["uri"]] = params["textDocument"]["text"]
            publish(params["textDocument"]["uri"])
        elif method == "textDocument/didChange":
            documents[params["textDocument"]["uri"]] = params["contentChanges"][-1]["text"]
            publish(params["textDocument"]["uri"])
        elif method == "textDocument/completion":
            result = {"isIncomplete": True, "items": [{"label": word} for word in ("infarction", "infection", "inflammation")]}
        elif method == "textDocument/hover":
            word, _, _ = word_at(params["textDocument"]["uri"], params["position"])
            result = {"contents": {"kind": "markdown", "value": "**%s**: in[##fr]… (fake hover)" % word.lower()}}
        elif method == "textDocument/codeAction":
            result = code_actions(params)
        elif method == "textDocument/semanticTokens/full":
            result = semantic_tokens(params["textDocument"]["uri"])
        elif method == "textDocument/documentSymbol":
            result = document_symbols(params["textDocument"]["uri"])
        elif method == "workspace/executeCommand":
            if params.get("command") == "biomedLsp.status":
                result = {"model": "bundled", "device": "cpu", "state": "ready", "detail": "",
                          "entities": {"name": "bundled disease tagger", "entity_types": ["Disease"],
                                       "shares_encoder": False}}
            elif params.get("command") == "biomedLsp.addToDictionary":
                add_to_dictionary(params["arguments"][0])
        elif method == "exit":
            return
        if "id" in message and method is not None:
            send({"id": message["id"], "result": result})


if __name__ == "__main__":
    # Like the real command line: `biomed-lsp` or `biomed-lsp serve`, nothing else (a client that
    # appends --stdio or --clientProcessId must fail here as it would there).
    if sys.argv[1:] not in ([], ["serve"]):
        sys.stderr.write("fake biomed-lsp: unexpected arguments %r\n" % sys.argv[1:])
        sys.exit(2)
    main()
