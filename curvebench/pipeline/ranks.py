"""The processes of a multi-device run, started before any work, so that every stage is
shared out: each rank samples the generated role's chunks and prepares the pieces it is given
(:meth:`Ranks.share`), then every rank receives what the others made (:meth:`Ranks.gather`),
and scoring divides the batches as before. Every piece is thus sampled, rendered, perturbed
and encoded once across ranks, and the plan every rank holds is the one a single process
builds, in the same order, so the results do not depend on the number of devices.

Lightning starts the processes (its subprocess launcher runs the same command again with
``LOCAL_RANK`` set), and the scoring ``Trainer`` joins the process group they formed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import torch

from curvebench.adapters.base import lightning_devices

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's place among a run's processes."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes the run's outputs (rank 0)."""
        return self.rank == 0

    def share(self, items: list[T]) -> list[T]:
        """This rank's share of ``items``: every ``world``-th, from its rank."""
        return items[self.rank :: self.world]

    def turned(self, by: int) -> Ranks:
        """The same processes with the shares turned by ``by`` ranks, so that lists shared
        one after another (each top-k's chunks) do not all start on rank 0."""
        return Ranks((self.rank - by) % self.world, self.world)

    def gather(self, part: dict) -> dict:
        """Every rank's ``part`` merged (keys are unique to a rank), on every rank."""
        if self.world == 1:
            return part
        parts: list[dict | None] = [None] * self.world
        torch.distributed.all_gather_object(parts, part)
        merged: dict = {}
        for other in parts:
            merged.update(other or {})
        return merged


ONE = Ranks()
"""A run on one process."""


def launch(accelerator: str, devices: int, num_nodes: int = 1) -> Ranks:
    """Start the run's other processes (nothing to start on one device) and join their
    process group; this process's :class:`Ranks`."""
    if devices * num_nodes <= 1:
        return ONE
    from lightning.fabric import Fabric

    name, placed = lightning_devices(accelerator, devices)
    fabric = Fabric(accelerator=name, devices=placed, num_nodes=num_nodes, strategy="ddp")
    threads = torch.get_num_threads()
    fabric.launch()
    torch.set_num_threads(threads)  # the run's --threads, which the launcher would reset
    return Ranks(fabric.global_rank, fabric.world_size)


def finish(ranks: Ranks) -> None:
    """Leave the process group once the run needs no more of the other ranks."""
    if ranks.world > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
