#!/usr/bin/env python3
"""Checks a platform-specific VS Code package: it holds an executable server/biomed-lsp beside the
bundled extension, and that server starts and answers `initialize` over stdio.

    python3 tests/editors/check_vsix.py target/vsix/biomed-lsp-linux-x64.vsix
"""
import json
import os
import stat
import subprocess
import sys
import tempfile
import zipfile


def frame(message):
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream):
    length = None
    while True:
        line = stream.readline()
        if not line:
            raise RuntimeError("the server closed its output before answering")
        line = line.strip()
        if not line:
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return json.loads(stream.read(length))


def main():
    package = sys.argv[1]
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
        for required in ("extension/package.json", "extension/dist/extension.js", "extension/server/biomed-lsp"):
            if required not in names:
                sys.exit(f"FAIL {package} has no {required} (it has {names})")
        info = archive.getinfo("extension/server/biomed-lsp")
        mode = info.external_attr >> 16
        if not mode & stat.S_IXUSR:
            sys.exit(f"FAIL extension/server/biomed-lsp in {package} is not executable (mode {oct(mode)})")
        with tempfile.TemporaryDirectory() as directory:
            server = archive.extract("extension/server/biomed-lsp", directory)
            os.chmod(server, mode & 0o777)
            environment = dict(os.environ, HF_HUB_OFFLINE="1")
            process = subprocess.Popen([server], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, env=environment)
            try:
                process.stdin.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                           "params": {"processId": None, "rootUri": None, "capabilities": {}}}))
                process.stdin.flush()
                answer = read_message(process.stdout)
                name = answer.get("result", {}).get("serverInfo", {}).get("name")
                if name != "biomed-lsp":
                    sys.exit(f"FAIL the packaged server answered {answer}")
                process.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
                process.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
                process.stdin.flush()
                code = process.wait(timeout=20)
                if code != 0:
                    sys.exit(f"FAIL the packaged server exited with {code} after shutdown and exit")
            finally:
                if process.poll() is None:
                    process.kill()
    print(f"PASS {package}: an executable server/biomed-lsp that answers initialize")


if __name__ == "__main__":
    main()
