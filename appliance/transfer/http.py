"""HTTP(S) directory indexes (nginx and Apache autoindex pages) through httpx."""

from __future__ import annotations

import calendar
import re
import ssl
import time
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from urllib.parse import quote, unquote, urljoin, urlsplit

import httpx

from appliance.domain.devices import PullEndpoint, PullProtocol
from appliance.errors import TransferFailed
from appliance.transfer import tls
from appliance.transfer.client import TIMEOUT_S, Credentials, RemoteEntry, RemoteFile, Sink

INDEX_MAX = 64 * 1024 * 1024  # one folder's index page; 100,000 names fit well inside
# nginx: "05-Dec-2026 10:00    1234"; Apache: "2026-12-05 10:00  1.2K" (both in UTC for nginx).
_NGINX_TIME = re.compile(r"(\d{2}-[A-Za-z]{3}-\d{4} \d{2}:\d{2}(?::\d{2})?)\s+(-|\d+)")
_APACHE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?)\s*(-|\d+(?:\.\d+)?[KMGT]?)")


class _Anchors(HTMLParser):
    """Each link of an index page with the text that follows it (date and size)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._after: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href is not None:
                self._after = []
                self.links.append((href, ""))

    def handle_data(self, data: str) -> None:
        if self._after is not None:
            self._after.append(data)
            href, _ = self.links[-1]
            self.links[-1] = (href, "".join(self._after))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._after is not None:
            self._after = []  # the link's own text is not its date or size


def _when(text: str) -> float | None:
    for fmt in ("%d-%b-%Y %H:%M:%S", "%d-%b-%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return float(calendar.timegm(time.strptime(text, fmt)))
        except ValueError:
            continue
    return None


def _facts(after: str) -> tuple[float | None, int | None]:
    """(mtime, exact size or None) from the text an index puts after a link."""
    flat = " ".join(after.split())
    m = _NGINX_TIME.search(flat) or _APACHE_TIME.search(flat)
    if not m:
        return None, None
    size = int(m[2]) if m[2].isdigit() else None  # Apache's 1.2K is not a size to trust
    return _when(m[1]), size


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error under httpx's and httpcore's wrappers, if that is what failed."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class HttpClient:
    host_key = ""

    def __init__(self, endpoint: PullEndpoint, credentials: Credentials) -> None:
        scheme = "https" if endpoint.protocol is PullProtocol.HTTPS else "http"
        host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
        root = "/" + endpoint.root.strip("/") + "/" if endpoint.root.strip("/") else "/"
        self.base = f"{scheme}://{host}:{endpoint.port}{quote(root)}"
        verify: ssl.SSLContext | bool = False
        if scheme == "https":
            verify = self._tls_context(endpoint, credentials.tls_fingerprint)
        auth = (credentials.username, credentials.password) if credentials.username else None
        self.http = httpx.Client(
            verify=verify, auth=auth, timeout=TIMEOUT_S, follow_redirects=False, trust_env=False
        )
        try:
            self.list_dir("")  # signs in: a wrong password or an untrusted server says so now
        except Exception:
            self.http.close()
            raise

    def _tls_context(self, endpoint: PullEndpoint, fingerprint: str) -> ssl.SSLContext:
        def certificate() -> bytes:
            try:
                pem = ssl.get_server_certificate((endpoint.host, endpoint.port), timeout=TIMEOUT_S)
            except OSError as exc:
                raise TransferFailed("connect_failed", str(exc)) from exc
            return ssl.PEM_cert_to_DER_cert(pem)

        self._certificate = certificate
        return tls.pinned_context(fingerprint, certificate) if fingerprint else tls.context()

    def _url(self, path: str, folder: bool = False) -> str:
        return self.base + quote(path) + ("/" if folder and path else "")

    def _get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            return self.http.send(self.http.build_request("GET", url, headers=headers), stream=True)
        except httpx.ConnectError as exc:
            cause = _ssl_cause(exc)
            if cause is not None:
                der = None
                try:
                    der = self._certificate()
                except TransferFailed:
                    pass
                raise tls.describe(cause, der) from exc
            raise TransferFailed("connect_failed", str(exc)) from exc
        except httpx.TimeoutException as exc:
            raise TransferFailed("timeout", str(exc)) from exc
        except httpx.HTTPError as exc:
            raise TransferFailed("protocol_error", str(exc)) from exc

    @staticmethod
    def _check(response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            response.close()
            raise TransferFailed("auth_failed", f"HTTP {response.status_code}")
        if response.status_code == 404:
            response.close()
            raise TransferFailed("not_found", "HTTP 404")
        if response.status_code >= 300 and response.status_code != 206:
            response.close()
            raise TransferFailed("protocol_error", f"HTTP {response.status_code}")

    def list_dir(self, path: str) -> list[RemoteEntry]:
        url = self._url(path, folder=True)
        response = self._get(url)
        self._check(response)
        page = bytearray()
        try:
            for block in response.iter_bytes():
                page += block
                if len(page) > INDEX_MAX:
                    raise TransferFailed("too_large", f"the index of {path or '/'} is too long")
        except httpx.HTTPError as exc:
            raise TransferFailed("protocol_error", str(exc)) from exc
        finally:
            response.close()
        parser = _Anchors()
        parser.feed(page.decode(response.encoding or "utf-8", errors="replace"))
        return self._entries(url, parser.links)

    def _entries(self, url: str, links: list[tuple[str, str]]) -> list[RemoteEntry]:
        entries: list[RemoteEntry] = []
        names: set[str] = set()
        for href, after in links:
            if not href or href.startswith(("?", "#")):
                continue  # Apache's sort links, anchors
            target = urljoin(url, href)
            if not target.startswith(url) or target == url:
                # The parent link, or a link leading elsewhere: never followed. A name
                # that tries to climb (../x) is reported as such by its literal form.
                if href not in ("../", "..", "/") and not urlsplit(target).query:
                    entries.append(RemoteEntry(unquote(href), False, None, None))
                continue
            rest = target[len(url) :]
            is_dir = rest.endswith("/")
            name = unquote(rest.rstrip("/"))
            if "/" in rest.rstrip("/") or "?" in rest or name in names:
                if "/" in name:
                    entries.append(RemoteEntry(name, False, None, None))
                continue
            names.add(name)
            mtime, size = _facts(after)
            entries.append(RemoteEntry(name, is_dir, None if is_dir else size, mtime))
        return entries

    def resolves_inside(self, path: str) -> bool:
        return False  # an index does not show links

    def stat(self, path: str) -> RemoteFile | None:
        try:
            response = self.http.head(self._url(path))
        except httpx.HTTPError as exc:
            raise TransferFailed("protocol_error", str(exc)) from exc
        if response.status_code == 404:
            return None
        self._check(response)
        length = response.headers.get("content-length")
        modified = response.headers.get("last-modified")
        mtime = None
        if modified:
            try:
                mtime = parsedate_to_datetime(modified).timestamp()
            except (TypeError, ValueError):
                mtime = None
        return RemoteFile(path, int(length), mtime) if length and length.isdigit() else None

    def download(self, path: str, sink: Sink, offset: int = 0, size: int | None = None) -> None:
        headers = {"Range": f"bytes={offset}-"} if offset else None
        response = self._get(self._url(path), headers)
        try:
            self._check(response)
            if offset and response.status_code != 206:
                sink.seek(0)  # the server ignores ranges: start over
                sink.truncate()
            for block in response.iter_bytes():  # as it arrives: the sink sees a trickle
                sink.write(block)
        except httpx.HTTPError as exc:
            raise TransferFailed("protocol_error", str(exc)) from exc
        finally:
            response.close()

    def delete(self, path: str) -> None:
        raise TransferFailed("not_supported", "a web server's index cannot delete files")

    def move(self, path: str, folder: str) -> None:
        raise TransferFailed("not_supported", "a web server's index cannot move files")

    def close(self) -> None:
        self.http.close()
