"""sipp (Debian's sip-tester) as the SIPREC client: scenarios built from the steps a
recording client takes, run against the recorder on 127.0.0.1.

The SIP is sipp's; the RTP comes from tests/support/rtp_send.py, which the scenario
starts with sipp's <exec> once the recorder's answer names its ports.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.ports import free_port

SENDER = Path(__file__).with_name("rtp_send.py")
BOUNDARY = "siprec-boundary"


def have_sipp() -> bool:
    return shutil.which("sipp") is not None


@dataclass(frozen=True)
class Party:
    ident: str
    number: str
    sends: str  # the label of the stream this party speaks on


RTPMAP = {0: "PCMU/8000", 8: "PCMA/8000", 101: "telephone-event/8000"}


def sdp(
    labels: list[str],
    direction: str = "sendonly",
    address: str = "198.51.100.7",
    version: int = 1,
    *,
    payload_types: tuple[int, ...] = (0, 8, 101),
    connection: str | None = None,
    port: int | None = None,
) -> str:
    """The SRC's offer: one G.711 stream per label (ports are the SRC's; never used).
    connection replaces the c= address (0.0.0.0 holds, RFC 3264 §8.4); port replaces every
    m= port (0 turns the streams off)."""
    lines = ["v=0", f"o=src 2890844526 {version} IN IP4 {address}", "s=siprec", f"c=IN IP4 {connection or address}", "t=0 0"]
    for n, label in enumerate(labels):
        lines += [
            f"m=audio {49170 + 2 * n if port is None else port} RTP/AVP {' '.join(map(str, payload_types))}",
            *(f"a=rtpmap:{pt} {RTPMAP[pt]}" for pt in payload_types),
            f"a=label:{label}",
            f"a={direction}",
        ]
    return "\n".join(lines)


def metadata(parties: list[Party], labels: list[str]) -> str:
    """RFC 7865 metadata: who the participants are and which stream each one sends."""
    streams = "".join(
        f'<stream stream_id="s{label}" session_id="sess1"><label>{label}</label></stream>' for label in labels
    )
    people = "".join(
        f'<participant participant_id="{p.ident}"><nameID aor="sip:{p.number}@pbx.example.com">'
        f"<name>{p.ident}</name></nameID></participant>"
        for p in parties
    )
    assoc = "".join(
        f'<participantstreamassoc participant_id="{p.ident}"><send>s{p.sends}</send></participantstreamassoc>'
        for p in parties
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode>'
        '<session session_id="sess1"><sipSessionID>abc;remote=def</sipSessionID></session>'
        f"{people}{streams}{assoc}</recording>"
    )


def offer_body(
    labels: list[str], parties: list[Party] | None, direction: str = "sendonly", version: int = 1, **media: object
) -> str:
    """The offer with its metadata (none without parties); media as sdp() takes it."""
    offer = sdp(labels, direction, version=version, **media)
    if parties is None:
        return offer
    return (
        f"--{BOUNDARY}\nContent-Type: application/sdp\n\n{offer}\n"
        f"--{BOUNDARY}\nContent-Type: application/rs-metadata+xml\n"
        f"Content-Disposition: recording-session\n\n{metadata(parties, labels)}\n--{BOUNDARY}--"
    )


def _headers(method: str, cseq: int, *, to_tag: bool, body_type: str | None, branch: str) -> str:
    lines = [
        f"{method} sip:srs@[remote_ip]:[remote_port] SIP/2.0",
        f"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={branch};rport",
        "From: <sip:src@[local_ip]>;tag=[pid]SIPpTag00[call_number]",
        "To: <sip:srs@[remote_ip]:[remote_port]>" + ("[peer_tag_param]" if to_tag else ""),
        "Call-ID: [call_id]",
        f"CSeq: {cseq} {method}",
        "Contact: <sip:src@[local_ip]:[local_port];transport=[transport]>;+sip.src",
        "Max-Forwards: 70",
        "User-Agent: sipp siprec test",
    ]
    if method in ("INVITE", "UPDATE"):
        lines.append("Require: siprec")
    if body_type:
        lines.append(f"Content-Type: {body_type}")
    lines.append("Content-Length: [len]")
    return "\n".join(lines)


# CANCEL and the ACK of a failed INVITE belong to the INVITE's transaction: same branch.
INVITE_BRANCH = "z9hG4bK-invite-[pid]-[call_number]"


def send(method: str, cseq: int, body: str = "", *, to_tag: bool = False, branch: str = "[branch]") -> str:
    body_type = None
    if body:
        body_type = f"multipart/mixed;boundary={BOUNDARY}" if "--" + BOUNDARY in body else "application/sdp"
    head = _headers(method, cseq, to_tag=to_tag, body_type=body_type, branch=branch)
    retrans = ' retrans="500"' if method != "ACK" else ""
    return f"<send{retrans}><![CDATA[\n\n{head}\n\n{body}\n\n]]></send>"


def recv(status: int | str, *, optional: bool = False, ports: int = 0, method: str = "") -> str:
    action = ""
    if ports:
        # POSIX '.' matches newlines too: the pattern spans the SDP's m= lines.
        pattern = ".*".join(["m=audio ([0-9]+)"] * ports)
        names = ",".join(f"p{n}" for n in range(1, ports + 1))
        action = f'<action><ereg regexp="{pattern}" search_in="body" check_it="true" assign_to="m,{names}"/></action>'
    if method:
        action = f'<action><ereg regexp="{method}" search_in="hdr" header="CSeq:" check_it="true" assign_to="m"/></action>'
    opt = ' optional="true"' if optional else ""
    # sipp refuses variables no step reads: the whole match is logged.
    used = '<nop><action><log message="matched [$m]"/></action></nop>' if action else ""
    return f'<recv response="{status}"{opt}>{action}</recv>{used}'


def ack(cseq: int = 1) -> str:
    return send("ACK", cseq, to_tag=True)


def invite_to_cancel(labels: list[str], parties: list[Party] | None) -> str:
    return send("INVITE", 1, offer_body(labels, parties), branch=INVITE_BRANCH)


def cancel() -> str:
    return send("CANCEL", 1, branch=INVITE_BRANCH)


def ack_failed() -> str:
    """The ACK of a final non-2xx answer (RFC 3261 §17.1.1.3)."""
    return send("ACK", 1, to_tag=True, branch=INVITE_BRANCH)


def recv_bye() -> str:
    """The recorder ends the call: take its BYE and answer 200."""
    ok = "\n".join(
        ["SIP/2.0 200 OK", "[last_Via:]", "[last_From:]", "[last_To:]", "[last_Call-ID:]", "[last_CSeq:]",
         "Content-Length: 0"]
    )
    return f'<recv request="BYE"/><send><![CDATA[\n\n{ok}\n\n]]></send>'


def start_rtp(ports: int, seconds: float, tones: str, report: Path, extra: str = "") -> str:
    port_list = ",".join(f"[$p{n}]" for n in range(1, ports + 1))
    command = (
        f"{shlex.quote(sys.executable)} {shlex.quote(str(SENDER))} --ports {port_list} "
        f"--seconds {seconds} --tones {tones} --report {shlex.quote(str(report))} {extra}"
    )
    return f'<nop><action><exec command="{command}"/></action></nop>'


def pause(ms: int) -> str:
    return f'<pause milliseconds="{ms}"/>'


def scenario(*steps: str) -> str:
    return '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="siprec">\n' + "\n".join(steps) + "\n</scenario>\n"


def invite_and_answer(labels: list[str], parties: list[Party] | None, **media: object) -> list[str]:
    return [
        send("INVITE", 1, offer_body(labels, parties, **media)),
        recv(100, optional=True),
        recv(200, ports=len(labels)),
        ack(),
    ]


def bye(cseq: int) -> list[str]:
    return [send("BYE", cseq, to_tag=True), recv(200)]


def _command(xml: str, port: int, workdir: Path, transport: str, timeout: float) -> list[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "scenario.xml"
    path.write_text(xml)
    mode = {"udp": "u1", "tcp": "t1"}[transport]
    return [
        "sipp", f"127.0.0.1:{port}", "-sf", str(path), "-m", "1", "-t", mode,
        "-i", "127.0.0.1", "-p", str(free_port()), "-nostdin", "-timeout", f"{int(timeout)}s",
        "-trace_err", "-trace_msg", "-max_recv_loops", "1000",
    ]


def run(xml: str, port: int, workdir: Path, *, transport: str = "udp", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one call of the scenario against 127.0.0.1:port; sipp's exit code says whether
    every expected message came."""
    command = _command(xml, port, workdir, transport, timeout)
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout + 30)


def start(xml: str, port: int, workdir: Path, *, transport: str = "udp", timeout: float = 60) -> subprocess.Popen[bytes]:
    """The same call in the background, for tests that act on the recorder meanwhile."""
    command = _command(xml, port, workdir, transport, timeout)
    return subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
