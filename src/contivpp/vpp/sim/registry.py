"""How simulator handlers are declared, called and fail.

Each area module (interfaces, ip, l2, vxlan, nat, acl, control) declares its handlers on a
:class:`HandlerTable` with ``@table.request("name")`` (returns the reply's fields) or
``@table.dump("name")`` (returns the details' fields). A handler that must fail raises
:class:`SimError` with the VPP ``retval`` and any reply fields VPP still fills on error; the
server turns both into messages. Keeping handlers this small and transport-free is what lets
each one read like the VPP C handler it imitates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from contivpp.vpp.sim.wire import Fields, Msg

if TYPE_CHECKING:
    from contivpp.vpp.sim.server import Client, Simulator
    from contivpp.vpp.sim.state import SimState


class SimError(Exception):
    """A handler's failure: ``retval`` plus reply fields VPP sets on that path."""

    def __init__(self, retval: int, **fields: Any) -> None:
        super().__init__(f"retval {retval}")
        self.retval = retval
        self.fields: Fields = fields


@attrs.define
class Call:
    """One request being handled."""

    state: SimState
    req: Msg
    context: int
    client: Client
    sim: Simulator


RequestHandler = Callable[[Call], Fields]
DumpHandler = Callable[[Call], Iterable[Fields]]


@attrs.define
class HandlerTable:
    """The handlers of one area, by request name."""

    requests: dict[str, RequestHandler] = attrs.field(factory=dict)
    dumps: dict[str, DumpHandler] = attrs.field(factory=dict)

    def request(self, *names: str) -> Callable[[RequestHandler], RequestHandler]:
        def register(fn: RequestHandler) -> RequestHandler:
            for name in names:
                self.requests[name] = fn
            return fn

        return register

    def dump(self, *names: str) -> Callable[[DumpHandler], DumpHandler]:
        def register(fn: DumpHandler) -> DumpHandler:
            for name in names:
                self.dumps[name] = fn
            return fn

        return register

    def merge(self, other: HandlerTable) -> None:
        clash = (self.requests.keys() | self.dumps.keys()) & (
            other.requests.keys() | other.dumps.keys()
        )
        if clash:
            raise ValueError(f"handlers declared twice: {sorted(clash)}")
        self.requests.update(other.requests)
        self.dumps.update(other.dumps)
