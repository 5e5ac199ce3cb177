"""Helpers shared by `taskengine dev` and the test suite."""

from __future__ import annotations

import pathlib

import kubernetes

from taskengine.kube import crds


def api_client(kubeconfig: pathlib.Path) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(kubeconfig))


def install_crds(kubeconfig: pathlib.Path) -> None:
    with api_client(kubeconfig) as client:
        crds.install(client)
