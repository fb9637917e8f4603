"""TLS for the lab (`ovnmeta lab up --ssl`): one CA made with `ovs-pki` (openvswitch-common)
and a key and certificate per node, all signed as "controller" certificates so that servers
and clients trust the same CA certificate.

Every OVS/OVN daemon of an SSL lab gets `--private-key/--certificate/--ca-cert` from `flags()`,
which returns nothing for a plain-TCP lab, so the callers stay unconditional.
"""

from pathlib import Path

from ovnmeta.lab.proc import run

CA_TYPE = "controller"


def pki_dir(lab_dir: Path, ca: str = "ca") -> Path:
    return lab_dir / "pki" / ca


def enabled(lab_dir: Path) -> bool:
    return ca_cert(lab_dir).exists()


def ca_cert(lab_dir: Path, ca: str = "ca") -> Path:
    return pki_dir(lab_dir, ca) / f"{CA_TYPE}ca" / "cacert.pem"


def init(lab_dir: Path, ca: str = "ca") -> None:
    d = pki_dir(lab_dir, ca)
    d.parent.mkdir(parents=True, exist_ok=True)
    run(["ovs-pki", f"--dir={d}", f"--log={d.parent / f'{ca}.log'}", "--force", "init"])


def node_files(lab_dir: Path, node: str, ca: str = "ca") -> dict[str, Path]:
    d = pki_dir(lab_dir, ca).parent / "nodes" / ca
    return {
        "key": d / f"{node}-privkey.pem",
        "cert": d / f"{node}-cert.pem",
        "ca": ca_cert(lab_dir, ca),
    }


def issue(lab_dir: Path, node: str, ca: str = "ca") -> dict[str, Path]:
    """A key and a certificate for `node`, signed by `ca` (made on first use)."""
    if not ca_cert(lab_dir, ca).exists():
        init(lab_dir, ca)
    files = node_files(lab_dir, node, ca)
    out = files["key"].parent
    out.mkdir(parents=True, exist_ok=True)
    if not files["cert"].exists():
        # ovs-pki writes NAME-{privkey,req,cert}.pem into its working directory
        d = pki_dir(lab_dir, ca)
        log = d.parent / f"{ca}.log"
        run(
            [
                "sh",
                "-c",
                f'cd "{out}" && exec ovs-pki --dir="{d}" --log="{log}" -b -u --force '
                f'req+sign "{node}" {CA_TYPE}',
            ]
        )
    return files


def flags(lab_dir: Path, node: str) -> list[str]:
    """The SSL options of an OVS/OVN daemon on `node`; none in a plain-TCP lab."""
    if not enabled(lab_dir):
        return []
    f = node_files(lab_dir, node)
    return [f"--private-key={f['key']}", f"--certificate={f['cert']}", f"--ca-cert={f['ca']}"]
