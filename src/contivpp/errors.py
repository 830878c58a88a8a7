"""The one exception tree of contivpp.

Every error the project raises on purpose derives from :class:`ContivError`, so callers can
catch "anything of ours" in one place while library errors are translated at the boundary
with their cause chained (``raise X(...) from exc``)::

    ContivError
    ├── ConfigError              bad configuration file / values
    ├── InputError               bad input from outside; always names what and where
    │   ├── EventLogError        a line of an event log (carries the line number)
    │   ├── K8sObjectError       a Kubernetes object with a missing / wrong-typed field
    │   └── CNIRequestError      a malformed CNI request
    ├── ReconcileError           raised by the KV scheduler
    │   ├── DescriptorError      a descriptor is missing / misbehaves
    │   ├── InvalidValueError    a value failed validation (never retried)
    │   └── TransactionError     a transaction finished with failed values
    ├── VPPError                 talking to VPP
    │   ├── VPPConnectionError   socket gone / handshake failed (retriable)
    │   ├── VPPTimeoutError      no reply in time (retriable)
    │   ├── VPPUsageError        a request that can never work (unknown message, bad field)
    │   └── VPPApiError          a reply with retval != 0 (message name, retval, retriable)
    ├── DatastoreError           etcd
    ├── IPAMError                address plan exhausted / conflicting
    ├── STNError                 the STN daemon: no such NIC, not stolen, bad state file
    └── RenderError              a renderer broke its contract (two owners of one key)
"""

from __future__ import annotations


class ContivError(Exception):
    """Base of every error contivpp raises on purpose."""


class ConfigError(ContivError):
    """Configuration is missing or has a wrong value; the message names the setting."""


class InputError(ContivError):
    """Bad input from outside the process; the message names what was wrong and where."""


class EventLogError(InputError):
    """A line of an event log could not be parsed."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class K8sObjectError(InputError):
    """A Kubernetes object lacks a field renderers need, or has it with a wrong type."""

    def __init__(self, obj_ref: str, field: str, reason: str) -> None:
        super().__init__(f"{obj_ref}: field {field!r}: {reason}")
        self.obj_ref = obj_ref
        self.field = field
        self.reason = reason


class CNIRequestError(InputError):
    """A CNI request is malformed. ``code`` is the CNI spec error code."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg if not details else f"{msg}: {details}")
        self.code = code
        self.msg = msg
        self.details = details


class ReconcileError(ContivError):
    """Raised by the KV scheduler."""


class DescriptorError(ReconcileError):
    """No descriptor handles a key, or a descriptor broke its contract."""


class InvalidValueError(ReconcileError):
    """A value failed its descriptor's validation; it will not be retried."""

    def __init__(self, key: str, reason: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(f"{key}: invalid value: {reason}")
        self.key = key
        self.reason = reason
        self.fields = fields


class TransactionError(ReconcileError):
    """A transaction finished with failed values; ``failures`` maps key -> error."""

    def __init__(self, txn_seq: int, failures: dict[str, BaseException]) -> None:
        details = "; ".join(f"{key}: {failures[key]}" for key in sorted(failures))
        super().__init__(f"transaction {txn_seq}: {len(failures)} value(s) failed: {details}")
        self.txn_seq = txn_seq
        self.failures = failures


class VPPError(ContivError):
    """Talking to VPP failed."""

    retriable: bool = True


class VPPConnectionError(VPPError):
    """The VPP API socket is gone or the handshake failed."""


class VPPTimeoutError(VPPError):
    """VPP did not answer in time."""


class VPPUsageError(VPPError):
    """A request that can never succeed: unknown message, bad field, missing from VPP."""

    retriable = False


class VPPApiError(VPPError):
    """VPP answered with a non-zero retval."""

    def __init__(self, message: str, retval: int, meaning: str = "", retriable: bool = False):
        text = f"{message}: retval {retval}"
        if meaning:
            text += f" ({meaning})"
        super().__init__(text)
        self.message = message
        self.retval = retval
        self.meaning = meaning
        self.retriable = retriable


class DatastoreError(ContivError):
    """etcd is unreachable or answered unexpectedly."""


class IPAMError(ContivError):
    """The address plan cannot satisfy a request (exhausted, conflicting, out of range)."""


class RenderError(ContivError):
    """A renderer broke its contract: two owners rendered the same key."""


class STNError(ContivError):
    """The STN daemon cannot steal / release a NIC, or its state file is unreadable."""
