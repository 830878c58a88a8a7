"""The ``contivpp`` command: every long-running job and tool is a subcommand.

Logging and the asyncio entry are set up here and only here. Errors of ours (bad input, bad
config) end the command with a one-line message and a non-zero status, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from contivpp.errors import ContivError, EventLogError
from contivpp.logs import configure_logging


def _replay(args: argparse.Namespace) -> int:
    from contivpp import replay
    from contivpp.events.log import read_log

    try:
        loaded = read_log(Path(args.log))
    except EventLogError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for warning in loaded.warnings:
        print(f"contivpp replay: warning: {warning}", file=sys.stderr)
    if args.vpp_socket:
        result = asyncio.run(
            replay.replay_into_vpp(
                loaded, args.vpp_socket, until=args.until, settle_timeout=args.settle_timeout
            )
        )
    else:
        result = asyncio.run(replay.replay(loaded, until=args.until))
    text = replay.dumps(replay.result_json(result)) if args.json else replay.render_text(result)
    if not _print_to_pipe(text):
        return EXIT_BROKEN_PIPE
    if result.programmed is not None and not result.programmed.converged:
        return 1
    return 0


EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE
"""What a shell shows for a tool whose reader went away (``replay ... | head``)."""


def _print_to_pipe(text: str) -> bool:
    """Print to stdout; False if its reader has gone away (not an error worth a traceback)."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python flushes stdout again at exit and would complain there: point it at nothing.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return False
    return True


def _vppsim(args: argparse.Namespace) -> int:
    from contivpp.vpp.sim.__main__ import simulate

    return simulate(args, args.parser)


def _run_until_signalled(main: Coroutine[Any, Any, None]) -> list[BaseException]:
    """Run a long-lived job; SIGTERM / SIGINT cancel it so it can clean up (give up leases,
    close sockets). Returns the errors of ours it ended with."""
    failures: list[BaseException] = []

    async def supervise() -> None:
        task = asyncio.create_task(main, name="main")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except* asyncio.CancelledError:
            pass  # a signal: the job cleaned up on its way out
        except* ContivError as group:
            failures.extend(group.exceptions)

    asyncio.run(supervise())
    return failures


def _ksr(args: argparse.Namespace) -> int:
    from contivpp.ksr import KSRConfig, run_ksr

    extra = {"identity": args.identity} if args.identity else {}
    config = KSRConfig(
        etcd_endpoints=args.etcd_endpoints,
        kubeconfig=args.kubeconfig,
        lease_ttl=args.lease_ttl,
        http_address=args.http_address,
        **extra,
    )
    failures = _run_until_signalled(run_ksr(config))
    for exc in failures:
        print(f"contivpp ksr: {exc}", file=sys.stderr)
    return 1 if failures else 0


def _agent(args: argparse.Namespace) -> int:
    from contivpp.agent.run import Agent
    from contivpp.agent.settings import load_settings

    settings = load_settings(Path(args.config))
    agent = Agent(settings)
    failures = _run_until_signalled(agent.run())
    for exc in failures:
        print(f"contivpp agent: {exc}", file=sys.stderr)
    return 1 if failures else 0


def _stn(args: argparse.Namespace) -> int:
    from contivpp.stn.daemon import run_stn

    failures = _run_until_signalled(
        run_stn(Path(args.socket), Path(args.state_dir), args.keepalive_timeout)
    )
    for exc in failures:
        print(f"contivpp stn: {exc}", file=sys.stderr)
    return 1 if failures else 0


def _trace(args: argparse.Namespace) -> int:
    from contivpp.dataplane import trace

    pods = trace.load_pods(Path(args.state_dir)) if args.state_dir else []
    request = trace.build_request(
        args.source,
        args.destination,
        pods=pods,
        node=args.node,
        source_port=args.source_port,
        ingress=args.ingress,
        reply=args.reply,
    )
    peers = [trace.parse_peer(p) for p in args.peer]
    snapshots = asyncio.run(trace.snapshot_nodes((args.node, args.vpp_socket), peers))
    outcomes = trace.run(request, snapshots, pods)
    if args.json:
        print(trace.dumps(trace.to_json(request, outcomes)))
    else:
        print(trace.render_text(request, outcomes))
    return trace.exit_code(outcomes)


