"""Just enough Kustomize to render deploy/k8s overlays offline, for the manifest tests: `resources` (files
and bases), `namespace`, `labels` (metadata only), `images` and `patches` given as JSON 6902 files with a
kind/name target. Anything else in a kustomization is an error here, so the manifests stay within what is
checked. `kubectl kustomize`, where installed, must render the same documents (tests/deploy/test_k8s.py).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}

Doc = dict[str, Any]


def render(folder: Path) -> list[Doc]:
    """The documents `kubectl kustomize folder` would print (order aside)."""
    spec: dict[str, Any] = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED
    assert not unknown, f"{folder}: kustomization fields not handled by the test renderer: {unknown}"
    docs: list[Doc] = []
    for entry in spec.get("resources", []):
        path = folder / entry
        if path.is_dir():
            docs += render(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in spec.get("patches", []):
        target = patch["target"]
        ops = yaml.safe_load((folder / patch["path"]).read_text())
        matched = [d for d in docs if d["kind"] == target["kind"] and d["metadata"]["name"] == target["name"]]
        assert matched, f"{folder}: patch {patch['path']} matches nothing"
        for doc in matched:
            apply_json_patch(doc, ops)
    for doc in docs:
        _set_namespace(doc, spec.get("namespace"))
        for group in spec.get("labels", []):
            doc["metadata"].setdefault("labels", {}).update(group["pairs"])
        for image in spec.get("images", []):
            _set_image(doc, image)
    return docs


def apply_json_patch(doc: Doc, ops: list[dict[str, Any]]) -> None:
    """RFC 6902 `add`, `replace` and `remove`, in place."""
    for op in ops:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        value = copy.deepcopy(op.get("value"))
        if op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        elif isinstance(node, list):
            if op["op"] == "add":
                node.insert(len(node) if last == "-" else int(last), value)
            else:
                node[int(last)] = value
        else:
            assert op["op"] == "add" or last in node, f"replace of a missing {op['path']}"
            node[last] = value


def _set_namespace(doc: Doc, namespace: str | None) -> None:
    if namespace and doc["kind"] not in CLUSTER_SCOPED:
        doc["metadata"]["namespace"] = namespace


def _set_image(doc: Doc, image: dict[str, str]) -> None:
    pod = doc.get("spec", {}).get("template", {}).get("spec", {})
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        name = container["image"].split(":")[0]
        if name == image["name"]:
            container["image"] = f"{image.get('newName', name)}:{image['newTag']}"


def pod_spec(docs: list[Doc], kind: str, name: str) -> Doc:
    return find(docs, kind, name)["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name}")
