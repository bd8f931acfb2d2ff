"""The Ray placement of `nnbook chapter6`: a scaled-down chapter on a local two-node Ray cluster
(Ray's own test-cluster utilities) gives the report of the same chapter trained in this process,
figure for figure. On the first 100 training images of the real MNIST, 2 epochs."""

import pytest

from .conftest import CONFIGS, run_dirs
from .test_chapter6_resume import ARGS, ONLY, results_of, table_without_times


@pytest.fixture(scope="module")
def two_nodes():
    """A head and one more node, a CPU each and no GPU: every task of two runs on a node of its own."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0})
    cluster.add_node(num_cpus=1, num_gpus=0)
    cluster.wait_for_nodes()
    yield cluster.address
    cluster.shutdown()


def test_a_chapter_on_two_ray_nodes_reports_what_this_process_trains(two_nodes, tmp_path, cli):
    only = [a for name in ONLY for a in ("--only", name)]
    local = cli("chapter6", *only, *ARGS, "--configs-dir", CONFIGS, "--out", tmp_path / "local")
    assert local.returncode == 0, local.stderr
    ray = cli("chapter6", *only, *ARGS, "--configs-dir", CONFIGS, "--out", tmp_path / "ray", "--address", two_nodes)
    assert ray.returncode == 0, ray.stderr
    assert "Ray cluster: 2 CPUs, 0 GPUs" in ray.stdout and "up to 2 at once" in ray.stdout
    assert ray.stdout.count("✓ done") == len(ONLY)  # a task per config: its two seeds as one stack
    assert len(run_dirs(tmp_path / "ray" / "runs")) == len(ONLY) * 2
    assert results_of(tmp_path / "ray") == results_of(tmp_path / "local")
    assert table_without_times(tmp_path / "ray") == table_without_times(tmp_path / "local")