def _netctl(args: argparse.Namespace) -> int:
    from contivpp.netctl.main import run

    try:
        return asyncio.run(run(args))
    except BrokenPipeError:
        _print_to_pipe("")  # points stdout at nothing so the exit does not complain
        return EXIT_BROKEN_PIPE


def _add_netctl(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from contivpp.netctl.sources import DEFAULT_AGENT_PORT

    nc = sub.add_parser(
        "netctl",
        help="inspect the cluster: nodes, pods, IPAM, services, policies, reconciler",
        description="Reads etcd and the agents' HTTP APIs (docs/operate.md). A node's agent is "
        "--agent NODE=URL when given, http://127.0.0.1:PORT for the local node, else "
        "http://<the node's InternalIP>:PORT.",
    )
    nc.add_argument("--json", action="store_true", help="JSON for scripts instead of tables")
    nc.add_argument(
        "--etcd-endpoints",
        default=os.environ.get("CONTIVPP_ETCD_ENDPOINTS", "127.0.0.1:2379"),
        metavar="HOST:PORT[,...]",
        help="default: $CONTIVPP_ETCD_ENDPOINTS or 127.0.0.1:2379",
    )
    nc.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="NODE=URL",
        help="where a node's agent HTTP API is (repeatable)",
    )
    nc.add_argument("--agent-port", type=int, default=DEFAULT_AGENT_PORT, metavar="PORT")
    nc.add_argument(
        "--node-name", metavar="NAME", help="the local node (default: $NODE_NAME or host name)"
    )
    nc.add_argument("--timeout", type=float, default=5.0, metavar="S", help="per request")
    # --json also after the command (`netctl pods --json`), where people type it.
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="JSON instead of a table"
    )
    cmds = nc.add_subparsers(dest="netctl_command", required=True)
    cmds.add_parser(
        "nodes", parents=[json_flag], help="ID, name, VPP and management IPs, health of every node"
    )
    p = cmds.add_parser(
        "pods", parents=[json_flag], help="pods wired by each agent: IP, VPP interface"
    )
    p.add_argument("node", nargs="?", metavar="NODE", help="only this node")
    p = cmds.add_parser(
        "ipam", parents=[json_flag], help="a node's address plan and allocated pod IPs"
    )
    p.add_argument("node", nargs="?", metavar="NODE", help="default: the local node")
    cmds.add_parser(
        "services",
        parents=[json_flag],
        help="services, their ports and ready endpoints (from etcd)",
    )
    p = cmds.add_parser(
        "policies",
        parents=[json_flag],
        help="which ACLs a pod carries and which policies made them",
    )
    p.add_argument("pod", nargs="?", metavar="NAMESPACE/NAME", help="default: every local pod")
    p.add_argument("--node", help="the node to ask when no pod is given (default: local)")
    p = cmds.add_parser(
        "txn-history", parents=[json_flag], help="the reconciler's transactions on a node"
    )
    p.add_argument("--node", help="default: the local node")
    p.add_argument("--last", type=int, metavar="N", help="only the N newest")
    p.add_argument("--seq", type=int, metavar="N", help="only transaction N")
    p.add_argument("--since", type=float, metavar="UNIX-TIME", help="started at or after")
    p = cmds.add_parser(
        "graph", parents=[json_flag], help="the reconciler's graph (DOT, or SVG with Graphviz)"
    )
    p.add_argument("--node", help="default: the local node")
    p.add_argument("--format", choices=["dot", "svg"], default="dot")
    p = cmds.add_parser(
        "dump", parents=[json_flag], help="the reconciler's values: desired, or read back from VPP"
    )
    p.add_argument("--node", help="default: the local node")
    p.add_argument("--prefix", default="", help="only keys starting with this")
    p.add_argument("--view", choices=["desired", "actual"], default="desired")
    p = cmds.add_parser(
        "trace", parents=[json_flag], help="trace one packet on a node's VPP (docs/trace.md)"
    )
    p.add_argument("source", metavar="FROM", help="IPv4 or namespace/name of a local pod")
    p.add_argument("destination", metavar="TO[:PORT[/PROTO]]")
    p.add_argument("--node", help="default: the local node")
    nc.set_defaults(func=_netctl)


