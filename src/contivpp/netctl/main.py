"""Running one netctl command: open the sources it needs, run it, print table or JSON.

Separate from :mod:`contivpp.cli` (which only declares the arguments) so tests call
:func:`run` with parsed arguments and read what it prints.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import TextIO

import aiohttp

from contivpp.datastore.etcd import EtcdStore, parse_endpoints
from contivpp.events import k8s
from contivpp.netctl import commands
from contivpp.netctl.sources import Agents, Cluster, parse_agent, read_cluster
from contivpp.webapi import dumps

#: What each command reads from etcd (the rest comes from the agents).
_KINDS: dict[str, tuple[k8s.Kind, ...]] = {
    "nodes": ("Node",),
    "pods": ("Node",),
    "services": ("Service", "EndpointSlice"),
    "policies": ("Node", "Pod"),
}


def local_node_name(given: str | None) -> str:
    return given or os.environ.get("NODE_NAME") or socket.gethostname()


async def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    explicit = dict(parse_agent(a) for a in args.agent)
    agents = Agents(
        local_node=local_node_name(args.node_name),
        port=args.agent_port,
        explicit=explicit,
        timeout=args.timeout,
    )
    command: str = args.netctl_command
    node: str = getattr(args, "node", None) or agents.local_node
    kinds = _KINDS.get(command, ())
    if not kinds and node != agents.local_node and node not in explicit:
        kinds = ("Node",)  # only to find that node's agent
    cluster = Cluster({}, {})
    # etcd is read only when needed: the local agent stays inspectable while etcd is down.
    if kinds:
        async with EtcdStore(parse_endpoints(args.etcd_endpoints), timeout=args.timeout) as store:
            cluster = await read_cluster(store, kinds)
        agents.cluster = cluster
    async with aiohttp.ClientSession() as session:
        if command == "nodes":
            output = await commands.nodes(agents, session, cluster)
        elif command == "pods":
            output = await commands.pods(agents, session, cluster, args.node)
        elif command == "ipam":
            output = await commands.ipam(agents, session, node)
        elif command == "services":
            output = commands.services(cluster)
        elif command == "policies":
            output = await commands.policies(agents, session, cluster, args.pod, node)
        elif command == "txn-history":
            params = {
                name: str(value)
                for name, value in (("last", args.last), ("seq", args.seq), ("since", args.since))
                if value is not None
            }
            output = await commands.txn_history(agents, session, node, params, args.json)
        elif command == "graph":
            output = await commands.graph(agents, session, node, args.format)
        elif command == "dump":
            output = await commands.dump(agents, session, node, args.prefix, args.view)
        else:
            assert command == "trace", command
            output = await commands.trace(agents, session, node, args.source, args.destination)
    for skipped in cluster.skipped:
        print(f"contivpp netctl: warning: skipped {skipped}", file=err)
    for error in output.errors:
        print(f"contivpp netctl: warning: {error}", file=err)
    if args.json:
        out.write(dumps(output.data))
    elif output.text:
        out.write(output.text + "\n")
    out.flush()
    return output.code
