"""``fastdenoise run --cluster ray[=ADDRESS]``: the same job list as a Ray Data pipeline.

decode (CPU tasks) -> denoise (an actor pool: one denoiser per actor, a GPU each when the
device is CUDA) -> encode + atomic write (CPU tasks). Ray Data streams blocks between the
stages with backpressure, so memory stays bounded as in the local run. The stages are the
local pipeline's own functions, so outputs, naming, skip/overwrite rules and failure reasons
are identical. Ray is an optional extra (``pip install fastdenoise[ray]``), imported only here.
"""

from __future__ import annotations

import json
import logging
import pickle
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastdenoise import methods
from fastdenoise.pipeline import (
    FileResult,
    PipelineOptions,
    RunReport,
    denoise_stage,
    precheck,
    read_stage,
    write_stage,
)
from fastdenoise.sources import Job


def _job(row: dict[str, Any]) -> Job:
    return Job(Path(row["source"]), Path(row["destination"]), row["display"])


def _failed(row: dict[str, Any], result: FileResult) -> dict[str, Any]:
    return {**row, "payload": b"", "result": json.dumps(asdict(result))}


def _decode(row: dict[str, Any], max_pixels: int, max_memory: int) -> dict[str, Any]:
    outcome = read_stage(_job(row), max_pixels, max_memory)
    if isinstance(outcome, FileResult):
        return _failed(row, outcome)
    return {**row, "payload": pickle.dumps(outcome), "result": ""}


class _DenoiseActor:
    """One denoiser per actor, built once (model weights load once per actor)."""

    def __init__(self, method: str, params: dict[str, Any], device: str, tile: int | None):
        self.denoiser = methods.get(method).build(device=device, **params)
        self.tile = tile

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        if row["result"]:
            return row
        picture, read_s = pickle.loads(row["payload"])  # produced by _decode in this run
        outcome = denoise_stage(_job(row), picture, read_s, self.denoiser, self.tile)
        if isinstance(outcome, FileResult):
            return _failed(row, outcome)
        return {**row, "payload": pickle.dumps(outcome)}


def _write(row: dict[str, Any], options: PipelineOptions) -> dict[str, Any]:
    if row["result"]:
        return {"result": row["result"]}
    picture, method, read_s, denoise_s = pickle.loads(row["payload"])
    result = write_stage(_job(row), picture, method, read_s, denoise_s, options)
    return {"result": json.dumps(asdict(result))}


def run_on_ray(
    jobs: list[Job],
    method: str,
    params: dict[str, Any],
    device: str,
    options: PipelineOptions,
    address: str | None = None,
    actors: int = 1,
    show_progress: bool = False,
) -> RunReport:
    """Run jobs on a Ray cluster (a local one when ``address`` is None)."""
    import ray

    logging.getLogger("ray").setLevel(logging.ERROR)
    if not ray.is_initialized():
        quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
        if address:
            ray.init(address=address, **quiet)
        else:  # a local cluster on loopback only
            ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = show_progress
    started = time.perf_counter()
    denoiser = methods.get(method).build(device=device, **params)  # fail early, on the driver
    report = RunReport(method, denoiser.describe())
    results: list[FileResult] = []
    rows = []
    for job in jobs:
        verdict = precheck(job, options)
        if verdict is not None:
            results.append(verdict)
        else:
            rows.append(
                {
                    "source": str(job.source),
                    "destination": str(job.destination),
                    "display": job.display,
                }
            )
    if rows:
        uses_gpu = device == "cuda"
        dataset = (
            ray.data.from_items(rows, override_num_blocks=min(len(rows), 64))
            .map(
                _decode,
                fn_kwargs={"max_pixels": options.max_pixels, "max_memory": options.max_memory},
            )
            .map(
                _DenoiseActor,
                fn_constructor_kwargs={
                    "method": method,
                    "params": params,
                    "device": device,
                    "tile": options.tile,
                },
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_gpus=1 if uses_gpu else 0,
            )
            .map(_write, fn_kwargs={"options": options})
        )
        results += [FileResult(**json.loads(row["result"])) for row in dataset.iter_rows()]
    report.files = sorted(results, key=lambda r: r.source)
    report.wall_s = time.perf_counter() - started
    return report
