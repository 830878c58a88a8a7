"""The simulator's session-level messages: handshake, ping, API JSON, version, events, bye.

These are the ``memclnt`` / ``vpe`` messages every client uses regardless of what it configures:
``sockclnt_create`` (client handle + message table), ``control_ping`` (also the end-of-dump
marker), ``get_api_json``, ``show_version``, ``want_interface_events``, ``memclnt_keepalive`` and
``sockclnt_delete``. Behaviour follows ``vpp-socket-protocol.md`` sections 4-9.
"""

from __future__ import annotations

from contivpp.vpp import retvals as rv
from contivpp.vpp.sim.registry import Call, HandlerTable, SimError
from contivpp.vpp.sim.wire import Fields

handlers = HandlerTable()

PROGRAM = "vpe"
VERSION = "26.06-contivpp-sim"


@handlers.request("sockclnt_create")
def sockclnt_create(call: Call) -> Fields:
    call.client.name = call.req.s("name")
    entries = call.sim.table.entries
    return {
        "client_index": 0,
        "response": 0,
        "index": call.client.index,
        "count": len(entries),
        "message_table": entries,
    }


@handlers.request("sockclnt_delete")
def sockclnt_delete(call: Call) -> Fields:
    if call.req.u("index") != call.client.index:
        return {"response": -1}
    # The reply must go out before the socket closes: the async vpp_papi client awaits it.
    call.client.closing = True
    return {"response": 1}


@handlers.request("control_ping")
def control_ping(call: Call) -> Fields:
    # A ping that ends a dump the simulator could not serve carries that dump's failure.
    failed = call.client.failed_dumps.pop(call.context, 0)
    return {"retval": failed, "client_index": 0, "vpe_pid": call.sim.pid}


@handlers.request("memclnt_keepalive")
def keepalive(call: Call) -> Fields:
    return {}


@handlers.request("get_api_json")
def get_api_json(call: Call) -> Fields:
    return {"json": call.sim.api_json}


@handlers.request("show_version")
def show_version(call: Call) -> Fields:
    return {
        "program": PROGRAM,
        "version": VERSION,
        "build_date": call.sim.started_at,
        "build_directory": "contivpp.vpp.sim",
    }


@handlers.request("want_interface_events")
def want_interface_events(call: Call) -> Fields:
    client = call.client
    if call.req.u("enable_disable"):
        if client.event_pid is not None:
            raise SimError(rv.INVALID_REGISTRATION)
        client.event_pid = call.req.u("pid")
    else:
        if client.event_pid is None:
            raise SimError(rv.INVALID_REGISTRATION)
        client.event_pid = None
    return {}
