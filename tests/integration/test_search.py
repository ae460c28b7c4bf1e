"""Each search condition of the manual narrows the list correctly, alone and combined."""

from __future__ import annotations

import pytest

from tests.support.audio import tone_pcm, wav_bytes

QUERY = """query($f: RecordingFilter, $p: Int, $s: Int) { recordings(filter: $f, page: $p, pageSize: $s) {
  total items { id sn device caller callee startedAt duration score playCount kind tags { name offset } } } }"""


@pytest.fixture(scope="module")
def dataset(appliance):
    """Eight recordings over two devices, with distinct numbers, times, lengths."""
    import uuid

    from tests.support.server import create_device

    p = str(uuid.uuid4().int % 10**6).zfill(6)
    other = create_device(appliance.admin)
    other_alias = other["alias"]
    specs = [
        # caller, callee, started, seconds, device, kind
        (f"{p}01", f"{p}90", "2023-03-01T08:00:00+00:00", 1, None, "call"),
        (f"{p}01", f"{p}91", "2023-03-02T08:00:00+00:00", 3, None, "call"),
        (f"{p}02", f"{p}90", "2023-03-03T08:00:00+00:00", 5, None, "call"),
        (f"{p}02", f"{p}91", "2023-03-04T08:00:00+00:00", 7, other, "call"),
        (f"{p}03", f"{p}90", "2023-03-05T08:00:00+00:00", 2, other, "call"),
        (f"{p}03", f"{p}92", "2023-03-06T08:00:00+00:00", 4, other, "voicemail"),
        (f"{p}04", f"{p}92", "2023-03-07T08:00:00+00:00", 6, None, "call"),
        (f"{p}04", f"{p}93", "2023-03-08T08:00:00+00:00", 0, None, "call"),
    ]
    ids = []
    for caller, callee, started, seconds, device, kind in specs:
        audio = wav_bytes(tone_pcm(seconds), 8000) if seconds else wav_bytes(b"", 8000)
        r = appliance.upload(audio, caller=caller, callee=callee, started_at=started, kind=kind, device=device)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return {"p": p, "ids": ids, "other": other_alias, "appliance": appliance}


def search(ds, **conditions):
    f = {"caller": conditions.pop("caller", f"{ds['p']}*"), **conditions}
    page = ds["appliance"].api.data(QUERY, {"f": f, "p": 1, "s": 50})["recordings"]
    return page["total"], [item["id"] for item in page["items"]]


def ids(ds, *positions):
    return [ds["ids"][i] for i in positions]


def test_prefix_lists_every_call_newest_first(dataset):
    total, got = search(dataset)
    assert total == 7  # the voicemail is on the other tab
    assert got == ids(dataset, 7, 6, 4, 3, 2, 1, 0)


def test_voicemail_tab(dataset):
    total, got = search(dataset, kind="VOICEMAIL")
    assert (total, got) == (1, ids(dataset, 5))


def test_exact_caller_and_callee(dataset):
    p = dataset["p"]
    assert search(dataset, caller=f"{p}02")[1] == ids(dataset, 3, 2)
    assert search(dataset, callee=f"{p}90")[1] == ids(dataset, 4, 2, 0)
    assert search(dataset, caller=f"{p}02", callee=f"{p}90")[1] == ids(dataset, 2)
    # An exact number does not match longer ones.
    assert search(dataset, caller=f"{p}0")[0] == 0


def test_device_by_alias(dataset):
    assert search(dataset, device=dataset["other"])[1] == ids(dataset, 4, 3)
    assert search(dataset, device="no-such-device")[0] == 0


def test_time_range_and_duration_range(dataset):
    got = search(
        dataset,
        startedFrom="2023-03-02T00:00:00+00:00",
        startedTo="2023-03-07T23:59:59+00:00",
        minDuration=3,
        maxDuration=6,
    )[1]
    assert got == ids(dataset, 6, 2, 1)
    # Times with another offset mean the same instants.
    assert search(dataset, startedFrom="2023-03-08T09:00:00+01:00")[1] == ids(dataset, 7)


def test_sn(dataset):
    _, all_ids = search(dataset)
    sn = dataset["appliance"].api.data('query($id: ID!) { recording(id: $id) { sn } }', {"id": all_ids[3]})
    assert search(dataset, sn=sn["recording"]["sn"])[1] == [all_ids[3]]


