#!/usr/bin/env python3
"""Write the seed corpora in fuzz/seeds/<target>/ (small, valid inputs).

Run from anywhere: python3 fuzz/make_seeds.py. The archive seeds are minimal
`docker save` and OCI-layout tars whose configs list the real DiffIDs, so the fuzzer
starts from structure the importer accepts.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")
HEX = "0123456789abcdef" * 4  # 64 hex digits


def write(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def tar_bytes(members):
    """members: list of (name, bytes) or (name, ('symlink', target))."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if isinstance(data, tuple):
                info.type = tarfile.SYMTYPE
                info.linkname = data[1]
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    # Drop tarfile's record padding: keep the members and the two end-of-archive blocks.
    data = buf.getvalue().rstrip(b"\0")
    data += b"\0" * (-len(data) % 512)
    return data + b"\0" * 1024


def layer(files):
    return tar_bytes([(n, d.encode()) for n, d in files])


def zstd_compress(data):
    """zstd via the `zstd` CLI (Python 3.11 has no zstd module); None if it is missing."""
    if shutil.which("zstd") is None:
        return None
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, capture_output=True, check=True).stdout


def docker_save(layers, tags, symlink_layer=False, gzip_layers=False, compress=None):
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(l) for l in layers]},
        }
    ).encode()
    config_name = sha256(config)[7:] + ".json"
    members = [(config_name, config)]
    names = []
    for i, l in enumerate(layers):
        name = "l%d/layer.tar" % i
        if gzip_layers:
            l = gzip.compress(l, mtime=0)
        if compress:
            l = compress(l)
        if symlink_layer and i == 0:
            members.append(("blobs/l0", l))
            members.append((name, ("symlink", "../blobs/l0")))
        else:
            members.append((name, l))
        names.append(name)
    manifest = [{"Config": config_name, "RepoTags": tags, "Layers": names}]
    members.insert(0, ("manifest.json", json.dumps(manifest).encode()))
    return tar_bytes(members)


def oci_layout(layer_tar):
    gz = gzip.compress(layer_tar, mtime=0)
    config = json.dumps(
        {"architecture": "arm64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]}}
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(gz), "size": len(gz)}
            ],
        }
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": sha256(manifest),
                    "size": len(manifest),
                    "annotations": {"org.opencontainers.image.ref.name": "v1"},
                }
            ],
        }
    ).encode()
    blob = lambda b: ("blobs/sha256/" + sha256(b)[7:], b)
    return tar_bytes(
        [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index), blob(config), blob(manifest), blob(gz)]
    )


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)

    for i, r in enumerate(
        [
            "ghcr.io/org/app:v1",
            "localhost:5000/a@sha256:" + HEX,
            "nginx",
            "library/redis:7.2-alpine",
            "registry.example.com:443/team/sub/app:1.0.0@sha256:" + HEX,
            "docker.io/library/busybox:latest",
            "v1.2_rc-3",
            "sha256:" + HEX,
        ]
    ):
        write("reference", "seed-%d" % i, r)

    for i, c in enumerate(
        [
            'Bearer realm="https://auth/token",service="reg",scope="repository:a:pull,push"',
            'Basic realm="Registry Realm"',
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",error="insufficient_scope"',
            "bearer realm=https://x/t, service=reg",
            'Bearer realm="a\\"b",scope="x"',
        ]
    ):
        write("challenge", "seed-%d" % i, c)

    image = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469, "digest": "sha256:" + HEX},
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2811, "digest": "sha256:" + HEX, "urls": ["https://x/y"]}
        ],
    }
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "size": 7143,
                "digest": "sha256:" + HEX,
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }
        ],
    }
    write("manifest", "seed-image.json", json.dumps(image, indent=2))
    write("manifest", "seed-index.json", json.dumps(index))
    write("manifest", "seed-schema1.json", '{"schemaVersion":1,"name":"a","tag":"b"}')
    write("manifest", "seed-platform", "linux/arm64/v8")

    shop = os.path.join(HERE, "..", "examples", "shop", "flow.kdl")
    with open(shop, "rb") as f:
        write("flow_kdl", "seed-shop.kdl", f.read())
    write(
        "flow_kdl",
        "seed-small.kdl",
        'project "demo"\nregistry "ghcr.io/org"\nvariables { TAG "v1" }\n'
        'service "api" {\n    build { dockerfile "Dockerfile"; target "dev"; args { A "{{ TAG }}" } }\n'
        '    image "demo/api"\n    version "{{ TAG }}"\n    labels { "a.b" "c" }\n}\n'
        'stage "default" { service "api"; variables { TAG "v2" } }\n',
    )
    write("flow_kdl", "seed-v1.kdl", 'project "old"\nservice "web" image="nginx"\n')

    l1 = layer([("etc/hello", "hello\n")])
    l2 = layer([("app/run.sh", "#!/bin/sh\necho hi\n"), ("app/data", "x" * 100)])
    write("archive", "seed-save-1layer.tar", docker_save([l1], ["demo/app:v1"]))
    write("archive", "seed-save-2layers.tar", docker_save([l1, l2], ["demo/app:v2", "demo/app:latest"], symlink_layer=True))
    write("archive", "seed-save-gzip.tar", docker_save([l1], None, gzip_layers=True))
    write("archive", "seed-oci.tar", oci_layout(l2))
    if zstd_compress(b"") is not None:
        write("archive", "seed-save-zstd.tar", docker_save([l2], ["demo/app:zstd"], compress=zstd_compress))


if __name__ == "__main__":
    main()
