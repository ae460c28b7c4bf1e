def test_upload_search_play(appliance, unique):
    from tests.support.audio import speech_wav

    r = appliance.upload(speech_wav("hello"), caller=unique)
    assert r.status_code == 201, r.text
    body = r.json()
    found = appliance.api.data(
        'query($c: String!) { recordings(filter: {caller: $c}) { total items { id sn duration audioUrl } } }',
        {"c": unique},
    )["recordings"]
    assert found["total"] == 1
    audio = appliance.api.http.get(found["items"][0]["audioUrl"])
    assert audio.status_code == 200
    assert len(audio.content) > 1000
    assert found["items"][0]["id"] == body["id"]
