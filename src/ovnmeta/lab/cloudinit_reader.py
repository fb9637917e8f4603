"""Read a metadata service the way a guest does, with cloud-init's own readers; print JSON.

A standalone script: it never imports ovnmeta, because it runs under Debian's
/usr/bin/python3 with the unpacked cloud-init package on its path (cloud-init is not on
PyPI), possibly inside an instance's network namespace:

    ip netns exec NS /usr/bin/python3 -I cloudinit_reader.py http://169.254.169.254 \\
        --cloud-init-path ~/.cache/ovnmeta/cloud-init/usr/lib/python3/dist-packages

`ovnmeta.lab.cloudinit.read()` builds that command line. Output (stdout, one JSON object):
uuid, hostname, public_keys, user_data_sha256, network_data and more from the OpenStack
reader (`MetadataReader.read_v2`), and an `ec2` section from `ec2.get_instance_metadata` /
`get_instance_userdata`. With `--datasource`, also the full `DataSourceOpenStack`
(`datasource` section, including cloud-init's own network config built from
network_data.json, which needs the MACs to exist here). Exit status 0 on success; 1 with
{"error": ...} when cloud-init rejects the service (NonReadable, BrokenMetadata, datasource
not found) or the deadline passes.
"""

import argparse
import hashlib
import json
import logging
import signal
import sys
from typing import Any


def _sha256(data: Any) -> str | None:
    if data is None:
        return None
    raw = data if isinstance(data, bytes) else str(data).encode("utf-8")
    return hashlib.sha256(raw).hexdigest() if raw else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"bytes": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def read(base_url: str, timeout_s: float, retries: int) -> dict[str, Any]:
    from cloudinit import util, version
    from cloudinit.sources.helpers import ec2, openstack

    util._DNS_REDIRECT_IP = set()  # 22.4.2 probes DNS redirection even for IP literals

    class PinnedReader(openstack.MetadataReader):
        # The stock reader crawls EC2 at the hard-coded 169.254.169.254; stay on base_url.
        def _read_ec2_metadata(self) -> Any:
            return ec2.get_instance_metadata(
                metadata_address=self.base_path, timeout=self.timeout, retries=self.retries
            )

    result = PinnedReader(base_url, timeout=timeout_s, retries=retries).read_v2()
    metadata = result["metadata"]
    userdata = result.get("userdata")
    ec2_md = ec2.get_instance_metadata(
        api_version="2009-04-04", metadata_address=base_url, timeout=timeout_s, retries=retries
    )
    ec2_ud = ec2.get_instance_userdata(
        api_version="2009-04-04", metadata_address=base_url, timeout=timeout_s, retries=retries
    )
    return {
        "cloud_init_version": version.version_string(),
        "base_url": base_url,
        "uuid": metadata.get("uuid"),
        "instance_id": metadata.get("instance-id"),
        "hostname": metadata.get("local-hostname"),
        "name": metadata.get("name"),
        "project_id": metadata.get("project_id"),
        "availability_zone": metadata.get("availability_zone"),
        "meta": metadata.get("meta", {}),
        "public_keys": metadata.get("public_keys", {}),
        "random_seed_bytes": len(metadata.get("random_seed") or b""),
        "user_data_sha256": _sha256(userdata),
        "user_data_bytes": len(userdata or b""),
        "vendor_data": _jsonable(result.get("vendordata")),
        "vendor_data2": _jsonable(result.get("vendordata2")),
        "network_data": result.get("networkdata"),
        "dsmode": result.get("dsmode"),
        "ec2_from_reader": sorted(result.get("ec2-metadata") or {}),
        "ec2": {
            "instance_id": ec2_md.get("instance-id"),
            "hostname": ec2_md.get("local-hostname"),
            "local_ipv4": ec2_md.get("local-ipv4"),
            "public_keys": _jsonable(ec2_md.get("public-keys", {})),
            "keys": sorted(ec2_md),
            "user_data_sha256": _sha256(ec2_ud),
            "user_data_bytes": len(ec2_ud or b""),
        },
    }


