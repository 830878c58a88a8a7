"""``contivpp-cni``: the CNI plugin kubelet executes once per pod.

It must start fast, so it imports only the standard library. Until the agent-side CNI server
exists it implements only VERSION and answers every other command with the spec's error
format (code 4, "not supported by this build"), so kubelet sees a clear failure, not a crash.
"""

from __future__ import annotations

import json
import os
import sys

SUPPORTED = ["0.3.1", "0.4.0", "1.0.0"]


def main() -> int:
    command = os.environ.get("CNI_COMMAND", "")
    if command == "VERSION":
        sys.stdout.write(json.dumps({"cniVersion": "1.0.0", "supportedVersions": SUPPORTED}) + "\n")
        return 0
    if not command:
        sys.stderr.write(
            f"contivpp CNI plugin; CNI protocol versions supported: {', '.join(SUPPORTED)}\n"
        )
        return 0
    error = {
        "cniVersion": "1.0.0",
        "code": 4,
        "msg": f"CNI_COMMAND {command} not supported by this build",
    }
    sys.stdout.write(json.dumps(error, indent=4))
    return 1


if __name__ == "__main__":
    sys.exit(main())
