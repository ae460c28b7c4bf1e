"""Every vendor's SIPREC offer in tests/fixtures/siprec is understood: the audio streams,
who speaks on each, and the parties' numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.capture.sip.message import SipParseError, SipRequest
from appliance.capture.sip.metadata import parse_metadata, user_part
from appliance.capture.sip.multipart import split
from appliance.capture.sip.offer import parse_offer
from appliance.capture.sip.sdp import parse_sdp

SAMPLES = Path(__file__).parents[1] / "fixtures" / "siprec"


def invite(body: bytes, content_type: str = "multipart/mixed;boundary=unknown-to-the-body") -> SipRequest:
    return SipRequest(
        method="INVITE", uri="sip:srs@127.0.0.1",
        headers=[("from", "<sip:src@198.51.100.7>;tag=1"), ("to", "<sip:srs@127.0.0.1>"),
                 ("call-id", "x"), ("cseq", "1 INVITE"), ("content-type", content_type)],
        body=body,
    )


# file -> number of audio streams, where the sample is complete enough to say
EXPECTED = {
    "acme-siprec-offer.txt": 2,
    "broadworks-offer-2.txt": None,
    "broadworks-offer.txt": 1,
    "cisco-siprec-offer.txt": 2,
    "connectel-offer.txt": None,
    "connectel-offer2.txt": None,
    "connectel-offer3.txt": None,
    "inactive-sdp-offer.txt": None,
    "procomm-siprec-offer.txt": 2,
    "sonus-siprec-offer.txt": 2,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_vendor_offer_parses(name):
    offer = parse_offer(invite((SAMPLES / name).read_bytes()))
    assert offer.sdp.audio, name
    if EXPECTED[name] is not None:
        assert len(offer.legs) == EXPECTED[name]
    assert offer.caller and offer.callee and offer.caller != offer.callee, (name, offer.caller, offer.callee)
    assert all(m.codec(pt) for m in offer.sdp.audio for pt in m.payload_types[:1]), name


def test_sonus_streams_map_to_their_speakers():
    offer = parse_offer(invite((SAMPLES / "sonus-siprec-offer.txt").read_bytes()))
    # Label 1 is sent by the second participant (8012), label 2 by the first (8500).
    assert [leg.media.label for leg in offer.legs] == ["1", "2"]
    assert [leg.speaker.number for leg in offer.legs] == ["2249888012", "2249888500"]
    # The parties come in the metadata's order, not the streams'.
    assert (offer.caller, offer.callee) == ("2249888500", "2249888012")
    assert offer.legs[0].media.address == "172.16.169.132" and offer.legs[0].media.port == 48932


def test_streams_without_association_follow_the_participants_order():
    offer = parse_offer(invite((SAMPLES / "connectel-offer.txt").read_bytes()))
    assert [leg.speaker.number for leg in offer.legs] == ["0771121212", "0760516936"]


def test_procomm_legacy_content_type_and_non_numeric_labels():
    offer = parse_offer(invite((SAMPLES / "procomm-siprec-offer.txt").read_bytes()))
    assert offer.metadata is not None
    assert [leg.speaker.number for leg in offer.legs] == ["016190200", "Extension-016190619"]


def test_single_mixed_stream_from_broadworks():
    offer = parse_offer(invite((SAMPLES / "broadworks-offer.txt").read_bytes()))
    (leg,) = offer.legs
    assert leg.media.codec(8) == "PCMA" and leg.media.direction == "sendonly"


def test_inactive_offer_is_a_paused_stream():
    offer = parse_offer(invite((SAMPLES / "inactive-sdp-offer.txt").read_bytes()))
    assert any(leg.media.paused for leg in offer.legs)


def test_without_metadata_from_and_to_give_the_parties():
    sdp = b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"
    request = invite(sdp, "application/sdp")
    request.headers[0] = ("from", '"Agent" <sip:8001@pbx.example>;tag=9')
    request.headers[1] = ("to", "<sip:+8613800000000@pbx.example;user=phone>")
    offer = parse_offer(request)
    assert offer.metadata is None and (offer.caller, offer.callee) == ("8001", "+8613800000000")


def test_broken_metadata_does_not_lose_the_call():
    body = (b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nc=IN IP4 192.0.2.1\r\n"
            b"m=audio 4000 RTP/AVP 8\r\n\r\n--b\r\nContent-Type: application/rs-metadata+xml\r\n\r\n"
            b"<recording><participant></recording>\r\n--b--\r\n")
    offer = parse_offer(invite(body, "multipart/mixed; boundary=b"))
    assert offer.metadata is None and offer.legs[0].media.codec(8) == "PCMA"


@pytest.mark.parametrize("body", [b"", b"hello", b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--"])
def test_an_offer_without_sdp_is_refused(body):
    with pytest.raises(SipParseError):
        parse_offer(invite(body, "multipart/mixed; boundary=b"))


def test_sdp_without_media_is_refused():
    with pytest.raises(SipParseError, match="no m= line"):
        parse_sdp(b"v=0\r\ns=-\r\n")


def test_quoted_boundary_with_parameters():
    body = b"--odd=1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nm=audio 1 RTP/AVP 0\r\n--odd=1--"
    parts = split(body, 'multipart/mixed; charset=utf-8; boundary="odd=1"')
    assert [p.content_type for p in parts] == ["application/sdp"]


@pytest.mark.parametrize(
    ("uri", "user"),
    [("sip:+15551234@host;user=phone", "+15551234"), ("2249888500@172.16.198.55", "2249888500"),
     ("<sips:alice@example.com>", "alice"), ("tel:+861012345", "+861012345")],
)
def test_aor_with_or_without_scheme(uri, user):
    assert user_part(uri) == user


def test_metadata_that_is_not_xml_is_a_parse_error():
    with pytest.raises(SipParseError, match="not XML"):
        parse_metadata(b"completeSRC")


def test_metadata_with_entity_expansion_is_refused():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><recording>&b;</recording>')
    with pytest.raises(SipParseError, match="refused"):
        parse_metadata(bomb)
