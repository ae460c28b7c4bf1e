"""Real servers a PBX exposes its recordings with, on 127.0.0.1 and free ports, each
started here and stopped by its PID: pyftpdlib (FTP and explicit FTPS), OpenSSH's sshd
(SFTP, password and key, a generated host key) and nginx (autoindex, HTTP and HTTPS)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.ports import free_port
from tests.support.processes import stop_process
from tests.support.smtp import CertificateAuthority

FTP_USER, FTP_PASSWORD = "pbx", "Ftp-Pass-2024"
SSH_USER, SSH_PASSWORD = "recpull", "Sftp-Pass-2024"


def _log(name: str):
    """Where a server's output goes: a file, never a pipe nobody reads (a chatty server
    would block on it once the pipe's 64 KiB are full)."""
    return open(Path(tempfile.mkdtemp(prefix=f"recorder-{name}-log-")) / "out.log", "w+")


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = getattr(proc, "log", None)
            said = Path(log.name).read_text() if log else ""
            raise RuntimeError(f"{what} ended at start: {said}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


_FTPD = r"""
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler, ThrottledDTPHandler
from pyftpdlib.servers import FTPServer
root, port, user, password, cert, key, rate = sys.argv[1:8]
auth = DummyAuthorizer()
auth.add_user(user, password, root, perm="elradfmw")
handler = TLS_FTPHandler if cert else FTPHandler
if cert:
    handler.certfile, handler.keyfile = cert, key
    handler.tls_control_required = True
    handler.tls_data_required = True
handler.authorizer = auth
handler.passive_ports = None
if int(rate):
    dtp = ThrottledDTPHandler
    dtp.write_limit = int(rate)  # downloads (a PBX's files)
    dtp.read_limit = int(rate)  # uploads (backups)
    handler.dtp_handler = dtp
server = FTPServer(("127.0.0.1", int(port)), handler)
server.serve_forever()
"""


class FtpServer:
    """pyftpdlib serving root; tls=True makes it explicit FTPS (AUTH TLS required)."""

    def __init__(self, root: Path, *, tls: bool = False, rate: int = 0, port: int = 0) -> None:
        self.root = root
        self.tls = tls
        self.rate = rate  # bytes per second the server sends or takes at most (0: no limit)
        self.ca = CertificateAuthority() if tls else None
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> FtpServer:
        cert = str(self.ca.cert_file) if self.ca else ""
        key = str(self.ca.key_file) if self.ca else ""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _FTPD, str(self.root), str(self.port), FTP_USER, FTP_PASSWORD,
             cert, key, str(self.rate)],
            stdout=(log := _log("ftpd")), stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.proc.log = log  # type: ignore[attr-defined]
        _wait_port(self.port, self.proc, "pyftpdlib")
        return self

    def stop(self) -> None:
        stop_process(self.proc, timeout=5)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


def ensure_ssh_user() -> None:
    """The system user sshd signs the appliance in as (made once; the tests run as root)."""
    system_user(SSH_USER, "/bin/sh")
    subprocess.run(["chpasswd"], input=f"{SSH_USER}:{SSH_PASSWORD}\n", text=True, check=True)


def system_user(name: str, shell: str) -> None:
    """A system user the tests sign in as, made once; another test process making it at the
    same moment is no failure (useradd says 9: it exists)."""
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        made = subprocess.run(["useradd", "--no-create-home", "--shell", shell, name], capture_output=True)
        if made.returncode not in (0, 9):
            raise RuntimeError(f"useradd {name}: {made.stderr!r}")