def _demo(args: argparse.Namespace) -> int:
    from contivpp.demo import run_demo

    return run_demo()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contivpp", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        default="auto",
        help="log format on stderr (auto: JSON unless stderr is a terminal)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    rp = sub.add_parser("replay", help="replay a recorded event log (contivpp-events/1)")
    rp.add_argument("log", help="path of the event log")
    mode = rp.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the desired config (default)")
    mode.add_argument("--vpp-socket", metavar="PATH", help="program the VPP at this API socket")
    rp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    rp.add_argument("--until", type=int, metavar="SEQ", help="stop after the event with this seq")
    rp.add_argument(
        "--settle-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="with --vpp-socket: how long to wait for retries to converge",
    )
    rp.set_defaults(func=_replay)

    vs = sub.add_parser("vppsim", help="run the VPP binary-API simulator on a unix socket")
    from contivpp.vpp.sim.__main__ import add_options

    add_options(vs)
    vs.set_defaults(func=_vppsim, parser=vs)

    ag = sub.add_parser("agent", help="run the vSwitch agent of this node")
    ag.add_argument("--config", required=True, metavar="FILE", help="agent config (YAML)")
    ag.set_defaults(func=_agent)

    kp = sub.add_parser("ksr", help="reflect the Kubernetes API into etcd (KSR)")
    kp.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster config)")
    kp.add_argument("--etcd-endpoints", required=True, metavar="HOST:PORT[,...]")
    kp.add_argument("--identity", help="this replica's name in the leader election")
    kp.add_argument("--lease-ttl", type=int, default=10, metavar="S", help="leader lease TTL")
    kp.add_argument(
        "--http-address",
        default="127.0.0.1:9191",
        metavar="HOST:PORT",
        help='/healthz /readyz /metrics ("" = none)',
    )
    kp.set_defaults(func=_ksr)

    st = sub.add_parser("stn", help="run the steal-the-NIC daemon (Contiv's STN gRPC API)")
    st.add_argument("--socket", default="/var/run/contivpp/stn.sock", metavar="PATH")
    st.add_argument(
        "--state-dir",
        default="/var/lib/contivpp/stn",
        metavar="DIR",
        help="where what was stolen is kept across daemon restarts",
    )
    st.add_argument(
        "--keepalive-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="give a NIC back when its agent has not called for this long",
    )
    st.set_defaults(func=_stn)

    tr = sub.add_parser("trace", help="explain how VPP forwards one packet (docs/trace.md)")
    tr.add_argument("source", metavar="FROM", help="IPv4 address or namespace/name of a pod")
    tr.add_argument(
        "destination", metavar="TO[:PORT[/PROTO]]", help="IPv4 or pod; no port: ICMP echo"
    )
    tr.add_argument("--vpp-socket", required=True, metavar="PATH", help="this node's API socket")
    tr.add_argument("--node", default="local", help="this node's name in the output")
    tr.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="NODE=SOCKET",
        help="another node's VPP, followed over VXLAN (repeatable)",
    )
    tr.add_argument("--state-dir", metavar="DIR", help="the agent's state dir (pods.json)")
    tr.add_argument("--ingress", metavar="IF", help="interface the packet enters on")
    tr.add_argument("--source-port", type=int, default=40000, metavar="N")
    tr.add_argument("--reply", action="store_true", help="also trace the answer")
    tr.add_argument("--json", action="store_true", help="one JSON object (contivpp-trace/1)")
    tr.set_defaults(func=_trace)

    _add_netctl(sub)

    dm = sub.add_parser(
        "demo", help="run etcd, a VPP simulator, an agent and 3 pods, then clean up"
    )
    dm.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    json_output = {"auto": None, "json": True, "console": False}[args.log_format]
    configure_logging(args.log_level, json_output)
    try:
        code: int = args.func(args)
    except ContivError as exc:
        print(f"contivpp {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
