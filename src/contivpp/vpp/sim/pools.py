"""The two ways VPP hands out numbers, reproduced because clients observe them.

VPP ``pool``s (sw_if_index, ACL index, tunnel index) reuse the most recently freed slot first;
bitmaps (tap ids, loopback / BVI instances) hand out the lowest free number. Descriptors and tests
see these numbers in replies, so the simulator must allocate them the same way.
"""

from __future__ import annotations

import random

import attrs


@attrs.define
class Pool:
    """Indices from a VPP pool: last freed first, else the next unused one."""

    next_index: int = 0
    free: list[int] = attrs.field(factory=list)

    def alloc(self) -> int:
        if self.free:
            return self.free.pop()
        index = self.next_index
        self.next_index += 1
        return index

    def release(self, index: int) -> None:
        self.free.append(index)


@attrs.define
class Bitmap:
    """Instance numbers from a VPP bitmap: the lowest free one, or a chosen one."""

    used: set[int] = attrs.field(factory=set)

    def first_free(self) -> int:
        n = 0
        while n in self.used:
            n += 1
        return n

    def take(self, n: int) -> None:
        self.used.add(n)

    def release(self, n: int) -> None:
        self.used.discard(n)


def random_mac(rng: random.Random) -> bytes:
    """A ``02:fe:xx:xx:xx:xx`` address, as VPP generates for taps and tunnels."""
    return bytes([0x02, 0xFE, *rng.randbytes(4)])