class SshServer:
    """OpenSSH's sshd with SFTP only, for SSH_USER by password or by the keys given."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="recorder-sshd-"))
        self.dir.chmod(0o755)  # sshd reads authorized_keys as the user signing in
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.host_key = self.dir / "host_key"
        self.new_host_key()
        self.authorized = self.dir / "authorized_keys"
        self.authorized.write_text("")

    def new_host_key(self) -> None:
        """A fresh host key (a reinstalled or impersonated PBX); takes effect at start."""
        for path in (self.host_key, self.host_key.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key)], check=True
        )

    def fingerprint(self) -> str:
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(self.host_key)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return out.split()[1]

    def start(self) -> SshServer:
        ensure_ssh_user()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.authorized.chmod(0o644)
        config = self.dir / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"PidFile {self.dir / 'sshd.pid'}\nAuthorizedKeysFile {self.authorized}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication yes\nPubkeyAuthentication yes\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin no\n"
            f"AllowUsers {SSH_USER}\nSubsystem sftp internal-sftp\nForceCommand internal-sftp\n"
            "LogLevel ERROR\n"
        )
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        self.proc = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(config)],
            stdout=(log := _log("sshd")), stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.proc.log = log  # type: ignore[attr-defined]
        _wait_port(self.port, self.proc, "sshd")
        return self

    def stop(self) -> None:
        stop_process(self.proc, timeout=5)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


class NginxServer:
    """nginx with autoindex over HTTP and HTTPS (one port each)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = Path(tempfile.mkdtemp(prefix="recorder-nginx-"))
        self.ca = CertificateAuthority()
        self.http_port = free_port()
        self.https_port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> NginxServer:
        conf = self.dir / "nginx.conf"
        conf.write_text(
            f"daemon off;\nmaster_process off;\npid {self.dir / 'nginx.pid'};\n"
            f"error_log {self.dir / 'error.log'} error;\nevents {{ worker_connections 64; }}\n"
            "http {\n"
            f"  access_log off;\n  client_body_temp_path {self.dir};\n"
            f"  proxy_temp_path {self.dir};\n  fastcgi_temp_path {self.dir};\n"
            f"  uwsgi_temp_path {self.dir};\n  scgi_temp_path {self.dir};\n"
            "  server {\n"
            f"    listen 127.0.0.1:{self.http_port};\n"
            f"    listen 127.0.0.1:{self.https_port} ssl;\n"
            f"    ssl_certificate {self.ca.cert_file};\n    ssl_certificate_key {self.ca.key_file};\n"
            # A link out of the served tree is refused as a careful administrator would.
            f"    root {self.root};\n    autoindex on;\n    disable_symlinks on;\n  }}\n"
            "}\n"
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", str(self.dir)],
            stdout=(log := _log("nginx")), stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.proc.log = log  # type: ignore[attr-defined]
        _wait_port(self.http_port, self.proc, "nginx")
        return self

    def stop(self) -> None:
        stop_process(self.proc, timeout=5)


def readable_by_all(root: Path) -> None:
    """sshd's user and nginx's worker read the tree as someone else than its owner."""
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o755)
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                os.chmod(path, 0o644)


SMB_USER, SMB_PASSWORD = "recbackup", "Smb-Pass-2024"


class SmbServer:
    """Samba's smbd, standalone, one share `backup` for SMB_USER, on 127.0.0.1 and a free
    port, its state in a folder of its own (no system Samba configuration is touched)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="recorder-smbd-"))
        self.dir.chmod(0o755)  # smbd serves the share as SMB_USER
        self.share = self.dir / "share"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.config = self.dir / "smb.conf"

    def start(self) -> SmbServer:
        system_user(SMB_USER, "/usr/sbin/nologin")
        for sub in ("lock", "state", "cache", "private", "ncalrpc", "pid"):
            (self.dir / sub).mkdir(exist_ok=True)
        self.share.mkdir(exist_ok=True)
        shutil.chown(self.share, SMB_USER)
        d = self.dir
        self.config.write_text(
            "[global]\n"
            "workgroup = RECORDER\nserver role = standalone server\n"
            f"smb ports = {self.port}\ninterfaces = 127.0.0.1\nbind interfaces only = yes\n"
            f"pid directory = {d / 'pid'}\nlock directory = {d / 'lock'}\n"
            f"state directory = {d / 'state'}\ncache directory = {d / 'cache'}\n"
            f"private dir = {d / 'private'}\nncalrpc dir = {d / 'ncalrpc'}\n"
            f"log file = {d / 'log'}\npassdb backend = tdbsam:{d / 'private' / 'passdb.tdb'}\n"
            "server min protocol = SMB2_10\ndisable netbios = yes\nload printers = no\n"
            "printing = bsd\nprintcap name = /dev/null\ndisable spoolss = yes\n"
            "server signing = mandatory\n"
            "[backup]\n"
            f"path = {self.share}\nread only = no\nvalid users = {SMB_USER}\n"
        )
        subprocess.run(
            ["smbpasswd", "-c", str(self.config), "-s", "-a", SMB_USER],
            input=f"{SMB_PASSWORD}\n{SMB_PASSWORD}\n", text=True, check=True,
            capture_output=True,
        )  # fmt: skip
        smbd = shutil.which("smbd") or "/usr/sbin/smbd"
        self.proc = subprocess.Popen(
            [smbd, "--foreground", "--no-process-group", "--debug-stdout",
             "-s", str(self.config)],
            stdout=(log := _log("smbd")), stderr=subprocess.STDOUT, text=True,
            # smbd ends its whole process group when it stops: its own, not the tests'.
            start_new_session=True,
        )  # fmt: skip
        self.proc.log = log  # type: ignore[attr-defined]
        _wait_port(self.port, self.proc, "smbd")
        return self

    def stop(self) -> None:
        stop_process(self.proc, timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def location(self) -> str:
        return f"\\\\127.0.0.1:{self.port}\\backup\\recorder"
