"""Routing (pure, no Ray): accelerator-type matching shares the local target check's rule; pools; refusals."""

from __future__ import annotations

import pytest

from builder.farm.routing import ACCELERATOR_PREFIX, FarmNode, FarmRoutingError, route_all, route_profile
from builder.profile import Backend, TargetSpec
from tests.support import make_profile

pytestmark = pytest.mark.farm  # no Ray needed: runs wherever the suite runs

# Ray's accelerator type names (ray.util.accelerators: NVIDIA_TESLA_T4 = "T4", NVIDIA_A10G = "A10G",
# NVIDIA_TESLA_A100 = "A100", NVIDIA_A100_80G = "A100-80G", NVIDIA_H100 = "H100", NVIDIA_L4 = "L4"; Ray 2.60).


def node(node_id: str, *types: str, gpus: int = 1, **extra: float) -> FarmNode:
    resources = {"CPU": 4.0, "GPU": float(gpus), **{ACCELERATOR_PREFIX + t: 1.0 for t in types}, **extra}
    return FarmNode(node_id, "10.0.0." + node_id[-1], resources)


def trt(name: str, gpu: str | None) -> object:
    return make_profile(name=name, backend=Backend.TENSORRT, target=TargetSpec(gpu=gpu) if gpu else None)


FLEET = [
    node("n1", "T4"),
    node("n2", "A10G"),
    node("n3", "A100-80G"),
    node("n4", "A100"),
    node("n5", gpus=0, **{"pool:cpu": 1.0}),
]


def test_tensorrt_profile_goes_to_its_gpu_type_with_one_gpu() -> None:
    route = route_profile(trt("t4", "T4"), FLEET)
    assert not isinstance(route, str)
    assert route.ray_options() == {"num_gpus": 1, "resources": {"accelerator_type:T4": 0.001}}
    assert route.candidates == ("n1",)


def test_whole_word_rule_of_the_local_check_a10_is_not_a100_nor_a10g() -> None:
    assert isinstance(route_profile(trt("a10", "A10"), FLEET), str)  # only A10G, A100, A100-80G in the fleet


def test_a_name_matching_several_types_takes_one_ray_can_schedule() -> None:
    route = route_profile(trt("a100", "A100"), FLEET)
    assert not isinstance(route, str) and route.label in ("A100", "A100-80G")
    assert route.resources == {ACCELERATOR_PREFIX + route.label: 0.001}


def test_no_target_needs_any_gpu_node_cpu_profile_any_node_or_its_pool() -> None:
    any_gpu = route_profile(trt("any", None), FLEET)
    assert (
        not isinstance(any_gpu, str)
        and any_gpu.num_gpus == 1
        and any_gpu.resources == {}
        and "n5" not in any_gpu.candidates
    )
    cpu = route_profile(make_profile(name="cpu"), FLEET)
    assert not isinstance(cpu, str) and cpu.num_gpus == 0 and len(cpu.candidates) == 5
    pooled = route_profile(make_profile(name="cpu"), FLEET, pool="pool:cpu")
    assert not isinstance(pooled, str) and pooled.candidates == ("n5",) and pooled.resources == {"pool:cpu": 0.001}


def test_a_gpu_type_on_a_node_without_gpus_does_not_count() -> None:
    assert isinstance(route_profile(trt("t4", "T4"), [node("n1", "T4", gpus=0)]), str)


def test_every_unserveable_profile_is_named_at_once_with_the_cluster_types() -> None:
    with pytest.raises(FarmRoutingError) as caught:
        route_all(
            [trt("h100", "H100"), make_profile(name="cpu"), make_profile(name="pooled")], FLEET, {"pooled": "pool:nope"}
        )
    message = caught.value.message
    assert "targets GPU 'H100'" in message and "pool 'pool:nope'" in message
    assert "accelerator types: A100, A100-80G, A10G, T4" in message and "5 node(s)" in message
    assert caught.value.exit_code == 3 and "nothing was started" in (caught.value.hint or "")