def run_datasource(base_url: str, timeout_s: float, retries: int, max_wait_s: int) -> dict:
    """The full DataSourceOpenStack (probe, version choice, dsmode, network config)."""
    import tempfile

    from cloudinit import helpers, util
    from cloudinit.sources import DataSourceOpenStack as dso
    from cloudinit.sources.helpers import ec2, openstack

    util._DNS_REDIRECT_IP = set()
    dso.detect_openstack = lambda accept_oracle=False: True  # no DMI inside a namespace

    def pinned_ec2(self: Any) -> Any:  # as in read(): never 169.254.169.254 implicitly
        return ec2.get_instance_metadata(
            metadata_address=self.base_path, timeout=self.timeout, retries=self.retries
        )

    openstack.MetadataReader._read_ec2_metadata = pinned_ec2
    sys_cfg = {
        "datasource_list": ["OpenStack"],
        "datasource": {
            "OpenStack": {
                "metadata_urls": [base_url],
                "max_wait": max_wait_s,
                "timeout": timeout_s,
                "retries": retries,
            }
        },
    }
    with tempfile.TemporaryDirectory(prefix="ovnmeta-ci-") as tmp:

        class Distro:  # the datasource only asks for these two
            fallback_interface = "eth0"

            def get_tmp_exec_path(self) -> str:
                return tmp

        paths = helpers.Paths({"cloud_dir": tmp, "run_dir": tmp})
        ds = dso.DataSourceOpenStack(sys_cfg, Distro(), paths)
        found = bool(ds._get_data())
        out: dict[str, Any] = {"found": found}
        if not found:
            return out
        hostname = ds.get_hostname()
        out.update(
            instance_id=ds.get_instance_id(),
            local_hostname=getattr(hostname, "hostname", hostname),
            public_keys=sorted(ds.get_public_ssh_keys()),
            dsmode=ds.dsmode,
            user_data_sha256=_sha256(ds.userdata_raw),
            vendor_data_raw=_jsonable(ds.vendordata_raw),
        )
        try:  # matches links to this machine's NICs by MAC, as on a real guest
            out["network_config"] = ds.network_config
        except Exception as exc:  # a MAC not present here is data for the caller
            out["network_config_error"] = f"{type(exc).__name__}: {exc}"
        return out


def _deadline(signum: int, frame: Any) -> None:
    raise TimeoutError("deadline passed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("base_url", help="e.g. http://169.254.169.254 or http://127.0.0.1:8775")
    parser.add_argument("--timeout", type=float, default=5.0, help="per request, seconds")
    parser.add_argument("--retries", type=int, default=0, help="per request")
    parser.add_argument("--deadline", type=int, default=60, help="whole run, seconds")
    parser.add_argument("--cloud-init-path", help="directory holding the cloudinit package")
    parser.add_argument(
        "--datasource", action="store_true", help="also run the full DataSourceOpenStack"
    )
    parser.add_argument("--max-wait", type=int, default=-1, help="datasource probe; -1: once")
    args = parser.parse_args(argv)
    if args.cloud_init_path:
        sys.path.insert(0, args.cloud_init_path)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    signal.signal(signal.SIGALRM, _deadline)  # a hostile server must not hold us forever
    signal.alarm(args.deadline)
    try:
        doc = read(args.base_url.rstrip("/"), args.timeout, args.retries)
        if args.datasource:
            doc["datasource"] = run_datasource(
                args.base_url.rstrip("/"), args.timeout, args.retries, args.max_wait
            )
            if not doc["datasource"]["found"]:
                doc["error"] = "DataSourceOpenStack: datasource not found (details on stderr)"
    except Exception as exc:  # report cloud-init's verdict as data; the caller decides
        json.dump({"error": f"{type(exc).__name__}: {exc}"}, sys.stdout)
        print()
        return 1
    finally:
        signal.alarm(0)
    json.dump(doc, sys.stdout, sort_keys=True)
    print()
    return 1 if "error" in doc else 0


if __name__ == "__main__":
    sys.exit(main())