def test_score_and_tag(dataset):
    api = dataset["appliance"].api
    target, other = ids(dataset, 1, 2)
    scored = api.data(
        'mutation($id: ID!) { scoreRecording(id: $id, score: 9) { __typename ... on Recording { score } } }',
        {"id": target},
    )
    assert scored["scoreRecording"]["score"] == 9
    tag = f"tag{dataset['p']}"
    for rec in (target, other):
        api.data(
            'mutation($id: ID!, $n: String!) { tagRecording(id: $id, name: $n, offset: 1.5) { __typename } }',
            {"id": rec, "n": tag},
        )
    assert search(dataset, score=9)[1] == [target]
    assert search(dataset, tag=tag)[1] == [other, target]
    assert search(dataset, tag=tag, score=9)[1] == [target]


def test_org_conditions_match_nothing_until_extensions_are_bound(dataset):
    assert search(dataset, callerOrg="Sales")[0] == 0


def test_pagination_and_total(dataset):
    api = dataset["appliance"].api
    f = {"caller": f"{dataset['p']}*"}
    first = api.data(QUERY, {"f": f, "p": 1, "s": 3})["recordings"]
    third = api.data(QUERY, {"f": f, "p": 3, "s": 3})["recordings"]
    assert first["total"] == third["total"] == 7
    assert [i["id"] for i in first["items"]] == ids(dataset, 7, 6, 4)
    assert [i["id"] for i in third["items"]] == ids(dataset, 0)


def test_zero_duration_setting_applies(dataset):
    api = dataset["appliance"].admin
    zero = ids(dataset, 7)[0]
    assert zero in search(dataset)[1]
    api.data('mutation { updateSettings(input: {showZeroDuration: false}) { __typename } }')
    try:
        total, got = search(dataset)
        assert zero not in got and total == 6
    finally:
        api.data('mutation { updateSettings(input: {showZeroDuration: true}) { __typename } }')


@pytest.mark.parametrize(
    "value",
    ["' OR 1=1 --", "1001'; DROP TABLE recording; --", "%", "_", "\\", "1001\" OR \"\"=\"", "*"],
)
def test_sql_looking_filter_strings_match_nothing_and_break_nothing(dataset, value):
    for field in ("caller", "callee", "device", "tag", "sn"):
        total, got = search(dataset, **{field: value}) if field == "caller" else search(dataset, caller=value, **{field: value})
        assert total == 0 and got == []
    # The table is still there and whole.
    assert search(dataset)[0] == 7


def test_invalid_filter_values_are_clear_errors(dataset):
    api = dataset["appliance"].api
    body = api.gql(QUERY, {"f": {"minDuration": 10, "maxDuration": 5}, "p": 1, "s": 20})
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    body = api.gql(QUERY, {"f": {}, "p": 1, "s": 5000})
    assert "pageSize" in body["errors"][0]["message"]


def test_unfiltered_total_agrees_with_a_scan(dataset):
    """The kept tally (unfiltered totals) equals a real count, through uploads and deletes."""
    appliance = dataset["appliance"]
    q = 'query($f: RecordingFilter) { recordings(filter: $f) { total } }'

    def totals(kind):
        fast = appliance.api.data(q, {"f": {"kind": kind}})["recordings"]["total"]
        scan = appliance.api.data(q, {"f": {"kind": kind, "minDuration": 0}})["recordings"]["total"]
        return fast, scan

    for kind in ("CALL", "VOICEMAIL"):
        fast, scan = totals(kind)
        assert fast == scan
    # A recording of its own to delete: the dataset's rows are the other tests'.
    calls = totals("CALL")[0]
    mine = appliance.upload(wav_bytes(tone_pcm(1), 8000), caller=f"{dataset['p']}99")
    assert mine.status_code == 201, mine.text
    assert totals("CALL") == (calls + 1, calls + 1)
    deleted = appliance.api.data('mutation($ids: [ID!]!) { deleteRecordings(ids: $ids) { deleted } }',
                                 {"ids": [mine.json()["id"]]})
    assert deleted["deleteRecordings"]["deleted"] == 1
    fast, scan = totals("CALL")
    assert fast == scan
    appliance.admin.data('mutation { updateSettings(input: {showZeroDuration: false}) { __typename } }')
    try:
        fast, scan = totals("CALL")
        assert fast == scan
    finally:
        appliance.admin.data('mutation { updateSettings(input: {showZeroDuration: true}) { __typename } }')
